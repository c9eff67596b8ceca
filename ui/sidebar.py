"""The sidebar every page shares: run picker, upload, the run's details, download and delete."""
from __future__ import annotations

import os

from pathlib import Path

import streamlit as st

from ui.cache import run_identity, run_precompute
from ui.state import RUN_KEY, available_runs, current_run, limits, runs_root
from ui.text import escape_md, plain_text, safe_md
from vae.runs.folder import CheckpointError
from vae.runs.catalog import can_delete, delete_run
from vae.runs.archive import export_run, import_upload
from vae.training.loop import resolve_device

DEFAULT_RUN = "mnist-default"
ACCEPTED_WORDS = "a .zip of a run folder, or config.json + model.safetensors (and optionally history.jsonl)"
SUBMIT_LABEL = "Add run"  # not "Upload": the dropzone's own button says that
UPLOAD_MESSAGE_KEY = "_upload_message"  # (kind, text) of the last upload's outcome
# Long options (run labels) wrap in an open dropdown instead of ending in "…" mid-word.
WRAP_OPTIONS_CSS = ("<style>[role='listbox'] [role='option'], [role='listbox'] [role='option'] * "
                    "{white-space: normal !important; overflow-wrap: anywhere; text-overflow: clip !important;"
                    " height: auto !important;}</style>")


@st.cache_data(max_entries=4, show_spinner=False)
def _run_zip(path: str, mtime: float) -> bytes:
    return export_run(Path(path))


def default_run() -> str:
    """The run a new visitor sees: ``$VAE_DEFAULT_RUN`` (an operator's choice), else mnist-default."""
    return os.environ.get("VAE_DEFAULT_RUN", "").strip() or DEFAULT_RUN


def pick_default(names: list[str], readable: set[str] | None = None) -> str | None:
    """The default run if present, else the newest readable one, else the newest."""
    if default_run() in names:
        return default_run()
    ok = [n for n in names if readable is None or n in readable]
    return (ok or names or [None])[0]


def run_picker_ui() -> None:
    runs = available_runs()
    names = [r.name for r in runs]
    # Selectbox options are plain text (no markdown); run names are sanitized folder names, and
    # the one free-text part, an unreadable run's reason, is scrubbed of paths and folded.
    labels = {r.name: plain_text(r.label) for r in runs}
    if st.session_state.get(RUN_KEY) not in names:
        st.session_state[RUN_KEY] = pick_default(names, {r.name for r in runs if r.error is None})
    if not names:
        st.sidebar.warning("No runs yet: train one on the **Train** page or upload one below.")
        return
    # The widget has its own key; RUN_KEY is the durable choice, which other pages may set
    # (upload, "Explore this run"). Sync the widget from it before drawing it.
    if st.session_state.get("_run_picker") != st.session_state[RUN_KEY]:
        st.session_state["_run_picker"] = st.session_state[RUN_KEY]
    st.sidebar.selectbox("Run", names, format_func=lambda n: labels.get(n, plain_text(n)), key="_run_picker",
                         on_change=lambda: st.session_state.update({RUN_KEY: st.session_state["_run_picker"]}),
                         help="Every run folder in checkpoints/, newest first: dataset · architecture · "
                              "latent size · test ELBO (nats). A run that fails validation is listed as "
                              "unreadable, with the reason.")
    # The select shows one line, cut short in a narrow sidebar: the whole label, wrapped, under it.
    st.sidebar.caption(escape_md(labels.get(st.session_state[RUN_KEY], "")))


def upload_problem(files: list, max_mb: int) -> str | None:
    """Why these uploaded files (objects with .name and .size) cannot be imported, or None."""
    if not files:
        return f"Choose a file first: {ACCEPTED_WORDS}."  # any other file is named by import_upload
    too_big = [f.name for f in files if f.size > max_mb << 20]
    if too_big:
        return f"{escape_md(', '.join(too_big))}: larger than the {max_mb} MB upload limit."
    return None


def upload_ui() -> None:
    """Upload a run. Sits right under the picker, and its messages sit above its form, so a refusal is
    seen without scrolling the sidebar."""
    lim = limits()
    with st.sidebar.expander("Upload a run"):
        messages = st.empty()
        kept = st.session_state.get(UPLOAD_MESSAGE_KEY)
        if kept:  # the last upload's outcome stays until the next one, whatever reruns in between
            getattr(messages, kept[0])(kept[1])
        with st.form("upload_run", clear_on_submit=True, border=False):
            # No type filter in the browser: it drops a wrong file with no word on the page; the
            # validator refuses it instead, naming the file and what it accepts.
            files = st.file_uploader("A zip of a run folder, or config.json + model.safetensors",
                                     accept_multiple_files=True)
            name = st.text_input("Name (optional)")
            submitted = st.form_submit_button(SUBMIT_LABEL, icon=":material/add:")
        if not submitted:
            return

        def say(kind: str, text: str) -> None:
            st.session_state[UPLOAD_MESSAGE_KEY] = (kind, text)
            getattr(messages, kind)(text)

        problem = upload_problem(files or [], lim["max_upload_mb"])
        if problem:
            say("error", problem)
            return
        try:
            path = import_upload([(f.name, f.getvalue()) for f in files], runs_root(), name or None)
        except CheckpointError as e:
            say("error", f"Upload refused: {safe_md(e, 400)}")
        else:
            st.session_state[RUN_KEY] = path.name
            say("success", f"Uploaded as **{escape_md(path.name)}**.")
            st.rerun()


def delete_ui(name: str) -> None:
    """Delete the selected run, after a confirmation; never a run that ships with the project."""
    path = runs_root() / name
    if not path.is_dir() or can_delete(path) is not None:
        return
    with st.sidebar.expander("Delete this run"):
        sure = st.checkbox(f"Delete run **{escape_md(name)}** and its files for good", key=f"_delete_ok_{name}")
        if st.button("Delete run", icon=":material/delete:", disabled=not sure, key=f"_delete_{name}"):
            try:
                delete_run(name, runs_root())
            except CheckpointError as e:
                st.error(safe_md(e))
            else:
                st.session_state.pop(RUN_KEY, None)
                st.toast(f"Deleted run {escape_md(name)}.")
                st.rerun()


def render() -> None:
    st.html(WRAP_OPTIONS_CSS)
    run_picker_ui()
    upload_ui()
    run = current_run()
    if run is not None:
        run_precompute(run)  # first opened: its encodings and evaluation are computed once, in the background
        d, m = run.config.data, run.config.model
        st.sidebar.caption(f"Dataset **{escape_md(d.name)}** · {m.in_channels}×{m.image_size}×{m.image_size} · "
                           f"{m.arch} · D={m.latent_dim} · {m.likelihood}")
        try:
            st.sidebar.download_button("Download run (.zip)", _run_zip(*run_identity(run)), f"{run.name}.zip",
                                       mime="application/zip", width="stretch")
        except OSError:
            st.sidebar.error("Cannot read the run's files for download.")
    if st.session_state.get(RUN_KEY):
        delete_ui(st.session_state[RUN_KEY])
    st.sidebar.caption(f"Device: {resolve_device('auto').type} (explorer pages run on the CPU)")
