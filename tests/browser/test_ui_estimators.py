"""Gradient-estimator page in a real browser: run the comparison and see the variance chart;
run a short training comparison and see its curves."""
from conftest import assert_no_exception, open_page, wait_idle


def _open(page, app_server):
    # A fresh server that has never run app.py resolves /estimators in legacy pages/ mode (no
    # st.navigation yet, so no sidebar and no run); loading the root first registers the navigation.
    open_page(page, app_server)
    open_page(page, app_server, "estimators")


def test_run_comparison_shows_variance_chart(app_server, page):
    _open(page, app_server)
    page.get_by_role("heading", name="Gradient estimators").wait_for()
    page.get_by_text("press Run comparison", exact=False).wait_for()
    page.get_by_role("button", name="Run comparison").click()
    page.get_by_text("Variance of one estimate against L").wait_for(timeout=90_000)
    wait_idle(page, timeout=90_000)
    assert_no_exception(page)
    # The log-log variance chart has the three estimators, and its y axis is logarithmic.
    info = page.evaluate("""() => {
        const v = document.querySelector('.st-key-variance_chart .js-plotly-plot');
        return v && {names: [...new Set(v.data.map(t => t.name).filter(Boolean))],
                     ytype: v._fullLayout.yaxis.type, xs: v._fullData[0]._length}; }""")
    assert info is not None
    assert {"reparameterization", "score function", "score function + baseline"} <= set(info["names"])
    assert info["ytype"] == "log" and info["xs"] == 3
    ratio = page.locator('[data-testid="stMetric"]').filter(has_text="Score / reparam variance").inner_text()
    assert "×" in ratio
    # The agreement chart (cosine and relative difference with error bars) is drawn too.
    page.locator(".st-key-agreement_chart .js-plotly-plot").scroll_into_view_if_needed()
    errs = page.evaluate("""() => document.querySelector('.st-key-agreement_chart .js-plotly-plot')
                                .data.filter(t => t.error_y && t.error_y.array).length""")
    assert errs == 4


def test_training_comparison_shows_curves(app_server, page):
    _open(page, app_server)
    page.get_by_role("tab", name="Training comparison").click()
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Epochs")
    slider.get_by_role("slider").focus()
    for _ in range(6):  # 8 -> 2 epochs: keep it short
        page.keyboard.press("ArrowLeft")
    page.get_by_role("button", name="Run training comparison").click()
    page.get_by_text("Test ELBO while training with each estimator").first.wait_for(timeout=120_000)
    # The curves grow while the three runs train one after another; "Final" once all have finished.
    page.get_by_text("Final test ELBO", exact=False).wait_for(timeout=180_000)
    wait_idle(page, timeout=60_000)
    assert_no_exception(page)
    names = page.evaluate("""() => {
        const t = document.querySelector('.st-key-training_chart .js-plotly-plot');
        return t && t._fullData.map(d => [d.name, d._length]); }""")
    assert names is not None and len(names) == 3
    assert all(n == 3 for _, n in names)  # epochs 0, 1, 2
    assert "Final test ELBO" in page.content()
