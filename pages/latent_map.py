"""Latent map: where the data lands in latent space; click a point to see what the model makes of it.

The script reads the view's widgets, asks ``ui/latent_map/`` for the map (a projection of the
posterior means μ(x), kept in the run folder when it is non-linear) and the point colours, and lays
out the map beside the picked point's panel."""
from __future__ import annotations

import streamlit as st

from ui import posterior_view
from ui import urlstate
from ui.components.scatter_map import map_selection, scatter_map
from ui.cache import encode_split, run_dataset, run_identity
from ui.latent_map.data import colours, compute_map, map_extras, points
from ui.latent_map.panels import hint, many_panel, place_panel, point_panel, probe_panel, stars, summary
from ui.latent_map.picks import CHART_KEY, current_selection, on_index_typed, on_map_select, placed_points, remember
from ui.latent_map.projection import describe
from ui.latent_map.view import view_ui
from ui.prior_view import components_panel
from ui.state import require_run
from vae.analysis.projection.maps import methods_for
from vae.analysis.projection.points import most_varied_dim

run = require_run()
if posterior_view.latent_map_page(run):  # flow, categorical and Dirichlet runs: their own view
    st.stop()
splits = run_dataset(run)
key = run_identity(run)
d = run.model.latent_dim
sizes = {s: len(getattr(splits, s)) for s in ("test", "train") if len(getattr(splits, s))}

st.title("Latent map")
st.caption("Each dot is one image placed at its posterior mean μ(x), projected to two dimensions. "
           "Nearby dots are images the encoder considers similar.")
if not sizes:
    st.error(f"Run **{run.name}** has no images in either split to plot.")
    st.stop()

mu_test = encode_split(run, key, next(iter(sizes)))[0]
urlstate.take_projection(f"lm_method_{d}", methods_for(d))
view = view_ui(d, sizes, most_varied_dim(mu_test))
ds = getattr(splits, view.split)
mu, logvar = encode_split(run, key, view.split)
shown = compute_map(run, key, ds, mu, view)
if shown is None:
    st.stop()
idx, proj, res = shown.idx, shown.proj, shown.res
colour = colours(run, key, ds, view, idx, mu, logvar)

st.markdown(summary(len(idx), len(ds), view.split, proj))
if res is not None:
    st.caption(describe(res))
components_panel(run)

ctx = (run.name, view.split)
view_sig = view.sig
urlstate.take_point(len(ds), lambda i: remember({"kind": "point", "indices": [i], "xy": None, "source": "link"},
                                                 ctx, view_sig))


@st.fragment
def map_and_detail() -> None:
    """The map and the picked point's panel. A click reruns only this fragment; the map's points are
    the same cached dict on every rerun (Streamlit sends an unchanged element once), so only the pick
    and the panel change."""
    sel = current_selection(ctx, view_sig, len(ds))
    urlstate.write_map(view.method, sel)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        scatter_map(CHART_KEY, points(key, view, shown, colour, ds), "|".join(map(str, view_sig)),
                    map_selection(idx, sel), stars(proj, res, mu[idx], placed_points(ctx, view_sig)),
                    on_select=lambda: on_map_select(ctx, view_sig, proj, idx),
                    extras=lambda: map_extras(run, key, proj, idx, ds, view.split))
        if proj.placeable:
            place_panel(run, ctx, view_sig)
    with right:
        st.number_input(f"Inspect {view.split} image #", 0, len(ds) - 1, value=None, key="lm_index",
                        on_change=on_index_typed, args=(ctx, view_sig), placeholder=f"0 … {len(ds) - 1}",
                        help="Or type an index instead of clicking.")
        if sel["kind"] == "point":
            point_panel(run, ds, mu, logvar, sel["indices"][0], view.split)
        elif sel["kind"] == "many":
            many_panel(run, ds, sel["indices"], view.split)
        elif sel["kind"] == "probe" and proj.invertible:
            probe_panel(run, proj, tuple(sel["xy"]))
        else:
            hint()


map_and_detail()
