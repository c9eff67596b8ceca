"""The Traversals sliders' session state. Slider ``d`` keeps its value under ``trav_z{d}``; the
latent is also kept durably under ``trav_latent`` (a slider's own state is dropped when the page
is left). Buttons and inputs only record a pending action (``trav_pending``); it is applied
before the sliders are drawn, as are a start point sent from the Latent map, a dimension sent
from the Collapse page, a latent in the page's link and one released in the browser."""
from __future__ import annotations

import streamlit as st

from ui import urlstate
from ui.cache import encode_split
from ui.state import DIM_KEY, START_KEY
from ui.text import safe_md
from vae.analysis import traversal_images as ti
from vae.runs.folder import Run
from vae.runs.validate import latent_vector

MAX_RADIUS = 10.0  # the slider range ±r goes up to this


def slider_key(d: int) -> str:
    return f"trav_z{d}"


def write_latent(z: list[float], radius: float) -> None:
    """Set every slider (before the sliders are drawn), clipped to ±radius."""
    for d, v in enumerate(z):
        st.session_state[slider_key(d)] = float(min(radius, max(-radius, round(float(v), 4))))


def start_vector(run: Run, key: tuple, n_points: int) -> list[float]:
    kind = st.session_state.get("trav_start", "zeros")
    index = min(int(st.session_state.get("trav_index", 0)), n_points - 1)
    mu = encode_split(run, key, "test")[0] if kind == "data" else None
    return ti.start_latent(kind, run.model, mu, index, st.session_state.get("trav_seed", 0))


def request(action: str) -> None:
    """Button and input callbacks only record what to do; it is done before the sliders are drawn."""
    st.session_state["trav_pending"] = action


def take_handoffs(run: Run, n_points: int) -> None:
    """A start point from the Latent map and a dimension from the Collapse page, applied once."""
    sent = st.session_state.pop(START_KEY, None)
    if sent is not None:
        index = sent.get("index") if isinstance(sent, dict) else None
        if sent.get("split", "test") != "test" or not isinstance(index, int) or not 0 <= index < n_points:
            st.warning(f"The point sent from the Latent map ({safe_md(repr(sent), 80)}) is not one of the {n_points} test images.")
        else:
            st.session_state.update(trav_start="data", trav_index=index, trav_pending="start")
            st.toast(f"Starting from test image {index}.")
    dim = st.session_state.pop(DIM_KEY, None)
    if dim is not None:
        if isinstance(dim, int) and 0 <= dim < run.model.latent_dim:
            st.session_state["trav_focus"] = {"run": run.name, "dim": dim}
            st.toast(f"Dimension z{dim} is shown first.")
        else:
            st.warning(f"Dimension {dim!r} was sent, but this model has dimensions 0 to {run.model.latent_dim - 1}.")


def focus_dim(run: Run) -> int | None:
    """The dimension sent from the Collapse page, while this run is shown; else None."""
    focus_state = st.session_state.get("trav_focus") or {}
    return focus_state.get("dim") if focus_state.get("run") == run.name else None


def take_link(latent_dim: int) -> list[float] | None:
    """A link's latent (validated), once; the slider range grows (in steps of 0.5, up to 10) to hold it."""
    linked = urlstate.take_latent(latent_dim)
    if linked is not None:
        top = max(abs(v) for v in linked) if linked else 0.0
        st.session_state["trav_radius"] = max(float(st.session_state["trav_radius"]),
                                              min(MAX_RADIUS, -(-top // 0.5) * 0.5))
    return linked


def prepare_sliders(run: Run, key: tuple, n_points: int, radius: float) -> None:
    """Make every slider's value exist and lie in range, applying a pending action."""
    d = run.model.latent_dim
    if st.session_state.get("trav_run") != run.name:  # a new run: new sliders, at its start point
        st.session_state["trav_run"] = run.name
        st.session_state.pop("trav_grid", None)
        st.session_state["trav_index"] = min(int(st.session_state.get("trav_index", 0)), n_points - 1)
        st.session_state.setdefault("trav_pending", "start")
        kept = None
    else:
        kept = st.session_state.get("trav_latent")
    action = st.session_state.pop("trav_pending", None)
    if action == "zeros":
        write_latent([0.0] * d, radius)
    elif action == "random":
        st.session_state["trav_draws"] = draws = st.session_state.get("trav_draws", 0) + 1
        write_latent(ti.start_latent("prior", run.model, seed=10_000 + draws), radius)
    elif action == "start" or kept is None or len(kept) != d:
        write_latent(start_vector(run, key, n_points), radius)
    else:
        restore_sliders(kept, radius)


def restore_sliders(kept: list[float], radius: float) -> None:
    """Write only what must change: a slider whose state was dropped (coming back from another
    page; the durable copy was kept) or one outside a shrunken range. Writing a slider's state on
    every rerun would push the server's value to the browser and drop moves made meanwhile."""
    for d, v in enumerate(kept):
        k = slider_key(d)
        if k not in st.session_state:
            st.session_state[k] = float(min(radius, max(-radius, round(float(v), 4))))
        elif abs(st.session_state[k]) > radius:
            st.session_state[k] = float(min(radius, max(-radius, st.session_state[k])))


def take_release(value, d: int) -> None:
    """A latent released in the browser: validated, clipped to the range, written to the sliders."""
    try:
        z = latent_vector(value, d)
    except ValueError as e:
        st.session_state["trav_release_error"] = str(e)
        return
    write_latent(z, float(st.session_state["trav_radius"]))


def keep_latent(z: list[float]) -> None:
    """The sliders' latent, kept durably and written into the page's link."""
    st.session_state["trav_latent"] = z
    urlstate.write_latent(z)
