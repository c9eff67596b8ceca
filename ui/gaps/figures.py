"""Figures of the inference gaps and of one refined posterior, as plain plotly dicts in the
project's one style (``ui.figures``). Numbers come from ``vae.analysis.gaps``; this only draws."""
from __future__ import annotations

import numpy as np

from ui.figures import PALETTE, axis, figure, layout
from vae.analysis.gaps import GAP_TRAIN_SAMPLES

GAP_PARTS = (  # (summary key, legend, colour): the parts of −ELBO(q_φ), left to right
    ("neg_log_px", "−log p(x)", "#7f7f7f"),
    ("approximation_gap", "approximation gap", PALETTE[1]),
    ("amortization_gap", "amortization gap", PALETTE[3]),
)
BAR_TITLE = "−ELBO(q_φ) = −log p(x) + approximation gap + amortization gap"


def _list(a) -> list[float]:
    return [float(v) for v in a]


def gap_bar_figure(rows: list[dict]) -> dict:
    """One horizontal stacked bar per run. rows: [{"name", "summary": GapResult.summary()}]. The bar's
    length is −ELBO(q_φ), the amortized posterior's loss in nats per image, split into −log p(x), the
    approximation gap (what the posterior family cannot express) and the amortization gap (what one
    shared encoder loses against fitting each image); hover shows each mean ± its standard error."""
    names = [r["name"] for r in rows]
    traces = []
    for key, label, colour in GAP_PARTS:
        vals, errs = [], []
        for r in rows:
            s = r["summary"]
            vals.append(-s["log_px"] if key == "neg_log_px" else s[key])
            errs.append(s["log_px_se" if key == "neg_log_px" else key + "_se"])
        traces.append(dict(type="bar", orientation="h", x=vals, y=names, name=label, marker_color=colour,
                           customdata=errs, text=[f"{v:.2f}" for v in vals], textposition="inside",
                           hovertemplate=f"{label}: %{{x:.3f}} ± %{{customdata:.3f}} nats<extra>%{{y}}</extra>"))
    height = 150 + 60 * len(rows)
    xa = axis("nats per image (shorter is better)")
    lo = bar_axis_start(rows)
    if lo > 0:  # −log p(x) dwarfs the gaps: the axis starts near it, and says so
        hi = max(-r["summary"]["elbo_amortized"] for r in rows)
        xa = axis(f"nats per image (shorter is better; the axis starts at {lo:g})", range=[lo, hi + 0.08 * (hi - lo)])
    return figure(traces, layout(BAR_TITLE, height=height, barmode="relative", xaxis=xa,
                                 legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right"),
                                 margin=dict(l=10, r=10, t=60, b=10),
                                 yaxis=axis(None, autorange="reversed", automargin=True)))


def bar_axis_start(rows: list[dict]) -> float:
    """Where the gap bar's axis starts: 0, unless the gaps would be slivers beside −log p(x); then a
    round number below the smallest −log p(x) leaving the gaps most of the width."""
    neg = [-r["summary"]["log_px"] for r in rows]
    gaps = [max(0.0, r["summary"]["approximation_gap"]) + max(0.0, r["summary"]["amortization_gap"]) for r in rows]
    if min(neg) <= 0 or max(gaps) <= 0 or max(gaps) > 0.25 * min(neg):
        return 0.0
    step = 10 ** np.floor(np.log10(max(gaps)))
    return float(max(0.0, np.floor((min(neg) - 2 * max(gaps)) / step) * step))


def gap_spread_figure(rows: list[dict]) -> dict:
    """The per-point spread of both gaps: a box per gap per run, every point shown.
    rows: [{"name", "approximation": (P,), "amortization": (P,)}] in nats."""
    traces = []
    for key, label, colour in GAP_PARTS[1:]:
        xs, ys = [], []
        for r in rows:
            vals = _list(r[key.split("_")[0]])
            xs += [r["name"]] * len(vals)
            ys += vals
        traces.append(dict(type="box", x=xs, y=ys, name=label, marker_color=colour, boxpoints="all",
                           jitter=0.4, pointpos=0, marker=dict(size=4, opacity=0.5),
                           hovertemplate=f"{label}: %{{y:.3f}} nats<extra>%{{x}}</extra>"))
    return figure(traces, layout("Per test point", boxmode="group", xaxis=axis(None), yaxis=axis("nats")))


def refine_curve_figure(curves: list[dict], steps: int | None = None, height: int = 260) -> dict:
    """The optimization's objective per step: curves [{"name", "curve": [mean ELBO estimate per step]}],
    with, when given, a dashed line at the encoder's ELBO ({"start": value})."""
    traces, shapes = [], []
    for i, c in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        traces.append(dict(type="scattergl" if len(c["curve"]) > 2000 else "scatter", mode="lines",
                           x=list(range(1, len(c["curve"]) + 1)), y=_list(c["curve"]), name=c["name"],
                           line=dict(color=colour, width=1.5),
                           hovertemplate="step %{x}: %{y:.3f} nats<extra>" + c["name"] + "</extra>"))
        if c.get("start") is not None:
            shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=c["start"], y1=c["start"],
                               line=dict(color=colour, dash="dot", width=1)))
    xa = axis("Adam step", range=[0, steps]) if steps else axis("Adam step")
    return figure(traces, layout(f"ELBO estimate while refining ({GAP_TRAIN_SAMPLES} samples a step)", height=height,
                                 xaxis=xa, yaxis=axis("nats"), shapes=shapes, showlegend=len(curves) > 1))


def before_after_figure(mu_before, sigma_before, mu_after, sigma_after, height: int = 280) -> dict:
    """μ_d and σ_d per latent dimension, the encoder's q_φ beside the refined q*: two panels."""
    dims = [f"z{d}" for d in range(len(mu_before))]
    traces = []
    for (vals, name, colour, ax) in ((mu_before, "μ, encoder q_φ", PALETTE[0], "x"),
                                     (mu_after, "μ, refined q*", PALETTE[9], "x"),
                                     (sigma_before, "σ, encoder q_φ", PALETTE[1], "x2"),
                                     (sigma_after, "σ, refined q*", PALETTE[8], "x2")):
        traces.append(dict(type="bar", x=dims, y=_list(vals), name=name, marker_color=colour, xaxis=ax,
                           yaxis="y" if ax == "x" else "y2",
                           hovertemplate=f"%{{x}}: {name.split(',')[0]} = %{{y:.3f}}<extra>{name}</extra>"))
    lay = layout(height=height, barmode="group", margin=dict(l=10, r=10, t=30, b=10),
                 xaxis=dict(domain=[0, 0.46]), xaxis2=dict(domain=[0.54, 1], anchor="y2"),
                 yaxis=axis("μ"), yaxis2=axis("σ", anchor="x2"))
    return figure(traces, lay)
