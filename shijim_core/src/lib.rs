//! Shijim's hot-path core: "Rust for math, Python for logic".
//!
//! - [`sbe`]: the SBE 1.0 codec for `schema/shijim.xml` and SOFH framing.
//! - [`ring`]: the single-writer, many-reader shared-memory ring buffer.
//! - [`publish`]: SBE messages into the ring, counted by type.
//! - [`engine`]: per-code books and signals, the paper venue (matching, latency, fees), marks.
//! - [`ofi`]: order-flow imbalance (OFI) and multi-level OFI (MLOFI).
//! - [`json_text`]: strict JSON numbers and strings (the admin listener's documents).
//! - [`columns`]: book rows as the recorder's table columns (one pass over a block).
//!
//! Everything here is plain Rust, tested with `cargo test`. The PyO3 bindings live in one
//! module (`python`), compiled only with the `python` feature that maturin enables.

pub mod admission;
pub mod algo;
pub mod columns;
pub mod engine;
pub mod hftconv;
pub mod json_text;
pub mod ofi;
pub mod publish;
pub mod ring;
pub mod sbe;

#[cfg(feature = "python")]
mod python;
