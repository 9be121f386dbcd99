//! File formats: HDF5/NetCDF4, Zarr, `.npy` and PNG, plus demo data.
//!
//! Every call into the HDF5 library lives under this module. The rest of the
//! engine sees only [`Source`]s and [`Sink`]s. [`open`] turns a command-line
//! SOURCE (`PATH_OR_GLOB[:DATASET]`) into a source, stacking globbed files along a
//! new leading axis; [`create_sink`] turns an OUTPUT into a sink by its extension.

pub mod atomic;
pub mod cf;
pub mod cftime;
pub mod demo;
pub mod elements;
pub mod files;
pub mod hdf5;
pub mod npy;
pub mod png;
pub mod zarr;

use crate::chunks::{ChunkSpec, Chunks, Region, normalize_chunks};
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{Coordinate, Metadata, Source, SourceError, StackSource};
use crate::{Block, DType};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How sources are opened.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenOptions {
    /// Apply CF conventions (scale_factor/add_offset, _FillValue/missing_value/valid_range
    /// to NaN), as xarray and Panoply do. Off shows the raw stored values.
    pub decode_cf: bool,
    /// Block layout to use instead of the storage chunks.
    pub chunks: Option<ChunkSpec>,
    /// Reopen a set of files from its cached index (each file checked to be unchanged), and
    /// keep the index of a newly opened set ([`hdf5::Hdf5Source::open_set`]).
    pub index_cache: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions { decode_cf: true, chunks: None, index_cache: true }
    }
}

/// A SOURCE as written on the command line: `PATH_OR_GLOB[:DATASET]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSpec {
    pub pattern: String,
    pub dataset: Option<String>,
}

impl SourceSpec {
    /// Splits `data/*.hdf5:/t2m` into pattern and dataset. A text that names an existing
    /// path as a whole is taken as a path even when it contains `:`.
    pub fn parse(text: &str) -> SourceSpec {
        if Path::new(text).exists() {
            return SourceSpec { pattern: text.into(), dataset: None };
        }
        match text.rfind(':') {
            Some(i) if i > 0 && i + 1 < text.len() && !text[i + 1..].starts_with('\\') => {
                SourceSpec { pattern: text[..i].into(), dataset: Some(text[i + 1..].into()) }
            }
            _ => SourceSpec { pattern: text.into(), dataset: None },
        }
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.dataset {
            Some(d) => write!(f, "{}:{}", self.pattern, d),
            None => write!(f, "{}", self.pattern),
        }
    }
}

/// Extensions of HDF5 and NetCDF4 files.
pub const HDF5_EXTENSIONS: [&str; 8] = ["h5", "hdf5", "hdf", "he5", "nc", "nc4", "cdf", "netcdf"];

/// Extensions of the files gridlens opens as arrays (PNG it only writes).
pub const READABLE_EXTENSIONS: [&str; 10] = ["h5", "hdf5", "hdf", "he5", "nc", "nc4", "cdf", "netcdf", "npy", "zarr"];

/// The file formats gridlens reads and writes, by extension.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Hdf5,
    Zarr,
    Npy,
    Png,
}

impl Format {
    /// The format a path's extension names ([`HDF5_EXTENSIONS`], `.zarr`, `.npy`, `.png`).
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            e if HDF5_EXTENSIONS.contains(&e) => Format::Hdf5,
            "zarr" => Format::Zarr,
            "npy" => Format::Npy,
            "png" => Format::Png,
            _ => return None,
        })
    }
}

/// Expands a glob (or a plain path) into existing files, sorted by name.
///
/// # Errors
/// When the pattern is malformed or matches nothing.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>, SourceError> {
    let has_magic = pattern.contains(['*', '?', '[']);
    if !has_magic {
        let p = PathBuf::from(pattern);
        if !p.exists() {
            return Err(SourceError::new(pattern, "no such file or directory"));
        }
        return Ok(vec![p]);
    }
    let paths = glob::glob(pattern).map_err(|e| SourceError::new(pattern, format!("bad glob pattern: {e}")))?;
    let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    if files.is_empty() {
        return Err(SourceError::new(pattern, "the pattern matches no files"));
    }
    files.sort();
    Ok(files)
}

/// Opens one file's array (dispatching on the extension; unknown extensions are tried as HDF5).
///
/// # Errors
/// A [`SourceError`] naming the file (and dataset) when it cannot be opened.
pub fn open_file(path: &Path, dataset: Option<&str>, opts: &OpenOptions) -> Result<Arc<dyn Source>, SourceError> {
    match Format::of(path) {
        Some(Format::Zarr) => zarr::open_array(path, dataset, opts.decode_cf),
        Some(Format::Npy) => npy::open(path),
        Some(Format::Png) => Err(SourceError::new(path.display().to_string(), "PNG files can be written but not read")),
        Some(Format::Hdf5) | None => hdf5::open_dataset(path, dataset, opts),
    }
}

/// Opens a SOURCE: one file, or several (a glob) stacked along a new leading axis in
/// sorted name order, labelled with the dates found in their names; then applies
/// `opts.chunks`.
///
/// # Errors
/// When the glob matches nothing, a file cannot be opened, or the files disagree in
/// shape or dtype (the message names the first file that differs).
pub fn open(spec: &SourceSpec, opts: &OpenOptions) -> Result<Arc<dyn Source>, SourceError> {
    Ok(open_sources(std::slice::from_ref(spec), opts)?.0)
}

/// Opens several SOURCEs as one data set (files picked one by one, several globs): their
/// files in name order, stacked or joined as one glob's are. Also returns the files.
///
/// # Errors
/// As [`open`].
pub fn open_sources(specs: &[SourceSpec], opts: &OpenOptions) -> Result<(Arc<dyn Source>, Vec<PathBuf>), SourceError> {
    let mut pairs: Vec<(PathBuf, Option<String>)> = Vec::new();
    for s in specs {
        pairs.extend(expand(&s.pattern)?.into_iter().map(|f| (f, s.dataset.clone())));
    }
    if specs.len() > 1 {
        pairs.sort();
    }
    let files: Vec<PathBuf> = pairs.iter().map(|p| p.0.clone()).collect();
    let single = specs.len() == 1 && files.len() == 1 && !specs[0].pattern.contains(['*', '?', '[']);
    let source: Arc<dyn Source> = if single {
        open_file(&files[0], specs[0].dataset.as_deref(), opts)?
    } else if pairs.iter().all(|p| p.1 == pairs[0].1) {
        let pattern: Vec<String> = specs.iter().map(|s| s.pattern.clone()).collect();
        Arc::new(stack_files(&files, open_files(&pattern.join(";"), &files, pairs[0].1.as_deref(), opts)?)?)
    } else {
        let members = pairs.iter().map(|(f, d)| open_file(f, d.as_deref(), opts)).collect::<Result<Vec<_>, _>>()?;
        Arc::new(stack_files(&files, members)?)
    };
    let source: Arc<dyn Source> = match &opts.chunks {
        None => source,
        Some(c) => {
            let chunks = normalize_chunks(c, &source.shape(), source.dtype(), Some(&source.chunks()))
                .map_err(|e| SourceError::new(source.describe(), e.to_string()))?;
            Arc::new(Rechunked { inner: source, chunks })
        }
    };
    Ok((source, files))
}

/// Opens the same dataset in each of `files`, which `pattern` matched. HDF5 and NetCDF4 files
/// are opened as a set ([`hdf5::Hdf5Source::open_set`]: the first in full, the others indexed
/// on every core, or read from the set's index cache); other formats one after the other.
///
/// # Errors
/// The first file that cannot be opened (a missing dataset is reported for the first file).
pub fn open_files(
    pattern: &str,
    files: &[PathBuf],
    dataset: Option<&str>,
    opts: &OpenOptions,
) -> Result<Vec<Arc<dyn Source>>, SourceError> {
    if files.len() > 1 && files.iter().all(|f| matches!(Format::of(f), Some(Format::Hdf5) | None)) {
        let set = hdf5::Hdf5Source::open_set(pattern, files, dataset, opts)?;
        return Ok(set.into_iter().map(|s| Arc::new(s) as Arc<dyn Source>).collect());
    }
    files.iter().map(|f| open_file(f, dataset, opts)).collect()
}

/// Stacks one source per file in the given order. Files whose first axis is time (a
/// coordinate named `time`, or one with CF dates) are joined along it, as xarray's
/// `open_mfdataset` does: daily files of `time = 1` give one record per file, monthly files
/// of 28 to 31 days their days in turn, in the order of their times; when their times
/// repeat or overlap they are not joined. Other files are stacked along a new first axis.
/// Records are labelled by the dates in the file names when each file holds one record and
/// every name has a date, else by the records' own times.
///
/// # Errors
/// When the files disagree in shape or dtype (the message names the first that differs).
pub fn stack_files(files: &[PathBuf], members: Vec<Arc<dyn Source>>) -> Result<StackSource, SourceError> {
    // each member's time coordinate, when its first axis is time
    let leading_time = |m: &Arc<dyn Source>| -> Option<Coordinate> {
        let shape = m.shape();
        if shape.len() < 2 {
            return None;
        }
        let time = m.first_coordinate()?;
        (time.values.len() == shape[0] && (time.name == "time" || !time.labels.is_empty())).then_some(time)
    };
    let Some(times) = members.iter().map(leading_time).collect::<Option<Vec<Coordinate>>>().filter(|t| !t.is_empty()) else {
        return StackSource::new(members, Some(stack_labels(files)));
    };
    // as xarray's combine="by_coords": the files in the order of their times, joined only when
    // the joined times strictly increase (ten ensemble members of the same twelve months
    // stack along a new axis instead of making 120 months)
    let Some(order) = time_order(&times) else {
        return StackSource::new(members, Some(stack_labels(files)));
    };
    let files: Vec<PathBuf> = order.iter().map(|&k| files[k].clone()).collect();
    let members: Vec<Arc<dyn Source>> = order.iter().map(|&k| members[k].clone()).collect();
    let times: Vec<Coordinate> = order.iter().map(|&k| times[k].clone()).collect();
    let named = stack_labels(&files);
    let labels = if named.name == "time" && times.iter().all(|t| t.values.len() == 1) { named } else { joined_time(&times) };
    StackSource::join(members, Some(labels))
}

/// The order of files (by their first time) in which their times, joined, strictly increase;
/// `None` when there is none (repeated or overlapping times, missing values) or the times
/// cannot be compared (different calendars, or different units that are not CF times).
fn time_order(times: &[Coordinate]) -> Option<Vec<usize>> {
    let coords: Vec<(&[f64], Option<&str>, Option<&str>)> =
        times.iter().map(|t| (t.values.as_slice(), t.units.as_deref(), t.calendar.as_deref())).collect();
    let keys: Vec<Vec<f64>> = match cftime::shared_instants(&coords) {
        Some(instants) => instants.into_iter().map(|v| v.into_iter().map(|t| t.map_or(f64::NAN, |t| t as f64)).collect()).collect(),
        None if times.iter().all(|t| t.units == times[0].units) => times.iter().map(|t| t.values.clone()).collect(),
        None => return None,
    };
    let first = |k: usize| keys[k].first().copied().unwrap_or(f64::NEG_INFINITY);
    let mut order: Vec<usize> = (0..times.len()).collect();
    // stable: files of equal first times keep their name order (and then fail the check)
    order.sort_by(|&a, &b| first(a).total_cmp(&first(b)));
    let joined: Vec<f64> = order.iter().flat_map(|&k| keys[k].iter().copied()).collect();
    joined.windows(2).all(|w| w[0] < w[1]).then_some(order)
}

/// The time coordinate of files joined along time: their values decoded together when they
/// share units and calendar, so all labels have one format ("2000-01-01 00:00" beside
/// "2000-01-01 06:00"); else each file's own labels.
fn joined_time(times: &[Coordinate]) -> Coordinate {
    let values: Vec<f64> = times.iter().flat_map(|t| t.values.iter().copied()).collect();
    let shared = times.iter().all(|t| t.units == times[0].units && t.calendar == times[0].calendar);
    let together =
        if shared { cftime::coordinate_labels(&values, times[0].units.as_deref(), times[0].calendar.as_deref()) } else { vec![] };
    let labels = if together.is_empty() {
        times
            .iter()
            .flat_map(|t| t.values.iter().enumerate().map(|(i, v)| t.labels.get(i).cloned().unwrap_or_else(|| v.to_string())))
            .collect()
    } else {
        together
    };
    let (units, calendar) = if shared { (times[0].units.clone(), times[0].calendar.clone()) } else { (None, None) };
    Coordinate { name: "time".into(), values: if shared { values } else { vec![] }, labels, units, calendar }
}

/// Labels for a stack of files: the dates in their names when every name has one
/// (`2014-01-01.hdf5`, `t2m_20140101.nc`), else the file names.
pub fn stack_labels(files: &[PathBuf]) -> Coordinate {
    let names: Vec<String> = files.iter().map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    let dates: Vec<Option<String>> = names.iter().map(|n| find_date(n)).collect();
    if dates.iter().all(Option::is_some) {
        Coordinate { name: "time".into(), labels: dates.into_iter().flatten().collect(), ..Default::default() }
    } else {
        Coordinate { name: "file".into(), labels: names, ..Default::default() }
    }
}

/// Finds a calendar date written as `YYYY-MM-DD`, `YYYY_MM_DD` or `YYYYMMDD` in a file name.
pub fn find_date(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let valid = |y: &[u8], m: &[u8], d: &[u8]| {
        let m: u32 = std::str::from_utf8(m).ok()?.parse().ok()?;
        let d: u32 = std::str::from_utf8(d).ok()?.parse().ok()?;
        let y = std::str::from_utf8(y).ok()?;
        ((1..=12).contains(&m) && (1..=31).contains(&d) && (y.starts_with("19") || y.starts_with("20")))
            .then(|| format!("{y}-{m:02}-{d:02}"))
    };
    for i in 0..b.len() {
        if i + 10 <= b.len()
            && digits(&b[i..i + 4])
            && (b[i + 4] == b'-' || b[i + 4] == b'_')
            && b[i + 7] == b[i + 4]
            && digits(&b[i + 5..i + 7])
            && digits(&b[i + 8..i + 10])
            && let Some(d) = valid(&b[i..i + 4], &b[i + 5..i + 7], &b[i + 8..i + 10])
        {
            return Some(d);
        }
        if i + 8 <= b.len()
            && digits(&b[i..i + 8])
            && (i == 0 || !b[i - 1].is_ascii_digit())
            && (i + 8 == b.len() || !b[i + 8].is_ascii_digit())
            && let Some(d) = valid(&b[i..i + 4], &b[i + 4..i + 6], &b[i + 6..i + 8])
        {
            return Some(d);
        }
    }
    None
}

/// A source seen through another block layout (`--chunks`): reads go to the inner source.
#[derive(Debug)]
pub struct Rechunked {
    inner: Arc<dyn Source>,
    chunks: Chunks,
}

impl Source for Rechunked {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn shape(&self) -> Vec<usize> {
        self.inner.shape()
    }
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn chunks(&self) -> Chunks {
        self.chunks.clone()
    }
    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        self.inner.read(region)
    }
    fn metadata(&self) -> Metadata {
        self.inner.metadata()
    }
    fn cheap_subregion(&self) -> bool {
        self.inner.cheap_subregion()
    }
    fn changed(&self) -> Option<String> {
        self.inner.changed()
    }
}

/// Creates the sink for an OUTPUT: `FILE.h5[:DATASET]`, `FILE.hdf5[:DATASET]`, `DIR.zarr`,
/// `FILE.npy` or `FILE.png`.
///
/// # Errors
/// When the extension is unknown, the target exists and `opts.overwrite` is off, or the
/// temporary cannot be created.
pub fn create_sink(target: &str, spec: &SinkSpec, opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    let (path, dataset) = split_output(target);
    match Format::of(&path) {
        Some(Format::Hdf5) => hdf5::create_sink(&path, dataset.as_deref(), spec, opts),
        Some(Format::Zarr) => zarr::create_sink(&path, spec, opts),
        Some(Format::Npy) => npy::create_sink(&path, spec, opts),
        Some(Format::Png) => png::create_sink(&path, spec, opts),
        None => {
            Err(SinkError::new(target, "unknown output format: use FILE.h5[:DATASET], FILE.hdf5[:DATASET], DIR.zarr, FILE.npy or FILE.png"))
        }
    }
}

/// Splits `out.h5:/result` into the path and the dataset name.
pub fn split_output(target: &str) -> (PathBuf, Option<String>) {
    if let Some(i) = target.rfind(':') {
        let (p, d) = (&target[..i], &target[i + 1..]);
        if Format::of(Path::new(p)) == Some(Format::Hdf5) && !d.is_empty() {
            return (PathBuf::from(p), Some(d.to_string()));
        }
    }
    (PathBuf::from(target), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_readable_extension_names_a_format_read() {
        for ext in READABLE_EXTENSIONS {
            let f = Format::of(Path::new(&format!("a.{}", ext.to_uppercase())));
            assert!(matches!(f, Some(Format::Hdf5 | Format::Zarr | Format::Npy)), ".{ext}: {f:?}");
        }
        assert!(HDF5_EXTENSIONS.iter().all(|e| READABLE_EXTENSIONS.contains(e)));
        assert_eq!(Format::of(Path::new("a.png")), Some(Format::Png));
        assert_eq!(Format::of(Path::new("a.txt")), None);
    }

    #[test]
    fn source_spec_splits_dataset() {
        assert_eq!(
            SourceSpec::parse("no/such/dir/*.hdf5:/t2m"),
            SourceSpec { pattern: "no/such/dir/*.hdf5".into(), dataset: Some("/t2m".into()) }
        );
        assert_eq!(SourceSpec::parse("x.h5"), SourceSpec { pattern: "x.h5".into(), dataset: None });
    }

    #[test]
    fn dates_in_file_names() {
        assert_eq!(find_date("2014-01-01.hdf5").as_deref(), Some("2014-01-01"));
        assert_eq!(find_date("t2m_20140131_v2.nc").as_deref(), Some("2014-01-31"));
        assert_eq!(find_date("run_123456789.h5"), None);
        assert_eq!(find_date("day_7.h5"), None);
    }

    #[test]
    fn output_targets() {
        assert_eq!(split_output("out.h5:/mean"), (PathBuf::from("out.h5"), Some("/mean".into())));
        assert_eq!(split_output("out.zarr"), (PathBuf::from("out.zarr"), None));
    }
}
