"""Small charts as inline SVG, for the charts a page shows when it opens or a click brings up.

A page's first plotly chart makes the browser evaluate Streamlit's plotly module (4.7 MB; about 0.75 s
of the main thread on the 2-core machine, for every new browser session), and each new plotly plot
costs tens of milliseconds more. These charts have nothing to zoom: an SVG of a few dozen shapes
paints with the rest of the page. Hovering a shape shows its value (an SVG <title>); a shape with a
``data-click`` value reports a click (``ui.components.svg_chart``). Every text is escaped here.
"""
from __future__ import annotations

import html
import math

import numpy as np

from ui.figures import ACCENT, PALETTE, VERDICT_COLOURS

FONT = 'font-family="sans-serif"'
MIN_LABEL_GAP = 21  # viewBox units between two category labels: fewer labels on a wide latent


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi] with about ``count`` ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo = lo if math.isfinite(lo) else 0.0
        hi = lo + (abs(lo) * 0.1 or 1.0)
    raw = (hi - lo) / max(1, count - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    ticks, t = [], math.floor(lo / step + 1e-9) * step
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def fmt(v: float) -> str:
    """A tick or value label: 3 significant digits, a real minus sign."""
    return f"{v:.3g}".replace("-", "−")


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)


class Frame:
    """A plot area inside a viewBox of ``width`` × ``height`` units, with a y range from data and
    either categories or a numeric range along x. ``parts`` collects the SVG elements in order."""

    def __init__(self, width: int, height: int, y_values, x_range: tuple[float, float] | None = None,
                 n_categories: int = 0, left: int = 44, right: int = 8, top: int = 26, bottom: int = 24):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        y = np.asarray([v for v in np.ravel(np.asarray(y_values, dtype=np.float64)) if np.isfinite(v)] or [0.0, 1.0])
        self.y_ticks = nice_ticks(float(y.min()), float(y.max()))
        self.y_lo, self.y_hi = self.y_ticks[0], self.y_ticks[-1]
        self.x_range = x_range
        self.n = n_categories
        self.parts: list[str] = []

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, v: float) -> float:
        return self.top + self.plot_h * (self.y_hi - v) / (self.y_hi - self.y_lo)

    def x(self, v: float) -> float:
        lo, hi = self.x_range
        return self.left + self.plot_w * (v - lo) / (hi - lo)

    def slot(self) -> float:
        """The width of one category."""
        return self.plot_w / max(1, self.n)

    def text(self, x: float, y: float, s: str, anchor: str = "start", colour: str = "currentColor",
             opacity: float = 0.75, extra: str = "", size: int = 11) -> None:
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{colour}" '
                          f'fill-opacity="{opacity}" {FONT} font-size="{size}"{extra}>{esc(s)}</text>')

    def y_axis(self, title: str = "") -> None:
        for t in self.y_ticks:
            self.parts.append(f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{self.y(t):.1f}" '
                              f'y2="{self.y(t):.1f}" stroke="currentColor" stroke-opacity="{0.35 if t == 0 else 0.1}"/>')
            self.text(self.left - 5, self.y(t) + 4, fmt(t), "end", opacity=0.7)
        if title:  # along the axis, smaller when long, so it fits the plot's height
            cy = self.top + self.plot_h / 2
            size = max(8, min(11, int(self.plot_h / (0.58 * max(1, len(title))))))
            self.text(11, cy, title, "middle", opacity=0.8, extra=f' transform="rotate(-90 11 {cy:.1f})"', size=size)

    def category_labels(self, labels: list[str]) -> None:
        every = max(1, math.ceil(MIN_LABEL_GAP / self.slot()))
        for i, c in enumerate(labels):
            if i % every == 0:
                self.text(self.left + (i + 0.5) * self.slot(), self.height - self.bottom + 15, c, "middle", opacity=0.7,
                          size=10)

    def x_axis(self, title: str = "") -> None:
        lo, hi = self.x_range
        for t in nice_ticks(lo, hi, 6):
            if lo <= t <= hi:
                self.text(self.x(t), self.height - self.bottom + 14, fmt(t), "middle", opacity=0.7)
        if title:
            self.text(self.left + self.plot_w / 2, self.height - 3, title, "middle", opacity=0.8)

    def hline(self, v: float, colour: str, dash: str = "4 3", width: float = 1.5) -> None:
        self.parts.append(f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{self.y(v):.1f}" '
                          f'y2="{self.y(v):.1f}" stroke="{colour}" stroke-dasharray="{dash}" stroke-width="{width}"/>')

    def vline(self, x: float, colour: str, dash: str = "", width: float = 1.5) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.top}" y2="{self.top + self.plot_h}" '
                          f'stroke="{colour}" stroke-width="{width}"{d}/>')

    def bar(self, x0: float, w: float, v: float, colour: str, tip: str, attrs: str = "") -> None:
        top, bottom = sorted((self.y(v), self.y(0.0 if self.y_lo <= 0 <= self.y_hi else self.y_lo)))
        self.parts.append(f'<rect x="{x0:.1f}" y="{top:.1f}" width="{max(w, 0.5):.1f}" height="{max(bottom - top, 0.5):.1f}" '
                          f'fill="{colour}"{attrs}><title>{esc(tip)}</title></rect>')

    def legend(self, entries: list[tuple[str, str]]) -> None:
        """Coloured squares with names, right-aligned above the plot."""
        x = self.width - self.right
        for name, colour in reversed(entries):
            x -= 10 + 6.2 * len(name)
            self.parts.append(f'<rect x="{x:.1f}" y="{self.top - 17}" width="10" height="10" fill="{colour}"/>')
            self.text(x + 14, self.top - 8, name, opacity=0.85)
            x -= 14

    def svg(self, label: str) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" width="100%" '
                f'role="img" aria-label="{esc(label)}" style="max-width:{self.width * 1.6:.0f}px">'
                + "".join(self.parts) + "</svg>")


def bar_chart_svg(categories: list[str], series: list[tuple[str, np.ndarray, str]], height: int = 200,
                  ref: tuple[float, str] | None = None, label: str = "", width: int = 400) -> str:
    """Grouped bars: one group per category, one bar per series (name, values (len(categories),),
    colour). ``ref``: a dotted horizontal line at a value, with its label. Values that are not finite
    are left out (no bar)."""
    n, k = len(categories), len(series)
    vals = np.array([np.asarray(v, dtype=np.float64) for _, v, _ in series]).reshape(k, n)
    f = Frame(width, height, [*vals.ravel(), 0.0, *([ref[0]] if ref else [])], n_categories=n, left=38, right=6,
              top=24, bottom=22)
    f.y_axis()
    bar = f.slot() * 0.8 / max(1, k)
    for i, c in enumerate(categories):
        for j, (name, _, colour) in enumerate(series):
            v = vals[j, i]
            if np.isfinite(v):
                f.bar(f.left + i * f.slot() + f.slot() * 0.1 + j * bar, bar - 0.5, v, colour, f"{c}: {name} = {v:.3f}")
    f.category_labels(categories)
    if ref is not None:
        f.hline(ref[0], "gray", "2 3")
        f.text(f.left + 4, f.top - 8, ref[1], colour="gray", opacity=1)
    f.legend([(name, colour) for name, _, colour in series])
    return f.svg(label)


def posterior_svg(mu: np.ndarray, sigma: np.ndarray | None = None, height: int = 200) -> str:
    """Bars of μ_d (and σ_d) per latent dimension (D,), with the prior's σ = 1 dotted when σ is given."""
    dims = [f"z{d}" for d in range(len(mu))]
    series = [("μ", np.asarray(mu), PALETTE[0])]
    if sigma is None:
        return bar_chart_svg(dims, series, height, label="z per dimension")
    series.append(("σ", np.asarray(sigma), PALETTE[1]))
    return bar_chart_svg(dims, series, height, ref=(1.0, "prior σ = 1"), label="μ and σ of q(z|x) per dimension")


def verdict_bars_svg(values: np.ndarray, order: np.ndarray, verdicts: list[str], threshold: float, title: str,
                     ylabel: str, se: np.ndarray | None = None, se_multiple: float = 2.0, height: int = 300,
                     width: int = 460) -> str:
    """One bar per dimension (D,) in ``order``, coloured by its verdict, with a dashed threshold line.
    Each bar carries its dimension (``data-click``: a click opens it). With ``se``, ±se_multiple·s.e.
    error bars, and bars below zero are labelled noise."""
    values = np.asarray(values, dtype=np.float64)
    order = [int(d) for d in order]
    err = se_multiple * np.nan_to_num(np.asarray(se, dtype=np.float64)) if se is not None else np.zeros_like(values)
    f = Frame(width, height, [*(values + err), *(values - err), 0.0, threshold], n_categories=len(order), top=44,
              bottom=24, left=50)
    f.text(f.left, 14, title, opacity=0.95, extra=' font-weight="600"', size=13)
    f.y_axis(ylabel)
    w = f.slot() * 0.8
    for i, d in enumerate(order):
        x0 = f.left + i * f.slot() + f.slot() * 0.1
        v, verdict = values[d], verdicts[d]
        if not np.isfinite(v):
            continue
        tip = f"z{d}: {v:.4f}"
        if se is not None:
            tip += f" ± {se[d]:.4f} s.e." + (" (below 0: estimator noise)" if v < 0 else "")
        f.bar(x0, w, v, VERDICT_COLOURS[verdict], f"{tip} · {verdict} · click to open its traversal",
              f' data-click="{d}" data-verdict="{esc(verdict)}" data-dim="z{d}" data-value="{v:.6g}" style="cursor:pointer"')
        if se is not None and err[d] > 0:
            cx, y0, y1 = x0 + w / 2, f.y(v - err[d]), f.y(v + err[d])
            cap = min(4.0, w / 3)
            f.parts.append(f'<path d="M{cx:.1f} {y0:.1f}V{y1:.1f}M{cx - cap:.1f} {y0:.1f}h{2 * cap:.1f}'
                           f'M{cx - cap:.1f} {y1:.1f}h{2 * cap:.1f}" stroke="#444" stroke-width="1.2" fill="none"/>')
        if se is not None and v < 0:
            f.text(x0 + w / 2, f.y(0.0) - 3, "noise", "middle", opacity=0.7, size=9)
    f.category_labels([f"z{d}" for d in order])
    f.hline(threshold, ACCENT)
    f.text(f.width - f.right, f.y(threshold) - 4, f"threshold {threshold:.3g}", "end", colour=ACCENT, opacity=1)
    present = [v for v in VERDICT_COLOURS if v in {verdicts[d] for d in order}]
    f.legend([(v, VERDICT_COLOURS[v]) for v in present])
    return f.svg(f"{title} per dimension")


def density_svg(reference_lo: float, reference_hi: float, counts: list[float], centres: list[float], log_q: float,
                low: float, off_manifold: bool, height: int = 190, width: int = 360) -> str:
    """The histogram of log q at samples of q(z), the data's 1st percentile dashed, and the slider
    latent's log q marked (pinned to the left edge, with its value, when far off the chart)."""
    lo, hi = float(reference_lo), float(reference_hi)
    span = max(hi - lo, 1e-6)
    far = not math.isfinite(log_q) or log_q < lo - 0.5 * span
    x_mark = lo - 0.25 * span if far else float(log_q)
    centres = np.asarray(centres, dtype=np.float64)
    bin_w = span / max(1, len(counts))
    x_lo = min(lo, x_mark, low, float(centres.min()) - bin_w / 2 if len(centres) else lo) - 0.03 * span
    x_hi = max(hi, x_mark, low, float(centres.max()) + bin_w / 2 if len(centres) else hi) + 0.03 * span
    f = Frame(width, height, [0.0, *counts], x_range=(x_lo, x_hi), top=22, bottom=36, left=48)
    f.y_axis("samples")
    px = f.plot_w * bin_w / (x_hi - x_lo)
    for c, n in zip(centres, counts):
        f.bar(f.x(c) - px / 2 + 0.5, px - 1, float(n), "#9bb7d4", f"log q ≈ {c:.1f}: {int(n)} samples")
    f.x_axis("log q(z) (nats)")
    f.vline(f.x(low), "#888", "4 3", 1)
    colour = ACCENT if off_manifold else "#2ca02c"
    f.vline(f.x(x_mark), colour, "2 3" if far else "", 3)
    f.text(f.x(x_mark) + 4, f.top - 6, f"← slider z: {log_q:.1f}" if far else f"slider z: {log_q:.1f}",
           colour=colour, opacity=1)
    return f.svg("log q(z) of the slider latent against the data's")
