//! Incremental per-code signals, updated once per admitted event (the same definitions and sign
//! conventions as the Python signals they replace, `shijim.strategy.signals`, docs/signals.md):
//!
//! - **MLOFI** e^m per level m: Xu, Gould & Howison (2019), computed by the crate's kernel
//!   ([`crate::ofi`]) over the previous and the current book at the depth both have
//!   ([`super::book`]). Positive = buying pressure (bid up / ask lifted).
//! - **OFI at the best level**: e^0, the OFI of Cont, Kukanov & Stoikov (2014), "The price impact
//!   of order book events".
//! - **Folded OFI** (`ofi`): sum over m < `levels` of `level_decay^m * e^m` (decay 0.5 by default:
//!   level 1 weight 1), the strategies' OFI input (`SignalSnapshot.ofi`).
//! - Flows (OFI, MLOFI, trade flow) are **summed**: `since` holds what accumulated since the
//!   strategy last took the signals ([`Signals::take`]), `total` everything since the engine
//!   started (never reset, not even across a gap).
//! - **microprice** = (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty); the plain mid when
//!   both quantities are 0. Leans towards the side with less volume.
//! - **mid** = (bid + ask) / 2, **spread** = ask - bid (exact in [`Price`], float for signals).
//! - **depth imbalance** = (sum bid_qty - sum ask_qty) / (sum bid_qty + sum ask_qty) over each
//!   side's populated levels (an empty level has qty 0, so this is the Python's sum over the
//!   five levels), in [-1, 1], 0 for an empty book; `imbalance_l1` the same at the best level.
//! - **trade flow** = sum of real-trade volume, plus for buyer-initiated (tick type 1, at the
//!   ask), minus for seller-initiated (2), 0 when the aggressor is unknown; simulated
//!   (trial-match) trades are not trades. **last trade**: price, volume, aggressor and times of
//!   the newest real trade.

use std::fmt;

use super::types::{Levels, Nanos, Price, Side, L5, LEVELS};

/// How the book's MLOFI folds into one OFI number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalConfig {
    /// Book levels folded into `ofi` (1..=5); MLOFI per level is kept for all five regardless.
    pub levels: usize,
    /// Weight of level m (0-based) is `level_decay^m`.
    pub level_decay: f64,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            levels: LEVELS,
            level_decay: 0.5,
        }
    }
}

/// A signal setting out of range, naming the field.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalConfigError {
    pub field: &'static str,
    pub detail: String,
}

impl fmt::Display for SignalConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

impl std::error::Error for SignalConfigError {}

impl SignalConfig {
    pub fn new(levels: usize, level_decay: f64) -> Result<SignalConfig, SignalConfigError> {
        if !(1..=LEVELS).contains(&levels) {
            return Err(SignalConfigError {
                field: "levels",
                detail: format!("must be in [1, {LEVELS}], got {levels}"),
            });
        }
        if !(level_decay.is_finite() && level_decay >= 0.0) {
            return Err(SignalConfigError {
                field: "level_decay",
                detail: format!("must be finite and >= 0, got {level_decay}"),
            });
        }
        Ok(SignalConfig {
            levels,
            level_decay,
        })
    }

    /// `level_decay^m` for the folded levels, 0 beyond. `powf` (libm `pow`), as Python's `**`.
    pub fn weights(&self) -> [f64; LEVELS] {
        let mut w = [0.0; LEVELS];
        for (m, x) in w.iter_mut().enumerate().take(self.levels) {
            *x = self.level_decay.powf(m as f64);
        }
        w
    }
}

/// Volume-weighted mid of the best level; the plain mid when neither side has volume.
#[inline]
pub fn microprice(bid: f64, bid_qty: i64, ask: f64, ask_qty: i64) -> f64 {
    let (qb, qa) = (bid_qty as f64, ask_qty as f64);
    let total = qb + qa;
    if total > 0.0 {
        (bid * qa + ask * qb) / total
    } else {
        (bid + ask) * 0.5
    }
}

/// (bid - ask) / (bid + ask) of two volumes, 0 when both are 0.
#[inline]
pub fn imbalance(bid_qty: i64, ask_qty: i64) -> f64 {
    let (b, a) = (bid_qty as f64, ask_qty as f64);
    let total = b + a;
    if total > 0.0 {
        (b - a) / total
    } else {
        0.0
    }
}

/// Quantity over the side's leading populated (price > 0) levels.
#[inline]
fn side_volume(side: &Levels) -> i64 {
    let mut sum = 0i64;
    for m in 0..LEVELS {
        if side.price[m].0 <= 0 {
            break;
        }
        // Admitted quantities are < 2^50 (the MLOFI kernel refuses more): no overflow.
        sum = sum.saturating_add(side.qty[m]);
    }
    sum
}

/// Flows summed over a span of events.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Flows {
    /// Folded MLOFI (see the module docs).
    pub ofi: f64,
    /// e^0: Cont-Kukanov-Stoikov OFI at the best level.
    pub ofi_best: f64,
    /// e^m per level.
    pub mlofi: [f64; LEVELS],
    /// Signed real-trade volume: buyer-initiated +, seller-initiated -.
    pub trade_flow: i64,
    /// Book updates applied.
    pub books: u64,
    /// Real trades applied.
    pub trades: u64,
}

impl Flows {
    /// Adds one book's MLOFI row (`e.len()` = the depth it was computed at, <= 5).
    #[inline]
    fn add_book(&mut self, e: &[f64], weights: &[f64; LEVELS]) {
        let mut folded = 0.0;
        for (m, (&x, &w)) in e.iter().zip(weights).enumerate() {
            folded += x * w;
            self.mlofi[m] += x;
        }
        if let Some(&e0) = e.first() {
            self.ofi_best += e0;
        }
        self.ofi += folded;
        self.books += 1;
    }

    #[inline]
    fn add_trade(&mut self, qty: i64, aggressor: Option<Side>) {
        if let Some(s) = aggressor {
            self.trade_flow = self.trade_flow.saturating_add(s.sign().saturating_mul(qty));
        }
        self.trades += 1;
    }
}

/// The newest real trade of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastTrade {
    pub price: Price,
    pub qty: i64,
    /// `None`: the broker did not say (tick type 0).
    pub aggressor: Option<Side>,
    pub exch_ts: Nanos,
    pub local_ts: Nanos,
}

/// Every signal of one code. Level signals describe the newest book (NaN / 0 before the first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    pub since: Flows,
    pub total: Flows,
    pub best_bid: f64,
    pub best_ask: f64,
    pub bid_qty: i64,
    pub ask_qty: i64,
    pub mid: f64,
    /// Exact ask - bid.
    pub spread: Price,
    pub microprice: f64,
    pub imbalance_l1: f64,
    pub imbalance: f64,
    pub last_trade: Option<LastTrade>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            since: Flows::default(),
            total: Flows::default(),
            best_bid: f64::NAN,
            best_ask: f64::NAN,
            bid_qty: 0,
            ask_qty: 0,
            mid: f64::NAN,
            spread: Price::ZERO,
            microprice: f64::NAN,
            imbalance_l1: 0.0,
            imbalance: 0.0,
            last_trade: None,
        }
    }
}

impl Signals {
    /// A new book: `e` is its MLOFI row against the previous book (empty when there was none),
    /// `weights` the fold ([`SignalConfig::weights`]). The book has a two-sided best level
    /// (the caller dropped others).
    #[inline]
    pub fn on_book(&mut self, book: &L5, e: &[f64], weights: &[f64; LEVELS]) {
        self.since.add_book(e, weights);
        self.total.add_book(e, weights);
        let (b, a) = (book.bid.price[0], book.ask.price[0]);
        let (qb, qa) = (book.bid.qty[0], book.ask.qty[0]);
        let (bf, af) = (b.to_f64(), a.to_f64());
        self.best_bid = bf;
        self.best_ask = af;
        self.bid_qty = qb;
        self.ask_qty = qa;
        self.mid = (bf + af) * 0.5;
        self.spread = Price(a.0.saturating_sub(b.0));
        self.microprice = microprice(bf, qb, af, qa);
        self.imbalance_l1 = imbalance(qb, qa);
        self.imbalance = imbalance(side_volume(&book.bid), side_volume(&book.ask));
    }

    /// Price of the last real trade, NaN before the first.
    pub fn last_trade_price(&self) -> f64 {
        self.last_trade.map_or(f64::NAN, |t| t.price.to_f64())
    }

    /// A real trade (the caller dropped simulated and non-positive ones).
    #[inline]
    pub fn on_trade(&mut self, trade: LastTrade) {
        self.since.add_trade(trade.qty, trade.aggressor);
        self.total.add_trade(trade.qty, trade.aggressor);
        self.last_trade = Some(trade);
    }

    /// The signals as they are, then the `since` flows start again from zero (the strategy
    /// has seen them).
    pub fn take(&mut self) -> Signals {
        let out = *self;
        self.since = Flows::default();
        out
    }

    /// Continuity broke (gap, restart, session edge): flows accumulated on the old sequence are
    /// dropped from `since` (they span a gap); totals, levels and the last trade stay.
    pub fn forget_flows(&mut self) {
        self.since = Flows::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_books::{book, px};

    #[test]
    fn level_signals_by_hand() {
        let mut s = Signals::default();
        assert!(s.mid.is_nan() && s.microprice.is_nan());
        let b = book(
            &[(100.0, 3), (99.5, 5), (99.0, 2)],
            &[(100.5, 1), (101.0, 4), (101.5, 6), (102.0, 9)],
        );
        s.on_book(&b, &[], &SignalConfig::default().weights());
        assert_eq!(s.mid, 100.25);
        assert_eq!(s.spread, px(0.5));
        // (100 * 1 + 100.5 * 3) / 4 = 401.5 / 4
        assert_eq!(s.microprice, 401.5 / 4.0);
        assert_eq!(s.imbalance_l1, (3.0 - 1.0) / 4.0);
        // bids 3+5+2 = 10, asks 1+4+6+9 = 20 -> -10/30
        assert_eq!(s.imbalance, -10.0 / 30.0);
        assert_eq!(
            (s.best_bid, s.best_ask, s.bid_qty, s.ask_qty),
            (100.0, 100.5, 3, 1)
        );
        // No volume at the best: the plain mid; no volume at all: imbalance 0.
        let z = book(&[(100.0, 0)], &[(101.0, 0)]);
        s.on_book(&z, &[], &SignalConfig::default().weights());
        assert_eq!(s.microprice, 100.5);
        assert_eq!((s.imbalance_l1, s.imbalance), (0.0, 0.0));
        assert_eq!(s.since.books, 2);
    }

    #[test]
    fn flows_fold_levels_and_take_resets_only_since() {
        let cfg = SignalConfig::new(3, 0.5).unwrap();
        let w = cfg.weights();
        assert_eq!(w, [1.0, 0.5, 0.25, 0.0, 0.0]);
        let mut s = Signals::default();
        let b = book(&[(100.0, 1)], &[(101.0, 1)]);
        s.on_book(&b, &[4.0, -2.0, 8.0, 100.0, 100.0], &w);
        // 4 - 1 + 2 (levels 4 and 5 weigh 0)
        assert_eq!(s.since.ofi, 5.0);
        assert_eq!(s.since.ofi_best, 4.0);
        assert_eq!(s.since.mlofi, [4.0, -2.0, 8.0, 100.0, 100.0]);
        // A book compared at depth 2 only adds to levels 1 and 2.
        s.on_book(&b, &[1.0, 2.0], &w);
        assert_eq!(s.since.ofi, 7.0);
        assert_eq!(s.since.mlofi, [5.0, 0.0, 8.0, 100.0, 100.0]);
        let t = |qty, aggressor| LastTrade {
            price: px(100.5),
            qty,
            aggressor,
            exch_ts: 1,
            local_ts: 2,
        };
        assert!(s.last_trade_price().is_nan()); // no trade yet
        s.on_trade(t(3, Some(Side::Buy)));
        assert_eq!(s.last_trade_price(), 100.5);
        s.on_trade(t(5, Some(Side::Sell)));
        s.on_trade(t(7, None));
        assert_eq!(s.since.trade_flow, 3 - 5);
        assert_eq!(s.since.trades, 3);
        assert_eq!(s.last_trade, Some(t(7, None)));
        let seen = s.take();
        assert_eq!(seen.since.ofi, 7.0);
        assert_eq!(s.since, Flows::default());
        assert_eq!(s.total.ofi, 7.0);
        assert_eq!(s.total.trade_flow, -2);
        s.on_book(&b, &[-1.0], &w);
        s.forget_flows();
        assert_eq!(s.since, Flows::default());
        assert_eq!(s.total.ofi, 6.0);
        assert!(s.last_trade.is_some());
    }

    #[test]
    fn config_is_checked_and_names_the_field() {
        assert_eq!(SignalConfig::new(0, 0.5).unwrap_err().field, "levels");
        assert_eq!(SignalConfig::new(6, 0.5).unwrap_err().field, "levels");
        assert_eq!(
            SignalConfig::new(5, f64::NAN).unwrap_err().field,
            "level_decay"
        );
        assert_eq!(SignalConfig::new(5, -0.1).unwrap_err().field, "level_decay");
        assert_eq!(
            SignalConfig::new(1, 0.7).unwrap().weights(),
            [1.0, 0.0, 0.0, 0.0, 0.0]
        );
        // Python's `0.7 ** 3` is libm pow: the same bits.
        assert_eq!(
            SignalConfig::new(5, 0.7).unwrap().weights()[3],
            0.7f64.powf(3.0)
        );
    }
}
