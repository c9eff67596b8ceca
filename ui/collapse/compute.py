"""The Collapse page's report, stage by stage, cached (``vae.analysis.collapse`` does the maths).

Each stage is cached on its own, so a change of one setting recomputes only what depends on it,
and the page can show what is ready while the next stage runs. A spinner naming the stage
appears when a stage takes more than half a second, that is, only when it is computed. At the
default settings every stage is read from the run's precompute (``vae.cache.precompute``) when
it is kept in the run's folder.

``ui.cache`` and ``vae.analysis.collapse`` are reached through their modules (``cache.X``,
``vc.X``), so that a test replacing one of their functions is seen here too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

import vae.analysis.collapse as vc
from ui import cache
from ui.tasks import follow
from vae.analysis.collapse import (DELTA, N_ANCHORS, N_MIXTURE, CollapseReport, MixtureEstimates,
                                   PosteriorSummary, assemble_report, mi_replicates, mixture_points,
                                   posterior_summary, sensitivity_with_se)
from vae.cache.precompute import MIX_SEED, SENS_SEED
from vae.runs.folder import Run

if TYPE_CHECKING:
    from vae.analysis.disentanglement import MIGResult


def mixture_for(run: Run, key: tuple[str, float], n_mixture: int) -> MixtureEstimates:
    """The run's stored estimates at the default settings (its precompute), else computed now (cached)."""
    pre = cache.stored_precompute(run)
    if pre is not None and pre.mixture.n_mixture == mixture_points(len(pre.encodings["test"][0]), n_mixture):
        return pre.mixture
    return _mixture_now(run, key, n_mixture)


@st.cache_data(max_entries=8, show_spinner=False)
def _mixture_now(_run: Run, key: tuple[str, float], n_mixture: int) -> MixtureEstimates:
    mu, logvar = cache.encode_split(_run, key, "test")
    return vc.mixture_estimates(mu, logvar, n_mixture, seed=MIX_SEED)


def sensitivity_for(run: Run, key: tuple[str, float], delta: float) -> tuple[np.ndarray, np.ndarray, int]:
    pre = cache.stored_precompute(run)
    if pre is not None and pre.sensitivity is not None and delta == DELTA:
        return pre.sensitivity
    return _sensitivity_now(run, key, delta)


@st.cache_data(max_entries=8, show_spinner=False)
def _sensitivity_now(_run: Run, key: tuple[str, float], delta: float) -> tuple[np.ndarray, np.ndarray, int]:
    mu, _ = cache.encode_split(_run, key, "test")
    return sensitivity_with_se(_run.model, mu, delta, N_ANCHORS, seed=SENS_SEED)  # diagnose()'s seeds: 0, 0 + 1


def elbo_for(run: Run) -> tuple[float, float, float, float]:
    """The run's one stored evaluation (the ELBO Home shows): (rec, rec s.e., ELBO, ELBO s.e.)."""
    return cache.run_evaluation(run).stats()


@st.cache_data(max_entries=8, show_spinner=False)
def posterior_for(_run: Run, key: tuple[str, float]) -> PosteriorSummary:
    mu, logvar = cache.encode_split(_run, key, "test")  # its own spinner, "Encoding the dataset…", when computed
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
    if cache.stored_precompute(run) is not None:
        return
    task = cache.precompute_task(run)
    if task is None or task.done:
        return
    follow(task.key, "Diagnosing this run once (kept in its folder for every later visit)", name="collapse_pre",
           stop=None)
    st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def mig_for(_run: Run, key: tuple[str, float]) -> "MIGResult | None":
    from vae.analysis.disentanglement import mig  # here: scikit-learn costs the page's first visit seconds

    test = cache.run_dataset(_run).test
    if test.factors is None or _run.model.latent_dim < 2:
        return None
    mu, _ = cache.encode_split(_run, key, "test")
    return mig(mu, test.factors.numpy(), test.factor_names)
