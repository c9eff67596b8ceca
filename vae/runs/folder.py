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
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vae.config import ConfigError, RunConfig
from vae.files import open_regular, write_bytes_atomic, write_json_atomic
from vae.model.networks import VAE, build_model
from vae.runs.validate import check_data_config, parse_history as _parse_history, read_history_file

WEIGHTS, CONFIG, HISTORY, STATUS = "model.safetensors", "config.json", "history.jsonl", "status.json"
MAX_CONFIG_BYTES = 1 << 20
MAX_PARAMS = 50_000_000  # ≈200 MB of float32: far above any model this app trains
MAX_WEIGHTS_BYTES = 8 * MAX_PARAMS + (1 << 20)  # float64 weights of the largest model, plus a header


class CheckpointError(Exception):
    """A run folder or file cannot be used; the message says why and what to do."""








# ---------------------------------------------------------------- atomic writes





def save_weights(path: Path, model: torch.nn.Module, epoch: int | None = None) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt"} | ({"epoch": str(epoch)} if epoch is not None else {})
    write_bytes_atomic(path, save(tensors, metadata=meta))


def weights_digest(run_dir: Path) -> str:
    """A short hash of the run's weights: caches kept in the run folder are keyed by it, so a
    retrained or replaced model never reads another model's results."""
    path = Path(run_dir) / WEIGHTS
    return _digest(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int) -> str:
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


CACHE = "cache"  # <run>/cache/: results the app and CLIs may rebuild at any time (gaps, projections)


def write_history(run_dir: Path, history: list[dict]) -> None:
    write_bytes_atomic(Path(run_dir) / HISTORY, "".join(json.dumps(h) + "\n" for h in history).encode())


STATUS_KEPT = ("initial_test_elbo",)  # written once at the start of training, kept by every later write


def write_status(run_dir: Path, state: str, message: str = "", **extra) -> None:
    """status.json, stamped with the writing process's identity (pid, pid_start, boot_id,
    host) so a reader can tell a live trainer from one that was killed (``effective_status``).
    Keys in STATUS_KEPT carry over from the previous status unless given again."""
    from vae.runs.processes import identity

    old = read_status(run_dir) if any(k not in extra for k in STATUS_KEPT) else {}
    kept = {k: old[k] for k in STATUS_KEPT if k in old and k not in extra}
    write_json_atomic(Path(run_dir) / STATUS, {"state": state, "message": message, "updated": time.time(),
                                               **identity(), **kept, **extra})


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

def parse_config(raw: bytes | str, source: str = CONFIG, *, confined: bool = True) -> RunConfig:
    """A run's config, validated whole: model, training and dataset settings (see
    ``vae.runs.validate.check_data_config``; ``confined=False`` only for a data_dir the
    person at the command line typed themselves)."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{source} is {len(raw):,} bytes; a config is a few hundred bytes")
    try:
        d = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{source} is not valid JSON ({e})") from None
    except RecursionError:
        raise CheckpointError(f"{source} is nested too deeply to be a config") from None
    try:
        cfg = RunConfig.from_dict(d)
        check_data_config(cfg.data, cfg.model, confined=confined)
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
    return parse_config(_read_capped(path, MAX_CONFIG_BYTES, "a config"), CONFIG)


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
        if not state[k].is_floating_point():
            raise CheckpointError(f"{source}: tensor {k} is not floating point")
    cast = {k: state[k].to(v.dtype) for k, v in expected.items()}
    for k, v in cast.items():  # after the cast: 1e300 in float64 is inf in float32
        if not torch.isfinite(v).all():
            raise CheckpointError(f"{source}: tensor {k} is not finite (in {expected[k].dtype})")
    model.load_state_dict(cast)
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
    raw = _read_capped(wpath, MAX_WEIGHTS_BYTES, "the weights of a model this server loads")
    model = model_from_state(cfg, read_state_dict(raw, WEIGHTS), WEIGHTS)
    return Run(run_dir, cfg, model.to(device), read_history(run_dir), read_status(run_dir))


def parse_history(text: bytes | str) -> list[dict]:
    """Typed epoch records from history.jsonl content, capped (``vae.runs.validate.parse_history``):
    lines that do not parse are skipped (the history is informative only: weights and config
    define the run), known keys hold numbers or None, unknown keys are dropped."""
    return _parse_history(text)


def read_history(run_dir: Path) -> list[dict]:
    return read_history_file(Path(run_dir) / HISTORY)


def read_status(run_dir: Path) -> dict:
    f = open_regular(Path(run_dir) / STATUS)
    if f is None:
        return {}
    try:
        with f:
            d = json.loads(f.read(MAX_CONFIG_BYTES))
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}




















# ---------------------------------------------------------------- uploads: quota and delete


def _read_capped(path: Path, limit: int, what: str) -> bytes:
    """A regular file's bytes, refusing more than ``limit`` (never a device or fifo)."""
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise CheckpointError(f"{path.name} is missing: a run folder needs {CONFIG} and {WEIGHTS}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path.name} is not a regular file")
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise CheckpointError(f"{path.name} is larger than {limit:,} bytes, too large for {what}")
    return raw
