"""The frame in a real browser: deep links on a fresh server, and every page listed."""
import pytest
from conftest import AppServer, assert_no_exception, make_checkpoints, wait_idle

PAGES = {"train": "Train a VAE", "latent_map": None, "traversals": None, "collapse": None, "estimators": None}


@pytest.fixture
def fresh_server(tmp_path):
    make_checkpoints(tmp_path)
    server = AppServer(tmp_path)
    yield server
    server.stop()


def test_deep_link_on_a_fresh_server_gets_the_frame(fresh_server, page):
    # The very first request of the process goes straight to a page, not to /.
    page.goto(f"{fresh_server.url}/train")
    wait_idle(page)
    page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    page.get_by_role("heading", name="Train a VAE").wait_for()
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Collapse diagnostics" in nav and "common" not in nav and "sidebar" not in nav
    assert_no_exception(page)


@pytest.mark.parametrize("path", ["", *PAGES, "latent_map?point=3"])
def test_every_page_renders_with_the_sidebar_and_asks_no_other_host(app_server, page, path):
    """`make run` needs no network: the favicon, the fonts, the icons and every script come from the
    app itself (a Material icon as page_icon made each browser fetch it from fonts.gstatic.com)."""
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{app_server.url}/{path}")
    wait_idle(page)
    page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    assert_no_exception(page)
    elsewhere = sorted({u for u in requests if not u.startswith((app_server.url, "data:", "blob:"))})
    assert requests and not elsewhere, elsewhere
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert icon and all(h.startswith("data:image/png;base64,") for h in icon), icon
