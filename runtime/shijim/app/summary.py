"""The one-screen run summary printed when the runtime stops (``--duration`` or SIGTERM)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    samples: int
    p50_us: float
    p99_us: float
    max_us: float

    @staticmethod
    def of(ns: Sequence[int]) -> LatencyStats:
        if not ns:
            return NO_SAMPLES
        a = np.asarray(ns, dtype=np.float64) / 1e3
        p50, p99 = np.percentile(a, [50, 99])
        return LatencyStats(len(ns), float(p50), float(p99), float(a.max()))


NO_SAMPLES = LatencyStats(0, math.nan, math.nan, math.nan)


def _latency_json(t: LatencyStats) -> dict[str, object]:
    """Samples, p50, p99 and max in microseconds (None without samples)."""
    some = t.samples > 0
    return {
        "samples": t.samples,
        "p50": t.p50_us if some else None,
        "p99": t.p99_us if some else None,
        "max": t.max_us if some else None,
    }


@dataclass(frozen=True)
class Markout:
    """Our fills ``horizon_s`` later (docs/execution.md; negative: against us). ``mid_move``:
    the mid's move since just before each fill, i.e. adverse selection; ``vs_fill``: the mid
    then against the fill price, i.e. that move plus the spread a passive fill earned."""

    horizon_s: float
    fills: int
    mid_move_twd: float
    mid_move_mean: float  # price points per lot
    vs_fill_twd: float
    vs_fill_mean: float
    pending: int  # fills whose horizon the run did not reach

    @staticmethod
    def of(d: Mapping[str, float]) -> Markout:
        return Markout(
            d["horizon_ns"] / 1e9,
            int(d["count"]),
            float(d["mid_move_twd"]),
            float(d["mid_move_mean"]),
            float(d["sum_twd"]),
            float(d["mean_price"]),
            int(d["pending"]),
        )


@dataclass(frozen=True)
class RunSummary:
    shard: str
    feed: str
    strategy: str
    seed: int | None
    wall_seconds: float
    ticks: int
    bidasks: int
    simtrades: int
    orders_sent: int
    orders_accepted: int
    amends: int
    cancels: int
    fills: int
    filled_qty: int
    rejects: Mapping[str, int]
    realised_pnl: float
    unrealised_pnl: float
    fees: float
    positions: Mapping[str, int]
    tick_to_order: LatencyStats
    ring_lost: int
    ring_resyncs: int
    dropped: Mapping[str, int]
    final_state: str
    working_left: int
    working_at_stop: int = 0
    decision: str = ""
    decisions: int = 0  # taken under the policy: strategy calls + standby answers
    standby_answers: int = 0  # answered "no action" by the strategy's standby in the engine
    venue: str = ""  # the paper venue's latency model, or the broker
    markouts: tuple[Markout, ...] = ()
    # tick_to_order without the samples of its first second (the path's first runs, every
    # code's first decisions), and how many those were: the steady state beside the whole run.
    tick_to_order_after_first_second: LatencyStats | None = None
    first_second_samples: int = 0
    # The same steady samples split: the orders that waited behind a fill booked after their
    # event arrived (the fill's news came out just before their event: docs/engine.md
    # #venue-time), and the others. Since news is released between events the first set is
    # rare (it set the steady p99 before).
    tick_to_order_after_fill: LatencyStats = NO_SAMPLES
    tick_to_order_no_fill: LatencyStats = NO_SAMPLES
    # A pinned loop's rehearsals of the acting path (docs/runtime.md#rehearsal) and the wall
    # time they held the interpreter lock: what the tick-to-order figures above cost.
    rehearsals: int = 0
    rehearsal_seconds: float = 0.0
    # A pinned run's warm-up before the loop (shijim.app.warm_up): decisions and orders on a
    # scratch copy of the path, and its wall time (none of it in the figures above).
    warm_up_decisions: int = 0
    warm_up_orders: int = 0
    warm_up_seconds: float = 0.0
    # A pinned loop's garbage collections (shijim.app.idle_collector): run in idle turns, or
    # forced between two events by a burst that left no idle turn, and their time.
    gc_idle: int = 0
    gc_overdue: int = 0
    gc_seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # From the equity series a backtest records (shijim.backtest.equity); None in a run.
    sharpe: float | None = None  # annualised, from per-bar changes of net PnL
    max_drawdown: float | None = None  # TWD, from the running peak of net PnL

    @property
    def events(self) -> int:
        return self.ticks + self.bidasks

    @property
    def gross_pnl(self) -> float:
        return self.realised_pnl + self.unrealised_pnl

    @property
    def rehearsal_share(self) -> float:
        """The share of the run's wall time spent rehearsing (on the interpreter lock)."""
        return self.rehearsal_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def pnl(self) -> float:
        """Net of fees and taxes."""
        return self.gross_pnl - self.fees

    def counts(self) -> dict[str, object]:
        """The deterministic part (same seed => same values): no wall-clock figures."""
        return {
            "events": self.events,
            "ticks": self.ticks,
            "bidasks": self.bidasks,
            "decisions": self.decisions,
            "standby_answers": self.standby_answers,
            "orders": self.orders_accepted,
            "amends": self.amends,
            "cancels": self.cancels,
            "fills": self.fills,
            "filled_qty": self.filled_qty,
            "rejects": dict(self.rejects),
            "positions": dict(self.positions),
            "pnl": round(self.pnl, 6),
            "fees": round(self.fees, 6),
            "markouts": [
                {
                    "horizon_s": m.horizon_s,
                    "fills": m.fills,
                    "mid_move_twd": round(m.mid_move_twd, 6),
                    "vs_fill_twd": round(m.vs_fill_twd, 6),
                }
                for m in self.markouts
            ],
        }

    def to_json(self) -> dict[str, object]:
        t, steady = self.tick_to_order, self.tick_to_order_after_first_second
        return {
            **self.counts(),
            "shard": self.shard,
            "feed": self.feed,
            "strategy": self.strategy,
            "seed": self.seed,
            "wall_seconds": self.wall_seconds,
            "simtrades": self.simtrades,
            "orders_sent": self.orders_sent,
            "decision": self.decision,
            "venue": self.venue,
            "realised_pnl": self.realised_pnl,
            "unrealised_pnl": self.unrealised_pnl,
            "gross_pnl": self.gross_pnl,
            "tick_to_order_us": {
                **_latency_json(t),
                "first_second_samples": self.first_second_samples,
                "after_first_second": None
                if steady is None
                else {
                    **_latency_json(steady),
                    "after_a_fill": _latency_json(self.tick_to_order_after_fill),
                    "others": _latency_json(self.tick_to_order_no_fill),
                },
            },
            "rehearsals": self.rehearsals,
            "rehearsal_seconds": self.rehearsal_seconds,
            "rehearsal_share": self.rehearsal_share,
            "warm_up_decisions": self.warm_up_decisions,
            "warm_up_orders": self.warm_up_orders,
            "warm_up_seconds": self.warm_up_seconds,
            "gc_idle": self.gc_idle,
            "gc_overdue": self.gc_overdue,
            "gc_seconds": self.gc_seconds,
            "ring_lost": self.ring_lost,
            "ring_resyncs": self.ring_resyncs,
            "dropped": dict(self.dropped),
            "final_state": self.final_state,
            "working_left": self.working_left,
            "working_at_stop": self.working_at_stop,
            "sharpe": self.sharpe,
            "max_drawdown": self.max_drawdown,
            "notes": list(self.notes),
        }

    def render(self) -> str:
        t = self.tick_to_order
        rate = self.events / self.wall_seconds if self.wall_seconds > 0 else 0.0
        rejects = ", ".join(f"{k}={v}" for k, v in sorted(self.rejects.items())) or "none"
        positions = ", ".join(f"{k}={v:+d}" for k, v in sorted(self.positions.items()) if v)
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        t2o = (
            f"p50 {t.p50_us:.1f} us  p99 {t.p99_us:.1f} us  max {t.max_us:.1f} us  (n={t.samples})"
            if t.samples
            else "no samples (n=0)"
        )
        markouts = (
            "  ".join(
                f"+{m.horizon_s:g}s {m.mid_move_twd:,.0f} ({m.mid_move_mean:+.2f} pts, n={m.fills})"
                for m in self.markouts
            )
            or "no fills"
        )
        vs_fill = "  ".join(f"+{m.horizon_s:g}s {m.vs_fill_twd:,.0f}" for m in self.markouts)
        lines = [
            "=" * 72,
            f"shijim run summary  shard {self.shard}  feed {self.feed}  strategy {self.strategy}"
            + (f"  seed {self.seed}" if self.seed is not None else ""),
            "-" * 72,
            f"events        {self.events}  (ticks {self.ticks}, bidasks {self.bidasks}, "
            f"simtrade {self.simtrades})  {rate:,.0f}/s over {self.wall_seconds:.1f} s",
            f"decisions     {self.decisions}  (policy {self.decision or '-'}; "
            f"{self.decisions - self.standby_answers} by the strategy, "
            f"{self.standby_answers} by its standby in the engine)",
            f"orders        {self.orders_accepted} accepted of {self.orders_sent} sent; "
            f"amends {self.amends}; cancels {self.cancels}",
            f"fills         {self.fills}  ({self.filled_qty} lots)",
            f"rejects       {rejects}",
            f"pnl           {self.pnl:,.0f} TWD net  (gross {self.gross_pnl:,.0f} = realised "
            f"{self.realised_pnl:,.0f} + unrealised {self.unrealised_pnl:,.0f}; "
            f"fees and taxes {self.fees:,.0f})",
            f"markouts      mid move after fills, TWD: {markouts}",
            f"              vs fill price (adds the spread earned), TWD: {vs_fill or '-'}",
            f"venue         {self.venue or '-'}",
            f"positions     {positions or 'flat'}",
        ]
        if self.max_drawdown is not None:
            sharpe = "n/a" if self.sharpe is None else f"{self.sharpe:.2f}"
            lines.append(
                f"equity        Sharpe {sharpe} (annualised)  max drawdown "
                f"{self.max_drawdown:,.0f} TWD"
            )
        lines.append(f"tick-to-order {t2o}")
        steady = self.tick_to_order_after_first_second
        if steady is not None and steady.samples and self.first_second_samples:
            lines.append(
                f"              after the first second of orders: p50 {steady.p50_us:.1f} us  "
                f"p99 {steady.p99_us:.1f} us  (n={steady.samples}; the first second's "
                f"{self.first_second_samples}: first runs, every code's first decisions)"
            )
            fill, rest = self.tick_to_order_after_fill, self.tick_to_order_no_fill
            if fill.samples and rest.samples:
                lines.append(
                    f"              of which after a fill booked since their event: p50 "
                    f"{fill.p50_us:.1f} us  max {fill.max_us:.1f} us  (n={fill.samples}); the "
                    f"others p50 {rest.p50_us:.1f} us  p99 {rest.p99_us:.1f} us"
                )
        if self.rehearsals:
            lines.append(
                f"              rehearsals {self.rehearsals}, holding the interpreter lock "
                f"{self.rehearsal_share:.1%} of the run (docs/runtime.md#rehearsal)"
            )
        if self.warm_up_decisions:
            lines.append(
                f"              warm-up before the loop: {self.warm_up_decisions} decisions, "
                f"{self.warm_up_orders} orders on a scratch copy of the path "
                f"({self.warm_up_seconds * 1e3:.1f} ms; docs/runtime.md#warm-up)"
            )
        if self.gc_idle or self.gc_overdue:
            lines.append(
                f"              garbage collections {self.gc_idle} in idle turns, "
                f"{self.gc_overdue} forced by a burst ({self.gc_seconds * 1e3:.1f} ms; "
                f"docs/runtime.md#garbage-collection)"
            )
        lines += [
            f"ring          lost {self.ring_lost}  resyncs {self.ring_resyncs}",
            f"bad input     {dropped}",
            f"final state   {self.final_state}  working orders: {self.working_at_stop} at stop, "
            f"{self.working_left} left",
        ]
        lines += [f"note          {n}" for n in self.notes]
        lines.append("=" * 72)
        return "\n".join(lines)
