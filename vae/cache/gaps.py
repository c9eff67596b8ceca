"""A run's inference gaps (``vae.analysis.gaps``), kept in its folder by ``vae.cache.store``'s
protocol: ``<run>/cache/gaps-<weights digest>-p<points>-s<steps>-k<K>-v2.json``, one file per
setting, read back by ``python -m vae.evaluate --gaps`` and the Gaps page alike. A stopped
optimization (fewer steps than asked) is not the result asked for and is never kept."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from vae.analysis.gaps import GAP_POINTS, GAP_STEPS, IWAE_K, GapResult, gap_points, inference_gaps
from vae.cache import store

NAME = "gaps"
MAX_BYTES = 64 << 20  # a kept file read back: 10,000 points (the CLI's most) of a wide latent fit


def cache_path(run_dir: Path, points: int, steps: int, k: int, digest: str | None = None) -> Path:
    """Where a run's gaps for these settings are kept: keyed by its weights' hash."""
    return store.path_for(run_dir, NAME, digest, f"-p{points}-s{steps}-k{k}-v2")


def _read(path: Path) -> GapResult | None:
    d = store.read_json(path, MAX_BYTES)
    try:
        return GapResult.from_json(d) if isinstance(d, dict) else None
    except (ValueError, TypeError):
        return None


def cached_gaps(run_dir: Path, points: int = GAP_POINTS, steps: int = GAP_STEPS, k: int = IWAE_K) -> GapResult | None:
    """The gaps kept in a run folder for these settings, or None (never computes)."""
    try:
        return _read(cache_path(run_dir, points, steps, k))
    except OSError:  # no weights to key them by
        return None


def run_gaps(run, x: torch.Tensor, points: int = GAP_POINTS, steps: int = GAP_STEPS, k: int = IWAE_K,
             progress: Callable[[float, str], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> GapResult:
    """The gaps of a loaded run (``vae.runs.folder.Run``) on x (its test split), from the run
    folder's cache when there, else computed and kept there (written atomically; a stopped
    computation leaves nothing behind)."""
    return store.get_or_compute(
        run.path, lambda digest: cache_path(run.path, points, steps, k, digest), _read,
        lambda digest: inference_gaps(run.model, x, gap_points(len(x), points), steps=steps, k=k,
                                      progress=progress, should_stop=should_stop),
        GapResult.to_json, keep=lambda r: r.steps == steps)
