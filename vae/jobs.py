"""Training jobs launched from the app: ``python -m vae.train … --out <run>`` as a
subprocess, one at a time per checkpoints folder.

The job's record lives on disk (``<root>/.jobs/current.json``), so page switches,
browser reloads and even a server restart find it again; progress is read from
the run folder the trainer writes (status.json, history.jsonl) and its log.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checkpoint import WEIGHTS, read_history, read_status, unique_run_dir, write_json_atomic

REPO = Path(__file__).resolve().parents[1]


class JobError(Exception):
    """A job cannot be started (another is active, or the request is invalid)."""


@dataclass
class Job:
    name: str  # run folder name
    run_dir: str
    log: str
    pid: int
    started: float
    args: list[str] = field(default_factory=list)
    epochs: int = 0
    returncode: int | None = None  # set once the process has ended; -1 if another process launched it

    # ---- live views, read from disk
    def status(self) -> dict:
        return read_status(Path(self.run_dir))

    def history(self) -> list[dict]:
        return read_history(Path(self.run_dir))

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def summary(self) -> dict:
        """state (running | finished | stopped | diverged | failed), epoch, epochs, seconds left, message."""
        status, hist = self.status(), self.history()
        done = len(hist)
        elapsed = sum(h.get("seconds", 0.0) for h in hist)
        left = (elapsed / done) * (self.epochs - done) if done else None
        saved = (Path(self.run_dir) / WEIGHTS).exists()
        if self.returncode is None:
            state, msg = "running", status.get("message", "starting")
        elif saved and status.get("state") in ("finished", "stopped", "diverged", "failed"):
            state, msg = status["state"], status.get("message", "")
        else:
            state, msg = "failed", self.error_message()
        if state == "diverged" and not saved:
            state = "failed"
        return {"state": state, "epoch": done, "epochs": self.epochs, "seconds_left": left, "message": msg,
                "saved": saved}

    def error_message(self) -> str:
        """The trainer's own words: its 'error:' lines, else the end of its log."""
        tail = self.log_tail()
        errs = [line[len("error: "):] for line in tail.splitlines() if line.startswith("error: ")]
        if errs:
            return errs[-1]
        lines = [line for line in tail.splitlines() if line.strip()]
        return "\n".join(lines[-6:]) or "the trainer ended without a message"


# Image side of each dataset when no size is asked for (the trainer's own default).
NATIVE_SIZE = {"digits": 8, "mnist": 28, "fashion-mnist": 28, "shapes": 32, "folder": 28}


def parse_hidden(text: str) -> list[int]:
    """'512 256' or '512, 256' -> [512, 256]."""
    parts = text.replace(",", " ").split()
    try:
        out = [int(p) for p in parts]
    except ValueError:
        raise JobError(f"hidden sizes must be whole numbers separated by spaces, not {text!r}") from None
    if not out:
        raise JobError("give at least one hidden size, e.g. 256")
    return out


def build_train_args(form: dict, limits: dict) -> list[str]:
    """Validated ``vae.train`` arguments from the training form's values.

    form keys: dataset, data_dir, arch, latent_dim, hidden (text), likelihood, beta,
    kl_warmup, free_bits, epochs, batch_size, lr, seed, image_size, channels.
    limits: max_epochs, max_items (the operator's caps for a shared server)."""
    from .config import ConfigError, ModelConfig, TrainConfig

    if form["epochs"] > limits["max_epochs"]:
        raise JobError(f"this server allows at most {limits['max_epochs']} epochs per run")
    hidden = parse_hidden(form["hidden"])
    try:
        TrainConfig(epochs=form["epochs"], batch_size=form["batch_size"], lr=form["lr"], beta=form["beta"],
                    kl_warmup=form["kl_warmup"], free_bits=form["free_bits"], seed=form["seed"]).validate()
        ModelConfig(arch=form["arch"], latent_dim=form["latent_dim"], hidden=hidden,
                    likelihood=form["likelihood"],
                    image_size=form.get("image_size") or NATIVE_SIZE.get(form["dataset"], 28),
                    in_channels=form.get("channels") or 1).validate()
    except ConfigError as e:
        raise JobError(str(e)) from None
    if form["dataset"] == "folder" and not form.get("data_dir"):
        raise JobError("the folder dataset needs a data folder or an uploaded zip of images")
    if form.get("data_dir"):  # a path from the form is confined to VAE_DATA_ROOTS (vae.validate)
        from .validate import check_data_dir
        try:
            check_data_dir(form["data_dir"], zip_ok=form["dataset"] == "folder", must_exist=False)
        except ConfigError as e:
            raise JobError(str(e)) from None
    args = ["--dataset", form["dataset"], "--arch", form["arch"], "--latent-dim", str(form["latent_dim"]),
            "--hidden", *map(str, hidden), "--likelihood", form["likelihood"], "--beta", str(form["beta"]),
            "--kl-warmup", str(form["kl_warmup"]), "--free-bits", str(form["free_bits"]),
            "--epochs", str(form["epochs"]), "--batch-size", str(form["batch_size"]), "--lr", str(form["lr"]),
            "--seed", str(form["seed"]), "--max-items", str(limits["max_items"]), "--json"]
    if form.get("data_dir"):
        args += ["--data-dir", str(form["data_dir"])]
    if form.get("image_size"):
        args += ["--image-size", str(form["image_size"])]
    if form.get("channels"):
        args += ["--channels", str(form["channels"])]
    return args


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as ended
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


class JobManager:
    """Starts, follows and stops the one training job of a checkpoints folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.jobs_dir = self.root / ".jobs"
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen] = {}

    # ---- the record on disk
    def _record_path(self) -> Path:
        return self.jobs_dir / "current.json"

    def current(self) -> Job | None:
        """The most recent job (running or ended), reaping it if it has ended."""
        try:
            job = Job(**json.loads(self._record_path().read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if job.returncode is None and not self._running(job):
            self._finalise(job)
        return job

    def active(self) -> Job | None:
        job = self.current()
        return job if job is not None and job.returncode is None else None

    def _running(self, job: Job) -> bool:
        proc = self._procs.get(job.pid)
        if proc is not None:
            return proc.poll() is None
        return _alive(job.pid)

    def _finalise(self, job: Job) -> None:
        """Record the exit; a run that saved no epoch is removed, a stale 'running' status is corrected."""
        proc = self._procs.pop(job.pid, None)
        job.returncode = proc.returncode if proc is not None else -1
        run_dir = Path(job.run_dir)
        status = read_status(run_dir)
        if not (run_dir / WEIGHTS).exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # no epoch saved: leave no half-made run
        elif status.get("state") == "running":
            # Killed without a chance to say so (SIGKILL, OOM): the last saved epoch stands.
            from .checkpoint import write_status
            done = len(read_history(run_dir))
            write_status(run_dir, "failed", f"the trainer died unexpectedly (exit code {job.returncode}); "
                                            f"the run keeps its last saved epoch ({done})",
                         epoch=done, epochs=job.epochs)
        self._save(job)

    def _save(self, job: Job) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._record_path(), asdict(job))

    # ---- actions
    def start(self, run_name: str, train_args: list[str], epochs: int) -> Job:
        """Launch the trainer into a new run folder (never an existing one)."""
        with self._lock:
            active = self.active()
            if active is not None:
                raise JobError(f"run {active.name!r} is already training; one training job at a time "
                               "on this server. Watch it, or wait for it to finish.")
            run_dir = unique_run_dir(run_name, self.root)
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
            log = self.jobs_dir / f"{run_dir.name}.log"
            args = [sys.executable, "-m", "vae.train", *train_args, "--out", str(run_dir)]
            with open(log, "wb") as f:
                proc = subprocess.Popen(args, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
            self._procs[proc.pid] = proc
            job = Job(name=run_dir.name, run_dir=str(run_dir), log=str(log), pid=proc.pid, started=time.time(),
                      args=train_args, epochs=epochs)
            self._save(job)
            return job

    def stop(self) -> bool:
        """Ask the active trainer to stop (it keeps its last completed epoch)."""
        job = self.active()
        if job is None:
            return False
        try:
            os.kill(job.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float) -> Job | None:
        """Block until the current job ends (for tests and the CLI); returns it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.current()
            if job is None or job.returncode is not None:
                return job
            time.sleep(0.2)
        return self.current()
