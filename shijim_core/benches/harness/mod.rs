//! What every benchmark of the crate shares: timing by medians over repeated batches, the sample
//! BidAsk, and the JSON line each figure is printed as (docs/benchmarks.md). Each bench binary
//! includes it with `mod harness;` and uses only part of it.
#![allow(dead_code)]

use std::time::Instant;

use shijim_core::sbe::{BidAsk, Code, Price};

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median ns per operation over `batches` batches of `iters` calls of `op(i)`, after one warm-up
/// batch (which also faults in every page an op touches).
pub fn measure(batches: usize, iters: usize, mut op: impl FnMut(u64)) -> f64 {
    for i in 0..iters as u64 {
        op(i);
    }
    median(
        (0..batches)
            .map(|_| {
                let start = Instant::now();
                for i in 0..iters as u64 {
                    op(i);
                }
                start.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect(),
    )
}

/// The BidAsk every codec and ring figure is measured with: a TXF book around 22013.
pub fn sample_bidask() -> BidAsk {
    let px = |s: &str| Price::parse_decimal(s).unwrap_or_default();
    BidAsk {
        seq: 1,
        exch_ts: 1_732_000_000_123_456_789,
        local_ts: 1_732_000_000_123_999_000,
        code: Code::new("TXFL4").unwrap_or_default(),
        bid_price: ["22013", "22012", "22011", "22010", "22009"].map(px),
        bid_volume: [3, 5, 8, 13, 21],
        ask_price: ["22014", "22015", "22016", "22017", "22018"].map(px),
        ask_volume: [2, 4, 6, 8, 10],
        simtrade: false,
    }
}

/// One figure beside its same-run baseline, printed as one JSON line.
pub struct Figure<'a> {
    pub bench: &'a str,
    pub unit: &'a str,
    pub median: f64,
    pub samples: usize,
    pub baseline: (&'a str, f64),
    /// Human-readable target, or None where the figure is reported without one.
    pub target: Option<&'a str>,
    pub pass: Option<bool>,
    /// Extra numeric fields (percentiles, rates), printed as they are.
    pub extra: &'a [(&'a str, f64)],
}

impl Figure<'_> {
    pub fn print(&self) {
        let json_str = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let num = |x: f64| {
            if x.is_finite() {
                format!("{x:.3}")
            } else {
                "null".to_string()
            }
        };
        let mut extra = String::new();
        for (k, v) in self.extra {
            extra.push_str(&format!(", {}: {}", json_str(k), num(*v)));
        }
        let ratio = self.median / self.baseline.1;
        println!(
            "{{\"bench\": {}, \"unit\": {}, \"median\": {}, \"samples\": {}, \
             \"baseline\": {{\"name\": {}, \"median\": {}}}, \"ratio\": {}, \"target\": {}, \
             \"pass\": {}{extra}}}",
            json_str(self.bench),
            json_str(self.unit),
            num(self.median),
            self.samples,
            json_str(self.baseline.0),
            num(self.baseline.1),
            num(ratio),
            self.target.map_or("null".to_string(), json_str),
            self.pass.map_or("null".to_string(), |p| p.to_string()),
        );
    }
}
