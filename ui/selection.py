"""Chart events read as what the user picked: ``st.plotly_chart`` selections and the Latent map's picks
as dataset rows, and a probe (a click on empty plot space) as plot coordinates. Every value comes from a
browser, so it is checked here before a page uses it."""
from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np


@dataclass
class Selection:
    kind: str = "none"  # none | point | many | probe
    indices: list[int] = field(default_factory=list)  # dataset rows (point: one; many: all)
    xy: tuple[float, float] | None = None  # probe: plot coordinates


def _first(cd):
    if isinstance(cd, dict):  # a numeric customdata row can come back as {"0": value, ...}
        cd = [cd[k] for k in sorted(cd, key=lambda k: int(k) if str(k).isdigit() else 0)]
    return cd[0] if isinstance(cd, (list, tuple)) and cd else cd


def parse_selection(selection: dict | None) -> Selection:
    """A ``st.plotly_chart`` selection ({"points": [{"customdata": [i, ...], "x", "y"}, ...]}) as
    dataset rows. Probe points (index −1) count only when nothing else is selected."""
    points = (selection or {}).get("points") or []
    rows, probes = [], []
    for p in points:
        try:
            i = int(_first(p.get("customdata")))
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


def _row(v, m: int) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
        return None
    return int(v) if 0 <= v < m else None


def map_pick(value, idx: np.ndarray, xy: np.ndarray, invertible: bool) -> Selection | None:
    """What the Latent map's element sent (``{"kind": "point", "row"}``, ``{"kind": "many", "rows"}`` or
    ``{"kind": "probe", "x", "y"}``; rows are positions in ``idx`` (M,), the dataset rows shown at plot
    coordinates ``xy`` (M, 2)) as a selection of dataset rows, or None for anything malformed: rows must be
    integers in [0, M), at most M of them; a probe needs a map with an inverse and finite coordinates
    within two spans of the data. An empty lasso or box clears the selection."""
    if not isinstance(value, dict):
        return None
    m, kind = len(idx), value.get("kind")
    if kind == "point":
        r = _row(value.get("row"), m)
        return None if r is None else Selection("point", [int(idx[r])])
    if kind == "many":
        rows = value.get("rows")
        if not isinstance(rows, list) or len(rows) > m:
            return None
        checked = [_row(v, m) for v in rows]
        if any(r is None for r in checked):
            return None
        uniq = list(dict.fromkeys(int(idx[r]) for r in checked))
        return Selection("many", uniq) if uniq else Selection()
    if kind == "probe" and invertible and m:
        p = [value.get("x"), value.get("y")]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in p):
            return None
        lo, hi = np.asarray(xy, np.float64).min(0), np.asarray(xy, np.float64).max(0)
        span = np.maximum(hi - lo, 1e-3)
        if np.any(np.asarray(p) < lo - 2 * span) or np.any(np.asarray(p) > hi + 2 * span):
            return None
        return Selection("probe", [], (float(p[0]), float(p[1])))
    return None
