"""The Collapse page's Per dimension tab: each statistic's bars (SVG, so the page opens without
plotly) coloured by the dimension's verdict (active / encoder ignores x / decoder ignores z_d /
collapsed), with its collapse threshold dashed and MI's ±2 s.e. error bars; a click on a bar opens
that dimension's traversal. Under them, on demand, the table of every statistic with its
standard errors."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.collapse.controls import on_bar_click, open_dim_ui
from ui.collapse.stats import STATS
from ui.components.svg_chart import svg_chart
from ui.svg_charts import verdict_bars_svg
from vae.analysis.collapse import (MI_SE_MULTIPLE, MI_THRESHOLD, SENS_FLOOR, SENS_REL, CollapseReport, mi_status,
                                   sensitivity_threshold, sort_order, verdicts)


def bar_chart(report: CollapseReport, stat: str, order: np.ndarray, labels: list[str], threshold: float) -> str:
    """One statistic's bars (SVG: the page opens without plotly); MI, which has a standard error,
    gets ±2 s.e. error bars."""
    title, ylabel, _, _ = STATS[stat]
    return verdict_bars_svg(report.stat(stat), order, labels, threshold, title, ylabel,
                            se=report.stat_se(stat) if stat == "mi" else None, se_multiple=MI_SE_MULTIPLE)


def per_dim_section(report: CollapseReport, au: float, by: str) -> None:
    order = sort_order(report, by)
    labels = verdicts(report, au)
    n_coll = sum(v != "active" for v in labels)
    st.subheader("Per dimension")
    st.caption(
        "**Active**: the encoder uses x (A_d above the threshold) and the decoder uses z_d. **Encoder ignores x**: "
        "q(z_d|x) is the same for every x, yet the decoder reacts to z_d. **Decoder ignores z_d**: the posterior "
        "moves with x, the images do not. **Collapsed**: q(z_d|x) = p(z_d) and the decoder ignores it. Dashed "
        f"lines: collapse thresholds (the decoder's: {SENS_REL:.0%} of the largest sensitivity, at least "
        f"{SENS_FLOOR:g}, for z_d ± {report.delta:g}). Click a bar to open its traversal.")
    if n_coll:
        st.warning(f"{n_coll} of {report.latent_dim} dimensions are not active: "
                   + ", ".join(f"z{d} ({labels[d]})" for d in order if labels[d] != "active"))
    else:
        st.success(f"All {report.latent_dim} dimensions are active.")
    stats = [s for s in STATS if s != "sensitivity" or report.sensitivity is not None]
    for row in range(0, len(stats), 2):
        cols = st.columns(2)
        for col, stat in zip(cols, stats[row:row + 2]):
            thr = (STATS[stat][2] if STATS[stat][2] is not None else
                   au if stat == "activity" else sensitivity_threshold(report))
            key = f"collapse_bars_{stat}"
            with col:
                svg_chart(bar_chart(report, stat, order, labels, thr), key=key,
                          on_click=lambda k=key: on_bar_click(k, report.latent_dim))
            col.caption(STATS[stat][3].replace("±δ", f"±{report.delta:g}")
                        + (" " + mi_note(report) if stat == "mi" else ""))
    # Lazy: the table (and pandas, a second at a first visit) is built only while the expander is open.
    table_box = st.expander("Table of every statistic", key="collapse_table", on_change="rerun")
    if table_box.open:
        with table_box:
            stat_table(report, order, labels)
    st.caption("Or pick a dimension:")
    open_dim_ui(report.latent_dim)


def stat_table(report: CollapseReport, order: np.ndarray, labels: list[str]) -> None:
    import pandas as pd
    mi_says = mi_status(report)
    table = pd.DataFrame({"dimension": [f"z{d}" for d in order], "verdict": [labels[d] for d in order],
                          "KL (nats)": report.kl[order], "A_d": report.activity[order], "MI (nats)": report.mi[order],
                          "MI s.e.": _se(report, "mi", order), "MI says": [mi_says[d] for d in order],
                          "KL(q(z_d) ‖ p) (nats)": report.marginal_kl[order],
                          "KL(q(z_d) ‖ p) s.e.": _se(report, "marginal_kl", order),
                          "sensitivity": report.sensitivity[order] if report.sensitivity is not None else np.nan,
                          "sensitivity s.e.": _se(report, "sensitivity", order),
                          "mean μ_d": report.mu_mean[order], "mean σ_d": report.sigma_mean[order]})
    st.caption(f"s.e.: one Monte-Carlo standard error (MI and KL(q(z_d) ‖ p): over {report.replicates} "
               f"replicates; sensitivity: over its {report.n_anchors or 0:,} anchor images). KL and A_d are exact "
               f"functions of the encoded test set. **MI says** *collapsed* only when the MI is below "
               f"{MI_THRESHOLD:g} nats by more than {MI_SE_MULTIPLE:g} standard errors, *used* when above it by "
               "more than that, and *undetermined* when the threshold lies within the estimator's noise.")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns
                                if pd.api.types.is_numeric_dtype(table[c])})


def _se(report: CollapseReport, stat: str, order: np.ndarray) -> np.ndarray:
    se = report.stat_se(stat)
    return se[order] if se is not None else np.full(len(order), np.nan)


def mi_note(report: CollapseReport) -> str:
    """The words beside the MI chart: noise below zero, the undetermined dimensions, the log M bound."""
    parts = []
    if (report.mi < 0).any():
        neg = ", ".join(f"z{d}" for d in np.nonzero(report.mi < 0)[0])
        parts.append(f"Bars below zero ({neg}) are estimator noise: the true I_q(x; z_d) is never negative, and "
                     "their error bars reach zero.")
    und = [d for d, v in enumerate(mi_status(report)) if v == "undetermined"]
    if und:
        parts.append("Within two standard errors of the threshold, so undetermined by MI: "
                     + ", ".join(f"z{d}" for d in und) + ".")
    parts.append(f"Each I_q(x; z_d), like the total, is bounded by log M = {report.mi_ceiling:.3f} nats "
                 f"(M = {report.n_mixture:,} points).")
    return " ".join(parts)
