//! HDF5 and NetCDF4 files (a NetCDF4 file is an HDF5 file with conventions): reading a
//! dataset as a [`Source`], browsing a file's tree, and writing a result as a [`Sink`]
//! (dask's `from_array(h5py.Dataset)` and `to_hdf5`, with xarray's CF decoding).
//!
//! Every call into the HDF5 library lives under this module. The library serialises all
//! calls behind one global lock, so the reader uses it only to open a dataset and to read
//! its chunk index; chunks are then read by position and decoded on any thread
//! ([`reader`], [`filters`]). The parts:
//!
//! - [`storage`]: element type, byte order, layout, filter pipeline, fill value;
//! - [`filters`]: gzip, shuffle and fletcher32 undone without the library;
//! - [`reader`]: [`Hdf5Source`], the lock-free chunk reader with the library as fallback;
//! - [`cf`]: CF decoding (`scale_factor`, `add_offset`, `_FillValue` …) as xarray does it;
//! - [`meta`]: attributes, coordinate variables and the [`FileTree`] of `gridlens info`;
//! - [`sink`]: [`Hdf5Sink`], atomic writing through a temporary sibling of the target.

#![warn(missing_docs)]

mod cache;
pub mod demo;
pub mod filters;
mod index;
pub mod meta;
pub mod reader;
mod scales;
pub mod sink;
pub mod storage;

#[cfg(test)]
mod tests;

pub use meta::{AttrJson, AttrNode, DatasetNode, FileTree, GroupNode};
pub use reader::Hdf5Source;
pub use sink::Hdf5Sink;
pub use storage::FilterInfo;

use crate::io::OpenOptions;
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{Source, SourceError};
use std::path::Path;
use std::sync::Arc;

/// Opens one dataset of an HDF5 or NetCDF4 file as a [`Source`].
///
/// `dataset` is a path inside the file (`/t2m`, `group/var`); `None` picks the file's
/// single numeric dataset of rank ≥ 1 that is not a coordinate variable. With
/// `opts.decode_cf` (the default), CF packing and missing values are decoded.
///
/// # Errors
/// A [`SourceError`] naming the file: it is missing, unreadable, not HDF5, or truncated;
/// the dataset is missing or ambiguous (the message lists the datasets there are); its
/// type is not numeric; or it uses a filter this build cannot decode (named).
pub fn open_dataset(path: &Path, dataset: Option<&str>, opts: &OpenOptions) -> Result<Arc<dyn Source>, SourceError> {
    Ok(Arc::new(Hdf5Source::open(path, dataset, opts)?))
}

/// Creates a sink writing a new HDF5 file at `path`, or — with `dataset` named and the file
/// present — a new dataset in a copy of that file that replaces it on commit.
///
/// The dataset is chunked (`opts.chunk_shape`, else the output's block shape capped at
/// 4 MiB per chunk), gzip-compressed with shuffle when `opts.compression_level` is above 0,
/// and carries `spec.attrs` plus `history`. Without `dataset` it is named `/data`.
///
/// # Errors
/// When the target (or the named dataset in it) exists and `opts.overwrite` is off, an
/// existing file is not HDF5, the chunk shape does not fit, or the temporary cannot be created.
pub fn create_sink(path: &Path, dataset: Option<&str>, spec: &SinkSpec, opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    Ok(Box::new(Hdf5Sink::create(path, dataset, spec, opts)?))
}

/// Describes a file's groups, datasets (shape, dtype, chunks, layout, filters) and
/// attributes without reading any data, for `gridlens info` (`Display` for text, serde for
/// `--json`).
///
/// # Errors
/// When the file cannot be opened as HDF5 (the message names the file and why).
pub fn describe_file(path: &Path) -> Result<FileTree, SourceError> {
    let (_, h5, len) = reader::open_file(path)?;
    Ok(meta::file_tree(&h5, path.display().to_string(), len))
}
