use std::collections::BTreeMap;

use super::*;
use crate::sbe::{encode_frame, BidAsk, Code, Message, Price, Tick, TickType, LEVELS};
use crate::sbe::{jsonl, MAX_MESSAGE_LEN, SOFH_LEN};

const T0: i64 = 1_700_000_000_000_000_000;
const LAT: i64 = 200_000;

fn code(s: &str) -> Code {
    Code::new(s).unwrap()
}

fn p(x: f64) -> Price {
    Price((x * 1e6).round() as i64)
}

fn tick(c: &str, exch: i64, price: f64, vol: i64, side: TickType) -> Message {
    Message::Tick(Tick {
        seq: exch as u64,
        exch_ts: exch,
        local_ts: exch + LAT,
        code: code(c),
        price: p(price),
        volume: vol,
        total_volume: 0,
        tick_type: side,
        simtrade: false,
    })
}

/// A book of `bids`/`asks` (price, qty), best first, up to five levels each.
fn book(c: &str, exch: i64, bids: &[(f64, i64)], asks: &[(f64, i64)]) -> Message {
    let mut m = BidAsk {
        seq: exch as u64,
        exch_ts: exch,
        local_ts: exch + LAT,
        code: code(c),
        ..BidAsk::default()
    };
    for (i, &(px, q)) in bids.iter().enumerate() {
        m.bid_price[i] = p(px);
        m.bid_volume[i] = q;
    }
    for (i, &(px, q)) in asks.iter().enumerate() {
        m.ask_price[i] = p(px);
        m.ask_volume[i] = q;
    }
    Message::BidAsk(m)
}

fn ladder(best: f64, step: f64, qty: i64) -> Vec<(f64, i64)> {
    (0..LEVELS).map(|i| (best + step * i as f64, qty)).collect()
}

fn run(msgs: &[Message]) -> Output {
    let mut c = Converter::new(Options::default()).unwrap();
    for (i, m) in msgs.iter().enumerate() {
        c.push(
            m,
            Place {
                file: 0,
                at: i as u64 + 1,
            },
        );
    }
    c.finish().unwrap()
}

fn only_code(out: &Output) -> &CodeOutput {
    assert_eq!(out.codes.len(), 1);
    &out.codes[0]
}

/// What hftbacktest's depth holds after the rows: price mantissa -> qty, per side.
#[derive(Default, Debug)]
struct Depth {
    bids: BTreeMap<i64, f64>,
    asks: BTreeMap<i64, f64>,
}

impl Depth {
    fn apply(&mut self, r: &HftRow) {
        let m = (r.px * 1e6).round() as i64;
        let side = if r.is_bid() {
            &mut self.bids
        } else {
            &mut self.asks
        };
        match r.kind() {
            DEPTH_CLEAR_EVENT => {
                // From the best level down to px, inclusive (HashMapMarketDepth::clear_depth).
                if r.is_bid() {
                    side.retain(|&k, _| k < m);
                } else {
                    side.retain(|&k, _| k > m);
                }
            }
            DEPTH_EVENT | DEPTH_SNAPSHOT_EVENT => {
                if r.qty > 0.0 {
                    side.insert(m, r.qty);
                } else {
                    side.remove(&m);
                }
            }
            _ => {}
        }
    }

    fn best(&self) -> (Option<i64>, Option<i64>) {
        (
            self.bids.keys().next_back().copied(),
            self.asks.keys().next().copied(),
        )
    }

    fn crossed(&self) -> bool {
        matches!(self.best(), (Some(b), Some(a)) if b >= a)
    }
}

fn rows_for(out: &Output) -> &[HftRow] {
    &only_code(out).rows
}

// -- the side book ---------------------------------------------------------------------------

#[test]
fn side_book_diffs_inside_the_window_and_keeps_what_left_it() {
    let mut bids = SideBook::bids();
    let (mut gone, mut set) = (Vec::new(), Vec::new());
    let five = [(100, 1), (99, 2), (98, 3), (97, 4), (96, 5)];
    bids.apply(&five, false, &mut gone, &mut set);
    assert_eq!(set.len(), 5);
    // Up one tick: 96 falls beyond the window (kept), 101 is new, 99 changes.
    gone.clear();
    set.clear();
    let up = [(101, 7), (100, 1), (99, 9), (98, 3), (97, 4)];
    let ch = bids.apply(&up, false, &mut gone, &mut set);
    assert!(gone.is_empty(), "{gone:?}");
    assert_eq!(set, vec![(99, 9), (101, 7)]);
    assert_eq!(ch.left_window, 1);
    assert_eq!(bids.levels()[0], (96, 5));
    // A level gone inside the window is deleted: 100 vanishes, 96 is still beyond.
    gone.clear();
    set.clear();
    let hole = [(101, 7), (99, 9), (98, 3), (97, 4), (95, 1)];
    bids.apply(&hole, false, &mut gone, &mut set);
    // 96 is now inside the window (>= 95) and not shown: gone too; 95 is new.
    assert_eq!(gone, vec![96, 100]);
    assert_eq!(set, vec![(95, 1)]);
    // Fewer than five levels: the whole side is visible, everything else is gone.
    gone.clear();
    set.clear();
    bids.apply(&[(101, 7)], true, &mut gone, &mut set);
    assert_eq!(gone, vec![95, 97, 98, 99]);
    assert!(set.is_empty());
    assert_eq!(bids.levels(), &[(101, 7)]);
}

#[test]
fn ask_side_windows_run_upwards() {
    let mut asks = SideBook::asks();
    let (mut gone, mut set) = (Vec::new(), Vec::new());
    asks.apply(
        &[(10, 1), (11, 1), (12, 1), (13, 1), (14, 1)],
        false,
        &mut gone,
        &mut set,
    );
    gone.clear();
    set.clear();
    // Down one tick: 14 leaves the window (kept), 9 is new.
    let ch = asks.apply(
        &[(9, 2), (10, 1), (11, 1), (12, 1), (13, 1)],
        false,
        &mut gone,
        &mut set,
    );
    assert!(gone.is_empty());
    assert_eq!(set, vec![(9, 2)]);
    assert_eq!(ch.left_window, 1);
    assert_eq!(asks.levels()[0], (14, 1));
    // The window reaches 14 again with another quantity: one change, nothing gone.
    gone.clear();
    set.clear();
    asks.apply(
        &[(10, 1), (11, 1), (12, 1), (13, 1), (14, 6)],
        false,
        &mut gone,
        &mut set,
    );
    assert_eq!(gone, vec![9]);
    assert_eq!(set, vec![(14, 6)]);
}

// -- rows ------------------------------------------------------------------------------------

#[test]
fn first_book_is_a_clear_and_a_snapshot_per_side() {
    let out = run(&[book(
        "TXFL5",
        T0,
        &ladder(100.0, -1.0, 3),
        &ladder(101.0, 1.0, 4),
    )]);
    let rows = rows_for(&out);
    assert_eq!(rows.len(), 12);
    let both = EXCH_EVENT | LOCAL_EVENT;
    assert_eq!(rows[0].ev, DEPTH_CLEAR_EVENT | BUY_EVENT | both);
    assert_eq!(rows[0].px, 96.0, "bid clear reaches the farthest bid");
    assert!(rows[1..6]
        .iter()
        .all(|r| r.ev == DEPTH_SNAPSHOT_EVENT | BUY_EVENT | both && r.qty == 3.0));
    assert_eq!(rows[6].ev, DEPTH_CLEAR_EVENT | SELL_EVENT | both);
    assert_eq!(rows[6].px, 105.0);
    assert!(rows[7..]
        .iter()
        .all(|r| r.ev == DEPTH_SNAPSHOT_EVENT | SELL_EVENT | both && r.qty == 4.0));
    assert!(rows
        .iter()
        .all(|r| r.exch_ts == T0 && r.local_ts == T0 + LAT));
    let s = &only_code(&out).stats;
    assert_eq!((s.clear_rows, s.snapshot_rows, s.depth_rows), (2, 10, 0));
}

#[test]
fn empty_books_before_the_first_level_anchor_nothing() {
    let out = run(&[
        book("A", T0, &[], &[]),
        book("A", T0 + 1, &[], &[(101.0, 2)]),
        book("A", T0 + 2, &[(99.0, 1)], &[(101.0, 2)]),
    ]);
    let rows = rows_for(&out);
    // Ask clear + one snapshot level, then a plain depth row for the new bid.
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].kind(), DEPTH_CLEAR_EVENT);
    assert!(rows[0].is_ask());
    assert_eq!(rows[1].kind(), DEPTH_SNAPSHOT_EVENT);
    assert_eq!(rows[2].kind(), DEPTH_EVENT);
    assert!(rows[2].is_bid());
    assert_eq!(only_code(&out).stats.books_unchanged, 1);
}

#[test]
fn trades_take_their_side_from_tick_type() {
    let out = run(&[
        tick("A", T0, 100.0, 2, TickType::Buy),
        tick("A", T0 + 1, 99.0, 3, TickType::Sell),
        tick("A", T0 + 2, 99.5, 1, TickType::Unknown),
    ]);
    let rows = rows_for(&out);
    let both = EXCH_EVENT | LOCAL_EVENT;
    assert_eq!(rows[0].ev, TRADE_EVENT | BUY_EVENT | both);
    assert_eq!((rows[0].px, rows[0].qty), (100.0, 2.0));
    assert_eq!(rows[1].ev, TRADE_EVENT | SELL_EVENT | both);
    assert_eq!(rows[2].ev, TRADE_EVENT | both, "unknown side: no side flag");
    let s = &only_code(&out).stats;
    assert_eq!(
        (s.trades_buy, s.trades_sell, s.trades_unknown_side),
        (1, 1, 1)
    );
}

#[test]
fn at_equal_exchange_time_the_trade_comes_first() {
    let b0 = book("A", T0, &ladder(100.0, -1.0, 5), &ladder(101.0, 1.0, 5));
    let mut after = ladder(101.0, 1.0, 5);
    after[0].1 = 3;
    // Recorded as book, then the trade that made it; same exchange time.
    let b1 = book("A", T0 + 10, &ladder(100.0, -1.0, 5), &after);
    let t = tick("A", T0 + 10, 101.0, 2, TickType::Buy);
    let out = run(&[b0, b1, t]);
    let rows = rows_for(&out);
    let tail: Vec<u64> = rows[12..].iter().map(|r| r.kind()).collect();
    assert_eq!(tail, vec![TRADE_EVENT, DEPTH_EVENT]);
    assert_eq!(only_code(&out).stats.out_of_order, 1);
}

#[test]
fn unsorted_input_is_converted_in_exchange_order() {
    let books: Vec<Message> = (0..20)
        .map(|i| {
            let best = 100.0 + (i % 7) as f64;
            book(
                "A",
                T0 + i * 1000,
                &ladder(best, -1.0, 1 + i),
                &ladder(best + 1.0, 1.0, 2),
            )
        })
        .collect();
    let sorted = run(&books);
    let mut shuffled = books.clone();
    shuffled.reverse();
    shuffled.swap(3, 11);
    let out = run(&shuffled);
    assert_eq!(rows_for(&out), rows_for(&sorted));
    assert!(only_code(&out).stats.out_of_order > 0);
    assert_eq!(only_code(&sorted).stats.out_of_order, 0);
}

#[test]
fn simtrade_bad_and_crossed_records_are_dropped_with_their_place() {
    let good = book("A", T0, &ladder(100.0, -1.0, 5), &ladder(101.0, 1.0, 5));
    let mut sim = good;
    if let Message::BidAsk(m) = &mut sim {
        m.simtrade = true;
    }
    let mut sim_tick = tick("A", T0, 100.0, 1, TickType::Unknown);
    if let Message::Tick(m) = &mut sim_tick {
        m.simtrade = true;
    }
    let negative = book("A", T0 + 1, &[(100.0, -1)], &[(101.0, 1)]);
    let gap = book(
        "A",
        T0 + 2,
        &[(100.0, 1), (0.0, 0), (98.0, 1)],
        &[(101.0, 1)],
    );
    let unordered = book("A", T0 + 3, &[(100.0, 1), (100.0, 1)], &[(101.0, 1)]);
    let ask_unordered = book("A", T0 + 3, &[(100.0, 1)], &[(102.0, 1), (101.0, 1)]);
    let crossed = book("A", T0 + 4, &[(101.0, 1)], &[(101.0, 1)]);
    let zero = tick("A", T0 + 5, 100.0, 0, TickType::Buy);
    let msgs = [
        sim,
        sim_tick,
        good,
        negative,
        gap,
        unordered,
        ask_unordered,
        crossed,
        zero,
    ];
    let out = run(&msgs);
    let c = only_code(&out);
    assert_eq!(c.stats.dropped(Cause::Simtrade), 2);
    assert_eq!(c.stats.dropped(Cause::BadBook), 4);
    assert_eq!(c.stats.dropped(Cause::CrossedBook), 1);
    assert_eq!(c.stats.dropped(Cause::BadTrade), 1);
    assert_eq!(c.rows.len(), 12, "only the good book is converted");
    let at: Vec<(Cause, u64)> = c.dropped.iter().map(|d| (d.cause, d.place.at)).collect();
    assert!(at.contains(&(Cause::BadBook, 4)) && at.contains(&(Cause::CrossedBook, 8)));
    let details: Vec<&str> = c.dropped.iter().map(|d| d.detail.as_str()).collect();
    assert!(
        details.contains(&"bid_volume[0] is negative (-1)"),
        "{details:?}"
    );
    assert!(
        details.contains(&"bid level 1 is empty but level 2 is not"),
        "{details:?}"
    );
    assert!(details
        .iter()
        .any(|d| d.starts_with("ask prices are not strictly rising")));
    assert!(
        details.contains(&"best bid 101 is not below best ask 101"),
        "{details:?}"
    );
}

#[test]
fn examples_are_bounded_but_counts_are_not() {
    let msgs: Vec<Message> = (0..50)
        .map(|i| tick("A", T0 + i, 1.0, 0, TickType::Buy))
        .collect();
    let out = run(&msgs);
    let c = only_code(&out);
    assert_eq!(c.stats.dropped(Cause::BadTrade), 50);
    assert_eq!(c.dropped.len(), Options::default().examples);
    assert!(c.rows.is_empty());
}

#[test]
fn duplicates_are_dropped() {
    let b = book("A", T0, &ladder(100.0, -1.0, 5), &ladder(101.0, 1.0, 5));
    let t = tick("A", T0 + 5, 100.0, 1, TickType::Sell);
    let mut other = t;
    if let Message::Tick(m) = &mut other {
        m.seq += 1; // same time and content, another record: a real second trade
    }
    let out = run(&[b, t, b, t, other]);
    let c = only_code(&out);
    assert_eq!(c.stats.dropped(Cause::Duplicate), 2);
    assert_eq!(c.stats.trade_rows, 2);
}

#[test]
fn local_time_is_shifted_once_and_kept_in_order() {
    let mut a = tick("A", T0, 100.0, 1, TickType::Buy);
    let mut b = tick("B", T0 + 10, 100.0, 1, TickType::Buy);
    let mut c = tick("B", T0 + 20, 100.0, 1, TickType::Buy);
    let mut far = tick("B", T0 + 30, 100.0, 1, TickType::Buy);
    for (m, local) in [
        (&mut a, T0 - 500),
        (&mut b, T0 + 100),
        (&mut c, T0 + 50),
        (&mut far, T0 - 5_000_000_000),
    ] {
        if let Message::Tick(t) = m {
            t.local_ts = local;
        }
    }
    let out = run(&[a, b, c, far]);
    // A's clock is 500 ns behind: every local_ts moves by 501 (base latency 1).
    assert_eq!(out.local_ts_shift_ns, 501);
    assert_eq!(out.min_feed_latency_ns, Some(-500));
    let ra = &out.codes[0];
    assert_eq!(ra.rows[0].local_ts, T0 + 1);
    let rb = &out.codes[1];
    assert_eq!(rb.stats.dropped(Cause::ClockSkew), 1, "5 s behind: dropped");
    assert_eq!(rb.rows[0].local_ts, T0 + 601);
    // C arrived before B locally: raised to B's local time.
    assert_eq!(rb.rows[1].local_ts, T0 + 601);
    assert_eq!(rb.stats.local_ts_raised, 1);
    assert_eq!(rb.stats.local_ts_max_raise_ns, 50);
    for c in &out.codes {
        check_rows(&c.rows).unwrap();
    }
}

#[test]
fn no_shift_when_every_record_is_after_its_exchange_time() {
    let out = run(&[tick("A", T0, 1.0, 1, TickType::Buy)]);
    assert_eq!(out.local_ts_shift_ns, 0);
    assert_eq!(out.min_feed_latency_ns, Some(LAT));
}

#[test]
fn extreme_timestamps_are_an_error_not_a_panic() {
    let mut a = tick("A", 0, 1.0, 1, TickType::Buy);
    if let Message::Tick(t) = &mut a {
        t.exch_ts = i64::MAX;
        t.local_ts = i64::MAX - 10;
    }
    let b = tick("A", i64::MIN + 1000, 1.0, 1, TickType::Buy);
    let mut c = Converter::new(Options {
        max_clock_skew_ns: i64::MAX,
        ..Options::default()
    })
    .unwrap();
    c.push(&a, Place::default());
    c.push(&b, Place::default());
    assert!(matches!(c.finish(), Err(ConvertError::OutOfRange(_))));
}

#[test]
fn options_are_checked() {
    assert!(Converter::new(Options {
        base_latency_ns: 0,
        ..Options::default()
    })
    .is_err());
    assert!(Converter::new(Options {
        max_clock_skew_ns: -1,
        ..Options::default()
    })
    .is_err());
}

#[test]
fn codes_are_separate_and_can_be_selected() {
    let msgs = [
        tick("B", T0, 1.0, 1, TickType::Buy),
        tick("A", T0, 1.0, 1, TickType::Buy),
        tick("B", T0 + 1, 1.0, 1, TickType::Sell),
    ];
    let out = run(&msgs);
    let names: Vec<&str> = out.codes.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(names, vec!["A", "B"]);
    let mut c = Converter::new(Options::default()).unwrap();
    c.only(vec![code("B")]);
    for m in &msgs {
        c.push(m, Place::default());
    }
    let out = c.finish().unwrap();
    assert_eq!(out.codes.len(), 1);
    assert_eq!(out.skipped.other_codes, 1);
}

// -- the book hftbacktest rebuilds equals every snapshot ---------------------------------------

/// A deterministic pseudo-random walk (no dependency): xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random books: the touch moves by up to three ticks, sides have 0-5 levels with gaps.
fn random_books(seed: u64, n: usize) -> Vec<Message> {
    let mut rng = Rng(seed);
    let mut mid: i64 = 1000;
    let mut out = Vec::new();
    for i in 0..n {
        mid += rng.below(7) as i64 - 3;
        let side = |start: i64, dir: i64, rng: &mut Rng| {
            let count = if rng.below(10) == 0 { rng.below(5) } else { 5 } as usize;
            let mut lv = Vec::new();
            let mut px = start;
            for _ in 0..count {
                lv.push((px as f64 * 0.5, 1 + rng.below(20) as i64));
                px += dir * (1 + rng.below(2) as i64);
            }
            lv
        };
        let spread = 1 + rng.below(2) as i64;
        let bids = side(mid, -1, &mut rng);
        let asks = side(mid + spread, 1, &mut rng);
        out.push(book("A", T0 + i as i64 * 1000, &bids, &asks));
        if rng.below(3) == 0 {
            out.push(tick(
                "A",
                T0 + i as i64 * 1000 + 1,
                mid as f64 * 0.5,
                1,
                TickType::Buy,
            ));
        }
    }
    out
}

#[test]
fn replayed_rows_rebuild_every_snapshot_inside_its_window() {
    for seed in [1, 2, 3, 42] {
        let msgs = random_books(seed, 600);
        let out = run(&msgs);
        let rows = rows_for(&out);
        let mut depth = Depth::default();
        let mut r = 0;
        for m in &msgs {
            let Message::BidAsk(b) = m else { continue };
            // Apply every row up to this book's exchange time.
            while r < rows.len() && rows[r].exch_ts <= b.exch_ts {
                depth.apply(&rows[r]);
                assert!(!depth.crossed(), "crossed between rows at row {r}");
                r += 1;
            }
            for (prices, qty, held, ask) in [
                (&b.bid_price, &b.bid_volume, &depth.bids, false),
                (&b.ask_price, &b.ask_volume, &depth.asks, true),
            ] {
                let shown: Vec<(i64, f64)> = prices
                    .iter()
                    .zip(qty.iter())
                    .take_while(|(_, &q)| q > 0)
                    .map(|(p, &q)| (p.mantissa(), q as f64))
                    .collect();
                // The held levels inside the window, best first.
                let inside: Vec<(i64, f64)> = if ask {
                    held.iter()
                        .filter(|(&k, _)| shown.len() < LEVELS || k <= shown[LEVELS - 1].0)
                        .map(|(&k, &v)| (k, v))
                        .collect()
                } else {
                    held.iter()
                        .rev()
                        .filter(|(&k, _)| shown.len() < LEVELS || k >= shown[LEVELS - 1].0)
                        .map(|(&k, &v)| (k, v))
                        .collect()
                };
                assert_eq!(inside, shown, "seed {seed} at {}", b.exch_ts);
            }
        }
        let s = &only_code(&out).stats;
        assert!(s.levels_left_window > 0 && s.levels_deleted > 0, "{s:?}");
    }
}

// -- reading ---------------------------------------------------------------------------------

fn jsonl_of(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        jsonl::write_line(m, &mut out);
        out.push(b'\n');
    }
    out
}

fn frames_of(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; SOFH_LEN + MAX_MESSAGE_LEN];
    for m in msgs {
        let n = encode_frame(m, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn jsonl_and_sbe_give_the_same_rows() {
    let msgs = random_books(7, 300);
    let text = jsonl_of(&msgs);
    let mut a = Converter::new(Options::default()).unwrap();
    let read = a.read_jsonl(&text, 0, true, 0, 1);
    assert_eq!((read.pos, read.lines), (text.len(), msgs.len() as u64));
    let frames = frames_of(&msgs);
    let mut b = Converter::new(Options::default()).unwrap();
    assert_eq!(b.read_frames(&frames, 0, 0, 0), frames.len());
    let (a, b) = (a.finish().unwrap(), b.finish().unwrap());
    assert_eq!(rows_for(&a), rows_for(&b));
    assert_eq!(rows_for(&a), rows_for(&run(&msgs)));
}

#[test]
fn jsonl_reading_stops_at_lines_for_the_reference_reader() {
    let msgs = [
        tick("A", T0, 1.0, 1, TickType::Buy),
        tick("A", T0 + 1, 1.0, 1, TickType::Buy),
    ];
    let mut text = jsonl_of(&msgs[..1]);
    text.extend_from_slice(b"\n  \n");
    let stop = text.len();
    text.extend_from_slice(b"{\"type\":\"tick\",\"price\":1e3}\n");
    text.extend_from_slice(&jsonl_of(&msgs[1..]));
    let mut c = Converter::new(Options::default()).unwrap();
    let read = c.read_jsonl(&text, 0, true, 3, 10);
    assert_eq!((read.pos, read.lines), (stop, 3));
    // The unfinished last line waits for more data unless it is the last.
    let tail = &text[..text.len() - 1];
    let start = tail.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let read = c.read_jsonl(tail, start, false, 3, 14);
    assert_eq!((read.pos, read.lines), (start, 0));
    let read = c.read_jsonl(tail, start, true, 3, 14);
    assert_eq!((read.pos, read.lines), (tail.len(), 1));
    let out = c.finish().unwrap();
    assert_eq!(out.codes[0].rows.len(), 2);
}

#[test]
fn places_name_the_line_or_the_byte() {
    let bad = tick("A", T0, 1.0, 0, TickType::Buy);
    let msgs = [tick("A", T0, 1.0, 1, TickType::Buy), bad];
    let mut c = Converter::new(Options::default()).unwrap();
    let mut text = b"\n".to_vec();
    text.extend_from_slice(&jsonl_of(&msgs));
    c.read_jsonl(&text, 0, true, 2, 1);
    let frames = frames_of(&msgs);
    c.read_frames(&frames, 0, 5, 1000);
    let out = c.finish().unwrap();
    let places: Vec<(Cause, Place)> = out.codes[0]
        .dropped
        .iter()
        .map(|d| (d.cause, d.place))
        .collect();
    let first_len = frames_of(&msgs[..1]).len() as u64;
    // The SBE copy of the good trade is the same record as the JSONL one: a duplicate.
    assert_eq!(
        places,
        vec![
            (Cause::BadTrade, Place { file: 2, at: 3 }),
            (
                Cause::BadTrade,
                Place {
                    file: 5,
                    at: 1000 + first_len
                }
            ),
            (Cause::Duplicate, Place { file: 5, at: 1000 }),
        ]
    );
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(99);
    let good = jsonl_of(&random_books(5, 20));
    let frames = frames_of(&random_books(6, 20));
    for _ in 0..300 {
        for base in [&good, &frames] {
            let mut data = base.clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(data.len() as u64) as usize;
                data[i] = rng.next() as u8;
            }
            let cut = rng.below(data.len() as u64 + 1) as usize;
            let data = &data[..cut];
            let mut c = Converter::new(Options::default()).unwrap();
            let read = c.read_jsonl(data, 0, true, 0, 1);
            assert!(read.pos <= data.len());
            let pos = c.read_frames(data, 0, 0, 0);
            assert!(pos <= data.len());
            c.read_jsonl(data, data.len() + 5, true, 0, 1);
            c.read_frames(data, data.len() + 5, 0, 0);
            if let Ok(out) = c.finish() {
                for code in &out.codes {
                    check_rows(&code.rows).unwrap();
                }
            }
        }
    }
}

#[test]
fn threads_change_nothing() {
    let msgs = random_books(11, 3000);
    let text = jsonl_of(&msgs);
    // Two lines the fast path leaves to the reference reader, at 40 % and near the end.
    let mut lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let slow = b"{\"type\":\"tick\",\"price\":2.2e4}\n".as_slice();
    let n = lines.len();
    lines.insert(n * 2 / 5, slow);
    lines.insert(n - 3, slow);
    let text = lines.concat();
    assert!(text.len() > 4 * 64 * 1024);
    let mut results = Vec::new();
    // More threads than cores: helpers lose their core and the caller parses their pieces.
    for threads in [1, 2, 3, 4, 8, 16] {
        let mut c = Converter::new(Options {
            threads,
            ..Options::default()
        })
        .unwrap();
        let (mut pos, mut line, mut stops) = (0, 1, Vec::new());
        loop {
            let r = c.read_jsonl(&text, pos, true, 0, line);
            pos = r.pos;
            line += r.lines;
            if pos >= text.len() {
                break;
            }
            stops.push(line);
            // The reference reader's turn: skip that line.
            pos += text[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
            line += 1;
        }
        assert_eq!(line - 1, lines.len() as u64);
        let out = c.finish().unwrap();
        let places: Vec<u64> = out.codes[0].dropped.iter().map(|d| d.place.at).collect();
        results.push((stops, out.codes[0].rows.clone(), places));
    }
    assert_eq!(results[0].0.len(), 2);
    for r in &results[1..] {
        assert_eq!(r.0, results[0].0);
        assert_eq!(r.1, results[0].1);
        assert_eq!(r.2, results[0].2);
    }
}

#[test]
fn codes_converted_side_by_side_give_the_same_output() {
    let mut msgs = Vec::new();
    for (i, name) in ["E", "A", "C", "B", "D"].iter().enumerate() {
        for m in random_books(20 + i as u64, 100 + 150 * i) {
            let mut m = m;
            match &mut m {
                Message::Tick(t) => t.code = code(name),
                Message::BidAsk(b) => b.code = code(name),
                _ => {}
            }
            msgs.push(m);
        }
    }
    let run_with = |threads| {
        let mut c = Converter::new(Options {
            threads,
            ..Options::default()
        })
        .unwrap();
        for (i, m) in msgs.iter().enumerate() {
            c.push(
                m,
                Place {
                    file: 0,
                    at: i as u64,
                },
            );
        }
        c.finish().unwrap()
    };
    let one = run_with(1);
    let names: Vec<&str> = one.codes.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(names, vec!["A", "B", "C", "D", "E"]);
    for threads in [2, 3, 8] {
        let many = run_with(threads);
        assert_eq!(many.local_ts_shift_ns, one.local_ts_shift_ns);
        for (a, b) in one.codes.iter().zip(&many.codes) {
            assert_eq!((a.code, &a.rows, &a.stats), (b.code, &b.rows, &b.stats));
        }
    }
}
