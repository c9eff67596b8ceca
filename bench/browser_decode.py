"""Decoding in the browser against a server round trip, in headless Chromium (one run):

    .venv/bin/python -m bench.browser_decode [--frames 300] [--releases 12]

For each committed run, on one `streamlit run app.py` server:

- browser decode per frame: the latent pad (ui/components) decodes and paints E[x|z] for
  --frames latents (the top slider swept across its range), timed in the page with
  performance.now() in groups of 10 frames (its clock ticks in 0.1 ms): decode + 8-bit
  conversion + putImageData, the work done per pointer move.
- baseline, today's path: a slider released (an arrow key on the server slider: value sent on
  release) until the new server-decoded image is in the page: fragment rerun, PyTorch decode,
  PNG, inline image. Measured on a second server where the browser decoder is switched off
  (VAE_MAX_BROWSER_WEIGHTS=1, the page's fallback), so the page decodes exactly as before.

Median and p95 of each, and their ratio. Timings on a shared, busy machine are indicative only.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.browser import CHROMIUM, CHROMIUM_ARGS, REPO, Server, copy_runs, settle
from bench.table import print_table

READY = "() => (globalThis.__vaeLive?.trav_live?.frame || 0) > 0"
SWEEP = """n => {
  const p = globalThis.__vaeLive.trav_live;
  const d = Number(p.root.querySelector('input.vl-range[data-dim]').dataset.dim), r = p.data.radius;
  const z0 = p.z.slice(), out = [], group = 10;  // timed in groups: performance.now() ticks in 0.1 ms
  for (let i = 0; i < n; i += group) {
    const t0 = performance.now();
    for (let g = 0; g < group; g++) {
      p.z[d] = -r + 2 * r * ((i + g) / Math.max(1, n - 1));
      p.paint();
    }
    out.push((performance.now() - t0) / group);
  }
  p.z = z0; p.paint();
  return out;
}"""
DECODED = "figure.trav-decoded img"


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def browser_decode(browser, url: str, run: str, frames: int) -> list[float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{url}/traversals?run={run}")
        page.wait_for_function(READY, timeout=120_000)
        page.evaluate(SWEEP, 30)  # warm-up: the JIT compiles the loops
        return page.evaluate(SWEEP, frames)
    finally:
        page.close()


def server_release(browser, url: str, run: str, releases: int) -> list[float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{url}/traversals?run={run}")
        settle(page)
        page.get_by_text("Exact values").click()
        thumb = page.locator('[data-testid="stExpander"] [data-testid="stSlider"] input[type="range"]').first
        times = []
        for _ in range(releases):
            before = page.locator(DECODED).first.get_attribute("src")
            thumb.focus()
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function("s => { const i = document.querySelector('figure.trav-decoded img');"
                                   " return i && i.src !== s && i.complete && i.naturalWidth > 0; }",
                                   arg=before, polling="raf", timeout=60_000)
            times.append(time.perf_counter() - t0)
            settle(page)
        return times
    finally:
        page.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.browser_decode")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--releases", type=int, default=12)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp, sync_playwright() as p:
        root = Path(tmp)
        copy_runs(root)
        runs = sorted(d.name for d in (root / "checkpoints").iterdir() if (d / "config.json").is_file())
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        live = Server(root, REPO / "app.py")
        import os
        os.environ["VAE_MAX_BROWSER_WEIGHTS"] = "1"  # the second server: the browser decoder off
        try:
            server = Server(root, REPO / "app.py")
        finally:
            os.environ.pop("VAE_MAX_BROWSER_WEIGHTS", None)
        try:
            for run in runs:
                cfg = json.loads((root / "checkpoints" / run / "config.json").read_text())["model"]
                ms = browser_decode(browser, live.url, run, args.frames)
                rt = [1000 * t for t in server_release(browser, server.url, run, args.releases)]
                rows.append([run, f"{cfg['arch']} {cfg['image_size']}²", f"{statistics.median(ms):.3f}",
                             f"{p95(ms):.3f}", f"{statistics.median(rt):.0f}", f"{p95(rt):.0f}",
                             f"{statistics.median(rt) / max(statistics.median(ms), 1e-3):.0f}×",
                             statistics.median(ms) < 1000 / 60])
        finally:
            live.stop()
            server.stop()
            browser.close()
    print(f"Browser decode per frame ({args.frames} frames) against a slider release until the new server image "
          f"({args.releases} releases), headless Chromium; ms.")
    print_table(["run", "decoder", "browser median", "browser p95", "release→image median", "release→image p95",
                 "ratio", "< 16.7 ms (60 fps)"], rows)


if __name__ == "__main__":
    main()
