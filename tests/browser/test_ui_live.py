"""The in-browser latent pad (issue 14) in a real browser: decoding follows the hand at display
rate, the painted pixels are the server's decode, the weights cross the wire once, and a link
reopens the view."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from conftest import REPO, AppServer, assert_no_exception, open_page, wait_idle
from live_helpers import PAD, SCRUB, URL_HOLDS_PAD, live_ready, pad

COMMITTED = sorted(p.parent.name for p in (REPO / "checkpoints").glob("*/model.safetensors"))

# A checksum of the canvas, sampled every animation frame while a gesture is under way.
SAMPLER = """inst => {
  const p = globalThis.__vaeLive[inst];
  const S = globalThis.__samples = {seen: new Set(), n: 0, run: true};
  const f = () => {
    if (!S.run) return;
    const d = p.ctx.getImageData(0, 0, p.canvas.width, p.canvas.height).data;
    let h = 2166136261;
    for (let i = 0; i < d.length; i += 4) { h ^= d[i] + 256 * d[i + 1]; h = Math.imul(h, 16777619); }
    S.seen.add(h >>> 0); S.n += 1;
    requestAnimationFrame(f);
  };
  requestAnimationFrame(f);
}"""
STOP = "() => { globalThis.__samples.run = false; return [globalThis.__samples.seen.size, globalThis.__samples.n]; }"


@pytest.fixture(scope="module")
def all_runs_server(tmp_path_factory):
    """A server holding a private copy of every committed run."""
    root = tmp_path_factory.mktemp("live")
    for name in COMMITTED:
        shutil.copytree(REPO / "checkpoints" / name, root / "checkpoints" / name)
    server = AppServer(root)
    yield server
    server.stop()


def test_dragging_a_slider_paints_every_frame_and_the_release_reaches_the_server(app_server, page):
    open_page(page, app_server, "traversals")
    live_ready(page)
    frames_at_start = pad(page, "p => p.frame")
    slider = page.locator("input.vl-range[data-dim]").first  # the most informative dimension
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the thumb: every start is z = 0
    page.mouse.move(x, y)
    page.mouse.down()
    left, step = box["x"] + 4, (box["width"] - 8) / 62  # ≈ 2 slider steps of 0.05 per move
    page.mouse.move(left, y)
    page.evaluate(SAMPLER, PAD)
    # Held down, moved right across the track for about a second in 60 small steps.
    for i in range(60):
        page.mouse.move(left + step * (i + 1), y)
        # The move's frame has been painted (none is pending) before the next: a loaded machine slows
        # the gesture down rather than merging moves into one frame.
        page.wait_for_function(f"() => !globalThis.__vaeLive['{PAD}'].pending", polling="raf")
        page.wait_for_timeout(16)  # the pace of the hand, not a wait for a result
    distinct, sampled = page.evaluate(STOP)
    painted = pad(page, "p => p.frame") - frames_at_start
    held = pad(page, "p => p.z.slice()")
    assert distinct >= 30, f"only {distinct} distinct images in {sampled} animation frames"
    assert painted >= 60  # a fresh decode for every move
    # Nothing went to the server while the mouse was down: its latent is still the start.
    assert page.evaluate(URL_HOLDS_PAD, PAD) is False
    page.mouse.up()
    page.wait_for_function(URL_HOLDS_PAD, arg=PAD)  # the server's state (written into the URL) holds it
    wait_idle(page)
    assert pad(page, "p => p.z.slice()") == held
    top = int(slider.get_attribute("data-dim"))
    assert held[top] > 2.0
    assert_no_exception(page)
    page.locator("canvas.vae-live-canvas").first.scroll_into_view_if_needed()


def test_the_2d_pad_moves_two_dimensions(app_server, page):
    open_page(page, app_server, "traversals")
    live_ready(page)
    dims = [int(v) for v in page.locator("select.vl-pick").evaluate_all("ss => ss.map(s => s.value)")]
    area = page.locator("div.vl-pad").first
    area.scroll_into_view_if_needed()
    b = area.bounding_box()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.7, b["y"] + b["height"] * 0.35, steps=6)
    # Mid-gesture the pad is drawn anew, as a rerun that lands during a drag may do: the rest of the
    # gesture and its release must still be heard (a fresh-clone run once committed a half-way latent).
    pad(page, "p => { p.buildPad(p.data, {pad: p.pad.slice()}); return true; }")
    page.mouse.move(b["x"] + b["width"] * 0.9, b["y"] + b["height"] * 0.2, steps=6)
    page.mouse.up()
    page.wait_for_function(URL_HOLDS_PAD, arg=PAD)
    z = pad(page, "p => p.z.slice()")
    assert z[dims[0]] > 1.5 and z[dims[1]] > 1.0  # right and up, in a ±3 range
    assert_no_exception(page)


def _server_decode(name: str, z: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's E[x|z] for a committed run (read only): float32 as the app decodes, and the 8-bit image
    (rounded as vae.export.images.to_pil) of the same decode in float64."""
    from vae.runs.folder import load_run
    model = load_run(REPO / "checkpoints" / name).model
    with torch.no_grad():
        f32 = model.mean_image(torch.tensor([z]))[0].numpy()
        f64 = model.double().mean_image(torch.tensor([z], dtype=torch.float64))[0].numpy()
    return f32, np.floor(np.clip(f64, 0, 1) * 255 + 0.5)


@pytest.mark.parametrize("name", COMMITTED)
def test_painted_pixels_are_the_server_decode(all_runs_server, page, name):
    import json
    cfg = json.loads((REPO / "checkpoints" / name / "config.json").read_text())["model"]
    rng = np.random.default_rng(sum(map(ord, name)))
    z = [round(float(v), 2) for v in rng.normal(0, 1.2, cfg["latent_dim"]).clip(-2.9, 2.9)]
    open_page(page, all_runs_server, f"traversals?run={name}&z={','.join(map(str, z))}")
    live_ready(page)
    page.wait_for_function(URL_HOLDS_PAD, arg=PAD)
    assert pad(page, "p => p.lastLatent") == z
    rgba = np.array(pad(page, "p => Array.from(p.ctx.getImageData(0, 0, p.canvas.width, p.canvas.height).data)"))
    floats = np.array(pad(page, "p => Array.from(p.lastImage)"))
    c, h, w = cfg["in_channels"], cfg["image_size"], cfg["image_size"]
    f32, ref8 = _server_decode(name, z)
    assert float(np.abs(floats - f32.reshape(-1)).max()) <= 1e-4  # the decoder's values
    painted = rgba.reshape(h, w, 4)[..., :3]
    painted = painted[..., :1].transpose(2, 0, 1) if c == 1 else painted.transpose(2, 0, 1)
    diff = np.abs(painted / 255.0 - ref8 / 255.0).max()
    assert diff <= 1e-3, f"{name}: max |painted − server| = {diff:.4g} after 8-bit rounding"
    assert (rgba.reshape(-1, 4)[:, 3] == 255).all()
    assert_no_exception(page)
    page.locator("canvas.vae-live-canvas").first.scroll_into_view_if_needed()


def test_weights_cross_the_wire_once_per_run(app_server, page):
    sizes: list[tuple[int, int]] = []  # (phase, bytes) of every websocket message received
    phase = [0]
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: sizes.append(
        (phase[0], len(f) if isinstance(f, (bytes, str)) else 0))))
    open_page(page, app_server, "traversals")
    live_ready(page)
    n = pad(page, "p => p.dec.spec.n_weights")
    assert max(s for p, s in sizes if p == 0) >= 4 * n  # the weights came once
    phase[0] = 1
    page.get_by_role("button", name="Randomise").click()  # reruns: a new latent, the same decoder
    page.wait_for_function(f"() => globalThis.__vaeLive['{PAD}'].z.some(v => v !== 0)")
    page.wait_for_function(URL_HOLDS_PAD, arg=PAD)
    wait_idle(page)
    page.get_by_role("button", name="Reset to zeros").click()
    page.wait_for_function(f"() => globalThis.__vaeLive['{PAD}'].z.every(v => v === 0)")
    wait_idle(page)
    page.wait_for_function(URL_HOLDS_PAD, arg=PAD)
    later = [s for p, s in sizes if p == 1]
    assert later and max(later) < 4 * n  # reruns carried the spec, never the weights
    assert pad(page, "p => p.z.every(v => v === 0)")
    # A reload is a new session: the browser still holds the decoder (IndexedDB, by its hash).
    phase[0] = 2
    page.reload()
    live_ready(page)
    again = [s for p, s in sizes if p == 2]
    assert again and max(again) < 4 * n


def test_a_link_reopens_the_view_and_a_bad_one_says_what_it_ignored(app_server, page, browser):
    z = "0.5,-1,0,0,2,0,0,0,0,0"
    open_page(page, app_server, f"traversals?run=shapes-default&z={z}")
    live_ready(page)
    assert pad(page, "p => p.z.join(',')") == "0.5,-1,0,0,2,0,0,0,0,0"
    link = page.url
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = ctx.new_page()
    try:  # someone else opens the copied link: the same run and latent
        other.goto(link)
        wait_idle(other)
        live_ready(other)
        assert pad(other, "p => p.z.join(',')") == "0.5,-1,0,0,2,0,0,0,0,0"
        assert "dimensional latent space of shapes-default" in other.locator('[data-testid="stMain"]').inner_text()
    finally:
        ctx.close()
    open_page(page, app_server, "traversals?run=nope&z=1,2,oops")
    warnings = page.locator('[data-testid="stAlertContentWarning"]')
    warnings.filter(has_text="there is no run named nope").first.wait_for()  # said by the frame
    warnings.filter(has_text="not a comma-separated list of numbers").first.wait_for()  # said by the page
    assert all("Parts of this link were ignored" in t for t in warnings.all_inner_texts()
               if "nope" in t or "comma" in t)
    live_ready(page)
    assert pad(page, "p => p.z.every(v => v === 0)")  # the defaults: digits-default at the origin
    assert_no_exception(page)


def test_the_interpolation_scrubber_decodes_along_the_path(app_server, page):
    open_page(page, app_server, "traversals")
    page.get_by_role("tab", name="Interpolation").click()
    wait_idle(page)
    live_ready(page, SCRUB)
    scrub = page.locator('input[aria-label="path position t"]')
    scrub.scroll_into_view_if_needed()
    before = pad(page, "p => p.frame", SCRUB)
    images = set()
    scrub.focus()
    for key in ["Home"] + ["PageUp"] * 9:  # t from 0 towards 1 in tenths
        frame = pad(page, "p => p.frame", SCRUB)
        page.keyboard.press(key)
        page.wait_for_function(f"() => globalThis.__vaeLive['{SCRUB}'].frame > {frame}")
        images.add(pad(page, "p => Array.from(p.imageData.data).join(',')", SCRUB))
    assert pad(page, "p => p.frame", SCRUB) > before and len(images) >= 5
    t = pad(page, "p => p.scrub.t", SCRUB)
    lat = pad(page, "p => p.lastLatent", SCRUB)
    za, zb = pad(page, "p => p.data.za", SCRUB), pad(page, "p => p.data.zb", SCRUB)
    from vae.analysis.traversal import slerp
    want = slerp(torch.tensor(za), torch.tensor(zb), torch.tensor([t]))[0]
    assert max(abs(a - b) for a, b in zip(lat, want.tolist())) < 1e-5  # the spherical path, as the server's
    assert_no_exception(page)
    scrub.scroll_into_view_if_needed()


MAP = "window.__vaeMaps.latent_map_chart"


def test_latent_map_images_on_hover_decode_empty_space_and_draw_thumbnails(app_server, page):
    """The map's Images button: a page load sends no image; once asked, hovering a dot shows that
    image as sent, hovering empty space on the PCA map decodes there in the page as PyTorch does,
    and Thumbnails draws the images instead of the dots."""
    sizes: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: sizes.append(len(f))))
    open_page(page, app_server, "latent_map?proj=pca")
    page.wait_for_function(f"() => window.__vaeMaps && {MAP} && {MAP}.drawn > 0")
    wait_idle(page)
    assert page.evaluate(f"() => {MAP}.img") is None and max(sizes) < 100_000  # no images yet
    page.get_by_role("button", name="Images", exact=True).click()
    page.wait_for_function(f"() => {MAP}.img && {MAP}.dec", timeout=60_000)
    wait_idle(page)
    # Hover a data point: its own image, at once.
    x, y, i = page.evaluate(f"() => {MAP}.points()[0]")
    page.mouse.move(x, y)
    page.wait_for_function(f"() => {MAP}.shown && {MAP}.shown.kind === 'point' && {MAP}.shown.index === {i}")
    shown = np.array(page.evaluate(f"""() => {{ const m = {MAP}, c = m.tipPixels;
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).filter((_, k) => k % 4 === 0); }}"""))
    own = np.array(page.evaluate(f"""() => {{ const m = {MAP}, row = Array.from(m.index).indexOf({i}), k = m.imgAt[row],
        n = m.imgShape.reduce((a, b) => a * b, 1); return Array.from(m.img.subarray(k * n, (k + 1) * n)); }}"""))
    assert len(own) == 64 and (shown == own).all()  # the point's 8×8 image, as sent
    # Hover empty space: the PCA inverse decoded in the page, as the server decodes it.
    spot = page.evaluate(f"() => {MAP}.emptySpot()")
    page.mouse.move(spot["px"], spot["py"])
    page.wait_for_function(f"() => {MAP}.shown && {MAP}.shown.kind === 'decode'")
    last = page.evaluate(f"() => {{ const d = {MAP}.lastDecode;"
                         " return {z: d.z, pixels: Array.from(d.rgba).filter((_, k) => k % 4 === 0)}; }")
    _, ref8 = _server_decode("digits-default", last["z"])
    assert np.abs(np.array(last["pixels"]) - ref8.reshape(-1)).max() == 0
    # Thumbnails: the images themselves on the map.
    page.get_by_role("button", name="Thumbnails", exact=True).click()
    page.wait_for_function(f"() => {MAP}.root.dataset.mode === 'thumbnails'")
    assert_no_exception(page)
    page.screenshot(path=str(REPO / ".pytest_cache" / "screenshots" / "map_thumbnails.png"))


def test_bound_widgets_reopen_the_tab_and_the_interpolation_pair(app_server, page):
    open_page(page, app_server, "traversals?run=digits-default&trav_tab=Interpolation&trav_interp_a=5&trav_interp_b=9")
    live_ready(page, SCRUB)  # the Interpolation tab is open: its scrubber is drawn
    assert pad(page, "p => p.data.label", SCRUB) == "#5 → #9"
    open_page(page, app_server, "traversals?trav_tab=Interpolation&trav_interp_a=99999")
    page.locator('[data-testid="stAlertContentWarning"]').filter(
        has_text="trav_interp_a: index 99999 is out of range").first.wait_for()
    live_ready(page, SCRUB)
    assert pad(page, "p => p.data.label", SCRUB) == "#0 → #1"  # the defaults
    assert_no_exception(page)
