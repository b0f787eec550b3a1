"""A simulated TAIFEX/TWSE-like five-level market, generated in vectorised chunks.

Model (docs/feeds.md has the parameters and their defaults):
- Order arrivals per instrument form a Poisson process of rate ``rate`` (events/s) while its
  market is open (``shijim.gateway.sessions``). Each arrival is a limit order, a cancel or a
  market order (probabilities ``p_limit``, ``p_cancel``, the rest), on a random side; limit
  orders and cancels hit level l with probability ``level_probs[l]``; sizes are geometric.
- The mid price, in ticks of the instrument's ladder, is an Ornstein-Uhlenbeck process
  (mean-reverting to the reference price, speed ``kappa`` per second, volatility ``sigma``
  ticks per sqrt(second)), sampled exactly at the arrival times. The spread (1..3 ticks) is
  piecewise constant and changes at a fraction ``p_spread_change`` of arrivals.
- When the best ask rises, a buy market order swept the old ask levels below it: a trade (a
  tick, tick_type 1) at the last swept price with the swept queues' volume; symmetrically for
  the bid (tick_type 2). A market order that does not move the price trades at most the best
  queue minus one lot. Queues follow the arrivals (adds +, cancels and trades -, never below 1
  lot); when the price moves, levels still in the book keep their queues (shifted to their new
  level), new levels start from a draw around the depth profile.
- Every arrival publishes a BidAsk snapshot (and its trade first, same exchange time).
- Pre-open (TAIFEX 08:30-08:45 and 14:50-15:00, TWSE 08:30-09:00): trial matching at
  ``pre_open_rate`` x ``rate``: ``simtrade`` trades (tick_type 0, indicative volume) and books.

Everything comes from one ``numpy.random.Generator`` per instrument, seeded from ``seed`` and
the instrument's position; chunks are fixed windows of simulated time, so the event stream
depends only on the seed and the parameters (never on pacing, batch sizes or wall time).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from shijim.bus.dtypes import BIDASK_DTYPE, TICK_DTYPE
from shijim.events import (
    BidAskRecord,
    EventKind,
    EventRecord,
    MarketRecord,
    SessionState,
    TickRecord,
    TickType,
)
from shijim.events.rows import concat_rows
from shijim.gateway.price_ladder import PriceLadder
from shijim.gateway.sessions import Market, next_open, open_intervals

LEVELS = 5
NS = 1_000_000_000


@dataclass(frozen=True)
class SimInstrument:
    code: str
    market: Market
    ladder: PriceLadder = field(repr=False)
    reference: str  # mean-reversion anchor, a price on the ladder
    rate: float  # arrivals per second while open
    sigma: float  # ticks per sqrt(second)
    kappa: float = 1 / 1800  # mean reversion per second (half-life ~ 21 min)
    depth: tuple[float, ...] = (8, 12, 15, 15, 15)  # mean queue (lots) per level at a reset
    mean_size: float = 2.0  # mean lots of one limit order / cancel / market order
    p_limit: float = 0.5
    p_cancel: float = 0.35  # market orders: 1 - p_limit - p_cancel
    level_probs: tuple[float, ...] = (0.35, 0.25, 0.2, 0.12, 0.08)
    spread_probs: tuple[float, ...] = (0.85, 0.12, 0.03)  # 1, 2, 3 ticks
    p_spread_change: float = 0.02
    # Pre-open trial matching (simtrade quotes) arrives at this fraction of ``rate``.
    pre_open_rate: float = 0.05


def default_instruments(rate_scale: float = 1.0) -> list[SimInstrument]:
    """TXF and MXF (three months each, 1-point tick) and 16 TWSE stocks across every band of
    the tick ladder. The runtime's sim feed simulates exactly these codes; the operator gets the
    list through ``python -m shijim.tools.universe_rules`` (operator/.../universe_rules.json)."""
    fut = PriceLadder.uniform("1", "60000")
    stk = PriceLadder.twse_stock()
    r = rate_scale
    return [
        SimInstrument("TXFL6", Market.TAIFEX, fut, "23000", 800 * r, 1.7),
        SimInstrument("MXFL6", Market.TAIFEX, fut, "23000", 600 * r, 1.7, depth=(5, 8, 10, 10, 10)),
        SimInstrument(
            "2330",
            Market.TWSE,
            stk,
            "1005",
            400 * r,
            0.15,
            depth=(60, 90, 100, 100, 100),
            mean_size=5,
        ),
        SimInstrument(
            "2317",
            Market.TWSE,
            stk,
            "180",
            250 * r,
            0.3,
            depth=(80, 120, 150, 150, 150),
            mean_size=8,
        ),
        SimInstrument(
            "2884",
            Market.TWSE,
            stk,
            "30",
            150 * r,
            0.2,
            depth=(300, 500, 600, 600, 600),
            mean_size=20,
        ),
        SimInstrument(
            "2888",
            Market.TWSE,
            stk,
            "9.85",
            80 * r,
            0.4,
            depth=(400, 600, 700, 700, 700),
            mean_size=30,
        ),
        # Added after the six above (appended, so their seeded streams stay as they were): the
        # next TXF/MXF months and liquid TWSE stocks across every band of the tick ladder, so a
        # universe splits over several shards on the sim feed (examples/shard.yaml). Thinner
        # books than the front month; pre-open interest at 10 % of the rate, so each still
        # shows trial matching in a short pre-open.
        *(
            SimInstrument(
                code, Market.TAIFEX, fut, "23000", rate * r, 1.7, depth=depth, pre_open_rate=0.1
            )
            for code, rate, depth in (
                ("TXFA7", 60, (4, 6, 8, 8, 8)),
                ("TXFB7", 40, (3, 4, 5, 5, 5)),
                ("MXFA7", 50, (3, 5, 6, 6, 6)),
                ("MXFB7", 40, (2, 3, 4, 4, 4)),
            )
        ),
        *(
            SimInstrument(
                code,
                Market.TWSE,
                stk,
                ref,
                rate * r,
                sigma,
                depth=depth,
                mean_size=size,
                pre_open_rate=0.1,
            )
            for code, ref, rate, sigma, depth, size in (
                ("2454", "1250", 80, 0.3, (20, 30, 35, 35, 35), 3),
                ("2308", "650", 60, 0.3, (30, 45, 50, 50, 50), 3),
                ("2603", "205.5", 60, 0.3, (60, 90, 100, 100, 100), 6),
                ("3711", "165", 50, 0.3, (60, 90, 100, 100, 100), 5),
                ("2412", "125.5", 40, 0.15, (80, 120, 150, 150, 150), 5),
                ("2881", "88.6", 50, 0.3, (100, 150, 180, 180, 180), 8),
                ("2882", "66.3", 50, 0.3, (100, 150, 180, 180, 180), 8),
                ("2303", "45.85", 60, 0.3, (200, 300, 350, 350, 350), 15),
                ("1301", "42.1", 40, 0.3, (150, 220, 250, 250, 250), 10),
                ("2886", "41.8", 40, 0.2, (200, 300, 350, 350, 350), 10),
                ("2891", "41.25", 60, 0.2, (300, 450, 500, 500, 500), 20),
                ("2002", "21.35", 50, 0.2, (400, 600, 700, 700, 700), 25),
            )
        ),
    ]


@dataclass
class _State:
    """What one instrument carries from chunk to chunk."""

    x: float  # OU deviation of the mid from the reference, in ticks
    bid: int  # best bid index
    spread: int  # ticks
    queues: np.ndarray  # (10,) bid levels 0..4 then ask levels 0..4
    last_t: int  # last arrival time (ns)
    total_volume: int = 0
    session_close: int = -1  # close of the session the last arrival was in
    in_pre_open: bool = False


@dataclass
class SimChunk:
    """One chunk of simulated events, merged in publication order."""

    ticks: np.ndarray  # TICK_DTYPE
    bidasks: np.ndarray  # BIDASK_DTYPE
    # Session events: (exch_ts, code, "OPEN" | "CLOSED")
    sessions: list[tuple[int, str, str]]
    # Publication order: kinds[i] in {0 session, 1 tick, 2 bidask}, index[i] into that array,
    # times[i] its exchange time (non-decreasing).
    kinds: np.ndarray
    index: np.ndarray
    times: np.ndarray

    @property
    def size(self) -> int:
        return int(self.kinds.size)


class SimulatedMarket:
    """Deterministic chunked generator of ticks, books and session events."""

    def __init__(
        self,
        instruments: Sequence[SimInstrument],
        seed: int,
        start_ns: int,
        chunk_seconds: float = 1.0,
    ) -> None:
        if not instruments:
            raise ValueError("instruments: at least one is needed")
        codes = [i.code for i in instruments]
        if len(set(codes)) != len(codes):
            raise ValueError(f"instruments: duplicate codes in {codes}")
        for ins in instruments:
            if ins.p_limit + ins.p_cancel > 1 or min(ins.p_limit, ins.p_cancel) < 0:
                raise ValueError(f"{ins.code}: p_limit + p_cancel must be within [0, 1]")
            if ins.rate < 0 or ins.sigma < 0 or ins.kappa <= 0:
                raise ValueError(f"{ins.code}: rate, sigma must be >= 0 and kappa > 0")
        # Exactness of the vectorised OU needs kappa * chunk small (see _mid_path).
        if not 0 < chunk_seconds <= 60 or max(i.kappa for i in instruments) * chunk_seconds > 5:
            raise ValueError("chunk_seconds: expected (0, 60] with kappa * chunk <= 5")
        self.instruments = list(instruments)
        self.seed = seed
        self.chunk_ns = int(chunk_seconds * NS)
        seeds = np.random.SeedSequence(seed).spawn(len(instruments))
        self._rngs = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
        # Ladder index of each reference price, looked up once (every chunk needs it).
        self._refs = [ins.ladder.index_of(ins.reference) for ins in self.instruments]
        self._states: list[_State] = []
        for ins, rng, ref in zip(self.instruments, self._rngs, self._refs, strict=True):
            self._states.append(
                _State(
                    x=0.0,
                    bid=ref,
                    spread=1,
                    queues=self._fresh_queues(ins, rng, 1)[0],
                    last_t=start_ns,
                )
            )
        self.clock_ns = self._skip_closed(start_ns)
        self._codes_b = [ins.code.encode() for ins in self.instruments]

    # -- clock ------------------------------------------------------------------------------
    def _skip_closed(self, t: int) -> int:
        """t if any instrument trades (or is in pre-open) at t, else the next such instant."""
        return min(next_open(ins.market, t, pre_open=True) for ins in self.instruments)

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.instruments]

    # -- the feed's market interface (shared with shijim.gateway.sim_process.MarketProcess) --
    def start(self) -> None:
        """Generated in this process, on demand: nothing to start."""

    def prefetch(self) -> None:
        """Nothing is generated ahead here: nothing to take in a quiet turn."""

    def close(self) -> None:
        """Nothing to stop."""

    # -- generation -------------------------------------------------------------------------
    @staticmethod
    def _fresh_queues(ins: SimInstrument, rng: np.random.Generator, n: int) -> np.ndarray:
        depth = np.asarray(ins.depth + ins.depth, dtype=np.float64)
        q = rng.gamma(4.0, depth / 4.0, size=(n, 2 * LEVELS))
        return np.maximum(1, np.rint(q)).astype(np.int64)

    def next_chunk(self) -> SimChunk:
        """Generate the next window of simulated time (skipping closed hours)."""
        t0 = self.clock_ns
        t1 = t0 + self.chunk_ns
        parts = []
        sessions: list[tuple[int, str, str]] = []
        for k, (ins, rng, st) in enumerate(
            zip(self.instruments, self._rngs, self._states, strict=True)
        ):
            # Pre-open first: within one chunk (<= 60 s) it can only precede the open.
            for a, b in open_intervals(ins.market, t0, t1, pre_open=True):
                if not st.in_pre_open:
                    sessions.append((a, ins.code, "PRE_OPEN"))
                    st.in_pre_open = True
                    st.total_volume = 0  # a new trading session's volume starts here
                t = _arrivals(rng, ins.rate * ins.pre_open_rate, a, b)
                if t.size:
                    parts.append(self._trial_events(k, ins, rng, st, t))
            for a, b in open_intervals(ins.market, t0, t1):
                st.in_pre_open = False
                if st.session_close < 0:  # a new session begins in this window
                    sessions.append((a, ins.code, "OPEN"))
                    st.total_volume = 0
                    st.session_close = _session_close(ins.market, a)
                t = _arrivals(rng, ins.rate, a, b)
                if t.size:
                    parts.append(self._events(k, ins, rng, st, t))
            if st.session_close >= 0 and t0 < st.session_close <= t1:
                sessions.append((st.session_close, ins.code, "CLOSED"))
                st.session_close = -1
        self.clock_ns = self._skip_closed(t1)
        return _merge(parts, sessions)

    def _trial_events(self, k: int, ins: SimInstrument, rng: np.random.Generator, st: _State,
                      t: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Pre-open trial matching: each arrival moves the indicative price (the same OU mid)
        and publishes a simtrade trade (tick_type 0, the indicative volume; total_volume does
        not move) and a simtrade book around it. Never real trades (docs/feeds.md)."""
        n = t.size
        ref = self._refs[k]
        x = self._mid_path(ins, rng, st, t)
        lo, hi = LEVELS, len(ins.ladder) - LEVELS - 4
        ind = np.clip(np.rint(ref + x).astype(np.int64), lo, hi)
        q = self._fresh_queues(ins, rng, n)
        levels = np.arange(LEVELS)
        ticks = np.zeros(n, dtype=TICK_DTYPE)
        ticks["exch_ts"] = t
        ticks["code"] = self._codes_b[k]
        ticks["price"] = ins.ladder.prices(ind)
        ticks["volume"] = q[:, 0] + q[:, LEVELS]  # indicative matched volume
        ticks["total_volume"] = st.total_volume
        ticks["tick_type"] = 0
        ticks["simtrade"] = True
        books = np.zeros(n, dtype=BIDASK_DTYPE)
        books["exch_ts"] = t
        books["code"] = self._codes_b[k]
        books["bid_px"] = ins.ladder.prices(ind[:, None] - levels[None, :])
        books["ask_px"] = ins.ladder.prices(ind[:, None] + 1 + levels[None, :])
        books["bid_qty"] = q[:, :LEVELS]
        books["ask_qty"] = q[:, LEVELS:]
        books["simtrade"] = True
        st.x = float(x[-1])
        st.bid = int(ind[-1])
        st.spread = 1
        st.queues = q[-1].copy()
        st.last_t = int(t[-1])
        return k, ticks, books, np.arange(n)

    def _segment_queues(
        self,
        ins: SimInstrument,
        rng: np.random.Generator,
        carried: np.ndarray,
        seg_start: np.ndarray,
        csum: np.ndarray,
        bid0: np.ndarray,
        ask0: np.ndarray,
    ) -> np.ndarray:
        """Queues at the start of each segment. After a price move, levels whose price was
        already in the book keep their queue (shifted to their new level); swept levels are
        gone and new price levels start from a fresh depth draw. Sequential over price moves
        (a few % of arrivals); everything inside a segment stays vectorised."""
        nseg = seg_start.size
        init = np.empty((nseg, 2 * LEVELS), dtype=np.int64)
        init[0] = carried
        if nseg == 1:
            return init
        init[1:] = self._fresh_queues(ins, rng, nseg - 1)
        starts = seg_start.tolist()
        bids, asks = bid0.tolist(), ask0.tolist()
        prev = carried.tolist()
        for j in range(1, nseg):
            s, ps = starts[j], starts[j - 1]
            # Queues just before this move: end of the previous segment (same floor as q).
            c_end, c_start = csum[s - 1], csum[ps]
            final = [max(1, prev[i] + int(c_end[i]) - int(c_start[i])) for i in range(10)]
            row = init[j].tolist()
            db = bids[s - 1] - bids[s]  # new bid level l was old bid level db + l
            da = asks[s] - asks[s - 1]  # new ask level l was old ask level da + l
            for lvl in range(LEVELS):
                jb, ja = db + lvl, da + lvl
                if 0 <= jb < LEVELS:
                    row[lvl] = final[jb]
                if 0 <= ja < LEVELS:
                    row[LEVELS + lvl] = final[LEVELS + ja]
            init[j] = row
            prev = row
        return init

    def _mid_path(self, ins: SimInstrument, rng: np.random.Generator, st: _State,
                  t: np.ndarray) -> np.ndarray:  # fmt: skip
        """Exact OU samples at times t (ns), continuing from st.x at st.last_t."""
        k = ins.kappa
        dt0 = max(t[0] - st.last_t, 0) / NS
        eps = rng.standard_normal(t.size)
        phi0 = math.exp(-k * dt0)
        x_first = st.x * phi0 + ins.sigma * math.sqrt((1 - phi0 * phi0) / (2 * k)) * eps[0]
        if t.size == 1:
            return np.array([x_first])
        rel = (t - t[0]) / NS  # seconds since the first arrival, <= chunk (kappa*chunk <= 5)
        dt = np.diff(rel)
        phi = np.exp(-k * dt)
        s = ins.sigma * np.sqrt((1 - phi * phi) / (2 * k))
        # x_j = e^{-k rel_j} (x_first + sum_{i<=j} e^{k rel_i} s_i eps_i)
        grow = np.exp(k * rel[1:])
        acc = np.cumsum(grow * s * eps[1:])
        x = np.empty(t.size)
        x[0] = x_first
        x[1:] = np.exp(-k * rel[1:]) * (x_first + acc)
        return x

    def _events(self, k: int, ins: SimInstrument, rng: np.random.Generator, st: _State,
                t: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        n = t.size
        ref = self._refs[k]
        x = self._mid_path(ins, rng, st, t)
        # Spread: piecewise constant, redrawn at a few arrivals.
        change = rng.random(n) < ins.p_spread_change
        drawn = 1 + rng.choice(len(ins.spread_probs), size=n, p=ins.spread_probs)
        last_change = np.maximum.accumulate(np.where(change, np.arange(n), -1))
        spread = np.where(last_change >= 0, drawn[np.maximum(last_change, 0)], st.spread)
        lo, hi = LEVELS, len(ins.ladder) - LEVELS - 4
        bid = np.clip(np.rint(ref + x - spread / 2.0).astype(np.int64), lo, hi)
        ask = bid + spread
        # Prepend the carried state as row 0 so that diffs and segments continue across chunks.
        bid0 = np.concatenate(([st.bid], bid))
        ask0 = np.concatenate(([st.bid + st.spread], ask))
        up = np.diff(ask0)  # > 0: asks swept by a buyer
        down = -np.diff(bid0)  # > 0: bids swept by a seller
        buy_sweep = (up > 0) & (down <= 0)
        sell_sweep = (down > 0) & (up <= 0)
        moved = (np.diff(bid0) != 0) | (np.diff(ask0) != 0)

        # Arrival types for arrivals that did not move the price.
        u = rng.random(n)
        is_limit = ~moved & (u < ins.p_limit)
        is_cancel = ~moved & (u >= ins.p_limit) & (u < ins.p_limit + ins.p_cancel)
        is_mkt = ~moved & ~is_limit & ~is_cancel
        side_bid = rng.random(n) < 0.5  # limit/cancel on the bid; market order is a sell
        level = rng.choice(LEVELS, size=n, p=ins.level_probs)
        size = rng.geometric(1.0 / max(ins.mean_size, 1.0), size=n).astype(np.int64)

        # Queue deltas: column = side*5 + level (bid 0..4, ask 5..9).
        col = np.where(side_bid, level, LEVELS + level)
        col = np.where(is_mkt, np.where(side_bid, 0, LEVELS), col)
        delta = np.zeros((n, 2 * LEVELS), dtype=np.int64)
        signed = np.where(is_limit, size, -size)
        signed[moved] = 0
        delta[np.arange(n), col] = signed
        # Segments: maximal runs without a price move; row 0 = carried state.
        seg_start = np.concatenate(([0], np.flatnonzero(moved) + 1))
        seg_of = np.cumsum(np.concatenate(([0], moved.astype(np.int64))))
        csum = np.zeros((n + 1, 2 * LEVELS), dtype=np.int64)
        np.cumsum(delta, axis=0, out=csum[1:])
        init = self._segment_queues(ins, rng, st.queues, seg_start, csum, bid0, ask0)
        q = np.maximum(1, init[seg_of] + csum - csum[seg_start[seg_of]])  # (n+1, 10)

        # Trades.
        prev_q = q[:-1]
        mkt_vol = np.minimum(size, np.maximum(prev_q[np.arange(n), col] - 1, 0))
        mkt_trade = is_mkt & (mkt_vol > 0)
        levels = np.arange(LEVELS)
        n_swept_up = np.clip(up, 0, LEVELS)
        n_swept_dn = np.clip(down, 0, LEVELS)
        sweep_vol_up = np.sum(np.where(levels < n_swept_up[:, None], prev_q[:, LEVELS:], 0), axis=1)
        sweep_vol_dn = np.sum(np.where(levels < n_swept_dn[:, None], prev_q[:, :LEVELS], 0), axis=1)
        trade = mkt_trade | buy_sweep | sell_sweep
        ti = np.flatnonzero(trade)
        prev_bid, prev_ask = bid0[:-1], ask0[:-1]
        tpx_idx = np.where(
            buy_sweep, ask - 1, np.where(sell_sweep, bid + 1, np.where(side_bid, bid, ask))
        )[ti]
        # A sweep of more than 5 levels is cut at level 5 (the snapshot shows no more).
        tpx_idx = np.where(buy_sweep[ti], np.minimum(tpx_idx, prev_ask[ti] + LEVELS - 1), tpx_idx)
        tpx_idx = np.where(sell_sweep[ti], np.maximum(tpx_idx, prev_bid[ti] - LEVELS + 1), tpx_idx)
        tvol = np.where(buy_sweep, sweep_vol_up, np.where(sell_sweep, sweep_vol_dn, mkt_vol))[ti]
        ttype = np.where(buy_sweep | (is_mkt & ~side_bid), 1, 2).astype(np.uint8)[ti]

        ticks = np.zeros(ti.size, dtype=TICK_DTYPE)
        ticks["exch_ts"] = t[ti]
        ticks["code"] = self._codes_b[k]
        ticks["price"] = ins.ladder.prices(tpx_idx)
        ticks["volume"] = tvol
        ticks["total_volume"] = st.total_volume + np.cumsum(tvol)
        ticks["tick_type"] = ttype

        books = np.zeros(n, dtype=BIDASK_DTYPE)
        books["exch_ts"] = t
        books["code"] = self._codes_b[k]
        books["bid_px"] = ins.ladder.prices(bid[:, None] - levels[None, :])
        books["ask_px"] = ins.ladder.prices(ask[:, None] + levels[None, :])
        books["bid_qty"] = q[1:, :LEVELS]
        books["ask_qty"] = q[1:, LEVELS:]

        st.x = float(x[-1])
        st.bid = int(bid[-1])
        st.spread = int(spread[-1])
        st.queues = q[-1].copy()
        st.last_t = int(t[-1])
        if ti.size:
            st.total_volume = int(ticks["total_volume"][-1])
        return k, ticks, books, ti


def _arrivals(rng: np.random.Generator, rate: float, a: int, b: int) -> np.ndarray:
    """Sorted arrival times (ns) of a Poisson process of ``rate`` per second on [a, b)."""
    n = int(rng.poisson(rate * (b - a) / NS))
    if not n:
        return np.empty(0, dtype=np.int64)
    # Integer offsets: float64 cannot hold epoch nanoseconds exactly.
    return a + np.sort(rng.random(n) * (b - a)).astype(np.int64)


def _session_close(market: Market, t: int) -> int:
    """Close of the session that is open at t."""
    spans = open_intervals(market, t, t + 24 * 3600 * NS)
    return spans[0][1] if spans and spans[0][0] == t else -1


def _merge(
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
    sessions: list[tuple[int, str, str]],
) -> SimChunk:
    """Merge instruments by time: (exch_ts, instrument, tick before its book), sessions first
    (an OPEN before the session's first event, a CLOSED after its last)."""
    ticks = concat_rows([p[1] for p in parts], TICK_DTYPE)
    books = concat_rows([p[2] for p in parts], BIDASK_DTYPE)
    t_keys, b_keys = [], []
    for inst, tk, bk, ti in parts:
        t_keys.append(np.stack([tk["exch_ts"], np.full(tk.size, inst), 2 * ti + 1], axis=1))
        b_keys.append(
            np.stack([bk["exch_ts"], np.full(bk.size, inst), 2 * np.arange(bk.size) + 2], axis=1)
        )
    s_keys = np.array(
        [[t, -1, 0 if state == "OPEN" else 1 << 40] for t, _c, state in sessions], dtype=np.int64
    ).reshape(-1, 3)
    keys = np.concatenate(
        [
            s_keys,
            *(t_keys or [np.zeros((0, 3), np.int64)]),
            *(b_keys or [np.zeros((0, 3), np.int64)]),
        ]
    ).astype(np.int64)
    kinds = np.concatenate(
        [
            np.zeros(len(sessions), np.uint8),
            np.ones(ticks.size, np.uint8),
            np.full(books.size, 2, np.uint8),
        ]
    )
    index = np.concatenate([np.arange(len(sessions)), np.arange(ticks.size), np.arange(books.size)])
    order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
    return SimChunk(ticks, books, sessions, kinds[order], index[order], keys[order, 0])


def recorded(market: SimulatedMarket, until_ns: int, latency_ns: int) -> Iterator[MarketRecord]:
    """The raw records a recorder would have written of ``market`` (chunk after chunk until its
    clock reaches ``until_ns``): trades, books and session events in publication order, ``seq``
    counting every event, ``local_ts`` = exchange time + ``latency_ns``, prices as the decimal
    of the simulated float (``Decimal(repr(x))``, exact on the tick grid). For benchmarks,
    tests and sample recordings; the live simulator publishes rows, not records."""

    def px(x: float) -> Decimal:
        return Decimal(repr(float(x)))

    seq = 0
    while market.clock_ns < until_ns:
        chunk = market.next_chunk()
        for kind, i in zip(chunk.kinds.tolist(), chunk.index.tolist(), strict=True):
            seq += 1
            if kind == 0:
                ts, code, state = chunk.sessions[i]
                yield EventRecord(
                    code, ts, ts + latency_ns, seq, EventKind.SESSION_STATE, SessionState(state),
                    None, 0, "",
                )  # fmt: skip
            elif kind == 1:
                t = chunk.ticks[i]
                ts = int(t["exch_ts"])
                yield TickRecord(
                    t["code"].decode(), ts, ts + latency_ns, seq, px(t["price"]),
                    int(t["volume"]), int(t["total_volume"]), TickType(int(t["tick_type"])),
                    bool(t["simtrade"]),
                )  # fmt: skip
            else:
                b = chunk.bidasks[i]
                ts = int(b["exch_ts"])
                yield BidAskRecord(
                    b["code"].decode(), ts, ts + latency_ns, seq,
                    tuple(map(px, b["bid_px"])), tuple(map(int, b["bid_qty"])),
                    tuple(map(px, b["ask_px"])), tuple(map(int, b["ask_qty"])),
                    bool(b["simtrade"]),
                )  # fmt: skip
