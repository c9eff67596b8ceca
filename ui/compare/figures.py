"""The Compare runs page's charts, as plain plotly dicts in the project's one style
(``ui.figures``): the rate–distortion plane, the ELBO-surgery split, two aligned latent maps
and the disentanglement scores. Numbers come from ``vae``; this module only draws them."""
from __future__ import annotations

import html
import math

import numpy as np

from ui.figures import ACCENT, PALETTE, axis, figure, layout, panels

OTHER = "#7f7f7f"  # runs outside any sweep
ISO_COLOUR = "#bbbbbb"


def _nice_step(span: float, lines: int = 6) -> float:
    raw = max(span, 1e-9) / lines
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _safe(text: str) -> str:
    """A name from data as plotly shows it in titles, legends and hover templates: tags escaped, and
    '%' as an entity so a class called '%{x}' is not read as a template field."""
    return html.escape(str(text)).replace("%", "&#37;")


def iso_elbo_lines(x_range: tuple[float, float], y_range: tuple[float, float], lines: int = 6
                   ) -> list[tuple[float, tuple[float, float, float, float]]]:
    """Lines of equal ELBO (rate + distortion = c) across the box, at round values of c:
    [(c, (x0, y0, x1, y1))], each segment clipped to the box."""
    (xlo, xhi), (ylo, yhi) = x_range, y_range
    lo, hi = xlo + ylo, xhi + yhi
    step = _nice_step(hi - lo, lines)
    out = []
    c = math.ceil(lo / step) * step
    while c <= hi + 1e-9:
        x0, x1 = max(xlo, c - yhi), min(xhi, c - ylo)
        if x1 - x0 > 1e-9 * max(1.0, abs(c)):
            out.append((c, (x0, c - x0, x1, c - x1)))
        c += step
    return out


def rd_plane(points: list[dict], current: str | None = None) -> dict:
    """points: [{"name", "rate", "distortion", "rate_se", "distortion_se", "elbo", "sweep", "hover"}];
    one trace per sweep (runs outside sweeps together), error bars of ±2 standard errors, the
    current run ringed, grey lines of equal ELBO. customdata: the run's name (a click opens it).
    Names are HTML-escaped where plotly would read tags (point labels); ``hover`` comes escaped."""
    if not points:
        return figure([dict(type="scatter", x=[], y=[], mode="markers")],
                      layout("No runs to place yet", xaxis=axis("rate (nats)"), yaxis=axis("distortion (nats)")))
    r = np.array([p["rate"] for p in points])
    d = np.array([p["distortion"] for p in points])
    pad_x = 0.08 * max(r.max() - r.min(), 1.0)
    pad_y = 0.08 * max(d.max() - d.min(), 1.0)
    xr = (max(0.0, r.min() - pad_x), r.max() + pad_x)
    yr = (max(0.0, d.min() - pad_y), d.max() + pad_y)
    groups: dict[str, list[dict]] = {}
    for p in points:
        groups.setdefault(p.get("sweep") or "", []).append(p)
    data = []
    for k, (sweep, ps) in enumerate(sorted(groups.items(), key=lambda kv: (kv[0] == "", kv[0]))):
        colour = PALETTE[k % len(PALETTE)] if sweep else OTHER
        data.append(dict(type="scatter", mode="markers+text", name=f"sweep {sweep}" if sweep else "other runs",
                         x=[p["rate"] for p in ps], y=[p["distortion"] for p in ps],
                         text=[html.escape(p["name"]) for p in ps], textposition="top center", textfont=dict(size=10),
                         customdata=[[p["name"]] for p in ps],
                         error_x=dict(type="data", array=[2 * p["rate_se"] for p in ps], visible=True, thickness=1),
                         error_y=dict(type="data", array=[2 * p["distortion_se"] for p in ps], visible=True,
                                      thickness=1),
                         hovertext=[p["hover"] for p in ps], hoverinfo="text", cliponaxis=False,
                         marker=dict(size=11, color=colour, line=dict(width=1, color="white"))))
    cur = [p for p in points if p["name"] == current]
    if cur:
        data.append(dict(type="scatter", mode="markers", name="current run", x=[cur[0]["rate"]],
                         y=[cur[0]["distortion"]], hoverinfo="skip",
                         marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(width=2, color=ACCENT))))
    shapes, notes = [], []
    for c, (x0, y0, x1, y1) in iso_elbo_lines(xr, yr):
        shapes.append(dict(type="line", xref="x", yref="y", x0=x0, y0=y0, x1=x1, y1=y1, layer="below",
                           line=dict(color=ISO_COLOUR, dash="dot", width=1)))
        notes.append(dict(x=x1, y=y1, xref="x", yref="y", text=f"ELBO −{c:g}", showarrow=False,
                          font=dict(size=10, color="#888"), xanchor="right", yanchor="bottom"))
    return figure(data, layout(None, height=460, shapes=shapes, annotations=notes, clickmode="event+select",
                               xaxis=axis("rate  E KL(q(z|x) ‖ p(z))  (nats)", range=list(xr), zeroline=False),
                               yaxis=axis("distortion  −E log p(x|z)  (nats)", range=list(yr), zeroline=False)))


def surgery_bars(rows: list[dict]) -> dict:
    """rows: [{"name", "rate", "rate_se", "mi", "mi_se", "marginal_kl", "marginal_kl_se", "mi_ceiling"}]:
    per run the rate split into I_q(x; z) and KL(q(z) ‖ p(z)) (stacked, ±2 s.e.), the rate itself as a
    diamond and log N, the ceiling of I_q, as a dash."""
    names = [r["name"] for r in rows]
    data = [
        dict(type="bar", name="I_q(x; z): information about x", x=names, y=[r["mi"] for r in rows],
             marker=dict(color=PALETTE[0]), error_y=dict(type="data", array=[2 * r["mi_se"] for r in rows])),
        dict(type="bar", name="KL(q(z) ‖ p(z)): aggregate posterior vs prior", x=names,
             y=[r["marginal_kl"] for r in rows], marker=dict(color=PALETTE[1]),
             error_y=dict(type="data", array=[2 * r["marginal_kl_se"] for r in rows])),
        dict(type="scatter", mode="markers", name="rate E KL(q(z|x) ‖ p(z))", x=names, y=[r["rate"] for r in rows],
             marker=dict(symbol="diamond", size=11, color="black"),
             error_y=dict(type="data", array=[2 * r["rate_se"] for r in rows])),
        dict(type="scatter", mode="markers", name="log N: the most I_q can be", x=names,
             y=[r["mi_ceiling"] for r in rows], marker=dict(symbol="line-ew-open", size=26, color=ACCENT)),
    ]
    return figure(data, layout(None, height=360, barmode="stack", yaxis=axis("nats per image")))


def aligned_maps(ref: np.ndarray, moved: np.ndarray, labels: np.ndarray, class_names: list[str],
                 titles: tuple[str, str], highlight: list[int] | None = None) -> dict:
    """Two maps of the same points side by side (ref, moved: (N, 2), the second already aligned onto
    the first), coloured by class; customdata: the point's row, so a selection in either names
    the same points; ``highlight`` rows are ringed in both."""
    lay = layout(None, height=460, dragmode="lasso", clickmode="event+select",
                 **panels(tuple(_safe(t) for t in titles), gap=0.06))
    lay["margin"] = dict(lay["margin"], t=34)  # room for the panel titles
    data = []
    labels = np.asarray(labels)
    rows = np.arange(len(ref))
    for c in np.unique(labels):
        m = labels == c
        name = _safe(class_names[int(c)] if 0 <= int(c) < len(class_names) else str(c))
        for k, xy in enumerate((ref, moved)):
            sx = "" if k == 0 else "2"
            data.append(dict(type="scattergl", mode="markers", name=str(name), legendgroup=str(name),
                             showlegend=k == 0, x=xy[m, 0].tolist(), y=xy[m, 1].tolist(),
                             customdata=rows[m][:, None].tolist(), xaxis=f"x{sx}", yaxis=f"y{sx}",
                             hovertemplate=f"#%{{customdata[0]}} · {name}<extra></extra>",
                             marker=dict(size=5, opacity=0.7, color=PALETTE[int(c) % len(PALETTE)])))
    if highlight:
        h = np.asarray(highlight, dtype=int)
        for k, xy in enumerate((ref, moved)):
            sx = "" if k == 0 else "2"
            data.append(dict(type="scatter", mode="markers", name="selected", legendgroup="selected",
                             showlegend=k == 0, x=xy[h, 0].tolist(), y=xy[h, 1].tolist(),
                             customdata=h[:, None].tolist(), xaxis=f"x{sx}", yaxis=f"y{sx}",
                             hovertemplate="#%{customdata[0]}<extra>selected</extra>",
                             marker=dict(size=12, color="rgba(0,0,0,0)", line=dict(width=2, color=ACCENT))))
    # equal scales in both panels: the second map is in the first's frame
    lo = np.minimum(ref.min(0), moved.min(0))
    hi = np.maximum(ref.max(0), moved.max(0))
    pad = 0.05 * (hi - lo + 1e-9)
    for sx in ("", "2"):
        lay[f"xaxis{sx}"].update(range=[float(lo[0] - pad[0]), float(hi[0] + pad[0])], title=dict(text="PC 1"))
        lay[f"yaxis{sx}"].update(range=[float(lo[1] - pad[1]), float(hi[1] + pad[1])],
                                 title=dict(text="PC 2" if sx == "" else None))
    return figure(data, lay)


def score_groups(groups: list[dict], scores: list[str]) -> dict:
    """groups: [{"label", "mean": {score: v}, "sd": {score: v}, "n"}]: one bar per score and group,
    with ±1 standard deviation across seeds where a group has more than one run."""
    data = []
    for k, g in enumerate(groups):
        sd = [g["sd"].get(s) for s in scores]
        data.append(dict(type="bar", name=f"{g['label']} (n = {g['n']})", x=scores,
                         y=[g["mean"].get(s) for s in scores], marker=dict(color=PALETTE[k % len(PALETTE)]),
                         error_y=dict(type="data", array=[0 if v is None or v != v else v for v in sd],
                                      visible=g["n"] > 1)))
    return figure(data, layout(None, height=340, barmode="group", yaxis=axis("score", range=[0, 1.05])))
