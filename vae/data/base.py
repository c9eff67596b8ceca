"""What every data source shares: the in-memory ``Dataset`` and ``DataSplits``, the
``DataError`` a user can act on, and the split, cap and resampling helpers.

A ``Dataset`` holds ``x: (N, C, H, W) float32 in [0, 1]`` and ``y: (N,) int64`` labels.
Nothing happens at import time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

SPLIT_SEED = 0  # digits and folder splits never depend on the training seed


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


def is_int(v: object) -> bool:
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


def cap(ds: Dataset, max_items: int | None) -> Dataset:
    return ds if max_items is None or len(ds) <= max_items else ds.subset(slice(0, max_items))
