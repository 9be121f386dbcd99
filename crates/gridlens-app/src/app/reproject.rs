//! A projected map: the tiles that have arrived, resampled onto the projection's plane by a
//! worker thread (never the UI thread), for the part of the map in view at screen resolution.
//! Each screen pixel is inverted to a longitude and latitude and takes the value of the data
//! cell there (nearest cell: no blend shows a value the data does not hold), so the readout,
//! which inverts the same way, names the cell the pixel shows.

use super::tiles::{ColorKey, TileGrid, screen_colormap};
use crate::map::projected::ProjectedFrame;
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::sync::Arc;

/// The values that have arrived, found by (row, column) without a search per tile.
pub struct Mosaic {
    row_starts: Vec<usize>,
    col_starts: Vec<usize>,
    /// Per (row block, column block): the tile's width and values, if arrived.
    tiles: Vec<Option<(usize, Arc<Vec<f32>>)>>,
}

impl Mosaic {
    pub fn of(grid: &TileGrid) -> Mosaic {
        let mut row_starts: Vec<usize> = grid.slots.iter().map(|s| s.row0).collect();
        let mut col_starts: Vec<usize> = grid.slots.iter().map(|s| s.col0).collect();
        row_starts.sort_unstable();
        row_starts.dedup();
        col_starts.sort_unstable();
        col_starts.dedup();
        let mut tiles = vec![None; row_starts.len() * col_starts.len()];
        for s in &grid.slots {
            let (Ok(i), Ok(j)) = (row_starts.binary_search(&s.row0), col_starts.binary_search(&s.col0)) else { continue };
            tiles[i * col_starts.len() + j] = s.values.clone().map(|v| (s.cols, v));
        }
        Mosaic { row_starts, col_starts, tiles }
    }

    /// The value at (row, col): `None` while its tile is pending.
    pub fn value(&self, row: usize, col: usize) -> Option<f32> {
        let i = self.row_starts.partition_point(|&r| r <= row).checked_sub(1)?;
        let j = self.col_starts.partition_point(|&c| c <= col).checked_sub(1)?;
        let (width, v) = self.tiles[i * self.col_starts.len() + j].as_ref()?;
        v.get((row - self.row_starts[i]) * width + (col - self.col_starts[j])).copied()
    }
}

/// What a projected picture shows: if any of it changes, the picture is made again.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    pub job: u64,
    /// The grid's version (a tile or a snapshot arrived).
    pub version: u64,
    pub key: ColorKey,
    pub frame: ProjectedFrame,
    /// The part of the projected image (x0, y0, x1, y1) and the pixels to make of it.
    pub region: [f64; 4],
    pub size: [usize; 2],
}

/// A request to the worker.
struct Request {
    wanted: Wanted,
    mosaic: Mosaic,
}

/// A finished picture.
pub struct Picture {
    pub wanted: Wanted,
    pub image: egui::ColorImage,
}

/// The resampling thread and what it has made.
pub struct Reprojector {
    requests: Sender<Request>,
    done: Receiver<Picture>,
    /// What the worker is making now.
    pub in_flight: Option<Wanted>,
    /// The picture on screen and what it shows.
    pub shown: Option<(Wanted, egui::TextureHandle)>,
}

impl Reprojector {
    pub fn start(repaint: impl Fn() + Send + 'static) -> Reprojector {
        let (tx, rx) = unbounded::<Request>();
        let (dtx, drx) = unbounded::<Picture>();
        std::thread::Builder::new()
            .name("gridlens-reproject".into())
            .spawn(move || {
                while let Ok(mut req) = rx.recv() {
                    // only the latest request matters
                    while let Ok(newer) = rx.try_recv() {
                        req = newer;
                    }
                    let image = render(&req.wanted, &req.mosaic);
                    if dtx.send(Picture { wanted: req.wanted, image }).is_err() {
                        return;
                    }
                    repaint();
                }
            })
            .expect("spawn the reprojection thread");
        Reprojector { requests: tx, done: drx, in_flight: None, shown: None }
    }

    /// Asks for `wanted` unless it is shown or being made (one picture at a time: a newer
    /// want waits for the one in flight), and takes a finished picture into a texture.
    pub fn poll(&mut self, ctx: &egui::Context, wanted: Wanted, grid: &TileGrid) {
        while let Ok(p) = self.done.try_recv() {
            if self.in_flight.as_ref() == Some(&p.wanted) {
                self.in_flight = None;
            }
            let opts = super::tiles::texture_options();
            match &mut self.shown {
                Some((w, t)) => {
                    t.set(p.image, opts);
                    *w = p.wanted;
                }
                None => self.shown = Some((p.wanted, ctx.load_texture("projected", p.image, opts))),
            }
        }
        let current = self.shown.as_ref().is_some_and(|(w, _)| *w == wanted);
        if !current && self.in_flight.is_none() {
            self.in_flight = Some(wanted.clone());
            let _ = self.requests.send(Request { wanted, mosaic: Mosaic::of(grid) });
        }
    }
}

/// Off the globe: transparent; on it but outside the data (a regional grid): a faint gray;
/// a pending tile: the placeholders' gray.
const OFF_DATA: [u8; 4] = [40, 40, 40, 255];
const PENDING: [u8; 4] = [52, 52, 52, 255];

/// The picture `wanted` asks for, from the values in `mosaic`.
pub fn render(wanted: &Wanted, mosaic: &Mosaic) -> egui::ColorImage {
    let [w, h] = wanted.size;
    let [x0, y0, x1, y1] = wanted.region;
    let (dx, dy) = ((x1 - x0) / w as f64, (y1 - y0) / h as f64);
    let cm = screen_colormap(&wanted.key);
    let range = (wanted.key.range.0 as f64, wanted.key.range.1 as f64);
    let mut rgba = vec![0u8; w * h * 4];
    let mut values = vec![f32::NAN; w];
    for j in 0..h {
        let y = y0 + (j as f64 + 0.5) * dy;
        // what each pixel of the row shows, then the colors of the values in one pass
        let mut kind = vec![0u8; w];
        for (i, (v, k)) in values.iter_mut().zip(&mut kind).enumerate() {
            let x = x0 + (i as f64 + 0.5) * dx;
            *k = match wanted.frame.to_lonlat(x, y) {
                None => 0,
                Some(_) => match wanted.frame.cell(x, y) {
                    None => 1,
                    Some((r, c)) => match mosaic.value(r, c) {
                        None => 2,
                        Some(value) => {
                            *v = value;
                            3
                        }
                    },
                },
            };
        }
        let colored = cm.render(&values, w, 1, range);
        let row = &mut rgba[j * w * 4..(j + 1) * w * 4];
        for (i, k) in kind.iter().enumerate() {
            let px = match k {
                0 => [0, 0, 0, 0],
                1 => OFF_DATA,
                2 => PENDING,
                _ => colored[i * 4..i * 4 + 4].try_into().expect("4 bytes"),
            };
            row[i * 4..i * 4 + 4].copy_from_slice(&px);
        }
        values.fill(f32::NAN);
    }
    egui::ColorImage::from_rgba_unmultiplied([w, h], &rgba)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::geo::MapFrame;
    use crate::map::projection::Projection;
    use gridlens::Chunks;

    /// A 2° globe of 90 × 180 stored 0…360, north first, value row * 1000 + col, in 4 tiles
    /// of which the last (south, 180…360°E: the south-west) has not arrived.
    fn globe() -> (ProjectedFrame, TileGrid) {
        let lat: Vec<f64> = (0..90).map(|i| 89.0 - 2.0 * i as f64).collect();
        let lon: Vec<f64> = (0..180).map(|i| 1.0 + 2.0 * i as f64).collect();
        let frame = MapFrame::new(lat, lon, false, Some(0.0)).unwrap();
        let chunks = Chunks::regular(&[90, 180], &[45, 90]);
        let mut grid = TileGrid::new(1, chunks);
        for index in 0..3 {
            let s = &grid.slots[index];
            let values: Vec<f32> = (0..s.rows * s.cols).map(|k| ((s.row0 + k / s.cols) * 1000 + s.col0 + k % s.cols) as f32).collect();
            grid.insert(super::super::job::Tile { job: 1, index, values: Arc::new(values), min: 0.0, max: 90_000.0, sample: vec![] });
        }
        (ProjectedFrame::new(Projection::Robinson, frame, 0.0), grid)
    }

    #[test]
    fn a_pixel_shows_the_cell_under_its_longitude_and_latitude() {
        let (pf, grid) = globe();
        let mosaic = Mosaic::of(&grid);
        for (lon, lat) in [(10.3, 45.2), (-100.0, 10.0), (179.0, 1.0), (0.5, -0.5)] {
            let (x, y) = pf.to_image(lon, lat).unwrap();
            let (row, col) = pf.cell(x, y).unwrap();
            // the cell whose 2° box holds the point, as numpy would index it
            let want_row = ((90.0 - lat) / 2.0).floor() as usize;
            let want_col = (lon.rem_euclid(360.0) / 2.0).floor() as usize;
            assert_eq!((row, col), (want_row, want_col), "({lon}, {lat})");
            let v = mosaic.value(row, col);
            if row < 45 || col < 90 {
                assert_eq!(v, Some((row * 1000 + col) as f32));
            } else {
                assert_eq!(v, None, "the pending tile");
            }
        }
    }

    #[test]
    fn the_picture_is_transparent_off_the_globe_and_gray_where_pending() {
        let (pf, grid) = globe();
        let size = pf.size;
        let key = ColorKey { colormap: "gray".into(), reversed: false, range: (0.0, 90_000.0), lod: 0 };
        let wanted = Wanted { job: 1, version: 0, key, frame: pf.clone(), region: [0.0, 0.0, size.0, size.1], size: [200, 100] };
        let img = render(&wanted, &Mosaic::of(&grid));
        let at = |lon: f64, lat: f64| {
            let (x, y) = pf.to_image(lon, lat).unwrap();
            img.pixels[(y / size.1 * 100.0) as usize * 200 + (x / size.0 * 200.0) as usize]
        };
        assert_eq!(img.pixels[0].a(), 0, "the corner is off the globe");
        assert_eq!(at(-100.0, -60.0).to_array(), PENDING, "south-west: pending");
        assert_eq!(at(100.0, -60.0).a(), 255);
        // north-west (row ~15, col ~130 → 15 130): a gray of that value
        let v = at(-100.0, 60.0);
        assert_eq!(v.a(), 255);
        let want = (15.0 * 1000.0 + 130.0) / 90_000.0 * 255.0;
        assert!((v.r() as f64 - want).abs() <= 3.0, "{v:?} vs {want}");
    }
}
