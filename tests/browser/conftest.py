"""Browser-test harness: a real `streamlit run` server on a free loopback port, driven
by Playwright in Debian's chromium (never a downloaded browser).

The server works on a private copy of the committed runs (``VAE_CHECKPOINTS``), so
tests that train or upload never touch the repository's checkpoints/.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


def _require_chromium():
    if not Path(CHROMIUM).exists():
        msg = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must run the browser tests")
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, root: Path, env: dict | None = None, script: Path = REPO / "app.py"):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(root / "server.log", "w")
        self.env = {**os.environ, "VAE_CHECKPOINTS": str(root / "checkpoints"), "VAE_DEFAULT_RUN": "digits-default",
                    **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not come up in {timeout}s: {self.logs()}")

    def logs(self) -> str:
        self.log.flush()
        return (self.root / "server.log").read_text()[-4000:]

    def stop(self) -> None:
        import signal
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def make_checkpoints(root: Path) -> Path:
    ck = root / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    for run in ("shapes-default", "digits-default"):
        src = REPO / "checkpoints" / run
        if src.is_dir():
            shutil.copytree(src, ck / run)
    # The app's default (mnist-default) is not copied: the server is told to open on digits-default
    # (VAE_DEFAULT_RUN, AppServer), the tiny fast run these tests are written for; it is the newest too.
    for f in (ck / "digits-default").iterdir() if (ck / "digits-default").is_dir() else ():
        os.utime(f)
    return ck


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    _require_chromium()
    root = tmp_path_factory.mktemp("app")
    make_checkpoints(root)
    server = AppServer(root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    # Keep a screenshot of every browser test for a person to look at.
    out = Path(os.environ.get("VAE_SCREENSHOTS", REPO / ".pytest_cache" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        pg.screenshot(path=str(out / f"{request.node.name}.png"), full_page=True)
    except Exception:
        pass
    ctx.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app has rendered and no script run is in progress (checked twice,
    a moment apart, so a rerun that follows a run is waited for too)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    for _ in range(2):
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
        page.wait_for_timeout(400)


def open_page(page, server: AppServer, path: str = "") -> None:
    page.goto(f"{server.url}/{path}")
    wait_idle(page)


def assert_no_exception(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()
