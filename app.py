"""VAE Latent Explorer: the frame. Page config, navigation, and the shared sidebar."""
from __future__ import annotations

import os

import streamlit as st
import torch

from ui.images import app_icon  # the icon ships with the app, inline

st.set_page_config(page_title="VAE Latent Explorer", page_icon=app_icon(), layout="wide")

from ui import sidebar  # noqa: E402  (after set_page_config)
from ui import urlstate  # noqa: E402
from ui.errors import report_errors  # noqa: E402

# Explorer work is many small tensor ops from several sessions at once: one thread per
# op avoids oversubscribing the cores (measured up to 30× faster here under load).
# Training runs in its own process and keeps torch's default.
torch.set_num_threads(int(os.environ.get("VAE_TORCH_THREADS", "1")))

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("pages/traversals.py", title="Traversals", icon=":material/tune:"),
    st.Page("pages/collapse.py", title="Collapse diagnostics", icon=":material/bar_chart:"),
    st.Page("pages/estimators.py", title="Gradient estimators", icon=":material/casino:"),
    st.Page("pages/gaps.py", title="Inference gaps", icon=":material/stacked_bar_chart:"),
    st.Page("pages/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
]

nav = st.navigation(PAGES)
with report_errors("app"):  # an unexpected error: an id in the browser, the traceback in the server log
    urlstate.restore()  # a link's run, before the picker draws (the rest is checked by its page)
    sidebar.render()
    urlstate.write_run()
    link_notes = st.container()  # filled after the page ran: what a link asked for that was ignored
    nav.run()
    urlstate.show_ignored(link_notes, nav.url_path)
