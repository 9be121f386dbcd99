//! Sinks: where a computed array is stored, block by block (dask's `store` targets).
//!
//! A sink writes each output block as it arrives and never holds the whole array.
//! Sinks write to a temporary sibling of their target and only [`Sink::commit`]
//! renames it into place, so after an error or a cancel nothing is left at the target.

use crate::block::Block;
use crate::chunks::{Chunks, Region};
use crate::dtype::DType;
use crate::source::AttrValue;
use std::path::PathBuf;

pub mod provenance;

/// A failure to write a result, naming the target.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{target}: {message}")]
pub struct SinkError {
    pub target: String,
    pub message: String,
}

impl SinkError {
    pub fn new(target: impl Into<String>, message: impl Into<String>) -> SinkError {
        SinkError { target: target.into(), message: message.into() }
    }
}

/// What a sink needs to know before the first block arrives.
#[derive(Clone, Debug)]
pub struct SinkSpec {
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// The blocks that will be written (output chunks of the plan).
    pub chunks: Chunks,
    /// Attributes to carry over (units, long_name), already filtered to those that still hold.
    pub attrs: Vec<(String, AttrValue)>,
    /// Provenance written as a `history` attribute: version, expression, sources.
    pub history: String,
}

/// How to write: storage chunking, compression, and whether to replace an existing target.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOptions {
    /// Storage chunk shape; `None` uses the output's block shape (capped to the format's limits).
    pub chunk_shape: Option<Vec<usize>>,
    /// gzip/deflate level 0–9; `None` means no compression for HDF5 and the format default for Zarr.
    pub compression_level: Option<u32>,
    /// Replace an existing target instead of refusing.
    pub overwrite: bool,
    /// Zarr format version to write (2 or 3).
    pub zarr_version: u8,
    /// Colormap name for PNG output.
    pub colormap: String,
    /// Value range for PNG output; `None` uses the data's min and max.
    pub value_range: Option<(f64, f64)>,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            chunk_shape: None,
            compression_level: None,
            overwrite: false,
            zarr_version: 3,
            colormap: "viridis".into(),
            value_range: None,
        }
    }
}

/// A destination for the blocks of one array.
///
/// [`Sink::write`] may be called from several worker threads at once, in any block order.
pub trait Sink: Send + Sync {
    /// The target as the user named it, for messages.
    fn describe(&self) -> String;

    /// Writes `block`, which holds the elements of `region` of the output.
    ///
    /// # Errors
    /// When the write fails (disk full, permissions); the job then ends and calls [`Sink::abort`].
    fn write(&self, region: &Region, block: &Block) -> Result<(), SinkError>;

    /// Finishes the output and moves it to its target; returns the target's path.
    ///
    /// # Errors
    /// When finishing or renaming fails; nothing is then left at the target.
    fn commit(&self) -> Result<PathBuf, SinkError>;

    /// Removes everything written so far. Called after an error or a cancel; calling it after
    /// [`Sink::commit`] or twice does nothing.
    fn abort(&self);
}

/// Checks a block handed to [`Sink::write`]: its region lies inside `shape` and the block has
/// the region's shape. The message names both.
///
/// # Errors
/// A message for [`SinkError`] when either does not hold.
pub fn check_block(shape: &[usize], region: &Region, block: &Block) -> Result<(), String> {
    let inside = region.ndim() == shape.len() && region.start.iter().zip(&region.shape).zip(shape).all(|((s, n), len)| s + n <= *len);
    if !inside {
        return Err(format!("region {region} is outside the array's shape {}", crate::source::fmt_shape(shape)));
    }
    if block.shape() != region.shape.as_slice() {
        return Err(format!("block of shape {} for region {region}", crate::source::fmt_shape(block.shape())));
    }
    Ok(())
}

/// The check every sink makes before it commits: all `shape`'s elements were written.
///
/// # Errors
/// A message for [`SinkError`] naming how many were.
pub fn check_complete(shape: &[usize], written: u64) -> Result<(), String> {
    let total: u64 = shape.iter().map(|&n| n as u64).product();
    if written == total { Ok(()) } else { Err(format!("only {written} of {total} elements were written; nothing was saved")) }
}
