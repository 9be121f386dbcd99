//! The index cache: what indexing a set of files found (each file's chunk index, length
//! and time values), kept under the user's cache directory so that opening the set again
//! reads one file instead of thousands.
//!
//! One cache file per set (`$XDG_CACHE_HOME/gridlens/index/<key>.json`, keyed by the
//! absolute glob and the dataset), holding one entry per member file with the stamp the
//! file had when indexed ([`FileStamp`]: device, inode, size, modification time). An entry
//! is used only when the file's stamp is the same now; a changed, truncated or replaced
//! file is indexed again, a deleted one is no longer matched by the glob, a new one is
//! indexed. A cache file that cannot be read or parsed, or that was written for another
//! template, is ignored (with a note) and replaced: it is never trusted over the files.

use super::index::{Member, Template};
use super::reader::ChunkIndex;
use crate::io::files::FileStamp;
use crate::source::Coordinate;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The version of the cache format; files of another version are ignored.
const VERSION: u32 = 1;

/// One member file as indexed.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Entry {
    path: PathBuf,
    stamp: FileStamp,
    shape: Vec<usize>,
    index: ChunkIndex,
    time: Option<Coordinate>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    /// What the set's first file looked like: entries are valid only for the same.
    template: Template,
    decode_cf: bool,
    entries: Vec<Entry>,
}

/// The index cache of one set.
pub(crate) struct IndexCache {
    path: PathBuf,
    template: Template,
    decode_cf: bool,
    entries: HashMap<PathBuf, Entry>,
}

/// The cache directory: `$XDG_CACHE_HOME/gridlens/index` (`~/.cache/...` without it). The
/// unit tests keep theirs out of the user's cache: one per process, or one per thread that
/// asks for its own.
fn directory() -> Option<PathBuf> {
    #[cfg(test)]
    return Some(
        TEST_DIRECTORY
            .with(|d| d.borrow().clone())
            .unwrap_or_else(|| std::env::temp_dir().join(format!("gridlens-index-tests-{}", std::process::id()))),
    );
    #[cfg(not(test))]
    {
        let base = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute()).or_else(dirs::cache_dir)?;
        Some(base.join("gridlens").join("index"))
    }
}

#[cfg(test)]
thread_local! {
    static TEST_DIRECTORY: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
    static LAST_HITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Gives this thread's sets a cache directory of their own (tests only).
#[cfg(test)]
pub(crate) fn set_directory_for_tests(dir: Option<PathBuf>) {
    TEST_DIRECTORY.with(|d| *d.borrow_mut() = dir);
}

/// Members the last set this thread opened took from its cache (tests only).
#[cfg(test)]
pub(crate) fn last_hits_for_tests() -> usize {
    LAST_HITS.with(|h| h.get())
}

/// Records how many members a set took from its cache (tests only).
#[cfg(test)]
pub(crate) fn record_hits_for_tests(n: usize) {
    LAST_HITS.with(|h| h.set(n));
}

impl IndexCache {
    /// The cache of the set `pattern` (as given: a glob or a list's first path) and
    /// `template`'s dataset, loaded if there is one; `None` when there is no cache directory.
    pub fn open(pattern: &str, template: &Template, decode_cf: bool) -> Option<IndexCache> {
        let dir = directory()?;
        let absolute = std::path::absolute(pattern).unwrap_or_else(|_| PathBuf::from(pattern));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (absolute.as_os_str(), &template.dataset, decode_cf, VERSION).hash(&mut h);
        let path = dir.join(format!("{:016x}.json", h.finish()));
        let mut cache = IndexCache { path, template: template.clone(), decode_cf, entries: HashMap::new() };
        match std::fs::read(&cache.path) {
            Ok(bytes) => match serde_json::from_slice::<CacheFile>(&bytes) {
                Ok(f) if f.version == VERSION && f.template == *template && f.decode_cf == decode_cf => {
                    cache.entries = f.entries.into_iter().map(|e| (e.path.clone(), e)).collect();
                }
                Ok(_) => {} // another layout or version: indexed again and replaced
                Err(e) => eprintln!("note: ignoring the index cache {}: {e}", cache.path.display()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("note: ignoring the index cache {}: {e}", cache.path.display()),
        }
        Some(cache)
    }

    /// The cached index of `path`, when the file is as it was when indexed.
    pub fn get(&self, path: &Path) -> Option<(FileStamp, Member)> {
        let e = self.entries.get(&Self::key(path))?;
        let now = FileStamp::read(path).ok()?;
        (now == e.stamp).then(|| (now, Member { shape: e.shape.clone(), index: e.index.clone(), time: e.time.clone() }))
    }

    /// Records a file's index.
    pub fn put(&mut self, path: &Path, stamp: FileStamp, member: &Member) {
        let key = Self::key(path);
        let entry = Entry { path: key.clone(), stamp, shape: member.shape.clone(), index: member.index.clone(), time: member.time.clone() };
        self.entries.insert(key, entry);
    }

    /// Files with an entry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn key(path: &Path) -> PathBuf {
        std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
    }

    /// Writes the cache for the files of the set as opened now (entries of other files are
    /// dropped), through a temporary renamed into place; a failure is only a note.
    pub fn save(mut self, files: &[PathBuf]) {
        let keep: std::collections::HashSet<PathBuf> = files.iter().map(|f| Self::key(f)).collect();
        self.entries.retain(|k, _| keep.contains(k));
        let mut entries: Vec<Entry> = self.entries.into_values().collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let file = CacheFile { version: VERSION, template: self.template, decode_cf: self.decode_cf, entries };
        let write = || -> std::io::Result<()> {
            let dir = self.path.parent().expect("the cache file is in a directory");
            std::fs::create_dir_all(dir)?;
            let tmp = self.path.with_extension(format!("json.tmp-{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec(&file).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, &self.path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(self.path.with_extension(format!("json.tmp-{}", std::process::id())));
            eprintln!("note: cannot write the index cache {}: {e}", self.path.display());
        }
    }
}
