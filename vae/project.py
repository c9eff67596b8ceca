"""Command line: ``python -m vae.project RUN --method pca|opentsne|umap|tsne [--split test|train]
[--max-points N] [--json]``: a run's latents projected to 2-D, kept in its run folder (``vae.cache.projections``).
The run's dataset is loaded as the app loads it (``vae.runs.datasets``), so the map has the app's points.

Exit codes, like vae.evaluate's: 0 done, 2 bad input (unreadable run, missing dataset, bad flag),
130 cancelled (Ctrl-C; nothing kept)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vae.analysis.projection.maps import METHODS, TRUST_K
from vae.cache.projections import Spec, n_points, check, encode_run_split, get_or_compute

CHOICES = tuple(m for m in METHODS if m != "latent")  # the latents themselves are no map to compute


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vae.project",
                                description="Project a run's latents to 2-D and keep the map in its run folder.")
    p.add_argument("run_dir")
    p.add_argument("--method", choices=CHOICES, default="opentsne",
                   help="pca; tsne (scikit-learn, the reference); opentsne (fast t-SNE); umap")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--max-points", type=int, default=None, metavar="N",
                   help="a class-stratified seeded subsample of N points (default: every point)")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--threads", type=int, default=None, help="threads for the fit (default: every core)")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    args = p.parse_args(argv)
    from vae.runs.folder import CheckpointError, load_run
    from vae.data import DataError

    if args.max_points is not None and args.max_points < 1:
        print("error: --max-points must be at least 1", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()

    def progress(frac: float, msg: str) -> None:
        if tty:
            bar = "#" * int(30 * frac)
            print(f"\r  [{bar:<30}] {100 * frac:5.1f}%  {msg}\033[K", end="", file=sys.stderr, flush=True)

    import os
    threads = args.threads or os.cpu_count() or 1
    try:
        run = load_run(args.run_dir)
        spec = Spec(args.method, args.split, args.max_points, args.perplexity)
        mu, labels = encode_run_split(run, args.split)
        check(spec, n_points(spec, len(mu)))
        res = get_or_compute(run.path, mu, labels, spec, threads=threads, progress=progress)
    except KeyboardInterrupt:
        if tty:
            print(file=sys.stderr)
        print("cancelled: nothing was kept", file=sys.stderr)
        return 130
    except (CheckpointError, DataError, ValueError) as e:  # BudgetError is a ValueError
        if tty:
            print(file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 2
    if tty:
        print(file=sys.stderr)
    s = res.summary() | {"run": run.name, "split": args.split}
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"{s['method']} of {s['points']:,} {args.split} latents of run {run.name}"
          f"{' (read from the run folder)' if res.cached else ''}")
    print(f"  {res.proj.note}")
    print(f"  time             {res.seconds:8.2f} s (when computed)")
    print(f"  trustworthiness  {res.trust:8.4f}  (k = {TRUST_K}, {s['trust_points']:,} seeded points)")
    print(f"  kept in          {Path(res.path).relative_to(run.path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
