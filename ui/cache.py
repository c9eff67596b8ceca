"""Every ``st.cache_resource`` / ``st.cache_data`` wrapper the pages share: models (shared,
read-only, keyed by path and weights' mtime), datasets, a run's precompute (``vae.cache.precompute``:
encodings, the one stored evaluation, Collapse's defaults; read from the run folder, or computed
once) and a split's encodings.

A cached function that takes a model or tensors takes them as ``_``-prefixed arguments, left out
of the cache key, beside a hashable identity (``run_identity``) that is in it.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.text import escape_md, safe_md
from vae.cache import precompute
from vae.runs.datasets import item_cap
from vae.runs.folder import Run, load_run, weights_digest
from vae.data import DataError, DataSplits, load_dataset
from vae.jobs.training import JobManager
from vae.model.evaluation import encode_all
from ui.tasks import submit
from vae.jobs.background import shared_queue

SMALL_WAIT_S = 15.0  # how long a page waits for a small run's precompute before going on without it
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
        # The run's config passed vae.runs.validate when it was loaded; the one item-cap rule
        # (vae.runs.datasets.item_cap) keeps a dataset without one (a whole folder) within this
        # server's limit per request, and generates the shapes the trainer used: the precompute's,
        # the CLI's and the analyses' splits are these.
        splits = load_splits(d.name, d.data_dir, d.image_size, d.channels, item_cap(d))
    except DataError as e:
        st.error(f"The dataset of run **{escape_md(run.name)}** ({escape_md(d.name)}) cannot be loaded: "
                 f"{safe_md(e)}")
        return st.stop() if stop_on_error else None
    if splits.test.image_shape != run.model.image_shape:
        st.error(f"The dataset's images are {splits.test.image_shape} but run **{escape_md(run.name)}** expects "
                 f"{run.model.image_shape}.")
        return st.stop() if stop_on_error else None
    return splits


@st.cache_resource(max_entries=16, show_spinner=False)
def _read_precompute(run_dir: str, digest: str, mtime_ns: int) -> precompute.Precompute | None:
    """A stored precompute, read once per server (shared read-only); keyed by the weights' digest and
    the file's mtime, so a rebuilt file is read again."""
    return precompute.load(run_dir)


def precompute_key(run: Run) -> tuple:
    """The background queue's key for a run's precompute (one task per run and weights)."""
    return ("precompute", str(run.path), weights_digest(run.path))


def stored_precompute(run: Run) -> precompute.Precompute | None:
    """The run's precompute if it is stored (or finished in memory), without starting anything."""
    try:
        digest = weights_digest(run.path)
        path = precompute.precompute_path(run.path, digest)
        pre = _read_precompute(str(run.path), digest, path.stat().st_mtime_ns) if path.is_file() else None
    except OSError:
        pre = None
    if pre is not None and pre.digest == digest and _same_splits(run, pre):
        return pre
    task = shared_queue().get(precompute_key(run))  # done, but its folder could not be written
    return task.result if task is not None and task.state == "done" else None


def _same_splits(run: Run, pre: precompute.Precompute) -> bool:
    """The stored encodings cover the splits this server loads (a changed $VAE_MAX_ITEMS can differ)."""
    splits = run_dataset(run, stop_on_error=False)
    return splits is not None and precompute.covers(pre, splits)


def run_precompute(run: Run) -> precompute.Precompute | None:
    """The run's precompute: read from its folder, or computed by a background job on the server's
    queue (one per run, shared by every session), started here. A small run's is waited for (about
    a second); otherwise None until it is done (``precompute_task`` gives its progress)."""
    pre = stored_precompute(run)
    if pre is not None:
        return pre
    splits = run_dataset(run, stop_on_error=False)
    if splits is None:
        return None
    task = precompute_task(run, splits)
    if task is not None and precompute.is_small(run.model, len(splits.test), len(splits.train)):
        with st.spinner("Encoding and evaluating this run (once: kept in its folder)…"):
            task.wait(SMALL_WAIT_S)  # about a second; longer only behind other queued work
    return task.result if task is not None and task.state == "done" else None


def _keep(run: Run, pre: precompute.Precompute) -> None:
    """Store a finished precompute in the run's folder (``vae.cache.precompute.keep``: never in a run
    that ships with the project, never for weights that changed meanwhile)."""
    precompute.keep(run.path, pre)


def precompute_task(run: Run, splits: DataSplits | None = None):
    """The background task computing the run's precompute (submitted if none is queued or running);
    None when the queue is full or the run is past the server's budget (the pages then compute what
    they need themselves, or refuse it with the limit named)."""
    key = precompute_key(run)
    q = shared_queue()
    task = q.get(key)
    if task is not None and task.state != "stopped":
        return task  # a failed one too: not retried on every rerun (the pages compute what they need)
    splits = splits if splits is not None else run_dataset(run, stop_on_error=False)
    if splits is None or not precompute.within_budget(run.model, len(splits.test), len(splits.train)):
        return None
    model, digest = run.model, key[2]

    def work(progress, should_stop):
        try:
            pre = precompute.compute(model, splits, progress, should_stop, digest=digest)
        except precompute.Cancelled:
            return None  # the task reads as stopped (a later visit starts it again); nothing was written
        _keep(run, pre)
        return pre
    return submit(key, work, quiet=True)


def run_evaluation(run: Run) -> precompute.Evaluation:
    """The one evaluation of a run: the stored one, or (while its precompute runs) the same function
    on the same split with the same seed, so every page shows the same numbers."""
    pre = stored_precompute(run)
    return pre.evaluation if pre is not None else _evaluate_now(run, run_identity(run))


@st.cache_data(max_entries=8, show_spinner="Evaluating the test split…")
def _evaluate_now(_run: Run, key: RunIdentity) -> precompute.Evaluation:
    mu, _ = encode_split(_run, key, "test")
    return precompute.evaluate(_run.model, run_dataset(_run).test.x, mu)


def encode_split(run: Run, key: RunIdentity, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of a split: (N, D) each, float32; from the run's precompute
    when stored (arrays shared by every session: never mutate them), else encoded now (cached)."""
    pre = stored_precompute(run)
    if pre is not None and len(pre.encodings.get(split, ())) >= 2:
        return pre.encodings[split][0], pre.encodings[split][1]
    return _encode_split_now(run, key, split)


@st.cache_data(max_entries=8, show_spinner="Encoding the dataset…")
def _encode_split_now(_run: Run, key: RunIdentity, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    splits = run_dataset(_run)
    post = getattr(_run.config.model, "posterior", "gaussian")
    if post != "gaussian":  # μ and log σ² describe Gaussian posteriors only: no Gaussian formula on another family
        st.warning(f"This view needs a Gaussian posterior; run **{escape_md(_run.name)}** has a {escape_md(post)} "
                   "posterior. Latent map, Traversals and Collapse have views for it.")
        st.stop()
    mu, logvar = encode_all(_run.model, getattr(splits, split).x).params()
    return mu.numpy(), logvar.numpy()
