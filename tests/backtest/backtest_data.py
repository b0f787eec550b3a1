"""Recordings written by hand, a scripted strategy, and a way to backtest them on both venues
(the real hftbacktest 2.4.4 and the engine's paper venue). Imported by the tests of this
directory (the ``scripted`` fixture in conftest.py registers the strategy)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from shijim.app.config import parse_config
from shijim.backtest import BacktestResult, BacktestSpec, HftBacktestAdapter, VenueModels
from shijim.backtest.models import LatencyModel, QueueModel
from shijim.domain import Fill, Order, OrderIntent, OrderUpdate, Side
from shijim.events import BidAskRecord, MarketRecord, TickRecord, TickType, raw_file_name
from shijim.events import write_records as _write_records
from shijim.strategy.base import Amend, Cancel, MarketView, Place, StrategyContext

MS = 1_000_000
CODE = "TXFL6"
# 2026-11-24 09:00:00 Asia/Taipei (TAIFEX day session).
T0 = 1_795_482_000_000_000_000


def book(
    t: int, bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]], code: str = CODE
) -> BidAskRecord:
    """A five-level book at T0 + t ns (missing levels empty); local_ts 1 ms later."""

    def side(levels: Sequence[tuple[int, int]]) -> tuple[tuple[Decimal, ...], tuple[int, ...]]:
        full = list(levels) + [(0, 0)] * (5 - len(levels))
        return tuple(Decimal(p) for p, _ in full), tuple(q for _, q in full)

    bp, bq = side(bids)
    ap, aq = side(asks)
    return BidAskRecord(code, T0 + t, T0 + t + MS, 0, bp, bq, ap, aq, False)


def tick(t: int, price: int, vol: int, aggressor: str, code: str = CODE) -> TickRecord:
    side = {"buy": TickType.BUY, "sell": TickType.SELL, "?": TickType.UNKNOWN}[aggressor]
    return TickRecord(code, T0 + t, T0 + t + MS, 0, Decimal(price), vol, 0, side, False)


def ladder(best: int, step: int, qty: int = 10) -> list[tuple[int, int]]:
    return [(best + step * i, qty) for i in range(5)]


def write(tmp: Path, records: Sequence[MarketRecord], code: str = CODE) -> Path:
    path = tmp / raw_file_name("2026-11-24", code)
    _write_records(path, records)
    return path


@dataclass(frozen=True)
class ScriptedParams:
    script: str = "[]"  # JSON: [{"at": ns after T0, "do": place|cancel|amend, ...}]


class Scripted:
    """Places, amends and cancels at given event times, whatever the market does: each step runs
    on the first decision at or after its time."""

    name = "scripted"

    def __init__(self, params: ScriptedParams, ladder_of: Any) -> None:
        self.steps = json.loads(params.script)
        self.next = 0
        self.ids: dict[str, str] = {}

    def on_market(self, view: MarketView, ctx: StrategyContext) -> list[Any]:
        out: list[Any] = []
        while self.next < len(self.steps) and view.exch_ts >= T0 + self.steps[self.next]["at"]:
            s = self.steps[self.next]
            self.next += 1
            if s["do"] == "place":
                intent = OrderIntent(
                    view.code, Side[s["side"]], s.get("qty", 1), float(s["price"]), tag=s["ref"]
                )
                out.append(Place(intent))
            elif s["do"] == "cancel":
                out.append(Cancel(self.ids[s["ref"]]))
            else:
                out.append(Amend(self.ids[s["ref"]], float(s["price"])))
        return out

    def on_placed(self, tag: str, order: Order | None) -> None:
        if order is not None:
            self.ids[tag] = order.order_id

    def on_order(self, update: OrderUpdate, ctx: StrategyContext) -> list[Any]:
        return []

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> list[Any]:
        return []


def run_script(
    data: Path | Sequence[Path],
    steps: Sequence[dict[str, Any]],
    *,
    venue: str = "hftbacktest",
    latency: str = "zero",
    queue: str = "risk_averse",
    partial: bool = False,
    risk: dict[str, Any] | None = None,
) -> BacktestResult:
    """The scripted strategy over ``data``, deciding on every event."""
    paths = (data,) if isinstance(data, Path) else tuple(data)
    cfg = parse_config(
        {
            "strategy": {
                "name": "scripted",
                "params": {"script": json.dumps(list(steps))},
                "decision": "every_event",
            },
            "paper": {"latency": latency if venue == "paper" else "zero"},
            "risk": risk or {},
        }
    )
    models = VenueModels(LatencyModel.parse(latency), QueueModel.parse(queue), partial)
    spec = BacktestSpec(tuple(str(p) for p in paths), cfg, models, venue)
    return HftBacktestAdapter(spec).run()


def fills_of(r: BacktestResult) -> list[tuple[int, str, int, float, int]]:
    """(exec time after T0, side, qty, price, seen after T0) of every fill."""
    return [(f.exec_ns - T0, f.side, f.qty, f.price, f.seen_ns - T0) for f in r.journal.fills]
