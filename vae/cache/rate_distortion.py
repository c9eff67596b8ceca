"""A run's point on the rate–distortion plane (``vae.analysis.rate_distortion``), computed on its
test split as this server loads it (``vae.runs.datasets``) and kept in its folder by
``vae.cache.store``'s protocol: ``<run>/cache/rate-distortion-<weights digest>.json`` (the record
carries the digest and a version), so a retrained run is never read from another model's numbers.
``points_for`` does every run of the Compare page's plane, one after another (a background job)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from vae.analysis.rate_distortion import RatePoint, rate_distortion
from vae.cache import store
from vae.runs.datasets import split_images
from vae.runs.folder import load_run

NAME = "rate-distortion"


def cache_path(run_dir: Path, digest: str | None = None) -> Path:
    return store.path_for(run_dir, NAME, digest)


def _read(path: Path) -> RatePoint | None:
    try:
        return RatePoint.from_dict(store.read_json(path))
    except (ValueError, TypeError):
        return None


def cached_point(run_dir: Path) -> RatePoint | None:
    """The kept result for the run's current weights, or None (missing, stale or unreadable)."""
    try:
        return _read(cache_path(run_dir))
    except OSError:  # no weights to key it by
        return None


def run_point(run_dir: Path | str, x: torch.Tensor | None = None, surgery: bool = True,
              progress: Callable[[float, str], None] | None = None) -> RatePoint:
    """The run's point, from its cache or computed (and then kept in the run folder). ``x``: its
    test images (default: ``vae.runs.datasets.split_images``)."""
    run_dir = Path(run_dir)

    def read(path: Path) -> RatePoint | None:  # a kept point without the split asked for is recomputed
        found = _read(path)
        return found if found is not None and (found.mi is not None or found.surgery_note or not surgery) else None

    def compute(digest: str) -> RatePoint:
        run = load_run(run_dir)
        point = rate_distortion(run.model, split_images(run) if x is None else x, surgery=surgery, progress=progress)
        point.digest = digest
        return point

    return store.get_or_compute(run_dir, lambda digest: cache_path(run_dir, digest), read, compute,
                                RatePoint.to_dict)


def points_for(run_dirs: list[Path], progress: Callable[[float, str], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict[str, RatePoint | str]:
    """Every run's point ({run name: RatePoint, or the reason it has none}), one run after
    another (``vae.cache.store.each_run``). For a background job."""
    return store.each_run(run_dirs, lambda d, say: run_point(d, progress=say), progress, should_stop)
