"""UMAP maps (umap-learn), seeded and so single-threaded, with progress per epoch and cancellation
through the progress bar umap-learn drives; its numba code is compiled once and kept on disk."""
from __future__ import annotations

import numpy as np

from vae.analysis.projection.maps import Cancelled, Projection, check_points, never, no_progress

UMAP_NEIGHBOURS, UMAP_MIN_DIST = 15, 0.1


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

    mu = check_points(mu, least=4)
    if not 2 <= n_neighbors < len(mu):
        raise ValueError(f"UMAP needs 2 ≤ neighbours < number of points ({len(mu)}), not {n_neighbors}")
    progress = progress or no_progress
    should_stop = should_stop or never
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

