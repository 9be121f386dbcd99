//! The lazy graph users build (dask.array's collection layer).
//!
//! An [`Array`] is a node in a shared, immutable DAG: an operation, its inputs,
//! its [`Chunks`] (the single source of truth for the shape) and its [`DType`].
//! Building an array checks shapes, axes and dtypes with NumPy's rules and
//! reports mistakes in NumPy's words, but reads and computes nothing; that is the
//! job of [`crate::plan`] and [`crate::exec`]. [`parse`] turns NumPy syntax into
//! arrays.

pub mod parse;

use crate::block::Scalar;
use crate::chunks::{Chunks, NormalSlice, normalize_slice, refine_axis, slice_1d};
use crate::dtype::{DType, Kind};
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

/// Elementwise functions of one argument.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sqrt,
    Square,
    Exp,
    Log,
    Log10,
    Log2,
    Sin,
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Floor,
    Ceil,
    IsNan,
    IsFinite,
    IsInf,
    /// Logical not for bool, bitwise not for integers (`~`).
    Not,
}

/// Elementwise functions of two arguments (with broadcasting).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// True division (`/`).
    Div,
    FloorDiv,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Logical/bitwise and (`&`).
    And,
    /// Logical/bitwise or (`|`).
    Or,
    Maximum,
    Minimum,
    Arctan2,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::FloorDiv => "//",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "**",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&",
            BinaryOp::Or => "|",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Arctan2 => "arctan2",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
    }
}

/// An elementwise function: the fusable part of a graph.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MapFunc {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(cond, a, b)`.
    Where,
    /// `clip(x, lo, hi)`.
    Clip,
    /// `astype(dtype)`.
    Cast(DType),
}

/// Reductions (dask's `chunk` / `combine` / `aggregate` families).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReduceFunc {
    Sum,
    Prod,
    Mean,
    Var,
    Std,
    Min,
    Max,
    NanSum,
    NanMean,
    NanVar,
    NanStd,
    NanMin,
    NanMax,
    /// Number of non-NaN elements (xarray's `count`).
    Count,
    Any,
    All,
    /// Index of the largest element (the first one, and the first NaN if there is one), as
    /// NumPy's `argmax`: over the flattened array, or along one axis.
    ArgMax,
    ArgMin,
    /// argmax/argmin ignoring NaN; an all-NaN slice is an error, as in NumPy.
    NanArgMax,
    NanArgMin,
}

impl ReduceFunc {
    pub fn name(self) -> &'static str {
        match self {
            ReduceFunc::Sum => "sum",
            ReduceFunc::Prod => "prod",
            ReduceFunc::Mean => "mean",
            ReduceFunc::Var => "var",
            ReduceFunc::Std => "std",
            ReduceFunc::Min => "min",
            ReduceFunc::Max => "max",
            ReduceFunc::NanSum => "nansum",
            ReduceFunc::NanMean => "nanmean",
            ReduceFunc::NanVar => "nanvar",
            ReduceFunc::NanStd => "nanstd",
            ReduceFunc::NanMin => "nanmin",
            ReduceFunc::NanMax => "nanmax",
            ReduceFunc::Count => "count",
            ReduceFunc::Any => "any",
            ReduceFunc::All => "all",
            ReduceFunc::ArgMax => "argmax",
            ReduceFunc::ArgMin => "argmin",
            ReduceFunc::NanArgMax => "nanargmax",
            ReduceFunc::NanArgMin => "nanargmin",
        }
    }

    /// argmax and friends: a position, not a value.
    pub fn is_arg(self) -> bool {
        matches!(self, ReduceFunc::ArgMax | ReduceFunc::ArgMin | ReduceFunc::NanArgMax | ReduceFunc::NanArgMin)
    }

    pub fn parse(name: &str) -> Option<ReduceFunc> {
        Some(match name {
            "sum" => ReduceFunc::Sum,
            "prod" => ReduceFunc::Prod,
            "mean" => ReduceFunc::Mean,
            "var" => ReduceFunc::Var,
            "std" => ReduceFunc::Std,
            "min" | "amin" => ReduceFunc::Min,
            "max" | "amax" => ReduceFunc::Max,
            "nansum" => ReduceFunc::NanSum,
            "nanmean" => ReduceFunc::NanMean,
            "nanvar" => ReduceFunc::NanVar,
            "nanstd" => ReduceFunc::NanStd,
            "nanmin" => ReduceFunc::NanMin,
            "nanmax" => ReduceFunc::NanMax,
            "count" => ReduceFunc::Count,
            "any" => ReduceFunc::Any,
            "all" => ReduceFunc::All,
            "argmax" => ReduceFunc::ArgMax,
            "argmin" => ReduceFunc::ArgMin,
            "nanargmax" => ReduceFunc::NanArgMax,
            "nanargmin" => ReduceFunc::NanArgMin,
            _ => return None,
        })
    }

    /// Whether NaN values are skipped.
    pub fn skips_nan(self) -> bool {
        matches!(
            self,
            ReduceFunc::NanSum
                | ReduceFunc::NanMean
                | ReduceFunc::NanVar
                | ReduceFunc::NanStd
                | ReduceFunc::NanMin
                | ReduceFunc::NanMax
                | ReduceFunc::Count
                | ReduceFunc::NanArgMax
                | ReduceFunc::NanArgMin
        )
    }

    /// The result dtype for input `d`. Float sums and moments accumulate and return float64
    /// even for float32 input, so no digits are lost (NumPy would return float32).
    pub fn result_dtype(self, d: DType) -> DType {
        use ReduceFunc::*;
        match self {
            Sum | Prod | NanSum => match d.kind() {
                Kind::Bool | Kind::Signed => DType::I64,
                Kind::Unsigned => DType::U64,
                Kind::Float => DType::F64,
            },
            Mean | Var | Std | NanMean | NanVar | NanStd => DType::F64,
            Min | Max | NanMin | NanMax => d,
            Count | ArgMax | ArgMin | NanArgMax | NanArgMin => DType::I64,
            Any | All => DType::Bool,
        }
    }

    /// Reductions with no identity cannot reduce an empty axis.
    fn needs_elements(self) -> bool {
        matches!(self, ReduceFunc::Min | ReduceFunc::Max | ReduceFunc::NanMin | ReduceFunc::NanMax) || self.is_arg()
    }
}

/// A reduction's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduction {
    pub func: ReduceFunc,
    /// Reduced axes, sorted, non-negative.
    pub axes: Vec<usize>,
    pub keepdims: bool,
    /// Delta degrees of freedom for var/std.
    pub ddof: f64,
    /// Largest number of partial results combined in one task (dask's `split_every`).
    pub split_every: usize,
}

/// Default fan-in of reduction trees.
pub const SPLIT_EVERY: usize = 32;

/// One entry of an index expression `x[...]` as written.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    Int(i64),
    Slice {
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    },
    NewAxis,
    Ellipsis,
    /// A list of integers (`x[[0, 31, 59]]`): these elements of the axis, in this order.
    Positions(Vec<i64>),
    /// A list of booleans as long as the axis (`x[:, [True, False, True]]`): the true ones.
    Mask(Vec<bool>),
}

impl IndexItem {
    /// Whether the item indexes one input axis (an integer, slice or list).
    fn consumes_axis(&self) -> bool {
        !matches!(self, IndexItem::NewAxis | IndexItem::Ellipsis)
    }

    /// Whether the item gives the basic result an axis (a slice or `None`).
    fn makes_axis(&self) -> bool {
        matches!(self, IndexItem::Slice { .. } | IndexItem::NewAxis)
    }

    fn is_list(&self) -> bool {
        matches!(self, IndexItem::Positions(_) | IndexItem::Mask(_))
    }
}

/// How one axis is indexed, after normalisation against the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisIndex {
    /// An integer: the input axis is dropped, this element is taken.
    Take(usize),
    /// A slice: the input axis is kept (possibly reversed, strided).
    Slice(NormalSlice),
    /// A new axis of length 1 (`None`); consumes no input axis.
    NewAxis,
}

/// What a node computes.
#[derive(Clone, Debug)]
pub enum Op {
    /// Data from a file, memory or a generator.
    Source(Arc<dyn Source>),
    /// An elementwise function of arrays and scalars, with NumPy broadcasting.
    Map {
        func: MapFunc,
        args: Vec<Operand>,
    },
    Reduce {
        input: Array,
        reduction: Reduction,
    },
    /// Basic indexing; one entry per output axis and dropped input axis, in order.
    Index {
        input: Array,
        items: Vec<AxisIndex>,
    },
    Stack {
        inputs: Vec<Array>,
        axis: usize,
    },
    Concat {
        inputs: Vec<Array>,
        axis: usize,
    },
    Transpose {
        input: Array,
        perm: Vec<usize>,
    },
    /// NumPy's median or quantile of each lane along `axis` (dropped).
    Quantile {
        input: Array,
        stat: Quantile,
        axis: usize,
    },
    /// The `k` largest (k > 0) or smallest (k < 0) elements along `axis`, sorted.
    Topk {
        input: Array,
        k: i64,
        axis: usize,
    },
}

/// Which order statistic a [`Op::Quantile`] takes of each lane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantile {
    /// `None`: the median (the mean of the two middle values for an even count); else the
    /// quantile in [0, 1] by NumPy's linear method.
    pub q: Option<f64>,
    /// Skip NaN (`nanmedian`, `nanquantile`); else a lane holding NaN gives NaN.
    pub skip_nan: bool,
}

/// An argument of an elementwise function: an array or a (weakly typed) scalar.
#[derive(Clone, Debug)]
pub enum Operand {
    Array(Array),
    Scalar(Scalar),
}

impl From<Array> for Operand {
    fn from(a: Array) -> Operand {
        Operand::Array(a)
    }
}

impl From<&Array> for Operand {
    fn from(a: &Array) -> Operand {
        Operand::Array(a.clone())
    }
}

impl From<f64> for Operand {
    fn from(x: f64) -> Operand {
        Operand::Scalar(Scalar::Float(x))
    }
}

impl From<i64> for Operand {
    fn from(x: i64) -> Operand {
        Operand::Scalar(Scalar::Int(x))
    }
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
        Array::map(MapFunc::Clip, vec![self.into(), lo.into(), hi.into()])
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

    /// Indexing `x[...]` with integers, slices, `None`, `...` and one list of integers or
    /// booleans. Basic indexing keeps output blocks aligned with input blocks (dask's
    /// `slice_1d`): nothing is rechunked.
    ///
    /// # Errors
    /// Too many indices, an integer out of bounds, a zero step, more than one `...`, more
    /// than one list, or a boolean list whose length is not the axis'.
    pub fn index(&self, items: &[IndexItem]) -> Result<Array, ExprError> {
        let nd = self.ndim();
        let ellipses = items.iter().filter(|i| matches!(i, IndexItem::Ellipsis)).count();
        if ellipses > 1 {
            return Err(invalid("an index can only have a single ellipsis ('...')"));
        }
        let consuming = items.iter().filter(|i| i.consumes_axis()).count();
        if consuming > nd {
            return Err(ExprError::TooManyIndices { ndim: nd, given: consuming });
        }
        // expand the ellipsis (or append it) into full slices
        let full = IndexItem::Slice { start: None, stop: None, step: None };
        let mut expanded = Vec::with_capacity(items.len() + nd);
        let mut seen_ellipsis = false;
        for it in items {
            if matches!(it, IndexItem::Ellipsis) {
                seen_ellipsis = true;
                expanded.extend(std::iter::repeat_n(full.clone(), nd - consuming));
            } else {
                expanded.push(it.clone());
            }
        }
        if !seen_ellipsis {
            expanded.extend(std::iter::repeat_n(full, nd - consuming));
        }
        match expanded.iter().filter(|i| i.is_list()).count() {
            0 => {}
            1 => {
                // NumPy: the list's axis stays in place when the list and the integers are
                // written next to each other, and goes first when a slice, None or `...`
                // (even one that stands for no axes) separates them
                let advanced: Vec<usize> =
                    (0..items.len()).filter(|&k| matches!(items[k], IndexItem::Int(_)) || items[k].is_list()).collect();
                let adjacent = advanced.windows(2).all(|w| w[1] == w[0] + 1);
                return self.index_list(expanded, adjacent);
            }
            _ => {
                return Err(invalid(
                    "only one index list per indexing is supported (NumPy would broadcast several together); \
                     index one axis at a time, as x[[0, 2]][:, [1, 3]]",
                ));
            }
        }
        let shape = self.shape();
        let mut norm = Vec::with_capacity(expanded.len());
        let mut out_axes = Vec::new();
        let mut d = 0;
        for it in expanded {
            match it {
                IndexItem::NewAxis => {
                    norm.push(AxisIndex::NewAxis);
                    out_axes.push(vec![1]);
                }
                IndexItem::Int(i) => {
                    let n = shape[d] as i64;
                    if i < -n || i >= n {
                        return Err(ExprError::IndexOutOfBounds { index: i, axis: d, size: shape[d] });
                    }
                    norm.push(AxisIndex::Take(if i < 0 { (i + n) as usize } else { i as usize }));
                    d += 1;
                }
                IndexItem::Slice { start, stop, step } => {
                    if step == Some(0) {
                        return Err(invalid("slice step cannot be zero"));
                    }
                    let s = normalize_slice(start, stop, step, shape[d]);
                    out_axes.push(slice_1d(self.chunks().axis(d), s).iter().map(|p| p.len).collect());
                    norm.push(AxisIndex::Slice(s));
                    d += 1;
                }
                IndexItem::Ellipsis => unreachable!("expanded above"),
                IndexItem::Positions(_) | IndexItem::Mask(_) => unreachable!("lists go to index_list"),
            }
        }
        let identity = norm.iter().enumerate().all(|(k, a)| match a {
            AxisIndex::Slice(s) => s.start == 0 && s.step == 1 && s.len == shape[k],
            _ => false,
        }) && norm.len() == nd;
        if identity {
            return Ok(self.clone());
        }
        Ok(Array::new(Op::Index { input: self.clone(), items: norm }, Chunks::new(out_axes), self.dtype()))
    }

    /// Indexing with one list (NumPy's advanced indexing with a single index array), given
    /// the items with `...` expanded. The basic part is applied first; the listed elements
    /// are then joined along the list's axis, each run of equally spaced positions as one
    /// slice (so `[0, 1, 2, 3]` reads like `0:4`), and blocks stay those of the input.
    fn index_list(&self, mut items: Vec<IndexItem>, adjacent: bool) -> Result<Array, ExprError> {
        let at = items.iter().position(IndexItem::is_list).expect("one list");
        let axis = items[..at].iter().filter(|i| i.consumes_axis()).count();
        let n = self.shape()[axis];
        let positions: Vec<usize> = match &items[at] {
            IndexItem::Positions(list) => list
                .iter()
                .map(|&i| {
                    if i < -(n as i64) || i >= n as i64 {
                        return Err(ExprError::IndexOutOfBounds { index: i, axis, size: n });
                    }
                    Ok(if i < 0 { (i + n as i64) as usize } else { i as usize })
                })
                .collect::<Result<_, _>>()?,
            IndexItem::Mask(mask) => {
                if mask.len() != n {
                    return Err(invalid(format!(
                        "boolean index did not match indexed array along axis {axis}; size of axis is {n} but size of \
                         corresponding boolean axis is {}",
                        mask.len()
                    )));
                }
                mask.iter().enumerate().filter(|&(_, &b)| b).map(|(i, _)| i).collect()
            }
            _ => unreachable!("a list"),
        };
        // where the list's axis lands: before the first integer or the list, or first
        let first = (0..items.len()).find(|&k| matches!(items[k], IndexItem::Int(_)) || k == at).expect("the list");
        let target = if adjacent { items[..first].iter().filter(|i| i.makes_axis()).count() } else { 0 };
        let q = items[..at].iter().filter(|i| i.makes_axis()).count();
        let full = IndexItem::Slice { start: None, stop: None, step: None };
        items[at] = full.clone();
        let basic = self.index(&items)?;
        let piece = |slice: IndexItem| -> Result<Array, ExprError> {
            let mut sel = vec![full.clone(); basic.ndim()];
            sel[q] = slice;
            basic.index(&sel)
        };
        let mut pieces = Vec::new();
        let mut k = 0;
        while k < positions.len() {
            let start = positions[k] as i64;
            let step = positions.get(k + 1).map(|&p| p as i64 - start).filter(|&s| s != 0);
            let mut end = k + 1;
            if let Some(step) = step {
                while end < positions.len() && positions[end] as i64 - positions[end - 1] as i64 == step {
                    end += 1;
                }
            }
            let step = step.unwrap_or(1);
            // one past the run's last element; below zero a reversed run ends at the axis' start
            let stop = positions[end - 1] as i64 + step;
            pieces.push(piece(IndexItem::Slice { start: Some(start), stop: (stop >= 0).then_some(stop), step: Some(step) })?);
            k = end;
        }
        let joined = match pieces.len() {
            0 => piece(IndexItem::Slice { start: Some(0), stop: Some(0), step: None })?,
            1 => pieces.pop().expect("one piece"),
            _ => Array::concatenate(&pieces, q as i64)?,
        };
        if target == q {
            return Ok(joined);
        }
        let mut perm: Vec<i64> = (0..joined.ndim() as i64).filter(|&a| a != q as i64).collect();
        perm.insert(target, q as i64);
        joined.transpose(Some(&perm))
    }

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

fn operand_dtype(o: &Operand) -> Option<DType> {
    match o {
        Operand::Array(a) => Some(a.dtype()),
        Operand::Scalar(_) => None,
    }
}

/// NumPy's result dtype of several operands, scalars weak (NEP 50).
pub fn result_type(args: &[Operand]) -> Option<DType> {
    let mut d: Option<DType> = None;
    for a in args {
        if let Operand::Array(x) = a {
            d = Some(match d {
                None => x.dtype(),
                Some(p) => DType::promote(p, x.dtype()),
            });
        }
    }
    let mut d = d?;
    for a in args {
        if let Operand::Scalar(s) = a {
            d = d.promote_scalar(s);
        }
    }
    Some(d)
}

/// The dtype an elementwise function computes its operands in (before any result conversion).
pub fn operand_type(func: MapFunc, args: &[Operand]) -> DType {
    match func {
        MapFunc::Where => result_type(&args[1..]).unwrap_or(DType::F64),
        MapFunc::Cast(_) => operand_dtype(&args[0]).unwrap_or(DType::F64),
        MapFunc::Binary(BinaryOp::Div | BinaryOp::Arctan2) => {
            let d = result_type(args).unwrap_or(DType::F64);
            if d.is_float() { d } else { DType::F64 }
        }
        MapFunc::Unary(
            UnaryOp::Sqrt
            | UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Log10
            | UnaryOp::Log2
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tan
            | UnaryOp::Arcsin
            | UnaryOp::Arccos
            | UnaryOp::Arctan
            | UnaryOp::Floor
            | UnaryOp::Ceil,
        ) => result_type(args).unwrap_or(DType::F64).to_float(),
        _ => result_type(args).unwrap_or(DType::F64),
    }
}

fn map_dtype(func: MapFunc, args: &[Operand]) -> Result<DType, ExprError> {
    let arity = match func {
        MapFunc::Unary(_) | MapFunc::Cast(_) => 1,
        MapFunc::Binary(_) => 2,
        MapFunc::Where | MapFunc::Clip => 3,
    };
    if args.len() != arity {
        return Err(invalid(format!("{func:?} takes {arity} arguments, {} given", args.len())));
    }
    let t = operand_type(func, args);
    Ok(match func {
        MapFunc::Cast(d) => d,
        MapFunc::Where => t,
        MapFunc::Clip => t,
        MapFunc::Unary(op) => match op {
            UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::IsInf => DType::Bool,
            UnaryOp::Neg if t == DType::Bool => {
                return Err(invalid("the - operator is not supported for bool arrays; use ~ for logical not"));
            }
            UnaryOp::Not if t.is_float() => {
                return Err(invalid(format!("~ (not) needs a bool or integer array, not {t}")));
            }
            _ => t,
        },
        MapFunc::Binary(op) => match op {
            o if o.is_comparison() => DType::Bool,
            BinaryOp::And | BinaryOp::Or if t.is_float() => {
                return Err(invalid(format!("{} needs bool or integer arrays, not {t}", op.symbol())));
            }
            BinaryOp::Sub if t == DType::Bool => {
                return Err(invalid("the - operator is not supported for bool arrays; use ^ or logical operators"));
            }
            BinaryOp::FloorDiv | BinaryOp::Mod | BinaryOp::Pow if t == DType::Bool => DType::I8,
            _ => t,
        },
    })
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
