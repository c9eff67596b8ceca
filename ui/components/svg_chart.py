"""A static SVG chart placed in the page (Streamlit Components v2, no iframe), optionally clickable.

st.html sanitizes with DOMPurify's HTML profile, which removes SVG, and st.image would draw the SVG as
a picture: no value on hover, no click. This component sets the SVG, made by ``ui.svg_charts`` from
escaped text only, as its element's content; a click on a shape with a ``data-click`` value sends that
value (trigger ``click``), which the page checks like any other input."""
from __future__ import annotations

from typing import Callable

import streamlit as st

NAME = "vae_svg_chart"
JS = """export default function ({ parentElement, data, setTriggerValue }) {
  let root = parentElement.querySelector(".vae-svg-chart");
  if (!root) { root = document.createElement("div"); root.className = "vae-svg-chart"; parentElement.append(root); }
  if (root.__svg !== data.svg) { root.innerHTML = data.svg; root.__svg = data.svg; }
  root.onclick = (e) => {
    const hit = e.target.closest && e.target.closest("[data-click]");
    if (hit) setTriggerValue("click", Number(hit.getAttribute("data-click")));
  };
}"""

_component = st.components.v2.component(NAME, html='<div class="vae-svg-chart"></div>', js=JS)


def svg_chart(svg: str, key: str, on_click: Callable[[], None] | None = None) -> None:
    """Place ``svg`` (from ui.svg_charts) in the page; ``key`` keeps the element across reruns. With
    ``on_click``, a click on a shape calls it; ``clicked(key)`` reads the value then."""
    kw = {"on_click_change": on_click} if on_click is not None else {}
    _component(key=key, data={"svg": svg}, **kw)


def click_index(value, n: int) -> int | None:
    """A clicked ``data-click`` value as sent by a browser, if it is an index in [0, n); else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    if not 0 <= value < n or value != int(value):
        return None
    return int(value)


def clicked(key: str, n: int) -> int | None:
    """The ``data-click`` value the browser sent for chart ``key``, if it is an index in [0, n)."""
    return click_index((st.session_state.get(key) or {}).get("click"), n)
