"""The one background-task panel every page that waits uses: a task on the server's one queue
(``vae.jobs.background``) goes submit → queued (its place shown) → running (progress, a Stop
button, an optional live drawing) → done (its result returned) | failed | stopped (the reason,
and a button to start it again). Tasks are keyed by their settings, so every session asking for
the same key shares one task and one result.

    result = task_panel(key, "Gap estimate", lambda: work, name="gaps", start="Estimate the gaps")

``prepare`` is called only when the task is about to be submitted; it returns the work
``(progress, should_stop) -> result``, or None after showing why it cannot start (a budget
refusal, an empty split). Without ``start`` the task is submitted on first sight (work the page
cannot show anything without); with it, a button starts it. ``again=True`` (a form's submit pressed
in this run) submits a failed or stopped task again at once instead of showing why it ended.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import streamlit as st

from ui.text import safe_md
from vae.jobs.background import Task, Work, shared_queue
from vae.limits import BACKGROUND_JOBS, BudgetError, limit_int

Prepare = Callable[[], "Work | None"]
Live = Callable[[Task], None]


def submit(key: tuple, work: Work, quiet: bool = False) -> Task | None:
    """Queue ``work`` under ``key`` (or join the task already there); None, with the limit shown
    (unless ``quiet``: work a page can do without, such as a run's precompute), when the queue or a
    budget refuses it."""
    try:
        return shared_queue().submit(key, work)
    except BudgetError as e:
        if not quiet:
            st.error(f"Not started: {safe_md(e)}.")
        return None


def _submit_prepared(key: tuple, prepare: Prepare) -> Task | None:
    try:
        work = prepare()
    except BudgetError as e:
        st.error(f"Not started: {safe_md(e)}.")
        return None
    return None if work is None else submit(key, work)


def _live_task(key: tuple, what: str) -> Task:
    """The task a progress fragment follows: the whole page reruns once it is done (or gone);
    while it waits in the queue its place is shown."""
    task = shared_queue().get(key)
    if task is None or task.done:
        st.rerun()
    if task.position:
        st.info(f"{what}: waiting for the server's background worker, position {task.position} in the queue "
                f"(at most {limit_int(BACKGROUND_JOBS)} runs at once, VAE_MAX_BACKGROUND_JOBS).",
                icon=":material/hourglass_top:")
    return task


def _draw(key: tuple, what: str, opts: dict) -> None:
    task = _live_task(key, what)
    if not task.position:
        running = f"running for {time.time() - task.submitted:.0f} s"
        if opts.get("running_note") is not None:
            st.info(f"{what}: running in the background for {time.time() - task.submitted:.0f} s; "
                    f"{opts['running_note']}", icon=":material/hourglass_top:")
        elif task.progress > 0:
            st.progress(min(1.0, task.progress), text=f"{what}: {task.message} ({task.progress:.0%})")
        else:
            st.progress(0.0, text=f"{what}: {task.message} · {running}")
        if opts.get("live") is not None:
            opts["live"](task)
    if opts.get("caption"):
        st.caption(opts["caption"])
    if opts.get("stop"):
        if st.button(opts["stop"], key=f"{opts['name']}_stop", icon=":material/stop_circle:",
                     help=opts.get("stop_help") or "Stop it: nothing is kept, and it can be started again."):
            task.stop()
            st.rerun()


@st.fragment(run_every=1.0)
def _follow(key: tuple, what: str, opts: dict) -> None:
    _draw(key, what, opts)


@st.fragment(run_every=0.5)
def _follow_fast(key: tuple, what: str, opts: dict) -> None:
    _draw(key, what, opts)


def follow(key: tuple, what: str, *, name: str, stop: str | None = "Stop", stop_help: str | None = None,
           running_note: str | None = None, caption: str | None = None, live: Live | None = None,
           interval: float = 1.0) -> None:
    """Where a queued or running task stands, redrawn every ``interval`` seconds (1 or 0.5) until
    it ends, then the whole page reruns. ``running_note``: shown with the time it has run, instead
    of a progress bar (work that reports no fraction). ``live(task)``: extra drawing under it."""
    opts = {"name": name, "stop": stop, "stop_help": stop_help, "running_note": running_note,
            "caption": caption, "live": live}
    (_follow_fast if interval < 1.0 else _follow)(key, what, opts)


def task_panel(key: tuple, what: str, prepare: Prepare, *, name: str, start: str | None = None,
               start_help: str | None = None, primary: bool = False, stop: str | None = "Stop",
               stop_help: str | None = None, running_note: str | None = None, caption: str | None = None,
               live: Live | None = None, interval: float = 1.0, intro: str | None = None,
               start_icon: str | None = None, again: bool = False) -> Any | None:
    """The task's result once done; None before then, after drawing where it stands (see the
    module docstring). ``name`` prefixes the widget keys (``{name}_start``, ``{name}_stop``);
    ``intro``: a caption shown only where the start button is offered; ``again``: resubmit the
    task if it failed or was stopped (the user asked for these settings again)."""
    task = shared_queue().get(key)
    if task is not None and task.state == "done":
        return task.result
    if (task is None and start is None) or (again and task is not None and task.state in ("failed", "stopped")):
        task = _submit_prepared(key, prepare)
        if task is None:
            return None
    if task is not None and not task.done:
        follow(key, what, name=name, stop=stop, stop_help=stop_help, running_note=running_note, caption=caption,
               live=live, interval=interval)
        return None
    if task is not None and task.state == "stopped":
        st.warning(f"{what} was cancelled; nothing was kept.", icon=":material/block:")
    elif task is not None:
        st.error(f"{what} failed: {safe_md(task.error)}. Nothing was kept.")
    if intro:
        st.caption(intro)
    label = start if start is not None else "Start it again"
    icon = start_icon or (":material/replay:" if task is not None else ":material/play_arrow:")
    if st.button(label, key=f"{name}_start", icon=icon,
                 type="primary" if primary else "secondary", help=start_help):
        if _submit_prepared(key, prepare) is not None:
            st.rerun()
    return None
