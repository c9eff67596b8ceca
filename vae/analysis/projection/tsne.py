"""t-SNE maps: scikit-learn's Barnes-Hut t-SNE (the reference; the one place this server's t-SNE
limit is checked, ``vae.limits.check_tsne``) and openTSNE's (fast: a seeded subset fitted, the rest
placed into it with its ``transform``), and the rebuilt openTSNE reference that places new points."""
from __future__ import annotations

import numpy as np

from vae.analysis.projection.maps import Cancelled, Projection, check_points, never, no_progress
from vae.limits import check_tsne

TSNE_MAX_ITER = 500  # 250 early-exaggeration steps + 250 more: clusters have settled by then
TSNE_ANGLE = 0.8  # Barnes-Hut θ: ≈3× faster than scikit-learn's 0.5 for a slightly coarser gradient


def project_tsne(mu: np.ndarray, perplexity: float = 30.0, seed: int = 0,
                 max_iter: int = TSNE_MAX_ITER, threads: int | None = None) -> Projection:
    """scikit-learn's Barnes-Hut t-SNE of μ (N, D), PCA-initialised, seeded.

    Perplexity is the effective number of neighbours each point attends to. The fit costs
    O(N · 3·perplexity), so both are budgeted (``vae.limits.check_tsne``, BudgetError naming the
    limit): N ≤ VAE_MAX_TSNE_POINTS (10,000), perplexity ≤ 100 and below N/3. threads caps
    OpenMP threads during the fit (None: scikit-learn's default, every core); on a busy shared
    machine spinning OpenMP threads can make the fit slower than one thread.
    """
    mu = check_points(mu, least=4)
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


def opentsne_settings() -> dict:
    """The fixed openTSNE choices above, for a kept map's cache key (a map made under others is not reused)."""
    return dict(early=OPENTSNE_EARLY_ITER, iter=OPENTSNE_ITER, theta=OPENTSNE_THETA,
                neighbours=OPENTSNE_NEIGHBOURS_PER_PERPLEXITY, fit=OPENTSNE_FIT_POINTS, place=OPENTSNE_PLACE_ITER)


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
    mu = check_points(mu, least=4)
    n = len(mu)
    if not 1 <= perplexity < n:
        raise ValueError(f"perplexity must be at least 1 and less than the number of points ({n}), not {perplexity:g}")
    if fit_points < 4:
        raise ValueError(f"openTSNE needs to fit at least 4 points, not {fit_points}")
    progress = progress or no_progress
    should_stop = should_stop or never
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
            xy[rows] = transform_into(ref, mu[rows])
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


def transform_into(ref, x: np.ndarray) -> np.ndarray:
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
    mu = check_points(mu)
    rows = proj.fit_rows
    aff = _affinities(mu[rows], float(p.get("perplexity", 30.0)), threads, int(p.get("seed", 0)))
    return _reference(proj.xy[rows], aff, threads, int(p.get("seed", 0)))

