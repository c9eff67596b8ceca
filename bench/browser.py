"""What a person waits for in a real browser: page loads, a click on the map, and training
followed (or not) by an open page. Headless Debian Chromium driven by Playwright, against
the app started as `make run` starts it (scripts/serve.py) on a free loopback port, on a private
copy of the committed runs.

    .venv/bin/python -m bench.browser [--repeats 3] [--epochs 50]

Every figure comes with a baseline measured in the same run, and the ratio to it:

- floor: a bare Streamlit page showing one image, served the same way; cold = the first
  load after its server started, warm = a new session once it has run. The plotly floor is the
  same page with one plotly WebGL scatter of 2,000 points (a page's first plotly chart costs the
  browser Streamlit's plotly module): the floor of a page built on a plotly map, as the Latent map
  was before its canvas element. Each page's cold
  load (the first visit on a fresh server: Home with nothing cached; the other pages after
  Home, so with the run and its dataset loaded but the page's own caches empty) and warm
  load (a new session later, median of --repeats) are ratios to the floor's.
- a page has settled when no script run is in progress (checked twice, 0.4 s apart), no
  spinner shows, its title is visible, every image has painted and every chart is drawn.
- click → reconstruction: a click on a point of the Latent map until that image's
  reconstruction has painted (the page's own clock, from the pointerdown to the first animation
  frame with the image decoded), and until the whole panel has settled (neighbours, bars, every
  image); baseline: a click on a button of the bare page that swaps its image, measured the same
  two ways.
- training: --epochs digits epochs started from the Train form, the browser left on Train
  (watched: its fragments follow the run) or sent to Home (unwatched), from the click to
  the run's status.json saying finished; baseline: the same command typed on the command
  line (`python -m vae.train --dataset digits --epochs N`), and watched over unwatched.

Targets (issue 17): warm loads ≤ 2× the floor's, cold first visits ≤ 3 s, click →
reconstruction ≤ 0.5 s, watched training ≤ 1.2× unwatched.

Timings on a shared, busy machine are indicative only. Needs no network.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import APP, REPO, AppServer, copy_runs, launch, settle
from bench.table import print_table

PAGES = {"home": "", "train": "train", "latent_map": "latent_map", "traversals": "traversals",
         "collapse": "collapse", "estimators": "estimators"}
FLOOR_SCRIPT = """import numpy as np
import streamlit as st
st.title("Floor")
if st.button("Swap"):
    st.session_state["k"] = st.session_state.get("k", 0) + 1
k = st.session_state.get("k", 0)
st.image(np.full((28, 28), (k * 37) % 256, dtype=np.uint8), width=112, caption=f"image {k}")
"""
# The same page with one plotly WebGL scatter of 2,000 points (the size of the default run's test split):
# the floor of a page built on a plotly map, as the Latent map was. Its first chart makes the browser
# evaluate Streamlit's plotly module; the Latent map's canvas element is measured against it.
PLOTLY_FLOOR_SCRIPT = FLOOR_SCRIPT + """rng = np.random.default_rng(0)
st.plotly_chart(dict(data=[dict(type="scattergl", mode="markers", x=rng.normal(size=2000), y=rng.normal(size=2000))],
                     layout=dict(height=620)))
"""
# Installed before a click: the page's clock at the click (pointerdown) and at the first animation frame
# in which the image captioned ``caption`` has been decoded, so it paints in that frame.
PAINT_WATCH_JS = """(caption) => { const w = window.__paint = {down: null, painted: null};
  window.addEventListener('pointerdown', () => { if (w.down === null) w.down = performance.now(); },
                          {capture: true, once: true});
  const f = () => {
    const fig = [...document.querySelectorAll('[data-testid="stImage"]')].find(e => e.innerText.trim() === caption);
    const img = fig && fig.querySelector('img');
    if (w.down !== null && img && img.complete && img.naturalWidth > 0) { w.painted = performance.now(); return; }
    requestAnimationFrame(f);
  };
  requestAnimationFrame(f); }"""
PAINTED_JS = "() => window.__paint.painted !== null && (window.__paint.painted - window.__paint.down) / 1000"
# The map is drawn with its points (a settled page can be between two script runs under load).
MAP_READY_JS = """() => { const m = window.__vaeMaps && window.__vaeMaps.latent_map_chart;
  return !!(m && m.drawn > 0 && m.points().length > 0); }"""
# The map's first point, in viewport coordinates, with its dataset index.
MAP_POINT_JS = """() => { const [px, py, index] = window.__vaeMaps.latent_map_chart.points()[0];
  return {px, py, index}; }"""


def Server(root: Path, script: Path) -> AppServer:
    """``script`` on a free loopback port; the app as `make run` starts it (scripts/serve.py), on the
    app's own default run."""
    return AppServer(root, script=script, serve=True, default_run=None,
                     log_name=f"server-{script.stem}-{time.monotonic_ns()}.log")


def load(browser, url: str) -> float:
    """Seconds from navigation to settled, in a new session (a fresh browser context)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url)
        settle(page)
        return time.perf_counter() - t0 - 0.8  # the two 0.4 s confirmation pauses are not waiting
    finally:
        ctx.close()


def floor(browser, root: Path, repeats: int, source: str = FLOOR_SCRIPT, with_clicks: bool = True) -> dict:
    """A baseline page's cold and warm loads and, with ``with_clicks``, its button click → new image."""
    script = root / ("floor.py" if with_clicks else "plotly_floor.py")
    script.write_text(source)
    server = Server(root, script)
    try:
        cold = load(browser, server.url)
        warm = statistics.median(load(browser, server.url) for _ in range(repeats))
        if not with_clicks:
            return {"cold": cold, "warm": warm}
        page = browser.new_page()
        page.goto(server.url)
        settle(page)
        clicks, painted = [], []
        for k in range(1, repeats + 1):
            page.evaluate(PAINT_WATCH_JS, f"image {k}")
            t0 = time.perf_counter()
            page.get_by_role("button", name="Swap").click()
            painted.append(page.wait_for_function(PAINTED_JS, timeout=60_000).json_value())
            settle(page)
            clicks.append(time.perf_counter() - t0 - 0.8)
        page.close()
        return {"cold": cold, "warm": warm, "click": statistics.median(clicks), "painted": statistics.median(painted),
                "start": server.start_s}
    finally:
        server.stop()


def page_loads(browser, root: Path, repeats: int) -> dict[str, tuple[float, float]]:
    """{page: (cold, warm)}: each page's first visit on a fresh server, then warm visits."""
    out = {}
    for name, path in PAGES.items():
        server = Server(root, APP)
        try:
            if path:  # the server registers its navigation on its first run of app.py
                load(browser, server.url)
            cold = load(browser, f"{server.url}/{path}")
            warm = statistics.median(load(browser, f"{server.url}/{path}") for _ in range(repeats))
            out[name] = (cold, warm)
        finally:
            server.stop()
    return out


def map_click(browser, root: Path, repeats: int) -> dict:
    """Median seconds from a click on a map point to its reconstruction painted (the page's clock) and
    to the whole panel settled."""
    server = Server(root, APP)
    try:
        load(browser, server.url)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server.url}/latent_map")
        settle(page)
        times, painted = [], []
        for _ in range(repeats):
            page.wait_for_function(MAP_READY_JS, timeout=120_000, polling=50)
            p = page.evaluate(MAP_POINT_JS)
            page.mouse.move(p["px"], p["py"])
            page.evaluate(PAINT_WATCH_JS, f"Reconstruction #{int(p['index'])}")
            t0 = time.perf_counter()
            page.mouse.click(p["px"], p["py"])
            painted.append(page.wait_for_function(PAINTED_JS, timeout=60_000).json_value())
            settle(page)
            times.append(time.perf_counter() - t0 - 0.8)
            page.goto(f"{server.url}/latent_map")  # not reload(): the URL now carries ?point=, which would
            settle(page)                            # open with the reconstruction already shown
        page.close()
        return {"painted": statistics.median(painted), "settled": statistics.median(times)}
    finally:
        server.stop()


def wait_finished(run_dir: Path, timeout_s: float = 600) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            state = json.loads((run_dir / "status.json").read_text()).get("state")
        except (OSError, ValueError):
            state = None
        if state == "finished":
            return
        if state in ("failed", "stopped", "diverged"):
            raise RuntimeError(f"training {run_dir.name} ended {state}")
        time.sleep(0.1)
    raise RuntimeError(f"training {run_dir.name} did not finish in {timeout_s} s")


def train_in_app(browser, root: Path, epochs: int) -> dict[str, float]:
    """Seconds from Start to finished, watched (browser on Train) and unwatched (on Home)."""
    server = Server(root, APP)
    out = {}
    try:
        load(browser, server.url)
        for mode in ("watched", "unwatched"):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/train")
            settle(page)
            name = f"bench-{mode}"
            page.get_by_label("Epochs", exact=True).fill(str(epochs))
            page.get_by_label("Run name", exact=True).fill(name)
            t0 = time.perf_counter()
            page.get_by_role("button", name="Start training").click()
            if mode == "unwatched":
                page.wait_for_function("() => document.body.innerText.includes('Stop')", timeout=60_000)
                page.goto(server.url)  # Home: nothing follows the run
            wait_finished(server.ckpt / name)
            out[mode] = time.perf_counter() - t0
            page.close()
    finally:
        server.stop()
    return out


def train_cli(root: Path, epochs: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vae.train", "--dataset", "digits", "--epochs", str(epochs),
                    "--out", str(root / "cli-run")], cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "VAE_NO_DOWNLOAD": "1"})
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=50)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d, sync_playwright() as p:
        root = Path(d)
        copy_runs(root)
        browser = launch(p)
        try:
            fl = floor(browser, root, args.repeats)
            pf = floor(browser, root, args.repeats, PLOTLY_FLOOR_SCRIPT, with_clicks=False)
            loads = page_loads(browser, root, args.repeats)
            click = map_click(browser, root, args.repeats)
            cli = train_cli(root, args.epochs)
            app = train_in_app(browser, root, args.epochs)
        finally:
            browser.close()

    def row(what, seconds, base, base_name):
        return [what, f"{seconds:.2f} s", f"{base_name} {base:.2f} s", f"{seconds / base:.1f}×"]

    rows = [["floor: bare one-image page, cold", f"{fl['cold']:.2f} s", "", ""],
            ["floor: bare one-image page, warm", f"{fl['warm']:.2f} s", "", ""],
            ["floor: button click → new image painted", f"{fl['painted']:.2f} s", "", ""],
            ["floor: button click → page settled", f"{fl['click']:.2f} s", "", ""],
            row("plotly floor: the floor + one WebGL scatter of 2,000 points, warm", pf["warm"], fl["warm"],
                "floor warm")]
    for name, (cold, warm) in loads.items():
        rows.append(row(f"{name}: cold load", cold, fl["cold"], "floor cold"))
        rows.append(row(f"{name}: warm load", warm, fl["warm"], "floor warm"))
        if name == "latent_map":
            rows.append(row("latent_map: warm load against the plotly floor", warm, pf["warm"], "plotly floor"))
    rows.append(row("latent map: click → reconstruction painted (target ≤ 0.5 s)", click["painted"], fl["painted"],
                    "floor painted"))
    rows.append(row("latent map: click → its whole panel settled", click["settled"], fl["click"], "floor settled"))
    for mode, s in app.items():
        rows.append(row(f"train {args.epochs} digits epochs, {mode}", s, cli, "CLI"))
    rows.append(row("training watched / unwatched (target ≤ 1.2×)", app["watched"], app["unwatched"], "unwatched"))
    print(f"Browser benchmark: headless Chromium, median of {args.repeats} where repeated; "
          "page loads to settled (no run in progress, no spinner, images painted, charts drawn)")
    print_table(["measure", "time", "baseline", "ratio"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
