//! Reductions' three phases (dask's `chunk`, `combine`, `aggregate`): folding
//! kernel output into partial results, merging partials, and finishing them.
//!
//! Float sums and moments accumulate in float64 whatever the input width.
//! Horizontal sums use eight fixed lanes, and partials merge in plan order, so a
//! result does not depend on the number of threads or on scheduling.

use super::kernel::{STRIP, StripRef, StripSink};
use crate::block::{Block, Buffer, for_each_row};
use crate::dtype::{DType, Kind};
use crate::expr::ReduceFunc;
use crate::plan::ReduceSpec;
pub use crate::plan::reduce::uses_moments;

/// Running values of one accumulator per output element.
#[derive(Clone, Debug, PartialEq)]
pub enum Acc {
    F64(Vec<f64>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

/// A reduction's partial result for one output block.
#[derive(Clone, Debug, PartialEq)]
pub enum Partial {
    /// sum, prod, mean (as a float64 sum), min, max, count, any, all.
    Values(Acc),
    /// nanmean: sums and counts of the non-NaN values.
    Counted { sum: Vec<f64>, count: Vec<u64> },
    /// var and std: count, mean and sum of squared deviations (Chan et al.'s parallel form).
    Moments { n: Vec<f64>, mean: Vec<f64>, m2: Vec<f64> },
    /// argmax/argmin: the best value so far and its index (-1: none yet) along the reduced
    /// axes, flattened in C order as NumPy counts it.
    Arg { values: Acc, index: Vec<i64> },
}

impl Partial {
    /// Bytes held, for the memory budget.
    pub fn size_bytes(&self) -> usize {
        match self {
            Partial::Values(Acc::Bool(v)) => v.len(),
            Partial::Values(Acc::F64(v)) => v.len() * 8,
            Partial::Values(Acc::I64(v)) => v.len() * 8,
            Partial::Values(Acc::U64(v)) => v.len() * 8,
            Partial::Counted { sum, .. } => sum.len() * 16,
            Partial::Moments { n, .. } => n.len() * 24,
            Partial::Arg { index, .. } => index.len() * 16,
        }
    }
}

/// The empty partial result for `len` output elements.
pub fn init(spec: &ReduceSpec, len: usize) -> Partial {
    use ReduceFunc::*;
    let input = spec.input_dtype.kind();
    match spec.func {
        Sum | NanSum => Partial::Values(match spec.output_dtype {
            DType::I64 => Acc::I64(filled(0, len)),
            DType::U64 => Acc::U64(filled(0, len)),
            _ => Acc::F64(filled(0.0, len)),
        }),
        Prod => Partial::Values(match spec.output_dtype {
            DType::I64 => Acc::I64(filled(1, len)),
            DType::U64 => Acc::U64(filled(1, len)),
            _ => Acc::F64(filled(1.0, len)),
        }),
        Mean => Partial::Values(Acc::F64(filled(0.0, len))),
        NanMean => Partial::Counted { sum: filled(0.0, len), count: filled(0, len) },
        Var | Std | NanVar | NanStd => Partial::Moments { n: filled(0.0, len), mean: filled(0.0, len), m2: filled(0.0, len) },
        Min | NanMin | Max | NanMax => {
            let is_min = matches!(spec.func, Min | NanMin);
            Partial::Values(match input {
                Kind::Float => Acc::F64(filled(
                    if matches!(spec.func, NanMin | NanMax) {
                        f64::NAN
                    } else if is_min {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    },
                    len,
                )),
                Kind::Signed => Acc::I64(filled(if is_min { i64::MAX } else { i64::MIN }, len)),
                Kind::Unsigned => Acc::U64(filled(if is_min { u64::MAX } else { 0 }, len)),
                Kind::Bool => Acc::Bool(filled(is_min, len)),
            })
        }
        ArgMax | ArgMin | NanArgMax | NanArgMin => Partial::Arg {
            values: match input {
                Kind::Float => Acc::F64(filled(f64::NAN, len)),
                Kind::Signed => Acc::I64(filled(0, len)),
                Kind::Unsigned => Acc::U64(filled(0, len)),
                Kind::Bool => Acc::Bool(filled(false, len)),
            },
            index: filled(-1, len),
        },
        Count => Partial::Values(Acc::I64(filled(0, len))),
        Any => Partial::Values(Acc::Bool(filled(false, len))),
        All => Partial::Values(Acc::Bool(filled(true, len))),
    }
}

/// `len` copies of `x`, written out now. A zeroed `vec!` comes from `calloc` as untouched
/// pages that map the shared zero page on the first read; the first write then faults again
/// and flushes the other cores' TLBs. Partials are read before written, so that doubled
/// fault (with its inter-processor interrupt) used to cost more than the fold itself.
fn filled<T: Copy>(x: T, len: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    v.resize(len, x);
    v
}

/// Folds kernel result strips into a partial result (every function but var/std).
pub struct Fold<'a> {
    pub func: ReduceFunc,
    pub partial: &'a mut Partial,
    scratch: Vec<f64>,
}

impl<'a> Fold<'a> {
    pub fn new(func: ReduceFunc, partial: &'a mut Partial) -> Fold<'a> {
        Fold { func, partial, scratch: vec![0.0; STRIP] }
    }
}

/// Eight-lane sum of `f(x)` over `xs`: vectorises, and the order is fixed.
#[inline]
fn lane_sum<X: Copy + Into<f64>>(xs: &[X], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lanes[i] += f(c[i].into());
        }
    }
    for (i, &x) in chunks.remainder().iter().enumerate() {
        lanes[i] += f(x.into());
    }
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
}

#[inline]
fn fold_into<A: Copy, X: Copy>(acc: &mut [A], xs: &[X], offset: isize, stride: isize, f: impl Fn(A, X) -> A) {
    if stride == 0 {
        let o = offset as usize;
        let mut a = acc[o];
        for &x in xs {
            a = f(a, x);
        }
        acc[o] = a;
    } else if stride == 1 {
        let o = offset as usize;
        for (a, &x) in acc[o..o + xs.len()].iter_mut().zip(xs) {
            *a = f(*a, x);
        }
    } else {
        for (i, &x) in xs.iter().enumerate() {
            let p = (offset + stride * i as isize) as usize;
            acc[p] = f(acc[p], x);
        }
    }
}

/// Folds float values into nanmean's sums and counts of the values that are not NaN, in one
/// pass (float32 widened on the fly, exactly). Adding 0.0 for a NaN leaves a sum as it was:
/// sums start at +0.0 and so are never -0.0.
#[inline]
fn fold_counted<X: Copy + Into<f64>>(sum: &mut [f64], count: &mut [u64], xs: &[X], offset: isize, stride: isize) {
    if stride == 1 {
        let o = offset as usize;
        let n = xs.len();
        for ((s, c), &x) in sum[o..o + n].iter_mut().zip(&mut count[o..o + n]).zip(xs) {
            let x: f64 = x.into();
            let valid = !x.is_nan();
            *s += if valid { x } else { 0.0 };
            *c += u64::from(valid);
        }
    } else {
        fold_into(sum, xs, offset, stride, |a, x| {
            let x: f64 = x.into();
            if x.is_nan() { a } else { a + x }
        });
        fold_into(count, xs, offset, stride, |a, x| {
            let x: f64 = x.into();
            a + u64::from(!x.is_nan())
        });
    }
}

/// Folds float values (float64, or float32 widened on the fly) into a float64 accumulator.
#[inline]
fn fold_float<X: Copy + Into<f64>>(func: ReduceFunc, acc: &mut [f64], xs: &[X], offset: isize, stride: isize) {
    use ReduceFunc::*;
    match func {
        Sum | Mean if stride == 0 => acc[offset as usize] += lane_sum(xs, |x| x),
        NanSum if stride == 0 => acc[offset as usize] += lane_sum(xs, |x| if x.is_nan() { 0.0 } else { x }),
        Sum | Mean => fold_into(acc, xs, offset, stride, |a, x| a + x.into()),
        NanSum => fold_into(acc, xs, offset, stride, |a, x| {
            let x: f64 = x.into();
            if x.is_nan() { a } else { a + x }
        }),
        Prod => fold_into(acc, xs, offset, stride, |a, x| a * x.into()),
        Min => fold_into(acc, xs, offset, stride, |a, x| min_f(a, x.into())),
        Max => fold_into(acc, xs, offset, stride, |a, x| max_f(a, x.into())),
        NanMin => fold_into(acc, xs, offset, stride, |a, x| nanmin_f(a, x.into())),
        NanMax => fold_into(acc, xs, offset, stride, |a, x| nanmax_f(a, x.into())),
        other => unreachable!("{other:?} with a float accumulator"),
    }
}

#[inline]
fn min_f(a: f64, x: f64) -> f64 {
    if x < a || x.is_nan() { x } else { a }
}
#[inline]
fn max_f(a: f64, x: f64) -> f64 {
    if x > a || x.is_nan() { x } else { a }
}
#[inline]
fn nanmin_f(a: f64, x: f64) -> f64 {
    if x < a || a.is_nan() { x } else { a }
}
#[inline]
fn nanmax_f(a: f64, x: f64) -> f64 {
    if x > a || a.is_nan() { x } else { a }
}

impl StripSink for Fold<'_> {
    fn strip(&mut self, values: StripRef<'_>, offset: isize, stride: isize) {
        use ReduceFunc::*;
        let len = values.len();
        let func = self.func;
        match self.partial {
            // float32 strips are widened inside the loops (exactly), not through a scratch copy
            Partial::Values(Acc::F64(acc)) => match values {
                StripRef::F64(v) => fold_float(func, acc, v, offset, stride),
                StripRef::F32(v) => fold_float(func, acc, v, offset, stride),
                other => {
                    other.to_f64(&mut self.scratch);
                    fold_float(func, acc, &self.scratch[..len], offset, stride)
                }
            },
            Partial::Values(Acc::I64(acc)) => match (func, values) {
                (Count, StripRef::F64(v)) => fold_into(acc, v, offset, stride, |a, x| a + (!x.is_nan()) as i64),
                (Count, StripRef::F32(v)) => fold_into(acc, v, offset, stride, |a, x| a + (!x.is_nan()) as i64),
                (Count, _) => fold_into(acc, &vec![(); len], offset, stride, |a, _| a + 1),
                (_, StripRef::Bool(v)) => fold_int(func, acc, &v.iter().map(|&b| b as i64).collect::<Vec<_>>(), offset, stride),
                (_, StripRef::I64(v)) => fold_int(func, acc, v, offset, stride),
                (f, s) => unreachable!("{f:?} of {s:?} into an int64 accumulator"),
            },
            Partial::Values(Acc::U64(acc)) => match values {
                StripRef::U64(xs) => match func {
                    Sum | NanSum => fold_into(acc, xs, offset, stride, |a, x| a.wrapping_add(x)),
                    Prod => fold_into(acc, xs, offset, stride, |a, x| a.wrapping_mul(x)),
                    Min | NanMin => fold_into(acc, xs, offset, stride, |a, x| a.min(x)),
                    Max | NanMax => fold_into(acc, xs, offset, stride, |a, x| a.max(x)),
                    other => unreachable!("{other:?} with a uint64 accumulator"),
                },
                s => unreachable!("{s:?} into a uint64 accumulator"),
            },
            Partial::Values(Acc::Bool(acc)) => {
                let truth: Vec<bool> = match values {
                    StripRef::Bool(v) => v.to_vec(),
                    other => {
                        other.to_f64(&mut self.scratch);
                        self.scratch[..len].iter().map(|&x| x != 0.0).collect()
                    }
                };
                match func {
                    Any | Max | NanMax => fold_into(acc, &truth, offset, stride, |a, x| a | x),
                    All | Min | NanMin => fold_into(acc, &truth, offset, stride, |a, x| a & x),
                    other => unreachable!("{other:?} with a bool accumulator"),
                }
            }
            Partial::Counted { sum, count } => match values {
                StripRef::F64(v) => fold_counted(sum, count, v, offset, stride),
                StripRef::F32(v) => fold_counted(sum, count, v, offset, stride),
                other => {
                    other.to_f64(&mut self.scratch);
                    fold_counted(sum, count, &self.scratch[..len], offset, stride)
                }
            },
            Partial::Moments { .. } | Partial::Arg { .. } => unreachable!("moments and arg reductions are folded from whole blocks"),
        }
    }
}

fn fold_int(func: ReduceFunc, acc: &mut [i64], xs: &[i64], offset: isize, stride: isize) {
    use ReduceFunc::*;
    match func {
        Sum | NanSum => fold_into(acc, xs, offset, stride, |a, x| a.wrapping_add(x)),
        Prod => fold_into(acc, xs, offset, stride, |a, x| a.wrapping_mul(x)),
        Min | NanMin => fold_into(acc, xs, offset, stride, |a, x| a.min(x)),
        Max | NanMax => fold_into(acc, xs, offset, stride, |a, x| a.max(x)),
        other => unreachable!("{other:?} with an int64 accumulator"),
    }
}

/// Folds a whole block into var/std moments: two passes (mean, then squared deviations)
/// per output element, merged into `partial` with Chan et al.'s formula.
/// `acc_strides` maps the block's axes to output elements (0 on reduced axes).
pub fn fold_moments(partial: &mut Partial, block: &Buffer, shape: &[usize], acc_strides: &[isize], skip_nan: bool) {
    let len = match partial {
        Partial::Moments { n, .. } => n.len(),
        _ => unreachable!("moments partial"),
    };
    let values: Vec<f64> = match block {
        Buffer::F64(v) => v.clone(),
        other => (0..other.len()).map(|i| other.get_f64(i)).collect(),
    };
    let mut n = filled(0.0f64, len);
    let mut sum = filled(0.0f64, len);
    visit(shape, acc_strides, |i, p| {
        let x = values[i];
        if !(skip_nan && x.is_nan()) {
            n[p] += 1.0;
            sum[p] += x;
        }
    });
    let mean: Vec<f64> = sum.iter().zip(&n).map(|(s, c)| if *c > 0.0 { s / c } else { 0.0 }).collect();
    let mut m2 = filled(0.0f64, len);
    visit(shape, acc_strides, |i, p| {
        let x = values[i];
        if !(skip_nan && x.is_nan()) {
            let d = x - mean[p];
            m2[p] += d * d;
        }
    });
    let block_partial = Partial::Moments { n, mean, m2 };
    merge(ReduceFunc::Var, partial, &block_partial);
}

/// Calls `f(element, output element)` for every element of a C-ordered block of `shape`.
fn visit(shape: &[usize], acc_strides: &[isize], mut f: impl FnMut(usize, usize)) {
    let nd = shape.len();
    let mut i = 0usize;
    let inner = if nd == 0 { 1 } else { shape[nd - 1] };
    let inner_stride = if nd == 0 { 0 } else { acc_strides[nd - 1] };
    for_each_row(shape, |outer| {
        let mut p: isize = outer.iter().enumerate().map(|(d, &k)| acc_strides[d] * k as isize).sum();
        for _ in 0..inner {
            f(i, p as usize);
            i += 1;
            p += inner_stride;
        }
    });
}

/// Merges `other` into `into`, element by element (the `combine` phase).
pub fn merge(func: ReduceFunc, into: &mut Partial, other: &Partial) {
    use ReduceFunc::*;
    match (into, other) {
        (Partial::Values(Acc::F64(a)), Partial::Values(Acc::F64(b))) => {
            let f: fn(f64, f64) -> f64 = match func {
                Sum | NanSum | Mean => |a, b| a + b,
                Prod => |a, b| a * b,
                Min => min_f,
                Max => max_f,
                NanMin => |a, b| if b.is_nan() { a } else { nanmin_f(a, b) },
                NanMax => |a, b| if b.is_nan() { a } else { nanmax_f(a, b) },
                other => unreachable!("{other:?} merge of float accumulators"),
            };
            a.iter_mut().zip(b).for_each(|(a, b)| *a = f(*a, *b));
        }
        (Partial::Values(Acc::I64(a)), Partial::Values(Acc::I64(b))) => {
            let f: fn(i64, i64) -> i64 = match func {
                Sum | NanSum | Count => |a, b| a.wrapping_add(b),
                Prod => |a, b| a.wrapping_mul(b),
                Min | NanMin => |a, b| a.min(b),
                Max | NanMax => |a, b| a.max(b),
                other => unreachable!("{other:?} merge of int accumulators"),
            };
            a.iter_mut().zip(b).for_each(|(a, b)| *a = f(*a, *b));
        }
        (Partial::Values(Acc::U64(a)), Partial::Values(Acc::U64(b))) => {
            let f: fn(u64, u64) -> u64 = match func {
                Sum | NanSum => |a, b| a.wrapping_add(b),
                Prod => |a, b| a.wrapping_mul(b),
                Min | NanMin => |a, b| a.min(b),
                Max | NanMax => |a, b| a.max(b),
                other => unreachable!("{other:?} merge of uint accumulators"),
            };
            a.iter_mut().zip(b).for_each(|(a, b)| *a = f(*a, *b));
        }
        (Partial::Values(Acc::Bool(a)), Partial::Values(Acc::Bool(b))) => {
            let or = matches!(func, Any | Max | NanMax);
            a.iter_mut().zip(b).for_each(|(a, b)| *a = if or { *a | *b } else { *a & *b });
        }
        (Partial::Counted { sum: s, count: c }, Partial::Counted { sum: s2, count: c2 }) => {
            s.iter_mut().zip(s2).for_each(|(a, b)| *a += b);
            c.iter_mut().zip(c2).for_each(|(a, b)| *a += b);
        }
        (Partial::Arg { values, index }, Partial::Arg { values: vb, index: ib }) => {
            let rule = ArgRule::of(func);
            match (values, vb) {
                (Acc::F64(a), Acc::F64(b)) => merge_arg(rule, a, index, b, ib),
                (Acc::I64(a), Acc::I64(b)) => merge_arg(rule, a, index, b, ib),
                (Acc::U64(a), Acc::U64(b)) => merge_arg(rule, a, index, b, ib),
                (Acc::Bool(a), Acc::Bool(b)) => merge_arg(rule, a, index, b, ib),
                _ => unreachable!("arg partials of different types"),
            }
        }
        (Partial::Moments { n, mean, m2 }, Partial::Moments { n: nb, mean: mb, m2: m2b }) => {
            for i in 0..n.len() {
                let (na, ma, qa) = (n[i], mean[i], m2[i]);
                let (nbi, mbi, qb) = (nb[i], mb[i], m2b[i]);
                let total = na + nbi;
                if nbi == 0.0 {
                    continue;
                }
                if na == 0.0 {
                    (n[i], mean[i], m2[i]) = (nbi, mbi, qb);
                    continue;
                }
                let delta = mbi - ma;
                mean[i] = ma + delta * nbi / total;
                m2[i] = qa + qb + delta * delta * na * nbi / total;
                n[i] = total;
            }
        }
        (a, b) => unreachable!("merging {a:?} with {b:?}"),
    }
}

/// Turns a partial into the output block (the `aggregate` phase).
///
/// # Errors
/// nanargmax/nanargmin of a slice that is all NaN (NumPy raises "All-NaN slice encountered").
pub fn finalize(spec: &ReduceSpec, partial: Partial, out_shape: &[usize]) -> Result<Block, String> {
    use ReduceFunc::*;
    let shape = out_shape.to_vec();
    let out = spec.output_dtype;
    let data = match (spec.func, partial) {
        (ArgMax | ArgMin | NanArgMax | NanArgMin, Partial::Arg { index, .. }) => {
            if let Some(p) = index.iter().position(|&i| i < 0) {
                return Err(format!("{}: all-NaN slice encountered (output element {p})", spec.func.name()));
            }
            Buffer::I64(index)
        }
        (Mean, Partial::Values(Acc::F64(s))) => {
            let c = spec.count as f64;
            Buffer::F64(s.into_iter().map(|x| x / c).collect())
        }
        (NanMean, Partial::Counted { sum, count }) => {
            Buffer::F64(sum.into_iter().zip(count).map(|(s, c)| if c == 0 { f64::NAN } else { s / c as f64 }).collect())
        }
        (Var | Std | NanVar | NanStd, Partial::Moments { n, m2, .. }) => {
            let std = matches!(spec.func, Std | NanStd);
            // NumPy: var divides by max(n - ddof, 0) (inf, or NaN for 0/0), nanvar gives NaN
            // wherever n - ddof <= 0
            let nan_when_no_dof = matches!(spec.func, NanVar | NanStd);
            Buffer::F64(
                n.into_iter()
                    .zip(m2)
                    .map(|(n, q)| {
                        let dof = n - spec.ddof;
                        let v = if nan_when_no_dof && dof <= 0.0 { f64::NAN } else { q / dof.max(0.0) };
                        if std { v.sqrt() } else { v }
                    })
                    .collect(),
            )
        }
        (_, Partial::Values(Acc::F64(v))) => Buffer::F64(v).cast(out),
        (_, Partial::Values(Acc::I64(v))) => Buffer::I64(v).cast(out),
        (_, Partial::Values(Acc::U64(v))) => Buffer::U64(v).cast(out),
        (_, Partial::Values(Acc::Bool(v))) => Buffer::Bool(v).cast(out),
        (f, p) => unreachable!("finalizing {f:?} from {p:?}"),
    };
    Ok(Block::new(shape, data))
}

/// A snapshot's block (see [`super::snapshot`]) from a running total of `done` of the
/// records: read in place (a whole field's total is megabytes, copied for every snapshot
/// otherwise), a mean divided by the records in so far rather than by all of them.
pub fn finalize_part(spec: &ReduceSpec, partial: &Partial, out_shape: &[usize], done: usize) -> Result<Block, String> {
    let data = match (spec.func, partial) {
        (ReduceFunc::Mean, Partial::Values(Acc::F64(s))) => {
            let c = done as f64;
            Buffer::F64(s.iter().map(|x| x / c).collect())
        }
        (ReduceFunc::NanMean, Partial::Counted { sum, count }) => {
            Buffer::F64(sum.iter().zip(count).map(|(&s, &c)| if c == 0 { f64::NAN } else { s / c as f64 }).collect())
        }
        _ => return finalize(spec, partial.clone(), out_shape),
    };
    Ok(Block::new(out_shape.to_vec(), data))
}

/// How argmax-like reductions choose between two candidates.
#[derive(Copy, Clone, Debug)]
struct ArgRule {
    /// argmax (else argmin)
    max: bool,
    /// nanargmax/nanargmin: NaN never wins (argmax/argmin: the first NaN wins, as in NumPy)
    skip_nan: bool,
}

impl ArgRule {
    fn of(func: ReduceFunc) -> ArgRule {
        use ReduceFunc::*;
        match func {
            ArgMax => ArgRule { max: true, skip_nan: false },
            ArgMin => ArgRule { max: false, skip_nan: false },
            NanArgMax => ArgRule { max: true, skip_nan: true },
            NanArgMin => ArgRule { max: false, skip_nan: true },
            other => unreachable!("{other:?} is not an arg reduction"),
        }
    }

    /// Whether candidate `(x, i)` replaces the current best `(cur, ci)` (`ci < 0`: none yet).
    /// Ties go to the smaller index, so the first occurrence wins whatever the order of blocks.
    #[inline]
    fn better<T: PartialOrd + Copy>(self, x: T, i: i64, cur: T, ci: i64) -> bool {
        #[allow(clippy::eq_op)]
        let nan = |v: T| v != v;
        if self.skip_nan && nan(x) {
            return false;
        }
        if ci < 0 {
            return true;
        }
        match (nan(x), nan(cur)) {
            (true, true) => i < ci,
            (false, true) => false,
            (true, false) => true,
            (false, false) => {
                if self.max {
                    x > cur || (x == cur && i < ci)
                } else {
                    x < cur || (x == cur && i < ci)
                }
            }
        }
    }
}

fn merge_arg<T: PartialOrd + Copy>(rule: ArgRule, a: &mut [T], ia: &mut [i64], b: &[T], ib: &[i64]) {
    for k in 0..a.len() {
        if ib[k] >= 0 && rule.better(b[k], ib[k], a[k], ia[k]) {
            (a[k], ia[k]) = (b[k], ib[k]);
        }
    }
}

/// Folds a computed block into an argmax-like partial. `origin` is the block's start in the
/// input; `arg_strides` gives, per input axis, its stride in the flattened reduced axes (0 for
/// kept axes), so an element's index is NumPy's index along the reduction.
pub fn fold_arg(
    func: ReduceFunc,
    partial: &mut Partial,
    block: &Buffer,
    shape: &[usize],
    acc_strides: &[isize],
    origin: &[usize],
    arg_strides: &[usize],
) {
    let Partial::Arg { values, index } = partial else { unreachable!("arg partial") };
    let rule = ArgRule::of(func);
    let base: i64 = origin.iter().zip(arg_strides).map(|(&o, &s)| (o * s) as i64).sum();
    let nd = shape.len();
    let inner = if nd == 0 { 1 } else { shape[nd - 1] };
    let inner_arg = if nd == 0 { 0 } else { arg_strides[nd - 1] as i64 };
    // the flat reduced index of each element, visited in C order next to its output element
    let mut indices = Vec::with_capacity(block.len());
    for_each_row(shape, |outer| {
        let row: i64 = base + outer.iter().enumerate().map(|(d, &k)| (k * arg_strides[d]) as i64).sum::<i64>();
        indices.extend((0..inner as i64).map(|j| row + j * inner_arg));
    });
    macro_rules! fold {
        ($acc:expr, $get:expr) => {{
            let acc = $acc;
            visit(shape, acc_strides, |e, p| {
                let x = $get(e);
                if rule.better(x, indices[e], acc[p], index[p]) {
                    (acc[p], index[p]) = (x, indices[e]);
                }
            });
        }};
    }
    match values {
        Acc::F64(acc) => fold!(acc, |e| block.get_f64(e)),
        Acc::I64(acc) => {
            let v: Vec<i64> = match block.cast(DType::I64) {
                Buffer::I64(v) => v,
                _ => unreachable!("cast to int64"),
            };
            fold!(acc, |e: usize| v[e])
        }
        Acc::U64(acc) => {
            let v: Vec<u64> = match block.cast(DType::U64) {
                Buffer::U64(v) => v,
                _ => unreachable!("cast to uint64"),
            };
            fold!(acc, |e: usize| v[e])
        }
        Acc::Bool(acc) => {
            let v: Vec<bool> = match block.cast(DType::Bool) {
                Buffer::Bool(v) => v,
                _ => unreachable!("cast to bool"),
            };
            fold!(acc, |e: usize| v[e])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_strips_fold_exactly_as_their_float64_values() {
        use ReduceFunc::*;
        let xs32: Vec<f32> = (0..1003).map(|i| if i % 97 == 5 { f32::NAN } else { (i as f32 * 0.37).sin() * 1e3 + 0.1 }).collect();
        let xs64: Vec<f64> = xs32.iter().map(|&x| f64::from(x)).collect();
        for func in [Sum, Mean, NanSum, Prod, Min, Max, NanMin, NanMax] {
            // (accumulator length, stride, values): all into one, one each, every other one
            for (len, stride, n) in [(1, 0, 1003), (1003, 1, 1003), (1001, 2, 501)] {
                let strip = |p: &mut Partial, v: StripRef<'_>| Fold::new(func, p).strip(v, 0, stride);
                let (mut a, mut b) = (Partial::Values(Acc::F64(vec![0.5; len])), Partial::Values(Acc::F64(vec![0.5; len])));
                strip(&mut a, StripRef::F32(&xs32[..n]));
                strip(&mut b, StripRef::F64(&xs64[..n]));
                let bits = |p: &Partial| match p {
                    Partial::Values(Acc::F64(v)) => v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    _ => unreachable!(),
                };
                assert_eq!(bits(&a), bits(&b), "{func:?} stride {stride}");
            }
        }
    }

    #[test]
    fn chan_merge_equals_two_pass_variance() {
        let xs: Vec<f64> = (0..1000).map(|i| 273.15 + ((i * 37) % 101) as f64 * 0.01).collect();
        let mean = xs.iter().sum::<f64>() / 1000.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 1000.0;
        let mut p = Partial::Moments { n: vec![0.0], mean: vec![0.0], m2: vec![0.0] };
        for chunk in xs.chunks(137) {
            fold_moments(&mut p, &Buffer::F64(chunk.to_vec()), &[chunk.len()], &[0], false);
        }
        let Partial::Moments { n, m2, .. } = p else { unreachable!() };
        assert!(((m2[0] / n[0]) - var).abs() < 1e-12 * var, "{} vs {var}", m2[0] / n[0]);
    }
}
