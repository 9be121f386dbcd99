//! The dtype of a result from its operands', as NumPy 2 promotes them: arrays by their
//! dtype, Python scalars weakly (NEP 50), and each function's own rule.

use super::{BinaryOp, ExprError, MapFunc, Operand, UnaryOp, invalid};
use crate::block::Scalar;
use crate::dtype::DType;

pub(super) fn operand_dtype(o: &Operand) -> Option<DType> {
    match o {
        Operand::Array(a) => Some(a.dtype()),
        Operand::Scalar(_) => None,
    }
}

/// NumPy's result dtype of several operands, scalars weak (NEP 50). Python scalars alone give
/// NumPy's default types: bool, int64, float64 (`where(c, 2, 1)` is int64). `None` when there
/// are no operands.
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
    let mut d = match d {
        Some(d) => d,
        None => scalar_type(args)?,
    };
    for a in args {
        if let Operand::Scalar(s) = a {
            d = d.promote_scalar(s);
        }
    }
    Some(d)
}

/// The type of Python scalars alone: bool if all are bools, float64 if any is a float, else int64.
fn scalar_type(args: &[Operand]) -> Option<DType> {
    let scalars: Vec<&Scalar> = args.iter().filter_map(|a| if let Operand::Scalar(s) = a { Some(s) } else { None }).collect();
    if scalars.is_empty() {
        None
    } else if scalars.iter().all(|s| matches!(s, Scalar::Bool(_))) {
        Some(DType::Bool)
    } else if scalars.iter().any(|s| matches!(s, Scalar::Float(_))) {
        Some(DType::F64)
    } else {
        Some(DType::I64)
    }
}

/// The first Python int among `args` that integer dtype `d` cannot hold (NEP 50 then asks for
/// an exact comparison, or an error for arithmetic).
fn int_out_of_range(d: DType, args: &[Operand]) -> Option<i64> {
    d.int_range()?;
    args.iter().find_map(|a| match a {
        Operand::Scalar(Scalar::Int(v)) if !d.holds_int(*v) => Some(*v),
        _ => None,
    })
}

/// The dtype an elementwise function computes its operands in (before any result conversion).
pub fn operand_type(func: MapFunc, args: &[Operand]) -> DType {
    match func {
        MapFunc::Where => result_type(&args[1..]).unwrap_or(DType::F64),
        MapFunc::Cast(_) => operand_dtype(&args[0]).unwrap_or(DType::F64),
        MapFunc::Binary(BinaryOp::Div) => {
            let d = result_type(args).unwrap_or(DType::F64);
            if d.is_float() { d } else { DType::F64 }
        }
        // NumPy compares integers with Python ints exactly, even ints the array's type cannot
        // hold (`u8 <= -2` is all False): such comparisons are computed wider
        MapFunc::Binary(op) if op.is_comparison() => {
            let d = result_type(args).unwrap_or(DType::F64);
            match int_out_of_range(d, args) {
                Some(_) if matches!(d, DType::I64 | DType::U64) => DType::F64,
                Some(_) => DType::I64,
                None => d,
            }
        }
        MapFunc::Binary(BinaryOp::Arctan2) => result_type(args).unwrap_or(DType::F64).to_float(),
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
            | UnaryOp::Arctan,
        ) => result_type(args).unwrap_or(DType::F64).to_float(),
        _ => result_type(args).unwrap_or(DType::F64),
    }
}

pub(super) fn map_dtype(func: MapFunc, args: &[Operand]) -> Result<DType, ExprError> {
    let arity = match func {
        MapFunc::Unary(_) | MapFunc::Cast(_) => 1,
        MapFunc::Binary(_) => 2,
        MapFunc::Where | MapFunc::Clip => 3,
    };
    if args.len() != arity {
        return Err(invalid(format!("{func:?} takes {arity} arguments, {} given", args.len())));
    }
    let t = operand_type(func, args);
    // NEP 50: arithmetic with a Python int the array's integer type cannot hold is an error
    // (NumPy's OverflowError), not a silent wrap; `where` casts as NumPy does, clip's bounds
    // are brought into the type's range by `Array::clip`, comparisons are exact (above)
    if let MapFunc::Binary(op) = func
        && !op.is_comparison()
        && let Some(v) = int_out_of_range(t, args)
    {
        return Err(invalid(format!("Python integer {v} out of bounds for {t}")));
    }
    Ok(match func {
        MapFunc::Cast(d) => d,
        MapFunc::Where => t,
        MapFunc::Clip => t,
        MapFunc::Unary(op) => match op {
            UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::IsInf => DType::Bool,
            UnaryOp::Neg if t == DType::Bool => {
                return Err(invalid("the - operator is not supported for bool arrays; use ~ for logical not"));
            }
            // NumPy squares bools as int8 (True ** 2 is 1)
            UnaryOp::Square if t == DType::Bool => DType::I8,
            UnaryOp::Not if t.is_float() => {
                return Err(invalid(format!("~ (not) needs a bool or integer array, not {t}")));
            }
            _ => t,
        },
        MapFunc::Binary(op) => match op {
            o if o.is_comparison() => DType::Bool,
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor if t.is_float() => {
                return Err(invalid(format!("{} needs bool or integer arrays, not {t}", op.symbol())));
            }
            BinaryOp::Sub if t == DType::Bool => {
                return Err(invalid("the - operator is not supported for bool arrays; use ^ or logical operators"));
            }
            BinaryOp::FloorDiv | BinaryOp::Mod | BinaryOp::Pow if t == DType::Bool => DType::I8,
            // NumPy has no bool power loop with a weak int either: `b ** 2` is int8 (`b + 1` is int64)
            BinaryOp::Pow
                if args.iter().all(|a| {
                    matches!(a, Operand::Array(x) if x.dtype() == DType::Bool) || matches!(a, Operand::Scalar(Scalar::Int(_)))
                }) =>
            {
                DType::I8
            }
            _ => t,
        },
    })
}
