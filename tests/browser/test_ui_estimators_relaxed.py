"""Gradient-estimator page in a real browser: the Gumbel-softmax and implicit-reparameterization tabs
draw the library's numbers (metrics and chart data compared with vae.analysis.estimators_relaxed / estimators_implicit run
here with the panels' default settings)."""
import pytest
from conftest import assert_no_exception, open_page, wait_idle

from vae.analysis.estimators.implicit import MC_LIST, implicit_study
from vae.analysis.estimators.relaxed import SAMPLE_TAUS, TAUS, gumbel_study


def _open_tab(page, app_server, tab):
    open_page(page, app_server)
    open_page(page, app_server, "estimators")
    page.get_by_role("heading", name="Gradient estimators").wait_for()
    page.get_by_role("tab", name=tab).click()


def _interval(r: dict) -> tuple[str, str]:
    return f"{r['bias']:.4f}", f"±2 se: {r['bias_lo']:.4f} to {r['bias_hi']:.4f}"


def _metric(page, label):
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).locator(
        '[data-testid="stMetricValue"]').inner_text()


def _metric_with_delta(page, label):
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return m.locator('[data-testid="stMetricValue"]').inner_text(), m.locator('[data-testid="stMetricDelta"]').inner_text()


def _traces(page, key):
    return page.evaluate("""(key) => {
        const p = document.querySelector(`.st-key-${key} .js-plotly-plot`);
        return p && p.data.map(t => ({name: t.name, type: t.type, x: t.x, y: t.y, z: t.z,
                                      err: t.error_y ? (t.error_y.array || null) : null})); }""", key)


def test_gumbel_softmax_tab_shows_the_librarys_numbers(app_server, page):
    _open_tab(page, app_server, "Gumbel-softmax")
    page.get_by_text("Relaxed bias at τ", exact=False).first.wait_for(timeout=90_000)
    wait_idle(page, timeout=90_000)
    assert_no_exception(page)
    s = gumbel_study(4, TAUS, 10000, 1, "posterior_mean", 0)
    by = {(r["estimator"], r["tau"]): r for r in s.rows()}
    assert _metric_with_delta(page, f"Relaxed bias at τ = {max(TAUS):g}") == _interval(by['relaxed', max(TAUS)])
    assert _metric_with_delta(page, "Straight-through bias") == _interval(by['straight_through', max(TAUS)])
    bias = {t["name"]: t for t in _traces(page, "gumbel_bias_chart") if t["name"]}
    relaxed = bias["Gumbel-softmax (relaxed)"]
    assert relaxed["x"] == list(TAUS)
    assert relaxed["y"] == pytest.approx([by["relaxed", t]["bias"] for t in TAUS], rel=1e-9)
    assert relaxed["err"] == pytest.approx([by["relaxed", t]["bias_hi"] - by["relaxed", t]["bias"] for t in TAUS],
                                           rel=1e-9, abs=1e-12)
    assert {"straight-through Gumbel-softmax", "score function (no τ)", "score function + baseline (no τ)"} <= set(bias)
    var = {t["name"]: t for t in _traces(page, "gumbel_variance_chart") if t["name"]}
    assert var["straight-through Gumbel-softmax"]["y"] == pytest.approx(
        [by["straight_through", t]["variance"] for t in TAUS], rel=1e-9)
    page.locator(".st-key-gumbel_samples_chart .js-plotly-plot").scroll_into_view_if_needed()
    heat = _traces(page, "gumbel_samples_chart")
    assert [t["type"] for t in heat] == ["heatmap"] * len(SAMPLE_TAUS)
    assert heat[0]["z"][0] == pytest.approx(s.samples[SAMPLE_TAUS[0]][0], rel=1e-9)
    page.locator(".st-key-gumbel_argmax_chart .js-plotly-plot").scroll_into_view_if_needed()
    wait_idle(page)


def test_implicit_tab_shows_the_librarys_numbers(app_server, page):
    _open_tab(page, app_server, "Implicit reparameterization")
    page.get_by_text("Exact d/dα", exact=False).first.wait_for(timeout=90_000)
    wait_idle(page, timeout=90_000)
    assert_no_exception(page)
    s = implicit_study(2.0, 1.0, "z", (0.5, 1.0, 2.0), MC_LIST, 2000, "posterior_mean", 0)
    g1 = {r["estimator"]: r for r in s.rows("gamma") if r["L"] == 1}
    assert _metric(page, "Exact d/dα") == "1.0000"
    assert _metric(page, "Implicit estimate") == f"{g1['implicit']['mean']:.3f} ± {g1['implicit']['se']:.3f}"
    var = {t["name"]: t for t in _traces(page, "implicit_gamma_variance_chart") if t["name"]}
    want = [r["variance"] for r in s.rows("gamma") if r["estimator"] == "implicit"]
    assert var["implicit reparameterization"]["x"] == list(MC_LIST)
    assert var["implicit reparameterization"]["y"] == pytest.approx(want, rel=1e-9)
    # the implicit estimator's variance sits below the score function's at every L
    assert all(a < b for a, b in zip(var["implicit reparameterization"]["y"], var["score function"]["y"]))
    page.locator(".st-key-implicit_dirichlet_variance_chart .js-plotly-plot").scroll_into_view_if_needed()
    dvar = {t["name"]: t for t in _traces(page, "implicit_dirichlet_variance_chart") if t["name"]}
    assert dvar["score function"]["y"] == pytest.approx(
        [r["variance"] for r in s.rows("dirichlet") if r["estimator"] == "score"], rel=1e-9)
    wait_idle(page)
