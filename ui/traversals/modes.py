"""The Traversals page's three tabs. Per-dimension: each row starts from the slider latent and
moves one coordinate z_d from −r to +r, holding the others. Grid: decodings of c + a·u + b·v over
an N×N grid of (a, b) ∈ [−r, r]², along two latent dimensions or the first two principal axes of
μ(x). Interpolation: linear z(t) = (1−t)·z_A + t·z_B, or spherical (constant angular speed along
the great circle, the norm changing linearly), from μ(x_A) to μ(x_B)."""
from __future__ import annotations

import streamlit as st

from ui.cache import encode_split
from ui.components.latent_pad import path_scrubber
from ui.images import show_png
from ui.traversals.compute import grid_png, interpolation_gif, interpolation_images, pca_axes, strip_gif, strips_png
from ui.traversals.downloads import export_png
from vae.analysis import traversal as tv
from vae.runs.folder import Run

MAX_STRIP_ROWS = 32  # per-dimension strips shown for at most this many dimensions


def per_dimension_ui(run: Run, key: tuple, z: list[float], order: list[int], info: tv.DimensionInfo,
                     focus: int | None, radius: float) -> None:
    st.caption("Each row starts from the slider latent and moves one coordinate z_d from −r to +r, holding the "
               "others; rows are ordered by KL (the focused dimension first). A collapsed dimension's row does not "
               "change: the decoder ignores it.")
    c1, c2 = st.columns(2)
    k = c1.slider("Steps per row (K)", 3, 15, 9, key="trav_k")
    r = c2.number_input("Traversal range ±r", 0.5, 10.0, value=radius, step=0.5, key="trav_strip_radius")
    if len(order) > MAX_STRIP_ROWS:
        st.caption(f"Showing the {MAX_STRIP_ROWS} most informative of {len(order)} dimensions.")
        order = order[:MAX_STRIP_ROWS]
    labels = tuple(("» " if d == focus else "") + f"z{d}  {info.kl[d]:.2f}" + ("  collapsed" if info.collapsed[d] else "")
                   for d in order)
    muted = tuple(info.collapsed[d] for d in order)
    with st.spinner("Decoding the traversals…"):
        png = strips_png(run, key, tuple(z), tuple(order), labels, muted, float(r), int(k))
    # Inline: this sheet changes with every slider move (a media URL could be stale by the time it loads).
    show_png(png, caption=f"Rows: latent dimension and its mean KL (nats); columns: z_d from {-r:g} to +{r:g}.",
             key="trav-strips")
    c1, c2, c3 = st.columns([2, 2, 2], vertical_alignment="bottom")
    c1.download_button("Strips (PNG)", export_png(png), f"{run.name}-traversals.png", mime="image/png",
                       icon=":material/download:", on_click="ignore")
    gif_dim = c2.selectbox("Animate dimension", order, index=0, format_func=lambda d: f"z{d}", key="trav_gif_dim")
    c3.download_button("Traversal (GIF)", lambda: strip_gif(run, key, tuple(z), int(gif_dim), float(r)),
                       f"{run.name}-z{gif_dim}.gif", mime="image/gif", icon=":material/animation:",
                       on_click="ignore", help="24 frames from −r to +r and back, looping.")


def grid_ui(run: Run, key: tuple, z: list[float], order: list[int], n_points: int) -> None:
    d = run.model.latent_dim
    st.caption("An N×N grid of decodings of c + a·u + b·v: columns move a from −r to +r along the first direction u, "
               "rows move b from +r (top) to −r along the second v, around a centre c.")
    if d < 2:
        st.info("A grid needs at least two latent dimensions; this model has one.")
        return
    c1, c2, c3 = st.columns(3)
    kind = c1.radio("Directions", ["dims", "pca"], key="trav_grid_kind", horizontal=True,
                    format_func={"dims": "Two latent dimensions", "pca": "First two principal axes"}.get,
                    help="Principal axes: the directions of largest variance of μ(x) over the test images.")
    dims = (order[0], order[1])
    if kind == "dims":
        a, b = c2.columns(2)
        i = a.selectbox("Across (u)", range(d), index=order[0], format_func=lambda k: f"z{k}", key="trav_grid_i")
        j = b.selectbox("Down (v)", range(d), index=order[1], format_func=lambda k: f"z{k}", key="trav_grid_j")
        dims = (int(i), int(j))
    centre_kind = c3.radio("Centre c", ["slider", "origin"], key="trav_grid_centre", horizontal=True,
                           format_func={"slider": "Slider latent", "origin": "Origin"}.get)
    c1, c2 = st.columns(2)
    n = c1.slider("Grid size N", 2, tv.MAX_GRID, 11, key="trav_grid_n")
    r = c2.number_input("Grid range ±r", 0.5, 10.0, value=3.0, step=0.5, key="trav_grid_r")
    if st.button("Build grid", icon=":material/grid_on:", type="primary"):
        if kind == "dims" and dims[0] == dims[1]:
            st.error("Pick two different dimensions for the grid.")
        else:
            centre = tuple(z) if centre_kind == "slider" else (0.0,) * d
            st.session_state["trav_grid"] = dict(centre=centre, kind=kind, dims=dims, r=float(r), n=int(n))
    spec = st.session_state.get("trav_grid")
    if spec is None:
        st.info("Choose two directions and a range, then press **Build grid**.")
        return
    png = grid_png(run, key, spec["centre"], spec["kind"], spec["dims"], spec["r"], spec["n"])
    if spec["kind"] == "pca":
        axes = pca_axes(run, key)
        what = (f"PC1 ({axes.explained[0]:.0%} of Var μ) across, PC2 ({axes.explained[1]:.0%}) down")
    else:
        what = f"z{spec['dims'][0]} across, z{spec['dims'][1]} down"
    st.image(png, output_format="PNG", caption=f"{spec['n']}×{spec['n']} grid: {what}, each from −{spec['r']:g} to +{spec['r']:g}.")
    st.download_button("Grid (PNG)", export_png(png), f"{run.name}-grid.png", mime="image/png", icon=":material/download:",
                       on_click="ignore")


def interpolation_ui(run: Run, key: tuple, n_points: int) -> None:
    st.caption("From μ(x_A) to μ(x_B). Linear: z(t) = (1−t)·z_A + t·z_B. Spherical: the direction turns at a "
               "constant rate along the great circle and the norm changes linearly, so the path does not cut "
               "through the low-norm middle that N(0, I) rarely samples in high dimensions.")
    c1, c2, c3 = st.columns(3)
    a = c1.number_input("Test image A", 0, n_points - 1, value=0, step=1, key="trav_interp_a",
                        bind="query-params")
    b = c2.number_input("Test image B", 0, n_points - 1, value=min(1, n_points - 1), step=1,
                        key="trav_interp_b", bind="query-params")
    steps = c3.slider("Steps", 3, 20, 10, key="trav_interp_steps")
    if a == b:
        st.warning("A and B are the same image: the path is a single point.")
    sheet, img_a, img_b = interpolation_images(run, key, int(a), int(b), int(steps))
    left, mid, right = st.columns([1, 6, 1], vertical_alignment="center")
    left.image(img_a, output_format="PNG", caption=f"x_A (#{a})")
    mid.image(sheet, output_format="PNG")
    right.image(img_b, output_format="PNG", caption=f"x_B (#{b})")
    mu = encode_split(run, key, "test")[0]
    kind = st.radio("Scrub along", ["spherical", "linear"], horizontal=True, key="trav_scrub_kind",
                    format_func=str.capitalize, help="Drag to decode the path from A (t = 0) to B (t = 1) live, "
                                                     "in the browser.")
    path_scrubber("trav_scrub", run, key, mu[int(a)].tolist(), mu[int(b)].tolist(), kind,
                  label=f"#{a} → #{b}", caption=f"E[x|z(t)] on the {kind} path, decoded in your browser")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("Strips (PNG)", export_png(sheet), f"{run.name}-interp-{a}-{b}.png", mime="image/png",
                       icon=":material/download:", on_click="ignore")
    c2.download_button("Spherical path (GIF)", lambda: interpolation_gif(run, key, int(a), int(b), int(steps)),
                       f"{run.name}-interp-{a}-{b}.gif", mime="image/gif",
                       icon=":material/animation:", on_click="ignore")
