"""The algo toolkit from Python: each Rust kernel (through its batch API, which runs the
streaming update row by row) beside a vectorised numpy baseline, or filterpy for the Kalman
filters, on the same data, timed side by side in this process. Prints one JSON line per figure
(docs/contracts.md). The Rust per-event figures (ns per book, the 100 ns target) are in
shijim_core/benches/algo.rs.

    .venv/bin/python bench/algo.py

- algo.features.py_batch_100k: all 25 L5 features of 100k five-level books, M books/s;
  baseline: the same formulas vectorised in numpy (the EW realised variance in 256-row blocks).
- algo.flow.py_batch_100k: trade signs (Lee-Ready) and EW flows of 100k trades, M trades/s;
  baseline: numpy (quote rule with np.where, tick rule by forward fill, EW sums in blocks).
- algo.kalman.local_level.py_batch / algo.kalman.hedge_ratio.py_batch: k obs/s over 20k
  observations; baseline: filterpy's KalmanFilter stepped over the same observations.
- algo.piq.py_batch_100k: the risk-averse queue of one order over 100k events, M events/s;
  baseline: the same path in numpy (a running minimum). The power rule is printed beside it.
- algo.leadlag.py_hy_1m: Hayashi-Yoshida over 41 lags, 1 M observations per series, seconds;
  target < 1 s; baseline: numpy's binary searches of the same telescoped sum.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from figure import emit, median_seconds
from filterpy.kalman import KalmanFilter

import shijim_core

SAMPLES = 7
BLOCK = 256


def books(n: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    """Valid five-level books (a TXF-like walk, tick 1)."""
    rng = np.random.default_rng(seed)
    bid = 22000.0 + np.cumsum(rng.integers(-2, 3, size=n))
    spread = rng.integers(1, 3, size=n)
    m = np.arange(5)
    bp = bid[:, None] - m
    ap = (bid + spread)[:, None] + m
    bq = rng.integers(0, 60, size=(n, 5)).astype(np.float64)
    aq = rng.integers(0, 60, size=(n, 5)).astype(np.float64)
    return bp, bq, ap, aq


def ew_sum(x: np.ndarray, decay: float) -> np.ndarray:
    """y_n = decay * y_{n-1} + x_n, vectorised in blocks (decay^-k stays finite in a block)."""
    out = np.empty_like(x)
    carry = 0.0
    k = np.arange(BLOCK, dtype=np.float64)
    up, down = decay**-k, decay**k
    for s in range(0, x.size, BLOCK):
        b = x[s : s + BLOCK]
        j = b.size
        y = np.cumsum(b * up[:j]) * down[:j] + carry * decay ** (k[:j] + 1)
        out[s : s + j] = y
        carry = y[-1]
    return out


def numpy_features(bp, bq, ap, aq, halflife: float = 100.0) -> np.ndarray:
    n = bp.shape[0]
    out = np.empty((n, 25))
    mid = (bp[:, 0] + ap[:, 0]) / 2
    out[:, 0] = mid
    out[:, 1] = ap[:, 0] - bp[:, 0]
    t0 = bq[:, 0] + aq[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 2] = np.where(t0 > 0, (bp[:, 0] * aq[:, 0] + ap[:, 0] * bq[:, 0]) / t0, mid)
        sb, sa = bq.sum(1), aq.sum(1)
        vb = np.where(sb > 0, (bp * bq).sum(1) / sb, bp[:, 0])
        va = np.where(sa > 0, (ap * aq).sum(1) / sa, ap[:, 0])
        out[:, 3] = np.where(sb + sa > 0, (vb * sa + va * sb) / (sb + sa), mid)
        t = bq + aq
        out[:, 4:9] = np.where(t > 0, (bq - aq) / t, 0.0)
        cb, ca = np.cumsum(bq, 1), np.cumsum(aq, 1)
        out[:, 9:14] = np.where(cb + ca > 0, (cb - ca) / (cb + ca), 0.0)
        db, da = mid[:, None] - bp, ap - mid[:, None]
        out[:, 14] = (db * cb).sum(1) / (db**2).sum(1)
        out[:, 15] = (da * ca).sum(1) / (da**2).sum(1)
        pb, pa = (bq / db).sum(1), (aq / da).sum(1)
        out[:, 16] = np.where(pb + pa > 0, (pb - pa) / (pb + pa), 0.0)
    out[0, 17:22] = 0.0
    b, b0, a, a0 = bp[1:], bp[:-1], ap[1:], ap[:-1]
    out[1:, 17:22] = (
        (b >= b0) * bq[1:] - (b <= b0) * bq[:-1] - (a <= a0) * aq[1:] + (a >= a0) * aq[:-1]
    )
    r = np.zeros(n)
    r[1:] = np.log(mid[1:] / mid[:-1])
    out[:, 22] = r
    out[:, 23] = ew_sum(r * r, 0.5 ** (1 / halflife))
    out[:, 24] = 5.0
    return out


def numpy_flow(price, qty, side, mid, halflife: float) -> np.ndarray:
    n = price.size
    change = np.zeros(n)
    change[1:] = np.sign(np.diff(price))
    idx = np.where(change != 0, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    tick = change[idx]  # the sign of the last non-zero change (0 before one)
    quote = np.where(np.isfinite(mid) & (price != mid), np.sign(price - mid), 0.0)
    reported = np.where(side == 1, 1.0, np.where(side == 2, -1.0, 0.0))
    sign = np.where(reported != 0, reported, np.where(quote != 0, quote, tick))
    decay = 0.5 ** (1 / halflife)
    buy = ew_sum(np.where(sign > 0, qty, 0.0), decay)
    sell = ew_sum(np.where(sign < 0, qty, 0.0), decay)
    with np.errstate(invalid="ignore"):
        imb = np.where(buy + sell > 0, (buy - sell) / (buy + sell), 0.0)
    return np.column_stack([sign, sign * qty, buy, sell, buy - sell, imb])


def bench_features() -> None:
    n = 100_000
    arrays = books(n)
    core = shijim_core.l5_features(*arrays)[0]
    if not np.allclose(core, numpy_features(*arrays), rtol=1e-9, atol=1e-12):
        raise SystemExit("features: core and numpy disagree: refusing to time them")
    t_core = median_seconds(lambda: shijim_core.l5_features(*arrays), SAMPLES)
    t_np = median_seconds(lambda: numpy_features(*arrays), SAMPLES)
    emit(
        "algo.features.py_batch_100k",
        "M books/s",
        n / t_core / 1e6,
        SAMPLES,
        ("vectorised numpy, same formulas and books", n / t_np / 1e6),
        None,
        None,
        higher_is_better=True,
    )


def bench_flow() -> None:
    n = 100_000
    rng = np.random.default_rng(2)
    price = 22000.0 + rng.integers(0, 4, size=n)
    qty = rng.integers(1, 6, size=n).astype(np.float64)
    side = rng.integers(0, 3, size=n).astype(np.int64)
    mid = np.where(rng.random(n) < 0.5, np.nan, 22001.5)
    side[0] = 1  # a first trade with a known side: the tick rule always has a sign after it
    core = shijim_core.trade_flow(price, qty, side, mid, 50.0)[0]
    if not np.allclose(core[:, :6], numpy_flow(price, qty, side, mid, 50.0), rtol=1e-9):
        raise SystemExit("flow: core and numpy disagree: refusing to time them")
    t_core = median_seconds(lambda: shijim_core.trade_flow(price, qty, side, mid, 50.0), SAMPLES)
    t_np = median_seconds(lambda: numpy_flow(price, qty, side, mid, 50.0), SAMPLES)
    emit(
        "algo.flow.py_batch_100k",
        "M trades/s",
        n / t_core / 1e6,
        SAMPLES,
        ("vectorised numpy (Lee-Ready, EW sums in blocks)", n / t_np / 1e6),
        None,
        None,
        higher_is_better=True,
    )


def filterpy_level(t, y, r, q):
    kf = KalmanFilter(dim_x=1, dim_z=1)
    kf.F = np.eye(1)
    kf.H = np.eye(1)
    kf.x = np.array([[y[0]]])
    kf.P = np.array([[r[0]]])
    xs = [y[0]]
    for i in range(1, t.size):
        kf.Q = np.array([[q * (t[i] - t[i - 1]) * 1e-9]])
        kf.predict()
        kf.update(y[i], R=r[i])
        xs.append(kf.x[0, 0])
    return np.array(xs)


def filterpy_hedge(x, y, q, r):
    kf = KalmanFilter(dim_x=2, dim_z=1)
    kf.x = np.array([[0.0], [1.0]])
    kf.P = np.eye(2)
    kf.Q = np.diag([q, q])
    kf.R = np.array([[r]])
    out = []
    for xi, yi in zip(x, y, strict=True):
        kf.predict()
        kf.H = np.array([[1.0, xi]])
        kf.update(yi)
        out.append(kf.x[1, 0])
    return np.array(out)


def bench_kalman() -> None:
    n = 20_000
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.integers(1, 10_000_000, size=n)).astype(np.int64)
    y = 22000 + np.cumsum(rng.normal(size=n)) + rng.normal(size=n)
    r = np.where(rng.random(n) < 0.3, 2.0, 0.5)
    core = shijim_core.local_level_filter(t, y, r, 4.0)[0][:, 0]
    if not np.allclose(core, filterpy_level(t, y, r, 4.0), rtol=1e-10):
        raise SystemExit("kalman: core and filterpy disagree: refusing to time them")
    t_core = median_seconds(lambda: shijim_core.local_level_filter(t, y, r, 4.0), SAMPLES)
    t_ref = median_seconds(lambda: filterpy_level(t, y, r, 4.0), 3)
    emit(
        "algo.kalman.local_level.py_batch",
        "k obs/s",
        n / t_core / 1e3,
        SAMPLES,
        ("filterpy KalmanFilter, same observations", n / t_ref / 1e3),
        None,
        None,
        higher_is_better=True,
    )
    x = np.cumsum(rng.normal(scale=1e-3, size=n))
    yy = 0.5 + 1.1 * x + rng.normal(scale=1e-4, size=n)
    args = (1e-6, 1e-6, 1e-8, 0.0, 1.0, 1.0, 1.0)
    core = shijim_core.hedge_ratio_filter(x, yy, *args)[0][:, 1]
    if not np.allclose(core, filterpy_hedge(x, yy, 1e-6, 1e-8), rtol=1e-7, atol=1e-9):
        raise SystemExit("hedge ratio: core and filterpy disagree: refusing to time them")
    t_core = median_seconds(lambda: shijim_core.hedge_ratio_filter(x, yy, *args), SAMPLES)
    t_ref = median_seconds(lambda: filterpy_hedge(x, yy, 1e-6, 1e-8), 3)
    emit(
        "algo.kalman.hedge_ratio.py_batch",
        "k obs/s",
        n / t_core / 1e3,
        SAMPLES,
        ("filterpy KalmanFilter (2-state), same observations", n / t_ref / 1e3),
        None,
        None,
        higher_is_better=True,
    )


def bench_piq() -> None:
    n = 100_000
    rng = np.random.default_rng(4)
    is_trade = rng.random(n) < 0.3
    level = rng.integers(0, 60, size=n).astype(np.float64)
    qty = rng.integers(1, 3, size=n).astype(np.float64)
    is_trade[0], level[0] = False, 50.0  # the order joins behind 50 lots at the first book
    t = np.arange(1, n + 1, dtype=np.int64) * 1_000_000
    kind = np.where(is_trade, 1, 0).astype(np.int64)
    bp = np.tile([100.0, 99.0], (n, 1))
    bq = np.column_stack([level, np.full(n, 5.0)])
    ap = np.tile([101.0, 102.0], (n, 1))
    aq = np.full((n, 2), 5.0)
    px, side = np.full(n, 100.0), np.full(n, 2, dtype=np.int64)

    def core(rule: str) -> np.ndarray:
        return shijim_core.queue_estimates(
            1, 100.0, 10**6, 500_000, t, kind, bp, bq, ap, aq, px, qty, side, rule
        )[0]

    def numpy_path() -> np.ndarray:
        c = np.cumsum(np.where(is_trade, qty, 0.0))
        g = np.minimum.accumulate(np.where(is_trade, np.inf, level + c))
        return np.maximum(np.minimum(g, 50.0) - c, 0.0)

    if not np.array_equal(core("risk_averse")[:, 1], numpy_path()):
        raise SystemExit("piq: core and numpy disagree: refusing to time them")
    t_core = median_seconds(lambda: core("risk_averse"), SAMPLES)
    t_power = median_seconds(lambda: core("power"), SAMPLES)
    t_np = median_seconds(numpy_path, SAMPLES)
    emit(
        "algo.piq.py_batch_100k",
        "M events/s",
        n / t_core / 1e6,
        SAMPLES,
        ("numpy running minimum, risk-averse rule", n / t_np / 1e6),
        None,
        None,
        higher_is_better=True,
        power_rule_m_events_s=round(n / t_power / 1e6, 3),
    )


def lagged(n: int, lag_ns: int, seed: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    pt = np.cumsum(rng.integers(1, 100_000, size=2 * n))
    pp = np.cumsum(rng.normal(scale=1e-4, size=2 * n))

    def observe(delay: int) -> tuple[np.ndarray, np.ndarray]:
        t = np.cumsum(rng.integers(1, 200_000, size=n)).astype(np.int64)
        k = np.maximum(np.searchsorted(pt, t - delay, side="right") - 1, 0)
        return t, 100.0 * np.exp(pp[k])

    tx, x = observe(0)
    ty, y = observe(lag_ns)
    return tx, x, ty, y


def numpy_hy(tx, x, ty, y, lags) -> np.ndarray:
    lx, ly = np.log(x), np.log(y)
    dx = np.diff(lx)
    out = np.empty(lags.size)
    for i, lag in enumerate(lags):
        nxt = np.minimum(np.searchsorted(ty, tx[1:] + lag, side="left"), ty.size - 1)
        prv = np.maximum(np.searchsorted(ty, tx[:-1] + lag, side="right") - 1, 0)
        out[i] = (dx * (ly[nxt] - ly[prv])).sum()
    return out


def bench_leadlag() -> None:
    n = 1_000_000
    tx, x, ty, y = lagged(n, 300_000)
    lags = np.arange(-20, 21, dtype=np.int64) * 50_000
    res = shijim_core.hayashi_yoshida(tx, x, ty, y, lags)
    if not np.allclose(res["cov"], numpy_hy(tx, x, ty, y, lags), rtol=1e-9, atol=1e-15):
        raise SystemExit("lead-lag: core and numpy disagree: refusing to time them")
    samples = 5
    t_core = median_seconds(lambda: shijim_core.hayashi_yoshida(tx, x, ty, y, lags), samples)
    cpu = []  # this thread's CPU time: the work itself, when a shared machine stretches the wall
    for _ in range(samples):
        c0 = time.thread_time()
        shijim_core.hayashi_yoshida(tx, x, ty, y, lags)
        cpu.append(time.thread_time() - c0)
    t_np = median_seconds(lambda: numpy_hy(tx, x, ty, y, lags), 3)
    emit(
        "algo.leadlag.py_hy_1m",
        "s",
        t_core,
        samples,
        ("numpy searchsorted form, same data and lags", t_np),
        "< 1 s for 1 M observations per series",
        t_core < 1.0,
        cpu_s=round(statistics.median(cpu), 3),
        lags=int(lags.size),
        best_lag_ns=res["best_lag"],
        true_lag_ns=300_000,
    )


def main() -> None:
    bench_features()
    bench_flow()
    bench_kalman()
    bench_piq()
    bench_leadlag()


if __name__ == "__main__":
    main()
