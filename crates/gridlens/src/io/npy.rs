//! NumPy `.npy` files: one array, a small header, then the raw elements (`numpy.lib.format`).
//!
//! Reading ([`NpySource`]) uses positional reads (`pread`), so every worker thread reads its
//! own region from the one open file without seeking or locking. Little- and big-endian
//! files are read, in C or Fortran order. Writing ([`NpySink`]) lays out a version 1.0
//! header and the C-ordered data of the whole array, then every block writes its rows at
//! their offsets with positional writes, from any thread, in any order; the file appears at
//! its target only on commit (see [`crate::io::atomic`]).

pub mod header;
#[cfg(test)]
pub(crate) mod pytest;

pub use header::{HeaderError, NpyHeader};

use crate::block::{Block, c_strides};
use crate::chunks::{AUTO_BLOCK_BYTES, Chunks, Region, split_axis};
use crate::dtype::DType;
use crate::io::atomic::AtomicTarget;
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{Source, SourceError, fmt_shape};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A `.npy` file opened for reading.
#[derive(Debug)]
pub struct NpySource {
    path: PathBuf,
    file: File,
    header: NpyHeader,
    chunks: Chunks,
}

/// Opens a `.npy` file as a [`Source`].
///
/// # Errors
/// A [`SourceError`] naming the file when it cannot be opened, is not a `.npy` file, has an
/// unsupported dtype (complex, strings, structured, float16) or is shorter than its header
/// says.
pub fn open(path: &Path) -> Result<Arc<dyn Source>, SourceError> {
    Ok(Arc::new(NpySource::open(path)?))
}

impl NpySource {
    /// Opens and checks `path`; see [`open`].
    ///
    /// # Errors
    /// As [`open`].
    pub fn open(path: &Path) -> Result<NpySource, SourceError> {
        let what = path.display().to_string();
        let err = |m: String| SourceError::new(what.clone(), m);
        let file = File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let file_len = file.metadata().map_err(|e| err(format!("cannot stat: {e}")))?.len();
        let mut start = vec![0u8; 12.min(file_len as usize)];
        file.read_exact_at(&mut start, 0).map_err(|e| err(format!("cannot read the header: {e}")))?;
        let total = header::header_len(&start).map_err(|e| err(e.to_string()))?;
        let mut bytes = vec![0u8; total.min(file_len as usize)];
        file.read_exact_at(&mut bytes, 0).map_err(|e| err(format!("cannot read the header: {e}")))?;
        let header = header::parse(&bytes).map_err(|e| err(e.to_string()))?;
        let need = header.data_offset + header.data_bytes();
        if file_len < need {
            return Err(err(format!(
                "truncated: the header describes {} {} ({} bytes of data), but the file ends {} bytes short",
                fmt_shape(&header.shape),
                header.dtype,
                header.data_bytes(),
                need - file_len
            )));
        }
        let chunks = slab_chunks(&header.shape, header.dtype.size_bytes(), header.fortran_order, AUTO_BLOCK_BYTES);
        Ok(NpySource { path: path.to_path_buf(), file, header, chunks })
    }

    /// The parsed header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }
}

/// Blocks that are contiguous slabs of the file: the fastest-varying axes whole while a
/// block stays within `budget_bytes`, then one axis split, and the slower axes in steps of 1.
/// Reading such a block is one sequential read.
pub fn slab_chunks(shape: &[usize], item_bytes: usize, fortran_order: bool, budget_bytes: usize) -> Chunks {
    let nd = shape.len();
    // Axes from fastest to slowest varying in the file.
    let order: Vec<usize> = if fortran_order { (0..nd).collect() } else { (0..nd).rev().collect() };
    let mut lens: Vec<usize> = vec![1; nd];
    let mut room = (budget_bytes / item_bytes.max(1)).max(1);
    for &d in &order {
        let n = shape[d].max(1);
        if n <= room {
            lens[d] = n;
            room /= n;
        } else {
            lens[d] = room.max(1);
            break;
        }
    }
    Chunks::new((0..nd).map(|d| split_axis(shape[d], lens[d].max(1))).collect())
}

/// Calls `f(file_element, region_element, run_len)` for every run of elements of `region`
/// that is contiguous in a C-ordered array of `shape`, in C order of the region.
/// `file_element` counts from the array's first element, `region_element` from the
/// region's. Runs merge all trailing axes that the region covers whole.
pub(crate) fn for_each_run(shape: &[usize], region: &Region, mut f: impl FnMut(u64, usize, usize) -> io::Result<()>) -> io::Result<()> {
    let nd = shape.len();
    if region.shape.contains(&0) {
        return Ok(());
    }
    if nd == 0 {
        return f(0, 0, 1);
    }
    let strides = c_strides(shape);
    // k: the slowest axis of the run; axes after it are covered whole.
    let mut k = nd - 1;
    while k > 0 && region.shape[k] == shape[k] && region.start[k] == 0 {
        k -= 1;
    }
    let run = region.shape[k] * strides[k];
    let outer = &region.shape[..k];
    let mut idx = vec![0usize; k];
    let mut done = 0usize;
    loop {
        let mut off: u64 = (region.start[k] * strides[k]) as u64;
        for d in 0..k {
            off += ((region.start[d] + idx[d]) * strides[d]) as u64;
        }
        f(off, done, run)?;
        done += run;
        let mut d = k;
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < outer[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Checks that `region` lies inside `shape`, naming both when it does not.
pub(crate) fn check_region(shape: &[usize], region: &Region) -> Result<(), String> {
    let inside = region.ndim() == shape.len() && region.start.iter().zip(&region.shape).zip(shape).all(|((s, n), len)| s + n <= *len);
    if inside { Ok(()) } else { Err(format!("region {region} is outside the array's shape {}", fmt_shape(shape))) }
}

impl Source for NpySource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn shape(&self) -> Vec<usize> {
        self.header.shape.clone()
    }

    fn dtype(&self) -> DType {
        self.header.dtype
    }

    fn chunks(&self) -> Chunks {
        self.chunks.clone()
    }

    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        let h = &self.header;
        check_region(&h.shape, region).map_err(|m| SourceError::new(self.describe(), m).at(region))?;
        // A Fortran-ordered file is a C-ordered file of the reversed shape.
        let (shape, sub) = if h.fortran_order {
            let rev = |v: &[usize]| v.iter().rev().copied().collect::<Vec<_>>();
            (rev(&h.shape), Region { start: rev(&region.start), shape: rev(&region.shape) })
        } else {
            (h.shape.clone(), region.clone())
        };
        let item = h.dtype.size_bytes();
        let mut bytes = vec![0u8; region.len() * item];
        for_each_run(&shape, &sub, |file_el, reg_el, n| {
            self.file.read_exact_at(&mut bytes[reg_el * item..(reg_el + n) * item], h.data_offset + file_el * item as u64)
        })
        .map_err(|e| SourceError::new(self.describe(), format!("read failed: {e}")).at(region))?;
        let data = crate::io::elements::decode(h.dtype, &bytes, h.big_endian);
        if !h.fortran_order {
            return Ok(Block::new(region.shape.clone(), data));
        }
        Ok(crate::with_buffer!(data, v => {
            let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&sub.shape), v).expect("sizes match");
            Block::from_ndarray(a.reversed_axes())
        }))
    }
}

/// Writes an array to a `.npy` file block by block; see the module docs.
#[derive(Debug)]
pub struct NpySink {
    target: AtomicTarget,
    file: File,
    shape: Vec<usize>,
    dtype: DType,
    data_offset: u64,
    /// Elements written so far; blocks do not overlap, so this reaching the array's length
    /// means every element has been written.
    written: AtomicU64,
}

/// Creates a `.npy` sink for an array described by `spec` (`opts.overwrite` is honoured;
/// chunking and compression do not apply to `.npy`).
///
/// # Errors
/// When the target exists without `opts.overwrite`, or the temporary cannot be created.
pub fn create_sink(path: &Path, spec: &SinkSpec, opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    Ok(Box::new(NpySink::create(path, &spec.shape, spec.dtype, opts.overwrite)?))
}

impl NpySink {
    /// Creates the temporary file with its header and full length; see [`create_sink`].
    ///
    /// # Errors
    /// As [`create_sink`].
    pub fn create(path: &Path, shape: &[usize], dtype: DType, overwrite: bool) -> Result<NpySink, SinkError> {
        let target = AtomicTarget::new(path, overwrite)?;
        let err = |m: String| SinkError::new(path.display().to_string(), m);
        let head = header::write_v1(shape, dtype).map_err(|e| err(e.to_string()))?;
        let file = target.create_file()?;
        let data_bytes = shape.iter().map(|&n| n as u64).product::<u64>() * dtype.size_bytes() as u64;
        file.write_all_at(&head, 0).map_err(|e| err(format!("cannot write the header: {e}")))?;
        // The full length up front: blocks write at their offsets, and the file is sparse
        // until they do.
        file.set_len(head.len() as u64 + data_bytes).map_err(|e| err(format!("cannot size the file: {e}")))?;
        Ok(NpySink { target, file, shape: shape.to_vec(), dtype, data_offset: head.len() as u64, written: AtomicU64::new(0) })
    }

    fn err(&self, message: impl Into<String>) -> SinkError {
        SinkError::new(self.describe(), message)
    }
}

impl Sink for NpySink {
    fn describe(&self) -> String {
        self.target.target().display().to_string()
    }

    fn write(&self, region: &Region, block: &Block) -> Result<(), SinkError> {
        crate::sink::check_block(&self.shape, region, block).map_err(|m| self.err(m))?;
        let cast;
        let block = if block.dtype() == self.dtype {
            block
        } else {
            cast = block.cast(self.dtype);
            &cast
        };
        let bytes = crate::io::elements::encode_le(block.data());
        let item = self.dtype.size_bytes();
        for_each_run(&self.shape, region, |file_el, reg_el, n| {
            self.file.write_all_at(&bytes[reg_el * item..(reg_el + n) * item], self.data_offset + file_el * item as u64)
        })
        .map_err(|e| self.err(format!("write of block {region} failed: {e}")))?;
        self.written.fetch_add(region.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn commit(&self) -> Result<PathBuf, SinkError> {
        if self.target.is_committed() {
            return Ok(self.target.target().to_path_buf());
        }
        if let Err(m) = crate::sink::check_complete(&self.shape, self.written.load(Ordering::Relaxed)) {
            self.target.abort();
            return Err(self.err(m));
        }
        if let Err(e) = self.file.sync_data() {
            self.target.abort();
            return Err(self.err(format!("cannot flush the file: {e}")));
        }
        Ok(self.target.commit()?)
    }

    fn abort(&self) {
        self.target.abort();
    }
}

#[cfg(test)]
mod tests;
