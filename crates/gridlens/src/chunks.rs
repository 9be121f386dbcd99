//! Chunk geometry, as in dask.array: per-axis lists of block lengths.
//!
//! [`Chunks`] is the single source of truth for an array's shape: the shape is
//! the sum of each axis' block lengths, never stored twice. Everything here is
//! pure arithmetic on lengths; no data is touched.

use crate::dtype::DType;
use std::fmt;

/// Block lengths along every axis (dask's `chunks`): `((500, 500, 440), (1000, 1000))`.
///
/// The start of every block is kept beside the lengths: a block's region is then found in
/// constant time, where summing the lengths before it made planning a 350,640-record stack
/// quadratic (10 s in `block_region` alone).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Chunks {
    lengths: Vec<Vec<usize>>,
    /// Per axis: the start of each block, then the axis length.
    starts: Vec<Vec<usize>>,
}

/// A box of elements: `start` and `shape` per axis, in array coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    pub start: Vec<usize>,
    pub shape: Vec<usize>,
}

impl Region {
    /// The whole of an array of `shape`.
    pub fn full(shape: &[usize]) -> Region {
        Region { start: vec![0; shape.len()], shape: shape.to_vec() }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// One past the last index along each axis.
    pub fn end(&self) -> Vec<usize> {
        self.start.iter().zip(&self.shape).map(|(s, n)| s + n).collect()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (d, (s, n)) in self.start.iter().zip(&self.shape).enumerate() {
            if d > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{}:{}", s, s + n)?;
        }
        write!(f, "]")
    }
}

impl Chunks {
    /// Wraps per-axis block lengths.
    pub fn new(lengths: Vec<Vec<usize>>) -> Chunks {
        let starts = lengths
            .iter()
            .map(|c| {
                let mut acc = 0;
                std::iter::once(0)
                    .chain(c.iter().map(|&n| {
                        acc += n;
                        acc
                    }))
                    .collect()
            })
            .collect();
        Chunks { lengths, starts }
    }

    /// Regular chunks of at most `chunk[d]` along each axis; the last block may be shorter.
    /// An axis of length 0 gets one block of length 0, as in dask.
    pub fn regular(shape: &[usize], chunk: &[usize]) -> Chunks {
        assert_eq!(shape.len(), chunk.len());
        Chunks::new(shape.iter().zip(chunk).map(|(&n, &c)| split_axis(n, c)).collect())
    }

    /// A single block covering the whole shape.
    pub fn single(shape: &[usize]) -> Chunks {
        Chunks::new(shape.iter().map(|&n| vec![n]).collect())
    }

    pub fn axes(&self) -> &[Vec<usize>] {
        &self.lengths
    }

    pub fn axis(&self, d: usize) -> &[usize] {
        &self.lengths[d]
    }

    pub fn ndim(&self) -> usize {
        self.lengths.len()
    }

    /// The array's shape, derived from the block lengths.
    pub fn shape(&self) -> Vec<usize> {
        self.starts.iter().map(|s| s.last().copied().unwrap_or(0)).collect()
    }

    /// Number of blocks along each axis (dask's `numblocks`).
    pub fn blocks_per_axis(&self) -> Vec<usize> {
        self.lengths.iter().map(|c| c.len()).collect()
    }

    /// Total number of blocks.
    pub fn num_blocks(&self) -> usize {
        self.lengths.iter().map(|c| c.len()).product()
    }

    /// Element count of the whole array.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest block length along each axis (the "chunk shape" dask prints).
    pub fn max_block_shape(&self) -> Vec<usize> {
        self.lengths.iter().map(|c| c.iter().copied().max().unwrap_or(0)).collect()
    }

    /// Shape of the block at multi-index `index`.
    pub fn block_shape(&self, index: &[usize]) -> Vec<usize> {
        index.iter().zip(&self.lengths).map(|(&i, c)| c[i]).collect()
    }

    /// The element box of the block at multi-index `index`.
    pub fn block_region(&self, index: &[usize]) -> Region {
        let start = index.iter().zip(&self.starts).map(|(&i, s)| s[i]).collect();
        Region { start, shape: self.block_shape(index) }
    }

    /// Multi-index of block number `linear` in C order.
    pub fn block_index(&self, mut linear: usize) -> Vec<usize> {
        let nb = self.blocks_per_axis();
        let mut idx = vec![0; nb.len()];
        for d in (0..nb.len()).rev() {
            idx[d] = linear % nb[d];
            linear /= nb[d];
        }
        idx
    }

    /// C-order number of the block at multi-index `index`.
    pub fn block_linear(&self, index: &[usize]) -> usize {
        let mut linear = 0;
        for (d, &i) in index.iter().enumerate() {
            linear = linear * self.lengths[d].len() + i;
        }
        linear
    }

    /// Block offsets (element start of each block) along axis `d`, plus the axis length at the end.
    pub fn offsets(&self, d: usize) -> &[usize] {
        &self.starts[d]
    }

    /// The block along axis `d` that holds element `i` (`i` must be in bounds).
    pub fn block_of(&self, d: usize, i: usize) -> usize {
        // the first block ending after i (blocks of length 0 end where they start)
        let ends = &self.starts[d][1..];
        ends.partition_point(|&end| end <= i).min(self.lengths[d].len().saturating_sub(1))
    }

    /// The block holding every element of `region`, if a single block does.
    pub fn block_containing(&self, region: &Region) -> Option<Vec<usize>> {
        let mut index = Vec::with_capacity(self.ndim());
        for d in 0..self.ndim() {
            let offs = self.offsets(d);
            let b = self.block_of(d, region.start[d]);
            if region.shape[d] > 0 && region.start[d] + region.shape[d] > offs[b + 1] {
                return None;
            }
            index.push(b);
        }
        Some(index)
    }

    /// Bytes of the largest block for elements of `dtype`.
    pub fn max_block_bytes(&self, dtype: DType) -> usize {
        self.max_block_shape().iter().product::<usize>() * dtype.size_bytes()
    }
}

impl fmt::Debug for Chunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(")?;
        for (d, c) in self.lengths.iter().enumerate() {
            if d > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{}", compact_axis(c))?;
        }
        write!(f, ")")
    }
}

fn compact_axis(c: &[usize]) -> String {
    if c.len() > 4 {
        let head = c[0];
        let regular = c[..c.len() - 1].iter().all(|&x| x == head);
        if regular {
            return format!("({head} x{}, {})", c.len() - 1, c[c.len() - 1]);
        }
    }
    let items: Vec<String> = c.iter().map(|x| x.to_string()).collect();
    if c.len() == 1 { format!("({},)", items[0]) } else { format!("({})", items.join(", ")) }
}

/// Splits an axis of length `n` into blocks of at most `c` (the last may be shorter).
pub fn split_axis(n: usize, c: usize) -> Vec<usize> {
    if n == 0 {
        return vec![0];
    }
    let c = c.clamp(1, n);
    let mut out = vec![c; n / c];
    if !n.is_multiple_of(c) {
        out.push(n % c);
    }
    out
}

/// How the user asks for chunks along one axis.
#[derive(Clone, Debug, PartialEq)]
pub enum AxisChunks {
    /// Blocks of this many elements (the last may be shorter).
    Size(usize),
    /// One block spanning the axis (dask's `-1` or `None`).
    Full,
    /// Let [`normalize_chunks`] choose from the byte budget.
    Auto,
    /// Explicit block lengths, which must add up to the axis length.
    Explicit(Vec<usize>),
}

/// A chunk request as the user writes it: `1000`, `(500, 500)`, `"auto"` or a byte budget.
#[derive(Clone, Debug, PartialEq)]
pub enum ChunkSpec {
    Auto,
    /// `auto` with this many bytes per block.
    Bytes(usize),
    /// The same block length on every axis.
    Uniform(usize),
    /// Every axis whole: one block (dask's `chunks=-1`).
    Whole,
    PerAxis(Vec<AxisChunks>),
}

/// Default byte budget per block for `auto` chunking (dask's `array.chunk-size`).
pub const AUTO_BLOCK_BYTES: usize = 128 << 20;

/// Why a chunk request cannot be honoured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunks {spec} have {got} axes but the array has {want}")]
    Rank { spec: String, got: usize, want: usize },
    #[error("chunks along axis {axis} add up to {got}, but the axis has length {want}")]
    Sum { axis: usize, got: usize, want: usize },
    #[error("chunk length along axis {axis} must be positive")]
    Zero { axis: usize },
    #[error("cannot read chunk spec '{0}': expected 'auto', a size such as '64MB', or lengths such as '1,500,500'")]
    Syntax(String),
}

impl ChunkSpec {
    /// Parses the command line's `--chunks`: `auto`, `64MiB`, `1000`, or `1,500,-1` (one entry per axis;
    /// `-1` means the whole axis, `auto` lets the byte budget choose).
    ///
    /// # Errors
    /// [`ChunkError::Syntax`] when the text is none of those forms.
    pub fn parse(text: &str) -> Result<ChunkSpec, ChunkError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(ChunkSpec::Auto);
        }
        if let Some(bytes) = parse_size(t).filter(|_| t.chars().any(|c| c.is_ascii_alphabetic())) {
            return Ok(ChunkSpec::Bytes(bytes));
        }
        let t = t.trim_start_matches('(').trim_end_matches(')');
        let parts: Vec<&str> = t.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            return Err(ChunkError::Syntax(text.into()));
        }
        let mut axes = Vec::new();
        for p in &parts {
            axes.push(match *p {
                "-1" | "None" | "full" => AxisChunks::Full,
                "auto" => AxisChunks::Auto,
                n => AxisChunks::Size(n.parse().map_err(|_| ChunkError::Syntax(text.into()))?),
            });
        }
        // one value without a comma applies to every axis, as dask reads `chunks=1000`
        if parts.len() == 1 && !text.contains(',') {
            match axes[0] {
                AxisChunks::Size(n) => return Ok(ChunkSpec::Uniform(n)),
                AxisChunks::Full => return Ok(ChunkSpec::Whole),
                _ => {}
            }
        }
        Ok(ChunkSpec::PerAxis(axes))
    }
}

/// Parses a byte size such as `64MB`, `1.5GiB`, `512k` or `1000000` (bytes).
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.trim().parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let bytes = value * mult;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as usize)
}

/// Formats a byte count the way dask's table does: `1.03 GiB`, `7.63 MiB`.
pub fn format_bytes(bytes: usize) -> String {
    let b = bytes as f64;
    const UNITS: [&str; 5] = ["B", "kiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.2} {}", UNITS[u]) }
}

/// Turns a chunk request into canonical [`Chunks`] for an array of `shape` and `dtype`
/// (dask's `normalize_chunks`). `Auto` axes share the byte budget so that blocks are
/// near-cubic and no larger than `AUTO_BLOCK_BYTES` (or the given budget); `previous`
/// chunks, when given, are used as the block length hint for auto axes (a storage layout).
///
/// # Errors
/// When the request's rank differs from the shape's, or explicit lengths do not add up.
pub fn normalize_chunks(spec: &ChunkSpec, shape: &[usize], dtype: DType, previous: Option<&Chunks>) -> Result<Chunks, ChunkError> {
    let per_axis: Vec<AxisChunks> = match spec {
        ChunkSpec::Auto | ChunkSpec::Bytes(_) => vec![AxisChunks::Auto; shape.len()],
        ChunkSpec::Uniform(n) => vec![AxisChunks::Size(*n); shape.len()],
        ChunkSpec::Whole => vec![AxisChunks::Full; shape.len()],
        ChunkSpec::PerAxis(v) => {
            if v.len() != shape.len() {
                return Err(ChunkError::Rank { spec: format!("{v:?}"), got: v.len(), want: shape.len() });
            }
            v.clone()
        }
    };
    let budget = match spec {
        ChunkSpec::Bytes(b) => (*b).max(dtype.size_bytes()),
        _ => AUTO_BLOCK_BYTES,
    };
    let mut out: Vec<Option<Vec<usize>>> = vec![None; shape.len()];
    let mut fixed_elems: usize = 1;
    for (d, a) in per_axis.iter().enumerate() {
        match a {
            AxisChunks::Size(0) => return Err(ChunkError::Zero { axis: d }),
            AxisChunks::Size(c) => {
                out[d] = Some(split_axis(shape[d], *c));
                fixed_elems = fixed_elems.saturating_mul((*c).min(shape[d]).max(1));
            }
            AxisChunks::Full => {
                out[d] = Some(vec![shape[d]]);
                fixed_elems = fixed_elems.saturating_mul(shape[d].max(1));
            }
            AxisChunks::Explicit(v) => {
                let got: usize = v.iter().sum();
                if got != shape[d] {
                    return Err(ChunkError::Sum { axis: d, got, want: shape[d] });
                }
                fixed_elems = fixed_elems.saturating_mul(v.iter().copied().max().unwrap_or(1).max(1));
                out[d] = Some(v.clone());
            }
            AxisChunks::Auto => {}
        }
    }
    let auto_axes: Vec<usize> = (0..shape.len()).filter(|&d| out[d].is_none()).collect();
    if !auto_axes.is_empty() {
        let elems_left = (budget / dtype.size_bytes() / fixed_elems.max(1)).max(1);
        let lens = auto_lengths(
            &auto_axes.iter().map(|&d| shape[d]).collect::<Vec<_>>(),
            elems_left,
            previous.map(|p| auto_axes.iter().map(|&d| p.axis(d).iter().copied().max().unwrap_or(1)).collect::<Vec<_>>()),
        );
        for (k, &d) in auto_axes.iter().enumerate() {
            out[d] = Some(split_axis(shape[d], lens[k]));
        }
    }
    Ok(Chunks::new(out.into_iter().map(|c| c.expect("every axis set")).collect()))
}

/// Block lengths for auto axes: as close to equal as the axis lengths allow, with a product
/// of at most `elems`. With `hint` (storage chunk lengths), lengths are multiples of it.
fn auto_lengths(shape: &[usize], elems: usize, hint: Option<Vec<usize>>) -> Vec<usize> {
    let n = shape.len();
    let mut lens: Vec<usize> = shape.iter().map(|&s| s.max(1)).collect();
    let total: f64 = lens.iter().map(|&l| l as f64).product();
    if total <= elems as f64 {
        return lens;
    }
    // Shrink the longest axes first until the block fits: near-cubic blocks.
    let mut fixed = vec![false; n];
    let mut budget = elems as f64;
    loop {
        let free: Vec<usize> = (0..n).filter(|&d| !fixed[d]).collect();
        if free.is_empty() {
            break;
        }
        let side = budget.powf(1.0 / free.len() as f64);
        let mut changed = false;
        for &d in &free {
            if (shape[d] as f64) <= side {
                fixed[d] = true;
                budget /= shape[d].max(1) as f64;
                changed = true;
            }
        }
        if !changed {
            for &d in &free {
                lens[d] = (side.floor() as usize).max(1);
            }
            break;
        }
    }
    if let Some(h) = hint {
        for d in 0..n {
            if h[d] > 0 && lens[d] > h[d] && lens[d] < shape[d] {
                lens[d] = lens[d] / h[d] * h[d];
            } else if h[d] > 0 && lens[d] < h[d] {
                // keep within budget: do not grow past the budget, but avoid splitting a storage chunk
                lens[d] = lens[d].max(1);
            }
        }
    }
    lens
}

/// One output block of a 1-d slice: where its elements come from in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlicePiece {
    /// Input block along this axis.
    pub block: usize,
    /// First input element (block-local) the output block takes.
    pub local_start: usize,
    /// Step between taken elements (negative steps walk backwards).
    pub step: isize,
    /// Number of elements taken, the output block's length.
    pub len: usize,
}

/// A Python slice normalised against an axis length: `start`, `step` and element count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormalSlice {
    pub start: isize,
    pub step: isize,
    pub len: usize,
}

/// Python's `slice(start, stop, step).indices(n)` followed by the element count.
/// `step` must not be 0.
pub fn normalize_slice(start: Option<i64>, stop: Option<i64>, step: Option<i64>, n: usize) -> NormalSlice {
    let n = n as i64;
    let step = step.unwrap_or(1);
    assert!(step != 0, "slice step cannot be zero");
    let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let clamp = |v: Option<i64>, default: i64| -> i64 {
        match v {
            None => default,
            Some(v) if v < 0 => (v + n).max(lo),
            Some(v) => v.min(hi),
        }
    };
    let start = clamp(start, if step > 0 { 0 } else { n - 1 });
    let stop = clamp(stop, if step > 0 { n } else { -1 });
    let len = if step > 0 {
        if stop > start { (stop - start + step - 1) / step } else { 0 }
    } else if start > stop {
        (start - stop + (-step) - 1) / (-step)
    } else {
        0
    };
    NormalSlice { start: start as isize, step: step as isize, len: len as usize }
}

/// Maps a normalised slice through an axis' blocks (dask's `slice_1d`): one output block per
/// input block that the slice touches, in output order, so no data moves between blocks.
/// An empty slice gives one empty piece.
pub fn slice_1d(blocks: &[usize], s: NormalSlice) -> Vec<SlicePiece> {
    if s.len == 0 {
        return vec![SlicePiece { block: 0, local_start: 0, step: s.step, len: 0 }];
    }
    let mut offs = Vec::with_capacity(blocks.len() + 1);
    let mut acc = 0usize;
    offs.push(0);
    for &b in blocks {
        acc += b;
        offs.push(acc);
    }
    let mut pieces: Vec<SlicePiece> = Vec::new();
    let mut taken = 0usize;
    while taken < s.len {
        let i = (s.start + s.step * taken as isize) as usize;
        let b = match offs.binary_search(&i) {
            Ok(k) => k,
            Err(k) => k - 1,
        };
        let (lo, hi) = (offs[b], offs[b + 1]);
        // how many further elements stay inside [lo, hi)
        let room = if s.step > 0 { (hi - 1 - i) / s.step as usize + 1 } else { (i - lo) / (-s.step) as usize + 1 };
        let len = room.min(s.len - taken);
        pieces.push(SlicePiece { block: b, local_start: i - lo, step: s.step, len });
        taken += len;
    }
    pieces
}

/// The common refinement of two block lists over the same axis length (dask's
/// `common_blockdim` without rechunking): every boundary of either input is a boundary of
/// the result, so each result block lies inside one block of each input.
pub fn refine_axis(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = Vec::new();
    let mut acc = 0;
    for &x in a {
        acc += x;
        cuts.push(acc);
    }
    acc = 0;
    for &x in b {
        acc += x;
        cuts.push(acc);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len());
    let mut prev = 0;
    for c in cuts {
        if c > prev {
            out.push(c - prev);
            prev = c;
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_chunks_have_short_last_block() {
        let c = Chunks::regular(&[1440, 2880], &[500, 500]);
        assert_eq!(c.axis(0), &[500, 500, 440]);
        assert_eq!(c.axis(1), &[500, 500, 500, 500, 500, 380]);
        assert_eq!(c.shape(), vec![1440, 2880]);
        assert_eq!(c.blocks_per_axis(), vec![3, 6]);
        assert_eq!(c.num_blocks(), 18);
        let r = c.block_region(&[2, 5]);
        assert_eq!(r.start, vec![1000, 2500]);
        assert_eq!(r.shape, vec![440, 380]);
        for k in 0..c.num_blocks() {
            assert_eq!(c.block_linear(&c.block_index(k)), k);
        }
    }

    #[test]
    fn zero_length_axis_has_one_empty_block() {
        let c = Chunks::regular(&[0, 5], &[3, 3]);
        assert_eq!(c.axis(0), &[0]);
        assert_eq!(c.shape(), vec![0, 5]);
    }

    #[test]
    fn normalize_explicit_and_auto() {
        let shape = [31, 5760, 11520];
        let c = normalize_chunks(
            &ChunkSpec::PerAxis(vec![AxisChunks::Size(1), AxisChunks::Size(500), AxisChunks::Full]),
            &shape,
            DType::F64,
            None,
        )
        .unwrap();
        assert_eq!(c.axis(0).len(), 31);
        assert_eq!(c.axis(2), &[11520]);
        let auto = normalize_chunks(&ChunkSpec::Auto, &shape, DType::F64, None).unwrap();
        assert!(auto.max_block_bytes(DType::F64) <= AUTO_BLOCK_BYTES);
        assert_eq!(auto.shape(), shape.to_vec());
        let small = normalize_chunks(&ChunkSpec::Bytes(1 << 20), &[1000, 1000], DType::F64, None).unwrap();
        assert!(small.max_block_bytes(DType::F64) <= 1 << 20);
        assert!(small.max_block_shape()[0] >= 300, "near-square blocks: {small:?}");
        let bad = normalize_chunks(&ChunkSpec::PerAxis(vec![AxisChunks::Explicit(vec![3, 3])]), &[7], DType::F64, None);
        assert_eq!(bad, Err(ChunkError::Sum { axis: 0, got: 6, want: 7 }));
    }

    #[test]
    fn parse_chunk_specs() {
        assert_eq!(ChunkSpec::parse("auto").unwrap(), ChunkSpec::Auto);
        assert_eq!(ChunkSpec::parse("64MiB").unwrap(), ChunkSpec::Bytes(64 << 20));
        assert_eq!(ChunkSpec::parse("1000").unwrap(), ChunkSpec::Uniform(1000));
        assert_eq!(ChunkSpec::parse("-1").unwrap(), ChunkSpec::Whole);
        assert_eq!(normalize_chunks(&ChunkSpec::Whole, &[3, 4], DType::F64, None).unwrap(), Chunks::new(vec![vec![3], vec![4]]));
        assert_eq!(
            ChunkSpec::parse("1,500,-1").unwrap(),
            ChunkSpec::PerAxis(vec![AxisChunks::Size(1), AxisChunks::Size(500), AxisChunks::Full])
        );
        assert!(ChunkSpec::parse("lots").is_err());
    }

    fn python_slice(n: usize, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Vec<usize> {
        // reference: enumerate Python semantics directly
        let s = normalize_slice(start, stop, step, n);
        (0..s.len).map(|k| (s.start + s.step * k as isize) as usize).collect()
    }

    #[test]
    fn normalize_slice_matches_python() {
        // values checked against Python's list(range(n))[start:stop:step]
        assert_eq!(python_slice(10, None, None, Some(-1)), vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert_eq!(python_slice(10, Some(-3), None, None), vec![7, 8, 9]);
        assert_eq!(python_slice(10, Some(8), Some(2), Some(-3)), vec![8, 5]);
        assert_eq!(python_slice(10, Some(20), None, Some(-4)), vec![9, 5, 1]);
        assert_eq!(python_slice(10, Some(-20), Some(3), None), vec![0, 1, 2]);
        assert_eq!(python_slice(10, Some(5), Some(5), None), Vec::<usize>::new());
        assert_eq!(python_slice(0, None, None, Some(-1)), Vec::<usize>::new());
    }

    #[test]
    fn slice_1d_keeps_blocks_aligned() {
        let blocks = [4, 4, 3];
        let s = normalize_slice(None, None, Some(-3), 11);
        let pieces = slice_1d(&blocks, s);
        // elements 10, 7, 4, 1 -> blocks 2, 1, 1, 0
        assert_eq!(
            pieces,
            vec![
                SlicePiece { block: 2, local_start: 2, step: -3, len: 1 },
                SlicePiece { block: 1, local_start: 3, step: -3, len: 2 },
                SlicePiece { block: 0, local_start: 1, step: -3, len: 1 },
            ]
        );
        let s = normalize_slice(Some(1), None, Some(2), 11);
        let lens: usize = slice_1d(&blocks, s).iter().map(|p| p.len).sum();
        assert_eq!(lens, 5);
    }

    #[test]
    fn refine_axis_cuts_at_every_boundary() {
        assert_eq!(refine_axis(&[5, 5], &[3, 3, 4]), vec![3, 2, 1, 4]);
        assert_eq!(refine_axis(&[10], &[10]), vec![10]);
        assert_eq!(refine_axis(&[0], &[0]), vec![0]);
    }
}
