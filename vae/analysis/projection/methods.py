"""The linear maps (the latents themselves, PCA) and the dispatch on a method's name:
``project`` makes a map, ``place_points`` places new latents into an existing one."""
from __future__ import annotations

import numpy as np

from vae.analysis.projection.maps import METHODS, Method, Projection, check_points
from vae.analysis.projection.tsne import project_opentsne, project_tsne, transform_into
from vae.analysis.projection.umap_learn import project_umap


def project_latent(mu: np.ndarray) -> Projection:
    """The latents themselves, for D ≤ 2. mu: (N, D) -> xy (N, 2)."""
    mu = check_points(mu, least=1)
    d = mu.shape[1]
    if d > 2:
        raise ValueError(f"the latents can be plotted directly only when D ≤ 2, not D = {d}")
    xy = np.zeros((len(mu), 2))
    xy[:, :d] = mu
    return Projection(xy.astype(np.float32), "latent", d, ("z0", "z1" if d == 2 else "(none)"))


def project_pca(mu: np.ndarray) -> Projection:
    """The plane of the two largest principal components of μ. mu: (N, D), D ≥ 2.

    Signs are fixed so each component's largest-magnitude loading is positive,
    so the picture does not flip between runs of the SVD.
    """
    mu = check_points(mu)
    if mu.shape[1] < 2:
        raise ValueError("PCA to two axes needs at least two latent dimensions")
    mean = mu.mean(0)
    centred = mu - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = s ** 2
    total = var.sum()
    explained = var[:2] / total if total > 0 else np.zeros(2)
    xy = centred @ comps.T
    titles = tuple(f"PC{k + 1} ({100 * e:.1f}% of variance)" for k, e in enumerate(explained))
    return Projection(xy.astype(np.float32), "pca", mu.shape[1], titles, explained, mean, comps)


def project(mu: np.ndarray, method: Method, perplexity: float = 30.0, seed: int = 0,
            threads: int | None = None, progress=None, should_stop=None) -> Projection:
    """Dispatch on ``method``: 'latent' (D ≤ 2), 'pca', 'tsne' (scikit-learn, the reference),
    'opentsne' or 'umap' (``threads`` as in project_tsne; progress / should_stop as in project_opentsne)."""
    if method == "latent":
        return project_latent(mu)
    if method == "pca":
        return project_pca(mu)
    if method == "tsne":
        return project_tsne(mu, perplexity, seed, threads=threads)
    if method == "opentsne":
        return project_opentsne(mu, perplexity, seed, threads=threads, progress=progress, should_stop=should_stop)
    if method == "umap":
        return project_umap(mu, seed=seed, progress=progress, should_stop=should_stop)
    raise ValueError(f"unknown projection {method!r}; expected one of {', '.join(METHODS)}")


def place_points(proj: Projection, new_mu: np.ndarray, reference=None) -> np.ndarray:
    """Where latents (M, D) land in an existing map: (M, 2). PCA and latents: the same linear map;
    openTSNE: its ``transform`` against ``reference`` (``opentsne_reference``), each new point
    attracted to its nearest fitted points and the map itself unchanged."""
    new_mu = check_points(np.atleast_2d(new_mu), least=1)
    if new_mu.shape[1] != proj.latent_dim:
        raise ValueError(f"the map is of {proj.latent_dim}-dimensional latents, not {new_mu.shape[1]}")
    if proj.method == "pca":
        return ((new_mu - proj.mean) @ proj.components.T).astype(np.float32)
    if proj.method == "latent":
        xy = np.zeros((len(new_mu), 2))
        xy[:, :proj.latent_dim] = new_mu
        return xy.astype(np.float32)
    if proj.method == "opentsne":
        if reference is None:
            raise ValueError("placing into an openTSNE map needs its reference (opentsne_reference)")
        return transform_into(reference, new_mu).astype(np.float32)
    raise ValueError(f"new points cannot be placed into a {proj.method} map; use PCA or openTSNE")
