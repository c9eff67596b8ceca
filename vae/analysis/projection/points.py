"""What is shown of the points of a map: a stratified seeded subsample, nearest neighbours,
per-point ELBO terms, posterior draws, colourings, one point's detail, a selection's images and
the decode of a probed plot point."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from vae.analysis.projection.maps import Projection
from vae.model.distributions import DiagonalGaussian
from vae.model.evaluation import image_terms
from vae.model.networks import VAE

ColourKind = Literal["label", "mu", "kl", "rec_error"]


def stratified_cap(labels: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """A seeded subsample of at most ``cap`` indices, classes in proportion.

    labels: (N,) ints. Returns sorted indices (M,). Every class keeps at least
    one point, so M can exceed ``cap`` only when cap < number of classes.
    Quotas are cap·n_c/N rounded by largest remainder.
    """
    labels = np.asarray(labels).reshape(-1)
    n = len(labels)
    if cap < 1:
        raise ValueError(f"the cap must be at least 1, not {cap}")
    if cap >= n:
        return np.arange(n)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    ideal = cap * counts / n
    quota = np.clip(np.floor(ideal).astype(int), 1, counts)
    # Hand out what is left by largest remainder; take back (from the largest) if the ≥1 floor overshot.
    order = np.argsort(-(ideal - np.floor(ideal)), kind="stable")
    while quota.sum() < cap:
        room = order[quota[order] < counts[order]]
        take = room[:cap - quota.sum()]
        quota[take] += 1
    while quota.sum() > cap and (quota > 1).any():
        over = np.where(quota > 1, quota - ideal, -np.inf)  # the most over-served class gives one back
        quota[np.lexsort((-quota, -over))[0]] -= 1
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(inverse == c))[:q] for c, q in enumerate(quota)]
    return np.sort(np.concatenate(picked))


def nearest_neighbours(points: np.ndarray, query: np.ndarray, k: int,
                       exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k points nearest to ``query`` in Euclidean distance.

    points: (N, D); query: (D,). ``exclude`` drops one index (the query's own).
    Returns (indices (k',), distances (k',)), nearest first, ties by index;
    k' = min(k, available points).
    """
    points = np.asarray(points, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64).reshape(-1)
    if points.ndim != 2 or points.shape[1] != len(query):
        raise ValueError(f"points must be (N, {len(query)}), got shape {points.shape}")
    d = np.sqrt(((points - query) ** 2).sum(1))
    if exclude is not None:
        d[exclude] = np.inf
    order = np.lexsort((np.arange(len(d)), d))
    order = order[np.isfinite(d[order])][:max(0, k)]
    return order, d[order]


@dataclass
class PointTerms:
    """Per-image ELBO terms in nats, each (N,): elbo = rec − kl."""

    elbo: np.ndarray
    rec: np.ndarray  # E_q[log p(x|z)], Monte Carlo over mc_samples draws
    kl: np.ndarray  # KL(q(z|x) ‖ p(z)), analytic


@torch.no_grad()
def point_terms(model: VAE, x: torch.Tensor, mc_samples: int = 8, seed: int = 0,
                batch_size: int = 512) -> PointTerms:
    """ELBO, reconstruction and KL of every image. x: (N, C, H, W) -> PointTerms of (N,).

    ``vae.model.evaluation.image_terms`` with L = mc_samples: the same terms as the training
    evaluation, from a private generator seeded with ``seed`` (deterministic, and it
    never touches the global RNG that other sessions of a shared server use).
    """
    t = image_terms(model, x, mc_samples=mc_samples, seed=seed, batch_size=batch_size)
    return PointTerms(elbo=t.elbo.numpy(), rec=t.rec.numpy(), kl=t.kl.numpy())


def posterior_samples(mu: np.ndarray, logvar: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n draws z ~ q(z|x) = N(μ, diag σ²) for one point. mu, logvar: (D,) -> (n, D)."""
    q = DiagonalGaussian(torch.as_tensor(np.asarray(mu, dtype=np.float32))[None],
                         torch.as_tensor(np.asarray(logvar, dtype=np.float32))[None])
    return q.rsample(n, generator=torch.Generator().manual_seed(int(seed)))[:, 0].numpy()


@dataclass
class Colour:
    """Colour values for a scatter: numbers (N,) or class indices, with a legend title."""

    values: np.ndarray  # (N,)
    title: str
    categorical: bool  # True: values index class names


def colour_values(kind: ColourKind, labels: np.ndarray, mu: np.ndarray, logvar: np.ndarray,
                  rec: np.ndarray | None = None, dim: int = 0, kl: np.ndarray | None = None) -> Colour:
    """What to colour N points by. labels: (N,); mu, logvar: (N, D); rec: (N,) E_q[log p(x|z)].

    'label': the class; 'mu': μ of latent dimension ``dim``; 'kl': KL(q(z|x) ‖ p(z))
    in nats; 'rec_error': −E_q[log p(x|z)] in nats (needs ``rec``).
    """
    if kind == "label":
        return Colour(np.asarray(labels).astype(int), "label", True)
    if kind == "mu":
        if not 0 <= dim < mu.shape[1]:
            raise ValueError(f"latent dimension {dim} does not exist (D = {mu.shape[1]})")
        return Colour(np.asarray(mu[:, dim], dtype=np.float64), f"μ of z{dim}", False)
    if kind == "kl" and kl is not None:  # given: the KL to a prior without a closed form (Monte Carlo)
        return Colour(np.asarray(kl, dtype=np.float64), "KL (nats, Monte Carlo)", False)
    if kind == "kl":
        kl = DiagonalGaussian(torch.as_tensor(mu), torch.as_tensor(logvar)).kl_per_dim().sum(-1)
        return Colour(kl.double().numpy(), "KL (nats)", False)
    if kind == "rec_error":
        if rec is None:
            raise ValueError("colouring by reconstruction error needs the per-point reconstruction term")
        return Colour(-np.asarray(rec, dtype=np.float64), "−E_q[log p(x|z)] (nats)", False)
    raise ValueError(f"unknown colouring {kind!r}")


def most_varied_dim(mu: np.ndarray) -> int:
    """The latent dimension whose mean varies most across the data (the most active unit). mu: (N, D)."""
    mu = np.asarray(mu)
    return int(np.argmax(mu.var(0))) if len(mu) > 1 else 0


# ---------------------------------------------------------------- one point, a selection, a probe

@dataclass
class PointDetail:
    """Everything shown for one data point; images are (…, C, H, W) in [0, 1]."""

    index: int
    original: torch.Tensor  # (C, H, W)
    recon: torch.Tensor  # (C, H, W): E[x|z = μ]
    samples: torch.Tensor  # (S, C, H, W): E[x|z] for z ~ q(z|x)
    mu: np.ndarray  # (D,)
    sigma: np.ndarray  # (D,)
    elbo: float
    rec: float
    kl: float
    neighbours: np.ndarray  # (k,) dataset rows, nearest first
    neighbour_dist: np.ndarray  # (k,) Euclidean distances between μ's
    neighbour_images: torch.Tensor  # (k, C, H, W)


@torch.no_grad()
def point_detail(model: VAE, x: torch.Tensor, mu: np.ndarray, logvar: np.ndarray, i: int,
                 n_samples: int = 8, k: int = 8, mc_samples: int = 64, seed: int = 0) -> PointDetail:
    """Detail of row i of a split. x: (N, C, H, W); mu, logvar: (N, D) its cached encodings.
    ELBO terms use mc_samples draws; neighbours are searched among all N means."""
    if not 0 <= i < len(x):
        raise IndexError(f"there is no image {i}: the split has {len(x)}")
    z = torch.from_numpy(np.concatenate([mu[i:i + 1], posterior_samples(mu[i], logvar[i], n_samples, seed)]))
    images = model.mean_image(z)
    terms = point_terms(model, x[i:i + 1], mc_samples=mc_samples, seed=seed)
    nb, dist = nearest_neighbours(mu, mu[i], k, exclude=i)
    return PointDetail(index=i, original=x[i], recon=images[0], samples=images[1:],
                       mu=np.asarray(mu[i], dtype=np.float64), sigma=np.exp(0.5 * np.asarray(logvar[i], np.float64)),
                       elbo=float(terms.elbo[0]), rec=float(terms.rec[0]), kl=float(terms.kl[0]),
                       neighbours=nb, neighbour_dist=dist, neighbour_images=x[torch.from_numpy(nb)])


@torch.no_grad()
def selection_images(model: VAE, x: torch.Tensor, rows: list[int] | np.ndarray,
                     limit: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` selected originals (n, C, H, W) and their reconstructions E[x|z = μ(x)]."""
    rows = torch.as_tensor(np.asarray(rows, dtype=np.int64)[:limit])
    originals = x[rows]
    mu = model.encode(originals).mean
    return originals, model.mean_image(mu)


@torch.no_grad()
def probe_decode(model: VAE, proj: Projection, xy: tuple[float, float]) -> tuple[np.ndarray, torch.Tensor]:
    """Decode the latent point that a plot point maps to: (z (D,), E[x|z] (C, H, W))."""
    z = proj.inverse(np.asarray(xy, dtype=np.float64))  # (1, D)
    return z[0], model.mean_image(torch.from_numpy(z))[0]
