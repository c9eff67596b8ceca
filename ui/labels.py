"""Display words for the library's names (estimators, baselines): what the pages and figures show.
``vae`` keeps short keys; the words belong to the UI."""
from __future__ import annotations

ESTIMATOR_LABELS = {"reparam": "reparameterization", "score": "score function",
                    "score_baseline": "score function + baseline"}
BASELINE_LABELS = {"posterior_mean": "b = log p(x | z = μ(x))",
                   "leave_one_out": "b = mean of the other L − 1 samples' log p(x|z)"}
ESTIMATOR_COLOURS = {"reparam": "#1f77b4", "score": "#d62728", "score_baseline": "#ff7f0e"}
# The estimators that exist only on the toys of the Gumbel-softmax and implicit-reparameterization
# panels (vae.analysis.estimators_relaxed); the score-function ones share the words above.
TOY_ESTIMATOR_LABELS = {"relaxed": "Gumbel-softmax (relaxed)", "straight_through": "straight-through Gumbel-softmax",
                        "implicit": "implicit reparameterization"}
TOY_ESTIMATOR_COLOURS = {"relaxed": "#2ca02c", "straight_through": "#9467bd", "implicit": "#1f77b4"}
TOY_BASELINE_LABELS = {"posterior_mean": "b = f(E z) (f at the mean of z)",
                       "leave_one_out": "b = mean f of the other L − 1 samples"}
GAMMA_F_LABELS = {"z": "f(z) = z", "z2": "f(z) = z²", "log_z": "f(z) = log z"}
_LABELS = {**ESTIMATOR_LABELS, **TOY_ESTIMATOR_LABELS}
_COLOURS = {**ESTIMATOR_COLOURS, **TOY_ESTIMATOR_COLOURS}
_BY_LABEL = {v: k for k, v in _LABELS.items()}


def estimator_key(name: str) -> str:
    """An estimator's key from its key or its display label (rows from ``vae`` carry either)."""
    return name if name in _LABELS else _BY_LABEL.get(name, name)


def estimator_label(name: str) -> str:
    return _LABELS.get(estimator_key(name), str(name))


def estimator_colour(name: str) -> str:
    return _COLOURS.get(estimator_key(name), "#7f7f7f")


def labelled(rows: list[dict]) -> list[dict]:
    """Table rows from ``vae`` with their estimator keys shown as words ("estimator" and "pair" columns)."""
    out = []
    for r in rows:
        r = dict(r)
        if "estimator" in r:
            r["estimator"] = estimator_label(r["estimator"])
        if isinstance(r.get("pair"), str) and " vs " in r["pair"]:
            r["pair"] = " vs ".join(estimator_label(p) for p in r["pair"].split(" vs ", 1))
        out.append(r)
    return out
