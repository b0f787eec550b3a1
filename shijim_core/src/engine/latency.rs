//! The paper venue's order latency: three legs, as in hftbacktest's order-latency model
//! (entry and response legs; docs `latency_models`), plus a cancel/amend leg:
//!
//! - **entry**: from `submit` to the order's arrival at the venue (it sees the book as of then);
//! - **ack** (response): from the venue's action (accept, fill, cancel) to the strategy learning
//!   of it (`VenueEvent::at`);
//! - **cancel**: from `cancel`/`amend` to its arrival at the venue (the order can still fill
//!   until then).
//!
//! [`LatencyModel::LogNormal`] draws `max(floor, median * exp(sigma * z))`, `z ~ N(0, 1)` (Box-Muller
//! over a splitmix64 stream): right-skewed like measured network/broker latency, median exact.
//! Deterministic from the seed: the same seed and the same sequence of draws give the same
//! latencies on every run.
//!
//! Default ([`LatencyModel::shioaji_default`]): median 15 ms per leg, sigma 0.5, floor 1 ms. No
//! published Shioaji order-latency figure was found (docs/execution.md, "The engine's paper venue",
//! says how the default was chosen and how to measure your own: send orders that cannot fill and
//! cancel them, and time `place_order` to the order event and the cancel to its event).

use super::types::Nanos;

/// Nanoseconds per millisecond.
pub const MS: Nanos = 1_000_000;

/// How long each leg takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyModel {
    /// Everything instantaneous (tests and what-if runs only: flatters every strategy).
    Zero,
    /// Fixed legs.
    Constant {
        entry: Nanos,
        ack: Nanos,
        cancel: Nanos,
    },
    /// `max(floor, median * exp(sigma * z))` per draw, one independent draw per message.
    LogNormal {
        median_entry: Nanos,
        median_ack: Nanos,
        median_cancel: Nanos,
        sigma: f64,
        floor: Nanos,
    },
}

impl LatencyModel {
    /// The default: what a retail Shioaji user over the internet plausibly sees per leg
    /// (median 15 ms, sigma 0.5 so p99 ~ 48 ms, floor 1 ms). A conservative choice, not a
    /// measurement: see docs/execution.md.
    pub const fn shioaji_default() -> LatencyModel {
        LatencyModel::LogNormal {
            median_entry: 15 * MS,
            median_ack: 15 * MS,
            median_cancel: 15 * MS,
            sigma: 0.5,
            floor: MS,
        }
    }
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::shioaji_default()
    }
}

/// splitmix64 (Steele, Lea & Flood 2014): tiny, fast, passes BigCrush; enough for latency draws.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so `ln` below is finite.
    pub fn next_open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller, cosine branch). |z| <= ~8.6 because u1 >= 2^-53.
    pub fn next_normal(&mut self) -> f64 {
        let u1 = self.next_open01();
        let u2 = self.next_open01();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Which leg a draw is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    Entry,
    Ack,
    Cancel,
}

/// A [`LatencyModel`] with its random stream.
#[derive(Debug, Clone)]
pub struct LatencySampler {
    model: LatencyModel,
    rng: SplitMix64,
}

impl LatencySampler {
    pub fn new(model: LatencyModel, seed: u64) -> LatencySampler {
        LatencySampler {
            model,
            rng: SplitMix64::new(seed),
        }
    }

    pub fn model(&self) -> LatencyModel {
        self.model
    }

    /// One draw for `leg`, in nanoseconds, never negative.
    pub fn draw(&mut self, leg: Leg) -> Nanos {
        match self.model {
            LatencyModel::Zero => 0,
            LatencyModel::Constant { entry, ack, cancel } => match leg {
                Leg::Entry => entry,
                Leg::Ack => ack,
                Leg::Cancel => cancel,
            }
            .max(0),
            LatencyModel::LogNormal {
                median_entry,
                median_ack,
                median_cancel,
                sigma,
                floor,
            } => {
                let median = match leg {
                    Leg::Entry => median_entry,
                    Leg::Ack => median_ack,
                    Leg::Cancel => median_cancel,
                };
                let sigma = if sigma.is_finite() {
                    sigma.max(0.0)
                } else {
                    0.0
                };
                let x = median.max(0) as f64 * (sigma * self.rng.next_normal()).exp();
                // `as` saturates: a huge median cannot overflow into a negative latency.
                (x as Nanos).max(floor.max(0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_other_seed_other_draws() {
        let m = LatencyModel::shioaji_default();
        let mut a = LatencySampler::new(m, 7);
        let mut b = LatencySampler::new(m, 7);
        let mut c = LatencySampler::new(m, 8);
        let da: Vec<Nanos> = (0..50).map(|_| a.draw(Leg::Entry)).collect();
        let db: Vec<Nanos> = (0..50).map(|_| b.draw(Leg::Entry)).collect();
        let dc: Vec<Nanos> = (0..50).map(|_| c.draw(Leg::Entry)).collect();
        assert_eq!(da, db);
        assert_ne!(da, dc);
    }

    #[test]
    fn lognormal_median_and_floor_hold() {
        let mut s = LatencySampler::new(LatencyModel::shioaji_default(), 1);
        let mut v: Vec<Nanos> = (0..20_001).map(|_| s.draw(Leg::Ack)).collect();
        v.sort_unstable();
        let median = v[v.len() / 2] as f64 / MS as f64;
        assert!((14.0..16.0).contains(&median), "median {median} ms");
        assert!(v[0] >= MS);
        // sigma 0.5: p99 = median * exp(2.326 * 0.5) ~ 3.2x the median.
        let p99 = v[v.len() * 99 / 100] as f64 / MS as f64;
        assert!((40.0..56.0).contains(&p99), "p99 {p99} ms");
    }

    #[test]
    fn constant_and_zero_models() {
        let mut s = LatencySampler::new(
            LatencyModel::Constant {
                entry: 3,
                ack: 4,
                cancel: -5,
            },
            0,
        );
        assert_eq!(
            (s.draw(Leg::Entry), s.draw(Leg::Ack), s.draw(Leg::Cancel)),
            (3, 4, 0)
        );
        let mut z = LatencySampler::new(LatencyModel::Zero, 0);
        assert_eq!(z.draw(Leg::Entry), 0);
    }

    #[test]
    fn bad_sigma_or_median_never_goes_negative() {
        for sigma in [f64::NAN, f64::INFINITY, -1.0] {
            let mut s = LatencySampler::new(
                LatencyModel::LogNormal {
                    median_entry: -5,
                    median_ack: 10,
                    median_cancel: Nanos::MAX,
                    sigma,
                    floor: 2,
                },
                3,
            );
            assert_eq!(s.draw(Leg::Entry), 2);
            assert_eq!(s.draw(Leg::Ack), 10);
            assert!(s.draw(Leg::Cancel) > 0);
        }
    }
}
