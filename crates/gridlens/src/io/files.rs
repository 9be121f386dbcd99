//! Files of a set held open for positional reads, within the process's open-file limit.
//!
//! A set of 10,958 daily files would need 10,958 descriptors held open, and a desktop's
//! default soft limit is 1024. At first use the soft limit is raised to the hard limit (as
//! Go's runtime and many servers do); files beyond what that allows are opened for each
//! read and closed after it. A file is also checked against what was seen when it was
//! indexed (device, inode, size and modification time), so one replaced or rewritten since
//! then is reported instead of being read at offsets that no longer hold its chunks.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What identifies one version of a file: replaced files get another inode, rewritten ones
/// another size or modification time.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl FileStamp {
    pub fn of(md: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
        }
    }

    /// The stamp of the file at `path` now.
    ///
    /// # Errors
    /// When the file cannot be stat'ed (deleted, unreadable).
    pub fn read(path: &Path) -> std::io::Result<FileStamp> {
        Ok(FileStamp::of(&std::fs::metadata(path)?))
    }
}

/// Descriptors the process may hold open for sets, a margin below its soft limit.
fn budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: plain system calls on a local struct; failure leaves the limit as it is.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) != 0 {
                return 512;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        // leave room for the library, sockets, the app's own files
        (lim.rlim_cur as usize).saturating_sub(256).max(64)
    })
}

static HELD: AtomicUsize = AtomicUsize::new(0);

/// A file opened at first use and kept open while the budget allows.
#[derive(Debug)]
pub struct SetFile {
    path: PathBuf,
    stamp: FileStamp,
    file: OnceLock<File>,
}

impl SetFile {
    /// A file that was `stamp` when it was indexed; nothing is opened yet.
    pub fn new(path: PathBuf, stamp: FileStamp) -> SetFile {
        SetFile { path, stamp, file: OnceLock::new() }
    }

    /// A file already open (the first of a set, opened to index it).
    pub fn opened(path: PathBuf, file: File) -> std::io::Result<SetFile> {
        let stamp = FileStamp::of(&file.metadata()?);
        let f = SetFile::new(path, stamp);
        if HELD.fetch_add(1, Ordering::Relaxed) < budget() {
            let _ = f.file.set(file);
        } else {
            HELD.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(f)
    }

    pub fn stamp(&self) -> FileStamp {
        self.stamp
    }

    /// Runs `read` on the file: the one held open, or one opened for this read alone.
    ///
    /// # Errors
    /// When the file cannot be opened, was replaced or rewritten since it was indexed, or
    /// `read` fails.
    pub fn with<R>(&self, read: impl FnOnce(&File) -> std::io::Result<R>) -> std::io::Result<R> {
        if let Some(f) = self.file.get() {
            return read(f);
        }
        let f = File::open(&self.path)?;
        let now = FileStamp::of(&f.metadata()?);
        if now != self.stamp {
            return Err(std::io::Error::other(format!(
                "the file changed since it was opened (it was {} bytes, modified at {}; now {} bytes, modified at {}{})",
                self.stamp.size,
                self.stamp.mtime_ns / 1_000_000_000,
                now.size,
                now.mtime_ns / 1_000_000_000,
                if (now.dev, now.ino) != (self.stamp.dev, self.stamp.ino) { ", another file" } else { "" }
            )));
        }
        if HELD.fetch_add(1, Ordering::Relaxed) < budget() {
            if self.file.set(f).is_err() {
                // another thread opened it first: keep theirs
                HELD.fetch_sub(1, Ordering::Relaxed);
            }
            read(self.file.get().expect("set above"))
        } else {
            HELD.fetch_sub(1, Ordering::Relaxed);
            read(&f)
        }
    }
}

impl Drop for SetFile {
    fn drop(&mut self) {
        if self.file.get().is_some() {
            HELD.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
