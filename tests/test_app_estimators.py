"""The gradient-estimator page, headless (streamlit.testing.v1.AppTest), on the committed default run."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow  # starts the app frame and draws gradient estimates (several seconds)
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = "digits-default"  # these tests are written for it; the app's default is mnist-default
    app.run()
    app.switch_page("pages/estimators.py").run()
    return app


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _rerun_until(at, done, timeout=120.0):
    """The work runs on the server's queue; rerun as the page's polling fragment would until ``done(at)``."""
    end = time.monotonic() + timeout
    while not done(at) and time.monotonic() < end:
        assert not at.exception, at.exception
        time.sleep(0.3)
        at.run()
    return done(at)


def test_page_opens_with_toy_example_and_prompt(at):
    assert not at.exception, at.exception
    assert at.title[0].value == "Gradient estimators"
    assert any("Run comparison" in i.value for i in at.info)
    # The 1-D example needs no run: one table row per estimator and parameter (tabs are lazy).
    at.session_state["est_tab"] = "1-D worked example"
    at.run()
    toy = at.dataframe[0].value
    assert len(toy) == 6 and set(toy["parameter"]) == {"μ", "σ"}
    at.session_state["est_tab"] = "Your model"  # the module's later tests use the first tab
    at.run()


def test_leave_one_out_with_l1_is_an_error_not_a_traceback(at):
    at.selectbox[0].set_value("leave_one_out")
    _button(at, "Run comparison").click().run()
    assert not at.exception, at.exception
    assert any("leave-one-out" in e.value for e in at.error)


def test_run_comparison_shows_variance_ratio(at):
    at.selectbox[0].set_value("posterior_mean")
    at.multiselect[0].set_value([1, 4])
    at.select_slider[1].set_value(20)  # K: keep the test fast
    _button(at, "Run comparison").click().run()
    assert not at.exception, at.exception
    assert _rerun_until(at, lambda a: any(m.label.startswith("Score / reparam") for m in a.metric))
    ratio = next(m for m in at.metric if m.label.startswith("Score / reparam variance")).value
    assert float(ratio.rstrip("×").replace(",", "")) > 10


def test_page_shows_progress_naming_the_work_while_it_computes(at):
    at.multiselect[0].set_value([2, 8])
    at.select_slider[1].set_value(50)
    _button(at, "Run comparison").click().run()
    assert not at.exception, at.exception
    # The run returned at once, with the form still there and a progress bar naming the work.
    assert any(b.label == "Run comparison" for b in at.button)
    texts = [p.proto.text for p in at.get("progress")] + [i.value for i in at.info]
    assert any("Gradient estimates (B = 32, K = 50, L ∈ {2, 8})" in t for t in texts), texts
    assert _rerun_until(at, lambda a: any(m.label.startswith("Score / reparam") for m in a.metric))


def test_over_budget_settings_in_session_state_are_refused_with_the_limit(at):
    at.session_state["estimators_settings"] = {"batch_size": 128, "n_estimates": 400,
                                               "mc_list": (1, 2, 4, 8, 16, 32, 64), "baseline": "posterior_mean"}
    at.run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "refused" in errors and "VAE\\_MAX\\_ESTIMATOR\\_WORK" in errors, errors
    assert not at.get("progress") and not any(m.label.startswith("Score / reparam") for m in at.metric)


def test_form_offers_only_settings_within_the_budget(monkeypatch):
    # A budget that fits K = 50 but not 100 at the smallest B and L (digits-default: 41,044 parameters).
    monkeypatch.setenv("VAE_MAX_ESTIMATOR_WORK", str(41_044 * 8 * 50 * 2 * 3))
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = "digits-default"  # these tests are written for it; the app's default is mnist-default
    app.run()
    app.switch_page("pages/estimators.py").run()
    assert not app.exception, app.exception
    assert app.select_slider[1].options == ["20", "50"]
    assert app.select_slider[0].options == ["8", "16"]  # B = 16 fits with K = 20
    assert [str(o) for o in app.multiselect[0].options] == ["1", "2", "4"]  # L + 1 ≤ 5 with K = 20
