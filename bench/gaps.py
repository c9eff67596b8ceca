"""Benchmark of the inference gaps and of the priors: `python -m bench.gaps [--quick] [--priors-only]`
(--quick: 3 epochs per prior and IWAE K = 200 instead of 10 and 500).

1. The time of the gaps of 100 test points of the default run (mnist-default, conv, D = 16) at the
   page's defaults (500 Adam steps, K = 5,000 importance samples; target ≤ 30 s on 2 cores), against
   two baselines in the same run: the same computation with the model's own decoder (the
   transposed convolutions as trained, no channels-last layout), and one point at a time (timed on
   a few points, scaled to 100).
2. A table of test ELBO, IWAE and active units for a standard, a mixture-of-Gaussians and a
   VampPrior run of equal size and epochs on the MNIST cut (mnist10k), each trained here into a
   temporary folder by the project's own ``python -m vae.train``.

Timings on a shared machine are indicative only.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.table import print_table

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 30.0
BASELINE_POINTS = 5
PRIOR_RUNS = (("standard", []), ("mog", ["--prior=mog", "--prior-components=50"]),
              ("vamp", ["--prior=vamp", "--prior-components=50"]))
TRAIN_ARGS = ["--dataset=mnist10k", "--arch=mlp", "--hidden", "256", "--latent-dim=16", "--batch-size=128",
              "--lr=0.001", "--seed=0"]


def gap_rows(threads: int) -> list[list]:
    from vae.analysis.gaps import GAP_STEPS, GAP_TRAIN_SAMPLES, IWAE_K, gap_points, inference_gaps
    from vae.runs.folder import load_run
    from vae.data import load_dataset

    torch.set_num_threads(threads)
    run = load_run(REPO / "checkpoints" / "mnist-default")
    x = load_dataset("mnist10k").test.x
    pts = gap_points(len(x), 100)
    n_params = sum(p.numel() for p in run.model.parameters())

    def timed(**kw):
        t0 = time.perf_counter()
        r = inference_gaps(run.model, x, **kw)
        return r, time.perf_counter() - t0

    r, fast = timed(points=pts)
    r_own, own = timed(points=pts, log_px=run.model.log_px)
    one_by_one = sum(timed(points=[p])[1] for p in pts[:BASELINE_POINTS]) * len(pts) / BASELINE_POINTS
    s, s_own = r.summary(), r_own.summary()
    setting = f"{GAP_STEPS} steps × {GAP_TRAIN_SAMPLES} samples, K = {IWAE_K:,}"
    return [
        [f"gaps of 100 points, mnist-default ({n_params:,} parameters), {setting}, batched, "
         f"inference decoder ({threads} threads)", f"{fast:.1f} s", f"≤ {TARGET_S:g} s", fast <= TARGET_S],
        ["baseline: the same with the model's own decoder", f"{own:.1f} s", f"{own / fast:.2f}× slower", ""],
        [f"baseline: one point at a time (timed on {BASELINE_POINTS}, × {len(pts) // BASELINE_POINTS})",
         f"{one_by_one:.1f} s", f"{one_by_one / fast:.1f}× slower", ""],
        [f"  gaps (nats): log p(x) {s['log_px']:.2f}, approximation {s['approximation_gap']:.2f} ± "
         f"{s['approximation_gap_se']:.2f}, amortization {s['amortization_gap']:.2f} ± {s['amortization_gap_se']:.2f}",
         "", "", ""],
        [f"  own decoder: log p(x) {s_own['log_px']:.2f}, approximation {s_own['approximation_gap']:.2f}, "
         f"amortization {s_own['amortization_gap']:.2f} (same seed: differences are float rounding)", "", "", ""],
    ]


def prior_rows(epochs: int, iwae_k: int) -> list[list]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-priors-") as tmp:
        for name, flags in PRIOR_RUNS:
            out = Path(tmp) / name
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vae.train", *TRAIN_ARGS, f"--epochs={epochs}", *flags,
                            f"--out={out}"], cwd=REPO, check=True, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            ev = subprocess.run([sys.executable, "-m", "vae.evaluate", str(out), f"--iwae={iwae_k}", "--json"],
                                cwd=REPO, check=True, capture_output=True, text=True)
            r = json.loads(ev.stdout.strip().splitlines()[-1])
            kl = f"{r['kl']:.2f}" + (f" ± {r['kl_se']:.2f} (MC)" if r.get("kl_method") == "Monte Carlo" else "")
            rows.append([name, f"{r['elbo']:.2f}", f"{r['iwae']:.2f}", kl, f"{r['active_units']} / 16",
                         f"{r['mi']:.2f} ± {r['mi_se']:.2f}", f"{seconds:.0f} s"])
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    threads = torch.get_num_threads()
    if "--priors-only" not in argv:
        print("Inference gaps (Cremer et al. 2018) on the default run; the machine may be shared and loaded.")
        print_table(["measure", "time", "target / ratio", "ok"], gap_rows(threads))
    epochs, iwae_k = (3, 200) if quick else (10, 500)
    print(f"\nPriors on mnist10k: MLP 784-256-16, batch 128, {epochs} epochs each, K = 50 components; "
          f"test split (2,000 images), IWAE with K = {iwae_k}, nats per image.")
    print_table(["prior", "test ELBO", f"IWAE (K={iwae_k})", "KL", "active units", "I_q(x; z)", "train time"],
                prior_rows(epochs, iwae_k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
