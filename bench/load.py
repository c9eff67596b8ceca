"""Several sessions exploring at once: Traversals slider reruns under concurrent load.

    .venv/bin/python -m bench.load [--sessions 3] [--reruns 12]

Each session is a separate process holding its own AppTest of the whole app (frame, sidebar,
Traversals page), as separate server sessions would. All sessions warm up (first run, caches,
three slider moves), wait at a common start line, then move the top slider ``--reruns`` times;
each rerun is timed server-side. The single-session median is measured in the same run, alone,
so the two figures share the machine's conditions. Target: slider rerun median ≤ 50 ms (the
traversals issue), for one session and for each of the concurrent ones. Timings on a shared,
busy machine are indicative only.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.table import print_table

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 50.0


def worker(reruns: int, ready: Path, go: Path) -> list[float]:
    """One session: warm up, signal ready, wait for go, then time `reruns` slider reruns (ms)."""
    from bench.apptest import app_test

    at = app_test(timeout=120)
    at.run()
    at.switch_page("pages/traversals.py").run()
    if at.exception:
        raise RuntimeError(f"the Traversals page raised: {at.exception[0].value}")
    key = next(s.key for s in at.slider if s.key and s.key.startswith("trav_z"))
    values = [round(-2.0 + 4.0 * i / (reruns + 3), 3) for i in range(reruns + 3)]
    for v in values[:3]:  # warm-up
        at.slider(key=key).set_value(v).run()
    ready.touch()
    deadline = time.time() + 120
    while not go.exists() and time.time() < deadline:
        time.sleep(0.01)
    times = []
    for v in values[3:]:
        t0 = time.perf_counter()
        at.slider(key=key).set_value(v).run()
        times.append(1000 * (time.perf_counter() - t0))
    if at.exception:
        raise RuntimeError(f"the Traversals page raised: {at.exception[0].value}")
    return times


def run_sessions(n: int, reruns: int) -> list[list[float]]:
    """n concurrent worker processes started together; their per-rerun times (ms)."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        go = d / "go"
        env = {**os.environ, "VAE_NO_DOWNLOAD": "1", "VAE_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
        procs = [subprocess.Popen([sys.executable, "-m", "bench.load", "--worker", str(reruns), str(d / f"ready{i}"),
                                   str(go)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for i in range(n)]
        deadline = time.time() + 180
        while time.time() < deadline and not all((d / f"ready{i}").exists() for i in range(n)):
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.05)
        go.touch()
        out = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=300)
            if p.returncode != 0:
                raise RuntimeError(f"a session failed: {stderr[-2000:]}")
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=3, help="concurrent exploring sessions")
    ap.add_argument("--reruns", type=int, default=12, help="timed slider reruns per session (≥ 10)")
    ap.add_argument("--worker", nargs=3, metavar=("RERUNS", "READY", "GO"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), Path(args.worker[1]), Path(args.worker[2]))), flush=True)
        return 0
    if not (REPO / "checkpoints" / "digits-default" / "model.safetensors").is_file():
        print("the default run is missing: make default-run")
        return 1
    reruns = max(10, args.reruns)
    t0 = time.perf_counter()
    single = statistics.median(run_sessions(1, reruns)[0])
    many = run_sessions(args.sessions, reruns)
    medians = [statistics.median(t) for t in many]
    pooled = statistics.median([x for t in many for x in t])
    rows = [["slider rerun, 1 session alone (AppTest, whole app)", f"{single:.1f} ms", f"≤ {TARGET_MS:.0f} ms",
             single <= TARGET_MS]]
    rows += [[f"slider rerun, session {i + 1} of {args.sessions} at once", f"{m:.1f} ms", f"≤ {TARGET_MS:.0f} ms",
              m <= TARGET_MS] for i, m in enumerate(medians)]
    rows += [[f"all {args.sessions} sessions pooled / 1 alone", f"{pooled / single:.2f}×",
              f"≤ {args.sessions}× (CPU-bound, {os.cpu_count()} cores)", pooled / single <= args.sessions]]
    print_table(["measure", "median", "target", "result"], rows)
    print(f"({reruns} timed reruns per session after 3 warm-up moves; {time.perf_counter() - t0:.0f} s in all; "
          "indicative: timed on a shared machine)")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
