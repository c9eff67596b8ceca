"""Traversals: drag latent sliders and watch the decoder respond; traverse each
dimension, build N×N grids, interpolate between data points, and check whether
a latent lies where the data's posteriors put their mass. The parts are in ``ui/traversals/``."""
from __future__ import annotations

import streamlit as st

from ui import posterior_view
from ui import urlstate
from ui.cache import run_dataset, run_identity
from ui.components.latent_pad import browser_supported
from ui.images import show_image_inline
from ui.state import require_run
from ui.text import escape_md
from ui.traversals.compute import dims_info
from ui.traversals.controls import (browser_sliders_ui, buttons_ui, clear_focus_ui, collapsed_caption, sliders_ui,
                                    start_ui)
from ui.traversals.density import density_ui
from ui.traversals.downloads import onnx_ui
from ui.traversals.modes import grid_ui, interpolation_ui, per_dimension_ui
from ui.traversals.state import focus_dim, keep_latent, prepare_sliders, take_handoffs, take_link, write_latent
from vae.analysis import traversal as tv
from vae.analysis import traversal_images as ti
from vae.runs.folder import Run

run = require_run()
if posterior_view.traversals_page(run):  # flow, categorical and Dirichlet runs: their own view
    st.stop()
splits = run_dataset(run)
key = run_identity(run)
n_points = len(splits.test.x)
if n_points == 0:
    st.error(f"Run **{escape_md(run.name)}** has an empty test split, so there are no data points to start from.")
    st.stop()
info = dims_info(run, key)
st.session_state.setdefault("trav_radius", 3.0)
st.session_state.setdefault("trav_start", "zeros")
take_handoffs(run, n_points)


MODES = ["Per-dimension traversal", "Grid traversal", "Interpolation"]


@st.fragment
def live_ui(run: Run, key: tuple, n_points: int, info: tv.DimensionInfo) -> None:
    """The modes' tabs at the top, then the sliders, their decode and the density check. A fragment:
    in the browser a slider move reruns only this, not the sidebar. The tabs are lazy: only the open
    one is computed, after the sliders have given its latent."""
    focus = focus_dim(run)
    order = tv.focus_first(info.order, focus)
    urlstate.check_bound_indices(("trav_interp_a", "trav_interp_b"), n_points)
    linked = take_link(run.model.latent_dim)  # a link's latent (validated), once
    radius = float(st.session_state["trav_radius"])
    prepare_sliders(run, key, n_points, radius)
    if linked is not None:
        write_latent(linked, radius)
    tab_strips, tab_grid, tab_interp = st.tabs(MODES, key="trav_tab", on_change="rerun", bind="query-params")
    st.divider()
    controls, view = st.columns([3, 2], gap="large")
    with controls:
        start_ui(n_points)
        buttons_ui()
        collapsed_caption(info, run.model.latent_dim)
        clear_focus_ui(focus)
        live = browser_supported(run, key, "trav_live")
        browser_sliders_ui(run, key, order, info, focus, radius)
        with st.expander("Exact values (one server slider per dimension; keyboard)"):
            z = sliders_ui(order, info, focus, radius, nested=True)
    keep_latent(z)
    with view:
        if not live:  # the browser cannot decode: the server does, after each release
            show_image_inline(ti.decode_latent(run.model, z), caption="E[x|z] at the slider latent", min_size=224,
                              key="trav-decoded")
        density_ui(run, key, z)
        onnx_ui(run, key)
    if tab_strips.open:
        with tab_strips:
            per_dimension_ui(run, key, z, order, info, focus, radius)
    if tab_grid.open:
        with tab_grid:
            grid_ui(run, key, z, info.order, n_points)
    if tab_interp.open:
        with tab_interp:
            interpolation_ui(run, key, n_points)


st.title("Traversals")
st.caption(f"Move through the {run.model.latent_dim}-dimensional latent space of **{escape_md(run.name)}** and "
           "watch the decoder respond. Images are E[x|z], the mean of p(x|z). The tabs show the slider latent "
           "traversed one dimension at a time, an N×N grid over two directions, or a path between two images.")
live_ui(run, key, n_points, info)
