"""Every ``st.cache_resource`` / ``st.cache_data`` wrapper the pages share: models (shared,
read-only, keyed by path and weights' mtime), datasets, and a split's encodings.

A cached function that takes a model or tensors takes them as ``_``-prefixed arguments, left out
of the cache key, beside a hashable identity (``run_identity``) that is in it.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.text import escape_md, safe_md
from vae.checkpoint import Run, load_run
from vae.data import DataError, DataSplits, load_dataset
from vae.jobs import JobManager
from vae.trainer import encode_all
from vae.validate import max_items_limit

RunIdentity = tuple[str, float]  # (run folder, weights' mtime): a run's cache key


@st.cache_resource(show_spinner=False)
def job_manager(root: str) -> JobManager:
    """One manager per server and checkpoints folder: at most one training job at a time, whichever
    page started it (Train, or the gradient-estimator comparison)."""
    return JobManager(root)


@st.cache_resource(max_entries=16, show_spinner=False)
def load_run_at(path: str, mtime: float) -> Run:
    """Models are shared read-only across sessions, in eval mode; mtime keys out stale copies."""
    return load_run(path)


def run_identity(run: Run) -> RunIdentity:
    """A hashable identity for cache keys: the run path and its weights' mtime."""
    return str(run.path), (run.path / "model.safetensors").stat().st_mtime


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def load_splits(name: str, data_dir: str | None, image_size: int | None, channels: int | None,
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
        splits = load_splits(d.name, d.data_dir, d.image_size, d.channels, cap)
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
def encode_split(_run: Run, key: RunIdentity, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of a split: (N, D) each, float32."""
    splits = run_dataset(_run)
    post = getattr(_run.config.model, "posterior", "gaussian")
    if post != "gaussian":  # μ and log σ² describe Gaussian posteriors only: no Gaussian formula on another family
        st.warning(f"This view needs a Gaussian posterior; run **{escape_md(_run.name)}** has a {escape_md(post)} "
                   "posterior. Latent map, Traversals and Collapse have views for it.")
        st.stop()
    mu, logvar = encode_all(_run.model, getattr(splits, split).x).params()
    return mu.numpy(), logvar.numpy()
