//! A strategy's standby on a code: "my decision is *no action* for every event of this code
//! until event time reaches `until_exch_ts` or the touch or the microprice leaves these bands".
//! The strategy
//! computes it in Python at a decision (it knows its own rule); the engine then answers the
//! events that fall inside it without calling Python, and counts each one as a decision taken
//! (`EngineCounters::standby`): the policy's decision frequency is unchanged, only where the
//! answer is computed moves. Market making spends most events waiting for its re-quote interval
//! (`min_requote_ms`) with both quotes resting; deciding on every event then costs a Python call
//! per event for an answer known in advance.
//!
//! A standby is only ever a shortcut for "no action". It ends, so the strategy decides again:
//! - on an event of the code at or after `until_exch_ts` (exchange time, the strategy's own
//!   clock for re-quote intervals: `MarketView.exch_ts`),
//! - when the best bid or ask or the microprice leaves its open band `(floor, cap)` (or the
//!   book loses a side: a NaN never holds),
//! - on any venue event (accept, fill, cancel, reject: positions and working orders change),
//! - on any system event (session, trading state, gap) and any book reset,
//! - when the owner wakes every code (the runner does on a trading-state change).

use super::types::Nanos;

/// One code's standby (see the module docs). Bands are open intervals; `-inf`/`+inf` for none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standby {
    pub until_exch_ts: Nanos,
    pub bid_floor: f64,
    pub bid_cap: f64,
    pub ask_floor: f64,
    pub ask_cap: f64,
    pub micro_floor: f64,
    pub micro_cap: f64,
}

/// A standby that could never hold or hides a NaN (a strategy bug must not silence it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyError(pub String);

impl std::fmt::Display for StandbyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "standby: {}", self.0)
    }
}

impl std::error::Error for StandbyError {}

impl Standby {
    /// Until `until_exch_ts` only (no price band).
    pub fn until(until_exch_ts: Nanos) -> Standby {
        Standby {
            until_exch_ts,
            bid_floor: f64::NEG_INFINITY,
            bid_cap: f64::INFINITY,
            ask_floor: f64::NEG_INFINITY,
            ask_cap: f64::INFINITY,
            micro_floor: f64::NEG_INFINITY,
            micro_cap: f64::INFINITY,
        }
    }

    /// Checked: no NaN bound, each floor below its cap. `bands` are the (floor, cap) of the
    /// best bid, the best ask and the microprice, in that order.
    pub fn new_checked(
        until_exch_ts: Nanos,
        bands: [(f64, f64); 3],
    ) -> Result<Standby, StandbyError> {
        for (name, (floor, cap)) in ["bid", "ask", "micro"].into_iter().zip(bands) {
            if floor.is_nan() || cap.is_nan() {
                return Err(StandbyError(format!(
                    "{name} band ({floor}, {cap}) has a NaN"
                )));
            }
            if floor >= cap {
                return Err(StandbyError(format!(
                    "{name} band ({floor}, {cap}) is empty"
                )));
            }
        }
        let [(bid_floor, bid_cap), (ask_floor, ask_cap), (micro_floor, micro_cap)] = bands;
        Ok(Standby {
            until_exch_ts,
            bid_floor,
            bid_cap,
            ask_floor,
            ask_cap,
            micro_floor,
            micro_cap,
        })
    }

    /// Does the standby still answer an event at `exch_ts` with this touch and microprice? A
    /// NaN (a missing side) never holds.
    #[inline]
    pub fn holds(&self, exch_ts: Nanos, best_bid: f64, best_ask: f64, microprice: f64) -> bool {
        exch_ts < self.until_exch_ts
            && self.bid_floor < best_bid
            && best_bid < self.bid_cap
            && self.ask_floor < best_ask
            && best_ask < self.ask_cap
            && self.micro_floor < microprice
            && microprice < self.micro_cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_inside_time_and_bands_only() {
        const INF: f64 = f64::INFINITY;
        let bands = [(99.0, INF), (-INF, 105.0), (100.2, 100.8)];
        let s = Standby::new_checked(1_000, bands).unwrap();
        assert!(s.holds(999, 100.0, 101.0, 100.5));
        assert!(!s.holds(1_000, 100.0, 101.0, 100.5), "until is exclusive");
        assert!(!s.holds(10, 99.0, 101.0, 100.5), "bands are open");
        assert!(!s.holds(10, 100.0, 105.0, 100.5));
        assert!(!s.holds(10, 100.0, 101.0, 100.8));
        assert!(!s.holds(10, 100.0, 101.0, 100.2));
        assert!(!s.holds(10, f64::NAN, 101.0, 100.5), "a missing side wakes");
        assert!(!s.holds(10, 100.0, f64::NAN, 100.5));
        assert!(!s.holds(10, 100.0, 101.0, f64::NAN));
        assert!(Standby::until(5).holds(4, 1.0, 2.0, 1.5));
    }

    #[test]
    fn bad_bands_are_refused_by_name() {
        let ok = (0.0, 1.0);
        let e = Standby::new_checked(0, [(f64::NAN, 1.0), ok, ok]).unwrap_err();
        assert!(e.to_string().contains("bid band"), "{e}");
        let e = Standby::new_checked(0, [ok, (2.0, 2.0), ok]).unwrap_err();
        assert!(e.to_string().contains("ask band"), "{e}");
        let e = Standby::new_checked(0, [ok, ok, (0.0, f64::NAN)]).unwrap_err();
        assert!(e.to_string().contains("micro band"), "{e}");
    }
}
