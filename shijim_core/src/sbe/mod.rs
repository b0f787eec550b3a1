//! SBE 1.0 codec for `schema/shijim.xml` (little-endian) and SOFH framing.
//!
//! The schema is the single source of truth: every offset below is the one the XML implies
//! (fields in declaration order, no padding), and `tests/core/test_sbe_conformance.py` checks
//! our bytes with decoders that read only the XML. Messages are fixed-size, so `encode`
//! writes header and body straight into a caller's buffer (a ring slot) with no allocation.

pub mod jsonl;
mod message;
mod price;
mod sofh;
mod text;
mod wire;

pub use message::{
    BidAsk, EventKind, Message, SessionState, Snapshot, SystemEvent, Tick, TickType, TradingState,
    LEVELS,
};
pub use price::{decimal128_words, F64PriceFault, Price, PriceError, PRICE_EXPONENT, PRICE_SCALE};
pub use sofh::{decode_frame, encode_frame, frame_len, FrameIter, SBE_LE_ENCODING_TYPE, SOFH_LEN};
pub use text::{
    Code, CodeHashBuilder, CodeHasher, FixedText, Reason, TextError, CODE_LEN, REASON_LEN,
};
pub use wire::{decode, encode, SbeError, SbeErrorKind, HEADER_LEN, SCHEMA_ID, SCHEMA_VERSION};

/// The largest encoded message (header + body) in this schema version. It must fit a 256-byte
/// ring slot together with the slot's 8-byte header.
pub const MAX_MESSAGE_LEN: usize = message::max_message_len();

const _: () = assert!(MAX_MESSAGE_LEN <= 248);

#[cfg(test)]
mod tests;
