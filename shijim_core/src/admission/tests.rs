//! Admission on a real ring: rules and their precedence, the watermark, duplicates, clock
//! bounds and data holds (published as events at their place).

use super::*;
use crate::publish::Published;
use crate::ring::test_ring::TestRing;
use crate::ring::{Next, RingWriter, Start, MAX_PAYLOAD};

/// The messages in `ring`, oldest first.
fn messages(ring: &TestRing) -> Vec<Message> {
    let mut r = ring.reader(Start::Oldest);
    let mut buf = [0u8; MAX_PAYLOAD];
    let mut out = Vec::new();
    while let Next::Message { len, .. } = r.try_next(&mut buf) {
        out.push(sbe::decode(&buf[..len]).unwrap().0);
    }
    out
}

const NOW: i64 = 1_795_482_000_000_000_000;
const BID: [f64; 5] = [23000.0, 22999.0, 22998.0, 22997.0, 22996.0];
const ASK: [f64; 5] = [23001.0, 23002.0, 23003.0, 23004.0, 23005.0];

fn code(s: &str) -> Code {
    Code::new(s).unwrap()
}

fn head(ts: i64) -> Head {
    Head {
        seq: 0,
        exch_ts: ts,
        received: ts,
        code: code("TXFL6"),
    }
}

fn book(ts: i64, bid: [f64; 5], bq: [i128; 5]) -> BookIn {
    BookIn {
        head: head(ts),
        bid_px: bid,
        bid_qty: bq,
        ask_px: ASK,
        ask_qty: [4, 5, 6, 7, 8],
        simtrade: false,
    }
}

fn tick(ts: i64, price: f64) -> TickIn {
    TickIn {
        head: head(ts),
        price,
        volume: 1,
        total_volume: 10,
        tick_type: 1,
        simtrade: false,
    }
}

fn cause_of(b: &BookIn) -> Option<(Cause, String)> {
    book_fault(b).map(|f| (f.cause, f.field.name()))
}

#[test]
fn book_rules_name_cause_and_field_in_precedence() {
    let good = book(1, BID, [5, 6, 7, 8, 9]);
    assert_eq!(cause_of(&good), None);
    let hole = book(
        1,
        [23000.0, 0.0, 22998.0, 22997.0, 22996.0],
        [5, 0, 7, 8, 9],
    );
    let f = book_fault(&hole).unwrap();
    assert_eq!(
        (f.cause, f.field.name()),
        (Cause::UnorderedBook, "bid_price[2]".into())
    );
    assert_eq!(
        f.detail(Kind::BidAsk, &code("TXFL6"), 1),
        "price 22998.0 after an empty level"
    );
    // Empty levels may trail.
    let short = book(1, [23000.0, 22999.0, 0.0, 0.0, 0.0], [5, 6, 0, 0, 0]);
    assert_eq!(cause_of(&short), None);
    let crossed = book(1, [23001.0, 22999.0, 22998.0, 22997.0, 22996.0], [1; 5]);
    assert_eq!(
        cause_of(&crossed),
        Some((Cause::CrossedBook, "bid_price[0]".into()))
    );
    assert_eq!(
        cause_of(&BookIn {
            simtrade: true,
            ..crossed
        }),
        None
    );
    // NaN before a negative volume before a zero price with volume before order.
    let mut b = book(
        1,
        [23000.0, 0.0, 23005.0, 22997.0, f64::NAN],
        [5, 3, -1, 8, 9],
    );
    assert_eq!(cause_of(&b), Some((Cause::NanPrice, "bid_price[4]".into())));
    b.bid_px[4] = 1.0;
    assert_eq!(
        cause_of(&b),
        Some((Cause::BadVolume, "bid_volume[2]".into()))
    );
    b.bid_qty[2] = 1;
    assert_eq!(
        cause_of(&b),
        Some((Cause::NonpositivePrice, "bid_price[1]".into()))
    );
    b.bid_px[1] = 22999.0;
    assert_eq!(
        cause_of(&b),
        Some((Cause::UnorderedBook, "bid_price[2]".into()))
    );
    let big = book(1, BID, [1, 1, i64::MAX as i128 + 1, 1, 1]);
    let f = book_fault(&big).unwrap();
    assert_eq!(f.cause, Cause::BadVolume);
    assert_eq!(
        f.detail(Kind::BidAsk, &code("X"), 0),
        "volume 9223372036854775808 is beyond int64"
    );
}

#[test]
fn tick_rules() {
    assert_eq!(tick_fault(&tick(1, 23000.0)), None);
    assert_eq!(
        tick_fault(&tick(1, f64::NAN)).unwrap().cause,
        Cause::NanPrice
    );
    assert_eq!(
        tick_fault(&tick(1, 0.0)).unwrap().cause,
        Cause::NonpositivePrice
    );
    assert_eq!(
        tick_fault(&tick(1, f64::INFINITY)).unwrap().cause,
        Cause::NonpositivePrice
    );
    let t = TickIn {
        volume: -1,
        tick_type: 7,
        ..tick(1, 1.0)
    };
    assert_eq!(tick_fault(&t).unwrap().field, Field::Volume);
    let t = TickIn {
        tick_type: 7,
        ..tick(1, 1.0)
    };
    assert_eq!(tick_fault(&t).unwrap().cause, Cause::Malformed);
}

fn admit(a: &mut Admission, w: &mut RingWriter, input: Input) -> Result<u64, Cause> {
    let mut changes = Vec::new();
    let published = Published::default();
    let mut w = MessageWriter::new(w, &published);
    match a.admit(&mut w, &input, 7, NOW, &mut changes).unwrap() {
        Verdict::Published(seq) => Ok(seq),
        Verdict::Dropped(f) => Err(f.cause),
    }
}

#[test]
fn an_outlier_drops_itself_only_and_duplicates_are_dropped() {
    let ring = TestRing::new("admission");
    let mut w = ring.writer(64);
    let mut a = Admission::new(Some(vec![code("TXFL6")]), ClockBound::default(), 5).unwrap();
    let t = |ts: i64, p: f64| Input::Tick(tick(ts, p));
    assert_eq!(admit(&mut a, &mut w, t(NOW - 10, 1.0)), Ok(0));
    // Dated 2100 with a forged receive time: bounded by now, dropped; the watermark stays.
    let mut outlier = tick(4_102_444_800_000_000_000, 2.0);
    outlier.head.received = outlier.head.exch_ts;
    assert_eq!(
        admit(&mut a, &mut w, Input::Tick(outlier)),
        Err(Cause::FutureTimestamp)
    );
    assert_eq!(admit(&mut a, &mut w, t(NOW - 9, 3.0)), Ok(1));
    assert_eq!(
        admit(&mut a, &mut w, t(NOW - 11, 3.0)),
        Err(Cause::TimeBackwards)
    );
    assert_eq!(
        admit(&mut a, &mut w, t(NOW - 9, 3.0)),
        Err(Cause::Duplicate)
    );
    // Books are their own stream; an unrepresentable price is malformed, never rounded.
    let b = Input::Book(book(NOW - 100, BID, [1; 5]));
    assert_eq!(admit(&mut a, &mut w, b), Ok(2));
    assert_eq!(
        admit(&mut a, &mut w, t(NOW - 8, 1.0000001)),
        Err(Cause::Malformed)
    );
    let mut other = tick(NOW, 1.0);
    other.head.code = code("ZZZ");
    assert_eq!(
        admit(&mut a, &mut w, Input::Tick(other)),
        Err(Cause::UnknownCode)
    );
    let mut seq = tick(NOW - 8, 4.0);
    seq.head.seq = 9;
    assert_eq!(admit(&mut a, &mut w, Input::Tick(seq)), Ok(3));
    seq.price = 5.0;
    assert_eq!(
        admit(&mut a, &mut w, Input::Tick(seq)),
        Err(Cause::Duplicate)
    );
    drop(w);
    assert_eq!(messages(&ring).len(), 4);
}

#[test]
fn the_clock_bound_is_the_feeds() {
    let mut a = Admission::new(None, ClockBound::NONE, 5).unwrap();
    assert!(a
        .check(&Input::Tick(tick(NOW + 3_600_000_000_000, 1.0)), NOW)
        .is_ok());
    a.set_clock(ClockBound {
        max_ahead_ns: Some(2_000_000_000),
        max_behind_ns: Some(600_000_000_000),
    });
    let mut old = tick(946_684_800_000_000_000, 1.0); // Shioaji's 2000-01-01 default
    old.head.received = NOW;
    let f = a.check(&Input::Tick(old), NOW).unwrap_err();
    assert_eq!(f.cause, Cause::BadTimestamp);
    assert!(f
        .detail(Kind::Tick, &code("TXFL6"), old.head.exch_ts)
        .ends_with("s behind its receive time 1795482000000000000 (limit 600 s)"));
    // Extreme times neither wrap nor panic.
    let extreme = tick(i64::MAX, 1.0);
    assert_eq!(
        a.check(&Input::Tick(extreme), NOW).unwrap_err().cause,
        Cause::FutureTimestamp
    );
    let extreme = tick(i64::MIN, 1.0);
    assert_eq!(
        a.check(&Input::Tick(extreme), NOW).unwrap_err().cause,
        Cause::BadTimestamp
    );
}

#[test]
fn a_run_of_drops_holds_the_code_until_its_stream_admits_again() {
    let ring = TestRing::new("admission");
    let mut ring_writer = ring.writer(64);
    let published = Published::default();
    let mut w = MessageWriter::new(&mut ring_writer, &published);
    let mut a = Admission::new(None, ClockBound::default(), 3).unwrap();
    let mut changes = Vec::new();
    let good = |ts: i64| Input::Book(book(ts, BID, [1 + (ts % 5) as i128; 5]));
    let late = |ts: i64| Input::Book(book(NOW + 10_000_000_000 + ts, BID, [1; 5]));
    a.admit(&mut w, &good(NOW - 100), 1, NOW, &mut changes)
        .unwrap();
    // Duplicates are not data loss.
    for _ in 0..5 {
        a.admit(&mut w, &good(NOW - 100), 1, NOW, &mut changes)
            .unwrap();
    }
    assert!(changes.is_empty());
    for k in 0..4 {
        a.admit(&mut w, &late(k), 1, NOW, &mut changes).unwrap();
    }
    assert_eq!(changes.len(), 1);
    assert!(changes[0].held && changes[0].reason == "data: future_timestamp");
    assert_eq!(a.held().count(), 1);
    // The tick stream of the code does not release it; its book stream does.
    a.admit(
        &mut w,
        &Input::Tick(tick(NOW - 50, 1.0)),
        1,
        NOW,
        &mut changes,
    )
    .unwrap();
    assert_eq!(changes.len(), 1);
    a.admit(&mut w, &good(NOW - 99), 1, NOW, &mut changes)
        .unwrap();
    assert_eq!(changes.len(), 2);
    assert!(!changes[1].held && a.held().count() == 0);
    // Published and counted: what was admitted (not the duplicates, not the drops) and the
    // two hold changes, as events.
    assert_eq!(published.by_type(), [1, 2, 0, 2]);
    drop(ring_writer);
    let states: Vec<_> = messages(&ring)
        .into_iter()
        .map(|m| match m {
            Message::SystemEvent(e) => format!("{:?}", e.trading_state),
            Message::Tick(_) => "tick".into(),
            _ => "book".into(),
        })
        .collect();
    // The hold right after the third drop; the release just before the book that releases.
    assert_eq!(states, ["book", "Halted", "tick", "Active", "book"]);
    assert!(Admission::new(None, ClockBound::NONE, 0).is_err());
}
