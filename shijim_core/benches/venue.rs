//! Paper venue cost per call (`cargo bench -p shijim_core --bench venue`). One JSON line per
//! figure (docs/benchmarks.md), each beside a baseline measured in the same run.
//!
//! - `venue.on_book.idle`: a TXF book snapshot with no working orders (the common case: the
//!   venue only keeps its copy of the book), baseline: copying the snapshot (`L5`, 160 bytes).
//! - `venue.on_book.working4`: the same with four resting orders on the code (two bids, two
//!   asks inside the displayed levels, queue positions updated, never filled), baseline:
//!   the idle figure.
//! - `venue.submit_cancel`: one non-marketable Day order submitted and cancelled with the
//!   default (log-normal) latency model, both arrivals processed and the three events drained
//!   (Accepted, Cancelled, plus the clock moves), baseline: the idle `on_book` figure.
//!
//! Env: VENUE_BENCH_BATCHES (31), VENUE_BENCH_ITERS (100000).

mod harness;

use std::hint::black_box;

use harness::{env_usize, measure, sample_bidask, Figure};
use shijim_core::engine::fees::InstrumentSpec;
use shijim_core::engine::types::{Levels, Side, L5};
use shijim_core::engine::venue::{OrderRequest, Tif, Venue, VenueConfig, VenueEvent};

/// Two snapshots that differ in the displayed quantities (so queue updates have work to do).
fn books() -> [L5; 2] {
    let m = sample_bidask();
    let a = L5 {
        bid: Levels {
            price: m.bid_price,
            qty: m.bid_volume,
        },
        ask: Levels {
            price: m.ask_price,
            qty: m.ask_volume,
        },
    };
    let mut b = a;
    for i in 0..b.bid.qty.len() {
        b.bid.qty[i] += 3;
        b.ask.qty[i] += 2;
    }
    [a, b]
}

fn venue() -> Venue {
    let mut v = Venue::new(VenueConfig::default());
    if let Err(e) = v.add_instrument(0, InstrumentSpec::txf()) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    v
}

fn main() {
    let batches = env_usize("VENUE_BENCH_BATCHES", 31);
    let iters = env_usize("VENUE_BENCH_ITERS", 100_000);
    let bk = books();
    let t0 = 1_732_000_000_000_000_000i64;

    let copy = measure(batches, iters, |i| {
        black_box(*black_box(&bk[(i & 1) as usize]));
    });

    let mut v = venue();
    let idle = measure(batches, iters, |i| {
        v.on_book(t0 + i as i64 * 1000, 0, black_box(&bk[(i & 1) as usize]));
    });

    // Four resting orders 2 and 3 levels away from the touch: queue updated on every book.
    let mut v = venue();
    let mut now = t0;
    v.on_book(now, 0, &bk[0]);
    for (side, level) in [
        (Side::Buy, 2),
        (Side::Buy, 3),
        (Side::Sell, 2),
        (Side::Sell, 3),
    ] {
        let price = match side {
            Side::Buy => bk[0].bid.price[level],
            Side::Sell => bk[0].ask.price[level],
        };
        let req = OrderRequest {
            code: 0,
            side,
            price,
            qty: 1,
            tif: Tif::Day,
        };
        if let Err(e) = v.submit(now, req) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    now += 1_000_000_000;
    v.advance_to(now);
    let mut events = Vec::with_capacity(64);
    v.drain_events(&mut events);
    let working = v.working_count();
    let with4 = measure(batches, iters, |i| {
        v.on_book(now + i as i64 * 1000, 0, black_box(&bk[(i & 1) as usize]));
    });
    if v.working_count() != working || working != 4 {
        eprintln!("bench setup broken: {working} working orders, some filled");
        std::process::exit(1);
    }

    let mut v = venue();
    v.on_book(t0, 0, &bk[0]);
    let far = OrderRequest {
        code: 0,
        side: Side::Buy,
        price: bk[0].bid.price[4],
        qty: 1,
        tif: Tif::Day,
    };
    let mut clock = t0;
    let mut n_events = 0usize;
    let submit_cancel = measure(batches, iters, |_| {
        clock += 1_000_000_000; // 1 s apart: every leg has arrived by the next round
        v.advance_to(clock);
        if let Ok(id) = v.submit(clock, far) {
            let _ = v.cancel(clock, id);
        }
        events.clear();
        v.drain_events(&mut events);
        n_events += events.len();
    });
    black_box(n_events);
    if !events.iter().all(|e| {
        matches!(
            e,
            VenueEvent::Accepted { .. } | VenueEvent::Cancelled { .. }
        )
    }) {
        eprintln!("bench setup broken: unexpected events {events:?}");
        std::process::exit(1);
    }

    let samples = batches;
    Figure {
        bench: "venue.on_book.idle",
        unit: "ns/event",
        median: idle,
        samples,
        baseline: ("copying the L5 snapshot", copy),
        target: Some("<= 50 ns"),
        pass: Some(idle <= 50.0),
        extra: &[],
    }
    .print();
    Figure {
        bench: "venue.on_book.working4",
        unit: "ns/event",
        median: with4,
        samples,
        baseline: ("venue.on_book.idle", idle),
        target: Some("<= 1000 ns"),
        pass: Some(with4 <= 1000.0),
        extra: &[("working_orders", working as f64)],
    }
    .print();
    Figure {
        bench: "venue.submit_cancel",
        unit: "ns/pair",
        median: submit_cancel,
        samples,
        baseline: ("venue.on_book.idle", idle),
        target: None,
        pass: None,
        extra: &[],
    }
    .print();
}
