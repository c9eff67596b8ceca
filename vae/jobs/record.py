"""The record of one training job (``<root>/.jobs/current.json``) and what it says now.

``Job`` holds what ``vae.jobs.training.JobManager`` started: the run folder (or a plan of
several, ``vae.jobs.plans``), the log, and the trainer's identity: its pid *and* start time,
boot id and host (``vae.runs.processes``), never a bare pid. Everything live (status, epochs
done, time left, the trainer's last words) is read from disk on each call: from the run
folder the trainer writes (status.json, history.jsonl) and its log, so a page switch, a
browser reload or a server restart finds the same answer.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field, fields
from pathlib import Path

from vae.jobs.plans import read_state
from vae.runs.catalog import NOTHING_SAVED, effective_status, killed_message
from vae.runs.folder import WEIGHTS, read_history


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
    pid_start: int | None = None  # the trainer's start time (clock ticks since boot): with pid, its identity
    boot_id: str | None = None
    host: str | None = None
    upload_dir: str | None = None  # the folder holding an uploaded zip; kept with the run it trained, else removed
    plan: str | None = None  # several runs in order (vae.jobs.plans): the plan file; run_dir is then the first run's

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def identity(self) -> dict:
        return {"pid": self.pid, "pid_start": self.pid_start, "boot_id": self.boot_id, "host": self.host}

    # ---- live views, read from disk
    def plan_state(self) -> dict:
        """For a plan: {"state", "index", "runs": [{"name", "out", "state", "returncode"}]}; else {}."""
        return read_state(Path(self.plan)) if self.plan else {}

    def run_dirs(self) -> list[Path]:
        """Every run folder this job trains (one, or a plan's in order)."""
        runs = self.plan_state().get("runs") if self.plan else None
        return [Path(r["out"]) for r in runs] if runs else [Path(self.run_dir)]

    def current_dir(self) -> Path:
        """The run folder being trained now (a plan's current entry), or the last one."""
        if not self.plan:
            return Path(self.run_dir)
        state = self.plan_state()
        runs = state.get("runs") or []
        i = min(max(int(state.get("index", 0)), 0), len(runs) - 1) if runs else 0
        return Path(runs[i]["out"]) if runs else Path(self.run_dir)

    def status(self) -> dict:
        return effective_status(self.current_dir())

    def history(self) -> list[dict]:
        return read_history(self.current_dir())

    def log_tail(self, n: int = 4000) -> str:
        """The end of the trainer's output (a plan's: its current run's)."""
        log = Path(self.log).parent / f"{self.current_dir().name}.log" if self.plan else Path(self.log)
        try:
            with open(log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def summary(self) -> dict:
        """state (running | finished | stopped | diverged | failed | interrupted | empty), epoch,
        epochs, seconds left, message, saved, and cause (why an interrupted run ended, if known)."""
        status, hist = self.status(), self.history()
        done = len(hist)
        elapsed = sum(h.get("seconds", 0.0) for h in hist)
        left = (elapsed / done) * (self.epochs - done) if done else None
        saved = (self.current_dir() / WEIGHTS).exists()
        cause = ""
        if self.returncode is None:
            state, msg = "running", status.get("message", "starting")
        elif saved and status.get("state") in ("finished", "stopped", "diverged", "failed", "interrupted"):
            state, msg, cause = status["state"], status.get("message", ""), status.get("cause", "")
        elif saved:  # weights but no final word: the trainer was killed between saving and saying so
            state, msg, cause = "interrupted", killed_message(done), self.exit_cause()
        elif self.ended_before_first_epoch():
            state, msg = "empty", NOTHING_SAVED
        else:
            state, msg = "failed", self.error_message()
        if state == "diverged" and not saved:
            state = "failed"
        out = {"state": state, "epoch": done, "epochs": self.epochs, "seconds_left": left, "message": msg,
               "saved": saved, "cause": cause}
        if self.plan:  # which of the plan's runs this is about
            ps = self.plan_state()
            out["plan"] = {"index": int(ps.get("index", 0)), "total": len(ps.get("runs") or []),
                           "run": self.current_dir().name, "state": ps.get("state", "queued")}
        return out

    def ended_before_first_epoch(self) -> bool:
        """Stopped or killed before saving anything, as opposed to failing with an error."""
        tail = self.log_tail()
        if any(line.startswith("error: ") for line in tail.splitlines()) or "Traceback" in tail:
            return False
        return self.returncode is not None and self.returncode <= 0

    def exit_cause(self) -> str:
        if self.returncode is None or self.returncode == -1:
            return "the trainer died unexpectedly"
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"the trainer died unexpectedly (killed by {name})"
        return f"the trainer died unexpectedly (exit code {self.returncode})"

    def error_message(self) -> str:
        """The trainer's own words: its 'error:' lines, else the end of its log."""
        tail = self.log_tail()
        errs = [line[len("error: "):] for line in tail.splitlines() if line.startswith("error: ")]
        if errs:
            return errs[-1]
        lines = [line for line in tail.splitlines() if line.strip()]
        return "\n".join(lines[-6:]) or "the trainer ended without a message"
