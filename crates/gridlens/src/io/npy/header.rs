//! The `.npy` header: magic, version, and the Python dict literal that describes the array
//! (NumPy's `numpy.lib.format`, `read_array_header_*` / `write_array_header_1_0`).

use crate::dtype::DType;

/// The six magic bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The header's alignment: NumPy pads the header so the data starts on a multiple of 64.
pub const ALIGN: usize = 64;

/// What a `.npy` header says about the array that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The element type (`descr` without its byte order).
    pub dtype: DType,
    /// Whether elements are stored big-endian (`>` in the descr).
    pub big_endian: bool,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The array's shape (`()` for a 0-d array).
    pub shape: Vec<usize>,
    /// Byte offset of the first element: the header's total length.
    pub data_offset: u64,
}

impl NpyHeader {
    /// Bytes of element data that follow the header.
    pub fn data_bytes(&self) -> u64 {
        self.shape.iter().map(|&n| n as u64).product::<u64>() * self.dtype.size_bytes() as u64
    }
}

/// Why a header cannot be read, phrased for a message after the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The magic bytes are missing.
    #[error("not a .npy file (it does not start with \\x93NUMPY)")]
    NotNpy,
    /// A format version other than 1.0, 2.0 and 3.0.
    #[error("unsupported .npy format version {major}.{minor} (gridlens reads 1.0, 2.0 and 3.0)")]
    Version {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The file ends before its header does.
    #[error("the file ends inside its header ({have} of {need} header bytes present)")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes the header needs.
        need: usize,
    },
    /// The header dict cannot be parsed or lacks a key.
    #[error("malformed header {text:?}: {why}")]
    Malformed {
        /// The header text.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// An element type gridlens does not read (complex, strings, structured, float16).
    #[error("unsupported dtype {descr}: gridlens reads bool, int8–int64, uint8–uint64, float32 and float64")]
    Dtype {
        /// The `descr` as written in the header.
        descr: String,
    },
}

/// Length of the fixed preamble before the dict for a format version: magic, version, length.
fn preamble_len(major: u8) -> usize {
    if major == 1 { 10 } else { 12 }
}

/// How many bytes must be read to parse the header, given at least its first 12 bytes.
///
/// # Errors
/// When the magic or the version is wrong, or fewer than the preamble's bytes are given.
pub fn header_len(start: &[u8]) -> Result<usize, HeaderError> {
    if start.len() < 8 || &start[..6] != MAGIC {
        return Err(if start.len() < 8 && MAGIC.starts_with(start) {
            HeaderError::Truncated { have: start.len(), need: 10 }
        } else {
            HeaderError::NotNpy
        });
    }
    let (major, minor) = (start[6], start[7]);
    if !(1..=3).contains(&major) || minor != 0 {
        return Err(HeaderError::Version { major, minor });
    }
    let pre = preamble_len(major);
    if start.len() < pre {
        return Err(HeaderError::Truncated { have: start.len(), need: pre });
    }
    let dict_len = if major == 1 {
        u16::from_le_bytes([start[8], start[9]]) as usize
    } else {
        u32::from_le_bytes([start[8], start[9], start[10], start[11]]) as usize
    };
    Ok(pre + dict_len)
}

/// Parses a whole header (as many bytes as [`header_len`] says).
///
/// # Errors
/// A [`HeaderError`] saying what is wrong with it.
pub fn parse(bytes: &[u8]) -> Result<NpyHeader, HeaderError> {
    let total = header_len(bytes)?;
    if bytes.len() < total {
        return Err(HeaderError::Truncated { have: bytes.len(), need: total });
    }
    let dict = &bytes[preamble_len(bytes[6])..total];
    // Versions 1 and 2 are latin-1, version 3 is UTF-8; the keys and values we need are ASCII.
    let text: String = dict.iter().map(|&b| b as char).collect();
    let malformed = |why: &str| HeaderError::Malformed { text: text.trim_end().to_string(), why: why.to_string() };
    let value = Parser { s: text.as_bytes(), i: 0 }.parse_all().map_err(|e| malformed(&e))?;
    let Literal::Dict(items) = value else {
        return Err(malformed("the header is not a dict"));
    };
    let get = |k: &str| items.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let descr = match get("descr") {
        Some(Literal::Str(s)) => s.clone(),
        Some(other) => {
            return Err(HeaderError::Dtype { descr: other.to_string() });
        }
        None => return Err(malformed("no 'descr' key")),
    };
    let fortran_order = match get("fortran_order") {
        Some(Literal::Bool(b)) => *b,
        _ => return Err(malformed("no True/False 'fortran_order' key")),
    };
    let shape = match get("shape") {
        Some(Literal::Tuple(items)) => items
            .iter()
            .map(|v| match v {
                Literal::Int(n) if *n >= 0 => Ok(*n as usize),
                _ => Err(malformed("the shape holds something other than non-negative integers")),
            })
            .collect::<Result<Vec<usize>, _>>()?,
        _ => return Err(malformed("no tuple 'shape' key")),
    };
    let (dtype, big_endian) = parse_descr(&descr)?;
    Ok(NpyHeader { dtype, big_endian, fortran_order, shape, data_offset: total as u64 })
}

/// Maps a NumPy type string (`<f8`, `>i2`, `|b1`) to a dtype and its byte order.
fn parse_descr(descr: &str) -> Result<(DType, bool), HeaderError> {
    let bad = || HeaderError::Dtype { descr: format!("'{descr}'") };
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let dtype = match code {
        "b1" | "?" => DType::Bool,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => return Err(bad()),
    };
    let big_endian = match order {
        '>' => true,
        '<' => false,
        _ => cfg!(target_endian = "big"),
    };
    Ok((dtype, big_endian && dtype.size_bytes() > 1))
}

/// A version 1.0 header for a little-endian C-order array, padded with spaces and a newline
/// so that the data starts at a multiple of [`ALIGN`] bytes (as `np.save` writes it).
///
/// # Errors
/// When the header would not fit version 1.0's 65535 bytes (only for absurd ranks).
pub fn write_v1(shape: &[usize], dtype: DType) -> Result<Vec<u8>, HeaderError> {
    let order = if dtype.size_bytes() == 1 { '|' } else { '<' };
    let shape_text = match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '{order}{}', 'fortran_order': False, 'shape': {shape_text}, }}", dtype.code());
    let unpadded = 10 + dict.len() + 1;
    let padded = unpadded.div_ceil(ALIGN) * ALIGN;
    dict.extend(std::iter::repeat_n(' ', padded - unpadded));
    dict.push('\n');
    let len =
        u16::try_from(dict.len()).map_err(|_| HeaderError::Malformed { text: dict.clone(), why: "longer than 65535 bytes".into() })?;
    let mut out = Vec::with_capacity(padded);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    Ok(out)
}

/// The Python literals a header can hold.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(String, Literal)>),
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = |f: &mut std::fmt::Formatter<'_>, v: &[Literal]| -> std::fmt::Result {
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{x}")?;
            }
            Ok(())
        };
        match self {
            Literal::Str(s) => write!(f, "'{s}'"),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Literal::None => write!(f, "None"),
            Literal::Tuple(v) => {
                write!(f, "(")?;
                seq(f, v)?;
                write!(f, ")")
            }
            Literal::List(v) => {
                write!(f, "[")?;
                seq(f, v)?;
                write!(f, "]")
            }
            Literal::Dict(items) => {
                write!(f, "{{")?;
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "'{k}': {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// A recursive-descent parser for the Python literal subset `np.save` writes
/// (what `ast.literal_eval` would accept for a header).
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse_all(mut self) -> Result<Literal, String> {
        let v = self.value()?;
        self.ws();
        if self.i != self.s.len() {
            return Err(format!("unexpected text at byte {}", self.i));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Literal, String> {
        match self.peek() {
            Some(b'{') => self.dict(),
            Some(b'(') => self.seq(b'(', b')').map(Literal::Tuple),
            Some(b'[') => self.seq(b'[', b']').map(Literal::List),
            Some(b'\'' | b'"') => self.string().map(Literal::Str),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Literal::Bool(true)),
                    b"False" => Ok(Literal::Bool(false)),
                    b"None" => Ok(Literal::None),
                    w => Err(format!("unknown name {:?}", String::from_utf8_lossy(w))),
                }
            }
            Some(c) => Err(format!("unexpected '{}' at byte {}", c as char, self.i)),
            None => Err("unexpected end".into()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = self.s[self.i];
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != quote {
            self.i += 1;
        }
        if self.i == self.s.len() {
            return Err("unterminated string".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn int(&mut self) -> Result<Literal, String> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        // Python 2 era headers may write long integers as `3L`.
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        if self.s.get(self.i) == Some(&b'L') {
            self.i += 1;
        }
        text.parse().map(Literal::Int).map_err(|_| format!("bad integer {text:?}"))
    }

    fn seq(&mut self, open: u8, close: u8) -> Result<Vec<Literal>, String> {
        self.expect(open)?;
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(out);
            }
            out.push(self.value()?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => {
                    return Err(format!("expected ',' or '{}' at byte {}", close as char, self.i));
                }
            }
        }
    }

    fn dict(&mut self) -> Result<Literal, String> {
        self.expect(b'{')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Literal::Dict(out));
                }
                Some(b'\'' | b'"') => {}
                _ => return Err(format!("expected a string key at byte {}", self.i)),
            }
            let key = self.string()?;
            self.expect(b':')?;
            let v = self.value()?;
            out.push((key, v));
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        // bytes from `np.save(io.BytesIO(), np.zeros((5,), '>f4'))` (NumPy 2.4)
        let mut b = b"\x93NUMPY\x01\x00v\x00{'descr': '>f4', 'fortran_order': False, 'shape': (5,), }".to_vec();
        b.resize(127, b' ');
        b.push(b'\n');
        let h = parse(&b).unwrap();
        assert_eq!(h, NpyHeader { dtype: DType::F32, big_endian: true, fortran_order: false, shape: vec![5], data_offset: 128 });
        let h = parse(&write_v1(&[], DType::I16).unwrap()).unwrap();
        assert_eq!((h.shape.len(), h.dtype), (0, DType::I16));
    }

    #[test]
    fn written_headers_are_aligned_and_round_trip() {
        for (shape, dtype) in [(vec![3, 4], DType::F64), (vec![7], DType::Bool), (vec![1440, 2880, 31], DType::U8)] {
            let b = write_v1(&shape, dtype).unwrap();
            assert_eq!(b.len() % ALIGN, 0);
            assert_eq!(*b.last().unwrap(), b'\n');
            let h = parse(&b).unwrap();
            assert_eq!((h.shape, h.dtype, h.fortran_order, h.big_endian), (shape, dtype, false, false));
            assert_eq!(h.data_offset as usize, b.len());
        }
    }

    #[test]
    fn bad_headers_say_why() {
        assert_eq!(header_len(b"PK\x03\x04 zip file...."), Err(HeaderError::NotNpy));
        assert_eq!(header_len(b"\x93NUMPY\x09\x00\x10\x00"), Err(HeaderError::Version { major: 9, minor: 0 }));
        let mut b = write_v1(&[2], DType::F64).unwrap();
        let need = b.len();
        b.truncate(30);
        assert_eq!(parse(&b), Err(HeaderError::Truncated { have: 30, need }));
        let complex = b"\x93NUMPY\x01\x00\x3a\x00{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }";
        assert_eq!(parse(complex), Err(HeaderError::Dtype { descr: "'<c16'".into() }));
        let structured = b"\x93NUMPY\x01\x00\x50\x00{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }";
        assert!(matches!(parse(structured), Err(HeaderError::Dtype { .. })), "{:?}", parse(structured));
    }
}
