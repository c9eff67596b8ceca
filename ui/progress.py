"""Where a task on the server's background queue (``vae.work_queue``) stands, redrawn every second."""
from __future__ import annotations

import time

import streamlit as st

from ui.text import safe_md
from vae.limits import BACKGROUND_JOBS, BudgetError, limit_int
from vae.jobs.background import Task, shared_queue


def submit_or_say(key: tuple, fn) -> Task | None:
    """Queue ``fn`` under ``key`` (or join the task already there); None, with the limit shown, when refused."""
    try:
        return shared_queue().submit(key, fn)
    except BudgetError as e:
        st.error(f"Not started: {safe_md(e)}.")
        return None


def live_task(key: tuple, what: str) -> Task:
    """The queued task a progress fragment follows: the whole page reruns once it is done (or gone);
    while it waits in the queue (``task.position`` > 0) its place is shown."""
    task = shared_queue().get(key)
    if task is None or task.done:
        st.rerun()
    if task.position:
        st.info(f"{what}: waiting for the server's background worker, position {task.position} in the queue "
                f"(at most {limit_int(BACKGROUND_JOBS)} runs at once, VAE_MAX_BACKGROUND_JOBS).",
                icon=":material/hourglass_top:")
    return task


@st.fragment(run_every=1.0)
def task_progress(key: tuple, what: str, running_note: str | None = None) -> None:
    """Its place in the queue, then a progress bar (or, with ``running_note``, how long it has run
    and that note); the whole page reruns once it is done."""
    task = live_task(key, what)
    if task.position:
        return
    if running_note is None:
        st.progress(min(1.0, task.progress), text=f"{what}: {task.message} ({task.progress:.0%})")
    else:
        st.info(f"{what}: running in the background for {time.time() - task.submitted:.0f} s; {running_note}",
                icon=":material/hourglass_top:")
