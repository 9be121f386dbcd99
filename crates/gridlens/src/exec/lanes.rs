//! Statistics of whole lanes along one axis, which no running partial can give: the `k`
//! extreme values (topk, with its merge of sorted pieces) and medians and quantiles (by
//! selection, NumPy's digits). Their tasks see every value of a lane at once.

use crate::block::{Block, Buffer, Element};
use std::cmp::Ordering;
use std::ops::{Add, Div, Mul, Sub};

/// Orders numbers as NumPy's sort does: NaN after everything.
trait TotalOrder: Copy {
    fn total(a: Self, b: Self) -> Ordering;
}

macro_rules! int_order {
    ($($t:ty),*) => {$(impl TotalOrder for $t { fn total(a: $t, b: $t) -> Ordering { a.cmp(&b) } })*};
}
int_order!(bool, i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! float_order {
    ($($t:ty),*) => {$(impl TotalOrder for $t {
        fn total(a: $t, b: $t) -> Ordering {
            match (a.is_nan(), b.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => a.partial_cmp(&b).expect("not NaN"),
            }
        }
    })*};
}
float_order!(f32, f64);

/// Visits the lanes along `axis` of the C-order array `v` of `shape` a tile at a time:
/// `f(o, i0, lanes, w)` gets `w` lanes (those of outer index `o` and inner indices `i0..i0 + w`)
/// of `n` values each, one after the other in `lanes`. Element j of lane (o, i) is at
/// `(o n + j) inner + i`; a tile is gathered by reading whole rows, not one strided element
/// per lane.
fn for_each_lane_tile<T: Copy + Default>(v: &[T], shape: &[usize], axis: usize, mut f: impl FnMut(usize, usize, &mut [T], usize)) {
    const TILE: usize = 64;
    let n = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut lanes = vec![T::default(); TILE.min(inner).max(1) * n];
    for o in 0..outer {
        let src = &v[o * n * inner..(o + 1) * n * inner];
        for i0 in (0..inner).step_by(TILE) {
            let w = TILE.min(inner - i0);
            for j in 0..n {
                for (t, &x) in src[j * inner + i0..j * inner + i0 + w].iter().enumerate() {
                    lanes[t * n + j] = x;
                }
            }
            f(o, i0, &mut lanes[..w * n], w);
        }
    }
}

fn topk_typed<T: Element + TotalOrder>(v: &[T], shape: &[usize], k: i64, axis: usize) -> (Vec<T>, Vec<usize>) {
    let n = shape[axis];
    let keep = (k.unsigned_abs() as usize).min(n);
    let mut out_shape = shape.to_vec();
    out_shape[axis] = keep;
    if n <= 1 {
        // a lane of one element is sorted
        return (v.to_vec(), out_shape);
    }
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = vec![T::default(); out_shape.iter().product()];
    for_each_lane_tile(v, shape, axis, |o, i0, lanes, w| {
        for lane in lanes.chunks_mut(n) {
            if k > 0 {
                lane.sort_by(|a, b| T::total(*b, *a));
            } else {
                lane.sort_by(|a, b| T::total(*a, *b));
            }
        }
        let dst = &mut out[o * keep * inner..(o + 1) * keep * inner];
        for j in 0..keep {
            for (t, y) in dst[j * inner + i0..j * inner + i0 + w].iter_mut().enumerate() {
                *y = lanes[t * n + j];
            }
        }
    });
    (out, out_shape)
}

/// The `k` largest (k > 0, descending) or smallest (k < 0, ascending) values along `axis`.
pub fn topk(block: &Block, k: i64, axis: usize) -> Block {
    let shape = block.shape().to_vec();
    macro_rules! go {
        ($v:expr, $variant:ident) => {{
            let (out, s) = topk_typed($v, &shape, k, axis);
            Block::new(s, Buffer::$variant(out))
        }};
    }
    match block.data() {
        Buffer::Bool(v) => go!(v, Bool),
        Buffer::I8(v) => go!(v, I8),
        Buffer::I16(v) => go!(v, I16),
        Buffer::I32(v) => go!(v, I32),
        Buffer::I64(v) => go!(v, I64),
        Buffer::U8(v) => go!(v, U8),
        Buffer::U16(v) => go!(v, U16),
        Buffer::U32(v) => go!(v, U32),
        Buffer::U64(v) => go!(v, U64),
        Buffer::F32(v) => go!(v, F32),
        Buffer::F64(v) => go!(v, F64),
    }
}

/// The median or quantile of every lane along `axis`, with NumPy's formulas so the digits
/// are NumPy's: the median is the middle value, or `(a + b) / 2` of the middle pair; a
/// quantile interpolates ranks `(c - 1) q` with `_lerp`'s two-sided form. `c` counts the
/// lane's values, or its non-NaN ones when NaN is skipped; without skipping, a lane holding
/// NaN gives NaN, and a lane with nothing to rank gives NaN. The ranks are found by
/// selection (as NumPy's `partition`), not by sorting the lane. The axis is dropped.
pub fn quantile_lanes(block: &Block, stat: crate::expr::Quantile, axis: usize) -> Block {
    let shape = block.shape();
    let mut out_shape = shape.to_vec();
    out_shape.remove(axis);
    match block.data() {
        Buffer::F32(v) => Block::new(out_shape, Buffer::F32(quantile_typed(v, shape, stat, axis))),
        Buffer::F64(v) => Block::new(out_shape, Buffer::F64(quantile_typed(v, shape, stat, axis))),
        // integers are cast to float64 when the expression is built
        other => unreachable!("quantile of {:?} data", other.dtype()),
    }
}

/// The float types a quantile is computed in, with their own arithmetic (NumPy computes
/// float32 quantiles in float32).
trait LaneFloat: Element + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> {}
impl LaneFloat for f32 {}
impl LaneFloat for f64 {}

fn quantile_typed<T: LaneFloat>(v: &[T], shape: &[usize], stat: crate::expr::Quantile, axis: usize) -> Vec<T> {
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let mut out = vec![T::default(); outer * inner];
    if n == 0 {
        // nothing to rank: NaN (a quantile of an empty axis is refused earlier)
        out.fill(T::from_f64(f64::NAN));
        return out;
    }
    for_each_lane_tile(v, shape, axis, |o, i0, lanes, w| {
        for (t, lane) in lanes.chunks_mut(n).enumerate().take(w) {
            out[o * inner + i0 + t] = lane_statistic(lane, stat);
        }
    });
    out
}

/// One lane's statistic; the lane is reordered.
fn lane_statistic<T: LaneFloat>(lane: &mut [T], stat: crate::expr::Quantile) -> T {
    // the values to rank first: NaN moved to the end when skipped
    let mut count = 0;
    for j in 0..lane.len() {
        if !lane[j].to_f64().is_nan() {
            lane.swap(count, j);
            count += 1;
        }
    }
    if count == 0 || (count < lane.len() && !stat.skip_nan) {
        return T::from_f64(f64::NAN);
    }
    let values = &mut lane[..count];
    let order = |a: &T, b: &T| a.partial_cmp(b).expect("NaN was set apart");
    // the value of rank r, and of rank r + 1 (the smallest of those above r)
    let mut ranks = |r: usize| -> (T, T) {
        let (_, &mut at, above) = values.select_nth_unstable_by(r, order);
        let next = above.iter().copied().reduce(|m, x| if x < m { x } else { m }).unwrap_or(at);
        (at, next)
    };
    match stat.q {
        // an odd count: the middle value itself (NumPy's mean of one)
        None if count % 2 == 1 => ranks(count / 2).0,
        None => {
            let (a, b) = ranks(count / 2 - 1);
            (a + b) / T::from_f64(2.0)
        }
        Some(q) => {
            let rank = (count - 1) as f64 * q;
            let lo = (rank.floor() as usize).min(count - 1);
            let (a, b) = ranks(lo);
            let gamma = rank - lo as f64;
            let diff = b - a;
            if gamma >= 0.5 { b - diff * T::from_f64(1.0 - gamma) } else { a + diff * T::from_f64(gamma) }
        }
    }
}

/// Joins blocks along `axis`, in order.
pub fn concat_along(parts: &[&Block], axis: usize) -> Block {
    let mut shape = parts[0].shape().to_vec();
    shape[axis] = parts.iter().map(|p| p.shape()[axis]).sum();
    let mut all = Block::zeros(parts[0].dtype(), &shape);
    let mut start = vec![0; shape.len()];
    for p in parts {
        all.paste(&start, p);
        start[axis] += p.shape()[axis];
    }
    all
}

/// Concatenates topk pieces along `axis` and keeps the `k` extreme values.
pub fn topk_merge(parts: &[&Block], k: i64, axis: usize) -> Block {
    topk(&concat_along(parts, axis), k, axis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_sorts_with_nan_largest() {
        let b = Block::from_vec(&[2, 4], vec![1.0, f64::NAN, 3.0, 2.0, -1.0, 5.0, 0.0, 4.0]);
        let t = topk(&b, 2, 1);
        let v = t.to_ndarray::<f64>().unwrap();
        assert!(v[[0, 0]].is_nan());
        assert_eq!(v[[0, 1]], 3.0);
        assert_eq!((v[[1, 0]], v[[1, 1]]), (5.0, 4.0));
        let s = topk(&b, -2, 1).to_ndarray::<f64>().unwrap();
        assert_eq!((s[[0, 0]], s[[0, 1]]), (1.0, 2.0));
        assert_eq!((s[[1, 0]], s[[1, 1]]), (-1.0, 0.0));
    }
}
