"""The runner's row-by-row path for small batches (books and trades) decides, fills and counts
exactly as its vectorised path: one random stream through the real ring, risk gateway and paper
exchange, once in small reads and once with the small path switched off."""

from __future__ import annotations

import os
from itertools import count
from typing import Any

import numpy as np
import pytest
from shijim.domain import Instrument
from shijim.execution.paper import PaperExchange
from shijim.risk.gateway import InstrumentTable, RiskAwareGateway
from shijim.risk.rules import RiskLimits
from shijim.strategy import runner as runner_mod
from shijim.strategy.market_making import MarketMaking, MarketMakingParams
from shijim.strategy.runner import StrategyRunner

import shijim_core

CODES = ["TXFL6", "MXFL6"]
_ids = count()


def _stream(seed: int, n: int) -> list[tuple[Any, ...]]:
    """Books and trades of two codes, with simtrades and bad trades mixed in."""
    rng = np.random.default_rng(seed)
    mids = {c: 20000.0 for c in CODES}
    out: list[tuple[Any, ...]] = []
    for i in range(n):
        code = CODES[int(rng.integers(0, 2))]
        mids[code] += float(rng.integers(-1, 2))
        m = mids[code]
        if rng.random() < 0.35:
            px = m + float(rng.integers(-2, 3))
            if rng.random() < 0.1:
                px = -1.0  # a bad trade: dropped and counted
            vol = int(rng.integers(1, 6))
            out.append(("t", code, i, px, vol, int(rng.integers(0, 3)), bool(rng.random() < 0.1)))
        else:
            bq = rng.integers(1, 9, 5).tolist()
            aq = rng.integers(1, 9, 5).tolist()
            out.append(("b", code, i, m, bq, aq))
    return out


class RecordingMarketMaking(MarketMaking):
    """Market making that also records every view it is shown."""

    def __init__(self) -> None:
        super().__init__(MarketMakingParams(min_requote_ms=0.0), lambda c, p: 1.0)
        self.views: list[Any] = []

    def on_market(self, view: Any, ctx: Any) -> Any:
        self.views.append(view)
        return super().on_market(view, ctx)


def _run(small: int, seed: int, read: int) -> dict[str, Any]:
    name = f"h9run-{os.getpid()}-{next(_ids)}"
    w = shijim_core.RingWriter(name, slots=1 << 12)
    r = shijim_core.RingReader(name)
    saved = runner_mod.SMALL_BATCH
    runner_mod.SMALL_BATCH = small
    try:
        gw = RiskAwareGateway(
            PaperExchange(),
            InstrumentTable({c: Instrument.future(c, 200.0) for c in CODES}),
            RiskLimits(max_price_pct=None, max_daily_loss=None, rate_actions=10**9),
            clock=lambda: 0,  # no wall clock: both runs must be identical
        )
        mm = RecordingMarketMaking()
        runner = StrategyRunner(r, mm, gw, None, batch=read)
        t0 = 1_767_000_000_000_000_000
        for ev in _stream(seed, 600):
            ts = t0 + ev[2] * 1_000_000
            if ev[0] == "t":
                _, code, _, px, vol, tt, sim = ev
                w.publish_tick(code, ts, ts, px, vol, 0, tt, sim)
            else:
                _, code, _, m, bq, aq = ev
                bids = [m - k for k in range(5)]
                asks = [m + 1 + k for k in range(5)]
                w.publish_bidask(code, ts, ts, bids, bq, asks, aq, False)
            runner.step()
        while runner.step():
            pass
        books = {
            c: (b.trade_flow, b.last_trade, b.exch_ts, b.local_ts, b.best_bid, b.last_ofi)
            for c, b in runner.books.books.items()
        }
        return {
            "counters": {
                k: v for k, v in vars_of(runner.counters).items() if k != "tick_to_order_ns"
            },
            "books": books,
            "views": mm.views,
            "dropped": dict(runner.books.dropped),
            "positions": {c: gw.positions.net(c) for c in CODES},
            "pnl": gw.positions.total_pnl,
            "working": sorted((o.code, o.side.name, o.price) for o in gw.working_orders().values()),
        }
    finally:
        runner_mod.SMALL_BATCH = saved
        w.close()
        shijim_core.ring_unlink(name)


def vars_of(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__slots__}


@pytest.mark.parametrize("seed", [3, 4])
def test_small_batch_path_matches_the_vectorised_path(seed: int) -> None:
    # One event per read: every read is small. Reference: the same reads, small path off.
    small = _run(small=1 << 20, seed=seed, read=1)
    vector = _run(small=0, seed=seed, read=1)
    assert small == vector
    c = small["counters"]
    assert c["fills"] > 0 and c["simtrades"] > 0 and small["dropped"].get("bad_trade", 0) > 0


@pytest.mark.parametrize("read", [3, 7])
def test_mixed_small_batches_match_the_vectorised_path(read: int) -> None:
    # Reads of a few books and trades together (the venue gets them in sequence order).
    assert _run(small=1 << 20, seed=5, read=read) == _run(small=0, seed=5, read=read)
