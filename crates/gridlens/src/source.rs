//! Sources: where array data comes from (dask's `from_array` inputs).
//!
//! A [`Source`] knows its shape, dtype and natural chunking and can read any
//! region of itself from any thread. File formats implement it in [`crate::io`];
//! in-memory arrays, stacks of sources and the lazy random generators live here.
//! Nothing is read until the executor asks for a region.

pub mod random;

use crate::block::{Block, Buffer};
use crate::chunks::{Chunks, Region};
use crate::dtype::DType;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A failure to read data, naming what was being read and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what}{}: {message}", region.as_ref().map(|r| format!(", block {r}")).unwrap_or_default())]
pub struct SourceError {
    /// The source, as its [`Source::describe`] says: file and dataset.
    pub what: String,
    /// The region being read, when the failure concerns one.
    pub region: Option<Region>,
    pub message: String,
}

impl SourceError {
    pub fn new(what: impl Into<String>, message: impl Into<String>) -> SourceError {
        SourceError { what: what.into(), region: None, message: message.into() }
    }

    pub fn at(mut self, region: &Region) -> SourceError {
        self.region = Some(region.clone());
        self
    }
}

/// An attribute value as stored in a file.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Text(String),
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl AttrValue {
    /// All values as f64 when the attribute is numeric.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        match self {
            AttrValue::Float(v) => Some(v.clone()),
            AttrValue::Int(v) => Some(v.iter().map(|&x| x as f64).collect()),
            AttrValue::Text(_) => None,
        }
    }

    /// The value when the attribute is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            AttrValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, v: &[T]) -> fmt::Result {
            if v.len() == 1 {
                return write!(f, "{}", v[0]);
            }
            write!(f, "[")?;
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{x}")?;
            }
            write!(f, "]")
        }
        match self {
            AttrValue::Text(s) => write!(f, "{s}"),
            AttrValue::Int(v) => list(f, v),
            AttrValue::Float(v) => list(f, v),
        }
    }
}

/// Labels of one axis: a coordinate variable (lat, lon, time) or per-index labels (dates of files).
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Coordinate {
    /// Name of the coordinate (`lat`, `lon`, `time`, or `file` for a stack of files).
    pub name: String,
    /// Numeric values, one per index, when the coordinate is numeric.
    pub values: Vec<f64>,
    /// Text labels, one per index, when the coordinate is textual (dates, file names).
    pub labels: Vec<String>,
    pub units: Option<String>,
    /// The CF `calendar` of a time coordinate.
    pub calendar: Option<String>,
}

/// What a source knows about its data beyond shape and dtype.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Metadata {
    /// All attributes of the dataset, in file order.
    pub attrs: Vec<(String, AttrValue)>,
    /// One entry per axis; `None` where the axis has no coordinate.
    pub coords: Vec<Option<Coordinate>>,
    /// The latitude and longitude of every cell of the last two axes, when they are 2-D
    /// variables named by the CF `coordinates` attribute (a curvilinear grid).
    pub grid: Option<GeoGrid>,
}

/// Latitudes and longitudes of a curvilinear grid's cells, rows × columns in C order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GeoGrid {
    pub rows: usize,
    pub cols: usize,
    pub lat: Vec<f64>,
    pub lon: Vec<f64>,
}

impl Metadata {
    /// A text attribute by name (`units`, `long_name`, `standard_name`).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.text())
    }

    pub fn units(&self) -> Option<&str> {
        self.text("units")
    }

    pub fn long_name(&self) -> Option<&str> {
        self.text("long_name")
    }
}

/// What a [`Source::fetch`] brought in: a decoded block, or encoded bytes that
/// [`Source::decode`] turns into one (so reading and decoding are separate tasks).
pub struct Fetched {
    /// Bytes read from storage for this fetch.
    pub bytes_read: u64,
    pub payload: Payload,
}

pub enum Payload {
    Block(Block),
    Encoded(Box<dyn Any + Send + Sync>),
}

impl Fetched {
    pub fn decoded(block: Block) -> Fetched {
        Fetched { bytes_read: block.size_bytes() as u64, payload: Payload::Block(block) }
    }
}

/// A readable n-d array: a dataset in a file, a stack of them, an in-memory array, a generator.
///
/// Implementations must be cheap to share between threads: the executor calls
/// [`Source::read`]/[`Source::fetch`] from every worker at once.
pub trait Source: Send + Sync + fmt::Debug {
    /// Where the data lives, for messages: `2014-01-01.hdf5:/t2m`.
    fn describe(&self) -> String;

    fn shape(&self) -> Vec<usize>;

    fn dtype(&self) -> DType;

    /// The natural block layout (the storage chunks of a file).
    fn chunks(&self) -> Chunks;

    /// Reads the elements of `region`, which lies inside the shape.
    ///
    /// # Errors
    /// A [`SourceError`] naming the source and region.
    fn read(&self, region: &Region) -> Result<Block, SourceError>;

    /// Reads `region` in two phases: this fetch, and a [`Source::decode`] when the payload is
    /// encoded. Sources with an expensive decode step (decompression) override both.
    ///
    /// # Errors
    /// As [`Source::read`].
    fn fetch(&self, region: &Region) -> Result<Fetched, SourceError> {
        Ok(Fetched::decoded(self.read(region)?))
    }

    /// Whether [`Source::fetch`] of `region` returns an encoded payload that needs a decode task.
    fn needs_decode(&self, _region: &Region) -> bool {
        false
    }

    /// Turns an encoded payload from [`Source::fetch`] into a block.
    ///
    /// # Errors
    /// When the payload is corrupt (a checksum or decompression failure).
    fn decode(&self, region: &Region, payload: Box<dyn Any + Send + Sync>) -> Result<Block, SourceError> {
        let _ = payload;
        Err(SourceError::new(self.describe(), "this source has no decode step").at(region))
    }

    /// Attributes and coordinates.
    fn metadata(&self) -> Metadata {
        Metadata::default()
    }

    /// Why the data behind this source is not what was opened any more (a file rewritten,
    /// replaced or deleted since), or `None` when it is as it was. Caches of its decoded
    /// blocks check this before a job uses them.
    fn changed(&self) -> Option<String> {
        None
    }

    /// The coordinate of the first axis (time, for files that join along it): what
    /// `metadata().coords[0]` holds, without copying the rest.
    fn first_coordinate(&self) -> Option<Coordinate> {
        self.metadata().coords.into_iter().next().flatten()
    }

    /// Whether reading only part of a natural block costs less than reading all of it
    /// (true for uncompressed storage and memory, false for compressed chunks and generators).
    fn cheap_subregion(&self) -> bool {
        true
    }
}

/// An array held in memory (dask's `from_array` of a NumPy array).
#[derive(Debug)]
pub struct MemorySource {
    name: String,
    block: Arc<Block>,
    chunks: Chunks,
}

impl MemorySource {
    /// Wraps `block` with the given chunks (`None`: one block).
    pub fn new(name: impl Into<String>, block: Block, chunks: Option<Chunks>) -> MemorySource {
        MemorySource::shared(name, Arc::new(block), chunks)
    }

    /// Wraps a block that others hold too (a cached result), without copying it.
    pub fn shared(name: impl Into<String>, block: Arc<Block>, chunks: Option<Chunks>) -> MemorySource {
        let chunks = chunks.unwrap_or_else(|| Chunks::single(block.shape()));
        assert_eq!(chunks.shape(), block.shape(), "chunks must match the block's shape");
        MemorySource { name: name.into(), block, chunks }
    }
}

impl Source for MemorySource {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn shape(&self) -> Vec<usize> {
        self.block.shape().to_vec()
    }
    fn dtype(&self) -> DType {
        self.block.dtype()
    }
    fn chunks(&self) -> Chunks {
        self.chunks.clone()
    }
    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        Ok(self.block.subblock(&region.start, &region.shape))
    }
}

/// Sources of equal shape and dtype stacked along a new leading axis (dask's `stack` of
/// `from_array`s: one block per member along that axis), or joined along their own leading
/// axis (dask's `concatenate`, xarray's `open_mfdataset` of files along `time`).
#[derive(Debug)]
pub struct StackSource {
    members: Vec<Arc<dyn Source>>,
    shape: Vec<usize>,
    dtype: DType,
    labels: Option<Coordinate>,
    /// For a join: where each member starts along the leading axis, and the total length
    /// last. `None` for a stack along a new axis.
    offsets: Option<Vec<usize>>,
}

impl StackSource {
    /// Stacks `members` in the given order; `labels` names each member (dates, file names).
    ///
    /// # Errors
    /// When there are no members, or a member's shape or dtype differs from the first's;
    /// the message names the first member that differs and both shapes or dtypes.
    pub fn new(members: Vec<Arc<dyn Source>>, labels: Option<Coordinate>) -> Result<StackSource, SourceError> {
        let (shape, dtype) = common_layout(&members, 0)?;
        let mut full = vec![members.len()];
        full.extend(&shape);
        Ok(StackSource { members, shape: full, dtype, labels, offsets: None })
    }

    /// Joins `members` along their own leading axis, which may differ in length between
    /// members (daily files of `time = 1`, monthly files of 28 to 31 days): `n` files of
    /// shape `(1, 180, 360)` give `(n, 180, 360)`, not `(n, 1, 180, 360)`. `labels` holds one
    /// label per index of the joined axis.
    ///
    /// # Errors
    /// As [`StackSource::new`] for the axes after the first, and when a member has no axis.
    pub fn join(members: Vec<Arc<dyn Source>>, labels: Option<Coordinate>) -> Result<StackSource, SourceError> {
        let (rest, dtype) = common_layout(&members, 1)?;
        let mut offsets = vec![0];
        for m in &members {
            offsets.push(offsets.last().copied().unwrap_or(0) + m.shape()[0]);
        }
        let mut shape = vec![*offsets.last().expect("one offset per member")];
        shape.extend(rest);
        Ok(StackSource { members, shape, dtype, labels, offsets: Some(offsets) })
    }

    pub fn members(&self) -> &[Arc<dyn Source>] {
        &self.members
    }

    /// The member holding index `i` of the leading axis, where it starts along that axis, and
    /// how many indices of the axis it holds.
    fn member_at(&self, i: usize) -> (usize, usize, usize) {
        match &self.offsets {
            None => (i, i, 1),
            Some(off) => {
                // the last member starting at or before `i`: members of length 0 are skipped
                let k = (off.partition_point(|&o| o <= i) - 1).min(self.members.len() - 1);
                (k, off[k], off[k + 1] - off[k])
            }
        }
    }

    /// The part of member `k` (which starts at `start` along the leading axis) that `region`
    /// covers, when `region` lies inside that member.
    fn member_region(&self, region: &Region, start: usize) -> Region {
        match self.offsets {
            None => Region { start: region.start[1..].to_vec(), shape: region.shape[1..].to_vec() },
            Some(_) => {
                let mut r = region.clone();
                r.start[0] -= start;
                r
            }
        }
    }

    /// The one member `region` lies inside, with that member's part of it, if there is one.
    fn inside_one(&self, region: &Region) -> Option<(usize, Region)> {
        if region.shape.contains(&0) {
            return None;
        }
        let (k, start, len) = self.member_at(region.start[0]);
        (region.start[0] + region.shape[0] <= start + len).then(|| (k, self.member_region(region, start)))
    }
}

/// The shape (without its first `skip` axes) and dtype all `members` share.
///
/// # Errors
/// When there are no members, one lacks the axes to skip, or one differs from the first;
/// the message names the first member that differs.
fn common_layout(members: &[Arc<dyn Source>], skip: usize) -> Result<(Vec<usize>, DType), SourceError> {
    let first = members.first().ok_or_else(|| SourceError::new("stack", "no sources to stack"))?;
    let shape_of = |m: &Arc<dyn Source>| -> Result<Vec<usize>, SourceError> {
        let s = m.shape();
        if s.len() < skip {
            return Err(SourceError::new(m.describe(), format!("shape {} has no axis to join along", fmt_shape(&s))));
        }
        Ok(s[skip..].to_vec())
    };
    let (shape, dtype) = (shape_of(first)?, first.dtype());
    for m in &members[1..] {
        if shape_of(m)? != shape {
            let what = if skip == 0 { "shape" } else { "shape after the first axis" };
            return Err(SourceError::new(
                m.describe(),
                format!("{what} {} differs from {} of {}", fmt_shape(&shape_of(m)?), fmt_shape(&shape), first.describe()),
            ));
        }
        if m.dtype() != dtype {
            return Err(SourceError::new(m.describe(), format!("dtype {} differs from {} of {}", m.dtype(), dtype, first.describe())));
        }
    }
    Ok((shape, dtype))
}

/// Formats a shape as NumPy prints it: `(31, 1440, 2880)`, `(5,)`, `()`.
pub fn fmt_shape(shape: &[usize]) -> String {
    match shape.len() {
        0 => "()".into(),
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// A stack's encoded payload: the member's own payload for a region inside one member.
struct StackPayload(Box<dyn Any + Send + Sync>);

impl Source for StackSource {
    fn describe(&self) -> String {
        let n = self.members.len();
        if n == 1 {
            return self.members[0].describe();
        }
        format!("{} … {} ({n} files)", self.members[0].describe(), self.members[n - 1].describe())
    }
    fn shape(&self) -> Vec<usize> {
        self.shape.clone()
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn chunks(&self) -> Chunks {
        // blocks never straddle two members, so each block is read from one file
        let mut axes = match self.offsets {
            None => vec![vec![1; self.members.len()]],
            Some(_) => {
                let c: Vec<usize> = self.members.iter().flat_map(|m| m.chunks().axis(0).to_vec()).filter(|&c| c > 0).collect();
                // an axis of length 0 has one empty block, as `concatenate` gives it
                vec![if c.is_empty() { vec![0] } else { c }]
            }
        };
        let member = self.members[0].chunks();
        axes.extend(member.axes().iter().skip(usize::from(self.offsets.is_some())).cloned());
        Chunks::new(axes)
    }
    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        if let Some((k, inner)) = self.inside_one(region) {
            return Ok(self.members[k].read(&inner)?.reshape(region.shape.clone()));
        }
        // the region spans members (or is empty): each one's part, placed along the leading axis
        let mut out = Block::zeros(self.dtype, &region.shape);
        if region.shape.contains(&0) {
            return Ok(out);
        }
        let end = region.start[0] + region.shape[0];
        let mut i = region.start[0];
        while i < end {
            let (k, start, len) = self.member_at(i);
            let stop = end.min(start + len);
            if stop <= i {
                // only a member table that disagrees with the members' shapes gets here
                return Err(SourceError::new(self.describe(), format!("no member holds index {i} of the first axis")).at(region));
            }
            let mut part = region.clone();
            (part.start[0], part.shape[0]) = (i, stop - i);
            let block = self.members[k].read(&self.member_region(&part, start))?.reshape(part.shape.clone());
            let mut at = vec![0; region.ndim()];
            at[0] = i - region.start[0];
            out.paste(&at, &block);
            i = stop;
        }
        Ok(out)
    }
    fn fetch(&self, region: &Region) -> Result<Fetched, SourceError> {
        let Some((k, inner)) = self.inside_one(region) else {
            return Ok(Fetched::decoded(self.read(region)?));
        };
        let f = self.members[k].fetch(&inner)?;
        Ok(Fetched {
            bytes_read: f.bytes_read,
            payload: match f.payload {
                Payload::Block(b) => Payload::Block(b.reshape(region.shape.clone())),
                Payload::Encoded(e) => Payload::Encoded(Box::new(StackPayload(e))),
            },
        })
    }
    fn needs_decode(&self, region: &Region) -> bool {
        self.inside_one(region).is_some_and(|(k, inner)| self.members[k].needs_decode(&inner))
    }
    fn decode(&self, region: &Region, payload: Box<dyn Any + Send + Sync>) -> Result<Block, SourceError> {
        let p =
            payload.downcast::<StackPayload>().map_err(|_| SourceError::new(self.describe(), "payload from another source").at(region))?;
        let (k, inner) = self
            .inside_one(region)
            .ok_or_else(|| SourceError::new(self.describe(), "encoded payload for a region across files").at(region))?;
        Ok(self.members[k].decode(&inner, p.0)?.reshape(region.shape.clone()))
    }
    fn metadata(&self) -> Metadata {
        let mut m = self.members[0].metadata();
        let mut coords = vec![self.labels.clone()];
        let skip = usize::from(self.offsets.is_some());
        coords.extend(if m.coords.is_empty() { vec![None; self.shape.len() - 1] } else { m.coords.into_iter().skip(skip).collect() });
        m.coords = coords;
        m
    }
    fn cheap_subregion(&self) -> bool {
        self.members[0].cheap_subregion()
    }
    fn changed(&self) -> Option<String> {
        self.members.iter().find_map(|m| m.changed())
    }
}

/// Reads `region` block by block: calls `read_part(block_index, local)` for every block of
/// `chunks` that `region` touches, with `local` the touched part in block-local coordinates,
/// and pastes the parts together. A region inside one block is returned without a copy.
///
/// # Errors
/// The first error of `read_part`.
pub fn assemble(
    chunks: &Chunks,
    dtype: DType,
    region: &Region,
    mut read_part: impl FnMut(&[usize], &Region) -> Result<Block, SourceError>,
) -> Result<Block, SourceError> {
    let nd = region.ndim();
    // block ranges touched along each axis
    let mut ranges = Vec::with_capacity(nd);
    for d in 0..nd {
        if region.shape[d] == 0 {
            return Ok(Block::zeros(dtype, &region.shape));
        }
        let lo = chunks.block_of(d, region.start[d]);
        let hi = chunks.block_of(d, region.start[d] + region.shape[d] - 1);
        ranges.push((lo, hi));
    }
    let single = ranges.iter().all(|(lo, hi)| lo == hi);
    let mut out = if single { None } else { Some(Block::zeros(dtype, &region.shape)) };
    let mut index: Vec<usize> = ranges.iter().map(|r| r.0).collect();
    loop {
        let block = chunks.block_region(&index);
        let mut local = Region { start: vec![0; nd], shape: vec![0; nd] };
        let mut dest = vec![0; nd];
        for d in 0..nd {
            let lo = region.start[d].max(block.start[d]);
            let hi = (region.start[d] + region.shape[d]).min(block.start[d] + block.shape[d]);
            local.start[d] = lo - block.start[d];
            local.shape[d] = hi - lo;
            dest[d] = lo - region.start[d];
        }
        let part = read_part(&index, &local)?;
        match out.as_mut() {
            None => return Ok(part),
            Some(o) => o.paste(&dest, &part),
        }
        // next block index in C order within the ranges
        let mut d = nd;
        loop {
            if d == 0 {
                return Ok(out.expect("multi-block region"));
            }
            d -= 1;
            index[d] += 1;
            if index[d] <= ranges[d].1 {
                break;
            }
            index[d] = ranges[d].0;
        }
    }
}

/// A convenience for tests and examples: an f64 ndarray as a chunked source.
pub fn from_ndarray_f64(name: &str, a: ndarray::ArrayD<f64>, chunk: &[usize]) -> Arc<dyn Source> {
    let chunks = Chunks::regular(a.shape(), chunk);
    Arc::new(MemorySource::new(name, Block::from_ndarray(a), Some(chunks)))
}

/// An in-memory source from raw values, used by the expression language for literals.
pub fn from_buffer(name: &str, shape: Vec<usize>, data: Buffer) -> Arc<dyn Source> {
    Arc::new(MemorySource::new(name, Block::new(shape, data), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, ArrayD, IxDyn};

    #[test]
    fn stack_reads_members_along_a_new_axis() {
        let a = Array::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64);
        let b = a.mapv(|x| -x);
        let s = StackSource::new(vec![from_ndarray_f64("a", a.clone(), &[2, 2]), from_ndarray_f64("b", b.clone(), &[2, 2])], None).unwrap();
        assert_eq!(s.shape(), vec![2, 3, 4]);
        assert_eq!(s.chunks().axis(0), &[1, 1]);
        let r = s.read(&Region { start: vec![0, 1, 1], shape: vec![2, 2, 3] }).unwrap();
        let got = r.to_ndarray::<f64>().unwrap();
        assert_eq!(got[[0, 0, 0]], a[[1, 1]]);
        assert_eq!(got[[1, 1, 2]], b[[2, 3]]);
    }

    #[test]
    fn join_reads_every_range_across_members_of_uneven_length() {
        // members of 3, 0, 2 and 4 records, each chunked by 2 along the joined axis
        let lens = [3usize, 0, 2, 4];
        let parts: Vec<ArrayD<f64>> =
            lens.iter().enumerate().map(|(m, &n)| Array::from_shape_fn(IxDyn(&[n, 3]), |i| (m * 100 + i[0] * 10 + i[1]) as f64)).collect();
        let members = parts.iter().enumerate().map(|(m, a)| from_ndarray_f64(&format!("m{m}"), a.clone(), &[2, 2])).collect();
        let s = StackSource::join(members, None).unwrap();
        assert_eq!(s.shape(), vec![9, 3]);
        assert_eq!(s.chunks().axis(0), &[2, 1, 2, 2, 2]);
        let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
        let whole = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
        for start in 0..=9 {
            for len in 0..=9 - start {
                let r = Region { start: vec![start, 1], shape: vec![len, 2] };
                let got = s.read(&r).unwrap().to_ndarray::<f64>().unwrap();
                assert_eq!(got, whole.slice(ndarray::s![start..start + len, 1..3]).into_dyn(), "{r}");
            }
        }
    }

    #[test]
    fn a_join_of_empty_members_has_one_empty_block() {
        let empty = || from_ndarray_f64("e", ArrayD::zeros(IxDyn(&[0, 3])), &[1, 3]);
        let s = Arc::new(StackSource::join(vec![empty(), empty()], None).unwrap());
        assert_eq!((s.shape(), s.chunks().axis(0).to_vec()), (vec![0, 3], vec![0]));
        // the engine plans and computes over it (NumPy: a sum over no records is 0)
        let x = crate::expr::Array::from_source(s);
        let sum = crate::compute(&x.sum(Some(&[0])).unwrap(), &Default::default()).unwrap();
        assert_eq!(sum.to_ndarray::<f64>().unwrap().into_raw_vec_and_offset().0, vec![0.0; 3]);
    }

    #[test]
    fn join_names_the_first_member_that_differs() {
        let a = from_ndarray_f64("jan.nc:/t2m", ndarray::ArrayD::zeros(IxDyn(&[31, 3, 4])), &[1, 3, 4]);
        let b = from_ndarray_f64("feb.nc:/t2m", ndarray::ArrayD::zeros(IxDyn(&[28, 3, 5])), &[1, 3, 5]);
        let err = StackSource::join(vec![a, b], None).unwrap_err();
        assert_eq!(err.to_string(), "feb.nc:/t2m: shape after the first axis (3, 5) differs from (3, 4) of jan.nc:/t2m");
    }

    #[test]
    fn stack_names_the_first_member_that_differs() {
        let a = from_ndarray_f64("day1.h5:/t2m", ndarray::ArrayD::zeros(IxDyn(&[3, 4])), &[3, 4]);
        let b = from_ndarray_f64("day2.h5:/t2m", ndarray::ArrayD::zeros(IxDyn(&[3, 5])), &[3, 5]);
        let err = StackSource::new(vec![a, b], None).unwrap_err();
        assert_eq!(err.to_string(), "day2.h5:/t2m: shape (3, 5) differs from (3, 4) of day1.h5:/t2m");
    }
}
