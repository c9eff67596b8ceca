"""Datasets as in-memory tensors, with fixed train/test splits.

Every loader returns a ``DataSplits`` whose ``Dataset``s hold
``x: (N, C, H, W) float32 in [0, 1]`` and ``y: (N,) int64`` labels.

- ``digits``: scikit-learn's 1,797 8×8 handwritten digits (bundled, no download).
- ``shapes``: procedurally rendered dSprites-like shapes with ground-truth factors.
- ``mnist`` / ``fashion-mnist``: the standard IDX files (see ``vae.datasets_idx``).
- ``folder``: a user's folder or .zip of images (see ``vae.datasets_folder``).

Nothing happens at import time: no downloads, no seeding, no file access.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .config import DATASET_NAMES as DATASETS  # one list of names for configs and loaders

DIGIT_CLASSES = [str(d) for d in range(10)]
SHAPE_CLASSES = ["square", "ellipse", "triangle"]
SHAPE_FACTORS = ["shape", "scale", "rotation", "pos_x", "pos_y"]

SHAPES_DEFAULT_N = 6_000
SHAPES_DEFAULT_SIZE = 32
SHAPES_MIN_SIZE = 8  # below this a triangle and a square are indistinguishable
SPLIT_SEED = 0  # digits and folder splits never depend on the training seed

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


class DataError(Exception):
    """A dataset could not be loaded; message says what to do."""


@dataclass
class Dataset:
    """One split held in memory.

    x: (N, C, H, W) float32 in [0, 1]
    y: (N,) int64 labels indexing ``class_names``
    factors: (N, F) float32 ground-truth generative factors (``shapes`` only)
    """

    x: torch.Tensor
    y: torch.Tensor
    class_names: list[str]
    factors: torch.Tensor | None = None
    factor_names: list[str] | None = None

    def __post_init__(self) -> None:
        # Catch programming errors early: a mismatch here would otherwise show
        # up much later as a confusing indexing error inside training.
        if self.x.ndim != 4:
            raise ValueError(f"x must be (N, C, H, W), got shape {tuple(self.x.shape)}")
        if self.y.ndim != 1 or len(self.y) != len(self.x):
            raise ValueError(f"y must be ({len(self.x)},), got shape {tuple(self.y.shape)}")
        if self.factors is not None:
            if self.factors.ndim != 2 or len(self.factors) != len(self.x):
                raise ValueError(f"factors must be ({len(self.x)}, F), got {tuple(self.factors.shape)}")
            if self.factor_names is not None and len(self.factor_names) != self.factors.shape[1]:
                raise ValueError("factor_names must name every factor column")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, idx: slice | Sequence[int] | np.ndarray | torch.Tensor) -> "Dataset":
        """A new Dataset with rows ``idx`` (slice, integer indices or boolean mask)."""
        if not isinstance(idx, slice):
            idx = torch.as_tensor(np.asarray(idx) if not isinstance(idx, torch.Tensor) else idx)
            if idx.dtype != torch.bool:
                idx = idx.long().reshape(-1)
        return Dataset(
            x=self.x[idx],
            y=self.y[idx],
            class_names=list(self.class_names),
            factors=None if self.factors is None else self.factors[idx],
            factor_names=None if self.factor_names is None else list(self.factor_names),
        )


@dataclass
class DataSplits:
    name: str
    train: Dataset
    test: Dataset
    skipped: int = 0  # unreadable files skipped (folder only)
    source: str = ""  # human-readable description, e.g. "scikit-learn digits (1,797 images)"


def default_data_dir() -> Path:
    """``$VAE_DATA_DIR`` if set, else ``~/.cache/vae-latent-explorer``."""
    env = os.environ.get("VAE_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "vae-latent-explorer"


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in .gz).

    array: (N, H, W) uint8 images or (N,) uint8 labels, for example.
    """
    from .datasets_idx import write_idx as _write_idx

    _write_idx(path, array)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = True,
    max_items: int | None = None,
    seed: int = 0,
) -> DataSplits:
    """Load one of ``DATASETS`` as train/test tensors.

    image_size: shapes render at it, folder resizes to it; digits/mnist are
        resampled to it if it differs from their native size. None: native
        (shapes 32, folder 28).
    channels: 1 (grayscale) or 3 (RGB); None keeps the native 1 channel
        (grayscale datasets are repeated to 3 channels when 3 is asked).
    max_items: shapes: images generated in total; folder: images read in
        total (before splitting); digits/mnist: cap on each split (first items).
    seed: only ``shapes`` uses it (which images are drawn). Splits of digits
        and folder are fixed so results stay comparable across runs.
    Raises DataError with a message a user can act on.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names are: {', '.join(DATASETS)}")
    if channels is not None and channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels!r}")
    if image_size is not None and (not _is_int(image_size) or image_size < 1):
        raise DataError(f"image_size must be a positive integer, not {image_size!r}")
    if max_items is not None and (not _is_int(max_items) or max_items < 1):
        raise DataError(f"max_items must be a positive integer, not {max_items!r}")

    if key == "digits":
        return _load_digits(image_size, channels, max_items)
    if key == "shapes":
        return _load_shapes(image_size, channels, max_items, seed)
    if key == "folder":
        from .datasets_folder import load_folder

        return load_folder(data_dir, image_size=image_size, channels=channels, max_items=max_items)
    from .datasets_idx import load_idx_dataset

    if os.environ.get("VAE_NO_DOWNLOAD", "").strip().lower() in ("1", "true", "yes", "on"):
        download = False
    root = Path(data_dir).expanduser() if data_dir not in (None, "") else default_data_dir()
    return load_idx_dataset(key, root, image_size=image_size, channels=channels,
                            download=download, max_items=max_items)


# ---------------------------------------------------------------- helpers


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def n_train_for(n: int) -> int:
    """Train-split size for ``n`` items: ⌊80%⌋, the test split gets the rest."""
    return n * 4 // 5  # integer arithmetic: int(n * 0.8) can round down a whole item


def split_fixed(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_idx, test_idx) from a permutation seeded with SPLIT_SEED, test = last 20%."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    k = n_train_for(n)
    return perm[:k], perm[k:]


def conform(x: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """Resample and/or change channels of a batch.

    x: (N, C, H, W) float32 in [0, 1] -> (N, channels, image_size, image_size).
    """
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        # antialias matters when shrinking (otherwise strokes alias away); the
        # clamp undoes the small overshoot bilinear+antialias can produce.
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                          align_corners=False, antialias=True).clamp_(0.0, 1.0)
    if channels is not None and x.shape[1] != channels:
        if channels == 3:
            x = x.expand(-1, 3, -1, -1).contiguous()
        else:  # ITU-R 601 luma, the same weights Pillow uses for "L"
            w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
            x = (x * w).sum(1, keepdim=True)
    return x.contiguous()


def _cap(ds: Dataset, max_items: int | None) -> Dataset:
    return ds if max_items is None or len(ds) <= max_items else ds.subset(slice(0, max_items))


# ---------------------------------------------------------------- digits


def _load_digits(image_size: int | None, channels: int | None, max_items: int | None) -> DataSplits:
    images, target = _read_digits_csv()
    # Pixel values are counts 0..16 of "on" cells in a 4×4 block: /16 maps to [0, 1].
    x = torch.from_numpy(images / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(target)
    x = conform(x, image_size, channels)
    tr, te = split_fixed(len(x))
    train = _cap(Dataset(x[tr], y[tr], list(DIGIT_CLASSES)), max_items)
    test = _cap(Dataset(x[te], y[te], list(DIGIT_CLASSES)), max_items)
    return DataSplits("digits", train, test, source=f"scikit-learn digits ({len(x):,} images, 8×8)")


def _read_digits_csv() -> tuple[np.ndarray, np.ndarray]:
    """The digits file that scikit-learn bundles, read directly: the same data as
    ``sklearn.datasets.load_digits`` without importing scikit-learn (≈2 s here).
    Rows are 64 pixel values then the label."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the digits dataset comes with scikit-learn, which is not installed "
                        "(pip install scikit-learn)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    try:
        with gzip.open(path, "rt") as f:
            arr = np.loadtxt(f, delimiter=",", dtype=np.float32)
    except (OSError, ValueError) as e:
        raise DataError(f"scikit-learn's bundled digits file {path} cannot be read ({e})") from None
    return arr[:, :-1], arr[:, -1].astype(np.int64)


# ---------------------------------------------------------------- shapes


def _load_shapes(image_size: int | None, channels: int | None, max_items: int | None,
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
