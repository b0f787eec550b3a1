//! Per-code L5 book state: the current and the previous admitted book, the times and seq of the
//! code's last event, and the signals ([`super::signals`]) updated once per event.
//!
//! Rows were validated once, at ingestion (docs/feeds.md); the book trusts them and checks only
//! what its own arithmetic stands on, each failure a counted [`DropCause`] (the row is dropped
//! whole, never half-applied, and the next row is compared with the last applied one):
//!
//! - a book needs a two-sided best level (`one_sided_book`): mid, microprice and the venue's
//!   matching mean nothing without one;
//! - the MLOFI kernel ([`crate::ofi`], reused as it is) validates the books it compares
//!   (`rejected_book`: prices > 0 and ordered, not crossed, quantities in [0, 2^50)); after
//!   ingestion this count stays 0, it is the last line, not the filter;
//! - trial-match books and trades (`simtrade`) are indicative, not the market: no signal, no
//!   venue input (`simtrade_book`, `simtrade_trade`);
//! - a trade needs a price > 0 and a volume > 0 (`bad_trade`).
//!
//! MLOFI compares level m of consecutive books, so it runs at the depth both books have (the
//! leading levels with a price > 0 on both sides; thin TWSE books send price 0 beyond): a
//! one-level book still gives Cont's OFI. The first book after a start or a reset has no
//! predecessor: it adds no flow.

use super::signals::{LastTrade, SignalConfig, Signals};
use super::types::{Nanos, Price, Side, L5, LEVELS};
use crate::ofi::{self, Books};
use crate::sbe::{BidAsk, Tick, TickType};

/// What one applied event changed, as bits (exported to Python as `FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// A book was applied.
    pub const BOOK: Flags = Flags(1);
    /// The best bid or best ask price changed (or the code's first book since a reset).
    pub const TOUCH_PRICE: Flags = Flags(2);
    /// The best bid or best ask quantity changed (price unchanged).
    pub const TOUCH_QTY: Flags = Flags(4);
    /// A real trade was applied (the last trade changed).
    pub const TRADE: Flags = Flags(8);
    /// The touch changed: price or quantity at the best bid or ask.
    pub const TOUCH: Flags = Flags(2 | 4);

    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    #[inline]
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    #[inline]
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Why a row did not reach the books (counted per cause; docs/engine.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropCause {
    /// The row's code is not one of the engine's instruments.
    UnknownCode = 0,
    /// A trial-match (simtrade) book.
    SimtradeBook = 1,
    /// No bid or no ask at the best level.
    OneSidedBook = 2,
    /// The MLOFI kernel refused the book (see the module docs).
    RejectedBook = 3,
    /// A trial-match (simtrade) trade.
    SimtradeTrade = 4,
    /// A trade with a price or volume <= 0.
    BadTrade = 5,
}

impl DropCause {
    pub const ALL: [DropCause; 6] = [
        DropCause::UnknownCode,
        DropCause::SimtradeBook,
        DropCause::OneSidedBook,
        DropCause::RejectedBook,
        DropCause::SimtradeTrade,
        DropCause::BadTrade,
    ];

    /// The label in counters and the run summary.
    pub const fn name(self) -> &'static str {
        match self {
            DropCause::UnknownCode => "unknown_code",
            DropCause::SimtradeBook => "simtrade_book",
            DropCause::OneSidedBook => "one_sided_book",
            DropCause::RejectedBook => "rejected_book",
            DropCause::SimtradeTrade => "simtrade_trade",
            DropCause::BadTrade => "bad_trade",
        }
    }
}

/// Rows dropped, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounts(pub [u64; DropCause::ALL.len()]);

impl DropCounts {
    #[inline]
    pub fn add(&mut self, cause: DropCause) {
        self.0[cause as usize] += 1;
    }

    pub fn get(&self, cause: DropCause) -> u64 {
        self.0[cause as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Width of a kernel row: one column more than the book, never read, so that `Books` always
/// takes the row kernel monomorphised per depth (the whole-row "flat" kernel allocates a
/// scratch block per call, which the per-event path must not).
const KW: usize = LEVELS + 1;

/// The previous (row 0) and current (row 1) book as the MLOFI kernel reads them. Prices are
/// the exact mantissas as f64 (exact below 2^53 and order-preserving: the kernel only compares
/// prices, so e^m is the same as from decimal floats).
#[derive(Debug, Clone, Copy)]
struct KernelRows {
    bid_px: [f64; 2 * KW],
    bid_qty: [i64; 2 * KW],
    ask_px: [f64; 2 * KW],
    ask_qty: [i64; 2 * KW],
}

impl Default for KernelRows {
    fn default() -> Self {
        KernelRows {
            bid_px: [0.0; 2 * KW],
            bid_qty: [0; 2 * KW],
            ask_px: [0.0; 2 * KW],
            ask_qty: [0; 2 * KW],
        }
    }
}

impl KernelRows {
    #[inline]
    fn set_current(&mut self, b: &L5) {
        for m in 0..LEVELS {
            self.bid_px[KW + m] = b.bid.price[m].0 as f64;
            self.bid_qty[KW + m] = b.bid.qty[m];
            self.ask_px[KW + m] = b.ask.price[m].0 as f64;
            self.ask_qty[KW + m] = b.ask.qty[m];
        }
    }

    #[inline]
    fn current_becomes_previous(&mut self) {
        self.bid_px.copy_within(KW..2 * KW, 0);
        self.bid_qty.copy_within(KW..2 * KW, 0);
        self.ask_px.copy_within(KW..2 * KW, 0);
        self.ask_qty.copy_within(KW..2 * KW, 0);
    }

    /// e^0..e^(depth-1) of the current row against the previous one (`with_prev`), or just the
    /// kernel's check of the current row (zeros) when there is no previous book.
    #[inline]
    fn mlofi(
        &self,
        with_prev: bool,
        depth: usize,
        out: &mut [f64; 2 * LEVELS],
    ) -> Result<(), ofi::OfiError> {
        let s = if with_prev { 0 } else { KW };
        let rows = if with_prev { 2 } else { 1 };
        let books = Books::new(
            &self.bid_px[s..],
            &self.bid_qty[s..],
            &self.ask_px[s..],
            &self.ask_qty[s..],
            KW,
            depth,
        )?;
        ofi::mlofi_into(&books, &mut out[..rows * depth])
    }
}

/// Leading levels with a price > 0 on both sides (the depth MLOFI may compare).
#[inline]
fn populated_depth(b: &L5) -> usize {
    let mut d = 0;
    while d < LEVELS && b.bid.price[d].0 > 0 && b.ask.price[d].0 > 0 {
        d += 1;
    }
    d
}

/// One code's book and signals.
#[derive(Debug, Clone, Default)]
pub struct CodeBook {
    book: L5,
    prev: L5,
    has_book: bool,
    has_prev: bool,
    depth: usize,
    /// Of the code's last applied event (book or trade).
    pub seq: u64,
    pub exch_ts: Nanos,
    pub local_ts: Nanos,
    signals: Signals,
    kernel: KernelRows,
    /// Continuity breaks that reset this book.
    pub resets: u64,
}

impl CodeBook {
    pub fn new() -> CodeBook {
        CodeBook::default()
    }

    /// The newest book, `None` before the first one and after a reset.
    pub fn book(&self) -> Option<&L5> {
        self.has_book.then_some(&self.book)
    }

    /// The book before it (what the last MLOFI compared against), `None` when the newest book
    /// started a fresh sequence.
    pub fn prev(&self) -> Option<&L5> {
        (self.has_book && self.has_prev).then_some(&self.prev)
    }

    pub fn has_book(&self) -> bool {
        self.has_book
    }

    /// Levels populated on both sides in the newest book.
    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// The signals, then the since-last-decision flows restart from zero.
    pub fn take_signals(&mut self) -> Signals {
        self.signals.take()
    }

    /// Applies an admitted book; `weights` = `cfg.weights()` (precomputed by the caller).
    #[inline]
    pub fn apply_bidask(
        &mut self,
        m: &BidAsk,
        weights: &[f64; LEVELS],
    ) -> Result<Flags, DropCause> {
        if m.simtrade {
            return Err(DropCause::SimtradeBook);
        }
        let mut b = L5::default();
        b.bid.price = m.bid_price;
        b.bid.qty = m.bid_volume;
        b.ask.price = m.ask_price;
        b.ask.qty = m.ask_volume;
        let depth = populated_depth(&b);
        if depth == 0 {
            return Err(DropCause::OneSidedBook);
        }
        // The kernel's row 0 holds the last applied book while there is one.
        let with_prev = self.has_book;
        let d = if with_prev {
            depth.min(self.depth)
        } else {
            depth
        };
        self.kernel.set_current(&b);
        let mut out = [0.0; 2 * LEVELS];
        if self.kernel.mlofi(with_prev, d, &mut out).is_err() {
            return Err(DropCause::RejectedBook);
        }
        let e: &[f64] = if with_prev { &out[d..2 * d] } else { &[] };
        let flags = self.touch_flags(&b);
        self.kernel.current_becomes_previous();
        self.prev = self.book;
        self.has_prev = self.has_book;
        self.book = b;
        self.has_book = true;
        self.depth = depth;
        self.seq = m.seq;
        self.exch_ts = m.exch_ts;
        self.local_ts = m.local_ts;
        self.signals.on_book(&b, e, weights);
        Ok(flags)
    }

    #[inline]
    fn touch_flags(&self, b: &L5) -> Flags {
        if !self.has_book {
            return Flags::BOOK.union(Flags::TOUCH_PRICE);
        }
        let o = &self.book;
        let mut f = Flags::BOOK;
        if o.bid.price[0] != b.bid.price[0] || o.ask.price[0] != b.ask.price[0] {
            f = f.union(Flags::TOUCH_PRICE);
        } else if o.bid.qty[0] != b.bid.qty[0] || o.ask.qty[0] != b.ask.qty[0] {
            f = f.union(Flags::TOUCH_QTY);
        }
        f
    }

    /// Applies an admitted trade: the aggressor (None when unknown) for the venue, or the cause.
    #[inline]
    pub fn apply_tick(&mut self, m: &Tick) -> Result<(Flags, Option<Side>), DropCause> {
        if m.simtrade {
            return Err(DropCause::SimtradeTrade);
        }
        if m.price.0 <= 0 || m.volume <= 0 {
            return Err(DropCause::BadTrade);
        }
        let aggressor = match m.tick_type {
            TickType::Buy => Some(Side::Buy),
            TickType::Sell => Some(Side::Sell),
            TickType::Unknown => None,
        };
        self.signals.on_trade(LastTrade {
            price: m.price,
            qty: m.volume,
            aggressor,
            exch_ts: m.exch_ts,
            local_ts: m.local_ts,
        });
        // A trade is the code's newest event, but a book's times never go backwards through it.
        self.seq = m.seq;
        self.exch_ts = self.exch_ts.max(m.exch_ts);
        self.local_ts = self.local_ts.max(m.local_ts);
        Ok((Flags::TRADE, aggressor))
    }

    /// Continuity broke (lapped reader, writer restart, session edge, feed gap): the book is
    /// gone until the next one arrives, which starts a fresh MLOFI sequence; the flows
    /// accumulated since the last decision are dropped (they span the gap).
    pub fn forget(&mut self) {
        self.has_book = false;
        self.has_prev = false;
        self.depth = 0;
        self.signals.forget_flows();
        self.resets += 1;
    }

    /// Mid of the newest book (for marks), `None` without a book.
    #[inline]
    pub fn mid(&self) -> Option<f64> {
        self.has_book.then_some(self.signals.mid)
    }

    /// Best bid and ask prices, exact.
    pub fn touch(&self) -> Option<(Price, Price)> {
        self.has_book
            .then_some((self.book.bid.price[0], self.book.ask.price[0]))
    }
}

/// The books of every instrument of an engine, indexed by `CodeId`.
#[derive(Debug, Clone)]
pub struct BookTable {
    books: Vec<CodeBook>,
    cfg: SignalConfig,
    weights: [f64; LEVELS],
}

impl BookTable {
    pub fn new(codes: usize, cfg: SignalConfig) -> BookTable {
        BookTable {
            books: vec![CodeBook::new(); codes],
            cfg,
            weights: cfg.weights(),
        }
    }

    pub fn config(&self) -> SignalConfig {
        self.cfg
    }

    pub fn len(&self) -> usize {
        self.books.len()
    }

    pub fn is_empty(&self) -> bool {
        self.books.is_empty()
    }

    #[inline]
    pub fn get(&self, id: u32) -> Option<&CodeBook> {
        self.books.get(id as usize)
    }

    #[inline]
    pub fn get_mut(&mut self, id: u32) -> Option<&mut CodeBook> {
        self.books.get_mut(id as usize)
    }

    /// [`CodeBook::apply_bidask`] with this table's fold; `None` for an id out of range.
    #[inline]
    pub fn apply_bidask(&mut self, id: u32, m: &BidAsk) -> Option<Result<Flags, DropCause>> {
        let w = self.weights;
        self.books
            .get_mut(id as usize)
            .map(|b| b.apply_bidask(m, &w))
    }

    /// Every book forgets (lapped reader / writer restart / a shard-wide feed event).
    pub fn forget_all(&mut self) {
        for b in &mut self.books {
            b.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbe::{Code, PRICE_SCALE};

    fn p(x: i64) -> Price {
        Price(x * PRICE_SCALE)
    }

    /// A TXF-like book: bids `bid - m`, asks `ask + m`, quantities as given.
    fn ba(bid: i64, ask: i64, qb: [i64; 5], qa: [i64; 5]) -> BidAsk {
        BidAsk {
            seq: 0,
            exch_ts: 10,
            local_ts: 20,
            code: Code::new("TXFL4").unwrap(),
            bid_price: std::array::from_fn(|m| p(bid - m as i64)),
            bid_volume: qb,
            ask_price: std::array::from_fn(|m| p(ask + m as i64)),
            ask_volume: qa,
            simtrade: false,
        }
    }

    fn w() -> [f64; LEVELS] {
        SignalConfig::default().weights()
    }

    /// The paper's formula per level, written out independently of the kernel.
    fn e_by_hand(prev: &BidAsk, cur: &BidAsk, depth: usize) -> Vec<f64> {
        (0..depth)
            .map(|m| {
                let (b, a) = (cur.bid_price[m], cur.ask_price[m]);
                let (b0, a0) = (prev.bid_price[m], prev.ask_price[m]);
                let mut x = 0i64;
                if b >= b0 {
                    x += cur.bid_volume[m];
                }
                if b <= b0 {
                    x -= prev.bid_volume[m];
                }
                if a <= a0 {
                    x -= cur.ask_volume[m];
                }
                if a >= a0 {
                    x += prev.ask_volume[m];
                }
                x as f64
            })
            .collect()
    }

    #[test]
    fn mlofi_and_ofi_accumulate_like_the_formula() {
        let mut b = CodeBook::new();
        let rows = [
            ba(100, 101, [5, 4, 3, 2, 1], [6, 5, 4, 3, 2]),
            ba(101, 102, [7, 4, 3, 2, 1], [6, 5, 4, 3, 2]), // everything up one tick
            ba(101, 102, [9, 4, 1, 2, 8], [2, 5, 4, 7, 2]), // same prices, sizes change
            ba(100, 102, [3, 3, 3, 3, 3], [1, 1, 1, 1, 1]), // bid down, ask same
        ];
        let mut want_mlofi = [0.0; 5];
        let mut want_ofi = 0.0;
        for (n, r) in rows.iter().enumerate() {
            b.apply_bidask(r, &w()).unwrap();
            if n > 0 {
                let e = e_by_hand(&rows[n - 1], r, 5);
                let mut folded = 0.0;
                for m in 0..5 {
                    want_mlofi[m] += e[m];
                    folded += e[m] * 0.5f64.powf(m as f64);
                }
                want_ofi += folded;
            }
        }
        let s = b.signals();
        assert_eq!(s.since.mlofi, want_mlofi);
        assert_eq!(s.since.ofi_best, want_mlofi[0]);
        assert_eq!(s.since.ofi, want_ofi);
        // By hand at the best level: +7 (bid up) + 6 (ask up: + old ask qty) = 13; then
        // 9 - 7 and -2 + 6 -> 6; then bid down -9, ask same -1 + 2 -> -8.
        assert_eq!(s.since.ofi_best, 13.0 + 6.0 - 8.0);
        assert_eq!(s.since.books, 4);
        assert_eq!(b.prev().unwrap().bid.price[0], p(101));
    }

    #[test]
    fn thin_books_compare_at_the_common_depth() {
        let mut b = CodeBook::new();
        let mut thin = ba(100, 101, [5, 4, 0, 0, 0], [6, 5, 0, 0, 0]);
        for m in 2..5 {
            thin.bid_price[m] = Price::ZERO;
            thin.ask_price[m] = Price::ZERO;
        }
        let full = ba(100, 101, [6, 6, 6, 6, 6], [6, 6, 6, 6, 6]);
        b.apply_bidask(&full, &w()).unwrap();
        b.apply_bidask(&thin, &w()).unwrap();
        assert_eq!(b.depth(), 2);
        // Levels 1-2 compared (5 - 6 - 6 + 6 = -1; 4 - 6 - 5 + 6 = -1), nothing deeper.
        assert_eq!(b.signals().since.mlofi, [-1.0, -1.0, 0.0, 0.0, 0.0]);
        b.apply_bidask(&full, &w()).unwrap();
        assert_eq!(b.signals().since.mlofi, [0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(b.depth(), 5);
    }

    #[test]
    fn touch_flags() {
        let mut b = CodeBook::new();
        let r = ba(100, 101, [5, 4, 3, 2, 1], [6, 5, 4, 3, 2]);
        assert_eq!(
            b.apply_bidask(&r, &w()),
            Ok(Flags::BOOK.union(Flags::TOUCH_PRICE))
        );
        let mut deeper = r;
        deeper.bid_volume[3] = 50;
        assert_eq!(b.apply_bidask(&deeper, &w()), Ok(Flags::BOOK));
        let mut qty = deeper;
        qty.ask_volume[0] = 1;
        assert_eq!(
            b.apply_bidask(&qty, &w()),
            Ok(Flags::BOOK.union(Flags::TOUCH_QTY))
        );
        let up = ba(101, 102, [5, 4, 3, 2, 1], [6, 5, 4, 3, 2]);
        let f = b.apply_bidask(&up, &w()).unwrap();
        assert!(f.contains(Flags::TOUCH_PRICE) && !f.intersects(Flags::TOUCH_QTY));
        assert!(f.intersects(Flags::TOUCH));
    }

    #[test]
    fn bad_rows_are_dropped_whole_and_counted_by_cause() {
        let mut b = CodeBook::new();
        let good = ba(100, 101, [5, 4, 3, 2, 1], [6, 5, 4, 3, 2]);
        b.apply_bidask(&good, &w()).unwrap();
        let mut crossed = ba(101, 101, [5, 4, 3, 2, 1], [6, 5, 4, 3, 2]);
        assert_eq!(b.apply_bidask(&crossed, &w()), Err(DropCause::RejectedBook));
        crossed.bid_volume[2] = -1;
        crossed.ask_price[0] = p(102);
        assert_eq!(b.apply_bidask(&crossed, &w()), Err(DropCause::RejectedBook));
        let mut one_sided = good;
        one_sided.ask_price = [Price::ZERO; 5];
        one_sided.ask_volume = [0; 5];
        assert_eq!(
            b.apply_bidask(&one_sided, &w()),
            Err(DropCause::OneSidedBook)
        );
        let mut sim = good;
        sim.simtrade = true;
        assert_eq!(b.apply_bidask(&sim, &w()), Err(DropCause::SimtradeBook));
        // Nothing of the dropped rows stuck: the next book compares with `good`.
        assert_eq!(b.signals().since.books, 1);
        let next = ba(100, 101, [6, 4, 3, 2, 1], [6, 5, 4, 3, 2]);
        b.apply_bidask(&next, &w()).unwrap();
        assert_eq!(b.signals().since.ofi_best, 1.0);
        // A bad first book is refused by the kernel's check too.
        let mut fresh = CodeBook::new();
        let mut unordered = good;
        unordered.bid_price[2] = p(100);
        assert_eq!(
            fresh.apply_bidask(&unordered, &w()),
            Err(DropCause::RejectedBook)
        );
        assert!(!fresh.has_book());
        // Trades.
        let t = |price: i64, volume: i64, sim: bool| Tick {
            seq: 9,
            exch_ts: 5,
            local_ts: 30,
            code: Code::new("TXFL4").unwrap(),
            price: p(price),
            volume,
            total_volume: 0,
            tick_type: TickType::Sell,
            simtrade: sim,
        };
        assert_eq!(
            b.apply_tick(&t(100, 1, true)),
            Err(DropCause::SimtradeTrade)
        );
        assert_eq!(b.apply_tick(&t(0, 1, false)), Err(DropCause::BadTrade));
        assert_eq!(b.apply_tick(&t(100, 0, false)), Err(DropCause::BadTrade));
        assert_eq!(
            b.apply_tick(&t(100, 2, false)),
            Ok((Flags::TRADE, Some(Side::Sell)))
        );
        assert_eq!(b.signals().since.trade_flow, -2);
        // Times never go backwards through an older trade; its seq is the newest.
        assert_eq!((b.seq, b.exch_ts, b.local_ts), (9, 10, 30));
        let mut counts = DropCounts::default();
        counts.add(DropCause::BadTrade);
        counts.add(DropCause::BadTrade);
        assert_eq!(counts.get(DropCause::BadTrade), 2);
        assert_eq!(counts.total(), 2);
        assert_eq!(DropCause::ALL.map(|c| c as usize), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn forget_starts_a_fresh_sequence() {
        let mut b = CodeBook::new();
        b.apply_bidask(&ba(100, 101, [5; 5], [5; 5]), &w()).unwrap();
        b.apply_bidask(&ba(101, 102, [5; 5], [5; 5]), &w()).unwrap();
        assert_eq!(b.signals().since.ofi_best, 10.0);
        b.forget();
        assert!(b.book().is_none() && b.mid().is_none());
        assert_eq!(b.signals().since.ofi_best, 0.0);
        // Compared with nothing: a big move across the gap adds no flow, and is a touch change.
        let f = b.apply_bidask(&ba(90, 91, [5; 5], [5; 5]), &w()).unwrap();
        assert!(f.contains(Flags::TOUCH_PRICE));
        assert_eq!(b.signals().since.ofi_best, 0.0);
        assert!(b.prev().is_none());
        assert_eq!(b.signals().total.ofi_best, 10.0);
        assert_eq!(b.resets, 1);
    }

    #[test]
    fn table_ids_out_of_range_are_none() {
        let mut t = BookTable::new(2, SignalConfig::default());
        assert!(t.apply_bidask(2, &ba(100, 101, [5; 5], [5; 5])).is_none());
        assert!(t.apply_bidask(1, &ba(100, 101, [5; 5], [5; 5])).is_some());
        t.forget_all();
        assert!(!t.get(1).unwrap().has_book());
    }
}
