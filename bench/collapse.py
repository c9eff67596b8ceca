"""Benchmark of the collapse diagnostics: `python -m bench.collapse`.

Prints measure | median | target | pass/fail. Compute times are medians over repeats with
time.perf_counter; the page's server-side rerun time is the median of AppTest reruns after a
warm-up (cached diagnostics). Then, for the committed runs with the page's defaults (one
thread, one timing): the time of all diagnostics and the Monte-Carlo standard errors of the
mutual information, the largest per-dimension one against its 0.01-nat target. Timings on a
shared machine are indicative only.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from bench.apptest import app_test  # noqa: E402
from bench.table import median_time, print_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_POINTS = 10_000


def compute_rows(threads: int) -> list[tuple[str, float, float]]:
    from vae.runs.folder import load_run
    from vae.analysis.collapse import N_MIXTURE, diagnose, mi_replicates, posterior_histograms
    from vae.data import load_dataset
    from vae.analysis.disentanglement import mig
    from vae.model.evaluation import encode_all

    torch.set_num_threads(threads)
    run = load_run(REPO / "checkpoints" / "digits-default")
    splits = load_dataset("digits")
    pool = torch.cat([splits.train.x, splits.test.x])
    g = torch.Generator().manual_seed(0)
    x = pool[torch.randint(len(pool), (N_POINTS,), generator=g)]

    def all_diagnostics():
        mu, logvar = encode_all(run.model, x).params()
        diagnose(mu, logvar, run.model, x)
        posterior_histograms(mu.numpy(), logvar.numpy())

    all_diagnostics()  # warm-up
    reps = mi_replicates(min(N_POINTS, N_MIXTURE))
    rows = [(f"all diagnostics, {N_POINTS:,} points, D=10, MI {reps} × {N_MIXTURE:,} points "
             f"({threads} thread{'s' if threads > 1 else ''})", median_time(all_diagnostics, 3), 3.0)]
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 3, N_POINTS), *rng.uniform(size=(4, N_POINTS))], 1)
    z = np.concatenate([factors + 0.1 * rng.normal(size=factors.shape), rng.normal(size=(N_POINTS, 5))], 1)
    rows.append((f"MIG, {N_POINTS:,} points, D=10, 5 factors", median_time(lambda: mig(z, factors), 3), 1.0))
    return rows


def error_rows() -> list[list]:
    """The committed runs' diagnostics with the page's defaults: time, and the largest Monte-Carlo
    standard error of a per-dimension MI (target: below 0.01 nats)."""
    import time

    from vae.runs.folder import load_run
    from vae.analysis.collapse import diagnose
    from vae.data import load_dataset
    from vae.model.evaluation import encode_all

    rows = []
    for name, dataset in (("digits-default", "digits"), ("shapes-default", "shapes")):
        if not (REPO / "checkpoints" / name).is_dir():
            continue
        run = load_run(REPO / "checkpoints" / name)
        x = load_dataset(dataset).test.x
        mu, logvar = encode_all(run.model, x).params()
        t0 = time.perf_counter()
        r = diagnose(mu, logvar, run.model, x)
        t = time.perf_counter() - t0
        label = f"{name}: {r.n_points:,} test points, MI {r.replicates} × {r.n_mixture:,}"
        rows.append([f"{label}, all diagnostics", f"{t:.3f} s", "", ""])
        rows.append([f"{label}, largest s.e. of a per-dim MI", f"{float(r.mi_se.max()):.4f} nats", "≤ 0.01 nats",
                     bool(r.mi_se.max() <= 0.01)])
        rows.append([f"{label}, s.e. of total MI (log M = {r.mi_ceiling:.2f})",
                     f"{r.mi_total:.3f} ± {r.mi_total_se:.4f} nats", "", ""])
    return rows


def rerun_row() -> tuple[str, float, float]:

    at = app_test(timeout=120)
    at.run()
    at.switch_page("pages/collapse.py").run()  # warm-up: encodes and computes once, then cached
    if at.exception:
        raise RuntimeError(f"the collapse page raised: {at.exception}")
    return "collapse page rerun (AppTest, cached)", median_time(lambda: at.run(), 10), 1.0


def main(argv: list[str] | None = None) -> int:
    default_threads = torch.get_num_threads()
    rows = compute_rows(default_threads)
    if default_threads > 1:
        rows += compute_rows(1)[:1]
    torch.set_num_threads(default_threads)
    rows.append(rerun_row())
    table = [[name, f"{t:.3f} s", f"≤ {target:g} s", t <= target] for name, t, target in rows]
    torch.set_num_threads(1)
    table += error_rows()
    torch.set_num_threads(default_threads)
    print_table(["measure", "median", "target", "ok"], table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
