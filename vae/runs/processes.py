"""Which process is which: a pid alone is not an identity once the process has ended,
because the kernel hands the number to the next process (and after a restart, to any).

A process is identified by its pid, its start time (field 22 of ``/proc/<pid>/stat``,
in clock ticks since boot), the boot it started in (``/proc/sys/kernel/random/boot_id``)
and the host. Where ``/proc`` is missing (not Linux) the start time is ``None`` and
only the pid is checked, as before.
"""
from __future__ import annotations

import os
import signal
import socket

_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of /proc/<pid>/stat (state first), or None if there is no such process.
    The command name (field 2) may hold spaces and ')' so the split starts after its last ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22), or None if unknown."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22 is the 20th after the name
    except (IndexError, ValueError):
        return None


def boot_id() -> str | None:
    try:
        with open(_BOOT_ID) as f:
            return f.read().strip() or None
    except OSError:
        return None


def identity(pid: int | None = None) -> dict:
    """What identifies a process (this one by default): pid, pid_start, boot_id, host."""
    pid = os.getpid() if pid is None else int(pid)
    return {"pid": pid, "pid_start": start_time(pid), "boot_id": boot_id(), "host": socket.gethostname()}


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def is_alive(ident: dict) -> bool | None:
    """Whether the process ``ident`` describes (from ``identity``) is still running.

    False when the pid is gone, is a zombie, started at another time (a reused pid)
    or the machine has restarted since; None when it cannot be told from here (the
    process ran on another host)."""
    pid = ident.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    host = ident.get("host")
    if host and host != socket.gethostname():
        return None
    boot = ident.get("boot_id")
    if boot and boot_id() and boot != boot_id():
        return False  # the machine restarted: every process of the old boot is gone
    if not _pid_exists(pid):
        return False
    fields = _stat_fields(pid)
    if fields is None:
        return ident.get("pid_start") is None and _pid_exists(pid)  # no /proc: the bare pid is all we have
    if fields[0] == "Z":
        return False  # ended, not yet reaped
    want = ident.get("pid_start")
    if want is None:
        return True
    return start_time(pid) == want


def signal_if_same(ident: dict, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig`` only if the pid still belongs to the process ``ident`` describes."""
    if not is_alive(ident):
        return False
    try:
        os.kill(ident["pid"], sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
