"""Shared UI plumbing for every page: the current run, its dataset, cached
encodings, and image display. Pages import from here; ``vae/`` never does."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from ui.text import escape_md, safe_md
from vae.checkpoint import CheckpointError, Run, RunInfo, default_runs_root, list_runs, load_run
from vae.data import DataError, DataSplits, load_dataset
from vae.render import make_grid, to_pil
from vae.trainer import encode_all
from vae.validate import max_items_limit

# Session-state keys shared across pages (per-user choices only, never models).
RUN_KEY = "run_name"  # folder name of the selected run
START_KEY = "traversal_start"  # {"index": int, "split": "test"}: a data point sent to Traversals
DIM_KEY = "traversal_dim"  # int: a latent dimension sent to Traversals
DISPLAY_PX = 112  # images are enlarged (nearest neighbour) to at least this many pixels
def frame_guard() -> None:
    """Make sure this page runs inside app.py's frame (navigation + shared sidebar).

    Streamlit treats a ``pages/`` folder beside the entry script as a legacy
    multipage app until ``st.navigation`` has been called once in the process,
    so a first visit straight to e.g. /train would run the page file alone.
    Leaving that mode (what ``st.navigation`` itself does) and rerunning goes
    through app.py, which routes to the same page.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        legacy = bool(PagesManager.uses_pages_directory)
    except (ImportError, AttributeError):  # a Streamlit without the legacy mode
        legacy = False
    if legacy:
        PagesManager.uses_pages_directory = False
        st.rerun()


def runs_root() -> Path:
    return default_runs_root()


def limits() -> dict:
    """Operator limits for a shared server, from environment variables."""
    def _int(name: str, default: int) -> int:
        try:
            return max(1, int(os.environ.get(name, default)))
        except ValueError:
            return default
    # Streamlit refuses files over server.maxUploadSize (.streamlit/config.toml) itself: the app's
    # limit never exceeds it, so the message the app gives and the limit applied agree.
    server_mb = max(1, int(st.get_option("server.maxUploadSize")))
    return {"max_epochs": _int("VAE_MAX_EPOCHS", 500), "max_items": max_items_limit(),
            "max_upload_mb": min(_int("VAE_MAX_UPLOAD_MB", server_mb), server_mb)}


@st.cache_resource(max_entries=16, show_spinner=False)
def _load_run(path: str, mtime: float) -> Run:
    """Models are shared read-only across sessions, in eval mode; mtime keys out stale copies."""
    return load_run(path)


def run_key(run: Run) -> tuple[str, float]:
    """A hashable identity for cache keys: the run path and its weights' mtime."""
    return str(run.path), (run.path / "model.safetensors").stat().st_mtime


def available_runs() -> list[RunInfo]:
    return list_runs(runs_root())


def current_run() -> Run | None:
    """The run selected in the sidebar, loaded (cached), or None with a message shown."""
    frame_guard()
    name = st.session_state.get(RUN_KEY)
    if not name:
        return None
    path = runs_root() / name
    try:
        return _load_run(str(path), (path / "model.safetensors").stat().st_mtime)
    except (CheckpointError, OSError, ValueError, RuntimeError) as e:
        reason = safe_md(e) if isinstance(e, CheckpointError) else "its files cannot be read"
        st.error(f"Run **{escape_md(name)}** cannot be loaded: {reason}")
        return None


def require_run() -> Run:
    """The current run, or stop the page with a hint to train or upload one."""
    run = current_run()
    if run is None:
        st.info("No run is selected. Pick one in the sidebar, train one on the **Train** page, or upload one.")
        st.stop()
    return run


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def _load_splits(name: str, data_dir: str | None, image_size: int | None, channels: int | None,
                 max_items: int | None) -> DataSplits:
    return load_dataset(name, data_dir, image_size=image_size, channels=channels, max_items=max_items,
                        download=False)


def run_dataset(run: Run, stop_on_error: bool = True) -> DataSplits | None:
    """The dataset the run was trained on (cached, read-only), checked against the model's input."""
    d = run.config.data
    try:
        # The run's config passed vae.validate when it was loaded; the item cap keeps a
        # dataset without one (a whole folder) within this server's limit per request.
        cap = min(d.max_items, max_items_limit()) if d.max_items is not None else max_items_limit()
        splits = _load_splits(d.name, d.data_dir, d.image_size, d.channels, cap)
    except DataError as e:
        st.error(f"The dataset of run **{escape_md(run.name)}** ({escape_md(d.name)}) cannot be loaded: "
                 f"{safe_md(e)}")
        return st.stop() if stop_on_error else None
    if splits.test.image_shape != run.model.image_shape:
        st.error(f"The dataset's images are {splits.test.image_shape} but run **{escape_md(run.name)}** expects "
                 f"{run.model.image_shape}.")
        return st.stop() if stop_on_error else None
    return splits


@st.cache_data(max_entries=8, show_spinner="Encoding the dataset…")
def encoded(_run: Run, key: tuple[str, float], split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of a split: (N, D) each, float32."""
    splits = run_dataset(_run)
    mu, logvar = encode_all(_run.model, getattr(splits, split).x).params()
    return mu.numpy(), logvar.numpy()


def show_image(x: torch.Tensor, caption: str | None = None, min_size: int = DISPLAY_PX, **kw) -> None:
    """x: (C, H, W) in [0, 1]; enlarged crisply."""
    kw.setdefault("output_format", "PNG")  # Streamlit's default JPEG would blur the enlarged pixels
    st.image(to_pil(x, min_size), caption=caption, **kw)


def show_grid(x: torch.Tensor, nrow: int, caption: str | None = None, min_cell: int = 56, **kw) -> None:
    """x: (N, C, H, W) in [0, 1] as one image, each cell enlarged to ≥ min_cell pixels."""
    factor = max(1, -(-min_cell // x.shape[-1]))
    big = torch.nn.functional.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x
    kw.setdefault("output_format", "PNG")
    st.image(to_pil(make_grid(big, nrow, pad=2)), caption=caption, **kw)
