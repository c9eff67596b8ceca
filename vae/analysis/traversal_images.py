"""What the Traversals page shows, from the plain values a page holds: encoded means and
log-variances as numpy arrays (N, D), latents as lists of floats, a run's model. Each function
turns them into tensors, calls the maths of ``vae.analysis.traversal`` and returns what is drawn:
PNG or GIF bytes, a decoded image, the page's numbers. The pictures are labelled sheets: rows
named by their dimension and KL, tick labels under the columns (z_d from −r to +r, or t from 0 to
1), a grid's two axes named, the grid padded to a square.

Like ``traversal``, everything is evaluated without gradients and the model is only read.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae.analysis import traversal as tv
from vae.export.images import gif_bytes, pad_square, tick_labels, to_pil, with_ticks
from vae.model.networks import VAE

STRIPS_PX = 360  # about how wide a row of per-dimension traversal cells is drawn
GRID_PX = 720  # and an N×N grid
INTERPOLATION_PX = 640  # and an interpolation strip
GIF_PX = 192  # the side of a GIF frame
ORIGINAL_PX = 96  # and of an interpolation's two end images


def _cell(model: VAE, factor: int) -> tuple[int, int]:
    h, w = model.image_shape[-2:]
    return h * factor, w * factor


# ----------------------------------------------------------------------------- the data's numbers


def dimensions(mu: np.ndarray, logvar: np.ndarray) -> tv.DimensionInfo:
    """Dimensions ranked by mean KL over the encoded data (``traversal.dimension_info``)."""
    return tv.dimension_info(torch.from_numpy(mu), torch.from_numpy(logvar))


@dataclass
class AggregateView:
    """q(z) over the data and the reference histogram drawn behind a latent's log q(z)."""

    posterior: tv.AggregatePosterior
    counts: list[float]  # (bins,) the data's own log q values, binned
    centres: list[float]  # (bins,) the bins' centres, nats
    lo: float  # the smallest and largest of the data's own log q values
    hi: float


def aggregate(mu: np.ndarray, logvar: np.ndarray, bins: int = 40) -> AggregateView:
    """The aggregate posterior q(z) = (1/M) Σₙ q(z|xₙ) of the encoded data and its reference
    histogram (``traversal.aggregate_posterior``)."""
    agg = tv.aggregate_posterior(torch.from_numpy(mu), torch.from_numpy(logvar))
    counts, centres = agg.histogram(bins)
    return AggregateView(agg, counts.tolist(), centres.tolist(), float(agg.reference[0]), float(agg.reference[-1]))


def density(agg: tv.AggregatePosterior, z: list[float]) -> tv.DensityCheck:
    """Where the latent ``z`` falls among the data's own log q values (``traversal.density_check``)."""
    return tv.density_check(agg, torch.tensor(z))


def principal_axes(mu: np.ndarray) -> tv.GridAxes:
    """The first two principal axes of the encoded means (``traversal.principal_axes``)."""
    return tv.principal_axes(torch.from_numpy(mu))


# ----------------------------------------------------------------------------- latents


def start_latent(kind: str, model: VAE, mu: np.ndarray | None = None, index: int = 0, seed: int = 0) -> list[float]:
    """Where the sliders start (``traversal.start_point``): the origin, a seeded draw from the
    run's own prior, or the posterior mean μ(x_index) of a data point (mu: (N, D))."""
    return tv.start_point(kind, model.latent_dim, None if mu is None else torch.from_numpy(mu), index, seed,  # type: ignore[arg-type]
                          prior=model.prior if kind == "prior" else None).tolist()


def decode_latent(model: VAE, z: list[float]) -> torch.Tensor:
    """The slider decode E[x|z]: (C, H, W) in [0, 1]."""
    return tv.decode_one(model, torch.tensor(z))


# ----------------------------------------------------------------------------- pictures


def strips_png(model: VAE, base: list[float], dims: list[int], labels: list[str], muted: list[bool],
               radius: float, k: int) -> bytes:
    """One row per dimension in ``dims``: ``base`` with z_d moved from −r to +r in K steps, each
    row labelled (``muted``: grey labels), the columns ticked with z_d."""
    imgs = tv.traversal_strips(model, torch.tensor(base), list(dims), radius, k)
    factor = tv.cell_factor(model.image_shape[-1], k, target_px=STRIPS_PX)
    sheet = tv.sheet_image(imgs, factor, list(labels), list(muted))
    return tv.display_png(with_ticks(sheet, _cell(model, factor), factor, tick_labels(-radius, radius, k),
                                     x_title="z_d"))


def strip_gif(model: VAE, base: list[float], dim: int, radius: float, frames: int = 24) -> bytes:
    """One dimension's traversal as a looping GIF: ``frames`` decodings from −r to +r and back."""
    imgs = tv.traversal_strips(model, torch.tensor(base), [dim], radius, frames)[0]
    return gif_bytes([to_pil(x, GIF_PX) for x in imgs])


def grid_axes(model: VAE, i: int, j: int) -> tv.GridAxes:
    """Two coordinate axes e_i, e_j as a grid's directions (``traversal.dimension_axes``)."""
    return tv.dimension_axes(model.latent_dim, i, j)


def grid_png(model: VAE, centre: list[float], axes: tv.GridAxes, radius: float, n: int) -> bytes:
    """The N×N grid of decodings of c + a·u + b·v, square, both axes ticked and named."""
    imgs = tv.grid_traversal(model, torch.tensor(centre), axes, radius, n)
    factor = tv.cell_factor(model.image_shape[-1], n, target_px=GRID_PX)
    sheet = tv.sheet_image(imgs.reshape(n, n, *imgs.shape[1:]), factor)
    # Columns move a from −r to +r along u, rows move b from +r (top) to −r along v.
    return tv.display_png(pad_square(with_ticks(sheet, _cell(model, factor), factor, tick_labels(-radius, radius, n),
                                                tick_labels(radius, -radius, n), x_title=axes.labels[0],
                                                y_title=axes.labels[1])))


def interpolation_pngs(model: VAE, mu: np.ndarray, x: torch.Tensor, a: int, b: int,
                       steps: int) -> tuple[bytes, bytes, bytes]:
    """From μ(x_a) to μ(x_b) (mu: (N, D); x: the images): PNG of the two strips (linear,
    spherical) ticked with t, and PNGs of the two originals."""
    m = torch.from_numpy(mu)
    lin = tv.interpolation_strip(model, m[a], m[b], steps, "linear")
    sph = tv.interpolation_strip(model, m[a], m[b], steps, "spherical")
    factor = tv.cell_factor(model.image_shape[-1], steps, target_px=INTERPOLATION_PX)
    sheet = tv.display_png(with_ticks(tv.sheet_image(torch.stack([lin, sph]), factor, ["linear", "spherical"]),
                                      _cell(model, factor), factor, tick_labels(0.0, 1.0, steps), x_title="t"))
    return sheet, tv.display_png(to_pil(x[a], ORIGINAL_PX)), tv.display_png(to_pil(x[b], ORIGINAL_PX))


def interpolation_gif(model: VAE, mu: np.ndarray, a: int, b: int, steps: int) -> bytes:
    """The spherical path from μ(x_a) to μ(x_b) as a looping GIF."""
    m = torch.from_numpy(mu)
    return gif_bytes([to_pil(img, GIF_PX) for img in tv.interpolation_strip(model, m[a], m[b], steps, "spherical")])
