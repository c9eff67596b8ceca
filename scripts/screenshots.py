"""Regenerate the README's screenshots: what a new user sees first.

    .venv/bin/python scripts/screenshots.py

Starts `streamlit run app.py` on a free loopback port on a copy of the committed runs,
opens it in headless Debian Chromium (Playwright, never a downloaded browser) and writes
docs/home.png (the first screen: Home on the default run) and docs/latent-map.png (the
Latent map of the same run, as the first "Start here" link opens it).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import APP, AppServer, copy_runs, launch, settle  # noqa: E402

SHOTS = {"home.png": "", "latent-map.png": "latent_map"}
VIEWPORT = {"width": 1400, "height": 900}  # a laptop's browser window


def main() -> int:
    from playwright.sync_api import sync_playwright

    out = REPO / "docs"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d, sync_playwright() as p:
        root = Path(d)
        copy_runs(root)
        server = AppServer(root, script=APP, serve=True, default_run=None)
        browser = launch(p)
        try:
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            for fname, path in SHOTS.items():
                page.goto(f"{server.url}/{path}")
                settle(page)
                page.mouse.move(0, VIEWPORT["height"] - 1)  # no hover tooltip in the picture
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / fname))  # the viewport: the first screen, not the whole page
                print(f"wrote {out / fname}")
        finally:
            browser.close()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
