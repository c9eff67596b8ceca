"""The Traversals page's cached computations: a run's dimensions ranked by KL, its aggregate
posterior q(z), its principal axes, and the pictures (per-dimension strips, N×N grids,
interpolations, their GIFs, the decoder as ONNX). Each is cached per run identity ``key``;
the tensor math is in ``vae.analysis.traversal_images``."""
from __future__ import annotations

import streamlit as st

from ui.cache import encode_split, run_dataset
from vae.analysis import traversal as tv
from vae.analysis import traversal_images as ti
from vae.export.onnx import onnx_bytes
from vae.runs.folder import Run


@st.cache_data(max_entries=8, show_spinner=False)
def dims_info(_run: Run, key: tuple) -> tv.DimensionInfo:
    mu, lv = encode_split(_run, key, "test")
    return ti.dimensions(mu, lv)


@st.cache_data(max_entries=8, show_spinner="Building the aggregate posterior q(z)…")
def aggregate(_run: Run, key: tuple) -> ti.AggregateView:
    """q(z) over the test split, and its reference histogram (counts, bin centres)."""
    mu, lv = encode_split(_run, key, "test")
    return ti.aggregate(mu, lv)


@st.cache_data(max_entries=8, show_spinner=False)
def pca_axes(_run: Run, key: tuple) -> tv.GridAxes:
    return ti.principal_axes(encode_split(_run, key, "test")[0])


@st.cache_data(max_entries=64, show_spinner=False)
def strips_png(_run: Run, key: tuple, base: tuple, dims: tuple, labels: tuple, muted: tuple,
               radius: float, k: int) -> bytes:
    return ti.strips_png(_run.model, list(base), list(dims), list(labels), list(muted), radius, k)


@st.cache_data(max_entries=16, show_spinner=False)
def strip_gif(_run: Run, key: tuple, base: tuple, dim: int, radius: float, frames: int = 24) -> bytes:
    return ti.strip_gif(_run.model, list(base), dim, radius, frames)


@st.cache_data(max_entries=16, show_spinner="Decoding the grid…")
def grid_png(_run: Run, key: tuple, centre: tuple, axes_kind: str, dims: tuple, radius: float, n: int) -> bytes:
    axes = pca_axes(_run, key) if axes_kind == "pca" else ti.grid_axes(_run.model, *dims)
    return ti.grid_png(_run.model, list(centre), axes, radius, n)


@st.cache_data(max_entries=16, show_spinner=False)
def interpolation_images(_run: Run, key: tuple, a: int, b: int, steps: int) -> tuple[bytes, bytes, bytes]:
    """PNG of the two strips (linear, spherical) and PNGs of the two originals."""
    mu = encode_split(_run, key, "test")[0]
    return ti.interpolation_pngs(_run.model, mu, run_dataset(_run).test.x, a, b, steps)


@st.cache_data(max_entries=8, show_spinner=False)
def interpolation_gif(_run: Run, key: tuple, a: int, b: int, steps: int) -> bytes:
    return ti.interpolation_gif(_run.model, encode_split(_run, key, "test")[0], a, b, steps)


@st.cache_data(max_entries=4, show_spinner=False)
def decoder_onnx(_run: Run, key: tuple) -> bytes:
    return onnx_bytes(_run.model)
