//! [`Block`]: one C-ordered, typed, in-memory n-d piece of an array.
//!
//! A block is what a task produces and what a sink writes: the unit of data that
//! moves between sources, the executor and the app. It mirrors an `ndarray`
//! `ArrayD` of one of gridlens' [`DType`]s, without the generic parameter.

use crate::dtype::DType;
use ndarray::{ArrayD, IxDyn};
use std::fmt;

/// A Python-like scalar as written in an expression: weakly typed (NEP 50).
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as u8 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// Typed element storage of a [`Block`], C order.
#[derive(Clone, PartialEq)]
pub enum Buffer {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Runs `$body` with `$v` bound to the typed `Vec` inside a [`Buffer`] (or `&`/`&mut` to it).
#[macro_export]
macro_rules! with_buffer {
    ($buf:expr, $v:ident => $body:expr) => {
        match $buf {
            $crate::Buffer::Bool($v) => $body,
            $crate::Buffer::I8($v) => $body,
            $crate::Buffer::I16($v) => $body,
            $crate::Buffer::I32($v) => $body,
            $crate::Buffer::I64($v) => $body,
            $crate::Buffer::U8($v) => $body,
            $crate::Buffer::U16($v) => $body,
            $crate::Buffer::U32($v) => $body,
            $crate::Buffer::U64($v) => $body,
            $crate::Buffer::F32($v) => $body,
            $crate::Buffer::F64($v) => $body,
        }
    };
}

/// Like [`with_buffer!`] but builds a new [`Buffer`] of the same variant from `$body`.
#[macro_export]
macro_rules! map_buffer {
    ($buf:expr, $v:ident => $body:expr) => {
        match $buf {
            $crate::Buffer::Bool($v) => $crate::Buffer::Bool($body),
            $crate::Buffer::I8($v) => $crate::Buffer::I8($body),
            $crate::Buffer::I16($v) => $crate::Buffer::I16($body),
            $crate::Buffer::I32($v) => $crate::Buffer::I32($body),
            $crate::Buffer::I64($v) => $crate::Buffer::I64($body),
            $crate::Buffer::U8($v) => $crate::Buffer::U8($body),
            $crate::Buffer::U16($v) => $crate::Buffer::U16($body),
            $crate::Buffer::U32($v) => $crate::Buffer::U32($body),
            $crate::Buffer::U64($v) => $crate::Buffer::U64($body),
            $crate::Buffer::F32($v) => $crate::Buffer::F32($body),
            $crate::Buffer::F64($v) => $crate::Buffer::F64($body),
        }
    };
}

/// Element types a [`Buffer`] can hold, with lossy `as`-style conversions to and from f64.
pub trait Element: Copy + Send + Sync + PartialEq + fmt::Debug + Default + 'static {
    const DTYPE: DType;
    fn wrap(v: Vec<Self>) -> Buffer;
    fn slice(b: &Buffer) -> Option<&[Self]>;
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]>;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn wrap(v: Vec<Self>) -> Buffer {
                Buffer::$variant(v)
            }
            fn slice(b: &Buffer) -> Option<&[Self]> {
                match b {
                    Buffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]> {
                match b {
                    Buffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}
element!(i8, I8);
element!(i16, I16);
element!(i32, I32);
element!(i64, I64);
element!(u8, U8);
element!(u16, U16);
element!(u32, U32);
element!(u64, U64);
element!(f32, F32);
element!(f64, F64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn wrap(v: Vec<Self>) -> Buffer {
        Buffer::Bool(v)
    }
    fn slice(b: &Buffer) -> Option<&[Self]> {
        match b {
            Buffer::Bool(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]> {
        match b {
            Buffer::Bool(v) => Some(v),
            _ => None,
        }
    }
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
}

impl Buffer {
    /// A buffer of `len` zeros (false for bool).
    pub fn zeros(dtype: DType, len: usize) -> Buffer {
        match dtype {
            DType::Bool => Buffer::Bool(vec![false; len]),
            DType::I8 => Buffer::I8(vec![0; len]),
            DType::I16 => Buffer::I16(vec![0; len]),
            DType::I32 => Buffer::I32(vec![0; len]),
            DType::I64 => Buffer::I64(vec![0; len]),
            DType::U8 => Buffer::U8(vec![0; len]),
            DType::U16 => Buffer::U16(vec![0; len]),
            DType::U32 => Buffer::U32(vec![0; len]),
            DType::U64 => Buffer::U64(vec![0; len]),
            DType::F32 => Buffer::F32(vec![0.0; len]),
            DType::F64 => Buffer::F64(vec![0.0; len]),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Buffer::Bool(_) => DType::Bool,
            Buffer::I8(_) => DType::I8,
            Buffer::I16(_) => DType::I16,
            Buffer::I32(_) => DType::I32,
            Buffer::I64(_) => DType::I64,
            Buffer::U8(_) => DType::U8,
            Buffer::U16(_) => DType::U16,
            Buffer::U32(_) => DType::U32,
            Buffer::U64(_) => DType::U64,
            Buffer::F32(_) => DType::F32,
            Buffer::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        with_buffer!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` converted to f64 (for display and statistics, not for arithmetic).
    pub fn get_f64(&self, i: usize) -> f64 {
        with_buffer!(self, v => v[i].to_f64())
    }

    /// The elements' bytes in native byte order.
    pub fn as_bytes(&self) -> &[u8] {
        fn bytes<T>(v: &[T]) -> &[u8] {
            // SAFETY: every element type here is plain old data without padding
            // (bool is one byte holding 0 or 1), so its bytes may be viewed as u8.
            unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
        }
        with_buffer!(self, v => bytes(v))
    }

    /// Converts every element to `to` with NumPy's `astype` semantics
    /// (float to int truncates toward zero; int to narrower int wraps).
    pub fn cast(&self, to: DType) -> Buffer {
        if self.dtype() == to {
            return self.clone();
        }
        fn conv<S: Copy, D>(v: &[S], f: impl Fn(S) -> D) -> Vec<D> {
            v.iter().map(|&x| f(x)).collect()
        }
        macro_rules! to_num {
            ($t:ty) => {
                match self {
                    Buffer::Bool(v) => conv(v, |x| x as u8 as $t),
                    Buffer::I8(v) => conv(v, |x| x as $t),
                    Buffer::I16(v) => conv(v, |x| x as $t),
                    Buffer::I32(v) => conv(v, |x| x as $t),
                    Buffer::I64(v) => conv(v, |x| x as $t),
                    Buffer::U8(v) => conv(v, |x| x as $t),
                    Buffer::U16(v) => conv(v, |x| x as $t),
                    Buffer::U32(v) => conv(v, |x| x as $t),
                    Buffer::U64(v) => conv(v, |x| x as $t),
                    Buffer::F32(v) => conv(v, |x| x as $t),
                    Buffer::F64(v) => conv(v, |x| x as $t),
                }
            };
        }
        match to {
            DType::Bool => Buffer::Bool(with_buffer!(self, v => conv(v, |x| x.to_f64() != 0.0))),
            DType::I8 => Buffer::I8(to_num!(i8)),
            DType::I16 => Buffer::I16(to_num!(i16)),
            DType::I32 => Buffer::I32(to_num!(i32)),
            DType::I64 => Buffer::I64(to_num!(i64)),
            DType::U8 => Buffer::U8(to_num!(u8)),
            DType::U16 => Buffer::U16(to_num!(u16)),
            DType::U32 => Buffer::U32(to_num!(u32)),
            DType::U64 => Buffer::U64(to_num!(u64)),
            DType::F32 => Buffer::F32(to_num!(f32)),
            DType::F64 => Buffer::F64(to_num!(f64)),
        }
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.len();
        write!(f, "{}[{n}]", self.dtype())?;
        if n <= 16 {
            with_buffer!(self, v => write!(f, "{v:?}"))?;
        }
        Ok(())
    }
}

/// A typed n-d array in memory, C order: the data of one chunk, tile or partial result.
#[derive(Clone, PartialEq, Debug)]
pub struct Block {
    shape: Vec<usize>,
    data: Buffer,
}

impl Block {
    /// Wraps `data` as an array of `shape`.
    ///
    /// # Panics
    /// If the number of elements does not match the shape (a bug in the caller).
    pub fn new(shape: Vec<usize>, data: Buffer) -> Block {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "block shape {shape:?} does not match {} elements", data.len());
        Block { shape, data }
    }

    pub fn zeros(dtype: DType, shape: &[usize]) -> Block {
        Block::new(shape.to_vec(), Buffer::zeros(dtype, shape.iter().product()))
    }

    /// A 0-d block holding one value.
    pub fn scalar<T: Element>(value: T) -> Block {
        Block::new(vec![], T::wrap(vec![value]))
    }

    pub fn from_vec<T: Element>(shape: &[usize], data: Vec<T>) -> Block {
        Block::new(shape.to_vec(), T::wrap(data))
    }

    pub fn from_ndarray<T: Element>(array: ArrayD<T>) -> Block {
        let shape = array.shape().to_vec();
        let data = if array.is_standard_layout() { array.into_raw_vec_and_offset().0 } else { array.iter().copied().collect() };
        Block::new(shape, T::wrap(data))
    }

    /// This block as an `ndarray` of `T`, or `None` when the dtype differs.
    pub fn to_ndarray<T: Element>(&self) -> Option<ArrayD<T>> {
        let s = T::slice(&self.data)?;
        Some(ArrayD::from_shape_vec(IxDyn(&self.shape), s.to_vec()).expect("shape checked in Block::new"))
    }

    /// This block converted to f64 as an `ndarray` (for tests, statistics and display).
    pub fn to_f64_ndarray(&self) -> ArrayD<f64> {
        let v = with_buffer!(&self.data, v => v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>());
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).expect("shape checked in Block::new")
    }

    /// The elements as f32 in C order, the precision images are drawn from (PNG output, the
    /// app's tiles).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        with_buffer!(&self.data, v => v.iter().map(|x| x.to_f64() as f32).collect())
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn data(&self) -> &Buffer {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut Buffer {
        &mut self.data
    }

    pub fn into_data(self) -> Buffer {
        self.data
    }

    pub fn size_bytes(&self) -> usize {
        self.len() * self.dtype().size_bytes()
    }

    /// The same elements under another shape with the same element count.
    pub fn reshape(self, shape: Vec<usize>) -> Block {
        Block::new(shape, self.data)
    }

    pub fn cast(&self, to: DType) -> Block {
        Block::new(self.shape.clone(), self.data.cast(to))
    }

    /// Element strides (in elements) of the C-ordered layout.
    pub fn strides(&self) -> Vec<usize> {
        c_strides(&self.shape)
    }

    /// Copies the sub-box `start .. start + shape` out of this block.
    pub fn subblock(&self, start: &[usize], shape: &[usize]) -> Block {
        assert_eq!(start.len(), self.ndim());
        if start.iter().all(|&s| s == 0) && shape == self.shape.as_slice() {
            return self.clone();
        }
        let strides = self.strides();
        let n: usize = shape.iter().product();
        let data = with_buffer!(&self.data, v => {
            let mut out = Vec::with_capacity(n);
            for_each_row(shape, |outer| {
                let mut off = 0;
                for (d, &i) in outer.iter().enumerate() {
                    off += (start[d] + i) * strides[d];
                }
                let nd = shape.len();
                let row = if nd == 0 { 1 } else { shape[nd - 1] };
                let last = if nd == 0 { 0 } else { start[nd - 1] };
                out.extend_from_slice(&v[off + last..off + last + row]);
            });
            T_wrap(out)
        });
        Block::new(shape.to_vec(), data)
    }

    /// Copies `src` into the sub-box of this block that starts at `start`.
    pub fn paste(&mut self, start: &[usize], src: &Block) {
        assert_eq!(self.dtype(), src.dtype(), "paste needs equal dtypes");
        let strides = self.strides();
        let shape = src.shape().to_vec();
        let nd = shape.len();
        let row = if nd == 0 { 1 } else { shape[nd - 1] };
        let mut src_off = 0;
        macro_rules! go {
            ($dst:expr, $s:expr) => {{
                for_each_row(&shape, |outer| {
                    let mut off = 0;
                    for (d, &i) in outer.iter().enumerate() {
                        off += (start[d] + i) * strides[d];
                    }
                    let last = if nd == 0 { 0 } else { start[nd - 1] };
                    $dst[off + last..off + last + row].copy_from_slice(&$s[src_off..src_off + row]);
                    src_off += row;
                });
            }};
        }
        match (&mut self.data, src.data()) {
            (Buffer::Bool(d), Buffer::Bool(s)) => go!(d, s),
            (Buffer::I8(d), Buffer::I8(s)) => go!(d, s),
            (Buffer::I16(d), Buffer::I16(s)) => go!(d, s),
            (Buffer::I32(d), Buffer::I32(s)) => go!(d, s),
            (Buffer::I64(d), Buffer::I64(s)) => go!(d, s),
            (Buffer::U8(d), Buffer::U8(s)) => go!(d, s),
            (Buffer::U16(d), Buffer::U16(s)) => go!(d, s),
            (Buffer::U32(d), Buffer::U32(s)) => go!(d, s),
            (Buffer::U64(d), Buffer::U64(s)) => go!(d, s),
            (Buffer::F32(d), Buffer::F32(s)) => go!(d, s),
            (Buffer::F64(d), Buffer::F64(s)) => go!(d, s),
            _ => unreachable!("dtypes checked above"),
        }
    }
}

// Helper so `with_buffer!` bodies can rebuild a buffer of the element type they saw.
#[allow(non_snake_case)]
fn T_wrap<T: Element>(v: Vec<T>) -> Buffer {
    T::wrap(v)
}

/// C-order element strides of `shape`.
pub fn c_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

/// Calls `f` with the index of every row (all axes but the last) of `shape`, in C order.
/// A 0-d shape has one row; a shape with a zero-length axis has none.
pub fn for_each_row(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let outer = shape.len().saturating_sub(1);
    let mut idx = vec![0usize; outer];
    loop {
        f(&idx);
        let mut d = outer;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, s};

    #[test]
    fn subblock_and_paste_round_trip() {
        let a = Array::from_shape_fn(IxDyn(&[4, 5, 6]), |i| (i[0] * 100 + i[1] * 10 + i[2]) as i32);
        let b = Block::from_ndarray(a.clone());
        let sub = b.subblock(&[1, 2, 3], &[2, 3, 2]);
        let want = a.slice(s![1..3, 2..5, 3..5]).to_owned().into_dyn();
        assert_eq!(sub.to_ndarray::<i32>().unwrap(), want);
        let mut z = Block::zeros(DType::I32, &[4, 5, 6]);
        z.paste(&[1, 2, 3], &sub);
        assert_eq!(z.subblock(&[1, 2, 3], &[2, 3, 2]), sub);
        assert_eq!(z.to_ndarray::<i32>().unwrap()[[0, 0, 0]], 0);
    }

    #[test]
    fn cast_follows_numpy_astype() {
        let b = Buffer::F64(vec![-1.7, 2.9, 300.0]);
        assert_eq!(b.cast(DType::I32), Buffer::I32(vec![-1, 2, 300]));
        assert_eq!(Buffer::I32(vec![300, -1]).cast(DType::U8), Buffer::U8(vec![44, 255]));
        assert_eq!(Buffer::F64(vec![0.0, 0.5]).cast(DType::Bool), Buffer::Bool(vec![false, true]));
    }

    #[test]
    fn rows_of_zero_d_and_empty_shapes() {
        let mut n = 0;
        for_each_row(&[], |_| n += 1);
        assert_eq!(n, 1);
        n = 0;
        for_each_row(&[3, 0, 2], |_| n += 1);
        assert_eq!(n, 0);
        n = 0;
        for_each_row(&[3, 4, 2], |_| n += 1);
        assert_eq!(n, 12);
    }
}
