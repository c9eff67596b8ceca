"""Command line: ``python -m vae.queue PLAN.json``: several trainings one after another (``vae.jobs.plans``),
the process the job manager starts for a plan."""
from __future__ import annotations

import sys
from pathlib import Path

from vae.jobs.plans import run_plan


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m vae.queue", description="Run a plan of trainings in order.")
    p.add_argument("plan", help="PLAN.json written by vae.jobs.plans.write_plan")
    return run_plan(Path(p.parse_args(argv).plan))


if __name__ == "__main__":
    sys.exit(main())
