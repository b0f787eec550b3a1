//! A reader: attaches by name, read-only, from any process; never slows the writer.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::error::{RingError, SlotFault};
use super::layout::*;
use super::shm::{self, Region};
use super::writer::validate_header;

/// Where a new reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only messages published after attaching.
    Latest,
    /// The oldest message of the current writer still in the ring.
    Oldest,
}

/// One step of a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Message `seq`, `len` bytes, copied into the caller's buffer intact.
    Message { seq: u64, len: usize },
    /// Nothing new yet.
    Empty,
    /// The writer lapped this reader: `lost` messages were overwritten before they were read.
    /// The reader skipped to a message still in the ring.
    Lapped { lost: u64 },
    /// A new writer took the ring over (`epoch`); `lost` messages of the old writer(s) were not
    /// read. The reader continues with the new writer's messages.
    Restarted { lost: u64, epoch: u64 },
    /// The slot of `seq` holds a word no writer leaves there (corrupted memory); it was
    /// skipped and counted. `RingReader::last_corrupt` says which slot and why.
    Corrupt { seq: u64 },
}

/// Whether anyone still writes the ring: tells a dead writer from a quiet market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterState {
    /// A process holds the writer lock (it may be quiet: no message is not no writer).
    Alive,
    /// No writer: the last one closed the ring cleanly.
    Closed,
    /// No writer: the last one died without closing (crash, kill -9) or never finished opening.
    Gone,
}

/// The last slot a reader skipped as corrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptSlot {
    pub slot: u64,
    /// The seq the reader expected in that slot.
    pub seq: u64,
    pub word: u64,
    pub fault: SlotFault,
}

/// An empty poll checks the write cursor for a stalled slot once every this many empty polls
/// (a power of two): the cursor's cache line is written by every publish, and reading it on
/// every poll of a spinning reader would add a cross-core miss to the latency path.
const STALL_CHECK_EVERY: u64 = 64;

/// A consistent read of the epoch fields is retried at most this often. A real writer bumps the
/// epoch once per takeover (milliseconds apart); more changes in a row than this mean a file
/// being scribbled on, and the last read is used rather than spinning.
const EPOCH_READ_TRIES: u32 = 64;

/// A reader of a ring. Maps the file read-only: a reader cannot disturb the writer or others.
pub struct RingReader {
    region: Region,
    mask: u64,
    slots: u64,
    pos: u64,
    epoch: u64,
    skipped_known: u64,
    lost_total: u64,
    restarts: u64,
    corrupt_total: u64,
    last_corrupt: Option<CorruptSlot>,
    /// Empty polls so far (drives the periodic stall check).
    empty_polls: u64,
    /// A lapped reader resumes this many messages after the oldest one still in the ring, so
    /// that it is not lapped again at once.
    margin: u64,
    /// A writer change seen but not yet reported (see `Boundary`).
    boundary: Option<Boundary>,
    /// (device, inode) of the mapped file, to notice the name now pointing elsewhere.
    file_id: (u64, u64),
}

/// The longest `PublishWatch::wait`: a caller that wants longer loops (and checks its own
/// stop conditions in between).
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// Waits for the write cursor to leave a reader's position (see `RingReader::publish_watch`).
pub struct PublishWatch<'a> {
    cursor: &'a AtomicU64,
    pos: u64,
}

impl PublishWatch<'_> {
    /// Spins until the write cursor differs from the reader's position (a message published,
    /// or a writer restart: either way a read has something to say) or `timeout` (at most
    /// `MAX_WAIT`) passed. True if the cursor moved. A spinning core rather than a sleep: it is
    /// for a trading thread pinned to a core of its own, whose wake-up must cost nanoseconds.
    /// The cursor's cache line changes only on a publish, so the spin reads a cached line.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout.min(MAX_WAIT);
        loop {
            if self.cursor.load(Ordering::Acquire) != self.pos {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::hint::spin_loop();
        }
    }
}

/// Epoch-related header fields, read consistently.
#[derive(Clone, Copy)]
struct EpochInfo {
    epoch: u64,
    start: u64,
    skipped: u64,
    prev_end: u64,
}

/// A new writer took over. The reader first finishes the old writer's messages still in the
/// ring (seqs below `end`: nothing is dropped just because the writer changed), then reports
/// the restart and continues with `next`'s messages, so no batch mixes two writers silently.
#[derive(Clone, Copy)]
struct Boundary {
    end: u64,
    next: EpochInfo,
}

impl RingReader {
    pub fn open(name: &str, start: Start) -> Result<RingReader, RingError> {
        let path = shm::ring_path(name)?;
        Self::open_path(&path, start)
    }

    pub fn open_path(path: &Path, start: Start) -> Result<RingReader, RingError> {
        let file = std::fs::File::open(path).map_err(shm::io_err(path, "open for reading"))?;
        let meta = file.metadata().map_err(shm::io_err(path, "stat"))?;
        let file_id = (meta.dev(), meta.ino());
        let size = meta.size();
        if size == 0 {
            return Err(RingError::NotInitialised {
                path: path.to_path_buf(),
            });
        }
        // Region::map refuses a file smaller than the header (Foreign).
        let region = Region::map(file, path.to_path_buf(), false)?;
        let slots = validate_header(&region, size)?;
        let mut reader = RingReader {
            region,
            mask: slots - 1,
            slots,
            pos: 0,
            epoch: 0,
            skipped_known: 0,
            lost_total: 0,
            restarts: 0,
            corrupt_total: 0,
            last_corrupt: None,
            empty_polls: 0,
            margin: (slots / 16).max(1),
            boundary: None,
            file_id,
        };
        let info = reader.epoch_info();
        reader.epoch = info.epoch;
        reader.skipped_known = info.skipped;
        let cursor = reader.cursor();
        reader.pos = match start {
            Start::Latest => cursor.max(info.start),
            Start::Oldest => cursor.saturating_sub(slots).max(info.start),
        };
        Ok(reader)
    }

    #[inline(always)]
    fn cursor(&self) -> u64 {
        self.region.u64_at(OFF_CURSOR).load(Ordering::Acquire)
    }

    fn epoch_info(&self) -> EpochInfo {
        let mut tries = 0;
        loop {
            let epoch = self.region.u64_at(OFF_EPOCH).load(Ordering::Acquire);
            let start = self.region.u64_at(OFF_EPOCH_START).load(Ordering::Relaxed);
            let skipped = self.region.u64_at(OFF_SKIPPED).load(Ordering::Relaxed);
            let prev_end = self.region.u64_at(OFF_PREV_END).load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            tries += 1;
            // Bounded (EPOCH_READ_TRIES): never spin on a header something keeps rewriting.
            if self.region.u64_at(OFF_EPOCH).load(Ordering::Relaxed) == epoch
                || tries >= EPOCH_READ_TRIES
            {
                return EpochInfo {
                    epoch,
                    start,
                    skipped,
                    prev_end,
                };
            }
        }
    }

    /// True (once) when the header shows a writer newer than the one this reader follows.
    #[inline(always)]
    fn writer_changed(&self) -> bool {
        self.boundary.is_none()
            && self.region.u64_at(OFF_EPOCH).load(Ordering::Acquire) != self.epoch
    }

    fn learn_boundary(&mut self) {
        // Walk one takeover at a time: the history entry of the next epoch says where ours
        // ended, so the old writer's messages still in the ring are delivered first.
        let boundary = match self.history(self.epoch.wrapping_add(1)) {
            Some(next) => Boundary {
                end: next.prev_end,
                next,
            },
            // Entry overwritten (16 takeovers since): what is left cannot be told apart;
            // switch to the current writer at once, counting the rest as lost.
            None => Boundary {
                end: self.pos,
                next: self.epoch_info(),
            },
        };
        self.boundary = Some(boundary);
    }

    /// The history entry of `epoch`, if the header still holds it (and the epoch exists yet).
    fn history(&self, epoch: u64) -> Option<EpochInfo> {
        let off = history_off(epoch);
        let first = self.region.u64_at(off).load(Ordering::Acquire);
        let start = self.region.u64_at(off + 8).load(Ordering::Relaxed);
        let prev_end = self.region.u64_at(off + 16).load(Ordering::Relaxed);
        let skipped = self.region.u64_at(off + 24).load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let again = self.region.u64_at(off).load(Ordering::Relaxed);
        (first == epoch && again == epoch).then_some(EpochInfo {
            epoch,
            start,
            skipped,
            prev_end,
        })
    }

    /// Copy message `pos` into `buf` if it is there. Never blocks.
    #[inline]
    pub fn try_next(&mut self, buf: &mut [u8; MAX_PAYLOAD]) -> Next {
        if let Some(b) = self.boundary {
            if self.pos >= b.end {
                return self.switch_epoch();
            }
        }
        let index = (self.pos & self.mask) as usize;
        let word_ref = self.region.u64_at(HEADER_LEN + index * SLOT_SIZE);
        let word = word_ref.load(Ordering::Acquire);
        match decode_word(word) {
            SlotState::Committed { seq, len } if seq == self.pos => {
                self.copy_payload(index, len, buf);
                // Seqlock read side: Acquire fence, then re-check. If any payload load above read
                // a store of a later message, the fence makes that message's busy mark (stored
                // before the writer's Release fence) visible to the re-check.
                fence(Ordering::Acquire);
                if word_ref.load(Ordering::Relaxed) != word {
                    return self.lapped();
                }
                if self.writer_changed() {
                    self.learn_boundary();
                    if self.boundary.is_some_and(|b| self.pos >= b.end) {
                        // This message is the new writer's: report the restart first.
                        return self.switch_epoch();
                    }
                }
                self.pos += 1;
                Next::Message { seq, len }
            }
            SlotState::Committed { seq, .. } | SlotState::Writing { seq } if seq > self.pos => {
                self.overwritten(index, word, seq)
            }
            SlotState::Corrupt { .. } => {
                let cursor = self.cursor();
                self.skip_corrupt(index, word, SlotFault::BadLength, cursor)
            }
            _ => {
                // Not written yet (empty, older lap, or being written). A new writer may have
                // started above our position: only the epoch tells.
                if self.writer_changed() {
                    self.learn_boundary();
                }
                if self.boundary.is_some() {
                    // The old writer is gone and never completed `pos`.
                    return self.switch_epoch();
                }
                self.empty_polls = self.empty_polls.wrapping_add(1);
                if self.empty_polls % STALL_CHECK_EVERY == 0 {
                    return self.check_stalled(index);
                }
                Next::Empty
            }
        }
    }

    /// The slot holds `seq` > pos. Lapped, if a writer can have written it; otherwise corrupt.
    #[cold]
    fn overwritten(&mut self, index: usize, word: u64, seq: u64) -> Next {
        // Loaded after the word: the writer stores the cursor at `seq` before it marks the slot
        // for `seq` (both Release), so seeing the word means seeing a cursor >= seq.
        let cursor = self.cursor();
        if (seq.wrapping_sub(self.pos)) & self.mask != 0 {
            return self.skip_corrupt(index, word, SlotFault::WrongSlot { found: seq }, cursor);
        }
        if seq > cursor {
            let fault = SlotFault::AheadOfWriter { found: seq, cursor };
            return self.skip_corrupt(index, word, fault, cursor);
        }
        self.lapped()
    }

    /// Every STALL_CHECK_EVERY empty polls: is `pos` empty although the writer is past it?
    #[cold]
    fn check_stalled(&mut self, index: usize) -> Next {
        let cursor = self.cursor();
        if self.pos >= cursor {
            // Not published yet (or its writer died mid-slot: `writer_state` tells).
            return Next::Empty;
        }
        // cursor > pos (Acquire): the commit of `pos` happened before, so the slot now holds
        // `pos` or a later lap, unless it is corrupted or a new writer skipped `pos`.
        let word = self
            .region
            .u64_at(HEADER_LEN + index * SLOT_SIZE)
            .load(Ordering::Acquire);
        match decode_word(word) {
            // Committed meanwhile, or a later lap (or garbage the next poll judges): not stalled.
            SlotState::Committed { seq, .. } if seq >= self.pos => Next::Empty,
            SlotState::Writing { seq } if seq > self.pos => Next::Empty,
            SlotState::Corrupt { .. } => {
                self.skip_corrupt(index, word, SlotFault::BadLength, cursor)
            }
            // Empty, an older lap, or still "being written" although the writer is past it.
            _ => self.skip_corrupt(index, word, SlotFault::Missing { cursor }, cursor),
        }
    }

    /// Skip slot `index` (seq `pos`) as corrupted once the writer is past it; before that the
    /// writer will overwrite it, so it reads as `Empty`. Never moves the reader past the cursor,
    /// so a ring full of garbage costs at most one step per published seq, not a spin.
    fn skip_corrupt(&mut self, index: usize, word: u64, fault: SlotFault, cursor: u64) -> Next {
        // A new writer (the cursor is published after the epoch) explains what the old one
        // left unwritten: report the restart, never a corruption.
        if self.writer_changed() {
            self.learn_boundary();
        }
        if self.boundary.is_some_and(|b| self.pos >= b.end) {
            return self.switch_epoch();
        }
        if self.pos >= cursor {
            return Next::Empty;
        }
        let seq = self.pos;
        self.last_corrupt = Some(CorruptSlot {
            slot: index as u64,
            seq,
            word,
            fault,
        });
        self.pos += 1;
        self.corrupt_total += 1;
        Next::Corrupt { seq }
    }

    #[inline(always)]
    fn copy_payload(&self, index: usize, len: usize, buf: &mut [u8; MAX_PAYLOAD]) {
        let base = HEADER_LEN + index * SLOT_SIZE + SLOT_WORD_LEN;
        let words = len.div_ceil(8);
        for k in 0..words {
            // Relaxed atomic loads: the copy may race with the writer; the re-check decides.
            let w = self
                .region
                .u64_at(base + 8 * k)
                .load(Ordering::Relaxed)
                .to_ne_bytes();
            let at = 8 * k;
            let n = (len - at).min(8);
            buf[at..at + n].copy_from_slice(&w[..n]);
        }
    }

    fn lapped(&mut self) -> Next {
        if self.writer_changed() {
            self.learn_boundary();
        }
        if self.boundary.is_some() {
            // Overwritten around a writer change: what is left of the old writer is lost.
            return self.switch_epoch();
        }
        let cursor = self.cursor();
        let oldest_safe = cursor.saturating_sub(self.slots - self.margin);
        let new_pos = oldest_safe.max(self.pos + 1);
        let lost = new_pos - self.pos;
        self.pos = new_pos;
        self.lost_total += lost;
        Next::Lapped { lost }
    }

    fn switch_epoch(&mut self) -> Next {
        let next = match self.boundary.take() {
            Some(b) => b.next,
            None => self.epoch_info(),
        };
        // Seqs in [pos, start) were either published by the old writer(s) and not read (lost),
        // or never published at all (a writer died mid-slot: counted in `skipped`).
        let lost = if self.pos < next.start {
            (next.start - self.pos).saturating_sub(next.skipped.saturating_sub(self.skipped_known))
        } else {
            0
        };
        self.restarts += next.epoch.wrapping_sub(self.epoch);
        self.epoch = next.epoch;
        self.skipped_known = next.skipped;
        self.pos = self.pos.max(next.start);
        self.lost_total += lost;
        Next::Restarted {
            lost,
            epoch: next.epoch,
        }
    }

    /// Messages published but not yet read by this reader.
    pub fn lag(&self) -> u64 {
        self.cursor().saturating_sub(self.pos)
    }

    /// A handle that waits for the writer to move past this reader's position, without the
    /// reader itself: it is `Send`, so a binding can wait with the interpreter lock released.
    pub fn publish_watch(&self) -> PublishWatch<'_> {
        PublishWatch {
            cursor: self.region.u64_at(OFF_CURSOR),
            pos: self.pos,
        }
    }

    /// The seq this reader reads next.
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn lost_total(&self) -> u64 {
        self.lost_total
    }

    /// Writer takeovers seen since attaching.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    pub fn corrupt_total(&self) -> u64 {
        self.corrupt_total
    }

    /// The last slot skipped as corrupted, as an error naming the ring file, the slot, the seq
    /// and the reason (for logs; the skip itself is counted in `corrupt_total`).
    pub fn last_corrupt(&self) -> Option<RingError> {
        self.last_corrupt.map(|c| RingError::CorruptSlot {
            path: self.region.path.clone(),
            slot: c.slot,
            seq: c.seq,
            word: c.word,
            fault: c.fault,
        })
    }

    /// Whether a writer is attached, tested on the writer's lock (one syscall, never blocks and
    /// never takes the lock). A writer killed in any way releases it when the kernel closes its
    /// files, so `Gone` shows on the first call after the process is torn down: a dead writer
    /// is told from a quiet market without any timeout. Poll it when idle, not per message.
    pub fn writer_state(&self) -> Result<WriterState, RingError> {
        if self.region.writer_lock_held()? {
            return Ok(WriterState::Alive);
        }
        // The writer marks the header before its fd (and lock) goes away.
        Ok(if self.writer_closed() {
            WriterState::Closed
        } else {
            WriterState::Gone
        })
    }

    /// The epoch (writer generation) this reader follows.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// True once the writer closed the ring cleanly (a crashed writer leaves it false).
    pub fn writer_closed(&self) -> bool {
        self.region.u32_at(OFF_WRITER_STATE).load(Ordering::Acquire) == WRITER_CLOSED
    }

    /// True if the ring's name no longer refers to the file this reader mapped (removed, or
    /// removed and created anew): nothing more will arrive here; attach again. A syscall:
    /// poll it when idle, not per message.
    pub fn file_replaced(&self) -> bool {
        match std::fs::metadata(&self.region.path) {
            Ok(meta) => (meta.dev(), meta.ino()) != self.file_id,
            Err(_) => true,
        }
    }

    pub fn writer_pid(&self) -> u32 {
        self.region.u32_at(OFF_WRITER_PID).load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.region.path
    }
}
