//! [`Hdf5Sink`]: writes a computed array into a new HDF5 file, or as a new dataset of an
//! existing one, block by block (dask's `to_hdf5` target), atomically.
//!
//! Everything is written to a temporary sibling `.<name>.gridlens-tmp-<pid>` of the target
//! (for a new dataset in an existing file, a copy of that file), and only
//! [`Sink::commit`] renames it over the target: an error or a cancel never leaves a partial
//! file at the target, nor damages an existing one. Temporaries left by processes that died
//! are removed when a new sink for the same target is created.

use super::reader::open_file;
use crate::block::Block;
use crate::chunks::Region;
use crate::dtype::DType;
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{AttrValue, fmt_shape};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Name of the dataset written when the target names none.
pub const DEFAULT_DATASET: &str = "/data";

/// Storage chunks are at most this large unless the caller asks for a chunk shape.
const MAX_CHUNK_BYTES: usize = 4 << 20;

/// Temporaries of this process's live sinks, so that a second sink for the same target
/// is refused instead of writing into the first one's file.
fn active_temporaries() -> MutexGuard<'static, HashSet<PathBuf>> {
    static ACTIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(HashSet::new())).lock().unwrap_or_else(|e| e.into_inner())
}

/// The temporary of `target` for this process: `.<target name>.gridlens-tmp-<pid>`.
fn temporary_for(target: &Path) -> Option<PathBuf> {
    let name = target.file_name()?.to_string_lossy();
    Some(target.with_file_name(format!(".{name}.gridlens-tmp-{}", std::process::id())))
}

/// Whether process `pid` is alive; `None` when this system cannot tell (no `/proc`).
fn process_alive(pid: u32) -> Option<bool> {
    let proc_dir = Path::new("/proc");
    proc_dir.join("self").exists().then(|| proc_dir.join(pid.to_string()).exists())
}

/// Removes temporaries of `target` left by processes that no longer run.
fn remove_stale_temporaries(target: &Path) {
    let (Some(name), Some(dir)) = (target.file_name(), target.parent()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{}.gridlens-tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let active = active_temporaries();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path();
        let stale = if pid == std::process::id() {
            // Ours but not held by a live sink: left by an earlier process with our pid.
            !active.contains(&target.with_file_name(&file_name))
        } else {
            process_alive(pid) == Some(false)
        };
        if stale {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The storage chunk shape: the caller's, else the output's block shape, capped so that a
/// chunk holds at most [`MAX_CHUNK_BYTES`] (leading axes shrink first) and clamped to the shape.
pub(crate) fn chunk_shape(spec: &SinkSpec, opts: &WriteOptions) -> Result<Vec<usize>, String> {
    let shape = &spec.shape;
    let chunk = match &opts.chunk_shape {
        Some(c) => {
            if c.len() != shape.len() {
                return Err(format!("chunk shape {} has {} axes but the array has {}", fmt_shape(c), c.len(), shape.len()));
            }
            if c.contains(&0) {
                return Err(format!("chunk shape {} has a zero length", fmt_shape(c)));
            }
            c.clone()
        }
        None => {
            let mut c = spec.chunks.max_block_shape();
            if c.len() != shape.len() {
                c = shape.clone();
            }
            let item = spec.dtype.size_bytes();
            for d in 0..c.len() {
                let inner: usize = c[d + 1..].iter().map(|&x| x.max(1)).product::<usize>() * item;
                if c[d..].iter().map(|&x| x.max(1)).product::<usize>() * item <= MAX_CHUNK_BYTES {
                    break;
                }
                c[d] = (MAX_CHUNK_BYTES / inner.max(1)).max(1).min(c[d]);
            }
            c
        }
    };
    // HDF5 refuses chunks longer than a fixed-size axis.
    Ok(chunk.iter().zip(shape).map(|(&c, &n)| c.clamp(1, n.max(1))).collect())
}

/// Where a sink is in its life. Only `Pending` and `Open` own the temporary: once
/// committed or aborted, the same temporary name may belong to a newer sink.
enum State {
    /// The temporary is reserved but the dataset not yet created.
    Pending,
    Open {
        file: hdf5::File,
        dataset: hdf5::Dataset,
    },
    Committed,
    Aborted,
}

/// A sink writing one dataset of an HDF5 file through a temporary sibling of the target.
pub struct Hdf5Sink {
    /// The target as the user named it (`out.h5:/mean`).
    label: String,
    target: PathBuf,
    temp: PathBuf,
    shape: Vec<usize>,
    dtype: DType,
    /// The storage chunk shape and deflate level of a compressed dataset, whose whole chunks
    /// are compressed on the writing thread and stored with a direct chunk write.
    compressed: Option<(Vec<usize>, u8)>,
    state: Mutex<State>,
}

impl Hdf5Sink {
    /// Creates the temporary and the dataset in it, with its attributes.
    ///
    /// # Errors
    /// When the target (or, for a named dataset, that dataset in it) exists and
    /// `opts.overwrite` is off, the existing file is not HDF5, the chunk shape does not fit
    /// the array, or the temporary cannot be written.
    pub fn create(path: &Path, dataset: Option<&str>, spec: &SinkSpec, opts: &WriteOptions) -> Result<Hdf5Sink, SinkError> {
        let name = dataset.map(|d| {
            let parts: Vec<&str> = d.split('/').filter(|p| !p.is_empty()).collect();
            format!("/{}", parts.join("/"))
        });
        let label = match &name {
            Some(n) => format!("{}:{n}", path.display()),
            None => path.display().to_string(),
        };
        let err = |m: String| SinkError::new(&label, m);
        let name = match name {
            Some(n) if n == "/" => {
                return Err(err("'/' is the root group, not a dataset name".into()));
            }
            Some(n) => n,
            None => DEFAULT_DATASET.to_string(),
        };
        if spec.shape.len() != spec.chunks.ndim() && !spec.shape.is_empty() {
            return Err(err(format!(
                "the output's chunks have {} axes but its shape {} has {}",
                spec.chunks.ndim(),
                fmt_shape(&spec.shape),
                spec.shape.len()
            )));
        }
        let temp = temporary_for(path).ok_or_else(|| err("the target has no file name".into()))?;
        let exists = path.exists();
        if exists && path.is_dir() {
            return Err(err("the target is a directory".into()));
        }
        if exists && dataset.is_none() && !opts.overwrite {
            return Err(err("the file exists; choose another name or pass --overwrite".into()));
        }
        remove_stale_temporaries(path);
        {
            let mut active = active_temporaries();
            if !active.insert(temp.clone()) {
                return Err(err("another write to this target is in progress in this process".into()));
            }
        }
        let chunked = !spec.shape.is_empty() && !spec.shape.contains(&0);
        let compressed = match opts.compression_level.filter(|&l| l > 0 && chunked) {
            Some(level) => Some((chunk_shape(spec, opts).map_err(err)?, level.min(9) as u8)),
            None => None,
        };
        let sink = Hdf5Sink {
            label: label.clone(),
            target: path.to_path_buf(),
            temp: temp.clone(),
            shape: spec.shape.clone(),
            dtype: spec.dtype,
            compressed,
            state: Mutex::new(State::Pending),
        };
        // From here on, dropping `sink` on an error removes the temporary.
        let file = if exists && dataset.is_some() {
            // A new dataset in an existing file: work on a copy, so that a failure leaves the original intact.
            open_file(path).map_err(|e| err(format!("cannot add a dataset to it: {}", e.message)))?;
            std::fs::copy(path, &temp).map_err(|e| err(format!("cannot copy it to {}: {e}", temp.display())))?;
            let file = hdf5::File::open_rw(&temp).map_err(|e| err(format!("cannot open the copy {} for writing: {e}", temp.display())))?;
            match file.loc_type_by_name(&name) {
                Ok(hdf5::LocationType::Dataset) if opts.overwrite => {
                    file.unlink(&name).map_err(|e| err(format!("cannot replace the existing dataset: {e}")))?;
                }
                Ok(hdf5::LocationType::Dataset) => {
                    return Err(err(format!("the file already has a dataset '{name}'; choose another name or pass --overwrite")));
                }
                Ok(_) => {
                    return Err(err(format!("'{name}' exists in the file and is not a dataset")));
                }
                Err(_) => {}
            }
            file
        } else {
            hdf5::File::create(&temp).map_err(|e| err(format!("cannot create {}: {e}", temp.display())))?
        };
        let dataset = create_dataset(&file, &name, spec, opts).map_err(err)?;
        write_attrs(&dataset, spec).map_err(err)?;
        *sink.lock() = State::Open { file, dataset };
        Ok(sink)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the library's handles and removes the temporary, if this sink still owns it.
    fn discard(&self, state: &mut State) {
        match std::mem::replace(state, State::Aborted) {
            State::Open { file, dataset } => {
                drop(dataset);
                let _ = file.close();
            }
            State::Pending => {}
            done @ (State::Committed | State::Aborted) => {
                *state = done;
                return;
            }
        }
        let _ = std::fs::remove_file(&self.temp);
        active_temporaries().remove(&self.temp);
    }
}

fn create_dataset(file: &hdf5::File, name: &str, spec: &SinkSpec, opts: &WriteOptions) -> Result<hdf5::Dataset, String> {
    // Scalars and empty arrays cannot be chunked; they are stored contiguously, unfiltered.
    let chunked = !spec.shape.is_empty() && !spec.shape.contains(&0);
    let chunk = if chunked { Some(chunk_shape(spec, opts)?) } else { None };
    let level = opts.compression_level.filter(|&l| l > 0 && chunked).map(|l| l.min(9) as u8);
    fn build<T: hdf5::H5Type>(
        file: &hdf5::File,
        name: &str,
        shape: &[usize],
        chunk: Option<Vec<usize>>,
        level: Option<u8>,
    ) -> hdf5::Result<hdf5::Dataset> {
        let mut b = file.new_dataset::<T>();
        match chunk {
            Some(c) => b = b.chunk(c),
            None => b = b.no_chunk(),
        }
        if let Some(l) = level {
            // Shuffle before deflate: byte planes of numbers compress much better.
            b = b.shuffle().deflate(l);
        }
        b.shape(shape.to_vec()).create(name)
    }
    let shape = spec.shape.as_slice();
    let r = match spec.dtype {
        DType::Bool => build::<bool>(file, name, shape, chunk, level),
        DType::I8 => build::<i8>(file, name, shape, chunk, level),
        DType::I16 => build::<i16>(file, name, shape, chunk, level),
        DType::I32 => build::<i32>(file, name, shape, chunk, level),
        DType::I64 => build::<i64>(file, name, shape, chunk, level),
        DType::U8 => build::<u8>(file, name, shape, chunk, level),
        DType::U16 => build::<u16>(file, name, shape, chunk, level),
        DType::U32 => build::<u32>(file, name, shape, chunk, level),
        DType::U64 => build::<u64>(file, name, shape, chunk, level),
        DType::F32 => build::<f32>(file, name, shape, chunk, level),
        DType::F64 => build::<f64>(file, name, shape, chunk, level),
    };
    r.map_err(|e| format!("cannot create dataset '{name}' of shape {} {}: {e}", fmt_shape(shape), spec.dtype))
}

/// Writes `spec.attrs` and `history` on the dataset (strings as UTF-8, numbers as int64/float64).
fn write_attrs(ds: &hdf5::Dataset, spec: &SinkSpec) -> Result<(), String> {
    use hdf5::types::VarLenUnicode;
    let text = |name: &str, s: &str| -> hdf5::Result<()> {
        // HDF5 strings end at a NUL; keep the rest of the text visible.
        let value: VarLenUnicode = s.replace('\0', " ").parse().map_err(|e| hdf5::Error::from(format!("{e}")))?;
        ds.new_attr::<VarLenUnicode>().shape(()).create(name)?.write_scalar(&value)
    };
    for (name, value) in spec.attrs.iter().filter(|(n, _)| n != "history") {
        let r = match value {
            AttrValue::Text(s) => text(name, s),
            AttrValue::Int(v) if v.len() == 1 => ds.new_attr::<i64>().shape(()).create(name.as_str()).and_then(|a| a.write_scalar(&v[0])),
            AttrValue::Int(v) => ds.new_attr::<i64>().shape([v.len()]).create(name.as_str()).and_then(|a| a.write_raw(v)),
            AttrValue::Float(v) if v.len() == 1 => ds.new_attr::<f64>().shape(()).create(name.as_str()).and_then(|a| a.write_scalar(&v[0])),
            AttrValue::Float(v) => ds.new_attr::<f64>().shape([v.len()]).create(name.as_str()).and_then(|a| a.write_raw(v)),
        };
        r.map_err(|e| format!("cannot write attribute '{name}': {e}"))?;
    }
    text("history", &spec.history).map_err(|e| format!("cannot write attribute 'history': {e}"))
}

impl Sink for Hdf5Sink {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn write(&self, region: &Region, block: &Block) -> Result<(), SinkError> {
        let err = |m: String| SinkError::new(&self.label, m);
        let inside = region.ndim() == self.shape.len()
            && (0..region.ndim()).all(|d| region.start[d].checked_add(region.shape[d]).is_some_and(|e| e <= self.shape[d]));
        if !inside {
            return Err(err(format!("block {region} is outside the output's shape {}", fmt_shape(&self.shape))));
        }
        if block.shape() != region.shape.as_slice() {
            return Err(err(format!("block of shape {} written to region {region}", fmt_shape(block.shape()))));
        }
        if block.dtype() != self.dtype {
            return Err(err(format!("block of dtype {} written to a {} dataset", block.dtype(), self.dtype)));
        }
        if region.is_empty() {
            return Ok(());
        }
        // Whole chunks of a compressed dataset are shuffled and deflated here, on the worker
        // that computed them (the library's filter pipeline would do it one chunk at a time
        // under its global lock), and stored as they are.
        if let Some((chunk, level)) = &self.compressed
            && let Some(chunks) = whole_chunks(region, chunk, &self.shape)
        {
            let item = self.dtype.size_bytes();
            let encoded: Vec<(Vec<u64>, Vec<u8>)> = chunks
                .iter()
                .map(|start| {
                    let local: Vec<usize> = start.iter().zip(&region.start).map(|(s, r)| s - r).collect();
                    let inside: Vec<usize> = start.iter().zip(chunk).zip(&self.shape).map(|((&s, &c), &n)| c.min(n - s)).collect();
                    let part = block.subblock(&local, &inside);
                    // edge chunks are stored at the full chunk shape, the outside never read
                    let full = if inside == *chunk {
                        part
                    } else {
                        let mut padded = Block::zeros(self.dtype, chunk);
                        padded.paste(&vec![0; chunk.len()], &part);
                        padded
                    };
                    let offset = start.iter().map(|&s| s as u64).collect();
                    (offset, super::filters::deflate_shuffled(full.data().as_bytes(), item, *level))
                })
                .collect();
            let state = self.lock();
            let State::Open { dataset, .. } = &*state else {
                return Err(err("the output was already committed or aborted".into()));
            };
            for (offset, bytes) in &encoded {
                // SAFETY: `offset` has one coordinate per axis of the dataset, `bytes` is the
                // whole encoded chunk; the library copies both before it returns.
                let status = hdf5::sync::sync(|| unsafe {
                    hdf5_sys::h5d::H5Dwrite_chunk(
                        dataset.id(),
                        hdf5_sys::h5p::H5P_DEFAULT,
                        0,
                        offset.as_ptr(),
                        bytes.len(),
                        bytes.as_ptr().cast(),
                    )
                });
                if status < 0 {
                    return Err(err(format!(
                        "cannot write the chunk at {offset:?}: {}",
                        hdf5::Error::query().map_or_else(|e| e.to_string(), |e| e.to_string())
                    )));
                }
            }
            return Ok(());
        }
        // The library is not thread-safe anyway: one write at a time.
        let state = self.lock();
        let State::Open { dataset, .. } = &*state else {
            return Err(err("the output was already committed or aborted".into()));
        };
        let r = crate::with_buffer!(block.data(), v => write_block(dataset, region, v));
        r.map_err(|e| err(format!("cannot write block {region}: {e}")))
    }

    fn commit(&self) -> Result<PathBuf, SinkError> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Committed) {
            State::Committed => return Ok(self.target.clone()),
            State::Aborted => {
                *state = State::Aborted;
                return Err(SinkError::new(&self.label, "the output was aborted"));
            }
            State::Pending => {
                *state = State::Pending;
                return Err(SinkError::new(&self.label, "the output was never created"));
            }
            State::Open { file, dataset } => {
                let closed = file.flush().and_then(|()| {
                    drop(dataset);
                    file.close()
                });
                let renamed = closed.map_err(|e| format!("cannot finish the file: {e}")).and_then(|()| {
                    // Data on disk before the rename makes it visible.
                    std::fs::File::open(&self.temp)
                        .and_then(|f| f.sync_all())
                        .map_err(|e| format!("cannot flush {}: {e}", self.temp.display()))?;
                    std::fs::rename(&self.temp, &self.target).map_err(|e| format!("cannot move {} to the target: {e}", self.temp.display()))
                });
                if let Err(m) = renamed {
                    *state = State::Aborted;
                    let _ = std::fs::remove_file(&self.temp);
                    active_temporaries().remove(&self.temp);
                    return Err(SinkError::new(&self.label, m));
                }
                active_temporaries().remove(&self.temp);
                if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
                    // Make the rename itself durable (best effort: not every system allows it).
                    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                }
            }
        }
        Ok(self.target.clone())
    }

    fn abort(&self) {
        let mut state = self.lock();
        self.discard(&mut state);
    }
}

/// The starts of the storage chunks `region` covers, when it covers each of them whole (up
/// to the dataset's edge); `None` when a chunk is only partly inside it.
fn whole_chunks(region: &Region, chunk: &[usize], shape: &[usize]) -> Option<Vec<Vec<usize>>> {
    let mut per_axis = Vec::with_capacity(chunk.len());
    for d in 0..chunk.len() {
        let (start, end) = (region.start[d], region.start[d] + region.shape[d]);
        if start % chunk[d] != 0 || (end % chunk[d] != 0 && end != shape[d]) {
            return None;
        }
        per_axis.push((start..end).step_by(chunk[d]).collect::<Vec<usize>>());
    }
    let mut out = vec![vec![]];
    for starts in per_axis {
        out = out.into_iter().flat_map(|prefix: Vec<usize>| starts.iter().map(move |&s| [prefix.clone(), vec![s]].concat())).collect();
    }
    Some(out)
}

fn write_block<T: hdf5::H5Type>(ds: &hdf5::Dataset, region: &Region, values: &[T]) -> hdf5::Result<()> {
    if region.ndim() == 0 {
        return ds.as_writer().write_raw(values);
    }
    let view = ndarray::ArrayView::from_shape(ndarray::IxDyn(&region.shape), values).map_err(|e| hdf5::Error::from(e.to_string()))?;
    let slices: Vec<hdf5::SliceOrIndex> =
        region.start.iter().zip(&region.shape).map(|(&s, &n)| hdf5::SliceOrIndex::from(s..s + n)).collect();
    ds.as_writer().write_slice(view, hdf5::Hyperslab::from(slices))
}

impl Drop for Hdf5Sink {
    fn drop(&mut self) {
        // A sink dropped without commit leaves nothing behind.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.discard(&mut state);
    }
}

impl std::fmt::Debug for Hdf5Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hdf5Sink").field("target", &self.label).field("temp", &self.temp).finish()
    }
}
