"""Feed speed (JSON lines, docs/contracts.md). Run: `.venv/bin/python bench/feeds.py [--quick]`.

- feeds.sim.end_to_end: simulated market at fast pace -> Ingestor (checks) -> real ring, in
  events/s; baseline: `RingWriter.publish_bidasks` of the same number of pre-built book rows
  (the ring alone). Target >= 100k events/s (the runtime must keep up with the simulator).
- feeds.sim.generate: `SimulatedMarket.next_chunk` alone, events/s (informative).
- feeds.shioaji.bidask_callback: one REAL BidAskFOPv1 object (built offline) through the
  adapter's callback into the ring, ns/quote; baseline: reading the object's fields only.
  Informative (Shioaji delivers a few thousand quotes/s per session).
- feeds.replay.fast: canonical JSONL book lines of one file replayed at pace fast into the ring
  (core parse into rows + `Ingestor.interleaved`), lines/s; baseline: `json.loads` of the same
  lines. Target >= 100k lines/s.
- feeds.replay.fast_dir: the same for a directory of 4 files (ticks and books) merged by
  exchange time, lines/s; baseline: the per-record path (`by_rows=False`) on the same files.
  Informative.
- feeds.replay.sbe: 1 M events (TXFL6 and MXFL6 5-level books, a trade before every 4th book)
  in one SBE file (`python -m shijim.tools.sbe encode` of the JSONL) replayed at pace fast into
  the ring (feed -> Ingestor -> ring, no strategy), events/s; baseline: the same events from the
  JSONL file in the same run. Target >= 1M events/s (issue 8: the whole pipeline must reach it).
- feeds.replay.sbe_dir: the same events as the recorder lays them out (one file per code,
  merged by exchange time), SBE; baseline: the same JSONL directory. Informative.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from figure import emit
from shijim.bus import BIDASK_DTYPE, Ingestor
from shijim.events import (
    BidAskRecord,
    MarketRecord,
    TickRecord,
    TickType,
    format_record,
    write_records,
)
from shijim.gateway.replay import ReplayFeed, ReplayPace
from shijim.gateway.sim_feed import LocalClock, Pace, SimFeed
from shijim.gateway.sim_market import SimulatedMarket, default_instruments
from shijim.tools import sbe as sbe_tool

import shijim_core as sc

START = 1_767_574_800_000_000_000  # Monday 09:00 Asia/Taipei


class Ring:
    def __init__(self) -> None:
        self.name = f"bench-feeds-{os.getpid()}"
        sc.ring_unlink(self.name)
        self.writer = sc.RingWriter(self.name, slots=1 << 20, create=True)

    def close(self) -> None:
        self.writer.close()
        sc.ring_unlink(self.name)


def bench_sim(repeats: int, events: int) -> None:
    rates, gen_rates, base_rates = [], [], []
    for r in range(repeats):
        ring = Ring()
        try:
            m = SimulatedMarket(default_instruments(), r, START, chunk_seconds=10)
            ing = Ingestor(ring.writer, universe=m.codes)
            feed = SimFeed(m, Pace.FAST, local_clock=LocalClock.EXCHANGE)
            feed.start(ing)
            t0 = time.perf_counter()
            n = feed.run_for(max_events=events)
            rates.append(n / (time.perf_counter() - t0))
            m2 = SimulatedMarket(default_instruments(), r, START, chunk_seconds=10)
            t0 = time.perf_counter()
            g = 0
            books = []
            while g < events:
                c = m2.next_chunk()
                g += c.size
                books.append(c.bidasks)
            gen_rates.append(g / (time.perf_counter() - t0))
            rows = np.zeros(g, dtype=BIDASK_DTYPE)
            pos = 0
            for b in books:
                rows[pos : pos + b.size] = b
                pos += b.size
            rows = rows[:pos]
            t0 = time.perf_counter()
            for k in range(0, rows.size, 4096):
                ring.writer.publish_bidasks(rows[k : k + 4096])
            base_rates.append(rows.size / (time.perf_counter() - t0))
        finally:
            ring.close()
    med = statistics.median(rates)
    emit("feeds.sim.end_to_end", "events/s", med, repeats,
         ("RingWriter.publish_bidasks of pre-built rows", statistics.median(base_rates)),
         ">= 100000 events/s", med >= 100_000, higher_is_better=True)  # fmt: skip
    emit("feeds.sim.generate", "events/s", statistics.median(gen_rates), repeats,
         ("RingWriter.publish_bidasks of pre-built rows", statistics.median(base_rates)),
         None, None, higher_is_better=True)  # fmt: skip


def bench_shioaji(repeats: int, n: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtime"))
    import shioaji_objects as so
    from shijim.gateway.shioaji_feed import FieldReader, ShioajiMarketData, read_bidask

    class _Session:
        logged_in = True
        api = None

    ring = Ring()
    try:
        # Exchange time = local time, so the plausibility check passes with the real clock.
        clock_now = time.time_ns()
        feed = ShioajiMarketData(_Session(), ["TXFL6"], clock_ns=lambda: clock_now)
        feed.ingestor = Ingestor(ring.writer, universe=["TXFL6"], clock_ns=lambda: clock_now)
        import datetime as dt

        when = dt.datetime.fromtimestamp(clock_now / 1e9, dt.UTC).replace(tzinfo=None)
        when += dt.timedelta(hours=8)
        objs = [so.bidask_fop("TXFL6", when=when + dt.timedelta(microseconds=i)) for i in range(n)]
        per, base = [], []
        for _ in range(repeats):
            feed.ingestor.forget_watermarks()
            t0 = time.perf_counter_ns()
            for o in objs:
                feed.on_bidask(o)
            per.append((time.perf_counter_ns() - t0) / n)
            t0 = time.perf_counter_ns()
            for o in objs:
                read_bidask(FieldReader(o))
            base.append((time.perf_counter_ns() - t0) / n)
        assert feed.ingestor.bad.counts == {}, feed.ingestor.bad.counts
    finally:
        ring.close()
    baseline = ("read the quote object's fields only", statistics.median(base))
    emit("feeds.shioaji.bidask_callback", "ns/quote", statistics.median(per), repeats,
         baseline, None, None)  # fmt: skip


def replay_rate(path: Path, codes: list[str], by_rows: bool) -> float:
    """Events/s of `path` replayed at pace fast into a ring (feed -> Ingestor -> ring, no
    reader): the feed alone, also bench/runtime.py's baseline for a whole replay run."""
    ring = Ring()
    try:
        feed = ReplayFeed(path, ReplayPace.FAST, by_rows=by_rows)
        feed.start(Ingestor(ring.writer, universe=codes))
        t0 = time.perf_counter()
        got = feed.run_for()
        rate = got / (time.perf_counter() - t0)
    finally:
        ring.close()
    if got != feed.read:
        raise SystemExit(f"replay bench: published {got} of {feed.read} lines")
    return rate


def bench_replay(repeats: int, n: int) -> None:
    from decimal import Decimal as D

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one" / "20260105_TXFL6.jsonl"
        path.parent.mkdir()
        px = tuple(D(23000 - i) for i in range(5))
        ax = tuple(D(23001 + i) for i in range(5))
        write_records(path, (BidAskRecord("TXFL6", START + i * 1000, START + i * 1000 + 50, i,
                                          px, (1, 2, 3, 4, 5), ax, (5, 4, 3, 2, 1), False)
                             for i in range(n)))  # fmt: skip
        day = Path(tmp) / "day"
        day.mkdir()
        codes = ["TXFL6", "MXFL6", "2330", "2317"]
        for k, code in enumerate(codes):
            recs = []
            for i in range(n // len(codes)):
                ts = START + i * 4000 + k * 1000
                if i % 3:
                    recs.append(BidAskRecord(code, ts, ts + 50, i, px, (1, 2, 3, 4, 5), ax,
                                             (5, 4, 3, 2, 1), False))  # fmt: skip
                else:
                    recs.append(TickRecord(code, ts, ts + 50, i, D("23000.5"), 1, i, TickType.BUY,
                                           False))  # fmt: skip
            write_records(day / f"20260105_{code}.jsonl", recs)
        lines = path.read_bytes().splitlines()
        rates, base, dir_rates, dir_base = [], [], [], []
        for _ in range(repeats):
            rates.append(replay_rate(path, ["TXFL6"], True))
            t0 = time.perf_counter()
            for line in lines:
                json.loads(line)
            base.append(len(lines) / (time.perf_counter() - t0))
            dir_rates.append(replay_rate(day, codes, True))
            dir_base.append(replay_rate(day, codes, False))
    rate = statistics.median(rates)
    emit("feeds.replay.fast", "lines/s", rate, repeats,
         ("json.loads of the same lines", statistics.median(base)), ">= 100000 lines/s",
         rate >= 100_000, higher_is_better=True)  # fmt: skip
    emit("feeds.replay.fast_dir", "lines/s", statistics.median(dir_rates), repeats,
         ("the per-record path on the same files", statistics.median(dir_base)), None, None,
         higher_is_better=True)  # fmt: skip


def _market_day(n: int, codes: list[str]) -> Iterator[tuple[str, MarketRecord]]:
    """n events of `codes` in time order: 5-level books, a trade before every 4th book."""
    from decimal import Decimal as D

    sides = {
        top: (tuple(D(top - k) for k in range(5)), tuple(D(top + 1 + k) for k in range(5)))
        for top in range(23000, 23007)
    }
    vol = dict.fromkeys(codes, 0)
    for i in range(n):
        code = codes[i % len(codes)]
        ts = START + i * 1000
        top = 23000 + (i // 64) % 7  # the book moves, so no two books of a code are equal
        if i % 5 == 4:
            vol[code] += 2
            yield code, TickRecord(code, ts, ts + 50, i, D(top) + D("0.5"), 2, vol[code],
                                   TickType.BUY, False)  # fmt: skip
        else:
            px, ax = sides[top]
            yield code, BidAskRecord(code, ts, ts + 50, i, px, (1, 2, 3, 4, 5), ax,
                                     (5, 4, 3, 2, 1), False)  # fmt: skip


def _to_sbe(src: Path, dst: Path) -> None:
    _, dropped = sbe_tool.encode_file(src, dst, skip_bad=False)
    if dropped.count:
        raise SystemExit(f"replay bench: {dropped.count} bad lines in {src}")


def bench_replay_sbe(repeats: int, n: int) -> None:
    codes = ["TXFL6", "MXFL6"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for d in ("jsonl", "sbe", "jsonl_dir", "sbe_dir"):
            (root / d).mkdir()
        one = root / "jsonl" / "20260105_ALL.jsonl"
        per_code = {c: root / "jsonl_dir" / f"20260105_{c}.jsonl" for c in codes}
        with ExitStack() as files:
            out = files.enter_context(one.open("w"))
            outs = {c: files.enter_context(f.open("w")) for c, f in per_code.items()}
            for code, rec in _market_day(n, codes):
                line = format_record(rec) + "\n"
                out.write(line)
                outs[code].write(line)
        for f in (one, *per_code.values()):
            _to_sbe(f, root / f.parent.name.replace("jsonl", "sbe") / f.with_suffix(".sbe").name)
        rates: dict[str, list[float]] = {d: [] for d in ("jsonl", "sbe", "jsonl_dir", "sbe_dir")}
        for _ in range(repeats):
            for d, got in rates.items():
                got.append(replay_rate(root / d, codes, True))
    rate = statistics.median(rates["sbe"])
    emit("feeds.replay.sbe", "events/s", rate, repeats,
         ("the same events from JSONL", statistics.median(rates["jsonl"])),
         ">= 1000000 events/s", rate >= 1_000_000, higher_is_better=True, events=n)  # fmt: skip
    emit("feeds.replay.sbe_dir", "events/s", statistics.median(rates["sbe_dir"]), repeats,
         ("the same events from JSONL", statistics.median(rates["jsonl_dir"])), None, None,
         higher_is_better=True, events=n)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="few samples (checks the bench runs)")
    args = p.parse_args(argv)
    repeats = 2 if args.quick else 7
    bench_sim(repeats, 50_000 if args.quick else 500_000)
    bench_shioaji(repeats, 2_000 if args.quick else 20_000)
    bench_replay(repeats, 5_000 if args.quick else 50_000)
    bench_replay_sbe(3 if args.quick else 5, 200_000 if args.quick else 1_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
