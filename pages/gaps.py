"""Inference gaps: how much of a run's ELBO is lost to the posterior family, and how much to amortization."""
from __future__ import annotations

import streamlit as st

from ui.cache import load_run_at
from ui.gaps.figures import gap_bar_figure, gap_spread_figure, refine_curve_figure
from ui.gaps.tasks import gaps_panel
from ui.state import available_runs, require_run, runs_root
from ui.text import escape_md
from vae.analysis.gaps import ELBO_SAMPLES, GAP_POINTS, GAP_STEPS, IWAE_K, GapResult
from vae.runs.folder import CheckpointError, Run

STEP_CHOICES = (50, 100, 250, 500, 1000)
K_CHOICES = (1000, 5000)
COMPARE_KEY = "gaps_compare"


def settings_ui() -> tuple[int, int, int]:
    c = st.columns(3)
    points = c[0].slider("Test points", 10, 200, GAP_POINTS, 10, key="gaps_points",
                         help="Chosen reproducibly from the test split: the same points for every run.")
    steps = c[1].select_slider("Adam steps per point", STEP_CHOICES, GAP_STEPS, key="gaps_steps",
                               help="The per-point optimization of q's parameters, starting from the encoder's "
                                    "output. Too few steps leave part of the amortization gap counted as "
                                    "approximation gap.")
    k = c[2].select_slider("Importance samples K for log p(x)", K_CHOICES, IWAE_K, key="gaps_k",
                           help="log p(x) is the IWAE bound with K samples drawn from the refined posterior q*.")
    return int(points), int(steps), int(k)


def rows_for(entries: list[tuple[str, GapResult]]) -> tuple[list[dict], list[dict], list[dict]]:
    bars = [{"name": n, "summary": r.summary()} for n, r in entries]
    spread = [{"name": n, "approximation": r.approximation_gap, "amortization": r.amortization_gap} for n, r in entries]
    curves = [{"name": n, "curve": r.curve} for n, r in entries]
    return bars, spread, curves


def other_runs(current: str) -> list[Run]:
    names = [r.name for r in available_runs() if r.error is None and r.name != current]
    picked = st.multiselect("Compare with", names, key=COMPARE_KEY,
                            help="Other runs side by side, with the same points and settings.")
    out = []
    for name in picked:
        path = runs_root() / name
        try:
            out.append(load_run_at(str(path), (path / "model.safetensors").stat().st_mtime))
        except (CheckpointError, OSError, ValueError, RuntimeError):
            st.warning(f"Run **{escape_md(name)}** cannot be loaded.")
    return out


run = require_run()
st.title("Inference gaps")
st.caption(
    "Amortized against iterative inference (Cremer, Li & Duvenaud 2018). For each test point: log p(x) (IWAE), "
    "the ELBO of the encoder's posterior q_φ, and the ELBO of q* fitted to that point alone by Adam on the "
    "posterior's own parameters. **Approximation gap** = log p(x) − ELBO(q*): what the posterior family cannot "
    "express. **Amortization gap** = ELBO(q*) − ELBO(q_φ): what one shared encoder loses against fitting each "
    "image. Every ELBO and log p(x) is a Monte-Carlo estimate; figures are means over points ± standard errors.")
points, steps, k = settings_ui()
heading = st.container()  # the run's name above its task, while there is no result yet
mine = gaps_panel(run, points, steps, k, "main")
if mine is None:
    heading.subheader(f"Run {escape_md(run.name)}")
    st.stop()

compare = other_runs(run.name)
entries = [(run.name, mine)]
for other in compare:
    res = gaps_panel(other, points, steps, k, other.name)
    if res is not None:
        entries.append((other.name, res))

bars, spread, curves = rows_for(entries)
s = bars[0]["summary"]
m = st.columns(5)
m[0].metric("log p(x)", f"{s['log_px']:.2f}", help=f"IWAE with K = {s['k']:,} samples from q*, nats per image "
                                                    f"(± {s['log_px_se']:.2f} over points).")
m[1].metric("ELBO(q*)", f"{s['elbo_optimized']:.2f}", help=f"The refined posteriors' ELBO, nats per image, on the same "
                                                             f"K = {s['k']:,} draws from q* as log p(x).")
m[2].metric("ELBO(q_φ)", f"{s['elbo_amortized']:.2f}", help=f"The encoder's ELBO on the same points, nats per image "
                                                             f"({ELBO_SAMPLES} draws from q_φ per point).")
m[3].metric("Approximation gap", f"{s['approximation_gap']:.2f}", help=f"± {s['approximation_gap_se']:.3f} (s.e. over points)")
m[4].metric("Amortization gap", f"{s['amortization_gap']:.2f}", help=f"± {s['amortization_gap_se']:.3f} (s.e. over points)")
st.caption(f"{s['points']} test points, {s['steps']} Adam steps each, log p(x) with K = {s['k']:,}; "
           f"computed in {s['seconds']:.0f} s and kept in the run folder. The bar is the identity "
           "log p(x) = ELBO(q_φ) + amortization gap + approximation gap, drawn as losses (negated).")
st.plotly_chart(gap_bar_figure(bars), key="gaps_bar", config={"displayModeBar": False})
left, right = st.columns(2)
with left:
    st.plotly_chart(gap_spread_figure(spread), key="gaps_spread", config={"displayModeBar": False})
with right:
    st.plotly_chart(refine_curve_figure(curves), key="gaps_curve", config={"displayModeBar": False})
    st.caption("The mean over points of each step's ELBO estimate: it should level off before the last step.")
