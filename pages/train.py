"""Train: a form that launches `python -m vae.train` as a subprocess, and a live monitor.
The form and starting the run: ``ui.train.form``; the monitor: ``ui.train.monitor``."""
from __future__ import annotations

import streamlit as st

from ui.cache import job_manager
from ui.state import frame_guard, limits, runs_root
from ui.text import escape_md, safe_md
from ui.train.form import dataset_ui, form_ui, start
from ui.train.monitor import CHART_EVERY_S, live_charts, monitor, watch
from ui.widgets import FormError

frame_guard()
st.title("Train a VAE")
st.caption("Starts `python -m vae.train … --out checkpoints/<run>` in the background, the same command you can "
           "run yourself. The run survives page switches and reloads; Stop keeps the last completed epoch.")
lim = limits()
manager = job_manager(str(runs_root()))
active = manager.active()
if active is None:
    # A full run lists every finished run already; only a fragment rerun needs to trigger one.
    st.session_state.pop("_watching", None)
else:
    st.info(f"Run **{escape_md(active.name)}** is training on this server (one run at a time); you can watch it below.")
st.fragment(run_every=1.0 if active is not None else None)(monitor)(manager)
if active is not None:
    st.fragment(run_every=CHART_EVERY_S)(live_charts)(manager)
st.subheader("New run")
data = dataset_ui(lim)
try:
    form = form_ui(data, busy=active is not None, lim=lim)
except FormError as e:
    form = None
    st.error(safe_md(e, 600))
if form is not None and (job := start(manager, form, data, lim)) is not None:
    watch(job)
    st.rerun()
