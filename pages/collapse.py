"""Collapse diagnostics: which latent dimensions carry information, which collapsed onto the prior, and why.

The statistics, their stages and their sections are in ``ui.collapse``; the maths in ``vae.analysis.collapse``."""
from __future__ import annotations

import streamlit as st

from ui import posterior_view
from ui.cache import run_dataset, run_identity
from ui.collapse.compute import posterior_for, report_stages, wait_for_precompute
from ui.collapse.controls import open_pending, settings_ui
from ui.collapse.per_dim import per_dim_section
from ui.collapse.sections import compare_section, history_section, mig_section, posterior_section
from ui.collapse.summary import summary_head, summary_section
from ui.prior_view import collapse_note
from ui.state import require_run
from ui.text import escape_md, safe_md
from vae.analysis.collapse_views import check_diagnostics
from vae.limits import BudgetError

open_pending()  # a bar clicked on the last run opens its traversal
run = require_run()
if posterior_view.collapse_page(run):  # flow, categorical and Dirichlet runs: their own view
    st.stop()
splits = run_dataset(run)
st.title("Posterior collapse diagnostics")
st.caption(f"Run **{escape_md(run.name)}**: which of its {run.model.latent_dim} latent dimensions carry information about the "
           "image, which collapsed onto the prior N(0, 1), and why. Computed over the test split.")
collapse_note(run)
au, by, m, delta = settings_ui(len(splits.test))
try:  # a model at the allowed maximum would tie the server up for minutes: refused up front, the limit named
    check_diagnostics(run.model, len(splits.test), m)
except BudgetError as e:
    st.error(safe_md(e, 600))
    st.stop()
# What needs only the encodings is drawn first; each slow stage then runs under a spinner naming it.
post = posterior_for(run, run_identity(run))
metric_cols = summary_head(post, au)
wait_for_precompute(run, len(splits.test), m, delta)
report = report_stages(run, run_identity(run), m, delta, post)
summary_section(report, metric_cols)
# Lazy tabs: only the open tab's content runs, so a rerun draws its charts and no others.
tabs = st.tabs(["Per dimension", "Posteriors", "Training history", "Compare runs", "Disentanglement (MIG)"],
               key="collapse_tab", on_change="rerun")
sections = [lambda: per_dim_section(report, au, by), lambda: posterior_section(run), lambda: history_section(run),
            lambda: compare_section(run, report, m, delta, au), lambda: mig_section(run)]
for tab, section in zip(tabs, sections):
    if tab.open:
        with tab:
            section()
