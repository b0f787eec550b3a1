//! Order-flow imbalance: OFI (Cont, Kukanov & Stoikov 2014) and multi-level OFI (Xu, Gould &
//! Howison 2019, "Multi-level order-flow imbalance in a limit order book").
//!
//! For level `m` of book `n`, compared with level `m` of book `n - 1`:
//!
//! ```text
//! e_n^m = 1{b_n >= b_{n-1}} q^b_n - 1{b_n <= b_{n-1}} q^b_{n-1}
//!       - 1{a_n <= a_{n-1}} q^a_n + 1{a_n >= a_{n-1}} q^a_{n-1}
//! ```
//!
//! (`b`, `a`: bid and ask price at level `m`; `q`: the quantity there.) Level 1 (index 0) is the
//! OFI of Cont et al. The first book of a batch has no predecessor: its row is zeros.
//!
//! Books are validated while they are computed: prices finite and > 0, bids strictly falling
//! and asks strictly rising with depth, best bid < best ask, quantities finite and >= 0. A bad
//! book is an [`OfiError`] naming the array, the row and the level; nothing here panics on input.
//! Indexes in errors are 0-based, as in numpy (`bid_px[row, level]`).

use std::fmt;
use std::mem::MaybeUninit;

/// Quantities at or above this are rejected: with every quantity below 2^50, every sum in the
/// formula stays below 2^53 and is exact in f64, so int and float inputs, batch and stream, give
/// bit-identical results. (No real book comes near 10^15 lots.)
pub const MAX_QUANTITY: f64 = (1u64 << 50) as f64;

/// A quantity type the books may carry: the ring's `i64` or a float column.
pub trait Quantity: Copy + Send + Sync + fmt::Display {
    fn to_f64(self) -> f64;
    /// Finite, >= 0 and below [`MAX_QUANTITY`].
    fn is_valid(self) -> bool;
    /// [`Quantity::is_valid`] for every element, branch-free (a row or a block).
    fn all_valid(q: &[Self]) -> bool;
    /// e for one level (see the module docs), in the quantity's own arithmetic.
    #[allow(clippy::too_many_arguments)]
    fn flow(
        b_n: f64,
        qb_n: Self,
        a_n: f64,
        qa_n: Self,
        b_p: f64,
        qb_p: Self,
        a_p: f64,
        qa_p: Self,
    ) -> f64;
}

impl Quantity for i64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn is_valid(self) -> bool {
        (0..1i64 << 50).contains(&self)
    }
    #[inline(always)]
    fn all_valid(q: &[Self]) -> bool {
        // A negative value sets the top bit; any value >= 2^50 sets a bit at or above 50.
        q.iter().fold(0i64, |acc, &x| acc | x) >> 50 == 0
    }
    #[inline(always)]
    fn flow(
        b_n: f64,
        qb_n: Self,
        a_n: f64,
        qa_n: Self,
        b_p: f64,
        qb_p: Self,
        a_p: f64,
        qa_p: Self,
    ) -> f64 {
        // Integer selects vectorise better than four int->float conversions per level.
        let pick = |c: bool, q: i64| q & -(c as i64);
        // Wrapping: the batch kernel computes before it knows a block is valid; for valid
        // quantities (< 2^50) nothing wraps, and results of invalid ones are discarded.
        exact_f64(
            pick(b_n >= b_p, qb_n)
                .wrapping_sub(pick(b_n <= b_p, qb_p))
                .wrapping_sub(pick(a_n <= a_p, qa_n))
                .wrapping_add(pick(a_n >= a_p, qa_p)),
        )
    }
}

impl Quantity for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn is_valid(self) -> bool {
        // NaN is outside every range.
        (0.0..MAX_QUANTITY).contains(&self)
    }
    #[inline(always)]
    #[allow(clippy::manual_range_contains)] // bitwise `&` keeps the check branch-free
    fn all_valid(q: &[Self]) -> bool {
        // Counting failures vectorises; and-ing bools does not as well.
        let bad = q.iter().fold(0u64, |n, &x| {
            n + u64::from(!((x >= 0.0) & (x < MAX_QUANTITY)))
        });
        bad == 0
    }
    #[inline(always)]
    fn flow(
        b_n: f64,
        qb_n: Self,
        a_n: f64,
        qa_n: Self,
        b_p: f64,
        qb_p: Self,
        a_p: f64,
        qa_p: Self,
    ) -> f64 {
        contribution(b_n, qb_n, a_n, qa_n, b_p, qb_p, a_p, qa_p)
    }
}

/// `x as f64` for |x| < 2^51 (every e of valid books: four quantities below 2^50), by adding x
/// to the mantissa of 1.5 * 2^52; unlike `as f64` this vectorises without AVX-512DQ. Exact.
#[inline(always)]
fn exact_f64(x: i64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    f64::from_bits((x as u64).wrapping_add(MAGIC.to_bits())) - MAGIC
}

/// Which input array a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookArray {
    BidPx,
    BidQty,
    AskPx,
    AskQty,
}

impl BookArray {
    pub fn name(self) -> &'static str {
        match self {
            BookArray::BidPx => "bid_px",
            BookArray::BidQty => "bid_qty",
            BookArray::AskPx => "ask_px",
            BookArray::AskQty => "ask_qty",
        }
    }
}

/// What is wrong with a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceProblem {
    /// NaN or infinite.
    NotFinite,
    /// Zero or negative: an empty level (TWSE sends 0) or garbage.
    NotPositive,
    /// Bids must fall and asks must rise strictly with depth.
    OutOfOrder,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OfiError {
    /// `levels` is 0 or deeper than the arrays.
    Levels { levels: usize, width: usize },
    /// An array's length (or row width) differs from `bid_px`'s, or is not whole rows.
    Shape { array: BookArray, detail: String },
    Price {
        array: BookArray,
        /// `None` for a single book (streaming).
        row: Option<usize>,
        level: usize,
        value: f64,
        problem: PriceProblem,
    },
    Quantity {
        array: BookArray,
        row: Option<usize>,
        level: usize,
        /// As given (an i64 exactly, not rounded through f64).
        value: String,
    },
    /// Best bid >= best ask.
    Crossed {
        row: Option<usize>,
        best_bid: f64,
        best_ask: f64,
    },
}

fn at(array: BookArray, row: Option<usize>, level: usize) -> String {
    match row {
        Some(r) => format!("{}[{r}, {level}] (row {r}, level {level})", array.name()),
        None => format!("{}[{level}] (level {level})", array.name()),
    }
}

impl fmt::Display for OfiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfiError::Levels { levels, width } => write!(
                f,
                "levels={levels} must be between 1 and the book depth given ({width})"
            ),
            OfiError::Shape { array, detail } => write!(f, "{}: {detail}", array.name()),
            OfiError::Price {
                array,
                row,
                level,
                value,
                problem,
            } => {
                let why = match problem {
                    PriceProblem::NotFinite => "price is not finite",
                    PriceProblem::NotPositive => {
                        "price is not positive (an empty level? pass levels= the populated depth)"
                    }
                    PriceProblem::OutOfOrder => match array {
                        BookArray::BidPx => "bid price is not below the level above it",
                        _ => "ask price is not above the level above it",
                    },
                };
                write!(f, "{} = {value}: {why}", at(*array, *row, *level))
            }
            OfiError::Quantity {
                array,
                row,
                level,
                value,
            } => write!(
                f,
                "{} = {value}: quantity must be finite, >= 0 and below 2^50",
                at(*array, *row, *level)
            ),
            OfiError::Crossed {
                row,
                best_bid,
                best_ask,
            } => match row {
                Some(r) => write!(
                    f,
                    "crossed book at row {r}, level 0: best bid {best_bid} >= best ask {best_ask}"
                ),
                None => write!(
                    f,
                    "crossed book at level 0: best bid {best_bid} >= best ask {best_ask}"
                ),
            },
        }
    }
}

impl std::error::Error for OfiError {}

/// A batch of books in row-major slices: row `r`, level `m` is at `r * width + m`. Only the
/// first `levels` columns are read, so an (N, 5) array can feed a 3-level MLOFI without a copy.
#[derive(Debug, Clone, Copy)]
pub struct Books<'a, Q> {
    bid_px: &'a [f64],
    bid_qty: &'a [Q],
    ask_px: &'a [f64],
    ask_qty: &'a [Q],
    width: usize,
    levels: usize,
    rows: usize,
}

impl<'a, Q: Quantity> Books<'a, Q> {
    pub fn new(
        bid_px: &'a [f64],
        bid_qty: &'a [Q],
        ask_px: &'a [f64],
        ask_qty: &'a [Q],
        width: usize,
        levels: usize,
    ) -> Result<Self, OfiError> {
        if levels == 0 || levels > width {
            return Err(OfiError::Levels { levels, width });
        }
        if bid_px.len() % width != 0 {
            return Err(OfiError::Shape {
                array: BookArray::BidPx,
                detail: format!(
                    "length {} is not a multiple of {width} levels",
                    bid_px.len()
                ),
            });
        }
        let n = bid_px.len();
        for (array, len) in [
            (BookArray::BidQty, bid_qty.len()),
            (BookArray::AskPx, ask_px.len()),
            (BookArray::AskQty, ask_qty.len()),
        ] {
            if len != n {
                return Err(OfiError::Shape {
                    array,
                    detail: format!("length {len} differs from bid_px's {n}"),
                });
            }
        }
        Ok(Books {
            bid_px,
            bid_qty,
            ask_px,
            ask_qty,
            width,
            levels,
            rows: n / width,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn levels(&self) -> usize {
        self.levels
    }

    fn row(&self, r: usize) -> Book<'a, Q> {
        let s = r * self.width;
        let e = s + self.levels;
        Book {
            bid_px: &self.bid_px[s..e],
            bid_qty: &self.bid_qty[s..e],
            ask_px: &self.ask_px[s..e],
            ask_qty: &self.ask_qty[s..e],
        }
    }
}

/// One book, `levels` entries per side (best first).
#[derive(Debug, Clone, Copy)]
pub struct Book<'a, Q> {
    pub bid_px: &'a [f64],
    pub bid_qty: &'a [Q],
    pub ask_px: &'a [f64],
    pub ask_qty: &'a [Q],
}

#[inline(always)]
fn price_ok(p: f64) -> bool {
    p > 0.0 && p < f64::INFINITY
}

impl<Q: Quantity> Book<'_, Q> {
    /// Branch-free check of everything [`Book::validate`] checks; the hot path only calls the
    /// exact (slower) one when this says no.
    #[inline(always)]
    fn is_valid(&self) -> bool {
        let l = self.bid_px.len();
        let mut ok = self.bid_px[0] < self.ask_px[0];
        for m in 0..l {
            ok &= price_ok(self.bid_px[m])
                & price_ok(self.ask_px[m])
                & self.bid_qty[m].is_valid()
                & self.ask_qty[m].is_valid();
        }
        for m in 1..l {
            ok &= (self.bid_px[m] < self.bid_px[m - 1]) & (self.ask_px[m] > self.ask_px[m - 1]);
        }
        ok
    }

    /// The first problem in reading order: prices and quantities by level, then order, then
    /// the crossed check.
    fn validate(&self, row: Option<usize>) -> Result<(), OfiError> {
        let l = self.bid_px.len();
        for m in 0..l {
            for (array, p) in [
                (BookArray::BidPx, self.bid_px[m]),
                (BookArray::AskPx, self.ask_px[m]),
            ] {
                if !price_ok(p) {
                    let problem = if p.is_nan() || (p.is_infinite() && p > 0.0) {
                        PriceProblem::NotFinite
                    } else {
                        PriceProblem::NotPositive
                    };
                    return Err(OfiError::Price {
                        array,
                        row,
                        level: m,
                        value: p,
                        problem,
                    });
                }
            }
            for (array, q) in [
                (BookArray::BidQty, self.bid_qty[m]),
                (BookArray::AskQty, self.ask_qty[m]),
            ] {
                if !q.is_valid() {
                    return Err(OfiError::Quantity {
                        array,
                        row,
                        level: m,
                        value: q.to_string(),
                    });
                }
            }
        }
        for m in 1..l {
            let bad_bid = self.bid_px[m] >= self.bid_px[m - 1];
            if bad_bid || self.ask_px[m] <= self.ask_px[m - 1] {
                let (array, value) = if bad_bid {
                    (BookArray::BidPx, self.bid_px[m])
                } else {
                    (BookArray::AskPx, self.ask_px[m])
                };
                return Err(OfiError::Price {
                    array,
                    row,
                    level: m,
                    value,
                    problem: PriceProblem::OutOfOrder,
                });
            }
        }
        if self.bid_px[0] >= self.ask_px[0] {
            return Err(OfiError::Crossed {
                row,
                best_bid: self.bid_px[0],
                best_ask: self.ask_px[0],
            });
        }
        Ok(())
    }
}

#[inline(always)]
fn when(c: bool, x: f64) -> f64 {
    if c {
        x
    } else {
        0.0
    }
}

/// e_n^m for one level, straight from the formula.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn contribution(
    b_n: f64,
    qb_n: f64,
    a_n: f64,
    qa_n: f64,
    b_p: f64,
    qb_p: f64,
    a_p: f64,
    qa_p: f64,
) -> f64 {
    when(b_n >= b_p, qb_n) - when(b_n <= b_p, qb_p) - when(a_n <= a_p, qa_n)
        + when(a_n >= a_p, qa_p)
}

/// Writes the contributions of `cur` against `prev` into `out` (one entry per level: MLOFI's
/// e^1..e^L). No checks: for books already validated (the batch kernels and the stream check
/// theirs first; the algo toolkit's features have checked the book they read).
#[inline(always)]
pub fn contributions<P: Quantity, Q: Quantity>(
    prev: &Book<'_, P>,
    cur: &Book<'_, Q>,
    out: &mut [f64],
) {
    for (m, o) in out.iter_mut().enumerate() {
        *o = contribution(
            cur.bid_px[m],
            cur.bid_qty[m].to_f64(),
            cur.ask_px[m],
            cur.ask_qty[m].to_f64(),
            prev.bid_px[m],
            prev.bid_qty[m].to_f64(),
            prev.ask_px[m],
            prev.ask_qty[m].to_f64(),
        );
    }
}

/// MLOFI of a batch into `out` (`rows * levels`, row-major; row 0 becomes zeros). On error
/// `out` holds partial results and must not be used.
pub fn mlofi_into<Q: Quantity>(books: &Books<'_, Q>, out: &mut [f64]) -> Result<(), OfiError> {
    // SAFETY: MaybeUninit<f64> has f64's layout, and the kernels only ever store initialised
    // values (`MaybeUninit::new`), so `out` holds valid f64s whatever happens.
    let out = unsafe { &mut *(out as *mut [f64] as *mut [MaybeUninit<f64>]) };
    mlofi_into_uninit(books, out)
}

/// As [`mlofi_into`] into memory that need not be initialised (e.g. a fresh numpy array): on
/// success every entry has been written; on error some may not have been, and `out` must be
/// discarded unread.
pub fn mlofi_into_uninit<Q: Quantity>(
    books: &Books<'_, Q>,
    out: &mut [MaybeUninit<f64>],
) -> Result<(), OfiError> {
    let (n, l) = (books.rows, books.levels);
    if out.len() != n * l {
        return Err(OfiError::Shape {
            array: BookArray::BidPx,
            detail: format!(
                "output has {} entries, expected {n} rows x {l} levels",
                out.len()
            ),
        });
    }
    if n == 0 {
        return Ok(());
    }
    if books.width == l {
        return flat_dispatch(books, out);
    }
    // Monomorphised kernels for the usual depths let the compiler unroll the level loop.
    match l {
        1 => kernel::<Q, 1>(books, out),
        2 => kernel::<Q, 2>(books, out),
        3 => kernel::<Q, 3>(books, out),
        4 => kernel::<Q, 4>(books, out),
        5 => kernel::<Q, 5>(books, out),
        10 => kernel::<Q, 10>(books, out),
        _ => kernel_any(books, out),
    }
}

/// [`fast_valid`] for the usual depths, [`Book::is_valid`] otherwise.
#[inline(always)]
fn quick_valid<Q: Quantity>(book: &Book<'_, Q>) -> bool {
    fn fixed<Q: Quantity, const L: usize>(book: &Book<'_, Q>) -> Option<bool> {
        Some(fast_valid::<Q, L>(
            book.bid_px.first_chunk()?,
            book.bid_qty.first_chunk()?,
            book.ask_px.first_chunk()?,
            book.ask_qty.first_chunk()?,
        ))
    }
    let fixed = match book.bid_px.len() {
        1 => fixed::<Q, 1>(book),
        2 => fixed::<Q, 2>(book),
        3 => fixed::<Q, 3>(book),
        4 => fixed::<Q, 4>(book),
        5 => fixed::<Q, 5>(book),
        _ => None,
    };
    fixed.unwrap_or_else(|| book.is_valid())
}

/// Rows per block of the flat kernel: validated together, then computed together while the
/// block (32 x L x 4 arrays x 8 bytes: 5 KB at L = 5) is still in L1; measured best of 32-256.
const BLOCK_ROWS: usize = 32;

/// Whole rows (`width == levels`): entry j of row r sits at r * L + m and its predecessor at
/// j - L, so the formula and the checks run over flat slices and vectorise at any depth.
/// Picks an AVX2 build of the same code at run time where the CPU has it.
fn flat_dispatch<Q: Quantity>(
    books: &Books<'_, Q>,
    out: &mut [MaybeUninit<f64>],
) -> Result<(), OfiError> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only requirement of `flat_avx2`.
            return unsafe { flat_avx2(books, out) };
        }
    }
    flat(books, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn flat_avx2<Q: Quantity>(
    books: &Books<'_, Q>,
    out: &mut [MaybeUninit<f64>],
) -> Result<(), OfiError> {
    flat(books, out)
}

#[inline(always)]
fn flat<Q: Quantity>(books: &Books<'_, Q>, out: &mut [MaybeUninit<f64>]) -> Result<(), OfiError> {
    let l = books.levels;
    let n = books.rows * l;
    let (bp, bq, ap, aq) = (books.bid_px, books.bid_qty, books.ask_px, books.ask_qty);
    if bp.len() != n || out.len() != n || l == 0 {
        return Err(OfiError::Shape {
            array: BookArray::BidPx,
            detail: format!("internal: flat kernel given {} entries for {n}", bp.len()),
        });
    }
    // +inf at the first entry of each row: there the level-order comparisons (with the previous
    // row's deepest level) must pass whatever the prices are.
    let block = BLOCK_ROWS * l;
    let mut row_start = vec![0.0; block];
    for r in 0..BLOCK_ROWS {
        row_start[r * l] = f64::INFINITY;
    }
    let first = books.row(0);
    if !first.is_valid() {
        first.validate(Some(0))?;
    }
    out[..l].fill(MaybeUninit::new(0.0));
    let mut s = l;
    while s < n {
        let e = (s + block).min(n);
        let (b, qb, a, qa) = (&bp[s..e], &bq[s..e], &ap[s..e], &aq[s..e]);
        let (b1, a1) = (&bp[s - 1..e - 1], &ap[s - 1..e - 1]);
        let (pb, pqb, pa, pqa) = (
            &bp[s - l..e - l],
            &bq[s - l..e - l],
            &ap[s - l..e - l],
            &aq[s - l..e - l],
        );
        let o = &mut out[s..e];
        // One pass checks and computes (measured ~20% faster than two); a block with a bad
        // book is then re-checked exactly and its results are never used. A count, not a
        // bool: summing 0/1 lanes vectorises, and-ing bools does not as well.
        let mut bad = 0u64;
        let len = o.len().min(row_start.len()).min(b1.len()).min(pb.len());
        for k in 0..len {
            let inf = row_start[k];
            // b < a at every level is implied by ordered levels and an uncrossed best level,
            // and checks the best level itself.
            let ok = (b[k] > 0.0)
                & (a[k] < f64::INFINITY)
                & (b[k] < a[k])
                & (b[k] < b1[k] + inf)
                & (a[k] > a1[k] - inf)
                & qb[k].is_valid()
                & qa[k].is_valid();
            bad += u64::from(!ok);
            o[k] = MaybeUninit::new(Q::flow(
                b[k], qb[k], a[k], qa[k], pb[k], pqb[k], pa[k], pqa[k],
            ));
        }
        if bad != 0 {
            for r in s / l..e / l {
                books.row(r).validate(Some(r))?;
            }
        }
        s = e;
    }
    Ok(())
}

fn kernel<Q: Quantity, const L: usize>(
    books: &Books<'_, Q>,
    out: &mut [MaybeUninit<f64>],
) -> Result<(), OfiError> {
    let w = books.width;
    let (bp, bq, ap, aq) = (books.bid_px, books.bid_qty, books.ask_px, books.ask_qty);
    // Fixed-size views of row r: one bounds check per array, then unchecked level loops.
    let row = |r: usize| {
        let c = r * w;
        match (
            bp[c..].first_chunk::<L>(),
            bq[c..].first_chunk::<L>(),
            ap[c..].first_chunk::<L>(),
            aq[c..].first_chunk::<L>(),
        ) {
            (Some(b), Some(qb), Some(a), Some(qa)) => Ok((b, qb, a, qa)),
            // Books::new guarantees whole rows; an error, not a panic, if that ever breaks.
            _ => Err(OfiError::Shape {
                array: BookArray::BidPx,
                detail: format!("internal: row {r} is shorter than {L} levels"),
            }),
        }
    };
    let (mut pb, mut pqb, mut pa, mut pqa) = row(0)?;
    if !fast_valid(pb, pqb, pa, pqa) {
        books.row(0).validate(Some(0))?;
    }
    out[..L].fill(MaybeUninit::new(0.0));
    for (r, o) in out.chunks_exact_mut(L).enumerate().skip(1) {
        let (b, qb, a, qa) = row(r)?;
        if !fast_valid(b, qb, a, qa) {
            books.row(r).validate(Some(r))?;
        }
        for m in 0..L.min(o.len()) {
            o[m] = MaybeUninit::new(Q::flow(
                b[m], qb[m], a[m], qa[m], pb[m], pqb[m], pa[m], pqa[m],
            ));
        }
        (pb, pqb, pa, pqa) = (b, qb, a, qa);
    }
    Ok(())
}

/// Equivalent to [`Book::validate`] succeeding, with fewer comparisons: strict ordering plus
/// best bid < best ask chains every price between the deepest bid and the deepest ask, so those
/// two bound them all, and any NaN fails some comparison of the chain.
#[inline(always)]
fn fast_valid<Q: Quantity, const L: usize>(
    b: &[f64; L],
    qb: &[Q; L],
    a: &[f64; L],
    qa: &[Q; L],
) -> bool {
    let mut ok = (b[0] < a[0]) & (b[L - 1] > 0.0) & (a[L - 1] < f64::INFINITY);
    for m in 1..L {
        ok &= (b[m] < b[m - 1]) & (a[m] > a[m - 1]);
    }
    ok & Q::all_valid(qb) & Q::all_valid(qa)
}

fn kernel_any<Q: Quantity>(
    books: &Books<'_, Q>,
    out: &mut [MaybeUninit<f64>],
) -> Result<(), OfiError> {
    let l = books.levels;
    let mut prev = books.row(0);
    prev.validate(Some(0))?;
    out[..l].fill(MaybeUninit::new(0.0));
    let mut e = vec![0.0; l];
    for (r, o) in out.chunks_exact_mut(l).enumerate().skip(1) {
        let cur = books.row(r);
        if !cur.is_valid() {
            cur.validate(Some(r))?;
        }
        contributions(&prev, &cur, &mut e);
        for (o, &v) in o.iter_mut().zip(&e) {
            *o = MaybeUninit::new(v);
        }
        prev = cur;
    }
    Ok(())
}

/// Which books of a batch [`mlofi`] would accept (the same checks, without the error detail):
/// lets a caller drop bad books and compute the rest.
pub fn valid_books<Q: Quantity>(books: &Books<'_, Q>) -> Vec<bool> {
    (0..books.rows)
        .map(|r| quick_valid(&books.row(r)))
        .collect()
}

/// MLOFI of a batch as a new `rows * levels` vector.
pub fn mlofi<Q: Quantity>(books: &Books<'_, Q>) -> Result<Vec<f64>, OfiError> {
    let mut out = vec![0.0; books.rows * books.levels];
    mlofi_into(books, &mut out)?;
    Ok(out)
}

/// Streaming MLOFI: one book at a time, the same numbers as [`mlofi`] over the same sequence.
/// A rejected book leaves the state untouched, so the next good book is compared with the last
/// good one (the bad book is dropped, as the runtime drops bad input).
#[derive(Debug, Clone)]
pub struct MlofiStream {
    levels: usize,
    has_prev: bool,
    bid_px: Vec<f64>,
    bid_qty: Vec<f64>,
    ask_px: Vec<f64>,
    ask_qty: Vec<f64>,
}

impl MlofiStream {
    pub fn new(levels: usize) -> Result<Self, OfiError> {
        if levels == 0 {
            return Err(OfiError::Levels { levels, width: 0 });
        }
        Ok(MlofiStream {
            levels,
            has_prev: false,
            bid_px: vec![0.0; levels],
            bid_qty: vec![0.0; levels],
            ask_px: vec![0.0; levels],
            ask_qty: vec![0.0; levels],
        })
    }

    pub fn levels(&self) -> usize {
        self.levels
    }

    /// Forget the previous book: the next update returns zeros (e.g. after a gap in the feed).
    pub fn reset(&mut self) {
        self.has_prev = false;
    }

    /// Feeds one book; its arrays may be deeper than `levels` (only the first `levels` entries
    /// are read). Writes e^1..e^L into `out` (`levels` long); zeros for the first book.
    pub fn update_into<Q: Quantity>(
        &mut self,
        bid_px: &[f64],
        bid_qty: &[Q],
        ask_px: &[f64],
        ask_qty: &[Q],
        out: &mut [f64],
    ) -> Result<(), OfiError> {
        let l = self.levels;
        for (array, len) in [
            (BookArray::BidPx, bid_px.len()),
            (BookArray::BidQty, bid_qty.len()),
            (BookArray::AskPx, ask_px.len()),
            (BookArray::AskQty, ask_qty.len()),
        ] {
            if len < l {
                return Err(OfiError::Shape {
                    array,
                    detail: format!("{len} levels given, the stream needs {l}"),
                });
            }
        }
        if out.len() != l {
            return Err(OfiError::Shape {
                array: BookArray::BidPx,
                detail: format!("output has {} entries, expected {l}", out.len()),
            });
        }
        let cur = Book {
            bid_px: &bid_px[..l],
            bid_qty: &bid_qty[..l],
            ask_px: &ask_px[..l],
            ask_qty: &ask_qty[..l],
        };
        if !quick_valid(&cur) {
            cur.validate(None)?;
        }
        if self.has_prev {
            let prev = Book {
                bid_px: &self.bid_px[..],
                bid_qty: &self.bid_qty[..],
                ask_px: &self.ask_px[..],
                ask_qty: &self.ask_qty[..],
            };
            contributions(&prev, &cur, out);
        } else {
            out.fill(0.0);
        }
        for m in 0..l {
            self.bid_px[m] = cur.bid_px[m];
            self.bid_qty[m] = cur.bid_qty[m].to_f64();
            self.ask_px[m] = cur.ask_px[m];
            self.ask_qty[m] = cur.ask_qty[m].to_f64();
        }
        self.has_prev = true;
        Ok(())
    }

    /// As [`MlofiStream::update_into`], returning a new vector.
    pub fn update<Q: Quantity>(
        &mut self,
        bid_px: &[f64],
        bid_qty: &[Q],
        ask_px: &[f64],
        ask_qty: &[Q],
    ) -> Result<Vec<f64>, OfiError> {
        let mut out = vec![0.0; self.levels];
        self.update_into(bid_px, bid_qty, ask_px, ask_qty, &mut out)?;
        Ok(out)
    }
}

/// Cont, Kukanov & Stoikov's OFI (best level only) of a batch; equals column 0 of [`mlofi`].
pub fn ofi<Q: Quantity>(books: &Books<'_, Q>) -> Result<Vec<f64>, OfiError> {
    let best = Books {
        levels: 1,
        ..*books
    };
    mlofi(&best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight from the paper, written independently of the kernel.
    fn reference(rows: &[Row]) -> Vec<[f64; 3]> {
        let mut out = vec![[0.0; 3]];
        for n in 1..rows.len() {
            let (b, qb, a, qa) = rows[n];
            let (b0, qb0, a0, qa0) = rows[n - 1];
            let mut e = [0.0; 3];
            for m in 0..3 {
                let mut x = 0.0;
                if b[m] >= b0[m] {
                    x += qb[m] as f64;
                }
                if b[m] <= b0[m] {
                    x -= qb0[m] as f64;
                }
                if a[m] <= a0[m] {
                    x -= qa[m] as f64;
                }
                if a[m] >= a0[m] {
                    x += qa0[m] as f64;
                }
                e[m] = x;
            }
            out.push(e);
        }
        out
    }

    type Row = ([f64; 3], [i64; 3], [f64; 3], [i64; 3]);

    /// Runs a kernel on an initialised output and returns it.
    fn run(
        n: usize,
        kernel: impl FnOnce(&mut [MaybeUninit<f64>]) -> Result<(), OfiError>,
    ) -> Vec<f64> {
        // NaN, not 0: an entry the kernel forgot to write would fail the comparisons.
        let mut out = vec![MaybeUninit::new(f64::NAN); n];
        kernel(&mut out).expect("valid books");
        // SAFETY: every entry was initialised above (and possibly overwritten by the kernel).
        out.iter().map(|x| unsafe { x.assume_init() }).collect()
    }

    fn flatten(rows: &[Row]) -> (Vec<f64>, Vec<i64>, Vec<f64>, Vec<i64>) {
        let mut v = (vec![], vec![], vec![], vec![]);
        for (b, qb, a, qa) in rows {
            v.0.extend_from_slice(b);
            v.1.extend_from_slice(qb);
            v.2.extend_from_slice(a);
            v.3.extend_from_slice(qa);
        }
        v
    }

    /// Deterministic random walk with equal prices, moves both ways and level shifts.
    fn walk(n: usize, seed: u64) -> Vec<Row> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut mid = 1000.0;
        (0..n)
            .map(|_| {
                let step = (next() % 5) as f64 - 2.0; // -2..=2 ticks, 0 often
                mid += step;
                let spread = 1.0 + (next() % 2) as f64;
                let b = [mid, mid - 1.0, mid - 2.0 - (next() % 2) as f64];
                let a = [mid + spread, mid + spread + 1.0, mid + spread + 3.0];
                let q = |x: u64| (x % 50) as i64;
                (
                    b,
                    [q(next()), q(next()), q(next())],
                    a,
                    [q(next()), q(next()), q(next())],
                )
            })
            .collect()
    }

    #[test]
    fn matches_reference_on_random_walk() {
        for seed in [1, 7, 99] {
            let rows = walk(500, seed);
            let (b, qb, a, qa) = flatten(&rows);
            let books = Books::new(&b, &qb, &a, &qa, 3, 3).expect("shape");
            let got = mlofi(&books).expect("valid books");
            let want: Vec<f64> = reference(&rows).concat();
            assert_eq!(got, want);
            // Generic (non-monomorphised) path: width 3, levels 3 but via kernel_any.
            let out = run(got.len(), |o| kernel_any(&books, o));
            assert_eq!(out, want);
        }
    }

    #[test]
    fn float_quantities_equal_integer_quantities() {
        let rows = walk(200, 3);
        let (b, qb, a, qa) = flatten(&rows);
        let qbf: Vec<f64> = qb.iter().map(|&q| q as f64).collect();
        let qaf: Vec<f64> = qa.iter().map(|&q| q as f64).collect();
        let i = mlofi(&Books::new(&b, &qb, &a, &qa, 3, 3).unwrap()).unwrap();
        let f = mlofi(&Books::new(&b, &qbf, &a, &qaf, 3, 3).unwrap()).unwrap();
        assert_eq!(i, f);
    }

    #[test]
    fn level_one_is_cont_ofi_and_fewer_levels_read_the_first_columns() {
        let rows = walk(300, 5);
        let (b, qb, a, qa) = flatten(&rows);
        let books = Books::new(&b, &qb, &a, &qa, 3, 3).unwrap();
        let all = mlofi(&books).unwrap();
        let best = ofi(&books).unwrap();
        let two = mlofi(&Books::new(&b, &qb, &a, &qa, 3, 2).unwrap()).unwrap();
        for r in 0..rows.len() {
            assert_eq!(best[r], all[r * 3]);
            assert_eq!(&two[r * 2..r * 2 + 2], &all[r * 3..r * 3 + 2]);
        }
    }

    #[test]
    fn hand_computed_cases() {
        // Bid up (new level): +q_b(n). Bid down: -q_b(n-1). Same bid: q_b(n) - q_b(n-1).
        let b = [100.0, 101.0, 101.0, 100.0];
        let qb = [5i64, 7, 9, 4];
        let a = [102.0, 102.0, 103.0, 101.0];
        let qa = [3i64, 6, 2, 8];
        let e = mlofi(&Books::new(&b, &qb, &a, &qa, 1, 1).unwrap()).unwrap();
        // row1: bid up 7; ask same: -6 + 3 -> 7 - 3 = 4
        // row2: bid same 9 - 7 = 2; ask up: +6 -> 8
        // row3: bid down -9; ask down: -8 -> -17
        assert_eq!(e, vec![0.0, 4.0, 8.0, -17.0]);
    }

    #[test]
    fn stream_equals_batch_and_reset_restarts() {
        let rows = walk(400, 11);
        let (b, qb, a, qa) = flatten(&rows);
        let batch = mlofi(&Books::new(&b, &qb, &a, &qa, 3, 3).unwrap()).unwrap();
        let mut s = MlofiStream::new(3).unwrap();
        for r in 0..rows.len() {
            let (rb, rqb, ra, rqa) = &rows[r];
            let e = s.update(rb, rqb, ra, rqa).unwrap();
            assert_eq!(&e[..], &batch[r * 3..r * 3 + 3]);
        }
        s.reset();
        let (rb, rqb, ra, rqa) = &rows[5];
        assert_eq!(s.update(rb, rqb, ra, rqa).unwrap(), vec![0.0; 3]);
    }

    #[test]
    fn stream_drops_a_bad_book_and_keeps_the_last_good_one() {
        let mut s = MlofiStream::new(1).unwrap();
        s.update(&[100.0], &[5i64], &[101.0], &[5]).unwrap();
        let err = s.update(&[f64::NAN], &[5i64], &[101.0], &[5]).unwrap_err();
        assert!(err.to_string().contains("bid_px[0]"), "{err}");
        // Compared with the first book: bid same (6 - 5), ask same (-5 + 5).
        assert_eq!(
            s.update(&[100.0], &[6i64], &[101.0], &[5]).unwrap(),
            vec![1.0]
        );
        assert!(s.update(&[100.0], &[6i64], &[], &[5]).is_err());
        assert!(MlofiStream::new(0).is_err());
    }

    #[test]
    fn bad_input_names_array_row_and_level() {
        let b = [100.0, 99.0, 100.0, 99.0];
        let q = [1i64, 1, 1, 1];
        let a = [101.0, 102.0, 101.0, 102.0];
        let check = |b: &[f64], qb: &[i64], a: &[f64], qa: &[i64], want: &str| {
            let books = Books::new(b, qb, a, qa, 2, 2).unwrap();
            let err = mlofi(&books).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        };
        let mut bad = b;
        bad[3] = f64::NAN;
        check(&bad, &q, &a, &q, "bid_px[1, 1]");
        bad[3] = 0.0;
        check(&bad, &q, &a, &q, "not positive");
        bad[3] = -1.0;
        check(&bad, &q, &a, &q, "bid_px[1, 1]");
        let mut bad_a = a;
        bad_a[0] = f64::INFINITY;
        check(&b, &q, &bad_a, &q, "ask_px[0, 0]");
        bad_a[0] = 100.0;
        check(&b, &q, &bad_a, &q, "crossed book at row 0");
        bad_a[0] = 101.0;
        bad_a[3] = 101.0;
        check(&b, &q, &bad_a, &q, "ask_px[1, 1]");
        let mut bad_q = q;
        bad_q[2] = -3;
        check(&b, &q, &a, &bad_q, "ask_qty[1, 0]");
        // Extreme integers must give an error, not an overflow (debug builds check).
        for extreme in [i64::MAX, i64::MIN, 1 << 50] {
            let mut big = q;
            big[3] = extreme;
            check(&b, &big, &a, &q, "bid_qty[1, 1]");
            check(&b, &q, &a, &big, "ask_qty[1, 1]");
        }
        let nanq = [1.0, f64::NAN, 1.0, 1.0];
        let ok = [1.0; 4];
        let err = mlofi(&Books::new(&b, &nanq, &a, &ok, 2, 2).unwrap()).unwrap_err();
        assert!(err.to_string().contains("bid_qty[0, 1]"), "{err}");
    }

    #[test]
    fn valid_books_agrees_with_validate() {
        let mut rows = walk(60, 9);
        rows[3].0[1] = rows[3].0[0]; // bid level 1 not below level 0
        rows[10].2[0] = rows[10].0[0]; // locked
        rows[20].1[2] = -1;
        rows[30].2[2] = f64::NAN;
        rows[59].0[0] = 0.0;
        let (b, qb, a, qa) = flatten(&rows);
        for levels in 1..=3 {
            let books = Books::new(&b, &qb, &a, &qa, 3, levels).unwrap();
            let ok = valid_books(&books);
            for (r, &v) in ok.iter().enumerate() {
                assert_eq!(
                    v,
                    books.row(r).validate(Some(r)).is_ok(),
                    "row {r} levels {levels}"
                );
            }
            assert!(!ok[59] && !ok[10] && ok[0]);
        }
        assert!(!valid_books(&Books::new(&b, &qb, &a, &qa, 3, 3).unwrap())[20]);
    }

    #[test]
    fn shape_errors() {
        let p = [100.0, 99.0];
        let q = [1i64, 1];
        assert!(matches!(
            Books::new(&p, &q, &[101.0], &q, 2, 2),
            Err(OfiError::Shape {
                array: BookArray::AskPx,
                ..
            })
        ));
        assert!(matches!(
            Books::new(&p, &q, &p, &q, 2, 3),
            Err(OfiError::Levels { .. })
        ));
        assert!(matches!(
            Books::new(&p, &q, &p, &q, 3, 3),
            Err(OfiError::Shape {
                array: BookArray::BidPx,
                ..
            })
        ));
        let empty: [f64; 0] = [];
        let books = Books::<i64>::new(&empty, &[], &empty, &[], 5, 5).unwrap();
        assert_eq!(mlofi(&books).unwrap(), Vec::<f64>::new());
    }

    #[test]
    fn every_kernel_depth_matches_the_generic_one() {
        // Depths 1..=12 cover every monomorphised kernel and the generic fallback.
        let n = 50;
        let width = 12;
        let mut s = 12345u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (mut b, mut qb, mut a, mut qa) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let mid = 500.0 + (rnd() % 3) as f64;
            for m in 0..width {
                b.push(mid - 1.0 - m as f64);
                a.push(mid + 1.0 + m as f64 + (rnd() % 2) as f64 * 0.5);
                qb.push((rnd() % 9) as f64);
                qa.push((rnd() % 9) as f64);
            }
        }
        for levels in 1..=width {
            let books = Books::new(&b, &qb, &a, &qa, width, levels).unwrap();
            let fast = mlofi(&books).unwrap();
            let slow = run(fast.len(), |o| kernel_any(&books, o));
            assert_eq!(fast, slow, "levels {levels}");
            // The same rows, contiguous: the flat kernel, both the dispatched (AVX2 here) and
            // the portable build.
            let pick = |v: &[f64]| -> Vec<f64> {
                v.chunks(width).flat_map(|r| r[..levels].to_vec()).collect()
            };
            let (cb, cqb, ca, cqa) = (pick(&b), pick(&qb), pick(&a), pick(&qa));
            let dense = Books::new(&cb, &cqb, &ca, &cqa, levels, levels).unwrap();
            assert_eq!(mlofi(&dense).unwrap(), fast, "flat, levels {levels}");
            let portable = run(fast.len(), |o| flat(&dense, o));
            assert_eq!(portable, fast, "portable flat, levels {levels}");
            // Into uninitialised memory: every entry written.
            let mut raw = vec![MaybeUninit::<f64>::uninit(); fast.len()];
            mlofi_into_uninit(&dense, &mut raw).unwrap();
            // SAFETY: mlofi_into_uninit succeeded, so every entry was written.
            let raw: Vec<f64> = raw.iter().map(|x| unsafe { x.assume_init() }).collect();
            assert_eq!(raw, fast, "uninit output, levels {levels}");
        }
    }
}
