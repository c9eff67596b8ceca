"""An unexpected error on a page: the traceback goes to the server log under a short id, the
browser gets that id and nothing else (no message, type chain or server path).

Streamlit's own handler (``client.showErrorDetails = "none"`` in .streamlit/config.toml)
already hides the details, but gives the person nothing to quote; with the id, an operator
finds the traceback with ``grep <id>`` in the server's log.
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager

import streamlit as st
from streamlit.logger import get_logger

_LOG = get_logger("vae_explorer")


class PageError(Exception):
    """What the browser is shown in place of an unexpected exception."""


def error_message(error_id: str) -> str:
    return (f"Something went wrong on this page (error id {error_id}). Reload to try again; "
            f"the server's log has the details under that id.")


@contextmanager
def report_errors(where: str = "page"):
    """Run a page (or fragment) body; an exception is logged with a new id and shown as that id.
    st.rerun / st.stop / st.switch_page are not exceptions (BaseException) and pass through."""
    try:
        yield
    except Exception as e:
        error_id = secrets.token_hex(4)
        _LOG.error("error id %s: uncaught exception in %s", error_id, where, exc_info=e)
        st.exception(PageError(error_message(error_id)))
