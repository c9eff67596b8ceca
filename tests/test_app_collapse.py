"""The collapse page, headless (streamlit.testing.v1.AppTest), on the committed default run."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DIM_KEY, RUN_KEY

# slow: starts the app frame and encodes the test split (a few seconds)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def at(one_thread):
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = "digits-default"  # these tests are written for it; the app's default is mnist-default
    app.run()
    app.switch_page("pages/collapse.py").run()
    return app


def test_page_shows_diagnostics_and_flags_collapsed_dims(at):
    assert not at.exception, at.exception
    assert at.title[0].value == "Posterior collapse diagnostics"
    labels = [m.label for m in at.metric]
    assert "Active units" in labels and "I_q(x; z) (nats)" in labels
    active = next(m for m in at.metric if m.label == "Active units").value
    assert active.endswith("of 10") and int(active.split()[0]) < 10
    warning = " ".join(w.value for w in at.warning)
    assert "dimensions are not active" in warning and "collapsed" in warning
    md = " ".join(m.value for m in at.markdown)
    assert "I_q(x; z) + KL(q(z) ‖ p(z))" in md
    # Tabs are lazy: the MIG tab's content runs only once it is opened.
    assert not any("ground-truth factors" in i.value for i in at.info)
    at.session_state["collapse_tab"] = "Disentanglement (MIG)"
    at.run()
    # Digits has no ground-truth factors: the MIG tab says so.
    assert any("ground-truth factors" in i.value for i in at.info)
    at.session_state["collapse_tab"] = "Per dimension"  # the module's later tests use the first tab
    at.run()


def test_threshold_change_reruns_cleanly(at):
    at.number_input[0].set_value(1.0).run()
    assert not at.exception, at.exception
    active = next(m for m in at.metric if m.label == "Active units").value
    assert active.startswith("0 of")
    at.number_input[0].set_value(0.01).run()


def test_open_traversal_button_sets_dimension(at):
    at.selectbox(key="collapse_dim_pick").set_value(3).run()
    next(b for b in at.button if b.label == "Open its traversal").click().run()
    # Now on Traversals (another page, with its own tests): only the hand-off is checked here.
    assert [t.value for t in at.title] != ["Posterior collapse diagnostics"]
    # Traversals takes the hand-off (pops DIM_KEY) when it runs; either way dimension 3 went across.
    state = at.session_state
    sent = state[DIM_KEY] if DIM_KEY in state else state["trav_focus"]["dim"]
    assert sent == 3


def test_mig_on_shapes_run():
    if not (Path(APP).parent / "checkpoints" / "shapes-default").is_dir():
        pytest.skip("the committed shapes-default run is not there")
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = "digits-default"  # these tests are written for it; the app's default is mnist-default
    app.run()
    app.session_state[RUN_KEY] = "shapes-default"
    app.switch_page("pages/collapse.py").run()
    app.session_state["collapse_tab"] = "Disentanglement (MIG)"
    app.run()
    assert not app.exception, app.exception
    mig = next(m for m in app.metric if m.label == "MIG")
    assert 0.0 <= float(mig.value) <= 1.0


def test_diagnostics_past_the_server_budget_are_refused_with_the_limit_named(monkeypatch):
    """A model at the allowed maximum (40 M parameters, D = 512) would take minutes: the page refuses it
    before encoding anything. Here the limit is lowered below the small default run's cost."""
    from vae.analysis.collapse import N_ANCHORS, mi_replicates
    from vae.limits import COLLAPSE_WORK, collapse_work
    big = collapse_work(40_000_000, 2000, 512, N_ANCHORS, 2000, mi_replicates(2000))
    small = collapse_work(150_000, 360, 10, N_ANCHORS, 360, mi_replicates(360))
    assert big > COLLAPSE_WORK.value() > 50 * small  # the default: committed runs pass, the maximum does not
    monkeypatch.setenv("VAE_MAX_COLLAPSE_WORK", str(int(small / 10)))
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = "digits-default"
    app.run()
    app.switch_page("pages/collapse.py").run()
    assert not app.exception, app.exception
    [err] = [e.value.replace("\\", "") for e in app.error]  # as shown: markdown escapes removed
    assert "VAE_MAX_COLLAPSE_WORK" in err and "Collapse diagnostics of a" in err
    assert not app.metric  # nothing was computed


def test_the_elbo_shown_is_the_runs_own_evaluation():
    """One evaluation of a run everywhere: Collapse shows the ELBO its history (and Home) reports."""
    from vae.runs.folder import load_run
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["run_name"] = "digits-default"
    at.run()
    at.switch_page("pages/collapse.py").run()
    want = load_run(Path(APP).parent / "checkpoints" / "digits-default").history[-1]["test_elbo"]
    shown = next(m for m in at.metric if m.label == "ELBO (nats)").value
    assert shown == f"{want:.2f}"
