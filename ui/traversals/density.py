"""Is the slider latent on the data manifold? log q(z) under the aggregate posterior
q(z) = (1/M) Σₙ q(z|xₙ) of the test images, drawn against the histogram of log q at samples
z ~ q(z) (the data's own range); below its 1st percentile the decoder is extrapolating."""
from __future__ import annotations

import streamlit as st

from ui.components.svg_chart import svg_chart
from ui.svg_charts import density_svg
from ui.traversals.compute import aggregate
from vae.analysis import traversal_images as ti
from vae.runs.folder import Run


def density_ui(run: Run, key: tuple, z: list[float]) -> None:
    view = aggregate(run, key)
    agg = view.posterior
    check = ti.density(agg, z)
    st.markdown("**Is this latent on the data manifold?**")
    used = (f"a seeded subsample of M = {agg.n_components:,} of the {agg.n_data:,} test images" if agg.subsampled
            else f"all M = {agg.n_components:,} test images")
    st.caption(f"log q(z) under the aggregate posterior q(z) = (1/M) Σₙ q(z|xₙ) over {used}, against the "
               "histogram of log q at samples z ~ q(z) (the data's own range; the dashed line is its 1st percentile).")
    svg_chart(density_svg(view.lo, view.hi, view.counts, view.centres, check.log_q, check.low,
                          check.off_manifold), key="trav_density")
    if check.off_manifold:
        st.warning(f"Off the data manifold: log q(z) = {check.log_q:.1f} nats is below {check.percentile:.1f}% … "
                   f"the data's 1st percentile is {check.low:.1f}. No test image's posterior puts mass here, "
                   "so the decoder was never trained on this region and its output is extrapolation.",
                   icon=":material/warning:")
    else:
        st.success(f"log q(z) = {check.log_q:.1f} nats, above {check.percentile:.0f}% of the data's own values "
                   f"(median {check.median:.1f}).", icon=":material/check_circle:")
