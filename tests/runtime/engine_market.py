"""A market for execution and risk tests: books and trades published on a real ring and applied
by a real engine (books, marks, paper venue), as the runner does, then ``after_event()`` on the
gateway (or ``pump()`` on a bare venue) after each due event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ring_fixture import Ring, fresh_ring

MS = 1_000_000
T0 = 1_000_000_000  # engine time of the first event: 1 s


class Market:
    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.engine: Any = None
        self.owner: Any = None  # a RiskAwareGateway (after_event) or a PaperVenue (pump)
        self.t = T0
        self.dues = 0

    def attach(self, engine: Any, owner: Any = None) -> Market:
        self.engine, self.owner = engine, owner
        return self

    def _stamp(self, at_ms: float | None) -> int:
        self.t = T0 + int(at_ms * MS) if at_ms is not None else self.t + MS
        return self.t

    def book(
        self,
        code: str,
        bids: list[tuple[float, int]],
        asks: list[tuple[float, int]],
        at_ms: float | None = None,
    ) -> None:
        """One book, best level first (fewer than 5 levels are padded empty)."""
        t = self._stamp(at_ms)
        self.ring.writer.publish_bidask(
            code, t, t, [p for p, _ in bids], [q for _, q in bids],
            [p for p, _ in asks], [q for _, q in asks],
        )  # fmt: skip
        self.run()

    def quote(
        self, code: str, bid: float, ask: float, qty: int = 10, at_ms: float | None = None
    ) -> None:
        """Five levels one point apart on each side, ``qty`` each."""
        self.book(
            code,
            [(bid - i, qty) for i in range(5)],
            [(ask + i, qty) for i in range(5)],
            at_ms,
        )

    def trade(
        self, code: str, price: float, volume: int, side: int = 0, at_ms: float | None = None
    ) -> None:
        """A real trade; ``side``: the aggressor (shijim_core.SIDE_BUY/SELL), 0 unknown."""
        t = self._stamp(at_ms)
        self.ring.writer.publish_tick(code, t, t, price, volume, volume, side)
        self.run()

    def run(self) -> None:
        """Everything published is applied; the owner hears of each due event."""
        eng = self.engine
        for _ in range(10_000):  # bounded: a test publishes a few events at a time
            due = eng.next_due(self.ring.reader, 64)
            if due is not None:
                self.dues += 1
                self._after()
            elif eng.idle:
                break
        self._after()

    def _after(self) -> None:
        owner = self.owner
        if owner is None:
            return
        after = getattr(owner, "after_event", None)
        if after is not None:
            after()
        else:
            owner.pump()


@pytest.fixture
def market() -> Iterator[Market]:
    with fresh_ring() as r:
        yield Market(r)


def quote_once(gateway: Any, code: str, bid: float, ask: float, qty: int = 1) -> None:
    """One five-level book of ``code`` into the gateway's engine (no ring: an SBE frame), then
    ``after_event()``: for tests that need a reference price and nothing more."""
    import shijim_core as sc

    record = {
        "type": "bidask", "code": code, "exch_ts": T0, "local_ts": T0, "seq": 0,
        "bid_price": [bid - i for i in range(5)], "bid_volume": [qty] * 5,
        "ask_price": [ask + i for i in range(5)], "ask_volume": [qty] * 5, "simtrade": False,
    }  # fmt: skip
    frames = sc.SbeFrames(sc.sbe_encode_stream([record]))
    while gateway.engine.next_due_frames(frames) is not None:
        gateway.after_event()
    gateway.after_event()
