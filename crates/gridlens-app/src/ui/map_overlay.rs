//! What is drawn over and around the image: coastlines and borders (vector lines, crisp at
//! every zoom, their detail following the zoom), latitude/longitude lines, and the axis frame
//! with `60°N`/`30°E` labels, or row/column numbers for data without coordinates.

use crate::app::View;
use crate::app::settings::Settings;
use crate::map::coastlines::{Detail, Outline, Outlines, PlacedCache, Surface};
use crate::map::geo::{MapFrame, degree_step, lat_label, lon_label};
use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Shape, Stroke, pos2};

/// Room for the latitude (or row) labels left of the map and the longitude (or column)
/// labels under it.
pub const LEFT_AXIS: f32 = 46.0;
pub const BOTTOM_AXIS: f32 = 18.0;

/// Maps image coordinates to the screen and back for one frame of the view.
#[derive(Clone, Copy)]
pub struct Placement {
    pub map: Rect,
    pub center: (f64, f64),
    pub zoom: f64,
}

impl Placement {
    pub fn new(map: Rect, view: &View) -> Placement {
        Placement { map, center: view.center, zoom: view.zoom }
    }

    pub fn to_screen(&self, x: f64, y: f64) -> Pos2 {
        let c = self.map.center();
        pos2(c.x + ((x - self.center.0) * self.zoom) as f32, c.y + ((y - self.center.1) * self.zoom) as f32)
    }

    pub fn to_image(&self, p: Pos2) -> (f64, f64) {
        let c = self.map.center();
        (self.center.0 + (p.x - c.x) as f64 / self.zoom, self.center.1 + (p.y - c.y) as f64 / self.zoom)
    }

    /// The part of the image (x0, y0, x1, y1) in view, clamped to its `cols` × `rows`.
    pub fn visible(&self, rows: usize, cols: usize) -> (f64, f64, f64, f64) {
        let (x0, y0) = self.to_image(self.map.left_top());
        let (x1, y1) = self.to_image(self.map.right_bottom());
        (x0.max(0.0), y0.max(0.0), x1.min(cols as f64), y1.min(rows as f64))
    }
}

/// Coastlines and borders over the map; returns the number of line segments drawn.
pub fn outlines(
    painter: &Painter,
    settings: &Settings,
    placed: &mut PlacedCache,
    surface: &Surface,
    at: &Placement,
    outlines: &Outlines,
) -> usize {
    let (degrees, (x0, y0, x1, y1)) = match surface {
        Surface::Grid(frame) => {
            let v = at.visible(frame.rows(), frame.cols());
            let (west, east) = frame.lon_span();
            ((v.2 - v.0) / frame.cols() as f64 * (east - west), v)
        }
        Surface::Projected(p) => {
            let v = at.visible(p.size.1.ceil() as usize, p.size.0.ceil() as usize);
            ((v.2 - v.0) / p.size.0 * 360.0, v)
        }
        Surface::Curvilinear(g, _) => {
            let (rows, cols) = (g.0.grid.rows, g.0.grid.cols);
            let v = at.visible(rows, cols);
            // degrees across the view, from the longitudes along the middle row
            let row = &g.0.grid.lon[rows / 2 * cols..(rows / 2 + 1) * cols];
            let span = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - row.iter().fold(f64::INFINITY, |a, &b| a.min(b));
            ((v.2 - v.0) / cols as f64 * span, v)
        }
    };
    let detail = Detail::for_span(degrees);
    let mut segments = 0;
    for (outline, on, stroke) in [
        (Outline::Borders, settings.borders, Stroke::new(0.8, Color32::from_rgba_unmultiplied(70, 70, 70, 220))),
        (Outline::Coast, settings.coastlines, Stroke::new(1.2, Color32::from_rgba_unmultiplied(15, 15, 15, 235))),
    ] {
        if !on {
            continue;
        }
        let placed = placed.get(outlines, surface, outline, detail);
        for line in placed.iter() {
            if line.max.0 < x0 as f32 || line.min.0 > x1 as f32 || line.max.1 < y0 as f32 || line.min.1 > y1 as f32 {
                continue;
            }
            // zoomed out, many points fall on one screen pixel: keep one per pixel or so
            let mut pts: Vec<Pos2> = Vec::with_capacity(line.points.len());
            for (i, &(x, y)) in line.points.iter().enumerate() {
                let p = at.to_screen(x as f64, y as f64);
                let last = i + 1 == line.points.len();
                if pts.last().is_none_or(|q: &Pos2| last || q.distance_sq(p) > 0.6) {
                    pts.push(p);
                }
            }
            if pts.len() >= 2 {
                segments += pts.len() - 1;
                painter.add(Shape::line(pts, stroke));
            }
        }
    }
    segments
}

/// Latitude and longitude lines (when `lines`), and the labelled frame: ticks along the
/// map's left and bottom edges (the image's, or the view's when the image fills it).
/// `full` is the painter of the whole view, margins included.
/// `flip`: drawn rows are the data's last first (row numbers follow the data).
pub fn frame_axes(
    full: &Painter,
    lines: Option<&Painter>,
    frame: Option<&MapFrame>,
    at: &Placement,
    (rows, cols): (usize, usize),
    flip: bool,
) {
    let (x0, y0, x1, y1) = at.visible(rows, cols);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let text = Color32::from_gray(200);
    let font = FontId::proportional(11.0);
    let outline = Rect::from_min_max(at.to_screen(0.0, 0.0), at.to_screen(cols as f64, rows as f64));
    let left = outline.left().max(at.map.left());
    let bottom = outline.bottom().min(at.map.bottom());
    let (top, right) = (outline.top().max(at.map.top()), outline.right().min(at.map.right()));
    let tick = Stroke::new(1.0, Color32::from_gray(140));
    let grid = Stroke::new(0.6, Color32::from_white_alpha(70));
    let mut xticks: Vec<(f32, String)> = Vec::new();
    let mut yticks: Vec<(f32, String)> = Vec::new();
    match frame {
        Some(f) => {
            let (west, east) = f.lon_span();
            let lon_step = degree_step((x1 - x0) / cols as f64 * (east - west));
            let (south, north) = f.lat_span();
            let lat_step = degree_step((y1 - y0) / rows as f64 * (north - south));
            let mut xs: Vec<f64> = Vec::new();
            for k in (-180.0 / lon_step).floor() as i64..=(180.0 / lon_step).ceil() as i64 {
                let lon = k as f64 * lon_step;
                let x = f.x_of(lon);
                // 180°E and 180°W are one line on a globe-spanning grid
                if (x0..=x1).contains(&x) && !xs.iter().any(|&o| (o - x).abs() < 1e-6) {
                    xs.push(x);
                    xticks.push((at.to_screen(x, 0.0).x, lon_label(lon, lon_step)));
                }
            }
            for k in (-90.0 / lat_step).ceil() as i64..=(90.0 / lat_step).floor() as i64 {
                let lat = k as f64 * lat_step;
                let y = f.y_of(lat);
                if (y0..=y1).contains(&y) && (south..=north).contains(&lat) {
                    yticks.push((at.to_screen(0.0, y).y, lat_label(lat, lat_step)));
                }
            }
            if let Some(p) = lines {
                for &(x, _) in &xticks {
                    p.line_segment([pos2(x, top), pos2(x, bottom)], grid);
                }
                for &(y, _) in &yticks {
                    p.line_segment([pos2(left, y), pos2(right, y)], grid);
                }
            }
        }
        None => {
            // row and column numbers, at the centre of the cells they name
            for v in gridlens::colormap::nice_ticks(x0, (x1 - 1.0).max(x0), 6).into_iter().filter(|v| v.fract() == 0.0) {
                xticks.push((at.to_screen(v + 0.5, 0.0).x, format!("{v}")));
            }
            for v in gridlens::colormap::nice_ticks(y0, (y1 - 1.0).max(y0), 6).into_iter().filter(|v| v.fract() == 0.0) {
                let row = if flip { rows as f64 - 1.0 - v } else { v };
                yticks.push((at.to_screen(0.0, v + 0.5).y, format!("{row}")));
            }
        }
    }
    for (x, label) in xticks {
        full.line_segment([pos2(x, bottom), pos2(x, bottom + 4.0)], tick);
        full.text(pos2(x, bottom + 4.0), Align2::CENTER_TOP, label, font.clone(), text);
    }
    for (y, label) in yticks {
        full.line_segment([pos2(left - 4.0, y), pos2(left, y)], tick);
        full.text(pos2(left - 6.0, y), Align2::RIGHT_CENTER, label, font.clone(), text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::geo::{degree_step, lat_label, lon_label};

    #[test]
    fn labels_read_as_on_a_map() {
        assert_eq!(lon_label(30.0, 30.0), "30°E");
        assert_eq!(lon_label(-30.0, 30.0), "30°W");
        assert_eq!(lon_label(330.0, 30.0), "30°W", "a 0…360 longitude");
        assert_eq!(lon_label(180.0, 30.0), "180°");
        assert_eq!(lon_label(-180.0, 30.0), "180°");
        assert_eq!(lon_label(0.0, 30.0), "0°");
        assert_eq!(lat_label(60.0, 30.0), "60°N");
        assert_eq!(lat_label(-60.0, 30.0), "60°S");
        assert_eq!(lat_label(0.0, 30.0), "0°");
        assert_eq!(lat_label(45.5, 0.5), "45.5°N");
        assert_eq!(lon_label(10.25, 0.25), "10.25°E");
    }

    #[test]
    fn the_whole_globe_gets_a_line_every_60_degrees_and_a_zoom_finer_ones() {
        assert_eq!(degree_step(360.0), 60.0);
        assert_eq!(degree_step(349.0), 60.0, "a globe a little clipped");
        assert_eq!(degree_step(180.0), 30.0);
        assert_eq!(degree_step(40.0), 10.0);
        assert_eq!(degree_step(30.0), 5.0);
        assert_eq!(degree_step(1.0), 0.2);
    }

    /// The overlays of a 1° globe stored 0…360 and centred on 0°, drawn alone, compared with
    /// `tests/snapshots/globe-overlays.png` (renew it on purpose with `UPDATE_SNAPSHOTS=1`).
    #[test]
    fn the_globe_overlays_match_their_snapshot() {
        let lat: Vec<f64> = (0..180).map(|i| 89.5 - i as f64).collect();
        let lon: Vec<f64> = (0..360).map(|i| 0.5 + i as f64).collect();
        let frame = MapFrame::new(lat, lon, false, Some(0.0)).unwrap();
        let world = crate::map::coastlines::load();
        let settings = Settings { borders: true, ..Default::default() };
        let mut placed = PlacedCache::default();
        let segments = std::cell::Cell::new(0);
        let mut h = egui_kittest::Harness::builder().with_size(egui::vec2(460.0, 230.0)).build_ui(|ui| {
            let full = ui.max_rect();
            ui.painter().rect_filled(full, 0.0, Color32::from_gray(24));
            let map = Rect::from_min_max(pos2(full.min.x + LEFT_AXIS, full.min.y + 4.0), pos2(full.max.x - 8.0, full.max.y - BOTTOM_AXIS));
            let view =
                View { center: (180.0, 90.0), zoom: (map.width() as f64 / 360.0).min(map.height() as f64 / 180.0), ..Default::default() };
            let at = Placement::new(map, &view);
            let outline = Rect::from_min_max(at.to_screen(0.0, 0.0), at.to_screen(360.0, 180.0));
            let on_map = ui.painter_at(map).with_clip_rect(outline.intersect(map));
            on_map.rect_filled(outline, 0.0, Color32::from_rgb(60, 110, 160));
            segments.set(outlines(&on_map, &settings, &mut placed, &Surface::Grid(frame.clone()), &at, &world));
            frame_axes(ui.painter(), Some(&on_map), Some(&frame), &at, (180, 360), false);
        });
        h.run();
        assert!(segments.get() > 1000, "{} segments", segments.get());
        h.snapshot_options("globe-overlays", &egui_kittest::SnapshotOptions::new().threshold(1.0).max_failed_pixels(20));
    }
}
