"""Where the data lands in latent space: 2-D projections of posterior means,
a stratified seeded subsample, nearest neighbours, and per-point ELBO terms.

Everything here takes and returns NumPy arrays (the page caches them with
``st.cache_data``) except the functions that run the model, which take tensors.
Nothing touches a model's parameters or mode: they are shared read-only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from vae.limits import check_tsne
from vae.model.networks import VAE
from vae.model.distributions import DiagonalGaussian
from vae.model.evaluation import image_terms

Method = Literal["latent", "pca", "tsne", "opentsne", "umap"]
ColourKind = Literal["label", "mu", "kl", "rec_error"]

TSNE_MAX_ITER = 500  # 250 early-exaggeration steps + 250 more: clusters have settled by then
TSNE_ANGLE = 0.8  # Barnes-Hut θ: ≈3× faster than scikit-learn's 0.5 for a slightly coarser gradient


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
        return self.method in ("latent", "pca")

    @property
    def placeable(self) -> bool:
        """New latents can be placed into this map (``place_points``): PCA, latents, openTSNE."""
        return self.method in ("latent", "pca", "opentsne")

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        """Plot coordinates (M, 2) -> latent points (M, D) in the projection's plane."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.method == "latent":
            return xy[:, :self.latent_dim].astype(np.float32)
        if self.method == "pca":
            return (self.mean + xy @ self.components).astype(np.float32)
        raise ValueError(f"a {self.method} embedding has no inverse map back to latent space")


def _check_points(mu: np.ndarray, least: int = 2) -> np.ndarray:
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2:
        raise ValueError(f"latent means must be (N, D), got shape {mu.shape}")
    if len(mu) < least:
        raise ValueError(f"a projection needs at least {least} points, got {len(mu)}")
    if not np.isfinite(mu).all():
        raise ValueError("the latent means contain NaN or infinite values")
    return mu


def project_latent(mu: np.ndarray) -> Projection:
    """The latents themselves, for D ≤ 2. mu: (N, D) -> xy (N, 2)."""
    mu = _check_points(mu, least=1)
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
    mu = _check_points(mu)
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


def project_tsne(mu: np.ndarray, perplexity: float = 30.0, seed: int = 0,
                 max_iter: int = TSNE_MAX_ITER, threads: int | None = None) -> Projection:
    """scikit-learn's Barnes-Hut t-SNE of μ (N, D), PCA-initialised, seeded.

    Perplexity is the effective number of neighbours each point attends to. The fit costs
    O(N · 3·perplexity), so both are budgeted (``vae.budget.check_tsne``, BudgetError naming the
    limit): N ≤ VAE_MAX_TSNE_POINTS (10,000), perplexity ≤ 100 and below N/3. threads caps
    OpenMP threads during the fit (None: scikit-learn's default, every core); on a busy shared
    machine spinning OpenMP threads can make the fit slower than one thread.
    """
    mu = _check_points(mu, least=4)
    if not 1 <= perplexity < len(mu):
        raise ValueError(f"perplexity must be at least 1 and less than the number of points ({len(mu)}), "
                         f"not {perplexity:g}")
    check_tsne(len(mu), perplexity)  # before importing scikit-learn: a refused request costs nothing

    from contextlib import nullcontext

    from sklearn.manifold import TSNE  # imported here: it takes a second or two
    from threadpoolctl import threadpool_limits

    tsne = TSNE(n_components=2, perplexity=float(perplexity), init="pca", learning_rate="auto",
                max_iter=max_iter, angle=TSNE_ANGLE, random_state=int(seed))
    with threadpool_limits(limits=threads, user_api="openmp") if threads else nullcontext():
        xy = tsne.fit_transform(mu.astype(np.float32))
    return Projection(xy.astype(np.float32), "tsne", mu.shape[1], ("t-SNE 1", "t-SNE 2"),
                      note=f"scikit-learn Barnes-Hut t-SNE (the reference), {max_iter} iterations, angle {TSNE_ANGLE}, "
                           f"perplexity {perplexity:g}",
                      params=dict(perplexity=float(perplexity), seed=int(seed), max_iter=int(max_iter)))


# ---------------------------------------------------------------- openTSNE, UMAP, quality, placing

Progress = "Callable[[float, str], None]"  # progress(fraction in [0, 1], message)

# Measured on 10,000 mnist-default latents, one thread, CPU time, on a loaded 2-core machine (scikit-learn's
# t-SNE as project_tsne runs it: 21–25 s, trust 0.9673). Fit 5,000 + place 5,000 with openTSNE's defaults
# otherwise at 200 + 200: 10.3 s, 0.9579; at 125 + 125 with Barnes-Hut θ = 0.8: 4.9 s, 0.9604; and with
# 30 neighbours instead of 3 × perplexity = 90: 4.3–4.8 s, 0.9609–0.9635 (the defaults below). All 10,000
# fitted at 100 + 100 with those: 6.6 s, 0.9683 (too close to 3× to hold on a loaded machine). FFT
# gradients were no faster at 5,000 points on one thread, and placed points worse (0.9518).
OPENTSNE_EARLY_ITER = 125  # early-exaggeration steps (openTSNE's default 250)
OPENTSNE_ITER = 125  # then normal steps (openTSNE's default is 500; at 5,000 points the map has settled by then)
OPENTSNE_THETA = 0.8  # Barnes-Hut θ (openTSNE's 0.5): the same as the scikit-learn reference's angle, ≈1.6× faster
OPENTSNE_NEIGHBOURS_PER_PERPLEXITY = 1  # neighbours = perplexity (openTSNE's default 3 × perplexity): faster, trust +0.003
OPENTSNE_FIT_POINTS = 5_000  # above this, fit a seeded subset and place the rest with ``transform``
OPENTSNE_PLACE_ITER = 100  # transform steps per placed chunk (openTSNE's default 250: 2.5× the time, trust +0.002)
OPENTSNE_CHUNK = 5_000  # the rest is placed this many at a time (progress, cancellation, bounded memory)
UMAP_NEIGHBOURS, UMAP_MIN_DIST = 15, 0.1


def opentsne_settings() -> dict:
    """The fixed openTSNE choices above, for a kept map's cache key (a map made under others is not reused)."""
    return dict(early=OPENTSNE_EARLY_ITER, iter=OPENTSNE_ITER, theta=OPENTSNE_THETA,
                neighbours=OPENTSNE_NEIGHBOURS_PER_PERPLEXITY, fit=OPENTSNE_FIT_POINTS, place=OPENTSNE_PLACE_ITER)
TRUST_K, TRUST_POINTS = 10, 2_000  # trustworthiness: k neighbours, on a fixed seeded subsample


class Cancelled(Exception):
    """The caller's ``should_stop()`` returned True: the work stopped and nothing was kept."""


def _noop_progress(fraction: float, message: str) -> None:
    pass


def _never() -> bool:
    return False


def project_opentsne(mu: np.ndarray, perplexity: float = 30.0, seed: int = 0, threads: int | None = None,
                     fit_points: int = OPENTSNE_FIT_POINTS, early_iter: int = OPENTSNE_EARLY_ITER,
                     n_iter: int = OPENTSNE_ITER, progress=None, should_stop=None) -> Projection:
    """openTSNE's FFT-accelerated t-SNE of μ (N, D), PCA-initialised, seeded.

    Speed choices (the issue measured, 2 cores, 10,000 MNIST latents: 61 s with openTSNE's defaults,
    19 s fitting 3,000 and placing the rest; see the OPENTSNE_* constants for ours): ``early_iter`` + ``n_iter``
    = 125 + 125 iterations, Barnes-Hut θ = 0.8, affinities over perplexity-many nearest neighbours (not
    3 × perplexity), and when N > ``fit_points`` the embedding is fitted on a seeded random
    subset of ``fit_points`` rows and every other row is placed into it by openTSNE's ``transform``
    (``OPENTSNE_CHUNK`` at a time). progress(fraction, message) is called from the optimizer's
    callbacks with the iteration and the KL divergence; should_stop() is polled there and between
    chunks, and raises Cancelled when it returns True. Returns xy (N, 2) in input row order;
    ``fit_rows`` names the fitted rows (what ``place_points`` uses as the reference).
    """
    mu = _check_points(mu, least=4)
    n = len(mu)
    if not 1 <= perplexity < n:
        raise ValueError(f"perplexity must be at least 1 and less than the number of points ({n}), not {perplexity:g}")
    if fit_points < 4:
        raise ValueError(f"openTSNE needs to fit at least 4 points, not {fit_points}")
    progress = progress or _noop_progress
    should_stop = should_stop or _never
    import openTSNE  # imported here: it takes a second

    threads = int(threads) if threads else 1
    rng = np.random.default_rng(seed)
    fit_rows = np.arange(n) if n <= fit_points else np.sort(rng.choice(n, fit_points, replace=False))
    rest = np.setdiff1d(np.arange(n), fit_rows)
    fit_share = 1.0 if not len(rest) else 0.5  # of the progress bar
    total_iter = early_iter + n_iter
    perp = float(min(perplexity, (len(fit_rows) - 1) / 3))

    def callback(iteration: int, kl: float, embedding) -> bool:
        done = iteration + (early_iter if phase[0] else 0)  # openTSNE counts each phase from zero
        progress(fit_share * min(1.0, done / total_iter),
                 f"t-SNE iteration {done} of {total_iter}{'' if phase[0] else ' (early exaggeration)'}, "
                 f"KL divergence {kl:.3f}")
        return bool(should_stop())

    phase = [0]
    progress(0.0, f"finding the {_neighbours(perp, len(fit_rows))} nearest neighbours of {len(fit_rows):,} points")
    if should_stop():
        raise Cancelled("stopped before the fit began")
    affinities = _affinities(mu[fit_rows], perp, threads, seed)
    if should_stop():
        raise Cancelled("stopped while finding neighbours")
    init = openTSNE.initialization.pca(mu[fit_rows], random_state=int(seed))
    emb = openTSNE.TSNEEmbedding(init, affinities, n_jobs=threads, random_state=int(seed),
                                 negative_gradient_method="auto", theta=OPENTSNE_THETA, callbacks=callback,
                                 callbacks_every_iters=10)
    try:  # the two phases of openTSNE.TSNE.fit, run one after the other so the callback knows which
        emb = emb.optimize(n_iter=early_iter, exaggeration=12, momentum=0.5, learning_rate="auto",
                           propagate_exception=True)
        phase[0] = 1
        emb = emb.optimize(n_iter=n_iter, exaggeration=None, momentum=0.8, learning_rate="auto",
                           propagate_exception=True)
    except openTSNE.tsne.OptimizationInterrupt:
        raise Cancelled("stopped during the fit") from None
    xy = np.zeros((n, 2), dtype=np.float64)
    xy[fit_rows] = np.asarray(emb)
    if len(rest):
        ref = _reference(np.asarray(emb), affinities, threads, seed)
        for k in range(0, len(rest), OPENTSNE_CHUNK):
            if should_stop():
                raise Cancelled("stopped while placing the other points")
            rows = rest[k:k + OPENTSNE_CHUNK]
            progress(fit_share + (1 - fit_share) * k / len(rest),
                     f"placing points {k + 1:,}–{k + len(rows):,} of the other {len(rest):,} into the map")
            xy[rows] = _transform(ref, mu[rows])
        progress(1.0, f"placed the other {len(rest):,} points")
    how = (f"openTSNE, {early_iter} + {n_iter} iterations, Barnes-Hut θ {OPENTSNE_THETA:g}" +
           (f", fitted on {len(fit_rows):,} seeded random points; the other {len(rest):,} placed into that map "
            f"with openTSNE's transform ({OPENTSNE_PLACE_ITER} steps)" if len(rest) else f", fitted on all {n:,} points") + f", perplexity {perp:g} over the {_neighbours(perp, len(fit_rows))} nearest neighbours")
    return Projection(xy.astype(np.float32), "opentsne", mu.shape[1], ("t-SNE 1", "t-SNE 2"),
                      fit_rows=fit_rows, note=how,
                      params=dict(perplexity=perp, seed=int(seed), fit_points=int(fit_points),
                                  early_iter=int(early_iter), n_iter=int(n_iter)))


def _neighbours(perp: float, n: int) -> int:
    """How many nearest neighbours carry each fitted point's affinities (openTSNE's k_neighbors)."""
    return int(min(n - 1, np.ceil(OPENTSNE_NEIGHBOURS_PER_PERPLEXITY * perp)))


def _affinities(x: np.ndarray, perp: float, threads: int, seed: int):
    """openTSNE's perplexity-based affinities of the fitted points x (F, D), over ``_neighbours`` of each."""
    import openTSNE

    return openTSNE.affinity.PerplexityBasedNN(x, perplexity=perp, n_jobs=threads, method=_knn_method(len(x)),
                                               k_neighbors=_neighbours(perp, len(x)), random_state=int(seed),
                                               verbose=False)


def _knn_method(n: int) -> str:
    """Exact neighbours up to 5,000 fitted points (under a second, no index to build), else openTSNE's choice."""
    return "exact" if n <= 5_000 else "auto"


def _reference(xy: np.ndarray, affinities, threads: int, seed: int):
    """An openTSNE embedding of the fitted points (F, 2) to place new points into, without callbacks.
    Its ``transform`` centres it in place (idempotent); the shift is kept so placed points come back
    in the map's own coordinates."""
    import openTSNE

    arr = np.array(xy, dtype=np.float64)
    shift = (arr.max(0) + arr.min(0)) / 2
    emb = openTSNE.TSNEEmbedding(arr, affinities, n_jobs=threads, random_state=int(seed),
                                 negative_gradient_method="auto", theta=OPENTSNE_THETA)
    return emb, shift


def _transform(ref, x: np.ndarray) -> np.ndarray:
    emb, shift = ref
    placed = emb.transform(np.asarray(x, dtype=np.float64), n_iter=OPENTSNE_PLACE_ITER)
    return np.asarray(placed, dtype=np.float64) + shift


def opentsne_reference(proj: Projection, mu: np.ndarray, threads: int | None = None):
    """Rebuild an openTSNE map's fitted part (the ``fit_rows`` of ``mu``, the same μ it was made from)
    as an openTSNE embedding with its affinities, so new points can be placed into it."""
    if proj.method != "opentsne" or proj.fit_rows is None:
        raise ValueError("only an openTSNE map has a reference to place points into")
    p = proj.params or {}
    threads = int(threads) if threads else 1
    mu = _check_points(mu)
    rows = proj.fit_rows
    aff = _affinities(mu[rows], float(p.get("perplexity", 30.0)), threads, int(p.get("seed", 0)))
    return _reference(proj.xy[rows], aff, threads, int(p.get("seed", 0)))


def place_points(proj: Projection, new_mu: np.ndarray, reference=None) -> np.ndarray:
    """Where latents (M, D) land in an existing map: (M, 2). PCA and latents: the same linear map;
    openTSNE: its ``transform`` against ``reference`` (``opentsne_reference``), each new point
    attracted to its nearest fitted points and the map itself unchanged."""
    new_mu = _check_points(np.atleast_2d(new_mu), least=1)
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
        return _transform(reference, new_mu).astype(np.float32)
    raise ValueError(f"new points cannot be placed into a {proj.method} map; use PCA or openTSNE")


class _TqdmFeed:
    """A file for tqdm (which umap-learn drives once per epoch) that turns its lines into progress
    and its writes into a cancellation point."""

    def __init__(self, progress, should_stop, total: int):
        self.progress, self.should_stop, self.total = progress, should_stop, total

    def write(self, text: str) -> int:
        if self.should_stop():
            raise Cancelled("stopped during the UMAP optimisation")
        head = text.strip().split("/")[0].strip()
        if head.isdigit():
            done = int(head)
            self.progress(0.1 + 0.9 * done / max(1, self.total), f"UMAP epoch {done} of {self.total}")
        return len(text)

    def flush(self) -> None:
        pass


def numba_cache_dir() -> str:
    """Where numba keeps compiled code between processes (UMAP's first call compiles for about a
    minute; later ones read this): NUMBA_CACHE_DIR if set, else the user's cache folder."""
    import os
    from pathlib import Path

    d = os.environ.get("NUMBA_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-latent-explorer" / "numba")
    try:
        Path(d).mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile
        d = str(Path(tempfile.gettempdir()) / "vae-latent-explorer-numba")
        Path(d).mkdir(parents=True, exist_ok=True)
    return d


def project_umap(mu: np.ndarray, n_neighbors: int = UMAP_NEIGHBOURS, min_dist: float = UMAP_MIN_DIST,
                 seed: int = 0, progress=None, should_stop=None) -> Projection:
    """umap-learn's UMAP of μ (N, D), seeded (so single-threaded, as umap-learn is when seeded).
    Compiled numba code is kept in ``numba_cache_dir()``. Progress per epoch; should_stop() is polled
    once per epoch and raises Cancelled."""
    import os

    mu = _check_points(mu, least=4)
    if not 2 <= n_neighbors < len(mu):
        raise ValueError(f"UMAP needs 2 ≤ neighbours < number of points ({len(mu)}), not {n_neighbors}")
    progress = progress or _noop_progress
    should_stop = should_stop or _never
    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = numba_cache_dir()
        import sys
        if "numba" in sys.modules:  # numba reads its settings when imported: read them again
            sys.modules["numba"].core.config.reload_config()
    progress(0.0, "loading UMAP (compiles once, then read from the numba cache)")
    import umap  # imported here: ≈ 10 s, and numba compiles on a first call

    if should_stop():
        raise Cancelled("stopped before UMAP began")
    n_epochs = 500 if len(mu) <= 10_000 else 200  # umap-learn's own defaults
    progress(0.05, f"finding the {n_neighbors} nearest neighbours of {len(mu):,} points")
    reducer = umap.UMAP(n_neighbors=int(n_neighbors), min_dist=float(min_dist), random_state=int(seed),
                        n_epochs=n_epochs, verbose=False,
                        tqdm_kwds=dict(disable=False, file=_TqdmFeed(progress, should_stop, n_epochs),
                                       bar_format="{n}/{total}\n", mininterval=0.25))
    import warnings
    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state": said in the note
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        xy = reducer.fit_transform(mu.astype(np.float32))
    if should_stop():
        raise Cancelled("stopped during UMAP")
    return Projection(np.asarray(xy, dtype=np.float32), "umap", mu.shape[1], ("UMAP 1", "UMAP 2"),
                      note=f"UMAP (umap-learn), {n_neighbors} neighbours, min_dist {min_dist:g}, {n_epochs} epochs, "
                           f"seeded (one thread)",
                      params=dict(n_neighbors=int(n_neighbors), min_dist=float(min_dist), seed=int(seed)))


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
    raise ValueError(f"unknown projection {method!r}; expected 'latent', 'pca', 'tsne', 'opentsne' or 'umap'")


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

    ``vae.trainer.image_terms`` with L = mc_samples: the same terms as the training
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
# (moved unchanged from vae/latent_map.py, whose figures and chart-event parsing went to ui/)

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
