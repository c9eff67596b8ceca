"""Gradient estimator lab: the reparameterization trick against the score function (REINFORCE),
measured on the current run, on a 1-D example with a known answer, and in training.

The tabs' forms, tasks and views are in ``ui.estimators``; the maths in ``vae.analysis.estimators``."""
from __future__ import annotations

import streamlit as st

from ui.cache import run_dataset
from ui.estimators.gumbel import gumbel_panel
from ui.estimators.implicit import implicit_panel
from ui.estimators.model_tab import checked, lab_panel, lab_view, settings_ui
from ui.estimators.toy import toy_tab
from ui.estimators.training import train_tab
from ui.state import require_run
from ui.text import escape_md, safe_md
from vae.data import DataError

run = require_run()
splits = run_dataset(run)

st.title("Gradient estimators")
st.caption("Why VAEs use the reparameterization trick: measure the variance of the score-function (REINFORCE) "
           f"estimator against it on run **{escape_md(run.name)}**.")
with st.expander("What is estimated", expanded=False):
    st.markdown(r"""
Every estimator targets the gradient of the batch-mean ELBO with respect to the **encoder** parameters φ:
$g = \nabla_\phi \frac1B\sum_b \big(\mathbb E_{q_\phi(z|x_b)}[\log p_\theta(x_b|z)] - \mathrm{KL}(q_\phi(z|x_b)\,\|\,p(z))\big)$.
The KL is analytic and its gradient is added identically to all three, so they differ only in how they
estimate $\nabla_\phi \mathbb E_q[f(z)]$, $f(z)=\log p_\theta(x|z)$, from $L$ samples:

- **reparameterization**: $\frac1L\sum_l \nabla_\phi f(\mu_\phi + \sigma_\phi\odot\varepsilon_l)$, $\varepsilon_l\sim\mathcal N(0,I)$;
- **score function**: $\frac1L\sum_l f(z_l)\,\nabla_\phi \log q_\phi(z_l|x)$, unbiased because $\mathbb E_q[\nabla_\phi\log q_\phi]=0$;
- **score function + baseline**: $\frac1L\sum_l (f(z_l)-b)\,\nabla_\phi \log q_\phi(z_l|x)$, with a control variate $b$
  that does not depend on $z_l$, so the mean is unchanged.

Variance is the trace of the covariance of one estimate, $\mathrm{tr}\,\mathrm{Cov}[\hat g]$, estimated from $K$
independent estimates on the same batch. SNR is $\|g\| / \sqrt{\mathrm{tr}\,\mathrm{Cov}[\hat g]}$, with
$\|g\|^2$ estimated without bias as $\|\bar g\|^2 - \mathrm{tr}\,\mathrm{Cov}/K$.
""")


def model_tab() -> None:
    """The gradient lab on this run: its settings, the study's task, then what it measured."""
    settings, submitted = settings_ui(run)
    if settings is None:
        st.info("Choose the settings and press **Run comparison** to draw the gradient estimates.")
        return
    lab = checked(run, settings, len(splits.test.x))
    if lab is None:
        return
    tables = lab_panel(run, splits.test.x, lab, again=submitted)  # a click retries a failed or stopped study
    if tables is not None:
        lab_view(tables, lab)


def training_tab() -> None:
    try:
        train_tab()
    except DataError as e:
        st.error(f"The digits dataset cannot be loaded: {safe_md(e)}")


# Lazy tabs: only the open tab's content runs on a rerun.
tabs = st.tabs(["Your model", "1-D worked example", "Training comparison", "Gumbel-softmax",
                "Implicit reparameterization"], key="est_tab", on_change="rerun")
for tab, section in zip(tabs, (model_tab, toy_tab, training_tab, gumbel_panel, implicit_panel)):
    if tab.open:
        with tab:
            section()
