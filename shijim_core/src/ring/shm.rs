//! The shared-memory file: naming, opening, locking, mapping, and typed atomic access to it.
//! All `unsafe` of the ring lives here and in the slot copy routines of `writer`/`reader`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64};

use memmap2::{MmapOptions, MmapRaw};

use super::error::RingError;
use super::layout::{HEADER_LEN, SLOT_SIZE};

/// Where ring files live: `$SHIJIM_RING_DIR` if set (tests, hosts without /dev/shm), else /dev/shm.
pub fn ring_dir() -> PathBuf {
    std::env::var_os("SHIJIM_RING_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/shm"))
}

/// `<ring dir>/shijim-ring.<name>` after checking the name is a plain file name.
pub fn ring_path(name: &str) -> Result<PathBuf, RingError> {
    let bad = |reason: String| RingError::BadName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name.len() > 200 {
        return Err(bad(format!("length {} not in 1..=200", name.len())));
    }
    if let Some((pos, ch)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(bad(format!(
            "character {ch:?} at position {pos}; use letters, digits, '_', '-', '.'"
        )));
    }
    if name.starts_with('.') {
        return Err(bad("must not start with '.'".to_string()));
    }
    Ok(ring_dir().join(format!("shijim-ring.{name}")))
}

/// Remove a ring's file (readers already attached keep their mapping until they drop it).
pub fn unlink_ring(name: &str) -> Result<bool, RingError> {
    let path = ring_path(name)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(RingError::Io {
            path,
            op: "unlink",
            source,
        }),
    }
}

pub(crate) fn io_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> RingError + 'a {
    move |source| RingError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// The writer lock's range: the whole file. An open-file-description (OFD) record lock, not
/// `flock`, because another process can *test* it (F_OFD_GETLK) without ever holding it: a
/// reader's liveness probe can never block a writer that is starting, nor be blocked by one.
fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers; all-zero is a valid value of it
    // (l_pid must be 0 for OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0; // to the end of the file, however it grows
    fl
}

/// Open (optionally create) the file for the writer and take the exclusive writer lock.
/// The returned flag is false if another process holds the lock.
pub(crate) fn open_for_writer(path: &Path, create: bool) -> Result<(File, bool), RingError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o644)
        .open(path)
        .map_err(io_err(path, "open for writing"))?;
    let mut fl = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl on a file descriptor we own with a valid, initialised `flock`; no memory
    // of ours but `fl` is touched. F_OFD_SETLK never waits. The lock belongs to this open file
    // description: it conflicts with any other open of the file (this process included) and
    // is released when the description is closed, however the process ends.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) {
            return Ok((file, false));
        }
        return Err(RingError::Io {
            path: path.to_path_buf(),
            op: "fcntl(F_OFD_SETLK) writer lock",
            source: err,
        });
    }
    Ok((file, true))
}

pub(crate) fn file_len(file: &File, path: &Path) -> Result<u64, RingError> {
    Ok(file.metadata().map_err(io_err(path, "stat"))?.size())
}

/// A mapping of a whole ring file. Offsets handed to the accessors come from layout constants or
/// from slot indices masked by the validated slot count, so they are always inside the mapping.
pub(crate) struct Region {
    map: MmapRaw,
    len: usize,
    pub(crate) path: PathBuf,
    // Keeps the fd (and with it the writer's lock) alive as long as the mapping.
    file: File,
}

impl Region {
    pub(crate) fn map(file: File, path: PathBuf, writable: bool) -> Result<Region, RingError> {
        let opts = MmapOptions::new();
        let map = if writable {
            opts.map_raw(&file)
        } else {
            opts.map_raw_read_only(&file)
        }
        .map_err(io_err(&path, "mmap"))?;
        let len = map.len();
        if len < HEADER_LEN {
            return Err(RingError::Foreign {
                path,
                reason: format!("file is {len} bytes, smaller than the {HEADER_LEN}-byte header"),
            });
        }
        Ok(Region {
            map,
            len,
            path,
            file,
        })
    }

    /// True while some writer holds the ring's writer lock. Tests the lock (F_OFD_GETLK) and
    /// never takes it, so it cannot block or delay a writer that is starting; one syscall.
    pub(crate) fn writer_lock_held(&self) -> Result<bool, RingError> {
        // Ask whether a read lock could be placed: only a writer's write lock conflicts.
        let mut fl = whole_file(libc::F_RDLCK);
        // SAFETY: fcntl on the fd this region owns with a valid `flock` it fills in; F_OFD_GETLK
        // only reports, it places no lock and never waits (works on a read-only fd).
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
        if rc != 0 {
            return Err(RingError::Io {
                path: self.path.clone(),
                op: "fcntl(F_OFD_GETLK) writer probe",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The atomic u64 at byte `off`.
    #[inline(always)]
    pub(crate) fn u64_at(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off % 8 == 0 && off + 8 <= self.len);
        // SAFETY: `off` is 8-aligned (layout constants, 4096 + i*256 + 8*k) and inside the mapping
        // (see the struct comment); mmap returns page-aligned memory, so the address is aligned
        // for AtomicU64. The mapping lives as long as `self`. Other processes only ever access
        // these words atomically (or, for payload, through the seqlock protocol), and loads from
        // a read-only mapping are allowed for lock-free atomics of native width.
        unsafe { &*(self.map.as_ptr().add(off) as *const AtomicU64) }
    }

    /// The atomic u32 at byte `off`.
    #[inline(always)]
    pub(crate) fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % 4 == 0 && off + 4 <= self.len);
        // SAFETY: as for `u64_at`, with 4-byte alignment.
        unsafe { &*(self.map.as_ptr().add(off) as *const AtomicU32) }
    }

    /// Raw pointer to slot `index`'s first byte (its word). `index` < validated slot count.
    #[inline(always)]
    pub(crate) fn slot_ptr(&self, index: usize) -> *mut u8 {
        let off = HEADER_LEN + index * SLOT_SIZE;
        debug_assert!(off + SLOT_SIZE <= self.len);
        // SAFETY: in bounds by the caller's contract (index masked by slot_count - 1, and the
        // mapping length was checked against file_len(slot_count) when the ring was opened).
        unsafe { self.map.as_mut_ptr().add(off) }
    }
}
