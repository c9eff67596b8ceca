"""The Train form's posterior options: q(z|x) a diagonal Gaussian, a Gaussian pushed through planar
or inverse autoregressive flow steps, D categorical variables (Gumbel-softmax), or a Dirichlet on the
simplex; read into the ``ModelConfig`` and ``TrainConfig`` fields they set. The pages' views of such
runs are in ``ui.posterior_view``."""
from __future__ import annotations

import streamlit as st

from vae.config import POSTERIORS

POSTERIOR_HELP = {
    "gaussian": "Diagonal Gaussian N(μ, σ²): the standard VAE.",
    "planar": "Gaussian pushed through planar flow steps z + û·tanh(wᵀz + b) (Rezende & Mohamed 2015): "
              "a posterior that can bend; KL by Monte Carlo.",
    "iaf": "Gaussian pushed through inverse autoregressive flow steps (Kingma et al. 2016), conditioned on "
           "the encoder: a richer posterior at a small cost; KL by Monte Carlo.",
    "categorical": "D independent categorical variables (D: the latent size) of K classes each, trained with "
                   "the Gumbel-softmax relaxation; the ELBO reported is the discrete model's.",
    "dirichlet": "A point on the simplex of D components (Dirichlet posterior, symmetric Dirichlet prior), "
                 "trained with implicit reparameterization gradients.",
}


def posterior_form_ui() -> tuple[dict, dict]:
    """Inside the Train form: the posterior and its options -> (ModelConfig fields, TrainConfig fields).
    Options that do not apply to the chosen posterior are ignored (a form cannot hide them live)."""
    c = st.columns(4)
    post = c[0].selectbox("Posterior q(z|x)", POSTERIORS, key="train_posterior",
                          help="  \n".join(f"**{k}**: {v}" for k, v in POSTERIOR_HELP.items()))
    steps = c[1].number_input("Flow steps K", 0, 64, 4, help="planar / iaf: the number of flow steps "
                              "(0 is exactly the Gaussian).")
    cats = c[2].number_input("Classes per variable", 2, 256, 10, help="categorical: classes K of each of the "
                             "D categorical variables.")
    conc = c[3].number_input("Prior concentration α₀", 0.001, 1000.0, 1.0, 0.1, format="%.3g",
                             help="dirichlet: the symmetric Dirichlet prior's α₀ (1 is uniform on the simplex).")
    c = st.columns(4)
    tau = c[0].number_input("Temperature τ", 0.01, 100.0, 1.0, 0.1, help="categorical: the Gumbel-softmax "
                            "temperature at the first epoch; low τ is close to one-hot but its gradients are noisy.")
    tau_min = c[1].number_input("Minimum τ", 0.01, 100.0, 0.5, 0.1, help="categorical: τ anneals down to this.")
    anneal = c[2].number_input("τ anneal rate", 0.0, 10.0, 0.0, 0.01, format="%.3g",
                               help="categorical: τ = max(τ_min, τ·exp(−rate·(epoch − 1))); 0 keeps τ fixed.")
    st_flag = c[3].checkbox("Straight-through", help="categorical: hard one-hot samples forward, the relaxed "
                            "gradient backward.")
    model = {"posterior": post, "flow_steps": int(steps), "categories": int(cats), "prior_concentration": float(conc)}
    train = {"temperature": float(tau), "temperature_min": float(tau_min), "temperature_anneal": float(anneal),
             "straight_through": bool(st_flag)}
    return model, train
