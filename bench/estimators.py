"""Benchmark of the gradient-estimator lab: `python -m bench.estimators`.

Prints measure | median | target | pass/fail. Compute times are medians over repeats with
time.perf_counter, after one warm-up (the first batched vector–Jacobian product compiles its
vmap rules); the page's server-side rerun time is the median of 10 AppTest reruns after a warm-up
run of the comparison (then cached). Timings on a shared machine are indicative only.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.apptest import app_test, rerun_until_metric  # noqa: E402
from bench.table import median_time, print_table  # noqa: E402

K, BATCH = 100, 32  # the page's defaults


def compute_rows() -> list[list]:
    import torch

    from vae.runs.folder import load_run
    from vae.data import load_dataset
    from vae.analysis.estimators.gradient import encoder_gradient_estimates, gradient_study, pick_batch
    from vae.analysis.estimators.toy import toy_estimates

    run = load_run(REPO / "checkpoints" / "digits-default")
    x = pick_batch(load_dataset("digits").test.x, BATCH)
    encoder_gradient_estimates(run.model, x, "reparam", 1, 8)  # warm-up
    rows = []
    for est, L in (("reparam", 1), ("score", 1), ("score_baseline", 1), ("reparam", 16)):
        gen = torch.Generator().manual_seed(0)
        t = median_time(lambda: encoder_gradient_estimates(run.model, x, est, L, K, generator=gen), 3)
        rows.append([f"{K} estimates, {est}, L={L}, B={BATCH} (digits-default)", f"{t:.3f} s", "≤ 5 s", t <= 5])
    t = median_time(lambda: gradient_study(run.model, x, (1, 4, 16), K), 2)
    rows.append([f"full study: 3 estimators × L∈{{1,4,16}} × {K}", f"{t:.3f} s", "≤ 15 s", t <= 15])
    # The largest study the page's form can send within the budget (VAE_MAX_ESTIMATOR_WORK) on this run.
    from vae.limits import ESTIMATOR_WORK, estimator_work
    p = sum(q.numel() for q in run.model.parameters())
    combos = [(b, k, mc) for b in (8, 16, 32, 64, 128) for k in (20, 50, 100, 200, 400)
              for mc in ((1,), (1, 4, 16), (1, 2, 4, 8, 16, 32, 64))]
    b, k, mc = max((c for c in combos if estimator_work(p, *c) <= ESTIMATOR_WORK.value()),
                   key=lambda c: estimator_work(p, *c))
    xb = pick_batch(load_dataset("digits").test.x, b)
    t = median_time(lambda: gradient_study(run.model, xb, mc, k), 1)
    rows.append([f"study at the budget: B={b}, K={k}, L∈{{{','.join(map(str, mc))}}} ({estimator_work(p, b, k, mc):.2g} of "
                 f"{ESTIMATOR_WORK.value():.2g})", f"{t:.3f} s", "(info)", ""])
    t = median_time(lambda: toy_estimates(1.0, 0.5, 0.0, 1, 2000), 10)
    rows.append(["1-D example, 2000 estimates × 3", f"{t:.3f} s", "≤ 0.5 s", t <= 0.5])
    return rows


def rerun_row() -> list:

    at = app_test(timeout=180)
    at.run()
    at.switch_page("pages/estimators.py").run()
    next(b for b in at.button if b.label == "Run comparison").click().run()  # queued; returns at once
    rerun_until_metric(at, "Score / reparam")  # the result is then held by the work queue
    t = median_time(lambda: at.run(), 10)
    return ["estimators page rerun with results (AppTest, held by the queue)", f"{t:.3f} s", "≤ 1 s", t <= 1.0]


def main(argv: list[str] | None = None) -> int:
    rows = compute_rows()
    rows.append(rerun_row())
    print_table(["measure", "median", "target", "result"], rows)
    print("(timings on a shared machine are indicative only)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
