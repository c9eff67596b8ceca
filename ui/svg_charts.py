"""Small static charts as inline SVG, for panels that appear on a click.

A plotly chart is a new plotly.js plot each time its panel appears: on the Latent map the μ/σ bars of
a clicked point took 70-80 ms of the browser's time per click (measured: 0.50 s → 0.43 s from the
click to the settled panel without them). These charts have nothing to zoom; an SVG of a few dozen
rectangles paints with the rest of the panel. Hovering a bar shows its value (an SVG <title>).
"""
from __future__ import annotations

import html
import math

import numpy as np

from ui.figures import PALETTE

WIDTH = 400  # viewBox units (about the pixels of a panel column); scaled to the column
LEFT, RIGHT, TOP, BOTTOM = 38, 6, 24, 22
FONT = 'font-family="sans-serif" font-size="11"'
MIN_LABEL_GAP = 26  # viewBox units between two x labels: fewer labels on a wide latent


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi] with about ``count`` ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0 if math.isfinite(lo) else 1.0
        lo = lo if math.isfinite(lo) else 0.0
    raw = (hi - lo) / max(1, count - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.3g}".replace("-", "−")


def bar_chart_svg(categories: list[str], series: list[tuple[str, np.ndarray, str]], height: int = 240,
                  ref: tuple[float, str] | None = None, label: str = "") -> str:
    """Grouped bars: one group per category, one bar per series (name, values (len(categories),),
    colour). ``ref``: a dotted horizontal line at a value, with its label. ``label``: the chart's
    accessible name. Values that are not finite are left out (no bar)."""
    n, k = len(categories), len(series)
    vals = np.array([np.asarray(v, dtype=np.float64) for _, v, _ in series]).reshape(k, n)
    finite = vals[np.isfinite(vals)]
    lo = min(0.0, float(finite.min()) if finite.size else 0.0, ref[0] if ref else 0.0)
    hi = max(0.0, float(finite.max()) if finite.size else 1.0, ref[0] if ref else 0.0)
    ticks = nice_ticks(lo, hi)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    pw, ph = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + ph * (hi - v) / (hi - lo)

    group = pw / max(1, n)
    bar = group * 0.8 / max(1, k)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
           f'aria-label="{html.escape(label, quote=True)}" style="max-width:{WIDTH}px;color:inherit">']
    for t in ticks:  # grid and y labels
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="currentColor" '
                   f'stroke-opacity="{0.35 if t == 0 else 0.1}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end" fill="currentColor" '
                   f'fill-opacity="0.7" {FONT}>{_fmt(t)}</text>')
    every = max(1, math.ceil(MIN_LABEL_GAP / group))
    for i, c in enumerate(categories):
        x0 = LEFT + i * group + group * 0.1
        for j, (name, _, colour) in enumerate(series):
            v = vals[j, i]
            if not np.isfinite(v):
                continue
            top, bottom = sorted((y(v), y(0.0)))
            tip = html.escape(f"{c}: {name} = {v:.3f}")
            out.append(f'<rect x="{x0 + j * bar:.1f}" y="{top:.1f}" width="{max(bar - 0.5, 0.5):.1f}" '
                       f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}"><title>{tip}</title></rect>')
        if i % every == 0:
            out.append(f'<text x="{LEFT + (i + 0.5) * group:.1f}" y="{height - BOTTOM + 15}" text-anchor="middle" '
                       f'fill="currentColor" fill-opacity="0.7" {FONT}>{html.escape(c)}</text>')
    if ref is not None:
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(ref[0]):.1f}" y2="{y(ref[0]):.1f}" stroke="gray" '
                   f'stroke-dasharray="2 3" stroke-width="1.5"/>')
        out.append(f'<text x="{LEFT + 4}" y="{TOP - 8}" fill="gray" {FONT}>{html.escape(ref[1])}</text>')
    x = WIDTH - RIGHT
    for name, _, colour in reversed(series):  # legend, right-aligned above the plot
        x -= 10 + 7 * len(name)
        out.append(f'<rect x="{x}" y="{TOP - 17}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{TOP - 8}" fill="currentColor" {FONT}>{html.escape(name)}</text>')
        x -= 14
    out.append("</svg>")
    return "".join(out)


def posterior_svg(mu: np.ndarray, sigma: np.ndarray | None = None, height: int = 200) -> str:
    """Bars of μ_d (and σ_d) per latent dimension (D,), with the prior's σ = 1 dotted when σ is given;
    the inline-SVG twin of ``ui.figures.posterior_figure``."""
    dims = [f"z{d}" for d in range(len(mu))]
    series = [("μ", np.asarray(mu), PALETTE[0])]
    if sigma is None:
        return bar_chart_svg(dims, series, height, label="z per dimension")
    series.append(("σ", np.asarray(sigma), PALETTE[1]))
    return bar_chart_svg(dims, series, height, ref=(1.0, "prior σ = 1"), label="μ and σ of q(z|x) per dimension")
