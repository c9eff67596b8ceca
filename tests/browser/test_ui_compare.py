"""A β sweep queued from the Train form, trained one run after another, and shown on the
rate–distortion plane of the Compare runs page."""
import os
from pathlib import Path

import pytest

from conftest import REPO, AppServer, assert_no_exception, make_checkpoints, open_page, wait_idle

SHOTS = Path(os.environ.get("VAE_SCREENSHOTS", REPO / ".pytest_cache" / "screenshots"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server of its own: the sweep adds runs that other tests' pickers should not see."""
    root = tmp_path_factory.mktemp("compare")
    make_checkpoints(root)
    s = AppServer(root)
    yield s
    s.stop()


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def _plane_traces(page) -> list[dict]:
    """The plane's traces as the browser's plotly holds them: [{"name", "text"}]."""
    return page.evaluate("""() => {
        const gd = [...document.querySelectorAll('.js-plotly-plot')].find(
            g => (g.layout?.xaxis?.title?.text || '').startsWith('rate'));
        return gd ? gd.data.map(t => ({name: t.name, text: t.text || []})) : [];
    }""")


def test_a_beta_sweep_from_the_form_lands_on_the_plane(server, page):
    open_page(page, server, "train")
    _fill(page, "Epochs", "3")
    _fill(page, "Run name", "bsweep")
    _fill(page, "Values", "0.5, 1, 4")
    page.get_by_role("button", name="Queue sweep").click()
    page.get_by_text("Queue bsweep-beta: run").wait_for(timeout=60_000)
    page.get_by_text("3 of 3 runs finished").wait_for(timeout=300_000)
    wait_idle(page)
    assert_no_exception(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "compare_sweep_train_page.png"), full_page=True)
    runs = {p.name for p in (server.root / "checkpoints").iterdir()}
    assert {"bsweep-beta0.5", "bsweep-beta1", "bsweep-beta4"} <= runs
    # the picker groups them: each label names the sweep
    page.get_by_role("link", name="See the runs on the rate–distortion plane").click()
    wait_idle(page)
    page.get_by_text("The rate–distortion plane", exact=True).wait_for()
    page.wait_for_function("""() => [...document.querySelectorAll('.js-plotly-plot')].some(
        g => (g.data || []).some(t => t.name === 'sweep bsweep-beta' && (t.text || []).length === 3)
             && (g.data || []).some(t => t.name === 'other runs'))""",
                           timeout=240_000)
    wait_idle(page)
    assert_no_exception(page)
    traces = {t["name"]: sorted(t["text"]) for t in _plane_traces(page)}
    assert traces["sweep bsweep-beta"] == ["bsweep-beta0.5", "bsweep-beta1", "bsweep-beta4"]
    assert traces["other runs"] == ["digits-default"]
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "4 of 4 runs on digits placed" in main
    page.screenshot(path=str(SHOTS / "compare_sweep_plane.png"), full_page=True)
    # a click on a point makes that run the current one (the sidebar's picker follows)
    xy = page.evaluate("""() => {
        const gd = [...document.querySelectorAll('.js-plotly-plot')].find(
            g => (g.layout?.xaxis?.title?.text || '').startsWith('rate'));
        const t = gd.data.find(t => t.name === 'sweep bsweep-beta');
        const i = t.text.indexOf('bsweep-beta4');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, bb = gd.getBoundingClientRect();
        return [bb.left + xa._offset + xa.l2p(t.x[i]), bb.top + ya._offset + ya.l2p(t.y[i])];
    }""")
    page.mouse.click(*xy)
    page.wait_for_function("""() => (document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"] input')
                                      ?.value || '').startsWith('bsweep-beta4')""", timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    picker.click()
    options = page.locator('[role="option"]').all_inner_texts()
    assert sum("sweep bsweep-beta" in o for o in options) == 3, options
    page.keyboard.press("Escape")
