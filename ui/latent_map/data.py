"""The Latent map's data, cached: the points a view shows (a seeded class-stratified subsample, or
the rows a kept projection chose) and their 2-D projection, each point's colour, the map element's
points (built once per run, view and colouring, shared by every session), and the images and
browser decoder the map asks for on demand. The numbers come from ``vae.analysis``; a projection
that is refused or cannot be computed is said here, and the page stops."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from ui.components.latent_pad import browser_decoder
from ui.components.scatter_map import Extras, image_rows, map_points
from ui.latent_map.projection import projection_for
from ui.latent_map.view import METHODS, View
from ui.text import safe_md
from vae.analysis.latent_map import cpu_threads, terms_at
from vae.analysis.projection.maps import Projection
from vae.analysis.projection.methods import project_latent
from vae.analysis.projection.points import PointTerms, colour_values, stratified_cap
from vae.cache.projections import Result, Spec
from vae.limits import BudgetError
from vae.runs.folder import CheckpointError, Run

SAMPLE_SEED = 0  # the subsample is fixed, so changing the view never reshuffles the points


@dataclass
class Map:
    """One view's map: the dataset rows shown (idx), their projection, and the kept result behind it
    (None for the latents drawn directly)."""
    idx: np.ndarray
    proj: Projection
    res: Result | None


@st.cache_data(max_entries=16, show_spinner=False)
def _subsample(_labels: np.ndarray, key: tuple, split: str, cap: int) -> np.ndarray:
    return stratified_cap(_labels, cap, SAMPLE_SEED)


@st.cache_resource(max_entries=8, show_spinner=False)
def _map_points(key: tuple, view_sig: tuple, colour_sig: tuple, _proj: Projection, _idx: np.ndarray,
                _colour, _class_names: list[str], _labels: np.ndarray) -> dict:
    """The map's points as the element takes them, built once per run, view and colouring and shared by
    every session (read-only: the page adds its pick to a copy)."""
    return map_points(_proj, _idx, _colour, _class_names, _labels)


@st.cache_data(max_entries=4, show_spinner="Preparing the images…")
def _images_b64(_x, key: tuple, split: str, rows: tuple) -> str:
    """The images at dataset ``rows`` of a split as base64 uint8 (what the browser draws for them)."""
    import base64
    from vae.export.onnx import images_u8
    return base64.b64encode(images_u8(_x, list(rows))).decode("ascii")


@st.cache_data(max_entries=8, show_spinner="Computing each point's reconstruction term…")
def _terms(_run: Run, _x, _idx: np.ndarray, key: tuple, split: str, cap: int) -> PointTerms:
    return terms_at(_run.model, _x, _idx)


def compute_map(run: Run, key: tuple, ds, mu: np.ndarray, view: View) -> Map | None:
    """The view's map; None after saying why there is none yet (a background projection still
    running or cancelled) or at all (refused by a limit, or not computable)."""
    labels = ds.y.numpy()
    what = f"{METHODS[view.method]} of {min(view.cap, len(ds)):,} {view.split} points"
    try:
        if view.method == "latent":
            idx = _subsample(labels, key, view.split, view.cap)
            return Map(idx, project_latent(mu[idx]), None)
        spec = Spec(view.method, view.split, view.cap if view.cap < len(ds) else None, view.perplexity, view.seed)
        res = projection_for(run.path, mu, labels, spec, cpu_threads(), what)
        return None if res is None else Map(res.idx, res.proj, res)
    except BudgetError as e:
        st.error(f"This projection was refused: {safe_md(e)}")
    except (ValueError, OSError, CheckpointError) as e:
        st.error(f"This projection cannot be computed: {safe_md(e)}")
    return None


def colours(run: Run, key: tuple, ds, view: View, idx: np.ndarray, mu: np.ndarray, logvar: np.ndarray):
    """Each shown point's colour for the view's "Colour by"."""
    rec = None
    if view.colour == "rec_error":
        rec = _terms(run, ds.x, idx, key, view.split, view.cap).rec
    kl = None  # against a mixture or VampPrior the KL has no closed form: the Monte-Carlo terms
    if view.colour == "kl" and run.config.model.prior != "standard":
        kl = _terms(run, ds.x, idx, key, view.split, view.cap).kl
    return colour_values(view.colour, ds.y.numpy()[idx], mu[idx], logvar[idx], rec=rec, dim=view.dim, kl=kl)


def points(key: tuple, view: View, m: Map, colour, ds) -> dict:
    """The map element's points (cached, shared: read-only)."""
    return _map_points(key, view.sig, (view.colour, view.dim), m.proj, m.idx, colour, ds.class_names,
                       ds.y.numpy()[m.idx])


def map_extras(run: Run, key: tuple, proj: Projection, idx: np.ndarray, ds, split: str) -> Extras:
    """The map's images and decoder, built only once the browser has asked for them (its Images button)."""
    shape = tuple(int(v) for v in run.model.image_shape)
    rows = image_rows(len(idx), int(np.prod(shape)))
    data_rows = tuple(int(idx[r]) for r in rows)
    ident = hashlib.sha1(repr((key, split, shape)).encode() + np.asarray(data_rows, np.int64).tobytes()).hexdigest()[:24]
    note = (f"images for {len(rows):,} of the {len(idx):,} points (every {len(idx) / len(rows):.1f}th)"
            if len(rows) < len(idx) else "")
    inverse = None
    if proj.invertible and proj.method == "pca":
        inverse = {"mean": [float(v) for v in proj.mean], "components": [[float(v) for v in r] for r in proj.components]}
    elif proj.invertible:  # the latents themselves (D ≤ 2): z = (x, y)[:D]
        d = proj.latent_dim
        inverse = {"mean": [0.0] * d, "components": [[1.0 if k == 0 else 0.0 for k in range(d)],
                                                     [1.0 if k == 1 else 0.0 for k in range(d)]]}
    return Extras(ident, list(rows), shape, note, lambda: _images_b64(ds.x, key, split, data_rows),
                  browser_decoder(run, key), inverse)
