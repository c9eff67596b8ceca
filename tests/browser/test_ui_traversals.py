"""Traversals in a real browser: a slider moved with the keyboard changes the decoded
image, and a grid is built."""
from conftest import assert_no_exception, open_page, wait_idle
from playwright.sync_api import expect

DECODED = 'figure.trav-decoded img'  # placed inline (a data URI), ui.images.show_image_inline


def decoded_src(page) -> str:
    img = page.locator(DECODED).first
    img.wait_for()
    return img.get_attribute("src")


def test_slider_moves_the_decoded_image_and_a_grid_is_built(app_server, page):
    open_page(page, app_server, "traversals")
    page.get_by_text("Is this latent on the data manifold?").wait_for()
    assert_no_exception(page)
    before = decoded_src(page)

    # The top slider is the most informative dimension: move it with the keyboard.
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="· KL").first  # a latent slider, not the tab's K
    thumb = slider.locator('input[type="range"]')
    thumb.focus()
    for _ in range(12):  # presses arrive while reruns are in flight; none may be lost
        page.keyboard.press("ArrowRight")
    wait_idle(page)
    expect(page.locator(DECODED).first).not_to_have_attribute("src", before)  # a new decode was served
    assert float(thumb.input_value()) == 0.6  # 12 steps of 0.05, none dropped by a rerun
    assert slider.get_by_test_id("stSliderThumbValue").inner_text() != "0.00"
    assert_no_exception(page)

    # Grid tab: 2 latent dimensions (defaults: the two highest-KL ones), build it.
    page.get_by_role("tab", name="Grid traversal").click()
    page.get_by_role("button", name="Build grid").click()
    wait_idle(page)
    grid = page.locator('[data-testid="stImage"]:has-text("grid:") img')
    grid.wait_for()
    size = grid.evaluate("i => [i.naturalWidth, i.naturalHeight, i.complete]")
    assert size[2] and size[0] > 200 and size[0] == size[1]  # one square image of N×N cells
    assert_no_exception(page)
    grid.scroll_into_view_if_needed()


# Every image on the page that the browser failed to load (a stale media URL shows as a broken image).
BROKEN_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] img')]
                  .filter(i => i.complete && i.naturalWidth === 0).map(i => i.src.slice(0, 60))"""


def test_quick_slider_moves_never_show_a_broken_image(app_server, page):
    """Issue 17: during quick slider changes no image on the page is ever a broken one."""
    open_page(page, app_server)
    open_page(page, app_server, "traversals")
    page.get_by_text("Is this latent on the data manifold?").wait_for()
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="· KL").first.locator('input[type="range"]')
    thumb.focus()
    broken = []
    for _ in range(25):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(40)
        broken += page.evaluate(BROKEN_JS)
    wait_idle(page)
    broken += page.evaluate(BROKEN_JS)
    assert broken == []
    assert page.locator(DECODED).first.evaluate("i => i.complete && i.naturalWidth > 0")
    # The strips carry their tick values: the sheet is inline too, and wider than its cells alone.
    assert page.locator("figure.trav-strips img").count() == 1
    assert_no_exception(page)
