//! The HDF5 filter pipeline, decoded without the library: gzip (deflate), shuffle,
//! fletcher32 (zarrs' codec chain plays this role; the algorithms follow libhdf5's
//! `H5Zdeflate.c`, `H5Zshuffle.c` and `H5Zfletcher32.c`) and h5py's LZF (its
//! `lzf_filter.c`, decoded by the `lzf` crate), which libhdf5 itself lacks.
//!
//! A [`Pipeline`] undoes the filters of one chunk in reverse order of writing, skipping the
//! filters whose bit is set in the chunk's filter mask. Everything here is pure: bytes in,
//! bytes out.

use super::storage::FilterInfo;
use std::io::Read;

/// One filter the lock-free reader can undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// zlib-wrapped deflate (HDF5 filter 1, h5py's `gzip`).
    Deflate,
    /// Byte shuffle (filter 2).
    Shuffle {
        /// Bytes per element, whose byte planes were stored one after the other.
        element_size: usize,
    },
    /// Fletcher-32 checksum in the last four bytes (filter 3).
    Fletcher32,
    /// LZF (filter 32000, h5py's `compression="lzf"`).
    Lzf,
}

impl Stage {
    /// The stage that undoes filter `f`, when the lock-free reader decodes it itself.
    pub fn of(f: &FilterInfo, element_size: usize) -> Option<Stage> {
        Some(match f.id {
            1 => Stage::Deflate,
            2 => Stage::Shuffle {
                // The library stores the element size as the filter's local parameter.
                element_size: f.params.first().map_or(element_size, |&n| n as usize),
            },
            3 => Stage::Fletcher32,
            32000 => Stage::Lzf,
            _ => return None,
        })
    }
}

/// Why a chunk could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The zlib stream is damaged (zlib's message).
    #[error("gzip data is corrupt: {0}")]
    Inflate(String),
    /// The LZF data is damaged or decodes to more than a chunk holds.
    #[error("lzf data is corrupt or longer than the {limit} bytes of a chunk")]
    Lzf {
        /// Bytes of one uncompressed chunk.
        limit: usize,
    },
    /// The zlib stream inflates to more than a chunk holds.
    #[error("gzip data inflates to more than the {limit} bytes of a chunk")]
    TooLarge {
        /// Bytes of one uncompressed chunk.
        limit: usize,
    },
    /// The stored checksum differs from the data's.
    #[error("fletcher32 checksum mismatch: stored {stored:#010x}, computed {computed:#010x} (the chunk is corrupt)")]
    Checksum {
        /// As written in the chunk's last four bytes.
        stored: u32,
        /// Of the bytes read.
        computed: u32,
    },
    /// Fewer than four bytes where a checksum should end the chunk.
    #[error("chunk of {size} bytes is too short to hold a fletcher32 checksum")]
    NoChecksum {
        /// Bytes in the chunk.
        size: usize,
    },
    /// The decoded chunk has the wrong length.
    #[error("chunk decodes to {got} bytes, expected {want}")]
    Size {
        /// Bytes decoded.
        got: usize,
        /// Bytes of one uncompressed chunk.
        want: usize,
    },
}

/// The filters of a dataset, in the order they were applied when writing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

impl Pipeline {
    /// The pipeline for a dataset's filters, or the first filter the lock-free reader cannot undo.
    ///
    /// # Errors
    /// The unsupported filter (szip, blosc, zstd, nbit, scaleoffset …): such datasets are
    /// read through the library instead.
    pub fn from_filters(filters: &[FilterInfo], element_size: usize) -> Result<Pipeline, FilterInfo> {
        let stages = filters.iter().map(|f| Stage::of(f, element_size).ok_or_else(|| f.clone())).collect::<Result<_, _>>()?;
        Ok(Pipeline { stages })
    }

    /// Whether the dataset has no filters (chunks are stored as plain bytes).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Whether a chunk written with `filter_mask` went through no filter at all.
    pub fn skips_all(&self, filter_mask: u32) -> bool {
        (0..self.stages.len()).all(|i| skipped(filter_mask, i))
    }

    /// Undoes the filters of one stored chunk, giving `expected_len` bytes (the full chunk).
    ///
    /// # Errors
    /// When the data is corrupt: a checksum mismatch, a failed inflate, or a wrong size.
    pub fn decode(&self, mut bytes: Vec<u8>, filter_mask: u32, expected_len: usize) -> Result<Vec<u8>, DecodeError> {
        for (i, stage) in self.stages.iter().enumerate().rev() {
            if skipped(filter_mask, i) {
                continue;
            }
            bytes = match stage {
                Stage::Deflate => inflate(&bytes, expected_len)?,
                Stage::Lzf => lzf::decompress(&bytes, expected_len).map_err(|_| DecodeError::Lzf { limit: expected_len })?,
                Stage::Shuffle { element_size } => unshuffle(&bytes, *element_size),
                Stage::Fletcher32 => {
                    verify_fletcher32(&bytes)?;
                    bytes.truncate(bytes.len() - 4);
                    bytes
                }
            };
        }
        if bytes.len() != expected_len {
            return Err(DecodeError::Size { got: bytes.len(), want: expected_len });
        }
        Ok(bytes)
    }
}

/// Bit `i` of a chunk's filter mask set means filter `i` was not applied to that chunk.
fn skipped(filter_mask: u32, i: usize) -> bool {
    i < 32 && filter_mask & (1 << i) != 0
}

/// Inflates zlib data of at most `limit` bytes (a chunk never inflates to more; a corrupt or
/// hostile stream must not exhaust memory).
pub fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(limit);
    let mut decoder = flate2::read::ZlibDecoder::new(data).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| DecodeError::Inflate(e.to_string()))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// Undoes HDF5's byte shuffle: byte `j` of element `i` was stored at `j * n + i`. Trailing
/// bytes that do not fill an element were left in place.
pub fn unshuffle(data: &[u8], element_size: usize) -> Vec<u8> {
    let n = if element_size == 0 { 0 } else { data.len() / element_size };
    if element_size <= 1 || n <= 1 {
        return data.to_vec();
    }
    let mut out = vec![0u8; data.len()];
    for j in 0..element_size {
        let plane = &data[j * n..(j + 1) * n];
        for (i, &b) in plane.iter().enumerate() {
            out[i * element_size + j] = b;
        }
    }
    let done = n * element_size;
    out[done..].copy_from_slice(&data[done..]);
    out
}

/// HDF5's Fletcher-32 (`H5_checksum_fletcher32`): 16-bit big-endian words, sums start at 0.
pub fn fletcher32(data: &[u8]) -> u32 {
    let (mut sum1, mut sum2) = (0u32, 0u32);
    let even = data.len() - data.len() % 2;
    let odd = data.get(even).filter(|_| data.len() % 2 == 1).copied();
    // 360 sums at most between reductions, so that neither sum overflows.
    for block in data[..even].chunks(720) {
        for w in block.chunks_exact(2) {
            sum1 += (u32::from(w[0]) << 8) | u32::from(w[1]);
            sum2 += sum1;
        }
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    if let Some(b) = odd {
        sum1 += u32::from(b) << 8;
        sum2 += sum1;
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    (sum2 << 16) | sum1
}

/// Checks the checksum stored little-endian in the last four bytes. Like libhdf5, it also
/// accepts the byte-swapped form written by HDF5 before 1.6.3.
fn verify_fletcher32(data: &[u8]) -> Result<(), DecodeError> {
    if data.len() < 4 {
        return Err(DecodeError::NoChecksum { size: data.len() });
    }
    let (body, tail) = data.split_at(data.len() - 4);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let computed = fletcher32(body);
    let reversed = ((computed & 0x00ff_00ff) << 8) | ((computed >> 8) & 0x00ff_00ff);
    if stored == computed || stored == reversed { Ok(()) } else { Err(DecodeError::Checksum { stored, computed }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn shuffle(data: &[u8], size: usize) -> Vec<u8> {
        let n = data.len() / size;
        let mut out = data.to_vec();
        for i in 0..n {
            for j in 0..size {
                out[j * n + i] = data[i * size + j];
            }
        }
        out
    }

    #[test]
    fn unshuffle_inverts_shuffle_and_keeps_trailing_bytes() {
        let data: Vec<u8> = (0..27).collect();
        let mut s = shuffle(&data[..24], 4);
        s.extend_from_slice(&data[24..]);
        assert_eq!(unshuffle(&s, 4), data);
        assert_eq!(unshuffle(&[1, 2, 3], 1), vec![1, 2, 3]);
        assert_eq!(unshuffle(&[1, 2, 3], 4), vec![1, 2, 3]);
    }

    #[test]
    fn fletcher32_matches_reference_values() {
        // Worked by hand from the algorithm: words 0x0102, 0x0304 → sum1 = 0x0406, sum2 = 0x0508.
        assert_eq!(fletcher32(&[1, 2, 3, 4]), 0x0508_0406);
        // Odd length: the last byte is the high byte of a final word.
        assert_eq!(fletcher32(&[1, 2, 3]), (0x0102 + 0x0402) << 16 | 0x0402);
        // Long inputs exercise the periodic reductions: each half must equal, modulo 65535,
        // the plain sums of 16-bit words computed without any reduction.
        for long in [vec![0xffu8; 10_001], (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()] {
            let (mut s1, mut s2) = (0u64, 0u64);
            for w in long.chunks(2) {
                s1 += (w[0] as u64) << 8 | w.get(1).copied().unwrap_or(0) as u64;
                s2 += s1;
            }
            let c = fletcher32(&long);
            assert_eq!((c & 0xffff) as u64 % 65535, s1 % 65535);
            assert_eq!((c >> 16) as u64 % 65535, s2 % 65535);
        }
    }

    #[test]
    fn pipeline_undoes_filters_in_reverse_and_honours_the_mask() {
        let data: Vec<u8> = (0..64u8).map(|x| x.wrapping_mul(37)).collect();
        let shuffled = shuffle(&data, 4);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(4));
        z.write_all(&shuffled).unwrap();
        let mut stored = z.finish().unwrap();
        let sum = fletcher32(&stored);
        stored.extend_from_slice(&sum.to_le_bytes());
        let p = Pipeline { stages: vec![Stage::Shuffle { element_size: 4 }, Stage::Deflate, Stage::Fletcher32] };
        assert_eq!(p.decode(stored.clone(), 0, 64).unwrap(), data);
        // a damaged byte fails the checksum
        let mut bad = stored.clone();
        bad[3] ^= 0x40;
        assert!(matches!(p.decode(bad, 0, 64), Err(DecodeError::Checksum { .. })));
        // mask bit 1 = deflate skipped for this chunk
        let mut raw = shuffled.clone();
        raw.extend_from_slice(&fletcher32(&shuffled).to_le_bytes());
        assert_eq!(p.decode(raw, 0b010, 64).unwrap(), data);
        assert!(p.skips_all(0b111));
        assert!(!p.skips_all(0b011));
    }

    #[test]
    fn inflate_refuses_garbage_and_bombs() {
        assert!(matches!(inflate(b"not zlib at all", 100), Err(DecodeError::Inflate(_))));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
        z.write_all(&vec![0u8; 10_000]).unwrap();
        let bomb = z.finish().unwrap();
        assert_eq!(inflate(&bomb, 100), Err(DecodeError::TooLarge { limit: 100 }));
    }
}
