"""Latent map in a real browser: click a point in the scatter and its original and
reconstruction appear for that index; click empty space on the PCA view and it is decoded."""
import re

from conftest import assert_no_exception, open_page, wait_idle

# The pixel position (page coordinates) of the data point farthest from every other
# data point, so a click there cannot land on a neighbour, with its dataset index.
ISOLATED_POINT_JS = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const fl = gd._fullLayout, bb = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.forEach(t => {
    if (t.name === 'probe' || t.name === 'selected' || !t.customdata) return;
    for (let k = 0; k < t.x.length; k++) {
      pts.push({px: bb.left + fl.xaxis._offset + fl.xaxis.d2p(t.x[k]),
                py: bb.top + fl.yaxis._offset + fl.yaxis.d2p(t.y[k]), index: t.customdata[k][0]});
    }
  });
  let best = null, bestGap = -1;
  for (const p of pts) {
    let gap = Infinity;
    for (const q of pts) if (q !== p) gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py));
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  return {...best, gap: bestGap, n: pts.length};
}"""

# A point in the plot area far (in pixels) from every data point.
EMPTY_SPOT_JS = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const fl = gd._fullLayout, bb = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.forEach(t => {
    if (t.name === 'probe' || !t.customdata) return;
    for (let k = 0; k < t.x.length; k++) pts.push([fl.xaxis.d2p(t.x[k]), fl.yaxis.d2p(t.y[k])]);
  });
  let best = null, bestGap = -1;
  for (let gx = 0.1; gx < 0.95; gx += 0.05) for (let gy = 0.1; gy < 0.95; gy += 0.05) {
    const x = gx * fl._size.w, y = gy * fl._size.h;
    const gap = Math.min(...pts.map(p => Math.hypot(p[0] - x, p[1] - y)));
    if (gap > bestGap) { bestGap = gap; best = [x, y]; }
  }
  return {px: bb.left + fl.xaxis._offset + best[0], py: bb.top + fl.yaxis._offset + best[1], gap: bestGap};
}"""


def _open_map(page, app_server):
    # A fresh server that has never run app.py resolves /latent_map in legacy pages/ mode (no
    # st.navigation yet, so no sidebar and no run); loading the root first registers the navigation.
    open_page(page, app_server)
    open_page(page, app_server, "latent_map")
    page.get_by_text("Latent map", exact=True).first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    page.wait_for_function("() => { const g = document.querySelector('.js-plotly-plot');"
                           " return g && g._fullLayout && g._fullData && g._fullData.length > 1; }")
    assert page.get_by_text(re.compile(r"Showing 360 of 360 test images")).count() == 1
    assert_no_exception(page)


def test_click_point_shows_original_and_reconstruction(app_server, page):
    _open_map(page, app_server)
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
    assert_no_exception(page)


def test_a_click_that_just_misses_a_dot_selects_it(app_server, page):
    """Issue 17: the invisible probe grid under the PCA map must not catch a click a few pixels
    from a dot; the dot is selected, not the space beside it."""
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
    assert_no_exception(page)
