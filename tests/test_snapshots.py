"""--snapshot-every N keeps every N-th epoch's weights, read back checked against the run's config."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.app_runs import REPO
from vae.runs.folder import CheckpointError, load_run
from vae.runs.snapshots import list_snapshots, load_snapshot, snapshot_path


@pytest.mark.slow
def test_the_trainer_keeps_every_nth_epoch_and_they_load(tmp_path):
    out = tmp_path / "snap"
    r = subprocess.run([sys.executable, "-m", "vae.train", "--dataset=digits", "--epochs=4", "--snapshot-every=2",
                        "--latent-dim=2", "--hidden", "32", "--batch-size=256", "--device=cpu", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert list_snapshots(out) == [2, 4]
    run = load_run(out)
    assert run.config.train.snapshot_every == 2
    last = load_snapshot(run, 4)
    for a, b in zip(last.state_dict().values(), run.model.state_dict().values()):
        assert torch.equal(a, b)  # the last snapshot is the run's final weights
    early = load_snapshot(run, 2)
    assert any(not torch.equal(a, b) for a, b in zip(early.state_dict().values(), last.state_dict().values()))
    with pytest.raises(CheckpointError, match="no snapshot of epoch 3"):
        load_snapshot(run, 3)
    # a snapshot that does not match the run's model is refused, not loaded
    snapshot_path(out, 2).write_bytes((REPO / "checkpoints" / "mnist-2d" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="snapshot of epoch 2"):
        load_snapshot(run, 2)


def test_odd_files_in_the_snapshot_folder_are_not_listed(tmp_path):
    (tmp_path / "snapshots").mkdir()
    for name in ("epoch-0003.safetensors", "epoch-x.safetensors", "notes.txt", "epoch-1234567.safetensors"):
        (tmp_path / "snapshots" / name).write_bytes(b"")
    (tmp_path / "snapshots" / "epoch-0005.safetensors").mkdir()
    assert list_snapshots(tmp_path) == [3]
