"""Traversals page timings on the default run.

    .venv/bin/python -m bench.traversals

Server-side rerun after a slider change (AppTest, median of ≥10 reruns after a
warm-up) and compute times of the page's pieces (time.perf_counter, median of
repeats). Prints a table: measure | median | target | pass/fail. Timings on a
shared, busy machine are indicative only.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
from bench.apptest import app_test  # noqa: E402
from bench.table import median_time, print_table  # noqa: E402

RUN = REPO / "checkpoints" / "digits-default"


def median_ms(fn: Callable[[], object], repeats: int = 15, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    return 1000 * median_time(fn, repeats)


def slider_rerun_ms(reruns: int = 12) -> float:
    """Median server-side rerun after moving the top slider, the whole app (frame, sidebar, page)."""

    at = app_test(timeout=60)
    at.run()
    at.switch_page("pages/traversals.py").run()
    if at.exception:
        raise RuntimeError(f"the Traversals page raised: {at.exception[0].value}")
    top = next(s for s in at.slider if s.key and s.key.startswith("trav_z"))
    key = top.key
    values = [round(-2.0 + 0.25 * i, 2) for i in range(reruns + 3)]
    for v in values[:3]:  # warm-up: caches filled, first-run imports done
        at.slider(key=key).set_value(v).run()
    times = []
    for v in values[3:]:
        t0 = time.perf_counter()
        at.slider(key=key).set_value(v).run()
        times.append(time.perf_counter() - t0)
    if at.exception:
        raise RuntimeError(f"the Traversals page raised: {at.exception[0].value}")
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    from vae.analysis import traversal as tv
    from vae.runs.folder import load_run
    from vae.data import load_dataset
    from vae.export.images import png_bytes
    from vae.model.evaluation import encode_all

    if not RUN.is_dir():
        print(f"the default run is missing: {RUN}")
        return 1
    run = load_run(RUN)
    model = run.model
    mu, logvar = encode_all(model, load_dataset("digits").test.x).params()
    info = tv.dimension_info(mu, logvar)
    axes = tv.dimension_axes(model.latent_dim, info.order[0], info.order[1])
    centre = torch.zeros(model.latent_dim)
    agg = tv.aggregate_posterior(mu, logvar)

    def strips_png() -> bytes:
        strips = tv.traversal_strips(model, centre, info.order, 3.0, 9)
        return png_bytes(tv.sheet_image(strips, 6, [f"z{d}" for d in info.order]))

    def grid_png() -> bytes:
        imgs = tv.grid_traversal(model, centre, axes, 3.0, 25)
        return png_bytes(tv.sheet_image(imgs.reshape(25, 25, *imgs.shape[1:]), tv.cell_factor(8, 25)))

    rows = [
        ("rerun after a slider change (AppTest, whole app)", slider_rerun_ms(), 50.0),
        ("decode a 25×25 grid", median_ms(lambda: tv.grid_traversal(model, centre, axes, 3.0, 25)), 200.0),
        ("25×25 grid decoded, composed and PNG-encoded", median_ms(grid_png), 200.0),
        ("per-dimension strips (D×9) decoded, labelled, PNG", median_ms(strips_png), None),
        ("slider decode (one image)", median_ms(lambda: tv.decode_one(model, centre), repeats=50), None),
        ("density check of one latent", median_ms(lambda: tv.density_check(agg, centre), repeats=50), None),
        ("aggregate posterior build (360 test points)", median_ms(lambda: tv.aggregate_posterior(mu, logvar),
                                                                   repeats=5), None),
    ]
    print_table(["measure", "median", "target", "ok"],
                [[name, f"{ms:.1f} ms", "–" if target is None else f"≤ {target:.0f} ms",
                  "" if target is None else ms <= target] for name, ms, target in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
