//! Writing one array as a new Zarr store: [`ZarrSink`].

use super::chunk_locks::ChunkLocks;
use crate::block::{Block, Buffer};
use crate::chunks::Region;
use crate::dtype::DType;
use crate::io::atomic::AtomicTarget;
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{AttrValue, fmt_shape};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use zarrs::array::{Array, ArrayError, ArrayMetadata, ArrayMetadataOptions, ArrayMetadataV2, ArrayMetadataV3, ArraySubset};
use zarrs::filesystem::FilesystemStore;

/// The zstd level zarr-python 3 uses by default (its level 0 is zstd's default, 3).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// The blosc level used when no compression level is given: zarr-python 2's default
/// compressor, blosc with lz4 at level 5 and byte shuffle. Shuffling groups the bytes of
/// floats by significance, and lz4 is several times faster than zstd or gzip, so writing
/// costs little more than the disk; zarr-python 2 and 3 both read it.
pub const DEFAULT_BLOSC_LEVEL: u8 = 5;

/// Writes one array to a new Zarr store, from many threads; see the module docs of
/// [`crate::io::zarr`].
pub struct ZarrSink {
    target: AtomicTarget,
    array: Array<FilesystemStore>,
    shape: Vec<usize>,
    dtype: DType,
    /// The regular storage chunk shape (≥ 1 on every axis).
    chunk_shape: Vec<usize>,
    locks: ChunkLocks,
    /// Elements written so far (blocks never overlap).
    written: AtomicU64,
}

impl std::fmt::Debug for ZarrSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrSink").field("target", &self.target.target()).field("chunk_shape", &self.chunk_shape).finish()
    }
}

/// Attributes as JSON: text as strings, one number as a number, several as a list;
/// non-finite floats as the strings zarr uses for them (`"NaN"`, `"Infinity"`).
fn attrs_json(attrs: &[(String, AttrValue)], history: &str) -> Map<String, Value> {
    let float = |x: f64| {
        if x.is_nan() {
            json!("NaN")
        } else if x.is_infinite() {
            json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            json!(x)
        }
    };
    let mut out = Map::new();
    for (k, v) in attrs {
        let j = match v {
            AttrValue::Text(s) => json!(s),
            AttrValue::Int(v) if v.len() == 1 => json!(v[0]),
            AttrValue::Int(v) => json!(v),
            AttrValue::Float(v) if v.len() == 1 => float(v[0]),
            AttrValue::Float(v) => Value::Array(v.iter().map(|&x| float(x)).collect()),
        };
        out.insert(k.clone(), j);
    }
    if !history.is_empty() {
        // CF convention: the newest step first, earlier history kept below it.
        let h = match out.get("history") {
            Some(Value::String(old)) if !old.is_empty() => format!("{history}\n{old}"),
            _ => history.to_string(),
        };
        out.insert("history".into(), json!(h));
    }
    out
}

/// The fill value of chunks never written: NaN for floats (missing data, as xarray
/// writes it), zero or false otherwise.
fn fill_value(dtype: DType) -> Value {
    match dtype {
        DType::Bool => json!(false),
        DType::F32 | DType::F64 => json!("NaN"),
        _ => json!(0),
    }
}

impl ZarrSink {
    /// Creates the temporary store with the array's metadata; see [`super::create_sink`].
    ///
    /// # Errors
    /// As [`super::create_sink`].
    pub fn create(path: &Path, spec: &SinkSpec, opts: &WriteOptions) -> Result<ZarrSink, SinkError> {
        let err = |m: String| SinkError::new(path.display().to_string(), m);
        let nd = spec.shape.len();
        let chunk_shape: Vec<usize> = match &opts.chunk_shape {
            Some(c) if c.len() != nd => {
                return Err(err(format!(
                    "the chunk shape {} has {} axes but the result {} has {nd}",
                    fmt_shape(c),
                    c.len(),
                    fmt_shape(&spec.shape)
                )));
            }
            Some(c) if c.contains(&0) => {
                return Err(err(format!("the chunk shape {} has a zero length", fmt_shape(c))));
            }
            Some(c) => c.iter().zip(&spec.shape).map(|(&c, &n)| c.min(n.max(1))).collect(),
            None => spec.chunks.max_block_shape().iter().map(|&c| c.max(1)).collect(),
        };
        let compressor = match opts.compression_level {
            Some(l) if l > 9 => {
                return Err(err(format!("compression level {l} is outside gzip's 0–9")));
            }
            Some(l) => Compressor::Gzip(l),
            None => Compressor::BloscLz4(DEFAULT_BLOSC_LEVEL),
        };
        let attributes = attrs_json(&spec.attrs, &spec.history);
        let metadata = match opts.zarr_version {
            3 => ArrayMetadata::V3(metadata_v3(&spec.shape, &chunk_shape, spec.dtype, compressor, attributes).map_err(err)?),
            2 => ArrayMetadata::V2(metadata_v2(&spec.shape, &chunk_shape, spec.dtype, compressor, attributes).map_err(err)?),
            v => {
                return Err(err(format!("Zarr format version {v} is not one of 2 and 3")));
            }
        };
        let target = AtomicTarget::new(path, opts.overwrite)?;
        target.create_dir()?;
        let store = FilesystemStore::new(target.temp_path()).map_err(|e| err(format!("cannot open the temporary store: {e}")))?;
        let array = Array::new_with_metadata(Arc::new(store), "/", metadata).map_err(|e| err(format!("cannot create the array: {e}")))?;
        array
            .store_metadata_opt(&ArrayMetadataOptions::default().with_include_zarrs_metadata(false))
            .map_err(|e| err(format!("cannot write the metadata: {e}")))?;
        Ok(ZarrSink {
            target,
            array,
            shape: spec.shape.clone(),
            dtype: spec.dtype,
            chunk_shape,
            locks: ChunkLocks::default(),
            written: AtomicU64::new(0),
        })
    }

    fn err(&self, message: impl Into<String>) -> SinkError {
        SinkError::new(self.describe(), message)
    }

    /// Stores `data` (C order) into `region` of the array.
    fn store(&self, region: &Region, data: &Buffer) -> Result<(), ArrayError> {
        let start: Vec<u64> = region.start.iter().map(|&s| s as u64).collect();
        let shape: Vec<u64> = region.shape.iter().map(|&s| s as u64).collect();
        let subset = ArraySubset::new_with_start_shape(start, shape)?;
        crate::with_buffer!(data, v => self.array.store_array_subset(&subset, v.as_slice()))
    }

    /// The storage chunk indices a region touches, per axis (first, last).
    fn chunk_span(&self, region: &Region) -> Vec<(usize, usize)> {
        (0..self.shape.len())
            .map(|d| {
                let c = self.chunk_shape[d];
                (region.start[d] / c, (region.start[d] + region.shape[d] - 1) / c)
            })
            .collect()
    }

    /// The part of storage chunk `index` inside the array.
    fn chunk_region(&self, index: &[usize]) -> Region {
        let start: Vec<usize> = index.iter().zip(&self.chunk_shape).map(|(i, c)| i * c).collect();
        let shape = start.iter().zip(&self.chunk_shape).zip(&self.shape).map(|((s, c), n)| (*c).min(n - s)).collect();
        Region { start, shape }
    }

    /// Writes the parts of `block` chunk by chunk, locking the chunks it covers only partly.
    fn write_by_chunk(&self, region: &Region, block: &Block, span: &[(usize, usize)]) -> Result<(), SinkError> {
        let nd = self.shape.len();
        let grid: Vec<u64> = self.shape.iter().zip(&self.chunk_shape).map(|(n, c)| n.div_ceil(*c) as u64).collect();
        let mut index: Vec<usize> = span.iter().map(|s| s.0).collect();
        loop {
            let chunk = self.chunk_region(&index);
            let start: Vec<usize> = (0..nd).map(|d| chunk.start[d].max(region.start[d])).collect();
            let end: Vec<usize> = (0..nd).map(|d| (chunk.start[d] + chunk.shape[d]).min(region.start[d] + region.shape[d])).collect();
            let part = Region { shape: (0..nd).map(|d| end[d] - start[d]).collect(), start };
            let local: Vec<usize> = (0..nd).map(|d| part.start[d] - region.start[d]).collect();
            let sub = block.subblock(&local, &part.shape);
            let linear = index.iter().zip(&grid).fold(0u64, |acc, (&i, &g)| acc * g + i as u64);
            let _guard = (part != chunk).then(|| self.locks.lock(linear));
            self.store(&part, sub.data()).map_err(|e| self.err(format!("cannot write chunk {index:?}: {e}")))?;
            // next chunk index in C order within the span
            let mut d = nd;
            loop {
                if d == 0 {
                    return Ok(());
                }
                d -= 1;
                index[d] += 1;
                if index[d] <= span[d].1 {
                    break;
                }
                index[d] = span[d].0;
            }
        }
    }
}

/// The bytes-to-bytes codec of a new array.
#[derive(Copy, Clone, Debug)]
enum Compressor {
    Gzip(u32),
    #[allow(dead_code)] // kept for zarr-python 3's default, selectable once the CLI offers codecs
    Zstd(i32),
    /// blosc with lz4 and byte shuffle.
    BloscLz4(u8),
}

fn metadata_v3(
    shape: &[usize],
    chunk: &[usize],
    dtype: DType,
    compressor: Compressor,
    attributes: Map<String, Value>,
) -> Result<ArrayMetadataV3, String> {
    // NumPy's names are Zarr v3's core data type names (`float64`, `int16`, `bool`).
    let name = dtype.name();
    // zarr-python writes the byte order even for 1-byte types, and requires the codec as
    // an object with a configuration (it rejects the bare-name shorthand).
    let bytes = json!({"name": "bytes", "configuration": {"endian": "little"}});
    let compressor = match compressor {
        Compressor::Gzip(level) => json!({"name": "gzip", "configuration": {"level": level}}),
        Compressor::Zstd(level) => {
            json!({"name": "zstd", "configuration": {"level": level, "checksum": false}})
        }
        Compressor::BloscLz4(level) => json!({"name": "blosc", "configuration": {
            "cname": "lz4", "clevel": level, "shuffle": "shuffle", "typesize": dtype.size_bytes(), "blocksize": 0
        }}),
    };
    let meta = json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_value(dtype),
        "codecs": [bytes, compressor],
        "attributes": attributes,
    });
    serde_json::from_value(meta).map_err(|e| format!("cannot build Zarr v3 metadata: {e}"))
}

fn metadata_v2(
    shape: &[usize],
    chunk: &[usize],
    dtype: DType,
    compressor: Compressor,
    attributes: Map<String, Value>,
) -> Result<ArrayMetadataV2, String> {
    let order = if dtype.size_bytes() == 1 { "|" } else { "<" };
    // numcodecs' ids and configurations, as zarr-python 2 writes them.
    let compressor = match compressor {
        Compressor::Gzip(level) => json!({"id": "gzip", "level": level}),
        Compressor::Zstd(level) => json!({"id": "zstd", "level": level}),
        Compressor::BloscLz4(level) => json!({"id": "blosc", "cname": "lz4", "clevel": level, "shuffle": 1, "blocksize": 0}),
    };
    let meta = json!({
        "zarr_format": 2,
        "shape": shape,
        "chunks": chunk,
        "dtype": format!("{order}{}", dtype.code()),
        "compressor": compressor,
        "fill_value": fill_value(dtype),
        "order": "C",
        "filters": null,
        "dimension_separator": ".",
        "attributes": attributes,
    });
    serde_json::from_value(meta).map_err(|e| format!("cannot build Zarr v2 metadata: {e}"))
}

impl Sink for ZarrSink {
    fn describe(&self) -> String {
        self.target.target().display().to_string()
    }

    fn write(&self, region: &Region, block: &Block) -> Result<(), SinkError> {
        crate::sink::check_block(&self.shape, region, block).map_err(|m| self.err(m))?;
        if region.is_empty() {
            return Ok(());
        }
        let cast;
        let block = if block.dtype() == self.dtype {
            block
        } else {
            cast = block.cast(self.dtype);
            &cast
        };
        let span = self.chunk_span(region);
        // Covering every touched chunk whole (the usual case: storage chunks = output
        // blocks) means no other block touches them: one call, no locks.
        let whole = (0..self.shape.len()).all(|d| {
            let c = self.chunk_shape[d];
            let end = region.start[d] + region.shape[d];
            region.start[d].is_multiple_of(c) && (end.is_multiple_of(c) || end == self.shape[d])
        });
        if whole {
            self.store(region, block.data()).map_err(|e| self.err(format!("cannot write block {region}: {e}")))?;
        } else {
            self.write_by_chunk(region, block, &span)?;
        }
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
        Ok(self.target.commit()?)
    }

    fn abort(&self) {
        self.target.abort();
    }
}
