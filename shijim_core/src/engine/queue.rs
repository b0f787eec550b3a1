//! The queue rules shared by the paper venue (`venue::requeue`) and the queue-position
//! estimator (`algo::piq`), so that a live estimate and what the paper venue did are computed
//! by the same functions (docs/execution.md, docs/signals.md).

use super::types::{Levels, Price, Side, LEVELS};

/// The first level with a positive quantity and price (levels can be emptied by what we took).
pub fn first_live(l: &Levels) -> Option<Price> {
    (0..LEVELS)
        .find(|&i| l.qty[i] > 0 && l.price[i].0 > 0)
        .map(|i| l.price[i])
}

/// Displayed quantity at `price` on one side (best first): the quantity if quoted; 0 if the
/// price lies inside the displayed range or better than the best but is not quoted; `None`
/// beyond the displayed levels or when the side is empty.
pub fn level_qty(l: &Levels, price: Price, side: Side) -> Option<i64> {
    let mut deepest = None;
    for i in 0..LEVELS {
        if l.qty[i] <= 0 || l.price[i].0 <= 0 {
            continue;
        }
        if l.price[i] == price {
            return Some(l.qty[i]);
        }
        deepest = Some(l.price[i]);
    }
    let d = deepest?;
    let beyond = match side {
        Side::Buy => price < d,
        Side::Sell => price > d,
    };
    (!beyond).then_some(0)
}

/// Others' lots ahead of us that an unexplained drop of `dropped` lots at our level removes,
/// pro rata: `ceil(dropped * ahead / level)`, exact in i128 (0 when any is <= 0).
pub fn pro_rata_cancels_ahead(dropped: i64, ahead: i64, level: i64) -> i64 {
    if dropped <= 0 || ahead <= 0 || level <= 0 {
        return 0;
    }
    let (d, a, l) = (dropped as i128, ahead as i128, level as i128);
    ((d * a + l - 1) / l).min(i64::MAX as i128) as i64
}
