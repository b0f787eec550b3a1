//! The single-writer, many-reader shared-memory ring (docs/ring.md).
//!
//! One writer per ring (an exclusive lock that readers can test: `RingReader::writer_state`),
//! any number of readers in any process, attached by name (a file under /dev/shm). The writer
//! encodes straight into fixed 256-byte slots and never waits; each slot carries a seqlock word,
//! so a reader can tell "not written yet", "this lap" and "overwritten" exactly, never returns a
//! torn message, counts exactly what it lost when lapped, and skips a corrupted slot as a counted
//! fault, never waiting on it. A writer that takes over a ring bumps the header's epoch; readers
//! report the restart and never hand out a message across it unannounced.
//!
//! The ring carries opaque byte payloads (at most [`MAX_PAYLOAD`] bytes); the typed market-data
//! layer encodes SBE messages into the slots (see `python::ring`).

mod error;
mod layout;
mod reader;
mod shm;
mod writer;

pub use error::{PublishError, RingError, SlotFault};
pub use layout::{
    decode_word, file_len, SlotState, HEADER_LEN, LAYOUT_VERSION, MAGIC, MAX_PAYLOAD, MAX_SEQ,
    MAX_SLOTS, MIN_SLOTS, SLOT_SIZE,
};
pub use reader::{CorruptSlot, Next, PublishWatch, RingReader, Start, WriterState, MAX_WAIT};
pub use shm::{ring_dir, ring_path, unlink_ring};
pub use writer::RingWriter;

#[cfg(test)]
pub(crate) mod test_ring;
#[cfg(test)]
mod tests;
