"""Issue 19 in a real browser: an IAF run trained from the form and explored; a categorical run whose
decoded image changes when a class is switched on Traversals."""
import torch

from conftest import assert_no_exception, open_page, wait_idle
from test_ui_latent_map import isolated_point_js


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def _choose(page, label: str, option: str, scope=None) -> None:
    (scope or page).get_by_role("combobox", name=label).first.click()
    page.get_by_role("option", name=option, exact=False).first.click()


def _nav(page, title: str) -> None:
    """Another page in the same session (a page.goto would start a new session, on the default run)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page)


def _pick_run(page, prefix: str) -> None:
    _choose(page, "Run", prefix, scope=page.locator('[data-testid="stSidebar"]'))
    wait_idle(page)


def test_iaf_run_trained_from_the_form_and_explored(app_server, page):
    open_page(page, app_server)  # registers st.navigation on a fresh server
    _nav(page, "Train")
    _choose(page, "Posterior q(z|x)", "iaf")
    _fill(page, "Epochs", "2")
    _fill(page, "Latent size D", "4")
    _fill(page, "Run name", "browser-iaf")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("finished after 2 epochs").wait_for(timeout=240_000)
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_role("button", name="Explore this run").click()
    wait_idle(page)
    page.get_by_text("Samples from the prior").wait_for()
    main = page.locator('[data-testid="stMain"]')
    assert "IAF ×4" in main.inner_text()
    picked = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] input').input_value()
    assert picked.startswith("browser-iaf") and "IAF ×4" in picked, picked
    _nav(page, "Latent map")
    page.get_by_text("estimated from 256 samples").wait_for(timeout=60_000)
    page.wait_for_function("() => window.__vaeMaps && window.__vaeMaps.pv_map && window.__vaeMaps.pv_map.drawn > 0")
    target = page.evaluate(isolated_point_js("pv_map"))
    page.mouse.click(target["px"], target["py"])  # a click on a point inspects that image
    page.get_by_text(f"Test image #{target['index']}").wait_for(timeout=60_000)
    wait_idle(page)
    assert "samples of q(z|x)" in main.inner_text()
    assert page.locator(".js-plotly-plot").count() == 1  # the sample cloud (the map is the canvas element)
    assert page.evaluate("() => window.__vaeMaps.pv_map.picked().ring") == target["index"]
    assert_no_exception(page)
    for title, text in (("Collapse diagnostics", "not defined"), ("Traversals", "E[x|z] at the slider latent")):
        _nav(page, title)
        page.get_by_text(text).first.wait_for(timeout=60_000)
        assert_no_exception(page)


def test_switching_a_class_changes_the_image(app_server, page):
    from vae.runs.folder import save_run
    from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from vae.data import load_dataset
    from vae.model.networks import build_model
    from vae.training.loop import fit
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(image_size=8, hidden=[64], posterior="categorical", latent_dim=3, categories=4),
                    train=TrainConfig(epochs=2, batch_size=64), data=DataConfig(name="digits"))
    model = build_model(cfg.model)
    splits = load_dataset("digits")
    res = fit(model, splits.train.x, splits.test.x, cfg.train)
    save_run(app_server.root / "checkpoints" / "browser-cat", model, cfg, res.history, epoch=2)
    open_page(page, app_server)
    wait_idle(page)
    _pick_run(page, "browser-cat")
    page.get_by_text("3 × Cat(4)").first.wait_for()
    _nav(page, "Traversals")
    img = page.locator("figure.pv-cat-image img")
    img.wait_for(timeout=60_000)
    before = img.get_attribute("src")
    box = page.get_by_role("combobox", name="Variable c0")
    current = box.input_value()
    box.click()
    options = page.get_by_role("option")
    names = [options.nth(i).inner_text() for i in range(options.count())]
    other = next(n for n in names if n.strip() != current.strip())
    page.get_by_role("option", name=other, exact=True).click()
    wait_idle(page)
    page.wait_for_function("(b) => { const i = document.querySelector('figure.pv-cat-image img');"
                           " return i && i.getAttribute('src') !== b; }", arg=before, timeout=30_000)
    assert img.get_attribute("src") != before
    assert_no_exception(page)
