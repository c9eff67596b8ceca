"""Procedurally rendered dSprites-like shapes with known generative factors
(shape, scale, rotation, x, y), deterministic in a seed."""
from __future__ import annotations

import math

import torch

from vae.data.base import DataError, Dataset, DataSplits, conform, n_train_for

SHAPE_CLASSES = ["square", "ellipse", "triangle"]
SHAPE_FACTORS = ["shape", "scale", "rotation", "pos_x", "pos_y"]

SHAPES_DEFAULT_N = 6_000
SHAPES_DEFAULT_SIZE = 32
SHAPES_MIN_SIZE = 8  # below this a triangle and a square are indistinguishable

# Shape geometry in canvas units where the image spans [-1, 1]. A shape's
# circumradius is scale * _MAX_RADIUS; centres stay within ±_TRAVEL so even the
# largest shape at any rotation keeps a margin inside the frame. Position is
# therefore independent of scale, as in dSprites.
_MAX_RADIUS = 0.45
_TRAVEL = 1.0 - _MAX_RADIUS - 0.05
_SCALE_RANGE = (0.5, 1.0)
# Rotations are drawn from one symmetry period per shape, so every distinct
# image has exactly one rotation value: square 90°, ellipse 180°, triangle 120°.
_ROTATION_PERIOD = (math.pi / 2, math.pi, 2 * math.pi / 3)
_ELLIPSE_ASPECT = 0.5  # minor / major semi-axis; a circle would hide rotation
_RENDER_CHUNK = 2048  # images per vectorised rendering batch (bounds memory)


def load_shapes(image_size: int | None, channels: int | None, max_items: int | None,
                 seed: int) -> DataSplits:
    size = SHAPES_DEFAULT_SIZE if image_size is None else int(image_size)
    if size < SHAPES_MIN_SIZE:
        raise DataError(f"shapes needs image_size ≥ {SHAPES_MIN_SIZE}, not {size}")
    n = SHAPES_DEFAULT_N if max_items is None else int(max_items)
    if n < 2:
        raise DataError("shapes needs max_items ≥ 2 so both splits get an image")
    x, factors = render_shapes(n, size, seed)
    x = conform(x, None, channels)
    y = factors[:, 0].long()
    ds = Dataset(x, y, list(SHAPE_CLASSES), factors, list(SHAPE_FACTORS))
    # The draw order is already random, so a plain tail split is unbiased.
    k = n_train_for(n)
    return DataSplits("shapes", ds.subset(slice(0, k)), ds.subset(slice(k, n)),
                      source=f"procedural shapes ({n:,} images, {size}×{size}, seed {seed})")


def sample_shape_factors(n: int, seed: int) -> torch.Tensor:
    """Draw factors for ``n`` images, deterministic in ``seed``.

    Returns (n, 5) float32 columns ``SHAPE_FACTORS``:
      shape     0 square, 1 ellipse, 2 triangle (balanced: each ⌊n/3⌋ or ⌈n/3⌉)
      scale     uniform in [0.5, 1.0], circumradius relative to the largest shape
      rotation  radians, uniform over one symmetry period of that shape:
                [0, π/2) square, [0, π) ellipse, [0, 2π/3) triangle; counter-clockwise
      pos_x     uniform in [0, 1]: 0 = leftmost allowed centre, 1 = rightmost
      pos_y     uniform in [0, 1]: 0 = topmost allowed centre, 1 = bottommost
    """
    g = torch.Generator().manual_seed(int(seed))
    # Balanced classes guarantee every shape appears even for small n.
    shape = (torch.arange(n) % 3)[torch.randperm(n, generator=g)]
    u = torch.rand(n, 4, generator=g, dtype=torch.float64)
    lo, hi = _SCALE_RANGE
    scale = lo + (hi - lo) * u[:, 0]
    period = torch.tensor(_ROTATION_PERIOD, dtype=torch.float64)[shape]
    rotation = u[:, 1] * period
    return torch.stack([shape.double(), scale, rotation, u[:, 2], u[:, 3]], 1).float()


def render_shapes(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``n`` random shapes.

    Returns x: (n, 1, size, size) float32 in [0, 1] (white shape on black) and
    factors: (n, 5) float32 as in ``sample_shape_factors``.
    """
    factors = sample_shape_factors(n, seed)
    out = torch.empty(n, 1, size, size)
    for start in range(0, n, _RENDER_CHUNK):
        out[start:start + _RENDER_CHUNK, 0] = render_from_factors(factors[start:start + _RENDER_CHUNK], size)
    return out, factors


def render_from_factors(factors: torch.Tensor, size: int) -> torch.Tensor:
    """Rasterise shapes with analytic anti-aliasing.

    factors: (B, 5) as in ``sample_shape_factors`` -> (B, size, size) float32 in [0, 1].
    Each pixel's value is its approximate area coverage, clamp(0.5 - d / pixel, 0, 1)
    with d the signed distance from the pixel centre to the shape's edge: smooth
    edges like 4×4 supersampling at the cost of a single sample per pixel.
    """
    # Pixel centres in canvas units; y points up so rotations are
    # counter-clockwise on screen and a triangle at rotation 0 points up.
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    f = factors.float()
    shape = f[:, 0].round().long()
    r = (f[:, 1] * _MAX_RADIUS).view(-1, 1, 1)
    th = f[:, 2].view(-1, 1, 1)
    # dx: (B, 1, size) varies along columns, dy: (B, size, 1) along rows.
    dx = coords.view(1, 1, size) - ((2 * f[:, 3] - 1) * _TRAVEL).view(-1, 1, 1)
    dy = -coords.view(1, size, 1) - ((1 - 2 * f[:, 4]) * _TRAVEL).view(-1, 1, 1)
    c, s = torch.cos(th), torch.sin(th)

    dist = torch.empty(len(f), size, size)
    # Each group only evaluates its own shape; every shape has circumradius r,
    # so all stay inside the ±_TRAVEL margin whatever their rotation.
    for k, sdf in enumerate((_sdf_square, _sdf_ellipse, _sdf_triangle)):
        idx = (shape == k).nonzero().squeeze(1)
        if len(idx):
            dist[idx] = sdf(dx[idx], dy[idx], c[idx], s[idx], r[idx])
    pixel = 2.0 / size
    return (0.5 - dist / pixel).clamp_(0.0, 1.0)


# Signed distances (negative inside), in canvas units. Arguments broadcast:
# dx (B, 1, W), dy (B, H, 1), cos/sin of the rotation and radius r (B, 1, 1).
# The point is rotated by -θ into the shape's frame: u = c·dx + s·dy, v = -s·dx + c·dy;
# each product of a per-image scalar with dx or dy is small, only sums are full-size.


def _sdf_square(dx, dy, c, s, r):
    half = r / math.sqrt(2)
    u = c * dx + s * dy
    v = (-s) * dx + c * dy
    return torch.maximum(u.abs_(), v.abs_()) - half


def _sdf_ellipse(dx, dy, c, s, r):
    a2, b2 = r * r, (r * _ELLIPSE_ASPECT) ** 2
    u = c * dx + s * dy
    v = (-s) * dx + c * dy
    q = u * u / a2 + v * v / b2 - 1  # implicit form, 0 on the edge
    grad = 2 * torch.sqrt((u / a2) ** 2 + (v / b2) ** 2)
    return q / grad.clamp_min_(1e-6)  # first-order distance: exact at the edge


def _sdf_triangle(dx, dy, c, s, r):
    # Equilateral triangle = three half-planes with outward normals at -90°,
    # 30°, 150° in the shape frame; its inradius is half the circumradius.
    d = None
    for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6):
        nx = c * math.cos(a) - s * math.sin(a)  # the normal rotated by +θ into image space
        ny = s * math.cos(a) + c * math.sin(a)
        h = nx * dx + ny * dy
        d = h if d is None else torch.maximum(d, h)
    return d - r / 2
