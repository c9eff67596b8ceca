"""Every chart the pages show, as a plain plotly dict (``{"data": [...], "layout": {...}}``) in one
style. Plotly validates a dict once, in ``st.plotly_chart``, instead of on every ``add_trace``; tests
read the traces and axes without a browser. Numbers come from ``vae``; this module only draws them.
"""
from __future__ import annotations

import numpy as np

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
