"""Datasets as in-memory tensors, with fixed train/test splits; one module per source.

Every loader returns a ``DataSplits`` whose ``Dataset``s hold
``x: (N, C, H, W) float32 in [0, 1]`` and ``y: (N,) int64`` labels.

- ``mnist10k``: the official MNIST test set shipped inside the project (``embedded``), the
  showcase default: 8,000 train / 2,000 test 28×28 digits, no network.
- ``digits``: scikit-learn's 1,797 8×8 handwritten digits (``digits``), the tiny fast one.
- ``shapes``: procedurally rendered dSprites-like shapes with ground-truth factors (``shapes``).
- ``mnist`` / ``fashion-mnist``: the standard IDX files in a data folder (``idx``).
- ``folder``: a user's folder or .zip of images (``folder``).

The package is a leaf: it imports only ``vae.config`` and ``vae.files`` from the rest of
``vae``. Nothing happens at import time: no downloads, no seeding, no file access.
"""
from __future__ import annotations

import os
from pathlib import Path


from vae.config import DATASET_NAMES as DATASETS# one list of names for configs and loaders
from vae.data.base import (DataError, Dataset, DataSplits, conform, default_data_dir, is_int, n_train_for,
    split_fixed)
from vae.data.idx import write_idx

__all__ = ["DATASETS", "DataError", "Dataset", "DataSplits", "conform", "default_data_dir", "load_dataset",
           "n_train_for", "split_fixed", "write_idx"]


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
        total (before splitting); digits/mnist/mnist10k: cap on each split (first items).
    seed: only ``shapes`` uses it (which images are drawn). Splits of digits
        and folder are fixed so results stay comparable across runs.
    Raises DataError with a message a user can act on.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names are: {', '.join(DATASETS)}")
    if channels is not None and channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels!r}")
    if image_size is not None and (not is_int(image_size) or image_size < 1):
        raise DataError(f"image_size must be a positive integer, not {image_size!r}")
    if max_items is not None and (not is_int(max_items) or max_items < 1):
        raise DataError(f"max_items must be a positive integer, not {max_items!r}")

    if key == "mnist10k":
        from vae.data.embedded import load_mnist10k

        return load_mnist10k(image_size, channels, max_items)
    if key == "digits":
        from vae.data.digits import load_digits

        return load_digits(image_size, channels, max_items)
    if key == "shapes":
        from vae.data.shapes import load_shapes

        return load_shapes(image_size, channels, max_items, seed)
    if key == "folder":
        from vae.data.folder import load_folder

        return load_folder(data_dir, image_size=image_size, channels=channels, max_items=max_items)
    from vae.data.idx import load_idx_dataset

    if os.environ.get("VAE_NO_DOWNLOAD", "").strip().lower() in ("1", "true", "yes", "on"):
        download = False
    root = Path(data_dir).expanduser() if data_dir not in (None, "") else default_data_dir()
    return load_idx_dataset(key, root, image_size=image_size, channels=channels,
                            download=download, max_items=max_items)
