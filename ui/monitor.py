"""What the Train page's monitor shows of a job, rebuilt only when an epoch lands.

Two fragments follow a running job: the progress bar ticks every second, the live curves and the
trainer's output every ``CHART_EVERY_S``. A tick costs two ``stat`` calls when nothing changed: the
summary, the history and the trainer's output are those of the last tick, and the history is read
once per epoch. The plotly figures are built once, when the job has ended: while it runs the browser
draws the curves itself (``ui.components.live_curves``).
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping

from ui.figures import kl_epoch_heatmap, training_curves
from ui.text import scrub_paths
from vae.analysis.collapse import kl_history
from vae.jobs.training import Job

VIEW_KEY = "_train_view"  # what the monitor last drew, and the files' signature it was drawn from
LOG_CHARS = 3000
CHART_EVERY_S = 2.0  # the live charts' tick (the progress bar's is one second)
HEAT_TITLE = "KL per latent dimension per epoch (dark rows: collapsed onto the prior)"


def _stat(path) -> tuple[int, int] | None:
    try:
        st_ = os.stat(path)
    except OSError:
        return None
    return st_.st_mtime_ns, st_.st_size


def signature(job: Job) -> tuple:
    """What the monitor's picture depends on, from two stat calls: it changes when an epoch lands,
    the status changes, or the process ends; between epochs it stays the same."""
    run_dir = job.current_dir()
    return (job.name, job.returncode, run_dir.name, _stat(run_dir / "history.jsonl"), _stat(run_dir / "status.json"))


def job_view(job: Job, store: MutableMapping) -> dict:
    """The job's summary, history, figures and trainer output, rebuilt only when its signature changed:
    between epochs a monitor tick reads no history. The figures ("curves", "heat") are None while the
    job runs (the page does not show them then) and built when it has ended."""
    sig = signature(job)
    view = store.get(VIEW_KEY)
    if view is not None and view["sig"] == sig:
        return view
    summary, hist = job.summary(), job.history()
    ended = summary["state"] != "running"
    kl = kl_history(hist) if ended else None
    view = {"sig": sig, "summary": summary, "history": hist,
            "curves": training_curves(hist) if ended and hist else None,
            "heat": kl_epoch_heatmap(kl, HEAT_TITLE) if kl is not None else None, "log": scrub_paths(job.log_tail(LOG_CHARS))}
    store[VIEW_KEY] = view
    return view
