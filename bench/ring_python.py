"""Ring speed from Python, each figure beside a baseline measured in the same run (JSON lines,
docs/contracts.md). Run: `.venv/bin/python bench/ring_python.py [--quick]`.

- ring.py.publish_bidask: one `RingWriter.publish_bidask` call per quote (lists of 5 floats, as
  the ingestion path passes them), baseline: a no-op PyO3 call (`RingWriter.next_seq`) and an
  empty Python function, same arguments. Target <= 1 us per call.
- ring.py.publish_bidasks: batch publish of a BIDASK_DTYPE array, baseline: `arr.copy()` of the
  same array (numpy memcpy). Target >= 5 M messages/s.
- ring.py.read: `RingReader.read(4096)` into numpy arrays, per message, baseline: `np.frombuffer`
  of the same number of rows (a zero-work view). No target (informative).
- ring.py.latency.cross_process: one-way latency, a writer process calling publish_tick with a
  CLOCK_MONOTONIC stamp in local_ts, a reader process spinning on read(); baseline: the same
  over a multiprocessing Pipe. Informative (the contract's latency target is the Rust bench's).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from figure import emit

import shijim_core as sc


def median_ns_per_op(run: Callable[[int], None], n: int, repeats: int) -> float:
    run(n)  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        run(n)
        samples.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(samples)


SLOTS = 1 << 16


def warm_ring(w: sc.RingWriter) -> None:
    """One full lap first: a fresh ring file faults its pages in on first touch, a trading
    process's ring has long been warm."""
    lap = np.zeros(SLOTS, sc.TICK_DTYPE)
    lap["code"] = b"WARM"
    w.publish_ticks(lap)


def bench_single(name: str, n: int, repeats: int) -> None:
    w = sc.RingWriter(name, slots=SLOTS)
    warm_ring(w)
    bid_px = [22013.0, 22012.0, 22011.0, 22010.0, 22009.0]
    ask_px = [22014.0, 22015.0, 22016.0, 22017.0, 22018.0]
    bid_qty = [3, 5, 8, 13, 21]
    ask_qty = [2, 4, 6, 8, 10]
    publish = w.publish_bidask

    def ring(k: int) -> None:
        for i in range(k):
            publish("TXFL4", i, i, bid_px, bid_qty, ask_px, ask_qty, False)

    def noop_pyo3(k: int) -> None:
        for _ in range(k):
            w.next_seq  # noqa: B018  (a getter: the cheapest call into the extension)

    def empty(*_args: Any) -> None:
        return None

    def empty_py(k: int) -> None:
        for i in range(k):
            empty("TXFL4", i, i, bid_px, bid_qty, ask_px, ask_qty, False)

    ring_ns = median_ns_per_op(ring, n, repeats)
    noop_ns = median_ns_per_op(noop_pyo3, n, repeats)
    empty_ns = median_ns_per_op(empty_py, n, repeats)
    emit(
        "ring.py.publish_bidask",
        "ns/call",
        ring_ns,
        repeats,
        ("no-op PyO3 call (RingWriter.next_seq getter)", noop_ns),
        "<= 1000 ns",
        ring_ns <= 1000,
        empty_python_call_ns=round(empty_ns, 2),
    )
    w.close()


def bench_batch(name: str, n: int, repeats: int) -> None:
    w = sc.RingWriter(name, slots=SLOTS)
    warm_ring(w)
    r = sc.RingReader(name)
    batch = 4096
    arr = np.zeros(batch, sc.BIDASK_DTYPE)
    arr["code"] = b"TXFL4"
    arr["exch_ts"] = np.arange(batch)
    arr["bid_px"] = 22013.0 - np.arange(5)
    arr["ask_px"] = 22014.0 + np.arange(5)
    arr["bid_qty"] = 3
    arr["ask_qty"] = 2
    rounds = max(1, n // batch)

    def ring(_: int) -> None:
        for _ in range(rounds):
            w.publish_bidasks(arr)

    def copy(_: int) -> None:
        for _ in range(rounds):
            arr.copy()

    msgs = rounds * batch
    ring_ns = median_ns_per_op(ring, 1, repeats) / msgs
    copy_ns = median_ns_per_op(copy, 1, repeats) / msgs
    emit(
        "ring.py.publish_bidasks",
        "ns/msg",
        ring_ns,
        repeats,
        ("numpy copy of the same BIDASK_DTYPE rows", copy_ns),
        ">= 5 M msg/s (<= 200 ns/msg)",
        ring_ns <= 200,
        msg_per_s=round(1e9 / ring_ns),
    )

    # Reader throughput: publish one batch (untimed), then time reading it back.
    def read_once() -> float:
        r.read(1 << 20)  # skip anything older
        w.publish_bidasks(arr)
        t0 = time.perf_counter_ns()
        got = 0
        while got < batch:
            got += len(r.read(batch))
        return (time.perf_counter_ns() - t0) / batch

    read_once()
    read_ns = statistics.median(read_once() for _ in range(repeats))
    raw = arr.tobytes()

    def view(_: int) -> None:
        np.frombuffer(raw, dtype=sc.BIDASK_DTYPE).copy()

    view_ns = median_ns_per_op(view, 1, repeats) / batch
    emit(
        "ring.py.read",
        "ns/msg",
        read_ns,
        repeats,
        ("np.frombuffer(...).copy() of the same rows", view_ns),
        None,
        None,
        msg_per_s=round(1e9 / read_ns),
    )
    w.close()


def _lat_reader(name: str, samples: int, ready: Any, out: Any) -> None:
    r = sc.RingReader(name)
    ready.set()
    lat: list[int] = []
    while len(lat) < samples:
        b = r.read(64)
        if len(b.ticks):
            now = time.monotonic_ns()
            lat.extend((now - b.ticks["local_ts"]).tolist())
    out.put(lat[:samples])


def _pipe_reader(conn: Any, samples: int, ready: Any, out: Any) -> None:
    ready.set()
    lat = []
    for _ in range(samples):
        ts = conn.recv()
        lat.append(time.monotonic_ns() - ts)
    out.put(lat)


def pct(xs: list[int], p: float) -> int:
    s = sorted(xs)
    return s[int((len(s) - 1) * p)] if s else 0


def bench_latency(name: str, samples: int, gap_s: float) -> None:
    ctx = mp.get_context("spawn")
    w = sc.RingWriter(name, slots=SLOTS)
    warm_ring(w)
    ready, out = ctx.Event(), ctx.Queue()
    p = ctx.Process(target=_lat_reader, args=(name, samples, ready, out), daemon=True)
    p.start()
    ready.wait(60)
    time.sleep(0.2)
    for _ in range(samples + 8):
        time.sleep(gap_s)
        w.publish_tick("TXFL4", 0, time.monotonic_ns(), 22013.0, 1, 1, 1, False)
    ring_lat = out.get(timeout=120)
    p.join(10)
    w.close()

    a, b = ctx.Pipe(duplex=False)
    ready, out = ctx.Event(), ctx.Queue()
    p = ctx.Process(target=_pipe_reader, args=(a, samples, ready, out), daemon=True)
    p.start()
    ready.wait(60)
    time.sleep(0.2)
    for _ in range(samples):
        time.sleep(gap_s)
        b.send(time.monotonic_ns())
    pipe_lat = out.get(timeout=120)
    p.join(10)
    emit(
        "ring.py.latency.cross_process",
        "ns",
        float(pct(ring_lat, 0.5)),
        len(ring_lat),
        ("multiprocessing Pipe one-way (same pacing)", float(pct(pipe_lat, 0.5))),
        None,
        None,
        p99=pct(ring_lat, 0.99),
        p99_9=pct(ring_lat, 0.999),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check that it runs")
    args = ap.parse_args()
    n, repeats, lat = (20_000, 3, 2_000) if args.quick else (200_000, 15, 20_000)
    name = f"bench-ring-py-{os.getpid()}"
    try:
        for step in (bench_single, bench_batch):
            sc.ring_unlink(name)
            step(name, n, repeats)
        sc.ring_unlink(name)
        bench_latency(name, lat, 0.0002)
    finally:
        sc.ring_unlink(name)


if __name__ == "__main__":
    main()
