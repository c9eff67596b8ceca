"""The Latent map's panels beside the map: the picked point (original, reconstruction E[x|z=μ(x)],
its ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)) and terms, samples z ~ q(z|x) decoded, its posterior
per dimension, its nearest neighbours by the Euclidean distance between μ's, and refining its
posterior), a picked group, a probe of empty space decoded, the panel that places an uploaded image
or a prior draw into the map (with where it lands), the summary line and the hint."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.components.svg_chart import svg_chart
from ui.images import show_grid, show_image
from ui.latent_map.picks import add_placed, placed_points
from ui.latent_map.projection import tsne_reference
from ui.latent_map.refine import refine_panel
from ui.prior_view import kl_words
from ui.state import START_KEY
from ui.svg_charts import posterior_svg
from ui.text import escape_md, safe_md
from vae.analysis.latent_map import cpu_threads, decode_rows, encode_mean, prior_latent
from vae.analysis.projection.maps import Projection
from vae.analysis.projection.methods import place_points
from vae.analysis.projection.points import point_detail, probe_decode, selection_images
from vae.cache.projections import image_from_bytes
from vae.runs.folder import Run

N_SAMPLES, K_NEIGHBOURS, GRID_LIMIT = 8, 8, 32
IMAGE_PX = 140  # display width of the original and its reconstruction


def summary(n_shown: int, n: int, split: str, proj: Projection) -> str:
    """How many points the map shows of the split, and how much of μ's variance PCA keeps."""
    text = f"Showing **{n_shown:,} of {n:,}** {split} images"
    if n_shown < n:
        text += " (a class-stratified seeded subsample; raise *Points shown at most* to see all)"
    if proj.explained is not None:
        text += (f" · PCA keeps {100 * proj.explained.sum():.1f}% of the variance of μ "
                 f"(PC1 {100 * proj.explained[0]:.1f}%, PC2 {100 * proj.explained[1]:.1f}%)")
    return text + "."


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


def stars(proj: Projection, res, mu_shown: np.ndarray, placed: list) -> list[tuple[float, float, str]]:
    """Where the placed latents land in this map (PCA: its linear map; openTSNE: its transform),
    as the map's stars (x, y, name)."""
    if not placed:
        return []
    ref = None
    if proj.method == "opentsne":
        ref = tsne_reference(res, res.path, mu_shown, cpu_threads())
    where = place_points(proj, np.stack([z for _, z in placed]), ref)
    return [(float(x), float(y), n) for (x, y), (n, _) in zip(np.asarray(where).reshape(-1, 2), placed)]


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
                add_placed(ctx, view, f"upload {len(placed_points(ctx, view)) + 1}", encode_mean(run.model, x))
                st.rerun()
        if b.button("Draw a latent from the prior and place it", key="lm_place_prior",
                    help="z ~ N(0, I), seeded by how many you have drawn; its decoding is shown."):
            k = len(placed_points(ctx, view))
            add_placed(ctx, view, f"prior {k + 1}", prior_latent(run.model.latent_dim, k))
            st.rerun()
        pts = placed_points(ctx, view)
        if pts:
            show_grid(decode_rows(run.model, np.stack([z for _, z in pts])), nrow=len(pts), min_cell=40,
                      caption=" · ".join(n for n, _ in pts) + ": E[x|z] decoded at each placed latent")


def hint() -> None:
    st.info("**Click a point** to see its reconstruction, its posterior and its nearest neighbours. "
            "Use **Box select** or **Lasso** above the map to compare a group (**Clear selection** ends it); "
            "**Zoom** and **Pan** move the view, a double-click resets it, and the legend hides classes. "
            "**Images** shows each dot's image as you hover it (and, on PCA and 2-D maps, decodes the empty "
            "space under the cursor); **Thumbnails** draws the images instead of the dots. "
            "On the PCA view, **click empty space** to decode the latent point that lies there.")
