//! Byte layout of a ring file (docs/ring.md has the same table).
//!
//! ```text
//! header page (4096 bytes)
//!   0  magic            [u8; 8]  b"SHIJRING"
//!   8  layout_version   u32      LAYOUT_VERSION
//!  12  header_len       u32      4096
//!  16  slot_count       u64      power of two
//!  24  slot_size        u32      256
//!  28  reserved         u32
//!  32  epoch            u64      writer generation, bumped by every writer that opens the file
//!  40  epoch_start_seq  u64      first seq the current writer publishes
//!  48  skipped_total    u64      seqs never published (a writer died mid-slot), all epochs
//!  56  writer_pid       u32      pid of the current writer (diagnostics only)
//!  60  writer_state     u32      1 = open, 2 = closed cleanly
//!  64  write_cursor     u64      next seq the writer will publish (own cache line)
//! 128  prev_epoch_end   u64      one past the last seq the previous writer committed
//! 256  epoch history    16 x (epoch, start_seq, prev_epoch_end, skipped_total), u64 each,
//!                               entry epoch % 16: lets a reader walk several takeovers
//! slot i at 4096 + i * 256
//!   0  word             u64      0 = never written; ((seq + 1) << 8) | len; len 0xFF = being written
//!   8  payload          [u8; 248]
//! ```
//! All integers are native-endian (the ring never leaves the host).

pub const MAGIC: [u8; 8] = *b"SHIJRING";
pub const LAYOUT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 4096;
pub const SLOT_SIZE: usize = 256;
pub const SLOT_WORD_LEN: usize = 8;
/// Largest payload one slot carries (the SBE codec's MAX_MESSAGE_LEN must not exceed it).
pub const MAX_PAYLOAD: usize = SLOT_SIZE - SLOT_WORD_LEN;
pub const MIN_SLOTS: u64 = 2;
/// 2^26 slots = 16 GiB of shared memory: far beyond any sensible shard, rejects absurd headers.
pub const MAX_SLOTS: u64 = 1 << 26;
/// Largest seq the 56-bit sequence field carries (at 30 M msg/s: 76 years).
pub const MAX_SEQ: u64 = (1 << 56) - 2;

pub const OFF_MAGIC: usize = 0;
pub const OFF_VERSION: usize = 8;
pub const OFF_HEADER_LEN: usize = 12;
pub const OFF_SLOT_COUNT: usize = 16;
pub const OFF_SLOT_SIZE: usize = 24;
pub const OFF_EPOCH: usize = 32;
pub const OFF_EPOCH_START: usize = 40;
pub const OFF_SKIPPED: usize = 48;
pub const OFF_WRITER_PID: usize = 56;
pub const OFF_WRITER_STATE: usize = 60;
pub const OFF_CURSOR: usize = 64;
pub const OFF_PREV_END: usize = 128;
pub const OFF_HISTORY: usize = 256;
pub const HISTORY_LEN: u64 = 16;
pub const HISTORY_ENTRY: usize = 32;

/// Byte offset of the history entry of `epoch`.
pub const fn history_off(epoch: u64) -> usize {
    OFF_HISTORY + (epoch % HISTORY_LEN) as usize * HISTORY_ENTRY
}

pub const WRITER_OPEN: u32 = 1;
pub const WRITER_CLOSED: u32 = 2;

const LEN_BITS: u32 = 8;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;
/// Length code of a slot whose payload is being written.
pub const LEN_WRITING: u64 = 0xFF;

// The header fields fit the header page; the cursor has its own cache line.
const _: () = assert!(OFF_CURSOR + 8 <= HEADER_LEN && OFF_CURSOR % 64 == 0);
const _: () = assert!(MAX_PAYLOAD == 248 && HEADER_LEN % SLOT_SIZE == 0);
const _: () = assert!(OFF_HISTORY + HISTORY_LEN as usize * HISTORY_ENTRY <= HEADER_LEN);

/// Total file size for `slots` slots.
pub const fn file_len(slots: u64) -> usize {
    HEADER_LEN + (slots as usize) * SLOT_SIZE
}

/// What a slot word says about its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Never written since the file was created.
    Empty,
    /// The writer is copying message `seq` into the slot.
    Writing { seq: u64 },
    /// Message `seq` of `len` bytes is complete.
    Committed { seq: u64, len: usize },
    /// A length code no writer produces: the file is corrupted or foreign.
    Corrupt { word: u64 },
}

pub const fn word_writing(seq: u64) -> u64 {
    ((seq + 1) << LEN_BITS) | LEN_WRITING
}

pub const fn word_committed(seq: u64, len: usize) -> u64 {
    ((seq + 1) << LEN_BITS) | (len as u64)
}

pub const fn decode_word(word: u64) -> SlotState {
    if word == 0 {
        return SlotState::Empty;
    }
    let seq_plus_one = word >> LEN_BITS;
    let len = word & LEN_MASK;
    if seq_plus_one == 0 {
        return SlotState::Corrupt { word };
    }
    let seq = seq_plus_one - 1;
    if len == LEN_WRITING {
        SlotState::Writing { seq }
    } else if len as usize > MAX_PAYLOAD {
        SlotState::Corrupt { word }
    } else {
        SlotState::Committed {
            seq,
            len: len as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_words_round_trip() {
        assert_eq!(decode_word(0), SlotState::Empty);
        assert_eq!(decode_word(word_writing(0)), SlotState::Writing { seq: 0 });
        assert_eq!(
            decode_word(word_committed(7, 248)),
            SlotState::Committed { seq: 7, len: 248 }
        );
        assert_eq!(
            decode_word(word_committed(MAX_SEQ, 0)),
            SlotState::Committed {
                seq: MAX_SEQ,
                len: 0
            }
        );
        assert_eq!(
            decode_word(word_writing(MAX_SEQ)),
            SlotState::Writing { seq: MAX_SEQ }
        );
        assert!(matches!(decode_word(0x17), SlotState::Corrupt { .. }));
        assert!(matches!(
            decode_word((5 << 8) | 249),
            SlotState::Corrupt { .. }
        ));
    }
}
