//! Per-instrument fees and taxes, applied by the paper venue to every fill (TWD):
//!
//! ```text
//! fee = per_lot * qty + rate * notional + (sell_tax_rate * notional on sells)
//! notional = price * qty * multiplier
//! ```
//!
//! On by default: every preset and [`InstrumentSpec::for_code`] carries fees; zero fees only
//! by asking for them ([`FeeSchedule::none`]). Sources (docs/execution.md, "The engine's paper
//! venue", has the links):
//!
//! - TAIFEX index futures: futures transaction tax 0.002 % (2/100000) of the contract value on
//!   each side (Futures Transaction Tax Act; TAIFEX fee schedule, "Futures Transaction Tax
//!   Rate" 0.00002 for TX/MTX/TMF). Broker commission per lot is negotiated (TAIFEX fee
//!   schedule note 1); its floor is the exchange's own per-contract fees the broker passes on
//!   (transaction + clearing + settlement: TX 28, MTX 17.5, TMF 11.2 TWD). Defaults here:
//!   TXF 60, MXF 30, TMF 20 TWD per lot per side, conservative retail figures.
//! - TWSE stocks: commission 0.1425 % of the value both sides (the statutory ceiling; online
//!   discounts are common), securities transaction tax 0.3 % on sells (0.15 % for same-day
//!   day trades: [`FeeSchedule::twse_stock_day_trade`]).
//!
//! Fees are not rounded to whole TWD per fill as brokers do (under 1 TWD per fill), and the
//! common 20 TWD minimum stock commission is not modelled.

use super::types::{Price, Side};

/// TWD per fill: `per_lot * qty + rate * notional (+ sell_tax_rate * notional on sells)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeeSchedule {
    /// TWD per lot (contract, board lot or share, whatever `qty` counts), each side.
    pub per_lot: f64,
    /// Fraction of the notional, each side (commission and/or transaction tax).
    pub rate: f64,
    /// Fraction of the notional on sells only (securities transaction tax).
    pub sell_tax_rate: f64,
}

/// Futures transaction tax on stock index futures: 2/100000 of the contract value per side.
pub const TAIFEX_INDEX_FUTURES_TAX: f64 = 0.000_02;
/// Statutory TWSE commission ceiling, both sides.
pub const TWSE_COMMISSION: f64 = 0.001_425;
/// Securities transaction tax on stock sells.
pub const TWSE_SELL_TAX: f64 = 0.003;
/// Securities transaction tax on day-trade sells (reduced rate).
pub const TWSE_DAY_TRADE_SELL_TAX: f64 = 0.0015;

impl FeeSchedule {
    /// No fees at all: an explicit choice, never a default.
    pub const fn none() -> FeeSchedule {
        FeeSchedule {
            per_lot: 0.0,
            rate: 0.0,
            sell_tax_rate: 0.0,
        }
    }

    /// TAIFEX stock index future: broker commission `per_lot` TWD each side plus the futures
    /// transaction tax (0.002 % of the notional each side).
    pub const fn taifex_index_future(per_lot: f64) -> FeeSchedule {
        FeeSchedule {
            per_lot,
            rate: TAIFEX_INDEX_FUTURES_TAX,
            sell_tax_rate: 0.0,
        }
    }

    /// TWSE stock: 0.1425 % commission both sides, 0.3 % transaction tax on sells.
    pub const fn twse_stock() -> FeeSchedule {
        FeeSchedule {
            per_lot: 0.0,
            rate: TWSE_COMMISSION,
            sell_tax_rate: TWSE_SELL_TAX,
        }
    }

    /// TWSE stock bought and sold the same day: the sell tax is 0.15 %.
    pub const fn twse_stock_day_trade() -> FeeSchedule {
        FeeSchedule {
            per_lot: 0.0,
            rate: TWSE_COMMISSION,
            sell_tax_rate: TWSE_DAY_TRADE_SELL_TAX,
        }
    }

    /// The fee of one fill in TWD.
    pub fn fee(&self, side: Side, price: Price, qty: i64, multiplier: f64) -> f64 {
        let notional = price.to_f64() * qty as f64 * multiplier;
        let tax = match side {
            Side::Sell => self.sell_tax_rate * notional,
            Side::Buy => 0.0,
        };
        self.per_lot * qty as f64 + self.rate * notional + tax
    }
}

/// What the venue and the account need to know about an instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstrumentSpec {
    /// TWD per 1.0 of price per lot (TXF 200, MXF 50, TMF 10, a TWSE board lot 1000).
    pub multiplier: f64,
    pub fees: FeeSchedule,
}

/// Default broker commission per lot per side (TWD). Conservative retail figures: brokers
/// negotiate them, the exchange's own fees (28 / 17.5 / 11.2) are the floor.
pub const TXF_COMMISSION: f64 = 60.0;
pub const MXF_COMMISSION: f64 = 30.0;
pub const TMF_COMMISSION: f64 = 20.0;

impl InstrumentSpec {
    /// TAIEX futures (TX), 200 TWD per point.
    pub const fn txf() -> InstrumentSpec {
        InstrumentSpec {
            multiplier: 200.0,
            fees: FeeSchedule::taifex_index_future(TXF_COMMISSION),
        }
    }

    /// Mini-TAIEX futures (MTX), 50 TWD per point.
    pub const fn mxf() -> InstrumentSpec {
        InstrumentSpec {
            multiplier: 50.0,
            fees: FeeSchedule::taifex_index_future(MXF_COMMISSION),
        }
    }

    /// Micro-TAIEX futures (TMF), 10 TWD per point.
    pub const fn tmf() -> InstrumentSpec {
        InstrumentSpec {
            multiplier: 10.0,
            fees: FeeSchedule::taifex_index_future(TMF_COMMISSION),
        }
    }

    /// A TWSE stock traded in board lots of 1000 shares.
    pub const fn twse_board_lot() -> InstrumentSpec {
        InstrumentSpec {
            multiplier: 1000.0,
            fees: FeeSchedule::twse_stock(),
        }
    }

    /// A TWSE stock traded in shares (odd lots).
    pub const fn twse_odd_lot() -> InstrumentSpec {
        InstrumentSpec {
            multiplier: 1.0,
            fees: FeeSchedule::twse_stock(),
        }
    }

    /// A guess from the contract code, like `shijim.domain.instrument_for`: TXF*/MXF*/TMF*
    /// futures, an all-digit code a TWSE board-lot stock; anything else a stock-like
    /// instrument with multiplier 1 and the TWSE rates (fees stay on: a rate scales with any
    /// notional).
    pub fn for_code(code: &str) -> InstrumentSpec {
        let up = code.trim().to_ascii_uppercase();
        if up.starts_with("TXF") {
            InstrumentSpec::txf()
        } else if up.starts_with("MXF") {
            InstrumentSpec::mxf()
        } else if up.starts_with("TMF") {
            InstrumentSpec::tmf()
        } else if !up.is_empty() && up.bytes().all(|b| b.is_ascii_digit()) {
            InstrumentSpec::twse_board_lot()
        } else {
            InstrumentSpec::twse_odd_lot()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_books::px;

    #[test]
    fn txf_fee_is_commission_plus_tax_each_side() {
        let s = InstrumentSpec::txf();
        // 2 lots at 22000: notional 2 * 22000 * 200 = 8.8 M TWD; tax 0.002 % = 176.
        let buy = s.fees.fee(Side::Buy, px(22_000), 2, s.multiplier);
        let sell = s.fees.fee(Side::Sell, px(22_000), 2, s.multiplier);
        assert!((buy - (120.0 + 176.0)).abs() < 1e-9, "{buy}");
        assert_eq!(buy, sell);
    }

    #[test]
    fn twse_sell_pays_the_transaction_tax() {
        let s = InstrumentSpec::twse_board_lot();
        // 1 lot at 600: notional 600000; commission 855, sell tax 1800.
        let buy = s.fees.fee(Side::Buy, px(600), 1, s.multiplier);
        let sell = s.fees.fee(Side::Sell, px(600), 1, s.multiplier);
        assert!((buy - 855.0).abs() < 1e-6, "{buy}");
        assert!((sell - 2655.0).abs() < 1e-6, "{sell}");
        let dt = FeeSchedule::twse_stock_day_trade().fee(Side::Sell, px(600), 1, 1000.0);
        assert!((dt - (855.0 + 900.0)).abs() < 1e-6, "{dt}");
    }

    #[test]
    fn every_guess_has_fees() {
        for code in ["TXFL5", "mxfc6", "TMFA6", "2330", "XYZ", ""] {
            let s = InstrumentSpec::for_code(code);
            assert!(
                s.fees.fee(Side::Buy, px(100), 1, s.multiplier) > 0.0,
                "{code}"
            );
        }
        assert_eq!(InstrumentSpec::for_code("MXFL5").multiplier, 50.0);
        assert_eq!(InstrumentSpec::for_code("2330").multiplier, 1000.0);
        assert_eq!(FeeSchedule::none().fee(Side::Sell, px(100), 3, 200.0), 0.0);
    }
}
