//! Atomic output: a file or directory is written beside its target and renamed into place.
//!
//! This is the "write to a temporary, then rename" idiom that zarr-python, h5py users and
//! most editors rely on, packaged once for every sink. An [`AtomicTarget`] reserves the
//! temporary sibling `.<name>.gridlens-tmp-<host>-<pid>` of the target, refuses an existing target
//! unless overwriting, and on [`AtomicTarget::commit`] renames the temporary onto the target.
//! Until then nothing exists at the target, so a failed or cancelled job leaves no partial
//! file behind: [`AtomicTarget::abort`] (or dropping the value without committing) removes
//! the temporary. Temporaries left behind by killed or crashed processes of this host (whose
//! pid no longer runs) are removed the next time anyone writes to the same folder; those of
//! other hosts (a shared filesystem) are left alone, as their pids mean nothing here.

use crate::sink::SinkError;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The marker between a target's name and the owning process id in temporary names.
const TMP_MARKER: &str = ".gridlens-tmp-";

/// Why an atomic target could not be prepared or committed.
#[derive(Debug, thiserror::Error)]
pub enum AtomicError {
    /// The target exists and overwriting was not requested.
    #[error("{} already exists; pass --overwrite to replace it", target.display())]
    Exists {
        /// The target as given.
        target: PathBuf,
    },
    /// The directory that should hold the target does not exist.
    #[error("the directory {} for {} does not exist", dir.display(), target.display())]
    NoParent {
        /// The target as given.
        target: PathBuf,
        /// The directory that is missing.
        dir: PathBuf,
    },
    /// The target path has no file name (`/`, `..`).
    #[error("{} is not a file or directory name that can be written", target.display())]
    BadName {
        /// The target as given.
        target: PathBuf,
    },
    /// Another writer in this process holds the same temporary.
    #[error("{} is already being written by this process", target.display())]
    Busy {
        /// The target as given.
        target: PathBuf,
    },
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The target as given.
        target: PathBuf,
        /// What was being done, as a verb phrase (`rename`, `remove the old`).
        action: &'static str,
        /// The path the operation was applied to (often the temporary).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl AtomicError {
    /// The target this error concerns.
    pub fn target(&self) -> &Path {
        match self {
            AtomicError::Exists { target }
            | AtomicError::NoParent { target, .. }
            | AtomicError::BadName { target }
            | AtomicError::Busy { target }
            | AtomicError::Io { target, .. } => target,
        }
    }
}

impl From<AtomicError> for SinkError {
    fn from(e: AtomicError) -> SinkError {
        let target = e.target().display().to_string();
        let message = match &e {
            AtomicError::Exists { .. } => "already exists; pass --overwrite to replace it".to_string(),
            AtomicError::Busy { .. } => "is already being written by this process".to_string(),
            _ => e.to_string(),
        };
        SinkError::new(target, message)
    }
}

/// Where [`AtomicTarget`] is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Open,
    Committed,
    Aborted,
}

/// A reserved temporary sibling of an output target, renamed onto the target on commit.
///
/// The temporary itself is created by the caller (a file or a directory) at
/// [`AtomicTarget::temp_path`]. Safe to share between threads: commit and abort may be
/// called from any thread, and only the first of them has an effect.
#[derive(Debug)]
pub struct AtomicTarget {
    target: PathBuf,
    temp: PathBuf,
    overwrite: bool,
    state: Mutex<State>,
}

/// Temporaries reserved by live [`AtomicTarget`]s of this process (their pid is alive, so
/// the stale-temporary sweep cannot tell them from our own leftovers).
fn reserved() -> &'static Mutex<HashSet<PathBuf>> {
    static RESERVED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    RESERVED.get_or_init(Default::default)
}

impl AtomicTarget {
    /// Reserves the temporary for `target`: checks that the target may be written, and
    /// removes stale temporaries of the same target left by processes that no longer run.
    ///
    /// # Errors
    /// [`AtomicError::Exists`] when the target exists and `overwrite` is false;
    /// [`AtomicError::NoParent`] when the target's directory does not exist;
    /// [`AtomicError::Busy`] when this process is already writing the same target.
    pub fn new(target: &Path, overwrite: bool) -> Result<AtomicTarget, AtomicError> {
        let name = match target.file_name() {
            Some(n) if n != ".." => n.to_string_lossy().into_owned(),
            _ => {
                return Err(AtomicError::BadName { target: target.to_path_buf() });
            }
        };
        let dir = parent_dir(target);
        if !dir.is_dir() {
            return Err(AtomicError::NoParent { target: target.to_path_buf(), dir });
        }
        // symlink_metadata: a dangling symlink at the target still counts as "exists".
        if !overwrite && target.symlink_metadata().is_ok() {
            return Err(AtomicError::Exists { target: target.to_path_buf() });
        }
        let temp = dir.join(format!(".{name}{TMP_MARKER}{}-{}", host(), std::process::id()));
        {
            let mut set = reserved().lock().unwrap_or_else(|p| p.into_inner());
            if !set.insert(temp.clone()) {
                return Err(AtomicError::Busy { target: target.to_path_buf() });
            }
        }
        // From here on `Drop` releases the reservation, also on the error paths below.
        let this = AtomicTarget { target: target.to_path_buf(), temp, overwrite, state: Mutex::new(State::Open) };
        remove_stale_temporaries(&dir);
        // A temporary with our own pid that nobody reserved is a leftover of this process
        // (a value that was leaked instead of dropped): it is as stale as a dead pid's.
        remove_any(&this.temp);
        remove_any(&aside_path(&this.temp));
        Ok(this)
    }

    /// The target as given.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary sibling to write: `.<name>.gridlens-tmp-<host>-<pid>` in the target's directory.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Creates the temporary as an empty file opened for reading and writing.
    ///
    /// # Errors
    /// [`AtomicError::Io`] when the file cannot be created.
    pub fn create_file(&self) -> Result<std::fs::File, AtomicError> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.temp)
            .map_err(|e| self.io("create the temporary file", &self.temp, e))
    }

    /// Creates the temporary as an empty directory.
    ///
    /// # Errors
    /// [`AtomicError::Io`] when the directory cannot be created.
    pub fn create_dir(&self) -> Result<(), AtomicError> {
        std::fs::create_dir(&self.temp).map_err(|e| self.io("create the temporary directory", &self.temp, e))
    }

    /// Whether [`AtomicTarget::commit`] has succeeded.
    pub fn is_committed(&self) -> bool {
        *self.lock() == State::Committed
    }

    /// Renames the temporary onto the target and returns the target's path.
    ///
    /// A file replaces an existing file in one `rename`. When a directory is involved
    /// (either side), the old target is first renamed aside, the temporary renamed into
    /// place, and the old one removed afterwards; the target is missing only between the
    /// two renames, and a failure of the second rename puts the old target back.
    /// Calling `commit` again after success returns the target again.
    ///
    /// # Errors
    /// [`AtomicError::Exists`] when the target appeared meanwhile and overwriting is off;
    /// [`AtomicError::Io`] when a rename fails. The temporary is then removed, so nothing
    /// new is left behind.
    pub fn commit(&self) -> Result<PathBuf, AtomicError> {
        let mut state = self.lock();
        match *state {
            State::Committed => return Ok(self.target.clone()),
            State::Aborted => {
                return Err(self.io("commit the aborted", &self.temp, io::Error::other("the write was aborted before commit")));
            }
            State::Open => {}
        }
        let result = self.rename_into_place();
        *state = match &result {
            Ok(()) => State::Committed,
            Err(_) => {
                remove_any(&self.temp);
                State::Aborted
            }
        };
        result.map(|()| self.target.clone())
    }

    fn rename_into_place(&self) -> Result<(), AtomicError> {
        if self.temp.symlink_metadata().is_err() {
            return Err(self.io("find the temporary", &self.temp, io::Error::from(io::ErrorKind::NotFound)));
        }
        let existing = self.target.symlink_metadata().ok();
        match existing {
            None => {
                if self.temp.is_dir() {
                    // rename(2) of a directory never replaces a non-empty directory, and the
                    // check above makes an empty one unlikely: good enough for "no replace".
                    std::fs::rename(&self.temp, &self.target).map_err(|e| self.io("rename", &self.temp, e))
                } else {
                    // A hard link fails if the target appeared meanwhile, unlike rename.
                    match std::fs::hard_link(&self.temp, &self.target) {
                        Ok(()) => {
                            let _ = std::fs::remove_file(&self.temp);
                            Ok(())
                        }
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(AtomicError::Exists { target: self.target.clone() }),
                        // File systems without hard links (FAT, some network mounts).
                        Err(_) => std::fs::rename(&self.temp, &self.target).map_err(|e| self.io("rename", &self.temp, e)),
                    }
                }
            }
            Some(_) if !self.overwrite => Err(AtomicError::Exists { target: self.target.clone() }),
            Some(meta) if !meta.is_dir() && !self.temp.is_dir() => {
                // File over file: rename(2) replaces the target atomically.
                std::fs::rename(&self.temp, &self.target).map_err(|e| self.io("rename", &self.temp, e))
            }
            Some(_) => {
                let aside = aside_path(&self.temp);
                remove_any(&aside);
                std::fs::rename(&self.target, &aside).map_err(|e| self.io("move aside the old", &self.target, e))?;
                if let Err(e) = std::fs::rename(&self.temp, &self.target) {
                    let _ = std::fs::rename(&aside, &self.target);
                    return Err(self.io("rename", &self.temp, e));
                }
                remove_any(&aside);
                Ok(())
            }
        }
    }

    /// Removes the temporary (file or directory). Does nothing after a commit or a
    /// previous abort.
    pub fn abort(&self) {
        let mut state = self.lock();
        if *state == State::Open {
            remove_any(&self.temp);
            *state = State::Aborted;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent (it is one word).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn io(&self, action: &'static str, path: &Path, source: io::Error) -> AtomicError {
        AtomicError::Io { target: self.target.clone(), action, path: path.to_path_buf(), source }
    }
}

impl Drop for AtomicTarget {
    fn drop(&mut self) {
        self.abort();
        reserved().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.temp);
    }
}

/// The directory holding `target` (`.` for a bare file name).
fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Where an old target waits while its replacement is renamed into place.
fn aside_path(temp: &Path) -> PathBuf {
    let mut s = temp.as_os_str().to_owned();
    s.push(".old");
    PathBuf::from(s)
}

/// Removes a file, symlink or directory tree; a missing path is fine. Best effort:
/// failures to clean up must not hide the error that caused the clean-up.
fn remove_any(path: &Path) {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// This machine's name as it goes into temporaries' names: letters, digits and `_` only.
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let clean: String = name.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        if clean.is_empty() { "host".into() } else { clean }
    })
}

/// The host and pid in a temporary's file name `.<name>.gridlens-tmp-<host>-<pid>[.old]` (any
/// target). Names written before hosts were recorded (`…-tmp-<pid>`) count as this host's.
fn temp_owner(file_name: &str) -> Option<(&str, u32)> {
    if !file_name.starts_with('.') {
        return None;
    }
    let rest = &file_name[file_name.rfind(TMP_MARKER)? + TMP_MARKER.len()..];
    let rest = rest.strip_suffix(".old").unwrap_or(rest);
    let (host_part, digits) = match rest.rsplit_once('-') {
        Some((h, d)) => (h, d),
        None => (host(), rest),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || host_part.is_empty() {
        return None;
    }
    Some((host_part, digits.parse().ok()?))
}

/// Whether process `pid` is running. Without `/proc` (not Linux) every process counts as
/// alive, so nothing is removed that might still be in use.
fn pid_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the temporaries in `dir`, of any target, whose process on this host no longer runs.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if let Some((h, pid)) = temp_owner(file_name)
            && h == host()
            && pid != std::process::id()
            && !pid_alive(pid)
        {
            remove_any(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_file(path: &Path, text: &str) {
        std::fs::File::create(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    /// A pid that is certainly not running: above the kernel's pid_max.
    fn dead_pid() -> u32 {
        let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(4_194_304);
        max + 1
    }

    #[test]
    fn file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.npy");
        let t = AtomicTarget::new(&target, false).unwrap();
        assert_eq!(t.temp_path(), dir.path().join(format!(".out.npy.gridlens-tmp-{}-{}", host(), std::process::id())));
        let mut f = t.create_file().unwrap();
        f.write_all(b"hello").unwrap();
        drop(f);
        assert!(!target.exists());
        assert_eq!(t.commit().unwrap(), target);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello");
        assert!(!t.temp_path().exists());
        // a second commit is harmless, abort after commit does nothing
        assert_eq!(t.commit().unwrap(), target);
        t.abort();
        assert!(target.exists());
    }

    #[test]
    fn abort_and_drop_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.zarr");
        let t = AtomicTarget::new(&target, false).unwrap();
        t.create_dir().unwrap();
        write_file(&t.temp_path().join("zarr.json"), "{}");
        t.abort();
        assert!(!t.temp_path().exists());
        assert!(!target.exists());
        assert!(t.commit().is_err(), "an aborted target cannot be committed");
        drop(t);

        let t = AtomicTarget::new(&target, false).unwrap();
        let temp = t.temp_path().to_path_buf();
        t.create_file().unwrap();
        drop(t);
        assert!(!temp.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn existing_target_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("result.npy");
        write_file(&target, "old");
        let err = AtomicTarget::new(&target, false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&target.display().to_string()), "{msg}");
        assert!(msg.contains("--overwrite"), "{msg}");
        let sink_err = SinkError::from(err);
        assert_eq!(sink_err.target, target.display().to_string());
        assert!(sink_err.to_string().contains("--overwrite"));
    }

    #[test]
    fn target_appearing_before_commit_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("late.npy");
        let t = AtomicTarget::new(&target, false).unwrap();
        write_file(t.temp_path(), "new");
        write_file(&target, "someone else's");
        assert!(matches!(t.commit(), Err(AtomicError::Exists { .. })));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "someone else's");
        assert!(!t.temp_path().exists());
    }

    #[test]
    fn overwrite_replaces_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.png");
        write_file(&file, "old");
        let t = AtomicTarget::new(&file, true).unwrap();
        write_file(t.temp_path(), "new");
        t.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");

        let store = dir.path().join("b.zarr");
        std::fs::create_dir(&store).unwrap();
        write_file(&store.join("stale-chunk"), "old");
        let t = AtomicTarget::new(&store, true).unwrap();
        t.create_dir().unwrap();
        write_file(&t.temp_path().join("zarr.json"), "{}");
        t.commit().unwrap();
        assert!(store.join("zarr.json").exists());
        assert!(!store.join("stale-chunk").exists(), "the old store is replaced, not merged");
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2, "no temporaries or old copies remain: {names:?}");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.npy");
        let dead = dir.path().join(format!(".x.npy.gridlens-tmp-{}-{}", host(), dead_pid()));
        let dead_dir = dir.path().join(format!(".x.npy.gridlens-tmp-{}-{}.old", host(), dead_pid()));
        // pid 1 always runs: its temporary must survive
        let alive = dir.path().join(format!(".x.npy.gridlens-tmp-{}-1", host()));
        // another target's, in the same folder, and one written before hosts were recorded
        let other = dir.path().join(format!(".y.zarr.gridlens-tmp-{}-{}", host(), dead_pid()));
        let legacy = dir.path().join(format!(".z.h5.gridlens-tmp-{}", dead_pid()));
        // another host's (a shared filesystem): its pid says nothing here
        let elsewhere = dir.path().join(format!(".x.npy.gridlens-tmp-otherhost-{}", dead_pid()));
        write_file(&dead, "");
        std::fs::create_dir(&dead_dir).unwrap();
        for p in [&alive, &other, &legacy, &elsewhere] {
            write_file(p, "");
        }
        let t = AtomicTarget::new(&target, false).unwrap();
        assert!(!dead.exists());
        assert!(!dead_dir.exists());
        assert!(alive.exists());
        assert!(!other.exists(), "a dead process's temporary of another target in the folder is garbage too");
        assert!(!legacy.exists());
        assert!(elsewhere.exists(), "another host's temporaries are left alone");
        drop(t);
    }

    #[test]
    fn same_target_twice_in_one_process_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("busy.npy");
        let t = AtomicTarget::new(&target, false).unwrap();
        assert!(matches!(AtomicTarget::new(&target, false), Err(AtomicError::Busy { .. })));
        drop(t);
        AtomicTarget::new(&target, false).unwrap();
    }

    #[test]
    fn missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("no/such/dir/out.npy");
        let err = AtomicTarget::new(&target, false).unwrap_err();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }

    #[test]
    fn temporary_names_parse() {
        assert_eq!(temp_owner(".a.npy.gridlens-tmp-node_7-123"), Some(("node_7", 123)));
        assert_eq!(temp_owner(".a.npy.gridlens-tmp-my-host-123.old"), Some(("my-host", 123)));
        assert_eq!(temp_owner(".a.npy.gridlens-tmp-123"), Some((host(), 123)));
        assert_eq!(temp_owner(".a.npy.gridlens-tmp-"), None);
        assert_eq!(temp_owner(".a.npy.gridlens-tmp-h-12x"), None);
        assert_eq!(temp_owner("a.npy.gridlens-tmp-h-123"), None);
        assert_eq!(temp_owner(".a.npy"), None);
    }
}
