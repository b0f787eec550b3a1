//! Every way opening or using a ring can fail, each naming the ring file and the field.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum RingError {
    /// The ring name cannot be a file name under the ring directory.
    BadName { name: String, reason: String },
    /// A system call on the ring file failed.
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// Another live process already writes this ring.
    WriterExists { path: PathBuf, pid: u32 },
    /// The file is not a Shijim ring (wrong magic or impossible header).
    Foreign { path: PathBuf, reason: String },
    /// A Shijim ring from a different layout version.
    LayoutVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// A header field disagrees with what was asked or with the file size.
    Geometry {
        path: PathBuf,
        field: &'static str,
        found: u64,
        expected: u64,
    },
    /// The file exists but its writer has not finished writing the header yet.
    NotInitialised { path: PathBuf },
    /// The ring was asked for a slot count it cannot have.
    BadSlotCount { slots: u64 },
    /// A payload longer than a slot carries.
    PayloadTooLong { len: usize, max: usize },
    /// The 56-bit sequence space is used up.
    SeqExhausted,
    /// The writer was closed.
    Closed { path: PathBuf },
    /// A slot holds a word no writer leaves there; the reader skipped it (and counted it).
    CorruptSlot {
        path: PathBuf,
        slot: u64,
        seq: u64,
        word: u64,
        fault: SlotFault,
    },
}

/// Why a reader judged a slot corrupted. Every verdict is exact: the writer never leaves a slot
/// in any of these states (docs/ring.md, "What the reader concludes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotFault {
    /// The word's length code is one no writer writes.
    BadLength,
    /// The word's seq `found` belongs to another slot (`found & (slots - 1)` differs).
    WrongSlot { found: u64 },
    /// The word's seq `found` is above the write cursor: no writer has reached it.
    AheadOfWriter { found: u64, cursor: u64 },
    /// The write cursor is past the expected seq, yet the slot does not hold it or a later lap.
    Missing { cursor: u64 },
}

impl fmt::Display for SlotFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotFault::BadLength => write!(f, "length code is not one a writer writes"),
            SlotFault::WrongSlot { found } => write!(f, "seq {found} belongs to another slot"),
            SlotFault::AheadOfWriter { found, cursor } => write!(
                f,
                "seq {found} is ahead of the writer (write_cursor {cursor})"
            ),
            SlotFault::Missing { cursor } => write!(
                f,
                "the writer is past it (write_cursor {cursor}) but the slot does not hold it"
            ),
        }
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::BadName { name, reason } => write!(f, "bad ring name {name:?}: {reason}"),
            RingError::Io { path, op, source } => {
                write!(f, "ring {}: {op} failed: {source}", path.display())
            }
            RingError::WriterExists { path, pid } => write!(
                f,
                "ring {}: another writer (pid {pid}) holds it; one writer per ring",
                path.display()
            ),
            RingError::Foreign { path, reason } => {
                write!(f, "{} is not a shijim ring: {reason}", path.display())
            }
            RingError::LayoutVersion {
                path,
                found,
                expected,
            } => write!(
                f,
                "ring {}: header field layout_version is {found}, this build reads {expected}",
                path.display()
            ),
            RingError::Geometry {
                path,
                field,
                found,
                expected,
            } => write!(
                f,
                "ring {}: header field {field} is {found}, expected {expected}",
                path.display()
            ),
            RingError::NotInitialised { path } => write!(
                f,
                "ring {}: header not written yet (writer starting?); retry",
                path.display()
            ),
            RingError::BadSlotCount { slots } => write!(
                f,
                "slots={slots}: must be a power of two in [{}, {}]",
                super::layout::MIN_SLOTS,
                super::layout::MAX_SLOTS
            ),
            RingError::PayloadTooLong { len, max } => {
                write!(
                    f,
                    "payload of {len} bytes does not fit a ring slot (max {max})"
                )
            }
            RingError::SeqExhausted => write!(f, "ring sequence space (56 bits) exhausted"),
            RingError::Closed { path } => write!(f, "ring {}: writer is closed", path.display()),
            RingError::CorruptSlot {
                path,
                slot,
                seq,
                word,
                fault,
            } => write!(
                f,
                "ring {}: slot {slot} (seq {seq}) holds word {word:#018x}: {fault}; skipped",
                path.display()
            ),
        }
    }
}

impl std::error::Error for RingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RingError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A publish that failed: either the ring refused it or the payload encoder did.
#[derive(Debug)]
pub enum PublishError<E> {
    Ring(RingError),
    Encode(E),
}

impl<E: fmt::Display> fmt::Display for PublishError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Ring(e) => e.fmt(f),
            PublishError::Encode(e) => write!(f, "encoding into the ring slot failed: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for PublishError<E> {}

impl<E> From<RingError> for PublishError<E> {
    fn from(e: RingError) -> Self {
        PublishError::Ring(e)
    }
}
