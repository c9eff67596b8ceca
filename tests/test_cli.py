"""The command lines as a user runs them: train, evaluate, bad input, signals."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "VAE_NO_DOWNLOAD": "1", "PYTHONUNBUFFERED": "1"}


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, env=ENV,
                          timeout=timeout)


@pytest.mark.slow
def test_train_then_evaluate(tmp_path):
    out = tmp_path / "run"
    r = cli("-m", "vae.train", "--dataset", "digits", "--epochs", "3", "--latent-dim", "4", "--out", str(out),
            "--json")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert sum(l.startswith("epoch") for l in lines) == 3
    summary = json.loads(lines[-1])
    assert summary["state"] == "finished" and summary["epochs"] == 3
    assert {"model.safetensors", "config.json", "history.jsonl"} <= {p.name for p in out.iterdir()}
    assert len((out / "history.jsonl").read_text().splitlines()) == 3
    r = cli("-m", "vae.evaluate", str(out), "--iwae", "50", "--json")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert ev["n"] == 360 and ev["iwae"] >= ev["elbo"] - 0.5  # IWAE-50 is at least the ELBO, up to noise
    assert abs(ev["elbo"] - summary["test_elbo"]) < 1e-6  # the same seeded evaluation as training's
    assert 0 <= ev["active_units"] <= 4 and len(ev["mi_per_dim"]) == 4
    # The run is never overwritten.
    r = cli("-m", "vae.train", "--dataset", "digits", "--epochs", "1", "--out", str(out))
    assert r.returncode == 2 and "already holds a run" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["--dataset", "nope"], "nope"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/dir"], "train-images-idx3-ubyte"),
    (["--latent-dim", "1000000"], "latent_dim"),
    (["--lr", "-1"], "lr"),
    (["--arch", "conv"], "conv"),  # digits are 8×8: the conv model needs 28, 32 or 64
])
def test_bad_input_exits_nonzero_with_message(tmp_path, args, msg):
    out = tmp_path / "run"
    r = cli("-m", "vae.train", *args, "--epochs", "1", "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert not (out / "model.safetensors").exists()


def test_evaluate_bad_run_dir(tmp_path):
    (tmp_path / "config.json").write_text("{broken")
    r = cli("-m", "vae.evaluate", str(tmp_path))
    assert r.returncode == 2 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_sigterm_stops_after_saving_last_completed_epoch(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "vae.train", "--dataset", "digits", "--epochs", "500",
                          "--batch-size", "8", "--out", str(out)], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "history.jsonl").exists():
        time.sleep(0.1)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "stopped"
    n = len((out / "history.jsonl").read_text().splitlines())
    assert 1 <= n < 500 and status["epoch"] == n
    from vae.runs.folder import load_run
    assert len(load_run(out).history) == n


@pytest.mark.slow
def test_divergence_keeps_last_good_epoch(tmp_path):
    out = tmp_path / "run"
    r = cli("-m", "vae.train", "--dataset", "digits", "--epochs", "30", "--lr", "10", "--out", str(out))
    if r.returncode == 0:
        pytest.fail("learning rate 10 did not diverge: " + r.stdout[-500:])
    assert r.returncode == 3, r.stderr
    assert "learning rate 10" in r.stderr and "Traceback" not in r.stderr
    if (out / "model.safetensors").exists():
        from vae.runs.folder import load_run
        run = load_run(out)
        assert json.loads((out / "status.json").read_text())["state"] == "diverged"
        assert all(abs(h["test_elbo"]) < float("inf") for h in run.history)
    else:
        assert not out.exists()  # no completed epoch: no run at all
