"""The Gradient estimators page's Gumbel-softmax tab: a categorical toy with an exact gradient. Its
form's settings run the library's whole study (``vae.analysis.estimators.relaxed``) as a task on the
server's background queue (``ui.tasks``; results shared by key), and the panel shows the library's
rows: every number with its Monte-Carlo standard error."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from ui.estimators.figures_relaxed import (argmax_figure, one_hot_figure, relaxed_samples_figure,
                                           temperature_bias_figure, temperature_variance_figure)
from ui.estimators.settings import NUM, stored, within
from ui.labels import TOY_BASELINE_LABELS, labelled
from ui.tasks import task_panel
from ui.text import safe_md
from vae.analysis.estimators.relaxed import TAUS, TOY_BASELINES, gumbel_draws, gumbel_study
from vae.limits import BudgetError, check_toy_estimators

GUMBEL_KEY = "relaxed_gumbel_settings"  # the panel's submitted settings (per user)
# What the form offers: the largest settings take a few seconds on one core (bench/estimators_relaxed.py).
KS, NS, LS = [2, 3, 4, 6, 10], [1000, 2000, 4000, 10000], [1, 2, 4]
GUMBEL_DEFAULT = {"k": 4, "n": 10000, "mc_samples": 1, "baseline": "posterior_mean", "seed": 0}


def _interval(r: dict) -> str:
    """A bias's ±2-se interval: '±2 se: 0.0000 to 0.0712'."""
    return f"±2 se: {r['bias_lo']:.4f} to {r['bias_hi']:.4f}"


def gumbel_settings_ui() -> tuple[dict, bool]:
    """The submitted settings (else the defaults), and whether the form was submitted in this run."""
    cur = stored(GUMBEL_KEY, GUMBEL_DEFAULT)
    with st.form("gumbel_settings", border=True):
        c = st.columns([1, 1, 1, 2, 1])
        k = c[0].select_slider("Classes K", KS, value=cur["k"] if cur["k"] in KS else 4, key="gumbel_k")
        n = c[1].select_slider("Estimates n", NS, value=cur["n"] if cur["n"] in NS else 10000, key="gumbel_n",
                               help="Independent gradient estimates per estimator and temperature.")
        L = c[2].select_slider("Samples L", LS, value=cur["mc_samples"] if cur["mc_samples"] in LS else 1,
                               key="gumbel_L", help="Draws of z averaged in one estimate.")
        baseline = c[3].selectbox("Baseline b", TOY_BASELINES, format_func=TOY_BASELINE_LABELS.get,
                                  index=TOY_BASELINES.index(cur["baseline"]) if cur["baseline"] in TOY_BASELINES else 0,
                                  key="gumbel_baseline", help="The control variate of the score function + baseline.")
        seed = c[4].number_input("Seed", 0, 9999, int(within(cur["seed"], 0, 9999, 0)), key="gumbel_seed")
        submitted = st.form_submit_button("Run Gumbel-softmax study", type="primary", icon=":material/play_arrow:")
        if submitted:
            st.session_state[GUMBEL_KEY] = {"k": int(k), "n": int(n), "mc_samples": int(L), "baseline": baseline,
                                            "seed": int(seed)}
    return stored(GUMBEL_KEY, GUMBEL_DEFAULT), submitted


def gumbel_tables(k: int, n: int, mc_samples: int, baseline: str, seed: int, progress, should_stop) -> dict:
    """Everything the panel shows, as plain rows (run on the server's work queue)."""
    s = gumbel_study(k, TAUS, n, mc_samples, baseline, seed, on_progress=progress, should_stop=should_stop)
    return {"rows": s.rows(), "coords": {t: s.coordinate_rows(t) for t in TAUS}, "exact": s.exact,
            "probs": s.probs, "target": list(s.toy.target), "samples": s.samples,
            "one_hot": s.one_hot_rows, "argmax": s.argmax, "seconds": s.seconds}


def gumbel_panel() -> None:
    st.markdown(r"""
A categorical $z\sim\mathrm{Cat}(\pi)$, $\pi=\mathrm{softmax}(\theta)$ over $K$ classes, and
$f(z)=\lVert z-t\rVert^2$ with a fixed target $t$. The exact gradient is a finite sum:
$\partial_{\theta_j}\mathbb E[f]=\pi_j\,(f(e_j)-\mathbb E[f])$. The **Gumbel-softmax (relaxed)** estimator
differentiates $f(y)$ at $y=\mathrm{softmax}((\theta+g)/\tau)$, $g$ Gumbel noise (the Concrete sample): unbiased for
the *relaxed* objective, so biased for the discrete one, less so as $\tau\to0$ while its variance grows.
**Straight-through** uses the one-hot $\arg\max y$ forward and $y$'s gradient backward. The score function needs no
$\tau$ and is unbiased.""")
    p, again = gumbel_settings_ui()
    try:
        k, n, L, seed = int(p["k"]), int(p["n"]), int(p["mc_samples"]), int(p["seed"])
        baseline = str(p["baseline"])
    except (TypeError, ValueError):
        st.error("The stored settings are malformed; choose them again and press Run Gumbel-softmax study.")
        return
    if k not in KS or n not in NS or L not in LS or baseline not in TOY_BASELINES or not 0 <= seed <= 9999:
        st.error("These settings cannot be used: choose K, n, L and the baseline among those offered and a seed "
                 "between 0 and 9999.")
        return
    if baseline == "leave_one_out" and L < 2:
        st.error("The leave-one-out baseline needs L ≥ 2 samples per estimate: raise L or choose b = f(E z).")
        return
    try:
        check_toy_estimators(gumbel_draws(k, n, L, len(TAUS)), "This Gumbel-softmax study")
    except BudgetError as e:
        st.error(f"This study was refused: {safe_md(e)}. Choose fewer estimates n or samples L.")
        return
    key = ("gumbel", k, n, L, baseline, seed)
    t = task_panel(key, f"Gumbel-softmax study (K = {k}, n = {n:,}, L = {L}, seed {seed})",
                   lambda: partial(gumbel_tables, k, n, L, baseline, seed), name="gumbel", again=again)
    if t is None:
        return
    rows = t["rows"]
    by = {(r["estimator"], r["tau"]): r for r in rows}
    cold, hot = min(TAUS), max(TAUS)
    c = st.columns(4)
    r = by["relaxed", cold]
    c[0].metric(f"Relaxed bias at τ = {cold:g}", f"{r['bias']:.4f}", _interval(r), "off",
                delta_arrow="off", help="‖E ĝ − g‖ (corrected for the noise of the mean) and its ±2-standard-error "
                                        "interval; an interval reaching 0 is no detectable bias.")
    r = by["relaxed", hot]
    c[1].metric(f"Relaxed bias at τ = {hot:g}", f"{r['bias']:.4f}", _interval(r), "off",
                delta_arrow="off", help="‖E ĝ − g‖ (corrected for the noise of the mean) and its ±2-standard-error "
                                        "interval; an interval reaching 0 is no detectable bias.")
    r = by["straight_through", hot]
    c[2].metric(f"Straight-through bias at τ = {hot:g}", f"{r['bias']:.4f}", _interval(r), "off",
                delta_arrow="off", help="‖E ĝ − g‖ (corrected for the noise of the mean) and its ±2-standard-error "
                                        "interval; an interval reaching 0 is no detectable bias.")
    r = by["score", None]
    c[3].metric("Score-function bias (no τ)", f"{r['bias']:.4f}", _interval(r), "off", delta_arrow="off",
                help=f"Unbiased: its interval should reach 0 (bias² is {r['bias_z']:+.2f} standard errors from 0).")
    st.caption(f"{n:,} independent estimates per estimator and τ, each from L = {L} draw{'s' if L > 1 else ''}; "
               f"seed {seed}. Exact "
               f"‖g‖ = {sum(v * v for v in t['exact']) ** 0.5:.4f}. Bias is ‖mean − g‖ corrected for the noise of "
               "the mean (‖ḡ − g‖² − tr Cov/n), with its ±2-standard-error interval; a bar touching 0 is no "
               "detectable bias. Dashed lines and bands: the score-function estimators, which have no τ.")
    left, right = st.columns(2)
    left.plotly_chart(temperature_bias_figure(rows), width="stretch", key="gumbel_bias_chart")
    right.plotly_chart(temperature_variance_figure(rows), width="stretch", key="gumbel_variance_chart")
    with st.expander("Bias and variance per estimator and temperature"):
        df = pd.DataFrame(labelled(rows))[["estimator", "tau", "bias", "bias_lo", "bias_hi", "bias2", "bias2_se",
                                           "variance", "variance_se"]]
        df["tau"] = [f"{v:g}" if v is not None and v == v else "no τ" for v in df["tau"]]
        st.dataframe(df, hide_index=True, width="stretch", key="gumbel_table",
                     column_config={"tau": st.column_config.TextColumn("τ"), "bias": NUM("‖bias‖", format="%.4f"),
                                    "bias_lo": NUM("low (2 se)", format="%.4f"),
                                    "bias_hi": NUM("high (2 se)", format="%.4f"),
                                    "bias2": NUM("bias²", format="%.2e"), "bias2_se": NUM("± se", format="%.1e"),
                                    "variance": NUM("tr Cov", format="%.4g"),
                                    "variance_se": NUM("± se", format="%.2g")})
        tau = st.selectbox("Per coordinate at τ =", TAUS, index=TAUS.index(1.0), key="gumbel_coord_tau")
        st.dataframe(pd.DataFrame(labelled(t["coords"][tau])), hide_index=True, width="stretch",
                     column_config={"exact": NUM(format="%.4f"), "mean": NUM(format="%.4f"),
                                    "se": NUM("std. error", format="%.4f"), "z": NUM("(mean − exact)/se", format="%.2f")})
    st.subheader("Samples at several temperatures")
    st.caption(f"The first {len(next(iter(t['samples'].values())))} Gumbel-softmax samples y at each τ "
               f"(π = ({', '.join(f'{v:.2f}' for v in t['probs'])})). As τ → 0 every sample becomes a one-hot "
               "vector; as τ grows they crowd toward the simplex's centre.")
    st.plotly_chart(relaxed_samples_figure(t["samples"], t["probs"]), width="stretch", key="gumbel_samples_chart")
    a = t["argmax"]
    left, right = st.columns(2)
    left.plotly_chart(one_hot_figure(t["one_hot"]), width="stretch", key="gumbel_onehot_chart")
    right.plotly_chart(argmax_figure(a), width="stretch", key="gumbel_argmax_chart")
    st.caption(f"The Gumbel-max property: argmax y is distributed exactly as Cat(π) at every τ. Pearson's "
               f"χ² = {a['chi2']:.2f} on {a['dof']} degrees of freedom over {a['n']:,} samples at τ = {a['tau']:g}, "
               f"p = {a['p_value']:.3f}.")
