//! SBE codec speed: encode and decode of a BidAsk (the largest, most frequent message) into a
//! ring-slot-sized buffer, each beside baselines measured in the same run. One JSON object per
//! line (docs/contracts.md). Run: `cargo bench --bench sbe` (SBE_BENCH_BATCHES, _ITERS).

mod harness;

use std::hint::black_box;

use harness::{env_usize, measure, sample_bidask, Figure};
use shijim_core::sbe::{decode, encode, BidAsk, Message, MAX_MESSAGE_LEN};

/// One codec figure: ns per message against a same-run baseline, target <= 30 ns.
fn report(bench: &str, median: f64, samples: usize, baseline: (&str, f64)) {
    Figure {
        bench,
        unit: "ns/msg",
        median,
        samples,
        baseline,
        target: Some("<= 30 ns"),
        pass: Some(median <= 30.0),
        extra: &[],
    }
    .print();
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
    let msg = sample_bidask();
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
    );
    report(
        "sbe.encode.bidask.vs_naive",
        encode_ns,
        batches,
        ("naive field-by-field Vec serialisation", naive_ns),
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
    );
}
