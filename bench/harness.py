"""The one loopback harness for browser work: a real Streamlit server on a free loopback port,
on a private copy of the committed runs, and headless Debian Chromium (never a downloaded
browser) driven by Playwright. Used by the browser tests (tests/browser/conftest.py), the
benchmarks (bench/browser.py, bench/app.py) and scripts/screenshots.py; it imports nothing
from tests/.

    server = AppServer(root)            # streamlit run app.py, VAE_CHECKPOINTS = root/checkpoints
    server = AppServer(root, serve=True)  # the app as `make run` starts it (scripts/serve.py)
    ...; settle(page); server.stop()
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# Settled: no run in progress, no spinner, a title, every <img> painted, every chart drawn (plotly's and
# the Latent map's canvas element).
SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stSpinner"]')) return false;
  if (!document.querySelector('h1')) return false;
  if (![...document.querySelectorAll('[data-testid="stMain"] img')].every(i => i.complete && i.naturalWidth > 0))
    return false;
  for (const h of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {  // Components v2 hosts
    if (!h.shadowRoot) return false;  // not mounted yet
    const m = h.shadowRoot.querySelector('.vae-map');  // the map's element exists before its first draw
    if (m && !(Number(m.dataset.drawn || 0) > 0)) return false;
  }
  return [...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullLayout && g._fullData);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``script`` served on a free loopback port with the runs under ``root/checkpoints``.

    serve: start the app as `make run` does (scripts/serve.py: imports done before the first
    visitor) instead of plain `streamlit run`; only for app.py. default_run: the run the app opens
    on (VAE_DEFAULT_RUN; None: the app's own default). env: extra environment. ``start_s``: seconds
    until healthy."""

    def __init__(self, root: Path, env: dict | None = None, script: Path = APP, serve: bool = False,
                 default_run: str | None = "digits-default", log_name: str = "server.log", timeout: float = 90):
        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ckpt = self.root / "checkpoints"
        self.log_path = self.root / log_name
        self.log = open(self.log_path, "w")
        self.env = {**os.environ, "VAE_CHECKPOINTS": str(self.ckpt), "VAE_NO_DOWNLOAD": "1",
                    **({"VAE_DEFAULT_RUN": default_run} if default_run else {}), **(env or {})}
        launcher = REPO / "scripts" / "serve.py"
        cmd = [sys.executable, str(launcher)] if serve and Path(script) == APP else \
            [sys.executable, "-m", "streamlit", "run", str(script)]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [*cmd, "--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_healthy(timeout)
        except RuntimeError:
            self.stop()
            raise
        self.start_s = time.perf_counter() - t0

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"streamlit did not come up in {timeout:.0f} s: {self.logs()}")

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def copy_runs(root: Path) -> Path:
    """Every committed run into root/checkpoints, as a fresh checkout has them."""
    ck = Path(root) / "checkpoints"
    for run in sorted((REPO / "checkpoints").iterdir()):
        if (run / "config.json").is_file():
            shutil.copytree(run, ck / run.name)
    return ck


def make_checkpoints(root: Path) -> Path:
    """The two tiny committed runs (shapes-default, digits-default) into root/checkpoints, digits-default
    the newest. The app's default (mnist-default) is left out: AppServer opens on digits-default
    (VAE_DEFAULT_RUN), the fast run the browser tests are written for."""
    ck = Path(root) / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    for run in ("shapes-default", "digits-default"):
        src = REPO / "checkpoints" / run
        if src.is_dir():
            shutil.copytree(src, ck / run)
    for f in (ck / "digits-default").iterdir() if (ck / "digits-default").is_dir() else ():
        os.utime(f)
    return ck


def launch(playwright, **kw):
    """Debian's headless Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, **kw)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until the app has rendered and no script run is in progress (checked twice, a moment apart,
    so a rerun that follows a run is waited for too)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    for _ in range(2):
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
        page.wait_for_timeout(400)


def settle(page, timeout_ms: float = 120_000) -> None:
    """Until the page has settled (SETTLED_JS, twice, 0.4 s apart): stricter than wait_idle, for timings
    and screenshots."""
    for _ in range(2):  # a rerun may follow the first run
        page.wait_for_function(SETTLED_JS, timeout=timeout_ms, polling=50)
        page.wait_for_timeout(400)
