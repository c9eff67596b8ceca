"""A plain-text table for benchmark results, and the timer the benches share."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of fn() over repeats calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def verdict(ok) -> str:
    return "" if ok == "" or ok is None else ("pass" if ok else "FAIL")


def print_table(headers: list[str], rows: list[list]) -> None:
    """rows: lists of cells; a bool in the last column prints as pass/FAIL."""
    cells = [[str(c) for c in headers]] + [[*map(str, r[:-1]), verdict(r[-1])] if isinstance(r[-1], bool) or
                                           r[-1] == "" else [*map(str, r)] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(line)
    for j, r in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if j == 0:
            print(line)
    print(line, flush=True)
