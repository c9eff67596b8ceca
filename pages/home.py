"""Home: the current run's model card, samples from the prior, and reconstructions."""
from __future__ import annotations

import streamlit as st
import torch

from pages.common import require_run, run_dataset, show_grid
from vae.analysis.samples import home_figures

run = require_run()
splits = run_dataset(run)
cfg = run.config
last = run.history[-1] if run.history else {}

st.title("VAE Latent Explorer")
ARCH = {"mlp": "an MLP", "conv": "a convolutional"}
st.caption(f"Run **{run.name}**: {ARCH[cfg.model.arch]} VAE with {cfg.model.latent_dim} latent dimensions, "
           f"trained on **{splits.source or cfg.data.name}**.")


def card_ui() -> None:
    cols = st.columns(5)
    cols[0].metric("Test ELBO (nats)", f"{last['test_elbo']:.2f}" if last else "–",
                   help="E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), per test image, in nats.")
    cols[1].metric("Reconstruction", f"{last['test_rec']:.2f}" if last else "–", help="E_q[log p(x|z)], nats.")
    cols[2].metric("KL", f"{last['test_kl']:.2f}" if last else "–", help="KL(q(z|x) ‖ p(z)), nats.")
    cols[3].metric("Active units", f"{last['active_units']} of {cfg.model.latent_dim}" if last else "–",
                   help="Dimensions with Var_x(E_q[z_d]) > 0.01 (Burda et al. 2016).")
    cols[4].metric("Epochs", f"{len(run.history)}")
    with st.expander("Configuration"):
        st.json(cfg.to_dict(), expanded=True)


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
