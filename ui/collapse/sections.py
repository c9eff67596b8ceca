"""The Collapse page's other tabs: Posteriors (histograms over test images of each dimension's
posterior mean μ_d(x) and standard deviation σ_d(x); a collapsed dimension sits at the prior, μ_d = 0
and σ_d = 1, for every x), Training history (the test KL per dimension after each epoch: when each
dimension woke up or died), Compare runs (per-run profiles, dimensions matched by rank) and
Disentanglement (the mutual information gap of Chen et al. 2018, on datasets with known factors)."""
from __future__ import annotations

import streamlit as st

from ui.cache import encode_split, load_run_at, run_dataset, run_identity
from ui.collapse.compute import mig_for, report_stages
from ui.collapse.stats import STATS
from ui.figures import heatmap, kl_epoch_heatmap, profile_bars
from ui.state import available_runs, select_run
from ui.text import escape_md, safe_md
from vae.analysis.collapse import KL_THRESHOLD, CollapseReport, posterior_histograms, profile, summary
from vae.analysis.kl_history import kl_history, wake_and_death
from vae.runs.folder import CheckpointError, Run


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
