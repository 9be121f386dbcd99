//! Reading one array of a Zarr store: [`ZarrSource`].

use super::{dtype_of, with_element_type};
use crate::block::Block;
use crate::chunks::{Chunks, Region};
use crate::dtype::DType;
use crate::io::cf::{CfAttr, CfDecoding};
use crate::io::npy::check_region;
use crate::source::{AttrValue, Coordinate, Fetched, Metadata, Payload, Source, SourceError, fmt_shape};
use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use zarrs::array::{
    Array, ArrayBytes, ArrayCreateError, ArrayShardedExt, ArraySubset, ArrayToBytesCodecTraits, ChunkGrid, CodecOptions, FromArrayBytes,
};
use zarrs::filesystem::FilesystemStore;
use zarrs::metadata::NodeMetadata;
use zarrs::node::Node;

/// Coordinate arrays longer than this are not loaded into [`Metadata`].
const MAX_COORDINATE_LEN: u64 = 10_000_000;

/// One array of a Zarr store, readable from many threads at once.
pub struct ZarrSource {
    /// `store.zarr` for a root array, `store.zarr:/group/t2m` for one inside a group.
    what: String,
    array: Array<FilesystemStore>,
    /// The stored element type.
    stored: DType,
    /// CF decoding of the stored values, when asked for and the attributes call for it.
    cf: Option<CfDecoding>,
    /// The storage chunks (inner chunks when sharded), bounded by the array's shape.
    chunks: Chunks,
    /// Whether the array uses the sharding codec; then a storage key holds many chunks and
    /// reading is left to `zarrs`' partial decoder instead of the fetch/decode split.
    sharded: bool,
    metadata: Metadata,
}

impl fmt::Debug for ZarrSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZarrSource")
            .field("what", &self.what)
            .field("stored", &self.stored)
            .field("cf", &self.cf.as_ref().map(|c| c.dtype))
            .field("chunks", &self.chunks)
            .field("sharded", &self.sharded)
            .finish()
    }
}

/// A chunk's encoded bytes between [`Source::fetch`] and [`Source::decode`]
/// (`None` when the chunk was never written and holds the fill value).
struct EncodedChunk {
    index: Vec<u64>,
    bytes: Option<Vec<u8>>,
}

/// The paths of all arrays in the store at `path` (`/t2m`, `/group/u`), sorted.
///
/// # Errors
/// When `path` is not a readable Zarr store.
pub fn list_arrays(path: &Path) -> Result<Vec<String>, SourceError> {
    let store = open_store(path)?;
    let root = Node::open(&store, "/").map_err(|e| not_a_store(path, &e.to_string()))?;
    let mut out = Vec::new();
    collect_arrays(&root, &mut out);
    out.sort();
    Ok(out)
}

fn collect_arrays(node: &Node, out: &mut Vec<String>) {
    match node.metadata() {
        NodeMetadata::Array(_) => out.push(node.path().as_str().to_string()),
        NodeMetadata::Group(_) => node.children().iter().for_each(|c| collect_arrays(c, out)),
    }
}

fn open_store(path: &Path) -> Result<Arc<FilesystemStore>, SourceError> {
    let what = path.display().to_string();
    if !path.exists() {
        return Err(SourceError::new(what, "no such file or directory"));
    }
    if !path.is_dir() {
        return Err(SourceError::new(what, "not a Zarr store (a Zarr store is a directory)"));
    }
    FilesystemStore::new(path).map(Arc::new).map_err(|e| SourceError::new(what, format!("cannot open as a Zarr store: {e}")))
}

fn not_a_store(path: &Path, detail: &str) -> SourceError {
    let message = if detail.contains("Metadata is missing") {
        "not a Zarr store: no zarr.json, .zarray or .zgroup at its top".to_string()
    } else {
        format!("not a readable Zarr store: {detail}")
    };
    SourceError::new(path.display().to_string(), message)
}

/// `temperature`, `/temperature/` → `/temperature`.
fn node_path(array: &str) -> String {
    format!("/{}", array.trim_matches('/'))
}

impl ZarrSource {
    /// Opens an array of the store at `path`; see [`super::open_array`].
    ///
    /// # Errors
    /// As [`super::open_array`].
    pub fn open(path: &Path, array: Option<&str>, decode_cf: bool) -> Result<ZarrSource, SourceError> {
        let store = open_store(path)?;
        let store_name = path.display().to_string();
        let array_path = match array {
            Some(a) => node_path(a),
            None => {
                let root = Node::open(&store, "/").map_err(|e| not_a_store(path, &e.to_string()))?;
                let mut arrays = Vec::new();
                collect_arrays(&root, &mut arrays);
                arrays.sort();
                match arrays.len() {
                    1 => arrays.remove(0),
                    0 => return Err(SourceError::new(store_name, "the store holds no arrays")),
                    n => {
                        return Err(SourceError::new(
                            store_name,
                            format!("the store holds {n} arrays; pick one as {}:ARRAY from {}", path.display(), arrays.join(", ")),
                        ));
                    }
                }
            }
        };
        let what = if array_path == "/" { store_name.clone() } else { format!("{store_name}:{array_path}") };
        let z = match Array::open(store.clone(), &array_path) {
            Ok(z) => z,
            Err(ArrayCreateError::MissingMetadata) => {
                let listing = match list_arrays(path) {
                    Ok(a) if a.is_empty() => "the store holds no arrays".to_string(),
                    Ok(a) => format!("its arrays are {}", a.join(", ")),
                    Err(e) => return Err(e),
                };
                return Err(SourceError::new(store_name, format!("no array {array_path} in the store; {listing}")));
            }
            Err(e) => {
                return Err(SourceError::new(what, format!("cannot open the array: {e}")));
            }
        };
        let dtype = dtype_of(z.data_type()).ok_or_else(|| {
            SourceError::new(
                what.clone(),
                format!("unsupported data type {}: gridlens reads bool, int8–int64, uint8–uint64, float32 and float64", z.data_type()),
            )
        })?;
        let sharded = z.is_sharded();
        let grid = if sharded { z.subchunk_grid() } else { z.chunk_grid().clone() };
        let shape: Vec<usize> = z.shape().iter().map(|&n| n as usize).collect();
        let chunks = grid_chunks(&grid, &shape).map_err(|m| SourceError::new(what.clone(), m))?;
        let cf_attrs = cf_attributes(&z);
        let cf = if decode_cf { CfDecoding::from_attrs(dtype, &cf_attrs) } else { None };
        let mut metadata = read_metadata(&store, &z, &array_path, &shape, decode_cf);
        if let Some(cf) = &cf {
            metadata.attrs.retain(|(k, _)| !cf.applied.contains(&k.as_str()));
        }
        Ok(ZarrSource { what, array: z, stored: dtype, cf, chunks, sharded, metadata })
    }

    fn err(&self, message: impl Into<String>) -> SourceError {
        SourceError::new(self.what.clone(), message)
    }

    /// The storage chunk that is exactly `region`, if any (never for sharded arrays).
    fn chunk_of(&self, region: &Region) -> Option<Vec<usize>> {
        if self.sharded || region.is_empty() {
            return None;
        }
        let index = self.chunks.block_containing(region)?;
        (self.chunks.block_region(&index) == *region).then_some(index)
    }

    fn decode_chunk(&self, region: &Region, chunk: EncodedChunk) -> Result<Block, SourceError> {
        let err = |m: String| self.err(m).at(region);
        let chunk_shape = self.array.chunk_shape(&chunk.index).map_err(|e| err(e.to_string()))?;
        let shape_u64: Vec<u64> = chunk_shape.iter().map(|n| n.get()).collect();
        let (data_type, fill) = (self.array.data_type(), self.array.fill_value());
        let bytes: ArrayBytes<'static> = match chunk.bytes {
            Some(b) => self
                .array
                .codecs()
                .decode(Cow::Owned(b), &chunk_shape, data_type, fill, &CodecOptions::default())
                .map_err(|e| err(format!("cannot decode chunk {:?}: {e}", chunk.index)))?
                .into_owned(),
            None => {
                ArrayBytes::new_fill_value(data_type, shape_u64.iter().product(), fill).map_err(|e| err(format!("bad fill value: {e}")))?
            }
        };
        // Chunks at the array's far edges are stored whole; keep the part inside the array.
        let full_shape: Vec<usize> = shape_u64.iter().map(|&n| n as usize).collect();
        let block = with_element_type!(self.stored, T => {
            let v = Vec::<T>::from_array_bytes(bytes, &shape_u64, data_type).map_err(|e| err(e.to_string()))?;
            Block::from_vec(&full_shape, v)
        });
        let block = if full_shape == region.shape { block } else { block.subblock(&vec![0; region.ndim()], &region.shape) };
        Ok(self.finish(block))
    }

    /// Applies CF decoding when it is on.
    fn finish(&self, stored: Block) -> Block {
        match &self.cf {
            Some(cf) => cf.apply(&stored),
            None => stored,
        }
    }
}

/// The chunks of `grid` along each axis, cut at the array's shape (dask's chunks of a zarr array).
fn grid_chunks(grid: &ChunkGrid, shape: &[usize]) -> Result<Chunks, String> {
    let nd = shape.len();
    let grid_shape = grid.grid_shape().to_vec();
    let mut axes = Vec::with_capacity(nd);
    for d in 0..nd {
        if shape[d] == 0 {
            axes.push(vec![0]);
            continue;
        }
        let mut lens = Vec::with_capacity(grid_shape[d] as usize);
        for i in 0..grid_shape[d] {
            let mut index = vec![0u64; nd];
            index[d] = i;
            let origin = grid.chunk_origin(&index).ok().flatten().ok_or("indeterminate chunk grid")?[d] as usize;
            let len = grid.chunk_shape_u64(&index).ok().flatten().ok_or("indeterminate chunk grid")?[d] as usize;
            lens.push((origin + len).min(shape[d]) - origin);
        }
        axes.push(lens);
    }
    let chunks = Chunks::new(axes);
    if chunks.shape() != shape {
        return Err(format!("the chunk grid does not cover the shape {}", fmt_shape(shape)));
    }
    Ok(chunks)
}

/// Attributes as [`Metadata`], with coordinates from the dimension names (v3
/// `dimension_names`, or xarray's `_ARRAY_DIMENSIONS` in v2) when the store holds 1-D
/// arrays of those names next to this one, as xarray writes them.
fn read_metadata(store: &Arc<FilesystemStore>, z: &Array<FilesystemStore>, array_path: &str, shape: &[usize], decode_cf: bool) -> Metadata {
    let attrs: Vec<(String, AttrValue)> = z
        .attributes()
        .iter()
        .filter(|(k, _)| k.as_str() != "_ARRAY_DIMENSIONS" && k.as_str() != "_zarrs")
        .map(|(k, v)| (k.clone(), attr_value(v)))
        .collect();
    let dims: Vec<Option<String>> = match z.dimension_names() {
        Some(names) => names.to_vec(),
        None => match z.attributes().get("_ARRAY_DIMENSIONS") {
            Some(serde_json::Value::Array(v)) => v.iter().map(|n| n.as_str().map(str::to_string)).collect(),
            _ => vec![],
        },
    };
    let mut coords = vec![None; shape.len()];
    if dims.len() == shape.len() {
        let parent = match array_path.rfind('/') {
            Some(0) | None => String::new(),
            Some(i) => array_path[..i].to_string(),
        };
        for (d, name) in dims.iter().enumerate() {
            let Some(name) = name else { continue };
            let coord_path = format!("{parent}/{name}");
            if coord_path == array_path {
                continue;
            }
            coords[d] = read_coordinate(store, &coord_path, name, shape[d], decode_cf);
        }
    }
    Metadata { attrs, coords, grid: None }
}

/// A 1-D numeric array of length `len` at `path`, as a coordinate; `None` if there is none.
fn read_coordinate(store: &Arc<FilesystemStore>, path: &str, name: &str, len: usize, decode_cf: bool) -> Option<Coordinate> {
    let c = Array::open(store.clone(), path).ok()?;
    if c.shape() != [len as u64] || len as u64 > MAX_COORDINATE_LEN {
        return None;
    }
    let dtype = dtype_of(c.data_type())?;
    let subset = ArraySubset::new_with_shape(vec![len as u64]);
    let values: Vec<f64> = with_element_type!(dtype, T => {
        let v: Vec<T> = c.retrieve_array_subset(&subset).ok()?;
        v.into_iter().map(crate::block::Element::to_f64).collect()
    });
    let text = |key: &str| match c.attributes().get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (units, calendar) = (text("units"), text("calendar"));
    // a CF time (`days since 2000-01-01`, as xarray encodes datetimes) is labelled with its dates
    let labels = if decode_cf { crate::io::cftime::coordinate_labels(&values, units.as_deref(), calendar.as_deref()) } else { Vec::new() };
    Some(Coordinate { name: name.to_string(), values, labels, units, calendar })
}

/// The attributes CF decoding reads. Zarr v2 has no `_FillValue` attribute: xarray stores the
/// CF fill value as the array's `fill_value` and reads it back from there, so for arrays that
/// xarray wrote (they carry `_ARRAY_DIMENSIONS`) it is taken from there too. Other v2 writers
/// use `fill_value` for unwritten chunks only (zarr-python 2's default is 0), and masking it
/// would turn real zeros into NaN.
fn cf_attributes(z: &Array<FilesystemStore>) -> Vec<CfAttr> {
    let mut attrs: Vec<CfAttr> = z.attributes().iter().map(|(k, v)| CfAttr::of_json(k, attr_value(v))).collect();
    let json = serde_json::to_value(z.metadata()).unwrap_or_default();
    let written_by_xarray = z.attributes().contains_key("_ARRAY_DIMENSIONS");
    if json.get("zarr_format").and_then(|v| v.as_u64()) == Some(2) && written_by_xarray && !z.attributes().contains_key("_FillValue") {
        // ("NaN" would mask what is NaN already; null means no fill value)
        if let Some(v @ serde_json::Value::Number(_)) = json.get("fill_value") {
            attrs.push(CfAttr::of_json("_FillValue", attr_value(v)));
        }
    }
    attrs
}

/// A JSON attribute as an [`AttrValue`]: strings as text, numbers and lists of numbers as
/// numbers (booleans as 0/1), anything else as its JSON text.
fn attr_value(v: &serde_json::Value) -> AttrValue {
    use serde_json::Value as J;
    let numbers = |items: &[J]| -> Option<AttrValue> {
        if items.is_empty() {
            return None;
        }
        if items.iter().all(|x| x.is_i64() || x.is_boolean()) {
            return Some(AttrValue::Int(items.iter().map(|x| x.as_i64().unwrap_or_else(|| x.as_bool().map_or(0, i64::from))).collect()));
        }
        items.iter().map(J::as_f64).collect::<Option<Vec<f64>>>().map(AttrValue::Float)
    };
    match v {
        J::String(s) => AttrValue::Text(s.clone()),
        J::Bool(b) => AttrValue::Int(vec![*b as i64]),
        J::Number(_) => numbers(std::slice::from_ref(v)).unwrap_or_else(|| AttrValue::Text(v.to_string())),
        J::Array(items) => numbers(items).unwrap_or_else(|| AttrValue::Text(v.to_string())),
        J::Null | J::Object(_) => AttrValue::Text(v.to_string()),
    }
}

impl Source for ZarrSource {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn shape(&self) -> Vec<usize> {
        self.chunks.shape()
    }

    fn dtype(&self) -> DType {
        self.cf.as_ref().map_or(self.stored, |c| c.dtype)
    }

    fn chunks(&self) -> Chunks {
        self.chunks.clone()
    }

    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        check_region(&self.chunks.shape(), region).map_err(|m| self.err(m).at(region))?;
        if region.is_empty() {
            return Ok(Block::zeros(self.dtype(), &region.shape));
        }
        let start: Vec<u64> = region.start.iter().map(|&s| s as u64).collect();
        let shape: Vec<u64> = region.shape.iter().map(|&s| s as u64).collect();
        let subset = ArraySubset::new_with_start_shape(start, shape).map_err(|e| self.err(e.to_string()).at(region))?;
        with_element_type!(self.stored, T => {
            let v: Vec<T> = self.array.retrieve_array_subset(&subset).map_err(|e| self.err(e.to_string()).at(region))?;
            Ok(self.finish(Block::from_vec(&region.shape, v)))
        })
    }

    fn fetch(&self, region: &Region) -> Result<Fetched, SourceError> {
        let Some(index) = self.chunk_of(region) else {
            return Ok(Fetched::decoded(self.read(region)?));
        };
        let index: Vec<u64> = index.into_iter().map(|i| i as u64).collect();
        let bytes =
            self.array.retrieve_encoded_chunk(&index).map_err(|e| self.err(format!("cannot read chunk {index:?}: {e}")).at(region))?;
        Ok(Fetched {
            bytes_read: bytes.as_ref().map_or(0, |b| b.len() as u64),
            payload: Payload::Encoded(Box::new(EncodedChunk { index, bytes })),
        })
    }

    fn needs_decode(&self, region: &Region) -> bool {
        self.chunk_of(region).is_some()
    }

    fn decode(&self, region: &Region, payload: Box<dyn Any + Send + Sync>) -> Result<Block, SourceError> {
        let chunk = payload.downcast::<EncodedChunk>().map_err(|_| self.err("payload from another source").at(region))?;
        self.decode_chunk(region, *chunk)
    }

    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn cheap_subregion(&self) -> bool {
        false
    }
}
