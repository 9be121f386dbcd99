//! Indexing the other files of a set in parallel, without the HDF5 library.
//!
//! A set of thousands of daily files is opened by opening its first file through the
//! library, in full ([`super::Hdf5Source::open`]), and then, on every core at once, reading
//! from each other file only what may differ: its chunk index, its length along the first
//! axis and its time values. The library serialises every call behind one lock, so these
//! reads go through the pure-Rust `hdf5-reader` crate instead (superblock, object headers,
//! B-trees and chunk index arrays; kerchunk and VirtualiZarr read files the same way).
//!
//! A file is accepted only when everything that decides how its bytes are read is the
//! first file's, byte for byte: the datatype message, the chunk shape, the filter pipeline,
//! the fill value and the CF attributes. Anything else — another layout, a changed scale
//! factor, a structure the crate does not parse — sends that one file through the library
//! as before, so the result is the same either way; only the time to open differs.

use super::reader::{ChunkIndex, StoredChunk};
use crate::dtype::DType;
use crate::io::cf::CF_ATTRS;
use crate::source::Coordinate;
use hdf5_reader::messages::HdfMessage;
use hdf5_reader::{Datatype, Hdf5File};
use std::path::Path;

/// What every member of a set must share with its first file, as the pure reader sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Template {
    /// The dataset's absolute path inside each file.
    pub dataset: String,
    rank: usize,
    datatype: Vec<u8>,
    chunk_dims: Vec<u32>,
    filters: Vec<(u16, Vec<u32>)>,
    fill: Option<(bool, Option<Vec<u8>>)>,
    /// The CF attributes by name, as stored: datatype and value bytes.
    cf: Vec<(String, Vec<u8>, Vec<u8>)>,
    /// The name of the first axis' coordinate variable (`time`), looked up beside the
    /// dataset and then in the root group of each member.
    pub time: Option<String>,
}

/// What one member file has of its own.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub shape: Vec<usize>,
    pub index: ChunkIndex,
    pub time: Option<Coordinate>,
}

/// The pure reader's view of one dataset: its header's messages and attributes.
struct View {
    file: Hdf5File,
    dataset: hdf5_reader::Dataset,
}

impl View {
    fn open(path: &Path, dataset: &str) -> Result<View, String> {
        // The chunk cache is for reading data, which we do ourselves. A small file (a daily
        // field) is read whole, in one call; a large one's metadata in blocks of 64 kB: either
        // way not in the dozens of small reads the metadata is scattered over. (Not mapped:
        // a file truncated while mapped kills the process.)
        let opts = hdf5_reader::OpenOptions::default().with_chunk_cache_bytes(0);
        let small = std::fs::metadata(path).map_err(|e| e.to_string())?.len() <= 4 << 20;
        let file = if small {
            Hdf5File::from_vec_with_options(std::fs::read(path).map_err(|e| e.to_string())?, opts)
        } else {
            let storage = hdf5_reader::FileStorage::open(path).map_err(|e| e.to_string())?;
            let storage = hdf5_reader::BlockCacheStorage::new(std::sync::Arc::new(storage), 64 << 10, 64);
            Hdf5File::from_storage_with_options(std::sync::Arc::new(storage), opts)
        }
        .map_err(|e| e.to_string())?;
        let dataset = file.dataset(dataset).map_err(|e| e.to_string())?;
        Ok(View { file, dataset })
    }

    fn layout(&self) -> Result<(u64, Vec<u32>, Option<hdf5_reader::messages::layout::ChunkIndexing>, Vec<(u16, Vec<u32>)>), String> {
        let header = self.file.get_or_parse_header(self.dataset.address()).map_err(|e| e.to_string())?;
        let mut layout = None;
        let mut filters = Vec::new();
        for m in &header.messages {
            match m {
                HdfMessage::DataLayout(l) => layout = Some(l.layout.clone()),
                HdfMessage::FilterPipeline(p) => filters = p.filters.iter().map(|f| (f.id, f.client_data.clone())).collect(),
                _ => {}
            }
        }
        match layout {
            Some(hdf5_reader::messages::layout::DataLayout::Chunked { address, dims, chunk_indexing, .. }) => {
                Ok((address, dims, chunk_indexing, filters))
            }
            Some(_) => Err("not chunked".into()),
            None => Err("no layout message".into()),
        }
    }

    /// The CF attributes, as stored.
    fn cf_attrs(&self) -> Result<Vec<(String, Vec<u8>, Vec<u8>)>, String> {
        let mut out: Vec<(String, Vec<u8>, Vec<u8>)> = self
            .dataset
            .raw_attributes()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|a| CF_ATTRS.contains(&a.name()))
            .map(|a| {
                let name = a.name().to_string();
                let datatype = a.raw_datatype().to_vec();
                (name, datatype, a.message().raw_data.clone())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn template(&self, dataset: &str, time: Option<String>) -> Result<Template, String> {
        let (_, chunk_dims, _, filters) = self.layout()?;
        let fill = self.dataset.fill_value().map(|f| (f.defined, f.value.clone()));
        Ok(Template {
            dataset: dataset.to_string(),
            rank: self.dataset.ndim(),
            datatype: self.dataset.raw_datatype().map_err(|e| e.to_string())?,
            chunk_dims,
            filters,
            fill,
            cf: self.cf_attrs()?,
            time,
        })
    }
}

/// The template of a set whose first file is at `path`, or why its files cannot be indexed
/// without the library.
pub(crate) fn template(path: &Path, dataset: &str, time: Option<String>) -> Result<Template, String> {
    View::open(path, dataset)?.template(dataset, time)
}

/// Indexes one member file of a set: checks that it stores its values as the template's
/// file does, and reads its chunk index and time values.
///
/// # Errors
/// Why the file must go through the library instead (it differs from the first file in
/// something that decides how its values are read, or holds a structure the crate does not
/// parse); never a verdict on the file itself.
pub(crate) fn member(path: &Path, template: &Template, decode_cf: bool) -> Result<Member, String> {
    let view = View::open(path, &template.dataset)?;
    let ds = &view.dataset;
    if ds.ndim() != template.rank {
        return Err(format!("rank {} differs", ds.ndim()));
    }
    if ds.raw_datatype().map_err(|e| e.to_string())? != template.datatype {
        return Err("another datatype".into());
    }
    let (address, chunk_dims, indexing, filters) = view.layout()?;
    if chunk_dims != template.chunk_dims || filters != template.filters {
        return Err("another chunk shape or filter pipeline".into());
    }
    if ds.fill_value().map(|f| (f.defined, f.value.clone())) != template.fill {
        return Err("another fill value".into());
    }
    if view.cf_attrs()? != template.cf {
        return Err("other CF attributes".into());
    }
    let shape: Vec<usize> = ds.shape().iter().map(|&n| n as usize).collect();
    let chunk: Vec<usize> = chunk_dims.iter().map(|&c| c as usize).collect();
    let index = chunk_index(&view, address, &shape, &chunk, indexing.as_ref())?;
    let time = match &template.time {
        Some(name) => Some(time_coordinate(&view, name, shape.first().copied().unwrap_or(0), decode_cf)?),
        None => None,
    };
    Ok(Member { shape, index, time })
}

/// Every allocated chunk's place, from whichever index the file uses (B-tree v1, the only
/// one before HDF5 1.10, or the newer single-chunk, implicit, fixed-array, extensible-array
/// and B-tree v2 indexes).
fn chunk_index(
    view: &View,
    address: u64,
    shape: &[usize],
    chunk: &[usize],
    indexing: Option<&hdf5_reader::messages::layout::ChunkIndexing>,
) -> Result<ChunkIndex, String> {
    use hdf5_reader::chunk_index as ci;
    use hdf5_reader::messages::layout::ChunkIndexing;
    let storage = view.file.storage();
    let sb = view.file.superblock();
    let (offset_size, length_size) = (sb.offset_size, sb.length_size);
    let dims: Vec<u32> = chunk.iter().map(|&c| c as u32).collect();
    let shape64: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
    let nd = shape.len();
    let err = |e: hdf5_reader::error::Error| e.to_string();
    let entries: Vec<ci::ChunkEntry> = if address == u64::MAX || shape.contains(&0) {
        // never written: every chunk is the fill value
        Vec::new()
    } else {
        match indexing {
            None => {
                let leaves = hdf5_reader::btree_v1::collect_btree_v1_leaves_storage(
                    storage,
                    address,
                    offset_size,
                    length_size,
                    Some(nd as u32),
                    &dims,
                    None,
                )
                .map_err(err)?;
                let mut out = Vec::with_capacity(leaves.len());
                for (key, chunk_address) in leaves {
                    match key {
                        hdf5_reader::btree_v1::BTreeV1Key::RawData { chunk_size, filter_mask, offsets } => out.push(ci::ChunkEntry {
                            address: chunk_address,
                            size: u64::from(chunk_size),
                            filter_mask,
                            offsets: offsets[..nd.min(offsets.len())].to_vec(),
                        }),
                        _ => return Err("a chunk B-tree with keys of another kind".into()),
                    }
                }
                out
            }
            Some(ChunkIndexing::SingleChunk { filtered_size, filters }) => {
                vec![ci::single_chunk_entry(address, *filtered_size, *filters, nd)]
            }
            Some(ChunkIndexing::BTreeV2) => {
                ci::collect_v2_chunk_entries_storage(storage, address, offset_size, length_size, nd as u32, &dims, None).map_err(err)?
            }
            Some(ChunkIndexing::Implicit) => {
                let item = hdf5_reader::dtype_element_size(view.dataset.dtype()).map_err(err)?;
                ci::collect_implicit_chunk_entries(address, &shape64, &dims, item, None, storage.len()).map_err(err)?
            }
            Some(ChunkIndexing::FixedArray { .. }) => hdf5_reader::fixed_array::collect_fixed_array_chunk_entries_storage(
                storage,
                address,
                offset_size,
                length_size,
                &shape64,
                &dims,
                None,
            )
            .map_err(err)?,
            Some(ChunkIndexing::ExtensibleArray { .. }) => hdf5_reader::extensible_array::collect_extensible_array_chunk_entries_storage(
                storage,
                address,
                offset_size,
                length_size,
                &shape64,
                view.dataset.max_dims(),
                &dims,
                None,
            )
            .map_err(err)?,
        }
    };
    let grid: Vec<usize> = shape.iter().zip(chunk).map(|(&n, &c)| n.div_ceil(c.max(1))).collect();
    let total = grid.iter().try_fold(1usize, |acc, &g| acc.checked_mul(g)).ok_or("too many chunks")?;
    let mut slots = vec![None; total];
    for e in entries {
        if e.offsets.len() != nd {
            return Err("a chunk key of another rank".into());
        }
        let mut linear = 0usize;
        let mut inside = true;
        for d in 0..nd {
            let off = e.offsets[d] as usize;
            if chunk[d] == 0 || !off.is_multiple_of(chunk[d]) {
                return Err(format!("chunk at offset {:?} is not on the chunk grid", e.offsets));
            }
            // left behind when the dataset shrank: not part of the data any more
            inside &= off / chunk[d] < grid[d];
            linear = linear * grid[d] + off / chunk[d];
        }
        if inside {
            slots[linear] = Some(StoredChunk { address: e.address, size: e.size, filter_mask: e.filter_mask });
        }
    }
    Ok(ChunkIndex { grid, entries: slots })
}

/// The element type of a numeric datatype, as the library's native conversion gives it.
fn numeric(dt: &Datatype) -> Option<DType> {
    Some(match dt {
        Datatype::FixedPoint { size, signed, .. } => super::storage::integer_dtype(*size as usize, *signed)?,
        Datatype::FloatingPoint { size: 4, .. } => DType::F32,
        Datatype::FloatingPoint { size: 8, .. } => DType::F64,
        _ => return None,
    })
}

/// The time coordinate of a member, as [`super::meta`] reads the first file's: values as
/// float64 (unpacked when CF decoding is on), units, calendar and dates.
fn time_coordinate(view: &View, name: &str, len: usize, decode_cf: bool) -> Result<Coordinate, String> {
    let parent = view.dataset.name().rsplit_once('/').map_or("", |(p, _)| p).to_string();
    let var = [format!("{parent}/{name}"), format!("/{name}")]
        .iter()
        .find_map(|p| view.file.dataset(p).ok().filter(|d| d.shape() == [len as u64]))
        .ok_or_else(|| format!("no coordinate variable '{name}' of length {len}"))?;
    let dtype = numeric(var.dtype()).ok_or("a time coordinate that is not numeric")?;
    let bytes = var.read_native_bytes().map_err(|e| e.to_string())?;
    let block = super::reader::buffer_from_bytes(&bytes, dtype, super::storage::ByteOrder::NATIVE);
    let mut values: Vec<f64> = (0..block.len()).map(|i| block.get_f64(i)).collect();
    let number = |n: &str| var.attribute(n).ok().and_then(|a| a.read_as_f64().ok());
    let text = |n: &str| var.attribute(n).ok().and_then(|a| a.read_string().ok());
    if decode_cf {
        let (scale, offset) = (number("scale_factor"), number("add_offset"));
        if scale.is_some() || offset.is_some() {
            for v in &mut values {
                *v = *v * scale.unwrap_or(1.0) + offset.unwrap_or(0.0);
            }
        }
    }
    let (units, calendar) = (text("units"), text("calendar"));
    let labels = if decode_cf { crate::io::cftime::coordinate_labels(&values, units.as_deref(), calendar.as_deref()) } else { Vec::new() };
    Ok(Coordinate { name: name.to_string(), values, labels, units, calendar })
}
