"""Benchmark of the collapse diagnostics: `python -m bench.collapse`.

Prints measure | median | target | pass/fail. Compute times are medians over repeats with
time.perf_counter; the page's server-side rerun time is the median of AppTest reruns after a
warm-up (cached diagnostics). Timings on a shared machine are indicative only.
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
    from vae.checkpoint import load_run
    from vae.analysis.collapse import diagnose, posterior_histograms
    from vae.data import load_dataset
    from vae.analysis.disentanglement import mig
    from vae.trainer import encode_all

    torch.set_num_threads(threads)
    run = load_run(REPO / "checkpoints" / "digits-default")
    splits = load_dataset("digits")
    pool = torch.cat([splits.train.x, splits.test.x])
    g = torch.Generator().manual_seed(0)
    x = pool[torch.randint(len(pool), (N_POINTS,), generator=g)]

    def all_diagnostics():
        mu, logvar = encode_all(run.model, x)
        diagnose(mu, logvar, run.model, x)
        posterior_histograms(mu.numpy(), logvar.numpy())

    all_diagnostics()  # warm-up
    rows = [(f"all diagnostics, {N_POINTS:,} points, D=10 ({threads} thread{'s' if threads > 1 else ''})",
             median_time(all_diagnostics, 3), 3.0)]
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 3, N_POINTS), *rng.uniform(size=(4, N_POINTS))], 1)
    z = np.concatenate([factors + 0.1 * rng.normal(size=factors.shape), rng.normal(size=(N_POINTS, 5))], 1)
    rows.append((f"MIG, {N_POINTS:,} points, D=10, 5 factors", median_time(lambda: mig(z, factors), 3), 1.0))
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
    print_table(["measure", "median", "target", "ok"],
                [[name, f"{t:.3f} s", f"≤ {target:g} s", t <= target] for name, t, target in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
