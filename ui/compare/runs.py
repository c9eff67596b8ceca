"""Which runs the Compare runs page puts together: the readable, finished runs of each dataset
with their settings (``RunRow``), the short settings text and the hover text each run's point shows,
and whether two runs' test splits hold the same images."""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass

from vae.analysis.rate_distortion import RatePoint
from vae.config import RunConfig
from vae.runs.catalog import RunInfo
from vae.runs.folder import load_config


@dataclass
class RunRow:
    info: RunInfo
    config: RunConfig


def runs_by_dataset(runs: list[RunInfo]) -> dict[str, list[RunRow]]:
    """Readable, finished runs grouped by dataset name (runs still training are left out: their
    weights change every epoch)."""
    out: dict[str, list[RunRow]] = {}
    for r in runs:
        if r.error is not None or r.state == "running":
            continue
        try:
            cfg = load_config(r.path)
        except Exception:  # noqa: BLE001 - listed as readable a moment ago; skip it if it changed since
            continue
        out.setdefault(r.dataset, []).append(RunRow(r, cfg))
    return out


def settings_text(cfg: RunConfig) -> str:
    t = cfg.train
    parts = [f"D={cfg.model.latent_dim}", cfg.model.arch, f"β={t.beta:g}"]
    if t.kl_warmup:
        parts.append(f"warm-up {t.kl_warmup:g}")
    if t.free_bits:
        parts.append(f"free bits {t.free_bits:g}")
    parts += [f"seed {t.seed}", f"{t.epochs} epochs"]
    return ", ".join(parts)


def hover(row: RunRow, p: RatePoint) -> str:
    """Plotly hover text (it reads a few HTML tags): the run's name and settings, escaped."""
    sweep = f"<br>sweep {html.escape(row.config.train.sweep)}" if row.config.train.sweep else ""
    return (f"<b>{html.escape(row.info.name)}</b>{sweep}<br>{settings_text(row.config)}<br>rate {p.rate:.2f} ± {2 * p.rate_se:.2f}"
            f" · distortion {p.distortion:.2f} ± {2 * p.distortion_se:.2f}<br>ELBO {p.elbo:.2f} nats"
            "<br><i>click to open this run</i>")


def same_split(a: RunConfig, b: RunConfig) -> bool:
    """Whether two runs' test splits hold the same images (so their maps can be aligned point by point)."""
    return asdict(a.data) == asdict(b.data)
