"""The one protocol for a result kept in a run folder, keyed by the digest of the run's weights.

Every kept result (the precompute, projections, inference gaps, rate–distortion points and
disentanglement scores) is one file

    <run>/<folder>/<name>-<weights digest><params>.<ext>

- ``folder`` is ``cache`` (``vae.runs.folder.CACHE``), or ``projections`` for the maps;
- ``name`` says what it is (``precompute``, ``gaps``, ``pca-test-1200-<settings hash>`` …);
- ``params`` is what else it depends on, in the file name (``-p100-s500-k5000-v2``), or empty;
- the digest (``vae.runs.folder.weights_digest``) ties it to one set of weights: a retrained or
  replaced model never reads another model's numbers, and files of old weights are merely stale.

A file is written once, atomically (``vae.files``: temp file, fsync, rename), and only when the
run's weights are still the ones the result was computed from; a stopped or failed computation
writes nothing. A file is data, never trusted: a reader that cannot parse it (or finds it over
its size cap) reads None and the result is computed again. Every file may be deleted at any time.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, TypeVar

from vae.files import open_regular, write_bytes_atomic, write_json_atomic
from vae.runs.folder import CACHE, weights_digest

JSON_MAX_BYTES = 1 << 20  # the default cap on a kept JSON file read back

T = TypeVar("T")


def path_for(run_dir: Path | str, name: str, digest: str | None = None, params: str = "", ext: str = "json",
             folder: str = CACHE) -> Path:
    """Where a result is kept (whether or not it exists yet); ``digest``: the run's current weights'
    when not given."""
    run_dir = Path(run_dir)
    return run_dir / folder / f"{name}-{digest or weights_digest(run_dir)}{params}.{ext}"


def read_bytes(path: Path | str, max_bytes: int | None = None) -> bytes | None:
    """A kept file's bytes, or None when it is missing, not a regular file, unreadable or (with
    ``max_bytes``) larger than that."""
    try:
        f = open_regular(Path(path))
    except OSError:  # a folder of that name
        return None
    if f is None:
        return None
    try:
        with f:
            raw = f.read() if max_bytes is None else f.read(max_bytes + 1)
    except OSError:
        return None
    return None if max_bytes is not None and len(raw) > max_bytes else raw


def read_json(path: Path | str, max_bytes: int | None = JSON_MAX_BYTES) -> Any:
    """A kept JSON file's value, or None (missing, unreadable, over ``max_bytes`` or not JSON)."""
    raw = read_bytes(path, max_bytes)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def write(run_dir: Path | str, path: Path, data: bytes | dict | list, digest: str) -> bool:
    """Keep ``data`` (bytes as they are, a dict or list as indented JSON) at ``path``, atomically,
    if the run's weights are still those of ``digest``; False (nothing written) when they changed
    while the result was computed: it is not theirs. OSError when the folder cannot be written."""
    if weights_digest(Path(run_dir)) != digest:
        return False
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, (bytes, bytearray)):
        write_bytes_atomic(path, bytes(data))
    else:
        write_json_atomic(path, data)
    return True


def prune(path: Path, name: str, ext: str) -> None:
    """Remove the other files of this kind (``<name>-*.<ext>`` beside ``path``): another weights'
    results, never read again."""
    for old in Path(path).parent.glob(f"{name}-*.{ext}"):
        if old != path:
            old.unlink(missing_ok=True)


def get_or_compute(run_dir: Path | str, path_of: Callable[[str], Path], read: Callable[[Path], T | None],
                   compute: Callable[[str], T], dump: Callable[[T], bytes | dict | list],
                   keep: Callable[[T], bool] = lambda result: True) -> T:
    """The protocol in one call: the kept result for the run's current weights (``read(path)``, None
    when missing, stale or not whole), else ``compute(digest)``, kept (``write``) when ``keep(result)``
    says it is the result asked for (a stopped computation is not) and the weights did not change."""
    digest = weights_digest(Path(run_dir))
    path = path_of(digest)
    found = read(path)
    if found is not None:
        return found
    result = compute(digest)
    if keep(result):
        write(run_dir, path, dump(result), digest)
    return result


Progress = Callable[[float, str], None]


def each_run(run_dirs: list[Path], one: Callable[[Path, Progress | None], T], progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None) -> dict[str, T | str]:
    """``one(run_dir, progress)`` for every run, one after another ({run name: result, or the reason
    it has none}): each result is kept in its run folder as soon as it is done, and one bad run
    does not lose the others'. ``progress`` sees the whole: "<run>: <what> (run i of n)". For a
    background job (``should_stop`` ends it between runs)."""
    from vae.runs.catalog import run_error_text

    out: dict[str, T | str] = {}
    n = max(1, len(run_dirs))
    for i, d in enumerate(run_dirs):
        if should_stop is not None and should_stop():
            break
        d = Path(d)

        def say(f: float, m: str, i: int = i, d: Path = d) -> None:
            progress((i + f) / n, f"{d.name}: {m} (run {i + 1} of {n})")
        try:
            out[d.name] = one(d, None if progress is None else say)
        except Exception as e:  # noqa: BLE001 - one bad run must not lose the others' results
            out[d.name] = run_error_text(e)
    return out
