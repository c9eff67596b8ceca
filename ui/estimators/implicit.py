"""The Gradient estimators page's implicit-reparameterization tab: d/dα E[f(z)] for a Gamma and a
Dirichlet, implicit against score function against the exact value. Its form's settings run the
library's whole study (``vae.analysis.estimators.implicit``) as a task on the server's background
queue (``ui.tasks``; results shared by key); every number is shown with its standard error."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from ui.estimators.figures_relaxed import gamma_means_figure, samples_variance_figure, variance_ratio_figure
from ui.estimators.settings import NUM, stored, within
from ui.labels import GAMMA_F_LABELS, TOY_BASELINE_LABELS, labelled
from ui.tasks import task_panel
from ui.text import safe_md
from vae.analysis.estimators.implicit import GAMMA_FUNCTIONS, MC_LIST, implicit_draws, implicit_study
from vae.analysis.estimators.relaxed import TOY_BASELINES
from vae.limits import BudgetError, check_toy_estimators

IMPLICIT_KEY = "relaxed_implicit_settings"  # the panel's submitted settings (per user)
NS_IMPLICIT = [500, 1000, 2000, 4000]  # a few seconds at most on one core (bench/estimators_relaxed.py)
DIRICHLETS = {"(0.5, 1, 2)": (0.5, 1.0, 2.0), "(1, 1, 1)": (1.0, 1.0, 1.0), "(0.2, 0.2, 0.2)": (0.2, 0.2, 0.2),
              "(5, 5, 5)": (5.0, 5.0, 5.0), "(0.5, 1, 2, 4, 8)": (0.5, 1.0, 2.0, 4.0, 8.0)}
IMPLICIT_DEFAULT = {"alpha": 2.0, "beta": 1.0, "f": "z", "dirichlet": "(0.5, 1, 2)", "n": 2000,
                    "baseline": "posterior_mean", "seed": 0}
A_MIN, A_MAX = 0.05, 50.0  # the Gamma's shape and rate offered


def implicit_settings_ui() -> tuple[dict, bool]:
    """The submitted settings (else the defaults), and whether the form was submitted in this run."""
    cur = stored(IMPLICIT_KEY, IMPLICIT_DEFAULT)
    with st.form("implicit_settings", border=True):
        c = st.columns([1, 1, 1, 1, 1, 2, 1])
        alpha = c[0].number_input("Gamma shape α", A_MIN, A_MAX, within(cur["alpha"], A_MIN, A_MAX, 2.0), 0.1,
                                  key="implicit_alpha")
        beta = c[1].number_input("Gamma rate β", A_MIN, A_MAX, within(cur["beta"], A_MIN, A_MAX, 1.0), 0.1,
                                 key="implicit_beta")
        f = c[2].selectbox("f", GAMMA_FUNCTIONS, format_func=GAMMA_F_LABELS.get, key="implicit_f",
                           index=GAMMA_FUNCTIONS.index(cur["f"]) if cur["f"] in GAMMA_FUNCTIONS else 0)
        dirichlet = c[3].selectbox("Dirichlet α", list(DIRICHLETS), key="implicit_dirichlet",
                                   index=list(DIRICHLETS).index(cur["dirichlet"]) if cur["dirichlet"] in DIRICHLETS else 0)
        n = c[4].select_slider("Estimates n", NS_IMPLICIT, value=cur["n"] if cur["n"] in NS_IMPLICIT else 2000,
                               key="implicit_n", help="Independent gradient estimates per estimator and L.")
        baseline = c[5].selectbox("Baseline b", TOY_BASELINES, format_func=TOY_BASELINE_LABELS.get, key="implicit_baseline",
                                  index=TOY_BASELINES.index(cur["baseline"]) if cur["baseline"] in TOY_BASELINES else 0)
        seed = c[6].number_input("Seed", 0, 9999, int(within(cur["seed"], 0, 9999, 0)), key="implicit_seed")
        submitted = st.form_submit_button("Run implicit-reparameterization study", type="primary",
                                          icon=":material/play_arrow:")
        if submitted:
            st.session_state[IMPLICIT_KEY] = {"alpha": float(alpha), "beta": float(beta), "f": f, "dirichlet": dirichlet,
                                              "n": int(n), "baseline": baseline, "seed": int(seed)}
    return stored(IMPLICIT_KEY, IMPLICIT_DEFAULT), submitted


def implicit_tables(alpha: float, beta: float, f: str, dirichlet: tuple[float, ...], n: int, baseline: str, seed: int,
                    progress, should_stop) -> dict:
    """Everything the panel shows, as plain rows (run on the server's work queue)."""
    s = implicit_study(alpha, beta, f, dirichlet, MC_LIST, n, baseline, seed, on_progress=progress,
                       should_stop=should_stop)
    return {"gamma": s.rows("gamma"), "dirichlet": s.rows("dirichlet"), "gamma_ratio": s.ratio_rows("gamma"),
            "dirichlet_ratio": s.ratio_rows("dirichlet"), "gamma_exact": s.gamma_exact,
            "dirichlet_exact": s.dirichlet_exact, "coords": {L: s.dirichlet_coordinate_rows(L) for L in MC_LIST},
            "seconds": s.seconds}


def implicit_panel() -> None:
    st.markdown(r"""
A Gamma has no invertible standardization $z=h(\varepsilon,\alpha)$, yet the **implicit** gradient
$\nabla_\alpha z=-\frac{\partial F(z;\alpha)/\partial\alpha}{\partial F(z;\alpha)/\partial z}$ ($F$ the CDF; Figurnov
et al. 2018) makes $\nabla_\alpha f(z)$ computable; torch's `Gamma.rsample` and `Dirichlet.rsample` differentiate this
way. It is set against the **score function** $f(z)\,\nabla_\alpha\log p(z;\alpha)$ on the *same* draws, and against the
exact gradient: $\frac{d}{d\alpha}\mathbb E[z]=1/\beta$, $\frac{d}{d\alpha}\mathbb E[z^2]=(2\alpha+1)/\beta^2$,
$\frac{d}{d\alpha}\mathbb E[\log z]=\psi'(\alpha)$; for a Dirichlet, $f(z)=z_1$ and
$\partial\,\mathbb E[z_1]/\partial\alpha_j=(\delta_{1j}\textstyle\sum\alpha-\alpha_1)/(\sum\alpha)^2$.""")
    p, again = implicit_settings_ui()
    try:
        alpha, beta, n, seed = float(p["alpha"]), float(p["beta"]), int(p["n"]), int(p["seed"])
        f, baseline, dname = str(p["f"]), str(p["baseline"]), str(p["dirichlet"])
        dirichlet = DIRICHLETS[dname]
    except (KeyError, TypeError, ValueError):
        st.error("The stored settings are malformed; choose them again and press Run implicit-reparameterization study.")
        return
    if not (A_MIN <= alpha <= A_MAX and A_MIN <= beta <= A_MAX) or f not in GAMMA_FUNCTIONS or n not in NS_IMPLICIT \
            or baseline not in TOY_BASELINES or not 0 <= seed <= 9999:
        st.error(f"These settings cannot be used: α and β must lie between {A_MIN:g} and {A_MAX:g}, f and the "
                 "baseline and n must be among those offered, and the seed between 0 and 9999.")
        return
    if baseline == "leave_one_out":
        st.caption("The leave-one-out baseline needs L ≥ 2 draws per estimate: the score function + baseline is "
                   "shown from L = 4 on.")
    try:
        check_toy_estimators(implicit_draws(n, MC_LIST, len(dirichlet)), "This implicit-reparameterization study")
    except BudgetError as e:
        st.error(f"This study was refused: {safe_md(e)}. Choose fewer estimates n.")
        return
    key = ("implicit", alpha, beta, f, dirichlet, n, baseline, seed)
    t = task_panel(key, f"Implicit-reparameterization study (n = {n:,}, L ∈ {{{', '.join(map(str, MC_LIST))}}}, "
                        f"seed {seed})",
                   lambda: partial(implicit_tables, alpha, beta, f, dirichlet, n, baseline, seed), name="implicit",
                   again=again)
    if t is None:
        return
    g1 = {r["estimator"]: r for r in t["gamma"] if r["L"] == 1}
    ratio = {r["estimator"]: r for r in t["gamma_ratio"] if r["L"] == 1}
    fl = GAMMA_F_LABELS[f]
    st.subheader(f"Gamma(α = {alpha:g}, β = {beta:g}), {fl}")
    c = st.columns(4)
    c[0].metric("Exact d/dα E[f(z)]", f"{t['gamma_exact']:.4f}")
    c[1].metric("Implicit estimate (L = 1)", f"{g1['implicit']['mean']:.3f} ± {g1['implicit']['se']:.3f}",
                help=f"Mean of {n:,} estimates ± its standard error; (mean − exact)/se = {g1['implicit']['z']:+.2f}.")
    c[2].metric("Score-function estimate (L = 1)", f"{g1['score']['mean']:.3f} ± {g1['score']['se']:.3f}",
                help=f"(mean − exact)/se = {g1['score']['z']:+.2f}.")
    c[3].metric("Score / implicit variance (L = 1)", f"{ratio['score']['ratio']:.1f}× ± {ratio['score']['ratio_se']:.1f}",
                help="Variance of one score-function estimate over one implicit estimate, on the same draws.")
    left, right = st.columns(2)
    left.plotly_chart(samples_variance_figure(t["gamma"], "Gamma: variance against samples per estimate"),
                      width="stretch", key="implicit_gamma_variance_chart")
    right.plotly_chart(gamma_means_figure(t["gamma"]), width="stretch", key="implicit_gamma_means_chart")
    st.dataframe(pd.DataFrame(labelled(t["gamma"]))[["estimator", "L", "exact", "mean", "se", "z", "variance",
                                                      "variance_se"]],
                 hide_index=True, width="stretch", key="implicit_gamma_table",
                 column_config={"exact": NUM(format="%.4f"), "mean": NUM(format="%.4f"),
                                "se": NUM("std. error", format="%.4f"), "z": NUM("(mean − exact)/se", format="%.2f"),
                                "variance": NUM("variance", format="%.4g"), "variance_se": NUM("± se", format="%.2g")})
    st.subheader(f"Dirichlet(α = {dname}), f(z) = z₁")
    d1 = {r["estimator"]: r for r in t["dirichlet_ratio"] if r["L"] == 1}
    st.caption(f"Exact gradient ({', '.join(f'{v:.4f}' for v in t['dirichlet_exact'])}). At L = 1 the score function's "
               f"variance (trace of the covariance) is {d1['score']['ratio']:.1f} ± {d1['score']['ratio_se']:.1f} times the "
               "implicit one's on the same draws. Dotted lines fall as 1/L.")
    left, right = st.columns(2)
    left.plotly_chart(samples_variance_figure(t["dirichlet"], "Dirichlet: variance against samples per estimate"),
                      width="stretch", key="implicit_dirichlet_variance_chart")
    right.plotly_chart(variance_ratio_figure(t["gamma_ratio"], t["dirichlet_ratio"]), width="stretch",
                       key="implicit_ratio_chart")
    L = st.selectbox("Dirichlet gradient per coordinate at L =", MC_LIST, key="implicit_coord_L")
    st.dataframe(pd.DataFrame(labelled(t["coords"][L])), hide_index=True, width="stretch",
                 key="implicit_dirichlet_table",
                 column_config={"exact": NUM(format="%.4f"), "mean": NUM(format="%.4f"),
                                "se": NUM("std. error", format="%.4f"), "z": NUM("(mean − exact)/se", format="%.2f")})
    st.caption(f"{n:,} independent estimates per estimator and L, each the mean over L draws; the three estimators "
               f"use the same draws; seed {seed}. Every mean is within a few standard errors of the exact value: all "
               f"three are unbiased, only their variance differs. Computed in {t['seconds']:.2f} s.")
