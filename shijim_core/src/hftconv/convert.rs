//! Records in, hftbacktest rows out: collection (any order, many files and codes), then one
//! pass per code in exchange-time order.

use std::collections::HashMap;

use super::book::{Level, SideBook};
use super::row::{
    check_rows, HftRow, BUY_EVENT, DEPTH_CLEAR_EVENT, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT,
    SELL_EVENT, TRADE_EVENT,
};
use super::{lines, workers};
use crate::sbe::jsonl;
use crate::sbe::{decode_frame, BidAsk, Code, EventKind, Message, Price, Tick, TickType, LEVELS};

/// Where a record came from: the caller's file number and the line (JSONL, from 1) or the
/// frame's byte offset (SBE) in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    pub file: u32,
    pub at: u64,
}

/// Why a record was dropped (each counted per code; the first few kept with their place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cause {
    /// A trial-match (試撮) trade or book: not a real market.
    Simtrade = 0,
    /// A book that is not a book: a negative volume, an empty level before a shown one, or
    /// prices not strictly ordered away from the touch.
    BadBook = 1,
    /// Best bid at or above best ask.
    CrossedBook = 2,
    /// A trade of volume 0 or less.
    BadTrade = 3,
    /// The same record again (same exchange time, local time, seq and content).
    Duplicate = 4,
    /// `local_ts` earlier than `exch_ts` by more than the allowed clock skew.
    ClockSkew = 5,
}

impl Cause {
    pub const ALL: [Cause; 6] = [
        Cause::Simtrade,
        Cause::BadBook,
        Cause::CrossedBook,
        Cause::BadTrade,
        Cause::Duplicate,
        Cause::ClockSkew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cause::Simtrade => "simtrade",
            Cause::BadBook => "bad_book",
            Cause::CrossedBook => "crossed_book",
            Cause::BadTrade => "bad_trade",
            Cause::Duplicate => "duplicate",
            Cause::ClockSkew => "clock_skew",
        }
    }
}

/// A dropped record: why, where, and the detail for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub cause: Cause,
    pub place: Place,
    pub detail: String,
}

/// Choices of a conversion (docs/backtest.md, "Converter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The smallest feed latency after the local-time correction (ns, >= 1): when some
    /// record has `local_ts <= exch_ts`, every `local_ts` moves by the same amount so that
    /// the smallest `local_ts - exch_ts` is this (hftbacktest's `correct_local_timestamp`).
    pub base_latency_ns: i64,
    /// Records whose `local_ts` is earlier than `exch_ts` by more than this are dropped
    /// (`ClockSkew`): one wrong clock must not shift a whole day.
    pub max_clock_skew_ns: i64,
    /// Dropped records kept with their detail, per code and cause.
    pub examples: usize,
    /// Threads parsing JSONL lines (1: the caller's thread only). The rows do not depend on it.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            base_latency_ns: 1,
            max_clock_skew_ns: 1_000_000_000,
            examples: 5,
            threads: 1,
        }
    }
}

/// Counts of one code's conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Trades and books read for this code (before drops).
    pub ticks: u64,
    pub books: u64,
    pub trades_buy: u64,
    pub trades_sell: u64,
    /// Trades with tick_type 0: written without a side flag (see the module docs).
    pub trades_unknown_side: u64,
    /// Books that changed nothing (no row).
    pub books_unchanged: u64,
    /// Records whose exchange time is earlier than the record before them in the input.
    pub out_of_order: u64,
    pub rows: u64,
    pub clear_rows: u64,
    pub snapshot_rows: u64,
    pub depth_rows: u64,
    /// Depth rows of quantity 0 (a level gone inside the window).
    pub levels_deleted: u64,
    /// Levels that left the visible window and were kept at their last quantity.
    pub levels_left_window: u64,
    pub trade_rows: u64,
    /// Rows whose local_ts was raised to the one before (local order follows exchange order).
    pub local_ts_raised: u64,
    pub local_ts_max_raise_ns: i64,
    pub first_exch_ts: Option<i64>,
    pub last_exch_ts: Option<i64>,
    pub dropped: [u64; Cause::ALL.len()],
}

impl Stats {
    pub fn dropped(&self, cause: Cause) -> u64 {
        self.dropped[cause as usize]
    }

    /// The counts by name, in a fixed order (the binding's dict, the manifest).
    pub fn counts(&self) -> Vec<(&'static str, i64)> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut out = vec![
            ("ticks", n(self.ticks)),
            ("books", n(self.books)),
            ("trades_buy", n(self.trades_buy)),
            ("trades_sell", n(self.trades_sell)),
            ("trades_unknown_side", n(self.trades_unknown_side)),
            ("books_unchanged", n(self.books_unchanged)),
            ("out_of_order", n(self.out_of_order)),
            ("rows", n(self.rows)),
            ("clear_rows", n(self.clear_rows)),
            ("snapshot_rows", n(self.snapshot_rows)),
            ("depth_rows", n(self.depth_rows)),
            ("levels_deleted", n(self.levels_deleted)),
            ("levels_left_window", n(self.levels_left_window)),
            ("trade_rows", n(self.trade_rows)),
            ("local_ts_raised", n(self.local_ts_raised)),
            ("local_ts_max_raise_ns", self.local_ts_max_raise_ns),
        ];
        for c in Cause::ALL {
            out.push((c.name(), n(self.dropped(c))));
        }
        out
    }
}

/// Records that carry no trade or book (counted, not converted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// `snapshot` records (Shioaji's one-level summaries).
    pub snapshot_records: u64,
    /// `event` records of every kind.
    pub events: u64,
    /// `feed_gap` events and the messages they say were lost.
    pub feed_gaps: u64,
    pub messages_lost: i64,
    /// Trades and books of codes not asked for.
    pub other_codes: u64,
}

/// One code's result.
#[derive(Debug, Clone)]
pub struct CodeOutput {
    pub code: Code,
    pub rows: Vec<HftRow>,
    pub stats: Stats,
    pub dropped: Vec<Dropped>,
}

/// The whole conversion.
#[derive(Debug, Clone)]
pub struct Output {
    /// By code, in code order.
    pub codes: Vec<CodeOutput>,
    pub skipped: Skipped,
    /// Added to every local_ts (0 when every record already had local_ts > exch_ts).
    pub local_ts_shift_ns: i64,
    /// The smallest `local_ts - exch_ts` of the converted records before the shift.
    pub min_feed_latency_ns: Option<i64>,
}

/// Conversion failures that are not one bad record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    BadOption(String),
    /// Timestamps so far apart that the shifted local time does not fit an int64.
    OutOfRange(String),
    /// A broken invariant (a bug): the rows would mislead hftbacktest.
    Invalid(String),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::BadOption(s) => write!(f, "bad option: {s}"),
            ConvertError::OutOfRange(s) => write!(f, "timestamps out of range: {s}"),
            ConvertError::Invalid(s) => write!(f, "invalid rows: {s}"),
        }
    }
}

impl std::error::Error for ConvertError {}

/// The five levels of a book, as exact mantissas and volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quote {
    bid_px: [i64; LEVELS],
    bid_qty: [i64; LEVELS],
    ask_px: [i64; LEVELS],
    ask_qty: [i64; LEVELS],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trade {
    px: i64,
    qty: i64,
    side: TickType,
}

/// Sort rank at equal exchange time: the trade before the depth change (hftbacktest's
/// `ProbQueueModel` subtracts already-counted trades from the next depth decrease).
const RANK_TRADE: u8 = 0;
const RANK_BOOK: u8 = 1;

#[derive(Debug, Clone, Copy)]
struct Key {
    exch_ts: i64,
    local_ts: i64,
    seq: u64,
    place: Place,
    rank: u8,
    /// Index into `trades` or `quotes` (by rank).
    idx: usize,
}

#[derive(Debug, Default)]
struct CodeInput {
    keys: Vec<Key>,
    trades: Vec<Trade>,
    quotes: Vec<Quote>,
    stats: Stats,
    dropped: Vec<Dropped>,
    /// Largest (exch_ts, rank) so far, to count records out of order.
    last: Option<(i64, u8)>,
}

impl CodeInput {
    fn drop(&mut self, cause: Cause, place: Place, detail: impl FnOnce() -> String, keep: usize) {
        let n = &mut self.stats.dropped[cause as usize];
        *n += 1;
        if *n <= keep as u64 {
            self.dropped.push(Dropped {
                cause,
                place,
                detail: detail(),
            });
        }
    }

    fn key(&mut self, exch_ts: i64, local_ts: i64, seq: u64, place: Place, rank: u8, idx: usize) {
        let at = (exch_ts, rank);
        if self.last.is_some_and(|last| at < last) {
            self.stats.out_of_order += 1;
        } else {
            self.last = Some(at);
        }
        self.keys.push(Key {
            exch_ts,
            local_ts,
            seq,
            place,
            rank,
            idx,
        });
    }
}

/// Collects records of any number of codes and files, then converts each code.
#[derive(Debug, Default)]
pub struct Converter {
    options: Options,
    codes: Vec<(Code, CodeInput)>,
    index: HashMap<Code, usize>,
    /// The code of the last record and its place in `codes`: records come in runs of one code.
    last_code: Option<(Code, usize)>,
    only: Option<Vec<Code>>,
    skipped: Skipped,
}

/// How far a run over JSONL lines got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinesRead {
    /// Where the first line not read starts (outside the fast path, or unfinished).
    pub pos: usize,
    /// Lines consumed, blank ones included.
    pub lines: u64,
}

fn mantissas(ps: &[Price; LEVELS]) -> [i64; LEVELS] {
    ps.map(Price::mantissa)
}

fn px(m: i64) -> f64 {
    Price(m).to_f64()
}

/// Why a side of a book is not a book, or None. `sign` is +1 for bids (prices fall away from
/// the touch), -1 for asks.
fn side_problem(
    name: &str,
    prices: &[i64; LEVELS],
    qty: &[i64; LEVELS],
    ask: bool,
) -> Option<String> {
    let mut shown = 0;
    for (i, &q) in qty.iter().enumerate() {
        if q < 0 {
            return Some(format!("{name}_volume[{i}] is negative ({q})"));
        }
        if q > 0 {
            if shown != i {
                return Some(format!(
                    "{name} level {shown} is empty but level {i} is not"
                ));
            }
            shown += 1;
        }
    }
    for i in 1..shown {
        let ordered = if ask {
            prices[i] > prices[i - 1]
        } else {
            prices[i] < prices[i - 1]
        };
        if !ordered {
            let way = if ask { "rising" } else { "falling" };
            return Some(format!(
                "{name} prices are not strictly {way} away from the touch at level {i} ({} after {})",
                Price(prices[i]),
                Price(prices[i - 1])
            ));
        }
    }
    None
}

fn shown(prices: &[i64; LEVELS], qty: &[i64; LEVELS], out: &mut Vec<Level>) {
    out.clear();
    out.extend(
        prices
            .iter()
            .zip(qty)
            .take_while(|(_, &q)| q > 0)
            .map(|(&p, &q)| (p, q)),
    );
}

impl Converter {
    pub fn new(options: Options) -> Result<Converter, ConvertError> {
        if options.base_latency_ns < 1 {
            return Err(ConvertError::BadOption(format!(
                "base_latency_ns must be >= 1 (local_ts must be after exch_ts), got {}",
                options.base_latency_ns
            )));
        }
        if options.threads < 1 {
            return Err(ConvertError::BadOption(format!(
                "threads must be >= 1, got {}",
                options.threads
            )));
        }
        if options.max_clock_skew_ns < 0 {
            return Err(ConvertError::BadOption(format!(
                "max_clock_skew_ns must be >= 0, got {}",
                options.max_clock_skew_ns
            )));
        }
        Ok(Converter {
            options,
            ..Converter::default()
        })
    }

    /// Converts only these codes; trades and books of others are counted and skipped.
    pub fn only(&mut self, codes: Vec<Code>) {
        self.only = Some(codes);
    }

    fn input(&mut self, code: Code) -> Option<&mut CodeInput> {
        let i = match self.last_code {
            Some((c, i)) if c == code => i,
            _ => {
                if let Some(only) = &self.only {
                    if !only.contains(&code) {
                        self.skipped.other_codes += 1;
                        return None;
                    }
                }
                let i = match self.index.get(&code) {
                    Some(&i) => i,
                    None => {
                        self.codes.push((code, CodeInput::default()));
                        self.index.insert(code, self.codes.len() - 1);
                        self.codes.len() - 1
                    }
                };
                self.last_code = Some((code, i));
                i
            }
        };
        self.codes.get_mut(i).map(|(_, input)| input)
    }

    /// Takes one validated record (`jsonl::is_record`).
    pub fn push(&mut self, msg: &Message, place: Place) {
        let keep = self.options.examples;
        match msg {
            Message::Tick(m) => {
                if let Some(input) = self.input(m.code) {
                    push_tick(input, m, place, keep);
                }
            }
            Message::BidAsk(m) => {
                if let Some(input) = self.input(m.code) {
                    push_book(input, m, place, keep);
                }
            }
            Message::Snapshot(_) => self.skipped.snapshot_records += 1,
            Message::SystemEvent(e) => {
                self.skipped.events += 1;
                if e.kind == EventKind::FeedGap {
                    self.skipped.feed_gaps += 1;
                    self.skipped.messages_lost = self.skipped.messages_lost.saturating_add(e.count);
                }
            }
        }
    }

    /// Reads the JSONL lines of `data` from `pos` on, blank lines skipped, up to the first line
    /// outside the core's fast path (left for the reference reader, which accepts it or names
    /// the bad field) or the unfinished last line (unless `last`). `first_line` is the number
    /// of the first line read here.
    pub fn read_jsonl(
        &mut self,
        data: &[u8],
        pos: usize,
        last: bool,
        file: u32,
        first_line: u64,
    ) -> LinesRead {
        let mut read = LinesRead { pos, lines: 0 };
        let Some(rest) = data.get(pos..) else {
            return read;
        };
        let threads = self.options.threads;
        let (consumed, n, _) = lines::read(rest, last, threads, |msg, line| {
            self.push(
                msg,
                Place {
                    file,
                    at: first_line.saturating_add(line),
                },
            );
        });
        read.pos += consumed;
        read.lines = n;
        read
    }

    /// Reads the SOFH frames of `data` from `pos` on, up to the first frame that is
    /// incomplete, bad or not a valid record (left for the reference decoder); `base` is the
    /// file offset of `data[0]`. Returns where it stopped.
    pub fn read_frames(&mut self, data: &[u8], pos: usize, file: u32, base: u64) -> usize {
        let mut pos = pos;
        while let Some(rest) = data.get(pos..) {
            let Ok((msg, used)) = decode_frame(rest) else {
                break;
            };
            if !jsonl::is_record(&msg) {
                break;
            }
            self.push(
                &msg,
                Place {
                    file,
                    at: base.saturating_add(pos as u64),
                },
            );
            pos += used;
        }
        pos
    }

    /// Converts every code: rows in exchange-time order, the local-time correction applied.
    pub fn finish(self) -> Result<Output, ConvertError> {
        let Converter {
            options,
            codes,
            skipped,
            ..
        } = self;
        // Codes are independent until the one shift: each pass takes a few at a time, the
        // largest first (the others fill in around it).
        let mut inputs = codes;
        inputs.sort_by_key(|(_, input)| std::cmp::Reverse(input.keys.len()));
        let threads = options.threads;
        let lost = |code: &Code| {
            ConvertError::Invalid(format!("{}: the conversion failed (a bug)", code.as_str()))
        };
        let names: Vec<Code> = inputs.iter().map(|(code, _)| *code).collect();
        // Pass 1, per code: exchange order, duplicates and skewed clocks out; the smallest
        // feed latency over everything that stays.
        let ordered = workers::map_each(inputs, threads, |(code, mut input)| {
            order(&mut input, options);
            let lat = input
                .keys
                .iter()
                .map(|k| i128::from(k.local_ts) - i128::from(k.exch_ts))
                .min();
            (code, input, lat)
        });
        let mut inputs = Vec::with_capacity(ordered.len());
        let mut min_latency: Option<i128> = None;
        for (name, item) in names.iter().zip(ordered) {
            let (code, input, lat) = item.ok_or_else(|| lost(name))?;
            min_latency = match (min_latency, lat) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            inputs.push((code, input));
        }
        // hftbacktest's correct_local_timestamp, with a positive floor: one shift for every
        // code (their local times come from one clock).
        let base = i128::from(options.base_latency_ns);
        let shift = match min_latency {
            Some(m) if m <= 0 => base - m,
            _ => 0,
        };
        let shift = i64::try_from(shift).map_err(|_| {
            ConvertError::OutOfRange(format!("the local_ts shift {shift} does not fit int64"))
        })?;
        // Pass 2, per code: the rows.
        let converted =
            workers::map_each(inputs, threads, |(code, input)| rows_of(code, input, shift));
        let mut out = Vec::with_capacity(converted.len());
        for (name, item) in names.iter().zip(converted) {
            out.push(item.ok_or_else(|| lost(name))??);
        }
        out.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
        Ok(Output {
            codes: out,
            skipped,
            local_ts_shift_ns: shift,
            min_feed_latency_ns: min_latency.and_then(|m| i64::try_from(m).ok()),
        })
    }
}

fn push_tick(input: &mut CodeInput, m: &Tick, place: Place, keep: usize) {
    input.stats.ticks += 1;
    if m.simtrade {
        input.drop(Cause::Simtrade, place, || "trial-match trade".into(), keep);
        return;
    }
    if m.volume <= 0 {
        let v = m.volume;
        input.drop(
            Cause::BadTrade,
            place,
            || format!("volume {v} is not positive"),
            keep,
        );
        return;
    }
    let idx = input.trades.len();
    input.trades.push(Trade {
        px: m.price.mantissa(),
        qty: m.volume,
        side: m.tick_type,
    });
    input.key(m.exch_ts, m.local_ts, m.seq, place, RANK_TRADE, idx);
}

fn push_book(input: &mut CodeInput, m: &BidAsk, place: Place, keep: usize) {
    input.stats.books += 1;
    if m.simtrade {
        input.drop(Cause::Simtrade, place, || "trial-match book".into(), keep);
        return;
    }
    let q = Quote {
        bid_px: mantissas(&m.bid_price),
        bid_qty: m.bid_volume,
        ask_px: mantissas(&m.ask_price),
        ask_qty: m.ask_volume,
    };
    let problem = side_problem("bid", &q.bid_px, &q.bid_qty, false)
        .or_else(|| side_problem("ask", &q.ask_px, &q.ask_qty, true));
    if let Some(p) = problem {
        input.drop(Cause::BadBook, place, || p, keep);
        return;
    }
    if q.bid_qty[0] > 0 && q.ask_qty[0] > 0 && q.bid_px[0] >= q.ask_px[0] {
        let (b, a) = (Price(q.bid_px[0]), Price(q.ask_px[0]));
        input.drop(
            Cause::CrossedBook,
            place,
            || format!("best bid {b} is not below best ask {a}"),
            keep,
        );
        return;
    }
    let idx = input.quotes.len();
    input.quotes.push(q);
    input.key(m.exch_ts, m.local_ts, m.seq, place, RANK_BOOK, idx);
}

/// Records looked back at for a duplicate (same exchange time only).
const DUPLICATE_WINDOW: usize = 64;

/// Sorts one code's records by (exch_ts, trade before book), stably (input order breaks
/// ties), then drops duplicates and records whose local clock is too far behind.
fn order(input: &mut CodeInput, options: Options) {
    if input.stats.out_of_order > 0 {
        input.keys.sort_by_key(|k| (k.exch_ts, k.rank));
    }
    // Compacted in place: `keys[..kept]` are the records that stay.
    let mut keys = std::mem::take(&mut input.keys);
    let mut kept = 0;
    for r in 0..keys.len() {
        let k = keys[r];
        let same = |j: &Key| {
            j.rank == k.rank
                && j.local_ts == k.local_ts
                && j.seq == k.seq
                && if k.rank == RANK_TRADE {
                    input.trades.get(j.idx) == input.trades.get(k.idx)
                } else {
                    input.quotes.get(j.idx) == input.quotes.get(k.idx)
                }
        };
        let duplicate = keys[..kept]
            .iter()
            .rev()
            .take(DUPLICATE_WINDOW)
            .take_while(|j| j.exch_ts == k.exch_ts)
            .any(same);
        if duplicate {
            let detail = || "the same record (exch_ts, local_ts, seq, content) came earlier".into();
            input.drop(Cause::Duplicate, k.place, detail, options.examples);
            continue;
        }
        let lat = i128::from(k.local_ts) - i128::from(k.exch_ts);
        if lat < -i128::from(options.max_clock_skew_ns) {
            let skew = options.max_clock_skew_ns;
            input.drop(
                Cause::ClockSkew,
                k.place,
                move || {
                    format!(
                        "local_ts is {} ns before exch_ts (more than {skew} ns)",
                        -lat
                    )
                },
                options.examples,
            );
            continue;
        }
        keys[kept] = k;
        kept += 1;
    }
    keys.truncate(kept);
    input.keys = keys;
}

/// Pass 2 for one code: the rows, local_ts shifted and kept in order.
fn rows_of(code: Code, input: CodeInput, shift: i64) -> Result<CodeOutput, ConvertError> {
    let CodeInput {
        keys,
        trades,
        quotes,
        mut stats,
        dropped,
        ..
    } = input;
    let mut rows: Vec<HftRow> = Vec::with_capacity(keys.len() * 3);
    let (mut bids, mut asks) = (SideBook::bids(), SideBook::asks());
    let mut anchored = false;
    let (mut bid_shown, mut ask_shown) = (Vec::with_capacity(LEVELS), Vec::with_capacity(LEVELS));
    let (mut bid_gone, mut ask_gone) = (Vec::new(), Vec::new());
    let (mut bid_set, mut ask_set) = (Vec::new(), Vec::new());
    let mut last_local = i64::MIN;
    for k in &keys {
        let shifted = k.local_ts.checked_add(shift).ok_or_else(|| {
            ConvertError::OutOfRange(format!(
                "local_ts {} + shift {shift} at file {} position {}",
                k.local_ts, k.place.file, k.place.at
            ))
        })?;
        let local = shifted.max(last_local);
        let before = rows.len();
        let exch = k.exch_ts;
        if k.rank == RANK_TRADE {
            let Some(t) = trades.get(k.idx) else {
                return Err(ConvertError::Invalid(format!("trade {} missing", k.idx)));
            };
            let side = match t.side {
                TickType::Buy => {
                    stats.trades_buy += 1;
                    BUY_EVENT
                }
                TickType::Sell => {
                    stats.trades_sell += 1;
                    SELL_EVENT
                }
                TickType::Unknown => {
                    stats.trades_unknown_side += 1;
                    0
                }
            };
            rows.push(HftRow::market(
                TRADE_EVENT | side,
                exch,
                local,
                px(t.px),
                t.qty as f64,
            ));
            stats.trade_rows += 1;
        } else {
            let Some(q) = quotes.get(k.idx) else {
                return Err(ConvertError::Invalid(format!("book {} missing", k.idx)));
            };
            shown(&q.bid_px, &q.bid_qty, &mut bid_shown);
            shown(&q.ask_px, &q.ask_qty, &mut ask_shown);
            if !anchored {
                if bid_shown.is_empty() && ask_shown.is_empty() {
                    stats.books_unchanged += 1;
                    continue;
                }
                // The first book: per side, a clear down to its farthest level, then the
                // levels as a snapshot (hftbacktest's own recipe for snapshot feeds).
                anchored = true;
                for (side, lv) in [(BUY_EVENT, &bid_shown), (SELL_EVENT, &ask_shown)] {
                    if let Some(&(far, _)) = lv.last() {
                        rows.push(HftRow::market(
                            DEPTH_CLEAR_EVENT | side,
                            exch,
                            local,
                            px(far),
                            0.0,
                        ));
                        stats.clear_rows += 1;
                        for &(p, n) in lv.iter() {
                            rows.push(HftRow::market(
                                DEPTH_SNAPSHOT_EVENT | side,
                                exch,
                                local,
                                px(p),
                                n as f64,
                            ));
                            stats.snapshot_rows += 1;
                        }
                    }
                }
                let (mut g, mut s) = (Vec::new(), Vec::new());
                bids.apply(&bid_shown, bid_shown.len() < LEVELS, &mut g, &mut s);
                asks.apply(&ask_shown, ask_shown.len() < LEVELS, &mut g, &mut s);
            } else {
                bid_gone.clear();
                ask_gone.clear();
                bid_set.clear();
                ask_set.clear();
                let b = bids.apply(
                    &bid_shown,
                    bid_shown.len() < LEVELS,
                    &mut bid_gone,
                    &mut bid_set,
                );
                let a = asks.apply(
                    &ask_shown,
                    ask_shown.len() < LEVELS,
                    &mut ask_gone,
                    &mut ask_set,
                );
                stats.levels_left_window += b.left_window + a.left_window;
                // Levels gone first, on both sides, then new quantities: the book is never
                // crossed between two rows of one snapshot.
                for (side, gone) in [(BUY_EVENT, &bid_gone), (SELL_EVENT, &ask_gone)] {
                    for &p in gone.iter() {
                        rows.push(HftRow::market(DEPTH_EVENT | side, exch, local, px(p), 0.0));
                        stats.levels_deleted += 1;
                    }
                }
                for (side, set) in [(BUY_EVENT, &bid_set), (SELL_EVENT, &ask_set)] {
                    for &(p, n) in set.iter() {
                        rows.push(HftRow::market(
                            DEPTH_EVENT | side,
                            exch,
                            local,
                            px(p),
                            n as f64,
                        ));
                    }
                }
                let n = (rows.len() - before) as u64;
                stats.depth_rows += n;
                if n == 0 {
                    stats.books_unchanged += 1;
                }
            }
        }
        if rows.len() > before {
            if shifted < last_local {
                stats.local_ts_raised += 1;
                stats.local_ts_max_raise_ns = stats
                    .local_ts_max_raise_ns
                    .max(last_local.saturating_sub(shifted));
            }
            last_local = local;
            stats.first_exch_ts.get_or_insert(exch);
            stats.last_exch_ts = Some(exch);
        }
    }
    stats.rows = rows.len() as u64;
    check_rows(&rows).map_err(|e| ConvertError::Invalid(format!("{}: {e}", code.as_str())))?;
    Ok(CodeOutput {
        code,
        rows,
        stats,
        dropped,
    })
}
