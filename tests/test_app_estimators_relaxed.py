"""The Gradient estimators page's Gumbel-softmax and implicit-reparameterization tabs, headless
(streamlit.testing.v1.AppTest): the numbers shown are the library's, bad settings are refused with a
message, never a traceback."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vae.analysis.estimators.implicit import MC_LIST, implicit_study
from vae.analysis.estimators.relaxed import TAUS, gumbel_study

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _open(tab: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = "digits-default"
    app.run()
    app.switch_page("pages/estimators.py").run()
    app.session_state["est_tab"] = tab
    app.run()
    assert not app.exception, app.exception
    return app


def _rerun_until(at, done, timeout=120.0):
    """The study runs on the server's queue; rerun as the page's polling fragment would until ``done(at)``."""
    end = time.monotonic() + timeout
    while not done(at) and time.monotonic() < end:
        assert not at.exception, at.exception
        time.sleep(0.3)
        at.run()
    return done(at)


def _interval(r: dict) -> tuple[str, str]:
    return f"{r['bias']:.4f}", f"±2 se: {r['bias_lo']:.4f} to {r['bias_hi']:.4f}"


def _metric(at, start: str) -> str:
    return next(m for m in at.metric if m.label.startswith(start)).value


def _metric_with_delta(at, start: str) -> tuple[str, str]:
    m = next(m for m in at.metric if m.label.startswith(start))
    return m.value, m.delta


def _has_metric(start: str):
    return lambda a: any(m.label.startswith(start) for m in a.metric)


def test_gumbel_tab_shows_the_librarys_bias_and_variance():
    at = _open("Gumbel-softmax")
    assert any(b.label == "Run Gumbel-softmax study" for b in at.button)
    assert _rerun_until(at, _has_metric("Relaxed bias at"))
    s = gumbel_study(4, TAUS, 10000, 1, "posterior_mean", 0)  # the panel's defaults
    by = {(r["estimator"], r["tau"]): r for r in s.rows()}
    assert _metric_with_delta(at, f"Relaxed bias at τ = {min(TAUS):g}") == _interval(by['relaxed', min(TAUS)])
    assert _metric_with_delta(at, f"Relaxed bias at τ = {max(TAUS):g}") == _interval(by['relaxed', max(TAUS)])
    assert _metric_with_delta(at, "Straight-through bias") == _interval(by['straight_through', max(TAUS)])
    assert _metric_with_delta(at, "Score-function bias") == _interval(by["score", None])
    table = at.dataframe[0].value
    assert len(table) == 2 * len(TAUS) + 2
    got = dict(zip(zip(table["estimator"], table["tau"]), table["variance"]))
    assert got[("Gumbel-softmax (relaxed)", "1")] == pytest.approx(by["relaxed", 1.0]["variance"], rel=1e-12)
    assert got[("score function", "no τ")] == pytest.approx(by["score", None]["variance"], rel=1e-12)
    assert any("χ²" in c.value and f"p = {s.argmax['p_value']:.3f}" in c.value for c in at.caption)


def test_gumbel_tab_new_settings_recompute_and_leave_one_out_needs_two_samples():
    at = _open("Gumbel-softmax")
    assert _rerun_until(at, _has_metric("Relaxed bias at"))
    at.select_slider(key="gumbel_k").set_value(3)
    at.select_slider(key="gumbel_n").set_value(1000)
    at.number_input(key="gumbel_seed").set_value(5)
    next(b for b in at.button if b.label == "Run Gumbel-softmax study").click().run()
    s = gumbel_study(3, TAUS, 1000, 1, "posterior_mean", 5)
    want = _interval(next(r for r in s.rows() if r["estimator"] == "relaxed" and r["tau"] == max(TAUS)))
    assert _rerun_until(at, lambda a: _has_metric("Relaxed bias at")(a)
                        and _metric_with_delta(a, f"Relaxed bias at τ = {max(TAUS):g}") == want)
    at.selectbox(key="gumbel_baseline").set_value("leave_one_out")
    next(b for b in at.button if b.label == "Run Gumbel-softmax study").click().run()
    assert not at.exception, at.exception
    assert any("leave-one-out" in e.value for e in at.error)
    assert not at.metric


def test_implicit_tab_shows_the_librarys_gamma_and_dirichlet_numbers():
    at = _open("Implicit reparameterization")
    assert _rerun_until(at, _has_metric("Exact d/dα"))
    s = implicit_study(2.0, 1.0, "z", (0.5, 1.0, 2.0), MC_LIST, 2000, "posterior_mean", 0)
    g1 = {r["estimator"]: r for r in s.rows("gamma") if r["L"] == 1}
    assert _metric(at, "Exact d/dα") == "1.0000"  # d/dα E[z] = 1/β
    assert _metric(at, "Implicit estimate") == f"{g1['implicit']['mean']:.3f} ± {g1['implicit']['se']:.3f}"
    assert _metric(at, "Score-function estimate") == f"{g1['score']['mean']:.3f} ± {g1['score']['se']:.3f}"
    r = next(r for r in s.ratio_rows("gamma") if r["estimator"] == "score" and r["L"] == 1)
    assert _metric(at, "Score / implicit") == f"{r['ratio']:.1f}× ± {r['ratio_se']:.1f}"
    gamma = at.dataframe[0].value
    assert len(gamma) == 3 * len(MC_LIST)
    assert list(gamma["mean"]) == pytest.approx([r["mean"] for r in s.rows("gamma")], rel=1e-12)
    coords = at.dataframe[1].value
    assert list(coords["exact"]) == pytest.approx([r["exact"] for r in s.dirichlet_coordinate_rows(MC_LIST[0])])


def test_over_budget_and_malformed_settings_are_refused_with_a_message(monkeypatch):
    monkeypatch.setenv("VAE_MAX_TOY_ESTIMATOR_DRAWS", "1000")
    at = _open("Implicit reparameterization")
    assert any("refused" in e.value and "VAE\\_MAX\\_TOY\\_ESTIMATOR\\_DRAWS" in e.value for e in at.error), \
        [e.value for e in at.error]
    monkeypatch.delenv("VAE_MAX_TOY_ESTIMATOR_DRAWS")
    at.session_state["relaxed_implicit_settings"] = {"alpha": "lots", "dirichlet": "(9, 9)"}
    at.run()
    assert not at.exception, at.exception
    assert any("malformed" in e.value for e in at.error)
    at.session_state["relaxed_implicit_settings"] = {"alpha": -1.0}
    at.run()
    assert not at.exception, at.exception
    assert any("cannot be used" in e.value for e in at.error)


def test_implicit_tab_with_leave_one_out_leaves_out_l1_and_says_so():
    at = _open("Implicit reparameterization")
    at.selectbox(key="implicit_baseline").set_value("leave_one_out")
    at.select_slider(key="implicit_n").set_value(500)
    next(b for b in at.button if b.label == "Run implicit-reparameterization study").click().run()
    assert _rerun_until(at, lambda a: _has_metric("Exact d/dα")(a) and len(a.dataframe)
                        and len(a.dataframe[0].value) == 3 * len(MC_LIST) - 1)
    assert any("leave-one-out" in c.value for c in at.caption)
    s = implicit_study(2.0, 1.0, "z", (0.5, 1.0, 2.0), MC_LIST, 500, "leave_one_out", 0)
    assert list(at.dataframe[0].value["variance"]) == pytest.approx([r["variance"] for r in s.rows("gamma")], rel=1e-12)
