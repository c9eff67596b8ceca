"""The sidebar every page shares: run picker, dataset and device, upload and download."""
from __future__ import annotations

import streamlit as st
import torch

from pathlib import Path

from pages.common import RUN_KEY, available_runs, current_run, limits, run_key, runs_root
from vae.checkpoint import CheckpointError
from vae.run_archive import export_run, import_upload

DEFAULT_RUN = "digits-default"


@st.cache_data(max_entries=4, show_spinner=False)
def _run_zip(path: str, mtime: float) -> bytes:
    return export_run(Path(path))


def pick_default(names: list[str]) -> str | None:
    if DEFAULT_RUN in names:
        return DEFAULT_RUN
    return names[0] if names else None


def run_picker_ui() -> None:
    runs = available_runs()
    names = [r.name for r in runs]
    labels = {r.name: r.label for r in runs}
    if st.session_state.get(RUN_KEY) not in names:
        st.session_state[RUN_KEY] = pick_default(names)
    if not names:
        st.sidebar.warning("No runs yet: train one on the **Train** page or upload one below.")
        return
    # The widget has its own key; RUN_KEY is the durable choice, which other pages may set
    # (upload, "Explore this run"). Sync the widget from it before drawing it.
    if st.session_state.get("_run_picker") != st.session_state[RUN_KEY]:
        st.session_state["_run_picker"] = st.session_state[RUN_KEY]
    st.sidebar.selectbox("Run", names, format_func=lambda n: labels.get(n, n), key="_run_picker",
                         on_change=lambda: st.session_state.update({RUN_KEY: st.session_state["_run_picker"]}),
                         help="Every run folder in checkpoints/, newest first: dataset · architecture · "
                              "latent size · test ELBO (nats).")


def upload_ui() -> None:
    lim = limits()
    with st.sidebar.expander("Upload a run"):
        with st.form("upload_run", clear_on_submit=True, border=False):
            files = st.file_uploader("A zip of a run folder, or config.json + model.safetensors",
                                     accept_multiple_files=True, type=["zip", "json", "safetensors", "jsonl", "pt", "pth"])
            name = st.text_input("Name (optional)")
            submitted = st.form_submit_button("Upload")
        if submitted:
            too_big = [f.name for f in files or [] if f.size > lim["max_upload_mb"] << 20]
            if not files:
                st.error("Choose a file first.")
            elif too_big:
                st.error(f"{', '.join(too_big)}: larger than the {lim['max_upload_mb']} MB upload limit.")
            else:
                try:
                    path = import_upload([(f.name, f.getvalue()) for f in files], runs_root(), name or None)
                except CheckpointError as e:
                    st.error(f"Upload refused: {e}")
                else:
                    st.session_state[RUN_KEY] = path.name
                    st.success(f"Uploaded as **{path.name}**.")
                    st.rerun()


def render() -> None:
    run_picker_ui()
    run = current_run()
    if run is not None:
        d, m = run.config.data, run.config.model
        st.sidebar.caption(f"Dataset **{d.name}** · {m.in_channels}×{m.image_size}×{m.image_size} · "
                           f"{m.arch} · D={m.latent_dim} · {m.likelihood}")
        try:
            st.sidebar.download_button("Download run (.zip)", _run_zip(*run_key(run)), f"{run.name}.zip",
                                       mime="application/zip", width="stretch")
        except OSError as e:
            st.sidebar.error(f"Cannot read the run for download: {e}")
    upload_ui()
    st.sidebar.caption(f"Device: {'cuda' if torch.cuda.is_available() else 'cpu'} (explorer pages run on the CPU)")
