"""Every chart the pages show, as a plain plotly dict (``{"data": [...], "layout": {...}}``) in one
style. Plotly validates a dict once, in ``st.plotly_chart``, instead of on every ``add_trace``; tests
read the traces and axes without a browser. Numbers come from ``vae``; this module only draws them.
"""
from __future__ import annotations

import numpy as np

from ui.labels import ESTIMATOR_LABELS, estimator_colour, estimator_key, estimator_label
from vae.analysis.collapse import VERDICTS
from vae.analysis.kl_history import KLHistory

# ---------------------------------------------------------------- one style

MARGIN = dict(l=10, r=10, t=40, b=10)
LEGEND_BELOW = dict(orientation="h", y=-0.2)
HEIGHT = 320
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5"]  # plotly's / D3's categorical colours
VERDICT_COLOURS = dict(zip(VERDICTS, ("#1f77b4", "#ff7f0e", "#9467bd", "#c7c7c7")))
ACCENT = "#d62728"  # thresholds, the selected point, a probe


def axis(title: str | None = None, **kw) -> dict:
    return dict(title=dict(text=title), **kw) if title is not None else dict(**kw)


def layout(title: str | None = None, height: int = HEIGHT, **kw) -> dict:
    """The one layout: a title (or none), the margins, a legend below the plot."""
    out = dict(height=height, margin=dict(MARGIN, t=40 if title else 10), legend=dict(LEGEND_BELOW))
    if title:
        out["title"] = dict(text=title)
    out.update(kw)
    return out


def figure(data: list[dict], lay: dict) -> dict:
    return {"data": data, "layout": lay}


def panels(titles: tuple[str, ...], gap: float = 0.1) -> dict:
    """Layout entries for side-by-side panels: x axes 'x', 'x2', … with their own y axes and a
    title over each (what ``make_subplots`` does, without building a Figure)."""
    n = len(titles)
    width = (1 - gap * (n - 1)) / n
    out: dict = {"annotations": []}
    for k, text in enumerate(titles):
        lo = k * (width + gap)
        sx = "" if k == 0 else str(k + 1)
        out[f"xaxis{sx}"] = dict(domain=[lo, lo + width], anchor=f"y{sx}")
        out[f"yaxis{sx}"] = dict(anchor=f"x{sx}")
        out["annotations"].append(dict(text=text, x=lo + width / 2, y=1.0, xref="paper", yref="paper",
                                       xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=14)))
    return out


def vline(x: float, xref: str = "x", **line) -> dict:
    return dict(type="line", xref=xref, x0=x, x1=x, yref="paper", y0=0, y1=1, line=line)


def _list(a) -> list:
    return np.asarray(a).tolist()


# ---------------------------------------------------------------- training (Train page, Collapse page)

def training_curves(history: list[dict]) -> dict:
    """ELBO (train, test) and the test reconstruction and KL after each epoch, from history records."""
    ep = [h["epoch"] for h in history]

    def line(key: str, name: str, panel: str, sign: float = 1.0) -> dict:
        return dict(type="scatter", mode="lines", x=ep, y=[sign * h[key] for h in history], name=name,
                    xaxis=f"x{panel}", yaxis=f"y{panel}")

    data = [line("train_elbo", "train ELBO", ""), line("test_elbo", "test ELBO", ""),
            line("test_rec", "−E_q[log p(x|z)]", "2", -1.0), line("test_kl", "KL(q ‖ p)", "2")]
    if history and all(h.get("train_relaxed") is not None for h in history):  # categorical: what was trained on
        data.append(dict(line("train_relaxed", "relaxed objective (train; not the ELBO)", ""), line=dict(dash="dot")))
    lay = layout(height=HEIGHT, legend=dict(orientation="h", y=-0.25), margin=dict(MARGIN, t=40, b=40),
                 **panels(("ELBO (nats per image)", "Reconstruction and KL (test)")))
    lay["xaxis"]["title"] = lay["xaxis2"]["title"] = dict(text="epoch")
    return figure(data, lay)


def kl_epoch_heatmap(h: KLHistory, title: str = "KL per dimension per epoch") -> dict:
    """The test KL of each latent dimension (rows) after each epoch (columns), on a log colour scale
    (dark: collapsed onto the prior), the value in nats on hover."""
    kl = np.asarray(h.kl, dtype=np.float64).T  # (D, E)
    z = np.log10(np.maximum(kl, 1e-4))
    ticks = list(range(-4, int(np.ceil(z.max())) + 1))
    colorbar = dict(title=dict(text="KL (nats)"), tickvals=ticks, ticktext=[f"{10.0 ** t:g}" for t in ticks])
    trace = dict(type="heatmap", z=z.tolist(), x=_list(h.epochs), y=[f"z{d}" for d in range(kl.shape[0])],
                 colorscale="Viridis", colorbar=colorbar, customdata=kl.tolist(),
                 hovertemplate="%{y}, epoch %{x}: KL %{customdata:.4f} nats<extra></extra>")
    return figure([trace], layout(title, height=min(640, max(HEIGHT, 120 + 18 * kl.shape[0])),
                                  xaxis=axis("epoch"), yaxis=dict(autorange="reversed")))


# ---------------------------------------------------------------- collapse diagnostics

def heatmap(z: np.ndarray, x, y, title: str, xlabel: str, colour_title: str, **trace) -> dict:
    """A matrix z (len(y), len(x)) as a Viridis heatmap, first row at the top."""
    t = dict(type="heatmap", z=_list(z), x=_list(x), y=list(y), colorscale="Viridis",
             colorbar=dict(title=dict(text=colour_title)), **trace)
    return figure([t], layout(title, xaxis=axis(xlabel), yaxis=dict(autorange="reversed")))


def profile_bars(profiles: list[tuple[str, np.ndarray, np.ndarray]], title: str, ylabel: str) -> dict:
    """Runs side by side: per run (name, dims, values sorted from largest), bars by rank."""
    data = [dict(type="bar", x=list(range(1, len(vals) + 1)), y=_list(vals), name=name,
                 customdata=[f"z{int(d)}" for d in dims],
                 hovertemplate="rank %{x}: %{customdata} = %{y:.4f}<extra>" + name + "</extra>")
            for name, dims, vals in profiles]
    return figure(data, layout(title, height=360, barmode="group",
                               xaxis=axis("rank of the dimension in its run"), yaxis=axis(ylabel)))


# ---------------------------------------------------------------- gradient estimators

def _by_estimator(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(estimator_key(r["estimator"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["L"]) for k, v in out.items()}


def _log_l_axis(ls: list[int]) -> dict:
    return axis("L (samples per image)", type="log", tickvals=ls)


def variance_figure(rows: list[dict]) -> dict:
    """tr Cov[ĝ] against L on log-log axes per estimator, with a dotted 1/L line through each first point."""
    groups = _by_estimator(rows)
    data = []
    for est, part in groups.items():
        ls, v = [r["L"] for r in part], [r["trace_var"] for r in part]
        colour = estimator_colour(est)
        data.append(dict(type="scatter", mode="lines+markers", x=ls, y=v, name=estimator_label(est),
                         line=dict(color=colour)))
        if len(part) > 1:
            data.append(dict(type="scatter", mode="lines", x=ls, y=[v[0] * ls[0] / L for L in ls], showlegend=False,
                             line=dict(dash="dot", width=1, color=colour), hoverinfo="skip"))
    ls = sorted({r["L"] for r in rows})
    return figure(data, layout("Variance of one estimate against L", xaxis=_log_l_axis(ls),
                               yaxis=axis("tr Cov[ĝ]", type="log"), legend=dict(orientation="h", y=-0.25)))


def snr_figure(rows: list[dict]) -> dict:
    data = [dict(type="scatter", mode="lines+markers", x=[r["L"] for r in part], y=[r["snr"] for r in part],
                 name=estimator_label(est), line=dict(color=estimator_colour(est)))
            for est, part in _by_estimator(rows).items()]
    ls = sorted({r["L"] for r in rows})
    return figure(data, layout("Signal-to-noise ratio", xaxis=_log_l_axis(ls), yaxis=axis("‖g‖ / √tr Cov"),
                               legend=dict(orientation="h", y=-0.25)))


def agreement_figure(rows: list[dict]) -> dict:
    """Cosine and relative difference of each score-function mean to the reparameterized mean, ±2 s.e.,
    beside the value noise alone would give; the two estimators side by side at each L."""
    ls = sorted({r["L"] for r in rows})
    data = []
    for shift, est in zip((-0.12, 0.12), ("score", "score_baseline")):
        name, colour = ESTIMATOR_LABELS[est], estimator_colour(est)
        part = [r for r in rows if r["pair"].startswith(est + " vs") or r["pair"].startswith(name + " vs")]
        xs = [ls.index(r["L"]) + shift for r in part]
        for j, (y, se, ref) in enumerate((("cosine", "cosine_se", "cosine_if_equal"),
                                           ("rel_diff", "rel_diff_se", "rel_diff_if_equal"))):
            ax = "" if j == 0 else "2"
            data.append(dict(type="scatter", mode="markers", x=xs, y=[r[y] for r in part], name=name, legendgroup=name,
                             showlegend=j == 0, marker=dict(color=colour, size=9), xaxis=f"x{ax}", yaxis=f"y{ax}",
                             error_y=dict(type="data", array=[2 * r[se] for r in part])))
            data.append(dict(type="scatter", mode="markers", x=xs, y=[r[ref] for r in part], legendgroup=name,
                             name=f"{name}: expected from noise alone", showlegend=j == 0, xaxis=f"x{ax}",
                             yaxis=f"y{ax}", marker=dict(color=colour, symbol="line-ew-open", size=18)))
    lay = layout(height=380, legend=dict(orientation="h", y=-0.3), margin=dict(MARGIN, t=50),
                 **panels(("cos(mean, reparameterized mean)",
                           "‖mean − reparameterized mean‖ / ‖reparameterized mean‖")))
    for ax in ("xaxis", "xaxis2"):
        lay[ax].update(title=dict(text="L"), tickvals=list(range(len(ls))), ticktext=[str(L) for L in ls],
                       range=[-0.5, len(ls) - 0.5])
    return figure(data, lay)


def toy_figure(truth: tuple[float, float], samples: dict[str, np.ndarray]) -> dict:
    """Histograms of the 1-D example's estimates (n, 2) per estimator, for ∂/∂μ and ∂/∂σ, the view clipped to
    the central 99% of all estimates (the score function's tails are long), the truth dashed."""
    titles = ("∂/∂μ: true 2(μ − t)", "∂/∂σ: true 2σ")
    lay = layout(height=380, barmode="overlay", margin=dict(MARGIN, t=50), **panels(titles))
    data, shapes = [], []
    for j in range(2):
        ax = "" if j == 0 else "2"
        every = np.concatenate([np.asarray(v)[:, j] for v in samples.values()])
        lo, hi = (float(q) for q in np.quantile(every, [0.005, 0.995]))
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        for name, v in samples.items():
            data.append(dict(type="histogram", x=np.asarray(v)[:, j].tolist(), name=estimator_label(name),
                             legendgroup=name, showlegend=j == 0, opacity=0.55, xaxis=f"x{ax}", yaxis=f"y{ax}",
                             marker=dict(color=estimator_colour(name)), histnorm="probability density",
                             xbins=dict(start=lo, end=hi, size=(hi - lo) / 80)))
        shapes.append(dict(vline(truth[j], xref=f"x{ax}", color="black", dash="dash"), yref=f"y{ax} domain"))
        lay["annotations"].append(dict(x=truth[j], xref=f"x{ax}", y=1, yref=f"y{ax} domain", text="true gradient",
                                       showarrow=False, xanchor="left", yanchor="top"))
        lay[f"xaxis{ax}"]["range"] = [lo, hi]
    lay["shapes"] = shapes
    return figure(data, lay)


def training_comparison_figure(rows: list[dict]) -> dict:
    """Test ELBO after each epoch, one line per estimator (rows: estimator, epoch, test_elbo)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(estimator_key(r["estimator"]), []).append(r)
    data = [dict(type="scatter", mode="lines+markers", x=[r["epoch"] for r in part],
                 y=[r["test_elbo"] for r in part], name=estimator_label(est), line=dict(color=estimator_colour(est)))
            for est, part in groups.items()]
    return figure(data, layout("Test ELBO while training with each estimator", xaxis=axis("epoch", dtick=1),
                               yaxis=axis("test ELBO (nats)")))
