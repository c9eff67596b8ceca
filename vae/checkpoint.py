"""Run folders: ``model.safetensors`` + ``config.json`` + ``history.jsonl`` (+ ``status.json``).

Every file is written atomically (temp file in the same folder, fsync, rename),
so a crash leaves each file either old or new, never half-written. Nothing is
ever unpickled: weights are safetensors, or a ``.pt`` read with
``torch.load(weights_only=True)``. Every problem with a run folder raises one
``CheckpointError`` whose message says what is wrong and what to do.
"""
from __future__ import annotations

import functools
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, RunConfig
from .models import VAE, build_model

WEIGHTS, CONFIG, HISTORY, STATUS = "model.safetensors", "config.json", "history.jsonl", "status.json"
MAX_CONFIG_BYTES = 1 << 20
MAX_PARAMS = 50_000_000  # ≈200 MB of float32: far above any model this app trains
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


class CheckpointError(Exception):
    """A run folder or file cannot be used; the message says why and what to do."""


def default_runs_root() -> Path:
    """``$VAE_CHECKPOINTS``, else ``checkpoints/`` beside the ``vae`` package."""
    env = os.environ.get("VAE_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "checkpoints"


def sanitize_run_name(name: str) -> str:
    """A safe folder name: letters, digits, '.', '_' and '-' only; no leading dot; ≤ 64 chars."""
    clean = _NAME_OK.sub("-", str(name)).strip("-.")[:64].strip("-.")
    if not clean:
        raise CheckpointError(f"run name {name!r} has no usable characters; use letters, digits, '-', '_' or '.'")
    return clean


def run_dir_for(name: str, root: Path | None = None) -> Path:
    """The folder for a run name, guaranteed to lie directly inside ``root``."""
    root = Path(root or default_runs_root()).resolve()
    path = (root / sanitize_run_name(name)).resolve()
    if path.parent != root:
        raise CheckpointError(f"run name {name!r} would leave the checkpoints folder")
    return path


def unique_run_dir(name: str, root: Path | None = None) -> Path:
    """Like ``run_dir_for`` but never an existing folder: appends -2, -3, …"""
    base = run_dir_for(name, root)
    path, i = base, 2
    while path.exists():
        path = base.with_name(f"{base.name[:58]}-{i}")
        i += 1
    return path


# ---------------------------------------------------------------- atomic writes

def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write through a temp file of a unique name in the same folder (``mkstemp``), then
    rename: two writers of one file, in threads or processes, never share a temp file."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; run files are as readable as before
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())


def save_weights(path: Path, model: torch.nn.Module, epoch: int | None = None) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt"} | ({"epoch": str(epoch)} if epoch is not None else {})
    write_bytes_atomic(path, save(tensors, metadata=meta))


def write_history(run_dir: Path, history: list[dict]) -> None:
    write_bytes_atomic(Path(run_dir) / HISTORY, "".join(json.dumps(h) + "\n" for h in history).encode())


def write_status(run_dir: Path, state: str, message: str = "", **extra) -> None:
    """status.json, stamped with the writing process's identity (pid, pid_start, boot_id,
    host) so a reader can tell a live trainer from one that was killed (``vae.jobs.effective_status``)."""
    from .procs import identity

    write_json_atomic(Path(run_dir) / STATUS,
                      {"state": state, "message": message, "updated": time.time(), **identity(), **extra})


def save_run(run_dir: Path, model: VAE, config: RunConfig, history: list[dict], epoch: int | None = None) -> None:
    """Write a whole run: config first, then weights, then history; each atomic.

    A folder only counts as a run once both config and weights exist, so a
    crash before the weights land leaves no run that looks whole.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / CONFIG).exists():
        write_json_atomic(run_dir / CONFIG, config.to_dict())
    save_weights(run_dir / WEIGHTS, model, epoch)
    write_history(run_dir, history)


# ---------------------------------------------------------------- reading

def parse_config(raw: bytes | str, source: str = CONFIG) -> RunConfig:
    if len(raw) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{source} is {len(raw):,} bytes; a config is a few hundred bytes")
    try:
        d = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{source} is not valid JSON ({e})") from None
    try:
        cfg = RunConfig.from_dict(d)
    except ConfigError as e:
        raise CheckpointError(f"{source}: {e}") from None
    n = count_parameters(cfg)
    if n > MAX_PARAMS:
        raise CheckpointError(f"{source} describes a model with {n:,} parameters; the limit is {MAX_PARAMS:,}")
    return cfg


def count_parameters(cfg: RunConfig) -> int:
    """Parameters of the model a config describes, counted without allocating it."""
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(cfg.model).parameters())


def load_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: a run folder needs {CONFIG} and {WEIGHTS}")
    return parse_config(path.read_bytes(), str(path))


def read_state_dict(raw: bytes, source: str) -> dict[str, torch.Tensor]:
    """Tensors from safetensors bytes, or from a .pt file read with weights_only=True."""
    if source.endswith(".pt") or source.endswith(".pth"):
        import io
        try:
            obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"{source} is not a weights-only PyTorch file and was not loaded "
                                  f"(pickled code is never run): {str(e).splitlines()[0][:200]}") from None
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise CheckpointError(f"{source} does not hold a state dict of tensors")
        return obj
    from safetensors.torch import load
    try:
        return load(raw)
    except Exception as e:
        raise CheckpointError(f"{source} is not a valid safetensors file (truncated or corrupt?): "
                              f"{str(e).splitlines()[0][:200]}") from None


def model_from_state(cfg: RunConfig, state: dict[str, torch.Tensor], source: str) -> VAE:
    """Build the model a config describes and load weights that must match it exactly."""
    model = build_model(cfg.model)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{source} does not match config.json: missing tensors {missing[:5]}, "
                              f"unexpected tensors {unexpected[:5]}")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{source}: tensor {k} has shape {tuple(state[k].shape)} but config.json "
                                  f"implies {tuple(v.shape)}")
        if not state[k].is_floating_point() or not torch.isfinite(state[k]).all():
            raise CheckpointError(f"{source}: tensor {k} is not finite floating point")
    model.load_state_dict({k: state[k].to(v.dtype) for k, v in expected.items()})
    return model.eval()


@dataclass
class Run:
    path: Path
    config: RunConfig
    model: VAE
    history: list[dict] = field(default_factory=list)
    status: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def load_run(run_dir: Path | str, device: str = "cpu") -> Run:
    """Rebuild a run's model from its config and weights, in eval mode."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    cfg = load_config(run_dir)
    wpath = run_dir / WEIGHTS
    if not wpath.is_file():
        raise CheckpointError(f"{wpath} is missing: the run has no saved epoch yet")
    model = model_from_state(cfg, read_state_dict(wpath.read_bytes(), str(wpath)), str(wpath))
    return Run(run_dir, cfg, model.to(device), read_history(run_dir), read_status(run_dir))


def parse_history(text: str) -> list[dict]:
    """Epoch records from history.jsonl text; lines that do not parse are skipped
    (the history is informative only: weights and config define the run)."""
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def read_history(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / HISTORY
    return parse_history(path.read_text(errors="replace")) if path.is_file() else []


def read_status(run_dir: Path) -> dict:
    try:
        d = json.loads((Path(run_dir) / STATUS).read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


@dataclass
class RunInfo:
    """What the run picker shows, read without building the model."""
    name: str
    path: Path
    mtime: float
    dataset: str
    arch: str
    latent_dim: int
    epochs: int
    test_elbo: float | None
    state: str

    @property
    def label(self) -> str:
        elbo = f"{self.test_elbo:.1f}" if self.test_elbo is not None else "–"
        return f"{self.name} · {self.dataset} · {self.arch} · D={self.latent_dim} · ELBO {elbo}"


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run folder under root with a readable config and weights, newest first."""
    root = Path(root or default_runs_root())
    out = []
    if not root.is_dir():
        return out
    for d in root.iterdir():
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            stamps = tuple((d / f).stat().st_mtime if (d / f).exists() else 0.0
                           for f in (WEIGHTS, CONFIG, HISTORY, STATUS))
        except OSError:
            continue
        if stamps[0] and (info := _run_info(str(d), stamps)) is not None:
            out.append(info)
    out.sort(key=lambda r: r.mtime, reverse=True)
    return out


@functools.lru_cache(maxsize=512)
def _run_info(path: str, stamps: tuple[float, ...]) -> RunInfo | None:
    """A run's summary, cached until one of its files changes (stamps are their mtimes):
    the picker lists every run on every rerun."""
    d = Path(path)
    try:
        cfg = load_config(d)
    except CheckpointError:
        return None
    hist = read_history(d)
    last = hist[-1] if hist else {}
    return RunInfo(name=d.name, path=d, mtime=stamps[0], dataset=cfg.data.name, arch=cfg.model.arch,
                   latent_dim=cfg.model.latent_dim, epochs=len(hist), test_elbo=last.get("test_elbo"),
                   state=read_status(d).get("state", "finished"))
