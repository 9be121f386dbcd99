//! Demo data: a month of synthetic daily 2-m temperature fields, one HDF5 file per day,
//! shaped like the files of the dask tutorial's `prep.py` (`data/weather-big/*.hdf5`).
//!
//! `gridlens demo-data DIR` calls [`write_demo`]: files `2014-01-01.hdf5`, `2014-01-02.hdf5`,
//! … each with a chunked, uncompressed dataset `/t2m` (K, with CF attributes) and 1-D
//! coordinate datasets `/lat` (90 → -90, cell centres) and `/lon` (-180 → 180), attached to
//! `/t2m`'s axes as HDF5 dimension scales so that h5py, netCDF4 and xarray see `lat` and
//! `lon` as its dimensions. The field itself comes from [`model::Climate`]; it is
//! deterministic for a seed. Rows are computed in parallel and written one chunk-row at a
//! time, so memory stays bounded even for the tutorial's full 5760 × 11520 grid. Each file
//! is written to a temporary and renamed into place ([`crate::io::atomic`]).

pub mod model;

use crate::dtype::DType;
use crate::io::atomic::{AtomicError, AtomicTarget};
use crate::source::fmt_shape;
use model::Climate;
use std::path::{Path, PathBuf};

/// The largest slab of rows generated and written at once, in bytes (as f64). Two slabs are
/// alive at a time (one written while the next is computed), so a file is written with at
/// most 256 MiB of values in memory; chunk rows larger than this are written in parts.
const MAX_SLAB_BYTES: usize = 128 << 20;

/// The chunk length used when none is given (capped to the shape), as in `prep.py`.
pub const DEFAULT_CHUNK: usize = 500;

/// What to generate (`gridlens demo-data DIR [--days 31] [--shape 1440x2880] [--dtype f8]
/// [--chunks 500,500]`).
#[derive(Clone, Debug, PartialEq)]
pub struct DemoOptions {
    /// Number of daily files, starting 2014-01-01.
    pub days: usize,
    /// Grid shape (latitudes, longitudes).
    pub shape: [usize; 2],
    /// float64 or float32.
    pub dtype: DType,
    /// HDF5 chunk shape; `None` uses [`DEFAULT_CHUNK`] on both axes, capped to the shape.
    pub chunks: Option<[usize; 2]>,
    /// Seed of the synthetic world; the same seed gives the same files.
    pub seed: u64,
    /// Replace existing files instead of refusing.
    pub overwrite: bool,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions { days: 31, shape: [1440, 2880], dtype: DType::F64, chunks: None, seed: 2014, overwrite: false }
    }
}

/// Why demo data could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An option is out of range; the message names it and its value.
    #[error("{0}")]
    Option(String),
    /// A file could not be written.
    #[error("{}: {message}", path.display())]
    Write {
        /// The file (or directory) being written.
        path: PathBuf,
        /// What failed, from HDF5 or the file system.
        message: String,
    },
    /// The target exists (without overwrite) or the temporary failed.
    #[error(transparent)]
    Target(#[from] AtomicError),
}

/// Parses a grid shape written as `1440x2880` (also `1440,2880`).
///
/// # Errors
/// [`DemoError::Option`] quoting the text.
pub fn parse_shape(text: &str) -> Result<[usize; 2], DemoError> {
    parse_pair(text, &['x', 'X', ',', '×'])
        .ok_or_else(|| DemoError::Option(format!("--shape {text:?} is not two positive lengths like 1440x2880")))
}

/// Parses a chunk shape written as `500,500` (also `500x500`).
///
/// # Errors
/// [`DemoError::Option`] quoting the text.
pub fn parse_chunks(text: &str) -> Result<[usize; 2], DemoError> {
    parse_pair(text, &[',', 'x', 'X'])
        .ok_or_else(|| DemoError::Option(format!("--chunks {text:?} is not two positive lengths like 500,500")))
}

fn parse_pair(text: &str, seps: &[char]) -> Option<[usize; 2]> {
    let mut it = text.split(seps).map(|p| p.trim().parse::<usize>().ok().filter(|&n| n > 0));
    let pair = [it.next()??, it.next()??];
    it.next().is_none().then_some(pair)
}

/// The calendar date `day` days after 2014-01-01, as `YYYY-MM-DD` (proleptic Gregorian).
pub fn date_of_day(day: usize) -> String {
    // 2014-01-01 is day 16071 of the Unix epoch
    let (y, m, d) = crate::io::cftime::date_from_unix_days(16_071 + day as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Cell-centre latitudes from north to south.
pub fn latitudes(n: usize) -> Vec<f64> {
    (0..n).map(|i| 90.0 - (i as f64 + 0.5) * 180.0 / n as f64).collect()
}

/// Cell-centre longitudes from west to east.
pub fn longitudes(n: usize) -> Vec<f64> {
    (0..n).map(|j| -180.0 + (j as f64 + 0.5) * 360.0 / n as f64).collect()
}

/// Writes `opts.days` daily files into `dir` (created if missing) and returns their paths.
/// `progress(done, total)` is called after every slab of rows written (a chunk-row, or
/// part of one when a chunk-row is larger than 128 MiB), counting slabs over all files.
///
/// # Errors
/// [`DemoError::Option`] for a zero or non-float option; [`DemoError::Target`] when a file
/// exists and `opts.overwrite` is off (nothing is written then); [`DemoError::Write`] when
/// HDF5 fails. Files finished before an error stay; the one being written is removed.
pub fn write_demo(dir: &Path, opts: &DemoOptions, progress: &dyn Fn(usize, usize)) -> Result<Vec<PathBuf>, DemoError> {
    let [h, w] = opts.shape;
    if opts.days == 0 || h == 0 || w == 0 {
        return Err(DemoError::Option(format!("nothing to write: {} days of shape {}", opts.days, fmt_shape(&opts.shape))));
    }
    if !opts.dtype.is_float() {
        return Err(DemoError::Option(format!("--dtype {} is not float32 (f4) or float64 (f8)", opts.dtype.code())));
    }
    let chunks = match opts.chunks {
        Some([a, b]) if a == 0 || b == 0 => {
            return Err(DemoError::Option(format!("--chunks {a},{b} has a zero length")));
        }
        Some([a, b]) => [a.min(h), b.min(w)],
        None => [DEFAULT_CHUNK.min(h), DEFAULT_CHUNK.min(w)],
    };
    std::fs::create_dir_all(dir).map_err(|e| DemoError::Write { path: dir.to_path_buf(), message: e.to_string() })?;
    let paths: Vec<PathBuf> = (0..opts.days).map(|d| dir.join(format!("{}.hdf5", date_of_day(d)))).collect();
    // Refuse before writing anything, rather than after half the month.
    if !opts.overwrite
        && let Some(p) = paths.iter().find(|p| p.exists())
    {
        return Err(AtomicError::Exists { target: p.clone() }.into());
    }
    let row_bytes = w * opts.dtype.size_bytes().max(8);
    let slab_rows = chunks[0].min((MAX_SLAB_BYTES / row_bytes).max(1));
    let slabs_per_day = h.div_ceil(slab_rows);
    let total = slabs_per_day * opts.days;
    let climate = Climate::new(opts.seed, opts.days);
    let (lat, lon) = (latitudes(h), longitudes(w));
    let mut done = 0;
    for (day, path) in paths.iter().enumerate() {
        let target = AtomicTarget::new(path, opts.overwrite)?;
        let tick = || {
            done += 1;
            progress(done, total);
        };
        let row = |r: usize, out: &mut [f64]| climate.row(day, r, lat[r], &lon, out);
        crate::io::hdf5::demo::write_day(target.temp_path(), opts.dtype, chunks, slab_rows, &lat, &lon, &row, tick)
            .map_err(|message| DemoError::Write { path: path.clone(), message })?;
        target.commit()?;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests;
