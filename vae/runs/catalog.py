"""The catalogue of runs under a checkpoints folder: run names, the picker's listing (read without
building a model; an unreadable run is listed with its reason), whether a run's trainer still lives,
the upload quota, and deletion."""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch

from vae.config import ConfigError, RunConfig
from vae.limits import UPLOADED_MB, UPLOADED_RUNS
from vae.model.networks import build_model
from vae.model.family import posterior_label
from vae.runs.folder import (CONFIG, HISTORY, MAX_WEIGHTS_BYTES, STATUS, WEIGHTS, CheckpointError, load_config,
                             read_history, read_status)
from vae.runs.paths import UPLOAD_INFIX, UPLOADS, default_runs_root
from vae.runs.processes import is_alive as _is_alive


# Runs committed with the project: never deleted from the UI, never counted as uploads.
PROTECTED = frozenset({"mnist-default", "mnist-2d", "mnist-beta4", "shapes-default", "digits-default"})


_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


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
    posterior: str = "Gaussian"  # q(z|x)'s family, as ``vae.model.family.posterior_label`` names it
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


def upload_quota() -> tuple[int, int]:
    """(runs, bytes) this server keeps of uploaded runs: ``$VAE_MAX_UPLOADED_RUNS``
    (default 50) and ``$VAE_MAX_UPLOADED_MB`` (default 1000), ``vae.limits``; 0 keeps none."""
    return UPLOADED_RUNS.value(), UPLOADED_MB.value() << 20


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
