"""Backtest speed (JSON lines, docs/contracts.md). Run: `.venv/bin/python bench/backtest.py
[--quick]`.

A simulated session of the `make run` demo's market (TXFL6, MXFL6, 2330, 2317 from
`shijim.gateway.sim_market`, from 09:00 Asia/Taipei) recorded as raw SBE files, one per code.
The market-making demo is backtested on it by `shijim.backtest.HftBacktestAdapter`: the
recording through the replay feed, ingestion, the ring and the engine, the strategy with its
standby, the risk gateway, hftbacktest 2.4.4 as the venue (zero latency, risk-averse queue, no
partial fills). Medians after one warm-up run (hftbacktest compiles on its first calls).

- backtest.adapter.market_making: events/s of the whole backtest (converting the recording for
  hftbacktest included); target >= 300k events/s (issue 10; hftbacktest's own plain-Python loop
  does 193k on this machine). Beside it: hftbacktest's @njit data-only loop on the same
  converted rows (`elapse(10 ms)` until the end, no strategy, no orders). Printed with the
  decisions (by the strategy and by its standby), orders, amends, fills, and the adapter's own
  counts (hftbacktest looks, engine stops).
- backtest.adapter.market_making.loop: the same run without the conversion (the part that is
  the backtest loop itself), in CPU seconds of the process as well as wall seconds.
- backtest.adapter.paper: the same loop with the engine's paper venue instead (zero latency as
  well: what hftbacktest as the venue costs over the engine's own), informative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from figure import emit
from shijim.app.config import parse_config
from shijim.backtest import BacktestSpec, HftBacktestAdapter
from shijim.events import (
    MarketRecord,
    raw_file_name,
    write_records,
)
from shijim.gateway.sim_market import NS, SimulatedMarket, default_instruments, recorded
from shijim.tools import hft_converter as hc
from shijim.tools.sbe import encode_file

# Monday 2026-01-05 09:00 Asia/Taipei: TAIFEX and TWSE both trade (the runtime's sim start).
START = 1_767_574_800_000_000_000
CODES = ("TXFL6", "MXFL6", "2330", "2317")
LATENCY_NS = 200_000


def sim_records(seconds: float, seed: int = 7) -> list[MarketRecord]:
    """Every trade, book and session event of the demo's codes, in publication order."""
    market = SimulatedMarket([i for i in default_instruments() if i.code in CODES], seed, START)
    return list(recorded(market, START + int(seconds * NS), LATENCY_NS))


def write_day(records: list[MarketRecord], tmp: Path) -> Path:
    """One raw SBE file per code (the recorder's names), in a directory."""
    day = tmp / "day"
    day.mkdir()
    for code in CODES:
        src = tmp / raw_file_name("2026-01-05", code)
        write_records(src, [r for r in records if r.code == code])
        encode_file(src, day / src.with_suffix(".sbe").name, skip_bad=False)
    return day


def njit_data_loop(rows: list[np.ndarray], ticks: list[float]) -> Callable[[], int]:
    """hftbacktest's own loop at full speed: compiled, data only (elapse 10 ms to the end)."""
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    from numba import njit

    @njit
    def loop(hbt: Any) -> int:
        n = 0
        while hbt.elapse(10_000_000) == 0:
            n += 1
        return n

    def run() -> int:
        assets = [
            BacktestAsset().data([r]).linear_asset(1.0).constant_order_latency(0, 0)
            .risk_adverse_queue_model().no_partial_fill_exchange().tick_size(t).lot_size(1.0)
            for r, t in zip(rows, ticks, strict=True)
        ]  # fmt: skip
        return int(loop(HashMapMarketDepthBacktest(assets)))

    return run


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of each of `repeats` calls after one warm-up; the last result."""
    out = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return wall, cpu, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="few samples (checks the bench runs)")
    args = p.parse_args(argv)
    repeats = 2 if args.quick else 5
    seconds = 30 if args.quick else 600
    load = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        day = write_day(sim_records(seconds), Path(tmp))
        # The daily loss limit raised: the demo quotes the whole session (halted, it would only
        # read the rest, which is faster and says nothing about the adapter).
        demo = {"strategy": {"name": "market_making"}, "risk": {"max_daily_loss": 1e12}}
        cfg = parse_config(demo)
        spec = BacktestSpec((str(day),), cfg)

        wall, cpu, result = timed(lambda: HftBacktestAdapter(spec).run(), repeats)
        s = result.summary
        events = s.events
        # The conversion alone (the adapter's first step), to tell the loop's share.
        conv_wall, conv_cpu, conv = timed(lambda: hc.convert([day]), repeats)
        conversion, conversion_cpu = statistics.median(conv_wall), statistics.median(conv_cpu)
        rows = [
            (c.rows, float(hc.instrument_facts(code, c.rows)["tick_size"]))
            for code, c in sorted(conv.codes.items())
            if c.rows.size
        ]
        data_wall, _, hbt_steps = timed(njit_data_loop(*zip(*rows, strict=True)), repeats)
        baseline = ("hftbacktest @njit data-only loop, same rows", events / statistics.median(
            data_wall))  # fmt: skip
        median_rate = events / statistics.median(wall)
        counts = {
            "events": events,
            "decisions": s.decisions,
            "by_strategy": s.decisions - s.standby_answers,
            "by_standby": s.standby_answers,
            "orders": s.orders_accepted,
            "amends": s.amends,
            "cancels": s.cancels,
            "fills": s.fills,
            "rejects": dict(s.rejects),
            "pnl_twd": round(s.pnl),
            "venue": result.venue,
            "hbt_looks": result.counts.get("looks"),
            "engine_stops": result.counts.get("steps"),
            "halted_by": sorted(set(s.rejects) & {"halted", "daily_loss"}),
            "seconds_of_market": seconds,
            "load_avg": load,
        }
        emit("backtest.adapter.market_making", "events/s", median_rate, repeats, baseline,
             ">= 300000 events/s", median_rate >= 300_000, higher_is_better=True,
             wall_s=round(statistics.median(wall), 3), convert_s=round(conversion, 3),
             **counts)  # fmt: skip
        loop_wall = [w - conversion for w in wall]
        loop_rate = events / statistics.median(loop_wall)
        emit("backtest.adapter.market_making.loop", "events/s", loop_rate, repeats, baseline,
             None, None, higher_is_better=True,
             events_per_cpu_second=round(events / (statistics.median(cpu) - conversion_cpu)),
             hbt_njit_steps=hbt_steps, **counts)  # fmt: skip

        zero = parse_config({**demo, "paper": {"latency": "zero"}})
        paper = BacktestSpec((str(day),), zero, venue="paper")
        pwall, _, presult = timed(lambda: HftBacktestAdapter(paper).run(), repeats)
        ps = presult.summary
        emit("backtest.adapter.paper", "events/s", events / statistics.median(pwall), repeats,
             ("backtest.adapter.market_making", median_rate), None, None,
             higher_is_better=True, decisions=ps.decisions,
             by_strategy=ps.decisions - ps.standby_answers, by_standby=ps.standby_answers,
             orders=ps.orders_accepted, amends=ps.amends, fills=ps.fills,
             venue=presult.venue)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
