"""Command line: ``python -m vae.precompute RUN [RUN ...]``: build (or check) the precompute of each run
folder, the file every page reads first (``vae.cache.precompute``), from the run's dataset as the app
loads it (``vae.runs.datasets``)."""
from __future__ import annotations

import sys
from pathlib import Path

from vae.cache.precompute import ensure, precompute_path
from vae.runs.datasets import run_splits


def main(argv: list[str] | None = None) -> int:
    """Build the precompute of each run folder given (kept when already there)."""
    import argparse

    from vae.runs.folder import CheckpointError, load_run
    from vae.data import DataError

    ap = argparse.ArgumentParser(prog="python -m vae.precompute", description=main.__doc__)
    ap.add_argument("runs", nargs="+", help="run folders")
    args = ap.parse_args(argv)
    status = 0
    for r in args.runs:
        try:
            run = load_run(r)
            pre = ensure(r, run.model, run_splits(run.config))
            print(f"{Path(r).name}: ELBO {pre.evaluation.elbo:.2f} ± {pre.evaluation.elbo_se:.2f} nats "
                  f"({pre.seconds:.1f} s to compute) -> {precompute_path(r).relative_to(Path(r))}")
        except (CheckpointError, DataError, OSError) as e:
            print(f"{r}: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
