"""Home: the current run's model card, samples from the prior, and reconstructions."""
from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from ui.cache import run_dataset
from ui.images import show_grid
from ui.state import require_run
from ui.text import escape_md, safe_md
from vae.analysis.samples import home_figures

run = require_run()
splits = run_dataset(run)
cfg = run.config
last = run.history[-1] if run.history else {}

st.title("VAE Latent Explorer")
ARCH = {"mlp": "an MLP", "conv": "a convolutional"}
st.caption(f"Run **{escape_md(run.name)}**: {ARCH[cfg.model.arch]} VAE with {cfg.model.latent_dim} latent "
           f"dimensions, trained on **{safe_md(splits.source or cfg.data.name)}**.")


def _fmt(key: str, spec: str = ".2f") -> str:
    """A history figure, or '–' when the run's history lacks it (histories are typed, not complete)."""
    v = last.get(key)
    return "–" if v is None else format(v, spec)


def card_ui() -> None:
    cols = st.columns(5)
    cols[0].metric("Test ELBO (nats)", _fmt("test_elbo"),
                   help="E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), per test image, in nats.")
    cols[1].metric("Reconstruction", _fmt("test_rec"), help="E_q[log p(x|z)], nats.")
    cols[2].metric("KL", _fmt("test_kl"), help="KL(q(z|x) ‖ p(z)), nats.")
    au = _fmt("active_units", "d")
    cols[3].metric("Active units", f"{au} of {cfg.model.latent_dim}" if au != "–" else "–",
                   help="Dimensions with Var_x(E_q[z_d]) > 0.01 (Burda et al. 2016).")
    cols[4].metric("Epochs", f"{len(run.history)}")
    with st.expander("Configuration"):
        shown = cfg.to_dict()
        if shown["data"]["data_dir"]:  # the folder's name only: no server path reaches the browser
            shown["data"]["data_dir"] = f"‹{Path(shown['data']['data_dir']).name}›"
        st.json(shown, expanded=True)


card_ui()
seed = st.session_state.setdefault("home_seed", 0)
left, right = st.columns(2)
with left:
    st.subheader("Samples from the prior")
    st.caption("z ~ N(0, I), decoded to E[x|z].")
with right:
    st.subheader("Test images and reconstructions")
    st.caption("Top row: originals; bottom row: E[x|z] at z = μ(x).")
if st.button("New samples", icon=":material/casino:", help="Draw new prior samples and pick other test images."):
    st.session_state["home_seed"] = seed = seed + 1
samples, originals, recons = home_figures(run.model, splits.test.x, seed=seed)
with left:
    show_grid(samples, nrow=8)
with right:
    show_grid(torch.cat([originals, recons]), nrow=len(originals))
