"""The Train page's view of a job that has ended (headless, AppTest): one sentence per outcome,
a run stopped before its first epoch, a killed run, another visitor's failure, uploads, and the
server settings in .streamlit/config.toml."""
from __future__ import annotations

import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from faults_plugin import tree
from vae.files import write_json_atomic
from vae.runs.processes import identity

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path, monkeypatch):
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    shutil.copytree(REPO / "checkpoints" / "digits-default", ck / "digits-default")
    monkeypatch.setenv("VAE_CHECKPOINTS", str(ck))
    return ck


def _dead() -> dict:
    p = subprocess.Popen(["sleep", "30"])
    ident = identity(p.pid)
    p.kill()
    p.wait()
    return ident


def _record(root: Path, name: str, log: str = "", returncode: int | None = 0, **kw) -> None:
    (root / ".jobs").mkdir(exist_ok=True)
    (root / ".jobs" / f"{name}.log").write_text(log)
    write_json_atomic(root / ".jobs" / "current.json",
                      {"name": name, "run_dir": str(root / name), "log": str(root / ".jobs" / f"{name}.log"),
                       "pid": 0, "started": time.time(), "args": [], "epochs": 50, "returncode": returncode, **kw})


def _train_page(seen: set[str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    if seen is not None:
        at.session_state["_train_seen"] = seen
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_finished_message_says_it_once(root):
    shutil.copytree(root / "digits-default", root / "done")  # status.json: "finished 50 epochs"
    _record(root, "done", "finished: finished 50 epochs; saved")
    at = _train_page(seen={"done"})
    msgs = [s.value for s in at.success]
    assert msgs == ["Run **done** finished after 50 epochs."], msgs
    assert [b.label for b in at.button if b.label == "Explore this run"]


def test_a_run_stopped_before_its_first_epoch_says_nothing_was_saved_and_can_be_deleted(root):
    _record(root, "early", "training mlp VAE …\nstopped by request during epoch 1\n")
    at = _train_page(seen={"early"})
    warn = [w.value.replace("\\", "") for w in at.warning]  # as rendered: markdown escapes dropped
    assert warn == ["Run **early** stopped before the first epoch: nothing saved."], warn
    assert not at.error and not at.get("plotly_chart")
    [b for b in at.button if b.label == "Delete it"][0].click().run()
    assert not at.exception
    assert not (root / ".jobs" / "current.json").exists() and not (root / ".jobs" / "early.log").exists()
    assert not at.warning and (root / "digits-default").is_dir()


def test_a_run_killed_from_outside_shows_its_last_complete_epoch(root):
    shutil.copytree(root / "digits-default", root / "killed")
    lines = (root / "killed" / "history.jsonl").read_text().splitlines()[:4]
    (root / "killed" / "history.jsonl").write_text("\n".join(lines) + "\n")
    (root / "killed" / "status.json").write_text(
        '{"state": "running", "message": "training", "pid": %d, "pid_start": %d, "boot_id": "%s", "host": "%s"}'
        % tuple(_dead()[k] for k in ("pid", "pid_start", "boot_id", "host")))
    _record(root, "killed", returncode=None, **{k: v for k, v in _dead().items()})
    at = _train_page(seen={"killed"})
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "stopped unexpectedly — last complete epoch 4 kept" in errors[0], errors
    assert [b for b in at.button if b.label == "Explore its last epoch"]
    assert not [b for b in at.button if b.label == "Stop"]


def test_another_visitors_failure_is_folded_away_without_server_paths(root, tmp_path):
    secret = tmp_path / "srv" / "private-data"
    _record(root, "bad", f"error: folder {secret} does not exist\n", returncode=2)
    at = _train_page()  # a new visitor: did not start or watch it
    assert [e.label for e in at.expander if e.label.startswith("Last run")] == \
        ["Last run on this server: bad, failed"]
    folded = [e for e in at.expander if e.label.startswith("Last run")][0]
    assert [e.value for e in folded.error] == ["Run **bad** failed: folder ‹private\\-data› does not exist"]
    page_text = " ".join(str(getattr(el, "value", "")) for el in at.main)
    assert str(tmp_path) not in page_text and "/srv/" not in page_text
    # Who started it sees it unfolded.
    at = _train_page(seen={"bad"})
    assert not [e for e in at.expander if e.label.startswith("Last run")] and len(at.error) == 1


def test_choosing_a_zip_stores_nothing_until_start(root, tmp_path):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/1.png", b"not really")
    before = tree(tmp_path)
    at = _train_page()
    [s for s in at.selectbox if s.label == "Dataset"][0].set_value("folder").run()
    [u for u in at.file_uploader if u.label.startswith("Zip of images")][0].set_value(
        ("imgs.zip", buf.getvalue(), "application/zip"))
    at.run()
    at.run()
    assert not at.exception
    assert tree(tmp_path) == before  # nothing written: not in checkpoints/.uploads, not anywhere


def test_server_settings_hide_deploy_and_error_details_and_agree_on_the_upload_limit(monkeypatch):
    import streamlit as st

    from ui.state import limits
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["client"] == {"toolbarMode": "viewer", "showErrorDetails": "none"}
    assert st.get_option("server.maxUploadSize") == cfg["server"]["maxUploadSize"]  # what Streamlit read
    monkeypatch.delenv("VAE_MAX_UPLOAD_MB", raising=False)
    assert limits()["max_upload_mb"] == cfg["server"]["maxUploadSize"]
    monkeypatch.setenv("VAE_MAX_UPLOAD_MB", str(cfg["server"]["maxUploadSize"] * 5))
    assert limits()["max_upload_mb"] == cfg["server"]["maxUploadSize"]  # never above what Streamlit accepts
    monkeypatch.setenv("VAE_MAX_UPLOAD_MB", "7")
    assert limits()["max_upload_mb"] == 7


def test_an_unexpected_error_shows_an_id_that_is_in_the_log_and_no_details(tmp_path):
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("vae_explorer")  # the server log's logger (ui/errors.py)
    log.addHandler(handler)
    script = tmp_path / "boom.py"
    script.write_text("from ui.errors import report_errors\n"
                      f"with report_errors('test'):\n    open({str(tmp_path / 'secret' / 'x.bin')!r})\n")
    try:
        at = AppTest.from_file(str(script)).run()
    finally:
        log.removeHandler(handler)
    (exc,) = at.exception
    assert "error id" in exc.value and str(tmp_path) not in exc.value and not exc.stack_trace
    error_id = exc.value.split("error id ")[1].split(")")[0]
    logged = [r for r in records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info[0] is FileNotFoundError
