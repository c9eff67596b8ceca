"""The Gradient estimators page's "Your model" tab: the gradient lab's settings form (offering only
what fits the server's budget for this run), the settings checked, the study (``gradient_study``)
as a task on the server's background queue (``ui.tasks``: progress, shared by key; the form's
submit starts a failed or stopped one again), and the result's metrics, charts and tables."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from ui.cache import run_identity
from ui.estimators.figures import agreement_figure, snr_figure, variance_figure
from ui.labels import BASELINE_LABELS, estimator_label, labelled
from ui.tasks import task_panel
from ui.text import safe_md
from vae.analysis.estimators.gradient import gradient_study, pick_batch
from vae.limits import BudgetError, check_estimators
from vae.model.objectives import BASELINES, ESTIMATORS
from vae.runs.folder import Run

SETTINGS_KEY = "estimators_settings"  # the lab settings last submitted (per user)
LAB_SEED = 0  # fixed: a seed knob would only multiply cached studies
BATCHES, ESTIMATES, MCS = [8, 16, 32, 64, 128], [20, 50, 100, 200, 400], [1, 2, 4, 8, 16, 32, 64]
Lab = tuple[int, int, tuple[int, ...], str]  # (B, K, L's, baseline)


def sizes(run: Run) -> tuple[int, int]:
    """(all parameters, encoder parameters φ): the lab's budget scales with these."""
    return sum(p.numel() for p in run.model.parameters()), sum(p.numel() for p in run.model.encoder_parameters())


def _fits(size: tuple[int, int], batch: int, k: int, mc: tuple[int, ...]) -> bool:
    try:
        check_estimators(*size, batch, k, mc, len(ESTIMATORS))
        return True
    except BudgetError:
        return False


def settings_ui(run: Run) -> tuple[dict | None, bool]:
    """The lab's settings, as submitted (None until the user presses Run), and whether the form was
    submitted in this run. Each widget offers only values that fit the server's budget with the
    other settings at their smallest."""
    size = sizes(run)
    ks = [k for k in ESTIMATES if _fits(size, BATCHES[0], k, (MCS[0],))]
    batches = [b for b in BATCHES if _fits(size, b, ESTIMATES[0], (MCS[0],))]
    mcs = [L for L in MCS if _fits(size, BATCHES[0], ESTIMATES[0], (L,))]
    if not (ks and batches and mcs):
        try:
            check_estimators(*size, BATCHES[0], ESTIMATES[0], (MCS[0],), len(ESTIMATORS))
        except BudgetError as e:
            st.error(f"Run **{safe_md(run.name)}** is too large for the gradient lab on this server: {safe_md(e)}.")
        return None, False
    with st.form("estimator_settings", border=True):
        c = st.columns([1, 1, 2, 2])
        batch = c[0].select_slider("Batch size B", batches, value=32 if 32 in batches else batches[-1],
                                   help="Test images in the batch whose gradient is estimated.")
        k = c[1].select_slider("Estimates K", ks, value=100 if 100 in ks else ks[-1],
                               help="Independent gradient estimates per estimator and L.")
        mc = c[2].multiselect("Monte-Carlo samples L", mcs, default=[L for L in (1, 4, 16) if L in mcs],
                              help="Samples of z per image in one estimate. Large L·K·B takes longer; this "
                                   "server refuses a study whose work (parameters × K × B × Σ(L + 1) × 3) exceeds "
                                   "its budget (VAE_MAX_ESTIMATOR_WORK).")
        baseline = c[3].selectbox("Baseline b", BASELINES, format_func=BASELINE_LABELS.get,
                                  help="The control variate of the third estimator.")
        submitted = st.form_submit_button("Run comparison", type="primary", icon=":material/play_arrow:")
        if submitted:
            st.session_state[SETTINGS_KEY] = {"batch_size": int(batch), "n_estimates": int(k),
                                              "mc_list": tuple(sorted(mc)), "baseline": baseline}
    return st.session_state.get(SETTINGS_KEY), submitted


def _lab_args(settings: dict) -> Lab:
    """(B, K, L's, baseline) from stored settings, which may have come from anywhere: ValueError if malformed."""
    try:
        batch, k = int(settings["batch_size"]), int(settings["n_estimates"])
        mc = tuple(sorted({int(L) for L in settings["mc_list"]}))
        baseline = str(settings["baseline"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("the stored settings are malformed; choose them again and press Run comparison") from None
    if batch < 1 or k < 2 or any(L < 1 for L in mc):
        raise ValueError("B, K and every L must be positive (and K at least 2)")
    return batch, k, mc, baseline


def checked(run: Run, settings: dict, n_test: int) -> Lab | None:
    """The settings as (B, K, L's, baseline) once they can be used on this run; None after saying why not."""
    try:
        batch, k, mc, baseline = _lab_args(settings)
    except ValueError as e:
        st.error(f"These settings cannot be used: {safe_md(e)}")
        return None
    if not mc:
        st.warning("Choose at least one number of Monte-Carlo samples L.")
        return None
    if baseline == "leave_one_out" and 1 in mc:
        st.error("The leave-one-out baseline needs L ≥ 2 samples per image: remove L = 1 or choose the "
                 "posterior-mean baseline.")
        return None
    try:
        check_estimators(*sizes(run), min(batch, n_test), k, mc, len(ESTIMATORS))
    except BudgetError as e:
        st.error(f"This comparison was refused: {safe_md(e)}. Choose a smaller B, K or fewer/smaller L.")
        return None
    if batch > n_test:
        st.warning(f"The test split has only {n_test} images; the batch uses all of them.")
    return batch, k, mc, baseline


def study_tables(model, x_test, batch_size: int, n_estimates: int, mc_list: tuple[int, ...], baseline: str,
                 progress, should_stop) -> dict:
    """Everything the lab shows for one setting, as plain rows (run on the server's work queue)."""
    x = pick_batch(x_test, batch_size, LAB_SEED)
    s = gradient_study(model, x, mc_list, n_estimates, ESTIMATORS, baseline, LAB_SEED,
                       on_progress=lambda f, what: progress(f, f"drawing {n_estimates} estimates: {what}"))
    return {"variance": s.variance_rows(), "agreement": s.agreement_rows(), "batch": s.batch_size,
            "n_params": sum(s.sizes), "tensors": {L: s.tensor_rows(L) for L in mc_list}}


def lab_panel(run: Run, x_test, lab: Lab, again: bool) -> dict | None:
    """The study's tables once computed; None before then, after drawing where its task stands.
    ``again``: the form was just submitted, so a failed or stopped study starts again."""
    batch, k, mc, baseline = lab
    key = ("gradient-lab", run_identity(run), batch, k, mc, baseline)
    return task_panel(key, f"Gradient estimates (B = {batch}, K = {k}, L ∈ {{{', '.join(map(str, mc))}}})",
                      lambda: partial(study_tables, run.model, x_test, batch, k, mc, baseline), name="est_lab",
                      stop=None, again=again)  # gradient_study cannot stop part-way


def lab_view(t: dict, lab: Lab) -> None:
    """The study's headline numbers, variance and SNR against L, the agreement of the means, and the tables."""
    _, k, mc, _ = lab
    var = t["variance"]
    lmin = min(mc)
    at = {estimator_label(r["estimator"]): r for r in var if r["L"] == lmin}
    c = st.columns(4)
    c[0].metric("Encoder parameters φ", f"{t['n_params']:,}")
    c[1].metric(f"Score / reparam variance (L = {lmin})", f"{at[estimator_label('score')]['var_ratio']:,.0f}×",
                help="tr Cov of the score-function estimate over tr Cov of the reparameterized one.")
    c[2].metric(f"Baseline / reparam variance (L = {lmin})", f"{at[estimator_label('score_baseline')]['var_ratio']:,.1f}×")
    c[3].metric(f"Time for K reparam estimates (L = {lmin})", f"{at[estimator_label('reparam')]['seconds']:.2f} s")
    st.caption(f"{k} independent estimates of g per estimator and L, on one batch of "
               f"{t['batch']} test images. Dotted lines fall as 1/L: averaging L independent samples divides the "
               "variance by L.")
    left, right = st.columns(2)
    left.plotly_chart(variance_figure(var), width="stretch", key="variance_chart")
    right.plotly_chart(snr_figure(var), width="stretch", key="snr_chart")
    st.subheader("Do the means agree?")
    st.caption("All three estimators are unbiased for the same g, so their means differ only by noise. Points "
               "show the observed value ± 2 bootstrap standard errors; the bar marks the value noise alone would "
               "give if the means were equal (with finite K even identical means have cosine < 1). 'Noise ratio' "
               "is ‖ḡ_a − ḡ_b‖² / ((tr Σ_a + tr Σ_b)/K): about 1 when the means agree within their standard errors.")
    st.plotly_chart(agreement_figure(t["agreement"]), width="stretch", key="agreement_chart")
    agree = pd.DataFrame(labelled(t["agreement"]))[["pair", "L", "cosine", "cosine_se", "rel_diff", "rel_diff_se",
                                                    "noise_ratio"]]
    st.dataframe(agree, hide_index=True, width="stretch",
                 column_config={"cosine_se": st.column_config.NumberColumn("± se", format="%.3f"),
                                "rel_diff": st.column_config.NumberColumn("relative difference", format="%.3f"),
                                "rel_diff_se": st.column_config.NumberColumn("± se", format="%.3f"),
                                "cosine": st.column_config.NumberColumn(format="%.3f"),
                                "noise_ratio": st.column_config.NumberColumn(
                                    "noise ratio", format="%.2f", help="≈ 1 when the means agree")})
    with st.expander("Variance and SNR per estimator, per L and per parameter tensor"):
        st.dataframe(pd.DataFrame(labelled(var)), hide_index=True, width="stretch",
                     column_config={"trace_var": st.column_config.NumberColumn("tr Cov", format="%.4g"),
                                    "snr": st.column_config.NumberColumn("SNR", format="%.3f"),
                                    "var_ratio": st.column_config.NumberColumn("variance / reparam", format="%.1f"),
                                    "seconds": st.column_config.NumberColumn("seconds", format="%.2f")})
        L = st.selectbox("Per tensor at L =", mc, key="estimators_tensor_L")
        tens = pd.DataFrame(labelled(t["tensors"][L])).pivot(index=["tensor", "size"], columns="estimator",
                                                             values="trace_var")
        st.dataframe(tens.reset_index(), hide_index=True, width="stretch")
