//! A reduction as the plan lays it out and the executor runs it (dask's `reductions.py`):
//! what is reduced, the partial result each group folds into, its size, and which
//! reductions can share one. The executor's folds, merges and finishes are in
//! `exec::reduce`; what they hold per output element is decided here.

use crate::dtype::DType;
use crate::expr::ReduceFunc;

/// A reduction as the executor needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceSpec {
    pub func: ReduceFunc,
    pub ddof: f64,
    /// Dtype of the values being reduced.
    pub input_dtype: DType,
    /// Dtype of the result.
    pub output_dtype: DType,
    /// Axes of the input (and of each fold kernel's iteration space) that are reduced.
    pub axes: Vec<usize>,
    pub keepdims: bool,
    /// Elements reduced into each output element (for mean/var without per-element counts).
    pub count: usize,
    /// For argmax/argmin: per input axis, its stride in the reduced axes flattened in C
    /// order (0 on kept axes), so that an element's position is NumPy's index.
    pub arg_strides: Vec<usize>,
}

/// Whether the reduction folds a block through two passes over it (var/std) rather than
/// accumulating strip by strip.
pub fn uses_moments(func: ReduceFunc) -> bool {
    matches!(func, ReduceFunc::Var | ReduceFunc::Std | ReduceFunc::NanVar | ReduceFunc::NanStd)
}

/// Reductions whose partial results are the same (so one pass over the data can serve both):
/// a float sum and mean both accumulate a float64 sum; otherwise only equal functions.
pub fn partial_class(func: ReduceFunc, input: DType) -> ReduceFunc {
    match func {
        ReduceFunc::Mean if input.is_float() => ReduceFunc::Sum,
        f => f,
    }
}

/// Bytes per output element of a reduction's partial result.
pub fn partial_width(func: ReduceFunc) -> usize {
    match func {
        f if f == ReduceFunc::NanMean || f.is_arg() => 16,
        f if uses_moments(f) => 24,
        _ => 8,
    }
}
