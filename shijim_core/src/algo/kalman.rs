//! Kalman filters for fair value and pairs, one observation at a time or over a batch (the
//! same step row by row). docs/signals.md ("Kalman filters") has the models.
//!
//! **Local level** ([`LocalLevel`]): the fair price x follows a random walk and every mid or
//! trade is a noisy look at it,
//!
//! ```text
//! x_t = x_{t-1} + w_t,   w_t ~ N(0, q_per_s * dt_seconds + q_per_obs)
//! y_t = x_t + v_t,       v_t ~ N(0, r_t)     (r_t per observation: mids and trades differ)
//! ```
//!
//! Predict: `P += q_per_s * dt + q_per_obs`; update with `S = P + r`, `K = P / S`,
//! `x += K (y - x)`, `P = (1 - K)^2 P + K^2 r` (Joseph form, as filterpy). With `x0 = NaN`
//! (diffuse start) the first observation sets `x = y`, `P = r`.
//!
//! **Dynamic hedge ratio** ([`HedgeRatio`]): `y_t = alpha_t + beta_t x_t + v_t`, with alpha and
//! beta random walks (variances `q_alpha`, `q_beta` per step) and `v ~ N(0, r)`: the
//! time-varying regression of Montana, Triantafyllopoulos & Tsagaris (2009) and of Chan (2013,
//! "Algorithmic Trading", ch. 3). The output `spread` is the prior residual
//! `y - (alpha + beta x)` and `zscore = spread / sqrt(S)`.
//!
//! Missing observations (NaN) only predict: the state is carried, never contaminated. An
//! infinite observation or a variance that is not > 0 is an [`AlgoError`] (the step is
//! dropped, the state unchanged). Time going backwards counts as dt = 0 (`stale_time`).

use super::AlgoError;

/// Columns of a local-level output row (`LOCAL_LEVEL_NAMES` in Python).
pub const LEVEL_NAMES: [&str; 6] = ["x", "p", "innovation", "s", "gain", "used"];
pub type LevelRow = [f64; 6];

/// Columns of a hedge-ratio output row (`HEDGE_RATIO_NAMES` in Python).
pub const HEDGE_NAMES: [&str; 9] = [
    "alpha", "beta", "spread", "s", "zscore", "p_aa", "p_ab", "p_bb", "used",
];
pub type HedgeRow = [f64; 9];

fn nonneg(field: &'static str, v: f64) -> Result<f64, AlgoError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(AlgoError::config(
            field,
            format!("must be finite and >= 0, got {v}"),
        ))
    }
}

/// Settings of the local-level filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalLevelConfig {
    /// Random-walk variance per second of clock time (price^2 / s).
    pub q_per_s: f64,
    /// Random-walk variance per step (price^2), whatever the time between steps.
    pub q_per_obs: f64,
    /// Initial fair price; NaN: start from the first observation.
    pub x0: f64,
    /// Initial variance (used when `x0` is given).
    pub p0: f64,
}

/// The local-level filter.
#[derive(Debug, Clone)]
pub struct LocalLevel {
    cfg: LocalLevelConfig,
    x: f64,
    p: f64,
    started: bool,
    t_last: Option<i64>,
    stale_time: u64,
}

impl LocalLevel {
    pub fn new_checked(cfg: LocalLevelConfig) -> Result<LocalLevel, AlgoError> {
        nonneg("q_per_s", cfg.q_per_s)?;
        nonneg("q_per_obs", cfg.q_per_obs)?;
        if cfg.x0.is_infinite() {
            return Err(AlgoError::config(
                "x0",
                "must be finite, or NaN to start from the first observation",
            ));
        }
        let started = cfg.x0.is_finite();
        if started {
            nonneg("p0", cfg.p0)?;
        }
        Ok(LocalLevel {
            cfg,
            x: cfg.x0,
            p: if started { cfg.p0 } else { f64::NAN },
            started,
            t_last: None,
            stale_time: 0,
        })
    }

    pub fn config(&self) -> LocalLevelConfig {
        self.cfg
    }

    /// The fair price now (NaN before the first observation).
    pub fn x(&self) -> f64 {
        self.x
    }

    pub fn p(&self) -> f64 {
        self.p
    }

    /// Steps whose time was earlier than the previous step's (run with dt = 0).
    pub fn stale_time(&self) -> u64 {
        self.stale_time
    }

    /// One step at `t_ns`: predict, then update with `y` (variance `r`) unless `y` is NaN.
    pub fn step(&mut self, t_ns: i64, y: f64, r: f64, out: &mut LevelRow) -> Result<(), AlgoError> {
        let observed = !y.is_nan();
        if observed && y.is_infinite() {
            return Err(AlgoError::input(
                "y",
                format!("{y}: not finite (NaN marks a missing observation)"),
            ));
        }
        if observed && !(r.is_finite() && r > 0.0) {
            return Err(AlgoError::input(
                "r",
                format!("{r}: the observation variance must be finite and > 0"),
            ));
        }
        let dt = match self.t_last {
            Some(tl) if t_ns < tl => {
                self.stale_time += 1;
                0
            }
            Some(tl) => t_ns.saturating_sub(tl),
            None => 0,
        };
        self.t_last = Some(self.t_last.map_or(t_ns, |tl| tl.max(t_ns)));
        if self.started {
            self.p += self.cfg.q_per_s * (dt as f64 * 1e-9) + self.cfg.q_per_obs;
        }
        if !observed {
            *out = [self.x, self.p, f64::NAN, f64::NAN, 0.0, 0.0];
            return Ok(());
        }
        if !self.started {
            self.x = y;
            self.p = r;
            self.started = true;
            *out = [self.x, self.p, f64::NAN, f64::NAN, 1.0, 1.0];
            return Ok(());
        }
        let s = self.p + r;
        let k = self.p / s;
        let innovation = y - self.x;
        self.x += k * innovation;
        let a = 1.0 - k;
        self.p = a * a * self.p + k * k * r;
        *out = [self.x, self.p, innovation, s, k, 1.0];
        Ok(())
    }
}

/// Settings of the hedge-ratio filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeRatioConfig {
    /// Per-step random-walk variance of the intercept (0: a fixed intercept).
    pub q_alpha: f64,
    /// Per-step random-walk variance of the hedge ratio.
    pub q_beta: f64,
    /// Observation variance.
    pub r: f64,
    pub alpha0: f64,
    pub beta0: f64,
    pub p0_alpha: f64,
    pub p0_beta: f64,
}

/// The dynamic hedge-ratio filter (state: intercept, hedge ratio).
#[derive(Debug, Clone)]
pub struct HedgeRatio {
    cfg: HedgeRatioConfig,
    a: f64,
    b: f64,
    /// Covariance [[p00, p01], [p01, p11]].
    p00: f64,
    p01: f64,
    p11: f64,
}

impl HedgeRatio {
    pub fn new_checked(cfg: HedgeRatioConfig) -> Result<HedgeRatio, AlgoError> {
        nonneg("q_alpha", cfg.q_alpha)?;
        nonneg("q_beta", cfg.q_beta)?;
        nonneg("p0_alpha", cfg.p0_alpha)?;
        nonneg("p0_beta", cfg.p0_beta)?;
        if !(cfg.r.is_finite() && cfg.r > 0.0) {
            return Err(AlgoError::config(
                "r",
                format!("must be finite and > 0, got {}", cfg.r),
            ));
        }
        for (field, v) in [("alpha0", cfg.alpha0), ("beta0", cfg.beta0)] {
            if !v.is_finite() {
                return Err(AlgoError::config(field, format!("must be finite, got {v}")));
            }
        }
        Ok(HedgeRatio {
            cfg,
            a: cfg.alpha0,
            b: cfg.beta0,
            p00: cfg.p0_alpha,
            p01: 0.0,
            p11: cfg.p0_beta,
        })
    }

    pub fn config(&self) -> HedgeRatioConfig {
        self.cfg
    }

    /// (intercept, hedge ratio) now.
    pub fn state(&self) -> (f64, f64) {
        (self.a, self.b)
    }

    /// One step: predict, then update with the pair (x, y) unless either is NaN.
    pub fn step(&mut self, x: f64, y: f64, out: &mut HedgeRow) -> Result<(), AlgoError> {
        for (field, v) in [("x", x), ("y", y)] {
            if v.is_infinite() {
                return Err(AlgoError::input(
                    field,
                    format!("{v}: not finite (NaN marks a missing observation)"),
                ));
            }
        }
        self.p00 += self.cfg.q_alpha;
        self.p11 += self.cfg.q_beta;
        if x.is_nan() || y.is_nan() {
            *out = [
                self.a,
                self.b,
                f64::NAN,
                f64::NAN,
                f64::NAN,
                self.p00,
                self.p01,
                self.p11,
                0.0,
            ];
            return Ok(());
        }
        let r = self.cfg.r;
        let (p00, p01, p11) = (self.p00, self.p01, self.p11);
        // H = [1, x]; P H' = [p00 + x p01, p01 + x p11].
        let (ph0, ph1) = (p00 + x * p01, p01 + x * p11);
        let s = ph0 + x * ph1 + r;
        let (k0, k1) = (ph0 / s, ph1 / s);
        let e = y - (self.a + self.b * x);
        self.a += k0 * e;
        self.b += k1 * e;
        // Joseph form: P = A P A' + r K K' with A = I - K H = [[1 - k0, -k0 x], [-k1, 1 - k1 x]].
        let (a00, a01, a10, a11) = (1.0 - k0, -k0 * x, -k1, 1.0 - k1 * x);
        // M = A P
        let (m00, m01) = (a00 * p00 + a01 * p01, a00 * p01 + a01 * p11);
        let (m10, m11) = (a10 * p00 + a11 * p01, a10 * p01 + a11 * p11);
        self.p00 = m00 * a00 + m01 * a01 + r * k0 * k0;
        self.p01 = m00 * a10 + m01 * a11 + r * k0 * k1;
        self.p11 = m10 * a10 + m11 * a11 + r * k1 * k1;
        *out = [
            self.a,
            self.b,
            e,
            s,
            e / s.sqrt(),
            self.p00,
            self.p01,
            self.p11,
            1.0,
        ];
        Ok(())
    }
}

/// The local-level filter over N observations (`t_ns`, `y`, `r` per row): `out` (N, 6)
/// row-major, `ok[r]` false for a refused row (NaN outputs; the filter goes on). Returns the
/// number refused and the first refusal.
pub fn local_level_batch(
    cfg: LocalLevelConfig,
    t_ns: &[i64],
    y: &[f64],
    r: &[f64],
    out: &mut [f64],
    ok: &mut [bool],
) -> Result<(usize, Option<AlgoError>), AlgoError> {
    let n = t_ns.len();
    super::same_len(n, &[("y", y.len()), ("r", r.len()), ("ok", ok.len())])?;
    super::same_len(n * 6, &[("out", out.len())])?;
    let mut f = LocalLevel::new_checked(cfg)?;
    Ok(super::each_row(out, ok, |i, row: &mut LevelRow| {
        f.step(t_ns[i], y[i], r[i], row)
    }))
}

/// The hedge-ratio filter over N pairs: `out` (N, 9) row-major; as [`local_level_batch`].
pub fn hedge_ratio_batch(
    cfg: HedgeRatioConfig,
    x: &[f64],
    y: &[f64],
    out: &mut [f64],
    ok: &mut [bool],
) -> Result<(usize, Option<AlgoError>), AlgoError> {
    let n = x.len();
    super::same_len(n, &[("y", y.len()), ("ok", ok.len())])?;
    super::same_len(n * 9, &[("out", out.len())])?;
    let mut f = HedgeRatio::new_checked(cfg)?;
    Ok(super::each_row(out, ok, |i, row: &mut HedgeRow| {
        f.step(x[i], y[i], row)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(q: f64, x0: f64) -> LocalLevel {
        LocalLevel::new_checked(LocalLevelConfig {
            q_per_s: q,
            q_per_obs: 0.0,
            x0,
            p0: 1.0,
        })
        .unwrap()
    }

    #[test]
    fn local_level_by_hand() {
        let mut f = level(2.0, f64::NAN);
        let mut o = [0.0; 6];
        f.step(0, f64::NAN, 1.0, &mut o).unwrap();
        assert!(o[0].is_nan() && o[5] == 0.0);
        f.step(1_000_000_000, 10.0, 4.0, &mut o).unwrap();
        assert_eq!((o[0], o[1], o[4]), (10.0, 4.0, 1.0));
        // 0.5 s later: P = 4 + 2 * 0.5 = 5; S = 5 + 5 = 10; K = 0.5; x = 10 + 0.5 * 2.
        f.step(1_500_000_000, 12.0, 5.0, &mut o).unwrap();
        assert_eq!((o[0], o[2], o[3], o[4]), (11.0, 2.0, 10.0, 0.5));
        assert_eq!(o[1], 0.25 * 5.0 + 0.25 * 5.0);
        // Missing: predict only.
        f.step(2_500_000_000, f64::NAN, f64::NAN, &mut o).unwrap();
        assert_eq!((o[0], o[1], o[5]), (11.0, 2.5 + 2.0, 0.0));
        assert!(o[2].is_nan());
        // Backwards time: dt = 0, counted.
        f.step(0, f64::NAN, 1.0, &mut o).unwrap();
        assert_eq!((o[1], f.stale_time()), (4.5, 1));
        // Extreme stamps neither overflow nor panic.
        let mut g = level(1.0, 0.0);
        g.step(i64::MIN, 1.0, 1.0, &mut o).unwrap();
        g.step(i64::MAX, 1.0, 1.0, &mut o).unwrap();
        assert!(o[1].is_finite());
    }

    #[test]
    fn local_level_refuses_bad_input_and_keeps_its_state() {
        let mut f = level(1.0, 5.0);
        let mut o = [3.0; 6];
        assert!(f.step(0, f64::INFINITY, 1.0, &mut o).is_err());
        assert!(f
            .step(0, 1.0, 0.0, &mut o)
            .unwrap_err()
            .to_string()
            .starts_with("r:"));
        assert!(f.step(0, 1.0, f64::NAN, &mut o).is_err());
        assert_eq!((o, f.x(), f.p()), ([3.0; 6], 5.0, 1.0));
        assert!(LocalLevel::new_checked(LocalLevelConfig {
            q_per_s: -1.0,
            q_per_obs: 0.0,
            x0: f64::NAN,
            p0: 0.0
        })
        .is_err());
        assert!(LocalLevel::new_checked(LocalLevelConfig {
            q_per_s: 1.0,
            q_per_obs: 0.0,
            x0: f64::INFINITY,
            p0: 0.0
        })
        .is_err());
    }

    fn hedge() -> HedgeRatio {
        HedgeRatio::new_checked(HedgeRatioConfig {
            q_alpha: 1e-6,
            q_beta: 1e-6,
            r: 0.01,
            alpha0: 0.0,
            beta0: 0.0,
            p0_alpha: 100.0,
            p0_beta: 100.0,
        })
        .unwrap()
    }

    #[test]
    fn hedge_ratio_recovers_a_fixed_relation() {
        let mut f = hedge();
        let mut o = [0.0; 9];
        let mut s = 3u64;
        for i in 0..2000 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            let x = 100.0 + ((s >> 33) % 1000) as f64 / 10.0;
            let noise = ((s >> 13) % 100) as f64 / 1000.0 - 0.0495;
            let y = if i % 10 == 3 {
                f64::NAN
            } else {
                2.0 + 0.5 * x + noise
            };
            f.step(x, y, &mut o).unwrap();
        }
        let (a, b) = f.state();
        assert!((b - 0.5).abs() < 1e-2 && (a - 2.0).abs() < 1.0, "{a} {b}");
        assert!(o[6].is_finite() && o[5] > 0.0 && o[7] > 0.0);
    }

    #[test]
    fn hedge_ratio_missing_and_bad_input() {
        let mut f = hedge();
        let mut o = [0.0; 9];
        f.step(f64::NAN, 1.0, &mut o).unwrap();
        assert_eq!((o[0], o[1], o[8]), (0.0, 0.0, 0.0));
        assert_eq!(o[5], 100.0 + 1e-6);
        assert!(o[2].is_nan() && o[4].is_nan());
        let before = f.clone().state();
        assert!(f.step(1.0, f64::NEG_INFINITY, &mut o).is_err());
        assert_eq!(f.state(), before);
        let mut bad = hedge().config();
        bad.r = 0.0;
        assert!(HedgeRatio::new_checked(bad).is_err());
        bad.r = 1.0;
        bad.beta0 = f64::NAN;
        assert!(HedgeRatio::new_checked(bad).is_err());
    }

    #[test]
    fn batches_equal_streams() {
        let n = 300;
        let t: Vec<i64> = (0..n as i64)
            .map(|i| i * 1_000_000 - (i % 17) * 3_000_000)
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| match i % 41 {
                7 => f64::NAN,
                9 => f64::INFINITY,
                _ => 100.0 + (i as f64 * 0.37).sin(),
            })
            .collect();
        let r: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 0.25 } else { 1.0 })
            .collect();
        let cfg = LocalLevelConfig {
            q_per_s: 3.0,
            q_per_obs: 0.01,
            x0: f64::NAN,
            p0: 0.0,
        };
        let mut out = vec![0.0; n * 6];
        let mut ok = vec![false; n];
        let (bad, first) = local_level_batch(cfg, &t, &y, &r, &mut out, &mut ok).unwrap();
        assert_eq!(bad, 8);
        assert!(first.unwrap().to_string().starts_with("y[9] (row 9)"));
        let mut f = LocalLevel::new_checked(cfg).unwrap();
        for i in 0..n {
            let mut row = [0.0; 6];
            assert_eq!(f.step(t[i], y[i], r[i], &mut row).is_ok(), ok[i]);
            if ok[i] {
                let want = &out[i * 6..i * 6 + 6];
                assert!(row
                    .iter()
                    .zip(want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
        let x: Vec<f64> = (0..n).map(|i| 50.0 + (i as f64 * 0.11).cos()).collect();
        let mut out = vec![0.0; n * 9];
        let (bad, _) = hedge_ratio_batch(hedge().config(), &x, &y, &mut out, &mut ok).unwrap();
        assert_eq!(bad, 8);
        let mut f = hedge();
        for i in 0..n {
            let mut row = [0.0; 9];
            assert_eq!(f.step(x[i], y[i], &mut row).is_ok(), ok[i]);
            if ok[i] {
                let want = &out[i * 9..i * 9 + 9];
                assert!(row
                    .iter()
                    .zip(want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
        assert!(local_level_batch(cfg, &t, &y[1..], &r, &mut out, &mut ok).is_err());
    }
}
