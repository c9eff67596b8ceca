"""Display words for the library's names (estimators, baselines): what the pages and figures show.
``vae`` keeps short keys; the words belong to the UI."""
from __future__ import annotations

ESTIMATOR_LABELS = {"reparam": "reparameterization", "score": "score function",
                    "score_baseline": "score function + baseline"}
BASELINE_LABELS = {"posterior_mean": "b = log p(x | z = μ(x))",
                   "leave_one_out": "b = mean of the other L − 1 samples' log p(x|z)"}
ESTIMATOR_COLOURS = {"reparam": "#1f77b4", "score": "#d62728", "score_baseline": "#ff7f0e"}
_BY_LABEL = {v: k for k, v in ESTIMATOR_LABELS.items()}


def estimator_key(name: str) -> str:
    """An estimator's key from its key or its display label (rows from ``vae`` carry either)."""
    return name if name in ESTIMATOR_LABELS else _BY_LABEL.get(name, name)


def estimator_label(name: str) -> str:
    return ESTIMATOR_LABELS.get(estimator_key(name), str(name))


def estimator_colour(name: str) -> str:
    return ESTIMATOR_COLOURS.get(estimator_key(name), "#7f7f7f")


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
