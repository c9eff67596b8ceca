"""Issue 18, several processes: ``torchrun --standalone --nproc_per_node=2 -m vae.train`` on the
CPU (gloo) trains one run with DistributedDataParallel; stop signals and a dying rank leave a whole run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vae.runs.folder import load_run, read_history, read_status

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]  # the venv's torchrun
ARGS = ["--dataset", "digits", "--epochs", "3"]

pytestmark = pytest.mark.slow


def _torchrun(out: Path, *extra: str, epochs: str = "3") -> subprocess.Popen:
    args = [*TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "vae.train", "--dataset", "digits",
            "--epochs", epochs, *extra, "--out", str(out)]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_epoch(out: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (out / "model.safetensors").exists() and read_history(out):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("no epoch was saved in time")


def _workers(parent: int) -> dict[int, int]:
    """{rank: pid} of the trainer processes torchrun started."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = (d / "status").read_text()
            ppid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("PPid:")))
            env = (d / "environ").read_bytes().split(b"\0")
        except (OSError, StopIteration, ValueError):
            continue
        if ppid == parent:
            rank = next((int(e[5:]) for e in env if e.startswith(b"RANK=")), None)
            if rank is not None:
                out[rank] = int(d.name)
    return out


def test_two_processes_train_one_run_like_one_process(tmp_path):
    out2, out1 = tmp_path / "two", tmp_path / "one"
    proc = _torchrun(out2)
    stdout, stderr = proc.communicate(timeout=400)
    assert proc.returncode == 0, stderr
    one = subprocess.run([sys.executable, "-m", "vae.train", *ARGS, "--out", str(out1)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr

    run = load_run(out2)  # whole, and loads
    hist = read_history(out2)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert read_status(out2)["state"] == "finished"
    cfg = json.loads((out2 / "config.json").read_text())["train"]
    assert (cfg["world_size"], cfg["backend"], cfg["device_kind"]) == (2, "gloo", "cpu")
    assert run.config.train.world_size == 2
    assert json.loads((out1 / "config.json").read_text())["train"]["world_size"] == 1
    # Same global batch (64) and seed: the same training, up to each rank's own sampling noise.
    assert abs(hist[-1]["test_elbo"] - read_history(out1)[-1]["test_elbo"]) < 0.5
    # Rank 0 alone printed: one header, one line per epoch, one final summary.
    lines = stdout.splitlines()
    assert sum(ln.startswith("finished: ") for ln in lines) == 1
    assert sum(ln.startswith("training ") for ln in lines) == 1
    assert "2 processes (gloo)" in next(ln for ln in lines if ln.startswith("training "))
    assert sum(ln.startswith("epoch ") for ln in lines) == 3


def test_sigterm_stops_every_rank_and_leaves_a_whole_run(tmp_path):
    out = tmp_path / "run"
    proc = _torchrun(out, epochs="2000")
    _wait_for_epoch(out, proc)
    proc.send_signal(signal.SIGTERM)  # as the app's Stop does: to torchrun, which tells its workers
    stdout, stderr = proc.communicate(timeout=120)
    status = read_status(out)
    assert status["state"] == "stopped", (status, stderr[-2000:])
    hist = read_history(out)
    assert 1 <= len(hist) < 2000 and status["epoch"] == len(hist)
    load_run(out)
    assert sum(ln.startswith("stopped: ") for ln in stdout.splitlines()) == 1
    assert "Traceback" not in "\n".join(ln for ln in stderr.splitlines() if "vae/" in ln)


def test_a_rank_that_dies_makes_the_others_exit_saying_so_and_the_last_epoch_stays(tmp_path):
    out = tmp_path / "run"
    proc = _torchrun(out, epochs="2000")
    _wait_for_epoch(out, proc)
    workers = _workers(proc.pid)
    assert sorted(workers) == [0, 1], workers
    os.kill(workers[1], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "error: lost contact with another process of this run" in stderr, stderr[-3000:]
    assert "the run keeps its last complete epoch" in stderr
    hist = read_history(out)
    assert len(hist) >= 1
    load_run(out)
    status = read_status(out)
    assert status["state"] == "interrupted" and status["epoch"] == len(hist)
