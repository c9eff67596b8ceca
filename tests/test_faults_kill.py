"""Faults during training: the trainer SIGKILLed at random moments and at every write of a save,
the disk filling up on save, and the training subprocess dying under the Train page.

Each kill must leave either the run's last saved state readable (load_run works, its history is
a prefix of an unkilled run's, and its weights are the epoch the history says) or no run at all;
never a run that list_runs shows but load_run rejects. The diverging run (learning rate 10) is
tests/test_cli.py::test_divergence_keeps_last_good_epoch, counted in the same ledger.

The trainer is the real ``vae.train.main``, in processes forked from one driver process that has
imported torch once, so 20+ kills cost seconds rather than 20+ interpreter start-ups.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytest_plugins = ["faults_plugin"]
pytest.register_assert_rewrite("faults_plugin")
from faults_plugin import check_runs_kept, runs_state  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "VAE_NO_DOWNLOAD": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
TRAIN = ["--dataset", "digits", "--max-items", "200", "--hidden", "32", "--latent-dim", "3", "--batch-size", "50",
         "--seed", "3"]

# The driver: imports the trainer once, then forks one trainer per case and kills it.
DRIVER = r'''
import errno, json, os, random, signal, sys, time
import torch
torch.set_num_threads(1)
import vae.files
import vae.runs.folder
import vae.train
import vae.training.loop
import vae.model.networks
import vae.config
import vae.model.objectives
from vae.data import load_dataset
load_dataset("digits", max_items=200)  # warm every import so children start fast
vae.train.build_parser()
torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo (seconds)
plan = json.loads(sys.argv[1])

def child(argv, log, fsync_action=None, at=0):
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1); os.dup2(fd, 2)
    if fsync_action:
        real, n = os.fsync, [0]
        def fsync(f):
            n[0] += 1
            if n[0] >= at:
                if fsync_action == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)  # the temp file is written, not yet renamed
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(f)
        vae.files.os.fsync = fsync  # only the run-folder writer's view of os
    code = vae.train.main(argv)
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(code)

for case in plan:
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        child(case["argv"], case["log"], case.get("fsync"), case.get("at", 0))
    # Follow the child; note when its first epoch is saved; kill it on schedule.
    hist = os.path.join(case["out"], "history.jsonl")
    first, kill_at, status = None, None, None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        now = time.perf_counter() - t0
        if first is None and os.path.exists(hist):
            first = now
        if case.get("kill_after") is not None and kill_at is None:
            base = 0.0 if case.get("from") == "start" else first
            if base is not None:
                kill_at = base + case["kill_after"]
        if kill_at is not None and now >= kill_at:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.002)
    print(json.dumps({"out": case["out"], "status": os.waitstatus_to_exitcode(status), "first_save": first,
                      "seconds": time.perf_counter() - t0}), flush=True)
'''


def drive(plan: list[dict], timeout: float = 240) -> list[dict]:
    r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(plan)], cwd=REPO, env=ENV, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def _case(root: Path, name: str, epochs: int, **kw) -> dict:
    out = root / name
    return {"argv": [*TRAIN, "--epochs", str(epochs), "--out", str(out)], "out": str(out),
            "log": str(root.parent / f"{name}.log"), **kw}


def _test_x() -> torch.Tensor:
    from vae.data import load_dataset
    return load_dataset("digits", max_items=200).test.x


def check_state(fault, root: Path, out: Path, reference: list[dict], x_test: torch.Tensor) -> str:
    """'none' (no run listed) or 'epoch k' (a consistent saved state); data loss fails the case."""
    from safetensors import safe_open

    from vae.runs.folder import CheckpointError, load_run
    from vae.runs.catalog import list_runs
    from vae.model.evaluation import evaluate_split
    listed = out.name in {r.name for r in list_runs(root)}
    if not listed:
        return "none"
    try:
        run = load_run(out)
    except CheckpointError as e:
        fault.data_lost(f"{out.name} is listed but does not load: {e}")
    hist = run.history
    if any(abs(h["test_elbo"] - r["test_elbo"]) > 1e-6 for h, r in zip(hist, reference)):
        fault.data_lost(f"{out.name}: history {[h['test_elbo'] for h in hist]} is not a prefix of the reference")
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        w_epoch = int(f.metadata()["epoch"])
    # save_run writes weights, then history: a kill in between leaves the weights one epoch ahead.
    if w_epoch not in (len(hist), len(hist) + 1):
        fault.data_lost(f"{out.name}: weights of epoch {w_epoch} with {len(hist)} history records")
    elbo = evaluate_split(run.model, x_test)["elbo"]
    if abs(elbo - reference[w_epoch - 1]["test_elbo"]) > 1e-4:
        fault.data_lost(f"{out.name}: weights do not reproduce epoch {w_epoch}'s test ELBO")
    return f"epoch {w_epoch}"


@pytest.mark.slow
def test_sigkill_at_random_moments_and_mid_save_never_leaves_a_broken_run(tmp_path, fault):
    import random
    root = tmp_path / "checkpoints"
    root.mkdir()
    rng = random.Random(8)
    ref = drive([_case(root, "reference", 8)])[0]
    assert ref["status"] == 0, (tmp_path / "reference.log").read_text()
    from vae.runs.folder import read_history
    reference = read_history(root / "reference")
    assert len(reference) == 8
    span = ref["seconds"] - ref["first_save"]  # from the first saved epoch to the end
    # 15 kills at random moments: 3 counted from the start (before anything is saved, usually),
    # 12 from the first saved epoch on, while epochs are trained and saved; plus one at each of
    # the first 10 atomic-write fsyncs (status, config, weights, history, status, weights, …):
    # mid-save, with the temp file written and not yet renamed.
    plan = [_case(root, f"start{i}", 8, kill_after=round(rng.uniform(0.0, ref["first_save"]), 3), **{"from": "start"})
            for i in range(3)]
    plan += [_case(root, f"rand{i:02d}", 8, kill_after=round(rng.uniform(0.0, span), 3)) for i in range(12)]
    plan += [_case(root, f"fsync{k:02d}", 8, fsync="kill", at=k) for k in range(1, 11)]
    results = drive(plan)
    assert len(results) == len(plan)
    x_test = _test_x()
    before = runs_state(root)
    seen = []
    for case, res in zip(plan, results):
        label = f"SIGKILL after {case['kill_after']} s" if "kill_after" in case else f"SIGKILL at fsync #{case['at']}"
        with fault.case(label):
            out = Path(case["out"])
            assert res["status"] in (0, -signal.SIGKILL), res  # 0: finished before the kill landed
            seen.append(check_state(fault, root, out, reference, x_test))
            assert res["status"] != 0 or seen[-1] == "epoch 8"
    check_runs_kept(fault, root, before)
    # The fsync kills land in each stage: before any run exists, and between saved epochs.
    assert seen[15:18] == ["none"] * 3 and "epoch 1" in seen[15:] and "epoch 2" in seen[15:], seen
    print(f"reference: {ref['seconds']:.2f} s, first save at {ref['first_save']:.2f} s; states after kills:", seen)


@pytest.mark.slow
def test_disk_full_on_save_is_reported_and_keeps_the_last_epoch(tmp_path, fault):
    """ENOSPC from the 9th atomic write on (epoch 3's weights): exit 4, message, epochs 1–2 intact."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    res = drive([_case(root, "full", 10, fsync="enospc", at=9)])[0]
    log = (tmp_path / "full.log").read_text()
    assert res["status"] == 4, log
    assert "error: could not save the run" in log and "No space left on device" in log, log
    assert "Traceback" not in log
    from vae.runs.catalog import list_runs
    from vae.runs.folder import load_run
    run = load_run(root / "full")
    assert [r.name for r in list_runs(root)] == ["full"] and len(run.history) == 2
    assert not [p for p in (root / "full").iterdir() if ".tmp-" in p.name]  # temp files cleaned up


@pytest.mark.slow
def test_file_size_limit_on_save_is_reported_and_keeps_the_last_epoch(tmp_path, fault):
    """A real kernel limit (RLIMIT_FSIZE, SIGXFSZ ignored): history.jsonl outgrows it after a few
    epochs while weights still fit. A real `python -m vae.train` process."""

    from safetensors.torch import save

    from vae.config import ModelConfig
    from vae.model.networks import build_model
    small = ["--hidden", "4", "--latent-dim", "2"]  # weights of ~3 KB, so the history outgrows them soon
    model = build_model(ModelConfig(image_size=8, latent_dim=2, hidden=[4]))
    w_size = len(save({k: v.contiguous() for k, v in model.state_dict().items()},
                      metadata={"format": "pt", "epoch": "100"}))
    limit = w_size + 500  # a history line is a few hundred bytes; config.json is smaller than the weights

    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "checkpoints" / "capped"
    r = subprocess.run([sys.executable, "-m", "vae.train", *TRAIN, *small, "--epochs", "60", "--out", str(out)],
                       cwd=REPO, env=ENV, capture_output=True, text=True, timeout=180, preexec_fn=preexec)
    assert r.returncode == 4, r.stdout[-2000:] + r.stderr[-2000:]
    assert "could not save the run" in r.stderr and "Traceback" not in r.stderr, r.stderr
    from vae.runs.folder import load_run
    run = load_run(out)
    assert 1 <= len(run.history) < 60
    assert sum(line.startswith("epoch") for line in r.stdout.splitlines()) == len(run.history)


@pytest.mark.slow
def test_trainer_killed_from_outside_does_not_break_the_train_page(tmp_path, monkeypatch, fault):
    import shutil

    from streamlit.testing.v1 import AppTest

    from vae.jobs.training import JobManager
    root = tmp_path / "checkpoints"
    root.mkdir()
    shutil.copytree(REPO / "checkpoints" / "digits-default", root / "digits-default")
    monkeypatch.setenv("VAE_CHECKPOINTS", str(root))
    monkeypatch.setenv("VAE_MAX_ITEMS", "300")  # short epochs: the kill lands a few epochs in
    keep = runs_state(root)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    at.switch_page("pages/train.py").run()

    def start(epochs: int, name: str, batch: int = 64):
        form = {w.label: w for w in at.number_input}
        form["Epochs"].set_value(epochs)
        form["Batch size"].set_value(batch)
        {w.label: w for w in at.text_input}["Run name"].set_value(name)
        [b for b in at.button if b.label == "Start training"][0].click().run()
        assert not at.exception, [e.value for e in at.exception]

    start(400, "doomed", batch=16)
    manager = JobManager(root)
    job = manager.active()
    assert job is not None and job.name == "doomed"
    deadline = time.time() + 120
    while time.time() < deadline and len(job.history()) < 2:
        time.sleep(0.2)
    assert len(job.history()) >= 2, job.log_tail()
    os.killpg(job.pid, signal.SIGKILL)  # from outside: no chance to save or say anything
    deadline = time.time() + 30
    at.run()
    while time.time() < deadline and not at.error:
        time.sleep(0.3)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("doomed" in e and "died unexpectedly" in e for e in errors), errors
    start_button = [b for b in at.button if b.label == "Start training"][0]
    assert not start_button.disabled
    # The killed run keeps its last saved epoch and is listed and loadable.
    check_runs_kept(fault, root, keep)
    from vae.runs.folder import load_run
    assert len(load_run(root / "doomed").history) >= 2
    # A new run can be started and finishes.
    start(1, "after")
    job = JobManager(root).wait(120)
    assert job.name == "after" and job.summary()["state"] == "finished", job.log_tail()
    at.run()
    assert any("after" in s.value and "finished" in s.value for s in at.success)
