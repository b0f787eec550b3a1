//! The engine's shared vocabulary: instrument handles, sides, order identities and the clock
//! unit. Prices are the wire's exact fixed-point [`Price`] (mantissa at exponent -6), so the
//! venue compares prices exactly; quantities are whole lots/shares (`i64`).

pub use crate::sbe::{Price, LEVELS, PRICE_SCALE};

/// Nanoseconds on the engine's one clock: event time in sim/replay/backtest, monotonic live.
pub type Nanos = i64;

/// Dense per-engine index of an instrument (assigned when the code is added).
pub type CodeId = u32;

/// Venue-assigned order identity, unique per engine run, increasing in submission order.
pub type OrderId = u64;

/// Side of an order or of a trade's aggressor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Buy = 1,
    Sell = 2,
}

impl Side {
    /// +1 for a buy, -1 for a sell (signed quantities, OFI signs).
    pub const fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Wire code (the same numbers as `TickType::Buy`/`Sell`), `None` for anything else.
    pub const fn from_u8(v: u8) -> Option<Side> {
        match v {
            1 => Some(Side::Buy),
            2 => Some(Side::Sell),
            _ => None,
        }
    }
}

/// One side of a five-level book, best level first. An empty level has price 0 and qty 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Levels {
    pub price: [Price; LEVELS],
    pub qty: [i64; LEVELS],
}

impl Levels {
    /// Leading levels with a positive price and quantity (ingestion admits no holes).
    pub fn depth(&self) -> usize {
        self.price
            .iter()
            .zip(&self.qty)
            .take_while(|(p, q)| p.0 > 0 && **q > 0)
            .count()
    }

    /// The best level as (price, qty), `None` if the side is empty.
    pub fn best(&self) -> Option<(Price, i64)> {
        (self.price[0].0 > 0 && self.qty[0] > 0).then(|| (self.price[0], self.qty[0]))
    }
}

/// A five-level book snapshot as admitted by ingestion (the engine trusts it: rows are
/// validated once, at ingestion; docs/feeds.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L5 {
    pub bid: Levels,
    pub ask: Levels,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_stops_at_the_first_empty_level() {
        let mut l = Levels::default();
        l.price[0] = Price(100 * PRICE_SCALE);
        l.qty[0] = 3;
        l.price[1] = Price(99 * PRICE_SCALE);
        l.qty[1] = 0;
        l.price[2] = Price(98 * PRICE_SCALE);
        l.qty[2] = 5;
        assert_eq!(l.depth(), 1);
        assert_eq!(l.best(), Some((Price(100 * PRICE_SCALE), 3)));
        assert_eq!(Levels::default().best(), None);
    }

    #[test]
    fn side_codes_round_trip() {
        for s in [Side::Buy, Side::Sell] {
            assert_eq!(Side::from_u8(s as u8), Some(s));
            assert_eq!(s.opposite().opposite(), s);
        }
        assert_eq!(Side::from_u8(0), None);
        assert_eq!(Side::Buy.sign() + Side::Sell.sign(), 0);
    }
}
