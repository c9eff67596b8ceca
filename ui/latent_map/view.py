"""The Latent map's view widgets: split, projection method, colouring, the dimension coloured by,
how many points to show and the t-SNE perplexity, read into one ``View``. A value that reaches a
widget through session state (a crafted session, a stale widget) outside its limits is refused
with the limit named before the widget is drawn."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from ui.text import safe_md
from vae.analysis.projection.maps import PERPLEXITY, methods_for
from vae.analysis.projection.tsne import OPENTSNE_EARLY_ITER, OPENTSNE_FIT_POINTS, OPENTSNE_ITER
from vae.limits import PROJECTION_POINTS, TSNE_PERPLEXITY, TSNE_POINTS, limit_int, max_perplexity

METHODS = {"latent": "Latents directly", "pca": "PCA", "opentsne": "t-SNE (openTSNE, fast)",  # labels of
           "umap": "UMAP", "tsne": "t-SNE (scikit-learn, the reference)"}  # vae.analysis.projection.maps.METHODS
COLOURS = {"label": "Label", "mu": "μ of one dimension", "kl": "KL per point", "rec_error": "Reconstruction error"}
MIN_CAP = 100  # the map shows every point of the split by default, up to VAE_MAX_PROJECTION_POINTS (70,000)
TSNE_SEED = 0  # fixed: a seed knob would only multiply kept fits (each up to a minute)


@dataclass
class View:
    split: str
    method: str
    cap: int
    colour: str
    dim: int
    perplexity: float
    seed: int  # always TSNE_SEED; kept in the view's signature

    @property
    def sig(self) -> tuple:
        """What makes two maps the same map (the colouring aside)."""
        return (self.split, self.cap, self.method, self.perplexity, self.seed)


def refuse_over(key: str, lo: int, hi: int, what: str, limit: str) -> None:
    """A value for widget ``key`` that arrived through session state (or a stale widget) outside
    [lo, hi] is refused with the limit named and replaced by the nearest allowed value, before the
    widget is drawn (Streamlit would raise on it)."""
    v = st.session_state.get(key)
    if v is None:
        return
    number = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
    if number and lo <= v <= hi:
        return
    if number:
        st.session_state[key] = int(min(max(v, lo), hi))
        st.warning(f"{what} of {v:,.0f} refused: {limit}. Using {st.session_state[key]:,}.")
    else:
        del st.session_state[key]
        st.warning(f"{what} {safe_md(repr(v), 40)} refused: it must be a number from {lo:,} to {hi:,}.")


def view_ui(d: int, sizes: dict[str, int], best_dim: int) -> View:
    c = st.columns([0.8, 1.1, 1.4, 1.0, 1.6])
    split = c[0].selectbox("Split", list(sizes), key="lm_split", help="Which images to encode and plot.")
    n = sizes[split]
    methods = methods_for(d)
    method = c[1].selectbox("Projection", methods, format_func=METHODS.get, key=f"lm_method_{d}",
                            help="PCA: the plane of the two directions along which μ varies most (linear, "
                                 "invertible). t-SNE: a non-linear map that keeps neighbours together; distances "
                                 f"between clusters mean little. openTSNE is the fast one: {OPENTSNE_EARLY_ITER} + {OPENTSNE_ITER} "
                                 f"iterations (Barnes-Hut θ 0.8, neighbours = perplexity), and "
                                 f"above {OPENTSNE_FIT_POINTS:,} points it fits a seeded subset of that size and "
                                 f"places the rest with its transform. UMAP: umap-learn, seeded. scikit-learn's "
                                 f"t-SNE is kept as the reference (slow; at most {limit_int(TSNE_POINTS):,} points). "
                                 "Non-linear maps run in the background and are kept in the run folder.")
    colour = c[2].selectbox("Colour by", list(COLOURS), format_func=COLOURS.get, key="lm_colour",
                            help="KL(q(z|x) ‖ p(z)) in nats; reconstruction error is −E_q[log p(x|z)] in nats.")
    dim = best_dim
    if colour == "mu":
        dim = c[3].selectbox("Dimension", range(d), index=best_dim, format_func=lambda k: f"z{k}",
                             key=f"lm_dim_{d}", help="Defaults to the dimension whose μ varies most.")
    tsne_cap = limit_int(TSNE_POINTS)
    max_cap = limit_int(PROJECTION_POINTS)
    if n > MIN_CAP:
        top = max(MIN_CAP, min(n, max_cap, tsne_cap if method == "tsne" else max_cap))
        cap_key = f"lm_cap_{split}_{n}"
        limit = (f"this server runs scikit-learn's t-SNE on {TSNE_POINTS.describe()}"
                 if method == "tsne" and top < min(n, max_cap) else f"the map shows at most {top:,} points "
                                                                     f"({PROJECTION_POINTS.env})")
        refuse_over(cap_key, MIN_CAP, top, "A map", limit)
        cap = c[4].slider("Points shown at most", MIN_CAP, top, top, step=50 if top > 500 else 10,
                          key=cap_key,
                          help="Every point by default (the map draws up to 70,000). Fewer: a class-stratified "
                               "subsample (seeded, classes in proportion, every class kept)."
                               + (f" scikit-learn's t-SNE is limited to {tsne_cap:,} points on this server."
                                  if method == "tsne" else ""))
    else:
        cap = n
    perplexity = 30.0
    if method in PERPLEXITY:
        a, _ = st.columns([2, 3])
        points = min(cap, n)
        top = int(max_perplexity(points))
        if top >= 2:
            refuse_over("lm_perplexity", 2, top, "A perplexity",
                        f"t-SNE allows {TSNE_PERPLEXITY.describe()} and below a third of the {points:,} points")
            perplexity = a.slider("Perplexity", 2, top, min(30, top), key="lm_perplexity",
                                  help=f"Roughly how many neighbours each point keeps close: at most "
                                       f"{int(TSNE_PERPLEXITY.value())}, and below a third of the points (the fit "
                                       f"grows with points × perplexity). The fit is seeded, so it is reproducible.")
        else:
            perplexity = 1.0
    return View(split, method, int(cap), colour, int(dim), float(perplexity), TSNE_SEED)
