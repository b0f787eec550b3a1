//! A unique ring file for tests (under /dev/shm, or the temp dir if it is missing), removed on
//! drop: the ring's own tests and those of the layers over it (admission, engine driver).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{RingReader, RingWriter, Start};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique ring file removed on drop; `tag` names the test in the file name.
pub(crate) struct TestRing(pub(crate) PathBuf);

impl TestRing {
    pub(crate) fn new(tag: &str) -> TestRing {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("shijim-ring-test.{}.{tag}.{n}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TestRing(path)
    }

    pub(crate) fn writer(&self, slots: u64) -> RingWriter {
        RingWriter::open_path(&self.0, slots, true).unwrap()
    }

    pub(crate) fn reader(&self, start: Start) -> RingReader {
        RingReader::open_path(&self.0, start).unwrap()
    }
}

impl Drop for TestRing {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
