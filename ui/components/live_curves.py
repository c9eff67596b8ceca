"""The Train page's live curves (Streamlit Components v2): a running job's ELBO, reconstruction and KL
per epoch, and its KL per latent dimension per epoch, drawn on canvases by the browser.

The plotly charts cost the browser a full redraw on every tick (a few hundred milliseconds of CPU on
the machine that trains: bench/browser.py), so while a job runs the page sends only the epochs this
browser has not drawn yet and the component appends them: each record once, nothing between epochs.
The component says how many points it holds (trigger ``need``) when it lacks some (a reload, a
remount), and the next tick sends from there. When the job ends the page draws the full plotly charts.
"""
from __future__ import annotations

import math
from pathlib import Path

import streamlit as st

ASSETS = Path(__file__).parent / "assets"
NAME = "vae_live_curves"
SERIES = (("train_elbo", "train ELBO", 1.0), ("test_elbo", "test ELBO", 1.0),
          ("test_rec", "−E_q[log p(x|z)]", -1.0), ("test_kl", "KL(q ‖ p)", 1.0))

_component = st.components.v2.component(NAME, html='<div class="vae-curves"></div>',
                                        css=(ASSETS / "live_curves.css").read_text(),
                                        js=(ASSETS / "live_curves.js").read_text())


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def point(rec: dict, i: int) -> dict:
    """One history record as the component draws it: epoch, the four curves' values (None where a record
    lacks one) and the test KL of each latent dimension (None without a usable list)."""
    kl = rec.get("kl_per_dim")
    kl = [_num(v) for v in kl] if isinstance(kl, list) and kl else None
    ep = _num(rec.get("epoch"))
    values = []
    for k, _, sign in SERIES:
        v = _num(rec.get(k))
        values.append(None if v is None else sign * v)
    return {"epoch": int(ep) if ep is not None else i + 1, "v": values, "kl": kl}


def delta(history: list[dict], job: str, sent: dict | None, need: int | None) -> tuple[dict, dict]:
    """What this tick sends: (the component's data, the new ``sent`` record). ``sent`` is
    {"job", "n"} from the last tick (None: nothing yet); ``need``, the count of points the browser
    says it holds when it lacks some. Only records from that count on are sent."""
    start = 0
    if sent is not None and sent.get("job") == job:
        start = int(sent.get("n", 0))
    if need is not None:
        start = max(0, min(start, int(need)))
    start = min(start, len(history))
    data = {"job": job, "start": start, "points": [point(r, start + i) for i, r in enumerate(history[start:])],
            "names": [name for _, name, _ in SERIES]}
    return data, {"job": job, "n": len(history)}


def live_curves(key: str, job: str, history: list[dict]) -> None:
    """The live charts of job ``job`` (a name that changes with each job) from its history records."""
    sent_key, need_key = f"_{key}_sent", f"_{key}_need"

    def on_need() -> None:
        value = (st.session_state.get(key) or {}).get("need")
        if isinstance(value, (int, float)) and value >= 0:
            st.session_state[need_key] = int(value)

    data, sent = delta(history, job, st.session_state.get(sent_key), st.session_state.pop(need_key, None))
    st.session_state[sent_key] = sent
    _component(key=key, data={**data, "instance": key}, on_need_change=on_need)
