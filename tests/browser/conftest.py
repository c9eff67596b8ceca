"""Browser-test fixtures on the project's one loopback harness (bench/harness.py): a real
`streamlit run` server on a free loopback port, driven by Playwright in Debian's chromium
(never a downloaded browser).

The server works on a private copy of the committed runs (``VAE_CHECKPOINTS``), so
tests that train or upload never touch the repository's checkpoints/.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.harness import (CHROMIUM, CHROMIUM_ARGS, REPO, AppServer, launch, make_checkpoints,  # noqa: F401
                           wait_idle)


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
        b = launch(p)
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


def open_page(page, server: AppServer, path: str = "") -> None:
    page.goto(f"{server.url}/{path}")
    wait_idle(page)


def assert_no_exception(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()
