"""The Traversals controls: the start point and slider range, the three buttons (zeros, a random
draw, back to the start), one server slider per dimension ordered by mean KL (collapsed ones
greyed out, a focused one first and marked), and the browser's own sliders, which decode E[x|z]
on the user's machine and send the latent back on release."""
from __future__ import annotations

import streamlit as st

from ui.components.latent_pad import latent_sliders
from ui.text import escape_md
from ui.traversals.state import request, slider_key, take_release
from vae.analysis import traversal as tv
from vae.runs.folder import Run

STARTS = {"zeros": "Zeros", "prior": "Prior draw", "data": "Data point"}
MAX_SLIDERS_OPEN = 16  # more dimensions than this: the rest go into an expander
STEP = 0.05  # slider step; arrow keys move by this much


def start_ui(n_points: int) -> None:
    st.segmented_control("Start point", list(STARTS), format_func=STARTS.get, key="trav_start",
                         bind="query-params", on_change=request, args=("start",), required=True,
                         help="Where **Snap to start** returns to: the origin (the prior's mean), "
                              "a seeded draw z ~ N(0, I), or the posterior mean μ(x) of a test image.")
    cols = st.columns(2)
    kind = st.session_state.get("trav_start", "zeros")
    if kind == "data":
        cols[0].number_input("Test image", 0, n_points - 1, step=1, key="trav_index", on_change=request,
                             args=("start",), help=f"Index into the {n_points} test images; or click a point on "
                                                   "the Latent map and send it here.")
    elif kind == "prior":
        cols[0].number_input("Seed", 0, 10**6, step=1, key="trav_seed", on_change=request, args=("start",))
    cols[1].number_input("Slider range ±r", 0.5, 10.0, step=0.5, key="trav_radius", bind="query-params",
                         help="Each slider runs from −r to +r. Under the prior, |z_d| > 3 has probability 0.3%.")


def buttons_ui() -> None:
    cols = st.columns(3)
    cols[0].button("Reset to zeros", icon=":material/restart_alt:", on_click=request, args=("zeros",),
                   width="stretch", help="Every z_d = 0, the prior's mean.")
    cols[1].button("Randomise", icon=":material/casino:", on_click=request, args=("random",), width="stretch",
                   help="A fresh draw z ~ N(0, I).")
    cols[2].button("Snap to start", icon=":material/keyboard_return:", on_click=request, args=("start",),
                   width="stretch", help="Back to the chosen start point.")


def collapsed_caption(info: tv.DimensionInfo, latent_dim: int) -> None:
    n_collapsed = sum(info.collapsed)
    st.caption(f"Sliders are ordered by mean KL per dimension; {n_collapsed} of {latent_dim} "
               "dimensions are collapsed (KL < 0.01 nats) and greyed out." if n_collapsed else
               "Sliders are ordered by mean KL per dimension; none is collapsed.")


def clear_focus_ui(focus: int | None) -> None:
    if focus is not None:
        st.button(f"Clear focus on z{focus}", icon=":material/close:", type="tertiary",
                  on_click=lambda: st.session_state.pop("trav_focus", None))


def slider_label(d: int, info: tv.DimensionInfo, focus: int | None) -> str:
    tag = " · collapsed" if info.collapsed[d] else ""
    text = f"z{d} · KL {info.kl[d]:.2f} nats{tag}"
    if d == focus:
        return f":orange[**» {text}**]"
    return f":gray[{text}]" if info.collapsed[d] else text


def sliders_ui(order: list[int], info: tv.DimensionInfo, focus: int | None, radius: float,
               nested: bool = False) -> list[float]:
    """One slider per dimension, most informative first; returns z indexed by dimension. ``nested``:
    already inside an expander (which cannot hold another), so every slider is drawn in place."""
    def draw(d: int) -> None:
        st.slider(slider_label(d, info, focus), -radius, radius, step=STEP, key=slider_key(d), format="%.2f",
                  help=f"Mean KL(q(z{d}|x) ‖ N(0, 1)) over the test images: {info.kl[d]:.3f} nats. "
                       + ("Below 0.01 nats the encoder ignores the input here: the posterior is the prior, "
                          "and the decoder has learned to ignore this coordinate." if info.collapsed[d] else ""))

    for d in order[:len(order) if nested else MAX_SLIDERS_OPEN]:
        draw(d)
    if len(order) > MAX_SLIDERS_OPEN and not nested:
        with st.expander(f"{len(order) - MAX_SLIDERS_OPEN} more dimensions (lower KL)"):
            for d in order[MAX_SLIDERS_OPEN:]:
                draw(d)
    return [float(st.session_state[slider_key(d)]) for d in range(len(order))]


def component_dims(order: list[int], info: tv.DimensionInfo) -> list[dict]:
    """The browser sliders' rows, in the page's order, collapsed ones marked."""
    return [dict(d=d, label=f"z{d} · KL {info.kl[d]:.2f}" + (" · collapsed" if info.collapsed[d] else ""),
                 title=f"Mean KL(q(z{d}|x) ‖ N(0, 1)) over the test images: {info.kl[d]:.3f} nats"
                       + (" (collapsed: the decoder ignores this coordinate)" if info.collapsed[d] else ""),
                 collapsed=bool(info.collapsed[d])) for d in order]


def browser_sliders_ui(run: Run, key: tuple, order: list[int], info: tv.DimensionInfo, focus: int | None,
                       radius: float) -> None:
    d = run.model.latent_dim
    z = [float(st.session_state[slider_key(k)]) for k in range(d)]
    latent_sliders("trav_live", run, key, component_dims(order, info), z, radius, STEP, focus,
                   on_release=lambda v: take_release(v, d), caption="E[x|z], decoded in your browser")
    problem = st.session_state.pop("trav_release_error", None)
    if problem:
        st.warning(f"The browser sent a latent that was ignored: {escape_md(problem)}.")
