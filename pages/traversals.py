"""Traversals: drag latent sliders and watch the decoder respond; traverse each
dimension, build N×N grids, interpolate between data points, and check whether
a latent lies where the data's posteriors put their mass."""
from __future__ import annotations

import io

import streamlit as st
import torch
from PIL import Image

from ui import posterior_view
from ui.cache import encode_split, run_dataset, run_identity
from ui.components.svg_chart import svg_chart
from ui.images import show_image_inline, show_png
from ui.state import DIM_KEY, START_KEY, require_run
from ui.svg_charts import density_svg
from ui.components.latent_pad import browser_supported, latent_sliders, path_scrubber
from ui.text import escape_md, safe_md
from ui import urlstate
from vae.analysis import traversal as tv
from vae.limits import BudgetError
from vae.runs.folder import Run
from vae.export.onnx import OPSET, check_export, onnx_bytes
from vae.export.images import gif_bytes, pad_square, png_bytes, tick_labels, to_pil, with_ticks
from vae.runs.validate import latent_vector

STARTS = {"zeros": "Zeros", "prior": "Prior draw", "data": "Data point"}
MAX_SLIDERS_OPEN = 16  # more dimensions than this: the rest go into an expander
STEP = 0.05  # slider step; arrow keys move by this much
MAX_STRIP_ROWS = 32  # per-dimension strips shown for at most this many dimensions


# ----------------------------------------------------------------------------- cached compute


@st.cache_data(max_entries=8, show_spinner=False)
def dims_info(_run: Run, key: tuple) -> tv.DimensionInfo:
    mu, lv = encode_split(_run, key, "test")
    return tv.dimension_info(torch.from_numpy(mu), torch.from_numpy(lv))


@st.cache_data(max_entries=8, show_spinner="Building the aggregate posterior q(z)…")
def aggregate(_run: Run, key: tuple) -> tuple[tv.AggregatePosterior, list[float], list[float]]:
    """q(z) over the test split, and its reference histogram (counts, bin centres)."""
    mu, lv = encode_split(_run, key, "test")
    agg = tv.aggregate_posterior(torch.from_numpy(mu), torch.from_numpy(lv))
    counts, centres = agg.histogram(40)
    return agg, counts.tolist(), centres.tolist()


@st.cache_data(max_entries=8, show_spinner=False)
def pca_axes(_run: Run, key: tuple) -> tv.GridAxes:
    return tv.principal_axes(torch.from_numpy(encode_split(_run, key, "test")[0]))


@st.cache_data(max_entries=64, show_spinner=False)
def strips_png(_run: Run, key: tuple, base: tuple, dims: tuple, labels: tuple, muted: tuple,
               radius: float, k: int) -> bytes:
    imgs = tv.traversal_strips(_run.model, torch.tensor(base), list(dims), radius, k)
    factor = tv.cell_factor(_run.model.image_shape[-1], k, target_px=360)
    sheet = tv.sheet_image(imgs, factor, list(labels), list(muted))
    return tv.display_png(with_ticks(sheet, _cell(_run, factor), factor, tick_labels(-radius, radius, k),
                                     x_title="z_d"))


def _cell(run: Run, factor: int) -> tuple[int, int]:
    h, w = run.model.image_shape[-2:]
    return h * factor, w * factor


@st.cache_data(max_entries=16, show_spinner=False)
def strip_gif(_run: Run, key: tuple, base: tuple, dim: int, radius: float, frames: int = 24) -> bytes:
    imgs = tv.traversal_strips(_run.model, torch.tensor(base), [dim], radius, frames)[0]
    return gif_bytes([to_pil(x, 192) for x in imgs])


@st.cache_data(max_entries=16, show_spinner="Decoding the grid…")
def grid_png(_run: Run, key: tuple, centre: tuple, axes_kind: str, dims: tuple, radius: float, n: int) -> bytes:
    axes = pca_axes(_run, key) if axes_kind == "pca" else tv.dimension_axes(_run.model.latent_dim, *dims)
    imgs = tv.grid_traversal(_run.model, torch.tensor(centre), axes, radius, n)
    factor = tv.cell_factor(_run.model.image_shape[-1], n, target_px=720)
    sheet = tv.sheet_image(imgs.reshape(n, n, *imgs.shape[1:]), factor)
    # Columns move a from −r to +r along u, rows move b from +r (top) to −r along v.
    return tv.display_png(pad_square(with_ticks(sheet, _cell(_run, factor), factor, tick_labels(-radius, radius, n),
                                                tick_labels(radius, -radius, n), x_title=axes.labels[0],
                                                y_title=axes.labels[1])))


@st.cache_data(max_entries=16, show_spinner=False)
def interpolation_images(_run: Run, key: tuple, a: int, b: int, steps: int) -> tuple[bytes, bytes, bytes]:
    """PNG of the two strips (linear, spherical) and PNGs of the two originals."""
    mu = torch.from_numpy(encode_split(_run, key, "test")[0])
    x = run_dataset(_run).test.x
    lin = tv.interpolation_strip(_run.model, mu[a], mu[b], steps, "linear")
    sph = tv.interpolation_strip(_run.model, mu[a], mu[b], steps, "spherical")
    factor = tv.cell_factor(_run.model.image_shape[-1], steps, target_px=640)
    sheet = tv.display_png(with_ticks(tv.sheet_image(torch.stack([lin, sph]), factor, ["linear", "spherical"]),
                                      _cell(_run, factor), factor, tick_labels(0.0, 1.0, steps), x_title="t"))
    return sheet, tv.display_png(to_pil(x[a], 96)), tv.display_png(to_pil(x[b], 96))


@st.cache_data(max_entries=8, show_spinner=False)
def interpolation_gif(_run: Run, key: tuple, a: int, b: int, steps: int) -> bytes:
    mu = torch.from_numpy(encode_split(_run, key, "test")[0])
    return gif_bytes([to_pil(img, 192) for img in tv.interpolation_strip(_run.model, mu[a], mu[b], steps, "spherical")])


@st.cache_data(max_entries=4, show_spinner=False)
def decoder_onnx(_run: Run, key: tuple) -> bytes:
    return onnx_bytes(_run.model)


def onnx_ui(run: Run, key: tuple) -> None:
    """The decoder as an ONNX file (z -> E[x|z]), exported when the button is pressed."""
    try:
        check_export(run.model)
    except BudgetError as e:
        st.caption(f"No ONNX export: {safe_md(e)}")
        return
    st.download_button("Download decoder (.onnx)", lambda: decoder_onnx(run, key), f"{run.name}-decoder.onnx", mime="application/octet-stream",
                       icon=":material/download:", on_click="ignore",
                       help=f"The decoder z → E[x|z] exported with torch.onnx.export (opset {OPSET}); input \"z\" of "
                            f"shape (batch, {run.model.latent_dim}), output \"image\" of shape (batch, "
                            f"{', '.join(map(str, run.model.image_shape))}) in [0, 1]. Checked against PyTorch with "
                            "onnxruntime in the project's tests.")


def export_png(display: bytes):
    """A deferred download: the displayed sheet re-encoded by the project's exporter, on click only."""
    return lambda: png_bytes(Image.open(io.BytesIO(display)))


# ----------------------------------------------------------------------------- state


def slider_key(d: int) -> str:
    return f"trav_z{d}"


def write_latent(z: list[float], radius: float) -> None:
    """Set every slider (before the sliders are drawn), clipped to ±radius."""
    for d, v in enumerate(z):
        st.session_state[slider_key(d)] = float(min(radius, max(-radius, round(float(v), 4))))


def start_vector(run: Run, key: tuple, n_points: int) -> torch.Tensor:
    kind = st.session_state.get("trav_start", "zeros")
    index = min(int(st.session_state.get("trav_index", 0)), n_points - 1)
    mu = torch.from_numpy(encode_split(run, key, "test")[0]) if kind == "data" else None
    return tv.start_point(kind, run.model.latent_dim, mu, index, st.session_state.get("trav_seed", 0),
                          prior=run.model.prior if kind == "prior" else None)


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
        write_latent(tv.start_point("prior", d, seed=10_000 + draws, prior=run.model.prior).tolist(), radius)
    elif action == "start" or kept is None or len(kept) != d:
        write_latent(start_vector(run, key, n_points).tolist(), radius)
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


# ----------------------------------------------------------------------------- widgets


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


def take_release(value, d: int) -> None:
    """A latent released in the browser: validated, clipped to the range, written to the sliders."""
    try:
        z = latent_vector(value, d)
    except ValueError as e:
        st.session_state["trav_release_error"] = str(e)
        return
    write_latent(z, float(st.session_state["trav_radius"]))


def browser_sliders_ui(run: Run, key: tuple, order: list[int], info: tv.DimensionInfo, focus: int | None,
                       radius: float) -> None:
    d = run.model.latent_dim
    z = [float(st.session_state[slider_key(k)]) for k in range(d)]
    latent_sliders("trav_live", run, key, component_dims(order, info), z, radius, STEP, focus,
                   on_release=lambda v: take_release(v, d), caption="E[x|z], decoded in your browser")
    problem = st.session_state.pop("trav_release_error", None)
    if problem:
        st.warning(f"The browser sent a latent that was ignored: {escape_md(problem)}.")


def density_ui(run: Run, key: tuple, z: torch.Tensor, n_points: int) -> None:
    agg, counts, centres = aggregate(run, key)
    check = tv.density_check(agg, z)
    st.markdown("**Is this latent on the data manifold?**")
    used = (f"a seeded subsample of M = {agg.n_components:,} of the {agg.n_data:,} test images" if agg.subsampled
            else f"all M = {agg.n_components:,} test images")
    st.caption(f"log q(z) under the aggregate posterior q(z) = (1/M) Σₙ q(z|xₙ) over {used}, against the "
               "histogram of log q at samples z ~ q(z) (the data's own range; the dashed line is its 1st percentile).")
    svg_chart(density_svg(float(agg.reference[0]), float(agg.reference[-1]), counts, centres, check.log_q, check.low,
                          check.off_manifold), key="trav_density")
    if check.off_manifold:
        st.warning(f"Off the data manifold: log q(z) = {check.log_q:.1f} nats is below {check.percentile:.1f}% … "
                   f"the data's 1st percentile is {check.low:.1f}. No test image's posterior puts mass here, "
                   "so the decoder was never trained on this region and its output is extrapolation.",
                   icon=":material/warning:")
    else:
        st.success(f"log q(z) = {check.log_q:.1f} nats, above {check.percentile:.0f}% of the data's own values "
                   f"(median {check.median:.1f}).", icon=":material/check_circle:")


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


# ----------------------------------------------------------------------------- page


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
    focus_state = st.session_state.get("trav_focus") or {}
    focus = focus_state.get("dim") if focus_state.get("run") == run.name else None
    order = tv.focus_first(info.order, focus)
    urlstate.check_bound_indices(("trav_interp_a", "trav_interp_b"), n_points)
    linked = urlstate.take_latent(run.model.latent_dim)  # a link's latent (validated), once
    if linked is not None:
        top = max(abs(v) for v in linked) if linked else 0.0
        st.session_state["trav_radius"] = max(float(st.session_state["trav_radius"]), min(10.0, -(-top // 0.5) * 0.5))
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
        n_collapsed = sum(info.collapsed)
        st.caption(f"Sliders are ordered by mean KL per dimension; {n_collapsed} of {run.model.latent_dim} "
                   "dimensions are collapsed (KL < 0.01 nats) and greyed out." if n_collapsed else
                   "Sliders are ordered by mean KL per dimension; none is collapsed.")
        if focus is not None:
            st.button(f"Clear focus on z{focus}", icon=":material/close:", type="tertiary",
                      on_click=lambda: st.session_state.pop("trav_focus", None))
        live = browser_supported(run, key, "trav_live")
        browser_sliders_ui(run, key, order, info, focus, radius)
        with st.expander("Exact values (one server slider per dimension; keyboard)"):
            z = sliders_ui(order, info, focus, radius, nested=True)
    st.session_state["trav_latent"] = z
    urlstate.write_latent(z)
    z_t = torch.tensor(z)
    with view:
        if not live:  # the browser cannot decode: the server does, after each release
            show_image_inline(tv.decode_one(run.model, z_t), caption="E[x|z] at the slider latent", min_size=224,
                              key="trav-decoded")
        density_ui(run, key, z_t, n_points)
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
