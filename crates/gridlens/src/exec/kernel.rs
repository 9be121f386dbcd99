//! Runs a fused [`Program`] over a block, strip by strip.
//!
//! The iteration space is walked row by row along one *inner* axis (the last
//! one after merging contiguous axes, or the longest one when the last is
//! short), in strips of [`STRIP`] elements. Every register holds one strip, so a
//! chain of operators stays in the L1 cache and no temporary array is allocated
//! per operator. What happens to the result strip — stored into a block, or
//! folded into a reduction's partial result — is the caller's [`StripSink`].

use crate::block::{Buffer, c_strides};
use crate::dtype::{ComputeType, DType};
use crate::expr::{BinaryOp, UnaryOp};
use crate::plan::kernel::{Const, Instr, Kernel};

/// Elements per strip: registers of 2 kB–4 kB keep a few dozen operators in L1.
pub const STRIP: usize = 512;

/// Errors a kernel can raise on data values (everything else is checked when planning).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    #[error("integers to negative integer powers are not allowed")]
    NegativeIntegerPower,
}

/// One strip of values of one compute type.
#[derive(Default, Debug)]
pub enum Strip {
    #[default]
    Empty,
    Bool(Vec<bool>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Strip {
    fn new(t: ComputeType) -> Strip {
        match t {
            ComputeType::Bool => Strip::Bool(vec![false; STRIP]),
            ComputeType::I64 => Strip::I64(vec![0; STRIP]),
            ComputeType::U64 => Strip::U64(vec![0; STRIP]),
            ComputeType::F32 => Strip::F32(vec![0.0; STRIP]),
            ComputeType::F64 => Strip::F64(vec![0.0; STRIP]),
        }
    }

    /// The first `len` values.
    pub fn view(&self, len: usize) -> StripRef<'_> {
        match self {
            Strip::Bool(v) => StripRef::Bool(&v[..len]),
            Strip::I64(v) => StripRef::I64(&v[..len]),
            Strip::U64(v) => StripRef::U64(&v[..len]),
            Strip::F32(v) => StripRef::F32(&v[..len]),
            Strip::F64(v) => StripRef::F64(&v[..len]),
            Strip::Empty => unreachable!("registers are allocated before use"),
        }
    }
}

/// Borrowed values of one compute type: a register's strip, or a run of a block itself
/// when a kernel only reads (then nothing is copied).
#[derive(Clone, Copy, Debug)]
pub enum StripRef<'a> {
    Bool(&'a [bool]),
    I64(&'a [i64]),
    U64(&'a [u64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl StripRef<'_> {
    pub fn len(&self) -> usize {
        match self {
            StripRef::Bool(v) => v.len(),
            StripRef::I64(v) => v.len(),
            StripRef::U64(v) => v.len(),
            StripRef::F32(v) => v.len(),
            StripRef::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values converted to f64 into `out`.
    pub fn to_f64(&self, out: &mut [f64]) {
        match *self {
            StripRef::Bool(v) => v.iter().zip(out).for_each(|(a, o)| *o = *a as u8 as f64),
            StripRef::I64(v) => v.iter().zip(out).for_each(|(a, o)| *o = *a as f64),
            StripRef::U64(v) => v.iter().zip(out).for_each(|(a, o)| *o = *a as f64),
            StripRef::F32(v) => v.iter().zip(out).for_each(|(a, o)| *o = *a as f64),
            StripRef::F64(v) => out[..v.len()].copy_from_slice(v),
        }
    }

    /// A contiguous run of a block whose storage is already a compute type.
    fn of_buffer(b: &Buffer, start: usize, len: usize) -> Option<StripRef<'_>> {
        Some(match b {
            Buffer::Bool(v) => StripRef::Bool(&v[start..start + len]),
            Buffer::I64(v) => StripRef::I64(&v[start..start + len]),
            Buffer::U64(v) => StripRef::U64(&v[start..start + len]),
            Buffer::F32(v) => StripRef::F32(&v[start..start + len]),
            Buffer::F64(v) => StripRef::F64(&v[start..start + len]),
            _ => return None,
        })
    }
}

/// Receives the result of each strip: values whose first lands at element `offset` of the
/// destination, the following ones `stride` apart (0: all on the same element).
pub trait StripSink {
    fn strip(&mut self, values: StripRef<'_>, offset: isize, stride: isize);
}

/// Stores result strips into a C-ordered buffer of the node's dtype.
pub struct Store<'a> {
    pub out: &'a mut Buffer,
}

impl StripSink for Store<'_> {
    fn strip(&mut self, values: StripRef<'_>, offset: isize, stride: isize) {
        let len = values.len();
        macro_rules! put {
            ($dst:expr, $src:expr, $t:ty) => {{
                let o = offset as usize;
                if stride == 1 {
                    for (d, s) in $dst[o..o + len].iter_mut().zip(&$src[..len]) {
                        *d = *s as $t;
                    }
                } else {
                    for i in 0..len {
                        $dst[(offset + stride * i as isize) as usize] = $src[i] as $t;
                    }
                }
            }};
        }
        match (&mut *self.out, values) {
            (Buffer::Bool(d), StripRef::Bool(s)) => put!(d, s, bool),
            (Buffer::I8(d), StripRef::I64(s)) => put!(d, s, i8),
            (Buffer::I16(d), StripRef::I64(s)) => put!(d, s, i16),
            (Buffer::I32(d), StripRef::I64(s)) => put!(d, s, i32),
            (Buffer::I64(d), StripRef::I64(s)) => put!(d, s, i64),
            (Buffer::U8(d), StripRef::U64(s)) => put!(d, s, u8),
            (Buffer::U16(d), StripRef::U64(s)) => put!(d, s, u16),
            (Buffer::U32(d), StripRef::U64(s)) => put!(d, s, u32),
            (Buffer::U64(d), StripRef::U64(s)) => put!(d, s, u64),
            (Buffer::F32(d), StripRef::F32(s)) => put!(d, s, f32),
            (Buffer::F64(d), StripRef::F64(s)) => put!(d, s, f64),
            (d, s) => unreachable!("store of {s:?} into {:?}: the planner casts results to the node dtype", d.dtype()),
        }
    }
}

/// A loop nest over the iteration space, after merging and reordering axes.
struct Nest {
    /// Lengths of the outer axes (row indices) and of the inner axis.
    outer: Vec<usize>,
    inner: usize,
    /// Strides per outer axis and for the inner axis, for each operand (leaves, then the sink).
    outer_strides: Vec<Vec<isize>>,
    inner_stride: Vec<isize>,
}

/// Builds the loop nest for `shape` and the per-operand strides (`strides[k][axis]`).
fn nest(shape: &[usize], strides: &[Vec<isize>]) -> Nest {
    // Drop length-1 axes, then merge neighbours that are contiguous for every operand.
    let mut dims: Vec<(usize, Vec<isize>)> = Vec::new();
    for (a, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let s: Vec<isize> = strides.iter().map(|st| st[a]).collect();
        if let Some((pn, ps)) = dims.last_mut()
            && ps.iter().zip(&s).all(|(p, q)| *p == q * n as isize)
        {
            *pn *= n;
            *ps = s;
            continue;
        }
        dims.push((n, s));
    }
    if dims.is_empty() {
        dims.push((1, vec![0; strides.len()]));
    }
    // Inner axis: the last, unless it is short and others are much longer; then the long axis
    // along which the destination moves least (contiguous writes), the longest on ties.
    let last = dims.len() - 1;
    let mut inner = last;
    if dims[last].0 < 64 {
        let sink = strides.len() - 1;
        let candidate = dims
            .iter()
            .enumerate()
            .filter(|(_, d)| d.0 >= 4 * dims[last].0)
            .min_by_key(|(_, d)| (d.1[sink].unsigned_abs(), std::cmp::Reverse(d.0)));
        if let Some((best, _)) = candidate {
            inner = best;
        }
    }
    let (n_inner, s_inner) = dims.remove(inner);
    Nest {
        outer: dims.iter().map(|d| d.0).collect(),
        inner: n_inner,
        outer_strides: (0..strides.len()).map(|k| dims.iter().map(|d| d.1[k]).collect()).collect(),
        inner_stride: s_inner,
    }
}

/// Runs `kernel` over its iteration space with the given leaf buffers, handing every result
/// strip to `sink`, whose element strides over the iteration space are `sink_strides`.
/// `cancelled` is polled every few thousand strips.
///
/// # Errors
/// A [`KernelError`] on invalid values (an integer raised to a negative power).
pub fn run(
    kernel: &Kernel,
    leaves: &[&Buffer],
    sink_strides: &[isize],
    sink: &mut dyn StripSink,
    cancelled: &dyn Fn() -> bool,
) -> Result<bool, KernelError> {
    let program = &*kernel.program;
    if kernel.shape.contains(&0) {
        return Ok(true);
    }
    let mut all_strides: Vec<Vec<isize>> = kernel.leaves.iter().map(|l| l.strides.clone()).collect();
    all_strides.push(sink_strides.to_vec());
    let nest = nest(&kernel.shape, &all_strides);
    let n_ops = all_strides.len();
    let mut regs: Vec<Strip> = program.regs.iter().map(|&t| Strip::new(t)).collect();
    // Where each register was last loaded from: a leaf that does not move along the outer
    // axes (a broadcast row, the other particle of a pair) is gathered once, not every row.
    let mut loaded: Vec<(isize, usize)> = vec![(isize::MIN, 0); regs.len()];
    let copy_leaf = match program.instrs.as_slice() {
        [Instr::Load { leaf, dst }] if *dst == program.result => Some(*leaf as usize),
        _ => None,
    };
    for ins in &program.instrs {
        if let Instr::Const { value, dst } = *ins {
            fill_const(&mut regs[dst as usize], value);
        }
    }
    let mut base: Vec<isize> = kernel.leaves.iter().map(|l| l.offset).collect();
    base.push(0);
    let mut idx = vec![0usize; nest.outer.len()];
    let mut strips_done = 0usize;
    loop {
        // offsets of this row for every operand
        let mut row = base.clone();
        for (k, r) in row.iter_mut().enumerate() {
            for (d, &i) in idx.iter().enumerate() {
                *r += nest.outer_strides[k][d] * i as isize;
            }
        }
        let mut s = 0;
        while s < nest.inner {
            let len = STRIP.min(nest.inner - s);
            let out_off = row[n_ops - 1] + nest.inner_stride[n_ops - 1] * s as isize;
            // a kernel that only reads a contiguous run hands the block's own memory on
            let direct = match copy_leaf {
                Some(l) if nest.inner_stride[l] == 1 => StripRef::of_buffer(leaves[l], (row[l] + s as isize) as usize, len),
                _ => None,
            };
            match direct {
                Some(values) => sink.strip(values, out_off, nest.inner_stride[n_ops - 1]),
                None => {
                    for ins in &program.instrs {
                        exec_instr(ins, &mut regs, &mut loaded, leaves, &row, &nest.inner_stride, s, len)?;
                    }
                    sink.strip(regs[program.result as usize].view(len), out_off, nest.inner_stride[n_ops - 1]);
                }
            }
            s += len;
            strips_done += 1;
        }
        if strips_done >= 4096 {
            strips_done = 0;
            if cancelled() {
                return Ok(false);
            }
        }
        // next row (odometer over the outer axes)
        let mut d = idx.len();
        loop {
            if d == 0 {
                return Ok(true);
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < nest.outer[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Runs `kernel` into a new C-ordered buffer of `dtype`.
///
/// # Errors
/// As [`run`].
pub fn run_to_buffer(
    kernel: &Kernel,
    leaves: &[&Buffer],
    dtype: DType,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Buffer>, KernelError> {
    let n: usize = kernel.shape.iter().product();
    let mut out = Buffer::zeros(dtype, n);
    let strides: Vec<isize> = c_strides(&kernel.shape).iter().map(|&s| s as isize).collect();
    let finished = run(kernel, leaves, &strides, &mut Store { out: &mut out }, cancelled)?;
    Ok(finished.then_some(out))
}

fn fill_const(reg: &mut Strip, value: Const) {
    match (reg, value) {
        (Strip::Bool(v), Const::Bool(c)) => v.fill(c),
        (Strip::I64(v), Const::I64(c)) => v.fill(c),
        (Strip::U64(v), Const::U64(c)) => v.fill(c),
        (Strip::F32(v), Const::F32(c)) => v.fill(c),
        (Strip::F64(v), Const::F64(c)) => v.fill(c),
        (r, c) => unreachable!("constant {c:?} in register {r:?}"),
    }
}

/// Gathers `len` elements starting at `off`, `stride` apart, converting each with `conv`.
#[inline]
fn gather<S: Copy, D: Copy>(src: &[S], off: isize, stride: isize, dst: &mut [D], len: usize, conv: impl Fn(S) -> D) {
    if stride == 1 {
        let o = off as usize;
        for (d, s) in dst[..len].iter_mut().zip(&src[o..o + len]) {
            *d = conv(*s);
        }
    } else if stride == 0 {
        dst[..len].fill(conv(src[off as usize]));
    } else {
        for (i, d) in dst[..len].iter_mut().enumerate() {
            *d = conv(src[(off + stride * i as isize) as usize]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn exec_instr(
    ins: &Instr,
    regs: &mut [Strip],
    loaded: &mut [(isize, usize)],
    leaves: &[&Buffer],
    row: &[isize],
    inner_stride: &[isize],
    s: usize,
    len: usize,
) -> Result<(), KernelError> {
    match *ins {
        Instr::Const { .. } => {}
        Instr::Load { leaf, dst } => {
            let l = leaf as usize;
            let off = row[l] + inner_stride[l] * s as isize;
            let stride = inner_stride[l];
            if loaded[dst as usize] == (off, len) {
                return Ok(()); // still holds these values: nothing else writes this register
            }
            loaded[dst as usize] = (off, len);
            match (&mut regs[dst as usize], leaves[l]) {
                (Strip::Bool(d), Buffer::Bool(v)) => gather(v, off, stride, d, len, |x| x),
                (Strip::I64(d), Buffer::I8(v)) => gather(v, off, stride, d, len, |x| x as i64),
                (Strip::I64(d), Buffer::I16(v)) => gather(v, off, stride, d, len, |x| x as i64),
                (Strip::I64(d), Buffer::I32(v)) => gather(v, off, stride, d, len, |x| x as i64),
                (Strip::I64(d), Buffer::I64(v)) => gather(v, off, stride, d, len, |x| x),
                (Strip::U64(d), Buffer::U8(v)) => gather(v, off, stride, d, len, |x| x as u64),
                (Strip::U64(d), Buffer::U16(v)) => gather(v, off, stride, d, len, |x| x as u64),
                (Strip::U64(d), Buffer::U32(v)) => gather(v, off, stride, d, len, |x| x as u64),
                (Strip::U64(d), Buffer::U64(v)) => gather(v, off, stride, d, len, |x| x),
                (Strip::F32(d), Buffer::F32(v)) => gather(v, off, stride, d, len, |x| x),
                (Strip::F64(d), Buffer::F64(v)) => gather(v, off, stride, d, len, |x| x),
                (r, b) => unreachable!("load of {:?} into {r:?}", b.dtype()),
            }
        }
        Instr::Cast { src, dst } => {
            let mut out = std::mem::take(&mut regs[dst as usize]);
            cast(&regs[src as usize], &mut out, len);
            regs[dst as usize] = out;
        }
        Instr::Truncate { src, dst, dtype } => {
            let mut out = std::mem::take(&mut regs[dst as usize]);
            match (&regs[src as usize], &mut out) {
                (Strip::F64(a), Strip::I64(o)) => o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = float_to_int(*a, dtype)),
                (Strip::F32(a), Strip::I64(o)) => {
                    o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = float_to_int(f64::from(*a), dtype))
                }
                (Strip::F64(a), Strip::U64(o)) => o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = float_to_int(*a, dtype) as u64),
                (Strip::F32(a), Strip::U64(o)) => {
                    o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = float_to_int(f64::from(*a), dtype) as u64)
                }
                (s, d) => unreachable!("truncate {s:?} -> {d:?}"),
            }
            regs[dst as usize] = out;
        }
        Instr::Narrow { src, dst, dtype } => {
            let mut out = std::mem::take(&mut regs[dst as usize]);
            match (&regs[src as usize], &mut out) {
                (Strip::I64(a), Strip::I64(o)) => {
                    let f: fn(i64) -> i64 = match dtype {
                        DType::I8 => |x| x as i8 as i64,
                        DType::I16 => |x| x as i16 as i64,
                        _ => |x| x as i32 as i64,
                    };
                    o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = f(*a));
                }
                (Strip::U64(a), Strip::U64(o)) => {
                    let f: fn(u64) -> u64 = match dtype {
                        DType::U8 => |x| x as u8 as u64,
                        DType::U16 => |x| x as u16 as u64,
                        _ => |x| x as u32 as u64,
                    };
                    o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = f(*a));
                }
                (a, _) => unreachable!("narrowing {a:?}"),
            }
            regs[dst as usize] = out;
        }
        Instr::Unary { op, src, dst } => {
            let mut out = std::mem::take(&mut regs[dst as usize]);
            unary(op, &regs[src as usize], &mut out, len);
            regs[dst as usize] = out;
        }
        Instr::Binary { op, a, b, dst } => {
            let mut out = std::mem::take(&mut regs[dst as usize]);
            let r = binary(op, &regs[a as usize], &regs[b as usize], &mut out, len);
            regs[dst as usize] = out;
            r?;
        }
        Instr::Where { c, a, b, dst } => {
            let mut out = std::mem::take(&mut regs[dst as usize]);
            let Strip::Bool(cv) = &regs[c as usize] else { unreachable!("where condition is bool") };
            macro_rules! sel {
                ($x:expr, $y:expr, $o:expr) => {
                    for i in 0..len {
                        $o[i] = if cv[i] { $x[i] } else { $y[i] };
                    }
                };
            }
            match (&regs[a as usize], &regs[b as usize], &mut out) {
                (Strip::Bool(x), Strip::Bool(y), Strip::Bool(o)) => sel!(x, y, o),
                (Strip::I64(x), Strip::I64(y), Strip::I64(o)) => sel!(x, y, o),
                (Strip::U64(x), Strip::U64(y), Strip::U64(o)) => sel!(x, y, o),
                (Strip::F32(x), Strip::F32(y), Strip::F32(o)) => sel!(x, y, o),
                (Strip::F64(x), Strip::F64(y), Strip::F64(o)) => sel!(x, y, o),
                _ => unreachable!("where of mixed types"),
            }
            regs[dst as usize] = out;
        }
        Instr::Clip { x, lo, hi, dst } => {
            let mut out = std::mem::take(&mut regs[dst as usize]);
            macro_rules! clipf {
                ($x:expr, $l:expr, $h:expr, $o:expr) => {
                    for i in 0..len {
                        $o[i] = fmin(fmax($x[i], $l[i]), $h[i]);
                    }
                };
            }
            macro_rules! clipi {
                ($x:expr, $l:expr, $h:expr, $o:expr) => {
                    for i in 0..len {
                        $o[i] = $x[i].max($l[i]).min($h[i]);
                    }
                };
            }
            match (&regs[x as usize], &regs[lo as usize], &regs[hi as usize], &mut out) {
                (Strip::F64(a), Strip::F64(l), Strip::F64(h), Strip::F64(o)) => clipf!(a, l, h, o),
                (Strip::F32(a), Strip::F32(l), Strip::F32(h), Strip::F32(o)) => clipf!(a, l, h, o),
                (Strip::I64(a), Strip::I64(l), Strip::I64(h), Strip::I64(o)) => clipi!(a, l, h, o),
                (Strip::U64(a), Strip::U64(l), Strip::U64(h), Strip::U64(o)) => clipi!(a, l, h, o),
                (Strip::Bool(a), Strip::Bool(l), Strip::Bool(h), Strip::Bool(o)) => clipi!(a, l, h, o),
                _ => unreachable!("clip of mixed types"),
            }
            regs[dst as usize] = out;
        }
    }
    Ok(())
}

/// NumPy's `maximum`: NaN wins.
#[inline]
fn fmax<T: PartialOrd + Copy + FloatLike>(a: T, b: T) -> T {
    if a.is_nan_() || b.is_nan_() {
        if a.is_nan_() { a } else { b }
    } else if a >= b {
        a
    } else {
        b
    }
}

/// NumPy's `minimum`: NaN wins.
#[inline]
fn fmin<T: PartialOrd + Copy + FloatLike>(a: T, b: T) -> T {
    if a.is_nan_() || b.is_nan_() {
        if a.is_nan_() { a } else { b }
    } else if a <= b {
        a
    } else {
        b
    }
}

trait FloatLike {
    fn is_nan_(self) -> bool;
}
impl FloatLike for f32 {
    fn is_nan_(self) -> bool {
        self.is_nan()
    }
}
impl FloatLike for f64 {
    fn is_nan_(self) -> bool {
        self.is_nan()
    }
}

fn cast(src: &Strip, dst: &mut Strip, len: usize) {
    macro_rules! conv {
        ($s:expr, $d:expr, $f:expr) => {
            $d[..len].iter_mut().zip(&$s[..len]).for_each(|(d, s)| *d = $f(*s))
        };
    }
    match (src, dst) {
        (Strip::Bool(s), Strip::I64(d)) => conv!(s, d, |x: bool| x as i64),
        (Strip::Bool(s), Strip::U64(d)) => conv!(s, d, |x: bool| x as u64),
        (Strip::Bool(s), Strip::F32(d)) => conv!(s, d, |x: bool| x as u8 as f32),
        (Strip::Bool(s), Strip::F64(d)) => conv!(s, d, |x: bool| x as u8 as f64),
        (Strip::I64(s), Strip::Bool(d)) => conv!(s, d, |x: i64| x != 0),
        (Strip::I64(s), Strip::U64(d)) => conv!(s, d, |x: i64| x as u64),
        (Strip::I64(s), Strip::F32(d)) => conv!(s, d, |x: i64| x as f32),
        (Strip::I64(s), Strip::F64(d)) => conv!(s, d, |x: i64| x as f64),
        (Strip::U64(s), Strip::Bool(d)) => conv!(s, d, |x: u64| x != 0),
        (Strip::U64(s), Strip::I64(d)) => conv!(s, d, |x: u64| x as i64),
        (Strip::U64(s), Strip::F32(d)) => conv!(s, d, |x: u64| x as f32),
        (Strip::U64(s), Strip::F64(d)) => conv!(s, d, |x: u64| x as f64),
        (Strip::F32(s), Strip::Bool(d)) => conv!(s, d, |x: f32| x != 0.0),
        (Strip::F32(s), Strip::I64(d)) => conv!(s, d, |x: f32| x as i64),
        (Strip::F32(s), Strip::U64(d)) => conv!(s, d, |x: f32| x as u64),
        (Strip::F32(s), Strip::F64(d)) => conv!(s, d, |x: f32| x as f64),
        (Strip::F64(s), Strip::Bool(d)) => conv!(s, d, |x: f64| x != 0.0),
        (Strip::F64(s), Strip::I64(d)) => conv!(s, d, |x: f64| x as i64),
        (Strip::F64(s), Strip::U64(d)) => conv!(s, d, |x: f64| x as u64),
        (Strip::F64(s), Strip::F32(d)) => conv!(s, d, |x: f64| x as f32),
        (s, d) => unreachable!("cast {s:?} -> {d:?}"),
    }
}

macro_rules! float_unary {
    ($op:expr, $a:expr, $o:expr, $len:expr, $t:ty) => {{
        let f: fn($t) -> $t = match $op {
            UnaryOp::Neg => |x| -x,
            UnaryOp::Abs => |x| x.abs(),
            UnaryOp::Sqrt => |x| x.sqrt(),
            UnaryOp::Square => |x| x * x,
            UnaryOp::Exp => |x| x.exp(),
            UnaryOp::Log => |x| x.ln(),
            UnaryOp::Log10 => |x| x.log10(),
            UnaryOp::Log2 => |x| x.log2(),
            UnaryOp::Sin => |x| x.sin(),
            UnaryOp::Cos => |x| x.cos(),
            UnaryOp::Tan => |x| x.tan(),
            UnaryOp::Arcsin => |x| x.asin(),
            UnaryOp::Arccos => |x| x.acos(),
            UnaryOp::Arctan => |x| x.atan(),
            UnaryOp::Floor => |x| x.floor(),
            UnaryOp::Ceil => |x| x.ceil(),
            UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::IsInf | UnaryOp::Not => unreachable!("handled by the caller"),
        };
        $o[..$len].iter_mut().zip(&$a[..$len]).for_each(|(o, a)| *o = f(*a));
    }};
}

fn unary(op: UnaryOp, src: &Strip, dst: &mut Strip, len: usize) {
    match (src, dst) {
        (Strip::F64(a), Strip::Bool(o)) => {
            let f: fn(f64) -> bool = match op {
                UnaryOp::IsNan => |x| x.is_nan(),
                UnaryOp::IsFinite => |x| x.is_finite(),
                _ => |x| x.is_infinite(),
            };
            o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = f(*a));
        }
        (Strip::F32(a), Strip::Bool(o)) => {
            let f: fn(f32) -> bool = match op {
                UnaryOp::IsNan => |x| x.is_nan(),
                UnaryOp::IsFinite => |x| x.is_finite(),
                _ => |x| x.is_infinite(),
            };
            o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = f(*a));
        }
        (_, Strip::Bool(o)) if matches!(op, UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::IsInf) => {
            // integers and bools are never NaN or infinite
            o[..len].fill(op == UnaryOp::IsFinite);
        }
        (Strip::F64(a), Strip::F64(o)) => float_unary!(op, a, o, len, f64),
        (Strip::F32(a), Strip::F32(o)) => float_unary!(op, a, o, len, f32),
        (Strip::I64(a), Strip::I64(o)) => {
            let f: fn(i64) -> i64 = match op {
                UnaryOp::Neg => |x| x.wrapping_neg(),
                UnaryOp::Abs => |x| x.wrapping_abs(),
                UnaryOp::Square => |x| x.wrapping_mul(x),
                UnaryOp::Not => |x| !x,
                _ => |x| x,
            };
            o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = f(*a));
        }
        (Strip::U64(a), Strip::U64(o)) => {
            let f: fn(u64) -> u64 = match op {
                UnaryOp::Neg => |x| x.wrapping_neg(),
                UnaryOp::Square => |x| x.wrapping_mul(x),
                UnaryOp::Not => |x| !x,
                _ => |x| x,
            };
            o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = f(*a));
        }
        (Strip::Bool(a), Strip::Bool(o)) => {
            let not = op == UnaryOp::Not;
            o[..len].iter_mut().zip(&a[..len]).for_each(|(o, a)| *o = *a != not);
        }
        (s, d) => unreachable!("unary {op:?} {s:?} -> {d:?}"),
    }
}

/// A float cast to integer dtype `to` as NumPy 2 computes it on x86-64, whose conversions
/// compile to `cvttsd2si`: values in the instruction's range truncate toward zero; NaN and
/// values outside it give the "integer indefinite" value, the lowest 32- or 64-bit integer.
/// Types narrower than 32 bits (and uint16) go through the 32-bit form and wrap; uint32 and
/// uint64 as compilers convert to unsigned (values from 2^31 or 2^63 up are offset by it
/// first, then the offset added back). The result's low bits are the value (the caller wraps
/// to the width): `astype(int8)` of 300.0 is 44 and of NaN 0, `astype(int32)` of NaN is
/// -2147483648, `astype(uint32)` of NaN 2147483648, as NumPy 2.4 gives them (checked in the
/// tests). Casts of in-range values are exact either way.
pub(crate) fn float_to_int(x: f64, to: DType) -> i64 {
    const TWO_31: f64 = 2_147_483_648.0;
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let cvt32 = |x: f64| if x > -2_147_483_649.0 && x < TWO_31 { x as i64 } else { i32::MIN as i64 };
    let cvt64 = |x: f64| if (-TWO_63..TWO_63).contains(&x) { x as i64 } else { i64::MIN };
    match to {
        DType::I8 | DType::I16 | DType::I32 | DType::U8 | DType::U16 => cvt32(x),
        DType::U32 if x >= TWO_31 => cvt32(x - TWO_31) + (1 << 31),
        DType::U32 => cvt32(x),
        DType::U64 if x >= TWO_63 => cvt64(x - TWO_63).wrapping_add(i64::MIN),
        _ => cvt64(x),
    }
}

/// NumPy's `divmod` for floats (`npy_divmod`): floor division and a modulo with the divisor's sign.
#[inline]
pub(crate) fn divmod_f64(a: f64, b: f64) -> (f64, f64) {
    if b == 0.0 {
        return (a / b, f64::NAN);
    }
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(b);
    }
    let fd = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(a / b)
    };
    (fd, m)
}

#[inline]
fn floordiv_i64(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let q = a.wrapping_div(b);
    if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) { q - 1 } else { q }
}

#[inline]
fn mod_i64(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let r = a.wrapping_rem(b);
    if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }
}

fn pow_i64(base: i64, exp: i64) -> Result<i64, KernelError> {
    if exp < 0 {
        return Err(KernelError::NegativeIntegerPower);
    }
    Ok(pow_wrapping(base as u64, exp as u64) as i64)
}

/// Integer power by squaring, wrapping on overflow (as NumPy's integer power does).
fn pow_wrapping(mut base: u64, mut exp: u64) -> u64 {
    let mut acc: u64 = 1;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        exp >>= 1;
    }
    acc
}

macro_rules! float_binary {
    ($op:expr, $a:expr, $b:expr, $o:expr, $len:expr, $t:ty) => {{
        let (a, b, o) = (&$a[..$len], &$b[..$len], &mut $o[..$len]);
        match $op {
            BinaryOp::Add => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x + y),
            BinaryOp::Sub => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x - y),
            BinaryOp::Mul => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x * y),
            BinaryOp::Div => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x / y),
            BinaryOp::Pow => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = pow_f(*x, *y)),
            BinaryOp::FloorDiv => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = divmod_f64(*x as f64, *y as f64).0 as $t),
            BinaryOp::Mod => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = divmod_f64(*x as f64, *y as f64).1 as $t),
            BinaryOp::Maximum => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = fmax(*x, *y)),
            BinaryOp::Minimum => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = fmin(*x, *y)),
            BinaryOp::Arctan2 => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x.atan2(*y)),
            other => unreachable!("{other:?} on floats"),
        }
    }};
}

/// `x ** y` with fast paths for the small integer exponents scientists write (`** 2`, `** 3`).
#[inline]
fn pow_f<T: num_like::Float>(x: T, y: T) -> T {
    x.powf_fast(y)
}

mod num_like {
    pub trait Float: Copy {
        fn powf_fast(self, y: Self) -> Self;
    }
    macro_rules! powf_fast {
        ($t:ty) => {
            impl Float for $t {
                #[inline]
                fn powf_fast(self, y: $t) -> $t {
                    if y == 2.0 {
                        self * self
                    } else if y == 3.0 {
                        self * self * self
                    } else if y == 1.0 {
                        self
                    } else if y == 0.5 {
                        self.sqrt()
                    } else {
                        self.powf(y)
                    }
                }
            }
        };
    }
    powf_fast!(f64);
    powf_fast!(f32);
}

macro_rules! compare {
    ($op:expr, $a:expr, $b:expr, $o:expr, $len:expr) => {{
        let (a, b, o) = (&$a[..$len], &$b[..$len], &mut $o[..$len]);
        match $op {
            BinaryOp::Eq => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x == y),
            BinaryOp::Ne => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x != y),
            BinaryOp::Lt => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x < y),
            BinaryOp::Le => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x <= y),
            BinaryOp::Gt => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x > y),
            BinaryOp::Ge => o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (x, y))| *o = x >= y),
            other => unreachable!("{other:?} is not a comparison"),
        }
    }};
}

fn binary(op: BinaryOp, a: &Strip, b: &Strip, dst: &mut Strip, len: usize) -> Result<(), KernelError> {
    if op.is_comparison() {
        let Strip::Bool(o) = dst else { unreachable!("comparisons give bool") };
        match (a, b) {
            (Strip::F64(x), Strip::F64(y)) => compare!(op, x, y, o, len),
            (Strip::F32(x), Strip::F32(y)) => compare!(op, x, y, o, len),
            (Strip::I64(x), Strip::I64(y)) => compare!(op, x, y, o, len),
            (Strip::U64(x), Strip::U64(y)) => compare!(op, x, y, o, len),
            (Strip::Bool(x), Strip::Bool(y)) => compare!(op, x, y, o, len),
            _ => unreachable!("comparison of mixed types"),
        }
        return Ok(());
    }
    match (a, b, dst) {
        (Strip::F64(x), Strip::F64(y), Strip::F64(o)) => float_binary!(op, x, y, o, len, f64),
        (Strip::F32(x), Strip::F32(y), Strip::F32(o)) => float_binary!(op, x, y, o, len, f32),
        (Strip::I64(x), Strip::I64(y), Strip::I64(o)) => {
            let (x, y, o) = (&x[..len], &y[..len], &mut o[..len]);
            if op == BinaryOp::Pow {
                for i in 0..len {
                    o[i] = pow_i64(x[i], y[i])?;
                }
                return Ok(());
            }
            let f: fn(i64, i64) -> i64 = match op {
                BinaryOp::Add => |a, b| a.wrapping_add(b),
                BinaryOp::Sub => |a, b| a.wrapping_sub(b),
                BinaryOp::Mul => |a, b| a.wrapping_mul(b),
                BinaryOp::FloorDiv => floordiv_i64,
                BinaryOp::Mod => mod_i64,
                BinaryOp::And => |a, b| a & b,
                BinaryOp::Or => |a, b| a | b,
                BinaryOp::Xor => |a, b| a ^ b,
                BinaryOp::Maximum => |a, b| a.max(b),
                BinaryOp::Minimum => |a, b| a.min(b),
                other => unreachable!("{other:?} on integers"),
            };
            o.iter_mut().zip(x.iter().zip(y)).for_each(|(o, (a, b))| *o = f(*a, *b));
        }
        (Strip::U64(x), Strip::U64(y), Strip::U64(o)) => {
            let f: fn(u64, u64) -> u64 = match op {
                BinaryOp::Add => |a, b| a.wrapping_add(b),
                BinaryOp::Sub => |a, b| a.wrapping_sub(b),
                BinaryOp::Mul => |a, b| a.wrapping_mul(b),
                BinaryOp::FloorDiv => |a, b| a.checked_div(b).unwrap_or(0),
                BinaryOp::Mod => |a, b| a.checked_rem(b).unwrap_or(0),
                BinaryOp::Pow => pow_wrapping,
                BinaryOp::And => |a, b| a & b,
                BinaryOp::Or => |a, b| a | b,
                BinaryOp::Xor => |a, b| a ^ b,
                BinaryOp::Maximum => |a, b| a.max(b),
                BinaryOp::Minimum => |a, b| a.min(b),
                other => unreachable!("{other:?} on unsigned integers"),
            };
            o[..len].iter_mut().zip(x[..len].iter().zip(&y[..len])).for_each(|(o, (a, b))| *o = f(*a, *b));
        }
        (Strip::Bool(x), Strip::Bool(y), Strip::Bool(o)) => {
            let f: fn(bool, bool) -> bool = match op {
                BinaryOp::Add | BinaryOp::Or | BinaryOp::Maximum => |a, b| a | b,
                BinaryOp::Mul | BinaryOp::And | BinaryOp::Minimum => |a, b| a & b,
                BinaryOp::Xor => |a, b| a ^ b,
                other => unreachable!("{other:?} on bools"),
            };
            o[..len].iter_mut().zip(x[..len].iter().zip(&y[..len])).for_each(|(o, (a, b))| *o = f(*a, *b));
        }
        (x, y, o) => unreachable!("binary {op:?} on {x:?}, {y:?} -> {o:?}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_divmod_matches_python() {
        // Python: divmod(7.5, -2) == (-4.0, -0.5); divmod(-7.5, 2) == (-4.0, 0.5)
        assert_eq!(divmod_f64(7.5, -2.0), (-4.0, -0.5));
        assert_eq!(divmod_f64(-7.5, 2.0), (-4.0, 0.5));
        assert_eq!(divmod_f64(6.0, 3.0), (2.0, 0.0));
        assert!(divmod_f64(1.0, 0.0).1.is_nan());
    }

    #[test]
    fn integer_floordiv_and_mod_match_python() {
        for (a, b) in [(7i64, 2i64), (-7, 2), (7, -2), (-7, -2), (0, 5), (5, 0)] {
            let want_q = if b == 0 { 0 } else { (a as f64 / b as f64).floor() as i64 };
            assert_eq!(floordiv_i64(a, b), want_q, "{a} // {b}");
            let want_r = if b == 0 { 0 } else { a - b * want_q };
            assert_eq!(mod_i64(a, b), want_r, "{a} % {b}");
        }
        assert_eq!(floordiv_i64(i64::MIN, -1), i64::MIN);
    }

    #[test]
    fn nest_merges_contiguous_axes_and_picks_a_long_inner_axis() {
        let n = nest(&[4, 5, 6], &[vec![30, 6, 1], vec![30, 6, 1]]);
        assert_eq!((n.outer.clone(), n.inner), (vec![], 120));
        // (n, n, 3) with the broadcast pattern of the Lennard-Jones kernel
        let n = nest(&[500, 400, 3], &[vec![3, 0, 1], vec![0, 3, 1], vec![400, 1, 0]]);
        assert_eq!(n.inner, 400);
        assert_eq!(n.outer, vec![500, 3]);
    }
}
