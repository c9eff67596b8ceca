"""Latent map in a real browser: click a point in the scatter and its original and
reconstruction appear for that index; click empty space on the PCA view and it is decoded."""
import json
import re

from conftest import assert_no_exception, open_page, wait_idle

MAP = "window.__vaeMaps && window.__vaeMaps.latent_map_chart"
# The map element's drawn points as [x, y, dataset index] in viewport coordinates (what a mouse click takes).
POINTS_JS = f"() => {MAP}.points()"


def isolated_point_js(key: str) -> str:
    """JS giving map ``key``'s point farthest (in pixels) from every other one, so a click there cannot
    land on a neighbour: {px, py, index, gap, n}."""
    return ISOLATED_POINT_JS.replace("latent_map_chart", key)


# The data point farthest (in pixels) from every other one, so a click there cannot land on a neighbour.
ISOLATED_POINT_JS = """() => {
  const pts = window.__vaeMaps.latent_map_chart.points();
  let best = null, bestGap = -1;
  for (const p of pts) {
    let gap = Infinity;
    for (const q of pts) if (q !== p) gap = Math.min(gap, Math.hypot(p[0] - q[0], p[1] - q[1]));
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  return {px: best[0], py: best[1], index: best[2], gap: bestGap, n: pts.length};
}"""
# A point in the plot area far (in pixels) from every data point.
EMPTY_SPOT_JS = f"() => {MAP}.emptySpot()"
# What the map draws as picked: {indices (dataset, sorted), ring (dataset index or null), cross}.
PICKED_JS = f"() => {MAP}.picked()"


def _map_drawn(page, n: int | None = None, timeout: float = 60_000) -> None:
    cond = f"{MAP} && window.__vaeMaps.latent_map_chart.drawn > 0"
    if n is not None:
        cond += f" && window.__vaeMaps.latent_map_chart.n === {n}"
    page.wait_for_function(f"() => !!({cond})", timeout=timeout)


def _open_map(page, app_server):
    # A fresh server that has never run app.py resolves /latent_map in legacy pages/ mode (no
    # st.navigation yet, so no sidebar and no run); loading the root first registers the navigation.
    open_page(page, app_server)
    open_page(page, app_server, "latent_map")
    page.get_by_text("Latent map", exact=True).first.wait_for()
    _map_drawn(page, 360)
    assert page.get_by_text(re.compile(r"Showing 360 of 360 test images")).count() == 1
    assert page.locator(".js-plotly-plot").count() == 0  # the map is the canvas element, not plotly
    assert_no_exception(page)


def _wait_picked(page, indices: list[int], ring=None, cross: bool = False) -> None:
    """Wait until the map draws exactly ``indices`` as picked, ringing ``ring``, with or without a cross."""
    want = json.dumps({"indices": sorted(indices), "ring": ring})
    page.wait_for_function(f"""() => {{ const p = ({PICKED_JS})();
        return JSON.stringify({{indices: p.indices, ring: p.ring}}) === JSON.stringify({want})
               && (p.cross !== null) === {str(cross).lower()}; }}""", timeout=30_000)


def test_click_point_shows_original_and_reconstruction(app_server, page):
    frames: list[tuple[int, bytes]] = []  # (phase, payload) of every websocket message received
    phase = [0]
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        (phase[0], f if isinstance(f, bytes) else str(f).encode()))))
    _open_map(page, app_server)
    # the points' x coordinates as sent (base64 float32), to look for in every later message
    x_sent = page.evaluate(f"""() => {{ const x = {MAP}.x; let s = '';
        for (const b of new Uint8Array(x.buffer, x.byteOffset, x.byteLength)) s += String.fromCharCode(b);
        return btoa(s); }}""")
    assert sum(x_sent[:64].encode() in f for p, f in frames if p == 0) == 1  # sent once with the page
    phase[0] = 1
    target = page.evaluate(ISOLATED_POINT_JS)
    assert target["n"] == 360 and target["gap"] > 4
    page.mouse.move(target["px"], target["py"])
    page.mouse.click(target["px"], target["py"])
    i = int(target["index"])
    page.get_by_text(f"Test image #{i} · label", exact=False).wait_for()
    wait_idle(page)
    assert page.get_by_text(f"Original #{i}", exact=True).count() == 1
    assert page.get_by_text(f"Reconstruction #{i}", exact=True).count() == 1
    # Original, reconstruction, samples and neighbours, all painted.
    assert page.evaluate("""() => { const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
                              return imgs.length >= 4 && imgs.every(i => i.complete && i.naturalWidth > 0); }""")
    assert page.get_by_text("nearest neighbours in latent space").count() == 1
    # small images come inline with the panel (no request after the script run)
    assert page.evaluate("""() => [...document.querySelectorAll('[data-testid="stImage"] img')]
                              .every(i => i.src.startsWith('data:image/png;base64,'))""")
    # the posterior's μ and σ of each of the 10 dimensions as SVG bars, each naming its value on hover
    tips = page.locator(".vae-svg-chart svg rect title").all_text_contents()
    assert len(tips) == 20 and tips[0].startswith("z0: μ = ") and tips[19].startswith("z9: σ = "), tips
    # the map draws the pick itself: the dot bigger and ringed, the rest dimmed; its points are not re-sent
    _wait_picked(page, [i], ring=i)
    assert page.evaluate(f"() => {MAP}.n") == 360
    later = [f for p, f in frames if p == 1]
    assert later and not any(x_sent[:64].encode() in f for f in later)  # the click did not re-send the points
    assert_no_exception(page)


def test_click_empty_space_on_pca_decodes_it(app_server, page):
    _open_map(page, app_server)
    spot = page.evaluate(EMPTY_SPOT_JS)
    assert spot["gap"] > 20  # well clear of every data point
    page.mouse.move(spot["px"], spot["py"])
    page.mouse.click(spot["px"], spot["py"])
    page.get_by_text("A point between the data").wait_for()
    wait_idle(page)
    assert page.get_by_text("Decoded", exact=True).count() == 1
    _wait_picked(page, [], ring=None, cross=True)  # a cross where the space was decoded
    assert_no_exception(page)


def test_a_click_that_just_misses_a_dot_selects_it(app_server, page):
    """Issue 17: on the PCA map, where a click on empty space decodes it, a click a few pixels from a
    dot selects the dot, not the space beside it."""
    _open_map(page, app_server)
    target = page.evaluate(ISOLATED_POINT_JS)
    assert target["gap"] > 14
    x, y = target["px"] + 4, target["py"] + 3  # 5 px off the dot's centre, outside its 3.5 px radius
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    i = int(target["index"])
    page.get_by_text(f"Test image #{i} · label", exact=False).wait_for()
    wait_idle(page)
    assert page.get_by_text("A point between the data").count() == 0
    _wait_picked(page, [i], ring=i)  # the map rings the dot the click meant
    # An index typed in the panel is ringed, and it is the only dot shown as picked.
    j = (i + 1) % 360
    box = page.get_by_label("Inspect test image #", exact=True)
    box.fill(str(j))
    box.press("Enter")
    page.get_by_text(f"Test image #{j} · label", exact=False).wait_for()
    wait_idle(page)
    _wait_picked(page, [j], ring=j)
    page.screenshot(path=str(_shots() / "map_typed_index_ring.png"))
    assert_no_exception(page)


def _choose(page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def _inside(poly, x, y) -> bool:
    hit = False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def _edge_gap(poly, x, y) -> float:
    """Distance in pixels from (x, y) to the polygon's nearest edge."""
    best = float("inf")
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]):
        dx, dy = x2 - x1, y2 - y1
        t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
        best = min(best, ((x - x1 - t * dx) ** 2 + (y - y1 - t * dy) ** 2) ** 0.5)
    return best


def _lasso(page, pts: list, share: float = 0.25, least: int = 10) -> list[tuple[float, float]]:
    """Draw a 24-gon lasso of radius ``share`` × the map's width around its median point (holding more
    than ``least`` points); returns the polygon."""
    import math
    xs, ys = sorted(p[0] for p in pts), sorted(p[1] for p in pts)
    cx, cy = xs[len(xs) // 2], ys[len(ys) // 2]
    r = share * (xs[-1] - xs[0])
    poly = [(cx + r * math.cos(2 * math.pi * k / 24), cy + r * math.sin(2 * math.pi * k / 24)) for k in range(24)]
    assert len({int(p[2]) for p in pts if _inside(poly, p[0], p[1])}) > least
    page.get_by_role("button", name="Lasso", exact=True).click()
    page.mouse.move(*poly[0])
    page.mouse.down()
    for p in poly[1:] + poly[:1]:
        page.mouse.move(*p, steps=3)
    page.mouse.up()
    return poly


def _shots():
    import os
    from pathlib import Path
    out = Path(os.environ.get("VAE_SCREENSHOTS", Path(__file__).resolve().parents[2] / ".pytest_cache" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_opentsne_on_8000_points_shows_progress_then_a_lasso_on_the_map_returns_its_images(page, tmp_path):
    """Issues 17 and 20 on mnist-default's 8,000 train images: openTSNE (a fit on 5,000, the rest placed
    by its transform) runs in the background with a progress bar (iteration and KL) and a Cancel button;
    then the map of all 8,000 points, where a lasso lists exactly the images inside it. (The harness's tiny
    digits run fits in about 2 s, too fast to watch the progress reliably; this fit takes several.)"""
    import shutil

    from conftest import AppServer, REPO as ROOT
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    shutil.copytree(ROOT / "checkpoints" / "mnist-default", ck / "mnist-default",
                    ignore=shutil.ignore_patterns("projections"))  # no kept map: the fit runs here
    server = AppServer(tmp_path, env={"VAE_DEFAULT_RUN": "mnist-default"})
    try:
        open_page(page, server)
        open_page(page, server, "latent_map")
        _map_drawn(page, timeout=120_000)
        _choose(page, "Split", "train")
        page.get_by_text("Showing 8,000 of 8,000 train images", exact=False).wait_for(timeout=120_000)
        _choose(page, "Projection", "t-SNE (openTSNE, fast)")
        # The progress bar from the optimizer's callbacks (iteration and KL), with a Cancel button.
        page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
        page.get_by_text("KL divergence", exact=False).first.wait_for(timeout=120_000)
        assert page.get_by_role("button", name="Cancel").count() == 1
        page.screenshot(path=str(_shots() / "opentsne_progress.png"), full_page=True)
        page.get_by_text("openTSNE, ", exact=False).first.wait_for(timeout=600_000)
        _map_drawn(page, 8000)
        wait_idle(page)
        assert page.get_by_text("trustworthiness", exact=False).count() >= 1
        assert page.get_by_text("fitted on 5,000 seeded random points", exact=False).count() >= 1, \
            page.get_by_text("openTSNE, ", exact=False).first.inner_text()
        # Lasso: a polygon around the middle of the map.
        pts = page.evaluate(POINTS_JS)
        assert len(pts) == 8000
        poly = _lasso(page, pts, share=0.12, least=20)
        page.get_by_text(re.compile(r"[\d,]+ train images selected")).wait_for(timeout=30_000)
        wait_idle(page)
        text = page.get_by_text(re.compile(r"train images selected")).first.inner_text()
        n = int(re.search(r"([\d,]+) train images selected", text).group(1).replace(",", ""))
        # Points within 3 px of the lasso's edge may fall either way (pixel rounding); the rest must not.
        sure = {int(p[2]) for p in pts if _inside(poly, p[0], p[1]) and _edge_gap(poly, p[0], p[1]) > 3}
        maybe = {int(p[2]) for p in pts if _inside(poly, p[0], p[1]) or _edge_gap(poly, p[0], p[1]) <= 3}
        assert len(sure) <= n <= len(maybe), (len(sure), n, len(maybe))
        drawn = page.evaluate(PICKED_JS)["indices"]  # the map shows the same images as picked
        assert len(drawn) == n and sure <= set(drawn) <= maybe
        assert page.get_by_text("Originals", exact=True).count() == 1
        assert page.evaluate("""() => { const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
                                  return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0); }""")
        assert_no_exception(page)
        page.screenshot(path=str(_shots() / "lasso_8000.png"), full_page=True)  # before the server stops
    finally:
        server.stop()
    assert_no_exception(page)


def _drag(page, a, b, steps: int = 8) -> None:
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=steps)
    page.mouse.up()


def test_box_select_zoom_legend_and_picks_a_browser_should_not_send(app_server, page):
    """The map's other tools, as a user drives them: a box selection lists the images inside it; a box
    zoom shows fewer points larger and Reset view brings every point back; the legend hides a class
    (its dots can no longer be picked). Then picks no honest map sends (a row out of range, a
    non-number, a probe at infinity) are dropped by the page: the selection stays and nothing breaks."""
    _open_map(page, app_server)
    pts = page.evaluate(POINTS_JS)
    xs, ys = sorted(p[0] for p in pts), sorted(p[1] for p in pts)
    cx, cy, w, h = xs[180], ys[180], xs[-1] - xs[0], ys[-1] - ys[0]
    box = (cx - 0.2 * w, cy - 0.2 * h, cx + 0.2 * w, cy + 0.2 * h)
    inside = {int(p[2]) for p in pts if box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]}
    edge = {int(p[2]) for p in pts if box[0] - 2 <= p[0] <= box[2] + 2 and box[1] - 2 <= p[1] <= box[3] + 2}
    assert len(inside) > 10
    page.get_by_role("button", name="Box select", exact=True).click()
    _drag(page, box[:2], box[2:])
    page.get_by_text(re.compile(r"\d+ test images selected")).wait_for()
    wait_idle(page)
    n = int(re.search(r"(\d+) test images selected", page.get_by_text(re.compile("test images selected")).inner_text()).group(1))
    picked = set(page.evaluate(PICKED_JS)["indices"])
    assert len(picked) == n and inside <= picked <= edge, (len(inside), n, len(edge))
    # Clear selection: nothing picked, the hint again; then the same box once more, for what follows.
    page.get_by_role("button", name="Clear selection", exact=True).click()
    page.get_by_text("Click a point", exact=False).first.wait_for()
    _wait_picked(page, [])
    assert page.get_by_role("button", name="Clear selection", exact=True).is_hidden()
    _drag(page, box[:2], box[2:])
    page.get_by_text(f"{n} test images selected", exact=True).wait_for()
    wait_idle(page)
    # Zoom into the same box: fewer points in view, spread over the whole plot; Reset view: all 360 again.
    page.get_by_role("button", name="Zoom", exact=True).click()
    _drag(page, box[:2], box[2:])
    page.wait_for_function(f"() => {MAP}.points().length < 300")
    zoomed = page.evaluate(POINTS_JS)
    assert len(edge) >= len(zoomed) >= len(inside) - 2
    assert max(p[0] for p in zoomed) - min(p[0] for p in zoomed) > 1.5 * (box[2] - box[0])
    page.get_by_role("button", name="Reset view", exact=True).click()
    page.wait_for_function(f"() => {MAP}.points().length === 360")
    # The legend hides a class: its dots leave the map.
    labels = page.evaluate(f"() => {MAP}.points().map(p => p[2])")
    page.locator(".vm-item", has_text="3").first.click()
    page.wait_for_function(f"() => {MAP}.points().length < 360")
    left = len(page.evaluate(POINTS_JS))
    assert 300 < left < 360 and len(labels) == 360
    page.locator(".vm-item", has_text="3").first.click()
    page.wait_for_function(f"() => {MAP}.points().length === 360")
    # Picks a real map never sends: each is dropped, the box selection stays.
    for bad in ({"kind": "point", "row": 360}, {"kind": "point", "row": "7"}, {"kind": "many", "rows": [0, -1]},
                {"kind": "probe", "x": 1e300, "y": 0}, {"kind": "nuke"}, "point"):
        page.evaluate(f"(v) => {MAP}.send(v)", bad)
        wait_idle(page)
        assert page.get_by_text(f"{n} test images selected", exact=True).count() == 1, bad
        assert_no_exception(page)
    page.evaluate(f"() => {MAP}.send({{kind: 'point', row: 0}})")
    i = page.evaluate(f"() => {MAP}.index[0]")
    page.get_by_text(f"Test image #{i} · label", exact=False).wait_for()
    _wait_picked(page, [i], ring=i)
    # A page that lost the points the server already sent this session asks for them again.
    page.evaluate("() => window.__vaeMapPoints.clear()")
    j = page.evaluate(f"() => {MAP}.index[1]")
    box = page.get_by_label("Inspect test image #", exact=True)
    box.fill(str(j))
    box.press("Enter")
    page.get_by_text(f"Test image #{j} · label", exact=False).wait_for()
    _wait_picked(page, [j], ring=j)
    assert page.evaluate("() => window.__vaeMapPoints.size") == 1
    assert_no_exception(page)
    page.screenshot(path=str(_shots() / "map_point_picked.png"), full_page=True)
