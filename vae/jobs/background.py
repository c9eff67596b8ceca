"""One bounded queue of background work per server: at most ``max_workers`` tasks run at once
(default VAE_MAX_BACKGROUND_JOBS = 1), at most ``max_queued`` wait (VAE_MAX_QUEUED_JOBS = 8),
and a request past that is refused with the limit named.

Tasks are keyed by their settings: asking again for a key that is queued, running or recently
done returns the same task, so every session shares one result instead of recomputing it.
A task's function receives ``progress(fraction, message)`` and ``should_stop()`` callbacks and
runs on a daemon thread; its exception is recorded, never raised into the server.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable, Hashable

from vae.limits import BACKGROUND_JOBS, QUEUE_LENGTH, BudgetError, limit_int

Work = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]


class QueueFull(BudgetError):
    """Too many tasks are waiting; the message names the limit."""


class Task:
    """One piece of queued work. ``state``: queued | running | done | failed | stopped.
    Read ``progress``, ``message``, ``result``, ``error`` from any thread: each is replaced, never mutated."""

    def __init__(self, key: Hashable, fn: Work, owner: "WorkQueue"):
        self.key = key
        self.state = "queued"
        self.progress = 0.0
        self.message = "waiting for a free worker"
        self.result: Any = None
        self.error: str | None = None
        self.submitted = time.time()
        self._fn = fn
        self._owner = owner
        self._stop = threading.Event()
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed", "stopped")

    @property
    def position(self) -> int:
        """0 while running or finished; n ≥ 1 while n − 1 other tasks wait ahead of it."""
        return self._owner.position(self)

    def stop(self) -> None:
        """Ask the work to stop (it polls ``should_stop``); a queued task is dropped at once."""
        self._stop.set()
        self._owner._drop_queued(self)

    def wait(self, timeout: float | None = None) -> bool:
        self._done.wait(timeout)
        return self.done

    def _progress(self, fraction: float, message: str) -> None:
        self.progress, self.message = float(fraction), message

    def _run(self) -> None:
        self.state, self.message = "running", "starting"
        try:
            self.result = self._fn(self._progress, self._stop.is_set)
            self.state = "stopped" if self._stop.is_set() else "done"
            if self.state == "done":
                self.progress, self.message = 1.0, "done"
        except Exception as e:  # reported to the UI; failed work must not take the server down
            self.error, self.state = f"{type(e).__name__}: {e}", "failed"
        finally:
            self._fn = None  # let go of what the work held (models, data): only the result is kept
            self._done.set()


class WorkQueue:
    """A bounded FIFO of Tasks with at most ``max_workers`` running at once.

    max_workers / max_queued: None reads VAE_MAX_BACKGROUND_JOBS / VAE_MAX_QUEUED_JOBS when the
    queue is made. keep_done: finished tasks remembered (oldest forgotten first) so their
    results are shared.
    """

    def __init__(self, max_workers: int | None = None, max_queued: int | None = None, keep_done: int = 16):
        self.max_workers = max_workers if max_workers is not None else limit_int(BACKGROUND_JOBS)
        self.max_queued = max_queued if max_queued is not None else limit_int(QUEUE_LENGTH)
        if self.max_workers < 1 or self.max_queued < 0:
            raise ValueError("a work queue needs at least one worker and a non-negative queue length")
        self.keep_done = keep_done
        self._lock = threading.Lock()
        self._waiting: deque[Task] = deque()
        self._running: list[Task] = []
        self._tasks: OrderedDict[Hashable, Task] = OrderedDict()
        self.peak_running = 0  # the most tasks ever running at once (for tests and operators)

    def get(self, key: Hashable) -> Task | None:
        with self._lock:
            return self._tasks.get(key)

    def submit(self, key: Hashable, fn: Work) -> Task:
        """The task for ``key``: the existing one (unless it failed or was stopped), else a new one,
        started now if a worker is free, otherwise queued. Raises QueueFull past max_queued."""
        with self._lock:
            task = self._tasks.get(key)
            if task is not None and task.state not in ("failed", "stopped"):
                self._tasks.move_to_end(key)
                return task
            if len(self._running) >= self.max_workers and len(self._waiting) >= self.max_queued:
                raise QueueFull(f"{len(self._waiting)} requests are already waiting for the server's "
                                f"{self.max_workers} background worker(s), the limit (VAE_MAX_QUEUED_JOBS = "
                                f"{self.max_queued}); try again when one has finished")
            task = self._tasks[key] = Task(key, fn, self)
            self._tasks.move_to_end(key)
            self._forget_old()
            if len(self._running) < self.max_workers:
                self._start(task)
            else:
                self._waiting.append(task)
            return task

    def position(self, task: Task) -> int:
        with self._lock:
            try:
                return self._waiting.index(task) + 1
            except ValueError:
                return 0

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    # ------------------------------------------------------------ internals (under the lock)

    def _start(self, task: Task) -> None:
        self._running.append(task)
        self.peak_running = max(self.peak_running, len(self._running))
        threading.Thread(target=self._worker, args=(task,), name=f"work-queue-{id(self):x}", daemon=True).start()

    def _worker(self, task: Task) -> None:
        while task is not None:
            task._run()
            with self._lock:
                self._running.remove(task)
                task = self._waiting.popleft() if self._waiting else None
                if task is not None:
                    self._running.append(task)
                    self.peak_running = max(self.peak_running, len(self._running))

    def _drop_queued(self, task: Task) -> None:
        with self._lock:
            if task in self._waiting:
                self._waiting.remove(task)
                task.state, task.message = "stopped", "stopped before it started"
                task._done.set()

    def _forget_old(self) -> None:
        done = [k for k, t in self._tasks.items() if t.done]
        for k in done[:max(0, len(done) - self.keep_done)]:
            del self._tasks[k]


_SHARED: WorkQueue | None = None
_SHARED_LOCK = threading.Lock()


def shared_queue() -> WorkQueue:
    """The server's one queue, made on first use (its limits read from the environment then)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = WorkQueue()
        return _SHARED
