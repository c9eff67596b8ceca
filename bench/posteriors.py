"""Posteriors compared at equal networks and epochs: Gaussian (the baseline) against planar and IAF
flows, with a categorical run beside them, on mnist10k (the official MNIST test images, first 8,000
as train, last 2,000 as test; embedded in the project).

Every run trains the same MLP encoder/decoder (784-256-D, Bernoulli) with Adam at the same batch
size, seed and epochs. Reported: test ELBO (all 2,000 test images, β = 1; the categorical run's is
the discrete model's, hard samples and closed-form KL), the IWAE bound with K = 500 on the first
``--iwae-images`` test images (the same images for every run), and seconds per training epoch
(median over epochs; the per-epoch test evaluation is left out of it by evaluating on a tiny
split during training, then evaluating once at the end).

Target: IAF's IWAE above the Gaussian's (by more than two standard errors of the paired difference
over the same test images), at ≤ 2× its seconds per epoch.

    python -m bench.posteriors [--epochs 20] [--latent 16] [--iwae-images 500] [--k 500]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.table import print_table
from vae.config import ModelConfig, TrainConfig
from vae.data import load_dataset
from vae.model.networks import build_model
from vae.model.objectives import iwae_bound
from vae.model.evaluation import EVAL_SEED, evaluate_split
from vae.training.loop import fit

RUNS = [("gaussian", {}), ("planar", {"flow_steps": 4}), ("iaf", {"flow_steps": 4}),
        ("categorical", {"categories": 10})]


def one(kind: str, extra: dict, splits, args) -> dict:
    latent = args.latent if kind != "categorical" else max(1, args.latent // 2)
    cfg = ModelConfig(image_size=28, latent_dim=latent, hidden=[args.hidden], posterior=kind, **extra)
    torch.manual_seed(args.seed)
    model = build_model(cfg)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=args.lr, seed=args.seed,
                        temperature=1.0, temperature_min=0.5, temperature_anneal=0.1 if kind == "categorical" else 0.0)
    x_test = splits.test.x
    t0 = time.perf_counter()
    res = fit(model, splits.train.x, x_test[:16], train)  # a 16-image test pass per epoch: training time only
    wall = time.perf_counter() - t0
    model.eval()
    ev = evaluate_split(model, x_test)
    xi = x_test[:args.iwae_images]
    gen = torch.Generator().manual_seed(EVAL_SEED + 1)
    iw = torch.cat([iwae_bound(model, xi[s:s + 100], args.k, generator=gen) for s in range(0, len(xi), 100)])
    return {"kind": kind, "latent": f"{latent}×Cat(10)" if kind == "categorical" else str(latent),
            "elbo": ev["elbo"], "iwae": float(iw.mean()), "iwae_se": float(iw.std() / len(iw) ** 0.5), "iw": iw,
            "sec": statistics.median(h["seconds"] for h in res.history), "wall": wall,
            "params": sum(p.numel() for p in model.parameters())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--latent", type=int, default=16)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=500, help="IWAE samples")
    p.add_argument("--iwae-images", type=int, default=500, help="test images behind the IWAE figure")
    p.add_argument("--only", nargs="+", default=None, help="posteriors to run (default: all four)")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    splits = load_dataset("mnist10k")
    rows = []
    for kind, extra in RUNS:
        if args.only and kind not in args.only:
            continue
        r = one(kind, extra, splits, args)
        rows.append(r)
        print(f"  {kind}: ELBO {r['elbo']:.2f}  IWAE {r['iwae']:.2f}  {r['sec']:.2f} s/epoch", flush=True)
    base = next((r for r in rows if r["kind"] == "gaussian"), None)
    table = []
    for r in rows:
        ratio = r["sec"] / base["sec"] if base else float("nan")
        diff = r["iw"] - base["iw"] if base else None  # paired: the same test images
        d_mean = float(diff.mean()) if diff is not None else float("nan")
        d_se = float(diff.std() / len(diff) ** 0.5) if diff is not None and r is not base else 0.0
        ok: bool | str = ""
        if base and r["kind"] == "iaf":  # better by more than two paired standard errors, at ≤ 2× the time
            ok = d_mean > 2 * d_se and ratio <= 2.0
        table.append([r["kind"], r["latent"], f"{r['params']:,}", f"{r['elbo']:.2f}",
                      f"{r['iwae']:.2f} ± {r['iwae_se']:.2f}",
                      f"{d_mean:+.2f} ± {d_se:.2f}" if base else "–", f"{r['sec']:.2f}", f"{ratio:.2f}×", ok])
    print(f"mnist10k, MLP 784-{args.hidden}-D, Bernoulli, {args.epochs} epochs, batch {args.batch}, Adam {args.lr}; "
          f"IWAE K = {args.k} on the first {args.iwae_images} test images (± s.e. over images; the difference "
          "to the Gaussian is paired, same images, ± its s.e.; target: IAF better by > 2 s.e. at ≤ 2× the time)")
    print_table(["posterior", "D", "parameters", "test ELBO", f"IWAE (K={args.k})", "IWAE − Gaussian",
                 "s / epoch", "time vs Gaussian", "target"], table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
