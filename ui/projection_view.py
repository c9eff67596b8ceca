"""The latent map's projection plumbing: which projection a view asks for, the background task that
computes it (shared by every session asking for the same one), the kept file it reads back, its
progress with a Cancel button, and the marks for points placed into the map. No tensor math here:
the numbers come from ``vae.project`` / ``vae.analysis.projection``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from ui.progress import live_task
from ui.text import safe_md
from vae.analysis.projection import Cancelled, opentsne_reference
from vae.cache.projections import Result, Spec, cache_path, fits, get_or_compute, read
from vae.jobs.background import shared_queue

BACKGROUND = ("opentsne", "tsne", "umap")  # methods that run as a background task; PCA is instant


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


def submit(run_dir: Path, mu: np.ndarray, labels: np.ndarray, spec: Spec, path: Path, threads: int):
    """Start (or join) the background task that computes and keeps this projection."""
    def work(progress, should_stop):
        try:
            return get_or_compute(run_dir, mu, labels, spec, threads=threads, progress=progress,
                                  should_stop=should_stop)
        except Cancelled:
            return None  # the queue marks the task stopped; nothing was written

    return shared_queue().submit(task_key(path), work)


def projection_for(run_dir: Path, mu: np.ndarray, labels: np.ndarray, spec: Spec, threads: int,
                   what: str) -> Result | None:
    """The kept projection, or None after drawing where its computation stands (progress with a
    Cancel button; a stopped or failed task with a button to start again). PCA is computed here."""
    path = cache_path(run_dir, spec, len(mu))
    res = kept(path)
    if fits(res, len(mu), spec):
        return res
    if spec.method not in BACKGROUND:
        with st.spinner("Projecting…"):
            return get_or_compute(run_dir, mu, labels, spec, threads=threads)
    task = shared_queue().get(task_key(path))
    if task is not None and task.state == "done" and task.result is not None:
        return task.result
    if task is not None and task.state in ("stopped", "failed"):
        if task.state == "stopped":
            st.warning(f"{what} was cancelled; nothing was kept.", icon=":material/block:")
        else:
            st.error(f"{what} failed: {safe_md(task.error)}. Nothing was kept.")
        if st.button("Start it again", key="lm_restart", icon=":material/replay:"):
            submit(run_dir, mu, labels, spec, path, threads)
            st.rerun()
        return None
    if task is None:
        task = submit(run_dir, mu, labels, spec, path, threads)
    projection_progress(task.key, what)
    return None


@st.fragment(run_every=1.0)
def projection_progress(key: tuple, what: str) -> None:
    """Queue position, then the optimizer's progress (iteration and KL where the method reports
    them), and a Cancel button; the page reruns when the task ends."""
    task = live_task(key, what)
    if task.position:
        pass  # waiting in the queue: its place is shown; Cancel below
    elif task.progress > 0 or "iteration" in task.message:
        st.progress(min(1.0, task.progress), text=f"{what}: {task.message} ({task.progress:.0%})")
    else:
        st.progress(0.0, text=f"{what}: {task.message} · running for {time.time() - task.submitted:.0f} s")
    st.caption("The projection runs in the background: the page stays usable, other users asking for the "
               "same map share this run, and the result is kept in the run folder.")
    if st.button("Cancel", key="lm_cancel", icon=":material/stop_circle:",
                 help="Stop the projection. Nothing is kept; scikit-learn's t-SNE stops when its fit ends."):
        task.stop()
        st.rerun()


@st.cache_resource(max_entries=4, show_spinner="Preparing the map to place new points…")
def tsne_reference(_res: Result, path: str, _mu: np.ndarray, threads: int):
    """openTSNE's reference embedding for placing new points, built once per kept map."""
    return opentsne_reference(_res.proj, _mu, threads)


def describe(res: Result) -> str:
    """One line: how it was made, how long it took, how trustworthy it is."""
    from vae.analysis.projection import TRUST_K, TRUST_POINTS
    note = res.proj.note or {"pca": "PCA", "latent": "the latents themselves"}.get(res.proj.method, res.proj.method)
    kept_note = " · kept in the run folder"
    trust = "" if not np.isfinite(res.trust) else (
        f" · trustworthiness **{res.trust:.3f}** (k = {TRUST_K}, on {min(TRUST_POINTS, len(res.idx)):,} seeded "
        f"points; 1 = every map neighbour is a latent neighbour)")
    return f"{safe_md(note)} · computed in **{res.seconds:.1f} s**{kept_note}{trust}."
