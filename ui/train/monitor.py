"""What the Train page's monitor shows of a job, rebuilt only when an epoch lands.

Two fragments follow a running job: the progress bar ticks every second, the live curves and the
trainer's output every ``CHART_EVERY_S``. A tick costs two ``stat`` calls when nothing changed: the
summary, the history and the trainer's output are those of the last tick, and the history is read
once per epoch. The plotly figures are built once, when the job has ended: while it runs the browser
draws the curves itself (``ui.components.live_curves``).

The monitor itself: the running job's progress and Stop button, then, once it ended, one sentence on
its outcome, its curves and the trainer's output (a past run of another visitor folded away).
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping

import streamlit as st

from ui.components.live_curves import live_curves
from ui.errors import report_errors
from ui.figures import kl_epoch_heatmap, training_curves
from ui.state import RUN_KEY
from ui.text import escape_md, safe_md, scrub_paths
from ui.train.sweep import job_heading, sweep_status
from vae.analysis.kl_history import kl_history
from vae.jobs.record import Job
from vae.jobs.training import JobManager

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


SEEN_KEY = "_train_seen"  # names of jobs this session started or watched running
STATE_WORDS = {"finished": "finished", "stopped": "stopped", "diverged": "diverged", "failed": "failed",
               "interrupted": "stopped unexpectedly", "empty": "nothing saved"}


def monitor(manager: JobManager) -> None:
    with report_errors("the Train page's monitor"):
        _monitor(manager)


def _stop(manager: JobManager) -> None:
    manager.stop()
    st.toast("Stopping after the current batch; the last completed epoch is kept.")


def _monitor(manager: JobManager) -> None:
    job = manager.current()
    if job is None:
        return
    view = job_view(job, st.session_state)
    s = view["summary"]
    seen = st.session_state.setdefault(SEEN_KEY, set())
    if s["state"] == "running":
        seen.add(job.name)
        st.subheader(job_heading(job))
        left = f" · about {s['seconds_left']:.0f} s left" if s["seconds_left"] is not None else ""
        st.progress(s["epoch"] / max(1, s["epochs"]), text=f"Epoch {s['epoch']} of {s['epochs']}{left}")
        sweep_status(job, s)
        # A callback, not `if st.button(...)`: it runs as the click's rerun starts, so a fragment tick or
        # another rerun that interrupts that run cannot drop the click.
        st.button("Stop", icon=":material/stop:", help="Ends the run after saving its last completed epoch.",
                  on_click=_stop, args=(manager,))
        st.session_state["_watching"] = job.name
        return  # the charts and the trainer's output: live_charts, a fragment of its own that ticks slower
    if st.session_state.pop("_watching", None) == job.name:
        st.rerun()  # the run ended during a fragment rerun: once, so the sidebar's picker lists it
    if job.name in seen:
        st.subheader(job_heading(job))
        _outcome(manager, job, s)
        sweep_status(job, s)
        _charts(view)
        with st.expander("Trainer output"):
            st.code(view["log"] or "(nothing)", language=None)
    else:
        # Another visitor's past run: kept, but folded away and muted.
        with st.expander(f"Last run on this server: {escape_md(job.name)}, {STATE_WORDS[s['state']]}"):
            _outcome(manager, job, s)
            _charts(view)
            st.caption("Trainer output")
            st.code(view["log"] or "(nothing)", language=None)


def live_charts(manager: JobManager) -> None:
    """The running job's curves and output every CHART_EVERY_S (from the view the monitor keeps,
    rebuilt only when an epoch landed), apart from the progress bar's one-second tick. The curves are
    drawn by the browser from the epochs it has not drawn yet (``live_curves``); the plotly charts
    come when the job ends."""
    with report_errors("the Train page's charts"):
        job = manager.current()
        if job is None or job.returncode is not None:
            return
        view = job_view(job, st.session_state)
        live_curves("live_curves", f"{job.name}@{job.started}", view["history"])
        with st.expander("Trainer output"):
            st.code(view["log"] or "(nothing yet)", language=None)


def _charts(view: dict) -> None:
    if view["curves"] is not None:
        st.plotly_chart(view["curves"], width="stretch", key="curves")
    if view["heat"] is not None:
        st.plotly_chart(view["heat"], width="stretch", key="kl_heat")


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' if n != 1 else ''}"


def _outcome(manager: JobManager, job: Job, s: dict) -> None:
    """One sentence per outcome; the trainer's words only where they add something."""
    name, n = escape_md(job.current_dir().name), s["epoch"]  # a queue's: its last run
    explore = None
    if s["state"] == "finished":
        st.success(f"Run **{name}** finished after {_epochs(n)}.")
        explore = "Explore this run"
    elif s["state"] == "stopped":
        st.success(f"Run **{name}** stopped after {_epochs(n)}; the last completed epoch is kept.")
        explore = "Explore this run"
    elif s["state"] == "interrupted":
        cause = f" ({safe_md(s['cause'])})" if s.get("cause") else ""
        st.error(f"Run **{name}** {safe_md(s['message'])}{cause}.")
        explore = "Explore its last epoch"
    elif s["state"] == "empty":
        st.warning(f"Run **{name}** {safe_md(s['message'])}.")
        if st.button("Delete it", icon=":material/delete:", key="dismiss_job",
                     help="Forgets this run and its trainer output; nothing else is touched."):
            manager.dismiss()
            st.rerun()
    elif s["state"] == "diverged":
        st.warning(f"Run **{name}** diverged: {safe_md(s['message'], 600)}")
        explore = "Explore its last good epoch" if s["saved"] else None
    else:
        st.error(f"Run **{name}** failed: {safe_md(s['message'], 600)}")
    if explore and s["saved"] and st.button(explore, type="primary", icon=":material/arrow_forward:"):
        st.session_state[RUN_KEY] = job.current_dir().name  # a queue's job is named for the queue
        st.switch_page("pages/home.py")


def watch(job: Job) -> None:
    """A job this session just started: the monitor shows it in full, and reruns once when it ends."""
    st.session_state["_watching"] = job.name
    st.session_state.setdefault(SEEN_KEY, set()).add(job.name)
