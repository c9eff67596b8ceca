"""Tests for vae.jobs.background: bounded concurrency, bounded length, shared results, positions."""
from __future__ import annotations

import threading
import time

import pytest

from vae.limits import BudgetError
from vae.jobs.background import QueueFull, WorkQueue


def _gated(gate: threading.Event, live: list, peak: list, lock: threading.Lock):
    """A unit of work that counts how many run at once, and waits for ``gate``."""
    def work(progress, should_stop):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        progress(0.5, "half way")
        gate.wait(10)
        with lock:
            live[0] -= 1
        return "ok"
    return work


@pytest.mark.parametrize("workers", [1, 2])
def test_never_runs_more_than_the_cap_at_once(workers):
    q = WorkQueue(max_workers=workers, max_queued=10)
    gate, live, peak, lock = threading.Event(), [0], [0], threading.Lock()
    tasks = [q.submit(("job", i), _gated(gate, live, peak, lock)) for i in range(6)]
    time.sleep(0.2)
    assert q.running == workers and q.waiting == 6 - workers
    assert [t.position for t in tasks] == [0] * workers + list(range(1, 7 - workers))
    gate.set()
    assert all(t.wait(10) for t in tasks)
    assert [t.result for t in tasks] == ["ok"] * 6 and all(t.state == "done" for t in tasks)
    assert peak[0] == workers and q.peak_running == workers
    assert q.running == 0 and q.waiting == 0


def test_default_is_one_worker_from_the_environment(monkeypatch):
    assert WorkQueue().max_workers == 1
    monkeypatch.setenv("VAE_MAX_BACKGROUND_JOBS", "3")
    monkeypatch.setenv("VAE_MAX_QUEUED_JOBS", "2")
    q = WorkQueue()
    assert (q.max_workers, q.max_queued) == (3, 2)


def test_a_full_queue_refuses_with_the_limit_named():
    q = WorkQueue(max_workers=1, max_queued=2)
    gate, live, peak, lock = threading.Event(), [0], [0], threading.Lock()
    tasks = [q.submit(i, _gated(gate, live, peak, lock)) for i in range(3)]  # 1 running + 2 waiting
    with pytest.raises(QueueFull, match="VAE_MAX_QUEUED_JOBS = 2"):
        q.submit(99, _gated(gate, live, peak, lock))
    assert issubclass(QueueFull, BudgetError)
    assert q.submit(2, _gated(gate, live, peak, lock)) is tasks[2]  # an existing key is no new request
    gate.set()
    assert all(t.wait(10) for t in tasks)


def test_same_key_shares_one_task_and_its_result():
    q = WorkQueue(max_workers=1, max_queued=4)
    calls = []

    def work(progress, should_stop):
        calls.append(1)
        return 42

    a = q.submit("settings", work)
    assert a.wait(10)
    b = q.submit("settings", work)
    assert b is a and b.result == 42 and len(calls) == 1


def test_a_failure_is_recorded_and_a_retry_runs_again():
    q = WorkQueue(max_workers=1, max_queued=4)

    def boom(progress, should_stop):
        raise RuntimeError("no good")

    t = q.submit("k", boom)
    assert t.wait(10) and t.state == "failed" and "no good" in t.error
    again = q.submit("k", lambda p, s: "fine")
    assert again is not t and again.wait(10) and again.result == "fine"


def test_stop_drops_a_waiting_task_and_stops_a_running_one():
    q = WorkQueue(max_workers=1, max_queued=4)

    def loop(progress, should_stop):
        while not should_stop():
            time.sleep(0.01)
        return "stopped early"

    first = q.submit("a", loop)
    second = q.submit("b", loop)
    assert second.position == 1
    second.stop()
    assert second.state == "stopped" and q.waiting == 0
    first.stop()
    assert first.wait(10) and first.state == "stopped"


def test_the_shared_queue_is_one_per_process():
    from vae.jobs.background import shared_queue
    assert shared_queue() is shared_queue()
