//! Hand-built scenarios for the paper venue's rules (module docs of `venue.rs`).

use super::*;
use crate::engine::fees::{FeeSchedule, InstrumentSpec};
use crate::engine::latency::{LatencyModel, MS};
use crate::engine::test_books::{book, px};
use crate::engine::types::PRICE_SCALE;

const C: CodeId = 0;

fn free_spec() -> InstrumentSpec {
    InstrumentSpec {
        multiplier: 1.0,
        fees: FeeSchedule::none(),
    }
}

/// Zero latency, no fees: the matching rules alone.
fn venue() -> Venue {
    venue_with(LatencyModel::Zero)
}

fn venue_with(latency: LatencyModel) -> Venue {
    let mut v = Venue::new(VenueConfig { latency, seed: 1 });
    v.add_instrument(C, free_spec()).unwrap();
    v
}

fn req(side: Side, price: i64, qty: i64, tif: Tif) -> OrderRequest {
    OrderRequest {
        code: C,
        side,
        price: px(price),
        qty,
        tif,
    }
}

fn drain(v: &mut Venue) -> Vec<VenueEvent> {
    let mut out = Vec::new();
    v.drain_events(&mut out);
    out
}

/// (price, qty, maker) of every fill, in order.
fn fills(events: &[VenueEvent]) -> Vec<(i64, i64, bool)> {
    events
        .iter()
        .filter_map(|e| match *e {
            VenueEvent::Filled {
                price, qty, maker, ..
            } => Some((price.0 / PRICE_SCALE, qty, maker)),
            _ => None,
        })
        .collect()
}

fn cancelled(events: &[VenueEvent]) -> Vec<(OrderId, i64)> {
    events
        .iter()
        .filter_map(|e| match *e {
            VenueEvent::Cancelled { id, qty, .. } => Some((id, qty)),
            _ => None,
        })
        .collect()
}

fn standard_book() -> L5 {
    book(
        &[(100, 10), (99, 20), (98, 30)],
        &[(101, 5), (102, 7), (103, 9)],
    )
}

// -- latency ------------------------------------------------------------------------------

#[test]
fn an_order_sees_the_book_as_of_its_arrival_and_is_acked_after_the_ack_leg() {
    let mut v = venue_with(LatencyModel::Constant {
        entry: 10 * MS,
        ack: 5 * MS,
        cancel: 10 * MS,
    });
    v.on_book(0, C, &standard_book());
    // Marketable at submit (ask 101), but the ask moves to 102 before the order arrives.
    let id = v.submit(0, req(Side::Buy, 101, 1, Tif::Ioc)).unwrap();
    v.on_book(5 * MS, C, &book(&[(100, 10)], &[(102, 5), (103, 9)]));
    v.advance_to(10 * MS);
    assert!(
        drain(&mut v).is_empty(),
        "nothing reaches the strategy before the ack leg"
    );
    v.advance_to(15 * MS);
    let ev = drain(&mut v);
    assert_eq!(ev[0], VenueEvent::Accepted { id, at: 15 * MS });
    assert!(fills(&ev).is_empty(), "the ask had moved away: no fill");
    assert_eq!(cancelled(&ev), vec![(id, 1)]);
}

#[test]
fn a_cancel_in_flight_can_still_be_filled() {
    let mut v = venue_with(LatencyModel::Constant {
        entry: MS,
        ack: MS,
        cancel: 10 * MS,
    });
    v.on_book(0, C, &standard_book());
    let id = v.submit(0, req(Side::Buy, 100, 2, Tif::Day)).unwrap();
    v.advance_to(2 * MS);
    v.cancel(2 * MS, id).unwrap(); // arrives at 12 ms
    v.on_trade(5 * MS, C, px(99), 3, Some(Side::Sell)); // through our bid
    v.advance_to(20 * MS);
    let ev = drain(&mut v);
    assert_eq!(fills(&ev), vec![(100, 2, true)]);
    assert!(ev.contains(&VenueEvent::CancelRejected { id, at: 13 * MS }));
    assert!(cancelled(&ev).is_empty());
    assert_eq!(v.working_count(), 0);
}

#[test]
fn a_cancel_that_arrives_first_wins() {
    let mut v = venue_with(LatencyModel::Constant {
        entry: MS,
        ack: MS,
        cancel: MS,
    });
    v.on_book(0, C, &standard_book());
    let id = v.submit(0, req(Side::Buy, 100, 2, Tif::Day)).unwrap();
    v.cancel(0, id).unwrap();
    assert_eq!(v.working_count(), 1, "in flight");
    v.on_trade(5 * MS, C, px(99), 3, None);
    let ev = drain(&mut v);
    assert!(fills(&ev).is_empty());
    assert_eq!(cancelled(&ev), vec![(id, 2)]);
    assert_eq!(v.working_count(), 0);
}

#[test]
fn requests_keep_their_order_on_the_wire() {
    // Random latencies, but a cancel never overtakes its order, nor an event an earlier one.
    let mut v = venue_with(LatencyModel::LogNormal {
        median_entry: 10 * MS,
        median_ack: 10 * MS,
        median_cancel: MS,
        sigma: 1.5,
        floor: 0,
    });
    v.on_book(0, C, &standard_book());
    for i in 0..200 {
        let id = v.submit(i * MS, req(Side::Buy, 90, 1, Tif::Day)).unwrap();
        v.cancel(i * MS, id).unwrap();
    }
    v.advance_to(Nanos::MAX);
    let ev = drain(&mut v);
    assert_eq!(ev.len(), 400);
    assert!(ev.windows(2).all(|w| w[0].at() <= w[1].at()));
    assert_eq!(cancelled(&ev).len(), 200, "every cancel found its order");
}

#[test]
fn same_seed_same_events() {
    let run = |seed| {
        let mut v = Venue::new(VenueConfig {
            latency: LatencyModel::shioaji_default(),
            seed,
        });
        v.add_instrument(C, InstrumentSpec::txf()).unwrap();
        v.on_book(0, C, &standard_book());
        for i in 0..20 {
            let _ = v.submit(i * MS, req(Side::Buy, 101, 1, Tif::Ioc));
        }
        v.advance_to(1_000 * MS);
        drain(&mut v)
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

// -- taker --------------------------------------------------------------------------------

#[test]
fn a_marketable_order_walks_the_levels_up_to_its_limit() {
    let mut v = venue();
    v.on_book(0, C, &standard_book());
    let id = v.submit(0, req(Side::Buy, 102, 20, Tif::Day)).unwrap();
    let ev = drain(&mut v);
    assert_eq!(fills(&ev), vec![(101, 5, false), (102, 7, false)]);
    // The remaining 8 rest at 102, better than the best bid: nobody ahead.
    assert_eq!(v.queue_ahead(id), Some(0));
    assert_eq!(v.working_count(), 1);
}

#[test]
fn two_orders_never_take_the_same_displayed_lots() {
    let mut v = venue();
    v.on_book(0, C, &standard_book());
    v.submit(0, req(Side::Buy, 101, 4, Tif::Ioc)).unwrap();
    v.submit(0, req(Side::Buy, 101, 4, Tif::Ioc)).unwrap();
    let ev = drain(&mut v);
    assert_eq!(fills(&ev), vec![(101, 4, false), (101, 1, false)]);
    assert_eq!(cancelled(&ev).len(), 1);
    // The lots stay taken while the real level still shows them.
    v.on_book(1, C, &standard_book());
    v.submit(1, req(Side::Buy, 101, 1, Tif::Ioc)).unwrap();
    assert!(fills(&drain(&mut v)).is_empty());
    let b = v.book(C).unwrap();
    assert_eq!((b.ask.qty[0], b.ask.qty[1]), (0, 7));
}

#[test]
fn taken_lots_do_not_come_back_as_a_phantom_trade_through() {
    let mut v = venue();
    v.on_book(0, C, &standard_book());
    // Takes 101x5 and 102x7, rests 3 at 102.
    let id = v.submit(0, req(Side::Buy, 102, 15, Tif::Day)).unwrap();
    assert_eq!(
        fills(&drain(&mut v)),
        vec![(101, 5, false), (102, 7, false)]
    );
    // The market data never saw us: the same snapshot again shows an ask of 101 under our
    // bid of 102, which must not count as a quote through our price.
    v.on_book(1, C, &standard_book());
    assert!(fills(&drain(&mut v)).is_empty());
    // The levels shrink: still no phantom ask under our bid.
    v.on_book(2, C, &book(&[(100, 10)], &[(101, 2), (102, 7), (103, 9)]));
    assert!(fills(&drain(&mut v)).is_empty());
    let b = v.book(C).unwrap();
    assert_eq!((b.ask.qty[0], b.ask.qty[1], b.ask.qty[2]), (0, 0, 9));
    // The levels go away: what we took is forgotten.
    v.on_book(3, C, &book(&[(100, 10)], &[(103, 9)]));
    assert!(fills(&drain(&mut v)).is_empty());
    assert_eq!(v.book(C).unwrap().ask.qty[0], 9);
    assert_eq!(v.queue_ahead(id), Some(0));
    assert_eq!(v.working_count(), 1);
}

#[test]
fn ioc_cancels_the_rest_and_fok_is_all_or_nothing() {
    let mut v = venue();
    v.on_book(0, C, &standard_book());
    let ioc = v.submit(0, req(Side::Sell, 99, 40, Tif::Ioc)).unwrap();
    let ev = drain(&mut v);
    assert_eq!(fills(&ev), vec![(100, 10, false), (99, 20, false)]);
    assert_eq!(cancelled(&ev), vec![(ioc, 10)]);

    let mut v = venue();
    v.on_book(0, C, &standard_book());
    let fok = v.submit(0, req(Side::Buy, 102, 13, Tif::Fok)).unwrap();
    let ev = drain(&mut v);
    assert!(
        fills(&ev).is_empty(),
        "12 visible up to 102: no fill at all"
    );
    assert_eq!(cancelled(&ev), vec![(fok, 13)]);
    v.submit(0, req(Side::Buy, 102, 12, Tif::Fok)).unwrap();
    assert_eq!(
        fills(&drain(&mut v)),
        vec![(101, 5, false), (102, 7, false)]
    );
    assert_eq!(v.working_count(), 0);
}

#[test]
fn without_a_book_ioc_and_fok_cancel_and_day_rests_with_an_unknown_queue() {
    let mut v = venue();
    let a = v.submit(0, req(Side::Buy, 100, 1, Tif::Ioc)).unwrap();
    let b = v.submit(0, req(Side::Buy, 100, 1, Tif::Fok)).unwrap();
    let c = v.submit(0, req(Side::Buy, 100, 1, Tif::Day)).unwrap();
    assert_eq!(cancelled(&drain(&mut v)), vec![(a, 1), (b, 1)]);
    assert_eq!(v.queue_ahead(c), None);
    // First sight of the price: the back of the level.
    v.on_book(1, C, &standard_book());
    assert_eq!(v.queue_ahead(c), Some(10));
}

// -- queue position -----------------------------------------------------------------------

#[test]
fn queue_worked_example_trades_first_cancels_pro_rata() {
    // docs/execution.md: bids 100x10, we join at 100 (ahead 10); the level grows to 20 then
    // drops to 10 with no trades: 10 cancelled, 10/20 of them ahead of us, so 5 ahead remain;
    // a trade of 5 at 100 empties the queue and the next trade of 1 fills us.
    let mut v = venue();
    v.on_book(0, C, &book(&[(100, 10)], &[(101, 5)]));
    let id = v.submit(0, req(Side::Buy, 100, 2, Tif::Day)).unwrap();
    assert_eq!(v.queue_ahead(id), Some(10));
    v.on_book(1, C, &book(&[(100, 20)], &[(101, 5)]));
    assert_eq!(v.queue_ahead(id), Some(10));
    v.on_book(2, C, &book(&[(100, 10)], &[(101, 5)]));
    assert_eq!(v.queue_ahead(id), Some(5));
    v.on_trade(3, C, px(100), 5, Some(Side::Sell));
    assert_eq!(v.queue_ahead(id), Some(0));
    assert!(fills(&drain(&mut v)).is_empty());
    v.on_trade(4, C, px(100), 1, Some(Side::Sell));
    let ev = drain(&mut v);
    assert_eq!(fills(&ev), vec![(100, 1, true)]);
    assert!(matches!(
        ev.last(),
        Some(VenueEvent::Filled { remaining: 1, .. })
    ));
}

#[test]
fn a_partial_fill_is_capped_by_the_trade_volume_after_the_queue() {
    let mut v = venue();
    v.on_book(0, C, &book(&[(100, 3)], &[(101, 5)]));
    v.submit(0, req(Side::Buy, 100, 10, Tif::Day)).unwrap();
    v.on_trade(1, C, px(100), 7, None); // 3 to the queue, 4 to us
    assert_eq!(fills(&drain(&mut v)), vec![(100, 4, true)]);
}

#[test]
fn trades_explain_a_drop_so_it_is_not_counted_as_cancels_again() {
    let mut v = venue();
    v.on_book(0, C, &book(&[(100, 10)], &[(101, 5)]));
    let id = v.submit(0, req(Side::Buy, 100, 1, Tif::Day)).unwrap();
    v.on_trade(1, C, px(100), 4, Some(Side::Sell));
    assert_eq!(v.queue_ahead(id), Some(6));
    // The level shows 6: fully explained by the trade.
    v.on_book(2, C, &book(&[(100, 6)], &[(101, 5)]));
    assert_eq!(v.queue_ahead(id), Some(6));
}

#[test]
fn a_trade_initiated_on_our_side_does_not_advance_our_queue() {
    let mut v = venue();
    v.on_book(0, C, &book(&[(100, 10)], &[(101, 5)]));
    let id = v.submit(0, req(Side::Sell, 101, 1, Tif::Day)).unwrap();
    assert_eq!(v.queue_ahead(id), Some(5));
    // A seller hit the bids at 101?? (cannot be the asks): our ask queue is untouched.
    v.on_trade(1, C, px(101), 3, Some(Side::Sell));
    assert_eq!(v.queue_ahead(id), Some(5));
    v.on_trade(2, C, px(101), 3, Some(Side::Buy));
    assert_eq!(v.queue_ahead(id), Some(2));
}

#[test]
fn our_own_orders_share_the_trade_volume_in_time_priority() {
    let mut v = venue();
    v.on_book(0, C, &book(&[(100, 2)], &[(101, 5)]));
    let a = v.submit(0, req(Side::Buy, 100, 3, Tif::Day)).unwrap();
    let b = v.submit(0, req(Side::Buy, 100, 3, Tif::Day)).unwrap();
    assert_eq!((v.queue_ahead(a), v.queue_ahead(b)), (Some(2), Some(2)));
    // 6 lots: 2 to the others ahead, 3 to A, 1 to B. Never 8 (no double counting).
    v.on_trade(1, C, px(100), 6, Some(Side::Sell));
    let ev = drain(&mut v);
    let by_order: Vec<(OrderId, i64)> = ev
        .iter()
        .filter_map(|e| match *e {
            VenueEvent::Filled { id, qty, .. } => Some((id, qty)),
            _ => None,
        })
        .collect();
    assert_eq!(by_order, vec![(a, 3), (b, 1)]);
}

#[test]
fn a_trade_through_fills_everything_at_our_price() {
    let mut v = venue();
    v.on_book(0, C, &standard_book());
    v.submit(0, req(Side::Buy, 99, 5, Tif::Day)).unwrap(); // 20 ahead
    v.on_trade(1, C, px(98), 1, Some(Side::Sell));
    assert_eq!(fills(&drain(&mut v)), vec![(99, 5, true)]);
}

#[test]
fn a_touch_is_not_a_fill_but_a_quote_through_is() {
    let mut v = venue();
    v.on_book(0, C, &standard_book());
    let id = v.submit(0, req(Side::Buy, 100, 5, Tif::Day)).unwrap(); // 10 ahead
                                                                     // The ask comes down to our price: a touch.
    v.on_book(1, C, &book(&[(99, 20)], &[(100, 4), (101, 5)]));
    assert!(fills(&drain(&mut v)).is_empty());
    // Our price is no longer quoted on the bid, inside the range: nobody ahead now.
    assert_eq!(v.queue_ahead(id), Some(0));
    // The ask goes through our price.
    v.on_book(2, C, &book(&[(98, 20)], &[(99, 4), (101, 5)]));
    let ev = drain(&mut v);
    assert_eq!(fills(&ev), vec![(100, 5, true)]);
    assert_eq!(v.working_count(), 0);
}

#[test]
fn beyond_the_displayed_levels_nothing_is_learnt() {
    let mut v = venue();
    v.on_book(0, C, &standard_book());
    let id = v.submit(0, req(Side::Buy, 90, 1, Tif::Day)).unwrap();
    assert_eq!(v.queue_ahead(id), None);
    v.on_trade(1, C, px(90), 100, None); // at our (unknown-queue) price: no fill
    assert!(fills(&drain(&mut v)).is_empty());
    v.on_book(2, C, &book(&[(92, 1), (91, 1), (90, 7)], &[(93, 5)]));
    assert_eq!(v.queue_ahead(id), Some(7));
}

// -- amend --------------------------------------------------------------------------------

#[test]
fn amend_down_keeps_priority_and_a_new_price_requeues_at_the_back() {
    let mut v = venue();
    v.on_book(0, C, &book(&[(100, 10), (99, 4)], &[(101, 5)]));
    let id = v.submit(0, req(Side::Buy, 100, 5, Tif::Day)).unwrap();
    v.on_trade(1, C, px(100), 6, Some(Side::Sell)); // 4 ahead now
    v.amend(2, id, None, Some(2)).unwrap();
    let ev = drain(&mut v);
    assert!(ev.contains(&VenueEvent::Amended {
        id,
        price: px(100),
        remaining: 2,
        at: 2
    }));
    assert_eq!(v.queue_ahead(id), Some(4));
    v.amend(3, id, Some(px(99)), None).unwrap();
    assert_eq!(v.queue_ahead(id), Some(4), "back of the 99 level");
    // A re-price that crosses is matched again.
    v.amend(4, id, Some(px(101)), None).unwrap();
    assert_eq!(fills(&drain(&mut v)), vec![(101, 2, false)]);
    // The order has ended: an amend or a cancel now is rejected by the venue.
    v.amend(5, id, None, Some(1)).unwrap();
    v.cancel(5, id).unwrap();
    let ev = drain(&mut v);
    assert!(ev.contains(&VenueEvent::AmendRejected { id, at: 5 }));
    assert!(ev.contains(&VenueEvent::CancelRejected { id, at: 5 }));
}

// -- fees ---------------------------------------------------------------------------------

#[test]
fn fills_carry_the_instrument_fees() {
    let mut v = Venue::new(VenueConfig {
        latency: LatencyModel::Zero,
        seed: 0,
    });
    v.add_instrument(C, InstrumentSpec::txf()).unwrap();
    v.add_instrument(1, InstrumentSpec::twse_board_lot())
        .unwrap();
    v.on_book(0, C, &book(&[(22_000, 5)], &[(22_001, 5)]));
    v.on_book(0, 1, &book(&[(600, 5)], &[(601, 5)]));
    v.submit(0, req(Side::Buy, 22_001, 1, Tif::Ioc)).unwrap();
    v.submit(
        0,
        OrderRequest {
            code: 1,
            side: Side::Sell,
            price: px(600),
            qty: 1,
            tif: Tif::Ioc,
        },
    )
    .unwrap();
    let fees: Vec<f64> = drain(&mut v)
        .iter()
        .filter_map(|e| match *e {
            VenueEvent::Filled { fee, .. } => Some(fee),
            _ => None,
        })
        .collect();
    // TXF: 60 + 0.00002 * 22001 * 200; TWSE sell: (0.001425 + 0.003) * 600 * 1000.
    assert!((fees[0] - (60.0 + 0.000_02 * 22_001.0 * 200.0)).abs() < 1e-9);
    assert!((fees[1] - 2655.0).abs() < 1e-6);
}

// -- bad input ----------------------------------------------------------------------------

#[test]
fn bad_requests_are_errors_naming_the_field() {
    let mut v = venue();
    assert_eq!(
        v.submit(0, req(Side::Buy, 100, 0, Tif::Day)),
        Err(VenueError::BadQty { qty: 0 })
    );
    assert_eq!(
        v.submit(0, req(Side::Buy, 0, 1, Tif::Day)),
        Err(VenueError::BadPrice { price: px(0) })
    );
    let mut r = req(Side::Buy, 100, 1, Tif::Day);
    r.code = 42;
    let e = v.submit(0, r).unwrap_err();
    assert!(e.to_string().contains("order.code = 42"), "{e}");
    assert!(VenueError::BadQty { qty: -3 }
        .to_string()
        .contains("order.qty = -3"));
    assert_eq!(v.cancel(0, 99), Err(VenueError::UnknownOrder { id: 99 }));
    assert_eq!(v.cancel(0, 0), Err(VenueError::UnknownOrder { id: 0 }));
    let id = v.submit(0, req(Side::Buy, 100, 1, Tif::Day)).unwrap();
    assert_eq!(
        v.amend(0, id, None, None),
        Err(VenueError::EmptyAmend { id })
    );
    assert_eq!(
        v.amend(0, id, None, Some(0)),
        Err(VenueError::BadQty { qty: 0 })
    );
    assert!(v.add_instrument(u32::MAX, free_spec()).is_err());
    assert_eq!(v.stats().rejected_requests, 8);
}

#[test]
fn bad_books_and_trades_are_counted_never_a_panic() {
    let mut v = venue();
    // Negative quantities and a quantity without a price are emptied.
    let mut b = standard_book();
    b.bid.qty[0] = -5;
    b.ask.price[1] = Price(0);
    v.on_book(0, C, &b);
    assert_eq!(v.stats().bad_levels, 2);
    let copy = v.book(C).unwrap();
    assert_eq!((copy.bid.qty[0], copy.ask.qty[1]), (0, 0));
    // A crossed book is ignored: the previous one stays.
    v.on_book(1, C, &book(&[(105, 1)], &[(104, 1)]));
    assert_eq!(v.stats().crossed_books, 1);
    assert_eq!(v.book(C).unwrap().ask.price[0], px(101));
    // Unknown code, bad trades.
    v.on_book(2, 7, &standard_book());
    v.on_trade(2, 7, px(100), 1, None);
    v.on_trade(2, C, px(100), -1, None);
    v.on_trade(2, C, px(-100), 1, None);
    let s = v.stats();
    assert_eq!((s.unknown_code, s.bad_trades), (2, 2));
    // Time going backwards: clamped to the venue's clock and counted.
    v.on_book(1, C, &standard_book());
    let id = v.submit(0, req(Side::Buy, 101, 1, Tif::Ioc)).unwrap();
    assert_eq!(v.stats().stale_time, 2);
    let ev = drain(&mut v);
    assert_eq!(ev[0], VenueEvent::Accepted { id, at: 2 });
}

#[test]
fn working_orders_and_in_flight_requests_are_bounded() {
    let mut v = venue_with(LatencyModel::Constant {
        entry: MS,
        ack: 0,
        cancel: MS,
    });
    for _ in 0..MAX_IN_FLIGHT {
        v.submit(0, req(Side::Buy, 50, 1, Tif::Day)).unwrap();
    }
    assert!(matches!(
        v.submit(0, req(Side::Buy, 50, 1, Tif::Day)),
        Err(VenueError::Backlog { .. })
    ));
    v.advance_to(MS);
    let ev = drain(&mut v);
    let rejected = ev
        .iter()
        .filter(|e| matches!(e, VenueEvent::Rejected { .. }))
        .count();
    assert_eq!(rejected, MAX_IN_FLIGHT - MAX_LIVE);
    assert_eq!(v.working_count(), MAX_LIVE);
    assert_eq!(v.cancel_all(MS), MAX_LIVE);
    v.advance_to(2 * MS);
    assert_eq!(v.working_count(), 0);
}

#[test]
fn next_due_names_the_next_arrival_or_delivery() {
    let mut v = venue_with(LatencyModel::Constant {
        entry: 3,
        ack: 4,
        cancel: 5,
    });
    assert_eq!(v.next_due(), None);
    v.submit(10, req(Side::Buy, 50, 1, Tif::Day)).unwrap();
    assert_eq!(v.next_due(), Some(13));
    v.advance_to(13);
    assert_eq!(v.next_due(), Some(17));
}
