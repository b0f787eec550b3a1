"""Recorder benchmarks (JSON lines, docs/contracts.md), each beside a same-run baseline.

recorder.sustained      `python -m shijim record --ring NAME` (its own process, its ClickHouse sink
                        in another, the embedded ClickHouse, default settings: fsync interval,
                        blocks >= 10k rows or 1 s) while a producer publishes the simulator's
                        TXFL6/MXFL6 stream (books and trades) at OFFERED events/s for SECONDS:
                        the lower of the rows/s written to the JSONL files and inserted into
                        ClickHouse from 1 s after the start to the producer's end (read from the
                        recorder's /metrics), with the messages lost (gap records), the time
                        until every event is in both (the recorder exits once the writer closed
                        the ring and all of it is recorded) and record-check's verdict beside.
                        Target >= 500k events/s, 0 lost, ClickHouse identical to the files.
                        Baseline: chdb's own insert of the same rows (Arrow blocks of 100k rows
                        through clickhouse-connect, the tables' schema), in its own process.
recorder.tick_to_order  `make run`'s command (bench/runtime.py's demo: `--feed sim --seed 7 --cpu
                        K`) with `--record` (the recorder process the runtime starts and
                        supervises), and beside a `record --ring` process started by hand, p50/p99
                        from --summary-json; baseline the same run without a recorder. Target:
                        p50 within 10 % of off.
recorder.tick_to_order.floor  bench/runtime.py's tick-to-order floor paced at 2000 events/s
                        (pinned, busy-polling) with a `record --ring` process recording its ring,
                        against the same without, in interleaved pairs; measured from the sink's
                        second ClickHouse insert on (read from the recorder's /metrics), so that
                        the window holds recording, not the recorder's start-up. Target: the
                        median of the pairs' p50 ratios within 10 %.

    .venv/bin/python bench/recorder.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

from figure import emit

import shijim_core
from runtime import (
    QUIET_ENV,
    REPO,
    Attached,
    Stream,
    _bench_cpu,
    _load,
    _publish_all,
    bench_floor_pairs,
    free_port,
    paced_floor,
    shijim_run,
    sim_stream,
)

ENV = {**QUIET_ENV, "CLICKHOUSE_DSN": ""}  # the embedded ClickHouse beside the raw dir


def _shifted(s: Stream, ns: int) -> Stream:
    """The same stream ``ns`` later (a longer run than the stream, without regenerating it)."""
    ticks, books = s.ticks.copy(), s.books.copy()
    for rows in (ticks, books):
        rows["exch_ts"] += ns
        rows["local_ts"] += ns
    return dataclasses.replace(s, ticks=ticks, books=books)


def _produce(w, parts: list[Stream], rate: float, chunk: int) -> tuple[int, float]:
    """Publish every event of ``parts`` at ``rate`` events/s, stamped at publication;
    returns (events, seconds)."""
    t0 = t_next = time.perf_counter()
    n = 0
    for s in parts:
        for lo in range(0, s.kinds.size, chunk):
            hi = min(s.kinds.size, lo + chunk)
            _publish_all(w, s, lo, hi, time.time_ns())
            n += hi - lo
            t_next += (hi - lo) / rate
            delay = t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    return n, time.perf_counter() - t0


def _record_process(ring: str, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "shijim", "record", "--ring", ring, "--exit-on-close",
         "--log-level", "WARNING", *extra],
        cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _summary_counts(stderr: str) -> dict[str, int]:
    """The `record` command's last line: recorded N rows ... (G gap records, L lost, B bad)."""
    line = [x for x in stderr.splitlines() if x.startswith("recorded ")][-1]
    words = line.replace("(", " ").replace(",", " ").split()
    return {"rows": int(words[1]), "gaps": int(words[words.index("gap") - 1]),
            "lost": int(words[words.index("messages") - 1]),
            "bad": int(words[words.index("bad") - 1])}  # fmt: skip


def _record_check(cwd: Path) -> tuple[bool, str]:
    p = subprocess.run(
        [sys.executable, "-m", "shijim", "record-check"],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return p.returncode == 0, (p.stdout + p.stderr).strip().splitlines()[0]


CHDB_BASELINE = """
import sys, time, json
import numpy as np, pyarrow as pa
sys.path.insert(0, {runtime!r})
import shijim_core
from shijim.recorder.embedded import ChdbSession
from shijim.recorder.tables import ddl, block_tables
ticks = np.load({ticks!r}); books = np.load({books!r})
client = ChdbSession("{path}")  # the sink's own insert path
for q in ddl("base"):
    client.command(q)
blocks = []
for rows, t in ((ticks, "ticks"), (books, "bidasks")):
    empty_t, empty_b = ticks[:0], books[:0]
    for i in range(0, rows.size, 100_000):
        part = rows[i:i + 100_000]
        tb = block_tables(part if t == "ticks" else empty_t,
                          part if t == "bidasks" else empty_b, [])
        blocks.append((t, tb[t]))
client.insert_arrow(f"base.{{blocks[0][0]}}", blocks[0][1])  # warm-up, not timed
t0 = time.perf_counter()
for k, (t, tb) in enumerate(blocks):
    client.insert_arrow(f"base.{{t}}", tb, settings={{"insert_deduplication_token": f"b{{k}}"}})
secs = time.perf_counter() - t0
print(json.dumps({{"rows": int(ticks.size + books.size), "seconds": secs}}))
"""


def chdb_insert_baseline(s: Stream, tmp: Path) -> float:
    """chdb's own insert of the stream's rows, rows/s (a process of its own: one chdb path per
    process)."""

    np.save(tmp / "ticks.npy", s.ticks)
    np.save(tmp / "books.npy", s.books)
    code = CHDB_BASELINE.format(runtime=str(REPO / "runtime"), ticks=str(tmp / "ticks.npy"),
                                books=str(tmp / "books.npy"), path=tmp / "base-chdb")  # fmt: skip
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                       timeout=600, check=True)  # fmt: skip
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return out["rows"] / out["seconds"]


def recorder_rows(url: str) -> tuple[float, float]:
    """The recorder's rows written to the JSONL files and inserted into ClickHouse, from its
    /metrics at ``url``."""
    import urllib.request

    text = urllib.request.urlopen(url, timeout=2).read().decode()
    got = {"jsonl": 0.0, "clickhouse": 0.0}
    for line in text.splitlines():
        if line.startswith("shijim_recorder_rows_total{"):
            for sink in got:
                if f'sink="{sink}"' in line:
                    got[sink] = float(line.rsplit(" ", 1)[1])
    return got["jsonl"], got["clickhouse"]


class _Scrape:
    """Samples the recorder's rows counters (its /metrics) while the producer runs."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.samples: list[tuple[float, float, float]] = []  # (t, jsonl, clickhouse)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(0.25):
            try:
                self.samples.append((time.perf_counter(), *recorder_rows(self.url)))
            except OSError:
                pass

    def window(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        """The samples taken within [t0, t1]."""
        return [x for x in self.samples if t0 <= x[0] <= t1]

    def rate(self, t0: float, t1: float, column: int) -> float:
        """Rows/s over [t0, t1]: the least-squares slope of the counter over every sample in
        the window. The ClickHouse counter moves in blocks of up to 100k rows (5 a second at
        500k/s) and is scraped every 0.25 s, so a rate from the window's two end samples is off
        by up to a block at each end (+-40k/s over 5 s); the slope over ~20 samples averages
        that out (docs/recorder.md)."""
        window = [(x[0], x[column]) for x in self.window(t0, t1)]
        if len(window) < 2:
            return 0.0
        mt = sum(t for t, _ in window) / len(window)
        mc = sum(c for _, c in window) / len(window)
        var = sum((t - mt) ** 2 for t, _ in window)
        return sum((t - mt) * (c - mc) for t, c in window) / var

    def endpoint_rate(self, t0: float, t1: float, column: int) -> float:
        """The rate from the window's first and last samples (the figure before the slope)."""
        window = self.window(t0, t1)
        if len(window) < 2:
            return 0.0
        a, b = window[0], window[-1]
        return (b[column] - a[column]) / (b[0] - a[0])


def bench_sustained(s: Stream, rate: float, seconds: float) -> None:

    span = int(s.ticks["exch_ts"].max() - s.books["exch_ts"].min()) + 10**9
    per = s.kinds.size / rate  # seconds one copy of the stream lasts at this rate
    parts = [_shifted(s, k * span) for k in range(max(1, round(seconds / per)))]
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="shijim-recbench-") as tmp_s:
        tmp = Path(tmp_s)
        ring = f"recbench-{os.getpid()}"
        shijim_core.ring_unlink(ring)
        # A ring of a few seconds at the offered rate: the recorder's slack, as on a real shard.
        w = shijim_core.RingWriter(ring, slots=1 << 21, create=True)
        scrape = _Scrape(port)
        try:
            rec = _record_process(ring, tmp, "--metrics-port", str(port))
            warm = _shifted(s, -span)
            _publish_all(w, warm, 0, 50_000, time.time_ns())  # sink connected, caches warm
            time.sleep(3.0)
            scrape.thread.start()
            t0 = time.perf_counter()
            n, produced_s = _produce(w, parts, rate, 2000)
            t1 = time.perf_counter()
            w.close()
            _, err = rec.communicate(timeout=600)
            secs = time.perf_counter() - t0
        finally:
            scrape.done.set()
            w.close()
            shijim_core.ring_unlink(ring)
        if rec.returncode != 0:
            raise SystemExit(f"recorder bench: record exited {rec.returncode}: {err[-2000:]}")
        counts = _summary_counts(err)
        same, verdict = _record_check(tmp)
        base = chdb_insert_baseline(s, tmp)
    # Steady state: from 1 s after the start to the producer's end (both sinks).
    jsonl_rate = scrape.rate(t0 + 1.0, t1, 1)
    ch_rate = scrape.rate(t0 + 1.0, t1, 2)
    eps = min(jsonl_rate, ch_rate)
    ok = counts["lost"] == 0 and same and counts["rows"] == n + 50_000
    emit(
        "recorder.sustained",
        "events/s",
        eps,
        n,
        ("chdb's own insert of the same rows (Arrow, 100k-row blocks), rows/s", base),
        ">= 500000 events/s into JSONL + chdb, 0 lost, ClickHouse == files",
        bool(eps >= 500_000 * 0.98 and rate >= 500_000 and ok),
        higher_is_better=True,
        offered_rate=rate,
        jsonl_rate=round(jsonl_rate),
        clickhouse_rate=round(ch_rate),
        endpoint_rates=[round(scrape.endpoint_rate(t0 + 1.0, t1, c)) for c in (1, 2)],
        scrape_samples=len(scrape.window(t0 + 1.0, t1)),
        producer_seconds=round(produced_s, 2),
        seconds_until_all_recorded=round(secs, 2),
        events_per_s_until_all_recorded=round(n / secs),
        recorded_rows=counts["rows"],
        lost=counts["lost"],
        gap_records=counts["gaps"],
        bad_rows=counts["bad"],
        record_check=verdict,
        clickhouse_identical=same,
        load=_load(),
    )


def _t2o(args: list[str]) -> tuple[float, float, dict]:
    s, _ = shijim_run(args)
    t2o = s["tick_to_order_us"]
    return float(t2o["p50"]), float(t2o["p99"]), s


def bench_tick_to_order(seconds: float, repeats: int, cpu: int | None) -> None:
    base = ["--feed", "sim", "--duration", str(seconds), "--seed", "7",
            *(["--cpu", str(cpu)] if cpu is not None else [])]  # fmt: skip
    off, record, beside = [], [], []
    with tempfile.TemporaryDirectory(prefix="shijim-recbench-") as tmp_s:
        tmp = Path(tmp_s)
        for k in range(repeats):
            off.append(_t2o(base))
            cfg = tmp / f"t{k}.yaml"
            cfg.write_text(f"recorder:\n  raw_dir: {tmp}/t{k}/raw\n  fallback_dir: {tmp}/t{k}/fb\n")
            record.append(_t2o([*base, "--config", str(cfg), "--record"]))
            ring = f"recbench-t2o-{os.getpid()}-{k}"
            cfg = tmp / f"p{k}.yaml"
            cfg.write_text(f"ring:\n  name: {ring}\nrecorder:\n  raw_dir: {tmp}/p{k}/raw\n"
                           f"  fallback_dir: {tmp}/p{k}/fb\n")  # fmt: skip
            rec = _record_process(ring, tmp, "--config", str(cfg), "--wait", "120")
            if cpu is not None and len(os.sched_getaffinity(0)) > 1:
                # As `run --record --cpu` does: the recorder off the trading thread's CPU.
                os.sched_setaffinity(rec.pid, os.sched_getaffinity(0) - {cpu})
            beside.append(_t2o([*base, "--config", str(cfg)]))
            _, err = rec.communicate(timeout=120)
            if rec.returncode != 0:
                raise SystemExit(f"recorder bench: record exited {rec.returncode}: {err[-2000:]}")
    named = (("off", off), ("record", record), ("beside", beside))
    med = {name: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
           for name, runs in named}  # fmt: skip
    on50, on99 = med["record"]
    off50, off99 = med["off"]
    emit(
        "recorder.tick_to_order",
        "us",
        on50,
        repeats,
        ("the same run without a recorder, p50", off50),
        "p50 within 10 % of the run without a recorder",
        bool(on50 <= off50 * 1.10),
        p99=round(on99, 3),
        baseline_p99=round(off99, 3),
        record_ring_process_p50=round(med["beside"][0], 3),
        record_ring_process_p99=round(med["beside"][1], 3),
        runs={name: [[round(r[0], 1), round(r[1], 1)] for r in runs] for name, runs in named},
        events=record[-1][2]["events"],
        seconds=seconds,
        cpu=cpu,
        load=_load(),
    )


def floor_phase(attached: bool, seconds: float, rate: float, tmp: Path) -> list[float]:
    """bench/runtime.py's paced floor; attached: a `record --ring` process (raw JSONL and the
    embedded ClickHouse, the defaults) records this ring the whole time, off the trading CPU."""

    def attach(ring: str, runner: Any, gw: Any) -> Attached:
        cfg = tmp / f"{ring}.yaml"
        cfg.write_text(f"recorder:\n  raw_dir: {tmp}/{ring}/raw\n"
                       f"  fallback_dir: {tmp}/{ring}/fb\n")  # fmt: skip
        port = free_port()
        rec = _record_process(ring, tmp, "--config", str(cfg), "--wait", "120",
                              "--metrics-port", str(port))  # fmt: skip
        url = f"http://127.0.0.1:{port}/metrics"
        inserted: list[float] = []  # the ClickHouse row counts seen, each a new insert

        def ready() -> bool:
            # Recording in its steady state: the sink has inserted twice. Its first seconds
            # (chdb's engine loaded, the tables made: ~half a core for ~3 s) are start-up, which
            # the first rows on disk (0.3 s after the start) do not wait for.
            try:
                clickhouse = recorder_rows(url)[1]
            except OSError:  # not serving yet
                return False
            if clickhouse and (not inserted or clickhouse != inserted[-1]):
                inserted.append(clickhouse)
            return len(inserted) >= 2

        def stop() -> None:
            rec.terminate()
            rec.communicate(timeout=120)

        return Attached(ready, stop)

    return paced_floor("rfl" + "ad"[attached], seconds, rate, attach if attached else None)


def bench_floor(seconds: float, pairs: int, rate: float = 2000.0) -> None:
    with tempfile.TemporaryDirectory(prefix="shijim-recfloor-") as tmp:

        def phase(attached: bool) -> list[float]:
            return floor_phase(attached, seconds, rate, Path(tmp))

        bench_floor_pairs(
            "recorder.tick_to_order.floor",
            "the same pipeline, no recorder",
            0.10,
            pairs,
            seconds,
            rate,
            phase,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    ap.add_argument("--rate", type=float, default=500_000.0, help="offered events/s")
    args = ap.parse_args()
    q = args.quick
    stream = sim_stream(200_000 if q else 1_000_000)
    bench_sustained(stream, args.rate, 2.0 if q else 6.0)
    bench_floor(3 if q else 5, 1 if q else 3)
    bench_tick_to_order(5 if q else 15, 1 if q else 2, _bench_cpu())


if __name__ == "__main__":
    main()
