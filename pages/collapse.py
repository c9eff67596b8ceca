"""Collapse diagnostics: which latent dimensions carry information, which collapsed onto the prior, and why."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from ui import posterior_view
from ui.components.svg_chart import clicked, svg_chart
from ui.figures import heatmap, kl_epoch_heatmap, profile_bars
from ui.prior_view import collapse_note
from ui.cache import (encode_split, load_run_at, precompute_task, run_dataset, run_evaluation, run_identity,
                      stored_precompute)
from ui.progress import task_progress
from ui.state import DIM_KEY, available_runs, require_run, select_run
from ui.svg_charts import verdict_bars_svg
from ui.text import escape_md, safe_md
from vae.limits import BudgetError, check_collapse
from vae.runs.folder import CheckpointError, Run
from vae.analysis.collapse import (AU_THRESHOLD, DELTA, KL_THRESHOLD, MI_CEILING_MARGIN, MI_SE_MULTIPLE,
    MI_THRESHOLD, N_ANCHORS, N_MIXTURE, SENS_FLOOR, SENS_REL, CollapseReport, MixtureEstimates,
    PosteriorSummary, assemble_report, mi_replicates, mi_status, mixture_estimates,
    mixture_points, posterior_histograms, posterior_summary, profile, sensitivity_threshold,
    sensitivity_with_se, sort_order, summary, verdicts)
from vae.analysis.kl_history import kl_history, wake_and_death
from vae.cache.precompute import MIX_SEED, SENS_SEED

if TYPE_CHECKING:
    from vae.analysis.disentanglement import MIGResult

PENDING = "_collapse_open_dim"  # a dimension clicked in a chart, opened on the next run of this page
STATS = {  # name -> (chart title, y-axis label, collapse threshold or None where computed per report, plain words)
    "kl": ("Mean KL per dimension", "E_x KL(q(z_d|x) ‖ N(0,1))  [nats]", KL_THRESHOLD,
           "How far each image's posterior on z_d moves from the prior N(0, 1), in nats: what the encoder pays to "
           "write into z_d. Zero means z_d is the prior for every image."),
    "activity": ("Active-unit statistic", "A_d = Var_x(E_q[z_d])", None,
                 "How much the posterior mean of z_d changes from one image to the next. Near zero, every image "
                 "gets the same z_d, so z_d cannot tell images apart."),
    "mi": ("Mutual information per dimension", "I_q(x; z_d)  [nats]", MI_THRESHOLD,
           "How much a draw of z_d tells you about which image it came from, in nats; zero means nothing. "
           "A Monte-Carlo estimate: error bars are ±2 standard errors."),
    "sensitivity": ("Decoder sensitivity", "mean |ΔE[x|z]| per pixel", None,
                    "How much the decoded image changes (mean per pixel, on a 0 to 1 scale) when z_d alone moves by "
                    "±δ. Near zero, the decoder ignores z_d."),
}
SORT_LABELS = {"kl": "KL", "activity": "A_d", "mi": "MI", "sensitivity": "sensitivity", "index": "dimension"}


# ---------------------------------------------------------------- cached compute (vae does the math)

# Each stage is cached on its own, so a change of one setting recomputes only what depends on it,
# and the page can show what is ready while the next stage runs. A spinner naming the stage
# appears when a stage takes more than half a second, that is, only when it is computed.

def mixture_for(run: Run, key: tuple[str, float], n_mixture: int) -> MixtureEstimates:
    """The run's stored estimates at the default settings (its precompute), else computed now (cached)."""
    pre = stored_precompute(run)
    if pre is not None and pre.mixture.n_mixture == mixture_points(len(pre.encodings["test"][0]), n_mixture):
        return pre.mixture
    return _mixture_now(run, key, n_mixture)


@st.cache_data(max_entries=8, show_spinner=False)
def _mixture_now(_run: Run, key: tuple[str, float], n_mixture: int) -> MixtureEstimates:
    mu, logvar = encode_split(_run, key, "test")
    return mixture_estimates(mu, logvar, n_mixture, seed=MIX_SEED)


def sensitivity_for(run: Run, key: tuple[str, float], delta: float) -> tuple[np.ndarray, np.ndarray, int]:
    pre = stored_precompute(run)
    if pre is not None and pre.sensitivity is not None and delta == DELTA:
        return pre.sensitivity
    return _sensitivity_now(run, key, delta)


@st.cache_data(max_entries=8, show_spinner=False)
def _sensitivity_now(_run: Run, key: tuple[str, float], delta: float) -> tuple[np.ndarray, np.ndarray, int]:
    mu, _ = encode_split(_run, key, "test")
    return sensitivity_with_se(_run.model, mu, delta, N_ANCHORS, seed=SENS_SEED)  # diagnose()'s seeds: 0, 0 + 1


def elbo_for(run: Run) -> tuple[float, float, float, float]:
    """The run's one stored evaluation (the ELBO Home shows): (rec, rec s.e., ELBO, ELBO s.e.)."""
    return run_evaluation(run).stats()


@st.cache_data(max_entries=8, show_spinner=False)
def posterior_for(_run: Run, key: tuple[str, float]) -> PosteriorSummary:
    mu, logvar = encode_split(_run, key, "test")  # its own spinner, "Encoding the dataset…", when computed
    return posterior_summary(mu, logvar)


def stage_texts(run: Run, n_points: int, n_mixture: int, delta: float) -> dict[str, str]:
    """What each slow stage computes, for its spinner."""
    m = mixture_points(n_points, n_mixture)
    reps = mi_replicates(m)
    anchors = min(N_ANCHORS, n_points)
    return {"mixture": f"Mutual information and KL(q(z) ‖ p(z)): {reps} subsamples of {m:,} test images…",
            "sensitivity": f"Decoder sensitivity: {anchors:,} test images, each of the {run.model.latent_dim} "
                           f"dimensions moved by ±{delta:g}…",
            "elbo": f"Reconstruction and ELBO over {n_points:,} test images…"}


def report_stages(run: Run, key: tuple[str, float], n_mixture: int, delta: float,
                  post: PosteriorSummary | None = None) -> CollapseReport:
    """The whole report, stage by stage, each under a spinner that names it."""
    post = post if post is not None else posterior_for(run, key)
    texts = stage_texts(run, post.n_points, n_mixture, delta)
    with st.spinner(texts["mixture"]):
        mix = mixture_for(run, key, n_mixture)
    with st.spinner(texts["sensitivity"]):
        sens = sensitivity_for(run, key, delta)
    with st.spinner(texts["elbo"]):
        el = elbo_for(run)
    return assemble_report(post, mix, delta, sens, el)


def wait_for_precompute(run: Run, n_points: int, m: int, delta: float) -> None:
    """At the default settings the run's precompute computes exactly this report: while its background
    job runs, show that job's progress (the page reruns when it is done) instead of computing the same
    numbers twice."""
    if delta != DELTA or mixture_points(n_points, m) != mixture_points(n_points, N_MIXTURE):
        return
    if stored_precompute(run) is not None:
        return
    task = precompute_task(run)
    if task is None or task.done:
        return
    task_progress(task.key, "Diagnosing this run once (kept in its folder for every later visit)")
    st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def mig_for(_run: Run, key: tuple[str, float]) -> "MIGResult | None":
    from vae.analysis.disentanglement import mig# here: scikit-learn costs the page's first visit seconds

    test = run_dataset(_run).test
    if test.factors is None or _run.model.latent_dim < 2:
        return None
    mu, _ = encode_split(_run, key, "test")
    return mig(mu, test.factors.numpy(), test.factor_names)


# ---------------------------------------------------------------- widgets

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
        _open_traversal(int(d))


def _on_bar_click(key: str, latent_dim: int) -> None:
    d = clicked(key, latent_dim)
    if d is not None:
        st.session_state[PENDING] = d


def _open_traversal(d: int) -> None:
    st.session_state[DIM_KEY] = d
    st.switch_page("pages/traversals.py")


def bar_chart(report: CollapseReport, stat: str, order: np.ndarray, labels: list[str], threshold: float) -> str:
    """One statistic's bars (SVG: the page opens without plotly); MI, which has a standard error,
    gets ±2 s.e. error bars."""
    title, ylabel, _, _ = STATS[stat]
    return verdict_bars_svg(report.stat(stat), order, labels, threshold, title, ylabel,
                            se=report.stat_se(stat) if stat == "mi" else None, se_multiple=MI_SE_MULTIPLE)


# ---------------------------------------------------------------- sections

def _pm(value: float | None, se: float | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None and np.isfinite(se) else "")


def summary_head(post: PosteriorSummary, au: float) -> list:
    """The metrics that need only the encoded test set, shown at once; returns the columns
    the Monte-Carlo metrics fill once their stages are done."""
    cols = st.columns(6)
    n_active = int((post.activity > au).sum())
    cols[0].metric("Active units", f"{n_active} of {len(post.kl)}", help=f"A_d > {au:g}. Exact: no Monte Carlo.")
    cols[1].metric("E_x KL (nats)", f"{float(post.kl.sum()):.3f}",
                   help="Σ_d of the per-dimension mean KL, in closed form: no Monte Carlo.")
    return cols[2:]


def summary_section(report: CollapseReport, cols: list) -> None:
    ceiling = report.mi_ceiling
    se = f"± {report.mi_total_se:.3f} (one Monte-Carlo standard error, {report.replicates} replicates)"
    cols[0].metric("I_q(x; z) (nats)", f"{report.mi_total:.3f}",
                   help=f"He et al. 2019 estimator, {se}. On M = {report.n_mixture:,} points it cannot exceed "
                        f"log M = {ceiling:.3f} nats.")
    cols[1].metric("KL(q(z) ‖ p(z)) (nats)", f"{report.marginal_kl_total:.3f}",
                   help="How far the aggregate posterior q(z) = E_x q(z|x) is from the prior N(0, I), "
                        f"± {report.marginal_kl_total_se:.3f}.")
    if report.elbo is not None:
        cols[2].metric("ELBO (nats)", f"{report.elbo:.2f}",
                       help=f"Per test image: reconstruction − KL, ± {report.elbo_se:.2f} over the test images.")
        cols[3].metric("Rec. (nats)", f"{report.rec:.2f}",
                       help="Reconstruction E_q[log p(x|z)] per test image, one sample of z, "
                            f"± {report.rec_se:.2f} over the test images.")
    st.markdown(
        f"**ELBO = reconstruction − KL:** {_pm(report.elbo, report.elbo_se, 2)} = {_pm(report.rec, report.rec_se, 2)} "
        f"− {report.kl_total:.3f}  \n"
        f"**E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z)):** {report.kl_total:.3f} ≈ "
        f"{_pm(report.mi_total, report.mi_total_se, 3)} + {_pm(report.marginal_kl_total, report.marginal_kl_total_se, 3)}"
        f" (residual {report.identity_residual:+.3f})")
    mix = (f"{report.replicates} subsamples of M = {report.n_mixture:,} posteriors" if report.n_mixture < report.n_points
           else f"all M = {report.n_mixture:,} posteriors, {report.replicates} draws of z per image")
    st.caption(f"Over the {report.n_points:,} test images; ± is one Monte-Carlo standard error. I_q(x; z) and "
               f"KL(q(z) ‖ p(z)) share the mixture q(z) = (1/M) Σ_j q(z|x_j) of {mix} (so the residual is the "
               f"error of E log p(z) alone), and on M points I_q(x; z) ≤ log M = {ceiling:.3f} nats.")
    if report.mi_at_ceiling():
        st.warning(f"I_q(x; z) = {report.mi_total:.3f} nats is within {MI_CEILING_MARGIN:g} nats of log M = "
                   f"{ceiling:.3f}: at the estimator's ceiling, more points are needed (raise the points under "
                   "Estimation settings, or evaluate on a larger test split). The true value may be higher.",
                   icon=":material/vertical_align_top:")


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
                          on_click=lambda k=key: _on_bar_click(k, report.latent_dim))
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


def posterior_section(run: Run) -> None:
    mu, logvar = encode_split(run, run_identity(run), "test")
    h = posterior_histograms(mu, logvar)
    dims = [f"z{d}" for d in range(mu.shape[1])]
    st.caption("Each row is the distribution over test images of a dimension's posterior mean μ_d(x) or standard "
               "deviation σ_d(x). A collapsed dimension sits at μ_d = 0 and σ_d = 1 (the prior) for every x.")
    c1, c2 = st.columns(2)
    c1.plotly_chart(heatmap(h.mu_density, (h.mu_edges[:-1] + h.mu_edges[1:]) / 2, dims, "Histogram of μ_d(x)",
                            "μ_d", "fraction"), width="stretch")
    c2.plotly_chart(heatmap(h.sigma_density, (h.sigma_edges[:-1] + h.sigma_edges[1:]) / 2, dims,
                            "Histogram of σ_d(x)", "σ_d", "fraction"), width="stretch")


def history_section(run: Run) -> None:
    h = kl_history(run.history, run.model.latent_dim)
    if h is None:
        st.info("This run has no per-dimension KL in its history (history.jsonl is missing or has no "
                "'kl_per_dim'), so there is nothing to plot over epochs.")
        return
    st.caption("Test KL per dimension after each epoch, on a log scale: when each dimension woke up or died.")
    st.plotly_chart(kl_epoch_heatmap(h), width="stretch")
    events = wake_and_death(h, KL_THRESHOLD)
    groups = {"active": [], "died": [], "never active": []}
    for e in events:
        groups[e["state"]].append(f"z{e['dim']}" + (f" (epoch {e['epoch']})" if e["epoch"] is not None else ""))
    st.markdown(f"With KL ≥ {KL_THRESHOLD:g} nats as *awake*:  \n"
                f"**Woke and stayed awake:** {', '.join(groups['active']) or 'none'}  \n"
                f"**Died:** {', '.join(groups['died']) or 'none'}  \n"
                f"**Never woke:** {', '.join(groups['never active']) or 'none'}")


def compare_section(run: Run, report: CollapseReport, m: int, delta: float, au: float) -> None:
    import pandas as pd
    others = [r for r in available_runs() if r.name != run.name]
    if not others:
        st.info("There is no other run to compare with. Train one on the **Train** page, for example with β = 4, "
                "KL warm-up or free bits, and it will appear here.")
        return
    st.caption("Dimensions are matched by rank, not by index: each run's dimensions are sorted from the largest "
               "value, so the profiles show how many dimensions each run uses and how much each carries.")
    c1, c2 = st.columns(2)
    info = c1.selectbox("Compare with", others, index=None, format_func=lambda r: r.label,
                        placeholder="Choose a run")
    stat = c2.selectbox("Statistic", ["kl", "mi", "activity", "sensitivity"], format_func=lambda s: STATS[s][0])
    c2.caption(STATS[stat][3])
    if info is None:
        return
    try:
        other = load_run_at(str(info.path), info.mtime)
    except (CheckpointError, OSError) as e:
        st.error(f"Run **{escape_md(info.name)}** cannot be loaded: {safe_md(e)}")
        return
    if run_dataset(other, stop_on_error=False) is None:
        return
    rep2 = report_stages(other, run_identity(other), m, delta)
    profiles = [(name, *profile(r, stat)) for name, r in ((run.name, report), (other.name, rep2))]
    st.plotly_chart(profile_bars(profiles, f"{STATS[stat][0]}, dimensions sorted from largest", STATS[stat][1]),
                    width="stretch")
    rows = {}
    for r_, rep in ((run, report), (other, rep2)):
        t = r_.config.train
        rows[r_.name] = {"dataset": r_.config.data.name, "β": t.beta, "KL warm-up (epochs)": t.kl_warmup,
                         "free bits (nats)": t.free_bits, "epochs": len(r_.history), **summary(rep, au)}
    table = pd.DataFrame(rows).map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
    st.dataframe(table, width="stretch", height="content")


def factor_run() -> str | None:
    """A readable run trained on a dataset with known factors (shapes), the committed one first."""
    runs = [r for r in available_runs() if r.error is None and r.dataset == "shapes" and r.latent_dim >= 2]
    runs.sort(key=lambda r: r.name != "shapes-default")
    return runs[0].name if runs else None


def mig_section(run: Run) -> None:
    import pandas as pd
    with st.spinner("Computing the mutual information gap…"):
        res = mig_for(run, run_identity(run))
    if res is None:
        shapes = factor_run()
        st.info(f"The mutual information gap needs ground-truth factors of variation; the "
                f"**{escape_md(run.config.data.name)}** dataset has none. "
                + (f"Run **{escape_md(shapes)}** was trained on **shapes** (shape, scale, rotation, position)."
                   if shapes else "Train on **shapes** (shape, scale, rotation, position) to see it."))
        if shapes:
            st.button(f"Switch to run {escape_md(shapes)}", icon=":material/swap_horiz:", key="collapse_to_shapes",
                      on_click=select_run, args=(shapes,), type="primary",
                      help="Makes it the current run (as the sidebar's picker does) and shows its MIG here.")
        return
    best, share = res.best_factor()
    c1, c2 = st.columns([1, 3])
    c1.metric("MIG", f"{res.mig:.3f}", help="0: no factor has a latent of its own; 1: each factor is captured "
                                             "entirely by one latent and by no other.")
    c1.caption("Mean over factors of (I(z_best; v_k) − I(z_second; v_k)) / H(v_k), Chen et al. 2018; posterior "
               "means and factors discretised into 20 bins.")
    dims = [f"z{d}" for d in range(len(best))]
    c2.plotly_chart(heatmap(res.normalized, res.factor_names, dims, "I(z_d; v_k) / H(v_k)", "factor", "share"),
                    width="stretch")
    st.dataframe(pd.DataFrame({"dimension": dims, "best factor": [res.factor_names[k] for k in best],
                               "share of its entropy": share}), hide_index=True, width="stretch")
    st.dataframe(pd.DataFrame({"factor": res.factor_names, "gap / H": res.gaps, "H (nats)": res.entropy}),
                 hide_index=True, width="stretch")


# ---------------------------------------------------------------- page

if PENDING in st.session_state:
    _open_traversal(st.session_state.pop(PENDING))

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
    n_mix = mixture_points(len(splits.test), m)
    check_collapse(sum(p.numel() for p in run.model.parameters()), len(splits.test), run.model.latent_dim,
                   min(N_ANCHORS, len(splits.test)), n_mix, mi_replicates(n_mix))
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
