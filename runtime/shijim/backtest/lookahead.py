"""When hftbacktest could next have news for the strategy: a second reader of the shard's ring.

The engine and the strategy see the recording through the shard's ring (the replay feed,
validated once by ingestion, exactly as ``run --feed replay:``). Between two due decisions
nothing calls Python, so hftbacktest, the venue, is only brought forward at Python's turns.
A fill there must still reach the strategy at the event it happens on, as a paper fill does
(the engine wakes the strategy on every venue event). ``RingLookahead`` reads the same
messages as the engine, ahead of it, and marks each one that could let hftbacktest fill one
of our orders (its no-partial and partial exchanges fill a buy at P only on a seller-initiated
trade at or below P, or when the best ask comes to P or below; a sell mirrors it). The loop
then lets the engine read up to the first message at which that news could reach us (the fill
plus the response leg of the latency model) or at which an answer to one of our requests
arrives, brings hftbacktest there and looks. A mark that turns out to be no fill costs one
look (~5 us); a fill is never seen late.
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

import shijim_core as sc
from shijim.backtest.venue import NO_ANSWER, Reach, Watch
from shijim.events import TickType

_FAR = 2**62
_WINDOW = 512  # messages marked at a time
_NONE: frozenset[int] = frozenset()


class LookaheadError(RuntimeError):
    """The lookahead reader lost messages: it no longer sees what the engine sees."""


class RingLookahead:
    """Per message of the ring (global index = the order the engine reads them in): the running
    maximum of exchange time (the engine's clock), the hftbacktest asset of its code, and the
    prices at which it threatens our orders (``buy_at``: buys at this price or above could fill
    on it, +inf: none; ``sell_at``: sells at this price or below, -inf: none)."""

    def __init__(self, ring_name: str, asset_of: dict[str, int]) -> None:
        self.reader = sc.RingReader(ring_name)  # opened before anything is published
        self._asset_of = {code.encode(): i for code, i in asset_of.items()}
        self.base = 0  # global index of the first kept message
        self.end = 0  # global index after the last message read
        self._clock = -(2**63)  # running maximum of exch_ts so far
        self._t = np.empty(0, np.int64)  # running max exch_ts (the engine's clock after it)
        self._exch = np.empty(0, np.int64)  # the message's own exch_ts
        self._asset = np.empty(0, np.int64)  # -1: not a code hftbacktest trades
        self._buy = np.empty(0, np.float64)
        self._sell = np.empty(0, np.float64)
        self._marks: tuple[Reach, int, int, int, list[int]] | None = None
        self._clocks: list[int] | None = None  # _t as a list (bisection beats numpy per call)

    # -- reading -----------------------------------------------------------------------------
    def read(self, drop_before: int) -> int:
        """Reads every message published so far; forgets those before ``drop_before`` (the
        engine has read them). Returns how many were read."""
        parts: list[tuple[np.ndarray, ...]] = []
        while True:
            b = self.reader.read(65536)
            if b.lost or b.restarted or b.bad:
                raise LookaheadError(
                    f"lookahead reader: lost {b.lost}, restarted {b.restarted}, bad {b.bad}"
                )
            n = len(b)
            if not n:
                break
            parts.append(self._rows(b))
        keep = max(0, drop_before - self.base)
        if keep:
            self._t, self._exch, self._asset, self._buy, self._sell = (
                a[keep:] for a in (self._t, self._exch, self._asset, self._buy, self._sell)
            )
            self.base += keep
            self._clocks = None
        if not parts:
            return 0
        seq, exch, asset, buy, sell = (np.concatenate(p) for p in zip(*parts, strict=True))
        order = np.argsort(seq, kind="stable")
        exch, asset, buy, sell = exch[order], asset[order], buy[order], sell[order]
        t = np.maximum.accumulate(np.maximum(exch, self._clock))
        self._clock = int(t[-1])
        self._t = np.concatenate([self._t, t])
        self._exch = np.concatenate([self._exch, exch])
        self._asset = np.concatenate([self._asset, asset])
        self._buy = np.concatenate([self._buy, buy])
        self._sell = np.concatenate([self._sell, sell])
        self.end += seq.size
        self._clocks = None
        return int(seq.size)

    def _codes(self, codes: np.ndarray) -> np.ndarray:
        out = np.full(codes.size, -1, np.int64)
        for code in np.unique(codes):
            a = self._asset_of.get(bytes(code))
            if a is not None:
                out[codes == code] = a
        return out

    def _rows(self, b: Any) -> tuple[np.ndarray, ...]:
        """(seq, exch_ts, asset, buy_at, sell_at) of one batch, by message type."""
        ticks, books = b.ticks, b.bidasks
        others = [a for a in (b.snapshots, b.events) if len(a)]
        seq = [ticks["seq"], books["seq"], *(a["seq"] for a in others)]
        exch = [ticks["exch_ts"], books["exch_ts"], *(a["exch_ts"] for a in others)]
        asset = [self._codes(ticks["code"]), self._codes(books["code"])]
        asset += [np.full(len(a), -1, np.int64) for a in others]
        real = ~ticks["simtrade"].astype(bool)
        px = ticks["price"]
        # A seller lifting bids threatens our buys at px or above; a buyer our sells at or below.
        tb = np.where(real & (ticks["tick_type"] == TickType.SELL), px, np.inf)
        ts = np.where(real & (ticks["tick_type"] == TickType.BUY), px, -np.inf)
        live = ~books["simtrade"].astype(bool)
        ask, bid = books["ask_px"][:, 0], books["bid_px"][:, 0]
        ask_ok = live & (books["ask_qty"][:, 0] > 0) & (ask > 0)
        bid_ok = live & (books["bid_qty"][:, 0] > 0) & (bid > 0)
        bb = np.where(ask_ok, ask, np.inf)  # the best ask at or below a buy fills it
        bs = np.where(bid_ok, bid, -np.inf)
        buy = [tb, bb, *(np.full(len(a), np.inf) for a in others)]
        sell = [ts, bs, *(np.full(len(a), -np.inf) for a in others)]
        return tuple(
            np.concatenate(x).astype(dt)
            for x, dt in zip(
                (seq, exch, asset, buy, sell),
                (np.uint64, np.int64, np.int64, np.float64, np.float64),
                strict=True,
            )
        )

    # -- queries -----------------------------------------------------------------------------
    def clock_at(self, i: int) -> int:
        """The engine's clock after message ``i``."""
        return int(self._t[i - self.base])

    def first_at(self, t: int, start: int) -> int:
        """The first message at or after ``start`` after which the engine's clock is >= ``t``
        (``end`` if none yet)."""
        clocks = self._clocks
        if clocks is None:
            clocks = self._clocks = self._t.tolist()
        return self.base + bisect.bisect_left(clocks, t, start - self.base)

    def threat(self, start: int, reach: Reach, stop: int) -> int:
        """The first message in [start, stop) that could fill one of our orders in hftbacktest
        (``stop`` if none). Marks are computed a window at a time per set of our prices
        (``reach``) and found by bisection."""
        while start < stop:
            marks = self._marks
            if (
                marks is None
                or marks[0] is not reach
                or marks[3] != self.base
                or not marks[1] <= start < marks[2]
            ):
                marks = self._marks = self._mark(reach, start, min(self.end, start + _WINDOW))
            found = marks[4]
            k = bisect.bisect_left(found, start)
            if k < len(found):
                return found[k] if found[k] < stop else stop
            start = marks[2]  # nothing marked in this window: the next one
        return stop

    def _mark(self, reach: Reach, lo: int, hi: int) -> tuple[Reach, int, int, int, list[int]]:
        s, e = lo - self.base, hi - self.base
        a = self._asset[s:e]
        # Asset -1 (a code hftbacktest does not trade) picks the appended never-values.
        bm = np.append(reach.buy_max, -np.inf)[a]
        sm = np.append(reach.sell_min, np.inf)[a]
        hit = np.flatnonzero((self._buy[s:e] <= bm) | (self._sell[s:e] >= sm)) + lo
        return (reach, lo, hi, self.base, hit.tolist())

    def exch_ts(self, i: int) -> int:
        return int(self._exch[i - self.base])

    def asset_of(self, i: int) -> int:
        return int(self._asset[i - self.base])


class WakePlan:
    """Where the engine must stop next: after the first message at which hftbacktest could
    have news (a fill reaching us, an answer to a request), or before the end of a bar."""

    def __init__(self, look: RingLookahead, response_ns: Any) -> None:
        self.look = look
        self.response_ns = response_ns  # fill exchange time -> response leg (ns)
        self._reach: Reach | None = None
        self._scan = 0  # marks before this index are in _wakes
        self._wakes: list[tuple[int, int]] = []  # (time the news arrives, index of the mark)
        # The first message after which news may have arrived, as of the last ``stop``: the
        # venue looks at its orders once the engine has read it (``news``).
        self.first_wake = -1
        self.first_assets: frozenset[int] = _NONE
        self._news_given = -1  # the wake whose news were last given
        self._last: tuple[int, Watch, int | None, int, int] | None = None

    def news(self, pos: int) -> frozenset[int]:
        """The hftbacktest assets that may have news for us now that the engine has read
        ``pos`` messages (empty: none); each wake's news are given once."""
        if pos > self.first_wake and self._news_given != self.first_wake:
            self._news_given = self.first_wake
            return self.first_assets
        return _NONE

    def _index(self, wake: tuple[int, int], pos: int) -> int:
        """The message after which the news of a mark has arrived (``end``: not read yet;
        before ``pos``: it has, and the engine stopped there)."""
        t, i = wake
        if i < pos and pos > 0 and self.look.clock_at(pos - 1) >= t:
            return pos - 1
        return max(i, self.look.first_at(t, max(i, pos)))

    def stop(self, pos: int, watch: Watch, bar_end: int | None) -> int:
        """The index to stop before: the engine may read messages [pos, stop)."""
        look = self.look
        end = look.end
        last = self._last
        if (
            last is not None
            and last[0] == pos
            and last[1] is watch
            and last[2] == bar_end
            and (last[3] == end)
        ):
            return last[4]
        stop = self._stop(pos, watch, bar_end)
        self._last = (pos, watch, bar_end, end, stop)
        return stop

    def _stop(self, pos: int, watch: Watch, bar_end: int | None) -> int:
        look = self.look
        end = look.end
        reach = watch.reach
        if reach is not self._reach:
            # Our prices changed: marks not yet read are judged again against the new prices;
            # marks already read keep their wake (a fill there may still be travelling to us).
            self._reach = reach
            self._wakes = [w for w in self._wakes if w[1] < pos]
            self._scan = pos
        self._scan = max(self._scan, pos)
        # Wakes the engine has passed were looked at (it stopped there).
        wakes: list[tuple[int, int]] = []
        first = _FAR
        at: dict[int, list[int]] = {}  # wake index -> the marks (message indices) behind it
        for w in self._wakes:
            j = self._index(w, pos)
            if j >= pos:
                wakes.append(w)
                first = min(first, j)
                at.setdefault(j, []).append(w[1])
        self._wakes = wakes
        if reach.resting:
            # A mark's news never arrives before the mark: marks past the first wake can wait.
            while self._scan < end and self._scan <= first:
                i = look.threat(self._scan, reach, end)
                if i >= end:
                    self._scan = end
                    break
                exch = look.exch_ts(i)
                w = (exch + self.response_ns(exch), i)
                wakes.append(w)
                j = self._index(w, pos)
                first = min(first, j)
                at.setdefault(j, []).append(i)
                self._scan = i + 1
        # The scan reached the end of what was read or passed the first wake.
        stop = min(end, first + 1)
        # Reading message `first` may bring news, for the codes of its marks; nothing before.
        self.first_wake = first
        self.first_assets = frozenset(look.asset_of(i) for i in at.get(first, ()))
        if watch.answer_at != NO_ANSWER:
            stop = min(stop, look.first_at(watch.answer_at, pos) + 1)
        if bar_end is not None:
            stop = min(stop, look.first_at(bar_end, pos))
        return max(pos, stop)
