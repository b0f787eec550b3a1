//! Round trips of every message with edge values, and every kind of bad input.

use super::*;

fn code(s: &str) -> Code {
    Code::new(s).expect("test code")
}

fn tick() -> Tick {
    Tick {
        seq: 7,
        exch_ts: 1_732_000_000_123_456_789,
        local_ts: 1_732_000_000_123_999_000,
        code: code("TXFL4"),
        price: Price::parse_decimal("22013.5").expect("price"),
        volume: 3,
        total_volume: 120_345,
        tick_type: TickType::Buy,
        simtrade: false,
    }
}

fn bidask() -> BidAsk {
    BidAsk {
        seq: u64::MAX,
        exch_ts: i64::MIN,
        local_ts: i64::MAX,
        code: code("TXO17500L4"),
        bid_price: [Price(i64::MAX), Price(1), Price(0), Price(0), Price(0)],
        bid_volume: [i64::MAX, 1, 0, 0, 0],
        ask_price: [Price(i64::MIN), Price(-1), Price(0), Price(0), Price(0)],
        ask_volume: [0, 0, 0, 0, i64::MIN],
        simtrade: true,
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        seq: 0,
        exch_ts: 0,
        local_ts: 0,
        code: code("0123456789ABCDEF"),
        open: Price(1),
        high: Price(2),
        low: Price(-3),
        close: Price(4),
        volume: 5,
        total_volume: 6,
        bid_price: Price(7),
        bid_volume: 8,
        ask_price: Price(9),
        ask_volume: 10,
    }
}

fn event() -> SystemEvent {
    SystemEvent {
        seq: 99,
        exch_ts: 1,
        local_ts: 2,
        code: Code::default(),
        count: 17,
        kind: EventKind::TradingState,
        session_state: SessionState::None,
        trading_state: TradingState::Halted,
        reason: Reason::new("kill switch: dashboard key K").expect("reason"),
    }
}

fn all_messages() -> Vec<Message> {
    let mut zero_tick = tick();
    zero_tick.volume = 0;
    zero_tick.total_volume = 0;
    zero_tick.price = Price::ZERO;
    zero_tick.tick_type = TickType::Unknown;
    zero_tick.code = Code::default();
    let mut sell_tick = tick();
    sell_tick.tick_type = TickType::Sell;
    sell_tick.simtrade = true;
    let mut gap = event();
    gap.kind = EventKind::FeedGap;
    gap.trading_state = TradingState::None;
    gap.code = code("2330");
    let mut session = event();
    session.kind = EventKind::SessionState;
    session.session_state = SessionState::PreOpen;
    session.trading_state = TradingState::None;
    session.reason = Reason::new(&"x".repeat(REASON_LEN)).expect("reason");
    let mut reconnect = event();
    reconnect.kind = EventKind::Reconnect;
    reconnect.count = i64::MIN;
    reconnect.reason = Reason::default();
    vec![
        Message::Tick(tick()),
        Message::Tick(zero_tick),
        Message::Tick(sell_tick),
        Message::BidAsk(bidask()),
        Message::BidAsk(BidAsk::default()),
        Message::Snapshot(snapshot()),
        Message::SystemEvent(event()),
        Message::SystemEvent(gap),
        Message::SystemEvent(session),
        Message::SystemEvent(reconnect),
    ]
}

#[test]
fn every_message_round_trips() {
    for msg in all_messages() {
        let mut buf = [0xAAu8; 256];
        let n = encode(&msg, &mut buf).expect("encode");
        assert_eq!(n, msg.encoded_len());
        assert!(n <= MAX_MESSAGE_LEN);
        let (back, used) = decode(&buf[..n]).expect("decode");
        assert_eq!(back, msg);
        assert_eq!(used, n);
        // Trailing bytes (the rest of a ring slot) are not part of the message.
        assert_eq!(decode(&buf).expect("decode with slack").1, n);
    }
}

#[test]
fn header_and_layout_match_the_schema() {
    let mut buf = [0u8; 256];
    let n = encode(&Message::Tick(tick()), &mut buf).expect("encode");
    assert_eq!(n, 8 + 66);
    assert_eq!(&buf[0..8], &[66, 0, 1, 0, 0x4A, 0x53, 1, 0]);
    assert_eq!(u64::from_le_bytes(buf[8..16].try_into().expect("8")), 7);
    assert_eq!(&buf[32..37], b"TXFL4");
    assert_eq!(&buf[37..48], &[0u8; 11]);
    assert_eq!(
        i64::from_le_bytes(buf[48..56].try_into().expect("8")),
        22_013_500_000
    );
    assert_eq!(buf[72], 1);
    assert_eq!(buf[73], 0);
    assert_eq!(Message::BidAsk(bidask()).encoded_len(), 209);
    assert_eq!(Message::Snapshot(snapshot()).encoded_len(), 128);
    assert_eq!(Message::SystemEvent(event()).encoded_len(), 91);
    assert_eq!(MAX_MESSAGE_LEN, 209);
}

#[test]
fn encode_refuses_small_buffers_without_writing() {
    let msg = Message::BidAsk(bidask());
    let mut buf = [0u8; 208];
    let e = encode(&msg, &mut buf).expect_err("too small");
    assert_eq!(
        e.kind,
        SbeErrorKind::BufferTooSmall {
            needed: 209,
            available: 208
        }
    );
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn encode_refuses_inconsistent_events() {
    let mut ev = event();
    ev.trading_state = TradingState::None;
    let e = encode(&Message::SystemEvent(ev), &mut [0u8; 256]).expect_err("no state");
    assert!(e.to_string().contains("tradingState"), "{e}");
    let mut ev = event();
    ev.kind = EventKind::SessionState;
    let e = encode(&Message::SystemEvent(ev), &mut [0u8; 256]).expect_err("no state");
    assert!(e.to_string().contains("sessionState"), "{e}");
}

fn encoded(msg: Message) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let n = encode(&msg, &mut buf).expect("encode");
    buf.truncate(n);
    buf
}

#[test]
fn truncated_input_is_refused_at_every_length() {
    for msg in all_messages() {
        let bytes = encoded(msg);
        for cut in 0..bytes.len() {
            let e = decode(&bytes[..cut]).expect_err("truncated");
            assert!(
                matches!(e.kind, SbeErrorKind::Truncated { .. }),
                "cut {cut}: {e}"
            );
            assert_eq!(e.offset, cut);
        }
    }
}

#[test]
fn bad_headers_are_refused_with_offsets() {
    let good = encoded(Message::Tick(tick()));
    let mut b = good.clone();
    b[2] = 9;
    let e = decode(&b).expect_err("template");
    assert_eq!(
        (e.offset, e.kind.clone()),
        (2, SbeErrorKind::UnknownTemplate { template_id: 9 })
    );
    assert_eq!(e.to_string(), "SBE error at offset 2: unknown templateId 9");
    let mut b = good.clone();
    b[4] = 0;
    let e = decode(&b).expect_err("schema");
    assert_eq!(
        (e.offset, e.kind.clone()),
        (4, SbeErrorKind::WrongSchemaId { found: 0x5300 })
    );
    let mut b = good.clone();
    b[6] = 2;
    let e = decode(&b).expect_err("version");
    assert_eq!(
        (e.offset, e.kind.clone()),
        (6, SbeErrorKind::WrongVersion { found: 2 })
    );
    let mut b = good.clone();
    b[0] = 67;
    let e = decode(&b).expect_err("block length");
    assert_eq!(
        (e.offset, e.kind.clone()),
        (
            0,
            SbeErrorKind::BlockLengthMismatch {
                template_id: 1,
                found: 67,
                expected: 66
            }
        )
    );
    // A BidAsk header in front of a Tick-sized body: block length says 66, BidAsk needs 201.
    let mut b = good;
    b[2] = 2;
    assert!(matches!(
        decode(&b).expect_err("mix").kind,
        SbeErrorKind::BlockLengthMismatch { .. }
    ));
}

#[test]
fn bad_field_values_are_refused_not_passed_on() {
    let good = encoded(Message::Tick(tick()));
    let cases: [(usize, u8, &str); 5] = [
        (72, 3, "tickType"),
        (73, 2, "simtrade"),
        (32, 0x07, "code"),
        (32 + 15, b'Z', "code"), // text after the NUL padding
        (32, 0xC3, "code"),
    ];
    for (at, value, field) in cases {
        let mut b = good.clone();
        b[at] = value;
        let e = decode(&b).expect_err(field);
        assert!(
            matches!(&e.kind, SbeErrorKind::InvalidField { field: f, .. } if *f == field),
            "{e}"
        );
        assert!(e.offset >= 32 && e.offset <= at, "{e}");
    }
    let ev = encoded(Message::SystemEvent(event()));
    for (at, value, field) in [
        (56usize, 0u8, "kind"),
        (56, 5, "kind"),
        (57, 4, "sessionState"),
        (58, 4, "tradingState"),
        (58, 0, "tradingState"),
        (59, 0xFF, "reason"),
    ] {
        let mut b = ev.clone();
        b[at] = value;
        let e = decode(&b).expect_err(field);
        assert!(
            matches!(&e.kind, SbeErrorKind::InvalidField { field: f, .. } if *f == field),
            "{e}"
        );
        assert_eq!(e.offset, at, "{e}");
    }
    let ba = encoded(Message::BidAsk(bidask()));
    let mut b = ba.clone();
    b[208] = 7;
    assert_eq!(decode(&b).expect_err("simtrade").offset, 208);
}

#[test]
fn frames_round_trip_and_bad_frames_are_refused() {
    let mut stream = Vec::new();
    let msgs = all_messages();
    for msg in &msgs {
        let mut buf = [0u8; 256];
        let n = encode_frame(msg, &mut buf).expect("frame");
        assert_eq!(
            &buf[..4],
            &((msg.encoded_len() + SOFH_LEN) as u32).to_be_bytes()
        );
        assert_eq!(&buf[4..6], &[0x5B, 0xE0]);
        stream.extend_from_slice(&buf[..n]);
    }
    let back: Vec<Message> = FrameIter::new(&stream)
        .map(|(_, r)| r.expect("frame"))
        .collect();
    assert_eq!(back, msgs);

    // Truncated stream: the last frame is reported, with its offset in the stream.
    let cut = &stream[..stream.len() - 3];
    let last = FrameIter::new(cut).last().expect("items");
    let e = last.1.expect_err("truncated");
    assert!(matches!(e.kind, SbeErrorKind::Truncated { .. }), "{e}");
    assert_eq!(e.offset, cut.len());

    // A bad message inside a good frame is skipped; the next frames still decode.
    let mut bad = stream.clone();
    bad[SOFH_LEN + 2] = 77; // templateId of the first message
    let items: Vec<_> = FrameIter::new(&bad).collect();
    assert_eq!(items.len(), msgs.len());
    let e = items[0].1.clone().expect_err("template");
    assert_eq!(e.offset, SOFH_LEN + 2);
    assert!(items[1..].iter().all(|(_, r)| r.is_ok()));

    // Wrong encoding type: the stream cannot be resynchronised, iteration stops.
    let mut bad = stream.clone();
    bad[4] = 0x12;
    let items: Vec<_> = FrameIter::new(&bad).collect();
    assert_eq!(items.len(), 1);
    assert!(items[0]
        .1
        .clone()
        .expect_err("encoding")
        .to_string()
        .contains("0x12E0"));

    // A frame length that does not match the message.
    let mut buf = [0u8; 256];
    let n = encode_frame(&Message::Tick(tick()), &mut buf).expect("frame");
    let mut longer = buf[..n + 1].to_vec();
    longer[..4].copy_from_slice(&((n + 1) as u32).to_be_bytes());
    assert!(matches!(
        decode_frame(&longer).expect_err("len").kind,
        SbeErrorKind::BadFrame { .. }
    ));
    let mut short = buf[..n].to_vec();
    short[..4].copy_from_slice(&3u32.to_be_bytes());
    assert!(matches!(
        decode_frame(&short).expect_err("len").kind,
        SbeErrorKind::BadFrame { .. }
    ));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: random mutations of valid messages must give Ok or Err.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for msg in all_messages() {
        let good = encoded(msg);
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            let len = (next() as usize) % (b.len() + 1);
            let _ = decode(&b[..len]);
            let _ = decode_frame(&b[..len]);
        }
    }
}
