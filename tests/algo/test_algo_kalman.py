"""Kalman filters (shijim.algo.kalman over shijim_core) against filterpy, the reference
implementation, step by step: the local-level fair value (time-scaled process noise, a variance
per observation, missing observations) and the dynamic hedge ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter
from shijim.algo import kalman as K


def filterpy_local_level(t, y, r, p: K.LocalLevelParams) -> np.ndarray:
    kf = KalmanFilter(dim_x=1, dim_z=1)
    kf.F = np.eye(1)
    kf.H = np.eye(1)
    started = math.isfinite(p.x0)
    if started:
        kf.x = np.array([[p.x0]])
        kf.P = np.array([[p.p0]])
    t_last = None
    rows = []
    for ti, yi, ri in zip(t, y, r, strict=True):
        dt = 0 if t_last is None else max(int(ti) - t_last, 0)
        t_last = int(ti) if t_last is None else max(t_last, int(ti))
        if started:
            kf.Q = np.array([[p.q_per_s * (dt * 1e-9) + p.q_per_obs]])
            kf.predict()
        if math.isnan(yi):
            x, pp = (kf.x[0, 0], kf.P[0, 0]) if started else (math.nan, math.nan)
            rows.append([x, pp, math.nan, math.nan, 0.0, 0.0])
        elif not started:
            kf.x = np.array([[yi]])
            kf.P = np.array([[ri]])
            started = True
            rows.append([yi, ri, math.nan, math.nan, 1.0, 1.0])
        else:
            kf.update(yi, R=ri)
            rows.append([kf.x[0, 0], kf.P[0, 0], kf.y[0, 0], kf.S[0, 0], kf.K[0, 0], 1.0])
    return np.array(rows)


def noisy_walk(n: int, seed: int):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(0, 50_000_000, size=n)).astype(np.int64)
    truth = 20000 + np.cumsum(rng.normal(scale=0.7, size=n))
    is_trade = rng.random(n) < 0.3
    r = np.where(is_trade, 1.5, 0.25)
    y = truth + rng.normal(size=n) * np.sqrt(r)
    y[rng.random(n) < 0.1] = np.nan  # missing
    return t, y, r, truth


@pytest.mark.parametrize(
    "params",
    [
        K.LocalLevelParams(q_per_s=4.0),
        K.LocalLevelParams(q_per_s=0.5, q_per_obs=0.02, x0=19990.0, p0=100.0),
    ],
)
def test_local_level_matches_filterpy(params: K.LocalLevelParams) -> None:
    t, y, r, _ = noisy_walk(3000, 1)
    y[0] = np.nan  # a missing first observation: nothing to carry yet
    frame = K.local_level(t, y, r, params)
    want = filterpy_local_level(t, y, r, params)
    assert frame.ok.all()
    np.testing.assert_allclose(frame.values, want, rtol=1e-10, atol=1e-9, equal_nan=True)
    # Missing observations are carried, never propagated.
    assert np.isfinite(frame.x[1:]).all()


def test_fair_value_merges_mids_and_trades_and_beats_the_raw_mids() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    t_mid = np.arange(n, dtype=np.int64) * 10_000_000
    truth = 100 + np.cumsum(rng.normal(scale=0.05, size=n))
    mid = truth + rng.normal(scale=0.3, size=n)
    t_trade = t_mid[::3] + 5_000_000
    trade = truth[::3] + rng.normal(scale=0.5, size=t_trade.size)
    params = K.LocalLevelParams(q_per_s=0.05**2 / 0.01)
    t, frame = K.fair_value(t_mid, mid, t_trade, trade, params, r_mid=0.09, r_trade=0.25)
    assert np.all(np.diff(t) >= 0) and t.size == n + t_trade.size
    at_mids = np.isin(t, t_mid)
    err_filter = np.sqrt(np.mean((frame.x[at_mids][100:] - truth[100:]) ** 2))
    err_raw = np.sqrt(np.mean((mid[100:] - truth[100:]) ** 2))
    assert err_filter < 0.6 * err_raw
    live = K.FairValueFilter(params, r_mid=0.09, r_trade=0.25)
    x = live.observe_mid(0, 100.0)
    assert x == 100.0 and live.variance == 0.09
    assert live.observe_trade(1, math.nan) == 100.0  # missing: carried
    with pytest.raises(ValueError, match="y: inf"):
        live.observe_mid(2, math.inf)
    assert live.fair == 100.0


def test_stream_equals_batch_and_bad_rows_are_refused() -> None:
    t, y, r, _ = noisy_walk(500, 2)
    y[[10, 20]] = [math.inf, -math.inf]
    r[30] = 0.0
    params = K.LocalLevelParams(q_per_s=1.0, q_per_obs=0.01)
    frame = K.local_level(t, y, r, params)
    assert frame.ok.sum() == 500 - (3 if not math.isnan(y[30]) else 2)
    assert frame.first_error == "y[10] (row 10): inf: not finite (NaN marks a missing observation)"
    import shijim_core

    live = shijim_core.LocalLevelFilter(1.0, 0.01)
    for i in range(500):
        try:
            row = live.step(int(t[i]), y[i], r[i])
        except ValueError:
            assert not frame.ok[i]
            continue
        assert np.array(row).tobytes() == frame.values[i].tobytes()
    with pytest.raises(ValueError, match="q_per_s"):
        K.local_level(t, y, r, K.LocalLevelParams(q_per_s=-1.0))


def filterpy_hedge(x, y, p: K.HedgeRatioParams) -> np.ndarray:
    kf = KalmanFilter(dim_x=2, dim_z=1)
    kf.x = np.array([[p.alpha0], [p.beta0]])
    kf.P = np.diag([p.p0_alpha, p.p0_beta])
    kf.F = np.eye(2)
    kf.Q = np.diag([p.q_alpha, p.q_beta])
    kf.R = np.array([[p.r]])
    rows = []
    for xi, yi in zip(x, y, strict=True):
        kf.predict()
        if math.isnan(xi) or math.isnan(yi):
            P = kf.P
            rows.append(
                [kf.x[0, 0], kf.x[1, 0]] + [math.nan] * 3 + [P[0, 0], P[0, 1], P[1, 1], 0.0]
            )
            continue
        kf.H = np.array([[1.0, xi]])
        kf.update(yi)
        e, s = kf.y[0, 0], kf.S[0, 0]
        P = kf.P
        rows.append(
            [kf.x[0, 0], kf.x[1, 0], e, s, e / math.sqrt(s), P[0, 0], P[0, 1], P[1, 1], 1.0]
        )
    return np.array(rows)


def test_hedge_ratio_matches_filterpy_and_tracks_a_changing_beta() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    x = np.cumsum(rng.normal(scale=0.003, size=n))  # log TXF-like, relative to its open
    beta = np.where(np.arange(n) < n // 2, 1.0, 1.2)
    y = 0.01 + beta * x + rng.normal(scale=0.0005, size=n)
    y[rng.random(n) < 0.05] = np.nan
    params = K.HedgeRatioParams(
        q_alpha=1e-8, q_beta=1e-6, r=0.0005**2, beta0=1.0, p0_alpha=1.0, p0_beta=1.0
    )
    frame = K.hedge_ratio(x, y, params)
    want = filterpy_hedge(x, y, params)
    np.testing.assert_allclose(frame.values, want, rtol=1e-7, atol=1e-10, equal_nan=True)
    assert abs(frame.beta[n // 2 - 1] - 1.0) < 0.05 and abs(frame.beta[-1] - 1.2) < 0.05
    live = K.HedgeRatioFilter(params)
    for i in range(50):
        got = live.step(x[i], y[i])
        np.testing.assert_array_equal(list(got.values()), frame.values[i])
    assert live.beta == frame.beta[49]


def test_hedge_ratio_on_a_clock_grid() -> None:
    rng = np.random.default_rng(3)
    tx = np.sort(rng.integers(0, 10**9, size=3000))
    ty = np.sort(rng.integers(0, 10**9, size=2000))
    px = 20000 * np.exp(np.cumsum(rng.normal(scale=1e-4, size=3000)))
    py = 600 * np.exp(np.cumsum(rng.normal(scale=1e-4, size=2000)))
    grid = np.arange(0, 10**9, 10**7, dtype=np.int64)
    params = K.HedgeRatioParams(q_alpha=1e-8, q_beta=1e-6, r=1e-6)
    frame = K.hedge_ratio_on_grid(tx, px, ty, py, grid, params)
    ix = np.searchsorted(tx, grid, side="right") - 1
    iy = np.searchsorted(ty, grid, side="right") - 1
    gx = np.where(ix >= 0, np.log(px[np.maximum(ix, 0)]), np.nan)
    gy = np.where(iy >= 0, np.log(py[np.maximum(iy, 0)]), np.nan)
    assert frame.values.tobytes() == K.hedge_ratio(gx, gy, params).values.tobytes()
    assert frame.column("used")[0] == 0.0  # nothing observed at time 0
