"""Across runs: disentanglement scores per run (kept in its run folder by ``vae.cache.store``'s
protocol: ``<run>/cache/disentanglement-<weights digest>.json``), and runs grouped by everything
but their seed, with the mean and spread of each score (Locatello et al. 2019: the seed moves
these scores about as much as β does).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vae.analysis.disentanglement import all_scores
from vae.cache import store
from vae.config import RunConfig
from vae.runs.datasets import run_splits
from vae.runs.folder import CheckpointError, load_run

SCORE_POINTS = 5_000  # images scored per run (train then test split): the benchmark's size
SCORES_VERSION = 1
NAME = "disentanglement"  # <run>/cache/disentanglement-<weights digest>.json
# Fields that say how or where a run was trained, not what was trained: ignored when grouping.
_NOT_SETTINGS = {("train", "seed"), ("train", "sweep"), ("train", "device"), ("train", "world_size"),
                 ("train", "backend"), ("train", "device_kind"), ("train", "compile"), ("train", "cuda_graph"),
                 ("train", "sync_every")}


def scores_path(run_dir: Path, digest: str | None = None) -> Path:
    return store.path_for(run_dir, NAME, digest)


def _read(path: Path) -> dict | None:
    d = store.read_json(path)
    if not (isinstance(d, dict) and d.get("version") == SCORES_VERSION and isinstance(d.get("scores"), dict)
            and all(isinstance(v, (int, float)) or v is None for v in d["scores"].values())):
        return None
    return d


def cached_scores(run_dir: Path) -> dict | None:
    """{"scores": {name: value}, "factors": [...], "n": int, ...} for the run's current weights, or None."""
    try:
        return _read(scores_path(run_dir))
    except OSError:  # no weights to key them by
        return None


def scored_points(run, max_points: int = SCORE_POINTS) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Images and their factors for scoring a run: (x, factors (N, K), names). Raises
    CheckpointError when the run's dataset has no known factors."""
    d = run.config.data
    splits = run_splits(run.config)
    if splits.test.factors is None:
        raise CheckpointError(f"dataset {d.name!r} has no known generative factors (shapes has)")
    x = torch.cat([splits.train.x, splits.test.x])[:max_points]
    v = torch.cat([splits.train.factors, splits.test.factors])[:max_points].numpy()
    return x, v, list(splits.test.factor_names or [])


def score_run(run_dir: Path | str, progress: Callable[[float, str], None] | None = None) -> dict:
    """The four scores of a run's posterior means (MIG, DCI, SAP, FactorVAE), from its cache or
    computed and kept in the run folder."""
    from vae.model.evaluation import encode_all

    run_dir = Path(run_dir)

    def compute(digest: str) -> dict:
        run = load_run(run_dir)
        x, v, names = scored_points(run)
        if progress is not None:
            progress(0.0, "encoding")
        mu = encode_all(run.model, x).mean.numpy()
        s = all_scores(mu, v, names, progress=progress)
        return {"version": SCORES_VERSION, "digest": digest, "n": int(len(mu)), "factors": names,
                "scores": {k: (None if not math.isfinite(x_) else float(x_)) for k, x_ in s.summary().items()},
                "dci_importance": s.dci.importance.tolist(), "factor_vae_chance": s.factor_vae.chance}

    return store.get_or_compute(run_dir, lambda digest: scores_path(run_dir, digest), _read, compute, lambda d: d)


def scores_for(run_dirs: list[Path], progress: Callable[[float, str], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict[str, dict | str]:
    """Every run's scores ({name: result, or why there is none}), one run after another
    (``vae.cache.store.each_run``); a background job."""
    return store.each_run(run_dirs, lambda d, say: score_run(d, progress=say), progress, should_stop)


# ---------------------------------------------------------------- grouping by seed

def settings_key(cfg: RunConfig) -> str:
    """What a run trained, as canonical JSON: its config without the seed, the sweep name and how
    or where it ran. Runs with equal keys differ only in their seed."""
    d = cfg.to_dict()
    for section, name in _NOT_SETTINGS:
        d.get(section, {}).pop(name, None)
    return json.dumps(d, sort_keys=True)


@dataclass
class SeedGroup:
    runs: list[str]  # run names
    seeds: list[int]
    mean: dict[str, float] = field(default_factory=dict)  # per score
    sd: dict[str, float] = field(default_factory=dict)  # sample standard deviation (ddof 1); NaN for one run


def seed_groups(runs: dict[str, tuple[RunConfig, dict[str, float | None]]]) -> list[SeedGroup]:
    """{run: (config, scores)} -> groups of runs that differ only in seed, largest first, each with
    the mean and spread of every score over its runs."""
    by_key: dict[str, list[str]] = {}
    for name, (cfg, _) in runs.items():
        by_key.setdefault(settings_key(cfg), []).append(name)
    out = []
    for names in by_key.values():
        names = sorted(names)
        keys = sorted({k for n in names for k in runs[n][1]})
        g = SeedGroup(names, [runs[n][0].train.seed for n in names])
        for k in keys:
            vals = np.array([runs[n][1].get(k) for n in names if runs[n][1].get(k) is not None], dtype=float)
            g.mean[k] = float(vals.mean()) if len(vals) else float("nan")
            g.sd[k] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        out.append(g)
    out.sort(key=lambda g: (-len(g.runs), g.runs[0]))
    return out
