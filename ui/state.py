"""Per-session state shared by the pages: the session keys, the selected run, the frame guard and
the server's limits. Session state holds per-user choices only, never models (those are in
``ui.cache``)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.cache import load_run_at
from ui.text import escape_md, safe_md
from vae.limits import MAX_EPOCHS, MAX_ITEMS, UPLOAD_MB
from vae.runs.folder import CheckpointError, Run
from vae.runs.catalog import RunInfo, list_runs
from vae.runs.paths import default_runs_root

# Session-state keys shared across pages (per-user choices only, never models).
RUN_KEY = "run_name"  # folder name of the selected run
START_KEY = "traversal_start"  # {"index": int, "split": "test"}: a data point sent to Traversals
DIM_KEY = "traversal_dim"  # int: a latent dimension sent to Traversals


def frame_guard() -> None:
    """Make sure this page runs inside app.py's frame (navigation + shared sidebar).

    Streamlit treats a ``pages/`` folder beside the entry script as a legacy
    multipage app until ``st.navigation`` has been called once in the process,
    so a first visit straight to e.g. /train would run the page file alone.
    Leaving that mode (what ``st.navigation`` itself does) and rerunning goes
    through app.py, which routes to the same page.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        legacy = bool(PagesManager.uses_pages_directory)
    except (ImportError, AttributeError):  # a Streamlit without the legacy mode
        legacy = False
    if legacy:
        PagesManager.uses_pages_directory = False
        st.rerun()


def runs_root() -> Path:
    return default_runs_root()


def limits() -> dict:
    """Operator limits for a shared server, from environment variables (``vae.limits``)."""
    # Streamlit refuses files over server.maxUploadSize (.streamlit/config.toml) itself: the app's
    # limit never exceeds it, so the message the app gives and the limit applied agree.
    server_mb = max(1, int(st.get_option("server.maxUploadSize")))
    return {"max_epochs": MAX_EPOCHS.value(), "max_items": MAX_ITEMS.value(),
            "max_upload_mb": min(UPLOAD_MB.value(), server_mb)}


def available_runs() -> list[RunInfo]:
    return list_runs(runs_root())


def select_run(name: str) -> None:
    """Make ``name`` the current run (the sidebar's picker follows on the next run of the script)."""
    st.session_state[RUN_KEY] = name


def current_run() -> Run | None:
    """The run selected in the sidebar, loaded (cached), or None with a message shown."""
    frame_guard()
    name = st.session_state.get(RUN_KEY)
    if not name:
        return None
    path = runs_root() / name
    try:
        return load_run_at(str(path), (path / "model.safetensors").stat().st_mtime)
    except (CheckpointError, OSError, ValueError, RuntimeError) as e:
        reason = safe_md(e) if isinstance(e, CheckpointError) else "its files cannot be read"
        st.error(f"Run **{escape_md(name)}** cannot be loaded: {reason}")
        return None


def require_run() -> Run:
    """The current run, or stop the page with a hint to train or upload one."""
    run = current_run()
    if run is None:
        st.info("No run is selected. Pick one in the sidebar, train one on the **Train** page, or upload one.")
        st.stop()
    return run
