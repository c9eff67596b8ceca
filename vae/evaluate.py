"""Command line: ``python -m vae.evaluate RUN_DIR [--iwae K] [--gaps [--gap-points N] [--gap-steps S]] [--json]``.

Reports, on the test split: ELBO, reconstruction, KL (total and per dimension),
active units, the mutual information I_q(x; z) with its standard error, the IWAE
bound when asked, and the amortization and approximation gaps (``--gaps``, kept in
the run folder). With ``--json`` the last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import sys


def evaluate_run(run_dir: str, dataset: str | None = None, data_dir: str | None = None,
                 iwae_k: int = 0, max_items: int | None = None, seed: int = 0, gaps: bool = False,
                 gap_points: int = 100, gap_steps: int = 500, progress=None) -> dict:
    """All test-split figures for a run folder, as a dict of plain numbers.

    The run is validated whole by ``load_run`` (its config's data_dir must lie under
    VAE_DATA_ROOTS); a ``data_dir`` passed here is the caller's own choice and is only
    checked to be a folder or file. The data is loaded as the app loads it
    (``vae.runs.datasets``: the same item cap), with the caller's dataset, folder or item
    count in place of the run's where given. Raises CheckpointError, DataError or ValueError."""
    import torch

    from vae.runs.folder import load_run
    from vae.config import ConfigError
    from vae.data import DATASETS, DataError
    from vae.analysis.collapse import mixture_estimates
    from vae.model.evaluation import encode_all, evaluate_split
    from vae.runs.datasets import load_data, with_overrides
    from vae.runs.validate import check_data_dir, max_items_limit

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
    splits = load_data(with_overrides(d, dataset, data_dir, max_items), download=True)  # the app's item cap
    x = splits.test.x
    if tuple(x.shape[1:]) != run.model.image_shape:
        raise ValueError(f"the dataset's images are {tuple(x.shape[1:])} but the run expects {run.model.image_shape}")
    torch.manual_seed(seed)
    res = evaluate_split(run.model, x, iwae_k=iwae_k)
    from vae.model.priors import describe_prior
    posterior = getattr(run.config.model, "posterior", "gaussian")
    res.update(n=len(x), dataset=splits.name, run=str(run.path), posterior=posterior)
    res.update(prior=run.config.model.prior, prior_components=run.config.model.prior_components,
               prior_text=describe_prior(run.model.prior) if posterior in ("gaussian", "planar", "iaf")
               else f"the {posterior} posterior's own prior")
    if gaps:  # every posterior: its own parameters are refined; kept in the run folder, read back next time
        from vae.cache.gaps import run_gaps
        res.update(run_gaps(run, x, points=gap_points, steps=gap_steps, progress=progress).summary())
    if posterior != "gaussian":  # AU and the mixture MI estimate are for Gaussian posteriors: not defined here
        return res
    mix = mixture_estimates(*encode_all(run.model, x).params(), seed=seed)  # replicates, with standard errors
    res.update(mi=mix.mi_total, mi_se=mix.mi_total_se, mi_per_dim=mix.mi.tolist(), mi_per_dim_se=mix.mi_se.tolist(),
               mi_points=mix.n_mixture)
    return res


def main(argv: list[str] | None = None) -> int:
    from vae.analysis.gaps import GAP_POINTS, GAP_STEPS
    p = argparse.ArgumentParser(prog="python -m vae.evaluate", description="Evaluate a run on its test split.")
    p.add_argument("run_dir")
    p.add_argument("--dataset", default=None, help="override the run's dataset")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--iwae", type=int, default=0, metavar="K", help="also estimate log p(x) with K samples")
    p.add_argument("--max-items", type=int, default=None)
    p.add_argument("--gaps", action="store_true",
                   help="also the inference gaps (Cremer et al. 2018): log p(x), ELBO(q_φ), ELBO(q*) per point")
    p.add_argument("--gap-points", type=int, default=GAP_POINTS, metavar="N", help="test points for --gaps")
    p.add_argument("--gap-steps", type=int, default=GAP_STEPS, metavar="S", help="Adam steps per point for --gaps")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from vae.runs.folder import CheckpointError
    from vae.data import DataError
    if args.iwae < 0:
        print("error: --iwae must be ≥ 0", file=sys.stderr)
        return 2
    if args.gaps and not (1 <= args.gap_points <= 10_000 and 1 <= args.gap_steps <= 100_000):
        print("error: --gap-points must be 1 to 10,000 and --gap-steps 1 to 100,000", file=sys.stderr)
        return 2
    try:
        def progress(frac: float, msg: str) -> None:
            if sys.stderr.isatty():
                print(f"\r  {100 * frac:5.1f}%  {msg}\033[K", end="", file=sys.stderr, flush=True)

        r = evaluate_run(args.run_dir, args.dataset, args.data_dir, args.iwae, args.max_items, gaps=args.gaps,
                         gap_points=args.gap_points, gap_steps=args.gap_steps, progress=progress)
        if args.gaps and sys.stderr.isatty():
            print(file=sys.stderr)
    except (CheckpointError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"run {r['run']} on {r['dataset']} test split ({r['n']:,} images), nats per image")
    print(f"  ELBO            {r['elbo']:10.3f}")
    print(f"  reconstruction  {r['rec']:10.3f}")
    if r.get("kl_method") == "Monte Carlo":
        why = (f"a {r['posterior']} flow posterior" if r.get("posterior") in ("planar", "iaf") else
               f"the prior is {r['prior_text']}, which")
        print(f"  KL              {r['kl']:10.3f} ± {r['kl_se']:.3f} (Monte Carlo, s.e.; {why} has no closed-form KL)")
    else:
        print(f"  KL              {r['kl']:10.3f}")
    if "iwae" in r:
        print(f"  IWAE (K={args.iwae:<4})   {r['iwae']:10.3f}")
    if "mi" not in r:  # a flow, categorical or Dirichlet posterior
        print(f"  posterior       {r['posterior']}; active units and I_q(x; z): not defined")
        if r.get("kl_per_dim"):
            print("  KL per " + ("variable" if r["posterior"] == "categorical" else "dimension") + ": "
                  + " ".join(f"{k:.3f}" for k in r["kl_per_dim"]))
        return 0
    print(f"  I_q(x; z)       {r['mi']:10.3f} ± {r['mi_se']:.3f} (s.e.; at most log M = "
          f"{math.log(r['mi_points']):.2f} with M = {r['mi_points']:,} points)")
    print(f"  active units    {r['active_units']:>4} of {len(r['kl_per_dim'])}")
    if args.gaps:
        print(f"  inference gaps on {r['points']} test points ({r['steps']} Adam steps per point, "
              f"log p(x) by IWAE with K = {r['k']:,}), mean ± s.e. over points:")
        for name, label in (("log_px", "log p(x)"), ("elbo_optimized", "ELBO(q*)"),
                            ("elbo_amortized", "ELBO(q_φ)"), ("approximation_gap", "approximation gap"),
                            ("amortization_gap", "amortization gap")):
            print(f"    {label:<18} {r[name]:10.3f} ± {r[name + '_se']:.3f}")
    if r.get("kl_method") == "Monte Carlo":
        print("  per dimension, KL is to the prior's one-dimensional marginal p(z_d) (Monte Carlo)")
    print("  dim   KL      A_d      MI    (s.e.)")
    for i, (k, a, m, e) in enumerate(zip(r["kl_per_dim"], r["au_per_dim"], r["mi_per_dim"], r["mi_per_dim_se"])):
        print(f"  {i:>3} {k:7.3f} {a:8.4f} {m:7.3f} ({e:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
