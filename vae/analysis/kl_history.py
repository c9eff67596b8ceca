"""The KL per latent dimension per epoch of a run's training, from its history records.

Every epoch the trainer records the test split's E_x KL(q(z_d|x) ‖ p(z_d)) per dimension
(``kl_per_dim``, nats). Stacked, they show when a dimension woke up (its KL rose above the
collapse threshold and stayed there) or died (fell below it for good): the Collapse page's
history and the Train monitor's heatmap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae.model.objectives import KL_COLLAPSED


@dataclass
class KLHistory:
    epochs: np.ndarray  # (E,) epoch numbers
    kl: np.ndarray  # (E, D) test KL per dimension after each epoch, nats


def kl_history(history: list[dict], latent_dim: int | None = None) -> KLHistory | None:
    """The KL-per-dimension-per-epoch matrix from a run's history records; records
    without a usable 'kl_per_dim' of the right length are skipped. None if none is usable."""
    rows, epochs = [], []
    for i, rec in enumerate(history):
        v = rec.get("kl_per_dim") if isinstance(rec, dict) else None
        if not isinstance(v, list) or not v or (latent_dim is not None and len(v) != latent_dim):
            continue
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if rows and len(arr) != len(rows[0]):
            continue
        rows.append(arr)
        ep = rec.get("epoch", i + 1)
        epochs.append(int(ep) if isinstance(ep, (int, float)) else i + 1)
    if not rows:
        return None
    return KLHistory(np.asarray(epochs), np.vstack(rows))


def wake_and_death(h: KLHistory, threshold: float = KL_COLLAPSED) -> list[dict]:
    """Per dimension: the epoch from which its KL stayed ≥ threshold to the end ('woke'),
    or, if it was once above but ends below, the epoch from which it stayed below ('died')."""
    out = []
    for d in range(h.kl.shape[1]):
        above = h.kl[:, d] >= threshold
        # The last epoch whose state differs from the final state; the run of the final state starts after it.
        flips = np.nonzero(above != above[-1])[0]
        start = int(h.epochs[flips[-1] + 1]) if len(flips) else int(h.epochs[0])
        if above[-1]:
            out.append({"dim": d, "state": "active", "epoch": start})
        elif above.any():
            out.append({"dim": d, "state": "died", "epoch": start})
        else:
            out.append({"dim": d, "state": "never active", "epoch": None})
    return out
