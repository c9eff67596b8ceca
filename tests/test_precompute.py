"""A run's precompute (vae.cache.precompute): computed once and reused, keyed by the weights, written whole
or not at all; and the pages read it: one stored evaluation shown on Home and Collapse alike."""
from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vae.cache import precompute
from vae.runs.catalog import PROTECTED
from vae.runs.folder import load_run, save_weights, weights_digest
from vae.data import load_dataset

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")


@pytest.fixture
def run_dir(tmp_path):
    """A private copy of digits-default without its stored precompute."""
    d = tmp_path / "checkpoints" / "digits-run"
    shutil.copytree(REPO / "checkpoints" / "digits-default", d)
    shutil.rmtree(d / "cache", ignore_errors=True)
    return d


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = precompute.compute

    def compute(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(precompute, "compute", compute)
    return calls


def _splits(run):
    d = run.config.data
    return load_dataset(d.name, d.data_dir, image_size=d.image_size, channels=d.channels, max_items=d.max_items,
                        download=False)


def _files(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "cache").iterdir()) if (run_dir / "cache").is_dir() else []


def test_the_precompute_is_computed_once_then_reused(run_dir, counted, one_thread):
    run = load_run(run_dir)
    splits = _splits(run)
    first = precompute.ensure(run_dir, run.model, splits)
    again = precompute.ensure(run_dir, run.model, splits)
    assert len(counted) == 1  # the second call read the file
    assert _files(run_dir) == [f"precompute-{weights_digest(run_dir)}-v{precompute.VERSION}.npz"]
    assert again.evaluation == first.evaluation and again.mixture.mi_total == first.mixture.mi_total
    mu, logvar = again.encodings["test"]
    assert mu.shape == logvar.shape == (len(splits.test), run.model.latent_dim)
    assert torch.allclose(torch.from_numpy(mu.copy()), run.model.encode(splits.test.x).mu, atol=1e-5)


def test_new_weights_invalidate_the_precompute(run_dir, counted, one_thread):
    run = load_run(run_dir)
    splits = _splits(run)
    old = precompute.ensure(run_dir, run.model, splits)
    old_file = _files(run_dir)
    with torch.no_grad():
        for p in run.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_weights(run_dir / "model.safetensors", run.model)
    assert precompute.load(run_dir) is None  # another model's numbers are never read
    new = precompute.ensure(run_dir, run.model, splits)
    assert len(counted) == 2 and new.digest != old.digest
    assert new.evaluation.elbo != old.evaluation.elbo
    assert _files(run_dir) != old_file and len(_files(run_dir)) == 1  # the stale file is gone


def test_a_cancelled_precompute_writes_nothing(run_dir, one_thread):
    run = load_run(run_dir)
    asked = []

    def stop() -> bool:  # let the encodings run, then stop in the middle of the MI replicates
        asked.append(1)
        return len(asked) > 5
    with pytest.raises(precompute.Cancelled):
        precompute.ensure(run_dir, run.model, _splits(run), should_stop=stop)
    assert len(asked) > 5 and _files(run_dir) == []


KILLED_CHILD = """
import sys, time
import vae.cache.precompute as p
import vae.precompute as command
real = p.mixture_estimates
def slow(*a, **k):
    print("computing", flush=True)
    time.sleep(60)
    return real(*a, **k)
p.mixture_estimates = slow
sys.exit(command.main([sys.argv[1]]))
"""


def test_a_killed_precompute_leaves_no_file_that_looks_whole(run_dir):
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(run_dir)], cwd=REPO, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "computing"  # in the middle of the work
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert precompute.load(run_dir) is None
    assert not [f for f in _files(run_dir) if f.startswith(precompute.PREFIX)]


def test_a_truncated_file_is_ignored_and_rebuilt(run_dir, counted, one_thread):
    run = load_run(run_dir)
    splits = _splits(run)
    path = precompute.save(run_dir, precompute.compute(run.model, splits, digest=weights_digest(run_dir)))
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    assert precompute.load(run_dir) is None
    precompute.ensure(run_dir, run.model, splits)
    assert len(counted) == 2 and precompute.load(run_dir) is not None


def test_the_stored_evaluation_is_the_trainers_and_collapses(one_thread):
    """The same function and seed as the trainer's epoch records and Collapse's ELBO."""
    from vae.analysis.collapse import elbo_stats
    run = load_run(REPO / "checkpoints" / "digits-default")
    ev = precompute.evaluate(run.model, _splits(run).test.x)
    assert ev.elbo == pytest.approx(run.history[-1]["test_elbo"], abs=1e-3)
    assert ev.active_units == run.history[-1]["active_units"]
    assert ev.stats() == pytest.approx(elbo_stats(run.model, _splits(run).test.x))


@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_each_committed_run_ships_a_current_precompute(name):
    """Read only: the committed file belongs to the committed weights (rebuild it with
    `python -m vae.precompute checkpoints/<run>` after retraining one)."""
    run_dir = REPO / "checkpoints" / name
    pre = precompute.load(run_dir)
    assert pre is not None, f"{name}: no precompute for its weights; run python -m vae.precompute {run_dir}"
    assert pre.digest == weights_digest(run_dir)
    last = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()][-1]
    assert pre.evaluation.elbo == pytest.approx(last["test_elbo"], abs=1e-3)


# ---------------------------------------------------------------- the pages read it

@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    from app_runs import private_checkpoints
    return private_checkpoints(tmp_path, monkeypatch, runs=("digits-default",))


@pytest.mark.slow
def test_home_and_collapse_show_the_one_stored_evaluation_and_encode_nothing(ckpt, monkeypatch, one_thread):
    """A stored evaluation with a distinctive ELBO: both pages show exactly it, and no page encodes
    the data or recomputes the precompute."""
    from streamlit.testing.v1 import AppTest
    import ui.cache
    run_dir = ckpt / "digits-default"
    pre = precompute.load(run_dir)
    marked = dataclasses.replace(pre, evaluation=dataclasses.replace(pre.evaluation, elbo=-12.34, elbo_se=0.5))
    precompute.save(run_dir, marked)
    encoded, computed = [], []
    monkeypatch.setattr(ui.cache, "encode_all", lambda *a, **k: encoded.append(1))
    monkeypatch.setattr(precompute, "compute", lambda *a, **k: computed.append(1))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Test ELBO (nats)"] == "-12.34"
    at.switch_page("pages/collapse.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["ELBO (nats)"] == "-12.34"
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert encoded == [] and computed == []


@pytest.mark.slow
def test_a_run_without_a_precompute_gets_one_when_first_opened(ckpt, monkeypatch, one_thread):
    """A user's run (not a committed one): opened once, its precompute is computed (small: at once)
    and kept in its folder; a second visitor reads it."""
    from streamlit.testing.v1 import AppTest
    user = ckpt / "my-run"
    shutil.copytree(ckpt / "digits-default", user)
    shutil.rmtree(user / "cache")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["run_name"] = "my-run"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    deadline = time.time() + 60
    while precompute.load(user) is None and time.time() < deadline:
        time.sleep(0.2)
    pre = precompute.load(user)
    assert pre is not None
    assert {m.label: m.value for m in at.metric}["Test ELBO (nats)"] == f"{pre.evaluation.elbo:.2f}"


def test_no_background_precompute_past_the_servers_budget(monkeypatch):
    run = load_run(REPO / "checkpoints" / "digits-default")
    assert precompute.within_budget(run.model, 360, 1437)
    monkeypatch.setenv("VAE_MAX_COLLAPSE_WORK", "1000")
    assert not precompute.within_budget(run.model, 360, 1437)


def test_a_large_runs_precompute_runs_in_the_background_and_can_be_stopped(run_dir, monkeypatch, one_thread):
    """Not small: the page is not held up (None at once), the job runs on the server's queue; stopped,
    it writes nothing and the next visit starts it again; finished, it is kept in the run folder."""
    import ui.cache
    monkeypatch.setattr(precompute, "is_small", lambda *a: False)
    real = precompute.mixture_estimates

    def slow(mu, logvar, n, seed=0, progress=None):
        for _ in range(600):  # up to a minute, asking to stop every 0.1 s
            progress(0.0)
            time.sleep(0.1)
        return real(mu, logvar, n, seed=seed)
    monkeypatch.setattr(precompute, "mixture_estimates", slow)
    run = load_run(run_dir)
    assert ui.cache.run_precompute(run) is None
    task = ui.cache.precompute_task(run)
    assert task is not None and not task.done
    task.stop()
    assert task.wait(60) and task.state == "stopped"
    assert _files(run_dir) == []
    monkeypatch.setattr(precompute, "mixture_estimates", real)
    assert ui.cache.run_precompute(run) is None  # started again
    again = ui.cache.precompute_task(run)
    assert again is not task and again.wait(120) and again.state == "done", again.error
    assert precompute.load(run_dir) is not None and ui.cache.stored_precompute(run) is not None
