"""Fill-by-fill differences between two runs of one strategy on one recording, with a reason
for each: a backtest against a replay on the paper venue, two backtests with different venue
models, or a backtest against a live session's recorded fills.

Fills are paired through their orders: an order is the same in both runs when the strategy
placed it on the same decision (engine time), code, side, quantity and tag; the n-th fill of an
order pairs with its n-th fill in the other run. Each unpaired or differing fill is explained
by what the market did at its execution time (``MarketTape``, from the recording): a trade or a
quote through the price (both venues fill), a touch (hftbacktest fills, the paper venue does
not), a trade at the price (the queue estimates differ), a trade of unknown aggressor (the
paper venue counts it, hftbacktest does not), an order marketable on arrival. An order only
one run placed is a decision difference, downstream of the first fill difference before it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shijim.events import TickType
from shijim.events.rows import concat_rows
from shijim.strategy.journal import ACTIONS_FILE, ActionRow, FillRow

THROUGH, TOUCH, QUEUE, UNKNOWN_AGGRESSOR, ARRIVAL, NO_EVENT = (
    "through", "touch", "queue", "unknown aggressor", "arrival", "no market event",
)  # fmt: skip

RULES = {
    THROUGH: "a trade or the opposite quote went strictly through the order's price: every "
    "venue fills there",
    TOUCH: "the opposite best came to the order's price without trading through it: "
    "hftbacktest fills on that touch, the paper venue does not (a touch is not a fill: its "
    "queue ahead must trade first)",
    QUEUE: "a trade at the order's price: the venues' queue estimates differ (paper: the "
    "displayed quantity at arrival, advanced by trades there and a pro-rata share of cancels; "
    "hftbacktest: its queue model, risk_averse advancing on trades only)",
    UNKNOWN_AGGRESSOR: "a trade at the order's price of unknown aggressor: the paper venue "
    "counts it against the queue, hftbacktest ignores it (no side flag)",
    ARRIVAL: "marketable when it arrived: the paper venue walks the displayed levels, "
    "hftbacktest fills the whole quantity at the best",
    NO_EVENT: "no market event of the code at that time",
}


def _real_rows_by_code(batches: list[np.ndarray]) -> Iterator[tuple[str, np.ndarray]]:
    """Each code's rows of ``batches`` without trial matches, in exchange-time order."""
    if not batches or not sum(b.size for b in batches):
        return
    rows = concat_rows(batches, batches[0].dtype)
    rows = rows[~rows["simtrade"].astype(bool)]
    for code in np.unique(rows["code"]):
        r = rows[rows["code"] == code]
        yield code.decode(), r[np.argsort(r["exch_ts"], kind="stable")]


@dataclass
class MarketTape:
    """Per code: trades (exch_ts, price, aggressor) and books (exch_ts, best bid, best ask), in
    time order, read from the recording with the replay's row readers."""

    trades: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    books: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def read(cls, paths: Sequence[str]) -> MarketTape:
        from shijim.events.frames import is_sbe_file
        from shijim.events.rows import read_row_batches, read_sbe_row_batches
        from shijim.tools.hft_converter import input_files

        ticks: list[np.ndarray] = []
        books: list[np.ndarray] = []
        for f in input_files(paths):
            read = read_sbe_row_batches if is_sbe_file(f.path) else read_row_batches
            for b in read(f.path, on_bad=lambda _e: None, limit=65536):
                ticks.append(b.ticks)
                books.append(b.books)
        tape = cls()
        for code, r in _real_rows_by_code(ticks):
            tape.trades[code] = (r["exch_ts"], r["price"], r["tick_type"])
        for code, r in _real_rows_by_code(books):
            tape.books[code] = (r["exch_ts"], r["bid_px"][:, 0], r["ask_px"][:, 0])
        return tape

    def trigger(self, code: str, side: str, price: float, t_ns: int, placed_ns: int) -> str:
        """What at ``t_ns`` could fill a ``side`` order at ``price`` (the strongest reason)."""
        found: set[str] = set()
        buy = side == "BUY"
        tr = self.trades.get(code)
        if tr is not None:
            ts, px, aggr = tr
            lo, hi = np.searchsorted(ts, t_ns, "left"), np.searchsorted(ts, t_ns, "right")
            for p, a in zip(px[lo:hi].tolist(), aggr[lo:hi].tolist(), strict=True):
                if (p < price) if buy else (p > price):
                    found.add(THROUGH)
                elif abs(p - price) < 1e-9:
                    against = a == (TickType.SELL if buy else TickType.BUY)
                    found.add(QUEUE if against else UNKNOWN_AGGRESSOR if a == 0 else "")
        bk = self.books.get(code)
        if bk is not None:
            ts, bid, ask = bk
            lo, hi = np.searchsorted(ts, t_ns, "left"), np.searchsorted(ts, t_ns, "right")
            for b, a in zip(bid[lo:hi].tolist(), ask[lo:hi].tolist(), strict=True):
                opposite = a if buy else b
                if opposite <= 0:
                    continue
                if (opposite < price) if buy else (opposite > price):
                    found.add(THROUGH)
                elif abs(opposite - price) < 1e-9:
                    found.add(TOUCH)
        for kind in (THROUGH, TOUCH, QUEUE, UNKNOWN_AGGRESSOR):
            if kind in found:
                return kind
        return ARRIVAL if t_ns == placed_ns else NO_EVENT


DECISION = "decision"  # an order only one run placed


@dataclass(frozen=True)
class Difference:
    what: str  # "only in A", "only in B", "time", "price", "quantity"
    a: FillRow | None
    b: FillRow | None
    reason: str
    kind: str  # the market event behind it (THROUGH, TOUCH, ...), DECISION, or "" (no tape)

    @property
    def t_ns(self) -> int:
        return min(f.exec_ns for f in (self.a, self.b) if f is not None)


@dataclass
class Reconciliation:
    same: list[tuple[FillRow, FillRow]]
    differences: list[Difference]
    first_decision_difference: str | None = None


def _order_key(f: FillRow) -> tuple[str, str, int, int, str]:
    return (f.code, f.side, f.order_placed_ns, f.order_qty, f.order_tag)


def _by_order(fills: Iterable[FillRow]) -> dict[tuple[str, str, int, int, str], list[FillRow]]:
    out: dict[tuple[str, str, int, int, str], list[FillRow]] = defaultdict(list)
    for f in sorted(fills, key=lambda f: (f.exec_ns, f.fill_id)):
        out[_order_key(f)].append(f)
    return out


def _explain(f: FillRow, tape: MarketTape | None) -> tuple[str, str]:
    """(the kind of market event behind a fill, the reason in words)."""
    if tape is None:
        return "", "give --data to see the market event behind it"
    kind = tape.trigger(f.code, f.side, f.order_price, f.exec_ns, f.order_placed_ns)
    return kind, f"on a {kind}: {RULES[kind]}"


def reconcile(
    a: Sequence[FillRow],
    b: Sequence[FillRow],
    tape: MarketTape | None = None,
    actions_a: Sequence[ActionRow] | None = None,
    actions_b: Sequence[ActionRow] | None = None,
) -> Reconciliation:
    """Pairs the fills of two runs and explains every difference. With the runs' actions, an
    order one run filled and the other placed but never filled is told apart from an order the
    other never placed."""
    fa, fb = _by_order(a), _by_order(b)
    placed = {
        "A": _placed(fa, actions_a),
        "B": _placed(fb, actions_b),
    }
    same: list[tuple[FillRow, FillRow]] = []
    diffs: list[Difference] = []
    for key in sorted(set(fa) | set(fb), key=lambda k: (k[2], k)):
        la, lb = fa.get(key, []), fb.get(key, [])
        for i in range(max(len(la), len(lb))):
            x = la[i] if i < len(la) else None
            y = lb[i] if i < len(lb) else None
            if x is not None and y is not None:
                if (x.exec_ns, x.price, x.qty) == (y.exec_ns, y.price, y.qty):
                    same.append((x, y))
                    continue
                what = "price" if x.price != y.price else "quantity" if x.qty != y.qty else "time"
                first, run = (x, "A") if x.exec_ns <= y.exec_ns else (y, "B")
                kind, why = _explain(first, tape)
                reason = (
                    f"run {run} filled first ({_ts(first.exec_ns)}), {why}; "
                    f"the other at {_ts(max(x.exec_ns, y.exec_ns))}"
                )
                diffs.append(Difference(what, x, y, reason, kind))
                continue
            one = x if x is not None else y
            assert one is not None
            run, other = ("A", "B") if x is not None else ("B", "A")
            if (one.code, one.side, one.order_placed_ns) in placed[other]:
                kind, why = _explain(one, tape)
                reason = f"run {other} had this order and did not fill it; {why}"
            else:
                kind = DECISION
                reason = (
                    f"run {other} never placed this order: the decisions differ here, downstream "
                    "of an earlier fill difference (another position or other working orders)"
                )
            diffs.append(Difference(f"only in {run}", x, y, reason, kind))
    diffs.sort(key=lambda d: d.t_ns)
    first = None
    if actions_a is not None and actions_b is not None:
        first = first_action_difference(actions_a, actions_b)
    return Reconciliation(same, diffs, first)


def _placed(
    fills: dict[tuple[str, str, int, int, str], list[FillRow]], actions: Sequence[ActionRow] | None
) -> set[tuple[str, str, int]]:
    """(code, side, decision time) of every order a run placed (from its fills if it has no
    actions file: then only the orders that filled)."""
    if actions is not None:
        return {(r.code, r.side, r.t_ns) for r in actions if r.action == "place" and r.order_id}
    return {k[:3] for k in fills}


def first_action_difference(a: Sequence[ActionRow], b: Sequence[ActionRow]) -> str | None:
    """The first order action one run took and the other did not (ids aside)."""

    def key(r: ActionRow) -> tuple[int, str, str, str, float, int]:
        return (r.t_ns, r.code, r.action, r.side, r.price, r.qty)

    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if key(x) != key(y):
            return f"action {i + 1}: A {_action(x)} / B {_action(y)}"
    if len(a) != len(b):
        n = min(len(a), len(b))
        longer, rows = ("A", a) if len(a) > len(b) else ("B", b)
        return f"action {n + 1}: only {longer} {_action(rows[n])}"
    return None


def _action(r: ActionRow) -> str:
    return f"{r.action} {r.side} {r.code} {r.qty}@{r.price:g} on {_ts(r.t_ns)}"


def _ts(ns: int) -> str:
    s, frac = divmod(int(ns), 1_000_000_000)
    import datetime as dt

    return dt.datetime.fromtimestamp(s, dt.UTC).strftime("%H:%M:%S") + f".{frac:09d}"


def read_actions(run: Path) -> list[ActionRow] | None:
    path = run / ACTIONS_FILE if run.is_dir() else run.with_name(ACTIONS_FILE)
    if not path.is_file():
        return None
    rows = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(ActionRow(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{no}: not an action row: {exc}") from None
    return rows


def venue_of(run: Path) -> str:
    summary = (run if run.is_dir() else run.parent) / "summary.json"
    try:
        return str(json.loads(summary.read_text(encoding="utf-8")).get("venue", "?"))
    except (OSError, ValueError):
        return "?"


def render(r: Reconciliation, name_a: str, name_b: str, *, show_same: bool = False) -> str:
    a, b = Path(name_a), Path(name_b)
    lines = [
        f"A: {name_a}  ({venue_of(a)})",
        f"B: {name_b}  ({venue_of(b)})",
        f"fills: {len(r.same)} identical, {len(r.differences)} differ",
    ]
    kinds: dict[str, int] = defaultdict(int)
    for d in r.differences:
        kinds[d.kind or "unexplained (no --data)"] += 1
    if kinds:
        lines.append("  by reason: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    if r.first_decision_difference is not None:
        lines.append(f"decisions: first difference at {r.first_decision_difference}")
    else:
        lines.append("decisions: the same order actions in both runs (or no actions files)")
    lines.append("")
    for d in r.differences:
        lines.append(
            f"{_ts(d.t_ns)}  {d.what:<10} {_fill(d.a):<44} | {_fill(d.b):<44}\n    {d.reason}"
        )
    if show_same:
        lines.append("")
        lines += [f"{_ts(x.exec_ns)}  same       {_fill(x)} | {_fill(y)}" for x, y in r.same]
    return "\n".join(lines)


def _fill(f: FillRow | None) -> str:
    if f is None:
        return "-"
    return f"{f.side} {f.qty} {f.code}@{f.price:g} ({f.order_id}, {_ts(f.exec_ns)})"
