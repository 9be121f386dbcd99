//! The HDF5 filter pipeline, decoded without the library: gzip (deflate), shuffle,
//! fletcher32 (zarrs' codec chain plays this role; the algorithms follow libhdf5's
//! `H5Zdeflate.c`, `H5Zshuffle.c` and `H5Zfletcher32.c`) and h5py's LZF (its
//! `lzf_filter.c`, decoded by the `lzf` crate), which libhdf5 itself lacks.
//!
//! A [`Pipeline`] undoes the filters of one chunk in reverse order of writing, skipping the
//! filters whose bit is set in the chunk's filter mask. Everything here is pure: bytes in,
//! bytes out.

use super::storage::FilterInfo;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

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
    /// The zlib stream is damaged.
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
    pub fn decode(&self, bytes: Vec<u8>, filter_mask: u32, expected_len: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::with_capacity(expected_len);
        self.decode_into(&bytes, filter_mask, &mut out.spare_capacity_mut()[..expected_len], 0, &mut |_| {})?;
        // SAFETY: `decode_into` succeeded, so it wrote all `expected_len` bytes.
        unsafe { out.set_len(expected_len) };
        Ok(out)
    }

    /// Undoes the filters of one stored chunk straight into `out`, which holds exactly one
    /// full chunk (it may be uninitialised memory, such as a block's spare capacity: every
    /// byte is written on success). With `swap` above 1, the bytes of each `swap`-byte element
    /// are reversed on the way (data stored in the other byte order), inside the unshuffle
    /// when there is one.
    ///
    /// Each step writes where the next one reads, so a chunk is passed over once per filter
    /// and never copied between them: the last step writes `out`, earlier ones a per-thread
    /// scratch buffer that is reused chunk after chunk. A checksum is verified in place.
    /// `finish` is called on consecutive pieces of `out` once their bytes are final (a piece
    /// at a time while an unshuffle writes them, so a step such as CF decoding meets them
    /// still in the cache), each byte exactly once.
    ///
    /// # Errors
    /// When the data is corrupt: a checksum mismatch, a failed inflate, or a wrong size. On
    /// error `out` may be partly written, and `finish` may have seen part of it.
    pub fn decode_into(
        &self,
        stored: &[u8],
        filter_mask: u32,
        out: &mut [MaybeUninit<u8>],
        swap: usize,
        finish: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(), DecodeError> {
        let want = out.len();
        // the steps in decoding order: the reverse of writing, without those the mask skips
        let steps: Vec<&Stage> = self.stages.iter().enumerate().rev().filter(|&(i, _)| !skipped(filter_mask, i)).map(|(_, s)| s).collect();
        // the step that writes `out`: the last one, unless it is a checksum (verified after
        // the bytes it covers were written to scratch, which are then copied to `out`)
        let last_writer = steps.len().checked_sub(1).filter(|&k| !matches!(steps[k], Stage::Fletcher32));
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let [front, back] = &mut *scratch;
            // what the next step reads: the stored bytes, then the scratch buffer last written
            let mut input: &[u8] = stored;
            let mut into_front = true;
            let mut swapped = swap <= 1;
            let mut wrote_out = false;
            // whether `finish` has seen `out` already (an unshuffle hands it on piece by piece)
            let mut finished = false;
            for (k, stage) in steps.iter().enumerate() {
                if let Stage::Fletcher32 = stage {
                    // the checksum covers the bytes the next step reads: verify, then drop it
                    verify_fletcher32(input)?;
                    input = &input[..input.len() - 4];
                    continue;
                }
                let later = &steps[k + 1..];
                let writes_out = Some(k) == last_writer;
                let dst: &mut [MaybeUninit<u8>] = if writes_out {
                    if !matches!(stage, Stage::Deflate | Stage::Lzf) && input.len() != want {
                        return Err(DecodeError::Size { got: input.len(), want });
                    }
                    &mut *out
                } else {
                    let buf = if into_front { &mut *front } else { &mut *back };
                    // checksums applied before this step when writing make its output longer
                    // than a chunk: 4 bytes for each still to be verified
                    let extra = 4 * later.iter().filter(|s| matches!(s, Stage::Fletcher32)).count();
                    let cap = if matches!(stage, Stage::Deflate | Stage::Lzf) { want + extra } else { input.len() };
                    buf.clear();
                    buf.reserve(cap);
                    &mut buf.spare_capacity_mut()[..cap]
                };
                // a checksum still to come is over the bytes in the stored order: swap after it
                let swap_here = !swapped && matches!(swap, 2 | 4 | 8) && later.is_empty();
                let written = match stage {
                    Stage::Deflate => inflate_into(input, dst)?,
                    Stage::Lzf => {
                        let v = lzf::decompress(input, dst.len()).map_err(|_| DecodeError::Lzf { limit: dst.len() })?;
                        copy_into(&v, dst)
                    }
                    Stage::Shuffle { element_size } => {
                        let reverse = swap_here && *element_size == swap;
                        swapped |= reverse;
                        // the output is final as it is written once no swap is left to do
                        if writes_out && swapped {
                            finished = true;
                            unshuffle_into(input, *element_size, &mut dst[..input.len()], reverse, finish);
                        } else {
                            unshuffle_into(input, *element_size, &mut dst[..input.len()], reverse, &mut |_| {});
                        }
                        input.len()
                    }
                    Stage::Fletcher32 => unreachable!("checksums are verified above"),
                };
                if writes_out {
                    if written != want {
                        return Err(DecodeError::Size { got: written, want });
                    }
                    wrote_out = true;
                    break;
                }
                let buf = if into_front { &mut *front } else { &mut *back };
                // SAFETY: the step above wrote the first `written` bytes of the spare capacity.
                unsafe { buf.set_len(written) };
                into_front = !into_front;
                // SAFETY: the next step writes the other scratch buffer or `out`, never this one
                // while `input` borrows it.
                input = unsafe { std::slice::from_raw_parts(buf.as_ptr(), buf.len()) };
            }
            if !wrote_out {
                // no step wrote bytes: stored unfiltered, or only checksummed
                if input.len() != want {
                    return Err(DecodeError::Size { got: input.len(), want });
                }
                copy_into(input, out);
            }
            // SAFETY: every byte of `out` was written above.
            let bytes = unsafe { &mut *(out as *mut [MaybeUninit<u8>] as *mut [u8]) };
            if !swapped {
                swap_each(bytes, swap);
            }
            if !finished {
                finish(bytes);
            }
            Ok(())
        })
    }
}

thread_local! {
    /// Two buffers per thread that the steps of a chunk's decode write in turn.
    static SCRATCH: std::cell::RefCell<[Vec<u8>; 2]> = const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
    /// libdeflate's decompressor state (about 10 kB), kept per thread.
    static INFLATER: Inflater = Inflater::new();
}

/// One libdeflate decompressor.
struct Inflater(NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Inflater {
    fn new() -> Inflater {
        // SAFETY: plain allocation; NULL only when out of memory.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        Inflater(NonNull::new(p).expect("libdeflate_alloc_decompressor: out of memory"))
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// Bit `i` of a chunk's filter mask set means filter `i` was not applied to that chunk.
fn skipped(filter_mask: u32, i: usize) -> bool {
    i < 32 && filter_mask & (1 << i) != 0
}

/// Copies `src` to the start of `dst`; returns its length.
fn copy_into(src: &[u8], dst: &mut [MaybeUninit<u8>]) -> usize {
    let n = src.len().min(dst.len());
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`; both ranges hold `n` bytes and do
    // not overlap (`dst` is scratch or output memory, never the source).
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), n) };
    n
}

/// Inflates zlib data into `dst` (libdeflate: about 2.5× zlib's speed); returns the bytes
/// written. A stream that would inflate past `dst` is refused, so a corrupt or hostile
/// chunk cannot exhaust memory. Bytes after the end of the stream are ignored, as zlib
/// ignores them.
///
/// libdeflate is called through its C interface because the safe wrapper wants initialised
/// output memory, which would cost a pass over every chunk to zero it first.
fn inflate_into(data: &[u8], dst: &mut [MaybeUninit<u8>]) -> Result<usize, DecodeError> {
    let (mut consumed, mut written) = (0usize, 0usize);
    let result = INFLATER.with(|d| {
        // SAFETY: `data` and `dst` are valid for their lengths; libdeflate writes at most
        // `dst.len()` bytes into `dst` and reads at most `data.len()` from `data`.
        unsafe {
            libdeflate_sys::libdeflate_zlib_decompress_ex(
                d.0.as_ptr(),
                data.as_ptr().cast(),
                data.len(),
                dst.as_mut_ptr().cast(),
                dst.len(),
                &raw mut consumed,
                &raw mut written,
            )
        }
    });
    match result {
        libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS => Ok(written),
        libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Err(DecodeError::TooLarge { limit: dst.len() }),
        _ => Err(DecodeError::Inflate(if data.len() < 2 || data[0] & 0x0f != 8 {
            "not a zlib stream".into()
        } else {
            "invalid deflate data or checksum".into()
        })),
    }
}

/// Inflates zlib data of at most `limit` bytes.
///
/// # Errors
/// A damaged stream, or one that inflates to more than `limit` bytes.
pub fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(limit);
    let n = inflate_into(data, out.spare_capacity_mut())?;
    // SAFETY: `inflate_into` wrote the first `n` bytes.
    unsafe { out.set_len(n) };
    Ok(out)
}

/// Undoes HDF5's byte shuffle: byte `j` of element `i` was stored at `j * n + i`. Trailing
/// bytes that do not fill an element were left in place.
pub fn unshuffle(data: &[u8], element_size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    unshuffle_into(data, element_size, &mut out.spare_capacity_mut()[..data.len()], false, &mut |_| {});
    // SAFETY: `unshuffle_into` writes every byte of its output.
    unsafe { out.set_len(data.len()) };
    out
}

/// Elements an unshuffle writes before handing them on: 16 kB of float32, still in the L1
/// cache when the caller's finishing step (CF decoding) passes over them.
const PIECE: usize = 4096;

/// [`unshuffle`] into `dst` (of `data.len()` bytes, every one written); with `reverse`, each
/// element's bytes come out in the other byte order, which costs nothing extra: the byte
/// planes are merely taken in the opposite order. `finish` is called on each piece of
/// output as soon as it is written, in order, once per byte.
///
/// The shuffle is a transpose of an `element_size × n` byte matrix. Two-, four- and
/// eight-byte elements (nearly every shuffled dataset) are transposed 16 elements at a time
/// in vector registers ([`simd`]); no crate does this for HDF5's layout without also
/// bringing its own container format (blosc).
fn unshuffle_into(data: &[u8], element_size: usize, dst: &mut [MaybeUninit<u8>], reverse: bool, finish: &mut dyn FnMut(&mut [u8])) {
    assert_eq!(dst.len(), data.len());
    let size = element_size;
    let n = if size == 0 { 0 } else { data.len() / size };
    let out = dst.as_mut_ptr().cast::<u8>();
    if size <= 1 || n <= 1 {
        copy_into(data, dst);
        // SAFETY: all of `dst` was just written.
        let bytes = unsafe { std::slice::from_raw_parts_mut(out, data.len()) };
        if reverse && n == 1 {
            bytes[..size].reverse();
        }
        finish(bytes);
        return;
    }
    let plane = |j: usize| {
        let j = if reverse { size - 1 - j } else { j };
        &data[j * n..(j + 1) * n]
    };
    let mut at = 0;
    while at < n {
        let len = PIECE.min(n - at);
        // SAFETY: elements `at .. at + len` lie inside `dst`, which holds `n * size` bytes.
        let piece = unsafe { out.add(at * size) };
        match size {
            2 => transpose::<2>(&[&plane(0)[at..at + len], &plane(1)[at..at + len]], piece, len),
            4 => transpose::<4>(&std::array::from_fn(|j| &plane(j)[at..at + len]), piece, len),
            8 => transpose::<8>(&std::array::from_fn(|j| &plane(j)[at..at + len]), piece, len),
            _ => {
                for j in 0..size {
                    for (i, &b) in plane(j)[at..at + len].iter().enumerate() {
                        // SAFETY: byte `j` of element `i` of this piece, inside `dst`.
                        unsafe { piece.add(i * size + j).write(b) };
                    }
                }
            }
        }
        // SAFETY: the piece's `len * size` bytes were all written just above.
        finish(unsafe { std::slice::from_raw_parts_mut(piece, len * size) });
        at += len;
    }
    let done = n * size;
    copy_into(&data[done..], &mut dst[done..]);
    // SAFETY: the trailing bytes were just written.
    finish(unsafe { std::slice::from_raw_parts_mut(out.add(done), data.len() - done) });
}

/// Interleaves `N` byte planes of `n` bytes into `n` elements of `N` bytes at `out`, which
/// must have room for `n * N` bytes (it may be uninitialised).
#[inline]
fn transpose<const N: usize>(planes: &[&[u8]; N], out: *mut u8, n: usize) {
    assert!(planes.iter().all(|p| p.len() >= n));
    #[cfg(target_arch = "x86_64")]
    let done = simd::transpose(planes, out, n);
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for i in done..n {
        for j in 0..N {
            // SAFETY: element `i < n` of the caller's `n * N` bytes.
            unsafe { out.add(i * N + j).write(planes[j][i]) };
        }
    }
}

/// The byte transpose in SSE2 (every x86-64 processor has it): 16 elements per step, the
/// planes merged pairwise by the unpack instructions, as blosc's shuffle does. About 10×
/// the scalar loop, which the compiler does not vectorise.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Transposes the first multiple of 16 elements into `dst` (room for `n * N` bytes);
    /// returns how many it did.
    #[inline]
    pub fn transpose<const N: usize>(planes: &[&[u8]; N], dst: *mut u8, n: usize) -> usize {
        let full = n / 16 * 16;
        assert!(planes.iter().all(|p| p.len() >= full));
        // SAFETY: SSE2 is part of x86-64; every load reads 16 bytes at `i < full` of a plane
        // of at least `full` bytes, every store writes 16 bytes inside `dst[..full * N]`.
        unsafe {
            let load = |j: usize, i: usize| _mm_loadu_si128(planes[j].as_ptr().add(i).cast());
            let store = |at: usize, v: __m128i| _mm_storeu_si128(dst.add(at).cast(), v);
            let mut i = 0;
            while i < full {
                let base = i * N;
                match N {
                    2 => {
                        let (a, b) = (load(0, i), load(1, i));
                        store(base, _mm_unpacklo_epi8(a, b));
                        store(base + 16, _mm_unpackhi_epi8(a, b));
                    }
                    4 => {
                        let (a, b, c, d) = (load(0, i), load(1, i), load(2, i), load(3, i));
                        let (ab0, ab1) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
                        let (cd0, cd1) = (_mm_unpacklo_epi8(c, d), _mm_unpackhi_epi8(c, d));
                        store(base, _mm_unpacklo_epi16(ab0, cd0));
                        store(base + 16, _mm_unpackhi_epi16(ab0, cd0));
                        store(base + 32, _mm_unpacklo_epi16(ab1, cd1));
                        store(base + 48, _mm_unpackhi_epi16(ab1, cd1));
                    }
                    8 => {
                        let p: [__m128i; 8] = std::array::from_fn(|j| load(j, i));
                        // bytes of planes 2k and 2k+1 side by side, then four planes, then eight
                        let pairs: [(__m128i, __m128i); 4] =
                            std::array::from_fn(|k| (_mm_unpacklo_epi8(p[2 * k], p[2 * k + 1]), _mm_unpackhi_epi8(p[2 * k], p[2 * k + 1])));
                        for half in 0..2 {
                            let pick = |k: usize| if half == 0 { pairs[k].0 } else { pairs[k].1 };
                            let (q0, q1) = (_mm_unpacklo_epi16(pick(0), pick(1)), _mm_unpackhi_epi16(pick(0), pick(1)));
                            let (q2, q3) = (_mm_unpacklo_epi16(pick(2), pick(3)), _mm_unpackhi_epi16(pick(2), pick(3)));
                            let at = base + half * 64;
                            store(at, _mm_unpacklo_epi32(q0, q2));
                            store(at + 16, _mm_unpackhi_epi32(q0, q2));
                            store(at + 32, _mm_unpacklo_epi32(q1, q3));
                            store(at + 48, _mm_unpackhi_epi32(q1, q3));
                        }
                    }
                    _ => return 0,
                }
                i += 16;
            }
        }
        full
    }
}

/// HDF5's shuffle then deflate of one chunk, as the library's filters write it (its
/// `shuffle` and `deflate` filters, in that order): the byte planes of `size`-byte elements
/// one after the other, then a zlib stream (libdeflate, at the same compression level).
pub fn deflate_shuffled(data: &[u8], size: usize, level: u8) -> Vec<u8> {
    let n = if size == 0 { 0 } else { data.len() / size };
    let shuffled: std::borrow::Cow<'_, [u8]> = if size <= 1 || n <= 1 {
        data.into()
    } else {
        let mut planes = vec![0u8; data.len()];
        for (i, element) in data[..n * size].chunks_exact(size).enumerate() {
            for (j, &b) in element.iter().enumerate() {
                planes[j * n + i] = b;
            }
        }
        planes[n * size..].copy_from_slice(&data[n * size..]);
        planes.into()
    };
    let mut z = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(i32::from(level.clamp(1, 9))).expect("levels 1-9 exist"));
    let mut out = vec![0u8; z.zlib_compress_bound(shuffled.len())];
    let n = z.zlib_compress(&shuffled, &mut out).expect("the bound holds any input");
    out.truncate(n);
    out
}

/// Reverses the bytes of every `size`-byte element in place.
fn swap_each(bytes: &mut [u8], size: usize) {
    if size > 1 {
        bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
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
