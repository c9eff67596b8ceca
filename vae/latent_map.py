"""Figures for the latent-map page: the projection scatter, one point's posterior
and neighbours, a selection's reconstructions, and decoding a probed plot point.

Built from ``vae.analysis.projection``; plotly figures are returned, never shown, so tests
can inspect them. The model is only read (no_grad, no mode change).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.colors import qualitative

from .models import VAE
from .analysis.projection import Colour, Projection, nearest_neighbours, point_terms, posterior_samples

PROBE_GRID = 40  # probe points per axis over the plot: a click between clusters lands on one
SVG_MAX_POINTS = 5_000  # above this the scatter uses WebGL
PALETTE = qualitative.Plotly + qualitative.D3[10:] + qualitative.Dark24


# ---------------------------------------------------------------- the scatter

def scatter_figure(proj: Projection, idx: np.ndarray, colour: Colour, class_names: list[str],
                   labels: np.ndarray, probe: bool = False, highlight: int | None = None,
                   probe_mark: tuple[float, float] | None = None, height: int = 620) -> go.Figure:
    """The projection as a scatter. proj.xy: (M, 2) for dataset rows ``idx`` (M,);
    colour.values and labels: (M,). Each marker's customdata is [dataset index, label
    name, colour value], so a selection names dataset rows whatever the trace.

    probe: add an invisible grid of points (customdata index −1) under the data so
    a click on empty space reports its plot coordinates. highlight: a dataset
    index to ring; probe_mark: plot coordinates to mark with a cross.
    """
    idx = np.asarray(idx)
    xy = proj.xy
    names = np.array([class_names[int(c)] if 0 <= int(c) < len(class_names) else str(int(c)) for c in labels])
    kind = "scattergl" if len(idx) > SVG_MAX_POINTS else "scatter"
    vals = colour.values
    custom = np.stack([idx.astype(object), names.astype(object),
                       (names if colour.categorical else vals).astype(object)], 1)
    value_line = "" if colour.categorical else f"<br>{colour.title}: %{{customdata[2]:.3g}}"
    hover = "#%{customdata[0]} · label %{customdata[1]}" + value_line + "<extra></extra>"
    edge = dict(width=0.5, color="white")
    # Traces as plain dicts, validated once by go.Figure: much faster than add_trace per class.
    traces = [_probe_trace(xy)] if probe else []
    if colour.categorical:
        for c in np.unique(vals):
            m = vals == c
            name = class_names[int(c)] if 0 <= int(c) < len(class_names) else str(int(c))
            traces.append(dict(type=kind, x=xy[m, 0], y=xy[m, 1], mode="markers", name=name, customdata=custom[m],
                               hovertemplate=hover,
                               marker=dict(size=7, color=PALETTE[int(c) % len(PALETTE)], line=edge)))
    else:
        traces.append(dict(type=kind, x=xy[:, 0], y=xy[:, 1], mode="markers", name="data", customdata=custom,
                           hovertemplate=hover, showlegend=False,
                           marker=dict(size=7, color=vals, colorscale="Viridis", showscale=True, line=edge,
                                       colorbar=dict(title=dict(text=colour.title, side="right")))))
    if highlight is not None and highlight in set(idx.tolist()):
        k = int(np.flatnonzero(idx == highlight)[0])
        traces.append(dict(type="scatter", x=[xy[k, 0]], y=[xy[k, 1]], mode="markers", name="selected",
                           customdata=custom[k:k + 1], hovertemplate=hover, showlegend=False,
                           marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#d62728"))))
    if probe_mark is not None:
        traces.append(dict(type="scatter", x=[probe_mark[0]], y=[probe_mark[1]], mode="markers", name="probed",
                           customdata=[[-1]], showlegend=False,
                           hovertemplate="decoded here: (%{x:.2f}, %{y:.2f})<extra></extra>",
                           marker=dict(size=14, symbol="x-thin", line=dict(width=3, color="#d62728"))))
    flat = proj.method == "latent" and proj.latent_dim == 1
    layout = dict(height=height, margin=dict(l=10, r=10, t=30, b=10), hovermode="closest",
                  legend=dict(title=dict(text="label"), itemsizing="constant"), uirevision=proj.method,
                  xaxis=dict(title=dict(text=proj.axis_titles[0])),
                  yaxis=dict(title=dict(text=proj.axis_titles[1]), showticklabels=not flat))
    return go.Figure(dict(data=traces, layout=layout))


def _probe_trace(xy: np.ndarray) -> dict:
    (x0, y0), (x1, y1) = plot_range(xy)
    gx, gy = np.meshgrid(np.linspace(x0, x1, PROBE_GRID), np.linspace(y0, y1, PROBE_GRID))
    n = gx.size
    return dict(type="scatter", x=gx.ravel(), y=gy.ravel(), mode="markers", name="probe", showlegend=False,
                customdata=np.full((n, 1), -1), hovertemplate="(%{x:.2f}, %{y:.2f}): click to decode<extra></extra>",
                marker=dict(size=14, color="rgba(0,0,0,0)"),
                selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)))


def plot_range(xy: np.ndarray, pad: float = 0.08) -> tuple[tuple[float, float], tuple[float, float]]:
    """Lower-left and upper-right corners of the data (M, 2), padded by a fraction of the span."""
    lo, hi = xy.min(0).astype(float), xy.max(0).astype(float)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    return (lo[0], lo[1]), (hi[0], hi[1])


# ---------------------------------------------------------------- reading a selection

@dataclass
class Selection:
    kind: str = "none"  # none | point | many | probe
    indices: list[int] = field(default_factory=list)  # dataset rows (point: one; many: all)
    xy: tuple[float, float] | None = None  # probe: plot coordinates


def parse_selection(selection: dict | None) -> Selection:
    """A ``st.plotly_chart`` selection ({"points": [{"customdata": [i, ...], "x", "y"}, ...]}) as
    dataset rows. Probe points (index −1) count only when nothing else is selected."""
    points = (selection or {}).get("points") or []
    rows, probes = [], []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, dict):  # a numeric customdata row can come back as {"0": value, ...}
            cd = [cd[k] for k in sorted(cd, key=lambda k: int(k) if str(k).isdigit() else 0)]
        i = cd[0] if isinstance(cd, (list, tuple)) and cd else cd
        try:
            i = int(i)
        except (TypeError, ValueError):
            continue
        (rows if i >= 0 else probes).append((i, p))
    uniq = list(dict.fromkeys(i for i, _ in rows))
    boxed = bool((selection or {}).get("box") or (selection or {}).get("lasso"))
    if len(uniq) == 1 and not boxed:
        return Selection("point", uniq)
    if uniq:
        return Selection("many", uniq)
    if len(probes) == 1 and not boxed:
        p = probes[0][1]
        return Selection("probe", [], (float(p["x"]), float(p["y"])))
    return Selection()


# ---------------------------------------------------------------- one point in detail

@dataclass
class PointDetail:
    """Everything shown for one data point; images are (…, C, H, W) in [0, 1]."""

    index: int
    original: torch.Tensor  # (C, H, W)
    recon: torch.Tensor  # (C, H, W): E[x|z = μ]
    samples: torch.Tensor  # (S, C, H, W): E[x|z] for z ~ q(z|x)
    mu: np.ndarray  # (D,)
    sigma: np.ndarray  # (D,)
    elbo: float
    rec: float
    kl: float
    neighbours: np.ndarray  # (k,) dataset rows, nearest first
    neighbour_dist: np.ndarray  # (k,) Euclidean distances between μ's
    neighbour_images: torch.Tensor  # (k, C, H, W)


@torch.no_grad()
def point_detail(model: VAE, x: torch.Tensor, mu: np.ndarray, logvar: np.ndarray, i: int,
                 n_samples: int = 8, k: int = 8, mc_samples: int = 64, seed: int = 0) -> PointDetail:
    """Detail of row i of a split. x: (N, C, H, W); mu, logvar: (N, D) its cached encodings.
    ELBO terms use mc_samples draws; neighbours are searched among all N means."""
    if not 0 <= i < len(x):
        raise IndexError(f"there is no image {i}: the split has {len(x)}")
    z = torch.from_numpy(np.concatenate([mu[i:i + 1], posterior_samples(mu[i], logvar[i], n_samples, seed)]))
    images = model.mean_image(z)
    terms = point_terms(model, x[i:i + 1], mc_samples=mc_samples, seed=seed)
    nb, dist = nearest_neighbours(mu, mu[i], k, exclude=i)
    return PointDetail(index=i, original=x[i], recon=images[0], samples=images[1:],
                       mu=np.asarray(mu[i], dtype=np.float64), sigma=np.exp(0.5 * np.asarray(logvar[i], np.float64)),
                       elbo=float(terms.elbo[0]), rec=float(terms.rec[0]), kl=float(terms.kl[0]),
                       neighbours=nb, neighbour_dist=dist, neighbour_images=x[torch.from_numpy(nb)])


def posterior_figure(mu: np.ndarray, sigma: np.ndarray | None = None, height: int = 260) -> go.Figure:
    """Bars of μ_d and σ_d per latent dimension (D,); the prior has μ = 0, σ = 1 (dotted)."""
    dims = [f"z{d}" for d in range(len(mu))]
    traces = [dict(type="bar", x=dims, y=mu, name="μ", marker_color="#1f77b4",
                   hovertemplate="%{x}: μ = %{y:.3f}<extra></extra>")]
    layout = dict(barmode="group", height=height, margin=dict(l=10, r=10, t=30, b=10),
                  legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    if sigma is not None:
        traces.append(dict(type="bar", x=dims, y=sigma, name="σ", marker_color="#ff7f0e",
                           hovertemplate="%{x}: σ = %{y:.3f}<extra></extra>"))
        # A layout line rather than add_hline, which costs ~20 ms per figure.
        layout["shapes"] = [dict(type="line", xref="paper", x0=0, x1=1, y0=1, y1=1,
                                 line=dict(dash="dot", color="gray"))]
        layout["annotations"] = [dict(xref="paper", x=0, y=1, yanchor="bottom", xanchor="left", showarrow=False,
                                      text="prior σ = 1", font=dict(color="gray", size=11))]
    return go.Figure(dict(data=traces, layout=layout))


# ---------------------------------------------------------------- selections and probes

@torch.no_grad()
def selection_images(model: VAE, x: torch.Tensor, rows: list[int] | np.ndarray,
                     limit: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` selected originals (n, C, H, W) and their reconstructions E[x|z = μ(x)]."""
    rows = torch.as_tensor(np.asarray(rows, dtype=np.int64)[:limit])
    originals = x[rows]
    mu = model.encode(originals).mean
    return originals, model.mean_image(mu)


@torch.no_grad()
def probe_decode(model: VAE, proj: Projection, xy: tuple[float, float]) -> tuple[np.ndarray, torch.Tensor]:
    """Decode the latent point that a plot point maps to: (z (D,), E[x|z] (C, H, W))."""
    z = proj.inverse(np.asarray(xy, dtype=np.float64))  # (1, D)
    return z[0], model.mean_image(torch.from_numpy(z))[0]
