"""The view in the URL, so a copied link reopens it: the page is the path (``/traversals``), and the
query holds the run (``run``), the Latent map's projection (``proj``) and selected point (``point``),
and the Traversals latent (``z``, comma-separated).

A link is hostile input: ``restore()`` reads it once per session, before the sidebar draws, and every
parameter goes through the validators in ``vae.runs.validate``. A parameter that fails (an unknown run, an
index out of range, a latent of the wrong length, text that is not a number) is dropped, the page opens
with its default, and ``show_ignored()`` says what was ignored and why. Pages then keep the query in
step with what they show (``write_*``), writing only what changed.
"""
from __future__ import annotations

import streamlit as st

from ui.state import RUN_KEY, available_runs
from ui.text import escape_md
from vae.runs.validate import latent_vector, url_choice, url_index, url_run_name

PENDING = "_url_pending"  # {"z": str, "point": str, "proj": str}: read from the link, checked by the page
IGNORED = "_url_ignored"  # messages about parameters that were dropped, shown once
DONE = "_url_restored"
PARAMS = ("run", "proj", "point", "z")
# Widgets bound to the URL by Streamlit (bind="query-params": the key is the parameter's name).
# Streamlit drops a value its widget cannot take; pages check the ones whose reason is worth saying.
BOUND = ("trav_tab", "trav_start", "trav_radius", "trav_interp_a", "trav_interp_b")
MAX_Z_RADIUS = 10.0  # the Traversals slider range's upper limit


def _note(name: str, reason: str) -> None:
    st.session_state.setdefault(IGNORED, []).append(f"{name}: {reason}")


def restore() -> None:
    """Once per session (the first script run): take the link's run now, keep the rest for the pages."""
    if st.session_state.get(DONE):
        return
    st.session_state[DONE] = True
    qp = st.query_params
    extra = [k for k in qp.keys() if k not in PARAMS and k not in BOUND]
    for k in extra[:3]:
        _note(str(k)[:32], "not a parameter this app reads")
    pending = {}
    for k in ("proj", "point", "z", "trav_interp_a", "trav_interp_b"):
        v = qp.get(k)
        if v is not None:
            pending[k] = str(v)
    st.session_state[PENDING] = pending
    name = qp.get("run")
    if name is not None:
        runs = available_runs()
        try:
            st.session_state[RUN_KEY] = url_run_name(name, [r.name for r in runs if r.error is None])
        except ValueError as e:
            _note("run", f"{e}; opened the default run instead")


def show_ignored(slot, page: str) -> None:
    """Say which parts of the link were ignored, in ``slot`` (a container app.py placed above the page
    and fills after it ran, so notes a page added are included; a fragment's rerun keeps it). The
    notes stay on the page the link opened until the visitor goes to another page."""
    notes = st.session_state.get(IGNORED)
    if not notes:
        return
    where = st.session_state.setdefault(IGNORED + "_page", page)
    if where != page:
        st.session_state.pop(IGNORED, None)
        return
    slot.warning("Parts of this link were ignored: " + "; ".join(escape_md(n) for n in notes) + ".",
                 icon=":material/link_off:")


def _set(name: str, value: str | None) -> None:
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


def write_run() -> None:
    """After the sidebar: the selected run in the URL (page changes drop the query, so on every run)."""
    name = st.session_state.get(RUN_KEY)
    _set("run", str(name) if name else None)


# ---------------------------------------------------------------- Traversals


def format_latent(z: list[float]) -> str:
    return ",".join(f"{round(float(v), 4):g}" for v in z)


def take_latent(latent_dim: int) -> list[float] | None:
    """The link's latent for a model of ``latent_dim`` dimensions, once; None if there is none or it failed."""
    raw = (st.session_state.get(PENDING) or {}).pop("z", None)
    if raw is None:
        return None
    try:
        return latent_vector(raw, latent_dim, bound=MAX_Z_RADIUS)
    except ValueError as e:
        _note("z", f"{e}; started from the default latent")
        return None


def write_latent(z: list[float]) -> None:
    _set("z", format_latent(z))
    _set("proj", None)
    _set("point", None)


def check_bound_indices(keys: tuple[str, ...], n: int) -> None:
    """Say why a link's image index for a bound widget was dropped (Streamlit drops it silently)."""
    pending = st.session_state.get(PENDING) or {}
    for k in keys:
        raw = pending.pop(k, None)
        if raw is not None:
            try:
                url_index(raw, n)
            except ValueError as e:
                _note(k, f"{e}; used the default")


# ---------------------------------------------------------------- Latent map


def take_projection(widget_key: str, allowed: list[str]) -> None:
    """The link's projection method, set on the Latent map's selectbox before it is drawn."""
    raw = (st.session_state.get(PENDING) or {}).pop("proj", None)
    if raw is None:
        return
    try:
        st.session_state[widget_key] = url_choice(raw, allowed)
    except ValueError as e:
        _note("proj", f"{e}; used the default projection")


def take_point(n: int, select) -> None:
    """The link's selected point: ``select(i)`` if it is an index into the n images shown."""
    raw = (st.session_state.get(PENDING) or {}).pop("point", None)
    if raw is None:
        return
    try:
        select(url_index(raw, n))
    except ValueError as e:
        _note("point", f"{e}; nothing is selected")


def write_map(method: str, selection: dict) -> None:
    _set("proj", method)
    point = selection.get("indices", [None])[0] if selection.get("kind") == "point" else None
    _set("point", None if point is None else str(int(point)))
    _set("z", None)
