//! The algo toolkit's streaming kernels (`cargo bench -p shijim_core --bench algo`). Prints one
//! JSON line per figure (docs/contracts.md), each beside a baseline measured in the same run.
//! The vectorised numpy / filterpy baselines on the same data are in bench/algo.py.
//!
//! - `algo.features.l5.stream`: every L5 feature of one book (`L5Features::update`, 25
//!   columns incl. 5-level MLOFI), ns per book; target <= 100 ns. Baseline: the MLOFI stream
//!   alone (`MlofiStream::update_into`), the part reused from `crate::ofi`.
//! - `algo.flow.stream`: `TradeFlow::update` (Lee–Ready signing, EW sums), ns per trade.
//!   Baseline: EW buy/sell sums of the reported sides alone (no signing rules, no checks).
//! - `algo.kalman.local_level.stream` / `algo.kalman.hedge_ratio.stream`: one filter step, ns.
//!   Baseline: an EWMA of the same observations (the simplest smoother).
//! - `algo.piq.stream`: `QueueEstimator` on a book or trade, ns per event (power rule).
//!   Baseline: the risk-averse rule on the same events.
//! - `algo.leadlag.hy_1m`: Hayashi–Yoshida over 41 lags on 1 M asynchronous observations per
//!   series, seconds; target < 1 s. Baseline: the same with one lag (0).

mod harness;

use std::hint::black_box;
use std::time::Instant;

use harness::{median, Figure};

use shijim_core::algo::features::{FeatureConfig, L5Features, N_FEATURES};
use shijim_core::algo::flow::{TradeFlow, N_FLOW};
use shijim_core::algo::kalman::{HedgeRatio, HedgeRatioConfig, LocalLevel, LocalLevelConfig};
use shijim_core::algo::leadlag::hayashi_yoshida;
use shijim_core::algo::piq::{PiqConfig, QueueEstimator, QueueRule};
use shijim_core::engine::types::{Price, Side, L5, LEVELS, PRICE_SCALE};
use shijim_core::ofi::MlofiStream;

const SAMPLES: usize = 31;

/// One book as the MLOFI stream reads it: prices as mantissas, quantities.
type MlofiRow = ([f64; LEVELS], [i64; LEVELS], [f64; LEVELS], [i64; LEVELS]);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A TXF-like walk: best bid moves -2..+2 ticks, spread 1-2 ticks, five levels.
fn books(n: usize, seed: u64) -> Vec<L5> {
    let mut r = Rng(seed | 1);
    let mut bid = 22_000i64;
    (0..n)
        .map(|_| {
            bid += (r.next() % 5) as i64 - 2;
            let spread = 1 + (r.next() % 2) as i64;
            let mut b = L5::default();
            for m in 0..LEVELS {
                b.bid.price[m] = Price((bid - m as i64) * PRICE_SCALE);
                b.ask.price[m] = Price((bid + spread + m as i64) * PRICE_SCALE);
                b.bid.qty[m] = (r.next() % 60) as i64;
                b.ask.qty[m] = (r.next() % 60) as i64;
            }
            b
        })
        .collect()
}

/// Median ns per item over `SAMPLES` passes of `f` over `n` items.
fn ns_per_item(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_nanos() as f64 / n as f64
            })
            .collect(),
    )
}

fn figure(bench: &str, unit: &str, m: f64, base: (&str, f64), target: Option<(&str, bool)>) {
    Figure {
        bench,
        unit,
        median: m,
        samples: SAMPLES,
        baseline: base,
        target: target.map(|t| t.0),
        pass: target.map(|t| t.1),
        extra: &[],
    }
    .print();
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("bench input refused ({what}): {e}");
    std::process::exit(1);
}

fn features() {
    let n = 4096;
    let data = books(n, 42);
    let cfg = FeatureConfig::default();
    let mut s = L5Features::new_checked(cfg).unwrap_or_else(|e| fail("features", e));
    let mut out = [0.0; N_FEATURES];
    let kernel = ns_per_item(n, || {
        for b in &data {
            if let Err(e) = s.update(black_box(b), &mut out) {
                fail("features", e);
            }
            black_box(&out);
        }
    });
    // The MLOFI part alone, on the same books as the core's own stream reads them.
    let rows: Vec<MlofiRow> = data
        .iter()
        .map(|b| {
            (
                b.bid.price.map(|p| p.0 as f64),
                b.bid.qty,
                b.ask.price.map(|p| p.0 as f64),
                b.ask.qty,
            )
        })
        .collect();
    let mut m = MlofiStream::new(LEVELS).unwrap_or_else(|e| fail("mlofi", e));
    let mut e = [0.0; LEVELS];
    let base = ns_per_item(n, || {
        for (bp, bq, ap, aq) in &rows {
            if let Err(err) = m.update_into(bp, bq, ap, aq, &mut e) {
                fail("mlofi", err);
            }
            black_box(&e);
        }
    });
    figure(
        "algo.features.l5.stream",
        "ns/book",
        kernel,
        ("MlofiStream::update_into (5-level MLOFI alone)", base),
        Some(("<= 100 ns per book", kernel <= 100.0)),
    );
}

fn flow() {
    let n = 4096;
    let mut r = Rng(7);
    let trades: Vec<(Price, i64, Option<Side>, f64)> = (0..n)
        .map(|_| {
            let p = 22_000 + (r.next() % 4) as i64;
            let side = [None, Some(Side::Buy), Some(Side::Sell)][(r.next() % 3) as usize];
            (
                Price(p * PRICE_SCALE),
                1 + (r.next() % 5) as i64,
                side,
                22_001.5,
            )
        })
        .collect();
    let mut f = TradeFlow::new_checked(50.0).unwrap_or_else(|e| fail("flow", e));
    let mut out = [0.0; N_FLOW];
    let kernel = ns_per_item(n, || {
        for &(p, q, s, mid) in &trades {
            if let Err(e) = f.update(black_box(p), q, s, mid, &mut out) {
                fail("flow", e);
            }
            black_box(&out);
        }
    });
    // The bare arithmetic: EW buy/sell sums of reported sides, no signing rules, no checks.
    let base = ns_per_item(n, || {
        let (mut b, mut s) = (0.0f64, 0.0f64);
        for &(_, q, side, _) in &trades {
            let q = black_box(q) as f64;
            b = 0.986 * b + if side == Some(Side::Buy) { q } else { 0.0 };
            s = 0.986 * s + if side == Some(Side::Sell) { q } else { 0.0 };
            black_box((b, s));
        }
    });
    figure(
        "algo.flow.stream",
        "ns/trade",
        kernel,
        (
            "EW buy/sell sums of reported sides (no Lee-Ready, no checks)",
            base,
        ),
        None,
    );
}

fn kalman() {
    let n = 4096;
    let mut r = Rng(9);
    let obs: Vec<(i64, f64, f64, f64)> = (0..n as i64)
        .map(|i| {
            let y = 22_000.0 + r.unit();
            let y = if i % 50 == 7 { f64::NAN } else { y };
            (i * 250_000, y, 0.25 + r.unit(), 11_000.0 + r.unit())
        })
        .collect();
    let cfg = LocalLevelConfig {
        q_per_s: 4.0,
        q_per_obs: 0.0,
        x0: f64::NAN,
        p0: 0.0,
    };
    let mut out = [0.0; 6];
    // The simplest smoother of the same observations: an EWMA skipping missing ones.
    let base = ns_per_item(n, || {
        let mut x = f64::NAN;
        for &(_, y, ..) in &obs {
            let y = black_box(y);
            if !y.is_nan() {
                x = if x.is_nan() { y } else { x + 0.1 * (y - x) };
            }
            black_box(x);
        }
    });
    let level = ns_per_item(n, || {
        let mut f = LocalLevel::new_checked(cfg).unwrap_or_else(|e| fail("kalman", e));
        for &(t, y, rv, _) in &obs {
            if let Err(e) = f.step(t, black_box(y), rv, &mut out) {
                fail("kalman", e);
            }
            black_box(&out);
        }
    });
    figure(
        "algo.kalman.local_level.stream",
        "ns/obs",
        level,
        ("EWMA of the same observations", base),
        None,
    );
    let hcfg = HedgeRatioConfig {
        q_alpha: 1e-6,
        q_beta: 1e-6,
        r: 1.0,
        alpha0: 0.0,
        beta0: 2.0,
        p0_alpha: 1.0,
        p0_beta: 1.0,
    };
    let mut hout = [0.0; 9];
    let hedge = ns_per_item(n, || {
        let mut f = HedgeRatio::new_checked(hcfg).unwrap_or_else(|e| fail("hedge", e));
        for &(_, y, _, x) in &obs {
            if let Err(e) = f.step(black_box(x), y, &mut hout) {
                fail("hedge", e);
            }
            black_box(&hout);
        }
    });
    figure(
        "algo.kalman.hedge_ratio.stream",
        "ns/obs",
        hedge,
        ("EWMA of the same observations", base),
        None,
    );
}

fn piq() {
    let n = 4096;
    let data = books(n, 11);
    let mut r = Rng(3);
    // Every third event a trade at the order's price (the best bid of the first book).
    let price = data[0].bid.price[0];
    let events: Vec<(i64, Option<&L5>, i64)> = data
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let t = i as i64 * 100_000;
            if r.next() % 3 == 0 {
                (t, None, 1 + (r.next() % 3) as i64)
            } else {
                (t, Some(b), 0)
            }
        })
        .collect();
    let run = |rule: QueueRule| {
        let cfg =
            PiqConfig::new_checked(rule, false, 1_000_000_000).unwrap_or_else(|e| fail("piq", e));
        ns_per_item(n, || {
            let mut q =
                QueueEstimator::new_checked(cfg, Side::Buy, price, 1_000_000, 0, Some(&data[0]))
                    .unwrap_or_else(|e| fail("piq", e));
            for &(t, b, qty) in &events {
                let s = match b {
                    Some(b) => q.on_book(t, black_box(b)),
                    None => q.on_trade(t, price, qty, None),
                };
                if let Err(e) = s {
                    fail("piq", e);
                }
                black_box(&s);
            }
        })
    };
    let power = run(QueueRule::Power(2.0));
    let averse = run(QueueRule::RiskAverse);
    figure(
        "algo.piq.stream",
        "ns/event",
        power,
        ("risk-averse rule, same events", averse),
        None,
    );
}

/// CPU time of the calling thread, seconds (NaN if the clock is unavailable).
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn leadlag() {
    let n = 1_000_000;
    let mut r = Rng(21);
    // One Brownian path; X sees it now, Y 300 us later, each at its own Poisson-like times.
    let (mut tx, mut x, mut ty, mut y) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut t, mut p) = (0i64, 0.0f64);
    let mut path = Vec::with_capacity(2 * n);
    for _ in 0..2 * n {
        t += 1 + (r.next() % 100_000) as i64;
        p += (r.unit() - 0.5) * 1e-4;
        path.push((t, p));
    }
    let at = |tt: i64| {
        let k = path.partition_point(|&(s, _)| s <= tt);
        path[k.saturating_sub(1)].1
    };
    let mut s = 0i64;
    for _ in 0..n {
        s += 1 + (r.next() % 200_000) as i64;
        tx.push(s);
        x.push(100.0 * (at(s)).exp());
    }
    s = 0;
    for _ in 0..n {
        s += 1 + (r.next() % 200_000) as i64;
        ty.push(s);
        y.push(100.0 * (at(s - 300_000)).exp());
    }
    let lags: Vec<i64> = (-20..=20).map(|k| k * 50_000).collect();
    let samples = 5;
    // (wall, this thread's CPU) seconds, medians: on a shared machine the CPU time shows the
    // work itself when other processes stretch the wall time.
    let time = |lags: &[i64]| {
        let (wall, cpu): (Vec<f64>, Vec<f64>) = (0..samples)
            .map(|_| {
                let (t0, c0) = (Instant::now(), thread_cpu_s());
                let res = hayashi_yoshida(lags, true, &tx, &x, &ty, &y)
                    .unwrap_or_else(|e| fail("leadlag", e));
                black_box(&res);
                (t0.elapsed().as_secs_f64(), thread_cpu_s() - c0)
            })
            .unzip();
        (median(wall), median(cpu))
    };
    let (full, full_cpu) = time(&lags);
    let (one, _) = time(&[0]);
    let res = hayashi_yoshida(&lags, true, &tx, &x, &ty, &y).unwrap_or_else(|e| fail("ll", e));
    Figure {
        bench: "algo.leadlag.hy_1m",
        unit: "s",
        median: full,
        samples,
        baseline: ("the same sweep with one lag (0)", one),
        target: Some("< 1 s for 1 M observations per series"),
        pass: Some(full < 1.0),
        extra: &[
            ("cpu_s", full_cpu),
            ("lags", lags.len() as f64),
            ("best_lag_ns", res.best_lag.map_or(f64::NAN, |l| l as f64)),
            ("true_lag_ns", 300_000.0),
        ],
    }
    .print();
}

fn main() {
    features();
    flow();
    kalman();
    piq();
    leadlag();
}
