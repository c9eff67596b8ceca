"""Home page in a real browser: the default run shows its model card and images; Start here
links open the four pages people come for; the default run is an MNIST run with its card."""
import shutil
from urllib.parse import urlparse

import pytest
from conftest import REPO, AppServer, _require_chromium, assert_no_exception, open_page, wait_idle


@pytest.fixture(scope="module")
def showcase_server(tmp_path_factory):
    """A server on a copy of every committed run, as a fresh checkout has them."""
    _require_chromium()
    root = tmp_path_factory.mktemp("showcase")
    for run in (REPO / "checkpoints").iterdir():
        if (run / "config.json").is_file():
            shutil.copytree(run, root / "checkpoints" / run.name)
    server = AppServer(root, env={"VAE_DEFAULT_RUN": ""})  # the app's own default, as `make run` opens it
    yield server
    server.stop()


def test_home_shows_model_card_and_images(app_server, page):
    open_page(page, app_server)
    page.get_by_text("Samples from the prior").wait_for()
    assert page.get_by_text("Test ELBO (nats)").count() == 1
    images = page.locator('[data-testid="stImage"] img')
    images.first.wait_for()
    assert images.count() >= 2
    # Images really painted: their natural size is non-zero.
    assert page.evaluate("""() => [...document.querySelectorAll('[data-testid="stImage"] img')]
                              .every(i => i.complete && i.naturalWidth > 0)""")
    assert_no_exception(page)


def test_default_run_is_mnist_with_its_card(showcase_server, page):
    open_page(page, showcase_server)
    page.get_by_text("Samples from the prior").wait_for()
    caption = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text()
    assert caption.startswith("Run mnist-default:") and "MNIST test set, bundled" in caption
    about = page.locator('[data-testid="stExpander"]', has_text="About this run")
    assert "python -m vae.train" in about.inner_text() and "--dataset mnist10k" in about.inner_text()
    assert_no_exception(page)


@pytest.mark.parametrize("label,url_path,heading", [
    ("Click a point on the map", "latent_map", "Latent map"),
    ("Drag latent sliders", "traversals", "Traversals"),
    ("See which dimensions collapsed", "collapse", "Collapse"),
    ("Train your own", "train", "Train"),
])
def test_start_here_links_open_the_four_pages(showcase_server, page, label, url_path, heading):
    open_page(page, showcase_server)
    link = page.locator('[data-testid="stPageLink"]', has_text=label)
    assert link.count() == 1 and link.locator("a").first.get_attribute("href").endswith(url_path)
    link.locator("a").first.click()
    # The path names the page; the query may carry the view (run, point), as links do.
    page.wait_for_url(lambda u: urlparse(u).path.endswith(f"/{url_path}"))
    wait_idle(page)
    assert page.locator("h1", has_text=heading).count() >= 1
    assert page.get_by_text("Samples from the prior").count() == 0  # left Home
    assert_no_exception(page)


def test_picker_labels_are_shown_whole(showcase_server, page):
    """The run picker's labels are not cut off mid-word: the open list wraps each option, and the
    selected run's whole label stands under the select."""
    open_page(page, showcase_server)
    page.get_by_text("Samples from the prior").wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    label = sidebar.locator('[data-testid="stSelectbox"] input').first.input_value()
    assert label.startswith("mnist-default · mnist10k · conv · D=16 · ELBO")
    assert sidebar.get_by_text(label, exact=True).is_visible()  # the caption under the select
    sidebar.locator('[data-testid="stSelectbox"] input').first.click()
    options = page.locator("[role='listbox'] [role='option']")
    options.first.wait_for()
    assert options.count() == 5
    cut = page.evaluate("""() => [...document.querySelectorAll("[role='listbox'] [role='option'] div")]
        .filter(d => d.scrollWidth > d.clientWidth + 1).map(d => d.innerText)""")
    assert cut == []
    assert_no_exception(page)
