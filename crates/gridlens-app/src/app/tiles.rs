//! The displayed result as a grid of tiles (the job's output blocks), their textures, and
//! the color range statistics gathered as tiles arrive.
//!
//! Colormapping happens on a painter thread: the UI sends a tile's values with the colormap
//! and range, and uploads the RGBA image that comes back. A tile colored with an old
//! colormap or range is recolored in the background while the old texture stays on screen.

use super::job::Tile;
use crate::app::settings::RangeMode;
use crossbeam_channel::{Receiver, Sender, unbounded};
use gridlens::Chunks;
use gridlens::colormap::Colormap;
use std::sync::Arc;

/// How tiles are currently colored: colormap (with reversal), value range, and level of
/// detail (textures are box-filtered down by `1 << lod` when the view is zoomed out).
#[derive(Clone, Debug, PartialEq)]
pub struct ColorKey {
    pub colormap: String,
    pub reversed: bool,
    pub range: (f32, f32),
    pub lod: u8,
}

/// The level of detail for a zoom of `pixels_per_image_pixel` screen pixels per image pixel:
/// each texture pixel covers about one screen pixel or more, never many fewer.
pub fn lod_for(pixels_per_image_pixel: f64) -> u8 {
    if pixels_per_image_pixel >= 1.0 || pixels_per_image_pixel <= 0.0 {
        return 0;
    }
    ((1.0 / pixels_per_image_pixel).log2().floor() as i64).clamp(0, 8) as u8
}

/// Averages `factor` × `factor` boxes of a `width` × `height` image (NaN where a box holds
/// no finite value): what the screen shows when zoomed out, without aliasing.
pub fn downsample(values: &[f32], width: usize, height: usize, factor: usize) -> (Vec<f32>, usize, usize) {
    if factor <= 1 {
        return (values.to_vec(), width, height);
    }
    let (w, h) = (width.div_ceil(factor), height.div_ceil(factor));
    let mut sum = vec![0f32; w * h];
    let mut n = vec![0u32; w * h];
    for y in 0..height {
        let row = &values[y * width..(y + 1) * width];
        let oy = (y / factor) * w;
        // a box's part of the row summed on its own, without a branch or a division per value
        // (the painter colours every tile of a 66-megapixel mean this way)
        for ((part, s), c) in row.chunks(factor).zip(&mut sum[oy..oy + w]).zip(&mut n[oy..oy + w]) {
            let (mut acc, mut k) = (0f32, 0u32);
            for &v in part {
                let finite = v.is_finite();
                acc += if finite { v } else { 0.0 };
                k += finite as u32;
            }
            *s += acc;
            *c += k;
        }
    }
    let out = sum.iter().zip(&n).map(|(&s, &c)| if c > 0 { s / c as f32 } else { f32::NAN }).collect();
    (out, w, h)
}

/// One tile's place in the grid and what is known of it.
pub struct Slot {
    pub row0: usize,
    pub col0: usize,
    pub rows: usize,
    pub cols: usize,
    pub values: Option<Arc<Vec<f32>>>,
    pub texture: Option<egui::TextureHandle>,
    /// The colors the texture shows, and the colors requested from the painter.
    pub shown: Option<ColorKey>,
    pub requested: Option<ColorKey>,
    /// For values that are a snapshot of a reduction part-way: what, and records in of all.
    pub partial: Option<(&'static str, usize, usize)>,
}

/// The tiles of one job's result.
pub struct TileGrid {
    pub job: u64,
    pub chunks: Chunks,
    /// Rows and columns of the image.
    pub rows: usize,
    pub cols: usize,
    pub slots: Vec<Slot>,
    pub arrived: usize,
    /// Counts every change of values (a tile or a snapshot stored).
    pub version: u64,
    min: f32,
    max: f32,
    samples: Vec<f32>,
}

impl TileGrid {
    /// An empty grid for a result with these blocks (the last two axes are the image).
    pub fn new(job: u64, chunks: Chunks) -> TileGrid {
        let nd = chunks.ndim();
        let slots = (0..chunks.num_blocks())
            .map(|k| {
                let r = chunks.block_region(&chunks.block_index(k));
                let (row0, col0, rows, cols) = match nd {
                    0 => (0, 0, 1, 1),
                    1 => (0, r.start[0], 1, r.shape[0]),
                    n => (r.start[n - 2], r.start[n - 1], r.shape[n - 2], r.shape[n - 1]),
                };
                Slot { row0, col0, rows, cols, values: None, texture: None, shown: None, requested: None, partial: None }
            })
            .collect();
        let shape = chunks.shape();
        let (rows, cols) = match nd {
            0 => (1, 1),
            1 => (1, shape[0]),
            n => (shape[n - 2], shape[n - 1]),
        };
        TileGrid { job, chunks, rows, cols, slots, arrived: 0, version: 0, min: f32::INFINITY, max: f32::NEG_INFINITY, samples: Vec::new() }
    }

    pub fn is_complete(&self) -> bool {
        self.arrived == self.slots.len()
    }

    /// Stores an arrived tile and updates the range statistics.
    pub fn insert(&mut self, tile: Tile) {
        let Some(slot) = self.slots.get_mut(tile.index) else { return };
        if slot.values.is_none() || slot.partial.is_some() {
            self.arrived += 1;
        }
        slot.partial = None;
        slot.values = Some(tile.values);
        self.version += 1;
        // recolored, since the values changed
        slot.requested = None;
        if !tile.min.is_nan() {
            self.min = self.min.min(tile.min);
            self.max = self.max.max(tile.max);
        }
        self.samples.extend(tile.sample);
    }

    /// Stores a snapshot of a tile part-way (`done` of `total` records of `func`), unless the
    /// tile itself has arrived; returns whether it was stored. The range statistics follow it.
    pub fn insert_partial(&mut self, tile: Tile, func: &'static str, done: usize, total: usize) -> bool {
        let Some(slot) = self.slots.get_mut(tile.index) else { return false };
        if slot.values.is_some() && slot.partial.is_none() {
            return false;
        }
        if slot.partial.is_some_and(|(_, d, _)| d >= done) {
            return false;
        }
        slot.values = Some(tile.values);
        slot.partial = Some((func, done, total));
        self.version += 1;
        slot.requested = None;
        if !tile.min.is_nan() {
            self.min = self.min.min(tile.min);
            self.max = self.max.max(tile.max);
        }
        self.samples.extend(tile.sample);
        true
    }

    /// The snapshot shown where no tile has arrived yet: its function, and the fewest records
    /// in of all among such tiles (`None` when no tile shows a snapshot).
    pub fn partial_progress(&self) -> Option<(&'static str, usize, usize)> {
        self.slots.iter().filter_map(|s| s.partial).min_by_key(|&(_, d, t)| (d as u128 * 1_000_000) / t.max(1) as u128)
    }

    /// The value at image pixel (row, col), if its tile has arrived.
    pub fn value_at(&self, row: usize, col: usize) -> Option<f32> {
        let s = self.slots.iter().find(|s| row >= s.row0 && row < s.row0 + s.rows && col >= s.col0 && col < s.col0 + s.cols)?;
        let v = s.values.as_ref()?;
        Some(v[(row - s.row0) * s.cols + (col - s.col0)])
    }

    /// Min and max of what has arrived (None before any finite value).
    pub fn min_max(&self) -> Option<(f32, f32)> {
        (self.min <= self.max).then_some((self.min, self.max))
    }

    /// The color range for `mode` from what has arrived (None until something has).
    pub fn auto_range(&self, mode: RangeMode, manual: (f64, f64)) -> Option<(f32, f32)> {
        let (lo, hi) = match mode {
            RangeMode::Manual => return Some((manual.0 as f32, manual.1 as f32)),
            RangeMode::MinMax => self.min_max()?,
            RangeMode::Percentile => self.percentiles(0.02, 0.98)?,
            RangeMode::Symmetric => {
                let (a, b) = self.percentiles(0.0, 1.0).or(self.min_max())?;
                let m = a.abs().max(b.abs());
                (-m, m)
            }
        };
        Some(if lo < hi { (lo, hi) } else { (lo - 0.5, hi + 0.5) })
    }

    fn percentiles(&self, p: f32, q: f32) -> Option<(f32, f32)> {
        if self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        let n = s.len();
        let i = ((n - 1) as f32 * p).round() as usize;
        let j = ((n - 1) as f32 * q).round() as usize;
        let lo = *s.select_nth_unstable_by(i, f32::total_cmp).1;
        let hi = *s.select_nth_unstable_by(j, f32::total_cmp).1;
        Some((lo, hi))
    }

    /// A histogram of the sampled values over `range` in `bins` bins.
    pub fn histogram(&self, range: (f32, f32), bins: usize) -> Vec<usize> {
        let mut h = vec![0usize; bins];
        let w = (range.1 - range.0) / bins as f32;
        if !(w > 0.0) {
            return h;
        }
        for &v in &self.samples {
            let b = ((v - range.0) / w).floor();
            if b >= 0.0 && (b as usize) < bins {
                h[b as usize] += 1;
            } else if v == range.1 {
                h[bins - 1] += 1;
            }
        }
        h
    }
}

/// The colormap of a key as the screen shows it: reversed if asked, and with NaN (missing and
/// fill values) in an opaque color no map uses for data: mid-gray, or pink for the gray map.
pub fn screen_colormap(key: &ColorKey) -> Colormap {
    let cm = Colormap::by_name(&key.colormap).unwrap_or_else(|_| Colormap::by_name("viridis").expect("viridis exists"));
    let cm = if key.reversed { cm.reversed() } else { cm };
    let nan = if key.colormap.starts_with("gray") { [214, 60, 140, 255] } else { [128, 128, 128, 255] };
    cm.with_nan_color(nan)
}

/// How data pictures are sampled: zoomed-out views get box-filtered textures (the level of
/// detail), so no mipmaps; zoomed in, each data cell is a flat square of its own color, never
/// a blend of neighbours that would show values the data does not hold.
pub fn texture_options() -> egui::TextureOptions {
    egui::TextureOptions { magnification: egui::TextureFilter::Nearest, ..egui::TextureOptions::LINEAR }
}

/// A colormapping request for the painter thread.
pub struct PaintRequest {
    pub job: u64,
    pub index: usize,
    pub values: Arc<Vec<f32>>,
    pub size: [usize; 2],
    pub key: ColorKey,
}

/// A colored tile coming back.
pub struct Painted {
    pub job: u64,
    pub index: usize,
    pub image: egui::ColorImage,
    pub key: ColorKey,
}

/// The colormapping thread.
pub struct Painter {
    pub requests: Sender<PaintRequest>,
    pub done: Receiver<Painted>,
}

impl Painter {
    pub fn start(repaint: impl Fn() + Send + 'static) -> Painter {
        let (tx, rx) = unbounded::<PaintRequest>();
        // colormapping is for the screen: run it below the UI, like the engine's workers
        let (dtx, drx) = unbounded::<Painted>();
        std::thread::Builder::new()
            .name("gridlens-painter".into())
            .spawn(move || {
                // SAFETY: a plain system call on this thread's own id; on failure the
                // priority stays as it is.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::setpriority(libc::PRIO_PROCESS, tid, 4);
                }
                while let Ok(req) = rx.recv() {
                    let cm = screen_colormap(&req.key);
                    let range = (req.key.range.0 as f64, req.key.range.1 as f64);
                    let (values, w, h) = downsample(&req.values, req.size[0], req.size[1], 1 << req.key.lod);
                    let rgba = cm.render(&values, w, h, range);
                    let image = egui::ColorImage::from_rgba_unmultiplied([w, h], &rgba);
                    if dtx.send(Painted { job: req.job, index: req.index, image, key: req.key }).is_err() {
                        return;
                    }
                    repaint();
                }
            })
            .expect("spawn painter thread");
        Painter { requests: tx, done: drx }
    }
}

impl super::GridlensApp {
    /// The color range and colormap tiles should be drawn with now.
    fn wanted_colors(&self, pixels_per_point: f32) -> Option<ColorKey> {
        let g = self.grid.as_ref()?;
        let range = g.auto_range(self.settings.range_mode, self.settings.manual_range)?;
        let lod = lod_for(self.view.zoom * pixels_per_point as f64);
        Some(ColorKey { colormap: self.settings.colormap.clone(), reversed: self.settings.reversed, range, lod })
    }

    pub(super) fn poll_colors(&mut self, ctx: &egui::Context) {
        if let Some(want) = self.wanted_colors(ctx.pixels_per_point()) {
            // Ignore auto-range changes of under 1 % while tiles stream in: no recoloring storm.
            let settle = match &self.color_key {
                Some(k) if k.colormap == want.colormap && k.reversed == want.reversed && k.lod == want.lod => {
                    // Every change recolors every tile: while tiles stream in, follow the range
                    // only when it moves a lot; settle on the final range once all are in.
                    let span = (k.range.1 - k.range.0).abs().max(f32::EPSILON);
                    let moved = (k.range.0 - want.range.0).abs().max((k.range.1 - want.range.1).abs());
                    let complete = self.grid.as_ref().is_some_and(|g| g.is_complete());
                    let streaming = !complete && self.settings.range_mode != RangeMode::Manual;
                    moved / span < 0.01 || (streaming && moved / span < 0.25)
                }
                _ => false,
            };
            if !settle {
                self.color_key = Some(want);
            }
        }
        let Some(key) = self.color_key.clone() else { return };
        if let Some(g) = self.grid.as_mut() {
            for (i, s) in g.slots.iter_mut().enumerate() {
                if let Some(v) = &s.values
                    && s.requested.as_ref() != Some(&key)
                {
                    s.requested = Some(key.clone());
                    let _ = self.painter.requests.send(PaintRequest {
                        job: g.job,
                        index: i,
                        values: v.clone(),
                        size: [s.cols, s.rows],
                        key: key.clone(),
                    });
                }
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(4);
        while std::time::Instant::now() < deadline {
            let Ok(p) = self.painter.done.try_recv() else { break };
            let Some(g) = self.grid.as_mut().filter(|g| g.job == p.job) else { continue };
            let Some(s) = g.slots.get_mut(p.index) else { continue };
            if s.requested.as_ref() != Some(&p.key) {
                continue; // a newer coloring is on its way
            }
            let opts = texture_options();
            match &mut s.texture {
                Some(t) => t.set(p.image, opts),
                None => s.texture = Some(ctx.load_texture(format!("tile-{}-{}", p.job, p.index), p.image, opts)),
            }
            s.shown = Some(p.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_averages_boxes_and_skips_nan() {
        // 5 x 3 image, factor 2 -> 3 x 2
        let v = vec![1.0, 3.0, 5.0, 7.0, 9.0, 1.0, 3.0, f32::NAN, 7.0, 9.0, 2.0, 2.0, f32::NAN, f32::NAN, 4.0];
        let (d, w, h) = downsample(&v, 5, 3, 2);
        assert_eq!((w, h), (3, 2));
        assert_eq!(d[0], 2.0);
        assert_eq!(d[1], (5.0 + 7.0 + 7.0) / 3.0);
        assert_eq!(d[2], 9.0);
        assert_eq!(d[3], 2.0);
        assert!(d[4].is_nan(), "a box of NaN stays NaN");
        assert_eq!(d[5], 4.0);
    }

    #[test]
    fn nan_has_a_color_no_map_uses_for_data() {
        for name in gridlens::colormap::names() {
            let key = ColorKey { colormap: name.to_string(), reversed: false, range: (0.0, 1.0), lod: 0 };
            let cm = screen_colormap(&key);
            let nan = cm.nan_color();
            assert_eq!(nan[3], 255, "opaque");
            let near = (0..256).map(|i| cm.entry(i)).any(|c| (0..3).all(|k| (c[k] as i32 - nan[k] as i32).abs() <= 6));
            assert!(!near, "{name}: NaN color {nan:?} is too close to a data color");
        }
    }

    #[test]
    fn level_of_detail_follows_the_zoom() {
        assert_eq!(lod_for(2.0), 0);
        assert_eq!(lod_for(1.0), 0);
        assert_eq!(lod_for(0.5), 1);
        assert_eq!(lod_for(0.3), 1);
        assert_eq!(lod_for(0.06), 4);
    }
}
