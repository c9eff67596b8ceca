"""Issue 18: the job manager launches the trainer under torchrun when the server says so
(VAE_TRAIN_LAUNCHER), and accepts nothing but torchrun and its own options there."""
import json
import sys

import pytest

from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.jobs.training import LAUNCHER_ENV, JobError, JobManager, parse_launcher, prepare_run

LIMITS = {"max_epochs": 500, "max_items": 70_000, "max_upload_mb": 200}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def test_no_launcher_is_a_plain_python_trainer():
    assert parse_launcher(None) == [] and parse_launcher("   ") == []


@pytest.mark.parametrize("text,opts", [
    ("torchrun --nproc_per_node=4", ["--nproc_per_node=4"]),
    ("torchrun --standalone --nproc_per_node 2", ["--standalone", "--nproc_per_node", "2"]),
    ("/opt/venv/bin/torchrun --nnodes=2 --node-rank=0 --rdzv-endpoint 'head:29400' --rdzv-backend=c10d",
     ["--nnodes=2", "--node-rank=0", "--rdzv-endpoint", "head:29400", "--rdzv-backend=c10d"]),
])
def test_torchrun_and_its_options_run_with_the_servers_own_python(text, opts):
    assert parse_launcher(text) == [*TORCHRUN, *opts]


@pytest.mark.parametrize("text,why", [
    ("python -m vae.train", "must start with torchrun"),
    ("bash -c torchrun", "must start with torchrun"),
    ("torchrun -m other.module", "only torchrun's own long options"),
    ("torchrun --module other", "only torchrun's own long options"),
    ("torchrun --no-python bash", "only torchrun's own long options"),
    ("torchrun --standalone evil.py", "only torchrun's own long options"),
    ("torchrun --nproc_per_node=2 other.py", "only torchrun's own long options"),
    ("torchrun --nproc_per_node=2; rm -rf /", "only torchrun's own long options"),
    ("torchrun --nproc_per_node='2", "cannot be read"),
])
def test_anything_else_is_refused_with_the_reason(text, why):
    with pytest.raises(JobError, match=why):
        parse_launcher(text)


def _cfg(epochs=2):
    return prepare_run(RunConfig(model=ModelConfig(latent_dim=2, hidden=[16]), train=TrainConfig(epochs=epochs),
                                 data=DataConfig(max_items=300)), LIMITS)


def test_a_bad_launcher_starts_nothing_and_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(LAUNCHER_ENV, "sh -c 'echo hi'")
    m = JobManager(tmp_path)
    with pytest.raises(JobError, match=LAUNCHER_ENV):
        m.start_run("r", _cfg())
    assert m.current() is None and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_the_app_trains_with_torchrun_when_the_server_is_configured_for_it(tmp_path, monkeypatch):
    from vae.runs.folder import load_run
    monkeypatch.setenv(LAUNCHER_ENV, "torchrun --standalone --nproc_per_node=2")
    m = JobManager(tmp_path)
    m.start_run("dist", _cfg())
    job = m.wait(300)
    assert job.returncode == 0, job.log_tail()
    assert job.summary()["state"] == "finished"
    train = json.loads((tmp_path / "dist" / "config.json").read_text())["train"]
    assert (train["world_size"], train["backend"]) == (2, "gloo")
    assert len(load_run(tmp_path / "dist").history) == 2
    assert job.log_tail().count("finished: finished 2 epochs") == 1  # rank 0 alone reported
