"""Command-line flags derived from dataclasses: one flag per field, and back.

A config made of sections (``("model", ModelConfig), …``, each a dataclass) becomes an argparse
parser whose flags are named, typed, defaulted and explained by the fields themselves: the name
(``--field-name``, unless renamed), the type (a list takes ``nargs="+"``, a bool is
``--x/--no-x``, a ``Literal`` gives the choices, ``Optional`` is looked through), the default
(shown in the help) and the field's own ``# comment`` as its help. So an option is added by
adding a field. ``FlagTable`` reads parsed flags back into the sections, tells which were given,
and writes a config's command line (every field that differs from its default).
``vae.config.RUN_FLAGS`` is the table of ``python -m vae.train``.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal


@functools.lru_cache(maxsize=None)
def field_comments(klass: type) -> dict[str, str]:
    """``name: type = default  # comment`` lines of a dataclass, as {name: comment}."""
    out = {}
    for line in inspect.getsource(klass).splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _scalar(tp) -> tuple[type, tuple | None]:
    """(python type, choices) of a field type, looking through Optional and Literal."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is Literal:
        return type(args[0]), tuple(args)
    if args and typing.get_origin(tp) in (typing.Union, getattr(types, "UnionType", None)):
        return _scalar(args[0])
    return tp, None


@dataclass(frozen=True)
class FlagTable:
    """The flags of a config made of dataclass sections."""

    sections: tuple[tuple[str, type], ...]  # (section name, dataclass), in the order of the help
    renames: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, field) -> flag without "--"
    hidden: frozenset[tuple[str, str]] = frozenset()  # flags left out of the help (still accepted)
    always: frozenset[tuple[str, str]] = frozenset()  # written by ``to_argv`` even at their default

    def flag(self, section: str, name: str) -> str:
        return "--" + self.renames.get((section, name), name.replace("_", "-"))

    @staticmethod
    def dest(section: str, name: str) -> str:
        return f"{section}__{name}"

    def add_to(self, p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add one flag per field to ``p`` (defaults None: unset flags keep the field's default)."""
        for section, klass in self.sections:
            hints = typing.get_type_hints(klass)
            comments = field_comments(klass)
            group = p.add_argument_group(f"{section} options")
            for f in dataclasses.fields(klass):
                tp = hints[f.name]
                kw: dict[str, Any] = {"dest": self.dest(section, f.name), "default": None}
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
                help_text = comments.get(f.name, "")
                if default is not None:
                    help_text += f" (default: {' '.join(map(str, default)) if isinstance(default, list) else default})"
                kw["help"] = argparse.SUPPRESS if (section, f.name) in self.hidden else help_text.replace("%", "%%")
                if typing.get_origin(tp) is list:
                    kw.update(type=typing.get_args(tp)[0], nargs="+", metavar="N")
                elif tp is bool:
                    kw["action"] = argparse.BooleanOptionalAction
                else:
                    base, choices = _scalar(tp)
                    kw["type"] = base
                    if choices:
                        kw["choices"] = choices
                    else:
                        kw["metavar"] = f.name.upper()
                group.add_argument(self.flag(section, f.name), **kw)
        return p

    def read(self, ns: argparse.Namespace) -> dict[str, Any]:
        """{section: dataclass instance} from parsed flags; fields whose flag was not given keep
        their default."""
        sections = {}
        for section, klass in self.sections:
            given = {f.name: getattr(ns, self.dest(section, f.name)) for f in dataclasses.fields(klass)}
            sections[section] = klass(**{k: v for k, v in given.items() if v is not None})
        return sections

    def given(self, ns: argparse.Namespace) -> set[tuple[str, str]]:
        """(section, field) pairs whose flag appeared on the command line."""
        return {(s, f.name) for s, klass in self.sections for f in dataclasses.fields(klass)
                if getattr(ns, self.dest(s, f.name), None) is not None}

    def to_argv(self, config) -> list[str]:
        """Flags for every field of ``config``'s sections (its attributes of those names) that differs
        from its default (values passed as --flag=value, so a value that starts with '-' is never taken
        for a flag)."""
        argv: list[str] = []
        for section, klass in self.sections:
            obj, ref = getattr(config, section), klass()
            for f in dataclasses.fields(klass):
                v = getattr(obj, f.name)
                if v == getattr(ref, f.name) and (section, f.name) not in self.always:
                    continue
                if v is None:
                    continue
                flag = self.flag(section, f.name)
                if isinstance(v, bool):
                    argv.append(flag if v else "--no-" + flag[2:])
                elif isinstance(v, (list, tuple)):
                    argv += [flag, *map(str, v)]
                else:
                    argv.append(f"{flag}={v!r}" if isinstance(v, float) else f"{flag}={v}")
        return argv
