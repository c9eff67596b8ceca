"""Settings a panel's form stored in session state, read back safely: session state may hold
anything (an old version's keys, a hand-edited value), so each value is checked before a widget
starts from it."""
from __future__ import annotations

import streamlit as st

NUM = st.column_config.NumberColumn


def stored(key: str, default: dict) -> dict:
    """The stored settings merged over the defaults."""
    value = st.session_state.get(key)
    return {**default, **value} if isinstance(value, dict) else dict(default)


def within(value, lo: float, hi: float, default: float) -> float:
    """A stored number as a widget's starting value: inside [lo, hi], else the default."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return v if lo <= v <= hi else default

