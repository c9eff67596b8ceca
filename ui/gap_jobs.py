"""The inference gaps of a run as a task on the server's one background queue: read from the run
folder's cache when there, else computed (with progress, stoppable) and kept there by
``vae.analysis.gaps.run_gaps``."""
from __future__ import annotations

import streamlit as st

from ui.cache import run_dataset
from ui.text import safe_md
from vae.analysis.gaps import GapResult, cached_gaps, check_gaps, run_gaps
from vae.limits import BudgetError
from vae.runs.folder import Run, weights_digest
from vae.jobs.background import QueueFull, Task, shared_queue


def gaps_key(run: Run, points: int, steps: int, k: int) -> tuple:
    return ("gaps", str(run.path), weights_digest(run.path), points, steps, k)


def gaps_state(run: Run, points: int, steps: int, k: int) -> tuple[GapResult | None, Task | None]:
    """(the result, if kept in the run folder or just computed; the task, if one was started)."""
    kept = cached_gaps(run.path, points, steps, k)
    task = shared_queue().get(gaps_key(run, points, steps, k))
    if kept is None and task is not None and task.state == "done":
        kept = task.result
    return kept, task


def start_gaps(run: Run, points: int, steps: int, k: int) -> Task | None:
    """Queue the estimate (refused at once past the budget: an error is shown and None returned)."""
    n_params = sum(p.numel() for p in run.model.parameters())
    try:
        check_gaps(n_params, points, steps, k)
        splits = run_dataset(run, stop_on_error=False)
        if splits is None:
            return None
        x = splits.test.x
        if len(x) == 0:
            st.error("This run's test split is empty: there are no points to estimate the gaps on.")
            return None
        return shared_queue().submit(gaps_key(run, points, steps, k),
                                     lambda progress, should_stop: run_gaps(run, x, points, steps, k, progress,
                                                                            should_stop))
    except (BudgetError, QueueFull) as e:
        st.error(f"The gap estimate was refused: {safe_md(e)}")
        return None
