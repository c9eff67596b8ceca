"""A run's status checked against its trainer process: pid *and* start time (vae.procs),
so a killed trainer, a restarted machine or a reused pid never reads as 'running'."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vae.runs.folder import write_status
from vae.runs.catalog import NOTHING_SAVED, effective_status, list_runs
from vae.runs.processes import identity, is_alive, signal_if_same, start_time

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def sleeper():
    """A live child process that a SIGTERM would end."""
    p = subprocess.Popen(["sleep", "30"])
    yield p
    p.kill()
    p.wait()


def _dead_identity() -> dict:
    p = subprocess.Popen(["sleep", "30"])
    ident = identity(p.pid)
    p.kill()
    p.wait()  # reaped: the pid is free again
    return ident


def _run(tmp_path: Path, n_epochs: int, **status) -> Path:
    """A run folder with `n_epochs` history lines (and weights if any), and a status.json."""
    d = tmp_path / "run"
    d.mkdir()
    if n_epochs:
        src = REPO / "checkpoints" / "digits-default"
        shutil.copy(src / "config.json", d)
        shutil.copy(src / "model.safetensors", d)
        lines = (src / "history.jsonl").read_text().splitlines()[:n_epochs]
        (d / "history.jsonl").write_text("\n".join(lines) + "\n")
    (d / "status.json").write_text(json.dumps(status))
    return d


def test_identity_has_a_start_time_that_tells_processes_apart(sleeper):
    me, child = identity(), identity(sleeper.pid)
    assert me["pid"] == os.getpid() and isinstance(me["pid_start"], int)
    assert child["pid_start"] is not None and child["pid_start"] >= me["pid_start"]
    assert is_alive(me) and is_alive(child)
    assert start_time(sleeper.pid) == child["pid_start"]


def test_status_of_a_live_trainer_stays_running(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    write_status(d, "running", "training", epoch=0, epochs=5)  # written by this (live) process
    s = effective_status(d)
    assert s["state"] == "running" and s["pid"] == os.getpid() and s["pid_start"] == start_time(os.getpid())


def test_killed_trainer_reads_as_stopped_unexpectedly_with_its_last_epoch(tmp_path):
    d = _run(tmp_path, 3, state="running", message="training", epoch=3, epochs=50, **_dead_identity())
    s = effective_status(d)
    assert s["state"] == "interrupted"
    assert s["message"] == "stopped unexpectedly — last complete epoch 3 kept" and s["epoch"] == 3


def test_killed_before_the_first_epoch_reads_as_nothing_saved(tmp_path):
    d = _run(tmp_path, 0, state="running", message="training", epoch=0, epochs=50, **_dead_identity())
    s = effective_status(d)
    assert s["state"] == "empty" and s["message"] == NOTHING_SAVED == "stopped before the first epoch: nothing saved"


def test_reused_pid_is_not_the_trainer(tmp_path, sleeper):
    """The pid is alive (another process has it now), but its start time is not the trainer's."""
    ident = identity(sleeper.pid)
    stale = {**ident, "pid_start": ident["pid_start"] - 1}
    assert is_alive(ident) and not is_alive(stale)
    d = _run(tmp_path, 2, state="running", message="training", **stale)
    assert effective_status(d)["state"] == "interrupted"
    assert not signal_if_same(stale, signal.SIGTERM)
    time.sleep(0.1)
    assert sleeper.poll() is None  # never signalled


def test_a_restarted_machine_ends_every_old_trainer(tmp_path):
    ident = {**identity(), "boot_id": "00000000-0000-0000-0000-000000000000"}  # our own pid, another boot
    d = _run(tmp_path, 1, state="running", message="training", **ident)
    assert effective_status(d)["state"] == "interrupted"


def test_other_states_and_unreadable_status_pass_through(tmp_path):
    d = _run(tmp_path, 2, state="finished", message="finished 2 epochs", **_dead_identity())
    assert effective_status(d)["state"] == "finished"
    (d / "status.json").write_text("{not json")
    assert effective_status(d) == {}


@pytest.mark.slow
def test_trainer_sigkilled_from_the_command_line_is_reported_as_stopped_unexpectedly(tmp_path):
    """The real trainer, run as a user would from a shell, then SIGKILLed: its status.json still
    says 'running', and effective_status sees through it."""
    out = tmp_path / "cli-run"
    env = {**os.environ, "VAE_NO_DOWNLOAD": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "vae.train", "--dataset", "digits", "--max-items", "200",
                          "--hidden", "16", "--latent-dim", "2", "--batch-size", "20", "--epochs", "500",
                          f"--out={out}"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len((out / "history.jsonl").read_text().splitlines()
                                             if (out / "history.jsonl").exists() else []) < 2:
            time.sleep(0.1)
        assert effective_status(out)["state"] == "running"
        assert [(r.name, r.state) for r in list_runs(tmp_path)] == [("cli-run", "running")]
    finally:
        p.kill()
        p.wait()
    raw = json.loads((out / "status.json").read_text())
    assert raw["state"] == "running" and raw["pid"] == p.pid  # the trainer had no chance to say otherwise
    s = effective_status(out)
    done = len((out / "history.jsonl").read_text().splitlines())
    assert s["state"] == "interrupted" and s["message"] == f"stopped unexpectedly — last complete epoch {done} kept"
    # The run picker says so too, though none of the run's files changed when it died.
    [info] = list_runs(tmp_path)
    assert info.state == "interrupted" and "stopped unexpectedly" in info.label
