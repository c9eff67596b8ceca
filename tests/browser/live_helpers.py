"""Helpers for the in-browser latent pad (ui/components): its instances register on
``globalThis.__vaeLive`` (keyed by their Streamlit key), with the latent, the frame counter and the
canvas; the server's state is read back from the URL, which the page writes from session state."""
from __future__ import annotations

from conftest import wait_idle

PAD = "trav_live"
SCRUB = "trav_scrub"

# The URL's latent (written by the server from its state) equals the pad's latent.
URL_HOLDS_PAD = """inst => {
  const p = globalThis.__vaeLive && globalThis.__vaeLive[inst];
  const q = new URL(location.href).searchParams.get('z');
  if (!p || !q) return false;
  const a = q.split(',').map(Number);
  return a.length === p.z.length && a.every((v, i) => Math.abs(v - Math.round(p.z[i] * 1e4) / 1e4) < 1e-9);
}"""


def live_ready(page, inst: str = PAD, timeout: float = 60_000) -> None:
    """Wait until the pad has its decoder and has painted at least once."""
    page.wait_for_function(f"() => (globalThis.__vaeLive?.['{inst}']?.frame || 0) > 0", timeout=timeout)


def pad(page, expr: str, inst: str = PAD):
    """Evaluate ``expr`` (a function of the pad instance p) in the page."""
    return page.evaluate(f"() => {{ const p = globalThis.__vaeLive['{inst}']; return ({expr})(p); }}")


def move_live_slider(page, steps: int = 8) -> list[float]:
    """Move the top latent slider of the pad with the keyboard; return to when the server holds its value."""
    live_ready(page)
    frame = pad(page, "p => p.frame")
    before = pad(page, "p => p.z.slice()")
    thumb = page.locator("input.vl-range[data-dim]").first
    thumb.focus()
    for _ in range(steps):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => globalThis.__vaeLive['{PAD}'].frame > {frame}")
    page.wait_for_function(URL_HOLDS_PAD, arg=PAD)
    wait_idle(page)
    after = pad(page, "p => p.z.slice()")
    assert after != before
    return after
