"""Command line: ``python -m vae.evaluate RUN_DIR [--iwae K] [--json]``.

Reports, on the test split: ELBO, reconstruction, KL (total and per dimension),
active units, the mutual information I_q(x; z), and the IWAE bound when asked.
"""
from __future__ import annotations

import argparse
import json
import math
import sys


def evaluate_run(run_dir: str, dataset: str | None = None, data_dir: str | None = None,
                 iwae_k: int = 0, max_items: int | None = None, seed: int = 0) -> dict:
    """All test-split figures for a run folder, as a dict of plain numbers.

    The run is validated whole by ``load_run`` (its config's data_dir must lie under
    VAE_DATA_ROOTS); a ``data_dir`` passed here is the caller's own choice and is only
    checked to be a folder or file. Raises CheckpointError, DataError or ValueError."""
    import torch

    from .checkpoint import load_run
    from .config import ConfigError
    from .data import DATASETS, DataError, load_dataset
    from .analysis.collapse import mixture_estimates
    from .trainer import encode_all, evaluate_split
    from .validate import check_data_dir, max_items_limit

    run = load_run(run_dir)
    d = run.config.data
    try:
        if dataset is not None and dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {dataset!r}; valid names are: {', '.join(DATASETS)}")
        if data_dir:
            check_data_dir(data_dir, confined=False, zip_ok=(dataset or d.name) == "folder")
        if max_items is not None and not 1 <= max_items <= max_items_limit():
            raise ConfigError(f"--max-items must be between 1 and {max_items_limit():,} (VAE_MAX_ITEMS)")
    except ConfigError as e:
        raise DataError(str(e)) from None
    splits = load_dataset(dataset or d.name, data_dir or d.data_dir, image_size=d.image_size,
                          channels=d.channels, max_items=max_items if max_items is not None else d.max_items)
    x = splits.test.x
    if tuple(x.shape[1:]) != run.model.image_shape:
        raise ValueError(f"the dataset's images are {tuple(x.shape[1:])} but the run expects {run.model.image_shape}")
    torch.manual_seed(seed)
    res = evaluate_split(run.model, x, iwae_k=iwae_k)
    mix = mixture_estimates(*encode_all(run.model, x).params(), seed=seed)  # replicates, with standard errors
    res.update(mi=mix.mi_total, mi_se=mix.mi_total_se, mi_per_dim=mix.mi.tolist(), mi_per_dim_se=mix.mi_se.tolist(),
               mi_points=mix.n_mixture, n=len(x), dataset=splits.name, run=str(run.path))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vae.evaluate", description="Evaluate a run on its test split.")
    p.add_argument("run_dir")
    p.add_argument("--dataset", default=None, help="override the run's dataset")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--iwae", type=int, default=0, metavar="K", help="also estimate log p(x) with K samples")
    p.add_argument("--max-items", type=int, default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from .checkpoint import CheckpointError
    from .data import DataError
    if args.iwae < 0:
        print("error: --iwae must be ≥ 0", file=sys.stderr)
        return 2
    try:
        r = evaluate_run(args.run_dir, args.dataset, args.data_dir, args.iwae, args.max_items)
    except (CheckpointError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"run {r['run']} on {r['dataset']} test split ({r['n']:,} images), nats per image")
    print(f"  ELBO            {r['elbo']:10.3f}")
    print(f"  reconstruction  {r['rec']:10.3f}")
    print(f"  KL              {r['kl']:10.3f}")
    if "iwae" in r:
        print(f"  IWAE (K={args.iwae:<4})   {r['iwae']:10.3f}")
    print(f"  I_q(x; z)       {r['mi']:10.3f} ± {r['mi_se']:.3f} (s.e.; at most log M = "
          f"{math.log(r['mi_points']):.2f} with M = {r['mi_points']:,} points)")
    print(f"  active units    {r['active_units']:>4} of {len(r['kl_per_dim'])}")
    print("  dim   KL      A_d      MI    (s.e.)")
    for i, (k, a, m, e) in enumerate(zip(r["kl_per_dim"], r["au_per_dim"], r["mi_per_dim"], r["mi_per_dim_se"])):
        print(f"  {i:>3} {k:7.3f} {a:8.4f} {m:7.3f} ({e:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
