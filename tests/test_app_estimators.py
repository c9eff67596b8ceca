"""The gradient-estimator page, headless (streamlit.testing.v1.AppTest), on the committed default run."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow  # starts the app frame and draws gradient estimates (several seconds)
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("pages/estimators.py").run()
    return app


def _button(at, label):
    return next(b for b in at.button if b.label == label)


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
    ratio = next(m for m in at.metric if m.label.startswith("Score / reparam variance")).value
    assert float(ratio.rstrip("×").replace(",", "")) > 10
