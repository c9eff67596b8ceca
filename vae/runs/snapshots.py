"""Per-epoch snapshots of a run's weights (``python -m vae.train --snapshot-every N``), kept in
``<run>/snapshots/epoch-NNNN.safetensors``, so two epochs of one run can be compared (their
latent maps aligned). A snapshot is read like the run's own weights: capped, never unpickled,
and checked against the run's config."""
from __future__ import annotations

import re
from pathlib import Path

from vae.runs.folder import (MAX_WEIGHTS_BYTES, CheckpointError, Run, _read_capped, model_from_state,
    read_state_dict, save_weights)
from vae.model.networks import VAE

SNAPSHOTS = "snapshots"
MAX_LISTED = 1000  # snapshots listed per run at most
_NAME = re.compile(r"epoch-(\d{1,6})\.safetensors")


def snapshot_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / SNAPSHOTS / f"epoch-{int(epoch):04d}.safetensors"


def save_snapshot(run_dir: Path, model, epoch: int) -> Path:
    """The model's weights after ``epoch``, written atomically."""
    path = snapshot_path(run_dir, epoch)
    path.parent.mkdir(exist_ok=True)
    save_weights(path, model, epoch)
    return path


def list_snapshots(run_dir: Path) -> list[int]:
    """Epochs with a snapshot (regular files named epoch-N.safetensors), in order."""
    folder = Path(run_dir) / SNAPSHOTS
    if not folder.is_dir() or folder.is_symlink():
        return []
    out = []
    for p in folder.iterdir():
        m = _NAME.fullmatch(p.name)
        if m and p.is_file() and not p.is_symlink():
            out.append(int(m.group(1)))
            if len(out) >= MAX_LISTED:
                break
    return sorted(out)


def load_snapshot(run: Run, epoch: int) -> VAE:
    """The run's model with the weights of ``epoch``, in eval mode; CheckpointError when the
    snapshot is missing or does not match the run's config."""
    if int(epoch) not in list_snapshots(run.path):
        raise CheckpointError(f"run {run.name} has no snapshot of epoch {int(epoch)}")
    path = snapshot_path(run.path, epoch)
    raw = _read_capped(path, MAX_WEIGHTS_BYTES, "a snapshot")
    return model_from_state(run.config, read_state_dict(raw, path.name), f"snapshot of epoch {int(epoch)}")
