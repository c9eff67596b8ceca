"""Collapse diagnostics in a real browser: the default run's per-dimension chart flags its collapsed
dimensions, and clicking a bar opens that dimension on the Traversals page. (Named *_page so its module
name does not clash with tests/test_collapse.py when both are collected in one session.)"""
from urllib.parse import urlparse
from conftest import assert_no_exception, open_page, wait_idle

def _bars(page) -> dict[str, list[str]]:
    """The bars of the first (KL) chart: {verdict: [dimension labels]}, in the chart's order."""
    out: dict[str, list[str]] = {}
    for bar in page.locator(".vae-svg-chart").first.locator("rect[data-click]").all():
        out.setdefault(bar.get_attribute("data-verdict"), []).append(bar.get_attribute("data-dim"))
    return out


def _open_collapse(page, app_server):
    # A fresh server that has never run app.py resolves /collapse in legacy pages/ mode (no
    # st.navigation yet, so no sidebar and no run); loading the root first registers the navigation.
    open_page(page, app_server)
    open_page(page, app_server, "collapse")
    page.get_by_text("Posterior collapse diagnostics").first.wait_for()
    page.locator(".vae-svg-chart rect[data-click]").first.wait_for()


def test_collapse_page_flags_collapsed_dimensions(app_server, page):
    _open_collapse(page, app_server)
    traces = _bars(page)
    # digits-default: 6 of its 10 dimensions are active, the other 4 collapsed onto the prior.
    assert len(traces.get("active", [])) == 6, traces
    flagged = [d for name, dims in traces.items() if name != "active" for d in dims]
    assert len(flagged) == 4, traces
    assert page.get_by_text("4 of 10 dimensions are not active").count() == 1
    assert page.get_by_text("6 of 10").count() >= 1  # the active-units metric
    # the page opens without plotly: its charts are SVG, each bar naming its value on hover
    assert page.locator(".js-plotly-plot").count() == 0
    assert page.locator(".vae-svg-chart").count() >= 3
    tip = page.locator(".vae-svg-chart").first.locator("rect[data-click] title").first.text_content()
    assert tip.startswith("z") and "click to open its traversal" in tip
    assert_no_exception(page)


def test_clicking_a_bar_opens_its_traversal(app_server, page):
    _open_collapse(page, app_server)
    dim = _bars(page)["active"][0]
    page.locator(".vae-svg-chart").first.locator(f'rect[data-dim="{dim}"]').click()
    # The path names the page; the query carries the view (run, latent), as links do.
    page.wait_for_url(lambda u: urlparse(u).path.endswith("/traversals"), timeout=30_000)
    wait_idle(page)
    # The Traversals page (another page, with its own scenarios) announces the dimension it was sent.
    page.get_by_text(f"Dimension {dim} is shown first").wait_for()
