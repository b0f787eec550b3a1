//! The single writer: encodes straight into a slot, never waits for readers.

use std::path::Path;
use std::sync::atomic::{fence, Ordering};

use super::error::{PublishError, RingError};
use super::layout::*;
use super::shm::{self, Region};

/// The only writer of a ring. Holds an exclusive lock on the ring file (an OFD record lock, see
/// `shm::open_for_writer`) for its lifetime, so a second writer is refused while this one lives
/// and readers can tell a live writer from a dead one; the lock dies with the process.
pub struct RingWriter {
    region: Region,
    mask: u64,
    slots: u64,
    next_seq: u64,
    epoch: u64,
}

impl RingWriter {
    /// Attach as the writer of ring `name`. With `create`, a missing file is created with `slots`
    /// slots; an existing ring is taken over (its writer must be gone) if it has `slots` slots.
    pub fn open(name: &str, slots: u64, create: bool) -> Result<RingWriter, RingError> {
        let path = shm::ring_path(name)?;
        Self::open_path(&path, slots, create)
    }

    pub fn open_path(path: &Path, slots: u64, create: bool) -> Result<RingWriter, RingError> {
        if !slots.is_power_of_two() || !(MIN_SLOTS..=MAX_SLOTS).contains(&slots) {
            return Err(RingError::BadSlotCount { slots });
        }
        let (file, locked) = shm::open_for_writer(path, create)?;
        let size = shm::file_len(&file, path)?;
        if !locked {
            let pid = if size >= HEADER_LEN as u64 {
                Region::map(file, path.to_path_buf(), false)
                    .map(|r| r.u32_at(OFF_WRITER_PID).load(Ordering::Relaxed))
                    .unwrap_or(0)
            } else {
                0
            };
            return Err(RingError::WriterExists {
                path: path.to_path_buf(),
                pid,
            });
        }
        // From here on we hold the writer lock: no other writer can touch the file.
        if size == 0 || header_never_written(&file, path, size)? {
            // A new file, or one whose writer died between sizing it and publishing the header:
            // nothing was ever published, so (re)size it zero-filled and start afresh.
            file.set_len(0).map_err(shm::io_err(path, "ftruncate"))?;
            file.set_len(file_len(slots) as u64)
                .map_err(shm::io_err(path, "ftruncate"))?;
            let region = Region::map(file, path.to_path_buf(), true)?;
            return Ok(Self::initialise(region, slots));
        }
        // Region::map refuses a file smaller than the header (Foreign).
        let region = Region::map(file, path.to_path_buf(), true)?;
        let existing_slots = validate_header(&region, size)?;
        if existing_slots != slots {
            return Err(RingError::Geometry {
                path: path.to_path_buf(),
                field: "slot_count",
                found: existing_slots,
                expected: slots,
            });
        }
        Ok(Self::take_over(region, slots))
    }

    fn initialise(region: Region, slots: u64) -> RingWriter {
        // Fresh file: ftruncate zero-filled every slot word (= Empty).
        region
            .u32_at(OFF_VERSION)
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        region
            .u32_at(OFF_HEADER_LEN)
            .store(HEADER_LEN as u32, Ordering::Relaxed);
        region
            .u64_at(OFF_SLOT_COUNT)
            .store(slots, Ordering::Relaxed);
        region
            .u32_at(OFF_SLOT_SIZE)
            .store(SLOT_SIZE as u32, Ordering::Relaxed);
        region.u64_at(OFF_EPOCH).store(1, Ordering::Relaxed);
        record_history(&region, 1, 0, 0, 0);
        region.u64_at(OFF_EPOCH_START).store(0, Ordering::Relaxed);
        region.u64_at(OFF_PREV_END).store(0, Ordering::Relaxed);
        region.u64_at(OFF_SKIPPED).store(0, Ordering::Relaxed);
        region
            .u32_at(OFF_WRITER_PID)
            .store(std::process::id(), Ordering::Relaxed);
        region
            .u32_at(OFF_WRITER_STATE)
            .store(WRITER_OPEN, Ordering::Relaxed);
        region.u64_at(OFF_CURSOR).store(0, Ordering::Relaxed);
        // Magic last, with Release: a reader that sees it (Acquire) sees the whole header.
        region
            .u64_at(OFF_MAGIC)
            .store(u64::from_ne_bytes(MAGIC), Ordering::Release);
        RingWriter {
            region,
            mask: slots - 1,
            slots,
            next_seq: 0,
            epoch: 1,
        }
    }

    /// A new writer on a ring whose previous writer is gone. Sequence numbers continue above any
    /// seq the old writer ever touched, so no slot word value repeats (no ABA for a reader in the
    /// middle of a copy), and readers learn the restart from the epoch bump.
    fn take_over(region: Region, slots: u64) -> RingWriter {
        let cursor = region.u64_at(OFF_CURSOR).load(Ordering::Acquire);
        let mut max_committed_end = cursor; // one past the highest committed seq
        let mut max_any_end = cursor; // one past the highest seq found in any state
        for i in 0..slots as usize {
            let word = region
                .u64_at(HEADER_LEN + i * SLOT_SIZE)
                .load(Ordering::Acquire);
            match decode_word(word) {
                SlotState::Committed { seq, .. } => {
                    max_committed_end = max_committed_end.max(seq + 1);
                    max_any_end = max_any_end.max(seq + 1);
                }
                SlotState::Writing { seq } => max_any_end = max_any_end.max(seq + 1),
                SlotState::Empty | SlotState::Corrupt { .. } => {}
            }
        }
        let start = max_any_end.max(max_committed_end);
        let skipped = start - max_committed_end;
        let epoch = region
            .u64_at(OFF_EPOCH)
            .load(Ordering::Relaxed)
            .wrapping_add(1);
        let skipped_total = region.u64_at(OFF_SKIPPED).load(Ordering::Relaxed) + skipped;
        region
            .u64_at(OFF_EPOCH_START)
            .store(start, Ordering::Relaxed);
        region
            .u64_at(OFF_PREV_END)
            .store(max_committed_end, Ordering::Relaxed);
        region
            .u64_at(OFF_SKIPPED)
            .store(skipped_total, Ordering::Relaxed);
        region
            .u32_at(OFF_WRITER_PID)
            .store(std::process::id(), Ordering::Relaxed);
        region
            .u32_at(OFF_WRITER_STATE)
            .store(WRITER_OPEN, Ordering::Relaxed);
        record_history(&region, epoch, start, max_committed_end, skipped_total);
        // Epoch with Release: a reader that sees the new epoch (Acquire) sees its start and
        // skipped count; every slot this writer commits later is Release-ordered after it.
        region.u64_at(OFF_EPOCH).store(epoch, Ordering::Release);
        // Cursor after the epoch, with Release: a reader that sees this writer's cursor also sees
        // its epoch, so it never mistakes the seqs the old writer left unpublished (below
        // `start`) for corrupted slots (reader: `check_stalled`).
        region.u64_at(OFF_CURSOR).store(start, Ordering::Release);
        RingWriter {
            region,
            mask: slots - 1,
            slots,
            next_seq: start,
            epoch,
        }
    }

    /// Publish one message: `encode` writes it into the slot (at most [`MAX_PAYLOAD`] bytes) and
    /// returns its length. Returns the message's seq. Never waits for readers.
    ///
    /// If `encode` fails, nothing is published and the seq is reused by the next publish; the
    /// slot stays marked "being written", which readers treat as "not yet written".
    #[inline]
    pub fn publish_with<E>(
        &mut self,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<u64, PublishError<E>> {
        let seq = self.next_seq;
        if seq > MAX_SEQ {
            return Err(PublishError::Ring(RingError::SeqExhausted));
        }
        let index = (seq & self.mask) as usize;
        let slot = self.region.slot_ptr(index);
        let word = self.region.u64_at(HEADER_LEN + index * SLOT_SIZE);
        // Seqlock write side: mark the slot busy, then a Release fence so no payload store below
        // can become visible before the busy mark (a reader that sees any new payload byte and
        // then fences Acquire is guaranteed to see the busy mark or a later word on re-check).
        // The busy mark itself is a Release store (a plain store on x86-64, like Relaxed): a
        // reader that sees it also sees the cursor at `seq`, so "a seq ahead of the cursor" is
        // always corruption, never a race (reader: `overwritten`).
        word.store(word_writing(seq), Ordering::Release);
        fence(Ordering::Release);
        // SAFETY: `slot` is the start of a 256-byte slot inside the mapping (index < slots); the
        // payload area is the 248 bytes after the word. Only this writer (holding the lock) ever
        // writes it. Readers may concurrently read these bytes with relaxed atomic u64 loads; any
        // copy that overlaps this write is discarded by their re-check of the slot word. This is
        // the seqlock pattern; Rust has no "atomic memcpy" yet (RFC 3301), and on the targets we
        // build for plain stores and relaxed loads are the same instructions.
        let payload =
            unsafe { std::slice::from_raw_parts_mut(slot.add(SLOT_WORD_LEN), MAX_PAYLOAD) };
        let len = encode(payload).map_err(PublishError::Encode)?;
        if len > MAX_PAYLOAD {
            return Err(PublishError::Ring(RingError::PayloadTooLong {
                len,
                max: MAX_PAYLOAD,
            }));
        }
        // Release: the payload stores above happen-before any reader's Acquire load of this word.
        word.store(word_committed(seq, len), Ordering::Release);
        self.region
            .u64_at(OFF_CURSOR)
            .store(seq + 1, Ordering::Release);
        self.next_seq = seq + 1;
        Ok(seq)
    }

    /// Publish a byte payload (copied into the slot).
    #[inline]
    pub fn publish(&mut self, payload: &[u8]) -> Result<u64, RingError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(RingError::PayloadTooLong {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        self.publish_with(|slot| {
            slot[..payload.len()].copy_from_slice(payload);
            Ok::<usize, std::convert::Infallible>(payload.len())
        })
        .map_err(|e| match e {
            PublishError::Ring(r) => r,
            PublishError::Encode(never) => match never {},
        })
    }

    /// The seq the next publish will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// This writer's generation (1 for the writer that created the file, +1 per takeover).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn slots(&self) -> u64 {
        self.slots
    }

    pub fn path(&self) -> &Path {
        &self.region.path
    }

    pub fn mapped_len(&self) -> usize {
        self.region.len()
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        // Tells readers "closed" from "gone" (`RingReader::writer_state`); the lock (released when
        // the fd closes, right after this) is what admits a new writer.
        self.region
            .u32_at(OFF_WRITER_STATE)
            .store(WRITER_CLOSED, Ordering::Release);
    }
}

/// Write the history entry of `epoch` (before the epoch is published). The entry's epoch field
/// goes last, so a reader that finds it (Acquire) finds the rest.
fn record_history(region: &Region, epoch: u64, start: u64, prev_end: u64, skipped: u64) {
    let off = history_off(epoch);
    region.u64_at(off + 8).store(start, Ordering::Relaxed);
    region.u64_at(off + 16).store(prev_end, Ordering::Relaxed);
    region.u64_at(off + 24).store(skipped, Ordering::Relaxed);
    region.u64_at(off).store(epoch, Ordering::Release);
}

/// True if the file is header-sized or larger and its whole header page is zero.
fn header_never_written(file: &std::fs::File, path: &Path, size: u64) -> Result<bool, RingError> {
    use std::os::unix::fs::FileExt;
    if size < HEADER_LEN as u64 {
        return Ok(false);
    }
    let mut head = [0u8; HEADER_LEN];
    file.read_exact_at(&mut head, 0)
        .map_err(shm::io_err(path, "read header"))?;
    Ok(head.iter().all(|&b| b == 0))
}

/// Check a header written by some process: magic, version, geometry, and the file size.
/// Returns its slot count.
pub(crate) fn validate_header(region: &Region, size: u64) -> Result<u64, RingError> {
    let path = || region.path.clone();
    let magic = region.u64_at(OFF_MAGIC).load(Ordering::Acquire);
    if magic == 0 {
        return Err(RingError::NotInitialised { path: path() });
    }
    if magic != u64::from_ne_bytes(MAGIC) {
        return Err(RingError::Foreign {
            path: path(),
            reason: format!(
                "magic at offset 0 is {:#018x}, expected \"SHIJRING\"",
                magic
            ),
        });
    }
    let version = region.u32_at(OFF_VERSION).load(Ordering::Relaxed);
    if version != LAYOUT_VERSION {
        return Err(RingError::LayoutVersion {
            path: path(),
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    let header_len = region.u32_at(OFF_HEADER_LEN).load(Ordering::Relaxed);
    if header_len as usize != HEADER_LEN {
        return Err(RingError::Geometry {
            path: path(),
            field: "header_len",
            found: header_len.into(),
            expected: HEADER_LEN as u64,
        });
    }
    let slot_size = region.u32_at(OFF_SLOT_SIZE).load(Ordering::Relaxed);
    if slot_size as usize != SLOT_SIZE {
        return Err(RingError::Geometry {
            path: path(),
            field: "slot_size",
            found: slot_size.into(),
            expected: SLOT_SIZE as u64,
        });
    }
    let slots = region.u64_at(OFF_SLOT_COUNT).load(Ordering::Relaxed);
    if !slots.is_power_of_two() || !(MIN_SLOTS..=MAX_SLOTS).contains(&slots) {
        return Err(RingError::Foreign {
            path: path(),
            reason: format!("header field slot_count is {slots}, not a power of two in range"),
        });
    }
    let expected = file_len(slots) as u64;
    if size != expected || region.len() as u64 != expected {
        return Err(RingError::Geometry {
            path: path(),
            field: "file size",
            found: size,
            expected,
        });
    }
    Ok(slots)
}
