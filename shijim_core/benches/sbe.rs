//! SBE codec speed: encode and decode of a BidAsk (the largest, most frequent message) into a
//! ring-slot-sized buffer, each beside baselines measured in the same run. One JSON object per
//! line (docs/CONTRACTS-WIP.md). Run: `cargo bench --bench sbe` (SBE_BENCH_BATCHES, _ITERS).

use std::hint::black_box;
use std::time::Instant;

use shijim_core::sbe::{decode, encode, BidAsk, Code, Message, Price, MAX_MESSAGE_LEN};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median ns per operation over `batches` batches of `iters` calls of `op`.
fn measure(batches: usize, iters: usize, mut op: impl FnMut(u64)) -> f64 {
    for i in 0..iters as u64 {
        op(i); // warm-up
    }
    let mut per_op: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iters as u64 {
                op(i);
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    per_op.sort_by(|a, b| a.total_cmp(b));
    per_op[per_op.len() / 2]
}

fn report(bench: &str, median: f64, samples: usize, baseline: (&str, f64), target: f64) {
    println!(
        "{{\"bench\": \"{bench}\", \"unit\": \"ns/msg\", \"median\": {median:.2}, \"p99\": null, \
         \"samples\": {samples}, \"baseline\": {{\"name\": \"{}\", \"median\": {:.2}}}, \
         \"ratio\": {:.2}, \"target\": \"<= {target} ns\", \"pass\": {}}}",
        baseline.0,
        baseline.1,
        median / baseline.1,
        median <= target
    );
}

fn sample() -> BidAsk {
    let px = |s: &str| Price::parse_decimal(s).unwrap_or_default();
    BidAsk {
        seq: 1,
        exch_ts: 1_732_000_000_123_456_789,
        local_ts: 1_732_000_000_123_999_000,
        code: Code::new("TXFL4").unwrap_or_default(),
        bid_price: [
            px("22013"),
            px("22012"),
            px("22011"),
            px("22010"),
            px("22009"),
        ],
        bid_volume: [3, 5, 8, 13, 21],
        ask_price: [
            px("22014"),
            px("22015"),
            px("22016"),
            px("22017"),
            px("22018"),
        ],
        ask_volume: [2, 4, 6, 8, 10],
        simtrade: false,
    }
}

/// The obvious hand-written alternative: a growable Vec, one field at a time.
fn naive_serialize(m: &BidAsk, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&m.seq.to_le_bytes());
    out.extend_from_slice(&m.exch_ts.to_le_bytes());
    out.extend_from_slice(&m.local_ts.to_le_bytes());
    out.extend_from_slice(m.code.as_bytes());
    for p in m.bid_price {
        out.extend_from_slice(&p.0.to_le_bytes());
    }
    for v in m.bid_volume {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for p in m.ask_price {
        out.extend_from_slice(&p.0.to_le_bytes());
    }
    for v in m.ask_volume {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.push(u8::from(m.simtrade));
}

fn main() {
    let batches = env_usize("SBE_BENCH_BATCHES", 51);
    let iters = env_usize("SBE_BENCH_ITERS", 200_000);
    let msg = sample();
    let mut slot = [0u8; 256];
    let len = match encode(&Message::BidAsk(msg), &mut slot) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let encoded = slot;
    let memcpy_name = format!("memcpy of the same {len} bytes");

    // Encode: a fresh seq per call, as the ring writer does.
    let mut m = Message::BidAsk(msg);
    let encode_ns = measure(batches, iters, |i| {
        m.set_seq(i);
        let r = encode(black_box(&m), black_box(&mut slot[..]));
        let _ = black_box(r);
    });
    let mut src = encoded;
    let memcpy_ns = measure(batches, iters, |i| {
        src[8] = i as u8;
        let s = black_box(&src);
        slot[..len].copy_from_slice(&s[..len]);
        black_box(&slot);
    });
    let mut naive = Vec::with_capacity(MAX_MESSAGE_LEN);
    let mut plain = msg;
    let naive_ns = measure(batches, iters, |i| {
        plain.seq = i;
        naive_serialize(black_box(&plain), &mut naive);
        black_box(&naive);
    });
    report(
        "sbe.encode.bidask",
        encode_ns,
        batches,
        (&memcpy_name, memcpy_ns),
        30.0,
    );
    report(
        "sbe.encode.bidask.vs_naive",
        encode_ns,
        batches,
        ("naive field-by-field Vec serialisation", naive_ns),
        30.0,
    );

    // Decode: full validation (header, enums, code text) into a Message value.
    let decode_ns = measure(batches, iters, |_| {
        let r = decode(black_box(&encoded[..]));
        let _ = black_box(r);
    });
    let memcpy_out_ns = measure(batches, iters, |_| {
        let mut out = [0u8; MAX_MESSAGE_LEN];
        out[..len].copy_from_slice(&black_box(&encoded)[..len]);
        black_box(&out);
    });
    report(
        "sbe.decode.bidask",
        decode_ns,
        batches,
        (&memcpy_name, memcpy_out_ns),
        30.0,
    );
}
