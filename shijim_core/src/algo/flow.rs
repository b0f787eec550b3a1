//! Trade imbalance and signed volume, one trade at a time ([`TradeFlow::update`]) or over a
//! batch ([`flow_batch`], the same update row by row).
//!
//! Each trade gets a sign: +1 buyer-initiated, -1 seller-initiated. The aggressor the feed
//! reports is used when known (Shioaji's tick type 1/2); otherwise Lee & Ready (1991),
//! "Inferring trade direction from intraday data": the quote rule (above the prevailing mid:
//! +1, below: -1), and at the mid or with no mid the tick rule (above the previous trade's
//! price: +1, below: -1, equal: the sign of the last price change); a trade with neither is
//! unclassified (sign 0: it decays the sums but adds no volume).
//!
//! In event time (one step per trade), with decay = 0.5^(1/halflife):
//! `buy = decay * buy + qty * [sign > 0]`, `sell` alike, `signed_volume = buy - sell`,
//! `trade_imbalance = (buy - sell) / (buy + sell)` (0 when both are 0), in [-1, 1]; positive =
//! buying pressure. Clock-time windows come from bucketing on a grid (shijim.algo.microstructure).
//!
//! Bad input: a price <= 0 (or not exact at 10^-6), a quantity <= 0 (zero volume), not whole
//! or >= 2^50 is an [`AlgoError`]; the stream keeps its state. A mid that is NaN, infinite or
//! <= 0 means "no quote" (the tick rule decides), not an error.

use super::AlgoError;
use crate::engine::types::{Price, Side};
use crate::ofi::MAX_QUANTITY;

/// Columns of a flow row (exported to Python as `TRADE_FLOW_NAMES`).
pub const FLOW_NAMES: [&str; N_FLOW] = [
    "sign",
    "signed_qty",
    "buy_volume",
    "sell_volume",
    "signed_volume",
    "trade_imbalance",
    "rule",
];

pub const N_FLOW: usize = 7;

pub type FlowRow = [f64; N_FLOW];

/// How a trade was signed (the `rule` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SignRule {
    /// The feed reported the aggressor.
    Reported = 0,
    /// Lee–Ready quote rule (price vs mid).
    Quote = 1,
    /// Lee–Ready tick rule (price vs previous trade).
    Tick = 2,
    /// Neither applied: sign 0.
    Unclassified = 3,
}

/// The streaming trade-flow kernel.
#[derive(Debug, Clone)]
pub struct TradeFlow {
    halflife: f64,
    decay: f64,
    buy: f64,
    sell: f64,
    last_price: Option<Price>,
    /// Sign of the last non-zero price change (+1 / -1), 0 before one.
    last_tick: i8,
}

impl TradeFlow {
    /// `halflife`: in trades (inf: running sums).
    pub fn new_checked(halflife: f64) -> Result<TradeFlow, AlgoError> {
        Ok(TradeFlow {
            halflife,
            decay: super::halflife_decay("halflife", halflife)?,
            buy: 0.0,
            sell: 0.0,
            last_price: None,
            last_tick: 0,
        })
    }

    pub fn halflife(&self) -> f64 {
        self.halflife
    }

    /// Forget everything (a new session).
    pub fn reset(&mut self) {
        self.buy = 0.0;
        self.sell = 0.0;
        self.last_price = None;
        self.last_tick = 0;
    }

    /// Signs one trade and updates the sums; `mid` is the prevailing mid (NaN if unknown).
    pub fn update(
        &mut self,
        price: Price,
        qty: i64,
        aggressor: Option<Side>,
        mid: f64,
        out: &mut FlowRow,
    ) -> Result<(), AlgoError> {
        if price.0 <= 0 {
            return Err(AlgoError::input(
                "price",
                format!("{price}: a trade price must be > 0"),
            ));
        }
        if qty <= 0 || qty as f64 >= MAX_QUANTITY {
            return Err(AlgoError::input(
                "qty",
                format!("{qty}: a trade needs a volume > 0 and below 2^50 (zero volume?)"),
            ));
        }
        let tick = match self.last_price {
            Some(p) if price > p => 1,
            Some(p) if price < p => -1,
            _ => self.last_tick,
        };
        let p = price.to_f64();
        let (sign, rule) = match aggressor {
            Some(s) => (s.sign() as i8, SignRule::Reported),
            None if mid.is_finite() && mid > 0.0 && p != mid => {
                (if p > mid { 1 } else { -1 }, SignRule::Quote)
            }
            None if tick != 0 => (tick, SignRule::Tick),
            None => (0, SignRule::Unclassified),
        };
        let q = qty as f64;
        self.buy = self.decay * self.buy + if sign > 0 { q } else { 0.0 };
        self.sell = self.decay * self.sell + if sign < 0 { q } else { 0.0 };
        self.last_tick = tick;
        self.last_price = Some(price);
        let total = self.buy + self.sell;
        *out = [
            f64::from(sign),
            f64::from(sign) * q,
            self.buy,
            self.sell,
            self.buy - self.sell,
            if total > 0.0 {
                (self.buy - self.sell) / total
            } else {
                0.0
            },
            f64::from(rule as u8),
        ];
        Ok(())
    }
}

/// The aggressor from a wire code: 0 unknown, 1 buy, 2 sell.
pub fn aggressor_from_code(code: i64) -> Result<Option<Side>, AlgoError> {
    match code {
        0 => Ok(None),
        1 => Ok(Some(Side::Buy)),
        2 => Ok(Some(Side::Sell)),
        _ => Err(AlgoError::input(
            "side",
            format!("{code}: expected 0 (unknown), 1 (buyer-initiated) or 2 (seller-initiated)"),
        )),
    }
}

/// A trade from float columns (numpy): price exact at 10^-6, quantity whole.
pub fn trade_from_f64(price: f64, qty: f64) -> Result<(Price, i64), AlgoError> {
    let p = Price::from_f64(price).map_err(|f| AlgoError::input("price", f.describe(price)))?;
    if !(qty > 0.0 && qty < MAX_QUANTITY && qty.fract() == 0.0) {
        return Err(AlgoError::input(
            "qty",
            format!("{qty}: a trade needs a whole volume > 0 and below 2^50 (zero volume?)"),
        ));
    }
    Ok((p, qty as i64))
}

/// The flow of N trades through one [`TradeFlow`]: `out` is (N, [`N_FLOW`]) row-major, `ok[r]`
/// whether trade r was accepted (a refused trade's row is NaN; the stream goes on). Returns the
/// number refused and the first refusal.
pub fn flow_batch(
    halflife: f64,
    price: &[f64],
    qty: &[f64],
    side: &[i64],
    mid: &[f64],
    out: &mut [f64],
    ok: &mut [bool],
) -> Result<(usize, Option<AlgoError>), AlgoError> {
    let n = price.len();
    super::same_len(
        n,
        &[
            ("qty", qty.len()),
            ("side", side.len()),
            ("mid", mid.len()),
            ("ok", ok.len()),
        ],
    )?;
    super::same_len(n * N_FLOW, &[("out", out.len())])?;
    let mut stream = TradeFlow::new_checked(halflife)?;
    Ok(super::each_row(out, ok, |r, row: &mut FlowRow| {
        let (p, q) = trade_from_f64(price[r], qty[r])?;
        let a = aggressor_from_code(side[r])?;
        stream.update(p, q, a, mid[r], row)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_books::px;

    #[test]
    fn lee_ready_signs_and_sums() {
        let mut f = TradeFlow::new_checked(f64::INFINITY).unwrap();
        let mut o = [0.0; N_FLOW];
        // Reported aggressor wins over the quote.
        f.update(px(100.0), 3, Some(Side::Sell), 99.0, &mut o)
            .unwrap();
        assert_eq!((o[0], o[1], o[6]), (-1.0, -3.0, 0.0));
        // Quote rule: above the mid.
        f.update(px(100.5), 2, None, 100.25, &mut o).unwrap();
        assert_eq!((o[0], o[6]), (1.0, 1.0));
        // At the mid: tick rule, price down from 100.5.
        f.update(px(100.25), 4, None, 100.25, &mut o).unwrap();
        assert_eq!((o[0], o[6]), (-1.0, 2.0));
        // No mid, zero tick: the last change was down.
        f.update(px(100.25), 1, None, f64::NAN, &mut o).unwrap();
        assert_eq!((o[0], o[6]), (-1.0, 2.0));
        assert_eq!((o[2], o[3], o[4]), (2.0, 8.0, -6.0));
        assert_eq!(o[5], -6.0 / 10.0);
        // The first trade of a fresh stream with no mid: unclassified.
        let mut g = TradeFlow::new_checked(10.0).unwrap();
        g.update(px(50.0), 1, None, f64::NAN, &mut o).unwrap();
        assert_eq!((o[0], o[5], o[6]), (0.0, 0.0, 3.0));
    }

    #[test]
    fn decay_is_per_trade() {
        let mut f = TradeFlow::new_checked(1.0).unwrap();
        let mut o = [0.0; N_FLOW];
        f.update(px(10.0), 8, Some(Side::Buy), f64::NAN, &mut o)
            .unwrap();
        f.update(px(10.0), 2, Some(Side::Sell), f64::NAN, &mut o)
            .unwrap();
        assert_eq!((o[2], o[3]), (4.0, 2.0));
        assert_eq!(o[5], 2.0 / 6.0);
    }

    #[test]
    fn bad_trades_are_refused_and_change_nothing() {
        let mut f = TradeFlow::new_checked(5.0).unwrap();
        let mut o = [1.0; N_FLOW];
        assert!(f
            .update(px(10.0), 0, None, 10.0, &mut o)
            .unwrap_err()
            .to_string()
            .contains("zero volume"));
        assert!(f.update(Price(0), 1, None, 10.0, &mut o).is_err());
        assert!(f.update(px(-1.0), 1, None, 10.0, &mut o).is_err());
        assert_eq!(o, [1.0; N_FLOW]);
        f.update(px(10.0), 1, None, f64::INFINITY, &mut o).unwrap();
        assert_eq!(o[6], 3.0); // no mid, no previous trade
        assert!(TradeFlow::new_checked(0.0).is_err());
        assert!(aggressor_from_code(3).is_err());
        assert!(trade_from_f64(10.0, 0.5).is_err());
        assert!(trade_from_f64(f64::NAN, 1.0).is_err());
    }

    #[test]
    fn stream_equals_batch() {
        let n = 500;
        let mut price = vec![];
        let mut qty = vec![];
        let mut side = vec![];
        let mut mid = vec![];
        let mut s = 7u64;
        for i in 0..n {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            price.push(100.0 + ((s >> 33) % 7) as f64 * 0.5);
            qty.push(if i % 97 == 5 {
                0.0
            } else {
                1.0 + ((s >> 20) % 9) as f64
            });
            side.push(((s >> 40) % 3) as i64);
            mid.push(if i % 3 == 0 { f64::NAN } else { 101.25 });
        }
        let mut out = vec![0.0; n * N_FLOW];
        let mut ok = vec![false; n];
        let (bad, first) = flow_batch(20.0, &price, &qty, &side, &mid, &mut out, &mut ok).unwrap();
        assert_eq!(bad, 6); // rows 5, 102, 199, 296, 393, 490
        assert!(first.unwrap().to_string().starts_with("qty[5] (row 5)"));
        let mut f = TradeFlow::new_checked(20.0).unwrap();
        for r in 0..n {
            let mut row = [0.0; N_FLOW];
            let res = trade_from_f64(price[r], qty[r])
                .and_then(|(p, q)| f.update(p, q, aggressor_from_code(side[r])?, mid[r], &mut row));
            assert_eq!(res.is_ok(), ok[r]);
            if ok[r] {
                assert_eq!(&row[..], &out[r * N_FLOW..(r + 1) * N_FLOW]);
            }
        }
    }
}
