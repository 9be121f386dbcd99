//! A syntax tree into lazy arrays: names bound, functions and methods called with NumPy's
//! argument rules, Python scalars folded as Python folds them, and every mistake a
//! [`ParseError`] at the column of its text.

use super::syntax::{Form, Statement, Sub, Syntax, statements};
use super::{ParseError, Span, err};
use crate::block::Scalar;
use crate::chunks::{AxisChunks, ChunkSpec, normalize_chunks};
use crate::dtype::DType;
use crate::expr::{Array, BinaryOp, ExprError, IndexItem, MapFunc, Operand, ReduceFunc, UnaryOp};
use crate::source::random::Distr;
use std::collections::HashMap;

/// A value while evaluating: arrays, Python scalars, and the few other things calls take.
#[derive(Clone, Debug)]
pub(super) enum Value {
    Array(Array),
    /// A Python number: weak in type promotion (`f32 * 2.0` stays float32, NEP 50).
    Scalar(Scalar),
    /// A NumPy scalar, as a function of Python numbers returns one (`sqrt(2)` is an
    /// `np.float64`): strong in type promotion (`f32 * sqrt(2)` is float64).
    Typed(Scalar),
    Str(String),
    Tuple(Vec<Value>),
    NoneV,
    Ellipsis,
    /// A module-like namespace (`random`, `np`).
    Namespace(&'static str),
    /// A function by name, possibly bound to an array (`x.mean`).
    Func(String, Option<Array>),
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "an array",
        Value::Scalar(Scalar::Int(_)) => "an integer",
        Value::Scalar(Scalar::Float(_)) => "a number",
        Value::Scalar(Scalar::Bool(_)) => "a bool",
        Value::Typed(_) => "a NumPy scalar",
        Value::Str(_) => "a string",
        Value::Tuple(_) => "a tuple",
        Value::NoneV => "None",
        Value::Ellipsis => "'...'",
        Value::Namespace(_) => "a module",
        Value::Func(..) => "a function",
    }
}

pub(super) const UNARY_FUNCS: [(&str, UnaryOp); 22] = [
    ("abs", UnaryOp::Abs),
    ("absolute", UnaryOp::Abs),
    ("negative", UnaryOp::Neg),
    ("sqrt", UnaryOp::Sqrt),
    ("square", UnaryOp::Square),
    ("exp", UnaryOp::Exp),
    ("log", UnaryOp::Log),
    ("log10", UnaryOp::Log10),
    ("log2", UnaryOp::Log2),
    ("sin", UnaryOp::Sin),
    ("cos", UnaryOp::Cos),
    ("tan", UnaryOp::Tan),
    ("arcsin", UnaryOp::Arcsin),
    ("arccos", UnaryOp::Arccos),
    ("arctan", UnaryOp::Arctan),
    ("floor", UnaryOp::Floor),
    ("ceil", UnaryOp::Ceil),
    ("isnan", UnaryOp::IsNan),
    ("isfinite", UnaryOp::IsFinite),
    ("isinf", UnaryOp::IsInf),
    ("logical_not", UnaryOp::Not),
    ("invert", UnaryOp::Not),
];

pub(super) const BINARY_FUNCS: [(&str, BinaryOp); 8] = [
    ("maximum", BinaryOp::Maximum),
    ("minimum", BinaryOp::Minimum),
    ("arctan2", BinaryOp::Arctan2),
    ("add", BinaryOp::Add),
    ("subtract", BinaryOp::Sub),
    ("multiply", BinaryOp::Mul),
    ("divide", BinaryOp::Div),
    ("power", BinaryOp::Pow),
];

pub(super) const OTHER_FUNCS: [&str; 13] = [
    "where",
    "clip",
    "stack",
    "concatenate",
    "transpose",
    "topk",
    "astype",
    "median",
    "quantile",
    "percentile",
    "nanmedian",
    "nanquantile",
    "nanpercentile",
];

pub(super) fn is_function(name: &str) -> bool {
    ReduceFunc::parse(name).is_some()
        || UNARY_FUNCS.iter().any(|(n, _)| *n == name)
        || BINARY_FUNCS.iter().any(|(n, _)| *n == name)
        || OTHER_FUNCS.contains(&name)
}

/// Evaluates expressions against named arrays.
pub struct Evaluator<'a> {
    names: &'a HashMap<String, Array>,
    locals: HashMap<String, Value>,
}

/// Parses and evaluates `text` (`;`-separated statements, `name = expr` assignments, the last
/// statement is the result) with `names` bound to arrays.
///
/// # Errors
/// A [`ParseError`] naming the column and the problem: syntax, an unknown name, a wrong
/// argument, or any shape/axis/dtype mistake of the operations.
pub fn evaluate(text: &str, names: &HashMap<String, Array>) -> Result<Array, ParseError> {
    let mut ev = Evaluator { names, locals: HashMap::new() };
    let mut last: Option<(Value, Span)> = None;
    for Statement { target, expr } in statements(text)? {
        let v = ev.eval(&expr)?;
        match target {
            Some(n) => {
                ev.locals.insert(n, v);
                last = None;
            }
            None => last = Some((v, expr.span)),
        }
    }
    match last {
        Some((Value::Array(a), _)) => Ok(a),
        Some((Value::Scalar(s) | Value::Typed(s), _)) => Ok(zero_d(s)),
        Some((v, span)) => Err(err(span, format!("the result is {}, not an array", type_name(&v)))),
        None => Err(err((text.len(), text.len()), "there is no expression to compute (the last statement is an assignment)")),
    }
}

/// A scalar as a 0-d array of NumPy's default type for it (bool, int64, float64).
pub(super) fn zero_d(s: Scalar) -> Array {
    Array::from_source(crate::source::from_buffer(&s.to_string(), vec![], scalar_buffer(s)))
}

pub(super) fn scalar_buffer(s: Scalar) -> crate::Buffer {
    match s {
        Scalar::Bool(b) => crate::Buffer::Bool(vec![b]),
        Scalar::Int(i) => crate::Buffer::I64(vec![i]),
        Scalar::Float(f) => crate::Buffer::F64(vec![f]),
    }
}

pub(super) fn python_binary(op: &str, a: Scalar, b: Scalar, span: Span) -> Result<Scalar, ParseError> {
    use Scalar::*;
    let both_int = |a: Scalar, b: Scalar| Some((as_i64(a)?, as_i64(b)?));
    let (x, y) = (a.as_f64(), b.as_f64());
    Ok(match op {
        "+" | "-" | "*" => match both_int(a, b) {
            Some((p, q)) => Int(match op {
                "+" => p.checked_add(q),
                "-" => p.checked_sub(q),
                _ => p.checked_mul(q),
            }
            .ok_or_else(|| too_large(span, p, op, q))?),
            None => Float(match op {
                "+" => x + y,
                "-" => x - y,
                _ => x * y,
            }),
        },
        "/" => {
            if y == 0.0 {
                return Err(err(span, "division by zero"));
            }
            Float(x / y)
        }
        "//" | "%" => match both_int(a, b) {
            Some((_, 0)) => return Err(err(span, "integer division or modulo by zero")),
            Some((p, q)) => {
                let d = p.div_euclid(q) - if p.rem_euclid(q) != 0 && q < 0 { 1 } else { 0 };
                if op == "//" { Int(d) } else { Int(p - q * d) }
            }
            None => {
                if y == 0.0 {
                    return Err(err(span, "float division or modulo by zero"));
                }
                // Python's and NumPy's float floor division: from fmod, not floor(x / y)
                // (`1.5 // 1e-3` is 1499.0, as 1e-3 is a little more than a thousandth)
                let (d, m) = crate::exec::kernel::divmod_f64(x, y);
                if op == "//" { Float(d) } else { Float(m) }
            }
        },
        "**" => match both_int(a, b) {
            Some((p, q)) if q >= 0 => {
                Int(u32::try_from(q).ok().and_then(|q| p.checked_pow(q)).ok_or_else(|| too_large(span, p, "**", q))?)
            }
            _ => Float(x.powf(y)),
        },
        "<" => Bool(x < y),
        "<=" => Bool(x <= y),
        ">" => Bool(x > y),
        ">=" => Bool(x >= y),
        "==" => Bool(x == y),
        "!=" => Bool(x != y),
        "&" | "|" | "^" => match (a, b) {
            (Bool(p), Bool(q)) => Bool(match op {
                "&" => p & q,
                "|" => p | q,
                _ => p ^ q,
            }),
            _ => match both_int(a, b) {
                Some((p, q)) => Int(match op {
                    "&" => p & q,
                    "|" => p | q,
                    _ => p ^ q,
                }),
                None => return Err(err(span, format!("'{op}' needs integers or bools"))),
            },
        },
        _ => return Err(err(span, format!("unsupported operator '{op}'"))),
    })
}

/// Python's integers have no bound; an expression's are int64 (its result is an array).
fn too_large(span: Span, p: i64, op: &str, q: i64) -> ParseError {
    err(span, format!("{p} {op} {q} is too large for an int64 (Python integers here are NumPy's int64)"))
}

pub(super) fn as_i64(s: Scalar) -> Option<i64> {
    match s {
        Scalar::Int(i) => Some(i),
        Scalar::Bool(b) => Some(b as i64),
        Scalar::Float(_) => None,
    }
}

pub(super) fn binary_op(op: &str) -> Option<BinaryOp> {
    Some(match op {
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        "/" => BinaryOp::Div,
        "//" => BinaryOp::FloorDiv,
        "%" => BinaryOp::Mod,
        "**" => BinaryOp::Pow,
        "<" => BinaryOp::Lt,
        "<=" => BinaryOp::Le,
        ">" => BinaryOp::Gt,
        ">=" => BinaryOp::Ge,
        "==" => BinaryOp::Eq,
        "!=" => BinaryOp::Ne,
        "&" => BinaryOp::And,
        "|" => BinaryOp::Or,
        "^" => BinaryOp::Xor,
        _ => return None,
    })
}

/// Call arguments after evaluation, with their spans.
pub(super) struct Args {
    pos: Vec<(Value, Span)>,
    kw: Vec<(String, Value, Span)>,
    span: Span,
    name: String,
}

impl Args {
    /// Takes parameter `name` at position `idx` (or by keyword).
    fn take(&mut self, idx: usize, name: &str) -> Result<Option<(Value, Span)>, ParseError> {
        let kw = self.kw.iter().position(|(k, _, _)| k == name);
        match (idx < self.pos.len(), kw) {
            (true, Some(k)) => Err(err(self.kw[k].2, format!("{}() got multiple values for argument '{name}'", self.name))),
            (true, None) => Ok(Some(std::mem::replace(&mut self.pos[idx], (Value::NoneV, (0, 0))))),
            (false, Some(k)) => {
                let (_, v, s) = self.kw.remove(k);
                Ok(Some((v, s)))
            }
            (false, None) => Ok(None),
        }
    }

    fn required(&mut self, idx: usize, name: &str) -> Result<(Value, Span), ParseError> {
        self.take(idx, name)?.ok_or_else(|| err(self.span, format!("{}() is missing the argument '{name}'", self.name)))
    }

    /// Errors on arguments nobody took.
    fn finish(&self, max_positional: usize) -> Result<(), ParseError> {
        if self.pos.len() > max_positional {
            let s = self.pos[max_positional].1;
            return Err(err(s, format!("{}() takes at most {max_positional} positional arguments, {} given", self.name, self.pos.len())));
        }
        if let Some((k, _, s)) = self.kw.first() {
            return Err(err(*s, format!("{}() got an unexpected keyword argument '{k}'", self.name)));
        }
        Ok(())
    }
}

impl Evaluator<'_> {
    /// A list written inside an index, `x[[0, 31, 59]]` or `x[:, [True, False, True]]`: all
    /// integers or all booleans, evaluated now (the list is part of the expression).
    fn list_index(&mut self, node: &Syntax) -> Result<IndexItem, ParseError> {
        let Form::List(elems) = &node.kind else { unreachable!("called on lists") };
        let mut ints = Vec::with_capacity(elems.len());
        let mut bools = Vec::with_capacity(elems.len());
        for e in elems {
            match self.eval(e)? {
                Value::Scalar(Scalar::Int(i)) => ints.push(i),
                Value::Scalar(Scalar::Bool(b)) => bools.push(b),
                v => {
                    return Err(err(e.span, format!("an index list holds integers or booleans, not {}", type_name(&v))));
                }
            }
        }
        if !ints.is_empty() && !bools.is_empty() {
            return Err(err(node.span, "an index list holds integers or booleans, not both"));
        }
        Ok(if bools.is_empty() { IndexItem::Positions(ints) } else { IndexItem::Mask(bools) })
    }

    fn eval(&mut self, node: &Syntax) -> Result<Value, ParseError> {
        let span = node.span;
        Ok(match &node.kind {
            Form::Int(v) => Value::Scalar(Scalar::Int(*v)),
            Form::Float(v) => Value::Scalar(Scalar::Float(*v)),
            Form::Bool(b) => Value::Scalar(Scalar::Bool(*b)),
            Form::Str(s) => Value::Str(s.clone()),
            Form::NoneLit => Value::NoneV,
            Form::Ellipsis => Value::Ellipsis,
            Form::Tuple(items) | Form::List(items) => Value::Tuple(items.iter().map(|i| self.eval(i)).collect::<Result<_, _>>()?),
            Form::Name(n) => self.lookup(n, span)?,
            Form::Attr(obj, name) => {
                let o = self.eval(obj)?;
                self.attribute(o, name, span)?
            }
            Form::Unary(op, inner) => {
                let v = self.eval(inner)?;
                match (*op, v) {
                    ("+", v @ (Value::Array(_) | Value::Scalar(_) | Value::Typed(_))) => v,
                    ("-", Value::Typed(s)) => Value::Typed(scalar_unary(UnaryOp::Neg, s)),
                    ("~", Value::Typed(s)) => Value::Typed(scalar_unary(UnaryOp::Not, s)),
                    ("-", Value::Scalar(Scalar::Int(i))) => {
                        Value::Scalar(Scalar::Int(i.checked_neg().ok_or_else(|| err(span, format!("-({i}) is too large for an int64")))?))
                    }
                    ("-", Value::Scalar(s)) => Value::Scalar(Scalar::Float(-s.as_f64())),
                    ("~", Value::Scalar(Scalar::Bool(b))) => Value::Scalar(Scalar::Bool(!b)),
                    ("~", Value::Scalar(Scalar::Int(i))) => Value::Scalar(Scalar::Int(!i)),
                    ("-", Value::Array(a)) => Value::Array(a.unary(UnaryOp::Neg).map_err(|e| expr_err(span, e))?),
                    ("~", Value::Array(a)) => Value::Array(a.unary(UnaryOp::Not).map_err(|e| expr_err(span, e))?),
                    (op, v) => return Err(err(span, format!("bad operand for unary '{op}': {}", type_name(&v)))),
                }
            }
            Form::Binary(op, a, b) => {
                let (x, y) = (self.eval(a)?, self.eval(b)?);
                match (x, y) {
                    (Value::Scalar(p), Value::Scalar(q)) => Value::Scalar(python_binary(op, p, q, span)?),
                    (Value::Scalar(p) | Value::Typed(p), Value::Scalar(q) | Value::Typed(q)) => {
                        Value::Typed(python_binary(op, p, q, span)?)
                    }
                    (
                        x @ (Value::Array(_) | Value::Scalar(_) | Value::Typed(_)),
                        y @ (Value::Array(_) | Value::Scalar(_) | Value::Typed(_)),
                    ) => {
                        let bop = binary_op(op).ok_or_else(|| err(span, format!("the operator '{op}' is not supported on arrays")))?;
                        Value::Array(Array::binary(operand(x), bop, operand(y)).map_err(|e| expr_err(span, e))?)
                    }
                    (x, y) => {
                        return Err(err(span, format!("unsupported operand types for '{op}': {} and {}", type_name(&x), type_name(&y))));
                    }
                }
            }
            Form::Index(obj, subs) => {
                let o = self.eval(obj)?;
                let Value::Array(a) = o else {
                    return Err(err(obj.span, format!("{} cannot be indexed", type_name(&o))));
                };
                let mut items = Vec::with_capacity(subs.len());
                // `x[()]`: an empty tuple of indices, the array itself (as NumPy's)
                let empty = matches!(subs.as_slice(), [Sub::Expr(e)] if matches!(&e.kind, Form::Tuple(t) if t.is_empty()));
                for s in subs.iter().filter(|_| !empty) {
                    items.push(match s {
                        Sub::Expr(e) if matches!(e.kind, Form::List(_)) => self.list_index(e)?,
                        Sub::Expr(e) => match self.eval(e)? {
                            Value::Scalar(Scalar::Int(i)) => IndexItem::Int(i),
                            Value::NoneV => IndexItem::NewAxis,
                            Value::Ellipsis => IndexItem::Ellipsis,
                            Value::Array(_) => {
                                return Err(err(
                                    e.span,
                                    "indexing with a computed array is not supported; use a list such as [0, 31, 59], or slices \
                                     such as 0:10 or ::2",
                                ));
                            }
                            v => {
                                return Err(err(
                                    e.span,
                                    format!("an index must be an integer, a slice, None or '...', not {}", type_name(&v)),
                                ));
                            }
                        },
                        Sub::Slice(a, b, c, sspan) => {
                            let mut bound = |n: &Option<Syntax>| -> Result<Option<i64>, ParseError> {
                                match n {
                                    None => Ok(None),
                                    Some(n) => match self.eval(n)? {
                                        Value::Scalar(Scalar::Int(i)) => Ok(Some(i)),
                                        Value::NoneV => Ok(None),
                                        v => Err(err(n.span, format!("slice bounds must be integers or None, not {}", type_name(&v)))),
                                    },
                                }
                            };
                            let (start, stop, step) = (bound(a)?, bound(b)?, bound(c)?);
                            if step == Some(0) {
                                return Err(err(*sspan, "slice step cannot be zero"));
                            }
                            IndexItem::Slice { start, stop, step }
                        }
                    });
                }
                Value::Array(a.index(&items).map_err(|e| expr_err(span, e))?)
            }
            Form::Call(f, args, kwargs) => {
                let fv = self.eval(f)?;
                let mut pos = Vec::with_capacity(args.len());
                for a in args {
                    pos.push((self.eval(a)?, a.span));
                }
                let mut kw = Vec::with_capacity(kwargs.len());
                for (k, v, s) in kwargs {
                    kw.push((k.clone(), self.eval(v)?, *s));
                }
                match fv {
                    Value::Func(name, bound) => {
                        let mut all = Args { pos, kw, span, name: name.clone() };
                        if let Some(a) = bound {
                            all.pos.insert(0, (Value::Array(a), f.span));
                        }
                        self.call(&name, all)?
                    }
                    v => return Err(err(f.span, format!("{} is not callable", type_name(&v)))),
                }
            }
        })
    }

    fn lookup(&self, n: &str, span: Span) -> Result<Value, ParseError> {
        if let Some(v) = self.locals.get(n) {
            return Ok(v.clone());
        }
        if let Some(a) = self.names.get(n) {
            return Ok(Value::Array(a.clone()));
        }
        Ok(match n {
            "np" | "numpy" | "da" | "dask" => Value::Namespace("np"),
            "random" => Value::Namespace("random"),
            "nan" | "NaN" | "NAN" => Value::Scalar(Scalar::Float(f64::NAN)),
            "inf" | "Inf" | "infty" => Value::Scalar(Scalar::Float(f64::INFINITY)),
            "pi" => Value::Scalar(Scalar::Float(std::f64::consts::PI)),
            "e" => Value::Scalar(Scalar::Float(std::f64::consts::E)),
            "newaxis" => Value::NoneV,
            // dtype names, for astype (`np.float32`, `float`)
            d if DType::parse(d).is_some() && d.chars().all(|c| c.is_ascii_alphanumeric()) && d.len() > 2 => Value::Str(d.to_string()),
            "bool_" => Value::Str("bool".into()),
            f if is_function(f) => Value::Func(f.to_string(), None),
            _ => {
                let mut known: Vec<&String> = self.names.keys().chain(self.locals.keys()).collect();
                known.sort();
                let hint = if known.is_empty() {
                    " (no inputs are bound; use -i NAME=SOURCE)".to_string()
                } else {
                    format!("; the names are {}", known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
                };
                return Err(err(span, format!("unknown name '{n}'{hint}")));
            }
        })
    }

    fn attribute(&self, o: Value, name: &str, span: Span) -> Result<Value, ParseError> {
        match o {
            Value::Namespace("np") => match name {
                "array" => Ok(Value::Namespace("np")),
                "random" => Ok(Value::Namespace("random")),
                _ => self.lookup(name, span),
            },
            Value::Namespace("random") => match name {
                "random" | "normal" | "exponential" | "uniform" => Ok(Value::Func(format!("random.{name}"), None)),
                _ => Err(err(span, format!("random has no function '{name}'; use random.random, random.normal or random.exponential"))),
            },
            Value::Array(a) => match name {
                "shape" => Ok(Value::Tuple(a.shape().iter().map(|&s| Value::Scalar(Scalar::Int(s as i64))).collect())),
                "ndim" => Ok(Value::Scalar(Scalar::Int(a.ndim() as i64))),
                "size" => Ok(Value::Scalar(Scalar::Int(a.len() as i64))),
                "nbytes" => Ok(Value::Scalar(Scalar::Int(a.nbytes() as i64))),
                "dtype" => Ok(Value::Str(a.dtype().name().into())),
                "T" => Ok(Value::Array(a.transpose(None).map_err(|e| expr_err(span, e))?)),
                f if ReduceFunc::parse(f).is_some()
                    || matches!(f, "astype" | "transpose" | "topk" | "clip")
                    || UNARY_FUNCS.iter().any(|(n, _)| *n == f) =>
                {
                    Ok(Value::Func(f.to_string(), Some(a)))
                }
                _ => Err(err(span, format!("arrays have no attribute '{name}'"))),
            },
            v => Err(err(span, format!("{} has no attribute '{name}'", type_name(&v)))),
        }
    }

    fn call(&mut self, name: &str, mut a: Args) -> Result<Value, ParseError> {
        let span = a.span;
        if let Some(func) = ReduceFunc::parse(name) {
            let (x, xs) = a.required(0, "a")?;
            let axis = a.take(1, "axis")?;
            let keepdims = a.take(2, "keepdims")?;
            let ddof = if matches!(func, ReduceFunc::Var | ReduceFunc::Std | ReduceFunc::NanVar | ReduceFunc::NanStd) {
                a.take(3, "ddof")?
            } else {
                None
            };
            let split_every = a.take(usize::MAX, "split_every")?;
            a.finish(if ddof.is_some() || matches!(func, ReduceFunc::Var | ReduceFunc::Std | ReduceFunc::NanVar | ReduceFunc::NanStd) {
                4
            } else {
                3
            })?;
            let x = to_array(x, xs)?;
            let axes = match axis {
                None | Some((Value::NoneV, _)) => None,
                Some((v, s)) => Some(int_list(&v, s, "axis")?),
            };
            let keepdims = match keepdims {
                None => false,
                Some((Value::Scalar(Scalar::Bool(b)), _)) => b,
                Some((v, s)) => return Err(err(s, format!("keepdims must be True or False, not {}", type_name(&v)))),
            };
            let ddof = match ddof {
                None => 0.0,
                Some((Value::Scalar(s) | Value::Typed(s), _)) => s.as_f64(),
                Some((v, s)) => return Err(err(s, format!("ddof must be a number, not {}", type_name(&v)))),
            };
            let split_every = match split_every {
                None | Some((Value::NoneV, _)) => None,
                Some((Value::Scalar(Scalar::Int(n)), _)) if n >= 2 => Some(n as usize),
                Some((_, s)) => return Err(err(s, "split_every must be an integer of at least 2")),
            };
            return Ok(Value::Array(x.reduce(func, axes.as_deref(), keepdims, ddof, split_every).map_err(|e| expr_err(span, e))?));
        }
        if let Some((_, op)) = UNARY_FUNCS.iter().find(|(n, _)| *n == name) {
            let (x, xs) = a.required(0, "x")?;
            a.finish(1)?;
            return match x {
                Value::Scalar(s) | Value::Typed(s) => Ok(Value::Typed(scalar_unary(*op, s))),
                v => Ok(Value::Array(to_array(v, xs)?.unary(*op).map_err(|e| expr_err(span, e))?)),
            };
        }
        if let Some((_, op)) = BINARY_FUNCS.iter().find(|(n, _)| *n == name) {
            let (x, _) = a.required(0, "x1")?;
            let (y, _) = a.required(1, "x2")?;
            a.finish(2)?;
            return match (x, y) {
                (Value::Scalar(p) | Value::Typed(p), Value::Scalar(q) | Value::Typed(q))
                    if *op != BinaryOp::Maximum && *op != BinaryOp::Minimum && *op != BinaryOp::Arctan2 =>
                {
                    Ok(Value::Typed(python_binary(op.symbol(), p, q, span)?))
                }
                (Value::Scalar(p) | Value::Typed(p), Value::Scalar(q) | Value::Typed(q)) => {
                    Ok(Value::Typed(match (op, as_i64(p), as_i64(q)) {
                        // NumPy's maximum and minimum keep integers and propagate NaN
                        (BinaryOp::Maximum, Some(i), Some(j)) => Scalar::Int(i.max(j)),
                        (BinaryOp::Minimum, Some(i), Some(j)) => Scalar::Int(i.min(j)),
                        (BinaryOp::Maximum | BinaryOp::Minimum, ..) if p.as_f64().is_nan() || q.as_f64().is_nan() => {
                            Scalar::Float(f64::NAN)
                        }
                        (BinaryOp::Maximum, ..) => Scalar::Float(p.as_f64().max(q.as_f64())),
                        (BinaryOp::Minimum, ..) => Scalar::Float(p.as_f64().min(q.as_f64())),
                        _ => Scalar::Float(p.as_f64().atan2(q.as_f64())),
                    }))
                }
                (x, y) => Ok(Value::Array(
                    Array::binary(operand_checked(x, span)?, *op, operand_checked(y, span)?).map_err(|e| expr_err(span, e))?,
                )),
            };
        }
        match name {
            "where" => {
                let (c, _) = a.required(0, "condition")?;
                let (x, _) = a.required(1, "x")?;
                let (y, _) = a.required(2, "y")?;
                a.finish(3)?;
                let args = vec![operand_checked(c, span)?, operand_checked(x, span)?, operand_checked(y, span)?];
                if args.iter().all(|o| matches!(o, Operand::Scalar(_))) {
                    return Err(err(span, "where() needs at least one array argument"));
                }
                Ok(Value::Array(Array::map(MapFunc::Where, args).map_err(|e| expr_err(span, e))?))
            }
            "clip" => {
                let (x, xs) = a.required(0, "a")?;
                let (lo, _) = a.required(1, "a_min")?;
                let (hi, _) = a.required(2, "a_max")?;
                a.finish(3)?;
                let x = to_array(x, xs)?;
                Ok(Value::Array(x.clip(operand_checked(lo, span)?, operand_checked(hi, span)?).map_err(|e| expr_err(span, e))?))
            }
            "stack" | "concatenate" => {
                let (seq, ss) = a.required(0, "arrays")?;
                let axis = match a.take(1, "axis")? {
                    None => 0,
                    Some((v, s)) => int_of(&v, s, "axis")?,
                };
                a.finish(2)?;
                let Value::Tuple(items) = seq else {
                    return Err(err(ss, format!("{name}() needs a list of arrays, such as [a, b]")));
                };
                let arrays = items.into_iter().map(|v| to_array(v, ss)).collect::<Result<Vec<_>, _>>()?;
                let r = if name == "stack" { Array::stack(&arrays, axis) } else { Array::concatenate(&arrays, axis) };
                Ok(Value::Array(r.map_err(|e| expr_err(span, e))?))
            }
            "transpose" => {
                let (x, xs) = a.required(0, "a")?;
                let axes = match a.take(1, "axes")? {
                    None | Some((Value::NoneV, _)) => None,
                    Some((v, s)) => Some(int_list(&v, s, "axes")?),
                };
                let extra: Vec<(Value, Span)> = a.pos.drain(2.min(a.pos.len())..).collect();
                a.finish(2)?;
                let axes = if extra.is_empty() {
                    axes
                } else {
                    // x.transpose(1, 0, 2) form
                    let mut all = axes.unwrap_or_default();
                    for (v, s) in extra {
                        all.push(int_of(&v, s, "axes")?);
                    }
                    Some(all)
                };
                Ok(Value::Array(to_array(x, xs)?.transpose(axes.as_deref()).map_err(|e| expr_err(span, e))?))
            }
            "topk" => {
                let (x, xs) = a.required(0, "a")?;
                let (k, ks) = a.required(1, "k")?;
                let axis = match a.take(2, "axis")? {
                    None => -1,
                    Some((v, s)) => int_of(&v, s, "axis")?,
                };
                a.finish(3)?;
                let k = int_of(&k, ks, "k")?;
                Ok(Value::Array(to_array(x, xs)?.topk(k, axis).map_err(|e| expr_err(span, e))?))
            }
            "median" | "quantile" | "percentile" | "nanmedian" | "nanquantile" | "nanpercentile" => {
                let (x, xs) = a.required(0, "a")?;
                let skip_nan = name.starts_with("nan");
                let stat = name.trim_start_matches("nan");
                let q = if stat == "median" {
                    None
                } else {
                    let (q, qs) = a.required(1, "q")?;
                    let q = match q {
                        Value::Scalar(Scalar::Int(i)) | Value::Typed(Scalar::Int(i)) => i as f64,
                        Value::Scalar(Scalar::Float(f)) | Value::Typed(Scalar::Float(f)) => f,
                        v => return Err(err(qs, format!("q must be a number, not {}", type_name(&v)))),
                    };
                    // NumPy's percentile divides by 100 first
                    Some(if stat == "percentile" { q / 100.0 } else { q })
                };
                let axis = match a.take(if q.is_some() { 2 } else { 1 }, "axis")? {
                    Some((v, s)) => int_of(&v, s, "axis")?,
                    None => {
                        return Err(err(
                            span,
                            format!("{name} needs one axis, as dask's does: {name}(x, {}axis=0)", if q.is_some() { "q, " } else { "" }),
                        ));
                    }
                };
                a.finish(if q.is_some() { 3 } else { 2 })?;
                let x = to_array(x, xs)?;
                let r = match q {
                    None => x.median(axis, skip_nan),
                    Some(q) => x.quantile(q, axis, skip_nan),
                };
                Ok(Value::Array(r.map_err(|e| expr_err(span, e))?))
            }
            "astype" => {
                let (x, xs) = a.required(0, "a")?;
                let (d, ds) = a.required(1, "dtype")?;
                a.finish(2)?;
                let dtype = match &d {
                    Value::Str(s) => DType::parse(s),
                    Value::Func(n, None) => DType::parse(n),
                    _ => None,
                }
                .ok_or_else(|| err(ds, "dtype must be a name such as 'float32', 'float64', 'int16' or 'bool'"))?;
                Ok(Value::Array(to_array(x, xs)?.astype(dtype).map_err(|e| expr_err(span, e))?))
            }
            r if r.starts_with("random.") => self.random(&r[7..], a),
            _ => Err(err(span, format!("unknown function '{name}'"))),
        }
    }

    fn random(&mut self, kind: &str, mut a: Args) -> Result<Value, ParseError> {
        let span = a.span;
        let num = |v: Option<(Value, Span)>, default: f64, what: &str| -> Result<f64, ParseError> {
            match v {
                None => Ok(default),
                Some((Value::Scalar(s) | Value::Typed(s), _)) => Ok(s.as_f64()),
                Some((v, s)) => Err(err(s, format!("{what} must be a number, not {}", type_name(&v)))),
            }
        };
        let (distr, size_idx) = match kind {
            "random" => (Distr::Uniform, 0),
            "normal" => {
                let loc = num(a.take(0, "loc")?, 0.0, "loc")?;
                let scale = num(a.take(1, "scale")?, 1.0, "scale")?;
                if scale < 0.0 {
                    return Err(err(span, "scale must not be negative"));
                }
                (Distr::Normal { loc, scale }, 2)
            }
            "exponential" => {
                let scale = num(a.take(0, "scale")?, 1.0, "scale")?;
                if scale < 0.0 {
                    return Err(err(span, "scale must not be negative"));
                }
                (Distr::Exponential { scale }, 1)
            }
            _ => return Err(err(span, format!("random.{kind} is not supported"))),
        };
        let size = match a.take(size_idx, "size")? {
            None | Some((Value::NoneV, _)) => vec![],
            Some((v, s)) => int_list(&v, s, "size")?
                .into_iter()
                .map(|n| usize::try_from(n).map_err(|_| err(s, "size must not be negative")))
                .collect::<Result<_, _>>()?,
        };
        let chunks = a.take(size_idx + 1, "chunks")?;
        let seed = match a.take(usize::MAX, "seed")? {
            None | Some((Value::NoneV, _)) => None,
            Some((v, s)) => Some(int_of(&v, s, "seed")? as u64),
        };
        a.finish(size_idx + 2)?;
        let spec = match chunks {
            None => ChunkSpec::Auto,
            Some((Value::Str(s), cs)) => ChunkSpec::parse(&s).map_err(|e| err(cs, e.to_string()))?,
            Some((Value::Scalar(Scalar::Int(n)), cs)) => {
                ChunkSpec::Uniform(usize::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| err(cs, "chunk lengths must be positive"))?)
            }
            Some((Value::Tuple(items), cs)) => ChunkSpec::PerAxis(
                items
                    .iter()
                    .map(|v| match v {
                        Value::Scalar(Scalar::Int(-1)) | Value::NoneV => Ok(AxisChunks::Full),
                        Value::Scalar(Scalar::Int(n)) if *n > 0 => Ok(AxisChunks::Size(*n as usize)),
                        Value::Str(s) if s == "auto" => Ok(AxisChunks::Auto),
                        _ => Err(err(cs, "chunks must be positive integers, -1, None or 'auto'")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some((v, cs)) => return Err(err(cs, format!("chunks must be an integer, a tuple or 'auto', not {}", type_name(&v)))),
        };
        let chunks = normalize_chunks(&spec, &size, DType::F64, None).map_err(|e| err(span, e.to_string()))?;
        Ok(Value::Array(Array::random(distr, chunks, seed)))
    }
}

pub(super) fn scalar_unary(op: UnaryOp, s: Scalar) -> Scalar {
    let x = s.as_f64();
    match op {
        UnaryOp::Neg => match s {
            // NumPy's int64 wraps (a Python int's negation is checked by the caller)
            Scalar::Int(i) => Scalar::Int(i.wrapping_neg()),
            _ => Scalar::Float(-x),
        },
        UnaryOp::Abs => match s {
            Scalar::Int(i) => Scalar::Int(i.abs()),
            _ => Scalar::Float(x.abs()),
        },
        UnaryOp::Square => match s {
            Scalar::Int(i) => Scalar::Int(i.wrapping_mul(i)),
            Scalar::Bool(b) => Scalar::Int(b as i64),
            _ => Scalar::Float(x * x),
        },
        UnaryOp::Sqrt => Scalar::Float(x.sqrt()),
        UnaryOp::Exp => Scalar::Float(x.exp()),
        UnaryOp::Log => Scalar::Float(x.ln()),
        UnaryOp::Log10 => Scalar::Float(x.log10()),
        UnaryOp::Log2 => Scalar::Float(x.log2()),
        UnaryOp::Sin => Scalar::Float(x.sin()),
        UnaryOp::Cos => Scalar::Float(x.cos()),
        UnaryOp::Tan => Scalar::Float(x.tan()),
        UnaryOp::Arcsin => Scalar::Float(x.asin()),
        UnaryOp::Arccos => Scalar::Float(x.acos()),
        UnaryOp::Arctan => Scalar::Float(x.atan()),
        // NumPy 2 keeps integers and bools as they are
        UnaryOp::Floor | UnaryOp::Ceil if !matches!(s, Scalar::Float(_)) => s,
        UnaryOp::Floor => Scalar::Float(x.floor()),
        UnaryOp::Ceil => Scalar::Float(x.ceil()),
        UnaryOp::IsNan => Scalar::Bool(x.is_nan()),
        UnaryOp::IsFinite => Scalar::Bool(x.is_finite()),
        UnaryOp::IsInf => Scalar::Bool(x.is_infinite()),
        UnaryOp::Not => match s {
            Scalar::Bool(b) => Scalar::Bool(!b),
            Scalar::Int(i) => Scalar::Int(!i),
            Scalar::Float(_) => Scalar::Float(f64::NAN),
        },
    }
}

pub(super) fn expr_err(span: Span, e: ExprError) -> ParseError {
    err(span, e.to_string())
}

pub(super) fn operand(v: Value) -> Operand {
    match v {
        Value::Array(a) => Operand::Array(a),
        Value::Scalar(s) => Operand::Scalar(s),
        Value::Typed(s) => Operand::Array(zero_d(s)),
        _ => unreachable!("checked by the caller"),
    }
}

pub(super) fn operand_checked(v: Value, span: Span) -> Result<Operand, ParseError> {
    match v {
        Value::Array(a) => Ok(Operand::Array(a)),
        Value::Scalar(s) => Ok(Operand::Scalar(s)),
        Value::Typed(s) => Ok(Operand::Array(zero_d(s))),
        v => Err(err(span, format!("expected an array or a number, not {}", type_name(&v)))),
    }
}

pub(super) fn to_array(v: Value, span: Span) -> Result<Array, ParseError> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Scalar(s) | Value::Typed(s) => Ok(zero_d(s)),
        v => Err(err(span, format!("expected an array, not {}", type_name(&v)))),
    }
}

pub(super) fn int_of(v: &Value, span: Span, what: &str) -> Result<i64, ParseError> {
    match v {
        Value::Scalar(Scalar::Int(i)) | Value::Typed(Scalar::Int(i)) => Ok(*i),
        v => Err(err(span, format!("{what} must be an integer, not {}", type_name(v)))),
    }
}

pub(super) fn int_list(v: &Value, span: Span, what: &str) -> Result<Vec<i64>, ParseError> {
    match v {
        Value::Tuple(items) => items.iter().map(|i| int_of(i, span, what)).collect(),
        v => Ok(vec![int_of(v, span, what)?]),
    }
}
