//! Export from the app: the result to HDF5, Zarr or NPY through the engine (a job with
//! progress, atomic), or the displayed image with its colorbar to PNG.

use super::GridlensApp;
use super::job::{self, Job, JobEvent};
use crossbeam_channel::{Receiver, bounded};
use gridlens::Array;
use gridlens::colormap::Colormap;
use gridlens::io::atomic::AtomicTarget;
use gridlens::sink::WriteOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// The export dialog's form and its running job.
pub struct ExportForm {
    pub open: bool,
    pub format: ExportFormat,
    pub path: String,
    /// Subsample factor per axis of the result.
    pub factors: Vec<usize>,
    pub chunks: String,
    pub compression: Option<u32>,
    pub overwrite: bool,
    pub job: Option<Job>,
    pub png: Option<Receiver<Result<PathBuf, String>>>,
    pub outcome: Option<Result<PathBuf, String>>,
    /// PNG of a map: a figure this wide at this DPI, or the plain image (a pixel per value).
    pub figure_width: u32,
    pub dpi: f32,
    pub plain: bool,
}

impl Default for ExportForm {
    fn default() -> ExportForm {
        ExportForm {
            open: false,
            format: ExportFormat::Hdf5,
            path: String::new(),
            factors: vec![],
            chunks: String::new(),
            compression: Some(4),
            overwrite: false,
            job: None,
            png: None,
            outcome: None,
            figure_width: 1600,
            dpi: 150.0,
            plain: false,
        }
    }
}

impl GridlensApp {
    /// Readies the form when the dialog opens: a factor per axis of the result, a path.
    pub(super) fn prepare_export_form(&mut self) {
        let Some(data) = &self.data else { return };
        let nd = data.array.ndim();
        if let Ok(a) = self.parsed.get(&self.op.result_expression(nd), &data.array).map(|p| p.array)
            && self.export.factors.len() != a.ndim()
        {
            self.export.factors = vec![1; a.ndim()];
        }
        if self.export.path.is_empty() {
            let dir = std::env::current_dir().unwrap_or_default();
            self.export.path =
                dir.join(format!("gridlens-{}.{}", slug(&self.status.label), self.export.format.extension())).display().to_string();
        }
    }

    /// The array an export stores: the operation's whole result, subsampled per the form.
    pub fn export_array(&self) -> Result<Array, String> {
        let data = self.data.as_ref().ok_or("no data is open")?;
        let nd = data.array.ndim();
        let a = self.parsed.get(&self.op.result_expression(nd), &data.array).map_err(|e| e.to_string())?.array;
        if self.export.factors.iter().all(|&f| f <= 1) || self.export.factors.len() != a.ndim() {
            return Ok(a);
        }
        let items: Vec<_> = self
            .export
            .factors
            .iter()
            .map(|&f| gridlens::expr::IndexItem::Slice { start: None, stop: None, step: Some(f.max(1) as i64) })
            .collect();
        a.index(&items).map_err(|e| e.to_string())
    }

    pub(super) fn start_export(&mut self) {
        self.export.outcome = None;
        if self.export.format == ExportFormat::Png {
            match view_png(self) {
                Ok(rx) => self.export.png = Some(rx),
                Err(e) => self.export.outcome = Some(Err(e)),
            }
            return;
        }
        let array = match self.export_array() {
            Ok(a) => a,
            Err(e) => {
                self.export.outcome = Some(Err(e));
                return;
            }
        };
        let target = target(&self.export);
        let wopts = match write_options(&self.export) {
            Ok(w) => w,
            Err(e) => {
                self.export.outcome = Some(Err(e));
                return;
            }
        };
        let Some(data) = &self.data else { return };
        let expr = self.op.result_expression(data.array.ndim());
        let bound: Vec<(String, String)> = data.sources.iter().map(|s| ("x".to_string(), s.clone())).collect();
        let spec = gridlens::sink::SinkSpec {
            shape: array.shape(),
            dtype: array.dtype(),
            chunks: array.chunks().clone(),
            attrs: gridlens::sink::provenance::carried_attrs(&array),
            history: gridlens::sink::provenance::history(&expr, &bound),
        };
        let id = self.next_job;
        self.next_job += 1;
        let sink = job::SinkPlan { target: target.clone(), spec, options: wopts };
        self.export.job = Some(Job::start_export(id, format!("Export to {target}"), array, sink, self.cache.clone(), self.wake.clone()));
    }

    /// Picks up a finished export (engine job or PNG); never waits.
    pub(super) fn poll_export(&mut self) {
        if let Some(j) = &self.export.job {
            let mut finished = None;
            while let Ok(ev) = j.events.try_recv() {
                if let JobEvent::Finished(r, _) = ev {
                    finished = Some(r);
                }
            }
            if let Some(r) = finished {
                let target = gridlens::io::split_output(&target(&self.export)).0;
                self.export.outcome = Some(r.map(|_| target).map_err(|e| e.to_string()));
                self.export.job = None;
            }
        }
        if let Some(rx) = &self.export.png
            && let Ok(r) = rx.try_recv()
        {
            self.export.outcome = Some(r);
            self.export.png = None;
        }
    }
}

/// The formats the export dialog offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Hdf5,
    Zarr,
    Npy,
    /// The displayed image with its colorbar.
    Png,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 4] = [ExportFormat::Hdf5, ExportFormat::Zarr, ExportFormat::Npy, ExportFormat::Png];

    pub fn label(self) -> &'static str {
        match self {
            ExportFormat::Hdf5 => "HDF5",
            ExportFormat::Zarr => "Zarr",
            ExportFormat::Npy => "NPY",
            ExportFormat::Png => "PNG (figure of the view)",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Hdf5 => "h5",
            ExportFormat::Zarr => "zarr",
            ExportFormat::Npy => "npy",
            ExportFormat::Png => "png",
        }
    }
}

/// A file-name-safe form of a label: `Day − mean — 2014-01-05` → `day-mean-2014-01-05`.
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let s = out.trim_end_matches('-').to_string();
    if s.is_empty() { "result".into() } else { s }
}

/// The OUTPUT string for the sink: the path with the format's extension, and `:/result`
/// as the dataset of an HDF5 file.
pub fn target(form: &ExportForm) -> String {
    let mut p = PathBuf::from(form.path.trim());
    let ext = form.format.extension();
    let has = p.extension().is_some_and(|e| {
        let e = e.to_string_lossy().to_ascii_lowercase();
        e == ext || (form.format == ExportFormat::Hdf5 && (e == "hdf5" || e == "nc"))
    });
    if !has {
        p.set_extension(ext);
    }
    p.display().to_string()
}

/// Write options from the form.
///
/// # Errors
/// A chunk text that is not a list of positive lengths.
pub fn write_options(form: &ExportForm) -> Result<WriteOptions, String> {
    let chunk_shape = if form.chunks.trim().is_empty() {
        None
    } else {
        Some(
            form.chunks
                .split(',')
                .map(|c| c.trim().parse::<usize>().ok().filter(|&n| n > 0))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("chunks '{}': expected lengths such as 500,500", form.chunks))?,
        )
    };
    Ok(WriteOptions { chunk_shape, compression_level: form.compression, overwrite: form.overwrite, ..Default::default() })
}

/// Bytes the export will write before compression.
pub fn estimated_bytes(app: &GridlensApp) -> Option<usize> {
    if app.export.format == ExportFormat::Png {
        let g = app.grid.as_ref()?;
        if app.map_frame().is_some() && !app.export.plain {
            // about half as tall as wide, before compression
            return Some(app.export.figure_width as usize * app.export.figure_width as usize / 2 * 4);
        }
        return Some((g.cols + COLORBAR_WIDTH) * g.rows.max(MIN_HEIGHT) * 4);
    }
    app.export_array().ok().map(|a| a.nbytes())
}

const COLORBAR_WIDTH: usize = 110;
const MIN_HEIGHT: usize = 160;

/// Writes the displayed image (every tile, full resolution) with a labelled colorbar as PNG,
/// on a background thread, atomically.
///
/// # Errors
/// When the image is not complete yet or nothing is displayed.
pub fn view_png(app: &GridlensApp) -> Result<Receiver<Result<PathBuf, String>>, String> {
    let g = app.grid.as_ref().ok_or("nothing is displayed")?;
    if !g.is_complete() {
        return Err("the image is still being computed; export it when every tile has arrived".into());
    }
    let key = app.color_key.clone().ok_or("the image has no colors yet")?;
    let tiles: Vec<(usize, usize, usize, usize, Arc<Vec<f32>>)> =
        g.slots.iter().filter_map(|s| s.values.clone().map(|v| (s.row0, s.col0, s.rows, s.cols, v))).collect();
    let (rows, cols) = (g.rows, g.cols);
    let units = app.data.as_ref().and_then(|d| d.units().map(str::to_string)).unwrap_or_default();
    let target = PathBuf::from(target(&app.export));
    let overwrite = app.export.overwrite;
    if let (Some(frame), false) = (app.map_frame(), app.export.plain) {
        return Ok(view_figure(app, frame, key, target, overwrite));
    }
    // the picture as the view shows it: north up and centred as the view draws it
    let flip = app.flip_rows();
    let shift = app.map_frame().map_or(0, |f| f.shift);
    let (tx, rx) = bounded(1);
    let repaint = app.repaint_fn();
    std::thread::spawn(move || {
        let r = write_png(&target, overwrite, (rows, cols, flip, shift), &tiles, &key, &units);
        let _ = tx.send(r);
        repaint();
    });
    Ok(rx)
}

/// The view as a figure (map, coastlines, graticule, colorbar, title) on a background thread.
fn view_figure(
    app: &GridlensApp,
    frame: crate::map::geo::MapFrame,
    key: super::tiles::ColorKey,
    target: PathBuf,
    overwrite: bool,
) -> Receiver<Result<PathBuf, String>> {
    let grid = app.grid.as_ref().expect("checked by the caller");
    let mosaic = super::reproject::Mosaic::of(grid);
    let mut spec = crate::map::figure::FigureSpec::new(super::tiles::screen_colormap(&key), (key.range.0 as f64, key.range.1 as f64));
    let name = app.data.as_ref().map(|d| d.name()).unwrap_or_default();
    spec.title = if app.status.label.is_empty() { name } else { format!("{name} — {}", app.status.label) };
    spec.units = app.data.as_ref().and_then(|d| d.units().map(str::to_string)).unwrap_or_default();
    spec.projection = app.settings.projection;
    spec.centre = app.settings.centre_lon;
    spec.coastlines = app.settings.coastlines;
    spec.borders = app.settings.borders;
    spec.graticule = app.settings.graticule;
    spec.width = app.export.figure_width;
    spec.dpi = app.export.dpi;
    let (tx, rx) = bounded(1);
    let repaint = app.repaint_fn();
    std::thread::spawn(move || {
        let r = crate::map::figure::render(&frame, &|r, c| mosaic.value(r, c), &spec)
            .and_then(|f| crate::map::figure::write(&f.pixmap, &target, overwrite, spec.dpi))
            .map_err(|e| format!("{}: {e}", target.display()));
        let _ = tx.send(r);
        repaint();
    });
    rx
}

/// `shape` is the image's rows, columns, whether its rows are written last first, and the
/// column written first (the view's longitude centring).
fn write_png(
    target: &std::path::Path,
    overwrite: bool,
    (rows, cols, flip, shift): (usize, usize, bool, usize),
    tiles: &[(usize, usize, usize, usize, Arc<Vec<f32>>)],
    key: &super::tiles::ColorKey,
    units: &str,
) -> Result<PathBuf, String> {
    let cm = super::tiles::screen_colormap(key);
    let range = (key.range.0 as f64, key.range.1 as f64);
    let atomic = AtomicTarget::new(target, overwrite).map_err(|e| e.to_string())?;
    let file = atomic.create_file().map_err(|e| e.to_string())?;
    let height = rows.max(MIN_HEIGHT);
    let width = cols + COLORBAR_WIDTH;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    let mut stream = writer.stream_writer().map_err(|e| e.to_string())?;
    let bar = colorbar(&cm, range, units, height);
    // one band of tile rows at a time: memory bounded by a band, not the image
    let mut row_starts: Vec<usize> = tiles.iter().map(|t| t.0).collect();
    row_starts.sort_unstable();
    row_starts.dedup();
    let mut line = vec![0u8; width * 4];
    let mut y = 0usize;
    let mut bands: Vec<(usize, usize)> =
        row_starts.iter().enumerate().map(|(bi, &r0)| (r0, row_starts.get(bi + 1).copied().unwrap_or(rows))).collect();
    if flip {
        bands.reverse();
    }
    for (r0, r1) in bands {
        let band: Vec<_> = tiles.iter().filter(|t| t.0 == r0).collect();
        let mut rgba = vec![0u8; (r1 - r0) * cols * 4];
        for t in band {
            let img = cm.render(&t.4, t.3, t.2, range);
            for rr in 0..t.2 {
                let dst = (rr * cols + t.1) * 4;
                rgba[dst..dst + t.3 * 4].copy_from_slice(&img[rr * t.3 * 4..(rr + 1) * t.3 * 4]);
            }
        }
        for k in 0..(r1 - r0) {
            let rr = if flip { r1 - r0 - 1 - k } else { k };
            let row = &rgba[rr * cols * 4..(rr + 1) * cols * 4];
            let (west, east) = row.split_at(shift % cols * 4);
            line[..east.len()].copy_from_slice(east);
            line[east.len()..cols * 4].copy_from_slice(west);
            line[cols * 4..].copy_from_slice(&bar[y * COLORBAR_WIDTH * 4..(y + 1) * COLORBAR_WIDTH * 4]);
            stream.write_all(&line).map_err(|e| e.to_string())?;
            y += 1;
        }
    }
    while y < height {
        line[..cols * 4].fill(0);
        line[cols * 4..].copy_from_slice(&bar[y * COLORBAR_WIDTH * 4..(y + 1) * COLORBAR_WIDTH * 4]);
        stream.write_all(&line).map_err(|e| e.to_string())?;
        y += 1;
    }
    stream.finish().map_err(|e| e.to_string())?;
    atomic.commit().map_err(|e| e.to_string())
}

/// A vertical colorbar `height` pixels tall with tick labels and units, as RGBA rows.
fn colorbar(cm: &Colormap, range: (f64, f64), units: &str, height: usize) -> Vec<u8> {
    let w = COLORBAR_WIDTH;
    let mut img = vec![255u8; w * height * 4];
    let (top, bottom) = (14usize, height.saturating_sub(14).max(15));
    let (x0, x1) = (8usize, 26usize);
    for y in top..bottom {
        let t = 1.0 - (y - top) as f32 / (bottom - top - 1).max(1) as f32;
        let c = cm.map(t);
        for x in x0..x1 {
            let i = (y * w + x) * 4;
            img[i..i + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }
    let font = ab_glyph::FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).ok();
    for v in gridlens::colormap::nice_ticks(range.0, range.1, 6) {
        let t = (v - range.0) / (range.1 - range.0);
        let y = bottom as f64 - 1.0 - t * (bottom - top - 1) as f64;
        let y = y.round() as usize;
        for x in x1..x1 + 5 {
            let i = (y * w + x) * 4;
            img[i..i + 4].copy_from_slice(&[0, 0, 0, 255]);
        }
        if let Some(f) = &font {
            draw_text(&mut img, w, height, f, &gridlens::colormap::format_tick(v), x1 + 8, y.saturating_sub(6));
        }
    }
    if let Some(f) = &font {
        draw_text(&mut img, w, height, f, units, x0, 0);
    }
    img
}

/// Rasterises `text` in black at (x, y) (top-left) into an RGBA image.
fn draw_text(img: &mut [u8], w: usize, h: usize, font: &ab_glyph::FontRef<'_>, text: &str, x: usize, y: usize) {
    use ab_glyph::{Font, ScaleFont, point};
    let scale = ab_glyph::PxScale::from(13.0);
    let sf = font.as_scaled(scale);
    let mut caret = x as f32;
    for ch in text.chars() {
        let g = sf.scaled_glyph(ch);
        let adv = sf.h_advance(g.id);
        let g = ab_glyph::Glyph { position: point(caret, y as f32 + sf.ascent()), ..g };
        if let Some(o) = font.outline_glyph(g) {
            let b = o.px_bounds();
            o.draw(|gx, gy, cov| {
                let px = b.min.x as i64 + gx as i64;
                let py = b.min.y as i64 + gy as i64;
                if px >= 0 && py >= 0 && (px as usize) < w && (py as usize) < h {
                    let i = (py as usize * w + px as usize) * 4;
                    let v = (255.0 * (1.0 - cov)).round() as u8;
                    for k in 0..3 {
                        img[i + k] = img[i + k].min(v);
                    }
                    img[i + 3] = 255;
                }
            });
        }
        caret += adv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_targets() {
        assert_eq!(slug("Day − mean — 2014-01-05"), "day-mean-2014-01-05");
        let form = ExportForm { path: "/tmp/out".into(), format: ExportFormat::Zarr, ..Default::default() };
        assert_eq!(target(&form), "/tmp/out.zarr");
        let form = ExportForm { path: "/tmp/out.hdf5".into(), format: ExportFormat::Hdf5, ..Default::default() };
        assert_eq!(target(&form), "/tmp/out.hdf5");
    }

    #[test]
    fn a_png_is_written_north_up_when_the_view_is() {
        // an image of 5 rows in two bands (3 + 2 rows), each row a single value 0..4
        let band = |r0: usize, n: usize| (r0, 0, n, 2, Arc::new((r0..r0 + n).flat_map(|r| [r as f32; 2]).collect::<Vec<f32>>()));
        let tiles = vec![band(0, 3), band(3, 2)];
        let key = crate::app::tiles::ColorKey { colormap: "gray".into(), reversed: false, range: (0.0, 4.0), lod: 0 };
        let dir = tempfile::tempdir().unwrap();
        let first_column = |flip: bool| -> Vec<[u8; 4]> {
            let path = dir.path().join(format!("flip-{flip}.png"));
            write_png(&path, false, (5, 2, flip, 0), &tiles, &key, "K").unwrap();
            let mut reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut buf).unwrap();
            (0..5).map(|y| buf[y * info.line_size..y * info.line_size + 4].try_into().unwrap()).collect()
        };
        let (plain, flipped) = (first_column(false), first_column(true));
        let reversed: Vec<[u8; 4]> = plain.iter().rev().copied().collect();
        assert_eq!(flipped, reversed);
        assert!(plain[0][0] < plain[4][0], "row 0 (value 0) is darkest and on top unless flipped");
    }

    #[test]
    fn a_png_is_written_centred_as_the_view_is() {
        // one row of 4 columns, values 0..3: centred with shift 1, it reads 1, 2, 3, 0
        let tiles = vec![(0, 0, 1, 4, Arc::new(vec![0.0f32, 1.0, 2.0, 3.0]))];
        let key = crate::app::tiles::ColorKey { colormap: "gray".into(), reversed: false, range: (0.0, 3.0), lod: 0 };
        let dir = tempfile::tempdir().unwrap();
        let first_row = |shift: usize| -> Vec<u8> {
            let path = dir.path().join(format!("shift-{shift}.png"));
            write_png(&path, false, (1, 4, false, shift), &tiles, &key, "K").unwrap();
            let mut reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            reader.next_frame(&mut buf).unwrap();
            (0..4).map(|x| buf[x * 4]).collect()
        };
        let (plain, shifted) = (first_row(0), first_row(1));
        assert!(plain.windows(2).all(|w| w[0] < w[1]), "{plain:?}");
        assert_eq!(shifted, vec![plain[1], plain[2], plain[3], plain[0]]);
    }
}
