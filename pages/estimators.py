"""Gradient estimator lab: the reparameterization trick against the score function (REINFORCE),
measured on the current run, on a 1-D example with a known answer, and in training."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ui.cache import job_manager, run_dataset, run_identity
from ui.progress import submit_or_say, task_progress
from ui.state import limits, require_run, runs_root
from ui.text import escape_md, safe_md
from vae.limits import BudgetError, check_estimators
from vae.data import DataError
from ui.figures import agreement_figure, snr_figure, toy_figure, training_comparison_figure, variance_figure
from ui.labels import BASELINE_LABELS, estimator_label, labelled
from ui.relaxed_panels import gumbel_panel, implicit_panel
from vae.analysis.estimators.gradient import gradient_study, pick_batch
from vae.model.objectives import BASELINES, ESTIMATORS
from vae.analysis.estimators.toy import toy_estimates
from vae.training.estimators import CompareConfig, comparison_runs, curve_rows, curves_from_runs
from vae.runs.folder import CheckpointError
from vae.jobs.training import JobError, prepare_run
from vae.jobs.background import shared_queue

SETTINGS_KEY = "estimators_settings"  # the lab settings last submitted (per user)
TRAIN_KEY = "estimators_comparison"  # {"plan": file, "runs": {estimator: run folder name}} of this session's comparison
LAB_SEED = 0  # fixed: a seed knob would only multiply cached studies
BATCHES, ESTIMATES, MCS = [8, 16, 32, 64, 128], [20, 50, 100, 200, 400], [1, 2, 4, 8, 16, 32, 64]

run = require_run()
splits = run_dataset(run)
N_PARAMS = sum(p.numel() for p in run.model.parameters())  # the lab's budget scales with these
N_PHI = sum(p.numel() for p in run.model.encoder_parameters())

st.title("Gradient estimators")
st.caption("Why VAEs use the reparameterization trick: measure the variance of the score-function (REINFORCE) "
           f"estimator against it on run **{run.name}**.")
with st.expander("What is estimated", expanded=False):
    st.markdown(r"""
Every estimator targets the gradient of the batch-mean ELBO with respect to the **encoder** parameters φ:
$g = \nabla_\phi \frac1B\sum_b \big(\mathbb E_{q_\phi(z|x_b)}[\log p_\theta(x_b|z)] - \mathrm{KL}(q_\phi(z|x_b)\,\|\,p(z))\big)$.
The KL is analytic and its gradient is added identically to all three, so they differ only in how they
estimate $\nabla_\phi \mathbb E_q[f(z)]$, $f(z)=\log p_\theta(x|z)$, from $L$ samples:

- **reparameterization**: $\frac1L\sum_l \nabla_\phi f(\mu_\phi + \sigma_\phi\odot\varepsilon_l)$, $\varepsilon_l\sim\mathcal N(0,I)$;
- **score function**: $\frac1L\sum_l f(z_l)\,\nabla_\phi \log q_\phi(z_l|x)$, unbiased because $\mathbb E_q[\nabla_\phi\log q_\phi]=0$;
- **score function + baseline**: $\frac1L\sum_l (f(z_l)-b)\,\nabla_\phi \log q_\phi(z_l|x)$, with a control variate $b$
  that does not depend on $z_l$, so the mean is unchanged.

Variance is the trace of the covariance of one estimate, $\mathrm{tr}\,\mathrm{Cov}[\hat g]$, estimated from $K$
independent estimates on the same batch. SNR is $\|g\| / \sqrt{\mathrm{tr}\,\mathrm{Cov}[\hat g]}$, with
$\|g\|^2$ estimated without bias as $\|\bar g\|^2 - \mathrm{tr}\,\mathrm{Cov}/K$.
""")

# Lazy tabs: only the open tab's content runs on a rerun.
tab_model, tab_toy, tab_train, tab_gumbel, tab_implicit = st.tabs(
    ["Your model", "1-D worked example", "Training comparison", "Gumbel-softmax", "Implicit reparameterization"],
    key="est_tab", on_change="rerun")


# ------------------------------------------------------------------ your model

def _fits(batch: int, k: int, mc: tuple[int, ...]) -> bool:
    try:
        check_estimators(N_PARAMS, N_PHI, batch, k, mc, len(ESTIMATORS))
        return True
    except BudgetError:
        return False


def settings_ui() -> dict | None:
    """The lab's settings, as submitted; None until the user presses Run. Each widget offers only
    values that fit the server's budget with the other settings at their smallest."""
    ks = [k for k in ESTIMATES if _fits(BATCHES[0], k, (MCS[0],))]
    batches = [b for b in BATCHES if _fits(b, ESTIMATES[0], (MCS[0],))]
    mcs = [L for L in MCS if _fits(BATCHES[0], ESTIMATES[0], (L,))]
    if not (ks and batches and mcs):
        try:
            check_estimators(N_PARAMS, N_PHI, BATCHES[0], ESTIMATES[0], (MCS[0],), len(ESTIMATORS))
        except BudgetError as e:
            st.error(f"Run **{safe_md(run.name)}** is too large for the gradient lab on this server: {safe_md(e)}.")
        return None
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
        if st.form_submit_button("Run comparison", type="primary", icon=":material/play_arrow:"):
            st.session_state[SETTINGS_KEY] = {"batch_size": int(batch), "n_estimates": int(k),
                                              "mc_list": tuple(sorted(mc)), "baseline": baseline}
            st.session_state["estimators_submitted"] = True
    return st.session_state.get(SETTINGS_KEY)


def _lab_args(settings: dict) -> tuple[int, int, tuple[int, ...], str]:
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


def study_tables(model, x_test, batch_size: int, n_estimates: int, mc_list: tuple[int, ...], baseline: str,
                 progress, should_stop) -> dict:
    """Everything the lab shows for one setting, as plain rows (run on the server's work queue)."""
    x = pick_batch(x_test, batch_size, LAB_SEED)
    s = gradient_study(model, x, mc_list, n_estimates, ESTIMATORS, baseline, LAB_SEED,
                       on_progress=lambda f, what: progress(f, f"drawing {n_estimates} estimates: {what}"))
    return {"variance": s.variance_rows(), "agreement": s.agreement_rows(), "batch": s.batch_size,
            "n_params": sum(s.sizes), "tensors": {L: s.tensor_rows(L) for L in mc_list}}



def model_tab() -> None:
    settings = settings_ui()
    if settings is None:
        st.info("Choose the settings and press **Run comparison** to draw the gradient estimates.")
        return
    try:
        batch, k, mc, baseline = _lab_args(settings)
    except ValueError as e:
        st.error(f"These settings cannot be used: {safe_md(e)}")
        return
    if not mc:
        st.warning("Choose at least one number of Monte-Carlo samples L.")
        return
    if baseline == "leave_one_out" and 1 in mc:
        st.error("The leave-one-out baseline needs L ≥ 2 samples per image: remove L = 1 or choose the "
                 "posterior-mean baseline.")
        return
    try:
        check_estimators(N_PARAMS, N_PHI, min(batch, len(splits.test.x)), k, mc, len(ESTIMATORS))
    except BudgetError as e:
        st.error(f"This comparison was refused: {safe_md(e)}. Choose a smaller B, K or fewer/smaller L.")
        return
    n_test = len(splits.test.x)
    if batch > n_test:
        st.warning(f"The test split has only {n_test} images; the batch uses all of them.")
    key = ("gradient-lab", run_identity(run), batch, k, mc, baseline)
    model, x_test = run.model, splits.test.x
    again = st.session_state.pop("estimators_submitted", False)  # a click retries a failed run
    task = shared_queue().get(key)
    if task is None or (again and task.state in ("failed", "stopped")):
        task = submit_or_say(key, lambda progress, should_stop: study_tables(model, x_test, batch, k, mc, baseline,
                                                                       progress, should_stop))
        if task is None:
            return
    if not task.done:
        task_progress(key, f"Gradient estimates (B = {batch}, K = {k}, L ∈ {{{', '.join(map(str, mc))}}})")
        return
    if task.error:
        st.error(f"The estimates could not be computed: {safe_md(task.error)}")
        return
    t = task.result
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
        tens = pd.DataFrame(labelled(t["tensors"][L])).pivot(index=["tensor", "size"], columns="estimator", values="trace_var")
        st.dataframe(tens.reset_index(), hide_index=True, width="stretch")


# ------------------------------------------------------------------ 1-D example

def toy_ui() -> dict:
    c = st.columns(5)
    return {"mu": c[0].slider("μ", -3.0, 3.0, 1.0, 0.1), "sigma": c[1].slider("σ", 0.1, 3.0, 0.5, 0.1),
            "t": c[2].slider("target t", -3.0, 3.0, 0.0, 0.1),
            "mc_samples": c[3].select_slider("L", [1, 2, 4, 16, 64], value=1, key="toy_L"),
            "n": c[4].select_slider("estimates", [500, 2000, 10000], value=2000, key="toy_n")}


@st.cache_data(max_entries=32, show_spinner=False)
def toy_tables(mu: float, sigma: float, t: float, mc_samples: int, n: int) -> dict:
    r = toy_estimates(mu, sigma, t, mc_samples, n)
    return {"truth": r.truth, "rows": r.rows(),
            "samples": {k: v.numpy() for k, v in r.estimates.items()}}


def toy_tab() -> None:
    st.markdown(r"$f(z) = (z-t)^2$ under $z\sim\mathcal N(\mu,\sigma^2)$: $\mathbb E[f] = (\mu-t)^2+\sigma^2$, "
                r"so the true gradient is $(2(\mu-t),\ 2\sigma)$. Each histogram holds independent estimates from "
                r"$L$ draws; the baseline is $b = f(\mu) = (\mu-t)^2$.")
    p = toy_ui()
    t = toy_tables(**p)
    st.plotly_chart(toy_figure(t["truth"], t["samples"]), width="stretch", key="toy_chart")
    rows = pd.DataFrame(labelled(t["rows"]))
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={"true": st.column_config.NumberColumn(format="%.3f"),
                                "mean": st.column_config.NumberColumn(format="%.3f"),
                                "se": st.column_config.NumberColumn("std. error", format="%.3f"),
                                "variance": st.column_config.NumberColumn(format="%.3f"),
                                "z": st.column_config.NumberColumn("(mean − true)/se", format="%.2f")})
    st.caption("Both estimators are unbiased: |mean − true| stays within a few standard errors. Only the spread differs.")


# ------------------------------------------------------------------ training comparison
# One ordinary run per estimator, trained one after another by the server's job manager (the
# same `python -m vae.train … --estimator=…` command a user can type); the curves are read back
# from the run folders, which stay in the run picker to be explored like any other run.

def train_ui() -> CompareConfig | None:
    with st.form("estimator_training", border=True):
        c = st.columns(4)
        epochs = c[0].slider("Epochs", 2, 30, 8, help="Passes over the 1,437 digits training images, per estimator.")
        lr = c[1].select_slider("Learning rate", [5e-4, 1e-3, 2e-3, 5e-3], value=2e-3)
        mc = c[2].select_slider("L", [1, 2, 4, 8], value=1, key="train_L")
        baseline = c[3].selectbox("Baseline b", BASELINES, format_func=BASELINE_LABELS.get, key="train_baseline")
        if st.form_submit_button("Run training comparison", type="primary", icon=":material/play_arrow:"):
            if baseline == "leave_one_out" and mc < 2:
                st.error("The leave-one-out baseline needs L ≥ 2.")
                return None
            return CompareConfig(epochs=int(epochs), lr=float(lr), mc_samples=int(mc), baseline=baseline)
    return None


def start_comparison(cfg: CompareConfig) -> None:
    """Queue the three runs as one job; remember which run folder trains which estimator."""
    manager = job_manager(str(runs_root()))
    try:
        runs = [(name, prepare_run(run, limits())) for name, run in comparison_runs(cfg)]
        job = manager.start_plan("estimators", runs)
    except (JobError, CheckpointError) as e:
        st.error(safe_md(e, 600))
        return
    st.session_state[TRAIN_KEY] = {"plan": job.plan, "runs": {est: Path(d).name for est, d in
                                                             zip(cfg.estimators, job.run_dirs())}}


def _comparison_runs() -> tuple[str, dict[str, Path]] | None:
    """(plan file, {estimator: run folder}) of this session's comparison, or None."""
    stored = st.session_state.get(TRAIN_KEY)
    if not (isinstance(stored, dict) and isinstance(stored.get("runs"), dict)):
        return None
    root = runs_root()
    return stored.get("plan"), {est: root / name for est, name in stored["runs"].items()
                                if est in ESTIMATORS and isinstance(name, str)}


def comparison_view() -> None:
    """The curves so far, and the job's progress while it trains (this part reruns every second then)."""
    found = _comparison_runs()
    if found is None:
        st.info("Press **Run training comparison** to train one model per estimator (seconds to a minute).")
        return
    plan, runs = found
    manager = job_manager(str(runs_root()))
    job = manager.current()
    ours = job is not None and job.plan == plan
    if ours and job.returncode is None:
        s = job.summary()
        p = s.get("plan", {})
        est = list(runs)[min(p.get("index", 0), len(runs) - 1)]
        done = p.get("index", 0) * max(1, s["epochs"]) + s["epoch"]
        st.progress(min(1.0, done / max(1, p.get("total", 1) * s["epochs"])),
                    text=f"Training with the {estimator_label(est)} estimator: run {p.get('index', 0) + 1} of "
                         f"{p.get('total', 1)}, epoch {s['epoch']} of {s['epochs']}")
        if st.button("Stop the comparison", icon=":material/stop:"):
            manager.stop()
    states = {r["name"]: r["state"] for r in (job.plan_state().get("runs", []) if ours else [])}
    curves = curves_from_runs({est: d for est, d in runs.items() if d.is_dir()},
                              {est: states.get(d.name, "finished") for est, d in runs.items()})
    for c in curves:
        if c.state in ("failed", "stopped", "cancelled", "diverged"):
            st.warning(f"{estimator_label(c.estimator)}: the run {c.state}.")
    rows = curve_rows(curves)
    if not rows:
        if not (ours and job.returncode is None):
            st.info("That comparison left no runs (deleted, or stopped before its first epoch); "
                    "press **Run training comparison** to start it again.")
        return
    df = pd.DataFrame(rows)
    st.plotly_chart(training_comparison_figure(rows), width="stretch", key="training_chart")
    final = df.sort_values("epoch").groupby("estimator").last()["test_elbo"]
    st.caption(("Latest" if ours and job.returncode is None else "Final") + " test ELBO: " + ", ".join(f"{estimator_label(k)} {v:.2f}" for k, v in final.items())
               + " nats. Each run is in the run picker: " + ", ".join(escape_md(d.name) for d in runs.values()) + ".")


def train_tab() -> None:
    st.markdown("The same MLP VAE (D = 10) on **digits**, from the same initial weights and batches, trained with "
                "each estimator for the encoder φ; the decoder θ always gets its ordinary gradient. Each is an "
                "ordinary run of the trainer (`--estimator=…`), queued on this server's one training job. "
                "Curves show the test ELBO after each epoch (nats per image, higher is better).")
    cfg = train_ui()
    if cfg is not None:
        start_comparison(cfg)
    found = _comparison_runs()
    job = job_manager(str(runs_root())).active()
    running = found is not None and job is not None and job.plan == found[0]
    st.fragment(run_every=1.0 if running else None)(comparison_view)()


if tab_model.open:
    with tab_model:
        model_tab()
if tab_toy.open:
    with tab_toy:
        toy_tab()
if tab_train.open:
    with tab_train:
        try:
            train_tab()
        except DataError as e:
            st.error(f"The digits dataset cannot be loaded: {safe_md(e)}")
if tab_gumbel.open:
    with tab_gumbel:
        gumbel_panel()
if tab_implicit.open:
    with tab_implicit:
        implicit_panel()
