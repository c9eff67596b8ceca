"""The latent-map page, headless (streamlit.testing.v1.AppTest), on the committed default run
and on two broken setups (no run; a run whose dataset does not fit its model)."""
from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ui.state import RUN_KEY, START_KEY
from vae.analysis.projection.tsne import OPENTSNE_EARLY_ITER, OPENTSNE_ITER
from vae.runs.folder import save_run
from vae.config import DataConfig, ModelConfig, RunConfig
from vae.model.networks import build_model

# slow: starts the app frame and encodes the test split (a few seconds)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SEL_KEY = "latent_map_selection"


def _open(checkpoints: Path | None = None, monkeypatch=None) -> AppTest:
    if checkpoints is not None:
        monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints))
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = "digits-default"  # these tests are written for it; the app's default is mnist-default
    app.run()
    app.switch_page("pages/latent_map.py").run()
    return app


def _private(root: Path) -> Path:
    """A private copy of the committed runs: the page keeps projections in the run folder, and a test
    must never write into a committed one."""
    root.mkdir(parents=True, exist_ok=True)
    for run in ("digits-default",):
        shutil.copytree(REPO / "checkpoints" / run, root / run)
    return root


@pytest.fixture(scope="module")
def at(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAE_CHECKPOINTS", str(_private(tmp_path_factory.mktemp("lm") / "checkpoints")))
        yield _open()


def _text(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption] + [s.value for s in app.subheader]
    return " ".join(parts + [i.value for i in app.info] + [e.value for e in app.error] + [w.value for w in app.warning])


def _rerun_until_drawn(app: AppTest, timeout: float = 120.0) -> None:
    """t-SNE runs on the server's work queue; rerun as the page's polling fragment would until the map is drawn."""
    end = time.monotonic() + timeout
    while "Showing **" not in _text(app) and not app.exception and time.monotonic() < end:
        time.sleep(0.3)
        app.run()


def test_page_shows_the_map_and_a_hint(at):
    assert not at.exception, at.exception
    assert at.title[0].value == "Latent map"
    text = _text(at)
    assert "Showing **360 of 360** test images" in text and "PCA keeps" in text
    assert "Click a point" in text


def test_a_clicked_point_shows_its_detail(at):
    # What the chart's selection callback stores for a click on test image 5.
    at.session_state[SEL_KEY] = {"ctx": (at.session_state[RUN_KEY], "test"), "view": None,
                                 "kind": "point", "indices": [5], "xy": None}
    at.run()
    assert not at.exception, at.exception
    assert at.subheader[0].value.startswith("Test image #5 · label")
    assert [m.label for m in at.metric] == ["ELBO", "Recon.", "KL"]
    elbo, rec, kl = (float(m.value) for m in at.metric)
    assert elbo == pytest.approx(rec - kl, abs=0.02) and kl >= 0
    assert "nearest neighbours in latent space" in _text(at)


def test_typed_index_shows_its_detail(at):
    at.number_input(key="lm_index").set_value(17).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value.startswith("Test image #17")


@pytest.mark.parametrize("colour", ["mu", "kl", "rec_error", "label"])
def test_recolouring_keeps_the_selection(at, colour):
    at.selectbox(key="lm_colour").set_value(colour).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value.startswith("Test image #17")


def test_a_box_selection_shows_a_grid(at):
    at.session_state[SEL_KEY] = {"ctx": (at.session_state[RUN_KEY], "test"), "view": None,
                                 "kind": "many", "indices": [1, 2, 3, 40], "xy": None}
    at.run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == "4 test images selected"


def _map_data(app: AppTest) -> dict:
    """What the map element was sent (its data), as the browser receives it."""
    [el] = [e for e in app.get("bidi_component") if json.loads(e.proto.json).get("instance") == "latent_map_chart"]
    return json.loads(el.proto.json)


def test_the_map_points_are_sent_once_and_a_click_sends_only_the_pick(at):
    """Issue 17: a pick must not re-send the map's points (8,000 of them are 130 KB, 70,000 over a
    megabyte); a session is sent them once per set of points, and each rerun after that carries
    only the small selection: rows drawn as picked, a ring on a single pick (clicked, typed or
    linked), a cross where empty space was decoded."""
    from ui.components.scatter_map import ARRAYS, SENT_KEY
    ctx = (at.session_state[RUN_KEY], "test")
    view = ("test", 360, "pca", 30.0, 0)

    def sent(pick: dict) -> dict:
        at.session_state[SEL_KEY] = {"ctx": ctx, "view": view, "xy": None, **pick}
        at.run()
        assert not at.exception, at.exception
        return _map_data(at)

    del at.session_state[SENT_KEY]  # as a new session: the points go with the first draw
    none = sent({"kind": "none", "indices": []})
    assert none["arrays"] and none["selection"] == {"rows": [], "ring": None, "cross": None} and none["invertible"]
    index = np.frombuffer(base64.b64decode(none["index"]), "<i4")
    assert sorted(index.tolist()) == list(range(360))
    small = {k: v for k, v in none.items() if k not in (*ARRAYS, "arrays", "selection")}
    for source in ("click", "typed", "link"):
        one = sent({"kind": "point", "indices": [5], "source": source})
        assert at.subheader[0].value.startswith("Test image #5")
        row = int(np.flatnonzero(index == 5)[0])
        assert one["selection"] == {"rows": [row], "ring": row, "cross": None}
        assert not one["arrays"] and all(one[k] is None for k in ARRAYS)  # not sent again
        assert {k: v for k, v in one.items() if k not in (*ARRAYS, "arrays", "selection")} == small
    many = sent({"kind": "many", "indices": [1, 2, 3], "source": "click"})
    assert at.subheader[0].value == "3 test images selected"
    assert sorted(index[many["selection"]["rows"]].tolist()) == [1, 2, 3] and many["selection"]["ring"] is None
    probed = sent({"kind": "probe", "indices": [], "xy": (1.5, -1.0)})
    assert probed["selection"] == {"rows": [], "ring": None, "cross": [1.5, -1.0]} and probed["x"] is None
    # A new colouring is a new set of points: sent once.
    at.selectbox(key="lm_colour").set_value("kl").run()
    kl = _map_data(at)
    assert kl["arrays"] and kl["value"] is not None and kl["sig"] != none["sig"]
    at.selectbox(key="lm_colour").set_value("label").run()


def test_images_and_the_decoder_are_sent_only_when_asked_for_and_then_once(at):
    from ui.components.scatter_map import EXTRAS_KEY, WANT_KEY
    at.session_state[SEL_KEY] = {"ctx": (at.session_state[RUN_KEY], "test"), "view": None, "kind": "none",
                                 "indices": []}
    at.run()
    assert _map_data(at)["extras"] is None  # a page load sends no image
    at.session_state[WANT_KEY] = {"latent_map_chart": True}  # what the Images button's trigger sets
    at.session_state[EXTRAS_KEY] = {}
    at.run()
    ex = _map_data(at)["extras"]
    pixels = np.frombuffer(base64.b64decode(ex["images"]["data"]), np.uint8)
    rows = np.frombuffer(base64.b64decode(ex["images"]["rows"]), "<i4")
    assert ex["images"]["shape"] == [1, 8, 8] and len(rows) == 360 and len(pixels) == 360 * 64
    dec = ex["decoder"]
    assert dec["spec"]["latent_dim"] == 10 and dec["weights"] and len(dec["inverse"]["components"]) == 2
    at.run()
    again = _map_data(at)["extras"]
    assert again["images"]["data"] is None and again["decoder"]["weights"] is None  # sent once
    assert again["images"]["rows"] is None  # the rows go with the pixels
    assert again["images"]["id"] == ex["images"]["id"]
    del at.session_state[WANT_KEY]


def test_a_click_on_empty_pca_space_decodes_it(at):
    view = ("test", 360, "pca", 30.0, 0)
    at.session_state[SEL_KEY] = {"ctx": (at.session_state[RUN_KEY], "test"), "view": view,
                                 "kind": "probe", "indices": [], "xy": (1.5, -1.0)}
    at.run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == "A point between the data"
    assert "(PC1, PC2) = (1.50, -1.00)" in _text(at)


def test_tsne_view(at):
    at.selectbox(key="lm_method_10").set_value("tsne").run()
    _rerun_until_drawn(at)
    assert not at.exception, at.exception
    assert not at.error
    assert at.slider(key="lm_perplexity").value == 30
    assert "Click a point" in _text(at)  # the PCA probe does not carry over to t-SNE
    at.selectbox(key="lm_method_10").set_value("pca").run()


def test_an_over_limit_perplexity_in_session_state_is_refused_with_the_limit(at):
    at.session_state["lm_perplexity"] = 500  # what a crafted session or a stale widget could send
    at.selectbox(key="lm_method_10").set_value("tsne").run()
    assert not at.exception, at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "perplexity of 500 refused" in warning and "at most 100" in warning
    _rerun_until_drawn(at)
    assert at.slider(key="lm_perplexity").max == 100 and at.slider(key="lm_perplexity").value == 100
    assert "Click a point" in _text(at)  # the map was drawn at the allowed value
    at.session_state["lm_perplexity"] = 30
    at.selectbox(key="lm_method_10").set_value("pca").run()


def test_tsne_point_cap_bounds_the_slider_and_refuses_more(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_MAX_TSNE_POINTS", "200")
    app = _open(_private(tmp_path / "ck"), monkeypatch)
    assert app.slider(key="lm_cap_test_360").max == 360  # PCA is not limited by the t-SNE cap
    app.selectbox(key="lm_method_10").set_value("tsne").run()
    assert not app.exception, app.exception
    assert app.slider(key="lm_cap_test_360").max == 200
    assert any("VAE_MAX_TSNE_POINTS" in w.value for w in app.warning), [w.value for w in app.warning]
    _rerun_until_drawn(app)
    assert "Showing **200 of 360** test images" in _text(app)
    assert not any(n.label == "t-SNE seed" for n in app.number_input)  # no knob that only multiplies fits


def test_tsne_runs_in_the_background_and_the_page_returns_at_once(at):
    at.slider(key="lm_cap_test_360").set_value(300)
    at.session_state["lm_perplexity"] = 30
    at.selectbox(key="lm_method_10").set_value("tsne")
    t0 = time.monotonic()
    at.run()
    assert time.monotonic() - t0 < 2.0  # the fit (seconds) does not hold the page
    assert not at.exception, at.exception
    assert "Showing **" not in _text(at) and any(b.label == "Cancel" for b in at.button)
    _rerun_until_drawn(at)
    assert "Showing **300 of 360** test images" in _text(at)
    shown = _text(at).replace("\\", "")  # the note is markdown-escaped (a kept file is data)
    assert "scikit-learn Barnes-Hut t-SNE (the reference)" in shown and "trustworthiness" in shown
    at.slider(key="lm_cap_test_360").set_value(360)
    at.selectbox(key="lm_method_10").set_value("pca").run()


def test_send_to_traversals(at):
    at.number_input(key="lm_index").set_value(9).run()
    next(b for b in at.button if b.label == "Start a traversal here").click().run()
    assert not at.exception, at.exception
    # The Traversals page took the hand-off (it pops START_KEY once applied).
    assert START_KEY not in at.session_state or at.session_state[START_KEY] == {"index": 9, "split": "test"}
    assert at.session_state["trav_index"] == 9


def test_no_run_gives_a_message(tmp_path, monkeypatch):
    app = _open(tmp_path / "empty", monkeypatch)
    assert not app.exception, app.exception
    assert any("No run is selected" in i.value for i in app.info)


def test_dataset_that_does_not_fit_the_run_gives_a_message(tmp_path, monkeypatch):
    # A model for 16×16 images whose config names the digits dataset at its native 8×8.
    cfg = RunConfig(model=ModelConfig(arch="mlp", image_size=16, latent_dim=2, hidden=[8]),
                    data=DataConfig(name="digits"))
    save_run(tmp_path / "ck" / "mismatch", build_model(cfg.model), cfg, [])
    app = _open(tmp_path / "ck", monkeypatch)
    assert not app.exception, app.exception
    assert any("expects" in e.value for e in app.error), [e.value for e in app.error]


def test_opentsne_runs_in_the_background_is_kept_and_says_how_it_was_made(at):
    at.switch_page("pages/latent_map.py").run()
    at.session_state["lm_perplexity"] = 30
    at.selectbox(key="lm_method_10").set_value("opentsne").run()
    assert not at.exception, at.exception
    _rerun_until_drawn(at)
    text = _text(at).replace("\\", "")
    assert f"openTSNE, {OPENTSNE_EARLY_ITER} + {OPENTSNE_ITER} iterations" in text
    assert "fitted on all 360 points" in text and "trustworthiness" in text
    at.selectbox(key="lm_method_10").set_value("pca").run()
    at.selectbox(key="lm_method_10").set_value("opentsne").run()
    # The second time the kept map is drawn at once: no task, no progress, no Cancel button.
    assert "Showing **360 of 360** test images" in _text(at) and not any(b.label == "Cancel" for b in at.button)
    at.selectbox(key="lm_method_10").set_value("pca").run()


def test_cancelling_a_projection_keeps_nothing_and_says_so(tmp_path, monkeypatch):
    import threading

    from vae.jobs.background import shared_queue
    root = _private(tmp_path / "ck")
    app = _open(root, monkeypatch)
    # Hold the server's one background worker, so the projection waits in the queue and the Cancel
    # below reaches it whatever the machine's speed (a running fit stops at its next callback:
    # tests/test_project.py checks that path).
    release = threading.Event()
    blocker = shared_queue().submit(("test-blocker", str(tmp_path)), lambda progress, stop: release.wait(120))
    try:
        app.selectbox(key="lm_method_10").set_value("opentsne").run()
        assert not app.exception, app.exception
        assert "position 1 in the queue" in _text(app)
        next(b for b in app.button if b.label == "Cancel").click().run()
        app.run()
    finally:
        release.set()
        blocker.wait(30)
    assert "t-SNE (openTSNE, fast) of 360 test points was cancelled; nothing was kept." in _text(app)
    folder = root / "digits-default" / "projections"
    assert [p.name for p in folder.iterdir() if not p.name.startswith("pca-")] == []  # the opening PCA map only
    assert any(b.label == "Start it again" for b in app.button)


def test_placing_a_prior_latent_into_the_pca_map(at):
    at.switch_page("pages/latent_map.py").run()
    at.selectbox(key="lm_method_10").set_value("pca").run()
    next(b for b in at.button if b.key == "lm_place_prior").click().run()
    assert not at.exception, at.exception
    [star] = _map_data(at)["placed"]
    assert star["name"] == "prior 1" and np.isfinite([star["x"], star["y"]]).all()
