"""The Compare runs page's background work on the server's one queue (``ui.tasks``): the
rate–distortion points and the disentanglement scores of the runs that have none kept yet. Each
kind is one task per set of missing runs, shared by every session; a session remembers the task
it last joined per kind, so a new set never queues a second task behind one still running."""
from __future__ import annotations

import streamlit as st

from ui.compare.runs import RunRow
from ui.tasks import submit
from vae.analysis.rate_distortion import RatePoint
from vae.cache.rate_distortion import cached_point, points_for
from vae.cache.scores import cached_scores, scores_for
from vae.jobs.background import Task, shared_queue
from vae.runs.folder import weights_digest


def _digests(rows: list[RunRow]) -> tuple:
    out = []
    for r in rows:
        try:
            out.append((r.info.name, weights_digest(r.info.path)))
        except OSError:
            continue
    return tuple(out)


TASKS_KEY = "_compare_tasks"  # {kind: key of the task this session last started or joined}


def _task(kind: str, missing: list[RunRow], work) -> Task | None:
    """The background task for the missing runs. While the one this session last joined still runs
    it is kept (runs it has done since then are no longer missing, but a new set must not queue a
    second task behind it); after that, one task per set of missing runs, shared by every session.
    A run that failed stays missing: its set's task is the one already done, not run again."""
    q = shared_queue()
    store = st.session_state.setdefault(TASKS_KEY, {})
    prev = q.get(store[kind]) if kind in store else None
    if prev is not None and not prev.done:
        return prev
    if not missing:
        return None
    key = (kind, _digests(missing))
    paths = [r.info.path for r in missing]
    task = q.get(key) or submit(key, lambda progress, should_stop: work(paths, progress, should_stop))
    store[kind] = key
    return task


def rate_points(rows: list[RunRow]) -> tuple[dict[str, RatePoint], Task | None]:
    """The kept points of these runs, and the background task computing the missing ones (if any)."""
    have = {r.info.name: p for r in rows if (p := cached_point(r.info.path)) is not None}
    return have, _task("rate-distortion", [r for r in rows if r.info.name not in have], points_for)


def disentanglement_scores(rows: list[RunRow]) -> tuple[dict[str, dict], Task | None]:
    """The kept scores of these runs, and the background task computing the missing ones (if any)."""
    have = {r.info.name: s for r in rows if (s := cached_scores(r.info.path)) is not None}
    return have, _task("disentanglement", [r for r in rows if r.info.name not in have], scores_for)


def failures(task: Task | None) -> dict[str, str]:
    """{run: why} for runs a finished task could not place."""
    if task is None or not task.done or not isinstance(task.result, dict):
        return {}
    return {k: v for k, v in task.result.items() if isinstance(v, str)}
