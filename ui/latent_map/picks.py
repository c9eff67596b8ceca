"""What is picked on the Latent map, kept in session state: the selection (a point, a group, or a
probe of empty space on an invertible map) for one run and split, and the latents placed into one
map as stars. A pick from another run, split or (for a probe) another view is not shown."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.components.scatter_map import picked
from ui.selection import map_pick
from vae.analysis.projection.maps import Projection

CHART_KEY = "latent_map_chart"  # the map element (ui/components/scatter_map.py)
SEL_KEY = "latent_map_selection"  # {"ctx": (run, split), "kind", "indices", "xy", "view"}
PLACED_KEY = "latent_map_placed"  # {"ctx": (run, split, view), "points": [(name, z (D,))]}
PLACED_KEPT = 8  # the last eight placed points stay on the map


def remember(selection: dict, ctx: tuple, view: tuple) -> None:
    st.session_state[SEL_KEY] = {"ctx": ctx, "view": view, **selection}


def on_map_select(ctx: tuple, view: tuple, proj: Projection, idx: np.ndarray) -> None:
    """The map's pick (a dot, a group, or empty space on an invertible map), checked; a malformed one is
    dropped and the selection stays as it was."""
    sel = map_pick(picked(CHART_KEY), idx, proj.xy, proj.invertible)
    if sel is not None:
        remember({"kind": sel.kind, "indices": sel.indices, "xy": sel.xy, "source": "click"}, ctx, view)


def on_index_typed(ctx: tuple, view: tuple) -> None:
    i = st.session_state.get("lm_index")
    if i is not None:
        remember({"kind": "point", "indices": [int(i)], "xy": None, "source": "typed"}, ctx, view)


def current_selection(ctx: tuple, view: tuple, n: int) -> dict:
    sel = st.session_state.get(SEL_KEY) or {}
    if sel.get("ctx") != ctx or (sel.get("kind") == "probe" and sel.get("view") != view):
        return {"kind": "none"}
    if any(not 0 <= i < n for i in sel.get("indices", [])):
        return {"kind": "none"}
    return sel


def placed_points(ctx: tuple, view: tuple) -> list:
    got = st.session_state.get(PLACED_KEY) or {}
    return got.get("points", []) if got.get("ctx") == (ctx, view) else []


def add_placed(ctx: tuple, view: tuple, name: str, z: np.ndarray) -> None:
    pts = placed_points(ctx, view)[-(PLACED_KEPT - 1):]
    st.session_state[PLACED_KEY] = {"ctx": (ctx, view), "points": pts + [(name, np.asarray(z, np.float32))]}
