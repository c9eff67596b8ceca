"""Chart events read as what the user picked: ``st.plotly_chart`` selections as dataset rows, a
probe (a click on empty plot space) as plot coordinates, and a bar click as a dimension."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ui.figures import PROBE_CLEARANCE, cell_size


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


def snap_probe(sel: Selection, xy: np.ndarray, idx: np.ndarray, clearance: float = PROBE_CLEARANCE) -> Selection:
    """A probe click within ``clearance`` probe-grid cells of a data point (xy: (M, 2) plot
    coordinates of dataset rows idx (M,)) selects that point: a click that just misses a dot
    means the dot, not the space beside it."""
    if sel.kind != "probe" or sel.xy is None or len(xy) == 0:
        return sel
    cell = cell_size(xy)
    d = np.hypot(*((np.asarray(xy, np.float64) - np.asarray(sel.xy)) / cell).T)
    k = int(np.argmin(d))
    return Selection("point", [int(idx[k])]) if d[k] <= clearance else sel
