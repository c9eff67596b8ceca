"""The Compare runs page, headless (streamlit.testing.v1.AppTest), on private copies of runs."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_runs import private_checkpoints
from ui.state import RUN_KEY
from vae.jobs.background import shared_queue

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _wait_for_queue(timeout: float = 300) -> None:
    q = shared_queue()
    deadline = time.time() + timeout
    while time.time() < deadline and (q.running or q.waiting):
        time.sleep(0.2)
    assert not (q.running or q.waiting), "the background work did not finish"


def _chart(at, key: str) -> dict:
    el = next(e for e in at.get("plotly_chart") if e.proto.id and key in e.proto.id or getattr(e, "key", None) == key)
    return json.loads(el.proto.spec)


@pytest.fixture()
def at(tmp_path, monkeypatch):
    root = private_checkpoints(tmp_path, monkeypatch)
    # a second digits run with other settings (β): its config differs, its weights are the same
    other = root / "digits-beta2"
    shutil.copytree(root / "digits-default", other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["train"]["beta"] = 2.0
    cfg["train"]["sweep"] = "demo"
    (other / "config.json").write_text(json.dumps(cfg))
    app = AppTest.from_file(APP, default_timeout=180)
    app.session_state[RUN_KEY] = "digits-default"
    app.run()
    app.switch_page("pages/compare.py").run()
    return app, root


def test_plane_places_every_run_and_keeps_the_points(at):
    app, root = at
    assert not app.exception, app.exception
    assert app.title[0].value == "Compare runs"
    _wait_for_queue()
    app.run()
    assert not app.exception, app.exception
    plane = _chart(app, "rd_plane")
    names = sorted(n for t in plane["data"] for n in (t.get("text") or []))
    assert names == ["digits-beta2", "digits-default"]
    sweeps = {t["name"] for t in plane["data"]}
    assert {"sweep demo", "other runs", "current run"} <= sweeps
    assert any("ELBO −" in a["text"] for a in plane["layout"]["annotations"])
    # the points were kept in the run folders, keyed by the weights' hash
    assert list((root / "digits-default" / "cache").glob("rate-distortion-*.json"))
    # the surgery split is drawn, and the aligned maps of the two runs
    assert any("ELBO surgery" in s.value for s in app.subheader)
    aligned = [e for e in app.get("plotly_chart") if "aligned" in (e.proto.id or "")]
    assert aligned
    # shapes-default is scored for disentanglement in the background
    _wait_for_queue()
    app.run()
    assert not app.exception, app.exception
    assert list((root / "shapes-default" / "cache").glob("disentanglement-*.json"))
    frames = [d.value for d in app.dataframe]
    assert any("FactorVAE" in f.columns for f in frames)


@pytest.mark.parametrize("values, words", [("0.5, two", "not a number"), ("5000", "between 0 and 1000"),
                                            ("", "at least one value"),
                                            ("![x](http://h/p.png)", "not a number")])
def test_bad_sweep_values_are_refused_with_a_message_and_start_nothing(tmp_path, monkeypatch, values, words):
    root = private_checkpoints(tmp_path, monkeypatch)
    before = sorted(p.name for p in root.iterdir())
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state[RUN_KEY] = "digits-default"
    app.run()
    app.switch_page("pages/train.py").run()
    {w.label: w for w in app.text_input}["Values"].set_value(values)
    [b for b in app.button if b.label == "Queue sweep"][0].click().run()
    assert not app.exception, app.exception
    errors = " ".join(e.value for e in app.error)
    assert words in errors.replace("\\", ""), errors
    assert "](http" not in errors  # the typed text reaches the page escaped
    assert sorted(p.name for p in root.iterdir()) == before
    from vae.jobs.training import JobManager
    assert JobManager(root).current() is None


def test_two_epochs_of_one_run_are_aligned_from_its_snapshots(tmp_path, monkeypatch):
    root = private_checkpoints(tmp_path, monkeypatch, runs=("digits-default",))
    run = root / "digits-default"
    (run / "snapshots").mkdir()
    # a snapshot of epoch 10 holding the final weights: its map is the final map, disparity 0
    shutil.copy(run / "model.safetensors", run / "snapshots" / "epoch-0010.safetensors")
    app = AppTest.from_file(APP, default_timeout=180)
    app.session_state[RUN_KEY] = "digits-default"
    app.run()
    app.switch_page("pages/compare.py").run()
    app.radio(key="align_mode").set_value("epochs").run()
    assert not app.exception, app.exception
    assert [o for o in app.selectbox(key="align_ea").options] == ["epoch 10", "final (epoch 50)"]
    assert any("aligned" in (e.proto.id or "") for e in app.get("plotly_chart"))
    assert any("disparity 0.000" in c.value for c in app.caption)


def test_with_no_finished_runs_the_page_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINTS", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    assert any("No finished runs yet" in i.value for i in app.info)


def test_a_shapes_only_server_shows_its_run_and_asks_for_a_second(tmp_path, monkeypatch):
    private_checkpoints(tmp_path, monkeypatch, runs=("shapes-default",))
    app = AppTest.from_file(APP, default_timeout=180)
    app.session_state[RUN_KEY] = "shapes-default"
    app.run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="compare_dataset").value == "shapes"
    assert any("Only one run on" in i.value for i in app.info)
