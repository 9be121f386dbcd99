//! The dtype of a result from its operands', as NumPy 2 promotes them: arrays by their
//! dtype, Python scalars weakly (NEP 50), and each function's own rule.

use super::{BinaryOp, ExprError, MapFunc, Operand, UnaryOp, invalid};
use crate::dtype::DType;

pub(super) fn operand_dtype(o: &Operand) -> Option<DType> {
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
