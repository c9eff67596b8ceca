""""Refine this posterior" on the Latent map: the clicked image's posterior optimized for that image
alone (iterative inference), as a background task (``ui.tasks.task_panel``) with a live curve of its
ELBO; then its reconstruction and μ/σ before and after, and the point's two gaps (amortization gap
ELBO(q*) − ELBO(q_φ), approximation gap log p(x) − ELBO(q*)). The work is
``vae.analysis.gaps.refine_point``."""
from __future__ import annotations

import streamlit as st

from ui.cache import run_identity
from ui.gaps.figures import before_after_figure, refine_curve_figure
from ui.images import show_image
from ui.tasks import task_panel
from ui.text import safe_md
from vae.analysis.gaps import GAP_STEPS, IWAE_K, RefinedPoint, check_gaps, refine_point
from vae.limits import BudgetError
from vae.runs.folder import Run

IMAGE_PX = 140
_LIVE: dict[tuple, list[float]] = {}  # task key -> the curve so far, appended by the worker thread
_MAX_LIVE = 32


def _key(run: Run, split: str, index: int) -> tuple:
    return ("refine", *run_identity(run), split, int(index), GAP_STEPS, IWAE_K)


def _prepare(run: Run, x, index: int, key: tuple):
    """The refining work for image ``index`` (its curve kept in _LIVE for the live drawing), or None
    after saying why the gap budget refuses it."""
    model = run.model
    try:
        check_gaps(sum(p.numel() for p in model.parameters()), 1, GAP_STEPS, IWAE_K)
    except BudgetError as e:
        st.error(f"Refining was refused: {safe_md(e)}")
        return None
    curve: list[float] = []
    while len(_LIVE) >= _MAX_LIVE:
        _LIVE.pop(next(iter(_LIVE)))
    _LIVE[key] = curve
    return lambda progress, should_stop: refine_point(
        model, x, index, GAP_STEPS, IWAE_K, progress=progress, should_stop=should_stop,
        on_step=lambda step, value: curve.append(value))


def _live(task) -> None:
    """The ELBO of the refined q so far, under the progress bar."""
    st.plotly_chart(refine_curve_figure([{"name": "refined q", "curve": list(_LIVE.get(task.key, []))}], GAP_STEPS),
                    key="lm_refine_live", config={"displayModeBar": False})


def _result(r: RefinedPoint, index: int) -> None:
    n = r.numbers()
    a, b = st.columns(2)
    with a:
        show_image(r.recon_before, caption=f"Encoder q_φ: E[x | z = μ_φ] #{index}", width=IMAGE_PX)
    with b:
        show_image(r.recon_after, caption=f"Refined q*: E[x | z = μ*] #{index}", width=IMAGE_PX)
    m = [*st.columns(2), *st.columns(2)]
    m[0].metric("ELBO(q_φ)", f"{n['elbo_amortized']:.2f}", help=f"± {n['elbo_amortized_se']:.3f} (Monte-Carlo s.e.)")
    m[1].metric("ELBO(q*)", f"{n['elbo_optimized']:.2f}", delta=f"{n['elbo_optimized'] - n['elbo_amortized']:+.2f}",
                help=f"± {n['elbo_optimized_se']:.3f} (Monte-Carlo s.e.) after {n['steps']} Adam steps.")
    m[2].metric("Amortization gap", f"{n['amortization_gap']:.2f}", help="ELBO(q*) − ELBO(q_φ), nats.")
    m[3].metric("Approximation gap", f"{n['approximation_gap']:.2f}",
                help=f"log p(x) − ELBO(q*), nats; log p(x) = {n['log_px']:.2f} by IWAE with K = {n['k']:,}.")
    st.plotly_chart(refine_curve_figure([{"name": "refined q", "curve": r.gaps.curve, "start": n["elbo_amortized"]}],
                                        n["steps"]), key="lm_refine_curve", config={"displayModeBar": False})
    st.caption("μ and σ per latent dimension: the encoder's posterior beside the refined one.")
    st.plotly_chart(before_after_figure(r.mu_before, r.sigma_before, r.mu_after, r.sigma_after),
                    key="lm_refine_musigma", config={"displayModeBar": False})


def refine_panel(run: Run, x, index: int, split: str) -> None:
    """The Latent map's hook, in the clicked point's panel. x: the split's images."""
    st.markdown("##### Iterative inference")
    key = _key(run, split, index)
    intro = (f"The encoder gives every image its posterior in one pass (amortized). Refining optimizes this "
             f"image's μ and σ alone, {GAP_STEPS} Adam steps on its ELBO, to show what amortization costs here.")
    result = task_panel(key, "Refining", lambda: _prepare(run, x, index, key), name="lm_refine",
                        start="Refine this posterior", start_help="Runs in the background; a few seconds.",
                        start_icon=":material/auto_fix_high:", intro=intro, stop=None, live=_live, interval=0.5)
    if result is not None:
        _result(result, index)
