"""The Traversals downloads: a displayed sheet re-encoded as a PNG by the project's exporter, and
the decoder as an ONNX file (z -> E[x|z]); both are made only when their button is pressed."""
from __future__ import annotations

import io

import streamlit as st
from PIL import Image

from ui.text import safe_md
from ui.traversals.compute import decoder_onnx
from vae.export.images import png_bytes
from vae.export.onnx import OPSET, check_export
from vae.limits import BudgetError
from vae.runs.folder import Run


def onnx_ui(run: Run, key: tuple) -> None:
    """The decoder as an ONNX file (z -> E[x|z]), exported when the button is pressed."""
    try:
        check_export(run.model)
    except BudgetError as e:
        st.caption(f"No ONNX export: {safe_md(e)}")
        return
    st.download_button("Download decoder (.onnx)", lambda: decoder_onnx(run, key), f"{run.name}-decoder.onnx", mime="application/octet-stream",
                       icon=":material/download:", on_click="ignore",
                       help=f"The decoder z → E[x|z] exported with torch.onnx.export (opset {OPSET}); input \"z\" of "
                            f"shape (batch, {run.model.latent_dim}), output \"image\" of shape (batch, "
                            f"{', '.join(map(str, run.model.image_shape))}) in [0, 1]. Checked against PyTorch with "
                            "onnxruntime in the project's tests.")


def export_png(display: bytes):
    """A deferred download: the displayed sheet re-encoded by the project's exporter, on click only."""
    return lambda: png_bytes(Image.open(io.BytesIO(display)))
