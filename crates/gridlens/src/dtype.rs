//! Element types and NumPy's type-promotion rules (`numpy.result_type`, NEP 50).
//!
//! gridlens stores every numeric width NumPy and HDF5 commonly use, but computes
//! in only five *compute types*: bool, i64, u64, f32 and f64. Narrower integers
//! are widened for arithmetic and wrapped back to their own width when stored,
//! which gives NumPy's modular results for `+ - * // %`.

use std::fmt;

/// The element type of an array.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
}

/// The type an operation is evaluated in; every [`DType`] maps to one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ComputeType {
    Bool,
    I64,
    U64,
    F32,
    F64,
}

/// Coarse kind of a dtype, ordered as NumPy orders kinds for promotion.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Bool,
    Unsigned,
    Signed,
    Float,
}

impl DType {
    pub const ALL: [DType; 11] =
        [DType::Bool, DType::I8, DType::I16, DType::I32, DType::I64, DType::U8, DType::U16, DType::U32, DType::U64, DType::F32, DType::F64];

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// NumPy's name for the type (`float64`, `int16`, `bool`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// NumPy's one-letter type code with size (`f8`, `i2`, `u1`, `b1`), as used in `.npy` headers.
    pub fn code(self) -> &'static str {
        match self {
            DType::Bool => "b1",
            DType::I8 => "i1",
            DType::I16 => "i2",
            DType::I32 => "i4",
            DType::I64 => "i8",
            DType::U8 => "u1",
            DType::U16 => "u2",
            DType::U32 => "u4",
            DType::U64 => "u8",
            DType::F32 => "f4",
            DType::F64 => "f8",
        }
    }

    /// Parses a NumPy-style name or code: `float64`, `f8`, `double`, `int16`, `i2`, `uint8`, `bool`.
    pub fn parse(text: &str) -> Option<DType> {
        let t = text.trim().trim_start_matches(['<', '>', '=', '|']);
        Some(match t {
            "bool" | "b1" | "?" => DType::Bool,
            "int8" | "i1" => DType::I8,
            "int16" | "i2" => DType::I16,
            "int32" | "i4" => DType::I32,
            "int64" | "i8" | "int" => DType::I64,
            "uint8" | "u1" => DType::U8,
            "uint16" | "u2" => DType::U16,
            "uint32" | "u4" => DType::U32,
            "uint64" | "u8" => DType::U64,
            "float32" | "f4" | "single" => DType::F32,
            "float64" | "f8" | "double" | "float" => DType::F64,
            _ => return None,
        })
    }

    pub fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => Kind::Unsigned,
            DType::I8 | DType::I16 | DType::I32 | DType::I64 => Kind::Signed,
            DType::F32 | DType::F64 => Kind::Float,
        }
    }

    pub fn is_float(self) -> bool {
        self.kind() == Kind::Float
    }

    pub fn is_integer(self) -> bool {
        matches!(self.kind(), Kind::Signed | Kind::Unsigned)
    }

    /// The type this dtype is computed in.
    pub fn compute(self) -> ComputeType {
        match self.kind() {
            Kind::Bool => ComputeType::Bool,
            Kind::Unsigned => ComputeType::U64,
            Kind::Signed => ComputeType::I64,
            Kind::Float => {
                if self == DType::F32 {
                    ComputeType::F32
                } else {
                    ComputeType::F64
                }
            }
        }
    }

    /// NumPy's `result_type` of two array dtypes.
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        let (ka, kb) = (a.kind(), b.kind());
        match (ka, kb) {
            (Kind::Bool, _) => b,
            (_, Kind::Bool) => a,
            (Kind::Float, Kind::Float) => F64,
            (Kind::Float, _) => float_for_int(a, b),
            (_, Kind::Float) => float_for_int(b, a),
            (Kind::Signed, Kind::Signed) | (Kind::Unsigned, Kind::Unsigned) => {
                if a.size_bytes() >= b.size_bytes() {
                    a
                } else {
                    b
                }
            }
            (Kind::Signed, Kind::Unsigned) => mixed_sign(a, b),
            (Kind::Unsigned, Kind::Signed) => mixed_sign(b, a),
        }
    }

    /// NumPy's (NEP 50) result of an array of this dtype combined with a Python scalar:
    /// scalars are "weak" and only change the kind, never the width within a kind.
    pub fn promote_scalar(self, scalar: &crate::Scalar) -> DType {
        match scalar {
            crate::Scalar::Bool(_) => self,
            crate::Scalar::Int(_) => {
                if self == DType::Bool {
                    DType::I64
                } else {
                    self
                }
            }
            crate::Scalar::Float(_) => {
                if self.is_float() {
                    self
                } else {
                    DType::F64
                }
            }
        }
    }

    /// The values an integer dtype holds, `None` for floats and bool.
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            DType::I8 => (i8::MIN as i128, i8::MAX as i128),
            DType::I16 => (i16::MIN as i128, i16::MAX as i128),
            DType::I32 => (i32::MIN as i128, i32::MAX as i128),
            DType::I64 => (i64::MIN as i128, i64::MAX as i128),
            DType::U8 => (0, u8::MAX as i128),
            DType::U16 => (0, u16::MAX as i128),
            DType::U32 => (0, u32::MAX as i128),
            DType::U64 => (0, u64::MAX as i128),
            _ => return None,
        })
    }

    /// Whether an integer dtype holds `v` (false for floats and bool).
    pub fn holds_int(self, v: i64) -> bool {
        self.int_range().is_some_and(|(lo, hi)| (lo..=hi).contains(&(v as i128)))
    }

    /// The float type a true division or a transcendental function of this dtype gives.
    pub fn to_float(self) -> DType {
        match self {
            DType::F32 => DType::F32,
            DType::Bool | DType::I8 | DType::U8 | DType::I16 | DType::U16 => {
                // NumPy gives float16 here; gridlens has no float16 and uses float32,
                // which holds every value of these types exactly.
                DType::F32
            }
            _ => DType::F64,
        }
    }
}

fn float_for_int(float: DType, int: DType) -> DType {
    // float32 holds int8/int16/uint8/uint16 exactly; wider ints need float64.
    if float == DType::F32 && int.size_bytes() <= 2 { DType::F32 } else { DType::F64 }
}

fn mixed_sign(signed: DType, unsigned: DType) -> DType {
    use DType::*;
    if signed.size_bytes() > unsigned.size_bytes() {
        return signed;
    }
    match unsigned {
        U8 => I16,
        U16 => I32,
        U32 => I64,
        _ => F64,
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ComputeType {
    /// The dtype that stores this compute type without loss.
    pub fn dtype(self) -> DType {
        match self {
            ComputeType::Bool => DType::Bool,
            ComputeType::I64 => DType::I64,
            ComputeType::U64 => DType::U64,
            ComputeType::F32 => DType::F32,
            ComputeType::F64 => DType::F64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scalar;

    #[test]
    fn promotion_matches_numpy_result_type() {
        use DType::*;
        // Values from numpy.result_type(a, b) (NumPy 2.x).
        let cases = [
            (I8, U8, I16),
            (I16, U16, I32),
            (I32, U32, I64),
            (I64, U64, F64),
            (U8, I32, I32),
            (F32, I16, F32),
            (F32, I32, F64),
            (F32, U8, F32),
            (F32, F64, F64),
            (Bool, I8, I8),
            (Bool, F32, F32),
            (U16, U32, U32),
            (I64, F32, F64),
        ];
        for (a, b, want) in cases {
            assert_eq!(DType::promote(a, b), want, "{a} with {b}");
            assert_eq!(DType::promote(b, a), want, "{b} with {a}");
        }
    }

    #[test]
    fn scalars_are_weak() {
        assert_eq!(DType::F32.promote_scalar(&Scalar::Float(2.0)), DType::F32);
        assert_eq!(DType::I16.promote_scalar(&Scalar::Int(3)), DType::I16);
        assert_eq!(DType::I16.promote_scalar(&Scalar::Float(0.5)), DType::F64);
        assert_eq!(DType::Bool.promote_scalar(&Scalar::Int(1)), DType::I64);
    }

    #[test]
    fn parse_names_and_codes() {
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name()), Some(d));
            assert_eq!(DType::parse(d.code()), Some(d));
        }
        assert_eq!(DType::parse("<f8"), Some(DType::F64));
        assert_eq!(DType::parse("complex128"), None);
    }
}
