"""Home page in a real browser: the default run shows its model card and images."""
from conftest import assert_no_exception, open_page


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
