"""Text that came from data (run names, dataset names, class names, messages that quote
them) made safe to show through Streamlit's markdown.

Streamlit escapes HTML but renders markdown, so a dataset called
``![x](https://host/p.png)`` would make every viewer's browser fetch that image.
Every string from a run folder, an upload, a form or a URL goes through
``escape_md`` before it is placed inside markdown (``st.markdown``, ``st.error``,
``st.caption``, labels of widgets, ...), and messages pass through ``scrub_paths``
so no absolute server path reaches a browser.
"""
from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation; Streamlit adds
# :shortcode: emoji, :color[text] directives and $math$, so ':' and '$' are escaped too.
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")
_WS = re.compile(r"\s+")
# An absolute POSIX path (at least two components), or a Windows drive path.
_ABS_PATH = re.compile(r"(?<![\w./~-])(?:/[^\s/'\"`,;:()\[\]{}<>]+){2,}/?|[A-Za-z]:\\[^\s'\"`]+")


def escape_md(text: object, max_len: int = 300) -> str:
    """``text`` as literal markdown: every punctuation character escaped, whitespace
    runs (newlines included) folded to one space, cut to ``max_len`` characters."""
    s = _WS.sub(" ", str(text)).strip()
    if len(s) > max_len:
        s = s[: max_len - 1] + "…"
    return _PUNCT.sub(r"\\\1", s)


def scrub_paths(text: object) -> str:
    """``text`` with every absolute path replaced by its last component in ‹›,
    e.g. ``/srv/app/checkpoints/run-1/config.json`` -> ``‹config.json›``."""
    def last(m: re.Match) -> str:
        parts = [p for p in re.split(r"[\\/]", m.group(0)) if p]
        return f"‹{parts[-1] if parts else ''}›"
    return _ABS_PATH.sub(last, str(text))


def safe_md(text: object, max_len: int = 300) -> str:
    """Paths scrubbed, then escaped: the one call for a message that may quote data."""
    return escape_md(scrub_paths(text), max_len)


def plain_text(text: object, max_len: int = 200) -> str:
    """For places Streamlit shows as plain text (selectbox options): paths scrubbed,
    whitespace folded and cut to ``max_len``, nothing escaped (a backslash would show)."""
    s = _WS.sub(" ", scrub_paths(text)).strip()
    return s[: max_len - 1] + "…" if len(s) > max_len else s
