"""Home: what the tool shows and where to start, the current run's card, its figures,
samples from the prior, and reconstructions."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.cache import run_dataset, run_evaluation
from ui.images import show_grid
from ui.prior_view import kl_words, sample_caption
from ui.state import require_run
from ui.text import escape_md, plain_text, safe_md
from vae.analysis.samples import home_figures
from vae.model.family import posterior_label
from vae.runs.validate import CARD, read_card_file

# The four things people come for, each a page of the app (paths as routed by app.py).
START_HERE = [
    ("pages/latent_map.py", "Click a point on the map", ":material/scatter_plot:",
     "Where every test image lands in latent space; click one to see it and its reconstruction."),
    ("pages/traversals.py", "Drag latent sliders", ":material/tune:",
     "Move one latent dimension at a time and watch the decoded image change."),
    ("pages/collapse.py", "See which dimensions collapsed", ":material/bar_chart:",
     "Which dimensions carry information and which fell back onto the prior."),
    ("pages/train.py", "Train your own", ":material/model_training:",
     "Pick a dataset, a model and β; follow the training live."),
]


def start_here_ui() -> None:
    st.title("VAE Latent Explorer")
    st.markdown("A variational autoencoder compresses each image into a few numbers, its latent code *z*, "
                "and learns to draw the image back from them.  \n"
                "This app opens a trained one up: where images land in latent space, what each dimension "
                "draws, and which dimensions the model stopped using.")
    cols = st.columns(2)  # two by two: four across would cut the labels short
    for i, (path, label, icon, tip) in enumerate(START_HERE):
        with cols[i % 2].container(border=True):
            st.page_link(path, label=label, icon=icon, help=tip)
            st.markdown(f":gray[{tip}]")  # constant text (not st.caption: the run caption stays the first)


def run_card_ui(run_dir: Path) -> None:
    """The run's card.md, if it has one: untrusted text, so every paragraph is escaped and a
    ``$ command`` paragraph is shown as literal code."""
    card = read_card_file(run_dir / CARD)
    if not card:
        return
    with st.expander("About this run", expanded=True, icon=":material/info:"):
        for par in (p.strip() for p in card.split("\n\n")):
            if par.startswith("$ "):
                st.code(plain_text(par[2:], 600), language="bash", wrap_lines=True)
            elif par:
                st.markdown(safe_md(par, 1500))


start_here_ui()
run = require_run()
splits = run_dataset(run)
cfg = run.config

ARCH = {"mlp": "an MLP", "conv": "a convolutional"}
st.caption(f"Run **{escape_md(run.name)}**: {ARCH[cfg.model.arch]} VAE with {cfg.model.latent_dim} latent "
           f"{'variables' if cfg.model.posterior == 'categorical' else 'dimensions'}, posterior q(z|x): "
           f"**{escape_md(posterior_label(cfg.model))}**, trained on **{safe_md(splits.source or cfg.data.name)}**.")


def card_ui() -> None:
    ev = run_evaluation(run)  # the one stored evaluation of the run: the numbers Collapse shows too
    cols = st.columns(5)
    cols[0].metric("Test ELBO (nats)", f"{ev.elbo:.2f}",
                   help=f"E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), per test image, in nats; ± {ev.elbo_se:.2f} "
                        f"(one standard error over the {ev.n_points:,} test images, one sample of z each).")
    cols[1].metric("Reconstruction", f"{ev.rec:.2f}", help=f"E_q[log p(x|z)], nats, ± {ev.rec_se:.2f}.")
    cols[2].metric("KL", f"{ev.kl:.2f}", help=f"KL(q(z|x) ‖ p(z)), nats, {kl_words(run)}, ± {ev.kl_se:.2f}.")
    cols[3].metric("Active units", f"{ev.active_units} of {cfg.model.latent_dim}",
                   help="Dimensions with Var_x(E_q[z_d]) > 0.01 (Burda et al. 2016).")
    cols[4].metric("Epochs", f"{len(run.history)}")
    with st.expander("Configuration"):
        shown = cfg.to_dict()
        if shown["data"]["data_dir"]:  # the folder's name only: no server path reaches the browser
            shown["data"]["data_dir"] = f"‹{Path(shown['data']['data_dir']).name}›"
        st.json(shown, expanded=True)


card_ui()
run_card_ui(run.path)
seed = st.session_state.setdefault("home_seed", 0)
left, right = st.columns(2)
with left:
    st.subheader("Samples from the prior")
    st.caption(sample_caption(run))
with right:
    st.subheader("Test images and reconstructions")
    st.caption("Top row: originals; bottom row: E[x|z] at z = μ(x).")
if st.button("New samples", icon=":material/casino:", help="Draw new prior samples and pick other test images."):
    st.session_state["home_seed"] = seed = seed + 1
samples, pairs = home_figures(run.model, splits.test.x, seed=seed)  # pairs: originals over reconstructions
with left:
    show_grid(samples, nrow=8)
with right:
    show_grid(pairs, nrow=len(pairs) // 2)
