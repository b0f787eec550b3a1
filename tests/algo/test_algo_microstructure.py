"""Trade flow (Lee-Ready signs, event-time EW volumes) and the clock-time grid helpers, against
references written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shijim.algo import microstructure as M


def lee_ready_reference(price, qty, side, mid, halflife):
    """Signs and EW sums from the definitions (docs/signals.md), row by row."""
    decay = 0.5 ** (1.0 / halflife)
    buy = sell = 0.0
    last_price = None
    last_tick = 0
    rows, ok = [], []
    for p, q, s, m in zip(price, qty, side, mid, strict=True):
        if not (p > 0 and q > 0 and float(q).is_integer()):
            rows.append([math.nan] * 7)
            ok.append(False)
            continue
        if last_price is None or p == last_price:
            tick = last_tick
        else:
            tick = 1 if p > last_price else -1
        if s in (1, 2):
            sign, rule = (1 if s == 1 else -1), 0
        elif math.isfinite(m) and m > 0 and p != m:
            sign, rule = (1 if p > m else -1), 1
        elif tick != 0:
            sign, rule = tick, 2
        else:
            sign, rule = 0, 3
        buy = decay * buy + (q if sign > 0 else 0.0)
        sell = decay * sell + (q if sign < 0 else 0.0)
        last_tick, last_price = tick, p
        total = buy + sell
        rows.append(
            [sign, sign * q, buy, sell, buy - sell, (buy - sell) / total if total else 0.0, rule]
        )
        ok.append(True)
    return np.array(rows), np.array(ok)


def random_trades(n: int, seed: int):
    rng = np.random.default_rng(seed)
    price = 100.0 + 0.5 * rng.integers(0, 6, size=n)
    qty = rng.integers(1, 10, size=n).astype(float)
    qty[::53] = 0.0  # zero volume: refused
    side = rng.integers(0, 3, size=n)
    mid = np.where(rng.random(n) < 0.4, np.nan, 101.25)
    side[1], mid[1] = 0, np.nan  # the first good trade, unknown side, no quote: unclassified
    return price, qty, side, mid


def test_trade_flow_matches_the_reference_and_the_stream() -> None:
    price, qty, side, mid = random_trades(2000, 3)
    frame = M.trade_flow(price, qty, side, mid, halflife=30.0)
    want, ok = lee_ready_reference(price, qty, side, mid, 30.0)
    np.testing.assert_array_equal(frame.ok, ok)
    np.testing.assert_allclose(frame.values, want, rtol=1e-12, equal_nan=True)
    assert frame.refused == 38 and frame.first_error.startswith("qty[0] (row 0)")
    # Every rule occurs.
    assert set(np.unique(frame.column("rule")[ok])) == {0.0, 1.0, 2.0, 3.0}
    stream = M.TradeFlow(halflife=30.0)
    for r in range(2000):
        if not ok[r]:
            with pytest.raises(ValueError, match="zero volume"):
                stream.update(price[r], qty[r], int(side[r]), mid[r])
            continue
        got = stream.update(price[r], qty[r], int(side[r]), mid[r])
        assert list(got.values()) == frame.values[r].tolist()
    with pytest.raises(ValueError, match="side"):
        stream.update(100.0, 1.0, 3)
    with pytest.raises(ValueError, match="halflife"):
        M.TradeFlow(halflife=-1.0)


def test_grid_sums_equal_brute_force() -> None:
    rng = np.random.default_rng(7)
    t = np.sort(rng.integers(0, 10_000, size=500))
    v = rng.normal(size=500)
    grid = M.time_grid(-100, 10_500, 250)
    got = M.sum_on_grid(t, v, grid)
    want = [v[(t <= g) & ((t > grid[k - 1]) if k else True)].sum() for k, g in enumerate(grid)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    sign = np.sign(rng.normal(size=500))
    sign[::7] = 0
    flows = M.flow_on_grid(t, np.ones(500), sign, grid)
    np.testing.assert_allclose(flows["signed_volume"], M.sum_on_grid(t, sign, grid), atol=1e-12)
    tot = flows["buy_volume"] + flows["sell_volume"]
    assert np.all(np.abs(flows["trade_imbalance"]) <= 1) and np.all(
        (tot > 0) | (flows["trade_imbalance"] == 0)
    )
    with pytest.raises(ValueError, match=r"t\[3\]"):
        M.sum_on_grid([0, 1, 2, 1], [1, 1, 1, 1], grid)


def test_previous_tick_and_realized_variance() -> None:
    t = np.array([10, 20, 20, 35])
    assert M.previous_tick(t, [5, 10, 19, 20, 34, 99]).tolist() == [-1, 0, 0, 2, 2, 3]
    mid = np.array([100.0, 101.0, 102.0, 100.0])
    grid = np.arange(0, 50, 10)  # 0 10 20 30 40 -> nan 100 102 102 100
    rv = M.realized_variance_on_grid(t, mid, grid, window=2)
    r = [math.nan, math.nan, math.log(1.02), 0.0, math.log(100 / 102)]
    want = [math.nan, math.nan, math.nan, r[2] ** 2 + r[3] ** 2, r[3] ** 2 + r[4] ** 2]
    np.testing.assert_allclose(rv, want, rtol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="window"):
        M.realized_variance_on_grid(t, mid, grid, window=0)
    with pytest.raises(ValueError, match="step_ns"):
        M.time_grid(0, 10, 0)
