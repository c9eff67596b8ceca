"""Training from the browser, and uploads, as a user does them."""
import io
import json
import os
import zipfile
from pathlib import Path

from conftest import REPO, assert_no_exception, open_page, wait_idle

SHOTS = Path(os.environ.get("VAE_SCREENSHOTS", REPO / ".pytest_cache" / "screenshots"))


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def test_training_run_from_the_form_shows_progress_and_becomes_selectable(app_server, page):
    open_page(page, app_server, "train")
    _fill(page, "Epochs", "8")
    _fill(page, "Run name", "browser-run")
    page.get_by_role("button", name="Start training").click()
    # Live progress from the fragment, then the finished run's charts.
    page.get_by_text("Epoch ").first.wait_for(timeout=60_000)
    page.get_by_text("finished after 8 epochs").wait_for(timeout=240_000)
    wait_idle(page)
    assert page.locator(".js-plotly-plot").count() == 2  # curves + KL heatmap
    assert_no_exception(page)
    page.get_by_role("button", name="Explore this run").click()
    wait_idle(page)
    page.get_by_text("Samples from the prior").wait_for()
    # The home page now describes the new run, and the sidebar picker shows it.
    assert "Run browser-run: an MLP VAE" in page.locator('[data-testid="stMain"]').inner_text()
    picked = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] input').input_value()
    assert picked.startswith("browser-run · digits · mlp · D=10"), picked
    assert (app_server.root / "checkpoints" / "browser-run" / "model.safetensors").exists()


CURVES_JS = """() => { const c = globalThis.__vaeCurves && globalThis.__vaeCurves.live_curves;
  return c ? {epochs: c.store.points.map(p => p.epoch), draws: c.draws} : null; }"""


def test_live_curves_receive_each_epoch_once_and_refill_what_the_browser_lost(app_server, page):
    """Issue 17: while a job runs, the browser draws the curves itself from the epochs it lacks; when
    it ends, the plotly charts replace them."""
    open_page(page, app_server, "train")
    if page.get_by_text("is training on this server").count():
        page.get_by_text("finished after").wait_for(timeout=240_000)  # an earlier test's run
        open_page(page, app_server, "train")
    _fill(page, "Epochs", "40")
    _fill(page, "Batch size", "8")  # about 0.4 s an epoch here: long enough to drop points and see them back
    _fill(page, "Run name", "live-curves-run")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function(f"() => {{ const c = ({CURVES_JS})(); return c && c.epochs.length >= 3; }}", timeout=120_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "train_live_curves.png"), full_page=True)
    first = page.evaluate(CURVES_JS)
    assert first["epochs"] == list(range(1, len(first["epochs"]) + 1))  # each epoch once, in order
    assert page.locator(".js-plotly-plot").count() == 0  # no plotly redraws while it runs
    # A browser that lost points (here: dropped by hand) says how many it holds and gets the rest again.
    page.evaluate("() => { globalThis.__vaeCurvesStore.get('live_curves').points.length = 1; }")
    n = len(first["epochs"])
    page.wait_for_function(f"() => {{ const c = ({CURVES_JS})(); return c && c.epochs.length > {n}; }}",
                           timeout=60_000)
    again = page.evaluate(CURVES_JS)
    assert again["epochs"] == list(range(1, len(again["epochs"]) + 1))
    page.get_by_text("finished after 40 epochs").wait_for(timeout=240_000)
    wait_idle(page)
    assert page.locator(".js-plotly-plot").count() == 2  # the finished run's curves + KL heatmap
    assert_no_exception(page)


def test_bad_upload_shows_an_error_and_changes_nothing(app_server, page):
    before = sorted(p.name for p in (app_server.root / "checkpoints").iterdir())
    open_page(page, app_server)
    page.get_by_text("Upload a run").click()
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("run/config.json", json.dumps({"format": "vae-latent-explorer/1",
                                                  "model": {"latent_dim": 1000000}}))
        z.writestr("run/model.safetensors", b"\x00" * 100)
    page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(
        files=[{"name": "bad-run.zip", "mimeType": "application/zip", "buffer": bad.getvalue()}])
    page.locator('[data-testid="stSidebar"]').get_by_text("bad-run.zip").wait_for()  # listed, as a user sees it
    wait_idle(page)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add run").click()  # the form's, not the dropzone's
    wait_idle(page)
    err = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
    err.wait_for()
    assert "latent_dim" in err.inner_text()
    assert_no_exception(page)
    # The refusal stays through reruns that have nothing to do with it: to Train and back to Home.
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("Train", exact=True).click()
    page.get_by_text("Train a VAE").first.wait_for()
    wait_idle(page)
    nav.get_by_text("Home", exact=True).click()
    page.get_by_text("Samples from the prior").wait_for()
    wait_idle(page)
    if not err.is_visible():
        page.get_by_text("Upload a run").click()
    err.wait_for()
    assert "latent_dim" in err.inner_text()
    assert sorted(p.name for p in (app_server.root / "checkpoints").iterdir()) == before
    # The app is still usable: the home page still shows the default run.
    assert page.get_by_text("Samples from the prior").count() == 1


def test_the_toolbar_has_no_deploy_button(app_server, page):
    """.streamlit/config.toml: client.toolbarMode = "viewer"."""
    open_page(page, app_server, "train")
    page.locator('[data-testid="stMainMenu"]').first.wait_for(state="attached")
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert page.get_by_text("Deploy", exact=True).count() == 0


CRASH = '''
import streamlit as st
from ui.errors import report_errors

SECRET = {secret!r}
with report_errors("browser test"):
    if st.button("Guarded crash"):
        open(SECRET)
if st.button("Uncaught crash"):
    raise RuntimeError(f"cannot read {{SECRET}}")
st.write("ready")
'''


def test_a_forced_exception_shows_no_traceback_or_path(tmp_path, browser):
    """A real `streamlit run` with the project's config.toml: an uncaught error is redacted by
    Streamlit (showErrorDetails = none); a page's error shows an id that is in the server log."""
    from conftest import REPO, AppServer
    secret = tmp_path / "srv-secret" / "weights.bin"
    script = tmp_path / "crash.py"
    script.write_text(CRASH.format(secret=str(secret)))
    server = AppServer(tmp_path, env={"PYTHONPATH": str(REPO)}, script=script)
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, server)
        page.get_by_text("ready").wait_for()
        page.get_by_role("button", name="Guarded crash").click()
        wait_idle(page)
        shown = page.locator('[data-testid="stException"]').inner_text()
        assert "error id" in shown and str(tmp_path) not in shown and "Traceback" not in shown, shown
        error_id = shown.split("error id ")[1].split(")")[0]
        log = server.logs()
        assert f"error id {error_id}" in log and "FileNotFoundError" in log and str(secret) in log
        page.get_by_role("button", name="Uncaught crash").click()
        wait_idle(page)
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert "This app has encountered an error" in body, body
        assert str(tmp_path) not in body and "Traceback" not in body and "RuntimeError" not in body, body
        assert "RuntimeError" in server.logs()  # still logged on the server
    finally:
        ctx.close()
        server.stop()


def test_an_upload_error_is_visible_without_scrolling(app_server, page):
    """Issue 17: the refusal appears where the person looks, inside the sidebar's viewport."""
    open_page(page, app_server)
    page.get_by_text("Upload a run").click()
    page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a run"}])
    page.locator('[data-testid="stSidebar"]').get_by_text("notes.txt").wait_for()
    wait_idle(page)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add run").click()
    wait_idle(page)
    err = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
    err.wait_for()
    assert "notes.txt" in err.inner_text() and "config.json" in err.inner_text()
    # Fully inside the sidebar's visible area, with the sidebar not scrolled.
    seen = err.evaluate("""e => { const side = document.querySelector('[data-testid="stSidebarContent"]')
                                   || document.querySelector('[data-testid="stSidebar"]');
                                  const s = side.getBoundingClientRect(), r = e.getBoundingClientRect();
                                  return [side.scrollTop, r.top >= s.top, r.bottom <= Math.min(s.bottom, innerHeight)]; }""")
    assert seen == [0, True, True], seen
    assert_no_exception(page)
