//! PNG output: a 2-D result drawn through a colormap (matplotlib's `imsave`).
//!
//! Rows of the array become rows of the image, row 0 at the top (`origin="upper"`), and
//! each value is colored as `cmap(Normalize(vmin, vmax)(value))` (see [`crate::colormap`]);
//! NaN is drawn with the colormap's NaN color (transparent). The value range is the
//! user's, or the data's minimum and maximum ignoring NaN and infinities.
//!
//! Blocks arrive from several threads in any order, and the whole image need not fit in
//! memory: [`PngSink`] spills each block as f32 into an unlinked scratch file with
//! positional writes, tracking the value range as it goes; [`Sink::commit`] then encodes the
//! image row by row with the `png` crate's streaming writer into the temporary and renames
//! it onto the target. [`render_block`] colors a block (through [`Colormap::render`]).

use crate::block::Block;
use crate::chunks::Region;
use crate::colormap::{Colormap, finite_range};
use crate::io::atomic::AtomicTarget;
use crate::io::npy::for_each_run;
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::fmt_shape;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows decoded from the scratch file per read while encoding.
const ROWS_PER_READ: usize = 64;

/// Colors a 2-D block of any dtype as RGBA bytes (see [`Colormap::render`]); returns
/// `(width, height, rgba)`. `range` `None` uses the block's finite minimum and maximum.
///
/// # Errors
/// When the block is not 2-D; the message names its shape.
pub fn render_block(block: &Block, colormap: &Colormap, range: Option<(f64, f64)>) -> Result<(usize, usize, Vec<u8>), String> {
    let [height, width] = block.shape() else {
        return Err(format!("an image needs a 2-D array, got shape {}", fmt_shape(block.shape())));
    };
    let values = block.to_f32_vec();
    let range = range.unwrap_or_else(|| finite_range(&values).unwrap_or((0.0, 1.0)));
    Ok((*width, *height, colormap.render(&values, *width, *height, range)))
}

/// Writes a 2-D result as a colormapped PNG; see the module docs.
#[derive(Debug)]
pub struct PngSink {
    target: AtomicTarget,
    /// f32 values in C order, native byte order; unlinked, so it vanishes with the process.
    scratch: File,
    /// Array shape as given (leading axes of length 1 allowed).
    shape: Vec<usize>,
    height: usize,
    width: usize,
    colormap: Colormap,
    value_range: Option<(f64, f64)>,
    /// Running (min, max) of the finite values written.
    seen: Mutex<Option<(f64, f64)>>,
    written: AtomicU64,
    units: Option<String>,
    history: String,
}

/// Creates a PNG sink for a 2-D result (leading axes of length 1 are allowed and ignored),
/// colored with `opts.colormap` over `opts.value_range`.
///
/// # Errors
/// When the result is not 2-D or is empty (the message names the shape), the colormap is
/// unknown (the message lists the known ones), the target exists without `opts.overwrite`,
/// or the scratch file cannot be created.
pub fn create_sink(path: &Path, spec: &SinkSpec, opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    Ok(Box::new(PngSink::create(path, spec, opts)?))
}

impl PngSink {
    /// See [`create_sink`].
    ///
    /// # Errors
    /// As [`create_sink`].
    pub fn create(path: &Path, spec: &SinkSpec, opts: &WriteOptions) -> Result<PngSink, SinkError> {
        let err = |m: String| SinkError::new(path.display().to_string(), m);
        let lead = spec.shape.len().saturating_sub(2);
        if spec.shape.len() < 2 || spec.shape[..lead].iter().any(|&n| n != 1) {
            return Err(err(format!("PNG output needs a 2-D result, got shape {}", fmt_shape(&spec.shape))));
        }
        let (height, width) = (spec.shape[lead], spec.shape[lead + 1]);
        if height == 0 || width == 0 || u32::try_from(height).is_err() || u32::try_from(width).is_err() {
            return Err(err(format!("cannot draw an image of shape {}", fmt_shape(&spec.shape))));
        }
        let colormap = Colormap::by_name(&opts.colormap).map_err(|e| err(e.to_string()))?;
        if let Some((lo, hi)) = opts.value_range
            && !(lo.is_finite() && hi.is_finite())
        {
            return Err(err(format!("the value range {lo} to {hi} is not finite")));
        }
        let target = AtomicTarget::new(path, opts.overwrite)?;
        let mut scratch_path = target.temp_path().as_os_str().to_owned();
        scratch_path.push(".spill");
        let scratch_path = PathBuf::from(scratch_path);
        let scratch = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&scratch_path)
            .map_err(|e| err(format!("cannot create the scratch file {}: {e}", scratch_path.display())))?;
        // Unlinked at once: the open handle keeps the data, and nothing can be left behind.
        let _ = std::fs::remove_file(&scratch_path);
        scratch.set_len((height * width * 4) as u64).map_err(|e| err(format!("cannot size the scratch file: {e}")))?;
        Ok(PngSink {
            target,
            scratch,
            shape: spec.shape.clone(),
            height,
            width,
            colormap,
            value_range: opts.value_range,
            seen: Mutex::new(None),
            written: AtomicU64::new(0),
            units: spec.attrs.iter().find(|(k, _)| k == "units").map(|(_, v)| v.to_string()),
            history: spec.history.clone(),
        })
    }

    fn err(&self, message: impl Into<String>) -> SinkError {
        SinkError::new(self.describe(), message)
    }

    /// Encodes the spilled values into the temporary PNG.
    fn encode(&self, range: (f64, f64)) -> Result<(), SinkError> {
        let file = self.target.create_file()?;
        let io = |e: std::io::Error| self.err(format!("cannot write the image: {e}"));
        let png_err = |e: png::EncodingError| self.err(format!("cannot encode the image: {e}"));
        let sync_handle = file.try_clone().map_err(io)?;
        // No BufWriter: the stream writer buffers whole deflate blocks itself, and a
        // BufWriter would swallow the error of its final flush on drop.
        let mut encoder = png::Encoder::new(file, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.add_itxt_chunk("Software".into(), format!("gridlens {}", env!("CARGO_PKG_VERSION"))).map_err(png_err)?;
        let units = self.units.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
        let comment = format!("colormap {}, value range {} to {}{units}, NaN transparent", self.colormap.name(), range.0, range.1);
        encoder.add_itxt_chunk("Comment".into(), comment).map_err(png_err)?;
        if !self.history.is_empty() {
            encoder.add_itxt_chunk("Source".into(), self.history.clone()).map_err(png_err)?;
        }
        let mut writer = encoder.write_header().map_err(png_err)?;
        let mut stream = writer.stream_writer().map_err(png_err)?;
        let mut raw = vec![0u8; ROWS_PER_READ * self.width * 4];
        let mut values = vec![0f32; ROWS_PER_READ * self.width];
        let mut row0 = 0;
        while row0 < self.height {
            let rows = ROWS_PER_READ.min(self.height - row0);
            let n = rows * self.width;
            self.scratch.read_exact_at(&mut raw[..n * 4], (row0 * self.width * 4) as u64).map_err(io)?;
            for (v, b) in values[..n].iter_mut().zip(raw[..n * 4].chunks_exact(4)) {
                *v = f32::from_ne_bytes(b.try_into().expect("4 bytes"));
            }
            let rgba = self.colormap.render(&values[..n], self.width, rows, range);
            stream.write_all(&rgba).map_err(io)?;
            row0 += rows;
        }
        stream.finish().map_err(png_err)?;
        writer.finish().map_err(png_err)?;
        sync_handle.sync_data().map_err(io)
    }
}

impl Sink for PngSink {
    fn describe(&self) -> String {
        self.target.target().display().to_string()
    }

    fn write(&self, region: &Region, block: &Block) -> Result<(), SinkError> {
        crate::sink::check_block(&self.shape, region, block).map_err(|m| self.err(m))?;
        let values = block.to_f32_vec();
        if let Some((lo, hi)) = finite_range(&values) {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            *seen = Some(match *seen {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let lead = self.shape.len() - 2;
        let plane = Region { start: region.start[lead..].to_vec(), shape: region.shape[lead..].to_vec() };
        for_each_run(&[self.height, self.width], &plane, |file_el, reg_el, n| {
            self.scratch.write_all_at(&bytes[reg_el * 4..(reg_el + n) * 4], file_el * 4)
        })
        .map_err(|e| self.err(format!("cannot spill block {region}: {e}")))?;
        self.written.fetch_add(region.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn commit(&self) -> Result<PathBuf, SinkError> {
        if self.target.is_committed() {
            return Ok(self.target.target().to_path_buf());
        }
        let total = (self.height * self.width) as u64;
        let written = self.written.load(Ordering::Relaxed);
        if written != total {
            self.target.abort();
            return Err(self.err(format!("only {written} of {total} pixels were written; nothing was saved")));
        }
        // Without any finite value (all NaN) every pixel is NaN-colored; any range will do.
        let range = self.value_range.or(*self.seen.lock().unwrap_or_else(|p| p.into_inner())).unwrap_or((0.0, 1.0));
        if let Err(e) = self.encode(range) {
            self.target.abort();
            return Err(e);
        }
        Ok(self.target.commit()?)
    }

    fn abort(&self) {
        self.target.abort();
    }
}

#[cfg(test)]
mod tests;
