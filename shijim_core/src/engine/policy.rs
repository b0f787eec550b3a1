//! The explicit decision policy: when the strategy is called for a code (issue 8; set in the
//! config, `--decision` and the TradingShard spec). Decided per code, on the engine's clock
//! (event time), after the event was applied to the books:
//!
//! - `every_event`: every applied book or real trade of the code.
//! - `on_touch_change`: the touch changed, i.e. the best bid or best ask *price or quantity*
//!   ([`Flags::TOUCH`]), or a real trade printed (the last trade changed: [`Flags::TRADE`]).
//!   Quantity counts because microprice and L1 imbalance, which the strategies read, move with
//!   it; a change only at deeper levels does not make a decision due (its flows accumulate and
//!   reach the next decision).
//! - `interval_ms: N` (conflation): at most one decision per code per N ms, on the first applied
//!   event of that code at least N ms after its previous decision (the first event decides).
//!   An interval without events triggers nothing: the engine has no timers, it is driven by
//!   events; what accumulated is seen with the next event.
//!
//! A code is never due before it has a book (a decision needs a touch). Dropped rows change
//! nothing and are never due.

use std::fmt;

use super::book::Flags;
use super::types::Nanos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionPolicy {
    EveryEvent,
    OnTouchChange,
    /// Conflation interval in ns (> 0).
    IntervalNs(Nanos),
}

/// A policy text that is not one of the three forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub text: String,
    pub detail: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decision policy {:?}: {}", self.text, self.detail)
    }
}

impl std::error::Error for PolicyError {}

const MAX_INTERVAL_MS: i64 = 86_400_000;

impl DecisionPolicy {
    /// `"every_event"`, `"on_touch_change"` or `"interval_ms:N"` (N a whole number of ms in
    /// [1, 86400000]; spaces around the parts allowed, as YAML `interval_ms: 5` gives).
    pub fn parse(text: &str) -> Result<DecisionPolicy, PolicyError> {
        let err = |detail: &str| PolicyError {
            text: text.to_string(),
            detail: detail.to_string(),
        };
        match text.trim() {
            "every_event" => return Ok(DecisionPolicy::EveryEvent),
            "on_touch_change" => return Ok(DecisionPolicy::OnTouchChange),
            _ => {}
        }
        let Some((name, n)) = text.split_once(':') else {
            return Err(err(
                "expected \"every_event\", \"on_touch_change\" or \"interval_ms:N\"",
            ));
        };
        if name.trim() != "interval_ms" {
            return Err(err(
                "expected \"every_event\", \"on_touch_change\" or \"interval_ms:N\"",
            ));
        }
        let ms: i64 = n
            .trim()
            .parse()
            .map_err(|_| err("interval_ms: N must be a whole number of milliseconds"))?;
        Self::interval_ms(ms).map_err(|e| PolicyError {
            text: text.to_string(),
            detail: e.detail,
        })
    }

    /// `IntervalNs` from whole milliseconds in [1, 86400000].
    pub fn interval_ms(ms: i64) -> Result<DecisionPolicy, PolicyError> {
        if !(1..=MAX_INTERVAL_MS).contains(&ms) {
            return Err(PolicyError {
                text: format!("interval_ms:{ms}"),
                detail: format!(
                    "interval_ms: N must be in [1, {MAX_INTERVAL_MS}] (use every_event for no conflation)"
                ),
            });
        }
        Ok(DecisionPolicy::IntervalNs(ms * 1_000_000))
    }

    /// The policy as its config text.
    pub fn text(&self) -> String {
        match self {
            DecisionPolicy::EveryEvent => "every_event".to_string(),
            DecisionPolicy::OnTouchChange => "on_touch_change".to_string(),
            DecisionPolicy::IntervalNs(ns) if ns % 1_000_000 == 0 => {
                format!("interval_ms:{}", ns / 1_000_000)
            }
            DecisionPolicy::IntervalNs(ns) => format!("interval_ns:{ns}"),
        }
    }

    /// Is a decision due for a code whose event produced `flags` at engine time `now`?
    /// `clock` is that code's; it records the decision when one is due.
    #[inline]
    pub fn due(&self, clock: &mut DueClock, flags: Flags, now: Nanos) -> bool {
        if flags.is_empty() {
            return false;
        }
        let due = match *self {
            DecisionPolicy::EveryEvent => true,
            DecisionPolicy::OnTouchChange => flags.intersects(Flags::TOUCH.union(Flags::TRADE)),
            DecisionPolicy::IntervalNs(n) => match clock.last {
                None => true,
                Some(last) => now.saturating_sub(last) >= n,
            },
        };
        if due {
            clock.last = Some(now);
        }
        due
    }
}

/// One code's decision history for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DueClock {
    /// Engine time of the code's last due decision.
    pub last: Option<Nanos>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: Flags = Flags::BOOK;

    fn touch_price() -> Flags {
        Flags::BOOK.union(Flags::TOUCH_PRICE)
    }

    fn touch_qty() -> Flags {
        Flags::BOOK.union(Flags::TOUCH_QTY)
    }

    #[test]
    fn every_event_decides_on_anything_applied() {
        let p = DecisionPolicy::EveryEvent;
        let mut c = DueClock::default();
        for f in [BOOK, touch_price(), touch_qty(), Flags::TRADE] {
            assert!(p.due(&mut c, f, 5));
        }
        assert!(!p.due(&mut c, Flags::NONE, 6));
        assert_eq!(c.last, Some(5));
    }

    #[test]
    fn on_touch_change_ignores_deeper_levels_only() {
        let p = DecisionPolicy::OnTouchChange;
        let mut c = DueClock::default();
        assert!(!p.due(&mut c, BOOK, 1));
        assert!(p.due(&mut c, touch_price(), 2));
        assert!(p.due(&mut c, touch_qty(), 3));
        assert!(p.due(&mut c, Flags::TRADE, 4));
        assert!(!p.due(&mut c, Flags::NONE, 5));
    }

    #[test]
    fn interval_conflates_to_the_first_event_after_it_elapsed() {
        let p = DecisionPolicy::parse("interval_ms: 5").unwrap();
        assert_eq!(p, DecisionPolicy::IntervalNs(5_000_000));
        let mut c = DueClock::default();
        let ms = 1_000_000;
        assert!(p.due(&mut c, BOOK, 100 * ms)); // the first event decides
        assert!(!p.due(&mut c, touch_price(), 101 * ms));
        assert!(!p.due(&mut c, Flags::TRADE, 104 * ms + 999_999));
        assert!(p.due(&mut c, BOOK, 105 * ms)); // exactly N after: due
                                                // A quiet stretch triggers nothing by itself; the next event decides, once.
        assert!(p.due(&mut c, BOOK, 200 * ms));
        assert!(!p.due(&mut c, BOOK, 200 * ms));
        assert!(!p.due(&mut c, Flags::NONE, 300 * ms));
        assert_eq!(c.last, Some(200 * ms));
        // Each code has its own clock.
        let mut other = DueClock::default();
        assert!(p.due(&mut other, BOOK, 201 * ms));
    }

    #[test]
    fn parse_and_errors() {
        assert_eq!(
            DecisionPolicy::parse("every_event"),
            Ok(DecisionPolicy::EveryEvent)
        );
        assert_eq!(
            DecisionPolicy::parse(" on_touch_change "),
            Ok(DecisionPolicy::OnTouchChange)
        );
        assert_eq!(
            DecisionPolicy::parse("interval_ms:250").unwrap().text(),
            "interval_ms:250"
        );
        for bad in [
            "",
            "always",
            "interval_ms:",
            "interval_ms:0",
            "interval_ms:-3",
            "interval_ms:1.5",
            "interval_s:3",
            "interval_ms:86400001",
        ] {
            let e = DecisionPolicy::parse(bad).unwrap_err();
            assert!(e.to_string().contains("decision policy"), "{e}");
        }
        assert!(DecisionPolicy::interval_ms(0).is_err());
    }
}
