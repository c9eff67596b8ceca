"""Sweeps from the Train page: the fields inside the Train form, starting the queue, and the
line the monitor shows while it runs. The library side is ``vae.training.sweep``."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.text import escape_md
from vae.runs.catalog import list_runs
from vae.config import RunConfig
from vae.jobs.record import Job
from vae.jobs.training import JobError, JobManager, prepare_run
from vae.training.sweep import MAX_SWEEP_RUNS, SETTINGS, parse_values, sweep_entries, sweep_name

SWEEP_KEY = "_sweep"  # {"plan": plan file, "sweep": name}: the sweep this session queued last
COMPARE_PAGE = "pages/compare.py"


@dataclass(frozen=True)
class SweepRequest:
    setting: str  # a key of vae.training.sweep.SETTINGS
    values: str  # as typed; parsed by vae.training.sweep.parse_values


def sweep_fields(busy: bool) -> SweepRequest | None:
    """Inside the Train form: the setting to vary, its values, and a second submit button. Returns
    the request when that button was pressed (the form's other fields give the base run)."""
    st.markdown("**…or a sweep:** one run per value, trained one after another and shown together on "
                "**Compare runs** (the other settings above are shared).")
    c = st.columns([1.2, 2, 1], vertical_alignment="bottom")
    setting = c[0].selectbox("Vary", list(SETTINGS), format_func=lambda k: SETTINGS[k].label, key="sweep_setting")
    values = c[1].text_input("Values", placeholder="e.g. 0.5, 1, 4", key="sweep_values",
                             help=f"Numbers separated by commas or spaces, at most {MAX_SWEEP_RUNS}; "
                                  "each becomes a run named '<run name>-<setting><value>'.")
    pressed = c[2].form_submit_button("Queue sweep", icon=":material/playlist_play:", disabled=busy)
    return SweepRequest(setting, values) if pressed else None


def start_sweep(manager: JobManager, name: str, cfg: RunConfig, req: SweepRequest, limits: dict,
                upload: bool = False) -> Job:
    """Queue one run per value as one job; JobError or vae.training.sweep.SweepError says why not."""
    if upload:
        raise JobError("a sweep trains on a built-in dataset or a server folder; an uploaded zip trains "
                       "one run at a time")
    values = parse_values(req.setting, req.values)
    sweep = sweep_name(name, req.setting, taken={r.sweep for r in list_runs(manager.root) if r.sweep})
    entries = [(n, prepare_run(c, limits)) for n, c in sweep_entries(name, cfg, req.setting, values, sweep)]
    job = manager.start_plan(sweep, entries)
    st.session_state[SWEEP_KEY] = {"plan": job.plan, "sweep": sweep}
    return job


def job_heading(job: Job) -> str:
    """The monitor's heading: the run, or for a queued plan (a sweep, a comparison) the queue."""
    return f"{'Queue' if job.plan else 'Run'} {escape_md(job.name)}"


def sweep_status(job: Job, summary: dict) -> None:
    """For a queued plan (a sweep or a comparison): which of its runs is training, or, once it
    ended, where to see the runs together."""
    p = summary.get("plan")
    if not p:
        return
    if summary["state"] == "running":
        st.caption(f"Queue **{escape_md(job.name)}**: run {p['index'] + 1} of {p['total']} "
                   f"(**{escape_md(p['run'])}**). Stop ends this run, keeping its completed epochs, and "
                   "cancels the runs still waiting.")
    else:
        states = [r.get("state", "") for r in job.plan_state().get("runs", [])]
        done = sum(s == "finished" for s in states)
        st.caption(f"Queue **{escape_md(job.name)}**: {done} of {len(states)} runs finished"
                   + (f", {len(states) - done} stopped, failed or cancelled" if done < len(states) else "") + ".")
    st.page_link(COMPARE_PAGE, label="See the runs on the rate–distortion plane", icon=":material/compare_arrows:")

