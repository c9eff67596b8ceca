"""``mnist10k``: the official MNIST test set (10,000 28×28 digits) shipped inside the project,
so the showcase default needs no network and no data folder.

The two IDX files in ``files/`` are byte-for-byte the official ``t10k-*`` files; their md5 is
checked on every load, so a truncated or altered copy is refused rather than trained on. The
split is fixed: the first 8,000 images train, the last 2,000 test (the official order is not
sorted by class, so both splits hold every digit).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from vae.data.base import DataError, Dataset, DataSplits, cap, conform
from vae.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

FILES_DIR = Path(__file__).resolve().parent / "files"
IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
MD5 = {IMAGES: "9fb629c4189551a2d022fa330f9573f3", LABELS: "ec29112dd5afa0611ce80d1b7f02629c"}
N_TRAIN = 8_000
N_TOTAL = 10_000
CLASSES = [str(d) for d in range(10)]


def _verified(name: str) -> Path:
    """The bundled file ``name``, after its md5 matched; DataError naming the file (never its
    server path) otherwise."""
    path = FILES_DIR / name
    try:
        digest = hashlib.md5(path.read_bytes()).hexdigest()
    except OSError:
        raise DataError(f"the bundled MNIST file {name} is missing; reinstall the project "
                        "(git checkout vae/data/files)") from None
    if digest != MD5[name]:
        raise DataError(f"the bundled MNIST file {name} is corrupt (md5 {digest}, expected {MD5[name]}); "
                        "restore it with git checkout vae/data/files")
    return path


def load_mnist10k(image_size: int | None, channels: int | None, max_items: int | None) -> DataSplits:
    """Train: images 0..7,999, test: 8,000..9,999 of the MNIST test set.

    Returns splits with x: (N, channels, S, S) float32 in [0, 1] (S = image_size, native 28)
    and y: (N,) int64 digit labels; ``max_items`` caps each split (first items).
    """
    images = read_idx(_verified(IMAGES), IMAGES_MAGIC)
    labels = read_idx(_verified(LABELS), LABELS_MAGIC)
    if images.shape != (N_TOTAL, 28, 28) or labels.shape != (N_TOTAL,):
        raise DataError(f"the bundled MNIST files hold {images.shape} images and {labels.shape} labels, "
                        f"expected ({N_TOTAL}, 28, 28) and ({N_TOTAL},)")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # a copy: the IDX buffer is read-only
    y = torch.from_numpy(labels.astype(np.int64))
    x = conform(x, image_size, channels)
    train = cap(Dataset(x[:N_TRAIN], y[:N_TRAIN], list(CLASSES)), max_items)
    test = cap(Dataset(x[N_TRAIN:], y[N_TRAIN:], list(CLASSES)), max_items)
    return DataSplits("mnist10k", train, test,
                      source=f"MNIST test set, bundled ({N_TRAIN:,} train / {N_TOTAL - N_TRAIN:,} test, 28×28)")
