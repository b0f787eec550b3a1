"""Hayashi-Yoshida lead-lag (shijim.algo.leadlag over shijim_core): the double sum of the
definition and an independent vectorised form as references, a known sub-millisecond lag
recovered to within one grid step, stream equal to batch, bad observations counted."""

from __future__ import annotations

import numpy as np
import pytest
from shijim.algo import leadlag as LL


def double_sum(tx, x, ty, y, lags):
    """sum_ij dX_i dY_j 1{(t_i-1, t_i] overlaps (s_j-1 - lag, s_j - lag]}, from the paper."""
    dx, dy = np.diff(np.log(x)), np.diff(np.log(y))
    a, b = tx[:-1], tx[1:]
    out = []
    for lag in lags:
        c, d = ty[:-1] - lag, ty[1:] - lag
        overlap = (a[:, None] < d[None, :]) & (c[None, :] < b[:, None])
        out.append(float((dx[:, None] * dy[None, :] * overlap).sum()))
    return np.array(out)


def searchsorted_form(tx, x, ty, y, lags):
    """The telescoped form with binary searches (numpy), independent of the Rust sweep."""
    lx, ly = np.log(x), np.log(y)
    dx = np.diff(lx)
    out = []
    for lag in lags:
        nxt = np.minimum(np.searchsorted(ty, tx[1:] + lag, side="left"), ty.size - 1)
        prv = np.maximum(np.searchsorted(ty, tx[:-1] + lag, side="right") - 1, 0)
        out.append(float((dx * (ly[nxt] - ly[prv])).sum()))
    return np.array(out)


def lagged_pair(n_path: int, lag_ns: int, seed: int, noise: float = 0.0):
    """One random-walk path; X observes it, Y observes it ``lag_ns`` later, each at its own
    random times (about 1 per 20 us), optionally with independent noise."""
    rng = np.random.default_rng(seed)
    pt = np.cumsum(rng.integers(1, 10_000, size=n_path))
    pp = np.cumsum(rng.normal(scale=1e-4, size=n_path))

    def observe(n_obs, delay):
        t = np.sort(rng.integers(0, pt[-1], size=n_obs))
        k = np.searchsorted(pt, t - delay, side="right") - 1
        logp = np.where(k >= 0, pp[np.maximum(k, 0)], 0.0) + rng.normal(scale=noise, size=n_obs)
        return t.astype(np.int64), 100.0 * np.exp(logp)

    n_obs = int(pt[-1] // 20_000)
    tx, x = observe(n_obs, 0)
    ty, y = observe(int(n_obs * 0.8), lag_ns)
    return tx, x, ty, y


def test_equals_the_definition_and_the_searchsorted_form() -> None:
    rng = np.random.default_rng(2)
    for _ in range(3):
        tx = np.unique(rng.integers(0, 50_000, size=300)).astype(np.int64)
        ty = np.unique(rng.integers(0, 50_000, size=200)).astype(np.int64)
        x = 100 * np.exp(np.cumsum(rng.normal(scale=1e-3, size=tx.size)))
        y = 50 * np.exp(np.cumsum(rng.normal(scale=1e-3, size=ty.size)))
        lags = LL.lag_grid(2_000, 250)
        r = LL.hayashi_yoshida(tx, x, ty, y, lags)
        np.testing.assert_allclose(r.cov, double_sum(tx, x, ty, y, lags), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(
            r.cov, searchsorted_form(tx, x, ty, y, lags), rtol=1e-10, atol=1e-15
        )
        rv = np.diff(np.log(x)) @ np.diff(np.log(x)) * (np.diff(np.log(y)) @ np.diff(np.log(y)))
        np.testing.assert_allclose(r.corr, r.cov / np.sqrt(rv), rtol=1e-12)
        assert r.counts["x_used"] == tx.size and r.counts["y_dropped"] == 0


@pytest.mark.parametrize(("lag_us", "noise"), [(300, 0.0), (-150, 0.0), (450, 2e-5)])
def test_recovers_a_known_sub_millisecond_lag(lag_us: int, noise: float) -> None:
    lag = lag_us * 1_000
    tx, x, ty, y = lagged_pair(100_000, lag, seed=lag_us + 1000, noise=noise)
    step = 50_000  # 50 us grid
    r = LL.hayashi_yoshida(tx, x, ty, y, LL.lag_grid(1_000_000, step))
    assert r.best_lag is not None and abs(r.best_lag - lag) <= step, (r.best_lag, lag)
    assert r.leader == ("x" if lag > 0 else "y")
    assert r.best_corr > 0.3
    # Swapping the series mirrors the lag.
    s = LL.hayashi_yoshida(ty, y, tx, x, LL.lag_grid(1_000_000, step))
    assert s.best_lag == -r.best_lag


def test_stream_equals_batch_exactly() -> None:
    tx, x, ty, y = lagged_pair(20_000, 200_000, seed=4)
    lags = LL.lag_grid(600_000, 100_000)
    batch = LL.hayashi_yoshida(tx, x, ty, y, lags)
    s = LL.LeadLagStream(lags)
    # Y observations fed 300 us late relative to X's: the sums do not change.
    events = sorted(
        [(int(t), 0, i) for i, t in enumerate(tx)]
        + [(int(t) + 300_000, 1, i) for i, t in enumerate(ty)]
    )
    for _, which, i in events:
        if which == 0:
            s.push_x(int(tx[i]), x[i])
        else:
            s.push_y(int(ty[i]), y[i])
    partial = s.result()
    r = s.finish()
    assert r.cov.tobytes() == batch.cov.tobytes()
    assert r.best_lag == batch.best_lag and r.lead_lag_ratio == batch.lead_lag_ratio
    assert partial.cov.tobytes() == r.cov.tobytes()  # nothing arrived after result()
    with pytest.raises(ValueError, match="finished"):
        s.push_x(10**18, 1.0)


def test_bad_observations_are_counted_and_dropped() -> None:
    tx = np.array([1, 2, 2, 1, 3, 4, 5], dtype=np.int64)
    x = np.array([100.0, 101.0, 102.0, 103.0, np.nan, -1.0, 104.0])
    ty = np.array([1, 3, 6], dtype=np.int64)
    y = np.array([50.0, 51.0, 52.0])
    r = LL.hayashi_yoshida(tx, x, ty, y, np.array([-1, 0, 1]))
    assert r.counts == {
        "x_used": 3,
        "x_dropped": 3,
        "x_merged": 1,
        "y_used": 3,
        "y_dropped": 0,
        "y_merged": 0,
    }
    good = np.array([0, 2, 6])
    np.testing.assert_allclose(
        r.cov, double_sum(tx[good], x[good], ty, y, [-1, 0, 1]), rtol=1e-12, atol=1e-16
    )
    s = LL.LeadLagStream([0])
    s.push_x(5, 100.0)
    with pytest.raises(ValueError, match="earlier than the previous"):
        s.push_x(4, 100.0)
    with pytest.raises(ValueError, match="finite and > 0"):
        s.push_y(5, 0.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        LL.hayashi_yoshida(tx, x, ty, y, np.array([0, 0]))
    empty = LL.hayashi_yoshida(tx, x, ty[:0], y[:0], np.array([-1, 0, 1]))
    assert empty.best_lag is None and empty.leader is None and np.isnan(empty.corr).all()
