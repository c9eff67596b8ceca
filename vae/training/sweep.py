"""Sweeps: one run per value of one setting, queued as a plan (``JobManager.start_plan``) and
grouped by a name recorded in every run's config (``train.sweep``), which the run picker shows.

A sweep is described by the base ``RunConfig`` the Train form makes, the setting to vary and
its values; everything else is the ordinary run path (``prepare_run`` validates each config,
``vae.jobs.plans`` trains them one after another with the same ``python -m vae.train`` command).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from vae.runs.folder import CheckpointError
from vae.runs.catalog import list_runs, sanitize_run_name
from vae.config import ConfigError, RunConfig

MAX_SWEEP_RUNS = 16  # values per sweep from the app: each is a whole training run


@dataclass(frozen=True)
class Setting:
    section: str  # "train" or "model"
    field: str  # the config field varied
    label: str  # for the UI
    short: str  # for run names: digits-run-beta0.5
    kind: type  # float or int
    lo: float
    hi: float


SETTINGS = {
    "beta": Setting("train", "beta", "β (KL weight)", "beta", float, 0.0, 1000.0),
    "kl_warmup": Setting("train", "kl_warmup", "KL warm-up (epochs)", "warmup", float, 0.0, 1000.0),
    "free_bits": Setting("train", "free_bits", "Free bits (nats/dim)", "fb", float, 0.0, 100.0),
    "latent_dim": Setting("model", "latent_dim", "Latent size D", "D", int, 1, 512),
    "seed": Setting("train", "seed", "Seed", "seed", int, 0, 2**31 - 1),
}


class SweepError(ValueError):
    """A sweep cannot be made from these values; the message says why."""


def parse_values(setting: str, text: str) -> list[float | int]:
    """'0.5, 1 4' -> [0.5, 1.0, 4.0] for the setting: numbers separated by commas or spaces, each
    within the setting's range, duplicates dropped (first kept), at most MAX_SWEEP_RUNS."""
    if setting not in SETTINGS:
        raise SweepError(f"a sweep varies one of {', '.join(SETTINGS)}, not {str(setting)[:40]!r}")
    s = SETTINGS[setting]
    text = str(text or "")
    if len(text) > 2000:
        raise SweepError("the list of values is too long")
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    if not parts:
        raise SweepError(f"give at least one value of {s.label}, e.g. '0.5, 1, 4'")
    values: list[float | int] = []
    for p in parts:
        try:
            v = float(p) if s.kind is float else int(p)
        except ValueError:
            kind = "a number" if s.kind is float else "a whole number"
            raise SweepError(f"{p[:20]!r} is not {kind}: give the values of {s.label} as numbers separated by "
                             "commas or spaces") from None
        if not (s.lo <= v <= s.hi) or v != v:
            raise SweepError(f"{s.label} must be between {s.lo:g} and {s.hi:g}, not {p[:20]}")
        if v not in values:
            values.append(v)
    if len(values) > MAX_SWEEP_RUNS:
        raise SweepError(f"a sweep holds at most {MAX_SWEEP_RUNS} values (each is a training run), not {len(values)}")
    return values


def value_text(v: float | int) -> str:
    """4.0 -> '4', 0.5 -> '0.5', 1e-05 -> '1e-05'."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def sweep_name(base: str, setting: str, taken: set[str] | None = None) -> str:
    """'<run name>-<setting>', with -2, -3, … when a run already carries that sweep name."""
    if taken is None:
        taken = {r.sweep for r in list_runs() if r.sweep}
    name = sanitize_run_name(f"{base}-{SETTINGS[setting].short}")[:56]
    out, i = name, 2
    while out in taken:
        out, i = f"{name}-{i}", i + 1
    return out


def sweep_entries(name: str, cfg: RunConfig, setting: str, values: list[float | int],
                  sweep: str) -> list[tuple[str, RunConfig]]:
    """(run name, config) per value: the base config with the setting replaced and ``train.sweep``
    set; each config validated. Run names are '<name>-<short><value>'."""
    if setting not in SETTINGS:
        raise SweepError(f"a sweep varies one of {', '.join(SETTINGS)}")
    if not values:
        raise SweepError("a sweep needs at least one value")
    s = SETTINGS[setting]
    out = []
    for v in values:
        c = copy.deepcopy(cfg)
        setattr(getattr(c, s.section), s.field, s.kind(v))
        c.train.sweep = sweep
        try:
            c.validate()
            run = sanitize_run_name(f"{name}-{s.short}{value_text(s.kind(v))}")
        except (ConfigError, CheckpointError) as e:
            raise SweepError(str(e)) from None
        out.append((run, c))
    return out
