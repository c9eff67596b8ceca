"""Inference gaps in a real browser: the gap bar of the run (estimated in the background with a
progress bar, then kept in the run folder), and "Refine this posterior" on a clicked Latent-map point."""
import re

from conftest import assert_no_exception, open_page, wait_idle
from test_ui_latent_map import ISOLATED_POINT_JS, _open_map


def _bar_traces(page) -> list:
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .filter(g => g._fullData && g._fullData.some(t => t.type === 'bar' && t.name === 'approximation gap'))
        .map(g => g._fullData.map(t => ({name: t.name, x: [...t.x], y: [...t.y]})))""")


def test_gap_bar_for_the_run(app_server, page):
    open_page(page, app_server)
    open_page(page, app_server, "gaps")
    page.get_by_text("Inference gaps", exact=True).first.wait_for()
    wait_idle(page)
    # fewer steps than the default keep the test quick on a loaded machine; the rest are the page's defaults
    steps = page.get_by_role("slider", name="Adam steps per point")
    steps.focus()
    for _ in range(3):  # 500 -> 250 -> 100 -> 50
        page.keyboard.press("ArrowLeft")
    wait_idle(page)
    page.get_by_role("button", name=re.compile("Estimate the gaps of digits-default")).click()
    page.locator('[data-testid="stMetric"]', has_text="Approximation gap").wait_for(timeout=240_000)
    wait_idle(page)
    assert_no_exception(page)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].length >= 3")
    [bar] = _bar_traces(page)
    assert [t["name"] for t in bar] == ["−log p(x)", "approximation gap", "amortization gap"]
    assert all(t["y"] == ["digits-default"] for t in bar)
    neg_log_px, approx, amort = (t["x"][0] for t in bar)
    assert neg_log_px > 0 and amort > 0 and approx > -1.0  # gaps ≥ 0 within Monte-Carlo error
    assert page.get_by_text(re.compile(r"100 test points, 50 Adam steps each")).count() == 1
    # kept in the run folder: a fresh visit shows the bar without estimating again
    kept = list((app_server.root / "checkpoints" / "digits-default" / "cache").glob("gaps-*-p100-s50-k5000-v2.json"))
    assert len(kept) == 1


def test_refine_this_posterior_on_a_clicked_point(app_server, page):
    _open_map(page, app_server)
    target = page.evaluate(ISOLATED_POINT_JS)
    page.mouse.move(target["px"], target["py"])
    page.mouse.click(target["px"], target["py"])
    i = int(target["index"])
    page.get_by_text(f"Test image #{i} · label", exact=False).wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Refine this posterior").click()
    page.get_by_text(f"Refined q*: E[x | z = μ*] #{i}", exact=True).wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text(f"Encoder q_φ: E[x | z = μ_φ] #{i}", exact=True).count() == 1
    # the curve of the optimization and the μ/σ bars before and after
    traces = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .flatMap(g => g._fullData.map(t => t.name))""")
    assert "refined q" in traces
    assert {"μ, encoder q_φ", "μ, refined q*", "σ, encoder q_φ", "σ, refined q*"} <= set(traces)
    assert page.evaluate("""() => { const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
                              return imgs.length >= 6 && imgs.every(i => i.complete && i.naturalWidth > 0); }""")
    page.locator(".js-plotly-plot").last.scroll_into_view_if_needed()  # the kept screenshot shows the μ/σ bars
