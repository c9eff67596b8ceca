"""vae.queue: trainings one after another, each the same `python -m vae.train` a user types."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vae.runs.folder import load_run
from vae.jobs.plans import read_state, write_plan

REPO = Path(__file__).resolve().parents[1]


def _plan(tmp_path: Path, epochs: list[int]) -> Path:
    runs = [{"name": f"r{i}", "out": str(tmp_path / f"r{i}"), "log": str(tmp_path / f"r{i}.log"),
             "argv": ["--dataset=digits", f"--epochs={e}", f"--seed={i}", "--json"]} for i, e in enumerate(epochs)]
    plan = tmp_path / "plan.json"
    write_plan(plan, runs)
    return plan


@pytest.mark.slow
def test_runs_each_entry_in_order(tmp_path):
    plan = _plan(tmp_path, [1, 2])
    r = subprocess.run([sys.executable, "-m", "vae.queue", str(plan)], cwd=REPO, timeout=240,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    state = read_state(plan)
    assert state["state"] == "finished"
    assert [x["state"] for x in state["runs"]] == ["finished", "finished"]
    assert [len(load_run(tmp_path / f"r{i}").history) for i in range(2)] == [1, 2]
    # Each log is the trainer's own output, ending with its JSON summary.
    assert json.loads((tmp_path / "r1.log").read_text().splitlines()[-1])["epochs"] == 2


@pytest.mark.slow
def test_sigterm_stops_the_running_training_and_cancels_the_rest(tmp_path):
    plan = _plan(tmp_path, [200, 1])
    proc = subprocess.Popen([sys.executable, "-m", "vae.queue", str(plan)], cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "r0" / "model.safetensors").exists():
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    state = read_state(plan)
    assert state["state"] == "stopped"
    assert [x["state"] for x in state["runs"]] == ["stopped", "cancelled"]
    kept = load_run(tmp_path / "r0")  # the stopped run is whole, with its completed epochs
    assert 1 <= len(kept.history) < 200
    assert not (tmp_path / "r1").exists()


def test_bad_plans_are_refused(tmp_path):
    with pytest.raises(ValueError):
        write_plan(tmp_path / "p.json", [])
    with pytest.raises(ValueError):
        write_plan(tmp_path / "p.json", [{"name": "a", "out": "x", "argv": ["--epochs", 3]}])
