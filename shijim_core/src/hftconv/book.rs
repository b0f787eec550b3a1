//! The book as hftbacktest will hold it, one side at a time, and the per-level changes that
//! take it from one five-level snapshot to the next.
//!
//! The visible window of a side is every price at or inside its worst (farthest) shown level;
//! when a side shows fewer than five levels, the whole side is visible (Shioaji fills the five
//! best occupied prices, so an empty level means there is nothing beyond it). Inside the window
//! the snapshot is the truth: a known level it does not show is gone (a qty-0 row). A known
//! level beyond the window is not shown but not known to be gone: it keeps its last quantity
//! (no row) until the window reaches it again. docs/backtest.md, "Converter", says why: a qty-0
//! row moves every resting order at that price to the front of its queue in all of
//! hftbacktest's queue models.

use std::cmp::Ordering;

/// One price level: exact price mantissa (10^-6 units) and quantity.
pub type Level = (i64, i64);

/// One side of the book, levels ordered from the farthest to the nearest price (bids by
/// ascending price, asks by descending price), so the visible window is always a suffix.
#[derive(Debug, Clone, Default)]
pub struct SideBook {
    ask: bool,
    levels: Vec<Level>,
    /// `levels[..stale]` lie beyond the window of the last snapshot (kept, not shown).
    stale: usize,
}

/// What one snapshot changed on one side.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SideChange {
    /// Known levels that were visible before and are now beyond the window (kept).
    pub left_window: u64,
}

impl SideBook {
    pub fn bids() -> SideBook {
        SideBook::default()
    }

    pub fn asks() -> SideBook {
        SideBook {
            ask: true,
            ..SideBook::default()
        }
    }

    /// Orders prices from far to near: `Less` means `a` is farther from the touch than `b`.
    fn far_to_near(&self, a: i64, b: i64) -> Ordering {
        if self.ask {
            b.cmp(&a)
        } else {
            a.cmp(&b)
        }
    }

    /// The levels as hftbacktest holds them, far to near.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Takes `shown` (the snapshot's non-empty levels of this side, best first, strictly
    /// monotone: checked by the caller) as the new truth inside its window. Appends the
    /// prices whose level is gone to `gone` and the levels that are new or changed to `set`.
    /// `full`: the snapshot shows the whole side (fewer than five levels).
    pub fn apply(
        &mut self,
        shown: &[Level],
        full: bool,
        gone: &mut Vec<i64>,
        set: &mut Vec<Level>,
    ) -> SideChange {
        // The first level (far to near) inside the window.
        let cut = match shown.last() {
            Some(&(worst, _)) if !full => self
                .levels
                .partition_point(|&(px, _)| self.far_to_near(px, worst) == Ordering::Less),
            _ => 0,
        };
        let change = SideChange {
            left_window: cut.saturating_sub(self.stale) as u64,
        };
        // Merge the old window with the shown levels, both far to near.
        let old = self.levels.get(cut..).unwrap_or(&[]);
        let mut new = shown.iter().rev().peekable();
        let mut old_it = old.iter().peekable();
        loop {
            match (old_it.peek(), new.peek()) {
                (None, None) => break,
                (Some(&&(opx, _)), None) => {
                    gone.push(opx);
                    old_it.next();
                }
                (None, Some(&&lv)) => {
                    set.push(lv);
                    new.next();
                }
                (Some(&&(opx, oqty)), Some(&&(npx, nqty))) => match self.far_to_near(opx, npx) {
                    Ordering::Less => {
                        gone.push(opx);
                        old_it.next();
                    }
                    Ordering::Greater => {
                        set.push((npx, nqty));
                        new.next();
                    }
                    Ordering::Equal => {
                        if oqty != nqty {
                            set.push((npx, nqty));
                        }
                        old_it.next();
                        new.next();
                    }
                },
            }
        }
        self.levels.truncate(cut);
        self.levels.extend(shown.iter().rev().copied());
        self.stale = cut;
        change
    }
}
