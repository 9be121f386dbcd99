//! The in-app file browser: works on any desktop (and in tests), where a native dialog
//! may not exist. Directories are listed on a background thread.

use crossbeam_channel::{Receiver, bounded};
use std::path::{Path, PathBuf};

/// One entry of a listed directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
    pub size_bytes: u64,
    /// An array file gridlens can open (a `.zarr` directory counts as a file).
    pub openable: bool,
}

/// What the browser is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrowseMode {
    /// Pick one or more files to open.
    Open,
    /// Pick a target path for an export.
    Save,
}

/// The browser's state.
pub struct Browser {
    pub mode: BrowseMode,
    pub dir: PathBuf,
    pub path_text: String,
    pub entries: Vec<Entry>,
    pub selected: Vec<PathBuf>,
    pub error: Option<String>,
    pub file_name: String,
    listing: Option<Receiver<Result<Vec<Entry>, String>>>,
}

/// Extensions of files the browser offers to open.
pub const OPENABLE: [&str; 10] = gridlens::io::READABLE_EXTENSIONS;

impl Browser {
    pub fn new(mode: BrowseMode, dir: PathBuf, repaint: impl Fn() + Send + 'static) -> Browser {
        let mut b = Browser {
            mode,
            path_text: dir.display().to_string(),
            dir: dir.clone(),
            entries: vec![],
            selected: vec![],
            error: None,
            file_name: String::new(),
            listing: None,
        };
        b.go(dir, repaint);
        b
    }

    /// Lists `dir` in the background.
    pub fn go(&mut self, dir: PathBuf, repaint: impl Fn() + Send + 'static) {
        let (tx, rx) = bounded(1);
        let d = dir.clone();
        std::thread::spawn(move || {
            let _ = tx.send(list(&d));
            repaint();
        });
        self.dir = dir;
        self.path_text = self.dir.display().to_string();
        self.selected.clear();
        self.listing = Some(rx);
    }

    /// Picks up a finished listing. Returns whether one arrived.
    pub fn poll(&mut self) -> bool {
        let Some(rx) = &self.listing else { return false };
        match rx.try_recv() {
            Ok(Ok(entries)) => {
                self.entries = entries;
                self.error = None;
                self.listing = None;
                true
            }
            Ok(Err(e)) => {
                self.entries.clear();
                self.error = Some(e);
                self.listing = None;
                true
            }
            Err(_) => false,
        }
    }

    pub fn is_loading(&self) -> bool {
        self.listing.is_some()
    }

    pub fn toggle(&mut self, path: &Path) {
        if let Some(i) = self.selected.iter().position(|p| p == path) {
            self.selected.remove(i);
        } else {
            self.selected.push(path.to_path_buf());
        }
    }
}

fn list(dir: &Path) -> Result<Vec<Entry>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out: Vec<Entry> = rd
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let path = e.path();
            let meta = e.metadata().ok();
            let ext = path.extension().map(|x| x.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            let openable = OPENABLE.contains(&ext.as_str());
            let is_dir = meta.as_ref().is_some_and(|m| m.is_dir()) && ext != "zarr";
            Entry {
                name: e.file_name().to_string_lossy().into_owned(),
                size_bytes: meta.map(|m| m.len()).unwrap_or(0),
                path,
                is_dir,
                openable,
            }
        })
        .collect();
    out.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Opens the desktop's file dialog through the XDG portal on a background thread; the app
/// opens what was picked on its next frame. Where no portal runs nothing appears, and the
/// in-app browser stays the way to open files.
pub fn system_dialog(picked: std::sync::Arc<std::sync::Mutex<Vec<String>>>, repaint: impl Fn() + Send + 'static) {
    std::thread::spawn(move || {
        let files = pollster::block_on(rfd::AsyncFileDialog::new().add_filter("arrays", &OPENABLE).pick_files());
        if let Some(files) = files {
            picked.lock().expect("picked files lock").extend(files.iter().map(|f| f.path().display().to_string()));
            repaint();
        }
    });
}
