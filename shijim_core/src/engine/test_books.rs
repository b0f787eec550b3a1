//! Test builders shared by the engine's and the toolkit's tests: prices in points (whole or
//! fractional) and L5 books from (price, qty) pairs, best level first.

use super::types::{Levels, Price, L5, LEVELS, PRICE_SCALE};

/// A price written in points in a test: `px(100)` or `px(20000.5)`.
pub(crate) trait Points: Copy {
    fn price(self) -> Price;
}

impl Points for i32 {
    fn price(self) -> Price {
        Price(i64::from(self) * PRICE_SCALE)
    }
}

impl Points for i64 {
    fn price(self) -> Price {
        Price(self * PRICE_SCALE)
    }
}

impl Points for f64 {
    fn price(self) -> Price {
        Price((self * PRICE_SCALE as f64).round() as i64)
    }
}

pub(crate) fn px(p: impl Points) -> Price {
    p.price()
}

/// One side from (price, qty) pairs, best first; the levels not given stay empty.
pub(crate) fn side<P: Points>(levels: &[(P, i64)]) -> Levels {
    let mut l = Levels::default();
    for (i, &(p, q)) in levels.iter().enumerate().take(LEVELS) {
        l.price[i] = p.price();
        l.qty[i] = q;
    }
    l
}

pub(crate) fn book<P: Points>(bids: &[(P, i64)], asks: &[(P, i64)]) -> L5 {
    L5 {
        bid: side(bids),
        ask: side(asks),
    }
}
