//! L5 book features, one book at a time ([`L5Features::update`]) or over a batch
//! ([`features_batch`], the same update row by row). docs/signals.md ("L5 features") has every
//! formula, its paper and its sign; in short, with `b_m`, `a_m` the bid/ask price and `qb_m`,
//! `qa_m` the quantities at level m (0 = best), over the book's populated depth `d`:
//!
//! | column | definition |
//! |---|---|
//! | `mid`, `spread` | (b_0 + a_0) / 2, a_0 - b_0 |
//! | `microprice` | (b_0 qa_0 + a_0 qb_0) / (qb_0 + qa_0); the mid when both are 0 (as the engine) |
//! | `weighted_mid` | (B qa + A qb) / (qb + qa) with B, A each side's VWAP over d levels and qb, qa its volume; the mid when both are 0 |
//! | `imbalance_l{m+1}` | (qb_m - qa_m) / (qb_m + qa_m), 0 when both are 0, NaN beyond d |
//! | `cum_imbalance_l{m+1}` | the same over the summed quantities of levels 0..=m, NaN beyond d |
//! | `bid_slope`, `ask_slope` | least squares through the origin of the side's cumulative quantity on the distance from the mid: sum(dist Q) / sum(dist^2), lots per price unit |
//! | `book_pressure` | (sum qb_m / db_m - sum qa_m / da_m) / (the same summed), distances to the mid; 0 when empty |
//! | `ofi_l{m+1}` | e^m of Xu, Gould & Howison (2019) against the previous book ([`crate::ofi`], the same kernel as the engine), at the depth both books have; `ofi_l1` is Cont, Kukanov & Stoikov's OFI; 0 for the first book |
//! | `log_return` | ln(mid / previous mid), 0 for the first book |
//! | `realized_var` | rv = decay * rv + log_return^2, decay = 0.5^(1/rv_halflife) (event time) |
//! | `depth` | d |
//!
//! Positive imbalances, OFI, pressure and returns mean buying pressure / a rising price.
//!
//! **Bad input.** A book needs a two-sided best level that is not crossed (`best bid < best
//! ask`, both > 0, at most 2^52 x 10^-6 so that sums stay exact) and quantities that are
//! whole, finite, >= 0 and below 2^50 on the levels it uses (from float arrays: on every level
//! with a price); otherwise [`L5Features::update`] returns an [`AlgoError`] and the stream
//! keeps its state (the next good book is compared with the last good one). The populated depth
//! ends at the first level with a price <= 0 on either side (Shioaji's empty level) or out of
//! order with the level above. Zero quantities are valid (imbalance 0, microprice = mid).

use super::AlgoError;
use crate::engine::types::{Levels, Price, L5, LEVELS, PRICE_SCALE};
use crate::ofi::{self, MAX_QUANTITY};

/// Columns of a feature row, in order (exported to Python as `L5_FEATURE_NAMES`).
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "mid",
    "spread",
    "microprice",
    "weighted_mid",
    "imbalance_l1",
    "imbalance_l2",
    "imbalance_l3",
    "imbalance_l4",
    "imbalance_l5",
    "cum_imbalance_l1",
    "cum_imbalance_l2",
    "cum_imbalance_l3",
    "cum_imbalance_l4",
    "cum_imbalance_l5",
    "bid_slope",
    "ask_slope",
    "book_pressure",
    "ofi_l1",
    "ofi_l2",
    "ofi_l3",
    "ofi_l4",
    "ofi_l5",
    "log_return",
    "realized_var",
    "depth",
];

/// Width of a feature row.
pub const N_FEATURES: usize = 25;

const MID: usize = 0;
const SPREAD: usize = 1;
const MICRO: usize = 2;
const WMID: usize = 3;
const IMB: usize = 4;
const CUM: usize = 9;
const BID_SLOPE: usize = 14;
const ASK_SLOPE: usize = 15;
const PRESSURE: usize = 16;
const OFI: usize = 17;
const LOG_RET: usize = 22;
const RV: usize = 23;
const DEPTH: usize = 24;

/// One feature row.
pub type FeatureRow = [f64; N_FEATURES];

/// How the features are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    /// Book levels used (1..=5): deeper levels are ignored.
    pub levels: usize,
    /// Half-life of the realised variance, in books (inf: a running sum).
    pub rv_halflife: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            levels: LEVELS,
            rv_halflife: 100.0,
        }
    }
}

impl FeatureConfig {
    pub fn new_checked(levels: usize, rv_halflife: f64) -> Result<FeatureConfig, AlgoError> {
        if !(1..=LEVELS).contains(&levels) {
            return Err(AlgoError::config(
                "levels",
                format!("must be in [1, {LEVELS}], got {levels}"),
            ));
        }
        super::halflife_decay("rv_halflife", rv_halflife)?;
        Ok(FeatureConfig {
            levels,
            rv_halflife,
        })
    }
}

/// Where the current book starts in the kernel's arrays (the previous one starts at 0).
const KW: usize = LEVELS;

/// The streaming feature kernel.
#[derive(Debug, Clone)]
pub struct L5Features {
    cfg: FeatureConfig,
    decay: f64,
    /// Previous (from 0) and current (from KW) book for MLOFI, prices as mantissas.
    bid_px: [f64; 2 * KW],
    bid_qty: [i64; 2 * KW],
    ask_px: [f64; 2 * KW],
    ask_qty: [i64; 2 * KW],
    has_prev: bool,
    prev_depth: usize,
    /// Previous mid as the sum of the best mantissas (2 x mid x 10^6): exact.
    prev_mid2: i64,
    rv: f64,
}

/// Prices (mantissas) up to this: sums of two stay exact in f64 and far from i64 overflow.
const MAX_MANTISSA: i64 = 1 << 52;

/// The side's populated levels: each level's price > 0 and strictly behind the one above.
#[inline(always)]
fn side_ok(l: &Levels, m: usize, bid: bool) -> bool {
    let p = l.price[m].0;
    let q = l.qty[m];
    let ordered = if bid {
        p < l.price[m - 1].0
    } else {
        p > l.price[m - 1].0
    };
    p > 0 && p <= MAX_MANTISSA && ordered && (0..1i64 << 50).contains(&q)
}

/// Checks the best level (the book is refused without it) and returns the populated depth.
pub fn book_depth(book: &L5, levels: usize) -> Result<usize, AlgoError> {
    let (b, a) = (book.bid.price[0], book.ask.price[0]);
    if b.0 <= 0 {
        return Err(AlgoError::at_level(
            "bid_px",
            0,
            format!("no best bid (price {b}): an empty or one-sided book"),
        ));
    }
    if a.0 <= 0 {
        return Err(AlgoError::at_level(
            "ask_px",
            0,
            format!("no best ask (price {a}): an empty or one-sided book"),
        ));
    }
    if b >= a {
        return Err(AlgoError::input(
            "book",
            format!("crossed or locked: best bid {b} >= best ask {a}"),
        ));
    }
    if a.0 > MAX_MANTISSA {
        return Err(AlgoError::at_level(
            "ask_px",
            0,
            format!("{a}: above the features' range (2^52 x 10^-6, about 4.5e9)"),
        ));
    }
    for (field, q) in [("bid_qty", book.bid.qty[0]), ("ask_qty", book.ask.qty[0])] {
        if !(0..1i64 << 50).contains(&q) {
            return Err(AlgoError::at_level(
                field,
                0,
                format!("{q}: quantity must be >= 0 and below 2^50"),
            ));
        }
    }
    let mut d = 1;
    while d < levels && side_ok(&book.bid, d, true) && side_ok(&book.ask, d, false) {
        d += 1;
    }
    Ok(d)
}

/// (x - y) / (x + y), 0 when both are 0.
#[inline(always)]
fn imbalance(x: f64, y: f64) -> f64 {
    let t = x + y;
    if t > 0.0 {
        (x - y) / t
    } else {
        0.0
    }
}

impl L5Features {
    pub fn new_checked(cfg: FeatureConfig) -> Result<L5Features, AlgoError> {
        let cfg = FeatureConfig::new_checked(cfg.levels, cfg.rv_halflife)?;
        Ok(L5Features {
            decay: super::halflife_decay("rv_halflife", cfg.rv_halflife)?,
            cfg,
            bid_px: [0.0; 2 * KW],
            bid_qty: [0; 2 * KW],
            ask_px: [0.0; 2 * KW],
            ask_qty: [0; 2 * KW],
            has_prev: false,
            prev_depth: 0,
            prev_mid2: 0,
            rv: 0.0,
        })
    }

    pub fn config(&self) -> FeatureConfig {
        self.cfg
    }

    /// Forget the previous book (a feed gap, a new session): the next book has no OFI and no
    /// return; the realised variance restarts from 0.
    pub fn reset(&mut self) {
        self.has_prev = false;
        self.rv = 0.0;
    }

    /// Features of `book` against the previous accepted one, into `out`. On error `out` is
    /// untouched and so is the stream.
    #[inline]
    pub fn update(&mut self, book: &L5, out: &mut FeatureRow) -> Result<(), AlgoError> {
        let d = book_depth(book, self.cfg.levels)?;
        for m in 0..LEVELS {
            self.bid_px[KW + m] = book.bid.price[m].0 as f64;
            self.bid_qty[KW + m] = book.bid.qty[m];
            self.ask_px[KW + m] = book.ask.price[m].0 as f64;
            self.ask_qty[KW + m] = book.ask.qty[m];
        }
        // MLOFI over the depth both books have: its per-level formula itself, as both books
        // passed book_depth's checks (the batch kernel would check them again).
        let mut e = [0.0; LEVELS];
        let with_prev = self.has_prev;
        let dd = if with_prev { d.min(self.prev_depth) } else { 0 };
        if dd > 0 {
            let prev = ofi::Book {
                bid_px: &self.bid_px[..dd],
                bid_qty: &self.bid_qty[..dd],
                ask_px: &self.ask_px[..dd],
                ask_qty: &self.ask_qty[..dd],
            };
            let cur = ofi::Book {
                bid_px: &self.bid_px[KW..KW + dd],
                bid_qty: &self.bid_qty[KW..KW + dd],
                ask_px: &self.ask_px[KW..KW + dd],
                ask_qty: &self.ask_qty[KW..KW + dd],
            };
            ofi::contributions(&prev, &cur, &mut e[..dd]);
        }

        let scale = PRICE_SCALE as f64;
        let (b0, a0) = (book.bid.price[0].0, book.ask.price[0].0);
        let (qb0, qa0) = (book.bid.qty[0] as f64, book.ask.qty[0] as f64);
        let mid2 = b0 + a0; // valid mantissas are far below 2^62: no overflow
        let (bf, af) = (b0 as f64, a0 as f64);
        let mid_m = mid2 as f64 * 0.5;
        out[MID] = mid2 as f64 / (2.0 * scale);
        out[SPREAD] = (a0 - b0) as f64 / scale;
        out[MICRO] = if qb0 + qa0 > 0.0 {
            (bf * qa0 + af * qb0) / (qb0 + qa0) / scale
        } else {
            out[MID]
        };

        let (mut sb, mut sa) = (0.0, 0.0); // cumulative quantities
        let (mut vb, mut va) = (0.0, 0.0); // price x quantity (mantissa units)
        let (mut xb, mut xa) = (0.0, 0.0); // sum dist * Q
        let (mut db2, mut da2) = (0.0, 0.0); // sum dist^2
        let (mut pb, mut pa) = (0.0, 0.0); // sum q / dist
        for m in 0..LEVELS {
            if m < d {
                let (bp, ap) = (self.bid_px[KW + m], self.ask_px[KW + m]);
                let (qb, qa) = (self.bid_qty[KW + m] as f64, self.ask_qty[KW + m] as f64);
                sb += qb;
                sa += qa;
                vb += bp * qb;
                va += ap * qa;
                let (dbm, dam) = (mid_m - bp, ap - mid_m);
                xb += dbm * sb;
                xa += dam * sa;
                db2 += dbm * dbm;
                da2 += dam * dam;
                pb += qb / dbm;
                pa += qa / dam;
                out[IMB + m] = imbalance(qb, qa);
                out[CUM + m] = imbalance(sb, sa);
            } else {
                out[IMB + m] = f64::NAN;
                out[CUM + m] = f64::NAN;
            }
        }
        let bid_avg = if sb > 0.0 { vb / sb } else { bf };
        let ask_avg = if sa > 0.0 { va / sa } else { af };
        out[WMID] = if sb + sa > 0.0 {
            (bid_avg * sa + ask_avg * sb) / (sb + sa) / scale
        } else {
            out[MID]
        };
        // Distances are in mantissa units: x10^6 gives lots per price unit.
        out[BID_SLOPE] = xb / db2 * scale;
        out[ASK_SLOPE] = xa / da2 * scale;
        out[PRESSURE] = imbalance(pb, pa);
        for m in 0..LEVELS {
            out[OFI + m] = if m < dd { e[m] } else { 0.0 };
        }
        let r = if with_prev && mid2 != self.prev_mid2 {
            (mid2 as f64 / self.prev_mid2 as f64).ln()
        } else {
            0.0
        };
        self.rv = self.decay * self.rv + r * r;
        out[LOG_RET] = r;
        out[RV] = self.rv;
        out[DEPTH] = d as f64;

        self.bid_px.copy_within(KW..2 * KW, 0);
        self.bid_qty.copy_within(KW..2 * KW, 0);
        self.ask_px.copy_within(KW..2 * KW, 0);
        self.ask_qty.copy_within(KW..2 * KW, 0);
        self.has_prev = true;
        self.prev_depth = d;
        self.prev_mid2 = mid2;
        Ok(())
    }
}

/// A book from float rows (numpy): `width` (<= 5) entries per side, best first. A price of 0
/// or NaN beyond the best level is an empty level (the populated depth ends there); prices must
/// otherwise be exact at 10^-6 (the engine's fixed point) and quantities whole, finite, >= 0
/// and below 2^50 where a price is given. Levels beyond `width` are empty.
pub fn l5_from_f64(
    bid_px: &[f64],
    bid_qty: &[f64],
    ask_px: &[f64],
    ask_qty: &[f64],
) -> Result<L5, AlgoError> {
    let width = bid_px.len();
    if width == 0 || width > LEVELS {
        return Err(AlgoError::shape(
            "bid_px",
            format!("{width} levels given, expected 1 to {LEVELS}"),
        ));
    }
    for (field, len) in [
        ("bid_qty", bid_qty.len()),
        ("ask_px", ask_px.len()),
        ("ask_qty", ask_qty.len()),
    ] {
        if len != width {
            return Err(AlgoError::shape(
                field,
                format!("{len} levels given, bid_px has {width}"),
            ));
        }
    }
    let mut book = L5::default();
    for (side, px, qty, pf, qf) in [
        (&mut book.bid, bid_px, bid_qty, "bid_px", "bid_qty"),
        (&mut book.ask, ask_px, ask_qty, "ask_px", "ask_qty"),
    ] {
        for m in 0..width {
            let p = px[m];
            if (p == 0.0 || p.is_nan()) && m > 0 {
                continue; // an empty level
            }
            let price = Price::from_f64(p)
                .map_err(|fault| AlgoError::at_level(pf, m, fault.describe(p)))?;
            if price.0 < 0 {
                return Err(AlgoError::at_level(pf, m, format!("{p}: negative price")));
            }
            let q = qty[m];
            if !((0.0..MAX_QUANTITY).contains(&q) && q.fract() == 0.0) {
                return Err(AlgoError::at_level(
                    qf,
                    m,
                    format!("{q}: quantity must be a whole number >= 0 and below 2^50"),
                ));
            }
            side.price[m] = price;
            side.qty[m] = q as i64;
        }
    }
    Ok(book)
}

/// Book `r` of row-major (N, width) arrays as an [`L5`], errors placed at row `r`.
pub fn book_row(
    bid_px: &[f64],
    bid_qty: &[f64],
    ask_px: &[f64],
    ask_qty: &[f64],
    width: usize,
    r: usize,
) -> Result<L5, AlgoError> {
    let s = r * width..(r + 1) * width;
    l5_from_f64(
        &bid_px[s.clone()],
        &bid_qty[s.clone()],
        &ask_px[s.clone()],
        &ask_qty[s],
    )
    .map_err(|e| e.with_row(r))
}

/// Checks the four (N, width) row-major arrays of a batch; returns N.
pub fn batch_rows(
    bid_px: &[f64],
    bid_qty: &[f64],
    ask_px: &[f64],
    ask_qty: &[f64],
    width: usize,
) -> Result<usize, AlgoError> {
    if width == 0 || width > LEVELS {
        return Err(AlgoError::shape(
            "bid_px",
            format!("{width} levels per row, expected 1 to {LEVELS}"),
        ));
    }
    if bid_px.len() % width != 0 {
        return Err(AlgoError::shape(
            "bid_px",
            format!("length {} is not whole rows of {width}", bid_px.len()),
        ));
    }
    super::same_len(
        bid_px.len(),
        &[
            ("bid_qty", bid_qty.len()),
            ("ask_px", ask_px.len()),
            ("ask_qty", ask_qty.len()),
        ],
    )?;
    Ok(bid_px.len() / width)
}

/// The features of N books (row-major (N, width) float arrays, as numpy gives them) through
/// one [`L5Features`] stream: `out` is (N, [`N_FEATURES`]) row-major, `ok[r]` says whether
/// book r was accepted (a refused book's row is NaN and the stream goes on with the last good
/// book). Returns the number of refused books and the first refusal, if any.
#[allow(clippy::too_many_arguments)]
pub fn features_batch(
    cfg: FeatureConfig,
    bid_px: &[f64],
    bid_qty: &[f64],
    ask_px: &[f64],
    ask_qty: &[f64],
    width: usize,
    out: &mut [f64],
    ok: &mut [bool],
) -> Result<(usize, Option<AlgoError>), AlgoError> {
    let n = batch_rows(bid_px, bid_qty, ask_px, ask_qty, width)?;
    super::same_len(n * N_FEATURES, &[("out", out.len())])?;
    super::same_len(n, &[("ok", ok.len())])?;
    let mut stream = L5Features::new_checked(cfg)?;
    Ok(super::each_row(out, ok, |r, row: &mut FeatureRow| {
        book_row(bid_px, bid_qty, ask_px, ask_qty, width, r).and_then(|b| stream.update(&b, row))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_books::{book, px};
    use crate::ofi::Books;

    fn run(s: &mut L5Features, b: &L5) -> FeatureRow {
        let mut out = [0.0; N_FEATURES];
        s.update(b, &mut out).expect("valid book");
        out
    }

    #[test]
    fn names_match_the_width() {
        assert_eq!(FEATURE_NAMES.len(), N_FEATURES);
        assert_eq!(FEATURE_NAMES[DEPTH], "depth");
        assert_eq!(FEATURE_NAMES[OFI], "ofi_l1");
        assert_eq!(FEATURE_NAMES[RV], "realized_var");
    }

    #[test]
    fn hand_computed_book() {
        let mut s = L5Features::new_checked(FeatureConfig::default()).unwrap();
        let b = book(&[(100.0, 3), (99.5, 5)], &[(100.5, 1), (101.0, 4)]);
        let f = run(&mut s, &b);
        assert_eq!(f[MID], 100.25);
        assert_eq!(f[SPREAD], 0.5);
        assert_eq!(f[MICRO], (100.0 * 1.0 + 100.5 * 3.0) / 4.0);
        // VWAPs: bid (300 + 497.5) / 8, ask (100.5 + 404) / 5
        let (bb, aa) = ((300.0 + 497.5) / 8.0, (100.5 + 404.0) / 5.0);
        assert!((f[WMID] - (bb * 5.0 + aa * 8.0) / 13.0).abs() < 1e-12);
        assert_eq!(f[IMB], 0.5);
        assert_eq!(f[IMB + 1], (5.0 - 4.0) / 9.0);
        assert!(f[IMB + 2].is_nan() && f[CUM + 4].is_nan());
        assert_eq!(f[CUM + 1], (8.0 - 5.0) / 13.0);
        // bid distances 0.25, 0.75 with Q 3, 8: (0.75 + 6) / (0.0625 + 0.5625)
        assert!((f[BID_SLOPE] - 6.75 / 0.625).abs() < 1e-9);
        assert!((f[ASK_SLOPE] - (0.25 * 1.0 + 0.75 * 5.0) / 0.625).abs() < 1e-9);
        let (pb, pa) = (3.0 / 0.25 + 5.0 / 0.75, 1.0 / 0.25 + 4.0 / 0.75);
        assert!((f[PRESSURE] - (pb - pa) / (pb + pa)).abs() < 1e-12);
        assert_eq!(&f[OFI..OFI + 5], &[0.0; 5]);
        assert_eq!((f[LOG_RET], f[RV], f[DEPTH]), (0.0, 0.0, 2.0));
        // Bid up a tick with 7 lots: OFI at level 1 = +7 (bid) - 1 + 1 (ask same) = 7.
        let b2 = book(&[(100.5, 7), (100.0, 5)], &[(101.0, 1), (101.5, 4)]);
        let f2 = run(&mut s, &b2);
        // level 1: bid up -> +7; ask up -> +q_prev 1 => 8
        assert_eq!(f2[OFI], 8.0);
        let r = (201.5f64 / 200.5).ln();
        assert!((f2[LOG_RET] - r).abs() < 1e-15);
        assert!((f2[RV] - r * r).abs() < 1e-18);
    }

    #[test]
    fn zero_volume_and_thin_books_have_documented_values() {
        let mut s = L5Features::new_checked(FeatureConfig::default()).unwrap();
        let f = run(&mut s, &book(&[(100.0, 0)], &[(101.0, 0)]));
        assert_eq!((f[MICRO], f[WMID], f[MID]), (100.5, 100.5, 100.5));
        assert_eq!((f[IMB], f[CUM], f[PRESSURE]), (0.0, 0.0, 0.0));
        assert_eq!((f[BID_SLOPE], f[ASK_SLOPE]), (0.0, 0.0));
        // Only the bid side has volume: every lean goes to the bid.
        let f = run(&mut s, &book(&[(100.0, 0)], &[(101.0, 5)]));
        assert_eq!((f[MICRO], f[WMID]), (100.0, 100.0));
        assert_eq!(f[IMB], -1.0);
        // A level out of order ends the depth; so does an empty (0) price.
        let mut b = book(
            &[(100.0, 1), (99.0, 1), (99.5, 1)],
            &[(101.0, 1), (102.0, 1)],
        );
        assert_eq!(book_depth(&b, 5).unwrap(), 2);
        b.ask.price[2] = px(103.0);
        assert_eq!(book_depth(&b, 5).unwrap(), 2);
        b.bid.price[2] = px(98.0);
        assert_eq!(book_depth(&b, 5).unwrap(), 3);
        assert_eq!(book_depth(&b, 2).unwrap(), 2);
    }

    #[test]
    fn bad_books_are_refused_and_the_stream_keeps_its_state() {
        let mut s = L5Features::new_checked(FeatureConfig::default()).unwrap();
        let good = book(&[(100.0, 5)], &[(101.0, 5)]);
        run(&mut s, &good);
        let mut out = [7.0; N_FEATURES];
        for (bad, want) in [
            (book(&[(101.0, 1)], &[(101.0, 1)]), "crossed or locked"),
            (book(&[(102.0, 1)], &[(101.0, 1)]), "crossed"),
            (book(&[], &[(101.0, 1)]), "no best bid"),
            (book(&[(100.0, 1)], &[]), "no best ask"),
            (book(&[(100.0, -1)], &[(101.0, 1)]), "bid_qty[0]"),
            (L5::default(), "no best bid"),
            (
                book(&[(100.0, 1)], &[(5.0e12, 1)]),
                "above the features' range",
            ),
        ] {
            let err = s.update(&bad, &mut out).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
            assert_eq!(out, [7.0; N_FEATURES], "out touched on error");
        }
        // Compared with the last good book: bid same 6 - 5, ask same.
        let f = run(&mut s, &book(&[(100.0, 6)], &[(101.0, 5)]));
        assert_eq!(f[OFI], 1.0);
        assert!(L5Features::new_checked(FeatureConfig {
            levels: 0,
            ..Default::default()
        })
        .is_err());
        assert!(FeatureConfig::new_checked(6, 1.0).is_err());
        assert!(FeatureConfig::new_checked(5, -1.0).is_err());
    }

    #[test]
    fn float_rows_convert_with_named_errors() {
        let ok = l5_from_f64(&[100.0, f64::NAN], &[1.0, 9.0], &[101.0, 0.0], &[2.0, 0.0]).unwrap();
        assert_eq!(ok.bid.price[1], Price(0));
        assert_eq!(book_depth(&ok, 5).unwrap(), 1);
        let e = l5_from_f64(&[f64::NAN], &[1.0], &[101.0], &[1.0]).unwrap_err();
        assert!(e.to_string().starts_with("bid_px[0] (level 0)"), "{e}");
        let e = l5_from_f64(&[100.0], &[1.5], &[101.0], &[1.0]).unwrap_err();
        assert!(e.to_string().contains("bid_qty[0]"), "{e}");
        let e = l5_from_f64(&[100.0], &[1.0], &[101.0], &[f64::NAN]).unwrap_err();
        assert!(e.to_string().contains("ask_qty[0]"), "{e}");
        let e = l5_from_f64(&[100.0], &[1.0], &[-101.0], &[1.0]).unwrap_err();
        assert!(e.to_string().contains("ask_px[0]"), "{e}");
        let e = l5_from_f64(&[100.0000001], &[1.0], &[101.0], &[1.0]).unwrap_err();
        assert!(e.to_string().contains("6 decimals"), "{e}");
        assert!(l5_from_f64(&[100.0], &[1.0], &[101.0, 102.0], &[1.0]).is_err());
        assert!(l5_from_f64(&[], &[], &[], &[]).is_err());
    }

    /// A random walk of books with thin, zero and crossed rows mixed in.
    fn walk(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (mut bp, mut bq, mut ap, mut aq) = (vec![], vec![], vec![], vec![]);
        let mut mid = 1000.0;
        for _ in 0..n {
            mid += (next() % 5) as f64 - 2.0;
            let spread = 1.0 + (next() % 2) as f64;
            let depth = 1 + (next() % 5) as usize;
            let crossed = next() % 50 == 0;
            for m in 0..5 {
                let there = m < depth;
                bp.push(if there { mid - m as f64 } else { 0.0 });
                ap.push(if crossed {
                    mid - 1.0
                } else if there {
                    mid + spread + m as f64
                } else {
                    0.0
                });
                bq.push(if there { (next() % 20) as f64 } else { 0.0 });
                aq.push(if there { (next() % 20) as f64 } else { 0.0 });
            }
        }
        (bp, bq, ap, aq)
    }

    #[test]
    fn stream_equals_batch_bit_for_bit() {
        let (bp, bq, ap, aq) = walk(2000, 5);
        let n = 2000;
        let cfg = FeatureConfig::new_checked(4, 20.0).unwrap();
        let mut out = vec![0.0; n * N_FEATURES];
        let mut ok = vec![false; n];
        let (bad, first) = features_batch(cfg, &bp, &bq, &ap, &aq, 5, &mut out, &mut ok).unwrap();
        assert!(bad > 10 && bad == ok.iter().filter(|x| !**x).count());
        assert!(first.unwrap().to_string().contains("crossed"));
        let mut s = L5Features::new_checked(cfg).unwrap();
        for r in 0..n {
            let mut row = [0.0; N_FEATURES];
            let res = book_row(&bp, &bq, &ap, &aq, 5, r).and_then(|b| s.update(&b, &mut row));
            assert_eq!(res.is_ok(), ok[r], "row {r}");
            let want = &out[r * N_FEATURES..(r + 1) * N_FEATURES];
            if ok[r] {
                assert_eq!(
                    row.map(f64::to_bits).as_slice(),
                    want.iter()
                        .map(|x| x.to_bits())
                        .collect::<Vec<_>>()
                        .as_slice()
                );
            } else {
                assert!(want.iter().all(|x| x.is_nan()));
            }
        }
        // Shapes are refused with the array's name.
        let mut small = vec![0.0; 3];
        let e = features_batch(cfg, &bp, &bq, &ap, &aq, 5, &mut small, &mut ok).unwrap_err();
        assert!(e.to_string().starts_with("out:"), "{e}");
        let e = features_batch(cfg, &bp, &bq[1..], &ap, &aq, 5, &mut out, &mut ok).unwrap_err();
        assert!(e.to_string().starts_with("bid_qty:"), "{e}");
    }

    #[test]
    fn ofi_matches_the_core_kernel_at_full_depth() {
        // Five-level valid books: the feature columns equal crate::ofi::mlofi exactly.
        let mut rows = vec![];
        let (mut bp, mut bq, mut ap, mut aq) = (vec![], vec![], vec![], vec![]);
        let mut s = 99u64;
        for i in 0..300 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mid = 500.0 + ((s >> 40) % 5) as f64;
            for m in 0..5 {
                bp.push(mid - 1.0 - m as f64);
                ap.push(mid + 1.0 + m as f64);
                bq.push(((s >> (m * 5)) % 17) as f64);
                aq.push(((s >> (m * 5 + 3)) % 13) as f64);
            }
            rows.push(i);
        }
        let n = rows.len();
        let want = ofi::mlofi(&Books::new(&bp, &bq, &ap, &aq, 5, 5).unwrap()).unwrap();
        let mut out = vec![0.0; n * N_FEATURES];
        let mut ok = vec![false; n];
        features_batch(
            FeatureConfig::default(),
            &bp,
            &bq,
            &ap,
            &aq,
            5,
            &mut out,
            &mut ok,
        )
        .unwrap();
        for r in 0..n {
            assert_eq!(
                &out[r * N_FEATURES + OFI..r * N_FEATURES + OFI + 5],
                &want[r * 5..r * 5 + 5]
            );
        }
    }

    #[test]
    fn ofi_over_the_depth_both_books_have_matches_the_core_kernel() {
        // Depth 3, then 5, then 2: each book's OFI is MLOFI over the levels both books have
        // (the core's batch kernel on those two rows), and 0 beyond.
        let books = [
            book(
                &[(100.0, 4), (99.0, 2), (98.0, 7)],
                &[(101.0, 3), (102.0, 5), (103.0, 1)],
            ),
            book(
                &[(100.0, 6), (99.0, 1), (98.0, 2), (97.0, 9), (96.0, 3)],
                &[(102.0, 2), (103.0, 8), (104.0, 1), (105.0, 4), (106.0, 6)],
            ),
            book(&[(99.0, 5), (98.0, 4)], &[(102.0, 7), (103.0, 2)]),
        ];
        let mut s = L5Features::new_checked(FeatureConfig::default()).unwrap();
        run(&mut s, &books[0]);
        for (prev, cur) in [(&books[0], &books[1]), (&books[1], &books[2])] {
            let dd = book_depth(prev, 5)
                .unwrap()
                .min(book_depth(cur, 5).unwrap());
            let (mut bp, mut bq, mut ap, mut aq) = (vec![], vec![], vec![], vec![]);
            for b in [prev, cur] {
                for m in 0..dd {
                    bp.push(b.bid.price[m].0 as f64);
                    bq.push(b.bid.qty[m] as f64);
                    ap.push(b.ask.price[m].0 as f64);
                    aq.push(b.ask.qty[m] as f64);
                }
            }
            let want = ofi::mlofi(&Books::new(&bp, &bq, &ap, &aq, dd, dd).unwrap()).unwrap();
            let f = run(&mut s, cur);
            for m in 0..5 {
                let expect = if m < dd { want[dd + m] } else { 0.0 };
                assert_eq!(f[OFI + m], expect, "level {m} at depth {dd}");
            }
            assert!(f[OFI] != 0.0);
        }
    }

    #[test]
    fn reset_forgets_the_previous_book() {
        let mut s = L5Features::new_checked(FeatureConfig::default()).unwrap();
        run(&mut s, &book(&[(100.0, 5)], &[(101.0, 5)]));
        let f = run(&mut s, &book(&[(101.0, 5)], &[(102.0, 5)]));
        assert!(f[LOG_RET] > 0.0 && f[OFI] != 0.0);
        s.reset();
        let f = run(&mut s, &book(&[(105.0, 5)], &[(106.0, 5)]));
        assert_eq!((f[LOG_RET], f[RV], f[OFI]), (0.0, 0.0, 0.0));
    }
}
