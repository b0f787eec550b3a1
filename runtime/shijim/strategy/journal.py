"""What a run did, action by action: the orders a strategy asked for, the orders it got, its
fills. Written beside a backtest's summary, and by ``python -m shijim run --journal DIR`` (paper,
replay or live), as ``actions.jsonl`` and ``fills.jsonl``, so that two runs can be reconciled
fill by fill (``python -m shijim reconcile``, shijim.backtest.reconcile).

``Journal`` wraps a strategy without changing it: the runner calls the journal, the journal
calls the strategy and notes what went in and out. The same wrapper serves every venue (paper,
hftbacktest), so both journals are written by one piece of code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from shijim.domain import Fill, Order, OrderUpdate
from shijim.strategy.base import (
    Amend,
    Cancel,
    MarketView,
    Place,
    StandBy,
    StrategyAction,
    StrategyContext,
)

FILLS_FILE = "fills.jsonl"
ACTIONS_FILE = "actions.jsonl"


@dataclass(frozen=True, slots=True)
class FillRow:
    """One fill and the order it filled, as both venues report it."""

    fill_id: str
    order_id: str
    code: str
    side: str  # "BUY" / "SELL"
    qty: int
    price: float
    exec_ns: int  # when it executed at the venue
    seen_ns: int  # engine time when the strategy heard of it
    fee: float
    order_price: float  # the order's price when it filled
    order_qty: int
    order_placed_ns: int  # engine time of the decision that placed the order
    order_tag: str


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One order action the strategy asked for (a standby is not an action)."""

    t_ns: int  # engine time of the decision
    code: str
    action: str  # "place", "amend", "cancel"
    side: str
    price: float
    qty: int
    order_id: str  # for amend/cancel; place: the order id it got ("" if refused)
    tag: str


class Journal:
    """``Journal(strategy, clock)``: the strategy as the runner sees it, plus a record.
    ``clock()`` is the engine's time (ns)."""

    def __init__(self, strategy: Any, clock: Callable[[], int]) -> None:
        self._strategy = strategy
        self._clock = clock
        self.fills: list[FillRow] = []
        self.actions: list[ActionRow] = []
        self.updates: list[OrderUpdate] = []  # every order update, in order (not written)
        self._orders: dict[str, tuple[Order, int]] = {}  # order id -> (order, placed at)
        self._placing: list[ActionRow] = []  # places waiting for on_placed, in order

    def __getattr__(self, name: str) -> Any:  # name, signal_levels, describe, ...
        return getattr(self._strategy, name)

    def on_market(self, view: MarketView, ctx: StrategyContext) -> Sequence[StrategyAction]:
        return self._note(self._strategy.on_market(view, ctx), ctx)

    def on_order(self, update: OrderUpdate, ctx: StrategyContext) -> Sequence[StrategyAction]:
        self.updates.append(update)
        return self._note(self._strategy.on_order(update, ctx), ctx)

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> Sequence[StrategyAction]:
        known = self._orders.get(fill.order_id)
        order, placed = known if known is not None else (None, 0)
        self.fills.append(
            FillRow(
                fill.fill_id,
                fill.order_id,
                fill.code,
                fill.side.name,
                fill.qty,
                fill.price,
                fill.ts_ns,
                self._clock(),
                fill.fee,
                order.price if order is not None else fill.price,
                order.qty if order is not None else fill.qty,
                placed,
                order.tag if order is not None else "",
            )
        )
        return self._note(self._strategy.on_fill(fill, ctx), ctx)

    def on_placed(self, tag: str, order: Order | None) -> None:
        if self._placing:
            row = self._placing.pop(0)
            if order is not None:
                self._orders[order.order_id] = (order, row.t_ns)
                row = replace(row, order_id=order.order_id)
            self.actions.append(row)
        self._strategy.on_placed(tag, order)

    def _note(self, actions: Any, ctx: StrategyContext) -> Any:
        if not actions:
            return actions
        t = self._clock()
        for act in actions:
            if isinstance(act, StandBy):
                continue
            if isinstance(act, Place):
                i = act.intent
                row = ActionRow(t, i.code, "place", i.side.name, i.price, i.qty, "", i.tag)
                self._placing.append(row)  # completed by on_placed with the order id
            elif isinstance(act, Amend):
                o = ctx.working.get(act.order_id)
                side, code, qty = (o.side.name, o.code, o.qty) if o is not None else ("", "", 0)
                self.actions.append(
                    ActionRow(t, code, "amend", side, act.price, qty, act.order_id, "")
                )
            elif isinstance(act, Cancel):
                o = ctx.working.get(act.order_id)
                known = o is not None
                side, code, price = (o.side.name, o.code, o.price) if known else ("", "", 0.0)
                self.actions.append(ActionRow(t, code, "cancel", side, price, 0, act.order_id, ""))
        return actions


def write_journal(journal: Journal, directory: Path) -> tuple[int, int]:
    """``fills.jsonl`` and ``actions.jsonl`` of ``journal`` into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    return (
        write_rows(directory / FILLS_FILE, journal.fills),
        write_rows(directory / ACTIONS_FILE, journal.actions),
    )


def write_rows(path: Path, rows: Iterable[Any]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(asdict(r), sort_keys=True) + "\n")
            n += 1
    return n


def read_fills(path: Path) -> list[FillRow]:
    """A fills file (``fills.jsonl``) or a run directory holding one; a bad line is named
    file:line and stops the read (a reconciliation on partial data would mislead)."""
    if path.is_dir():
        path = path / FILLS_FILE
    out: list[FillRow] = []
    fields = set(FillRow.__dataclass_fields__)
    with path.open(encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict) or set(d) != fields:
                    raise ValueError(f"expected the fields {sorted(fields)}")
                out.append(FillRow(**d))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{no}: not a fill row: {exc}") from None
    return out
