"""Position in queue (shijim.algo.piq over shijim_core): the same fills as the real hftbacktest
2.4.4 under its own queue models, the probabilistic rules against their formula written here,
the risk-averse path against a vectorised numpy form, the fill probability against scipy, batch
equal to stream, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hftbacktest import GTC, LIMIT, BacktestAsset, HashMapMarketDepthBacktest
from hftbacktest.types import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    event_dtype,
)
from scipy.stats import poisson
from shijim.algo import piq as P
from shijim.domain import Side

PRICE = 100.0
PLACED = 500_100  # the order reaches the venue (hftbacktest: 500_000 + 100 ns entry latency)


def book(level: float) -> tuple[np.ndarray, ...]:
    """Bids 100 (level), 99; asks 101, 102: only our level moves."""
    return (
        np.array([PRICE, 99.0]),
        np.array([level, 5.0]),
        np.array([101.0, 102.0]),
        np.array([5.0, 5.0]),
    )


def scenario(seed: int, n: int = 80):
    """A resting bid at 100: its level's quantity jumps around, sellers trade at 100."""
    rng = np.random.default_rng(seed)
    q0 = float(rng.integers(10, 40))
    steps = []
    t = 1_000
    for _ in range(n):
        t += 1_000_000
        if rng.random() < 0.3:
            steps.append((t, None, float(rng.integers(1, 4))))
        else:
            steps.append((t, float(rng.integers(1, 45)), 0.0))
    return q0, steps


def hftbacktest_fill(q0: float, steps, method: str, *args: float) -> int | None:
    """When the real hftbacktest fills a 1-lot bid at 100 (no partial fills), or None."""
    rows = []

    def ev(t: int, kind: int, side: int, px: float, qty: float) -> None:
        rows.append((kind | EXCH_EVENT | LOCAL_EVENT | side, t, t, px, qty, 0, 0, 0.0))

    for px, side, q in ((PRICE, BUY_EVENT, q0), (99.0, BUY_EVENT, 5.0)):
        ev(1_000, DEPTH_EVENT, side, px, q)
    for px in (101.0, 102.0):
        ev(1_000, DEPTH_EVENT, SELL_EVENT, px, 5.0)
    for t, level, qty in steps:
        if level is None:
            ev(t, TRADE_EVENT, SELL_EVENT, PRICE, qty)
        else:
            ev(t, DEPTH_EVENT, BUY_EVENT, PRICE, level)
    # hftbacktest keeps a raw pointer to the array: it must outlive the run.
    data = np.array(rows, dtype=event_dtype)
    asset = BacktestAsset().data(data).linear_asset(1.0)
    asset = getattr(asset.constant_order_latency(100, 100), method)(*args)
    asset = asset.no_partial_fill_exchange().tick_size(1.0).lot_size(1.0)
    hbt = HashMapMarketDepthBacktest([asset])
    hbt.elapse(500_000)
    hbt.submit_buy_order(0, 1, PRICE, 1.0, GTC, LIMIT, False)
    hbt.elapse(steps[-1][0])
    order = hbt.orders(0).get(1)
    fill = order.exch_timestamp if order.exec_qty > 0 else None
    hbt.close()
    del data
    return fill


def our_fill(q0: float, steps, model: P.QueueModel) -> int | None:
    q = P.QueueEstimator(Side.BUY, PRICE, 1, model, t_ns=PLACED, book=book(q0))
    for t, level, qty in steps:
        s = q.on_trade(t, PRICE, qty, Side.SELL) if level is None else q.on_book(t, *book(level))
        if s.filled_est >= 1:
            return t
    return None


def formula_front(q0: float, steps, f) -> list[float]:
    """hftbacktest's ProbQueueModel (trade: front -= qty; depth: the prob split), written from
    its documentation; the front after each step, stopped at the first negative front (there
    the models part: docs/signals.md)."""
    front, cum, prev = q0, 0.0, q0
    out = []
    for _, level, qty in steps:
        if level is None:
            front -= qty
            cum += qty
        else:
            chg = prev - level - cum
            cum = 0.0
            if chg < 0:
                front = min(front, level)
            else:
                back = prev - front
                p = f(back) / (f(back) + f(front)) if f(back) + f(front) > 0 else 1.0
                front = min(front - (1 - p) * chg + min(back - p * chg, 0.0), level)
            prev = level
        if front < 0:
            break
        out.append(front)
    return out


CASES = [
    ("risk_adverse_queue_model", (), P.QueueModel(P.QueueRule.RISK_AVERSE)),
    ("power_prob_queue_model", (2.0,), P.QueueModel(P.QueueRule.POWER, 2.0)),
    ("power_prob_queue_model", (3.0,), P.QueueModel(P.QueueRule.POWER, 3.0)),
]


@pytest.mark.parametrize(
    ("method", "args", "model"), CASES, ids=["risk_averse", "power2", "power3"]
)
def test_fills_when_hftbacktest_fills(method: str, args: tuple, model: P.QueueModel) -> None:
    fills = 0
    for seed in range(12):
        q0, steps = scenario(seed)
        want = hftbacktest_fill(q0, steps, method, *args)
        assert our_fill(q0, steps, model) == want, f"seed {seed}"
        fills += want is not None
    assert fills >= 8  # the scenarios do reach the fills


def test_log_rule_fills_when_hftbacktest_does_while_its_estimate_stays_defined() -> None:
    """hftbacktest's log rule takes ln(1 + front) of a negative front after a large cancel and
    then sends the order to the back of the level; where that never happens, the fills agree."""

    def defined(q0, steps) -> bool:
        front, cum, prev = q0, 0.0, q0
        for _, level, qty in steps:
            if level is None:
                front -= qty
                cum += qty
                if round(-front) > 0:
                    return True
                continue
            chg = prev - level - cum
            cum = 0.0
            if chg >= 0:
                back = prev - front
                if front <= -1 or back <= -1:
                    return False
                p = math.log1p(back) / (math.log1p(back) + math.log1p(front))
                front = front - (1 - p) * chg + min(back - p * chg, 0.0)
            front = min(front, level)
            prev = level
            if front < 0:
                return False  # the next decrease would leave the formula's domain
        return True

    compared = 0
    for seed in range(40):
        q0, steps = scenario(seed)
        if not defined(q0, steps):
            continue
        want = hftbacktest_fill(q0, steps, "log_prob_queue_model")
        assert our_fill(q0, steps, P.QueueModel(P.QueueRule.LOG)) == want, f"seed {seed}"
        compared += 1
    assert compared >= 8


@pytest.mark.parametrize(
    ("rule", "f"),
    [
        (P.QueueModel(P.QueueRule.POWER, 2.0), lambda x: x**2),
        (P.QueueModel(P.QueueRule.POWER, 0.7), lambda x: x**0.7),
        (P.QueueModel(P.QueueRule.LOG), math.log1p),
    ],
)
def test_the_estimate_follows_the_formula(rule: P.QueueModel, f) -> None:
    for seed in range(10):
        q0, steps = scenario(seed, n=60)
        want = formula_front(q0, steps, f)
        q = P.QueueEstimator(Side.BUY, PRICE, 1, rule, t_ns=PLACED, book=book(q0))
        for (t, level, qty), front in zip(steps, want, strict=False):
            s = (
                q.on_trade(t, PRICE, qty, Side.SELL)
                if level is None
                else q.on_book(t, *book(level))
            )
            assert s.ahead == pytest.approx(front, rel=1e-12, abs=1e-12)
            assert s.ahead_lo - 1e-12 <= s.ahead <= s.ahead_hi + 1e-12


def test_risk_averse_path_and_upper_bound_equal_a_vectorised_form() -> None:
    rng = np.random.default_rng(8)
    n = 5000
    is_trade = rng.random(n) < 0.3
    level = rng.integers(0, 60, size=n).astype(float)
    qty = rng.integers(1, 3, size=n).astype(float)
    q0 = 50.0
    # f_t = min(f_{t-1}, L_t) on books, f_{t-1} - d_t on trades: with C the cumulative trades,
    # f + C is a running minimum of q0 and L + C over the books.
    c = np.cumsum(np.where(is_trade, qty, 0.0))
    g = np.minimum.accumulate(np.where(is_trade, np.inf, level + c))
    front = np.minimum(g, q0) - c
    t = (np.arange(n) + 1) * 1_000_000
    for rule in (P.QueueRule.RISK_AVERSE, P.QueueRule.POWER, P.QueueRule.LOG):
        est = P.QueueEstimator(Side.BUY, PRICE, 10**6, P.QueueModel(rule), 0, book(q0))
        rows = [
            est.on_trade(int(t[i]), PRICE, qty[i], Side.SELL)
            if is_trade[i]
            else est.on_book(int(t[i]), *book(level[i]))
            for i in range(n)
        ]
        # Every rule's upper bound is the risk-averse path.
        np.testing.assert_array_equal([r.ahead_hi for r in rows], np.maximum(front, 0.0))
        if rule is P.QueueRule.RISK_AVERSE:
            np.testing.assert_array_equal([r.ahead for r in rows], np.maximum(front, 0.0))
            filled = np.round(np.maximum(-front, 0.0))
            np.testing.assert_array_equal([r.filled_est for r in rows], filled)
            assert filled[-1] > 0


def test_fill_probability_against_scipy() -> None:
    s = 1_000_000_000
    model = P.QueueModel(P.QueueRule.RISK_AVERSE, rate_halflife_ns=20 * s)
    q = P.QueueEstimator(Side.SELL, 101.0, 3, model, t_ns=0, book=book(0.0))
    assert q.state().ahead == 5.0  # asks 101 x 5
    assert q.p_fill(0, s) == 0.0  # no depletion seen yet
    for k, t in enumerate((1, 2, 4, 7)):  # buyers lift 1, 2, 1, 2 lots at 101
        q.on_trade(t * s, 101.0, (1, 2, 1, 2)[k], Side.BUY)
    # Front: 5 - 6 = -1: one lot of ours traded (0.5 rounds up too).
    st = q.state(8 * s)
    assert st.filled_est == 1 and st.ahead == 0.0
    assert q.p_fill(8 * s, s, lots=1) == 1.0
    w = [0.5 ** ((8 - t) / 20) for t in (1, 2, 4, 7)]
    exposure = 20 / math.log(2) * (1 - 0.5 ** (8 / 20))
    events = sum(w) / exposure
    size = (w[0] * 1 + w[1] * 2 + w[2] * 1 + w[3] * 2) / sum(w)
    assert st.depletion_rate == pytest.approx(events * size, rel=1e-12)
    for lots, horizon in ((2, 1), (2, 10), (3, 5)):
        need = -1 + lots  # front -1
        k = math.ceil(need / size)
        want = poisson.sf(k - 1, events * horizon)
        assert q.p_fill(8 * s, horizon * s, lots=lots) == pytest.approx(want, rel=1e-10)
    unknown = P.QueueEstimator(Side.BUY, 90.0, 1, model, t_ns=0, book=book(3.0))
    assert math.isnan(unknown.p_fill(s, s))


def test_batch_equals_stream_and_bad_rows_are_named() -> None:
    rng = np.random.default_rng(1)
    n = 400
    kind = rng.choice([P.EVENT_BOOK, P.EVENT_TRADE, P.EVENT_OWN_FILL], size=n, p=[0.6, 0.35, 0.05])
    kind[150] = 7
    t = np.arange(n, dtype=np.int64) * 1000
    levels = rng.integers(0, 40, size=n).astype(float)
    books = tuple(np.repeat(x[None, :], n, axis=0) for x in book(0.0))
    books[1][:, 0] = levels
    books[2][200, 0] = 99.5  # crossed (best bid 100)
    trade_px = np.where(rng.random(n) < 0.8, PRICE, 101.0)
    trade_qty = rng.integers(1, 4, size=n).astype(float)
    trade_qty[260] = 0.0
    trade_side = rng.integers(0, 3, size=n)
    kind[[200, 260]] = [P.EVENT_BOOK, P.EVENT_TRADE]
    model = P.QueueModel(P.QueueRule.LOG, own_in_book=True)
    frame = P.queue_estimates(
        Side.BUY, PRICE, 20, 50_500, t, kind, books, trade_px, trade_qty, trade_side, model
    )
    assert not frame.ok[[150, 200, 260]].any() and frame.ok.sum() == n - 3
    assert frame.first_error.startswith("kind[150] (row 150)")
    last_book = max(i for i in range(51) if kind[i] == P.EVENT_BOOK)  # before placement
    placed_book = tuple(b[last_book] for b in books)
    q = P.QueueEstimator(Side.BUY, PRICE, 20, model, t_ns=50_500, book=placed_book)
    for i in range(51, n):
        try:
            if kind[i] == P.EVENT_BOOK:
                s = q.on_book(int(t[i]), *(b[i] for b in books))
            elif kind[i] == P.EVENT_TRADE:
                side = {0: None, 1: Side.BUY, 2: Side.SELL}[int(trade_side[i])]
                s = q.on_trade(int(t[i]), trade_px[i], trade_qty[i], side)
            elif kind[i] == P.EVENT_OWN_FILL:
                s = q.on_own_fill(int(t[i]), int(trade_qty[i]))
            else:
                raise ValueError("kind")
        except ValueError:
            assert not frame.ok[i]
            continue
        np.testing.assert_array_equal(np.array(s, dtype=float), frame.values[i])
    assert (frame.column("known")[:51] == 0).all()
    with pytest.raises(ValueError, match="rule"):
        P.QueueEstimator(Side.BUY, PRICE, 1, P.QueueModel("bogus"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="qty: 0"):
        P.QueueEstimator(Side.BUY, PRICE, 0)
    with pytest.raises(ValueError, match="power"):
        P.QueueEstimator(Side.BUY, PRICE, 1, P.QueueModel(P.QueueRule.POWER, -1.0))
