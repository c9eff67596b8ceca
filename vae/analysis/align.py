"""Two latent maps of the same points, put in one frame: each run's posterior means are
projected on their own first principal components, then the second map is rotated (or
reflected), scaled and shifted onto the first by orthogonal Procrustes
(``scipy.linalg.orthogonal_procrustes``; Schönemann 1966). What is left after the best
such map is how the two runs really differ: the points that moved most.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Alignment:
    """``reference`` and ``aligned`` are (N, k) in the reference's frame: aligned ≈ moving·R·s + t."""
    reference: np.ndarray  # (N, k) the first map, as given
    aligned: np.ndarray  # (N, k) the second map carried onto the first
    rotation: np.ndarray  # (k, k) orthogonal R (a reflection when det = −1)
    scale: float  # s
    shift: np.ndarray  # (k,) t
    disparity: float  # Σ‖reference − aligned‖² / Σ‖reference − its mean‖²: 0 identical, 1 unrelated

    @property
    def moved(self) -> np.ndarray:
        """(N,) how far each point lies from its place in the reference, after alignment, in the
        reference's units."""
        return np.linalg.norm(self.reference - self.aligned, axis=1)

    @property
    def spread(self) -> float:
        """The reference map's root-mean-square distance from its centre: the unit of ``relative_moved``."""
        return float(np.sqrt(((self.reference - self.reference.mean(0)) ** 2).sum(1).mean()))

    @property
    def relative_moved(self) -> np.ndarray:
        """(N,) ``moved`` over the reference map's spread: 1 is as far as a typical point lies from the centre."""
        return self.moved / self.spread

    def most_moved(self, n: int = 10) -> np.ndarray:
        """Indices of the n points that moved most, largest first."""
        n = max(0, min(int(n), len(self.reference)))
        return np.argsort(-self.moved, kind="stable")[:n]


def pca(x, k: int = 2) -> np.ndarray:
    """(N, D) -> (N, k) scores on the first k principal components (centred; signs fixed so that
    each component's largest loading is positive). D < k is padded with zeros."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"PCA needs (N, D) with N ≥ 2, got shape {x.shape}")
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    vt = vt[:k]
    vt = vt * np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])[:, None]
    out = xc @ vt.T
    if out.shape[1] < k:
        out = np.pad(out, ((0, 0), (0, k - out.shape[1])))
    return out


def procrustes(reference, moving, scaling: bool = True) -> Alignment:
    """Carry ``moving`` (N, k) onto ``reference`` (N, k), row n onto row n: the rotation or
    reflection R, scale s (``scaling``) and shift t minimising Σ‖reference − (moving·R·s + t)‖²."""
    from scipy.linalg import orthogonal_procrustes

    a, b = np.asarray(reference, dtype=np.float64), np.asarray(moving, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or len(a) < 2:
        raise ValueError(f"two maps of the same points are needed, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("the maps must be finite")
    ma, mb = a.mean(0), b.mean(0)
    ac, bc = a - ma, b - mb
    nb = np.linalg.norm(bc)
    if nb == 0 or np.linalg.norm(ac) == 0:
        raise ValueError("a map with every point in one place cannot be aligned")
    r, sv = orthogonal_procrustes(bc, ac)  # R minimising ‖bc·R − ac‖
    s = float(sv / nb ** 2) if scaling else 1.0  # trace(Σ) / ‖bc‖²: the least-squares scale
    aligned = bc @ r * s + ma
    disparity = float(((a - aligned) ** 2).sum() / (ac ** 2).sum())
    return Alignment(a, aligned, r, s, ma - mb @ r * s, disparity)


def align_maps(mu_reference, mu_moving, k: int = 2) -> Alignment:
    """Two runs' posterior means of the same N points ((N, D₁), (N, D₂), any D): each on its own
    first k principal components, the second aligned onto the first."""
    mu_reference, mu_moving = np.asarray(mu_reference), np.asarray(mu_moving)
    if len(mu_reference) != len(mu_moving):
        raise ValueError(f"the two maps must hold the same points, got {len(mu_reference)} and {len(mu_moving)}")
    return procrustes(pca(mu_reference, k), pca(mu_moving, k))
