"""Traversals in a real browser: a slider moved with the keyboard changes the decoded
image, and a grid is built."""
from conftest import assert_no_exception, open_page, wait_idle
from live_helpers import live_ready, move_live_slider, pad

CANVAS_SUM = "p => Array.from(p.ctx.getImageData(0, 0, p.canvas.width, p.canvas.height).data).join(',')"


def test_slider_moves_the_decoded_image_and_a_grid_is_built(app_server, page):
    open_page(page, app_server, "traversals")
    page.get_by_text("Is this latent on the data manifold?").wait_for()
    assert_no_exception(page)
    live_ready(page)
    before = pad(page, CANVAS_SUM)
    # The top slider of the in-browser pad is the most informative dimension: move it with the keyboard.
    z = move_live_slider(page, steps=12)  # presses arrive while reruns are in flight; none may be lost
    assert pad(page, CANVAS_SUM) != before  # a new image was painted
    top = int(page.locator("input.vl-range[data-dim]").first.get_attribute("data-dim"))
    assert abs(z[top] - 0.6) < 1e-9  # 12 steps of 0.05, none dropped by a rerun
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
    live_ready(page)
    thumb = page.locator("input.vl-range[data-dim]").first  # the in-browser pad's top slider
    thumb.focus()
    broken = []
    for _ in range(25):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(40)
        broken += page.evaluate(BROKEN_JS)
    wait_idle(page)
    broken += page.evaluate(BROKEN_JS)
    assert broken == []
    assert pad(page, "p => p.frame") >= 2  # the pad painted the moves
    # The strips carry their tick values: the sheet is inline too, and wider than its cells alone.
    assert page.locator("figure.trav-strips img").count() == 1
    assert_no_exception(page)
