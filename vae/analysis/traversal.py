"""Moving through latent space: slider decodes, per-dimension traversal strips,
N×N grids over two directions, linear and spherical interpolation, and the
aggregate-posterior density that says whether a latent lies where data maps.

Everything here is plain torch and is evaluated without gradients; the model is
only read (``decode``/``mean_image``), never put in training mode or changed.
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Literal

import torch
from PIL import Image, ImageDraw, ImageFont

from vae.model.distributions import DiagonalGaussian, GaussianMixture, StandardNormal
from vae.model.networks import VAE
from vae.model.objectives import KL_COLLAPSED
from vae.export.images import make_grid, to_pil
from vae.analysis.projection.methods import project_pca

COLLAPSED_KL = KL_COLLAPSED  # nats: below this mean KL(q(z_d|x) ‖ p(z_d)) a dimension carries no information
MAX_GRID = 25  # N of the largest N×N grid


# ----------------------------------------------------------------------------- dimensions


@dataclass
class DimensionInfo:
    order: list[int]  # latent dimensions, most informative (largest mean KL) first
    kl: list[float]  # (D,) mean KL per dimension in nats, indexed by dimension
    collapsed: list[bool]  # (D,) True where the mean KL is below the threshold


def dimension_info(mu: torch.Tensor, logvar: torch.Tensor, threshold: float = COLLAPSED_KL) -> DimensionInfo:
    """Rank dimensions by their mean KL over the data. mu, logvar: (N, D)."""
    kl = DiagonalGaussian(mu, logvar).kl_per_dim().mean(0)  # (D,)
    order = sorted(range(kl.numel()), key=lambda d: (-float(kl[d]), d))
    return DimensionInfo(order=order, kl=kl.tolist(), collapsed=(kl < threshold).tolist())


def focus_first(order: list[int], focus: int | None) -> list[int]:
    """``order`` with ``focus`` moved to the front (unchanged when focus is None or absent)."""
    if focus is None or focus not in order:
        return list(order)
    return [focus] + [d for d in order if d != focus]


def start_point(kind: Literal["zeros", "prior", "data"], latent_dim: int, mu: torch.Tensor | None = None,
                index: int = 0, seed: int = 0, prior=None) -> torch.Tensor:
    """Where the sliders start: the origin, a seeded draw z ~ p(z) (``prior``: the run's own,
    ``model.prior``; N(0, I) when None), or the posterior mean μ(x_index) of a data point
    (mu: (N, D) encoded means). -> (D,)."""
    if kind == "zeros":
        return torch.zeros(latent_dim)
    if kind == "prior":
        with torch.no_grad():
            p = prior if prior is not None else StandardNormal(latent_dim)
            return p.sample(1, generator=torch.Generator().manual_seed(int(seed)))[0].float()
    if kind == "data":
        if mu is None or not 0 <= index < len(mu):
            n = 0 if mu is None else len(mu)
            raise ValueError(f"data point {index} does not exist; there are {n} (0 to {n - 1})")
        return mu[index].float().clone()
    raise ValueError(f"unknown start point {kind!r}; expected 'zeros', 'prior' or 'data'")


# ----------------------------------------------------------------------------- decoding


@torch.no_grad()
def decode_images(model: VAE, z: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """z: (..., D) -> E[x|z]: (..., C, H, W) in [0, 1], decoded in batches."""
    lead, d = z.shape[:-1], z.shape[-1]
    flat = z.reshape(-1, d).float()
    out = [model.mean_image(flat[s:s + batch_size]) for s in range(0, len(flat), batch_size)]
    imgs = torch.cat(out) if out else torch.empty(0, *model.image_shape)
    return imgs.reshape(*lead, *model.image_shape)


def decode_one(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """The slider decode. z: (D,) -> (C, H, W) in [0, 1]."""
    return decode_images(model, z[None])[0]


# ----------------------------------------------------------------------------- traversals


def traversal_values(radius: float, k: int) -> torch.Tensor:
    """K evenly spaced offsets from −r to +r: (K,)."""
    if k < 2:
        raise ValueError(f"a traversal needs at least 2 steps, not {k}")
    if not radius > 0:
        raise ValueError(f"the traversal radius must be positive, not {radius}")
    return torch.linspace(-radius, radius, k)


def traversal_latents(base: torch.Tensor, dims: list[int], radius: float, k: int) -> torch.Tensor:
    """base: (D,) -> (len(dims), K, D): row i is base with z_{dims[i]} set to −r … +r."""
    vals = traversal_values(radius, k)
    z = base.float().expand(len(dims), k, base.numel()).clone()
    for i, d in enumerate(dims):
        z[i, :, d] = vals
    return z


def traversal_strips(model: VAE, base: torch.Tensor, dims: list[int], radius: float = 3.0,
                     k: int = 9) -> torch.Tensor:
    """Per-dimension traversals: (len(dims), K, C, H, W) in [0, 1]."""
    return decode_images(model, traversal_latents(base, dims, radius, k))


# ----------------------------------------------------------------------------- grids


@dataclass
class GridAxes:
    directions: torch.Tensor  # (2, D) unit vectors: the grid's horizontal and vertical directions
    labels: tuple[str, str]  # axis names for captions, e.g. ("z3", "z7") or ("PC1", "PC2")
    explained: tuple[float, float] | None = None  # fraction of Var(μ) along each principal axis


def dimension_axes(latent_dim: int, i: int, j: int) -> GridAxes:
    """Two coordinate axes e_i, e_j as grid directions."""
    if not (0 <= i < latent_dim and 0 <= j < latent_dim):
        raise ValueError(f"dimensions must lie in 0…{latent_dim - 1}, not {i} and {j}")
    if i == j:
        raise ValueError("pick two different dimensions for a grid")
    eye = torch.eye(latent_dim)
    return GridAxes(torch.stack([eye[i], eye[j]]), (f"z{i}", f"z{j}"))


def principal_axes(mu: torch.Tensor) -> GridAxes:
    """The first two principal axes of the encoded data. mu: (N, D), N ≥ 2, D ≥ 2.

    SVD of the centred means; each axis's sign is fixed so that its largest
    component is positive, so the grid does not flip between runs.
    """
    n, d = mu.shape
    if n < 2 or d < 2:
        raise ValueError(f"principal axes need at least 2 points in at least 2 dimensions, not {n}×{d}")
    p = project_pca(mu.double().numpy())  # the Latent map's PCA: one computation of the plane
    return GridAxes(torch.from_numpy(p.components).float(), ("PC1", "PC2"),
                    tuple(float(e) for e in p.explained))  # type: ignore[arg-type]


def grid_latents(centre: torch.Tensor, axes: GridAxes, radius: float, n: int) -> torch.Tensor:
    """centre: (D,) -> (N, N, D), laid out like a plot: columns go −r → +r along the
    first direction, rows go +r (top) → −r (bottom) along the second."""
    if not 2 <= n <= MAX_GRID:
        raise ValueError(f"a grid is 2×2 to {MAX_GRID}×{MAX_GRID}, not {n}×{n}")
    vals = traversal_values(radius, n)
    u, v = axes.directions[0], axes.directions[1]
    a = vals[None, :, None]  # (1, N, 1) horizontal offsets
    b = vals.flip(0)[:, None, None]  # (N, 1, 1) vertical offsets, largest at the top
    return centre.float()[None, None, :] + a * u + b * v


def grid_traversal(model: VAE, centre: torch.Tensor, axes: GridAxes, radius: float = 3.0,
                   n: int = 9) -> torch.Tensor:
    """N×N decodings, row-major: (N·N, C, H, W) in [0, 1]."""
    return decode_images(model, grid_latents(centre, axes, radius, n)).flatten(0, 1)


# ----------------------------------------------------------------------------- interpolation


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation. z0, z1: (D,); t: (T,) in [0, 1] -> (T, D)."""
    t = t.float()[:, None]
    return (1 - t) * z0.float() + t * z1.float()


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation: the direction moves at constant angular speed along the
    great circle from z0 to z1 (Shoemake 1985; White 2016 for generative models) and the
    norm changes linearly, ‖z(t)‖ = (1 − t)‖z0‖ + t‖z1‖, so no point dips towards the
    origin, where the prior has its mode but little of its mass lives. z0, z1: (D,) -> (T, D).
    """
    z0, z1, t = z0.double(), z1.double(), t.double()[:, None]
    n0, n1 = z0.norm(), z1.norm()
    if n0 < eps or n1 < eps:  # a direction is undefined at the origin
        return lerp(z0, z1, t[:, 0]).float()
    u0, u1 = z0 / n0, z1 / n1
    cos = (u0 @ u1).clamp(-1.0, 1.0)
    theta = torch.arccos(cos)
    # u(t) = cos(tθ) u0 + sin(tθ) w, with w the unit vector in the plane of u0, u1 orthogonal to u0.
    perp = u1 - cos * u0
    if perp.norm() > eps:
        w = perp / perp.norm()
    elif cos > 0:  # parallel: the direction stays put
        w = torch.zeros_like(u0)
    else:  # antipodal: every great circle joins them; take the one through a fixed coordinate axis
        e = torch.zeros_like(u0)
        e[int(u0.abs().argmin())] = 1.0
        w = e - (e @ u0) * u0
        if w.norm() < eps:  # D = 1: there is no circle, only the line through the origin
            return lerp(z0, z1, t[:, 0]).float()
        w = w / w.norm()
    u = torch.cos(t * theta) * u0 + torch.sin(t * theta) * w
    return (u * ((1 - t) * n0 + t * n1)).float()


def interpolation_latents(z0: torch.Tensor, z1: torch.Tensor, steps: int,
                          mode: Literal["linear", "spherical"] = "linear") -> torch.Tensor:
    """``steps`` latents from z0 to z1 inclusive: (steps, D)."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, not {steps}")
    t = torch.linspace(0.0, 1.0, steps)
    if mode == "linear":
        return lerp(z0, z1, t)
    if mode == "spherical":
        return slerp(z0, z1, t)
    raise ValueError(f"unknown interpolation {mode!r}; expected 'linear' or 'spherical'")


def interpolation_strip(model: VAE, z0: torch.Tensor, z1: torch.Tensor, steps: int = 10,
                        mode: Literal["linear", "spherical"] = "linear") -> torch.Tensor:
    """Decodings along the path: (steps, C, H, W) in [0, 1]."""
    return decode_images(model, interpolation_latents(z0, z1, steps, mode))


# ----------------------------------------------------------------------------- aggregate posterior


def aggregate_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                          chunk: int = 64) -> torch.Tensor:
    """log q(z) for the aggregate posterior q(z) = (1/N) Σ_n N(z; μ_n, diag σ²_n), in float64 inside.

    z: (M, D); mu, logvar: (N, D) -> (M,), in nats.
    """
    if mu.shape[0] == 0:
        raise ValueError("the aggregate posterior needs at least one data point")
    return GaussianMixture(mu.double(), logvar.double()).log_prob(z.double(), chunk).float()


@dataclass
class AggregatePosterior:
    """The mixture q(z) over (a seeded subsample of) the data, and the data's own
    log q values: log q(z_n) at z_n ~ q(z|x_n), i.e. samples of q itself."""

    mu: torch.Tensor  # (M, D) mixture components' means
    logvar: torch.Tensor  # (M, D) and log-variances
    reference: torch.Tensor  # (R,) sorted log q(z) of samples from q, nats
    n_data: int | None = None  # N, the encoded points it was built from (M ≤ N of them are kept)

    @property
    def n_components(self) -> int:
        """M, the points whose posteriors form the mixture: all N, or a seeded subsample of them."""
        return int(self.mu.shape[0])

    @property
    def subsampled(self) -> bool:
        return self.n_data is not None and self.n_components < self.n_data

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """z: (..., D) -> (...)."""
        return aggregate_log_density(z.reshape(-1, z.shape[-1]), self.mu, self.logvar).reshape(z.shape[:-1])

    def histogram(self, bins: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference values binned: (counts (bins,), bin centres (bins,))."""
        lo, hi = float(self.reference[0]), float(self.reference[-1])
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        counts = torch.histc(self.reference, bins, lo, hi)
        edges = torch.linspace(lo, hi, bins + 1)
        return counts, (edges[1:] + edges[:-1]) / 2

    def percentile(self, log_q: float) -> float:
        """Share of the data's own log q values below ``log_q``, in percent."""
        below = torch.searchsorted(self.reference, torch.tensor([float(log_q)]), right=True)
        return 100.0 * float(below[0]) / max(1, self.reference.numel())


def aggregate_posterior(mu: torch.Tensor, logvar: torch.Tensor, max_components: int = 4000,
                        n_reference: int = 1000, seed: int = 0) -> AggregatePosterior:
    """Build q(z) from encoded data (mu, logvar: (N, D)) and its reference values.

    The mixture keeps at most ``max_components`` points (a seeded subsample) so
    large datasets stay cheap; the result says how many it kept (``n_components``)
    of how many (``n_data``). ``n_reference`` samples z ~ q(z) give the range.
    """
    if mu.shape[0] == 0:
        raise ValueError("the aggregate posterior needs at least one data point")
    g = torch.Generator().manual_seed(seed)
    n = mu.shape[0]
    mix_mu, mix_lv = DiagonalGaussian(mu.float(), logvar.float()).subsample(max_components, g).params()
    m = mix_mu.shape[0]
    ref_idx = torch.randint(0, m, (n_reference,), generator=g) if m > n_reference else torch.arange(m)
    z_ref = DiagonalGaussian(mix_mu[ref_idx], mix_lv[ref_idx]).rsample(generator=g)  # samples of q(z)
    ref = aggregate_log_density(z_ref, mix_mu, mix_lv).sort().values
    return AggregatePosterior(mix_mu, mix_lv, ref, n_data=n)


@dataclass
class DensityCheck:
    log_q: float  # log q(z) of the latent, nats
    percentile: float  # where it falls among the data's own values, %
    low: float  # the data's 1st percentile of log q
    median: float  # and its median
    off_manifold: bool  # below the data's 1st percentile: no data maps here


def density_check(agg: AggregatePosterior, z: torch.Tensor, alarm_percentile: float = 1.0) -> DensityCheck:
    """Place one latent z: (D,) against the data's own log q range."""
    log_q = float(agg.log_density(z[None])[0])
    ref = agg.reference
    low = float(torch.quantile(ref, alarm_percentile / 100.0))
    pct = agg.percentile(log_q)
    return DensityCheck(log_q=log_q, percentile=pct, low=low, median=float(ref.median()),
                        off_manifold=log_q < low)


# ----------------------------------------------------------------------------- composing images


def strip_sheet(images: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """(R, K, C, H, W) or (K, C, H, W) -> one (C, H', W') image, one row per strip."""
    if images.dim() == 4:
        images = images[None]
    return make_grid(images.flatten(0, 1), nrow=images.shape[1], pad=pad)


def cell_factor(side: int, cells: int, target_px: int = 720, min_px: int = 24, max_px: int = 96) -> int:
    """A whole enlargement for cells of ``side`` pixels so a row of ``cells`` fills about
    ``target_px``, each cell between min_px and max_px (tiny 8×8 digits stay crisp)."""
    want = max(min_px, min(max_px, target_px // max(1, cells)))
    return max(1, round(want / side))


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def sheet_image(images: torch.Tensor, factor: int = 1, row_labels: list[str] | None = None,
                muted: list[bool] | None = None, pad: int = 1) -> Image.Image:
    """(R, K, C, H, W) or (K, C, H, W) in [0, 1] -> one PIL image with cells enlarged by
    ``factor`` (nearest neighbour) and, optionally, a label left of each row; muted
    rows (collapsed dimensions) get a grey label."""
    if images.dim() == 4:
        images = images[None]
    img = to_pil(strip_sheet(images, pad))
    if factor > 1:  # nearest neighbour in PIL: cheap, and the gaps scale with the cells
        img = img.resize((img.width * factor, img.height * factor), Image.NEAREST)
    if not row_labels:
        return img
    h = images.shape[-2]
    cell_h = h * factor
    font = _font(max(10, min(18, int(cell_h * 0.45))))
    margin = 10 + max(int(font.getlength(t)) for t in row_labels)
    white, black, grey = (255, 0, 150) if img.mode == "L" else ((255,) * 3, (0,) * 3, (150,) * 3)
    canvas = Image.new(img.mode, (margin + img.width, img.height), white)
    canvas.paste(img, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for r, text in enumerate(row_labels):
        colour = grey if muted and muted[r] else black
        y = (pad + r * (h + pad)) * factor + cell_h // 2  # the middle of row r
        draw.text((4, y), text, fill=colour, anchor="lm", font=font)
    return canvas


def display_png(img: Image.Image) -> bytes:
    """PNG bytes for on-screen display: zlib level 1, about twice as fast to encode as the
    default and barely larger, which matters when a slider move re-encodes an image."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
