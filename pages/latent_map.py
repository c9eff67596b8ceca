"""Latent map: where the data lands in latent space; click a point to see what the model makes of it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from ui import posterior_view
from ui import urlstate
from ui.components.latent_pad import browser_decoder
from ui.components.scatter_map import Extras, image_rows, map_points, map_selection, picked, scatter_map
from ui.components.svg_chart import svg_chart
from ui.cache import encode_split, run_dataset, run_identity
from ui.images import show_grid, show_image
from ui.prior_view import components_panel, kl_words
from ui.projection_view import describe, projection_for, tsne_reference
from ui.refine import refine_panel
from ui.selection import map_pick
from ui.svg_charts import posterior_svg
from ui.state import START_KEY, require_run
from ui.text import escape_md, safe_md
from vae.analysis.projection import (OPENTSNE_EARLY_ITER, OPENTSNE_FIT_POINTS, OPENTSNE_ITER, Projection,
    PointTerms, colour_values, most_varied_dim, place_points, point_detail, point_terms, probe_decode,
    project_latent, selection_images, stratified_cap)
from vae.limits import PROJECTION_POINTS, TSNE_PERPLEXITY, TSNE_POINTS, BudgetError, limit_int, max_perplexity
from vae.runs.folder import CheckpointError, Run
from vae.cache.projections import Spec, image_from_bytes

CHART_KEY = "latent_map_chart"  # the map element (ui/components/scatter_map.py)
SEL_KEY = "latent_map_selection"  # {"ctx": (run, split), "kind", "indices", "xy", "view"}
METHODS = {"latent": "Latents directly", "pca": "PCA", "opentsne": "t-SNE (openTSNE, fast)",
           "umap": "UMAP", "tsne": "t-SNE (scikit-learn, the reference)"}
COLOURS = {"label": "Label", "mu": "μ of one dimension", "kl": "KL per point", "rec_error": "Reconstruction error"}
MIN_CAP = 100  # the map shows every point of the split by default, up to VAE_MAX_PROJECTION_POINTS (70,000)
SAMPLE_SEED = 0  # the subsample is fixed, so changing the view never reshuffles the points
TSNE_SEED = 0  # fixed: a seed knob would only multiply kept fits (each up to a minute)
PLACED_KEY = "latent_map_placed"  # {"ctx": (run, split, view), "points": [(name, z (D,))]}
N_SAMPLES, K_NEIGHBOURS, GRID_LIMIT = 8, 8, 32
IMAGE_PX = 140  # display width of the original and its reconstruction


@dataclass
class View:
    split: str
    method: str
    cap: int
    colour: str
    dim: int
    perplexity: float
    seed: int  # always TSNE_SEED; kept in the view's signature


# ---------------------------------------------------------------- cached computations

@st.cache_data(max_entries=16, show_spinner=False)
def _subsample(_labels: np.ndarray, key: tuple, split: str, cap: int) -> np.ndarray:
    return stratified_cap(_labels, cap, SAMPLE_SEED)


@st.cache_resource(max_entries=8, show_spinner=False)
def _map_points(key: tuple, view_sig: tuple, colour_sig: tuple, _proj: Projection, _idx: np.ndarray,
                _colour, _class_names: list[str], _labels: np.ndarray) -> dict:
    """The map's points as the element takes them, built once per run, view and colouring and shared by
    every session (read-only: the page adds its pick to a copy)."""
    return map_points(_proj, _idx, _colour, _class_names, _labels)


@st.cache_data(max_entries=4, show_spinner="Preparing the images…")
def _images_b64(_x: torch.Tensor, key: tuple, split: str, rows: tuple) -> str:
    """The images at dataset ``rows`` of a split as base64 uint8 (what the browser draws for them)."""
    import base64
    from vae.export.onnx import images_u8
    return base64.b64encode(images_u8(_x, list(rows))).decode("ascii")


def map_extras(run: Run, key: tuple, proj: Projection, idx: np.ndarray, ds, split: str) -> Extras:
    """The map's images and decoder, built only once the browser has asked for them (its Images button)."""
    import hashlib
    shape = tuple(int(v) for v in run.model.image_shape)
    rows = image_rows(len(idx), int(np.prod(shape)))
    data_rows = tuple(int(idx[r]) for r in rows)
    ident = hashlib.sha1(repr((key, split, shape)).encode() + np.asarray(data_rows, np.int64).tobytes()).hexdigest()[:24]
    note = (f"images for {len(rows):,} of the {len(idx):,} points (every {len(idx) / len(rows):.1f}th)"
            if len(rows) < len(idx) else "")
    inverse = None
    if proj.invertible and proj.method == "pca":
        inverse = {"mean": [float(v) for v in proj.mean], "components": [[float(v) for v in r] for r in proj.components]}
    elif proj.invertible:  # the latents themselves (D ≤ 2): z = (x, y)[:D]
        d = proj.latent_dim
        inverse = {"mean": [0.0] * d, "components": [[1.0 if k == 0 else 0.0 for k in range(d)],
                                                     [1.0 if k == 1 else 0.0 for k in range(d)]]}
    return Extras(ident, list(rows), shape, note, lambda: _images_b64(ds.x, key, split, data_rows),
                  browser_decoder(run, key), inverse)


@st.cache_data(max_entries=8, show_spinner="Computing each point's reconstruction term…")
def _terms(_run: Run, _x: torch.Tensor, key: tuple, split: str, cap: int) -> PointTerms:
    return point_terms(_run.model, _x)


# ---------------------------------------------------------------- widgets

def refuse_over(key: str, lo: int, hi: int, what: str, limit: str) -> None:
    """A value for widget ``key`` that arrived through session state (or a stale widget) outside
    [lo, hi] is refused with the limit named and replaced by the nearest allowed value, before the
    widget is drawn (Streamlit would raise on it)."""
    v = st.session_state.get(key)
    if v is None:
        return
    number = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
    if number and lo <= v <= hi:
        return
    if number:
        st.session_state[key] = int(min(max(v, lo), hi))
        st.warning(f"{what} of {v:,.0f} refused: {limit}. Using {st.session_state[key]:,}.")
    else:
        del st.session_state[key]
        st.warning(f"{what} {safe_md(repr(v), 40)} refused: it must be a number from {lo:,} to {hi:,}.")


def view_ui(d: int, sizes: dict[str, int], best_dim: int) -> View:
    c = st.columns([0.8, 1.1, 1.4, 1.0, 1.6])
    split = c[0].selectbox("Split", list(sizes), key="lm_split", help="Which images to encode and plot.")
    n = sizes[split]
    methods = [m for m in METHODS if (m != "latent" or d <= 2) and (m != "pca" or d >= 2)]
    method = c[1].selectbox("Projection", methods, format_func=METHODS.get, key=f"lm_method_{d}",
                            help="PCA: the plane of the two directions along which μ varies most (linear, "
                                 "invertible). t-SNE: a non-linear map that keeps neighbours together; distances "
                                 f"between clusters mean little. openTSNE is the fast one: {OPENTSNE_EARLY_ITER} + {OPENTSNE_ITER} "
                                 f"iterations (Barnes-Hut θ 0.8, neighbours = perplexity), and "
                                 f"above {OPENTSNE_FIT_POINTS:,} points it fits a seeded subset of that size and "
                                 f"places the rest with its transform. UMAP: umap-learn, seeded. scikit-learn's "
                                 f"t-SNE is kept as the reference (slow; at most {limit_int(TSNE_POINTS):,} points). "
                                 "Non-linear maps run in the background and are kept in the run folder.")
    colour = c[2].selectbox("Colour by", list(COLOURS), format_func=COLOURS.get, key="lm_colour",
                            help="KL(q(z|x) ‖ p(z)) in nats; reconstruction error is −E_q[log p(x|z)] in nats.")
    dim = best_dim
    if colour == "mu":
        dim = c[3].selectbox("Dimension", range(d), index=best_dim, format_func=lambda k: f"z{k}",
                             key=f"lm_dim_{d}", help="Defaults to the dimension whose μ varies most.")
    tsne_cap = limit_int(TSNE_POINTS)
    max_cap = limit_int(PROJECTION_POINTS)
    if n > MIN_CAP:
        top = max(MIN_CAP, min(n, max_cap, tsne_cap if method == "tsne" else max_cap))
        cap_key = f"lm_cap_{split}_{n}"
        limit = (f"this server runs scikit-learn's t-SNE on {TSNE_POINTS.describe()}"
                 if method == "tsne" and top < min(n, max_cap) else f"the map shows at most {top:,} points "
                                                                     f"({PROJECTION_POINTS.env})")
        refuse_over(cap_key, MIN_CAP, top, "A map", limit)
        cap = c[4].slider("Points shown at most", MIN_CAP, top, top, step=50 if top > 500 else 10,
                          key=cap_key,
                          help="Every point by default (the map draws up to 70,000). Fewer: a class-stratified "
                               "subsample (seeded, classes in proportion, every class kept)."
                               + (f" scikit-learn's t-SNE is limited to {tsne_cap:,} points on this server."
                                  if method == "tsne" else ""))
    else:
        cap = n
    perplexity = 30.0
    if method in ("tsne", "opentsne"):
        a, _ = st.columns([2, 3])
        points = min(cap, n)
        top = int(max_perplexity(points))
        if top >= 2:
            refuse_over("lm_perplexity", 2, top, "A perplexity",
                        f"t-SNE allows {TSNE_PERPLEXITY.describe()} and below a third of the {points:,} points")
            perplexity = a.slider("Perplexity", 2, top, min(30, top), key="lm_perplexity",
                                  help=f"Roughly how many neighbours each point keeps close: at most "
                                       f"{int(TSNE_PERPLEXITY.value())}, and below a third of the points (the fit "
                                       f"grows with points × perplexity). The fit is seeded, so it is reproducible.")
        else:
            perplexity = 1.0
    return View(split, method, int(cap), colour, int(dim), float(perplexity), TSNE_SEED)


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


# ---------------------------------------------------------------- panels

def point_panel(run: Run, ds, mu: np.ndarray, logvar: np.ndarray, i: int, split: str) -> None:
    det = point_detail(run.model, ds.x, mu, logvar, i, n_samples=N_SAMPLES, k=K_NEIGHBOURS)
    label = ds.class_names[int(ds.y[i])] if int(ds.y[i]) < len(ds.class_names) else str(int(ds.y[i]))
    st.subheader(f"{split.capitalize()} image #{i} · label {escape_md(label)}")
    a, b = st.columns(2)
    with a:
        show_image(det.original, caption=f"Original #{i}", width=IMAGE_PX)
    with b:
        show_image(det.recon, caption=f"Reconstruction #{i}", width=IMAGE_PX)
    st.caption("The reconstruction is E[x|z] decoded at z = μ(x), the posterior mean.")
    m = st.columns(3)
    m[0].metric("ELBO", f"{det.elbo:.2f}", help="log p(x) ≥ E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), nats "
                                                "(64 samples of z).")
    m[1].metric("Recon.", f"{det.rec:.2f}", help="Reconstruction term E_q[log p(x|z)], nats.")
    m[2].metric("KL", f"{det.kl:.2f}", help=f"KL(q(z|x) ‖ p(z)), nats, {kl_words(run)}.")
    st.caption(f"{N_SAMPLES} decodings E[x|z] of samples z ~ q(z|x) = N(μ, σ²):")
    show_grid(det.samples, nrow=N_SAMPLES, min_cell=40)
    st.caption("The posterior q(z|x) per dimension. A dimension with μ ≈ 0 and σ ≈ 1 carries no "
               "information about this image (it sits on the prior).")
    svg_chart(posterior_svg(det.mu, det.sigma), key="lm_posterior")
    st.caption(f"{len(det.neighbours)} nearest neighbours in latent space (Euclidean distance between μ's), "
               f"nearest first: " + ", ".join(f"#{j} ({dist:.2f})" for j, dist in zip(det.neighbours, det.neighbour_dist)))
    if len(det.neighbours):
        show_grid(det.neighbour_images, nrow=len(det.neighbours), min_cell=40)
    refine_panel(run, ds.x, i, split)
    if split == "test":
        if st.button("Start a traversal here", icon=":material/tune:", key="lm_to_traversals",
                     help="Open the Traversals page with this image's μ as the starting latent."):
            st.session_state[START_KEY] = {"index": int(i), "split": "test"}
            st.switch_page("pages/traversals.py")
    else:
        st.caption("Traversals start from test images; switch the split to test to send a point there.")


def many_panel(run: Run, ds, rows: list[int], split: str) -> None:
    originals, recons = selection_images(run.model, ds.x, rows, limit=GRID_LIMIT)
    shown = f"the first {len(originals)} of " if len(rows) > len(originals) else ""
    st.subheader(f"{len(rows)} {split} images selected")
    st.caption(f"Showing {shown}{len(rows)}: originals, then their reconstructions E[x|z = μ] in the same order.")
    show_grid(originals, nrow=8, caption="Originals", min_cell=40)
    show_grid(recons, nrow=8, caption="Reconstructions", min_cell=40)


def probe_panel(run: Run, proj: Projection, xy: tuple[float, float]) -> None:
    z, image = probe_decode(run.model, proj, xy)
    axes = "PC1, PC2" if proj.method == "pca" else "z0, z1"
    st.subheader("A point between the data")
    st.caption(f"({axes}) = ({xy[0]:.2f}, {xy[1]:.2f}) mapped back into latent space"
               + (" along the two principal directions (the other directions stay at the data mean)"
                  if proj.method == "pca" else "") + ", then decoded to E[x|z].")
    show_image(image, caption="Decoded", width=IMAGE_PX)
    st.caption("The latent point z that was decoded, per dimension:")
    svg_chart(posterior_svg(z), key="lm_probe_z")


def placed_points(ctx: tuple, view: tuple) -> list:
    got = st.session_state.get(PLACED_KEY) or {}
    return got.get("points", []) if got.get("ctx") == (ctx, view) else []


def add_placed(ctx: tuple, view: tuple, name: str, z: np.ndarray) -> None:
    pts = placed_points(ctx, view)[-7:]  # the last eight stay on the map
    st.session_state[PLACED_KEY] = {"ctx": (ctx, view), "points": pts + [(name, np.asarray(z, np.float32))]}


def place(proj: Projection, res, mu_shown: np.ndarray, zs: list) -> np.ndarray:
    """Where latents land in this map (PCA: its linear map; openTSNE: its transform)."""
    ref = None
    if proj.method == "opentsne":
        ref = tsne_reference(res, res.path, mu_shown, torch.get_num_threads())
    return place_points(proj, np.stack(zs), ref)


def place_panel(run: Run, ctx: tuple, view: tuple) -> None:
    """Where would this land? An uploaded image (encoded to μ) or a latent drawn from the prior,
    placed into the existing map as a star, with the decoding of each placed latent."""
    with st.expander("Where would this land? Place a new image or latent into this map",
                     icon=":material/add_location:"):
        st.caption("PCA places a latent by its linear map; openTSNE by its `transform` (the map itself does not "
                   "move). Stars mark placed points.")
        a, b = st.columns(2)
        up = a.file_uploader("An image (PNG or JPEG)", type=["png", "jpg", "jpeg"], key="lm_place_upload")
        if up is not None and a.button("Place this image", key="lm_place_image"):
            try:
                x = image_from_bytes(up.getvalue(), run.model.image_shape)
            except ValueError as e:
                a.error(f"This image cannot be used: {safe_md(e)}")
            else:
                with torch.no_grad():
                    z = run.model.encode(x[None]).mean[0].numpy()
                add_placed(ctx, view, f"upload {len(placed_points(ctx, view)) + 1}", z)
                st.rerun()
        if b.button("Draw a latent from the prior and place it", key="lm_place_prior",
                    help="z ~ N(0, I), seeded by how many you have drawn; its decoding is shown."):
            k = len(placed_points(ctx, view))
            z = torch.randn(run.model.latent_dim, generator=torch.Generator().manual_seed(1000 + k)).numpy()
            add_placed(ctx, view, f"prior {k + 1}", z)
            st.rerun()
        pts = placed_points(ctx, view)
        if pts:
            with torch.no_grad():
                images = run.model.mean_image(torch.from_numpy(np.stack([z for _, z in pts])))
            show_grid(images, nrow=len(pts), min_cell=40,
                      caption=" · ".join(n for n, _ in pts) + ": E[x|z] decoded at each placed latent")


def hint() -> None:
    st.info("**Click a point** to see its reconstruction, its posterior and its nearest neighbours. "
            "Use **Box select** or **Lasso** above the map to compare a group (**Clear selection** ends it); "
            "**Zoom** and **Pan** move the view, a double-click resets it, and the legend hides classes. "
            "**Images** shows each dot's image as you hover it (and, on PCA and 2-D maps, decodes the empty "
            "space under the cursor); **Thumbnails** draws the images instead of the dots. "
            "On the PCA view, **click empty space** to decode the latent point that lies there.")


# ---------------------------------------------------------------- the page

run = require_run()
if posterior_view.latent_map_page(run):  # flow, categorical and Dirichlet runs: their own view
    st.stop()
splits = run_dataset(run)
key = run_identity(run)
d = run.model.latent_dim
sizes = {s: len(getattr(splits, s)) for s in ("test", "train") if len(getattr(splits, s))}

st.title("Latent map")
st.caption("Each dot is one image placed at its posterior mean μ(x), projected to two dimensions. "
           "Nearby dots are images the encoder considers similar.")
if not sizes:
    st.error(f"Run **{run.name}** has no images in either split to plot.")
    st.stop()

mu_test = encode_split(run, key, next(iter(sizes)))[0]
urlstate.take_projection(f"lm_method_{d}", [m for m in METHODS if (m != "latent" or d <= 2) and (m != "pca" or d >= 2)])
view = view_ui(d, sizes, most_varied_dim(mu_test))
ds = getattr(splits, view.split)
mu, logvar = encode_split(run, key, view.split)
labels = ds.y.numpy()
what = f"{METHODS[view.method]} of {min(view.cap, len(ds)):,} {view.split} points"
try:
    if view.method == "latent":
        idx = _subsample(labels, key, view.split, view.cap)
        res = None
        proj = project_latent(mu[idx])
    else:
        spec = Spec(view.method, view.split, view.cap if view.cap < len(ds) else None, view.perplexity, TSNE_SEED)
        res = projection_for(run.path, mu, labels, spec, torch.get_num_threads(), what)
        if res is None:
            st.stop()
        idx, proj = res.idx, res.proj
except BudgetError as e:
    st.error(f"This projection was refused: {safe_md(e)}")
    st.stop()
except (ValueError, OSError, CheckpointError) as e:
    st.error(f"This projection cannot be computed: {safe_md(e)}")
    st.stop()

rec = None
if view.colour == "rec_error":
    rec = _terms(run, ds.x[torch.from_numpy(idx)], key, view.split, view.cap).rec
kl = None  # against a mixture or VampPrior the KL has no closed form: the Monte-Carlo terms
if view.colour == "kl" and run.config.model.prior != "standard":
    kl = _terms(run, ds.x[torch.from_numpy(idx)], key, view.split, view.cap).kl
colour = colour_values(view.colour, labels[idx], mu[idx], logvar[idx], rec=rec, dim=view.dim, kl=kl)

summary = f"Showing **{len(idx):,} of {len(ds):,}** {view.split} images"
if len(idx) < len(ds):
    summary += " (a class-stratified seeded subsample; raise *Points shown at most* to see all)"
if proj.explained is not None:
    summary += (f" · PCA keeps {100 * proj.explained.sum():.1f}% of the variance of μ "
                f"(PC1 {100 * proj.explained[0]:.1f}%, PC2 {100 * proj.explained[1]:.1f}%)")
st.markdown(summary + ".")
if res is not None:
    st.caption(describe(res))
components_panel(run)

ctx = (run.name, view.split)
view_sig = (view.split, view.cap, view.method, view.perplexity, view.seed)
urlstate.take_point(len(ds), lambda i: remember({"kind": "point", "indices": [i], "xy": None, "source": "link"},
                                                 ctx, view_sig))


@st.fragment
def map_and_detail() -> None:
    """The map and the picked point's panel. A click reruns only this fragment; the map's points are
    the same cached dict on every rerun (Streamlit sends an unchanged element once), so only the pick
    and the panel change."""
    sel = current_selection(ctx, view_sig, len(ds))
    urlstate.write_map(view.method, sel)
    placed = placed_points(ctx, view_sig)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        points = _map_points(key, view_sig, (view.colour, view.dim), proj, idx, colour, ds.class_names, labels[idx])
        stars = []
        if placed:
            where = place(proj, res, mu[idx], [z for _, z in placed])
            stars = [(float(x), float(y), n) for (x, y), (n, _) in zip(np.asarray(where).reshape(-1, 2), placed)]
        scatter_map(CHART_KEY, points, "|".join(map(str, view_sig)), map_selection(idx, sel), stars,
                    on_select=lambda: on_map_select(ctx, view_sig, proj, idx),
                    extras=lambda: map_extras(run, key, proj, idx, ds, view.split))
        if proj.placeable:
            place_panel(run, ctx, view_sig)
    with right:
        st.number_input(f"Inspect {view.split} image #", 0, len(ds) - 1, value=None, key="lm_index",
                        on_change=on_index_typed, args=(ctx, view_sig), placeholder=f"0 … {len(ds) - 1}",
                        help="Or type an index instead of clicking.")
        if sel["kind"] == "point":
            point_panel(run, ds, mu, logvar, sel["indices"][0], view.split)
        elif sel["kind"] == "many":
            many_panel(run, ds, sel["indices"], view.split)
        elif sel["kind"] == "probe" and proj.invertible:
            probe_panel(run, proj, tuple(sel["xy"]))
        else:
            hint()


map_and_detail()
