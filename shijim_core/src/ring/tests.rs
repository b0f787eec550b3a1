//! Ring tests on real shared memory (files under /dev/shm, or the temp dir if it is missing).

use super::layout::*;
use super::test_ring::TestRing;
use super::*;

fn payload_for(seq: u64) -> Vec<u8> {
    // Variable length, every byte derived from seq: any mix of two messages is detectable.
    let len = 8 + (seq % 241) as usize;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&seq.to_le_bytes());
    for i in 8..len {
        v.push((seq as u8).wrapping_mul(31).wrapping_add(i as u8));
    }
    v
}

/// Publish `payload_for(seq)` for every seq, in order.
fn publish_seqs(w: &mut RingWriter, seqs: impl IntoIterator<Item = u64>) {
    for seq in seqs {
        w.publish(&payload_for(seq)).unwrap();
    }
}

fn check_payload(seq: u64, bytes: &[u8]) {
    assert_eq!(
        bytes,
        payload_for(seq).as_slice(),
        "message {seq} is not intact"
    );
}

/// Read until Empty; returns (seqs received, lost, restarts seen).
fn drain(reader: &mut RingReader) -> (Vec<u64>, u64, u64) {
    let mut buf = [0u8; MAX_PAYLOAD];
    let (mut got, mut lost, mut restarts) = (Vec::new(), 0, 0);
    loop {
        match reader.try_next(&mut buf) {
            Next::Message { seq, len } => {
                check_payload(seq, &buf[..len]);
                got.push(seq);
            }
            Next::Empty => return (got, lost, restarts),
            Next::Lapped { lost: n } => lost += n,
            Next::Restarted { lost: n, .. } => {
                lost += n;
                restarts += 1;
            }
            Next::Corrupt { seq } => panic!("corrupt slot at {seq}"),
        }
    }
}

#[test]
fn publish_and_read_in_order_across_wrap_around() {
    let ring = TestRing::new("wrap");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    let mut all = Vec::new();
    for round in 0..10u64 {
        for i in 0..5 {
            let seq = round * 5 + i;
            assert_eq!(w.publish(&payload_for(seq)).unwrap(), seq);
        }
        assert_eq!(r.lag(), 5);
        let (got, lost, _) = drain(&mut r);
        assert_eq!(lost, 0);
        all.extend(got);
    }
    assert_eq!(all, (0..50).collect::<Vec<_>>());
    assert_eq!(r.lag(), 0);
    assert_eq!(w.next_seq(), 50);
}

#[test]
fn lapped_reader_reports_exact_loss_and_resyncs() {
    let ring = TestRing::new("lap");
    let mut w = ring.writer(16);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..1000);
    let (got, lost, _) = drain(&mut r);
    assert_eq!(got.len() as u64 + lost, 1000);
    assert_eq!(r.lost_total(), lost);
    assert!(lost >= 1000 - 16);
    // What it did get is the newest messages, contiguous, ending at the last one.
    assert_eq!(*got.last().unwrap(), 999);
    assert!(got.windows(2).all(|p| p[1] == p[0] + 1));
    // Keeps working after the resync.
    w.publish(&payload_for(1000)).unwrap();
    assert_eq!(drain(&mut r), (vec![1000], 0, 0));
}

#[test]
fn oldest_start_reads_what_is_still_in_the_ring() {
    let ring = TestRing::new("oldest");
    let mut w = ring.writer(8);
    publish_seqs(&mut w, 0..5);
    let mut r = ring.reader(Start::Oldest);
    assert_eq!(drain(&mut r), (vec![0, 1, 2, 3, 4], 0, 0));
    publish_seqs(&mut w, 5..20);
    let mut r2 = ring.reader(Start::Oldest);
    assert_eq!(drain(&mut r2).0, (12..20).collect::<Vec<_>>());
}

#[test]
fn concurrent_writer_never_yields_a_torn_message() {
    let ring = TestRing::new("torn");
    let total: u64 = 400_000;
    let mut w = ring.writer(16);
    let mut r = ring.reader(Start::Latest);
    let writer = std::thread::spawn(move || {
        publish_seqs(&mut w, 0..total);
        w
    });
    let mut buf = [0u8; MAX_PAYLOAD];
    let (mut received, mut lost, mut last) = (0u64, 0u64, None::<u64>);
    loop {
        match r.try_next(&mut buf) {
            Next::Message { seq, len } => {
                check_payload(seq, &buf[..len]);
                if let Some(prev) = last {
                    assert!(seq > prev);
                }
                last = Some(seq);
                received += 1;
                if seq == total - 1 {
                    break;
                }
            }
            Next::Lapped { lost: n } => lost += n,
            Next::Empty => std::hint::spin_loop(),
            other => panic!("unexpected {other:?}"),
        }
    }
    let _w = writer.join().unwrap();
    assert_eq!(received + lost, total, "received {received} + lost {lost}");
    assert_eq!(r.lost_total(), lost);
}

#[test]
fn second_writer_is_refused_while_the_first_lives() {
    let ring = TestRing::new("twowriters");
    let w = ring.writer(8);
    match RingWriter::open_path(&ring.0, 8, true) {
        Err(RingError::WriterExists { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected WriterExists, got {:?}", other.map(|_| ())),
    }
    drop(w);
    assert!(RingWriter::open_path(&ring.0, 8, true).is_ok());
}

#[test]
fn writer_restart_is_reported_with_exact_loss_and_seq_continues() {
    let ring = TestRing::new("restart");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..3);
    assert_eq!(drain(&mut r).0, vec![0, 1, 2]);
    publish_seqs(&mut w, 3..6);
    assert_eq!(w.epoch(), 1);
    drop(w);
    assert!(r.writer_closed());
    let mut w2 = ring.writer(8);
    assert_eq!(w2.epoch(), 2);
    assert_eq!(w2.next_seq(), 6);
    assert!(!r.writer_closed());
    publish_seqs(&mut w2, 6..8);
    // The old writer's unread messages still in the ring come first, then the restart.
    let mut buf = [0u8; MAX_PAYLOAD];
    for seq in 3..6 {
        assert!(matches!(r.try_next(&mut buf), Next::Message { seq: s, .. } if s == seq));
    }
    assert_eq!(r.try_next(&mut buf), Next::Restarted { lost: 0, epoch: 2 });
    assert_eq!(drain(&mut r), (vec![6, 7], 0, 0));
    assert_eq!(r.restarts(), 1);
    assert_eq!(r.lost_total(), 0);
}

#[test]
fn old_messages_overwritten_by_a_new_writer_are_counted_exactly() {
    let ring = TestRing::new("restartlap");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..3);
    assert_eq!(drain(&mut r).0, vec![0, 1, 2]);
    publish_seqs(&mut w, 3..6);
    drop(w);
    let mut w2 = ring.writer(8);
    publish_seqs(&mut w2, 6..20);
    let mut buf = [0u8; MAX_PAYLOAD];
    // Old 3..6 were overwritten: lost 3 with the restart; then the new writer lapped us too.
    assert_eq!(r.try_next(&mut buf), Next::Restarted { lost: 3, epoch: 2 });
    let (got, lost, restarts) = drain(&mut r);
    assert_eq!(restarts, 0);
    assert_eq!(got.len() as u64 + lost + 3, 17);
    assert_eq!(*got.last().unwrap(), 19);
    assert_eq!(r.lost_total(), lost + 3);
}

#[test]
fn two_takeovers_between_reads_deliver_every_writer_in_turn() {
    let ring = TestRing::new("tworestarts");
    let mut w = ring.writer(64);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..2);
    drop(w);
    let mut w2 = ring.writer(64);
    w2.publish(&payload_for(2)).unwrap();
    drop(w2);
    let mut w3 = ring.writer(64);
    w3.publish(&payload_for(3)).unwrap();
    let mut buf = [0u8; MAX_PAYLOAD];
    let mut seen = Vec::new();
    loop {
        match r.try_next(&mut buf) {
            Next::Message { seq, len } => {
                check_payload(seq, &buf[..len]);
                seen.push(format!("m{seq}"));
            }
            Next::Restarted { lost, epoch } => seen.push(format!("r{epoch}/{lost}")),
            Next::Empty => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["m0", "m1", "r2/0", "m2", "r3/0", "m3"]);
    assert_eq!((r.restarts(), r.lost_total(), r.epoch()), (2, 0, 3));
}

#[test]
fn more_takeovers_than_the_history_holds_count_the_rest_as_lost() {
    let ring = TestRing::new("manyrestarts");
    let mut w = ring.writer(64);
    let mut r = ring.reader(Start::Latest);
    w.publish(&payload_for(0)).unwrap();
    drop(w);
    for seq in 1..=HISTORY_LEN + 1 {
        let mut w = ring.writer(64);
        w.publish(&payload_for(seq)).unwrap();
    }
    let mut buf = [0u8; MAX_PAYLOAD];
    let last = HISTORY_LEN + 1;
    assert_eq!(
        r.try_next(&mut buf),
        Next::Restarted {
            lost: last,
            epoch: last + 1
        }
    );
    assert_eq!(drain(&mut r), (vec![last], 0, 0));
    assert_eq!(r.restarts(), last);
}

#[test]
fn writer_dying_mid_slot_is_skipped_and_not_counted_as_lost() {
    let ring = TestRing::new("midslot");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    w.publish(&payload_for(0)).unwrap();
    // The encoder fails after scribbling: the slot stays "being written" (as if the writer died).
    let err = w.publish_with(|slot| {
        slot[..4].copy_from_slice(b"junk");
        Err::<usize, &str>("boom")
    });
    assert!(matches!(err, Err(PublishError::Encode("boom"))));
    let (got, lost, _) = drain(&mut r);
    assert_eq!((got, lost), (vec![0], 0));
    drop(w);
    let mut w2 = ring.writer(8);
    assert_eq!(
        w2.next_seq(),
        2,
        "seq 1 was touched by the dead writer and is never reused"
    );
    w2.publish(&payload_for(2)).unwrap();
    assert_eq!(drain(&mut r), (vec![2], 0, 1));
    assert_eq!(r.lost_total(), 0);
}

#[test]
fn failed_encode_reuses_the_seq() {
    let ring = TestRing::new("reuse");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    assert!(w.publish_with(|_| Err::<usize, ()>(())).is_err());
    assert!(matches!(
        w.publish_with(|_| Ok::<usize, ()>(MAX_PAYLOAD + 1)),
        Err(PublishError::Ring(RingError::PayloadTooLong { .. }))
    ));
    assert_eq!(w.publish(&payload_for(0)).unwrap(), 0);
    assert_eq!(drain(&mut r), (vec![0], 0, 0));
    assert!(matches!(
        w.publish(&[0u8; 249]),
        Err(RingError::PayloadTooLong { len: 249, .. })
    ));
}

fn write_bytes(path: &std::path::Path, off: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, off).unwrap();
}

#[test]
fn corrupted_or_foreign_headers_are_errors() {
    let ring = TestRing::new("corrupt");
    drop(ring.writer(8));

    let reopen = || RingReader::open_path(&ring.0, Start::Latest).map(|_| ());
    assert!(reopen().is_ok());

    write_bytes(&ring.0, OFF_VERSION as u64, &99u32.to_ne_bytes());
    assert!(matches!(
        reopen(),
        Err(RingError::LayoutVersion { found: 99, .. })
    ));
    assert!(matches!(
        RingWriter::open_path(&ring.0, 8, true).map(|_| ()),
        Err(RingError::LayoutVersion { .. })
    ));
    write_bytes(&ring.0, OFF_VERSION as u64, &LAYOUT_VERSION.to_ne_bytes());

    write_bytes(&ring.0, OFF_SLOT_COUNT as u64, &12u64.to_ne_bytes());
    assert!(matches!(reopen(), Err(RingError::Foreign { .. })));
    write_bytes(&ring.0, OFF_SLOT_COUNT as u64, &(1u64 << 40).to_ne_bytes());
    assert!(matches!(reopen(), Err(RingError::Foreign { .. })));
    write_bytes(&ring.0, OFF_SLOT_COUNT as u64, &16u64.to_ne_bytes());
    assert!(matches!(
        reopen(),
        Err(RingError::Geometry {
            field: "file size",
            ..
        })
    ));
    write_bytes(&ring.0, OFF_SLOT_COUNT as u64, &8u64.to_ne_bytes());

    write_bytes(&ring.0, OFF_SLOT_SIZE as u64, &128u32.to_ne_bytes());
    assert!(matches!(
        reopen(),
        Err(RingError::Geometry {
            field: "slot_size",
            ..
        })
    ));
    write_bytes(
        &ring.0,
        OFF_SLOT_SIZE as u64,
        &(SLOT_SIZE as u32).to_ne_bytes(),
    );
    assert!(reopen().is_ok());

    // A writer asking for another geometry is refused rather than resizing under readers.
    assert!(matches!(
        RingWriter::open_path(&ring.0, 16, true).map(|_| ()),
        Err(RingError::Geometry {
            field: "slot_count",
            found: 8,
            expected: 16,
            ..
        })
    ));

    write_bytes(&ring.0, 0, b"NOTARING");
    assert!(matches!(reopen(), Err(RingError::Foreign { .. })));
    assert!(matches!(
        RingWriter::open_path(&ring.0, 8, true).map(|_| ()),
        Err(RingError::Foreign { .. })
    ));

    std::fs::write(&ring.0, b"hello").unwrap();
    assert!(matches!(reopen(), Err(RingError::Foreign { .. })));
    // Reader and writer refuse a file shorter than the header the same way.
    for err in [
        reopen().unwrap_err(),
        RingWriter::open_path(&ring.0, 8, true)
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(
            err.to_string()
                .contains("file is 5 bytes, smaller than the 4096-byte header"),
            "{err}"
        );
    }
    std::fs::write(&ring.0, b"").unwrap();
    assert!(matches!(reopen(), Err(RingError::NotInitialised { .. })));
    std::fs::write(&ring.0, vec![0u8; HEADER_LEN + 3 * SLOT_SIZE]).unwrap();
    assert!(matches!(reopen(), Err(RingError::NotInitialised { .. })));
    // A writer re-initialises a file whose header was never written.
    assert!(RingWriter::open_path(&ring.0, 8, true).is_ok());
    assert!(reopen().is_ok());
}

#[test]
fn corrupted_slot_word_is_skipped_and_counted() {
    let ring = TestRing::new("badslot");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..2);
    write_bytes(
        &ring.0,
        HEADER_LEN as u64,
        &((1u64 << 8) | 250).to_ne_bytes(),
    );
    let mut buf = [0u8; MAX_PAYLOAD];
    assert_eq!(r.try_next(&mut buf), Next::Corrupt { seq: 0 });
    assert_eq!(
        r.try_next(&mut buf),
        Next::Message {
            seq: 1,
            len: payload_for(1).len()
        }
    );
    assert_eq!(r.corrupt_total(), 1);
}

#[test]
fn bad_names_and_slot_counts_are_refused() {
    for name in ["", "a/b", "../x", ".hidden", "sp ace", "é"] {
        assert!(
            matches!(ring_path(name), Err(RingError::BadName { .. })),
            "{name:?}"
        );
    }
    let msg = ring_path("ab/c").unwrap_err().to_string();
    assert!(msg.contains("position 2"), "{msg}");
    assert!(ring_path("shard-0.md_v1").is_ok());
    let ring = TestRing::new("slots");
    for slots in [0, 1, 3, 1000, MAX_SLOTS * 2] {
        assert!(matches!(
            RingWriter::open_path(&ring.0, slots, true).map(|_| ()),
            Err(RingError::BadSlotCount { .. })
        ));
    }
    assert!(matches!(
        RingReader::open_path(&ring.0, Start::Latest).map(|_| ()),
        Err(RingError::Io { .. })
    ));
    assert!(matches!(
        RingWriter::open_path(&ring.0, 8, false).map(|_| ()),
        Err(RingError::Io { .. })
    ));
}

#[test]
fn reader_notices_its_file_was_replaced() {
    let ring = TestRing::new("replaced");
    drop(ring.writer(8));
    let r = ring.reader(Start::Latest);
    assert!(!r.file_replaced());
    std::fs::remove_file(&ring.0).unwrap();
    assert!(r.file_replaced());
    drop(ring.writer(8));
    assert!(r.file_replaced());
    assert!(!RingReader::open_path(&ring.0, Start::Latest)
        .unwrap()
        .file_replaced());
}

/// Slot word of message `seq` as a writer commits it (for building corrupted files).
fn committed_word(seq: u64, len: u64) -> u64 {
    ((seq + 1) << 8) | len
}

fn write_slot_word(path: &std::path::Path, slot: u64, word: u64) {
    write_bytes(
        path,
        HEADER_LEN as u64 + slot * SLOT_SIZE as u64,
        &word.to_ne_bytes(),
    );
}

/// Poll at most `bound` times; the outcomes up to and including the first `Empty`, or `None` if
/// the reader never got there (the old reader spun on such slots forever).
fn poll_until_empty(r: &mut RingReader, bound: usize) -> Option<Vec<Next>> {
    let mut buf = [0u8; MAX_PAYLOAD];
    let mut out = Vec::new();
    for _ in 0..bound {
        let next = r.try_next(&mut buf);
        out.push(next);
        if next == Next::Empty {
            return Some(out);
        }
    }
    None
}

#[test]
fn a_ring_of_corrupted_words_is_skipped_up_to_the_cursor_not_spun_on() {
    let ring = TestRing::new("allbad");
    let mut w = ring.writer(8);
    publish_seqs(&mut w, 0..3);
    // Every slot: a length code no writer writes (the whole ring, also past the cursor).
    for slot in 0..8 {
        write_slot_word(&ring.0, slot, (5 << 8) | 250);
    }
    let mut r = ring.reader(Start::Oldest);
    let steps = poll_until_empty(&mut r, 100).expect("reader spun on corrupted slots");
    // Seqs 0..3 were published: those three are skipped and counted; beyond the cursor the
    // slots read as Empty (the writer will overwrite them), so the reader never passes it.
    assert_eq!(
        steps,
        vec![
            Next::Corrupt { seq: 0 },
            Next::Corrupt { seq: 1 },
            Next::Corrupt { seq: 2 },
            Next::Empty
        ]
    );
    assert_eq!((r.corrupt_total(), r.lost_total(), r.position()), (3, 0, 3));
    let err = r.last_corrupt().unwrap().to_string();
    assert!(
        err.contains(&ring.0.display().to_string())
            && err.contains("slot 2 (seq 2)")
            && err.contains("length code"),
        "{err}"
    );
    // Polling on stays bounded and quiet; the writer overwrites the slots and reading resumes.
    for _ in 0..1000 {
        assert_eq!(r.try_next(&mut [0u8; MAX_PAYLOAD]), Next::Empty);
    }
    publish_seqs(&mut w, 3..6);
    assert_eq!(drain(&mut r), (vec![3, 4, 5], 0, 0));
    assert_eq!(r.corrupt_total(), 3);
}

#[test]
fn seqs_from_the_future_or_another_slot_are_corrupt_not_a_loss() {
    let ring = TestRing::new("future");
    let mut w = ring.writer(8);
    publish_seqs(&mut w, 0..4);
    // Slot 1: a committed seq of this slot's residue far above the cursor (a "lap" that no
    // writer made); slot 2: a seq that belongs to slot 3; slot 3: "being written" far ahead.
    write_slot_word(&ring.0, 1, committed_word(1 + 8 * (1 << 40), 16));
    write_slot_word(&ring.0, 2, committed_word(11, 16));
    write_slot_word(&ring.0, 3, ((8 * 1000 + 3 + 1) << 8) | 0xFF);
    let mut r = ring.reader(Start::Oldest);
    let steps = poll_until_empty(&mut r, 100).expect("reader spun on future seqs");
    assert_eq!(
        steps,
        vec![
            Next::Message {
                seq: 0,
                len: payload_for(0).len()
            },
            Next::Corrupt { seq: 1 },
            Next::Corrupt { seq: 2 },
            Next::Corrupt { seq: 3 },
            Next::Empty
        ]
    );
    // Nothing was counted as lost: the old reader "lapped" to seq 2^43 and reported that loss.
    assert_eq!((r.lost_total(), r.corrupt_total(), r.position()), (0, 3, 4));
    let err = r.last_corrupt().unwrap().to_string();
    assert!(
        err.contains("slot 3 (seq 3)") && err.contains("ahead of the writer (write_cursor 4)"),
        "{err}"
    );
    r = ring.reader(Start::Oldest);
    let mut buf = [0u8; MAX_PAYLOAD];
    assert!(matches!(r.try_next(&mut buf), Next::Message { seq: 0, .. }));
    assert_eq!(r.try_next(&mut buf), Next::Corrupt { seq: 1 });
    assert_eq!(r.try_next(&mut buf), Next::Corrupt { seq: 2 });
    let err = r.last_corrupt().unwrap().to_string();
    assert!(err.contains("seq 11 belongs to another slot"), "{err}");
    // A real lap is still a lap, counted exactly.
    publish_seqs(&mut w, 4..40);
    let (got, lost, _) = drain(&mut r);
    assert_eq!(got.len() as u64 + lost, 40 - 3);
    assert_eq!(r.corrupt_total(), 2);
}

#[test]
fn a_slot_stuck_being_written_behind_the_cursor_is_skipped_within_a_bounded_number_of_polls() {
    let ring = TestRing::new("stuck");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..3);
    // Seq 1's slot shows "being written" forever, although the writer published up to 2.
    write_slot_word(&ring.0, 1, (2 << 8) | 0xFF);
    let mut buf = [0u8; MAX_PAYLOAD];
    assert!(matches!(r.try_next(&mut buf), Next::Message { seq: 0, .. }));
    let steps = poll_until_empty(&mut r, 10).unwrap();
    assert_eq!(steps, vec![Next::Empty]);
    // The old reader answered Empty forever: stuck at seq 1 while the writer moved on.
    let mut polls = 0;
    let skipped = loop {
        polls += 1;
        assert!(polls <= 2 * 64, "stuck slot never skipped");
        match r.try_next(&mut buf) {
            Next::Empty => continue,
            other => break other,
        }
    };
    assert_eq!(skipped, Next::Corrupt { seq: 1 });
    assert!(matches!(r.try_next(&mut buf), Next::Message { seq: 2, .. }));
    let err = r.last_corrupt().unwrap().to_string();
    assert!(
        err.contains("slot 1 (seq 1)") && err.contains("write_cursor 3"),
        "{err}"
    );
}

#[test]
fn a_writer_dead_mid_slot_is_empty_not_corrupt_and_reported_gone() {
    let ring = TestRing::new("deadmid");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..2);
    assert!(w.publish_with(|_| Err::<usize, ()>(())).is_err()); // slot of seq 2: "being written"
    drop(w);
    // The crash: the lock went with the process, the header still says "open".
    write_bytes(&ring.0, OFF_WRITER_STATE as u64, &WRITER_OPEN.to_ne_bytes());
    let (got, lost, _) = drain(&mut r);
    assert_eq!((got, lost), (vec![0, 1], 0));
    for _ in 0..1000 {
        assert_eq!(r.try_next(&mut [0u8; MAX_PAYLOAD]), Next::Empty);
    }
    assert_eq!(r.corrupt_total(), 0);
    assert_eq!(r.writer_state().unwrap(), WriterState::Gone);
}

#[test]
fn writer_state_tells_alive_closed_and_gone_without_taking_the_lock() {
    let ring = TestRing::new("alive");
    let w = ring.writer(8);
    let r = ring.reader(Start::Latest);
    // A quiet writer (nothing published) is alive; probing never takes its lock.
    for _ in 0..3 {
        assert_eq!(r.writer_state().unwrap(), WriterState::Alive);
    }
    assert!(matches!(
        RingWriter::open_path(&ring.0, 8, true).map(|_| ()),
        Err(RingError::WriterExists { .. })
    ));
    drop(w);
    assert_eq!(r.writer_state().unwrap(), WriterState::Closed);
    // A writer starting while readers probe gets in (the probe only tests the lock).
    let w2 = ring.writer(8);
    assert_eq!(r.writer_state().unwrap(), WriterState::Alive);
    drop(w2);
    write_bytes(&ring.0, OFF_WRITER_STATE as u64, &WRITER_OPEN.to_ne_bytes());
    assert_eq!(r.writer_state().unwrap(), WriterState::Gone);
}

#[test]
fn a_takeover_above_a_dead_writers_unfinished_slot_is_a_restart_not_corruption() {
    let ring = TestRing::new("takeover-stall");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    publish_seqs(&mut w, 0..2);
    assert!(w.publish_with(|_| Err::<usize, ()>(())).is_err());
    drain(&mut r);
    drop(w);
    let mut w2 = ring.writer(8);
    publish_seqs(&mut w2, 3..4);
    // Many polls, so the periodic stall check runs too: seq 2 is the dead writer's, not corrupt.
    let mut buf = [0u8; MAX_PAYLOAD];
    let mut seen = Vec::new();
    for _ in 0..200 {
        match r.try_next(&mut buf) {
            Next::Empty => {}
            other => seen.push(other),
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(matches!(seen[0], Next::Restarted { lost: 0, epoch: 2 }));
    assert!(matches!(seen[1], Next::Message { seq: 3, .. }));
    assert_eq!(r.corrupt_total(), 0);
}

#[test]
fn publish_watch_wakes_on_a_publish_and_times_out_without_one() {
    use std::time::{Duration, Instant};
    let ring = TestRing::new("watch");
    let mut w = ring.writer(8);
    let mut r = ring.reader(Start::Latest);
    // Nothing published: the whole timeout passes, and it says so.
    let t0 = Instant::now();
    assert!(!r.publish_watch().wait(Duration::from_millis(3)));
    assert!(t0.elapsed() >= Duration::from_millis(3));
    // A message from another thread ends the wait long before its timeout.
    let t0 = Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        w.publish(&payload_for(0)).unwrap();
        w
    });
    assert!(r.publish_watch().wait(Duration::from_secs(1)));
    assert!(t0.elapsed() < Duration::from_millis(500));
    let mut w = writer.join().unwrap();
    // Unread messages: no wait at all; read, and waiting starts again.
    assert!(r.publish_watch().wait(Duration::ZERO));
    assert_eq!(drain(&mut r).0, vec![0]);
    assert!(!r.publish_watch().wait(Duration::from_millis(1)));
    w.publish(&payload_for(1)).unwrap();
    assert!(r.publish_watch().wait(Duration::ZERO));
    // The timeout is bounded: a caller loops for longer waits.
    assert_eq!(MAX_WAIT, Duration::from_secs(1));
}
