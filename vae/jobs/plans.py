"""Several trainings, one after another: ``python -m vae.queue PLAN.json``.

The job manager starts this runner (one process, like a single ``vae.train``) for
a gradient-estimator comparison or a sweep; it is also usable by hand. Each entry
of the plan runs as ``python -m vae.train ARGV --out OUT`` with its output in its
own log, exactly the command a user would type. Progress is written atomically to
``PLAN.state.json`` after every change, so any watcher (or a restarted server)
can follow it. SIGTERM / SIGINT stop the running training (it keeps its last
completed epoch) and cancel the entries still waiting.

PLAN.json: ``{"runs": [{"name": str, "out": path, "argv": [str, ...], "log": path}, ...]}``
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vae.files import write_json_atomic

MAX_RUNS = 64  # entries per plan: a sweep of more is refused when the plan is made


def state_path(plan: Path) -> Path:
    return Path(plan).with_suffix(".state.json")


def read_state(plan: Path) -> dict:
    """The runner's progress: {"state", "index", "runs": [{"name", "out", "state", "returncode"}]}."""
    try:
        d = json.loads(state_path(plan).read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def write_plan(plan: Path, runs: list[dict]) -> None:
    """Write a plan (and its initial state) for ``run_plan``."""
    if not 1 <= len(runs) <= MAX_RUNS:
        raise ValueError(f"a plan holds 1 to {MAX_RUNS} runs, not {len(runs)}")
    for r in runs:
        if not (isinstance(r.get("name"), str) and isinstance(r.get("out"), str)
                and isinstance(r.get("argv"), list) and all(isinstance(a, str) for a in r["argv"])):
            raise ValueError(f"bad plan entry {r!r}")
    write_json_atomic(Path(plan), {"runs": runs})
    write_json_atomic(state_path(plan), {"state": "queued", "index": 0, "updated": time.time(),
                                         "runs": [{"name": r["name"], "out": r["out"], "state": "queued",
                                                   "returncode": None} for r in runs]})


def run_plan(plan: Path) -> int:
    """Run every entry in order; returns 0 when all finished, 1 when one failed, 130 when stopped."""
    plan = Path(plan)
    runs = json.loads(plan.read_text())["runs"]
    state = {"state": "running", "index": 0, "updated": time.time(),
             "runs": [{"name": r["name"], "out": r["out"], "state": "queued", "returncode": None} for r in runs]}
    stop = {"flag": False, "child": None}

    def on_signal(signum, frame):
        stop["flag"] = True
        child = stop["child"]
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)  # the trainer finishes its step and keeps its last epoch

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def save() -> None:
        state["updated"] = time.time()
        write_json_atomic(state_path(plan), state)

    failed = False
    for i, r in enumerate(runs):
        state["index"] = i
        if stop["flag"]:
            state["runs"][i]["state"] = "cancelled"
            continue
        state["runs"][i]["state"] = "running"
        save()
        log = r.get("log") or str(Path(r["out"]).with_suffix(".log"))
        with open(log, "wb") as f:
            child = subprocess.Popen([sys.executable, "-m", "vae.train", *r["argv"], "--out", r["out"]],
                                     stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
            stop["child"] = child
            if stop["flag"]:  # a signal that came between the check above and the start
                child.send_signal(signal.SIGTERM)
            code = child.wait()
            stop["child"] = None
        state["runs"][i]["returncode"] = code
        state["runs"][i]["state"] = "stopped" if stop["flag"] else ("finished" if code == 0 else "failed")
        failed = failed or code != 0
        save()
    state["state"] = "stopped" if stop["flag"] else ("failed" if failed else "finished")
    save()
    return 130 if stop["flag"] else (1 if failed else 0)
