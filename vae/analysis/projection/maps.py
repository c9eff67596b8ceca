"""A 2-D map of N latent means (``Projection``), the one list of projection methods, the
cancellation signal every long fit raises, and a map's trustworthiness (how many of its
neighbours are latent-space neighbours)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

# The projection methods, in the order the Latent map offers them.
Method = Literal["latent", "pca", "opentsne", "umap", "tsne"]
METHODS: tuple[str, ...] = get_args(Method)  # the one list of them
LINEAR = ("latent", "pca")  # linear maps: computed at once, invertible back to latent space
PLACEABLE = (*LINEAR, "opentsne")  # maps new latents can be placed into (``methods.place_points``)
PERPLEXITY = ("tsne", "opentsne")  # the two t-SNEs: they take a perplexity
BACKGROUND = tuple(m for m in METHODS if m not in LINEAR)  # slow fits: a background task in the app
TRUST_K, TRUST_POINTS = 10, 2_000  # trustworthiness: k neighbours, on a fixed seeded subsample


def methods_for(latent_dim: int) -> list[str]:
    """The methods that can map D-dimensional latents: the latents themselves only for D ≤ 2,
    PCA to two axes only for D ≥ 2."""
    return [m for m in METHODS if (m != "latent" or latent_dim <= 2) and (m != "pca" or latent_dim >= 2)]


@dataclass(frozen=True)
class Projection:
    """A 2-D view of N latent means.

    xy: (N, 2) float32 plot coordinates. For ``pca`` the plane is
    ``mean + xy @ components``, so ``inverse`` maps any plot point back to a
    latent z; ``latent`` (D ≤ 2) is the identity (a zero second axis when D = 1);
    ``tsne`` has no inverse.
    """

    xy: np.ndarray  # (N, 2)
    method: Method
    latent_dim: int  # D
    axis_titles: tuple[str, str]
    explained: np.ndarray | None = None  # (2,) PCA: fraction of Var(μ) along each axis
    mean: np.ndarray | None = None  # (D,) PCA: mean of μ
    components: np.ndarray | None = None  # (2, D) PCA: orthonormal rows
    fit_rows: np.ndarray | None = None  # (F,) openTSNE: rows of the input that were fitted (the rest placed)
    params: dict | None = None  # the settings that made it (perplexity, iterations, fit points …)
    note: str = ""  # how it was made, in one sentence for the UI (the speed choices said)

    @property
    def invertible(self) -> bool:
        return self.method in LINEAR

    @property
    def placeable(self) -> bool:
        """New latents can be placed into this map (``place_points``): PCA, latents, openTSNE."""
        return self.method in PLACEABLE

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        """Plot coordinates (M, 2) -> latent points (M, D) in the projection's plane."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.method == "latent":
            return xy[:, :self.latent_dim].astype(np.float32)
        if self.method == "pca":
            return (self.mean + xy @ self.components).astype(np.float32)
        raise ValueError(f"a {self.method} embedding has no inverse map back to latent space")


def check_points(mu: np.ndarray, least: int = 2) -> np.ndarray:
    """μ (N, D) as float64, or ValueError: not 2-D, fewer than ``least`` points, or not finite."""
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2:
        raise ValueError(f"latent means must be (N, D), got shape {mu.shape}")
    if len(mu) < least:
        raise ValueError(f"a projection needs at least {least} points, got {len(mu)}")
    if not np.isfinite(mu).all():
        raise ValueError("the latent means contain NaN or infinite values")
    return mu


class Cancelled(Exception):
    """The caller's ``should_stop()`` returned True: the work stopped and nothing was kept."""


def no_progress(fraction: float, message: str) -> None:
    pass


def never() -> bool:
    return False


def trust(mu: np.ndarray, xy: np.ndarray, k: int = TRUST_K, points: int = TRUST_POINTS, seed: int = 0) -> float:
    """Trustworthiness (scikit-learn, k neighbours) of a map xy (N, 2) of μ (N, D), on a fixed seeded
    subsample of ``points`` rows (neighbours searched within the subsample): 1 means every map
    neighbour is a latent-space neighbour."""
    from sklearn.manifold import trustworthiness

    mu = np.asarray(mu, dtype=np.float64)
    n = len(mu)
    rows = np.arange(n) if n <= points else np.sort(np.random.default_rng(seed).choice(n, points, replace=False))
    k = min(k, (len(rows) - 1) // 2 - 1)  # scikit-learn requires k < n/2
    if k < 1:
        return float("nan")
    return float(trustworthiness(mu[rows], np.asarray(xy, dtype=np.float64)[rows], n_neighbors=k))

