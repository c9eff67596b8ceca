"""The Traversals page, headless (AppTest) on the committed default run."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DIM_KEY, START_KEY

REPO = Path(__file__).resolve().parents[1]
PAGE = "pages/traversals.py"

pytestmark = pytest.mark.skipif(not (REPO / "checkpoints" / "digits-default").is_dir(),
                                reason="the default run is not committed here")


def open_page(**state) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["run_name"] = "digits-default"  # these tests are written for it; the app's default is mnist-default
    at.run()
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception[0].value
    return at


def latent_sliders(at: AppTest) -> list:
    return [s for s in at.slider if s.key and s.key.startswith("trav_z")]


def test_sliders_are_ordered_by_kl_with_collapsed_marked_and_decode_on_change():
    at = open_page()
    sliders = latent_sliders(at)
    assert len(sliders) == 10
    assert all(s.value == 0.0 for s in sliders)  # the default start point is the origin
    collapsed = ["collapsed" in s.label for s in sliders]
    assert any(collapsed) and collapsed == sorted(collapsed)  # collapsed ones last
    assert at.title[0].value == "Traversals"
    before = at.session_state["trav_latent"]
    top = sliders[0].key
    at.slider(key=top).set_value(2.0).run()
    assert not at.exception
    after = at.session_state["trav_latent"]
    assert after != before and after[int(top[len("trav_z"):])] == 2.0


def test_buttons_randomise_reset_and_snap_to_start():
    at = open_page()
    at.button[1].click().run()  # Randomise
    assert not at.exception
    assert any(v != 0.0 for v in at.session_state["trav_latent"])
    at.button[0].click().run()  # Reset to zeros
    assert all(v == 0.0 for v in at.session_state["trav_latent"])
    at.slider(key=latent_sliders(at)[0].key).set_value(1.5).run()
    at.button[2].click().run()  # Snap to start (the origin here)
    assert all(v == 0.0 for v in at.session_state["trav_latent"])


def test_start_point_sent_from_the_latent_map_is_applied_once():
    at = open_page(**{START_KEY: {"index": 5, "split": "test"}})
    assert START_KEY not in at.session_state
    assert at.session_state["trav_start"] == "data" and at.session_state["trav_index"] == 5
    z = at.session_state["trav_latent"]
    assert any(abs(v) > 0.05 for v in z)  # μ of a real image, not the origin
    at.run()
    assert at.session_state["trav_latent"] == z


def test_bad_handoffs_get_a_warning_not_a_traceback():
    at = open_page(**{START_KEY: {"index": 10_000, "split": "test"}, DIM_KEY: 99})
    warnings = " ".join(w.value for w in at.warning)
    assert "not one of the 360 test images" in warnings
    assert "dimensions 0 to 9" in warnings
    assert START_KEY not in at.session_state and DIM_KEY not in at.session_state


def test_dimension_sent_from_the_collapse_page_is_shown_first():
    at = open_page(**{DIM_KEY: 2})
    assert DIM_KEY not in at.session_state
    first = latent_sliders(at)[0]
    assert first.key == "trav_z2" and "»" in first.label


@pytest.mark.slow  # several reruns: about 2–3 s
def test_build_grid_over_principal_axes_and_the_same_dimension_twice():
    at = open_page()
    at.session_state["trav_tab"] = "Grid traversal"  # tabs are lazy: open the grid tab
    at.run()
    at.radio(key="trav_grid_kind").set_value("pca").run()
    at.slider(key="trav_grid_n").set_value(25).run()
    next(b for b in at.button if b.label == "Build grid").click().run()
    assert not at.exception
    assert at.session_state["trav_grid"]["n"] == 25 and at.session_state["trav_grid"]["kind"] == "pca"
    at.radio(key="trav_grid_kind").set_value("dims").run()
    at.selectbox(key="trav_grid_i").set_value(3).run()
    at.selectbox(key="trav_grid_j").set_value(3).run()
    next(b for b in at.button if b.label == "Build grid").click().run()
    assert any("two different dimensions" in e.value for e in at.error)


@pytest.mark.slow  # several reruns: about 2–3 s
def test_interpolation_and_slider_range():
    at = open_page()
    at.session_state["trav_tab"] = "Interpolation"  # tabs are lazy: open the interpolation tab
    at.run()
    at.number_input(key="trav_interp_b").set_value(0).run()
    assert any("same image" in w.value for w in at.warning)
    at.slider(key=latent_sliders(at)[0].key).set_value(2.5).run()
    at.number_input(key="trav_radius").set_value(1.0).run()  # shrinking the range clips the sliders
    assert not at.exception
    assert max(abs(v) for v in at.session_state["trav_latent"]) <= 1.0


@pytest.mark.slow  # several reruns: about 2–3 s
def test_far_latent_gets_the_off_manifold_warning():
    at = open_page()
    at.number_input(key="trav_radius").set_value(10.0).run()
    for s in latent_sliders(at)[:6]:
        at.slider(key=s.key).set_value(9.0)
    at.run()
    assert any("Off the data manifold" in w.value for w in at.warning)
