//! What a node of the graph can be: the operators and functions (with NumPy's names), the
//! reductions and their rules, index items, and the operands an operation takes.

use super::Array;
use crate::block::Scalar;
use crate::chunks::NormalSlice;
use crate::dtype::{DType, Kind};
use crate::source::Source;
use std::sync::Arc;

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
    /// Logical/bitwise exclusive or (`^`).
    Xor,
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
            BinaryOp::Xor => "^",
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
    pub(super) fn needs_elements(self) -> bool {
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
    pub(super) fn consumes_axis(&self) -> bool {
        !matches!(self, IndexItem::NewAxis | IndexItem::Ellipsis)
    }

    /// Whether the item gives the basic result an axis (a slice or `None`).
    pub(super) fn makes_axis(&self) -> bool {
        matches!(self, IndexItem::Slice { .. } | IndexItem::NewAxis)
    }

    pub(super) fn is_list(&self) -> bool {
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
