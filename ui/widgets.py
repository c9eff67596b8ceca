"""Form widgets that return typed values: what a page reads from the user, parsed and
checked here, then handed to ``vae`` as plain values or a typed config."""
from __future__ import annotations


class FormError(ValueError):
    """A form field that cannot be parsed; the message says what to type instead."""


def parse_hidden(text: str) -> list[int]:
    """'512 256' or '512, 256' -> [512, 256]."""
    parts = str(text).replace(",", " ").split()
    try:
        out = [int(p) for p in parts]
    except ValueError:
        raise FormError(f"hidden sizes must be whole numbers separated by spaces, not {text!r}") from None
    if not out:
        raise FormError("give at least one hidden size, e.g. 256")
    return out
