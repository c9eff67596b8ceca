"""A static SVG chart placed in the page (Streamlit Components v2, no iframe).

st.html sanitizes with DOMPurify's HTML profile, which removes SVG, and st.image would draw the SVG
as a picture whose bars show no value on hover. This component sets the SVG, made by
``ui.svg_charts`` from escaped text only, as its element's content."""
from __future__ import annotations

import streamlit as st

NAME = "vae_svg_chart"
JS = """export default function ({ parentElement, data }) {
  let root = parentElement.querySelector(".vae-svg-chart");
  if (!root) { root = document.createElement("div"); root.className = "vae-svg-chart"; parentElement.append(root); }
  if (root.__svg !== data.svg) { root.innerHTML = data.svg; root.__svg = data.svg; }
}"""

_component = st.components.v2.component(NAME, html='<div class="vae-svg-chart"></div>', js=JS)


def svg_chart(svg: str, key: str) -> None:
    """Place ``svg`` (from ui.svg_charts) in the page; ``key`` keeps the element across reruns."""
    _component(key=key, data={"svg": svg})
