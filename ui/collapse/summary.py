"""The Collapse page's headline: the metrics that need only the encoded test set (shown at once),
then the Monte-Carlo ones, with the two identities the report checks:
ELBO = reconstruction − KL, and E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z)) (its residual
shown), and a warning when I_q(x; z) is at its estimator's ceiling log M."""
from __future__ import annotations

import numpy as np
import streamlit as st

from vae.analysis.collapse import MI_CEILING_MARGIN, CollapseReport, PosteriorSummary


def _pm(value: float | None, se: float | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None and np.isfinite(se) else "")


def summary_head(post: PosteriorSummary, au: float) -> list:
    """The metrics that need only the encoded test set, shown at once; returns the columns
    the Monte-Carlo metrics fill once their stages are done."""
    cols = st.columns(6)
    n_active = int((post.activity > au).sum())
    cols[0].metric("Active units", f"{n_active} of {len(post.kl)}", help=f"A_d > {au:g}. Exact: no Monte Carlo.")
    cols[1].metric("E_x KL (nats)", f"{float(post.kl.sum()):.3f}",
                   help="Σ_d of the per-dimension mean KL, in closed form: no Monte Carlo.")
    return cols[2:]


def summary_section(report: CollapseReport, cols: list) -> None:
    ceiling = report.mi_ceiling
    se = f"± {report.mi_total_se:.3f} (one Monte-Carlo standard error, {report.replicates} replicates)"
    cols[0].metric("I_q(x; z) (nats)", f"{report.mi_total:.3f}",
                   help=f"He et al. 2019 estimator, {se}. On M = {report.n_mixture:,} points it cannot exceed "
                        f"log M = {ceiling:.3f} nats.")
    cols[1].metric("KL(q(z) ‖ p(z)) (nats)", f"{report.marginal_kl_total:.3f}",
                   help="How far the aggregate posterior q(z) = E_x q(z|x) is from the prior N(0, I), "
                        f"± {report.marginal_kl_total_se:.3f}.")
    if report.elbo is not None:
        cols[2].metric("ELBO (nats)", f"{report.elbo:.2f}",
                       help=f"Per test image: reconstruction − KL, ± {report.elbo_se:.2f} over the test images.")
        cols[3].metric("Rec. (nats)", f"{report.rec:.2f}",
                       help="Reconstruction E_q[log p(x|z)] per test image, one sample of z, "
                            f"± {report.rec_se:.2f} over the test images.")
    st.markdown(
        f"**ELBO = reconstruction − KL:** {_pm(report.elbo, report.elbo_se, 2)} = {_pm(report.rec, report.rec_se, 2)} "
        f"− {report.kl_total:.3f}  \n"
        f"**E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z)):** {report.kl_total:.3f} ≈ "
        f"{_pm(report.mi_total, report.mi_total_se, 3)} + {_pm(report.marginal_kl_total, report.marginal_kl_total_se, 3)}"
        f" (residual {report.identity_residual:+.3f})")
    mix = (f"{report.replicates} subsamples of M = {report.n_mixture:,} posteriors" if report.n_mixture < report.n_points
           else f"all M = {report.n_mixture:,} posteriors, {report.replicates} draws of z per image")
    st.caption(f"Over the {report.n_points:,} test images; ± is one Monte-Carlo standard error. I_q(x; z) and "
               f"KL(q(z) ‖ p(z)) share the mixture q(z) = (1/M) Σ_j q(z|x_j) of {mix} (so the residual is the "
               f"error of E log p(z) alone), and on M points I_q(x; z) ≤ log M = {ceiling:.3f} nats.")
    if report.mi_at_ceiling():
        st.warning(f"I_q(x; z) = {report.mi_total:.3f} nats is within {MI_CEILING_MARGIN:g} nats of log M = "
                   f"{ceiling:.3f}: at the estimator's ceiling, more points are needed (raise the points under "
                   "Estimation settings, or evaluate on a larger test split). The true value may be higher.",
                   icon=":material/vertical_align_top:")
