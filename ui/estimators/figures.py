"""The Gradient estimators page's figures for the Gaussian estimators (variance and SNR against L,
agreement of the means, the 1-D example's histograms, the training comparison's curves), as plain
plotly dicts in the style of ``ui.figures``."""
from __future__ import annotations

import numpy as np

from ui.figures import MARGIN, axis, figure, layout, panels, vline
from ui.labels import ESTIMATOR_LABELS, estimator_colour, estimator_key, estimator_label


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
