"""The Latent map's scatter (Streamlit Components v2, no iframe): every point on a 2-D canvas, drawn by
``assets/scatter_map.js``, with hover, click, click-to-decode, box and lasso selection, zoom, pan, a
legend that hides classes and a colour bar.

Not plotly: a page's first plotly chart makes the browser evaluate Streamlit's 4.7 MB plotly module
(0.8-0.95 s of main-thread time per new session on the 2-core machine) and a WebGL scatter's first draw
in software GL takes 0.3-0.4 s more; this element draws 8,000 dots in a few milliseconds, and a click
costs the browser nothing before it is sent.

The points travel as base64 arrays (float32 coordinates and values, int32 dataset indices, uint16
labels; 8,000 points are about 130 KB), once per session and set of points: the browser keeps them
(keyed by their signature) and later reruns, a click's among them, send only the pick. A browser that
lacks them (a page it reloaded from memory, a message it skipped) asks with the trigger ``need``, and
the next rerun carries them. What the user picks comes back as the trigger ``select``;
``ui.selection.map_pick`` checks it before the page uses it.

**Images** (asked for with the trigger ``want``, so a page load sends none): the points' own images
(every k-th point beyond ``IMAGE_BUDGET`` bytes) for hovering and thumbnails, and the decoder's weights
(``latent_pad.browser_decoder``) with the map's inverse, so hovering empty space on a PCA or 2-D map
decodes there in the page. Each goes to a session once, like the points.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

from ui.components.latent_pad import ASSETS as PAD_ASSETS, BrowserDecoder
from ui.figures import PALETTE
from vae.analysis.projection.maps import Projection
from vae.analysis.projection.points import Colour

ASSETS = Path(__file__).parent / "assets"
NAME = "vae_scatter_map"
HEIGHT = 620
ARRAYS = ("x", "y", "index", "label", "value")  # the bulk: sent once per session and signature
SENT_KEY = "_scatter_map_sent"  # {element key: signature of the points this session was last sent}
EXTRAS_KEY = "_scatter_map_extras"  # {element key: ids of the images and decoders this session was sent}
WANT_KEY = "_scatter_map_want"  # {element key: True once its browser asked for images}
IMAGE_BUDGET = 8_000_000  # bytes of images sent for hovering and thumbnails at most (every k-th point beyond)

_component = st.components.v2.component(NAME, html='<div class="vae-map"></div>',
                                        css=(ASSETS / "scatter_map.css").read_text(),
                                        js=(PAD_ASSETS / "decoder.js").read_text() + "\n"
                                        + (ASSETS / "scatter_map.js").read_text())


@dataclass(frozen=True)
class Extras:
    """What the map needs for hovering images and decoding: ``rows`` (positions in the map) whose images
    ``pixels()`` gives as base64 uint8 (in that order), their shape, a note when only some points have
    one; the run's browser decoder and the map's inverse (mean (D,), two components (2, D)) or None."""
    images_id: str
    rows: list[int]
    shape: tuple[int, int, int]
    note: str
    pixels: Callable[[], str]
    decoder: BrowserDecoder
    inverse: dict | None


def image_rows(n: int, image_bytes: int, budget: int = IMAGE_BUDGET) -> list[int]:
    """Which of n map rows get an image: all when they fit in ``budget`` bytes, else evenly spaced."""
    most = max(1, budget // max(1, image_bytes))
    if n <= most:
        return list(range(n))
    return sorted({round(k * (n - 1) / (most - 1)) for k in range(most)}) if most > 1 else [0]


def _b64(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def map_points(proj: Projection, idx: np.ndarray, colour: Colour, class_names: list[str],
               labels: np.ndarray, invertible: bool | None = None) -> dict:
    """What the element draws, independent of any pick: proj.xy (M, 2) for dataset rows ``idx`` (M,),
    their labels (M,) and colouring. ``invertible`` (default: the projection's own): whether a click on
    empty space is sent as a place to decode. Built once per run, view and colouring (the page caches it)."""
    xy = np.asarray(proj.xy, dtype=np.float32).reshape(-1, 2)
    idx, labels = np.asarray(idx), np.asarray(labels)
    codes = np.clip(labels.astype(np.int64), 0, 65535)
    top = int(codes.max()) + 1 if len(codes) else 0
    names = [class_names[c] if c < len(class_names) else str(c) for c in range(max(top, len(class_names)))]
    out = {"x": _b64(xy[:, 0], "<f4"), "y": _b64(xy[:, 1], "<f4"), "index": _b64(idx, "<i4"),
           "label": _b64(codes, "<u2"), "labels": [str(n) for n in names], "categorical": bool(colour.categorical),
           "axis": [str(t) for t in proj.axis_titles], "flat": proj.method == "latent" and proj.latent_dim == 1,
           "invertible": bool(proj.invertible if invertible is None else invertible)}
    if colour.categorical:
        present = sorted({int(c) for c in np.clip(np.asarray(colour.values).astype(np.int64), 0, 65535)})
        out.update(title="label", value=None, range=None,
                   classes=[{"code": c, "name": names[c] if c < len(names) else str(c),
                             "colour": PALETTE[c % len(PALETTE)]} for c in present])
    else:
        vals = np.asarray(colour.values, dtype=np.float32)
        fin = vals[np.isfinite(vals)]
        lo, hi = (float(fin.min()), float(fin.max())) if len(fin) else (0.0, 1.0)
        out.update(title=str(colour.title), value=_b64(vals, "<f4"), range=[lo, hi if hi > lo else lo + 1.0],
                   classes=None)
    h = hashlib.sha1()
    for k in ("x", "y", "index", "label", "value", "title"):
        h.update(str(out[k]).encode())
    h.update(str(out["classes"]).encode())
    out["sig"] = h.hexdigest()[:16]
    return out


def map_selection(idx: np.ndarray, sel: dict) -> dict:
    """A page selection (dataset indices; see pages/latent_map.py) as the element draws it: rows to
    show as picked (positions in ``idx``), the row to ring, plot coordinates to cross."""
    idx = np.asarray(idx)
    kind = sel.get("kind")
    if kind in ("point", "many"):
        rows = np.flatnonzero(np.isin(idx, np.asarray(sel.get("indices") or [], dtype=np.int64))).tolist()
        ring = rows[0] if kind == "point" and rows else None
        return {"rows": rows, "ring": ring, "cross": None}
    if kind == "probe" and sel.get("xy") is not None:
        return {"rows": [], "ring": None, "cross": [float(v) for v in sel["xy"]]}
    return {"rows": [], "ring": None, "cross": None}


def _extras_data(key: str, ex: Extras) -> dict:
    sent = st.session_state.setdefault(EXTRAS_KEY, {}).setdefault(key, set())
    dec = ex.decoder
    first = ex.images_id not in sent  # the pixels and their rows go once; later reruns name the set
    out = {"images": {"id": ex.images_id, "shape": list(ex.shape), "note": ex.note,
                      "rows": _b64(np.asarray(ex.rows), "<i4") if first else None,
                      "data": ex.pixels() if first else None},
           "decoder": {"spec": dec.spec, "inverse": ex.inverse,
                       "weights": dec.weights_b64 if dec.spec and ex.inverse and dec.hash not in sent else None,
                       "fallback": None if dec.spec or ex.inverse is None else
                       f"Hovering empty space cannot decode in this browser ({dec.reason}); click it instead"}}
    sent.add(ex.images_id)
    if dec.spec and ex.inverse:
        sent.add(dec.hash)
    return out


def scatter_map(key: str, points: dict, view: str, selection: dict, placed: list[tuple[float, float, str]] = (),
                on_select: Callable[[], None] | None = None, height: int = HEIGHT,
                extras: Callable[[], Extras] | None = None) -> None:
    """Place the map. ``points``: from ``map_points``; ``view``: names the zoom to keep across reruns
    (a new view starts at every point); ``selection``: from ``map_selection``; ``placed``: stars
    (x, y, name). ``on_select`` is called when the user picks; ``picked(key)`` reads the pick then.
    ``extras`` builds the images and decoder, called only once the browser has asked for them."""
    sent = st.session_state.setdefault(SENT_KEY, {})
    data = {**points, "instance": key, "view": view, "selection": selection, "height": int(height),
            "placed": [{"x": float(x), "y": float(y), "name": str(n)} for x, y, n in placed],
            "arrays": sent.get(key) != points["sig"]}
    if not data["arrays"]:
        data.update({k: None for k in ARRAYS})
    sent[key] = points["sig"]
    wanted = (st.session_state.get(WANT_KEY) or {}).get(key)
    data["extras"] = _extras_data(key, extras()) if wanted and extras is not None else None
    kw = {"on_select_change": on_select} if on_select is not None else {}
    _component(key=key, data=data, on_need_change=lambda: _on_need(key), on_want_change=lambda: _on_want(key), **kw)


def _on_need(key: str) -> None:
    """The browser lacks what it names (the points, images or a decoder): the next rerun sends it."""
    value = (st.session_state.get(key) or {}).get("need")
    if not isinstance(value, str):
        return
    sent = st.session_state.get(SENT_KEY) or {}
    if sent.get(key) == value:
        sent.pop(key, None)
    (st.session_state.get(EXTRAS_KEY) or {}).get(key, set()).discard(value)


def _on_want(key: str) -> None:
    """The browser turned images on: from the next rerun, the map carries them."""
    if (st.session_state.get(key) or {}).get("want") is True:
        st.session_state.setdefault(WANT_KEY, {})[key] = True


def picked(key: str):
    """The raw pick the browser sent for map ``key`` (unchecked: see ``ui.selection.map_pick``)."""
    return (st.session_state.get(key) or {}).get("select")
