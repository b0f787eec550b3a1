"""Runtime benchmarks on the engine (JSON lines, docs/contracts.md), each beside a same-run
baseline and with what could change its meaning printed beside it (decisions, orders, fills,
events dropped, messages lost).

runtime.tick_to_order   pipeline floor: one BidAsk published into the ring (local_ts stamped just
                        before the publish) -> Engine.next_due (book, signals, `every_event`) ->
                        a strategy placing one passive order per decided event -> risk gateway
                        -> paper venue (latency "zero": accepted within the call). p50 target
                        <= 5 us. Baseline: the same publish + ring read, no processing.
runtime.tick_to_order.demo  `python -m shijim run --feed sim --duration 30 --seed 7 --cpu K`:
                        what `make run` runs (market making, `on_touch_change`, the default
                        paper venue, the trading thread pinned to the last CPU), p50/p99 from
                        its --summary-json. Target p50 <= 20 us, p99 <= 100 us. Baseline:
                        runtime.tick_to_order of this run.
runtime.replay.jsonl    `python -m shijim run --feed replay:DIR --pace fast --decision every_event
                        --strategy market_making` over simulated TXFL6/MXFL6 events (5-level
                        books + trades, the simulator's stream of a trading morning) recorded as
                        JSONL, one file per code (the recorder's layout); events/s = the
                        summary's events / its wall_seconds (start of the feed to the end of the
                        shutdown, cancels included; not the interpreter start-up or the compose).
                        Target >= 300k events/s. Baselines: the replay feed alone into the ring
                        (feed -> ingestion -> ring, no engine; bench/feeds.py's path) and
                        json.loads of the same lines.
runtime.replay.sbe      the same run over the SBE encoding of the same files (`shijim.tools.sbe
                        encode`). Target >= 1M events/s. Baseline: the SBE replay feed alone.
runtime.capacity        events/s StrategyRunner drains from a pre-filled ring (engine, market
                        making `every_event`, risk, paper venue; no feed): the runner's own
                        head-room. Baseline: a bare RingReader drain of the same ring content.
runtime.throughput      events/s the runner handles while a producer thread publishes the same
                        stream at 100k events/s into a 64k-slot ring; lost messages beside.
                        Baseline: a bare RingReader drain of the same stream at the same rate.

The in-process tick-to-order figure pins the process to one CPU (the last one allowed) and the
demo passes `--cpu` with it, as a trading host does; RUNTIME_BENCH_PIN=0 leaves both unpinned.
The replay runs are not pinned (`make`-style invocations as a user types them). This VM also has
slow phases in which every figure, the baselines included, is ~1.6x slower: compare ratios.

    .venv/bin/python bench/runtime.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

from feeds import START, replay_rate
from figure import emit
from shijim.app.config import last_cpu
from shijim.app.runtime import engine_clock
from shijim.domain import OrderIntent, Side, TimeInForce, fixed_tick, instrument_for
from shijim.events import BidAskRecord, MarketRecord, TickRecord, TickType, write_records
from shijim.execution.paper import PaperVenue
from shijim.gateway.sim_market import SimulatedMarket, default_instruments
from shijim.metrics import ShardMetrics
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.limits import RiskLimits
from shijim.strategy.base import Place
from shijim.strategy.market_making import MarketMaking, MarketMakingParams
from shijim.strategy.runner import StrategyRunner
from shijim.tools import sbe as sbe_tool

import shijim_core

REPO = Path(__file__).resolve().parents[1]
CODES = ["TXFL6", "MXFL6"]  # the TXF/MXF stream
BIG = 10**9
QUIET_ENV = {**os.environ, "SHIOAJI_API_KEY": ""}  # never the broker, whatever the shell has


class Idle:
    """Bench strategy that never acts (the base of the others: no answer to the venue)."""

    name = "idle"

    def on_market(self, view, ctx):
        return ()

    def on_placed(self, tag, order):
        pass

    def on_order(self, update, ctx):
        return ()

    def on_fill(self, fill, ctx):
        return ()


# Written as the house's strategies are on the decision path (shijim.strategy.market_making):
# Enum members bound once (a class-attribute read of an Enum costs ~75 ns on 3.11) and the
# intent's fields positional (a keyword costs ~100 ns more).
_BUY, _ROD = Side.BUY, TimeInForce.ROD


class PlaceEveryEvent(Idle):
    """Bench strategy: one passive 1-lot buy at the best bid per decided event."""

    name = "bench"

    def on_market(self, view, ctx):
        return [Place(OrderIntent(view.code, _BUY, 1, view.best_bid, _ROD, "b"))]


def wide_limits() -> RiskLimits:
    """Every limit is always on (docs/risk.md); for a bench they are set out of reach so that
    every order reaches the venue and the figure measures the path, not the rejections."""
    return RiskLimits(
        max_order_qty=10,
        max_position=BIG,
        max_gross_position=BIG,
        max_working_orders=BIG,
        order_actions_per_10s=BIG,
        max_daily_loss=math.inf,
    )


@dataclass
class Pipeline:
    engine: Any
    gateway: RiskAwareGateway
    runner: StrategyRunner

    def dropped(self) -> int:
        ec = self.engine.counters()
        return sum(int(ec[c]) for c in shijim_core.ENGINE_DROP_CAUSES)

    def beside(self) -> dict[str, int]:
        """What could change a figure's meaning: the runner's and the engine's counts."""
        c = self.runner.counters
        return {
            "decisions": self.runner.decisions,
            "strategy_calls": c.strategy_calls,
            "orders": c.accepted,
            "amends": c.amends,
            "cancels": c.cancels,
            "fills": c.fills,
            "rejects": sum(self.gateway.rejects.values()),
            "dropped": self.dropped(),
            "lost": c.lost,
        }


def pipeline(reader, codes: list[str], strategy, policy: str, latency: str, event_time: bool,
             max_messages: int, snapshot_interval_s: float = 0.25) -> Pipeline:  # fmt: skip
    """The shard's trading path as `shijim.app.runtime.compose` builds it for a paper venue
    (``snapshot_interval_s``: dashboard snapshots, built only while one reads)."""
    instruments = InstrumentTable({c: instrument_for(c) for c in codes})
    engine = shijim_core.Engine(
        codes,
        policy,
        latency=latency,
        instruments={c: {"multiplier": instrument_for(c).multiplier} for c in codes},
    )
    metrics = ShardMetrics("bench")  # the runtime always counts: so does the benchmark
    clock = engine_clock(engine) if event_time else time.monotonic_ns
    gw = RiskAwareGateway(
        PaperVenue(engine), instruments, wide_limits(), None, metrics, clock, engine=engine
    )
    runner = StrategyRunner(engine, reader, strategy, gw, metrics, max_messages=max_messages,
                            snapshot_interval_s=snapshot_interval_s)  # fmt: skip
    return Pipeline(engine, gw, runner)


FLOOR_BIDS = [20000.0 - k for k in range(5)]
FLOOR_ASKS = [20001.0 + k for k in range(5)]
FLOOR_QTY = [5, 5, 5, 5, 5]
# The floor's book moves one point every event: two books, built once, as the baseline's is
# (the span holds the publish of the book, not the bench building its lists).
FLOOR_BOOKS = [([x + up for x in FLOOR_BIDS], [x + up for x in FLOOR_ASKS]) for up in (0, 1)]


def floor_event(w, p: Pipeline, i: int) -> None:
    """One event of the tick-to-order floor: a TXFL6 book (moving every event, so each is a
    real decision) published and decided; the order it brings is cancelled outside the
    measured span (the next step delivers the cancel)."""
    bids, asks = FLOOR_BOOKS[i % 2]
    w.publish_bidask("TXFL6", i, time.time_ns(), bids, FLOOR_QTY, asks, FLOOR_QTY, False)
    p.runner.step()  # the sample is taken when the gateway returns the accepted order
    p.gateway.cancel_all()
    p.runner.step()


def _ring(tag: str, slots: int = 65536):
    name = f"bench-rt-{tag}-{os.getpid()}"
    shijim_core.ring_unlink(name)
    w = shijim_core.RingWriter(name, slots=slots)
    r = shijim_core.RingReader(name)
    return name, w, r


def free_port() -> int:
    """A loopback TCP port nobody listens on now (for a child's metrics or admin listener)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _close(name: str, w) -> None:
    w.close()
    shijim_core.ring_unlink(name)


def _bench_cpu() -> int | None:
    """The CPU `make run` pins the trading thread to (`--cpu last`), or None."""
    if os.environ.get("RUNTIME_BENCH_PIN", "1") == "0":
        return None
    return last_cpu(os.sched_getaffinity(0))


def vcpu_stalls(cpu: int | None, seconds: float = 2.0) -> dict[str, float]:
    """How often this CPU stops running us: a loop reading the clock (one turn ~0.1 us) on
    ``cpu`` counts the gaps of 20 us or more. On this VM the hypervisor takes the vCPU away a few
    hundred times a second for 20-100 us, which no figure here can undo: each such gap costs the
    event it falls on, and the caches it leaves cold cost the next ones (docs/runtime.md)."""
    saved = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        clock = time.perf_counter_ns
        gaps: list[int] = []
        t = start = clock()
        end = start + int(seconds * 1e9)
        while t < end:
            now = clock()
            if now - t >= 20_000:
                gaps.append(now - t)
            t = now
    finally:
        os.sched_setaffinity(0, saved)
    g = np.asarray(gaps, dtype=np.float64)
    return {
        "stalls_20us_per_s": round(len(g) / seconds, 1),
        "stalls_100us_per_s": round(float((g >= 100_000).sum()) / seconds, 1),
        "stalled_pct": round(100 * float(g.sum()) / (seconds * 1e9), 2),
    }


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f} (1/5 min average)"


# -- 1. the pipeline floor ----------------------------------------------------------------------
def bench_tick_to_order(n: int, cpu: int | None) -> float:
    saved = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        return _tick_to_order(n, cpu)
    finally:
        os.sched_setaffinity(0, saved)  # the throughput bench's threads must not share one CPU


def _tick_to_order(n: int, cpu: int | None) -> float:
    bids, asks, qty = FLOOR_BIDS, FLOOR_ASKS, FLOOR_QTY
    name, w, r = _ring("t2o0", 4096)
    try:  # Baseline: publish + read, nothing else.
        base = np.empty(n, dtype=np.int64)
        for i in range(n):
            t0 = time.perf_counter_ns()
            w.publish_bidask("TXFL6", i, time.time_ns(), bids, qty, asks, qty, False)
            r.read(64)
            base[i] = time.perf_counter_ns() - t0
    finally:
        _close(name, w)
    name, w, r = _ring("t2o1", 4096)
    try:
        p = pipeline(r, ["TXFL6"], PlaceEveryEvent(), "every_event", "zero", False, 64)
        for i in range(n):
            floor_event(w, p, i)
        samples = np.asarray(p.runner.counters.tick_to_order_ns[n // 10 :], dtype=np.float64)
        samples /= 1e3
    finally:
        _close(name, w)
    p50, p99 = np.percentile(samples, [50, 99])
    emit(
        "runtime.tick_to_order",
        "us",
        float(p50),
        len(samples),
        (
            "ring publish+read of the same event, no processing",
            float(np.median(base[n // 10 :]) / 1e3),
        ),
        "p50 <= 5 us",
        bool(p50 <= 5),
        p99=round(float(p99), 3),
        events=n,
        **p.beside(),
        cpu=cpu,
        load=_load(),
    )
    return float(p50)


@dataclass
class Attached:
    """Something a paced floor run has beside it (a dashboard, a recorder): when it is ready to
    be measured against, and how to stop it."""

    ready: Callable[[], bool]
    stop: Callable[[], None]


def paced_floor(
    tag: str,
    seconds: float,
    rate: float,
    attach: Callable[[str, StrategyRunner, RiskAwareGateway], Attached] | None = None,
    sent_at: list[int] | None = None,
) -> list[float]:
    """The tick-to-order floor (one book in, one order out, in this process), paced at ``rate``
    events/s for ``seconds`` with the trading thread pinned and busy-polling between events,
    as `run --cpu` does; ``attach`` starts what runs beside it (its threads and processes kept
    off the trading CPU, as `run --cpu` keeps them) before the first measured event. Thousands
    of samples per run: the p50 resolves the few percent a neighbour may cost, where the
    demo's ~200 orders cannot. Samples in microseconds, one per event; ``sent_at`` (if given)
    gets each measured event's time.monotonic_ns() as it is published."""
    from shijim.app.runtime import IDLE_SPIN_NS, idle_turn, keep_side_threads_off
    from shijim.dashboard.channel import SNAPSHOT_INTERVAL_S

    name, w, r = _ring(tag, 4096)
    # Snapshots as the runtime composes it: built only while a dashboard reads.
    p = pipeline(r, ["TXFL6"], PlaceEveryEvent(), "every_event", "zero", False, 64,
                 SNAPSHOT_INTERVAL_S)  # fmt: skip
    runner, gw = p.runner, p.gateway
    saved = os.sched_getaffinity(0)
    beside: Attached | None = None
    i = 0

    try:
        keep_side_threads_off(max(saved))
        if attach is not None:
            beside = attach(name, runner, gw)
            deadline = time.monotonic() + 60
            while not beside.ready():
                if time.monotonic() > deadline:
                    raise SystemExit(f"paced floor {tag}: what runs beside it never got ready")
                i += 1
                floor_event(w, p, i)
                time.sleep(0.01)
        os.sched_setaffinity(0, {max(saved)})
        runner.counters.tick_to_order_ns.clear()
        gap = 1e9 / rate
        nxt = start = time.perf_counter_ns()
        end = start + seconds * 1e9
        while nxt < end:
            # The pinned runtime's idle turn (shijim.app.runtime.trade_loop): a step, then the
            # ring watched with the interpreter lock released until the next event is due.
            while (now := time.perf_counter_ns()) < nxt:
                runner.step()
                idle_turn(r, True, int(min(IDLE_SPIN_NS, nxt - now)), runner)
            i += 1
            if sent_at is not None:
                sent_at.append(time.monotonic_ns())
            floor_event(w, p, i)
            nxt += gap
        samples = [x / 1e3 for x in runner.counters.tick_to_order_ns]
    finally:
        os.sched_setaffinity(0, saved)
        if beside is not None:
            beside.stop()
        _close(name, w)
    assert samples, "no order was sent"
    return samples


def pair_order(i: int) -> tuple[bool, bool]:
    """Which run of pair ``i`` goes first (False: the baseline): alternated (ABBA), so that a
    machine that slows down or speeds up over the pairs does not bias their ratios."""
    return (False, True) if i % 2 == 0 else (True, False)


def bench_floor_pairs(bench: str, baseline: str, within: float, pairs: int, seconds: float,
                      rate: float, phase: Callable[[bool], list[float]]) -> None:  # fmt: skip
    """Interleaved pairs of paced floor runs, the ``baseline`` one and the attached one, which
    goes first alternating (``pair_order``); ``phase(attached)`` returns one run's samples. The
    figure is the median of the pairs' p50 ratios, which the load of a shared machine disturbs
    least. Target: within ``within`` (0.05: 5 %)."""
    runs: dict[bool, list[list[float]]] = {False: [], True: []}
    for i in range(pairs):
        for attached in pair_order(i):
            runs[attached].append(phase(attached))
    p50 = {k: [float(np.percentile(v, 50)) for v in runs[k]] for k in runs}
    p99 = {k: [float(np.percentile(v, 99)) for v in runs[k]] for k in runs}
    pair_ratio = statistics.median(w / wo for w, wo in zip(p50[True], p50[False], strict=True))
    emit(
        bench,
        "us",
        statistics.median(p50[True]),
        sum(len(v) for v in runs[True]),
        (baseline, statistics.median(p50[False])),
        f"within {within:.0%} of the baseline (median of the pairs' p50 ratios)",
        pair_ratio <= 1 + within,
        median_pair_ratio=round(pair_ratio, 3),
        p50_with=[round(x, 2) for x in p50[True]],
        p50_without=[round(x, 2) for x in p50[False]],
        p99_with=[round(x, 1) for x in p99[True]],
        p99_without=[round(x, 1) for x in p99[False]],
        events_per_s=rate,
        seconds=seconds,
        load=_load(),
    )


# -- 2. the `make run` demo ---------------------------------------------------------------------
def shijim_run(args: list[str]) -> tuple[dict, float]:
    """`python -m shijim run ARGS --summary-json F`: its summary and the process's wall seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        argv = [sys.executable, "-m", "shijim", "run", *args, "--summary-json", str(summary),
                "--log-level", "ERROR"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=REPO, env=QUIET_ENV, capture_output=True, text=True)
        secs = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr[-2000:]}")
        return json.loads(summary.read_text()), secs


def _markouts(s: dict) -> str:
    return "; ".join(
        f"+{m['horizon_s']:g}s mid move {m['mid_move_twd']:.0f} TWD, vs fill "
        f"{m['vs_fill_twd']:.0f} TWD (n={m['fills']})"
        for m in s["markouts"]
    )


def bench_demo_run(seconds: float, floor_p50_us: float, cpu: int | None) -> None:
    s, _ = shijim_run(["--feed", "sim", "--duration", str(seconds), "--seed", "7",
                       *(["--cpu", str(cpu)] if cpu is not None else [])])  # fmt: skip
    t2o = s["tick_to_order_us"]
    p50, p99 = t2o["p50"], t2o["p99"]
    steady = t2o["after_first_second"]
    emit(
        "runtime.tick_to_order.demo",
        "us",
        float(p50 if p50 is not None else math.nan),
        int(t2o["samples"]),
        ("runtime.tick_to_order p50 of this run (the pipeline floor)", floor_p50_us),
        "p50 <= 20 us, p99 <= 100 us",
        bool(p50 is not None and p50 <= 20 and p99 <= 100),
        p99=None if p99 is None else round(float(p99), 3),
        max=t2o["max"],
        # The steady state beside it: without the first second of orders (the path's first runs
        # and every code's first decisions at the open).
        first_second_samples=t2o["first_second_samples"],
        after_first_second_p50_p99=[t2o["after_first_second"][k] for k in ("p50", "p99")],
        # The orders that waited behind a fill booked after their event arrived, apart from
        # the others (rare since venue news is released between events: docs/engine.md
        # #venue-time; it set the steady p99 before).
        after_a_fill_n_p50=[steady["after_a_fill"][k] for k in ("samples", "p50")],
        others_p50_p99=[steady["others"][k] for k in ("p50", "p99")],
        # What keeping the acting path warm cost: the trading thread's share of the run spent
        # rehearsing it, holding the interpreter lock (docs/runtime.md#rehearsal).
        rehearsals=s["rehearsals"],
        rehearsal_share=round(s["rehearsal_share"], 4),
        # Before the loop, on a scratch copy of the path (docs/runtime.md#warm-up), and the
        # garbage collections run in idle turns or forced by a burst (#garbage-collection).
        warm_up_decisions=s["warm_up_decisions"],
        gc_idle_overdue=[s["gc_idle"], s["gc_overdue"]],
        seconds=seconds,
        decision=s["decision"],
        events=s["events"],
        decisions=s["decisions"],
        standby_answers=s["standby_answers"],
        orders=s["orders"],
        amends=s["amends"],
        fills=s["fills"],
        rejects=sum(s["rejects"].values()),
        fees_twd=round(s["fees"], 1),
        pnl_twd=round(s["pnl"], 1),
        markouts=_markouts(s),
        dropped=sum(s["dropped"].values()),
        lost=s["ring_lost"],
        venue=s["venue"],
        cpu=cpu,
        load=_load(),
    )


# -- the recorded stream (3, 4, capacity, throughput) -------------------------------------------
@dataclass
class Stream:
    """`n` simulator events of CODES in publication order (books and trades, no sessions)."""

    ticks: np.ndarray  # TICK_DTYPE
    books: np.ndarray  # BIDASK_DTYPE
    kinds: np.ndarray  # 1 tick, 2 book, per event in order
    index: np.ndarray  # into ticks or books


def sim_stream(n: int, seed: int = 7) -> Stream:
    """The simulator's TXFL6/MXFL6 market from 09:00 (open, no trial matching) until `n` books
    and trades; local_ts = exch_ts + 30 us (a receive lag; replay restamps it anyway)."""
    wanted = [i for i in default_instruments() if i.code in CODES]
    market = SimulatedMarket(wanted, seed, START, chunk_seconds=10)
    ticks, books, kinds, index = [], [], [], []
    got = nt = nb = 0
    while got < n:
        c = market.next_chunk()
        keep = c.kinds != 0
        k, i = c.kinds[keep], c.index[keep]
        ticks.append(c.ticks)
        books.append(c.bidasks)
        kinds.append(k)
        index.append(np.where(k == 1, i + nt, i + nb))
        nt += c.ticks.size
        nb += c.bidasks.size
        got += int(k.size)
    tk = np.concatenate(ticks).astype(shijim_core.TICK_DTYPE)
    bk = np.concatenate(books).astype(shijim_core.BIDASK_DTYPE)
    for rows in (tk, bk):
        rows["local_ts"] = rows["exch_ts"] + 30_000
    kinds_a, index_a = np.concatenate(kinds)[:n], np.concatenate(index)[:n]
    if tk["simtrade"].any() or bk["simtrade"].any():
        raise SystemExit("runtime bench: the stream has trial-match rows")
    return Stream(tk, bk, kinds_a, index_a)


def _records(s: Stream) -> Iterator[tuple[str, MarketRecord]]:
    """The stream as canonical records, in order (futures prices are whole points)."""
    ticks, books = s.ticks.tolist(), s.books.tolist()
    seq = dict.fromkeys(CODES, 0)
    for kind, i in zip(s.kinds.tolist(), s.index.tolist(), strict=True):
        if kind == 1:
            _s, exch, local, code, px, vol, total, tt, _sim = ticks[i]
            code = code.decode()
            seq[code] += 1
            yield code, TickRecord(code, exch, local, seq[code], Decimal(int(px)), vol, total,
                                   TickType(tt), False)  # fmt: skip
        else:
            _s, exch, local, code, bp, bq, ap, aq, _sim = books[i]
            code = code.decode()
            seq[code] += 1
            bids = tuple(Decimal(int(x)) for x in bp)
            asks = tuple(Decimal(int(x)) for x in ap)
            yield code, BidAskRecord(code, exch, local, seq[code], bids, tuple(bq), asks,
                                     tuple(aq), False)  # fmt: skip


def record_day(s: Stream, jsonl: Path, sbe: Path) -> list[Path]:
    """The stream as the recorder lays it out (`<day>_<code>.jsonl`) and its SBE encoding."""
    per_code: dict[str, list[MarketRecord]] = {c: [] for c in CODES}
    for code, rec in _records(s):
        per_code[code].append(rec)
    files = []
    for code, recs in per_code.items():
        f = jsonl / f"20260105_{code}.jsonl"
        write_records(f, recs)
        _, dropped = sbe_tool.encode_file(f, sbe / f.with_suffix(".sbe").name, skip_bad=False)
        if dropped.count:
            raise SystemExit(f"runtime bench: {dropped.count} bad lines in {f}")
        files.append(f)
    return files


# -- 3, 4. replay at pace fast through the whole shard ------------------------------------------
def _replay_run(day: Path) -> tuple[dict, float]:
    return shijim_run(["--feed", f"replay:{day}", "--pace", "fast", "--decision", "every_event",
                       "--strategy", "market_making"])  # fmt: skip


def _rate(s: dict) -> float:
    return s["events"] / s["wall_seconds"]


def bench_replay(s: Stream, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        jsonl, sbe = Path(tmp) / "jsonl", Path(tmp) / "sbe"
        jsonl.mkdir()
        sbe.mkdir()
        files = record_day(s, jsonl, sbe)
        lines = [line for f in files for line in f.read_bytes().splitlines()]
        runs: dict[str, list[tuple[dict, float]]] = {"jsonl": [], "sbe": []}
        feed_only: dict[str, list[float]] = {"jsonl": [], "sbe": []}
        loads = []
        for _ in range(repeats):
            for fmt, day in (("jsonl", jsonl), ("sbe", sbe)):
                runs[fmt].append(_replay_run(day))
                feed_only[fmt].append(replay_rate(day, CODES, True))
            t0 = time.perf_counter()
            for line in lines:
                json.loads(line)
            loads.append(len(lines) / (time.perf_counter() - t0))
    for fmt, target in (("jsonl", 300_000), ("sbe", 1_000_000)):
        done = sorted(runs[fmt], key=lambda r: _rate(r[0]))
        summary, proc_s = done[len(done) // 2]  # the median run: its counts go beside it
        rate = _rate(summary)
        base_name = "the " + ("JSONL" if fmt == "jsonl" else "SBE")
        base_name += " replay feed alone into the ring (no engine, no strategy)"
        emit(
            f"runtime.replay.{fmt}",
            "events/s",
            rate,
            repeats,
            (base_name, statistics.median(feed_only[fmt])),
            f">= {target} events/s",
            bool(rate >= target),
            higher_is_better=True,
            rate_is="summary events / summary wall_seconds (feed start to shutdown end)",
            wall_seconds=round(summary["wall_seconds"], 3),
            process_seconds=round(proc_s, 3),
            events=summary["events"],
            decision=summary["decision"],
            decisions=summary["decisions"],
            standby_answers=summary["standby_answers"],
            orders_sent=summary["orders_sent"],
            orders=summary["orders"],
            amends=summary["amends"],
            cancels=summary["cancels"],
            fills=summary["fills"],
            rejects=json.dumps(summary["rejects"], sort_keys=True),
            fees_twd=round(summary["fees"], 1),
            dropped=sum(summary["dropped"].values()),
            lost=summary["ring_lost"],
            tick_to_order_samples=summary["tick_to_order_us"]["samples"],
            venue=summary["venue"],
            load=_load(),
            **({"json_loads_lines_per_s": round(statistics.median(loads))}
               if fmt == "jsonl" else {}),
        )  # fmt: skip


# -- 5. the runner alone: capacity and throughput ----------------------------------------------
def _market_making() -> MarketMaking:
    return MarketMaking(MarketMakingParams(), fixed_tick(1.0))


def _publish_all(w, s: Stream, lo: int, hi: int, local_ts: int | None) -> None:
    """Events lo..hi of the stream: its books, then its trades (two calls; the engine's clock is
    local_ts, which `local_ts` overrides when given)."""
    k, i = s.kinds[lo:hi], s.index[lo:hi]
    books = s.books[i[k == 2]]
    ticks = s.ticks[i[k == 1]]
    if local_ts is not None:
        books["local_ts"] = local_ts
        ticks["local_ts"] = local_ts
    if books.size:
        w.publish_bidasks(books)
    if ticks.size:
        w.publish_ticks(ticks)


def bench_capacity(s: Stream, n: int) -> None:
    n = min(n, s.kinds.size)
    slots = 1 << max(16, (n - 1).bit_length())  # the whole stream fits: nothing lapped
    name, w, r = _ring("cap0", slots)
    _publish_all(w, s, 0, n, None)
    t0 = time.perf_counter()
    got = 0
    while k := len(r.read(4096)):
        got += k
    base = got / (time.perf_counter() - t0)
    _close(name, w)
    name, w, r = _ring("cap1", slots)
    try:
        p = pipeline(r, CODES, _market_making(), "every_event", "shioaji", True, 4096)
        _publish_all(w, s, 0, n, None)
        t0 = time.perf_counter()
        c0 = time.thread_time()
        got = 0
        while k := p.runner.step():
            got += k
        eps = got / (time.perf_counter() - t0)
        # Per CPU-second of this thread: what a dedicated core would sustain on a shared machine.
        eps_cpu = got / max(time.thread_time() - c0, 1e-9)
    finally:
        _close(name, w)
    emit(
        "runtime.capacity",
        "events/s",
        eps,
        got,
        ("bare RingReader drain of the same ring content", base),
        ">= 300000 events/s",
        bool(eps >= 300_000 and p.runner.counters.lost == 0),
        higher_is_better=True,
        events_per_cpu_second=round(eps_cpu),
        decision="every_event",
        **p.beside(),
        load=_load(),
    )


def _produce(w, s: Stream, n: int, rate: float, chunk: int, done: threading.Event) -> None:
    """Publish the first n events in chunks at `rate` events/s, stamped at publication."""
    per = chunk / rate
    t_next = time.perf_counter()
    for lo in range(0, n, chunk):
        _publish_all(w, s, lo, min(n, lo + chunk), time.time_ns())
        t_next += per
        delay = t_next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    done.set()


def _consume(r, step, done: threading.Event) -> tuple[int, float]:
    t0 = time.perf_counter()
    total = 0
    while True:
        got = step()
        total += got
        if not got:
            if done.is_set() and r.lag == 0:
                break
            time.sleep(0.0002)  # the unpinned runtime's idle back-off (app.runtime)
    return total, time.perf_counter() - t0


def bench_throughput(s: Stream, n: int, rate: float) -> None:
    n = min(n, s.kinds.size)
    name, w, r = _ring("tp0")
    done = threading.Event()
    prod = threading.Thread(target=_produce, args=(w, s, n, rate, 1000, done))
    prod.start()
    base_n, base_s = _consume(r, lambda: len(r.read(4096)), done)
    prod.join()
    base_lost = r.lost_total
    _close(name, w)

    name, w, r = _ring("tp1")
    try:
        p = pipeline(r, CODES, _market_making(), "every_event", "shioaji", False, 4096)
        done = threading.Event()
        prod = threading.Thread(target=_produce, args=(w, s, n, rate, 1000, done))
        prod.start()
        got, secs = _consume(r, p.runner.step, done)
        prod.join()
    finally:
        _close(name, w)
    eps = got / secs
    lost = p.runner.counters.lost
    emit(
        "runtime.throughput",
        "events/s",
        eps,
        got,
        ("bare RingReader drain of the same stream", base_n / base_s),
        f">= 100000 events/s offered at {rate:.0f}/s, lost == 0",
        bool(eps >= 100_000 * 0.98 and lost == 0 and rate >= 100_000),
        higher_is_better=True,
        offered_rate=rate,
        baseline_lost=base_lost,
        decision="every_event",
        **p.beside(),
        load=_load(),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sample counts (smoke test)")
    args = ap.parse_args()
    cpu = _bench_cpu()
    q = args.quick
    stalls = vcpu_stalls(cpu)
    emit("platform.vcpu_stalls", "stalls/s", stalls["stalls_20us_per_s"], 1,
         ("none on a dedicated core", 0.0), None, None, cpu=cpu, **stalls,
         load=_load())  # fmt: skip
    floor = bench_tick_to_order(2_000 if q else 20_000, cpu)
    bench_demo_run(5 if q else 30, floor, cpu)  # make run's DURATION
    stream = sim_stream(100_000 if q else 1_000_000)
    bench_replay(stream, 1 if q else 3)
    bench_capacity(stream, 100_000 if q else 300_000)
    bench_throughput(stream, 100_000 if q else 1_000_000, 100_000.0)


if __name__ == "__main__":
    main()
