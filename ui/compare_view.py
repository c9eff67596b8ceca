"""The Compare runs page's plumbing: which runs go together, their background jobs on the
server's work queue, hover text and table rows, and the words the page uses for each score.
Numbers come from ``vae``; nothing here does tensor math."""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass

import streamlit as st

from ui.progress import submit_or_say
from vae.cache.scores import cached_scores, scores_for
from vae.analysis.rate_distortion import RatePoint, cached_point, points_for
from vae.runs.catalog import RunInfo
from vae.runs.folder import load_config, weights_digest
from vae.config import RunConfig
from vae.jobs.background import Task, shared_queue

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


@dataclass
class RunRow:
    info: RunInfo
    config: RunConfig


def runs_by_dataset(runs: list[RunInfo]) -> dict[str, list[RunRow]]:
    """Readable, finished runs grouped by dataset name (runs still training are left out: their
    weights change every epoch)."""
    out: dict[str, list[RunRow]] = {}
    for r in runs:
        if r.error is not None or r.state == "running":
            continue
        try:
            cfg = load_config(r.path)
        except Exception:  # noqa: BLE001 - listed as readable a moment ago; skip it if it changed since
            continue
        out.setdefault(r.dataset, []).append(RunRow(r, cfg))
    return out


def settings_text(cfg: RunConfig) -> str:
    t = cfg.train
    parts = [f"D={cfg.model.latent_dim}", cfg.model.arch, f"β={t.beta:g}"]
    if t.kl_warmup:
        parts.append(f"warm-up {t.kl_warmup:g}")
    if t.free_bits:
        parts.append(f"free bits {t.free_bits:g}")
    parts += [f"seed {t.seed}", f"{t.epochs} epochs"]
    return ", ".join(parts)


def hover(row: RunRow, p: RatePoint) -> str:
    """Plotly hover text (it reads a few HTML tags): the run's name and settings, escaped."""
    sweep = f"<br>sweep {html.escape(row.config.train.sweep)}" if row.config.train.sweep else ""
    return (f"<b>{html.escape(row.info.name)}</b>{sweep}<br>{settings_text(row.config)}<br>rate {p.rate:.2f} ± {2 * p.rate_se:.2f}"
            f" · distortion {p.distortion:.2f} ± {2 * p.distortion_se:.2f}<br>ELBO {p.elbo:.2f} nats"
            "<br><i>click to open this run</i>")


def _digests(rows: list[RunRow]) -> tuple:
    out = []
    for r in rows:
        try:
            out.append((r.info.name, weights_digest(r.info.path)))
        except OSError:
            continue
    return tuple(out)



TASKS_KEY = "_compare_tasks"  # {kind: key of the task this session last started or joined}


def _task(kind: str, missing: list[RunRow], work) -> Task | None:
    """The background task for the missing runs. While the one this session last joined still runs
    it is kept (runs it has done since then are no longer missing, but a new set must not queue a
    second task behind it); after that, one task per set of missing runs, shared by every session.
    A run that failed stays missing: its set's task is the one already done, not run again."""
    q = shared_queue()
    store = st.session_state.setdefault(TASKS_KEY, {})
    prev = q.get(store[kind]) if kind in store else None
    if prev is not None and not prev.done:
        return prev
    if not missing:
        return None
    key = (kind, _digests(missing))
    paths = [r.info.path for r in missing]
    task = q.get(key) or submit_or_say(key, lambda progress, should_stop: work(paths, progress, should_stop))
    store[kind] = key
    return task


def rate_points(rows: list[RunRow]) -> tuple[dict[str, RatePoint], Task | None]:
    """The kept points of these runs, and the background task computing the missing ones (if any)."""
    have = {r.info.name: p for r in rows if (p := cached_point(r.info.path)) is not None}
    return have, _task("rate-distortion", [r for r in rows if r.info.name not in have], points_for)


def disentanglement_scores(rows: list[RunRow]) -> tuple[dict[str, dict], Task | None]:
    """The kept scores of these runs, and the background task computing the missing ones (if any)."""
    have = {r.info.name: s for r in rows if (s := cached_scores(r.info.path)) is not None}
    return have, _task("disentanglement", [r for r in rows if r.info.name not in have], scores_for)


def failures(task: Task | None) -> dict[str, str]:
    """{run: why} for runs a finished task could not place."""
    if task is None or not task.done or not isinstance(task.result, dict):
        return {}
    return {k: v for k, v in task.result.items() if isinstance(v, str)}


def same_split(a: RunConfig, b: RunConfig) -> bool:
    """Whether two runs' test splits hold the same images (so their maps can be aligned point by point)."""
    return asdict(a.data) == asdict(b.data)

