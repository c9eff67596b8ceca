"""Training jobs launched from the app: ``python -m vae.train … --out=<run>`` as a
subprocess, one at a time per checkpoints folder: ``JobManager`` starts, follows and stops
it; ``prepare_run`` checks a config before it may start; ``parse_launcher`` reads the
operator's torchrun launcher.

The job's record lives on disk (``<root>/.jobs/current.json``, ``vae.jobs.record.Job``), so
page switches, browser reloads and even a server restart find it again; its progress is read
from the run folder the trainer writes (status.json, history.jsonl) and its log.

A process is known by its pid *and* start time (``vae.runs.processes``), never by a bare pid:
after a restart the pid may belong to anything. Starting and finalising a job hold
one lock file per checkpoints folder (``.jobs/lock``, ``fcntl.flock``), so two
sessions, or two server processes, never start two trainers or finalise one twice.
"""
from __future__ import annotations

import copy
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from vae.runs.datasets import NATURAL_ITEMS
from vae.runs.catalog import effective_status, killed_message, run_dir_for, sanitize_run_name
from vae.runs.paths import UPLOAD_INFIX, UPLOADS
from vae.runs.folder import WEIGHTS, CheckpointError, read_history, write_status
from vae.files import write_json_atomic
from vae.config import ConfigError, RunConfig
from vae.runs.processes import identity, is_alive, signal_if_same
from vae.jobs.plans import MAX_RUNS as MAX_PLAN_RUNS, write_plan
from vae.jobs.record import Job

REPO = Path(__file__).resolve().parents[2]
TRAINER = ("-m", "vae.train")
LAUNCHER_ENV = "VAE_TRAIN_LAUNCHER"  # e.g. "torchrun --nproc_per_node=4": how the server starts a training
# torchrun options that would replace the trainer the job manager names, or run something else.
_LAUNCHER_FORBIDDEN = {"-m", "--module", "--no-python", "--no_python", "--run-path", "--run_path"}
_LAUNCHER_SWITCHES = {"--standalone"}  # torchrun options that take no value


class JobError(Exception):
    """A job cannot be started (another is active, or the request is invalid)."""


def parse_launcher(text: str | None) -> list[str]:
    """The operator's launcher (``VAE_TRAIN_LAUNCHER``) as the argv that precedes the trainer's
    module, or [] for a plain ``python -m vae.train``. Only torchrun followed by its own long
    options is accepted (``--opt=value`` or ``--opt value``); torchrun is run as
    ``python -m torch.distributed.run`` with the server's own Python. JobError otherwise."""
    if text is None or not text.strip():
        return []
    try:
        parts = shlex.split(text)
    except ValueError as e:
        raise JobError(f"{LAUNCHER_ENV} cannot be read ({e}); expected e.g. 'torchrun --nproc_per_node=4'") from None
    if Path(parts[0]).name != "torchrun":
        raise JobError(f"{LAUNCHER_ENV} must start with torchrun (e.g. 'torchrun --nproc_per_node=4'), "
                       f"not {parts[0][:40]!r}")
    opts, value_due = parts[1:], False
    for tok in opts:
        name = tok.split("=", 1)[0]
        if value_due and not tok.startswith("-"):
            value_due = False
            continue
        if not tok.startswith("--") or name in _LAUNCHER_FORBIDDEN:
            raise JobError(f"{LAUNCHER_ENV}: only torchrun's own long options may follow it; {tok[:40]!r} is not "
                           "one (the job manager names the trainer itself)")
        value_due = "=" not in tok and name not in _LAUNCHER_SWITCHES
    return [sys.executable, "-m", "torch.distributed.run", *opts]


def prepare_run(cfg: RunConfig, limits: dict, upload: bool = False) -> RunConfig:
    """A copy of ``cfg`` that the app may start, or JobError saying why not.

    The config is validated whole (the model at the image shape its data setting yields);
    a data folder is confined to VAE_DATA_ROOTS and made absolute (the trainer runs in the
    project folder); the operator's item cap is applied where it cuts something.
    ``upload``: the folder dataset's images come as an upload (``JobManager.start_run`` adds it).
    limits: max_epochs, max_items (the operator's caps for a shared server)."""
    from vae.runs.validate import check_data_dir, data_shape

    cfg = copy.deepcopy(cfg)
    if cfg.train.epochs > limits["max_epochs"]:
        raise JobError(f"this server allows at most {limits['max_epochs']} epochs per run")
    data = cfg.data
    try:
        data.validate()
        cfg.model.in_channels, cfg.model.image_size = data_shape(data)
        cfg.validate()
        if data.name == "folder" and not data.data_dir and not upload:
            raise JobError("the folder dataset needs a data folder or an uploaded zip of images")
        if upload:
            data.data_dir = None
        elif data.data_dir:
            data.data_dir = os.path.abspath(check_data_dir(data.data_dir, zip_ok=data.name == "folder",
                                                           must_exist=False))
    except ConfigError as e:
        raise JobError(str(e)) from None
    natural = NATURAL_ITEMS.get(data.name)
    if data.max_items is None and (natural is None or limits["max_items"] < natural):
        data.max_items = limits["max_items"]  # a cap only where it cuts something
    return cfg


class JobManager:
    """Starts, follows and stops the one training job of a checkpoints folder."""

    def __init__(self, root: Path, trainer: tuple[str, ...] = TRAINER, launcher: str | None = None):
        """``launcher``: torchrun and its options (``parse_launcher``); None: ``VAE_TRAIN_LAUNCHER``,
        read when a job starts."""
        self.launcher = launcher
        self.root = Path(root)
        self.jobs_dir = self.root / ".jobs"
        self.uploads_dir = self.root / UPLOADS
        self.trainer = tuple(trainer)  # what follows `python`: the trainer's module (tests may give a script)
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen] = {}

    @contextmanager
    def _locked(self):
        """This folder's job lock: threads of this process, then every process (flock)."""
        with self._lock:
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.jobs_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    # ---- the record on disk
    def _record_path(self) -> Path:
        return self.jobs_dir / "current.json"

    def _read(self) -> Job | None:
        try:
            return Job.from_dict(json.loads(self._record_path().read_text()))
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def current(self) -> Job | None:
        """The most recent job (running or ended), finalising it once if it has ended."""
        job = self._read()
        if job is not None and job.returncode is None and not self._running(job):
            with self._locked():
                job = self._finalise_locked()
        return job

    def active(self) -> Job | None:
        job = self.current()
        return job if job is not None and job.returncode is None else None

    def _running(self, job: Job) -> bool:
        proc = self._procs.get(job.pid)
        if proc is not None:
            return proc.poll() is None
        return is_alive(job.identity()) is not False  # None: on another host, taken as running

    def _finalise_locked(self) -> Job | None:
        """Record the exit (the lock is held). Idempotent: the record is read again, and a job
        another session or process has finalised already is left as it is. A run that saved no
        epoch is removed; a 'running' status the trainer could not correct is corrected; the
        job's uploaded data is removed."""
        job = self._read()
        if job is None or job.returncode is not None or self._running(job):
            return job
        proc = self._procs.pop(job.pid, None)
        job.returncode = proc.returncode if proc is not None else -1
        for run_dir in job.run_dirs():
            if not (run_dir / WEIGHTS).exists():
                self._remove(run_dir, self.root)  # no epoch saved: leave no half-made run
            elif effective_status(run_dir).get("state") in ("interrupted", "empty"):
                # Killed without a chance to say so (SIGKILL, OOM): the last saved epoch stands.
                done = len(read_history(run_dir))
                write_status(run_dir, "interrupted", killed_message(done), epoch=done, epochs=job.epochs,
                             cause=job.exit_cause())
        run_dir = Path(job.run_dir)
        if job.upload_dir and not (run_dir / WEIGHTS).exists():
            self._remove(Path(job.upload_dir), self.uploads_dir)  # kept only while a run uses it
        self._save(job)
        return job

    @staticmethod
    def _remove(path: Path, parent: Path) -> None:
        """Delete a folder a job made, only if it lies directly inside ``parent`` (a record is a file
        on disk: it is not trusted to name anything else)."""
        if path.resolve().parent == parent.resolve() and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)

    def _save(self, job: Job) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._record_path(), asdict(job))

    def _claim_run_dir(self, run_name: str) -> Path:
        """A new, empty run folder, made with an exclusive mkdir: never an existing one, even
        when another process picks the same name at the same moment (-2, -3, … are appended)."""
        base = run_dir_for(run_name, self.root)
        for i in range(1, 10_000):
            path = base if i == 1 else base.with_name(f"{base.name[:58]}-{i}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
        raise CheckpointError(f"too many runs are called {base.name!r}; choose another name")

    def _store_upload(self, run: str, upload: tuple[str, bytes]) -> tuple[str, Path]:
        """An uploaded zip, written only now that its job starts, into a folder of its own under the
        uploads root (an allowed data root: the explorer pages read the run's data from there).
        It stays while the run exists (``vae.runs.catalog.delete_run`` removes it with the run)."""
        name, data = upload
        try:
            safe = sanitize_run_name(Path(str(name)).name)
        except CheckpointError:
            safe = "images.zip"
        if not safe.lower().endswith(".zip"):
            safe += ".zip"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        folder = tempfile.mkdtemp(prefix=f"{run}{UPLOAD_INFIX}", dir=self.uploads_dir)
        path = Path(folder) / safe
        path.write_bytes(data)
        return folder, path

    # ---- actions
    def _refuse_if_busy_locked(self) -> None:
        """JobError when a job is still running (the lock is held): one training job per server."""
        job = self._read()
        if job is not None and job.returncode is None:
            job = self._finalise_locked()
        if job is not None and job.returncode is None:
            raise JobError(f"run {job.name!r} is already training; one training job at a time "
                           "on this server. Watch it, or wait for it to finish.")

    def start(self, run_name: str, train_args: list[str], epochs: int,
              upload: tuple[str, bytes] | None = None) -> Job:
        """Launch the trainer into a new run folder (never an existing one). ``upload``:
        (file name, bytes) of an image zip to train on, stored here and removed when the job ends."""
        with self._locked():
            self._refuse_if_busy_locked()
            run_dir = self._claim_run_dir(run_name)
            upload_dir = None
            try:
                if upload is not None:
                    upload_dir, path = self._store_upload(run_dir.name, upload)
                    train_args = [*train_args, f"--data-dir={path}"]
                log = self.jobs_dir / f"{run_dir.name}.log"
                launch = parse_launcher(self.launcher if self.launcher is not None else os.environ.get(LAUNCHER_ENV))
                args = [*(launch or [sys.executable]), *self.trainer, *train_args, f"--out={run_dir}"]
                with open(log, "wb") as f:
                    proc = subprocess.Popen(args, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
            except BaseException:
                shutil.rmtree(run_dir, ignore_errors=True)
                if upload_dir:
                    shutil.rmtree(upload_dir, ignore_errors=True)
                raise
            self._procs[proc.pid] = proc
            job = Job(name=run_dir.name, run_dir=str(run_dir), log=str(log), started=time.time(),
                      args=list(train_args), epochs=epochs, upload_dir=upload_dir, **identity(proc.pid))
            self._save(job)
            return job

    def start_run(self, run_name: str, cfg: RunConfig, upload: tuple[str, bytes] | None = None) -> Job:
        """Start the trainer on a config from ``prepare_run``: the command line is ``cfg.to_argv()``."""
        return self.start(run_name, [*cfg.to_argv(), "--json"], cfg.train.epochs, upload=upload)

    def start_plan(self, group: str, entries: list[tuple[str, RunConfig]]) -> Job:
        """Several runs (configs from ``prepare_run``), trained one after another by one
        ``python -m vae.queue`` process (``vae.jobs.plans``); each is the same ``vae.train`` command
        as a single run. Stop ends the current run (keeping its completed epochs) and cancels the rest."""
        if not 1 <= len(entries) <= MAX_PLAN_RUNS:
            raise JobError(f"a queue holds 1 to {MAX_PLAN_RUNS} runs, not {len(entries)}")
        with self._locked():
            self._refuse_if_busy_locked()
            dirs: list[Path] = []
            try:
                for name, _ in entries:
                    dirs.append(self._claim_run_dir(name))
                self.jobs_dir.mkdir(parents=True, exist_ok=True)
                plan = self.jobs_dir / f"{dirs[0].name}.plan.json"
                write_plan(plan, [{"name": d.name, "out": str(d), "log": str(self.jobs_dir / f"{d.name}.log"),
                                   "argv": [*cfg.to_argv(), "--json"]} for d, (_, cfg) in zip(dirs, entries)])
                log = self.jobs_dir / f"{dirs[0].name}.queue.log"
                with open(log, "wb") as f:
                    proc = subprocess.Popen([sys.executable, "-m", "vae.queue", str(plan)], cwd=REPO, stdout=f,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            except BaseException:
                for d in dirs:
                    shutil.rmtree(d, ignore_errors=True)
                raise
            self._procs[proc.pid] = proc
            job = Job(name=sanitize_run_name(group), run_dir=str(dirs[0]), log=str(log), started=time.time(),
                      epochs=entries[0][1].train.epochs, plan=str(plan), **identity(proc.pid))
            self._save(job)
            return job

    def stop(self) -> bool:
        """Ask the active trainer to stop (it keeps its last completed epoch). Only the process
        the record describes is signalled: a pid reused by another process is left alone."""
        job = self.active()
        if job is None:
            return False
        proc = self._procs.get(job.pid)
        if proc is not None:
            if proc.poll() is not None:
                return False
            proc.send_signal(signal.SIGTERM)
            return True
        return signal_if_same(job.identity(), signal.SIGTERM)

    def dismiss(self) -> bool:
        """Forget an ended job: its record and log, and its run folder if that holds no saved epoch
        (a run stopped before its first epoch). A run with weights is never deleted here."""
        with self._locked():
            job = self._read()
            if job is None or job.returncode is None:
                return False
            run_dir = Path(job.run_dir)
            if not (run_dir / WEIGHTS).exists():
                self._remove(run_dir, self.root)
            if job.upload_dir and not (run_dir / WEIGHTS).exists():
                self._remove(Path(job.upload_dir), self.uploads_dir)
            log = Path(job.log)
            if log.parent.resolve() == self.jobs_dir.resolve():
                log.unlink(missing_ok=True)
            self._record_path().unlink(missing_ok=True)
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
