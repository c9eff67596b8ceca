"""The latent map's projection plumbing: which projection a view asks for, the background task that
computes it (shared by every session asking for the same one; drawn by ``ui.tasks.task_panel``:
its place in the queue or its progress, a Cancel button, and after a cancel or a failure a button
to start it again), the kept file it reads back, and the reference map that places new points.
No tensor math here: the numbers come from ``vae.cache.projections`` / ``vae.analysis.projection``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from ui import tasks
from ui.text import safe_md
from vae.analysis.projection.maps import BACKGROUND, Cancelled
from vae.analysis.projection.tsne import opentsne_reference
from vae.cache.projections import Result, Spec, cache_path, fits, get_or_compute, read

CAPTION = ("The projection runs in the background: the page stays usable, other users asking for the "
           "same map share this run, and the result is kept in the run folder.")
CANCEL_HELP = "Stop the projection. Nothing is kept; scikit-learn's t-SNE stops when its fit ends."


@st.cache_data(max_entries=16, show_spinner=False)
def read_kept(path: str, mtime: float) -> Result | None:
    """A kept projection file, read once per file version (mtime in the key)."""
    return read(path)


def kept(path: Path) -> Result | None:
    try:
        return read_kept(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        return None


def task_key(path: Path) -> tuple:
    return ("projection", str(path))


def work(run_dir: Path, mu: np.ndarray, labels: np.ndarray, spec: Spec, threads: int):
    """The background work that computes and keeps this projection (a cancel keeps nothing)."""
    def run(progress, should_stop):
        try:
            return get_or_compute(run_dir, mu, labels, spec, threads=threads, progress=progress,
                                  should_stop=should_stop)
        except Cancelled:
            return None  # the queue marks the task stopped; nothing was written

    return run


def submit(run_dir: Path, mu: np.ndarray, labels: np.ndarray, spec: Spec, path: Path, threads: int):
    """Start (or join) the background task that computes and keeps this projection."""
    return tasks.submit(task_key(path), work(run_dir, mu, labels, spec, threads))


def projection_for(run_dir: Path, mu: np.ndarray, labels: np.ndarray, spec: Spec, threads: int,
                   what: str) -> Result | None:
    """The kept projection, or None after drawing where its computation stands (queue place or the
    optimizer's progress, iteration and KL where the method reports them, with a Cancel button; a
    cancelled or failed task with a button to start it again). PCA is computed here, at once."""
    path = cache_path(run_dir, spec, len(mu))
    res = kept(path)
    if fits(res, len(mu), spec):
        return res
    if spec.method not in BACKGROUND:
        with st.spinner("Projecting…"):
            return get_or_compute(run_dir, mu, labels, spec, threads=threads)
    return tasks.task_panel(task_key(path), what, lambda: work(run_dir, mu, labels, spec, threads), name="lm",
                            stop="Cancel", stop_help=CANCEL_HELP, caption=CAPTION)


@st.cache_resource(max_entries=4, show_spinner="Preparing the map to place new points…")
def tsne_reference(_res: Result, path: str, _mu: np.ndarray, threads: int):
    """openTSNE's reference embedding for placing new points, built once per kept map."""
    return opentsne_reference(_res.proj, _mu, threads)


def describe(res: Result) -> str:
    """One line: how it was made, how long it took, how trustworthy it is."""
    from vae.analysis.projection.maps import TRUST_K, TRUST_POINTS
    note = res.proj.note or {"pca": "PCA", "latent": "the latents themselves"}.get(res.proj.method, res.proj.method)
    kept_note = " · kept in the run folder"
    trust = "" if not np.isfinite(res.trust) else (
        f" · trustworthiness **{res.trust:.3f}** (k = {TRUST_K}, on {min(TRUST_POINTS, len(res.idx)):,} seeded "
        f"points; 1 = every map neighbour is a latent neighbour)")
    return f"{safe_md(note)} · computed in **{res.seconds:.1f} s**{kept_note}{trust}."
