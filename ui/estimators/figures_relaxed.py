"""Figures of the Gumbel-softmax and implicit-reparameterization panels, as plain plotly dicts in the
style of ``ui.figures``. Rows come from ``vae.analysis.estimators.relaxed`` / ``.implicit``; this module only
draws them (every error bar is drawn from a standard error or interval the library computed)."""
from __future__ import annotations

from ui.figures import MARGIN, PALETTE, axis, figure, layout, panels
from ui.labels import estimator_colour, estimator_label

RELAXED = ("relaxed", "straight_through")
SCORE = ("score", "score_baseline")


def _tau_axis(taus: list[float]) -> dict:
    return axis("temperature τ", type="log", tickvals=taus, ticktext=[f"{t:g}" for t in taus])


def _flat(est: str, row: dict, taus: list[float], y: float, lo: float, hi: float, what: str) -> list[dict]:
    """A τ-free estimator across the τ axis: its value dashed, its ±2-se band shaded."""
    colour, name = estimator_colour(est), estimator_label(est)
    x = [min(taus), max(taus)]
    text = f"{name}: {what} {y:.4g} (±2 se: {lo:.4g} to {hi:.4g})"
    return [dict(type="scatter", mode="lines", x=x + x[::-1], y=[hi, hi, lo, lo], fill="toself", line=dict(width=0),
                 fillcolor=colour, opacity=0.15, showlegend=False, hoverinfo="skip", legendgroup=est),
            dict(type="scatter", mode="lines", x=x, y=[y, y], name=f"{name} (no τ)", legendgroup=est,
                 line=dict(color=colour, dash="dash"), hovertext=[text, text], hoverinfo="text")]


def temperature_bias_figure(rows: list[dict]) -> dict:
    """‖E ĝ − g‖ against τ for the relaxed and straight-through estimators (error bars: the library's
    2-se interval), with the score-function estimators as flat dashed lines and bands."""
    taus = sorted({r["tau"] for r in rows if r["tau"] is not None})
    data = []
    for est in RELAXED:
        part = sorted((r for r in rows if r["estimator"] == est), key=lambda r: r["tau"])
        data.append(dict(type="scatter", mode="lines+markers", x=[r["tau"] for r in part],
                         y=[r["bias"] for r in part], name=estimator_label(est), line=dict(color=estimator_colour(est)),
                         error_y=dict(type="data", symmetric=False, array=[r["bias_hi"] - r["bias"] for r in part],
                                      arrayminus=[r["bias"] - r["bias_lo"] for r in part])))
    for r in rows:
        if r["tau"] is None:
            data.extend(_flat(r["estimator"], r, taus, r["bias"], r["bias_lo"], r["bias_hi"], "bias"))
    return figure(data, layout("Bias ‖E ĝ − g‖ against temperature", xaxis=_tau_axis(taus),
                               yaxis=axis("‖E ĝ − g‖ (±2 se)", rangemode="tozero"),
                               legend=dict(orientation="h", y=-0.3), height=360))


def temperature_variance_figure(rows: list[dict]) -> dict:
    """tr Cov[ĝ] against τ on log-log axes (error bars ±2 se), the score-function estimators flat."""
    taus = sorted({r["tau"] for r in rows if r["tau"] is not None})
    data = []
    for est in RELAXED:
        part = sorted((r for r in rows if r["estimator"] == est), key=lambda r: r["tau"])
        data.append(dict(type="scatter", mode="lines+markers", x=[r["tau"] for r in part],
                         y=[r["variance"] for r in part], name=estimator_label(est),
                         line=dict(color=estimator_colour(est)),
                         error_y=dict(type="data", array=[2 * r["variance_se"] for r in part])))
    for r in rows:
        if r["tau"] is None:
            v, se = r["variance"], r["variance_se"]
            data.extend(_flat(r["estimator"], r, taus, v, max(v - 2 * se, v * 1e-3), v + 2 * se, "variance"))
    return figure(data, layout("Variance of one estimate against temperature", xaxis=_tau_axis(taus),
                               yaxis=axis("tr Cov[ĝ] (±2 se)", type="log", dtick=1, exponentformat="power"),
                               legend=dict(orientation="h", y=-0.3), height=360))


def relaxed_samples_figure(samples: dict, probs: list[float]) -> dict:
    """Gumbel-softmax samples y at several temperatures: one heatmap per τ, a row per sample, a column
    per class, colour y_k in [0, 1]. Cold samples are one-hot rows; hot ones fade to the centre."""
    taus = list(samples)
    k = len(probs)
    lay = layout(height=340, margin=dict(MARGIN, t=50), **panels(tuple(f"τ = {t:g}" for t in taus), gap=0.04))
    data = []
    for i, tau in enumerate(taus):
        ax = "" if i == 0 else str(i + 1)
        ys = samples[tau]
        data.append(dict(type="heatmap", z=ys, x=[f"{j + 1}" for j in range(k)], y=list(range(1, len(ys) + 1)),
                         zmin=0, zmax=1, colorscale="Blues", showscale=i == len(taus) - 1, xaxis=f"x{ax}",
                         yaxis=f"y{ax}", colorbar=dict(title=dict(text="y_k"), len=0.9),
                         hovertemplate="sample %{y}, class %{x}: y = %{z:.3f}<extra>τ = " + f"{tau:g}" + "</extra>"))
        lay[f"xaxis{ax}"].update(title=dict(text="class k"), type="category")
        lay[f"yaxis{ax}"].update(autorange="reversed", showticklabels=i == 0,
                                 title=dict(text="sample") if i == 0 else None)
    return figure(data, lay)


def one_hot_figure(rows: list[dict]) -> dict:
    """E[max_k y_k] against τ (±2 se): 1 for one-hot samples, 1/K at the simplex's centre."""
    rows = sorted(rows, key=lambda r: r["tau"])
    taus = [r["tau"] for r in rows]
    data = [dict(type="scatter", mode="lines+markers", x=taus, y=[r["mean_max"] for r in rows], name="E[max_k y_k]",
                 line=dict(color=PALETTE[0]), error_y=dict(type="data", array=[2 * r["mean_max_se"] for r in rows]))]
    return figure(data, layout("How one-hot the samples are", xaxis=_tau_axis(taus),
                               yaxis=axis("E[max_k y_k] (±2 se)", range=[0, 1.05]), showlegend=False, height=340))


def argmax_figure(argmax: dict) -> dict:
    """Frequencies of argmax_k y_k over n Gumbel-softmax samples (±2 binomial se) beside π."""
    n, probs, freq = argmax["n"], argmax["probs"], argmax["frequencies"]
    classes = [str(j + 1) for j in range(len(probs))]
    se = [2 * (p * (1 - p) / n) ** 0.5 for p in probs]  # binomial se of a frequency whose mean is π_k
    data = [dict(type="bar", x=classes, y=probs, name="π_k", marker=dict(color="#c7c7c7")),
            dict(type="scatter", mode="markers", x=classes, y=freq, name=f"argmax frequency (n = {n:,})",
                 marker=dict(color=PALETTE[0], size=10), error_y=dict(type="data", array=se))]
    return figure(data, layout(f"argmax of the sample at τ = {argmax['tau']:g} against π", xaxis=axis("class k"),
                               yaxis=axis("probability"), height=340))


def samples_variance_figure(rows: list[dict], title: str) -> dict:
    """tr Cov[ĝ] against L (samples per estimate) on log-log axes, ±2 se, per estimator, with a dotted
    1/L line through each first point."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["estimator"], []).append(r)
    ls = sorted({r["L"] for r in rows})
    data = []
    for est, part in groups.items():
        part.sort(key=lambda r: r["L"])
        x, v = [r["L"] for r in part], [r["variance"] for r in part]
        colour = estimator_colour(est)
        data.append(dict(type="scatter", mode="lines+markers", x=x, y=v, name=estimator_label(est),
                         line=dict(color=colour), error_y=dict(type="data", array=[2 * r["variance_se"] for r in part])))
        if len(part) > 1:
            data.append(dict(type="scatter", mode="lines", x=x, y=[v[0] * x[0] / L for L in x], showlegend=False,
                             line=dict(dash="dot", width=1, color=colour), hoverinfo="skip"))
    return figure(data, layout(title, xaxis=axis("L (samples per estimate)", type="log", tickvals=ls),
                               yaxis=axis("tr Cov[ĝ] (±2 se)", type="log", dtick=1, exponentformat="power"),
                               legend=dict(orientation="h", y=-0.3), height=360))


def variance_ratio_figure(gamma: list[dict], dirichlet: list[dict]) -> dict:
    """Each score-function estimator's variance over the implicit one's (same draws) against L, ±2 se,
    for the Gamma (solid) and the Dirichlet (dotted); 1 is parity."""
    ls = sorted({r["L"] for r in gamma + dirichlet})
    data = []
    for rows, what, dash in ((gamma, "Gamma", "solid"), (dirichlet, "Dirichlet", "dot")):
        for est in SCORE:
            part = sorted((r for r in rows if r["estimator"] == est), key=lambda r: r["L"])
            if part:
                data.append(dict(type="scatter", mode="lines+markers", x=[r["L"] for r in part],
                                 y=[r["ratio"] for r in part], name=f"{what}: {estimator_label(est)}",
                                 line=dict(color=estimator_colour(est), dash=dash),
                                 error_y=dict(type="data", array=[2 * r["ratio_se"] for r in part])))
    return figure(data, layout("Score-function variance over implicit variance", height=360,
                               xaxis=axis("L (samples per estimate)", type="log", tickvals=ls),
                               yaxis=axis("variance ratio (±2 se)", rangemode="tozero"),
                               legend=dict(orientation="h", y=-0.3),
                               shapes=[dict(type="line", xref="x domain", x0=0, x1=1, y0=1, y1=1, yref="y",
                                            line=dict(color="black", dash="dash", width=1))]))


def gamma_means_figure(rows: list[dict]) -> dict:
    """Each estimator's mean d/dα E[f] ± 2 se at each L, beside the exact value (dashed)."""
    ls = sorted({r["L"] for r in rows})
    ests = list(dict.fromkeys(r["estimator"] for r in rows))
    data = []
    for i, est in enumerate(ests):
        part = sorted((r for r in rows if r["estimator"] == est), key=lambda r: r["L"])
        shift = (i - (len(ests) - 1) / 2) * 0.12
        data.append(dict(type="scatter", mode="markers", x=[ls.index(r["L"]) + shift for r in part],
                         y=[r["mean"] for r in part], name=estimator_label(est),
                         marker=dict(color=estimator_colour(est), size=8),
                         error_y=dict(type="data", array=[2 * r["se"] for r in part])))
    exact = rows[0]["exact"] if rows else 0.0
    data.append(dict(type="scatter", mode="lines", x=[-0.5, len(ls) - 0.5], y=[exact, exact], name="exact",
                     line=dict(color="black", dash="dash")))
    return figure(data, layout("Mean estimate against the exact gradient", height=360,
                               xaxis=axis("L (samples per estimate)", tickvals=list(range(len(ls))),
                                          ticktext=[str(L) for L in ls], range=[-0.5, len(ls) - 0.5]),
                               yaxis=axis("d/dα E[f(z)] (±2 se)"), legend=dict(orientation="h", y=-0.3)))
