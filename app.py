"""VAE Latent Explorer: the frame. Page config, navigation, and the shared sidebar."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="VAE Latent Explorer", page_icon="🧭", layout="wide")

from pages import sidebar  # noqa: E402  (after set_page_config)

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/latent_map.py", title="Latent map", icon="🗺️"),
    st.Page("pages/traversals.py", title="Traversals", icon="🎚️"),
    st.Page("pages/collapse.py", title="Collapse diagnostics", icon="📉"),
    st.Page("pages/estimators.py", title="Gradient estimators", icon="🎲"),
]

nav = st.navigation(PAGES)
sidebar.render()
nav.run()
