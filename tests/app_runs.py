"""Run folders for the AppTest modules."""
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def private_checkpoints(tmp_path, monkeypatch, runs=("shapes-default", "digits-default")):
    """A checkpoints folder holding copies of committed runs (VAE_CHECKPOINTS points at it), on
    which the app opens digits-default, the tiny fast run the AppTests are written for."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    for run in runs:
        shutil.copytree(REPO / "checkpoints" / run, root / run)
    monkeypatch.setenv("VAE_CHECKPOINTS", str(root))
    monkeypatch.setenv("VAE_DEFAULT_RUN", "digits-default")
    return root
