//! [`Hdf5Source`]: one HDF5/NetCDF4 dataset as a [`Source`], read without the library's
//! global lock wherever the storage allows (zarrs' `Array::retrieve_chunk` over a
//! positional-read store; the chunk index comes from `H5Dchunk_iter`).
//!
//! libhdf5 serialises every call behind one lock, so reading chunks through it uses one
//! core however many threads ask. At open the chunk index (logical offset, file address,
//! stored size and filter mask of every chunk) and the filter pipeline are read once; then
//! a chunk is one `pread` of its stored bytes and a decode in [`super::filters`], on any
//! thread, with no library call. Contiguous datasets are read by byte range the same way.
//! Storage the fast path does not handle (compact, external and virtual layouts, filters
//! other than gzip/shuffle/fletcher32, unusual number formats) is read through the library.

use super::filters::Pipeline;
use super::meta;
use super::storage::{self, ByteOrder, FilterInfo, Layout, NativeType, StoredType};
use crate::block::{Block, Buffer, c_strides, for_each_row};
use crate::chunks::{Chunks, Region, split_axis};
use crate::dtype::DType;
use crate::io::OpenOptions;
use crate::io::cf::CfDecoding;
use crate::io::files::SetFile;
use crate::source::{Coordinate, Fetched, Metadata, Payload, Source, SourceError, assemble, fmt_shape};
use std::any::Any;
use std::fmt;
use std::path::Path;

/// Natural block size for datasets that are not chunked (contiguous, compact, virtual).
const UNCHUNKED_BLOCK_BYTES: usize = 16 << 20;

/// Where one chunk's bytes are in the file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredChunk {
    pub address: u64,
    pub size: u64,
    /// Bit `i` set: filter `i` of the pipeline was skipped for this chunk.
    pub filter_mask: u32,
}

/// The location of every allocated chunk, by chunk-grid position (C order).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChunkIndex {
    pub grid: Vec<usize>,
    pub entries: Vec<Option<StoredChunk>>,
}

impl ChunkIndex {
    /// Reads the index with `H5Dchunk_iter` (one library call for the whole dataset).
    fn read(ds: &hdf5::Dataset, shape: &[usize], chunk: &[usize]) -> Result<ChunkIndex, String> {
        let grid: Vec<usize> = shape.iter().zip(chunk).map(|(&n, &c)| n.div_ceil(c.max(1))).collect();
        let total = grid.iter().try_fold(1usize, |acc, &g| acc.checked_mul(g)).ok_or("too many chunks")?;
        let mut entries = vec![None; total];
        let mut bad: Option<String> = None;
        ds.chunks_visit(|info| {
            let mut linear = 0usize;
            for d in 0..grid.len() {
                let off = info.offset.get(d).copied().unwrap_or(u64::MAX) as usize;
                if chunk[d] == 0 || !off.is_multiple_of(chunk[d]) {
                    bad = Some(format!("chunk at offset {:?} is not on the chunk grid", info.offset));
                    return -1;
                }
                if off / chunk[d] >= grid[d] {
                    // Left behind when the dataset shrank: not part of the data any more.
                    return 0;
                }
                linear = linear * grid[d] + off / chunk[d];
            }
            entries[linear] = Some(StoredChunk { address: info.addr, size: info.size, filter_mask: info.filter_mask });
            0
        })
        .map_err(|e| bad.clone().unwrap_or_else(|| format!("cannot read the chunk index: {e}")))?;
        Ok(ChunkIndex { grid, entries })
    }

    fn get(&self, index: &[usize]) -> Option<StoredChunk> {
        let mut linear = 0;
        for (d, &i) in index.iter().enumerate() {
            linear = linear * self.grid[d] + i;
        }
        self.entries.get(linear).copied().flatten()
    }
}

/// How a dataset's values are reached.
#[derive(Debug)]
enum Access {
    /// Chunks read by position and decoded here.
    Chunked { chunk: Vec<usize>, index: ChunkIndex, pipeline: Pipeline },
    /// One byte range read by position (`None`: never written, all fill value).
    Contiguous { address: Option<u64> },
    /// Through the library, for the reason given.
    Library { reason: String },
}

/// The encoded bytes of one chunk, between [`Source::fetch`] and [`Source::decode`].
struct EncodedChunk {
    index: Vec<usize>,
    bytes: Vec<u8>,
    filter_mask: u32,
}

/// An encoded chunk with one bit of its stored bytes flipped (tests only).
#[cfg(test)]
pub(crate) fn damaged_for_tests(payload: Box<dyn Any + Send + Sync>) -> Box<dyn Any + Send + Sync> {
    let mut chunk = payload.downcast::<EncodedChunk>().unwrap_or_else(|_| panic!("an encoded chunk"));
    let mid = chunk.bytes.len() / 2;
    chunk.bytes[mid] ^= 0x10;
    chunk
}

/// One dataset of an HDF5 or NetCDF4 file.
pub struct Hdf5Source {
    /// `file.h5:/group/name`, for messages.
    label: String,
    /// Opened once (at first use, for the other files of a set); positional reads need no lock.
    file: SetFile,
    file_len: u64,
    /// The file and dataset as the library sees them, for the library path. Datasets read
    /// lock-free let go of them after opening (each open file holds a metadata cache of its
    /// own) and open them again only if a library read is ever needed.
    library: std::sync::Mutex<Option<(hdf5::File, hdf5::Dataset)>>,
    path: std::path::PathBuf,
    dataset_path: String,
    /// The library's memory type for reads through it, shared by the files of a set.
    native: std::sync::Arc<NativeType>,
    shape: Vec<usize>,
    stored: StoredType,
    chunks: Chunks,
    access: Access,
    layout: Layout,
    filters: Vec<FilterInfo>,
    /// Native bytes of one fill-value element.
    fill: Vec<u8>,
    cf: Option<CfDecoding>,
    /// Attributes and coordinates, shared by the files of a set; the first axis' coordinate
    /// (time) is each file's own.
    metadata: std::sync::Arc<Metadata>,
    first_coordinate: Option<Coordinate>,
    /// Opened as another file of a set, indexed without the library ([`Hdf5Source::open_set`]).
    indexed: bool,
}

impl fmt::Debug for Hdf5Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hdf5Source")
            .field("label", &self.label)
            .field("shape", &self.shape)
            .field("stored", &self.stored.description)
            .field("layout", &self.layout.name())
            .field("filters", &self.filters.iter().map(|f| f.to_string()).collect::<Vec<_>>())
            .field("path", &self.path_kind())
            .field("cf", &self.cf.as_ref().map(|c| c.dtype))
            .finish()
    }
}

/// Opens a file for reading, naming the file in every failure: missing, unreadable, not
/// HDF5 at all, or truncated.
pub(crate) fn open_file(path: &Path) -> Result<(std::fs::File, hdf5::File, u64), SourceError> {
    let label = path.display().to_string();
    let err = |m: String| SourceError::new(&label, m);
    let md = std::fs::metadata(path).map_err(|e| err(format!("cannot open: {e}")))?;
    if md.is_dir() {
        return Err(err("is a directory, not an HDF5 or NetCDF4 file".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read the file: {e}")))?;
    let len = md.len();
    check_signature(&file, len).map_err(err)?;
    // Lock like the library does by default, but read on file systems without locks
    // (network and read-only mounts) instead of failing.
    let h5 = hdf5::File::with_options().with_fapl(|p| p.file_locking(true)).open(path).map_err(|e| {
        let m = e.to_string();
        if m.contains("truncated") {
            err(format!("the file is truncated ({len} bytes): {m}"))
        } else {
            err(format!("the HDF5 library cannot open it: {m}"))
        }
    })?;
    Ok((file, h5, len))
}

/// Looks for the HDF5 signature where the format allows it: at byte 0, 512, 1024, 2048 …
fn check_signature(file: &std::fs::File, len: u64) -> Result<(), String> {
    const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
    if len == 0 {
        return Err("the file is empty (0 bytes), not an HDF5 or NetCDF4 file".into());
    }
    let mut offset = 0u64;
    while offset + 8 <= len {
        let mut buf = [0u8; 8];
        if std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, offset).is_ok() && &buf == SIGNATURE {
            return Ok(());
        }
        offset = if offset == 0 { 512 } else { offset * 2 };
    }
    let mut head = [0u8; 4];
    let n = std::os::unix::fs::FileExt::read_at(file, &mut head, 0).unwrap_or(0);
    if n >= 4 && &head[..3] == b"CDF" && matches!(head[3], 1 | 2 | 5) {
        return Err("a NetCDF3 (classic) file; gridlens reads NetCDF4 (HDF5-based) files only: convert with `nccopy -k nc4`".into());
    }
    Err(format!("not an HDF5 or NetCDF4 file (no HDF5 signature in its {len} bytes)"))
}

/// `t2m` → `/t2m`; `/a//b/` → `/a/b`.
fn normalize_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// The dataset to open when none is named: the single numeric dataset of rank ≥ 1 that is
/// not a coordinate variable.
fn default_dataset(h5: &hdf5::File, label: &str) -> Result<String, SourceError> {
    let all = meta::list_datasets(h5);
    let numeric: Vec<&meta::DatasetSummary> = all.iter().filter(|d| d.numeric && !d.shape.is_empty()).collect();
    let data: Vec<&meta::DatasetSummary> = numeric.iter().copied().filter(|d| !d.coordinate).collect();
    match (data.len(), numeric.len()) {
        (1, _) => Ok(data[0].path.clone()),
        (0, 1) => Ok(numeric[0].path.clone()),
        (0, _) => Err(SourceError::new(label, format!("no numeric dataset of rank ≥ 1 to read; datasets: {}", meta::listing(&all)))),
        (n, _) => {
            Err(SourceError::new(label, format!("{n} datasets, name one as FILE:DATASET; datasets: {}", meta::first_few(data.iter()))))
        }
    }
}

/// Natural blocks of an unchunked dataset: whole trailing axes, split along the leading
/// axes so that a block holds at most `budget` bytes.
fn unchunked_blocks(shape: &[usize], item: usize, budget: usize) -> Chunks {
    let mut block = shape.to_vec();
    for d in 0..shape.len() {
        let inner: usize = shape[d + 1..].iter().product::<usize>().max(1) * item;
        if block[d..].iter().product::<usize>() * item <= budget {
            break;
        }
        if inner <= budget {
            block[d] = (budget / inner).max(1);
            break;
        }
        block[d] = 1;
    }
    Chunks::new(shape.iter().zip(&block).map(|(&n, &b)| split_axis(n, b)).collect())
}

/// Converts stored bytes of `dtype` in `order` into a typed buffer.
/// An empty numeric buffer with room for `n` elements, to be filled by reads: large blocks
/// are not zeroed first (zeroing cost as much as the read itself).
fn uninit_buffer(dtype: DType, n: usize) -> Buffer {
    match dtype {
        DType::Bool => unreachable!("bools are read as bytes"),
        DType::I8 => Buffer::I8(Vec::with_capacity(n)),
        DType::I16 => Buffer::I16(Vec::with_capacity(n)),
        DType::I32 => Buffer::I32(Vec::with_capacity(n)),
        DType::I64 => Buffer::I64(Vec::with_capacity(n)),
        DType::U8 => Buffer::U8(Vec::with_capacity(n)),
        DType::U16 => Buffer::U16(Vec::with_capacity(n)),
        DType::U32 => Buffer::U32(Vec::with_capacity(n)),
        DType::U64 => Buffer::U64(Vec::with_capacity(n)),
        DType::F32 => Buffer::F32(Vec::with_capacity(n)),
        DType::F64 => Buffer::F64(Vec::with_capacity(n)),
    }
}

/// The start and size in bytes of a buffer's allocation (its spare capacity when empty).
fn spare_capacity(b: &mut Buffer) -> (*mut u8, usize) {
    fn raw<T>(v: &mut Vec<T>) -> (*mut u8, usize) {
        (v.as_mut_ptr() as *mut u8, v.capacity() * std::mem::size_of::<T>())
    }
    crate::with_buffer!(b, v => raw(v))
}

/// Sets the length of a buffer filled through [`spare_capacity`].
///
/// # Safety
/// The first `n` elements must have been written.
unsafe fn set_len(b: &mut Buffer, n: usize) {
    // SAFETY: forwarded to the caller.
    crate::with_buffer!(b, v => unsafe { v.set_len(n) })
}

/// Reads exactly `len` bytes at file offset `at` into `dst` by position (no lock, no
/// staging buffer). `dst` may point to uninitialised memory: only the kernel writes it.
fn pread_exact(file: &std::fs::File, dst: *mut u8, len: usize, mut at: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut done = 0usize;
    while done < len {
        // SAFETY: `dst .. dst + len` lies inside one allocation owned by the caller, and
        // pread writes at most `len - done` bytes from `dst + done`.
        let n = unsafe { libc::pread(file.as_raw_fd(), dst.add(done) as *mut libc::c_void, len - done, at as libc::off_t) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        done += n as usize;
        at += n as u64;
    }
    Ok(())
}

/// Reverses the byte order of every element in place (values stored in the other byte order).
fn swap_bytes(b: &mut Buffer) {
    match b {
        Buffer::I16(v) => v.iter_mut().for_each(|x| *x = x.swap_bytes()),
        Buffer::I32(v) => v.iter_mut().for_each(|x| *x = x.swap_bytes()),
        Buffer::I64(v) => v.iter_mut().for_each(|x| *x = x.swap_bytes()),
        Buffer::U16(v) => v.iter_mut().for_each(|x| *x = x.swap_bytes()),
        Buffer::U32(v) => v.iter_mut().for_each(|x| *x = x.swap_bytes()),
        Buffer::U64(v) => v.iter_mut().for_each(|x| *x = x.swap_bytes()),
        Buffer::F32(v) => v.iter_mut().for_each(|x| *x = f32::from_bits(x.to_bits().swap_bytes())),
        Buffer::F64(v) => v.iter_mut().for_each(|x| *x = f64::from_bits(x.to_bits().swap_bytes())),
        Buffer::Bool(_) | Buffer::I8(_) | Buffer::U8(_) => {}
    }
}

/// `bytes` as elements of `dtype` stored in `order` (see [`crate::io::elements::decode`]).
pub(crate) fn buffer_from_bytes(bytes: &[u8], dtype: DType, order: ByteOrder) -> Buffer {
    crate::io::elements::decode(dtype, bytes, order == ByteOrder::Big)
}

impl Hdf5Source {
    /// Opens `dataset` (or the file's single data variable) of the file at `path`.
    ///
    /// # Errors
    /// A [`SourceError`] naming the file (and dataset): the file cannot be read or is not
    /// HDF5, the dataset is missing (the message lists those there are), its type is not
    /// numeric, or its filters are not available.
    pub fn open(path: &Path, dataset: Option<&str>, opts: &OpenOptions) -> Result<Hdf5Source, SourceError> {
        let (file, h5file, file_len) = open_file(path)?;
        let file_label = path.display().to_string();
        let name = match dataset {
            Some(d) => normalize_name(d),
            None => default_dataset(&h5file, &file_label)?,
        };
        let label = format!("{file_label}:{name}");
        let ds = match h5file.dataset(&name) {
            Ok(ds) => ds,
            Err(_) => {
                let what = match h5file.loc_type_by_name(&name) {
                    Ok(hdf5::LocationType::Group) => format!("'{name}' is a group, not a dataset"),
                    _ => format!("no dataset '{name}'"),
                };
                let all = meta::list_datasets(&h5file);
                return Err(SourceError::new(&file_label, format!("{what}; datasets: {}", meta::listing(&all))));
            }
        };
        let err = |m: String| SourceError::new(&label, m);
        let ty = ds.dtype().map_err(|e| err(format!("cannot read the datatype: {e}")))?;
        let stored = storage::classify(&ty)
            .map_err(|t| err(format!("the dataset holds {t} values; gridlens reads numeric and boolean datasets only")))?;
        let space = ds.space().map_err(|e| err(format!("cannot read the dataspace: {e}")))?;
        if space.is_null() {
            return Err(err("the dataset has a null dataspace (no values)".into()));
        }
        let shape = ds.shape();
        let native = NativeType::of(&ty, stored.dtype).map_err(err)?;
        let fill = storage::fill_value_bytes(&ds, &native, stored.dtype).map_err(err)?;
        let layout = storage::layout(&ds).map_err(err)?;
        let filters = storage::filters(&ds).map_err(err)?;
        if let Some(f) = filters.iter().find(|f| !f.available) {
            return Err(err(format!(
                "the data is encoded with the '{}' filter (HDF5 filter id {}), which this build of gridlens cannot decode",
                f.name, f.id
            )));
        }
        let item = stored.dtype.size_bytes();
        // A dataset reached through an external link lives in another file: its addresses are
        // that file's, so positional reads of this one would return other bytes. The library
        // follows the link and reads it right.
        let elsewhere = {
            let home = ds.filename();
            let same = |a: &Path, b: &Path| a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
            (!home.is_empty() && !same(Path::new(&home), path)).then_some(home)
        };
        let access = if let Some(home) = &elsewhere {
            Access::Library { reason: format!("an external link to {home}") }
        } else if shape.is_empty() {
            Access::Library { reason: "a scalar dataset".into() }
        } else if !stored.plain {
            Access::Library { reason: format!("{} values need the library's conversion", stored.description) }
        } else {
            match &layout {
                Layout::Chunked { chunk } if chunk.len() != shape.len() => {
                    Access::Library { reason: format!("chunk shape {} does not match the rank of {}", fmt_shape(chunk), fmt_shape(&shape)) }
                }
                Layout::Chunked { chunk } => match Pipeline::from_filters(&filters, item) {
                    Err(f) => Access::Library { reason: format!("the '{}' filter", f.name) },
                    Ok(pipeline) => match ChunkIndex::read(&ds, &shape, chunk) {
                        Ok(index) => Access::Chunked { chunk: chunk.clone(), index, pipeline },
                        Err(e) => Access::Library { reason: e },
                    },
                },
                Layout::Contiguous { address } => Access::Contiguous { address: *address },
                other => Access::Library { reason: format!("{} layout", other.name()) },
            }
        };
        if let Access::Library { reason } = &access
            && let Some(f) = filters.iter().find(|f| !f.in_library)
        {
            return Err(err(format!(
                "the data is encoded with the '{}' filter (HDF5 filter id {}), which gridlens decodes only in chunks it reads \
                 itself, and this dataset is read through the library ({reason})",
                f.name, f.id
            )));
        }
        let chunks = match &layout {
            Layout::Chunked { chunk } if chunk.len() == shape.len() => Chunks::regular(&shape, chunk),
            _ => unchunked_blocks(&shape, item, UNCHUNKED_BLOCK_BYTES),
        };
        let attrs = meta::read_attrs(&ds);
        let cf = if opts.decode_cf { CfDecoding::from_attrs(stored.dtype, &super::meta::StoredAttr::cf(&attrs)) } else { None };
        let applied: &[&str] = cf.as_ref().map_or(&[], |c| &c.applied);
        let metadata = Metadata {
            attrs: meta::public_attrs(&attrs, applied),
            coords: meta::coordinates(&h5file, &ds, &shape, opts.decode_cf),
            grid: meta::curvilinear(&h5file, &ds, &attrs, &shape),
        };
        let dataset_path = ds.name();
        let library = if matches!(access, Access::Library { .. }) { Some((h5file, ds)) } else { None };
        let file = SetFile::opened(path.to_path_buf(), file).map_err(|e| SourceError::new(&label, format!("cannot read the file: {e}")))?;
        Ok(Hdf5Source {
            label,
            file,
            file_len,
            library: std::sync::Mutex::new(library),
            path: path.to_path_buf(),
            dataset_path,
            native: std::sync::Arc::new(native),
            shape,
            stored,
            chunks,
            access,
            layout,
            filters,
            fill,
            cf,
            first_coordinate: metadata.coords.first().cloned().flatten(),
            metadata: std::sync::Arc::new(metadata),
            indexed: false,
        })
    }

    /// Opens the same dataset in every file of a set (`files`, which `pattern` matched): the
    /// first through the library, in full; the others on every core at once, each indexed
    /// without the library when it stores its values as the first does ([`super::index`]),
    /// or taken from the set's index cache when unchanged since ([`super::cache`]), and
    /// through the library otherwise.
    ///
    /// # Errors
    /// As [`Hdf5Source::open`], for the first file that fails.
    pub fn open_set(
        pattern: &str,
        files: &[std::path::PathBuf],
        dataset: Option<&str>,
        opts: &OpenOptions,
    ) -> Result<Vec<Hdf5Source>, SourceError> {
        use rayon::prelude::*;
        let Some((first_path, rest)) = files.split_first() else { return Ok(vec![]) };
        let first = Hdf5Source::open(first_path, dataset, opts)?;
        let name = first.dataset_path.clone();
        let template = match &first.access {
            Access::Chunked { .. } => {
                // the first axis' coordinate when it has one (time), looked up by name in each file
                let time = first.first_coordinate.as_ref().map(|c| c.name.clone());
                super::index::template(first_path, &name, time).ok()
            }
            _ => None,
        };
        let cache = template.as_ref().filter(|_| opts.index_cache).and_then(|t| super::cache::IndexCache::open(pattern, t, opts.decode_cf));
        /// How a member was opened: from the cache, indexed (to be cached), or by the library.
        enum Opened {
            Cached,
            Indexed(crate::io::files::FileStamp, super::index::Member),
            Library,
        }
        let others: Vec<(Result<Hdf5Source, SourceError>, Opened)> = rest
            .par_iter()
            .map(|path| {
                if let Some((stamp, member)) = cache.as_ref().and_then(|c| c.get(path)) {
                    return (Ok(first.like(path, stamp, member)), Opened::Cached);
                }
                if let Some(t) = &template
                    && let Ok(stamp) = crate::io::files::FileStamp::read(path)
                    && let Ok(member) = super::index::member(path, t, opts.decode_cf)
                {
                    return (Ok(first.like(path, stamp, member.clone())), Opened::Indexed(stamp, member));
                }
                (Hdf5Source::open(path, Some(&name), opts), Opened::Library)
            })
            .collect();
        let mut out = Vec::with_capacity(files.len());
        out.push(first);
        let mut cache = cache;
        let mut indexed = false;
        #[cfg(test)]
        super::cache::record_hits_for_tests(others.iter().filter(|(_, how)| matches!(how, Opened::Cached)).count());
        for (source, how) in others {
            let source = source?;
            if let (Some(c), Opened::Indexed(stamp, member)) = (cache.as_mut(), how) {
                c.put(&source.path, stamp, &member);
                indexed = true;
            }
            out.push(source);
        }
        if let Some(c) = cache
            && (indexed || c.len() != rest.len())
        {
            c.save(rest);
        }
        Ok(out)
    }

    /// Another file of this one's set, which stores its values as this one does: its own
    /// chunk index, length along the first axis and time values; everything else shared.
    fn like(&self, path: &Path, stamp: crate::io::files::FileStamp, member: super::index::Member) -> Hdf5Source {
        let Access::Chunked { chunk, pipeline, .. } = &self.access else { unreachable!("sets are indexed only when chunked") };
        let name = self.dataset_path.clone();
        Hdf5Source {
            label: format!("{}:{name}", path.display()),
            file: SetFile::new(path.to_path_buf(), stamp),
            file_len: stamp.size,
            library: std::sync::Mutex::new(None),
            path: path.to_path_buf(),
            dataset_path: name,
            native: self.native.clone(),
            chunks: Chunks::regular(&member.shape, chunk),
            shape: member.shape,
            stored: self.stored.clone(),
            access: Access::Chunked { chunk: chunk.clone(), index: member.index, pipeline: pipeline.clone() },
            layout: self.layout.clone(),
            filters: self.filters.clone(),
            fill: self.fill.clone(),
            cf: self.cf.clone(),
            metadata: self.metadata.clone(),
            first_coordinate: member.time,
            indexed: true,
        }
    }

    /// The chunk index of a dataset read by chunk (tests only).
    #[cfg(test)]
    pub(crate) fn index_for_tests(&self) -> Option<ChunkIndex> {
        match &self.access {
            Access::Chunked { index, .. } => Some(index.clone()),
            _ => None,
        }
    }

    /// Whether this file was opened as another file of a set, its chunk index read without
    /// the library (or from the set's index cache).
    pub fn indexed(&self) -> bool {
        self.indexed
    }

    /// Which path reads run through: `lock-free chunks`, `lock-free contiguous` or
    /// `library (<reason>)`.
    pub fn path_kind(&self) -> String {
        match &self.access {
            Access::Chunked { .. } => "lock-free chunks".into(),
            Access::Contiguous { .. } => "lock-free contiguous".into(),
            Access::Library { reason } => format!("library ({reason})"),
        }
    }

    /// The dtype values are stored in (before CF decoding).
    pub fn stored_dtype(&self) -> DType {
        self.stored.dtype
    }

    /// Reads `region` through the HDF5 library, undecoded: the reference the lock-free
    /// path must equal bit for bit, and the fallback for storage it does not handle.
    ///
    /// # Errors
    /// When the library fails (a filter error, a damaged file); the message is the library's.
    pub fn read_with_library(&self, region: &Region) -> Result<Block, SourceError> {
        self.check_region(region)?;
        let n = region.len();
        if n == 0 {
            return Ok(Block::zeros(self.stored.dtype, &region.shape));
        }
        let mut bytes = vec![0u8; n * self.stored.dtype.size_bytes()];
        let mut library = self.library.lock().unwrap_or_else(|p| p.into_inner());
        if library.is_none() {
            let (_, h5, _) = open_file(&self.path)?;
            let ds =
                h5.dataset(&self.dataset_path).map_err(|e| SourceError::new(&self.label, format!("cannot open the dataset again: {e}")))?;
            *library = Some((h5, ds));
        }
        let dataset = &library.as_ref().expect("opened above").1;
        let result = hdf5::sync::sync(|| -> Result<(), hdf5::Error> {
            if self.shape.is_empty() {
                hdf5::h5check(unsafe {
                    hdf5_sys::h5d::H5Dread(
                        dataset.id(),
                        self.native.id(),
                        hdf5_sys::h5s::H5S_ALL,
                        hdf5_sys::h5s::H5S_ALL,
                        hdf5_sys::h5p::H5P_DEFAULT,
                        bytes.as_mut_ptr().cast(),
                    )
                })?;
                return Ok(());
            }
            let slices: Vec<hdf5::SliceOrIndex> =
                region.start.iter().zip(&region.shape).map(|(&s, &n)| hdf5::SliceOrIndex::from(s..s + n)).collect();
            let fspace = dataset.space()?.select(hdf5::Hyperslab::from(slices))?;
            let mspace = hdf5::Dataspace::try_new(region.shape.as_slice())?;
            hdf5::h5check(unsafe {
                hdf5_sys::h5d::H5Dread(
                    dataset.id(),
                    self.native.id(),
                    mspace.id(),
                    fspace.id(),
                    hdf5_sys::h5p::H5P_DEFAULT,
                    bytes.as_mut_ptr().cast(),
                )
            })?;
            Ok(())
        });
        result.map_err(|e| SourceError::new(&self.label, format!("the HDF5 library failed to read: {e}")).at(region))?;
        Ok(Block::new(region.shape.clone(), buffer_from_bytes(&bytes, self.stored.dtype, ByteOrder::NATIVE)))
    }

    /// Reads `region` without CF decoding, through the lock-free path where there is one.
    /// Returns the block and the bytes read from the file.
    ///
    /// # Errors
    /// A corrupt or missing chunk, a truncated file, or a library failure.
    pub fn read_stored(&self, region: &Region) -> Result<(Block, u64), SourceError> {
        self.check_region(region)?;
        let dtype = self.stored.dtype;
        if region.is_empty() {
            return Ok((Block::zeros(dtype, &region.shape), 0));
        }
        match &self.access {
            Access::Chunked { chunk, index, pipeline } => {
                let mut bytes_read = 0u64;
                let block = assemble(&self.chunks, dtype, region, |idx, local| {
                    let chunk_region = self.chunks.block_region(idx);
                    match index.get(idx) {
                        None => Ok(self.fill_block(&local.shape)),
                        Some(c) if pipeline.skips_all(c.filter_mask) => {
                            let full = chunk.iter().product::<usize>() * dtype.size_bytes();
                            if (c.size as usize) < full {
                                return Err(self.corrupt(
                                    &chunk_region,
                                    c,
                                    format!("stored size {} is less than the {full} bytes of an unfiltered chunk", c.size),
                                ));
                            }
                            let (b, n) = self.read_box(c.address, chunk, local, &chunk_region)?;
                            bytes_read += n;
                            Ok(b)
                        }
                        Some(c) => {
                            let raw = self.read_at(c.address, c.size as usize, &chunk_region)?;
                            bytes_read += c.size;
                            let full = self.decode_chunk(idx, &raw, c.filter_mask, false)?.0;
                            Ok(if local.shape == full.shape() { full } else { full.subblock(&local.start, &local.shape) })
                        }
                    }
                })?;
                Ok((block, bytes_read))
            }
            Access::Contiguous { address: None } => Ok((self.fill_block(&region.shape), 0)),
            Access::Contiguous { address: Some(a) } => self.read_box(*a, &self.shape, region, region),
            Access::Library { .. } => {
                let b = self.read_with_library(region)?;
                let n = b.size_bytes() as u64;
                Ok((b, n))
            }
        }
    }

    fn check_region(&self, region: &Region) -> Result<(), SourceError> {
        let ok = region.ndim() == self.shape.len()
            && region.start.len() == region.shape.len()
            && (0..region.ndim()).all(|d| region.start[d].checked_add(region.shape[d]).is_some_and(|e| e <= self.shape[d]));
        if ok {
            Ok(())
        } else {
            Err(SourceError::new(&self.label, format!("region {region} is outside the shape {}", fmt_shape(&self.shape))))
        }
    }

    /// A block of the fill value.
    fn fill_block(&self, shape: &[usize]) -> Block {
        let n: usize = shape.iter().product();
        Block::new(shape.to_vec(), buffer_from_bytes(&self.fill.repeat(n), self.stored.dtype, ByteOrder::NATIVE))
    }

    fn corrupt(&self, chunk_region: &Region, c: StoredChunk, message: String) -> SourceError {
        SourceError::new(&self.label, format!("corrupt chunk {chunk_region} ({} bytes at byte {}): {message}", c.size, c.address))
            .at(chunk_region)
    }

    /// Reads `len` bytes at `address` by position (no lock).
    fn read_at(&self, address: u64, len: usize, region: &Region) -> Result<Vec<u8>, SourceError> {
        // A damaged chunk index may claim any size: check it against the file before
        // allocating for it.
        let end = address.saturating_add(len as u64);
        if end > self.file_len && self.file.with(|f| f.metadata()).map_or(true, |m| end > m.len()) {
            let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
            return Err(self.read_error(address, len, &eof, region));
        }
        // read straight into fresh memory: zeroing it first cost a pass over every chunk
        let mut buf = Vec::with_capacity(len);
        self.file.with(|f| pread_exact(f, buf.as_mut_ptr(), len, address)).map_err(|e| self.read_error(address, len, &e, region))?;
        // SAFETY: pread_exact filled all `len` bytes.
        unsafe { buf.set_len(len) };
        Ok(buf)
    }

    /// A failed positional read: past the end of the file (which shrank since it was
    /// opened, or lies about its size) or an I/O error.
    fn read_error(&self, address: u64, len: usize, e: &std::io::Error, region: &Region) -> SourceError {
        let end = address.saturating_add(len as u64);
        // The file may have been cut since it was opened: report its size now.
        let now = self.file.with(|f| f.metadata()).map_or(self.file_len, |m| m.len());
        let m = if e.kind() == std::io::ErrorKind::UnexpectedEof || end > now {
            format!("data at bytes {address}..{end} lies beyond the end of the file ({now} bytes): the file is truncated")
        } else {
            format!("cannot read bytes {address}..{end}: {e}")
        };
        SourceError::new(&self.label, m).at(region)
    }

    /// Reads the part `local` of a C-ordered box of `box_shape` elements stored unfiltered
    /// at `base`: one read per run of contiguous elements.
    fn read_box(&self, base: u64, box_shape: &[usize], local: &Region, region: &Region) -> Result<(Block, u64), SourceError> {
        let item = self.stored.dtype.size_bytes();
        let nd = box_shape.len();
        // Axes after `k` are read whole, so each run spans them and `local.shape[k]` rows.
        let mut k = nd - 1;
        while k > 0 && local.start[k] == 0 && local.shape[k] == box_shape[k] {
            k -= 1;
        }
        let strides = c_strides(box_shape);
        let run = local.shape[k] * strides[k] * item;
        // Numbers are read straight into the block's memory (no staging copy); bools go
        // through bytes, since a stored byte may be neither 0 nor 1.
        let mut data = uninit_buffer(if self.stored.dtype == DType::Bool { DType::U8 } else { self.stored.dtype }, local.len());
        let mut failure = None;
        {
            let (dst, capacity) = spare_capacity(&mut data);
            debug_assert!(capacity >= local.len() * item);
            let mut filled = 0usize;
            for_each_row(&local.shape[..=k], |outer| {
                if failure.is_some() {
                    return;
                }
                // `outer` indexes axes 0..k; the run starts at `local.start[k]` along axis k.
                let mut elem = local.start[k] * strides[k];
                for (d, &i) in outer.iter().enumerate() {
                    elem += (local.start[d] + i) * strides[d];
                }
                let at = base + (elem * item) as u64;
                // SAFETY (of the pointer offset): the runs add up to `local.len() * item` bytes.
                if let Err(e) = self.file.with(|f| pread_exact(f, unsafe { dst.add(filled) }, run, at)) {
                    failure = Some((at, e));
                }
                filled += run;
            });
        }
        if let Some((at, e)) = failure {
            return Err(self.read_error(at, run, &e, region));
        }
        // SAFETY: every byte of the `local.len()` elements was written by the reads above.
        unsafe { set_len(&mut data, local.len()) };
        let n = (local.len() * item) as u64;
        if self.stored.order != ByteOrder::NATIVE {
            swap_bytes(&mut data);
        }
        if self.stored.dtype == DType::Bool {
            data = match data {
                Buffer::U8(v) => Buffer::Bool(v.into_iter().map(|b| b != 0).collect()),
                other => other,
            };
        }
        Ok((Block::new(local.shape.clone(), data), n))
    }

    /// Decodes the stored bytes of chunk `index` into a block of the full chunk shape. The
    /// filters write straight into the block's memory, in native byte order. With `cf`, CF
    /// decoding that keeps the dtype (masking float data, as every NetCDF variable with a
    /// `_FillValue` has) is done on each piece as the filters finish it, while it is in the
    /// cache; the returned flag says whether it was.
    fn decode_chunk(&self, index: &[usize], bytes: &[u8], filter_mask: u32, cf: bool) -> Result<(Block, bool), SourceError> {
        let Access::Chunked { chunk, pipeline, index: chunk_index } = &self.access else {
            return Err(SourceError::new(&self.label, "decode of a dataset that is not read by chunk"));
        };
        let dtype = self.stored.dtype;
        let item = dtype.size_bytes();
        let n: usize = chunk.iter().product();
        // bools go through bytes, since a stored byte may be neither 0 nor 1
        let mut data = uninit_buffer(if dtype == DType::Bool { DType::U8 } else { dtype }, n);
        let (ptr, capacity) = spare_capacity(&mut data);
        debug_assert!(capacity >= n * item);
        // SAFETY: the buffer has room for `n` elements of `item` bytes; `MaybeUninit` asks
        // nothing of the memory, and `decode_into` writes every byte before we set the length.
        let out = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<std::mem::MaybeUninit<u8>>(), n * item) };
        let swap = if self.stored.order == ByteOrder::NATIVE { 0 } else { item };
        let in_place = self.cf.as_ref().filter(|c| cf && c.decodes_in_place(dtype));
        let mut finish = |piece: &mut [u8]| {
            if let Some(c) = in_place {
                c.decode_bytes_in_place(dtype, piece);
            }
        };
        pipeline.decode_into(bytes, filter_mask, out, swap, &mut finish).map_err(|e| {
            let c = chunk_index.get(index).unwrap_or(StoredChunk { address: 0, size: bytes.len() as u64, filter_mask });
            self.corrupt(&self.chunks.block_region(index), c, e.to_string())
        })?;
        // SAFETY: `decode_into` succeeded, so all `n` elements were written.
        unsafe { set_len(&mut data, n) };
        if dtype == DType::Bool {
            data = match data {
                Buffer::U8(v) => Buffer::Bool(v.into_iter().map(|b| b != 0).collect()),
                other => other,
            };
        }
        Ok((Block::new(chunk.clone(), data), in_place.is_some()))
    }

    /// The chunk-grid index of `region` when it is exactly one natural block of a chunked dataset.
    fn whole_chunk(&self, region: &Region) -> Option<Vec<usize>> {
        if !matches!(self.access, Access::Chunked { .. }) || region.ndim() != self.shape.len() || region.is_empty() {
            return None;
        }
        let idx = self.chunks.block_containing(region)?;
        (self.chunks.block_region(&idx) == *region).then_some(idx)
    }

    /// Applies CF decoding when it is on.
    fn finish(&self, raw: Block) -> Block {
        match &self.cf {
            Some(cf) => cf.apply_owned(raw),
            None => raw,
        }
    }
}

impl Source for Hdf5Source {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn shape(&self) -> Vec<usize> {
        self.shape.clone()
    }

    fn dtype(&self) -> DType {
        self.cf.as_ref().map_or(self.stored.dtype, |c| c.dtype)
    }

    fn chunks(&self) -> Chunks {
        self.chunks.clone()
    }

    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        Ok(self.finish(self.read_stored(region)?.0))
    }

    fn fetch(&self, region: &Region) -> Result<Fetched, SourceError> {
        let (Some(idx), Access::Chunked { index, pipeline, .. }) = (self.whole_chunk(region), &self.access) else {
            let (block, bytes_read) = self.read_stored(region)?;
            return Ok(Fetched { bytes_read, payload: Payload::Block(self.finish(block)) });
        };
        match index.get(&idx) {
            None => Ok(Fetched { bytes_read: 0, payload: Payload::Block(self.finish(self.fill_block(&region.shape))) }),
            Some(c) if pipeline.skips_all(c.filter_mask) => {
                let (block, bytes_read) = self.read_stored(region)?;
                Ok(Fetched { bytes_read, payload: Payload::Block(self.finish(block)) })
            }
            Some(c) => {
                let bytes = self.read_at(c.address, c.size as usize, region)?;
                Ok(Fetched {
                    bytes_read: c.size,
                    payload: Payload::Encoded(Box::new(EncodedChunk { index: idx, bytes, filter_mask: c.filter_mask })),
                })
            }
        }
    }

    fn needs_decode(&self, region: &Region) -> bool {
        match (self.whole_chunk(region), &self.access) {
            (Some(idx), Access::Chunked { index, pipeline, .. }) => index.get(&idx).is_some_and(|c| !pipeline.skips_all(c.filter_mask)),
            _ => false,
        }
    }

    fn decode(&self, region: &Region, payload: Box<dyn Any + Send + Sync>) -> Result<Block, SourceError> {
        let chunk =
            payload.downcast::<EncodedChunk>().map_err(|_| SourceError::new(&self.label, "payload from another source").at(region))?;
        if self.whole_chunk(region).as_deref() != Some(chunk.index.as_slice()) {
            return Err(SourceError::new(&self.label, "payload of another chunk").at(region));
        }
        let (full, decoded) = self.decode_chunk(&chunk.index, &chunk.bytes, chunk.filter_mask, true)?;
        // an edge chunk is stored at the full chunk shape: keep the part inside the dataset
        let block = if full.shape() == region.shape.as_slice() { full } else { full.subblock(&vec![0; region.ndim()], &region.shape) };
        Ok(if decoded { block } else { self.finish(block) })
    }

    fn metadata(&self) -> Metadata {
        let mut m = (*self.metadata).clone();
        if let Some(first) = m.coords.first_mut() {
            first.clone_from(&self.first_coordinate);
        }
        m
    }

    fn first_coordinate(&self) -> Option<Coordinate> {
        self.first_coordinate.clone()
    }

    fn changed(&self) -> Option<String> {
        match crate::io::files::FileStamp::read(&self.path) {
            Ok(now) if now == self.file.stamp() => None,
            Ok(_) => Some(format!("{}: the file changed since it was opened", self.path.display())),
            Err(e) => Some(format!("{}: {e}", self.path.display())),
        }
    }

    fn cheap_subregion(&self) -> bool {
        match &self.access {
            Access::Chunked { pipeline, .. } => pipeline.is_empty(),
            Access::Contiguous { .. } => true,
            Access::Library { .. } => self.filters.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchunked_blocks_keep_trailing_axes_whole() {
        let c = unchunked_blocks(&[100, 1000, 1000], 8, 16 << 20);
        assert_eq!(c.max_block_shape(), vec![2, 1000, 1000]);
        let c = unchunked_blocks(&[10, 10], 8, 16 << 20);
        assert_eq!(c.max_block_shape(), vec![10, 10]);
        let c = unchunked_blocks(&[3, 5_000_000], 4, 1 << 20);
        assert_eq!(c.max_block_shape(), vec![1, 262_144]);
    }

    #[test]
    fn bytes_become_values_in_either_order() {
        assert_eq!(buffer_from_bytes(&[0x01, 0x02], DType::I16, ByteOrder::Big), Buffer::I16(vec![0x0102]));
        assert_eq!(buffer_from_bytes(&[0x01, 0x02], DType::I16, ByteOrder::Little), Buffer::I16(vec![0x0201]));
        assert_eq!(buffer_from_bytes(&[0, 1, 2], DType::Bool, ByteOrder::Little), Buffer::Bool(vec![false, true, true]));
        assert_eq!(buffer_from_bytes(&1.5f32.to_be_bytes(), DType::F32, ByteOrder::Big), Buffer::F32(vec![1.5]));
    }

    #[test]
    fn dataset_names_are_normalized() {
        assert_eq!(normalize_name("t2m"), "/t2m");
        assert_eq!(normalize_name("/a//b/"), "/a/b");
    }
}
