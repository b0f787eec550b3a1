//! Engine driver tests: scripted books and trades through books, policy, venue and account;
//! the ring source (lapped reader, unknown codes, bad slots) and the SBE frame source.

use super::*;
use crate::engine::latency::LatencyModel;
use crate::engine::types::{Side, PRICE_SCALE};
use crate::engine::venue::Tif;
use crate::ring::test_ring::TestRing;
use crate::ring::{RingWriter, Start};
use crate::sbe::{encode, encode_frame, BidAsk, Code, Reason, Tick, TickType, TradingState};

const S: Nanos = 1_000_000_000;
const MS: Nanos = 1_000_000;
/// The legs the latency tests use: 10 ms entry, 5 ms ack, 10 ms cancel.
const LATENCY_10MS: LatencyModel = LatencyModel::Constant {
    entry: 10 * MS,
    ack: 5 * MS,
    cancel: 10 * MS,
};

fn p(x: i64) -> Price {
    Price(x * PRICE_SCALE)
}

fn book(code: &str, t: Nanos, bid: i64, ask: i64, qb: [i64; 5], qa: [i64; 5]) -> Message {
    Message::BidAsk(BidAsk {
        seq: 0,
        exch_ts: t - 100,
        local_ts: t,
        code: Code::new(code).unwrap(),
        bid_price: std::array::from_fn(|m| p(bid - m as i64)),
        bid_volume: qb,
        ask_price: std::array::from_fn(|m| p(ask + m as i64)),
        ask_volume: qa,
        simtrade: false,
    })
}

fn trade(code: &str, t: Nanos, price: i64, volume: i64, tt: TickType) -> Message {
    Message::Tick(Tick {
        seq: 0,
        exch_ts: t - 100,
        local_ts: t,
        code: Code::new(code).unwrap(),
        price: p(price),
        volume,
        total_volume: 0,
        tick_type: tt,
        simtrade: false,
    })
}

fn event(code: &str, t: Nanos, kind: EventKind, session: SessionState) -> Message {
    Message::SystemEvent(SystemEvent {
        seq: 0,
        exch_ts: t,
        local_ts: t,
        code: Code::new(code).unwrap(),
        count: 0,
        kind,
        session_state: session,
        trading_state: TradingState::None,
        reason: Reason::default(),
    })
}

fn engine(policy: DecisionPolicy, latency: LatencyModel) -> Engine {
    engine_on(policy, latency, ClockSource::Local)
}

fn engine_on(policy: DecisionPolicy, latency: LatencyModel, clock: ClockSource) -> Engine {
    let cfg = EngineConfig {
        signals: SignalConfig::default(),
        policy,
        venue: VenueConfig { latency, seed: 7 },
        clock,
    };
    Engine::new(
        cfg,
        &[
            ("TXFL4", InstrumentSpec::txf()),
            ("MXFL4", InstrumentSpec::mxf()),
        ],
    )
    .unwrap()
}

fn drain(e: &mut Engine) -> Vec<VenueEvent> {
    let mut v = Vec::new();
    e.drain_events(&mut v);
    v
}

/// What the risk gateway does with drained events: books each fill at its execution time.
fn book_fills(e: &mut Engine, events: &[VenueEvent]) {
    for ev in events {
        if let VenueEvent::Filled {
            code,
            side,
            price,
            qty,
            fee,
            exec_at,
            ..
        } = *ev
        {
            e.apply_fill(code, side, price, qty, fee, exec_at).unwrap();
        }
    }
}

#[test]
fn scripted_session_with_one_resting_order() {
    let mut e = engine(DecisionPolicy::OnTouchChange, LatencyModel::Zero);
    let q5 = [5, 6, 7, 8, 9];
    // 1. The first book is a touch change: due, with its own stamps.
    let d = e.on_message(&book("TXFL4", S, 100, 101, q5, q5)).unwrap();
    assert_eq!(
        (d.kind, d.code, d.local_ts, d.exch_ts),
        (DueKind::Book, Some(0), S, S - 100)
    );
    assert!(d.flags.contains(Flags::TOUCH_PRICE));
    assert_eq!(e.now(), S);
    assert_eq!(e.book(0).unwrap().signals().mid, 100.5);
    // 2. The strategy bids 1 lot at 100 (zero latency: accepted at once, behind 5 lots).
    let id = e
        .submit(OrderRequest {
            code: 0,
            side: Side::Buy,
            price: p(100),
            qty: 1,
            tif: Tif::Day,
        })
        .unwrap();
    let ev = drain(&mut e);
    assert!(
        matches!(ev[..], [VenueEvent::Accepted { id: a, .. }] if a == id),
        "{ev:?}"
    );
    assert_eq!(e.venue().queue_ahead(id), Some(5));
    // 3. A change deeper in the book only: not due under on_touch_change.
    let mut deeper = q5;
    deeper[3] = 30;
    assert_eq!(
        e.on_message(&book("TXFL4", S + 100 * MS, 100, 101, q5, deeper)),
        None
    );
    // 4. Sellers hit the bid for the 5 lots ahead of us: a trade is due, no fill yet.
    let d = e
        .on_message(&trade("TXFL4", S + 200 * MS, 100, 5, TickType::Sell))
        .unwrap();
    assert_eq!((d.kind, d.flags), (DueKind::Trade, Flags::TRADE));
    assert!(drain(&mut e).is_empty());
    // 5. One more lot sold at our price fills us.
    let d = e
        .on_message(&trade("TXFL4", S + 300 * MS, 100, 1, TickType::Sell))
        .unwrap();
    assert_eq!(d.kind, DueKind::Trade);
    let ev = drain(&mut e);
    let fee = match ev[..] {
        [VenueEvent::Filled {
            id: f,
            qty: 1,
            price,
            maker: true,
            fee,
            ..
        }] if f == id && price == p(100) => fee,
        _ => panic!("{ev:?}"),
    };
    // TXF: 60 TWD commission + 0.002 % tax on 100 * 200.
    assert!((fee - 60.4).abs() < 1e-9, "{fee}");
    // The engine did not book it: its owner does (one path for paper and live fills).
    assert_eq!(e.account().position(0).unwrap().net, 0);
    book_fills(&mut e, &ev);
    let pos = e.account().position(0).unwrap();
    assert_eq!(pos.net, 1);
    assert!((pos.fees - 60.4).abs() < 1e-9);
    // 6. The market lifts 2 points 1.2 s after the fill: marked at the new mid, and the 1 s
    // markout completes with the mid in force 1 s after the fill (100.5): +0.5 pt * 200.
    let d = e
        .on_message(&book("TXFL4", 2 * S + 500 * MS, 102, 103, q5, q5))
        .unwrap();
    assert_eq!(d.kind, DueKind::Book);
    let pos = e.account().position(0).unwrap();
    assert_eq!(pos.mark, 102.5);
    assert!((pos.unrealised - 2.5 * 200.0).abs() < 1e-9, "{pos:?}");
    let m = e.account().markouts().horizons[0];
    assert_eq!((m.count, m.lots), (1, 1));
    assert!((m.sum_twd - 100.0).abs() < 1e-9, "{m:?}");
    assert_eq!(m.pending, 0);
    assert_eq!(e.account().markouts().horizons[1].pending, 1);
    let t = e.account().totals();
    assert!((t.net_pnl - (500.0 - 60.4)).abs() < 1e-9, "{t:?}");
    // 7. A row of a code not ours: counted and skipped, never due.
    assert_eq!(e.on_message(&book("2330", 3 * S, 600, 601, q5, q5)), None);
    assert_eq!(e.counters().dropped.get(DropCause::UnknownCode), 1);
    // 8. A trade of a code without a book yet: flows recorded, no decision (nothing to decide
    // on); its first book is.
    assert_eq!(
        e.on_message(&trade("MXFL4", 3 * S, 101, 2, TickType::Buy)),
        None
    );
    assert_eq!(e.book(1).unwrap().signals().since.trade_flow, 2);
    assert!(e
        .on_message(&book("MXFL4", 3 * S, 100, 101, q5, q5))
        .is_some());
    // 9. A feed gap of TXF: always due, and the book starts afresh.
    let d = e
        .on_message(&event(
            "TXFL4",
            4 * S,
            EventKind::FeedGap,
            SessionState::None,
        ))
        .unwrap();
    assert_eq!((d.kind, d.code), (DueKind::System, Some(0)));
    assert_eq!(d.system.map(|s| s.kind), Some(EventKind::FeedGap));
    assert!(e.book(0).unwrap().book().is_none());
    assert!(e.book(1).unwrap().book().is_some());
    // A shard-wide session close: all books forget.
    let d = e
        .on_message(&event(
            "",
            5 * S,
            EventKind::SessionState,
            SessionState::Closed,
        ))
        .unwrap();
    assert_eq!((d.kind, d.code), (DueKind::System, None));
    assert!(e.book(1).unwrap().book().is_none());
    let c = e.counters();
    assert_eq!(
        (c.books, c.trades, c.system_events, c.messages),
        (5, 3, 2, 10)
    );
    assert_eq!(c.due, [3, 2, 2, 0]);
}

#[test]
fn latency_delays_fills_and_execution_events_are_due() {
    let lat = LATENCY_10MS;
    let mut e = engine(DecisionPolicy::OnTouchChange, lat);
    let q = [3; 5];
    e.on_message(&book("TXFL4", S, 100, 101, q, q)).unwrap();
    // A marketable buy: arrives after 10 ms, takes the 3 lots at 101, known 5 ms later.
    let id = e
        .submit(OrderRequest {
            code: 0,
            side: Side::Buy,
            price: p(101),
            qty: 2,
            tif: Tif::Ioc,
        })
        .unwrap();
    assert_eq!(e.pending_events(), 0);
    // A deeper-level book 12 ms later: the order arrived (10 ms) but its ack (15 ms) is not
    // known yet; nothing is due.
    let mut deeper = q;
    deeper[4] = 9;
    assert_eq!(
        e.on_message(&book("TXFL4", S + 12 * MS, 100, 101, q, deeper)),
        None
    );
    assert_eq!(e.pending_events(), 0);
    // 16 ms: the fill is known; the message is not a market decision, so an execution due.
    let d = e
        .on_message(&book("TXFL4", S + 16 * MS, 100, 101, q, deeper))
        .unwrap();
    assert_eq!(
        (d.kind, d.code, d.local_ts),
        (DueKind::Execution, None, S + 16 * MS)
    );
    let ev = drain(&mut e);
    assert!(
        ev.iter().any(
            |v| matches!(v, VenueEvent::Filled { id: f, qty: 2, maker: false, .. } if *f == id)
        ),
        "{ev:?}"
    );
    book_fills(&mut e, &ev);
    assert_eq!(e.account().position(0).unwrap().net, 2);
    // The 1 s markout runs from the execution (10 ms), not from when we learned of it (15 ms):
    // a book at 1.012 s after the start completes it.
    e.on_message(&book("TXFL4", 2 * S + 12 * MS, 100, 101, q, q));
    let m = e.account().markouts().horizons[0];
    assert_eq!((m.count, m.pending), (1, 0), "{m:?}");
}

#[test]
fn policies_decide_at_their_rates_on_one_stream() {
    // 1000 books 1 ms apart: the touch moves every 4th, qty every 2nd; a trade every 10th.
    let stream: Vec<Message> = (0..1000i64)
        .flat_map(|n| {
            let t = S + n * MS;
            let bid = 100 + (n / 4) % 3;
            let qb = [5 + (n / 2) % 2, 5, 5, 5, 5 + n % 7];
            let mut v = vec![book("TXFL4", t, bid, bid + 1, qb, [5; 5])];
            if n % 10 == 9 {
                v.push(trade("TXFL4", t, bid, 1, TickType::Buy));
            }
            v
        })
        .collect();
    let count = |policy| {
        let mut e = engine(policy, LatencyModel::Zero);
        stream.iter().filter(|m| e.on_message(m).is_some()).count()
    };
    let every = count(DecisionPolicy::EveryEvent);
    let touch = count(DecisionPolicy::OnTouchChange);
    let interval = count(DecisionPolicy::parse("interval_ms:10").unwrap());
    assert_eq!(every, 1100);
    // Every book whose n is even changes the best qty or price (n % 2 == 0 flips qb[0] or bid),
    // plus every trade, plus the first book.
    assert!(touch < every && touch >= 500 + 100, "{touch}");
    // One decision per 10 ms of event time over ~1 s.
    assert_eq!(interval, 100);
}

fn publish(w: &mut RingWriter, msg: &Message) {
    let mut m = *msg;
    m.set_seq(w.next_seq());
    w.publish_with(|slot| encode(&m, slot)).unwrap();
}

#[test]
fn ring_source_resets_books_after_a_lap_and_counts_bad_rows() {
    let ring = TestRing::new("engine");
    let mut w = ring.writer(16);
    let mut r = ring.reader(Start::Oldest);
    let mut e = engine(DecisionPolicy::EveryEvent, LatencyModel::Zero);
    let q = [5; 5];
    publish(&mut w, &book("TXFL4", S, 100, 101, q, q));
    publish(&mut w, &book("TXFL4", S + MS, 101, 102, q, q)); // bid up +5, ask up +5: OFI 10
    publish(&mut w, &book("NOPE", S + 2 * MS, 1, 2, q, q));
    w.publish(b"not an SBE message").unwrap();
    let out = e.next_due(&mut r, 100);
    assert_eq!(out.due.map(|d| d.seq), Some(0));
    let out = e.next_due(&mut r, 100);
    assert_eq!(out.due.map(|d| d.seq), Some(1));
    assert_eq!(e.book(0).unwrap().signals().since.ofi_best, 10.0);
    let out = e.next_due(&mut r, 100);
    assert!(out.due.is_none() && out.idle, "{out:?}");
    assert_eq!((out.messages, out.bad), (1, 1));
    assert_eq!(e.counters().dropped.get(DropCause::UnknownCode), 1);
    // The writer laps the reader: 40 books into 16 slots.
    for k in 0..40 {
        publish(
            &mut w,
            &book("TXFL4", S + (10 + k) * MS, 200 + k, 201 + k, q, q),
        );
    }
    let out = e.next_due(&mut r, 100);
    assert!(out.lost > 0, "{out:?}");
    let d = out.due.unwrap();
    // The first book after the gap starts a fresh sequence: no OFI across the gap, even
    // though its prices jumped by 100 points (which would be a large flow).
    assert!(d.flags.contains(Flags::TOUCH_PRICE));
    let b = e.book(0).unwrap();
    assert_eq!(b.signals().since.ofi_best, 0.0);
    assert!(b.prev().is_none());
    assert_eq!(e.counters().resets, 1);
    assert_eq!(e.counters().lost, out.lost);
    // The bound: two steps, each due under every_event.
    let out = e.next_due(&mut r, 1);
    assert_eq!(out.messages, 1);
    assert!(out.due.is_some());
    // Everything read: idle.
    while e.next_due(&mut r, 1000).due.is_some() {}
    assert!(e.next_due(&mut r, 1000).idle);
}

#[test]
fn frames_feed_the_same_path_as_the_ring() {
    let q = [5; 5];
    let msgs = [
        book("TXFL4", S, 100, 101, q, q),
        trade("TXFL4", S + MS, 101, 3, TickType::Buy),
        book("TXFL4", S + 2 * MS, 100, 101, [6; 5], q),
        book("XXX", S + 3 * MS, 100, 101, q, q),
        book("MXFL4", S + 4 * MS, 100, 101, q, q),
    ];
    let data = frames_of(&msgs);
    let run = |data: Vec<u8>| {
        let mut e = engine(DecisionPolicy::EveryEvent, LatencyModel::Zero);
        let mut src = FrameSource::new(data);
        let mut dues = Vec::new();
        loop {
            let out = e.next_due_from_frames(&mut src, 2);
            if let Some(d) = out.due {
                dues.push((d.kind, d.code, d.seq));
            } else if out.idle {
                break;
            }
        }
        (dues, *e.counters(), src)
    };
    let (dues, c, src) = run(data.clone());
    assert_eq!(
        dues,
        vec![
            (DueKind::Book, Some(0), 0),
            (DueKind::Trade, Some(0), 1),
            (DueKind::Book, Some(0), 2),
            (DueKind::Book, Some(1), 4),
        ]
    );
    assert_eq!(c.dropped.get(DropCause::UnknownCode), 1);
    assert!(src.done() && src.error().is_none());
    // The same messages through a ring give the same decisions.
    let ring = TestRing::new("engine");
    let mut w = ring.writer(64);
    let mut r = ring.reader(Start::Oldest);
    for m in &msgs {
        publish(&mut w, m);
    }
    let mut e = engine(DecisionPolicy::EveryEvent, LatencyModel::Zero);
    let mut ring_dues = Vec::new();
    while let Some(d) = e.next_due(&mut r, 100).due {
        ring_dues.push((d.kind, d.code, d.seq));
    }
    assert_eq!(ring_dues, dues);
    // A corrupt body skips one frame; a broken header stops the source, naming the offset.
    let mut bad = data.clone();
    bad[6 + 2] ^= 0xFF; // the first frame's template id: not a message of the schema
    let tail = bad.len();
    bad.extend_from_slice(&[0, 0, 0, 40, 0x12, 0x34]);
    let (dues, c, src) = run(bad);
    // Without its first book, the trade of TXF has no book to decide on.
    assert_eq!(
        dues,
        vec![(DueKind::Book, Some(0), 2), (DueKind::Book, Some(1), 4)]
    );
    assert_eq!(c.bad, 2);
    let err = src.error().unwrap().to_string();
    assert!(err.contains(&format!("offset {}", tail + 4)), "{err}");
}

#[test]
fn bad_instruments_and_codes_are_errors() {
    let cfg = || EngineConfig {
        signals: SignalConfig::default(),
        policy: DecisionPolicy::EveryEvent,
        venue: VenueConfig::default(),
        clock: ClockSource::Local,
    };
    let dup = Engine::new(
        cfg(),
        &[
            ("TXFL4", InstrumentSpec::txf()),
            ("TXFL4", InstrumentSpec::txf()),
        ],
    );
    assert!(matches!(
        dup,
        Err(EngineError::Code(CodeError::Duplicate { .. }))
    ));
    let mut spec = InstrumentSpec::txf();
    spec.multiplier = f64::NAN;
    let e = Engine::new(cfg(), &[("TXFL4", spec)]).err().unwrap();
    assert!(
        e.to_string().contains("TXFL4") && e.to_string().contains("multiplier"),
        "{e}"
    );
}

#[test]
fn exchange_clock_makes_fills_independent_of_the_receive_pace() {
    // One exchange-time stream: the ask lifts away 5 ms after a book on which we send a
    // marketable IOC buy with a 10 ms entry leg. Received with two different lag patterns
    // (the second book 1 ms or 20 ms after its exchange stamp, as a slow pace or a burst
    // would), the local clock gives two different outcomes; the exchange clock gives one.
    let lat = LATENCY_10MS;
    let q = [3; 5];
    let lagged = |m: Message, lag: Nanos| {
        let mut m = m;
        if let Message::BidAsk(b) = &mut m {
            b.local_ts = b.exch_ts + lag;
        }
        m
    };
    let run = |clock: ClockSource, lag2: Nanos| {
        let mut e = engine_on(DecisionPolicy::EveryEvent, lat, clock);
        e.on_message(&lagged(book("TXFL4", S, 100, 101, q, q), MS));
        e.submit(OrderRequest {
            code: 0,
            side: Side::Buy,
            price: p(101),
            qty: 2,
            tif: Tif::Ioc,
        })
        .unwrap();
        e.on_message(&lagged(book("TXFL4", S + 5 * MS, 100, 105, q, q), lag2));
        e.on_message(&lagged(book("TXFL4", S + 50 * MS, 100, 105, q, q), MS));
        let fills: Vec<(i64, Nanos)> = drain(&mut e)
            .iter()
            .filter_map(|v| match *v {
                VenueEvent::Filled { qty, exec_at, .. } => Some((qty, exec_at)),
                _ => None,
            })
            .collect();
        (fills, e.now())
    };
    let (a, now_a) = run(ClockSource::Exchange, MS);
    let (b, now_b) = run(ClockSource::Exchange, 20 * MS);
    // The order arrives 10 ms after the first book's exchange time, after the ask moved.
    assert!(a.is_empty() && b.is_empty(), "{a:?} {b:?}");
    assert_eq!(now_a, now_b);
    assert_eq!(now_a, S + 50 * MS - 100); // engine time = the newest exch_ts
    let (a, _) = run(ClockSource::Local, MS);
    let (b, _) = run(ClockSource::Local, 20 * MS);
    assert!(a.is_empty(), "{a:?}");
    // Received late, the move comes after the order's local arrival: it takes the 101s.
    assert_eq!(b, vec![(2, S + 11 * MS - 100)]);
    let e = engine_on(DecisionPolicy::EveryEvent, lat, ClockSource::Exchange);
    assert_eq!(e.clock_source(), ClockSource::Exchange);
    assert_eq!(ClockSource::parse("exchange"), Ok(ClockSource::Exchange));
    assert!(ClockSource::parse("wall").is_err());
}

#[test]
fn fills_reach_the_account_only_through_apply_fill() {
    let mut e = engine(DecisionPolicy::EveryEvent, LatencyModel::Zero);
    let q = [5; 5];
    e.on_message(&book("TXFL4", S, 100, 101, q, q));
    e.submit(OrderRequest {
        code: 0,
        side: Side::Buy,
        price: p(101),
        qty: 2,
        tif: Tif::Day,
    })
    .unwrap();
    let ev = drain(&mut e);
    assert!(ev.iter().any(|v| matches!(v, VenueEvent::Filled { .. })));
    assert_eq!(e.account().totals().gross, 0);
    book_fills(&mut e, &ev);
    // A live fill (from the broker) through the same path.
    e.apply_fill(1, Side::Sell, p(50), 1, 12.0, S).unwrap();
    let t = e.account().totals();
    assert_eq!(t.gross, 3);
    assert!(e.apply_fill(9, Side::Buy, p(1), 1, 0.0, S).is_err());
    // Reconcile and a new day.
    e.set_position(1, -3, p(49)).unwrap();
    assert_eq!(e.account().position(1).unwrap().net, -3);
    e.reset_day();
    let t = e.account().totals();
    assert_eq!((t.fees, t.realised, t.gross), (0.0, 0.0, 5));
}

#[test]
fn late_codes_are_adopted_and_references_come_from_the_books() {
    let mut e = engine(DecisionPolicy::EveryEvent, LatencyModel::Zero);
    assert_eq!(e.reference(0), None);
    e.on_message(&trade("TXFL4", S, 100, 1, TickType::Buy));
    assert_eq!(e.reference(0), Some(100.0)); // no book yet: the last trade
    e.on_message(&book("TXFL4", S + MS, 100, 102, [5; 5], [5; 5]));
    // The mid.
    assert_eq!(e.reference(0), Some(101.0));
    // A fill in a code the shard was not configured with: adopted, tracked, never dropped.
    let id = e
        .adopt_code("2330", InstrumentSpec::twse_board_lot())
        .unwrap();
    assert_eq!(id, 2);
    assert_eq!(e.adopt_code("2330", InstrumentSpec::twse_odd_lot()), Ok(2));
    e.apply_fill(id, Side::Buy, p(600), 1, 0.0, S).unwrap();
    assert_eq!(e.account().position(id).unwrap().net, 1);
    // No book: not marked.
    assert_eq!(e.reference(id), None);
    // Its market data is still not the engine's (not one of its instruments).
    assert_eq!(
        e.on_message(&book("2330", 2 * S, 600, 601, [5; 5], [5; 5])),
        None
    );
    assert_eq!(e.counters().dropped.get(DropCause::UnknownCode), 1);
    let mut bad = InstrumentSpec::txf();
    bad.multiplier = 0.0;
    assert!(e.adopt_code("TXFM4", bad).is_err());
    assert_eq!(e.codes().id_of_str("TXFM4"), None);
}

#[test]
fn advancing_the_clock_without_events_lets_in_flight_cancels_arrive() {
    let lat = LATENCY_10MS;
    let mut e = engine(DecisionPolicy::OnTouchChange, lat);
    let q = [3; 5];
    e.on_message(&book("TXFL4", S, 100, 101, q, q)).unwrap();
    let id = e
        .submit(OrderRequest {
            code: 0,
            side: Side::Buy,
            price: p(99),
            qty: 1,
            tif: Tif::Day,
        })
        .unwrap();
    e.cancel(id).unwrap();
    // The feed has stopped: no market event will move time. Without the clock moving the
    // cancel would stay in flight forever.
    assert_eq!(e.advance_clock(S + 5 * MS), (S + 5 * MS, false));
    assert_eq!(e.venue().working_count(), 1);
    let (now, news) = e.advance_clock(S + 40 * MS);
    assert!(news && now == S + 40 * MS);
    let ev = drain(&mut e);
    assert!(
        ev.iter()
            .any(|v| matches!(v, VenueEvent::Cancelled { id: c, .. } if *c == id)),
        "{ev:?}"
    );
    assert_eq!(e.venue().working_count(), 0);
    // Never backwards.
    assert_eq!(e.advance_clock(S).0, S + 40 * MS);
}

#[test]
fn a_standby_answers_due_events_until_time_band_or_news_end_it() {
    let mut e = engine(DecisionPolicy::EveryEvent, LatencyModel::Zero);
    let q = [5; 5];
    assert!(e.on_message(&book("TXFL4", S, 100, 101, q, q)).is_some());
    // Stand by until 2 s of exchange time while the bid stays above 99.
    const INF: f64 = f64::INFINITY;
    let s = Standby::new_checked(2 * S, [(99.0, INF), (-INF, INF), (-INF, INF)]).unwrap();
    assert!(e.stand_by(0, s));
    assert!(!e.stand_by(9, s), "unknown code");
    let mut q2 = q;
    q2[0] = 7;
    assert_eq!(e.on_message(&book("TXFL4", S + MS, 100, 101, q2, q)), None);
    assert_eq!(
        e.on_message(&trade("TXFL4", S + 2 * MS, 101, 1, TickType::Buy)),
        None
    );
    assert_eq!(
        e.counters().standby,
        2,
        "each answered event is a decision taken"
    );
    // Another code is not affected.
    assert!(e
        .on_message(&book("MXFL4", S + 3 * MS, 100, 101, q, q))
        .is_some());
    // The bid leaves the band: due again, and the standby is over.
    let d = e
        .on_message(&book("TXFL4", S + 4 * MS, 99, 101, q, q))
        .unwrap();
    assert_eq!((d.kind, d.code), (DueKind::Book, Some(0)));
    assert!(e.standby(0).is_none());
    assert!(e
        .on_message(&book("TXFL4", S + 5 * MS, 100, 101, q, q))
        .is_some());
    // Time: an event at or after until_exch_ts decides (exch_ts = local_ts - 100 here).
    assert!(e.stand_by(0, Standby::until(S + 10 * MS)));
    assert_eq!(
        e.on_message(&book("TXFL4", S + 10 * MS, 100, 101, q2, q)),
        None
    );
    assert!(e
        .on_message(&book("TXFL4", S + 10 * MS + 100, 100, 101, q, q))
        .is_some());
    // The microprice band: a quantity change that moves the microprice out of it wakes.
    let micro = Standby::new_checked(10 * S, [(-INF, INF), (-INF, INF), (100.4, 100.6)]).unwrap();
    assert!(e.stand_by(0, micro));
    assert_eq!(
        e.on_message(&book("TXFL4", S + 11 * MS, 100, 101, q, q)),
        None
    ); // 100.5
    let heavy_bid = [9, 5, 5, 5, 5]; // microprice (100 * 5 + 101 * 9) / 14 = 100.64
    assert!(e
        .on_message(&book("TXFL4", S + 12 * MS, 100, 101, heavy_bid, q))
        .is_some());
    // A venue event wakes every code, and no standby is taken while news waits unseen.
    assert!(e.stand_by(0, Standby::until(10 * S)));
    assert!(e.stand_by(1, Standby::until(10 * S)));
    e.submit(OrderRequest {
        code: 1,
        side: Side::Buy,
        price: p(99),
        qty: 1,
        tif: Tif::Day,
    })
    .unwrap();
    assert!(e.standby(0).is_none() && e.standby(1).is_none());
    assert!(!e.stand_by(0, Standby::until(10 * S)), "news pending");
    drain(&mut e);
    assert!(e.stand_by(0, Standby::until(10 * S)));
    // A system event wakes every code too.
    assert!(e
        .on_message(&event(
            "",
            S + 20 * MS,
            EventKind::FeedGap,
            SessionState::None
        ))
        .is_some());
    assert!(e.standby(0).is_none());
}

/// SBE frames of `msgs`, numbered in order.
fn frames_of(msgs: &[Message]) -> Vec<u8> {
    let mut data = Vec::new();
    for (seq, m) in msgs.iter().enumerate() {
        let mut m = *m;
        m.set_seq(seq as u64);
        let mut buf = [0u8; 300];
        let n = encode_frame(&m, &mut buf).unwrap();
        data.extend_from_slice(&buf[..n]);
    }
    data
}

/// A marketable one-lot buy at 101: it arrives at submit + 10 ms, fills there, and the fill
/// reaches the strategy 5 ms later (LATENCY_10MS).
fn lift_the_ask(e: &mut Engine) -> OrderId {
    e.submit(OrderRequest {
        code: 0,
        side: Side::Buy,
        price: p(101),
        qty: 1,
        tif: Tif::Day,
    })
    .unwrap()
}

/// Every due (kind, seq, engine time) and the fills taken at each, reading the frames two at a
/// time; `release` between reads stands for a live loop's quiet turns (None: never).
fn run_with_news(data: &[u8], release: Option<Nanos>) -> Vec<(DueKind, u64, Nanos, usize)> {
    let mut e = engine(DecisionPolicy::EveryEvent, LATENCY_10MS);
    let mut src = FrameSource::new(data.to_vec());
    let mut out = Vec::new();
    let mut sent = false;
    loop {
        if let Some(step) = release {
            while e.release_venue_events(e.now() + step) {
                let fills = fills_taken(&mut e);
                out.push((DueKind::Execution, u64::MAX, e.now(), fills));
            }
        }
        let r = e.next_due_from_frames(&mut src, 2);
        let Some(d) = r.due else {
            if r.idle {
                break;
            }
            continue;
        };
        let fills = fills_taken(&mut e);
        out.push((d.kind, d.seq, e.now(), fills));
        if d.kind == DueKind::Book && !sent {
            sent = true;
            lift_the_ask(&mut e);
        }
    }
    out
}

/// The book the order is sent on (S), then books at S + 20 ms and S + 30 ms.
fn books_after_the_fill() -> Vec<u8> {
    let q = [5; 5];
    frames_of(&[
        book("TXFL4", S, 100, 101, q, q),
        book("TXFL4", S + 20 * MS, 100, 101, [6; 5], q),
        book("TXFL4", S + 30 * MS, 100, 101, [7; 5], q),
    ])
}

/// The venue events pending now, of which how many fills (taking them).
fn fills_taken(e: &mut Engine) -> usize {
    drain(e)
        .iter()
        .filter(|v| matches!(v, VenueEvent::Filled { .. }))
        .count()
}

#[test]
fn venue_news_comes_out_before_a_later_market_event_at_its_own_time() {
    let q = [5; 5];
    // The fill happens at S + 10 ms and reaches the strategy at S + 15 ms; the next book is
    // stamped S + 20 ms, the one after S + 15 ms exactly in the tie case.
    let data = books_after_the_fill();
    let dues = run_with_news(&data, None);
    assert_eq!(
        dues,
        vec![
            (DueKind::Book, 0, S, 0),
            // Before the book of S + 20 ms: the news, at its own time, the book held back.
            (DueKind::Execution, 1, S + 15 * MS, 1),
            (DueKind::Book, 1, S + 20 * MS, 0),
            (DueKind::Book, 2, S + 30 * MS, 0),
        ]
    );
    // A market event at the very nanosecond of the news comes after it.
    let tie = frames_of(&[
        book("TXFL4", S, 100, 101, q, q),
        book("TXFL4", S + 15 * MS, 100, 101, [6; 5], q),
    ]);
    let dues = run_with_news(&tie, None);
    assert_eq!(dues[1], (DueKind::Execution, 1, S + 15 * MS, 1));
    assert_eq!(dues[2], (DueKind::Book, 1, S + 15 * MS, 0));
}

#[test]
fn news_released_between_events_is_the_same_news_at_the_same_time() {
    let q = [5; 5];
    let data = books_after_the_fill();
    // Released by a quiet turn (the loop vouches for 25 ms past the last event) instead of
    // before the next market event: the same news, at the same engine time, in the same place
    // among the market events; only who asked differs.
    let quiet = run_with_news(&data, Some(25 * MS));
    let strip = |v: &[(DueKind, u64, Nanos, usize)]| -> Vec<(DueKind, Nanos, usize)> {
        v.iter().map(|&(k, _, t, f)| (k, t, f)).collect()
    };
    assert_eq!(strip(&quiet), strip(&run_with_news(&data, None)));
    // Nothing due by `until`: no news, and the clock only steps to the venue's activity (the
    // order's arrival at S + 10 ms), never to `until` itself.
    let mut e = engine(DecisionPolicy::EveryEvent, LATENCY_10MS);
    e.on_message(&book("TXFL4", S, 100, 101, q, q)).unwrap();
    lift_the_ask(&mut e);
    assert!(!e.release_venue_events(S + 12 * MS));
    assert_eq!(e.now(), S + 10 * MS);
    assert_eq!(e.pending_events(), 0);
    assert!(e.release_venue_events(S + 40 * MS));
    assert_eq!(e.now(), S + 15 * MS);
    assert!(
        !e.release_venue_events(S + 40 * MS),
        "nothing more in flight"
    );
    assert_eq!(e.counters().clock_backwards, 0);
}
