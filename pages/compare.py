"""Compare runs: the rate–distortion plane, the ELBO-surgery split of each run's rate, two runs'
latent maps aligned point by point, and disentanglement scores across seeds (the sections are in
``ui.compare``)."""
from __future__ import annotations

import streamlit as st

from ui.compare.align import align_section
from ui.compare.plane import plane_section, plane_state
from ui.compare.runs import runs_by_dataset
from ui.compare.scores import scores_section
from ui.compare.tasks import rate_points
from ui.state import RUN_KEY, available_runs, frame_guard
from ui.text import plain_text

frame_guard()
st.title("Compare runs")
st.caption("Every run of one dataset on the rate–distortion plane (Alemi et al. 2018), the split of each run's rate, "
           "two runs' latent maps aligned, and disentanglement scores. Each number is computed once per run in the "
           "background and kept in its run folder.")
runs_all = runs_by_dataset(available_runs())
if not runs_all:
    st.info("No finished runs yet: train one on the **Train** page.")
    st.stop()
current = st.session_state.get(RUN_KEY)
cur_ds = next((d for d, rs in runs_all.items() if any(r.info.name == current for r in rs)), None)
options = sorted(runs_all, key=lambda d: (-len(runs_all[d]), d))
dataset = st.selectbox("Dataset", options, index=options.index(cur_ds) if cur_ds in options else 0,
                       format_func=lambda d: f"{plain_text(d)} ({len(runs_all[d])} run{'s' if len(runs_all[d]) != 1 else ''})",
                       key="compare_dataset")
rows = runs_all[dataset]
st.subheader("The rate–distortion plane")
placed, pending = rate_points(rows)
seen = plane_state(placed)
live = seen[1] or (pending is not None and not pending.done)
st.fragment(run_every=2.0 if live else None)(plane_section)(dataset, rows, seen)
align_section(dataset, rows)
scores_section(runs_all)
