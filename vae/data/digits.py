"""scikit-learn's 1,797 8×8 handwritten digits (bundled with scikit-learn, no download):
the tiny, fast dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vae.data.base import DataError, Dataset, DataSplits, cap, conform, split_fixed

DIGIT_CLASSES = [str(d) for d in range(10)]


def load_digits(image_size: int | None, channels: int | None, max_items: int | None) -> DataSplits:
    images, target = _read_digits_csv()
    # Pixel values are counts 0..16 of "on" cells in a 4×4 block: /16 maps to [0, 1].
    x = torch.from_numpy(images / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(target)
    x = conform(x, image_size, channels)
    tr, te = split_fixed(len(x))
    train = cap(Dataset(x[tr], y[tr], list(DIGIT_CLASSES)), max_items)
    test = cap(Dataset(x[te], y[te], list(DIGIT_CLASSES)), max_items)
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
