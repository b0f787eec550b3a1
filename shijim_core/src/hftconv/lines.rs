//! JSONL lines to messages with the crate's fast-path parser (`sbe::jsonl::parse_line`), the
//! lines of one read split over threads: parsing is most of the converter's work, and the
//! messages go back in line order, so the result is the same for any number of threads.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use crate::sbe::jsonl;
use crate::sbe::Message;

/// Below this many bytes a second thread costs more than it saves.
const PARALLEL_MIN: usize = 64 * 1024;
/// About this many bytes per piece handed to a thread (about a hundred lines).
const PIECE_BYTES: usize = 32 * 1024;
/// How long the caller waits for a piece a helper is parsing before parsing it itself: about
/// the time one piece takes.
const STEAL_AFTER: Duration = Duration::from_micros(200);

/// The messages of consecutive lines, each with its line index in the piece (from 0).
#[derive(Debug, Default)]
pub(super) struct Piece {
    pub msgs: Vec<(Message, u64)>,
    /// Bytes consumed (whole lines).
    pub consumed: usize,
    /// Lines consumed, blank ones included.
    pub lines: u64,
    /// Read to its end: the next piece follows on.
    pub whole: bool,
}

/// The lines of `data` up to the first one outside the fast path (left for the reference
/// reader) or an unfinished last line (unless `last`); `each` gets every message and its line
/// index (from 0). The piece's `msgs` stay empty.
fn scan_with(data: &[u8], last: bool, mut each: impl FnMut(Message, u64)) -> Piece {
    let mut p = Piece::default();
    while let Some(rest) = data.get(p.consumed..) {
        if rest.is_empty() {
            p.whole = true;
            break;
        }
        let end = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if last => rest.len(),
            None => break,
        };
        let line = &rest[..end];
        if !jsonl::is_blank(line) {
            let Some(msg) = jsonl::parse_line(line) else {
                break;
            };
            each(msg, p.lines);
        }
        p.consumed += end;
        p.lines += 1;
    }
    p
}

/// `scan_with`, keeping the messages in the piece (for another thread).
fn scan(data: &[u8], last: bool) -> Piece {
    let mut msgs = Vec::new();
    let p = scan_with(data, last, |m, line| msgs.push((m, line)));
    Piece { msgs, ..p }
}

/// `data` cut into about `n` pieces of whole lines (each but the last ends with a newline);
/// an unfinished last line stays out unless `last`.
fn pieces(data: &[u8], last: bool, n: usize) -> Vec<&[u8]> {
    let end = if last {
        data.len()
    } else {
        data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
    };
    let region = &data[..end];
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (region.len() * k / n).max(start);
        let Some(cut) = region
            .get(target..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        else {
            break;
        };
        let cut = target + cut + 1;
        if cut > start {
            out.push(&region[start..cut]);
            start = cut;
        }
    }
    if start < region.len() || out.is_empty() {
        out.push(&region[start..]);
    }
    out
}

/// Pieces handed out to whichever thread is free, and the parsed ones waiting for their turn.
struct Work<'a> {
    parts: Vec<&'a [u8]>,
    last: bool,
    next: AtomicUsize,
    done: Mutex<Vec<Option<Piece>>>,
    ready: Condvar,
}

impl Work<'_> {
    fn lock(&self) -> MutexGuard<'_, Vec<Option<Piece>>> {
        // Nothing panics while the lock is held; a poisoned lock still holds valid pieces.
        self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Parses the next unclaimed piece; false when none is left.
    fn claim(&self) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(&part) = self.parts.get(i) else {
            return false;
        };
        // A panic (none should happen) leaves an empty piece: reading stops there and the
        // reference reader takes the line, rather than this thread's caller waiting forever.
        let piece = panic::catch_unwind(|| scan(part, self.last)).unwrap_or_default();
        if let Some(slot) = self.lock().get_mut(i) {
            *slot = Some(piece);
        }
        self.ready.notify_all();
        true
    }

    fn stop(&self) {
        self.next.store(self.parts.len(), Ordering::Relaxed);
    }
}

/// The lines of `data`, parsed by up to `threads` threads, in line order: `each` gets the
/// messages (and their line index from the start of `data`) in the caller's thread. Returns
/// the bytes and lines consumed and whether everything was (no line stopped it).
///
/// The data is cut into small pieces that every thread, the caller's included, takes in turn,
/// and the caller hands on each parsed piece in order as soon as it is there. On a busy machine
/// a helper thread that is not scheduled simply parses less, and a piece a helper holds while
/// it waits for a core is parsed again by the caller after a short wait: a busy machine makes
/// the split useless, never much slower than one thread.
pub(super) fn read(
    data: &[u8],
    last: bool,
    threads: usize,
    mut each: impl FnMut(&Message, u64),
) -> (usize, u64, bool) {
    if threads <= 1 || data.len() < PARALLEL_MIN {
        let p = scan_with(data, last, |m, line| each(&m, line));
        return (p.consumed, p.lines, p.whole);
    }
    let n = (data.len() / PIECE_BYTES).max(threads);
    let parts = pieces(data, last, n);
    let work = Work {
        done: Mutex::new((0..parts.len()).map(|_| None).collect()),
        parts,
        last,
        next: AtomicUsize::new(0),
        ready: Condvar::new(),
    };
    thread::scope(|s| {
        for _ in 1..threads {
            // A thread the OS refuses is one helper fewer, nothing else.
            let _ = thread::Builder::new().spawn_scoped(s, || while work.claim() {});
        }
        let (mut consumed, mut lines, mut whole) = (0, 0, true);
        let mut turn = 0;
        while turn < work.parts.len() {
            let piece = work.lock().get_mut(turn).and_then(Option::take);
            let p = match piece {
                Some(p) => p,
                None if work.claim() => continue,
                None => {
                    // Every piece is taken and this one is not back: a helper is on it. Wait
                    // about the time it takes to parse one; if the helper has lost its core
                    // meanwhile (a busy machine), parse the piece here rather than wait for it.
                    let done = work.lock();
                    let (mut done, _) = work
                        .ready
                        .wait_timeout_while(done, STEAL_AFTER, |d| {
                            d.get(turn).is_some_and(Option::is_none)
                        })
                        .unwrap_or_else(PoisonError::into_inner);
                    match done.get_mut(turn).and_then(Option::take) {
                        Some(p) => p,
                        None => {
                            drop(done);
                            let part = work.parts.get(turn).copied().unwrap_or_default();
                            panic::catch_unwind(|| scan(part, last)).unwrap_or_default()
                        }
                    }
                }
            };
            for (m, line) in &p.msgs {
                each(m, lines + line);
            }
            consumed += p.consumed;
            lines += p.lines;
            turn += 1;
            if !p.whole {
                whole = false;
                work.stop(); // the rest waits for the reference reader's line
                break;
            }
        }
        (consumed, lines, whole)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_whole_lines_covering_the_data() {
        let data = b"a\nbb\nccc\ndddd\neeeee\nunfinished";
        for n in 1..8 {
            let ps = pieces(data, false, n);
            let joined: Vec<u8> = ps.concat();
            assert_eq!(&joined[..], &data[..data.len() - "unfinished".len()]);
            assert!(ps.iter().all(|p| p.ends_with(b"\n")), "{n}");
            let ps = pieces(data, true, n);
            assert_eq!(ps.concat(), data.to_vec());
        }
        assert_eq!(pieces(b"", true, 4), vec![&b""[..]]);
        assert_eq!(pieces(b"no newline", false, 3), vec![&b""[..]]);
    }
}
