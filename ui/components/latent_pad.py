"""The latent pad (Streamlit Components v2): latent sliders and a 2-D pad that decode in the browser
on every pointer move, and a scrubber along an interpolation path. (The Latent map's element,
``scatter_map``, decodes with the same ``assets/decoder.js`` and ``browser_decoder``.)

The decoder runs in the page as plain JavaScript (``assets/decoder.js``), from the layer list and
float32 weights ``vae.export.onnx.decoder_spec`` gives. Weights reach a browser once per run: the
component asks for them (trigger ``need``, naming the decoder's hash) only when its page holds no
decoder of that hash (in memory or IndexedDB), and only that rerun carries them; every other rerun
sends the small spec alone. A decoder the browser cannot run (``vae.export.onnx.Unsupported``) gets a notice, and the page
decodes on the server when a slider is released.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from vae.runs.folder import Run
from vae.export.onnx import BROWSER_WEIGHTS, Unsupported, decoder_spec

ASSETS = Path(__file__).parent / "assets"
NAME = "vae_latent_pad"


def _js() -> str:
    return (ASSETS / "decoder.js").read_text() + "\n" + (ASSETS / "component.js").read_text()


_component = st.components.v2.component(NAME, html='<div class="vae-live"></div>',
                                        css=(ASSETS / "component.css").read_text(), js=_js())


@dataclass(frozen=True)
class BrowserDecoder:
    spec: dict | None  # None: the browser cannot run this decoder
    weights_b64: str
    reason: str  # why not, when spec is None

    @property
    def hash(self) -> str | None:
        return self.spec["hash"] if self.spec else None


def browser_decoder(run: Run, key: tuple) -> BrowserDecoder:
    """The run's decoder for the browser (one copy per run and server; keyed by the run's identity and
    the server's limit on the weights a browser is sent)."""
    return _browser_decoder(run, key, BROWSER_WEIGHTS.value())


@st.cache_resource(max_entries=8, show_spinner=False)
def _browser_decoder(_run: Run, key: tuple, limit: float) -> BrowserDecoder:
    try:
        spec, weights = decoder_spec(_run.model)
    except Unsupported as e:
        return BrowserDecoder(None, "", str(e))
    return BrowserDecoder(spec, base64.b64encode(weights).decode("ascii"), "")


def _send_key(key: str) -> str:
    return f"_{key}_send"


def _on_need(key: str) -> None:
    """The browser lacks the decoder it names: the next draw carries the weights."""
    value = (st.session_state.get(key) or {}).get("need")
    if isinstance(value, str):
        st.session_state[_send_key(key)] = value


def _payload(key: str, dec: BrowserDecoder, fallback_note: str) -> dict:
    send = st.session_state.pop(_send_key(key), None)
    return {"spec": dec.spec, "weights": dec.weights_b64 if dec.spec and send == dec.hash else None,
            "fallback": None if dec.spec else f"{fallback_note} ({dec.reason})"}


def latent_sliders(key: str, run: Run, run_key: tuple, dims: list[dict], z: list[float], radius: float,
                   step: float, focus: int | None, on_release, caption: str = "") -> dict | None:
    """Sliders for ``dims`` (dicts: d, label, title, collapsed; in page order), at latent ``z``.
    A ``z`` different from the last one sent is taken by the browser (unless a drag is under way).
    ``on_release(z)`` is called with the released latent (a list as the browser sent it, unvalidated)."""
    dec = browser_decoder(run, run_key)

    def released() -> None:
        value = (st.session_state.get(key) or {}).get("z")
        if value is not None:
            on_release(value)

    data = {"mode": "sliders", "instance": key, "dims": dims, "z": list(z), "radius": float(radius),
            "step": float(step), "focus": focus, "caption": caption,
            **_payload(key, dec, "This decoder cannot run in the browser, so the image below is decoded on the "
                                  "server when you release a slider")}
    return _component(key=key, data=data, on_z_change=released, on_need_change=lambda: _on_need(key))


def path_scrubber(key: str, run: Run, run_key: tuple, za: list[float], zb: list[float], kind: str,
                  label: str, caption: str = "") -> dict | None:
    """A scrubber t ∈ [0, 1] along the path from za to zb (linear or spherical), decoded live."""
    dec = browser_decoder(run, run_key)
    data = {"mode": "path", "instance": key, "za": list(za), "zb": list(zb), "kind": kind, "label": label,
            "caption": caption, **_payload(key, dec, "This decoder cannot run in the browser, so there is no "
                                                     "live scrubber; the strips above show the path")}
    return _component(key=key, data=data, on_need_change=lambda: _on_need(key))


def browser_supported(run: Run, run_key: tuple, key: str | None = None) -> bool:
    """Whether the browser decodes this run's images (and, with the component's ``key``, whether its
    decoder built there: a browser that failed says so through the state value ``broken``)."""
    dec = browser_decoder(run, run_key)
    if dec.spec is None:
        return False
    return key is None or (st.session_state.get(key) or {}).get("broken") != dec.hash
