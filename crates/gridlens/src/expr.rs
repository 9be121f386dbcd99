//! The lazy graph users build (dask.array's collection layer).
//!
//! An [`Array`] is a node in a shared, immutable DAG: an operation, its inputs,
//! its [`Chunks`] (the single source of truth for the shape) and its [`DType`].
//! Building an array checks shapes, axes and dtypes with NumPy's rules and
//! reports mistakes in NumPy's words, but reads and computes nothing; that is the
//! job of [`crate::plan`] and [`crate::exec`]. [`parse`] turns NumPy syntax into
//! arrays.

mod index;
mod ops;
pub mod parse;
mod promote;

pub use ops::*;
use promote::{map_dtype, operand_dtype};
pub use promote::{operand_type, result_type};

use crate::block::Scalar;
use crate::chunks::{Chunks, refine_axis};
use crate::dtype::DType;
use crate::source::random::{Distr, RandomSource};
use crate::source::{Source, fmt_shape};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A mistake in building an expression, in words a scientist understands.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    #[error("axis {axis} is out of bounds for a {ndim}-D array")]
    AxisOutOfBounds { axis: i64, ndim: usize },
    #[error("shapes {} and {} cannot be broadcast", fmt_shape(.a), fmt_shape(.b))]
    Broadcast { a: Vec<usize>, b: Vec<usize> },
    #[error("index {index} is out of bounds for axis {axis} with size {size}")]
    IndexOutOfBounds { index: i64, axis: usize, size: usize },
    #[error("too many indices for a {ndim}-D array: {given} were given")]
    TooManyIndices { ndim: usize, given: usize },
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ExprError {
    ExprError::Invalid(msg.into())
}

/// A node of the graph.
#[derive(Debug)]
pub struct Node {
    id: u64,
    op: Op,
    chunks: Chunks,
    dtype: DType,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A lazy chunked n-d array: a node of the expression graph. Cheap to clone.
#[derive(Clone)]
pub struct Array(Arc<Node>);

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Array#{}<{} {}>", self.0.id, fmt_shape(&self.shape()), self.0.dtype)
    }
}

impl PartialEq for Array {
    fn eq(&self, other: &Array) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Array {}

impl std::hash::Hash for Array {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state)
    }
}

fn normalize_axis(axis: i64, ndim: usize) -> Result<usize, ExprError> {
    let n = ndim as i64;
    if axis < -n || axis >= n {
        return Err(ExprError::AxisOutOfBounds { axis, ndim });
    }
    Ok(if axis < 0 { (axis + n) as usize } else { axis as usize })
}

/// The broadcast shape of several shapes (NumPy's rules: right-aligned, equal or 1).
///
/// # Errors
/// [`ExprError::Broadcast`] naming the first two shapes that disagree.
pub fn broadcast_shapes(shapes: &[Vec<usize>]) -> Result<Vec<usize>, ExprError> {
    let nd = shapes.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![1usize; nd];
    let mut owner: Vec<Option<usize>> = vec![None; nd];
    for (k, s) in shapes.iter().enumerate() {
        let off = nd - s.len();
        for (d, &n) in s.iter().enumerate() {
            let o = off + d;
            if n == out[o] || n == 1 {
                continue;
            }
            if out[o] == 1 {
                out[o] = n;
                owner[o] = Some(k);
            } else {
                let first = owner[o].map(|j| shapes[j].clone()).unwrap_or_default();
                return Err(ExprError::Broadcast { a: first, b: s.clone() });
            }
        }
    }
    Ok(out)
}

impl Array {
    fn new(op: Op, chunks: Chunks, dtype: DType) -> Array {
        Array(Arc::new(Node { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), op, chunks, dtype }))
    }

    /// An array reading from `source`, blocked like the source's storage.
    pub fn from_source(source: Arc<dyn Source>) -> Array {
        let chunks = source.chunks();
        let dtype = source.dtype();
        Array::new(Op::Source(source), chunks, dtype)
    }

    /// Lazily generated random draws (`random.normal(loc, scale, size, chunks)` and friends).
    pub fn random(distr: Distr, chunks: Chunks, seed: Option<u64>) -> Array {
        Array::from_source(Arc::new(RandomSource::new(distr, chunks, seed)))
    }

    /// A unique number of this node (for plans and messages).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    pub fn op(&self) -> &Op {
        &self.0.op
    }

    pub fn chunks(&self) -> &Chunks {
        &self.0.chunks
    }

    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    pub fn shape(&self) -> Vec<usize> {
        self.0.chunks.shape()
    }

    pub fn ndim(&self) -> usize {
        self.0.chunks.ndim()
    }

    pub fn len(&self) -> usize {
        self.0.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the whole array.
    pub fn nbytes(&self) -> usize {
        self.len() * self.dtype().size_bytes()
    }

    /// The arrays this node reads.
    pub fn inputs(&self) -> Vec<Array> {
        match &self.0.op {
            Op::Source(_) => vec![],
            Op::Map { args, .. } => args
                .iter()
                .filter_map(|a| match a {
                    Operand::Array(x) => Some(x.clone()),
                    Operand::Scalar(_) => None,
                })
                .collect(),
            Op::Reduce { input, .. }
            | Op::Index { input, .. }
            | Op::Transpose { input, .. }
            | Op::Topk { input, .. }
            | Op::Quantile { input, .. } => vec![input.clone()],
            Op::Stack { inputs, .. } | Op::Concat { inputs, .. } => inputs.clone(),
        }
    }

    // ---------------------------------------------------------------- elementwise

    /// Applies an elementwise function with NumPy broadcasting and type promotion.
    /// Inputs with different chunkings are unified to the common refinement of their blocks.
    ///
    /// # Errors
    /// When shapes cannot be broadcast, or the dtypes do not suit the function.
    pub fn map(func: MapFunc, args: Vec<Operand>) -> Result<Array, ExprError> {
        let arrays: Vec<&Array> = args
            .iter()
            .filter_map(|a| match a {
                Operand::Array(x) => Some(x),
                Operand::Scalar(_) => None,
            })
            .collect();
        if arrays.is_empty() {
            return Err(invalid("an elementwise function needs at least one array argument"));
        }
        let shapes: Vec<Vec<usize>> = arrays.iter().map(|a| a.shape()).collect();
        let shape = broadcast_shapes(&shapes)?;
        let dtype = map_dtype(func, &args)?;
        if let (MapFunc::Binary(BinaryOp::Pow), Some(Operand::Scalar(Scalar::Int(e)))) = (func, args.get(1)) {
            let base = operand_dtype(&args[0]);
            if base.is_some_and(DType::is_integer) && *e < 0 {
                return Err(invalid("integers to negative integer powers are not allowed"));
            }
        }
        // chunks: per output axis, the refinement of every argument that is not broadcast there
        let nd = shape.len();
        let mut axes: Vec<Option<Vec<usize>>> = vec![None; nd];
        for a in &arrays {
            let off = nd - a.ndim();
            for d in 0..a.ndim() {
                let o = off + d;
                if a.shape()[d] != shape[o] {
                    continue; // broadcast along this axis
                }
                let c = a.chunks().axis(d);
                axes[o] = Some(match &axes[o] {
                    None => c.to_vec(),
                    Some(prev) => refine_axis(prev, c),
                });
            }
        }
        let chunks = Chunks::new(axes.into_iter().enumerate().map(|(o, c)| c.unwrap_or_else(|| vec![shape[o]])).collect());
        Ok(Array::new(Op::Map { func, args }, chunks, dtype))
    }

    pub fn unary(&self, op: UnaryOp) -> Result<Array, ExprError> {
        Array::map(MapFunc::Unary(op), vec![self.into()])
    }

    pub fn binary(a: impl Into<Operand>, op: BinaryOp, b: impl Into<Operand>) -> Result<Array, ExprError> {
        Array::map(MapFunc::Binary(op), vec![a.into(), b.into()])
    }

    /// `where(cond, a, b)`: elements of `a` where `cond` is true, else of `b`.
    pub fn where_(cond: impl Into<Operand>, a: impl Into<Operand>, b: impl Into<Operand>) -> Result<Array, ExprError> {
        Array::map(MapFunc::Where, vec![cond.into(), a.into(), b.into()])
    }

    /// `clip(x, lo, hi)`.
    pub fn clip(&self, lo: impl Into<Operand>, hi: impl Into<Operand>) -> Result<Array, ExprError> {
        // Python int bounds an integer array's type cannot hold clip nothing beyond that type's
        // own range (NumPy 2: `clip(u8, -5, 300)` is the u8 values unchanged)
        let within = |b: Operand| match (b, self.dtype().int_range()) {
            (Operand::Scalar(Scalar::Int(v)), Some((lo, hi))) => {
                Operand::Scalar(Scalar::Int((v as i128).clamp(lo, hi.min(i64::MAX as i128)) as i64))
            }
            (b, _) => b,
        };
        Array::map(MapFunc::Clip, vec![self.into(), within(lo.into()), within(hi.into())])
    }

    /// `astype(dtype)`.
    pub fn astype(&self, dtype: DType) -> Result<Array, ExprError> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        Array::map(MapFunc::Cast(dtype), vec![self.into()])
    }

    // ---------------------------------------------------------------- reductions

    /// Reduces over `axes` (`None`: all axes; negative axes count from the end).
    ///
    /// # Errors
    /// When an axis is out of bounds or repeated, or a min/max reduces an empty axis.
    pub fn reduce(
        &self,
        func: ReduceFunc,
        axes: Option<&[i64]>,
        keepdims: bool,
        ddof: f64,
        split_every: Option<usize>,
    ) -> Result<Array, ExprError> {
        let nd = self.ndim();
        if func.is_arg() && axes.is_some_and(|a| a.len() != 1) {
            return Err(invalid(format!("{} takes one axis or none (the flattened array), not a tuple of axes", func.name())));
        }
        let mut ax: Vec<usize> = match axes {
            None => (0..nd).collect(),
            Some(list) => list.iter().map(|&a| normalize_axis(a, nd)).collect::<Result<_, _>>()?,
        };
        ax.sort_unstable();
        if ax.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("duplicate value in 'axis'"));
        }
        let shape = self.shape();
        if func.needs_elements() && ax.iter().any(|&a| shape[a] == 0) {
            if func.is_arg() {
                return Err(invalid(format!("attempt to get {} of an empty sequence", func.name())));
            }
            return Err(invalid(format!("zero-size array to reduction operation {} which has no identity", func.name())));
        }
        if matches!(func, ReduceFunc::Var | ReduceFunc::Std | ReduceFunc::NanVar | ReduceFunc::NanStd) && ddof < 0.0 {
            return Err(invalid("ddof must not be negative"));
        }
        let split_every = split_every.unwrap_or(SPLIT_EVERY);
        if split_every < 2 {
            return Err(invalid("split_every must be at least 2"));
        }
        let mut out_axes = Vec::new();
        for d in 0..nd {
            if ax.contains(&d) {
                if keepdims {
                    out_axes.push(vec![1]);
                }
            } else {
                out_axes.push(self.chunks().axis(d).to_vec());
            }
        }
        let dtype = func.result_dtype(self.dtype());
        let reduction = Reduction { func, axes: ax, keepdims, ddof, split_every };
        Ok(Array::new(Op::Reduce { input: self.clone(), reduction }, Chunks::new(out_axes), dtype))
    }

    pub fn sum(&self, axes: Option<&[i64]>) -> Result<Array, ExprError> {
        self.reduce(ReduceFunc::Sum, axes, false, 0.0, None)
    }

    pub fn mean(&self, axes: Option<&[i64]>) -> Result<Array, ExprError> {
        self.reduce(ReduceFunc::Mean, axes, false, 0.0, None)
    }

    /// The `k` largest elements along `axis` in descending order (k < 0: the smallest, ascending),
    /// computed blockwise and merged, as dask's `topk`.
    ///
    /// # Errors
    /// When `k` is 0 or larger than the axis, or the axis is out of bounds.
    pub fn topk(&self, k: i64, axis: i64) -> Result<Array, ExprError> {
        let axis = normalize_axis(axis, self.ndim())?;
        let n = self.shape()[axis];
        if k == 0 || k.unsigned_abs() as usize > n {
            return Err(invalid(format!("topk needs 0 < |k| <= {n} (the length of axis {axis}), got k={k}")));
        }
        if self.dtype() == DType::Bool {
            return Err(invalid("topk of a bool array is not supported"));
        }
        let mut axes = self.chunks().axes().to_vec();
        axes[axis] = vec![k.unsigned_abs() as usize];
        Ok(Array::new(Op::Topk { input: self.clone(), k, axis }, Chunks::new(axes), self.dtype()))
    }

    /// NumPy's `quantile(x, q, axis)` (`nanquantile` with `skip_nan`) with its default
    /// linear method: the values of each lane along `axis` at the two ranks nearest to
    /// `(c - 1) q`, interpolated as NumPy's `_lerp` does, so the digits equal NumPy's; `c`
    /// counts the lane's values (its non-NaN ones when skipping NaN). Without `skip_nan` a
    /// lane holding NaN gives NaN; a lane with nothing to rank gives NaN. Integer data gives
    /// float64, float32 stays float32. One axis, as dask's.
    ///
    /// # Errors
    /// When `q` is outside [0, 1], the axis is out of bounds, or (without `skip_nan`, as in
    /// NumPy) it has no elements.
    pub fn quantile(&self, q: f64, axis: i64, skip_nan: bool) -> Result<Array, ExprError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(invalid(format!("quantiles must be in the range [0, 1], got {q}")));
        }
        self.order_statistic(Quantile { q: Some(q), skip_nan }, axis)
    }

    /// NumPy's `median(x, axis)` (`nanmedian` with `skip_nan`): the middle value along
    /// `axis`, or the mean of the two middle values (`(a + b) / 2`, as NumPy's mean of two
    /// gives it).
    ///
    /// # Errors
    /// When the axis is out of bounds (an empty axis gives NaN, as in NumPy).
    pub fn median(&self, axis: i64, skip_nan: bool) -> Result<Array, ExprError> {
        self.order_statistic(Quantile { q: None, skip_nan }, axis)
    }

    fn order_statistic(&self, stat: Quantile, axis: i64) -> Result<Array, ExprError> {
        /// The most one task holds: every value of its lanes.
        const LANES_BYTES: usize = 128 << 20;
        self.order_statistic_within(stat, axis, LANES_BYTES)
    }

    fn order_statistic_within(&self, stat: Quantile, axis: i64, lanes_bytes: usize) -> Result<Array, ExprError> {
        let axis = normalize_axis(axis, self.ndim())?;
        let n = self.shape()[axis];
        // NumPy: the quantile of nothing is an error, the median (and the nan forms) NaN
        if n == 0 && stat.q.is_some() && !stat.skip_nan {
            return Err(invalid(format!("axis {axis} has no elements to take a quantile of")));
        }
        let x = if self.dtype().is_float() { self.clone() } else { self.astype(DType::F64)? };
        let dtype = x.dtype();
        let mut axes = x.chunks().axes().to_vec();
        axes.remove(axis);
        // split the other axes' blocks until a task's lanes fit (dask's median rechunks
        // them to 'auto' for the same reason): halve the longest blocks first
        loop {
            let longest = |a: &Vec<usize>| a.iter().copied().max().unwrap_or(0);
            let block: usize = axes.iter().map(longest).product();
            let Some(d) = (0..axes.len()).filter(|&d| longest(&axes[d]) > 1).max_by_key(|&d| longest(&axes[d])) else { break };
            if block * n.max(1) * dtype.size_bytes() <= lanes_bytes {
                break;
            }
            axes[d] = axes[d].iter().flat_map(|&c| if c > 1 { vec![c - c / 2, c / 2] } else { vec![c] }).collect();
        }
        Ok(Array::new(Op::Quantile { input: x, stat, axis }, Chunks::new(axes), dtype))
    }

    // ---------------------------------------------------------------- structure

    /// Permutes the axes (`None`: reverses them, as NumPy's `transpose()`).
    ///
    /// # Errors
    /// When `perm` is not a permutation of the axes.
    pub fn transpose(&self, perm: Option<&[i64]>) -> Result<Array, ExprError> {
        let nd = self.ndim();
        let perm: Vec<usize> = match perm {
            None => (0..nd).rev().collect(),
            Some(p) => {
                if p.len() != nd {
                    return Err(invalid(format!("axes don't match array: {} axes given for a {nd}-D array", p.len())));
                }
                p.iter().map(|&a| normalize_axis(a, nd)).collect::<Result<_, _>>()?
            }
        };
        let mut seen = vec![false; nd];
        for &a in &perm {
            if std::mem::replace(&mut seen[a], true) {
                return Err(invalid("repeated axis in transpose"));
            }
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let chunks = Chunks::new(perm.iter().map(|&p| self.chunks().axis(p).to_vec()).collect());
        Ok(Array::new(Op::Transpose { input: self.clone(), perm }, chunks, self.dtype()))
    }

    /// Joins equally shaped arrays along a new axis (dask's `stack`): one block per input along it.
    ///
    /// # Errors
    /// When there are no arrays, their shapes differ, or the axis is out of bounds.
    pub fn stack(arrays: &[Array], axis: i64) -> Result<Array, ExprError> {
        let first = arrays.first().ok_or_else(|| invalid("need at least one array to stack"))?;
        let shape = first.shape();
        for a in &arrays[1..] {
            if a.shape() != shape {
                return Err(invalid(format!(
                    "all arrays to stack must have the same shape: {} and {}",
                    fmt_shape(&shape),
                    fmt_shape(&a.shape())
                )));
            }
        }
        let axis = normalize_axis(axis, shape.len() + 1)?;
        let dtype = arrays.iter().skip(1).fold(first.dtype(), |d, a| DType::promote(d, a.dtype()));
        let mut axes: Vec<Vec<usize>> = Vec::new();
        for d in 0..shape.len() {
            let mut c = first.chunks().axis(d).to_vec();
            for a in &arrays[1..] {
                c = refine_axis(&c, a.chunks().axis(d));
            }
            axes.push(c);
        }
        axes.insert(axis, vec![1; arrays.len()]);
        Ok(Array::new(Op::Stack { inputs: arrays.to_vec(), axis }, Chunks::new(axes), dtype))
    }

    /// Joins arrays along an existing axis (dask's `concatenate`).
    ///
    /// # Errors
    /// When there are no arrays, ranks differ, or shapes differ off the axis.
    pub fn concatenate(arrays: &[Array], axis: i64) -> Result<Array, ExprError> {
        let first = arrays.first().ok_or_else(|| invalid("need at least one array to concatenate"))?;
        let nd = first.ndim();
        if nd == 0 {
            return Err(invalid("zero-dimensional arrays cannot be concatenated"));
        }
        let axis = normalize_axis(axis, nd)?;
        for a in &arrays[1..] {
            let (s0, s) = (first.shape(), a.shape());
            let off_axis_differs = s.len() != nd || (0..nd).any(|d| d != axis && s[d] != s0[d]);
            if off_axis_differs {
                return Err(invalid(format!(
                    "all arrays to concatenate must match off axis {axis}: {} and {}",
                    fmt_shape(&s0),
                    fmt_shape(&s)
                )));
            }
        }
        let dtype = arrays.iter().skip(1).fold(first.dtype(), |d, a| DType::promote(d, a.dtype()));
        let mut axes = Vec::new();
        for d in 0..nd {
            if d == axis {
                let mut c: Vec<usize> = arrays.iter().flat_map(|a| a.chunks().axis(d).iter().copied()).filter(|&n| n > 0).collect();
                if c.is_empty() {
                    c.push(0);
                }
                axes.push(c);
            } else {
                let mut c = first.chunks().axis(d).to_vec();
                for a in &arrays[1..] {
                    c = refine_axis(&c, a.chunks().axis(d));
                }
                axes.push(c);
            }
        }
        let inputs: Vec<Array> = arrays.iter().filter(|a| a.shape()[axis] > 0 || arrays.len() == 1).cloned().collect();
        let inputs = if inputs.is_empty() { vec![first.clone()] } else { inputs };
        Ok(Array::new(Op::Concat { inputs, axis }, Chunks::new(axes), dtype))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::from_ndarray_f64;
    use ndarray::ArrayD;

    fn arr(shape: &[usize], chunk: &[usize]) -> Array {
        Array::from_source(from_ndarray_f64("x", ArrayD::zeros(ndarray::IxDyn(shape)), chunk))
    }

    #[test]
    fn quantile_tasks_split_other_axes_to_bound_their_lanes() {
        let a = ndarray::Array::from_shape_fn(ndarray::IxDyn(&[9, 6, 5]), |i| ((i[0] * 7 + i[1] * 3 + i[2] * 11) % 13) as f64).into_dyn();
        let x = Array::from_source(from_ndarray_f64("x", a, &[4, 6, 5]));
        let stat = Quantile { q: Some(0.3), skip_nan: false };
        let whole = x.order_statistic_within(stat, 0, usize::MAX).unwrap();
        assert_eq!(whole.chunks().axes(), &[vec![6], vec![5]]);
        // lanes of at most 9 values x 8 bytes x 4 elements: blocks of at most 4 elements
        let split = x.order_statistic_within(stat, 0, 9 * 8 * 4).unwrap();
        assert!(split.chunks().axes().iter().map(|a| a.iter().max().unwrap()).product::<usize>() <= 4, "{:?}", split.chunks());
        let opts = crate::ExecOptions::default();
        assert_eq!(crate::compute(&split, &opts).unwrap(), crate::compute(&whole, &opts).unwrap());
    }

    #[test]
    fn a_median_of_nothing_is_nan_and_a_quantile_an_error() {
        // as NumPy: np.median(np.zeros((0, 3)), axis=0) is [nan nan nan], np.quantile raises
        let x = arr(&[0, 3], &[1, 3]);
        let m = crate::compute(&x.median(0, false).unwrap(), &crate::ExecOptions::default()).unwrap();
        assert!(m.to_f64_ndarray().iter().all(|v| v.is_nan()) && m.len() == 3);
        assert!(x.quantile(0.5, 0, true).is_ok());
        assert!(x.quantile(0.5, 0, false).unwrap_err().to_string().contains("no elements"));
    }

    #[test]
    fn broadcasting_error_names_both_shapes() {
        let a = arr(&[31, 1440, 2880], &[1, 500, 500]);
        let b = arr(&[31, 720, 2880], &[1, 500, 500]);
        let e = Array::binary(&a, BinaryOp::Sub, &b).unwrap_err();
        assert_eq!(e.to_string(), "shapes (31, 1440, 2880) and (31, 720, 2880) cannot be broadcast");
    }

    #[test]
    fn axis_error_in_numpy_words() {
        let a = arr(&[3, 4, 5], &[2, 2, 2]);
        let e = a.sum(Some(&[5])).unwrap_err();
        assert_eq!(e.to_string(), "axis 5 is out of bounds for a 3-D array");
        assert!(a.sum(Some(&[-3])).is_ok());
    }

    #[test]
    fn broadcast_unifies_chunks_by_refinement() {
        let a = arr(&[10, 6], &[5, 3]);
        let b = arr(&[6], &[4]);
        let c = Array::binary(&a, BinaryOp::Add, &b).unwrap();
        assert_eq!(c.shape(), vec![10, 6]);
        assert_eq!(c.chunks().axis(1), &[3, 1, 2]);
        assert_eq!(c.chunks().axis(0), &[5, 5]);
        let col = arr(&[10, 1], &[4, 1]);
        let d = Array::binary(&a, BinaryOp::Mul, &col).unwrap();
        assert_eq!(d.chunks().axis(0), &[4, 1, 3, 2]);
        assert_eq!(d.chunks().axis(1), &[3, 3]);
    }

    #[test]
    fn index_shapes_follow_numpy() {
        let a = arr(&[31, 180, 360], &[1, 23, 90]);
        let b = a
            .index(&[
                IndexItem::Slice { start: None, stop: None, step: None },
                IndexItem::Slice { start: None, stop: None, step: Some(2) },
                IndexItem::Slice { start: None, stop: None, step: Some(2) },
            ])
            .unwrap();
        assert_eq!(b.shape(), vec![31, 90, 180]);
        let c = a.index(&[IndexItem::Int(-1)]).unwrap();
        assert_eq!(c.shape(), vec![180, 360]);
        let d = a.index(&[IndexItem::Ellipsis, IndexItem::NewAxis]).unwrap();
        assert_eq!(d.shape(), vec![31, 180, 360, 1]);
        let e = a.index(&[IndexItem::Int(40)]).unwrap_err();
        assert_eq!(e.to_string(), "index 40 is out of bounds for axis 0 with size 31");
        let f = a.index(&[IndexItem::Int(0), IndexItem::Int(0), IndexItem::Int(0), IndexItem::Int(0)]).unwrap_err();
        assert_eq!(f.to_string(), "too many indices for a 3-D array: 4 were given");
    }

    #[test]
    fn dtype_rules() {
        let f = arr(&[4], &[2]);
        let i = Array::from_source(crate::source::from_buffer("i", vec![4], crate::Buffer::I16(vec![1, 2, 3, 4])));
        assert_eq!(Array::binary(&i, BinaryOp::Div, 2i64).unwrap().dtype(), DType::F64);
        assert_eq!(Array::binary(&i, BinaryOp::Add, 2i64).unwrap().dtype(), DType::I16);
        assert_eq!(Array::binary(&i, BinaryOp::Lt, &f).unwrap().dtype(), DType::Bool);
        assert_eq!(i.mean(None).unwrap().dtype(), DType::F64);
        assert_eq!(i.sum(None).unwrap().dtype(), DType::I64);
        let f32a = f.astype(DType::F32).unwrap();
        assert_eq!(f32a.sum(None).unwrap().dtype(), DType::F64, "float32 sums keep float64 digits");
        assert_eq!(Array::binary(&f32a, BinaryOp::Mul, 2.5f64).unwrap().dtype(), DType::F32);
        assert!(Array::binary(&i, BinaryOp::Pow, -1i64).is_err());
    }
}
