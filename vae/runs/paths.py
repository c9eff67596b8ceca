"""Where runs and their uploaded data live: a leaf module (the validator and the run
folders both need it, and neither may import the other's way round)."""
from __future__ import annotations

import os
from pathlib import Path

UPLOADS = ".uploads"  # <checkpoints>/.uploads: image zips that runs trained from the Train page read
UPLOAD_INFIX = ".upload-"  # <checkpoints>/.uploads/<run>.upload-XXXX/<file>.zip belongs to run <run>


def default_runs_root() -> Path:
    """``$VAE_CHECKPOINTS``, else ``checkpoints/`` beside the ``vae`` package."""
    env = os.environ.get("VAE_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "checkpoints"
