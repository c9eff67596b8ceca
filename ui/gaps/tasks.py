"""The inference gaps of a run as a task on the server's one background queue (``ui.tasks``): read
from the run folder's cache when there, else computed (with progress, stoppable) and kept there by
``vae.cache.gaps.run_gaps``."""
from __future__ import annotations

import streamlit as st

from ui.cache import run_dataset
from ui.tasks import task_panel
from vae.analysis.gaps import GapResult, check_gaps
from vae.cache.gaps import cached_gaps, run_gaps
from vae.jobs.background import Work
from vae.runs.folder import Run, weights_digest


def gaps_key(run: Run, points: int, steps: int, k: int) -> tuple:
    return ("gaps", str(run.path), weights_digest(run.path), points, steps, k)


def _prepare(run: Run, points: int, steps: int, k: int) -> Work | None:
    """The estimate's work, once the budget allows it and the test split has points (else None,
    after saying why; a budget refusal raises, and ``task_panel`` shows it)."""
    check_gaps(sum(p.numel() for p in run.model.parameters()), points, steps, k)
    splits = run_dataset(run, stop_on_error=False)
    if splits is None:
        return None
    x = splits.test.x
    if len(x) == 0:
        st.error("This run's test split is empty: there are no points to estimate the gaps on.")
        return None
    return lambda progress, should_stop: run_gaps(run, x, points, steps, k, progress, should_stop)


def gaps_panel(run: Run, points: int, steps: int, k: int, key: str) -> GapResult | None:
    """The run's gaps if kept in its folder or just computed; else None, after drawing the task's
    progress and Stop, or the button that starts it (primary for the page's own run, ``key="main"``)."""
    kept = cached_gaps(run.path, points, steps, k)
    if kept is not None:
        return kept
    return task_panel(gaps_key(run, points, steps, k), f"Inference gaps of {run.name}",
                      lambda: _prepare(run, points, steps, k), name=f"gaps_{key}",
                      start=f"Estimate the gaps of {run.name}", primary=key == "main", stop="Stop",
                      start_help="Runs in the background; the result is kept in the run folder.",
                      stop_help="Stops the estimate; nothing is kept, and it can be started again.")
