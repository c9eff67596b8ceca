"""Collapse diagnostics in a real browser: the default run's per-dimension chart flags its collapsed
dimensions, and clicking a bar opens that dimension on the Traversals page. (Named *_page so its module
name does not clash with tests/test_collapse.py when both are collected in one session.)"""
from urllib.parse import urlparse
from conftest import assert_no_exception, open_page, wait_idle

# The traces of the first (KL) bar chart: {verdict: [dimension labels]}.
TRACES_JS = """() => { const gd = document.querySelectorAll('.js-plotly-plot')[0];
                       return Object.fromEntries(gd.data.map(t => [t.name, t.x])); }"""

# Page coordinates of the centre of the bar for a dimension in the first chart.
BAR_XY_JS = """(dim) => { const gd = document.querySelectorAll('.js-plotly-plot')[0];
    const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, r = gd.getBoundingClientRect();
    const i = gd.data.findIndex(t => Array.from(t.x).includes(dim));
    const y = gd.calcdata[i][Array.from(gd.data[i].x).indexOf(dim)].s;  // decoded bar height
    return [r.left + xa._offset + xa.d2p(dim), r.top + ya._offset + ya.d2p(y / 2)]; }"""


def _open_collapse(page, app_server):
    # A fresh server that has never run app.py resolves /collapse in legacy pages/ mode (no
    # st.navigation yet, so no sidebar and no run); loading the root first registers the navigation.
    open_page(page, app_server)
    open_page(page, app_server, "collapse")
    page.get_by_text("Posterior collapse diagnostics").first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot')[0].data !== undefined")


def test_collapse_page_flags_collapsed_dimensions(app_server, page):
    _open_collapse(page, app_server)
    traces = page.evaluate(TRACES_JS)
    # digits-default: 6 of its 10 dimensions are active, the other 4 collapsed onto the prior.
    assert len(traces.get("active", [])) == 6, traces
    flagged = [d for name, dims in traces.items() if name != "active" for d in dims]
    assert len(flagged) == 4, traces
    assert page.get_by_text("4 of 10 dimensions are not active").count() == 1
    assert page.get_by_text("6 of 10").count() >= 1  # the active-units metric
    assert_no_exception(page)


def test_clicking_a_bar_opens_its_traversal(app_server, page):
    _open_collapse(page, app_server)
    dim = page.evaluate(TRACES_JS)["active"][0]
    x, y = page.evaluate(BAR_XY_JS, dim)
    page.mouse.click(x, y)
    # The path names the page; the query carries the view (run, latent), as links do.
    page.wait_for_url(lambda u: urlparse(u).path.endswith("/traversals"), timeout=30_000)
    wait_idle(page)
    # The Traversals page (another page, with its own scenarios) announces the dimension it was sent.
    page.get_by_text(f"Dimension {dim} is shown first").wait_for()
