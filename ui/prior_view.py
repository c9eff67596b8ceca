"""A run's prior p(z) on the pages: the words that name it (where a page samples "from the prior"),
its components on the Latent map (for a VampPrior, the pseudo-inputs and their decodings), and the
note the Collapse page gives where a statistic assumes N(0, I). The numbers come from ``vae.model.priors``."""
from __future__ import annotations

import streamlit as st

from ui.cache import run_identity
from ui.images import show_grid
from vae.runs.folder import Run
from vae.config import MAX_PRIOR_COMPONENTS, PRIORS
from vae.model.priors import prior_components
from vae.model.evaluation import KL_EVAL_SAMPLES

GALLERY_LIMIT = 32
PRIOR_LABELS = {"standard": "standard normal N(0, I)", "mog": "learned mixture of Gaussians",
                "vamp": "VampPrior (learned pseudo-inputs)"}


def prior_ui() -> tuple[str, int]:
    """The Train form's prior fields (inside the form): (prior, components)."""
    c = st.columns(4)
    prior = c[0].selectbox("Prior p(z)", PRIORS, format_func=PRIOR_LABELS.get, key="train_prior",
                           help="N(0, I) has a closed-form KL. A learned mixture and the VampPrior (Tomczak & "
                                "Welling 2018) can fit the aggregate posterior, a remedy for collapse; their KL is "
                                "a Monte-Carlo estimate. Free bits need N(0, I).")
    k = c[1].number_input("Prior components K", 1, MAX_PRIOR_COMPONENTS, 10, key="train_prior_k",
                          help="Mixture components, or VampPrior pseudo-inputs. Unused by N(0, I).")
    return prior, int(k)


def prior_words(run: Run) -> str:
    """'N(0, I)', 'a learned mixture of 10 Gaussians', 'a VampPrior of 10 pseudo-inputs'."""
    m = run.config.model
    if m.prior == "mog":
        return f"a learned mixture of {m.prior_components} Gaussians"
    if m.prior == "vamp":
        return f"a VampPrior of {m.prior_components} learned pseudo-inputs"
    return "N(0, I)"


def kl_words(run: Run) -> str:
    """How a run's KL is computed, for help texts."""
    if run.config.model.prior == "standard":
        return "in closed form"
    return (f"a Monte-Carlo estimate ({KL_EVAL_SAMPLES} draws per image): this run's prior, {prior_words(run)}, "
            "has no closed-form KL")


def sample_caption(run: Run) -> str:
    """The caption of decoded prior samples: z drawn from this run's own prior."""
    return f"z ~ p(z), this run's prior: {prior_words(run)}; decoded to E[x|z]."


@st.cache_data(max_entries=8, show_spinner=False)
def _components(_run: Run, key: tuple) -> dict:
    return prior_components(_run.model, GALLERY_LIMIT)


def components_panel(run: Run) -> None:
    """The Latent map's hook: an expander with the prior's components (nothing for N(0, I))."""
    if run.config.model.prior == "standard":
        return
    comp = _components(run, run_identity(run))
    shown = f"the {comp['shown']} heaviest of " if comp["shown"] < comp["components"] else ""
    with st.expander(f"The prior's components ({prior_words(run)})"):
        if comp["kind"] == "vamp":
            st.caption(f"p(z) = (1/K) Σ_k q(z | u_k): {shown}{comp['components']} pseudo-inputs u_k, learned images "
                       "passed through the encoder (Tomczak & Welling 2018).")
            show_grid(comp["pseudo_inputs"], nrow=8, caption="Pseudo-inputs u_k", min_cell=40)
            show_grid(comp["decoded"], nrow=8, caption="Their decodings E[x | z = μ(u_k)]", min_cell=40)
        else:
            st.caption(f"p(z) = Σ_k w_k N(z; m_k, diag s_k²): {shown}{comp['components']} learned components, "
                       "heaviest first, each mean m_k decoded to E[x | z = m_k].")
            show_grid(comp["decoded"], nrow=8, min_cell=40,
                      caption="Weights: " + ", ".join(f"{w:.2f}" for w in comp["weights"]))


def collapse_note(run: Run) -> None:
    """The Collapse page's hook: where its statistics assume N(0, I) although this run's prior is not."""
    if run.config.model.prior == "standard":
        return
    st.info(f"This run's prior is {prior_words(run)}, not N(0, I). On this page the **KL per dimension** (and the "
            "'collapsed' verdict drawn from it), the aggregate posterior's **marginal KL**, the posteriors' reference "
            "curve and σ = 1 line, and δ measured in prior standard deviations all **assume N(0, I)**: they say how "
            "far each dimension is from a standard normal, not from this prior. The mutual information, active "
            "units and decoder sensitivity do not involve the prior. The **training history**'s KL per dimension is "
            "against this prior's one-dimensional marginals p(z_d), a Monte-Carlo estimate (a mixture prior does "
            "not factorize, so the dimensions need not add up to the total KL, itself Monte Carlo).",
            icon=":material/info:")
