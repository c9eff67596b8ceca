"""The Compare runs page's disentanglement scores (MIG, DCI, SAP, FactorVAE) of the runs on a
dataset with known generative factors (shapes), computed in the background and kept in each run
folder; runs that differ only in their seed are one bar (mean ± 1 standard deviation across seeds).
The words the page uses for each score, and how it is computed, are here too."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.compare.figures import score_groups
from ui.compare.runs import RunRow, settings_text
from ui.compare.tasks import disentanglement_scores, failures
from ui.tasks import follow
from ui.text import escape_md, plain_text, safe_md
from vae.cache.scores import seed_groups

SCORE_NAMES = ["MIG", "DCI disentanglement", "DCI completeness", "DCI informativeness", "SAP", "FactorVAE"]
SCORE_HELP = {
    "MIG": "Mutual information gap (Chen et al. 2018): per factor, the gap in mutual information between "
           "its best and second-best latent, over the factor's entropy; means binned into 20 bins "
           "(disentanglement_lib's default).",
    "DCI disentanglement": "Eastwood & Williams (2018): how much each latent is about one factor only (1 − "
                           "entropy of its importances over factors), weighted by the latent's total importance.",
    "DCI completeness": "How much each factor is captured by one latent only (1 − entropy of its importances "
                        "over latents).",
    "DCI informativeness": "How well the latents predict the factors: held-out R² of the importance model "
                           "(the paper reports the error).",
    "SAP": "Separated attribute predictability (Kumar et al. 2018): per factor, the gap between the two latents "
           "that predict it best on their own (R² for continuous factors, a linear SVM's balanced accuracy above "
           "chance for the categorical shape).",
    "FactorVAE": "Kim & Mnih (2018): fix one factor in a batch of 64, find the latent with the least normalised "
                 "variance, and let a majority vote learn which latent means which factor; the score is its "
                 "accuracy on fresh votes (10,000 to train, 5,000 to score). Chance is about 1/K, not 0.",
}
DCI_MODEL_NOTE = (
    "**Importance model for DCI:** gradient-boosted regression trees, one model per factor (50 trees of depth 3, "
    "learning rate 0.2, half the rows per tree; 80 % of the points to fit, 20 % held out), their impurity "
    "importances forming the matrix R. Eastwood & Williams used lasso and random forests; disentanglement_lib uses "
    "gradient-boosted trees with scikit-learn's defaults (100 trees, classifiers on binned factors), which take "
    "about 20 s for 5,000 points on 2 cores. The lighter setting keeps the same model family and keeps all four "
    "scores near 5 s (see `python -m bench disentanglement`). Nonlinear trees matter: a lasso would call any "
    "nonlinear but one-to-one code entangled.")
FACTORVAE_NOTE = (
    "The FactorVAE score here fixes a factor by taking points that share its value (continuous factors in 10 "
    "equal-width bins), since a trained run's data are a finite set; latents with variance below 0.05 are left "
    "out, as in the paper's code.")


def scores_section(runs_all: dict[str, list[RunRow]]) -> None:
    st.subheader("Disentanglement scores")
    rows = runs_all.get("shapes", [])
    if not rows:
        st.info("These scores need a dataset with known generative factors: train a run on **shapes** "
                "(shape, scale, rotation, x, y), or a seed sweep on it.")
        return
    have, task = disentanglement_scores(rows)
    if task is not None and not task.done:
        follow(task.key, "Disentanglement scores", name="compare_scores", stop=None)
    for name, why in failures(task).items():
        st.warning(f"Run **{escape_md(name)}** cannot be scored: {safe_md(why)}")
    if not have:
        return
    by = {r.info.name: r for r in rows}
    table = [{"run": plain_text(n), "settings": settings_text(by[n].config), **s["scores"]}
             for n, s in have.items() if n in by]
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch",
                 column_config={k: st.column_config.NumberColumn(k, help=SCORE_HELP[k], format="%.3f")
                                for k in SCORE_NAMES})
    groups = seed_groups({n: (by[n].config, s["scores"]) for n, s in have.items() if n in by})
    gdicts = [dict(label=f"{settings_text(by[g.runs[0]].config).rsplit(', seed', 1)[0]}", n=len(g.runs),
                   mean=g.mean, sd=g.sd) for g in groups]
    st.plotly_chart(score_groups(gdicts, SCORE_NAMES), key="score_groups", width="stretch")
    several = [g for g in groups if len(g.runs) > 1]
    st.caption(f"Scored on {next(iter(have.values()))['n']:,} shapes images (train, then test split) at the "
               "posterior means. Runs that differ only in their seed are one bar: its height is the mean, the "
               "whisker ±1 standard deviation across seeds (Locatello et al. 2019: seeds move these scores about "
               "as much as β does). " + ("" if several else "No two runs here differ only in seed yet: queue a "
                                                                "seed sweep on the Train page to see the spread."))
    with st.expander("How each score is computed (defaults from the literature)"):
        for k in SCORE_NAMES:
            st.markdown(f"- **{k}**: {SCORE_HELP[k]}")
        st.markdown(DCI_MODEL_NOTE)
        st.markdown(FACTORVAE_NOTE)
