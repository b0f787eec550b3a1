//! MLOFI throughput (`cargo bench -p shijim_core --bench ofi`). Prints one JSON line per figure
//! (docs/contracts.md); each figure sits beside a baseline measured in the same run.
//!
//! - `ofi.mlofi.l5.batch`: 5-level MLOFI over 4096-book batches (a ring read's worth, in cache),
//!   baseline: reading the same four input arrays once (the least any kernel must do).
//! - `ofi.mlofi.l5.batch_large`: the same over 262144 books (42 MB, beyond L3): memory-bound,
//!   reported for honesty, no target.
//! - `ofi.mlofi.l5.stream`: `MlofiStream::update_into`, one book per call, in ns per book,
//!   baseline: the batch kernel's ns per book.

mod harness;

use std::hint::black_box;
use std::time::Instant;

use harness::{median, Figure};

use shijim_core::ofi::{mlofi_into, Books, MlofiStream};

const LEVELS: usize = 5;
const SAMPLES: usize = 31;

struct Data {
    bid_px: Vec<f64>,
    bid_qty: Vec<i64>,
    ask_px: Vec<f64>,
    ask_qty: Vec<i64>,
}

/// A random walk of valid books: equal prices often, moves of up to 2 ticks, varying spread.
fn books(n: usize, seed: u64) -> Data {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut d = Data {
        bid_px: Vec::with_capacity(n * LEVELS),
        bid_qty: Vec::with_capacity(n * LEVELS),
        ask_px: Vec::with_capacity(n * LEVELS),
        ask_qty: Vec::with_capacity(n * LEVELS),
    };
    let mut mid = 20000.0;
    for _ in 0..n {
        mid += (next() % 5) as f64 - 2.0;
        let spread = 1.0 + (next() % 2) as f64;
        for m in 0..LEVELS {
            d.bid_px.push(mid - m as f64);
            d.ask_px.push(mid + spread + m as f64);
            d.bid_qty.push((next() % 100) as i64);
            d.ask_qty.push((next() % 100) as i64);
        }
    }
    d
}

/// Median over `SAMPLES` of the seconds one call of `f` takes (each sample runs it `reps` times).
fn time_per_call(reps: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm caches and page in the output
    let samples = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    median(samples)
}

/// Reads every input value once (XOR of the bits: associative, so it vectorises and runs at
/// load speed): the floor for any kernel over these arrays.
fn read_all(d: &Data) -> u64 {
    let mut acc = 0u64;
    for i in 0..d.bid_px.len() {
        acc ^= d.bid_px[i].to_bits()
            ^ d.ask_px[i].to_bits()
            ^ d.bid_qty[i] as u64
            ^ d.ask_qty[i] as u64;
    }
    acc
}

fn line(
    bench: &str,
    unit: &str,
    median: f64,
    baseline: (&str, f64),
    target: Option<&str>,
    pass: Option<bool>,
) {
    Figure {
        bench,
        unit,
        median,
        samples: SAMPLES,
        baseline,
        target,
        pass,
        extra: &[],
    }
    .print();
}

fn batch(n: usize, reps: usize) -> (f64, f64) {
    let d = books(n, 42);
    let b = match Books::new(&d.bid_px, &d.bid_qty, &d.ask_px, &d.ask_qty, LEVELS, LEVELS) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench input rejected: {e}");
            std::process::exit(1);
        }
    };
    let mut out = vec![0.0; n * LEVELS];
    let kernel = time_per_call(reps, || {
        if let Err(e) = mlofi_into(black_box(&b), black_box(&mut out)) {
            eprintln!("bench input rejected: {e}");
            std::process::exit(1);
        }
    });
    let read = time_per_call(reps, || {
        black_box(read_all(black_box(&d)));
    });
    (n as f64 / kernel / 1e6, n as f64 / read / 1e6)
}

fn main() {
    let (mlofi_rate, read_rate) = batch(4096, 200);
    line(
        "ofi.mlofi.l5.batch",
        "M books/s",
        mlofi_rate,
        (
            "reading the same input arrays (XOR of all values)",
            read_rate,
        ),
        Some(">= 50 M books/s"),
        Some(mlofi_rate >= 50.0),
    );

    let (large_rate, large_read) = batch(262_144, 3);
    line(
        "ofi.mlofi.l5.batch_large",
        "M books/s",
        large_rate,
        (
            "reading the same input arrays (XOR of all values)",
            large_read,
        ),
        None,
        None,
    );

    let n = 4096;
    let d = books(n, 7);
    let mut stream = match MlofiStream::new(LEVELS) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut out = [0.0; LEVELS];
    let per_batch = time_per_call(200, || {
        for r in 0..n {
            let s = r * LEVELS..(r + 1) * LEVELS;
            if let Err(e) = stream.update_into(
                black_box(&d.bid_px[s.clone()]),
                &d.bid_qty[s.clone()],
                &d.ask_px[s.clone()],
                &d.ask_qty[s],
                &mut out,
            ) {
                eprintln!("bench input rejected: {e}");
                std::process::exit(1);
            }
            black_box(&out);
        }
    });
    let stream_ns = per_batch / n as f64 * 1e9;
    let batch_ns = 1e3 / mlofi_rate;
    line(
        "ofi.mlofi.l5.stream",
        "ns/book",
        stream_ns,
        ("batch kernel, ns per book", batch_ns),
        Some("<= 50 ns"),
        Some(stream_ns <= 50.0),
    );
}
