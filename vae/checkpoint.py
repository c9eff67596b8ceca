"""Run folders: ``model.safetensors`` + ``config.json`` + ``history.jsonl`` (+ ``status.json``).

Every file is written atomically (temp file in the same folder, fsync, rename),
so a crash leaves each file either old or new, never half-written. Nothing is
ever unpickled: weights are safetensors, or a ``.pt`` read with
``torch.load(weights_only=True)``. Every problem with a run folder raises one
``CheckpointError`` whose message says what is wrong and what to do.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, RunConfig
from .models import VAE, build_model
from .posteriors import posterior_label
from .paths import UPLOAD_INFIX, UPLOADS, default_runs_root
from .procs import is_alive as _is_alive
from .validate import check_data_config, open_regular, parse_history as _parse_history, read_history_file

WEIGHTS, CONFIG, HISTORY, STATUS = "model.safetensors", "config.json", "history.jsonl", "status.json"
MAX_CONFIG_BYTES = 1 << 20
MAX_PARAMS = 50_000_000  # ≈200 MB of float32: far above any model this app trains
MAX_WEIGHTS_BYTES = 8 * MAX_PARAMS + (1 << 20)  # float64 weights of the largest model, plus a header
# Runs committed with the project: never deleted from the UI, never counted as uploads.
PROTECTED = frozenset({"mnist-default", "mnist-2d", "mnist-beta4", "shapes-default", "digits-default"})
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


class CheckpointError(Exception):
    """A run folder or file cannot be used; the message says why and what to do."""


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
    from .procs import identity

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
    ``vae.validate.check_data_config``; ``confined=False`` only for a data_dir the
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
    """Typed epoch records from history.jsonl content, capped (``vae.validate.parse_history``):
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


@dataclass
class RunInfo:
    """What the run picker shows, read without building the model. A run that fails
    validation is listed too, with ``error`` saying why, so the picker never breaks."""
    name: str
    path: Path
    mtime: float
    dataset: str = ""
    arch: str = ""
    latent_dim: int = 0
    epochs: int = 0
    test_elbo: float | None = None
    state: str = ""
    error: str | None = None  # why the run cannot be used; None when it passed validation
    posterior: str = "Gaussian"  # q(z|x)'s family, as ``vae.posteriors.posterior_label`` names it
    sweep: str = ""  # the sweep it was queued in (config's train.sweep); "" for none

    @property
    def label(self) -> str:
        if self.error is not None:
            return f"{self.name} · unreadable: {self.error}"
        elbo = f"{self.test_elbo:.1f}" if self.test_elbo is not None else "–"
        note = {"running": " · training…", "interrupted": " · stopped unexpectedly"}.get(self.state, "")
        post = "" if self.posterior == "Gaussian" else f" · {self.posterior}"
        sweep = f" · sweep {self.sweep}" if self.sweep else ""
        return f"{self.name} · {self.dataset} · {self.arch} · D={self.latent_dim}{post} · ELBO {elbo}{sweep}{note}"


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run folder under root (a folder with weights), newest first;
    those that fail validation carry an ``error`` instead of their figures."""
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
        if stamps[0]:  # no weights yet (a first epoch still training): not a run
            info = _run_info(str(d), stamps)
            if info.state == "running":  # believed only while its trainer lives (not cached: it can die)
                info = dataclasses.replace(info, state=effective_status(d).get("state", "running"))
            out.append(info)
    out.sort(key=lambda r: r.mtime, reverse=True)
    return out


NOTHING_SAVED = "stopped before the first epoch: nothing saved"


def killed_message(epochs_done: int) -> str:
    return f"stopped unexpectedly — last complete epoch {epochs_done} kept"


def effective_status(run_dir: Path | str) -> dict:
    """A run's status.json checked against its trainer process.

    A status that says 'running' is believed only while the process that wrote it (pid,
    start time, boot, host) is alive; otherwise the state is 'interrupted' ("stopped
    unexpectedly — last complete epoch N kept") or, with no epoch saved, 'empty' ("stopped
    before the first epoch: nothing saved"). Keys: state, message, epoch (complete epochs
    saved), plus whatever status.json holds. A status missing altogether reads as {}.
    A trainer on another host cannot be checked from here and is taken at its word."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    if status.get("state") != "running" or _is_alive(status) is not False:
        return status
    done = len(read_history(run_dir))
    if done and (run_dir / WEIGHTS).exists():
        return {**status, "state": "interrupted", "message": killed_message(done), "epoch": done}
    return {**status, "state": "empty", "message": NOTHING_SAVED, "epoch": 0}




def check_weights_header(cfg: RunConfig, path: Path) -> None:
    """Tensor names and shapes in a safetensors file against the model ``cfg`` describes,
    read from the header only (no tensor data): what the picker can afford for every run."""
    import stat
    from safetensors import safe_open
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{WEIGHTS} is not a regular file")
    if st.st_size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{WEIGHTS} is larger than {MAX_WEIGHTS_BYTES:,} bytes")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(cfg.model).state_dict().items()}
    try:
        with safe_open(str(path), "pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception:  # noqa: BLE001 - safetensors raises several types on a corrupt header
        raise CheckpointError(f"{WEIGHTS} is not a valid safetensors file") from None
    if shapes != expected:
        raise CheckpointError(f"{WEIGHTS} does not match {CONFIG} (tensor names or shapes differ)")


@functools.lru_cache(maxsize=512)
def _run_info(path: str, stamps: tuple[float, ...]) -> RunInfo:
    """A run's summary, cached until one of its files changes (stamps are their mtimes):
    the picker lists every run on every rerun. Never raises: a bad run gets an error."""
    d = Path(path)
    mtime = stamps[0]
    try:
        cfg = load_config(d)
        check_weights_header(cfg, d / WEIGHTS)
        hist = read_history(d)
        status = read_status(d).get("state", "finished")
    except Exception as e:  # noqa: BLE001 - one bad run must never break the listing of the others
        return RunInfo(name=d.name, path=d, mtime=mtime, error=run_error_text(e))
    last = hist[-1] if hist else {}
    return RunInfo(name=d.name, path=d, mtime=mtime, dataset=cfg.data.name, arch=cfg.model.arch,
                   latent_dim=cfg.model.latent_dim, epochs=len(hist), test_elbo=last.get("test_elbo"),
                   state=status if isinstance(status, str) else "unknown", sweep=cfg.train.sweep,
                   posterior=posterior_label(cfg.model))


def run_error_text(e: BaseException, max_len: int = 160) -> str:
    """A one-line reason for a run's failure, without server paths."""
    text = " ".join(str(e).split()) if isinstance(e, (CheckpointError, ConfigError)) else type(e).__name__
    text = re.sub(r"(?<![\w.~-])(?:/[^\s/'\"]+){2,}/?", "‹path›", text)
    return text[:max_len - 1] + "…" if len(text) > max_len else text


# ---------------------------------------------------------------- uploads: quota and delete

def _env_int(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


def upload_quota() -> tuple[int, int]:
    """(runs, bytes) this server keeps of uploaded runs: ``$VAE_MAX_UPLOADED_RUNS``
    (default 50) and ``$VAE_MAX_UPLOADED_MB`` (default 1000)."""
    return _env_int("VAE_MAX_UPLOADED_RUNS", 50), _env_int("VAE_MAX_UPLOADED_MB", 1000) << 20


def is_upload(run_dir: Path) -> bool:
    return read_status(run_dir).get("origin") == "upload"


def folder_bytes(run_dir: Path) -> int:
    total = 0
    for p in Path(run_dir).iterdir():
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def upload_usage(root: Path | None = None) -> tuple[int, int]:
    """(number, bytes) of uploaded runs under root."""
    root = Path(root or default_runs_root())
    n = size = 0
    if root.is_dir():
        for d in root.iterdir():
            if not d.name.startswith(".") and d.is_dir() and is_upload(d):
                n += 1
                size += folder_bytes(d)
    return n, size


def can_delete(run_dir: Path) -> str | None:
    """None if the run may be deleted from the UI, else why not."""
    run_dir = Path(run_dir)
    if run_dir.name in PROTECTED:
        return "it ships with the project"
    status = read_status(run_dir)
    pid = status.get("pid")
    if status.get("state") == "running" and isinstance(pid, int) and pid > 0:
        try:
            os.kill(pid, 0)
            return "it is training"
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            return "it is training"
    return None


def delete_run(name: str, root: Path | None = None) -> None:
    """Delete a user's run folder (uploaded or trained); never a protected one. The folder
    is first renamed to a hidden name, so it leaves the picker at once, then removed."""
    root = Path(root or default_runs_root()).resolve()
    path = run_dir_for(name, root)
    if path.name != name or not path.is_dir() or path.is_symlink():
        raise CheckpointError(f"there is no run {sanitize_run_name(name)!r} to delete")
    why = can_delete(path)
    if why:
        raise CheckpointError(f"run {path.name!r} cannot be deleted: {why}")
    trash = root / f".deleted-{uuid.uuid4().hex}"
    try:
        path.rename(trash)
    except OSError as e:
        raise CheckpointError(f"could not delete run {path.name!r} ({e.strerror})") from None
    shutil.rmtree(trash, ignore_errors=True)
    for data in (root / UPLOADS).glob(f"{path.name}{UPLOAD_INFIX}*"):  # the images it trained on
        if data.is_dir() and not data.is_symlink():
            shutil.rmtree(data, ignore_errors=True)
