"""Training from the browser, and uploads, as a user does them."""
import io
import json
import zipfile

from conftest import assert_no_exception, open_page, wait_idle


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def test_training_run_from_the_form_shows_progress_and_becomes_selectable(app_server, page):
    open_page(page, app_server, "train")
    _fill(page, "Epochs", "8")
    _fill(page, "Run name", "browser-run")
    page.get_by_role("button", name="Start training").click()
    # Live progress from the fragment: the progress text, then the curves.
    page.get_by_text("Epoch ").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
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
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Upload").click()  # the form's, not the dropzone's
    wait_idle(page)
    err = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
    err.wait_for()
    assert "latent_dim" in err.inner_text()
    assert_no_exception(page)
    assert sorted(p.name for p in (app_server.root / "checkpoints").iterdir()) == before
    # The app is still usable: the home page still shows the default run.
    assert page.get_by_text("Samples from the prior").count() == 1
