//! Element bytes as stored in files: typed buffers from and to little- or big-endian bytes
//! (.npy payloads, HDF5 chunks read without the library, fill values).

use crate::block::Buffer;
use crate::dtype::DType;
use std::borrow::Cow;

/// Decodes `bytes` (a whole number of elements of `dtype`) into a typed buffer.
/// Bool bytes other than 0 read as true, as NumPy's `view(bool)` does in comparisons.
pub fn decode(dtype: DType, bytes: &[u8], big_endian: bool) -> Buffer {
    macro_rules! num {
        ($t:ty, $variant:ident) => {{
            const N: usize = std::mem::size_of::<$t>();
            let v: Vec<$t> = bytes
                .chunks_exact(N)
                .map(|c| {
                    let a: [u8; N] = c.try_into().expect("chunks_exact gives N bytes");
                    if big_endian { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }
                })
                .collect();
            Buffer::$variant(v)
        }};
    }
    match dtype {
        DType::Bool => Buffer::Bool(bytes.iter().map(|&b| b != 0).collect()),
        DType::I8 => num!(i8, I8),
        DType::I16 => num!(i16, I16),
        DType::I32 => num!(i32, I32),
        DType::I64 => num!(i64, I64),
        DType::U8 => Buffer::U8(bytes.to_vec()),
        DType::U16 => num!(u16, U16),
        DType::U32 => num!(u32, U32),
        DType::U64 => num!(u64, U64),
        DType::F32 => num!(f32, F32),
        DType::F64 => num!(f64, F64),
    }
}

/// The buffer's elements as little-endian bytes (borrowed on little-endian machines).
pub fn encode_le(buf: &Buffer) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        return Cow::Borrowed(buf.as_bytes());
    }
    macro_rules! swap {
        ($v:expr) => {
            $v.iter().flat_map(|x| x.to_le_bytes()).collect()
        };
    }
    Cow::Owned(match buf {
        Buffer::Bool(v) => v.iter().map(|&b| b as u8).collect(),
        Buffer::I8(v) => swap!(v),
        Buffer::I16(v) => swap!(v),
        Buffer::I32(v) => swap!(v),
        Buffer::I64(v) => swap!(v),
        Buffer::U8(v) => v.clone(),
        Buffer::U16(v) => swap!(v),
        Buffer::U32(v) => swap!(v),
        Buffer::U64(v) => swap!(v),
        Buffer::F32(v) => swap!(v),
        Buffer::F64(v) => swap!(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_byte_orders_decode() {
        assert_eq!(decode(DType::I16, &[0x01, 0x02], false), Buffer::I16(vec![0x0201]));
        assert_eq!(decode(DType::I16, &[0x01, 0x02], true), Buffer::I16(vec![0x0102]));
        assert_eq!(decode(DType::F32, &1.5f32.to_be_bytes(), true), Buffer::F32(vec![1.5]));
        assert_eq!(decode(DType::Bool, &[0, 1, 7], false), Buffer::Bool(vec![false, true, true]));
        let b = Buffer::F64(vec![1.0, -2.5]);
        assert_eq!(decode(DType::F64, &encode_le(&b), false), b);
    }
}
