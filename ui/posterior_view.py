"""The pages' views of runs whose posterior is not a diagonal Gaussian (flows, categorical,
Dirichlet), called from a hook at the top of Latent map, Traversals and Collapse: each ``*_page``
returns False for a Gaussian run (the page goes on as before) and otherwise draws the adapted
page and returns True. No tensor math here: the numbers come from ``vae.analysis.posterior_views``.
(The Train form's posterior options are in ``ui.train.posteriors``.)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.cache import run_dataset, run_identity
from ui.components.scatter_map import map_points, map_selection, picked, scatter_map
from ui.figures import ACCENT, MARGIN, PALETTE, axis, figure, layout
from ui.images import show_image, show_image_inline
from ui.selection import map_pick
from ui.text import escape_md
from vae.analysis import posterior_views as pv
from vae.analysis.projection.methods import project
from vae.analysis.projection.points import Colour, stratified_cap
from vae.runs.folder import Run
from vae.model.family import posterior_label

MAP_CAP = 1_000  # points on a non-Gaussian run's map (each flow mean costs MEAN_SAMPLES draws)
KL_CAP = 1_000  # images behind the collapse report

def kind(run: Run) -> str:
    return getattr(run.config.model, "posterior", "gaussian")


# ---------------------------------------------------------------- cached compute

@st.cache_data(max_entries=8, show_spinner="Placing the images…")
def _points(_run: Run, key: tuple, split: str, cap: int) -> tuple[np.ndarray, pv.MapPoints]:
    ds = getattr(run_dataset(_run), split)
    idx = stratified_cap(ds.y.numpy(), cap, 0)
    return idx, pv.map_points(_run.model, ds.x[idx])


@st.cache_data(max_entries=8, show_spinner="Estimating the KL of every image…")
def _kl(_run: Run, key: tuple, cap: int) -> pv.KLReport:
    x = run_dataset(_run).test.x[:cap]
    return pv.kl_report(_run.model, x)


@st.cache_data(max_entries=8, show_spinner=False)
def _dims(_run: Run, key: tuple) -> tuple[int, int]:
    return pv.informative_dims(_run.model, run_dataset(_run).test.x)


# ---------------------------------------------------------------- figures (plain dicts)

def cloud_figure(cloud: pv.Cloud, height: int = 320) -> dict:
    s, e = cloud.samples, cloud.ellipse
    traces = [dict(type="scatter", x=s[:, 0], y=s[:, 1], mode="markers", name="samples of q(z|x)",
                   marker=dict(size=4, color=PALETTE[0], opacity=0.5)),
              dict(type="scatter", x=e[:, 0], y=e[:, 1], mode="lines", name="Gaussian with the same moments (2σ)",
                   line=dict(color=ACCENT, dash="dash")),
              dict(type="scatter", x=[cloud.mean[0]], y=[cloud.mean[1]], mode="markers", name="mean",
                   marker=dict(size=10, color=ACCENT, symbol="x"))]
    a, b = cloud.dims
    return figure(traces, layout(height=height, margin=dict(MARGIN, t=30), legend=dict(orientation="h", y=-0.25),
                                 xaxis=axis(f"z{a}"), yaxis=axis(f"z{b}", scaleanchor="x")))


def ternary_figure(xy: np.ndarray, colour: np.ndarray, names: list[str], height: int = 520) -> dict:
    corners = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0, 0]])
    traces = [dict(type="scatter", x=corners[:, 0], y=corners[:, 1], mode="lines", line=dict(color="gray"),
                   showlegend=False, hoverinfo="skip")]
    for c in np.unique(colour):
        m = colour == c
        traces.append(dict(type="scatter", x=xy[m, 0], y=xy[m, 1], mode="markers",
                           name=names[int(c)] if 0 <= int(c) < len(names) else str(int(c)),
                           marker=dict(size=6, color=PALETTE[int(c) % len(PALETTE)])))
    notes = [dict(x=x, y=y, text=t, showarrow=False, yshift=s) for x, y, t, s in
             ((0, 0, "z0", -12), (1, 0, "z1", -12), (0.5, np.sqrt(3) / 2, "z2", 12))]
    return figure(traces, layout(height=height, annotations=notes, xaxis=axis(None, visible=False),
                                 yaxis=axis(None, visible=False, scaleanchor="x")))


def kl_bars_figure(rep: pv.KLReport, title: str) -> dict:
    names = [r.get("dimension") or r.get("variable") for r in rep.rows]
    err = None if rep.per_dim_se is None else dict(type="data", array=[2 * v for v in rep.per_dim_se])
    trace = dict(type="bar", x=names, y=rep.per_dim, marker_color=PALETTE[0], name="KL",
                 hovertemplate="%{x}: %{y:.3f} nats<extra></extra>")
    if err:
        trace["error_y"] = err
    lay = layout(title, xaxis=axis(None), yaxis=axis("nats"))
    if rep.bound is not None:
        lay["shapes"] = [dict(type="line", xref="paper", x0=0, x1=1, y0=rep.bound, y1=rep.bound,
                              line=dict(color="gray", dash="dot"))]
    return figure([trace], lay)


# ---------------------------------------------------------------- Latent map

def latent_map_page(run: Run) -> bool:
    if kind(run) == "gaussian":
        return False
    splits = run_dataset(run)
    key = run_identity(run)
    st.title("Latent map")
    st.caption(f"Run **{escape_md(run.name)}** has a **{escape_md(posterior_label(run.config.model))}** posterior.")
    ds = splits.test
    cap = min(MAP_CAP, len(ds))
    idx, pts = _points(run, key, "test", cap)
    labels = ds.y.numpy()[idx]
    st.markdown(f"Each dot is one of **{len(idx):,}** test images (a class-stratified subsample of {len(ds):,}), "
                f"placed at {escape_md(pts.what)}.")
    colour_by = "label"
    if pts.classes is not None:
        opts = ["label"] + [f"c{v}" for v in range(pts.classes.shape[1])]
        colour_by = st.selectbox("Colour by", opts, key="pv_colour",
                                 format_func=lambda o: "Label" if o == "label" else f"argmax class of variable {o}")
    if pts.alpha is not None and pts.points.shape[1] == 3:
        st.caption("K = 3: the simplex itself, as a ternary plot (each corner is one component).")
        st.plotly_chart(ternary_figure(pv.ternary_xy(pts.points), labels, ds.class_names), key="pv_ternary")
    proj = project(pts.points, "pca")
    if colour_by == "label":
        colour = Colour(labels.astype(int), "label", True)
        names = ds.class_names
    else:
        v = int(colour_by[1:])
        colour = Colour(pts.classes[:, v].astype(int), f"class of c{v}", True)
        names = [f"class {k}" for k in range(int(run.config.model.categories))]
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.caption(f"PCA of those points (PC1 {100 * proj.explained[0]:.1f}%, PC2 {100 * proj.explained[1]:.1f}% "
                   "of their variance). Click a point.")
        shown = st.session_state.get("pv_index")
        points = map_points(proj, idx, colour, names, colour.values if colour_by != "label" else labels,
                            invertible=False)  # a PCA of these points, not of the latents a decoder takes
        scatter_map("pv_map", points, f"{run.name}|{cap}", map_selection(idx, {"kind": "point", "indices": [shown]}
                                                                         if shown is not None else {}),
                    on_select=lambda: _on_map_select(idx, proj))
    with right:
        i = st.number_input("Inspect test image #", 0, len(ds) - 1, value=None, key="pv_index",
                            placeholder=f"0 … {len(ds) - 1}", help="Or click a point on the map.")
        if i is None:
            st.info("**Click a point** to see its image, its reconstruction and a cloud of samples from q(z|x).")
        else:
            _point_panel(run, ds, int(i), key)
    return True


def _on_map_select(idx: np.ndarray, proj) -> None:
    """A clicked point becomes the inspected image (set before the number input is drawn); a group or
    anything malformed changes nothing (this map has no inverse: no click on empty space)."""
    sel = map_pick(picked("pv_map"), idx, proj.xy, invertible=False)
    if sel is not None and sel.kind == "point":
        st.session_state["pv_index"] = int(sel.indices[0])


def _point_panel(run: Run, ds, i: int, key: tuple) -> None:
    x = ds.x[i:i + 1]
    dims = _dims(run, key)
    cloud = pv.sample_cloud(run.model, x, dims)
    st.subheader(f"Test image #{i}")
    a, b = st.columns(2)
    with a:
        show_image(ds.x[i], caption=f"Original #{i}", width=140)
    with b:
        show_image(pv.reconstruction(run.model, x), caption="E[x|z] at the point on the map", width=140)
    st.caption(f"{len(cloud.samples)} samples of q(z|x) on z{dims[0]} and z{dims[1]}, the two dimensions whose "
               f"posterior means vary most over the data. {cloud.note}")
    st.plotly_chart(cloud_figure(cloud), key="pv_cloud", config={"displayModeBar": False})


# ---------------------------------------------------------------- Traversals

def traversals_page(run: Run) -> bool:
    post = kind(run)
    if post == "gaussian":
        return False
    ds = run_dataset(run).test
    st.title("Traversals")
    st.caption(f"Run **{escape_md(run.name)}**: {escape_md(posterior_label(run.config.model))} posterior.")
    i = st.number_input("Start from test image #", 0, len(ds) - 1, 0, key="pv_trav_index")
    x = ds.x[int(i):int(i) + 1]
    if post == "categorical":
        _categorical_controls(run, x)
    elif post == "dirichlet":
        _dirichlet_controls(run, x)
    else:
        _flow_sliders(run, x)
    return True


def _flow_sliders(run: Run, x) -> None:
    start = pv.map_points(run.model, x).points[0]
    d = len(start)
    left, right = st.columns([2, 1])
    with left:
        st.markdown("One slider per latent dimension, as for a Gaussian run. They start at the image's posterior "
                    "mean E_q[z], estimated from samples of the flow posterior (the flow's q is not centred on the "
                    "base Gaussian's μ).")
        cols = st.columns(min(4, d))
        z = [cols[j % len(cols)].slider(f"z{j}", -4.0, 4.0, float(np.clip(round(float(start[j]), 2), -4, 4)), 0.01,
                                        key=f"pv_z_{int(st.session_state.get('pv_trav_index', 0))}_{j}")
             for j in range(d)]
    with right:
        show_image_inline(pv.decode_latent(run.model, pv.as_latent(z)), caption="E[x|z] at the slider latent",
                          min_size=224, key="pv-flow-image")
        show_image(x[0], caption="The test image", width=112)


def _categorical_controls(run: Run, x) -> None:
    logits, chosen0 = pv.categorical_start(run.model, x)
    n_vars, k = logits.shape
    left, right = st.columns([2, 1])
    with left:
        st.markdown("Switch each categorical variable's class; the image is decoded from the one-hot vectors "
                    "(τ = 0) or from relaxed mixtures between classes (higher τ).")
        tau = st.slider("Temperature τ", 0.0, 5.0, 0.0, 0.01, key="pv_tau",
                        help="softmax(log π / τ) per variable, with the chosen class leading: τ = 0 is the one-hot "
                             "of the chosen classes, τ = 1 the posterior's own probabilities, large τ near uniform.")
        cols = st.columns(min(4, n_vars))
        chosen = []
        for v in range(n_vars):
            chosen.append(int(cols[v % len(cols)].selectbox(
                f"Variable c{v}", range(k), index=int(chosen0[v]), key=f"pv_class_{int(st.session_state.get('pv_trav_index', 0))}_{v}",
                help=f"The posterior's most likely class is {int(chosen0[v])}.")))
    z = pv.categorical_latent(logits, chosen, tau)
    with right:
        show_image_inline(pv.decode_latent(run.model, z), caption="E[x|z] at the chosen classes", min_size=224,
                          key="pv-cat-image")
        show_image(x[0], caption="The test image", width=112)


def _dirichlet_controls(run: Run, x) -> None:
    mean = pv.dirichlet_start(run.model, x)
    k = len(mean)
    left, right = st.columns([2, 1])
    with left:
        st.markdown("Move along the simplex: the weights are normalized to sum to 1 and decoded.")
        cols = st.columns(min(4, k))
        w = [cols[j % len(cols)].slider(f"z{j}", 0.0, 1.0, float(round(mean[j], 3)), 0.01,
                                        key=f"pv_w_{int(st.session_state.get('pv_trav_index', 0))}_{j}")
             for j in range(k)]
    z = pv.dirichlet_latent(w)
    with right:
        show_image_inline(pv.decode_latent(run.model, z), caption="E[x|z] at the point on the simplex", min_size=224,
                          key="pv-dir-image")
        st.caption("z = (" + ", ".join(f"{v:.2f}" for v in z.tolist()) + ")")


# ---------------------------------------------------------------- Collapse

def collapse_page(run: Run) -> bool:
    if kind(run) == "gaussian":
        return False
    post = kind(run)
    key = run_identity(run)
    st.title("Collapse diagnostics")
    st.caption(f"Run **{escape_md(run.name)}**: {escape_md(posterior_label(run.config.model))} posterior.")
    n = min(KL_CAP, len(run_dataset(run).test))
    rep = _kl(run, key, n)
    c = st.columns(3)
    se = f" ± {rep.total_se:.3f}" if rep.total_se is not None else ""
    c[0].metric("KL(q(z|x) ‖ p(z))", f"{rep.total:.3f}{se}", help="Mean over the first "
                f"{n:,} test images, nats; ± one Monte-Carlo standard error where it is estimated.")
    c[1].metric("Active units", "not defined", help="Var_x E_q[z_d] is a statement about Gaussian posterior "
                "means; it is not computed for this posterior.")
    c[2].metric("Mutual information", "not defined", help="The page's MI estimator assumes Gaussian posteriors; it "
                "is not computed for this posterior.")
    st.caption(rep.note)
    if rep.per_dim is not None:
        what = "variable" if post == "categorical" else "dimension"
        st.plotly_chart(kl_bars_figure(rep, f"Mean KL per {what}" + (" (±2 s.e.)" if rep.per_dim_se else "")
                                       + (" · dotted: log K" if rep.bound is not None else "")), key="pv_kl_bars")
    if rep.rows:
        st.dataframe(pd.DataFrame(rep.rows), hide_index=True)
    return True
