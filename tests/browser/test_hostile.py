"""A hostile user and a shared server, in a real browser: hostile uploads are refused with a
message and the app stays usable; two sessions at once (one training, one exploring) both work."""
import io
import os
import pickle
import zipfile
from pathlib import Path

from conftest import REPO, assert_no_exception, open_page, wait_idle
from live_helpers import move_live_slider

from vae.jobs.training import JobManager


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return buf.getvalue()


def _upload(page, name: str, data: bytes) -> str:
    page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "application/zip", "buffer": data}])
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add run").click()  # the form's, not the dropzone's
    wait_idle(page)
    err = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
    err.wait_for()
    return err.inner_text()


def _move_top_slider(page, steps: int = 8) -> None:
    page.get_by_text("Is this latent on the data manifold?").wait_for()
    move_live_slider(page, steps)  # the in-browser latent pad: painted, and the server holds the value
    assert_no_exception(page)


def test_hostile_uploads_are_refused_and_the_app_stays_usable(app_server, page):
    ck = app_server.root / "checkpoints"
    marker = app_server.root / "PWNED"
    before = sorted(p.name for p in ck.iterdir())
    config = (REPO / "checkpoints" / "digits-default" / "config.json").read_bytes()
    weights = (REPO / "checkpoints" / "digits-default" / "model.safetensors").read_bytes()
    open_page(page, app_server)
    page.get_by_text("Upload a run").click()
    evil = _zip({"run/config.json": config, "run/model.safetensors": pickle.dumps({"w": _Payload(marker)})})
    assert "not a valid safetensors" in _upload(page, "evil.zip", evil)
    assert_no_exception(page)
    escape = _zip({"run/../../config.json": config, "run/model.safetensors": weights})
    assert "points outside its folder" in _upload(page, "escape.zip", escape)
    assert_no_exception(page)
    assert not marker.exists(), "a pickled payload ran"
    assert sorted(p.name for p in ck.iterdir()) == before
    assert not (app_server.root / "config.json").exists()
    # Still usable: the explorer pages work on the default run.
    page.get_by_text("Samples from the prior").wait_for()
    open_page(page, app_server, "traversals")
    _move_top_slider(page)


def test_two_sessions_one_training_one_exploring(app_server, page, browser):
    trainer = page
    open_page(trainer, app_server, "train")
    if trainer.get_by_text("is training on this server").count():
        trainer.get_by_text("finished after").wait_for(timeout=240_000)  # an earlier test's run
        open_page(trainer, app_server, "train")
    box = trainer.get_by_label("Epochs", exact=True)
    box.fill("300")
    box.press("Tab")
    box = trainer.get_by_label("Batch size", exact=True)
    box.fill("8")
    box.press("Tab")
    box = trainer.get_by_label("Run name", exact=True)
    box.fill("shared-session-run")
    box.press("Tab")
    trainer.get_by_role("button", name="Start training").click()
    trainer.get_by_text("Epoch ").first.wait_for(timeout=60_000)

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    explorer = ctx.new_page()
    explorer.set_default_timeout(30_000)
    try:
        # The second session explores while the first one's run trains.
        open_page(explorer, app_server, "traversals")
        _move_top_slider(explorer)
        open_page(explorer, app_server)
        explorer.get_by_text("Samples from the prior").wait_for()
        assert_no_exception(explorer)
        # It sees the job too, and cannot start a second one.
        open_page(explorer, app_server, "train")
        explorer.get_by_text("is training on this server").wait_for()
        assert explorer.get_by_role("button", name="Start training").is_disabled()
        shots = Path(os.environ.get("VAE_SCREENSHOTS", REPO / ".pytest_cache" / "screenshots"))
        shots.mkdir(parents=True, exist_ok=True)
        explorer.screenshot(path=str(shots / "test_two_sessions_explorer.png"), full_page=True)
    finally:
        ctx.close()
    # The training session kept going: progress, then Stop keeps the last completed epoch.
    try:
        assert_no_exception(trainer)
        trainer.locator(".vae-curves canvas").first.wait_for(timeout=60_000)  # the live curves
        # the page's own Stop, not the header's (which stops a script run while one is in progress)
        trainer.get_by_test_id("stButton").get_by_role("button", name="Stop").click()
        trainer.get_by_text("stopped after").wait_for(timeout=120_000)
    finally:
        # a failure above must not leave a 300-epoch job that blocks every later test's training
        JobManager(app_server.root / "checkpoints").stop()
    wait_idle(trainer)
    assert_no_exception(trainer)
    assert (app_server.root / "checkpoints" / "shared-session-run" / "model.safetensors").exists()
