"""The Collapse page's settings (active-unit threshold, bar order, the estimates' points and δ) and
the hand-off of a dimension to the Traversals page: picked from a list, or a bar clicked in a chart
(kept under ``PENDING`` and opened at the start of the page's next run)."""
from __future__ import annotations

import streamlit as st

from ui.collapse.stats import SORT_LABELS
from ui.components.svg_chart import clicked
from ui.state import DIM_KEY
from vae.analysis.collapse import AU_THRESHOLD, DELTA, N_MIXTURE

PENDING = "_collapse_open_dim"  # a dimension clicked in a chart, opened on the next run of this page


def settings_ui(n_points: int) -> tuple[float, str, int, float]:
    c1, c2, c3 = st.columns([1, 1, 2])
    au = c1.number_input("Active-unit threshold", 0.0, 10.0, AU_THRESHOLD, 0.005, format="%.3f",
                         help="A dimension is active when A_d = Var_x(E_q[z_d]) exceeds this (Burda et al. use 0.01).")
    by = c2.selectbox("Sort bars by", list(SORT_LABELS), format_func=SORT_LABELS.get,
                      help="Every chart uses the same order, so a dimension sits in the same place in each.")
    with c3.expander("Estimation settings"):
        options = sorted({o for o in (250, 500, 1000, 2000, 5000) if o < n_points} | {min(n_points, 5000)})
        m = st.select_slider("Points for I_q(x; z) and KL(q(z) ‖ p(z))", options,
                             value=min(N_MIXTURE, options[-1]) if min(N_MIXTURE, options[-1]) in options
                             else options[-1],
                             help="These estimates cost O(M²) per replicate: beyond M points each replicate uses "
                                  "a fresh seeded subsample, whose posteriors form the mixture q(z). Replicates are "
                                  "added until replicates × M ≥ 16,000, so the per-dimension MI's standard error "
                                  "stays near or below 0.01 nats; the total MI cannot exceed log M. More points are "
                                  "less biased and slower.")
        delta = st.slider("Decoder-sensitivity move δ (prior standard deviations)", 0.5, 4.0, DELTA, 0.5)
    return float(au), by, int(m), float(delta)


def open_dim_ui(d_max: int) -> None:
    c1, c2, _ = st.columns([1, 1, 3])
    d = c1.selectbox("Dimension", range(d_max), format_func=lambda i: f"z{i}", key="collapse_dim_pick",
                     label_visibility="collapsed")
    if c2.button("Open its traversal", icon=":material/tune:"):
        open_traversal(int(d))


def on_bar_click(key: str, latent_dim: int) -> None:
    d = clicked(key, latent_dim)
    if d is not None:
        st.session_state[PENDING] = d


def open_traversal(d: int) -> None:
    st.session_state[DIM_KEY] = d
    st.switch_page("pages/traversals.py")


def open_pending() -> None:
    """A bar clicked on the last run: open its traversal now."""
    if PENDING in st.session_state:
        open_traversal(st.session_state.pop(PENDING))
