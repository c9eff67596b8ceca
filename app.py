"""VAE Latent Explorer: the frame. Page config, navigation, and the shared sidebar."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/explore:", layout="wide")

from pages import sidebar  # noqa: E402  (after set_page_config)

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("pages/traversals.py", title="Traversals", icon=":material/tune:"),
    st.Page("pages/collapse.py", title="Collapse diagnostics", icon=":material/bar_chart:"),
    st.Page("pages/estimators.py", title="Gradient estimators", icon=":material/casino:"),
]

nav = st.navigation(PAGES)
sidebar.render()
nav.run()
