//! CF-conventions decoding of stored values, as xarray's `decode_cf` does it: signed storage
//! flagged `_Unsigned = "true"` read as unsigned (with its fill values), masking (`_FillValue`,
//! `missing_value`, plus `valid_min`/`valid_max`/`valid_range` as netCDF4-python does) to NaN,
//! then unpacking (`value * scale_factor + add_offset`).
//!
//! The decoded dtype follows xarray's `_choose_float_dtype`: packed data takes the type of
//! `scale_factor`/`add_offset` when both are the same float type (but int32 data → float64),
//! any other `add_offset` gives float64; masked integers become float32 up to two bytes
//! and float64 beyond. Everything here is pure arithmetic on blocks.

use crate::block::{Block, Buffer, Element};
use crate::dtype::DType;
use crate::source::AttrValue;
use crate::with_buffer;

/// One attribute as CF decoding sees it: its value and, for numbers, the type it is stored
/// in (a float32 `scale_factor` decodes to float32, as in xarray).
#[derive(Clone, Debug, PartialEq)]
pub struct CfAttr {
    pub name: String,
    pub value: AttrValue,
    pub dtype: Option<DType>,
}

impl CfAttr {
    /// A JSON attribute (Zarr): numbers are float64 or int64, as JSON holds them.
    pub fn of_json(name: &str, value: AttrValue) -> CfAttr {
        let dtype = match value {
            AttrValue::Float(_) => Some(DType::F64),
            AttrValue::Int(_) => Some(DType::I64),
            _ => None,
        };
        CfAttr { name: name.to_string(), value, dtype }
    }
}

/// How to decode one variable's stored values.
#[derive(Clone, Debug, PartialEq)]
pub struct CfDecoding {
    /// The decoded dtype: float32 or float64, or the unsigned integer type of `_Unsigned`
    /// data that is neither packed nor masked.
    pub dtype: DType,
    /// Bits of a signed storage type read as unsigned (`_Unsigned`), else 0.
    unsigned_bits: u32,
    scale: Option<f64>,
    offset: Option<f64>,
    /// Stored values that mean "missing" (`_FillValue` and every `missing_value`).
    fills: Vec<f64>,
    valid_min: Option<f64>,
    valid_max: Option<f64>,
    /// The attributes this decoding applies (hidden from the decoded source's metadata).
    pub applied: Vec<&'static str>,
}

/// The attributes that CF decoding consumes.
pub(crate) const CF_ATTRS: [&str; 8] =
    ["scale_factor", "add_offset", "_FillValue", "missing_value", "valid_min", "valid_max", "valid_range", "_Unsigned"];

/// xarray's `_choose_float_dtype`: the float type packed or masked data decodes to.
pub fn choose_float_dtype(raw: DType, scale: Option<DType>, offset: Option<DType>) -> DType {
    if scale.is_some() || offset.is_some() {
        if let (Some(s), Some(o)) = (scale, offset)
            && s == o
            && s.is_float()
        {
            // int32 holds more digits than float32: unpack in float64.
            if raw.size_bytes() == 4 && raw.is_integer() {
                return DType::F64;
            }
            return s;
        }
        if offset.is_some() {
            // A large offset in float32 would lose precision: better float64 than wrong.
            return DType::F64;
        }
        return match scale {
            Some(DType::F32) => DType::F32,
            _ => DType::F64,
        };
    }
    if raw.is_float() {
        return if raw.size_bytes() <= 4 { DType::F32 } else { DType::F64 };
    }
    if raw.size_bytes() <= 2 && raw.is_integer() { DType::F32 } else { DType::F64 }
}

/// `y * scale + offset` in the data's own float type, each step only when its attribute is
/// there (as NumPy computes it for float data and attributes of that type).
#[inline]
fn unpack<T: Copy + std::ops::Mul<Output = T> + std::ops::Add<Output = T>>(mut y: T, scale: Option<T>, offset: Option<T>) -> T {
    if let Some(s) = scale {
        y = y * s;
    }
    if let Some(o) = offset {
        y = y + o;
    }
    y
}

/// A signed stored value read as the unsigned number of the same `bits` (0: unchanged).
fn to_unsigned(x: f64, bits: u32) -> f64 {
    if bits > 0 && x < 0.0 { x + 2f64.powi(bits as i32) } else { x }
}

impl CfDecoding {
    /// The decoding a variable's attributes ask for, or `None` when they ask for none (or the
    /// data is boolean).
    pub fn from_attrs(raw: DType, attrs: &[CfAttr]) -> Option<CfDecoding> {
        if raw == DType::Bool {
            return None;
        }
        // `_Unsigned = "true"` on signed storage: the bytes are unsigned numbers (netCDF-3
        // has no unsigned types), and so are its fill values and valid range
        let unsigned = raw.kind() == crate::dtype::Kind::Signed
            && attrs.iter().any(|a| a.name == "_Unsigned" && a.value.text().is_some_and(|t| t.trim().eq_ignore_ascii_case("true")));
        let unsigned_bits = if unsigned { raw.size_bytes() as u32 * 8 } else { 0 };
        let raw = if unsigned {
            match raw {
                DType::I8 => DType::U8,
                DType::I16 => DType::U16,
                DType::I32 => DType::U32,
                _ => DType::U64,
            }
        } else {
            raw
        };
        let as_stored = |x: f64| to_unsigned(x, unsigned_bits);
        let find = |name: &str| {
            attrs
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| a.value.numbers().map(|v| (v.into_iter().map(as_stored).collect::<Vec<_>>(), a.dtype)))
        };
        let first = |name: &str| find(name).and_then(|(v, t)| v.first().map(|&x| (x, t)));
        let scale = first("scale_factor");
        let offset = first("add_offset");
        let mut fills = Vec::new();
        if let Some((v, _)) = first("_FillValue") {
            fills.push(v);
        }
        if let Some((v, _)) = find("missing_value") {
            fills.extend(v);
        }
        let (mut valid_min, mut valid_max) = match find("valid_range") {
            Some((v, _)) if v.len() >= 2 => (Some(v[0]), Some(v[1])),
            _ => (None, None),
        };
        if let Some((v, _)) = first("valid_min") {
            valid_min = Some(v);
        }
        if let Some((v, _)) = first("valid_max") {
            valid_max = Some(v);
        }
        let packed = scale.is_some() || offset.is_some();
        let masked = !fills.is_empty() || valid_min.is_some() || valid_max.is_some();
        let dtype = if packed {
            choose_float_dtype(raw, scale.and_then(|s| s.1), offset.and_then(|o| o.1))
        } else if masked {
            // xarray's maybe_promote: floats keep their type, integers become floats.
            if raw.is_float() { raw } else { choose_float_dtype(raw, None, None) }
        } else if unsigned {
            raw
        } else {
            return None;
        };
        let applied = CF_ATTRS.iter().copied().filter(|n| attrs.iter().any(|a| a.name == *n)).collect();
        Some(CfDecoding {
            dtype,
            unsigned_bits,
            scale: scale.map(|s| s.0),
            offset: offset.map(|o| o.0),
            fills,
            valid_min,
            valid_max,
            applied,
        })
    }

    fn is_missing(&self, x: f64) -> bool {
        self.fills.contains(&x) || self.valid_min.is_some_and(|lo| x < lo) || self.valid_max.is_some_and(|hi| x > hi)
    }

    /// Decodes a block of stored values it may consume: float data that keeps its type
    /// (masked float32, float64 packed in float64) is decoded in place, without a second
    /// block; anything else as [`CfDecoding::apply`]. The values are the same either way.
    pub fn apply_owned(&self, mut raw: Block) -> Block {
        if self.decodes_in_place(raw.dtype()) {
            match raw.data_mut() {
                Buffer::F32(v) => {
                    let (scale, offset) = (self.scale.map(|s| s as f32), self.offset.map(|o| o as f32));
                    self.decode_floats(v, |y| unpack(y, scale, offset));
                    return raw;
                }
                Buffer::F64(v) => {
                    let (scale, offset) = (self.scale, self.offset);
                    self.decode_floats(v, |y| unpack(y, scale, offset));
                    return raw;
                }
                _ => {}
            }
        }
        self.apply(&raw)
    }

    /// Whether stored values of `raw` decode to the same dtype, so that the decoding can be
    /// done in place ([`CfDecoding::decode_bytes_in_place`]).
    pub fn decodes_in_place(&self, raw: DType) -> bool {
        self.unsigned_bits == 0 && raw == self.dtype && raw.is_float()
    }

    /// Decodes native-order float32 or float64 values held as bytes (aligned to the type, as
    /// a block's memory is) in place; what [`CfDecoding::apply_owned`] does, a piece at a time.
    pub fn decode_bytes_in_place(&self, dtype: DType, bytes: &mut [u8]) {
        debug_assert!(self.decodes_in_place(dtype));
        fn typed<T: Element>(bytes: &mut [u8]) -> &mut [T] {
            // SAFETY: every bit pattern is a valid float; the caller's bytes are a block's
            // memory, aligned to its element type (a misaligned piece would land in `head`).
            let (head, body, _) = unsafe { bytes.align_to_mut::<T>() };
            assert!(head.is_empty(), "float bytes aligned to their type");
            body
        }
        match dtype {
            DType::F32 => {
                let (scale, offset) = (self.scale.map(|s| s as f32), self.offset.map(|o| o as f32));
                self.decode_floats(typed::<f32>(bytes), |y| unpack(y, scale, offset));
            }
            DType::F64 => {
                let (scale, offset) = (self.scale, self.offset);
                self.decode_floats(typed::<f64>(bytes), |y| unpack(y, scale, offset));
            }
            _ => {}
        }
    }

    /// Masks and unpacks float values in place. The common case, one fill value and no
    /// valid range (every NetCDF variable with a `_FillValue`), is a loop of its own that
    /// the compiler vectorises; the test is the same as [`CfDecoding::is_missing`]'s.
    fn decode_floats<T: Element>(&self, v: &mut [T], unpack: impl Fn(T) -> T) {
        let nan = T::from_f64(f64::NAN);
        match (self.fills.as_slice(), self.valid_min, self.valid_max) {
            // a fill that the data's type holds exactly compares the same in that type (and a
            // float32 compare vectorises twice as wide); NaN fills never compare equal anyway
            ([fill], None, None) if T::from_f64(*fill).to_f64() == *fill => {
                let fill = T::from_f64(*fill);
                for x in v.iter_mut() {
                    *x = if *x == fill { nan } else { unpack(*x) };
                }
            }
            ([fill], None, None) => {
                let fill = *fill;
                for x in v.iter_mut() {
                    *x = if x.to_f64() == fill { nan } else { unpack(*x) };
                }
            }
            _ => {
                for x in v.iter_mut() {
                    *x = if self.is_missing(x.to_f64()) { nan } else { unpack(*x) };
                }
            }
        }
    }

    /// Decodes a block of stored values into a block of [`CfDecoding::dtype`].
    pub fn apply(&self, raw: &Block) -> Block {
        let data = match self.dtype {
            DType::F32 => {
                // float32 arithmetic, as NumPy does it for float32 data and float32 attributes
                let (scale, offset) = (self.scale.map(|s| s as f32), self.offset.map(|o| o as f32));
                Buffer::F32(with_buffer!(raw.data(), v => v.iter().map(|&x| {
                    let x = to_unsigned(x.to_f64(), self.unsigned_bits);
                    if self.is_missing(x) {
                        return f32::NAN;
                    }
                    let mut y = x as f32;
                    if let Some(s) = scale { y *= s; }
                    if let Some(o) = offset { y += o; }
                    y
                }).collect()))
            }
            // `_Unsigned` data neither packed nor masked: the same bits, read as unsigned
            t if t.is_integer() => match raw.data() {
                Buffer::I8(v) => Buffer::U8(v.iter().map(|&x| x as u8).collect()),
                Buffer::I16(v) => Buffer::U16(v.iter().map(|&x| x as u16).collect()),
                Buffer::I32(v) => Buffer::U32(v.iter().map(|&x| x as u32).collect()),
                Buffer::I64(v) => Buffer::U64(v.iter().map(|&x| x as u64).collect()),
                other => other.cast(t),
            },
            _ => Buffer::F64(with_buffer!(raw.data(), v => v.iter().map(|&x| {
                let x = to_unsigned(x.to_f64(), self.unsigned_bits);
                if self.is_missing(x) {
                    return f64::NAN;
                }
                let mut y = x;
                if let Some(s) = self.scale { y *= s; }
                if let Some(o) = self.offset { y += o; }
                y
            }).collect())),
        };
        Block::new(raw.shape().to_vec(), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, v: f64, t: DType) -> CfAttr {
        let value = if t.is_float() { AttrValue::Float(vec![v]) } else { AttrValue::Int(vec![v as i64]) };
        CfAttr { name: name.into(), value, dtype: Some(t) }
    }

    #[test]
    fn dtypes_follow_xarray() {
        use DType::*;
        assert_eq!(choose_float_dtype(I16, Some(F32), Some(F32)), F32);
        assert_eq!(choose_float_dtype(I16, Some(F64), Some(F64)), F64);
        assert_eq!(choose_float_dtype(I32, Some(F32), Some(F32)), F64);
        assert_eq!(choose_float_dtype(I16, Some(F32), Some(F64)), F64);
        assert_eq!(choose_float_dtype(I16, Some(F32), None), F32);
        assert_eq!(choose_float_dtype(U8, None, Some(F32)), F64);
        assert_eq!(choose_float_dtype(I8, None, None), F32);
        assert_eq!(choose_float_dtype(I32, None, None), F64);
        assert_eq!(choose_float_dtype(F32, None, None), F32);
    }

    #[test]
    fn masks_then_unpacks() {
        let attrs = vec![attr("scale_factor", 0.5, DType::F32), attr("add_offset", 10.0, DType::F32), attr("_FillValue", -1.0, DType::I16)];
        let cf = CfDecoding::from_attrs(DType::I16, &attrs).unwrap();
        assert_eq!(cf.dtype, DType::F32);
        let out = cf.apply(&Block::from_vec(&[3], vec![-1i16, 0, 4]));
        let v = out.to_ndarray::<f32>().unwrap();
        assert!(v[0].is_nan());
        assert_eq!((v[1], v[2]), (10.0, 12.0));
        assert_eq!(cf.applied, vec!["scale_factor", "add_offset", "_FillValue"]);
    }

    #[test]
    fn integers_with_only_a_fill_become_floats_and_unmarked_data_is_left_alone() {
        let cf = CfDecoding::from_attrs(DType::I32, &[attr("_FillValue", -999.0, DType::I32)]).unwrap();
        assert_eq!(cf.dtype, DType::F64);
        assert!(CfDecoding::from_attrs(DType::F64, &[]).is_none());
        let mut r = attr("valid_range", 0.0, DType::F32);
        r.value = AttrValue::Float(vec![-2.0, 35.0]);
        let cf = CfDecoding::from_attrs(DType::F32, &[r]).unwrap();
        let out = cf.apply(&Block::from_vec(&[3], vec![-3.0f32, 1.0, 36.0])).to_ndarray::<f32>().unwrap();
        assert!(out[0].is_nan() && out[2].is_nan() && out[1] == 1.0);
    }

    #[test]
    fn unsigned_flag_reads_signed_storage_as_unsigned() {
        let mut flag = attr("_Unsigned", 0.0, DType::I8);
        flag.value = AttrValue::Text("true".into());
        let data = Block::from_vec(&[3], vec![-1i8, -2, 5]);
        // with a fill value (stored as -1, meaning 255): masked, float32
        let cf = CfDecoding::from_attrs(DType::I8, &[flag.clone(), attr("_FillValue", -1.0, DType::I8)]).unwrap();
        let v = cf.apply(&data).to_ndarray::<f32>().unwrap();
        assert!(v[0].is_nan());
        assert_eq!((v[1], v[2]), (254.0, 5.0));
        assert!(cf.applied.contains(&"_Unsigned"));
        // alone: the same bits as uint8
        let cf = CfDecoding::from_attrs(DType::I8, std::slice::from_ref(&flag)).unwrap();
        assert_eq!(cf.dtype, DType::U8);
        assert_eq!(cf.apply(&data).data(), &Buffer::U8(vec![255, 254, 5]));
        // on unsigned storage, or "false", it changes nothing
        assert!(CfDecoding::from_attrs(DType::U8, std::slice::from_ref(&flag)).is_none());
        flag.value = AttrValue::Text("false".into());
        assert!(CfDecoding::from_attrs(DType::I8, &[flag]).is_none());
    }
}
