//! Engine throughput on a replay (`cargo bench -p shijim_core --bench engine`): 1 M simulated
//! TXF/MXF events (five-level books, a trade before about one book in four, like the
//! simulator's mix in bench/feeds.py), generated here from a seeded PRNG and SOFH-framed as an
//! SBE file (`shijim.tools.sbe`'s format). One JSON line per figure (docs/benchmarks.md), each
//! beside its same-run baseline, with the decision count beside the rate:
//!
//! - `engine.decode_only`: decoding every frame (`sbe::FrameIter`): the baseline, the floor of
//!   any replay from SBE files.
//! - `engine.replay.every_event`: `Engine::next_due_from_frames` over the same frames, every
//!   event due (books, signals, venue, account, policy), no orders.
//! - `engine.replay.on_touch_change`: the same deciding on touch changes only.
//! - `engine.replay.resting_orders`: every event due, with a bid and an ask resting two
//!   ticks behind the touch on each code (queue positions updated on every book; an order that
//!   ends is replaced at the next decision), default latency model and fees.
//!
//! Target: the engine far from the bottleneck of a >= 1 M events/s replay: <= 300 ns per event
//! including decode. Env: ENGINE_BENCH_EVENTS (1000000), ENGINE_BENCH_PASSES (5).

mod harness;

use std::hint::black_box;
use std::time::Instant;

use harness::{env_usize, median, Figure};
use shijim_core::engine::driver::{ClockSource, Engine, EngineConfig, FrameSource};
use shijim_core::engine::fees::InstrumentSpec;
use shijim_core::engine::latency::{LatencyModel, SplitMix64};
use shijim_core::engine::policy::DecisionPolicy;
use shijim_core::engine::signals::SignalConfig;
use shijim_core::engine::types::{Price, Side, PRICE_SCALE};
use shijim_core::engine::venue::{OrderRequest, Tif, VenueConfig, VenueEvent};
use shijim_core::sbe::{encode_frame, BidAsk, Code, FrameIter, Message, Tick, TickType, LEVELS};

const CODES: [&str; 2] = ["TXFL4", "MXFL4"];
const T0: i64 = 1_767_574_800_000_000_000; // Monday 09:00 Asia/Taipei

/// The event stream as one SBE file in memory, and its number of events (`events` or one more:
/// a trade and its book come together).
fn generate(events: usize, seed: u64) -> (Vec<u8>, usize) {
    let mut rng = SplitMix64::new(seed);
    let mut mid = [22_000i64, 22_000];
    let mut spread = [1i64, 1];
    let mut bids = [[10i64; LEVELS]; 2];
    let mut asks = [[10i64; LEVELS]; 2];
    let mut out = Vec::with_capacity(events * 220);
    let mut frame = [0u8; 256];
    let mut t = T0;
    let mut seq = 0u64;
    let mut push = |m: &Message, out: &mut Vec<u8>| {
        if let Ok(n) = encode_frame(m, &mut frame) {
            out.extend_from_slice(&frame[..n]);
        }
    };
    let mut n = 0;
    while n < events {
        // ~20 us apart on average: 1 M events in ~20 s of market time.
        t += 1_000 + (rng.next_u64() % 39_000) as i64;
        let c = usize::from(rng.next_u64() % 5 >= 3); // TXF 60 %, MXF 40 %
        let code = Code::new(CODES[c]).unwrap_or_default();
        let r = rng.next_u64();
        let step = (r % 9) as i64;
        let moved = match step {
            0 => -1,
            1 => 1,
            _ => 0,
        };
        if moved != 0 || r % 4 == 2 {
            // A trade: the sweep that moved the touch, or a market order at it.
            let buy = if moved != 0 { moved > 0 } else { r & 64 != 0 };
            let price = if buy { mid[c] + spread[c] } else { mid[c] };
            let m = Message::Tick(Tick {
                seq,
                exch_ts: t - 50_000,
                local_ts: t,
                code,
                price: Price(price * PRICE_SCALE),
                volume: 1 + (rng.next_u64() % 5) as i64,
                total_volume: seq as i64,
                tick_type: if buy { TickType::Buy } else { TickType::Sell },
                simtrade: false,
            });
            push(&m, &mut out);
            seq += 1;
            n += 1;
        }
        mid[c] += moved;
        if r % 17 == 0 {
            spread[c] = 1 + (rng.next_u64() % 3) as i64;
        }
        // Queues: a move shifts the levels (a new best level on the side moved to, the old
        // best on the other side swept); otherwise one level on one side changes, as one
        // add or cancel does.
        let q = |rng: &mut SplitMix64| 1 + (rng.next_u64() % 30) as i64;
        let (bq, aq) = (&mut bids[c], &mut asks[c]);
        match moved {
            1 => {
                bq.rotate_right(1);
                bq[0] = q(&mut rng);
                aq.rotate_left(1);
                aq[4] = q(&mut rng);
            }
            -1 => {
                aq.rotate_right(1);
                aq[0] = q(&mut rng);
                bq.rotate_left(1);
                bq[4] = q(&mut rng);
            }
            _ => {
                let side = if rng.next_u64() & 1 == 0 { bq } else { aq };
                // Level 0 a third of the time, deeper levels otherwise.
                let k = match rng.next_u64() % 6 {
                    0 | 1 => 0,
                    x => (x - 1) as usize,
                };
                let delta = (rng.next_u64() % 7) as i64 - 3;
                side[k] = (side[k] + if delta == 0 { 1 } else { delta }).max(1);
            }
        }
        let b = mid[c];
        let a = mid[c] + spread[c];
        let m = Message::BidAsk(BidAsk {
            seq,
            exch_ts: t - 50_000,
            local_ts: t,
            code,
            bid_price: std::array::from_fn(|k| Price((b - k as i64) * PRICE_SCALE)),
            bid_volume: bids[c],
            ask_price: std::array::from_fn(|k| Price((a + k as i64) * PRICE_SCALE)),
            ask_volume: asks[c],
            simtrade: false,
        });
        push(&m, &mut out);
        seq += 1;
        n += 1;
    }
    (out, n)
}

fn engine(policy: DecisionPolicy) -> Engine {
    let cfg = EngineConfig {
        signals: SignalConfig::default(),
        policy,
        venue: VenueConfig {
            latency: LatencyModel::shioaji_default(),
            seed: 1,
        },
        clock: ClockSource::Local,
    };
    let instruments = [
        (CODES[0], InstrumentSpec::txf()),
        (CODES[1], InstrumentSpec::mxf()),
    ];
    match Engine::new(cfg, &instruments) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

/// Keeps one bid and one ask two ticks behind the touch of `code`: submits the missing ones.
fn quote(e: &mut Engine, code: u32, working: &mut [[Option<u64>; 2]; 2]) {
    let Some((bid, ask)) = e.book(code).and_then(|b| b.touch()) else {
        return;
    };
    let prices = [
        (Side::Buy, Price(bid.0 - 2 * PRICE_SCALE)),
        (Side::Sell, Price(ask.0 + 2 * PRICE_SCALE)),
    ];
    for (slot, (side, price)) in working[code as usize].iter_mut().zip(prices) {
        if slot.is_none() {
            let req = OrderRequest {
                code,
                side,
                price,
                qty: 1,
                tif: Tif::Day,
            };
            *slot = e.submit(req).ok();
        }
    }
}

/// One replay pass: ns per event, decisions, fills.
fn replay(data: &[u8], policy: DecisionPolicy, orders: bool, events: usize) -> (f64, u64, u64) {
    let mut e = engine(policy);
    let mut src = FrameSource::new(data.to_vec());
    let mut decisions = 0u64;
    let mut fills = 0u64;
    // The working [bid, ask] order ids per code.
    let mut working = [[None::<u64>; 2]; 2];
    let mut evs = Vec::with_capacity(64);
    let start = Instant::now();
    loop {
        let out = e.next_due_from_frames(&mut src, 4096);
        if let Some(d) = out.due {
            decisions += 1;
            if orders {
                // An order that ended frees its slot; the code is then quoted again.
                e.drain_events(&mut evs);
                for ev in &evs {
                    let ended = match *ev {
                        VenueEvent::Filled { remaining, .. } => {
                            fills += 1;
                            remaining == 0
                        }
                        VenueEvent::Cancelled { .. } | VenueEvent::Rejected { .. } => true,
                        _ => false,
                    };
                    if ended {
                        for slot in working.iter_mut().flatten() {
                            if *slot == Some(ev.id()) {
                                *slot = None;
                            }
                        }
                    }
                }
                evs.clear();
                if let Some(code) = d.code {
                    quote(&mut e, code, &mut working);
                }
            }
            black_box(d);
        } else if out.idle {
            break;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / events as f64;
    black_box(e.counters());
    (ns, decisions, fills)
}

fn main() {
    let passes = env_usize("ENGINE_BENCH_PASSES", 5).max(1);
    let (data, events) = generate(env_usize("ENGINE_BENCH_EVENTS", 1_000_000), 42);
    let count = FrameIter::new(&data).count();
    if count != events {
        eprintln!("generated {count} frames, expected {events}");
        std::process::exit(1);
    }
    let decode: Vec<f64> = (0..passes + 1)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u64;
            for (_, m) in FrameIter::new(black_box(&data)) {
                n += u64::from(m.is_ok());
                black_box(&m);
            }
            black_box(n);
            start.elapsed().as_nanos() as f64 / events as f64
        })
        .skip(1)
        .collect();
    let decode_ns = median(decode);
    Figure {
        bench: "engine.decode_only",
        unit: "ns/event",
        median: decode_ns,
        samples: passes,
        baseline: ("decode only", decode_ns),
        target: None,
        pass: None,
        extra: &[("events", events as f64), ("events_per_s", 1e9 / decode_ns)],
    }
    .print();
    for (bench, policy, orders) in [
        (
            "engine.replay.every_event",
            DecisionPolicy::EveryEvent,
            false,
        ),
        (
            "engine.replay.on_touch_change",
            DecisionPolicy::OnTouchChange,
            false,
        ),
        (
            "engine.replay.resting_orders",
            DecisionPolicy::EveryEvent,
            true,
        ),
    ] {
        let runs: Vec<(f64, u64, u64)> = (0..passes + 1)
            .map(|_| replay(&data, policy, orders, events))
            .skip(1)
            .collect();
        let (decisions, fills) = (runs[0].1, runs[0].2);
        let ns = median(runs.iter().map(|r| r.0).collect());
        Figure {
            bench,
            unit: "ns/event",
            median: ns,
            samples: passes,
            baseline: ("decode only", decode_ns),
            target: Some("<= 300 ns/event incl. decode"),
            pass: Some(ns <= 300.0),
            extra: &[
                ("events", events as f64),
                ("events_per_s", 1e9 / ns),
                ("decisions", decisions as f64),
                ("fills", fills as f64),
            ],
        }
        .print();
    }
}
