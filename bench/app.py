"""App responsiveness: cold start to a painted home page, and server-side rerun times.

- Start-up: from launching `streamlit run app.py` to the home page's images painted
  in Chromium (target ≤ 5 s), against a bare one-line Streamlit app started and
  painted the same way in the same run (Streamlit's own floor).
- Reruns: the server-side time of a rerun of each page on the default run, via
  AppTest, median over repeats after a warm-up (target median ≤ 100 ms), against a
  trivial one-line script rerun the same way.

    python -m bench.app [--repeats 15] [--starts 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.apptest import app_test
from bench.harness import AppServer, launch, make_checkpoints
from bench.table import print_table

REPO = Path(__file__).resolve().parents[1]
PAGES = ["pages/home.py", "pages/train.py", "pages/latent_map.py", "pages/traversals.py", "pages/collapse.py",
         "pages/estimators.py"]


def time_to_paint(browser, script: Path, root: Path, selector: str) -> float:
    """Seconds from launching `streamlit run script` until every element matching selector has painted."""
    t0 = time.perf_counter()
    server = AppServer(root, script=script)
    try:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_function(
            f"""() => {{ const els = [...document.querySelectorAll('{selector}')];
                        return els.length > 0 && els.every(i => i.complete === undefined || (i.complete && i.naturalWidth > 0)); }}""",
            timeout=60_000)
        seconds = time.perf_counter() - t0
        page.close()
    finally:
        server.stop()
    return seconds


def startup(starts: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright
    ours, bare = [], []
    with tempfile.TemporaryDirectory() as d, sync_playwright() as p:
        root = Path(d)
        make_checkpoints(root)
        bare_script = root / "bare.py"
        bare_script.write_text("import streamlit as st\nst.write('hello')\n")
        browser = launch(p)
        for _ in range(starts):  # alternate, so machine noise hits both alike
            ours.append(time_to_paint(browser, REPO / "app.py", root, '[data-testid="stImage"] img'))
            bare.append(time_to_paint(browser, bare_script, root, '[data-testid="stMarkdown"]'))
        browser.close()
    return ours, bare


def rerun_times(repeats: int) -> dict[str, float]:
    import os
    os.environ.setdefault("VAE_NO_DOWNLOAD", "1")
    out = {}
    with tempfile.TemporaryDirectory() as d:
        trivial = Path(d) / "trivial.py"
        trivial.write_text("import streamlit as st\nst.write('hello')\n")
        for name, script, page in [("trivial script", trivial, None)] + [(p, REPO / "app.py", p) for p in PAGES]:
            at = app_test(script)
            at.run()
            if page:
                at.switch_page(page).run()
            at.run()  # warm caches
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                at.run()
                times.append(time.perf_counter() - t0)
            out[name] = statistics.median(times)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--starts", type=int, default=3)
    args = ap.parse_args(argv)
    ours, bare = startup(args.starts)
    rows = [["start → home painted (this app)", f"{statistics.median(ours):.2f} s", "≤ 5 s",
             statistics.median(ours) <= 5.0],
            ["start → painted (bare one-line app)", f"{statistics.median(bare):.2f} s", "baseline", ""]]
    print(f"Start-up, median of {args.starts} alternating cold starts (Chromium already running)")
    print_table(["measure", "median", "target", "ok"], rows)
    reruns = rerun_times(args.repeats)
    rows = [[name, f"{t * 1000:.0f} ms", "baseline" if name == "trivial script" else "≤ 100 ms",
             "" if name == "trivial script" else t <= 0.100] for name, t in reruns.items()]
    print(f"Server-side rerun on the default run (AppTest, median of {args.repeats} after warm-up)")
    print_table(["page", "median rerun", "target", "ok"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
