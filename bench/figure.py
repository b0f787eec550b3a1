"""What every Python benchmark shares: the JSON line a figure is printed as, and median timing.

Not a benchmark itself (bench/run.py skips it). One figure = one JSON object on stdout, beside a
baseline measured in the same run (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any


def emit(
    bench: str,
    unit: str,
    median: float,
    samples: int,
    baseline: tuple[str, float],
    target: str | None,
    passed: bool | None,
    *,
    higher_is_better: bool = False,
    **extra: Any,
) -> None:
    """Print one figure. `ratio` is median/baseline, or baseline/median for rates where higher
    is better, so a ratio above 1 always means "slower than the baseline"."""
    name, base = baseline
    if base and median:
        ratio: float | None = round(base / median if higher_is_better else median / base, 3)
    else:
        ratio = None
    line = {
        "bench": bench,
        "unit": unit,
        "median": round(median, 3),
        "samples": samples,
        "baseline": {"name": name, "median": round(base, 3)},
        "ratio": ratio,
        "target": target,
        "pass": passed,
        **extra,
    }
    print(json.dumps(line), flush=True)


def median_seconds(fn: Callable[[], object], samples: int, reps: int = 1) -> float:
    """Median over `samples` of the seconds one call of `fn` takes (each sample makes `reps`
    calls), after one warm-up call."""
    fn()
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t) / reps)
    return statistics.median(times)
