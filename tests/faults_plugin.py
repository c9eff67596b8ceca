"""The fault-injection ledger: cases tried, survived, and data lost, printed at the end of pytest.

Loaded by the ``tests/test_faults_*.py`` modules (``pytest_plugins = ["faults_plugin"]``), so
the summary appears whenever any of them runs, ``make test`` included. A *case* is one hostile
input or one injected fault; a test either opens cases explicitly (``with fault.case("…"):``,
e.g. one per SIGKILL) or counts as one case itself. *Survived*: the case ended as designed
(clear message, non-zero exit, nothing written where it must not be). *Data lost*: a run that
existed before the case, or the last saved state of the run under attack, could no longer be
read afterwards, or a listed run failed to load; it must stay 0.

Fault cases that live in other test files (the divergence and SIGTERM runs in test_cli.py, the
pickle and bad-weights checks in test_checkpoint.py) are counted too when they run.
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Cases covered elsewhere, counted here rather than duplicated (node id prefixes).
REFERENCED = (
    "tests/test_cli.py::test_divergence_keeps_last_good_epoch",
    "tests/test_cli.py::test_sigterm_stops_after_saving_last_completed_epoch",
    "tests/test_cli.py::test_bad_input_exits_nonzero_with_message",
    "tests/test_checkpoint.py::test_pickle_is_never_executed",
    "tests/test_checkpoint.py::test_bad_weights_raise_checkpoint_error",
    "tests/test_checkpoint.py::test_bad_config_raises_checkpoint_error",
    "tests/test_checkpoint.py::test_run_names_never_escape",
)


@dataclass
class Ledger:
    tried: int = 0
    survived: int = 0
    lost: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


LEDGER = Ledger()


class DataLost(AssertionError):
    """A run, or the last saved state of one, became unreadable."""


class Fault:
    """Per-test handle: ``case`` opens an explicit case, ``data_lost`` records a loss and fails."""

    def __init__(self, nodeid: str):
        self.nodeid = nodeid
        self.explicit = 0

    @contextlib.contextmanager
    def case(self, label: str):
        self.explicit += 1
        LEDGER.tried += 1
        try:
            yield
        except BaseException:
            LEDGER.failed.append(f"{self.nodeid} [{label}]")
            raise
        LEDGER.survived += 1

    def data_lost(self, what: str) -> None:
        LEDGER.lost.append(f"{self.nodeid}: {what}")
        raise DataLost(what)


@pytest.fixture
def fault(request):
    handle = Fault(request.node.nodeid)
    yield handle
    if handle.explicit == 0:  # the whole test is one case
        rep = getattr(request.node, "_faults_call", None)
        LEDGER.tried += 1
        if rep is not None and rep.passed:
            LEDGER.survived += 1
        else:
            LEDGER.failed.append(request.node.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item._faults_call = rep


def pytest_runtest_logreport(report):
    if report.when != "call" or not report.nodeid.replace("\\", "/").startswith(REFERENCED):
        return
    LEDGER.tried += 1
    if report.passed:
        LEDGER.survived += 1
    else:
        LEDGER.failed.append(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    if LEDGER.tried == 0:
        return
    tr = terminalreporter
    tr.write_sep("=", "fault injection")
    tr.write_line(f"cases tried: {LEDGER.tried}   survived: {LEDGER.survived}   data lost: {len(LEDGER.lost)}",
                  bold=True, red=bool(LEDGER.lost or LEDGER.failed), green=not (LEDGER.lost or LEDGER.failed))
    for what in LEDGER.lost:
        tr.write_line(f"  DATA LOST: {what}", red=True)
    for what in LEDGER.failed[:20]:
        tr.write_line(f"  not survived: {what}", red=True)


# ---------------------------------------------------------------- helpers the fault tests share

def tree(root: Path, exclude: Path | None = None) -> dict[str, str]:
    """Every file under root (relative path -> sha256), leaving out the ``exclude`` subtree."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        if exclude is not None and (p == exclude or exclude in p.parents):
            continue
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[str(p.relative_to(root)) + "/"] = ""
    return out


def runs_state(root: Path) -> dict[str, str]:
    """The bytes of every listed run (name/file -> sha256): what must never change or vanish."""
    from vae.runs.catalog import list_runs
    out = {}
    for r in list_runs(root):
        for f in ("config.json", "model.safetensors", "history.jsonl"):
            p = r.path / f
            if p.is_file():
                out[f"{r.name}/{f}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def check_runs_kept(fault: Fault, root: Path, before: dict[str, str]) -> None:
    """Every run that existed before is byte-identical, and every listed run loads."""
    from vae.runs.folder import CheckpointError, load_run
    from vae.runs.catalog import list_runs
    after = runs_state(root)
    for k, v in before.items():
        if after.get(k) != v:
            fault.data_lost(f"{k} changed or vanished")
    for r in list_runs(root):
        try:
            load_run(r.path)
        except CheckpointError as e:
            fault.data_lost(f"run {r.name} is listed but does not load: {e}")
