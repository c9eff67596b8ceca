"""Benchmark of the disentanglement scores: `python -m bench disentanglement`.

The four scores (MIG, DCI, SAP, FactorVAE) of 5,000 points, each timed (median of repeats,
time.perf_counter), their total against the 10 s target on 2 cores; beside them, in the same run,
the baseline DCI with scikit-learn's default gradient-boosted trees (100 trees, learning rate 0.1,
every row per tree: disentanglement_lib's model family at its default size), its time and its
scores next to the lighter model's, so the saving and what it costs in agreement are both shown.
Codes: a synthetic 10-dimensional code of shapes-like factors (a categorical shape, four continuous
factors; five latents carry one factor each, with noise, five are noise), and the committed
shapes-default run's posterior means. Timings on a shared machine are indicative only.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench.table import median_time, print_table

REPO = Path(__file__).resolve().parents[1]
N_POINTS = 5_000
TARGET_S = 10.0


def synthetic(n: int = N_POINTS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    v = np.c_[rng.integers(0, 3, n), rng.uniform(size=(n, 4))]
    z = np.c_[v + 0.1 * rng.normal(size=v.shape), rng.normal(size=(n, 5))]
    return z, v, ["shape", "scale", "rotation", "pos_x", "pos_y"]


def shapes_run() -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    import torch

    from vae.cache.scores import scored_points
    from vae.runs.folder import load_run
    from vae.model.evaluation import encode_all

    d = REPO / "checkpoints" / "shapes-default"
    if not d.is_dir():
        return None
    torch.set_num_threads(2)
    run = load_run(d)
    x, v, names = scored_points(run, N_POINTS)
    return encode_all(run.model, x).mean.numpy(), v, names


def rows_for(label: str, z: np.ndarray, v: np.ndarray, names: list[str], repeats: int) -> list[list]:
    from vae.analysis.disentanglement import dci, factor_vae_score, mig, sap

    out, total = [], 0.0
    res = {}
    for name, fn in (("MIG", lambda: mig(z, v, names)), ("DCI", lambda: dci(z, v, names)),
                     ("SAP", lambda: sap(z, v, names)), ("FactorVAE", lambda: factor_vae_score(z, v, names))):
        res[name] = fn()
        t = median_time(fn, repeats)
        total += t
        out.append([f"{label}: {name}", f"{t:.2f} s", _value(name, res[name]), "", ""])
    out.append([f"{label}: all four ({len(z):,} points, D={z.shape[1]}, K={v.shape[1]})", f"{total:.2f} s", "",
                f"≤ {TARGET_S:.0f} s", total <= TARGET_S])
    base = {}
    t = median_time(lambda: base.setdefault("r", dci(z, v, names, n_trees=100, baseline=True)), 1)
    b = base["r"]
    out.append([f"{label}: baseline DCI, sklearn default GBT (100 trees, lr 0.1, all rows)", f"{t:.2f} s",
                _value("DCI", b), "", ""])
    return out


def _value(name: str, r) -> str:
    if name == "MIG":
        return f"{r.mig:.3f}"
    if name == "DCI":
        return f"D {r.disentanglement:.3f} · C {r.completeness:.3f} · I {r.informativeness:.3f}"
    if name == "SAP":
        return f"{r.sap:.3f}"
    return f"{r.score:.3f} (chance {r.chance:.2f})"


def main(argv: list[str] | None = None) -> int:
    repeats = 3 if "--quick" not in (argv or []) else 1
    rows = rows_for("synthetic", *synthetic(), repeats=repeats)
    real = shapes_run()
    if real is not None:
        rows += rows_for("shapes-default", *real, repeats=1)
    print_table(["measure", "time", "scores", "target", ""], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
