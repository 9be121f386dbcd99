//! A projected map in the image view: the picture the reprojection worker made for the part
//! in view (stretched while the next is made), the globe's outline, curved latitude and
//! longitude lines, and their labels.

use super::map_overlay::Placement;
use crate::app::reproject::{Reprojector, Wanted};
use crate::app::tiles::{ColorKey, TileGrid};
use crate::map::geo::{self, degree_step, lat_label, lon_label, on_seam};
use crate::map::projected::ProjectedFrame;
use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Shape, Stroke, pos2, vec2};

/// Asks the worker for the picture of the part in view and draws the latest one.
pub fn draw(
    painter: &Painter,
    (reprojector, grid, key): (&mut Reprojector, &TileGrid, Option<&ColorKey>),
    pf: &ProjectedFrame,
    at: &Placement,
    pixels_per_point: f32,
) {
    let globe: Vec<Pos2> = pf.outline().into_iter().map(|(x, y)| at.to_screen(x, y)).collect();
    let Some(key) = key else {
        painter.add(Shape::convex_polygon(globe, Color32::from_gray(44), Stroke::NONE));
        return;
    };
    let (x0, y0, x1, y1) = at.visible(pf.size.1.ceil() as usize, pf.size.0.ceil() as usize);
    if x1 > x0 && y1 > y0 {
        // the part in view at the screen's resolution (at most 2048 pixels a side)
        let px = |d: f64| ((d * at.zoom) as f32 * pixels_per_point).round().clamp(1.0, 2048.0) as usize;
        let wanted = Wanted {
            job: grid.job,
            version: grid.version,
            // textures' level of detail is for tiles; the picture is made at screen size
            key: ColorKey { lod: 0, ..key.clone() },
            frame: pf.clone(),
            region: [x0, y0, x1, y1],
            size: [px(x1 - x0), px(y1 - y0)],
        };
        reprojector.poll(painter.ctx(), wanted, grid);
    }
    match &reprojector.shown {
        Some((w, texture)) if w.job == grid.job && w.frame == *pf => {
            let [x0, y0, x1, y1] = w.region;
            let r = Rect::from_min_max(at.to_screen(x0, y0), at.to_screen(x1, y1));
            painter.image(texture.id(), r, Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)), Color32::WHITE);
        }
        _ => {
            painter.add(Shape::convex_polygon(globe, Color32::from_gray(44), Stroke::NONE));
        }
    }
}

/// Latitude and longitude lines (when `lines`), the globe's outline, and their labels.
pub fn graticule(full: &Painter, on_map: &Painter, pf: &ProjectedFrame, at: &Placement, lines: bool) {
    let stroke = Stroke::new(0.6, Color32::from_white_alpha(70));
    let text = Color32::from_gray(215);
    let font = FontId::proportional(11.0);
    let (x0, _, x1, _) = at.visible(pf.size.1.ceil() as usize, pf.size.0.ceil() as usize);
    let shown = ((x1 - x0) / pf.size.0).clamp(0.0, 1.0);
    let lon_step = degree_step(shown * 360.0);
    let polar = pf.projection.edge_latitude();
    let lat_step = degree_step(shown * if polar.is_some() { 60.0 } else { 180.0 });
    let screen = |lon: f64, lat: f64| pf.to_image(lon, lat).map(|(x, y)| at.to_screen(x, y));
    let lon0 = pf.lon0;
    let draw_line = |pts: &mut dyn Iterator<Item = Option<Pos2>>| {
        let mut part: Vec<Pos2> = Vec::new();
        for p in pts.chain(std::iter::once(None)) {
            match p {
                Some(p) => part.push(p),
                None => {
                    if part.len() >= 2 {
                        on_map.add(Shape::line(std::mem::take(&mut part), stroke));
                    }
                    part.clear();
                }
            }
        }
    };
    let (meridians, mut parallels) = geo::graticule(lon_step, lat_step);
    // the poles are points, not lines
    parallels.retain(|l| l.abs() < 90.0);
    if lines {
        for &lon in &meridians {
            draw_line(&mut (-900..=900).map(|k| screen(lon, k as f64 / 10.0)));
        }
        for &lat in &parallels {
            draw_line(&mut (0..=720).map(|k| screen(lon0 - 180.0 + 1e-9 + k as f64 * (360.0 - 2e-9) / 720.0, lat)));
        }
    }
    let globe: Vec<Pos2> = pf.outline().into_iter().map(|(x, y)| at.to_screen(x, y)).collect();
    on_map.add(Shape::closed_line(globe, Stroke::new(1.0, Color32::from_gray(130))));
    // labels where they are in view, on a dark ground so that they read over any color
    let label = |at: Pos2, align: Align2, s: String| {
        if !at.x.is_finite() || !full.clip_rect().contains(at) {
            return;
        }
        let galley = full.layout_no_wrap(s, font.clone(), text);
        let r = align.anchor_size(at, galley.size());
        full.rect_filled(r.expand(1.0), 2.0, Color32::from_black_alpha(140));
        full.galley(r.min, galley, text);
    };
    match polar {
        Some(edge) => {
            let pole = screen(lon0, edge.signum() * 90.0).unwrap_or_default();
            for &lon in &meridians {
                if let Some(p) = screen(lon, edge) {
                    let out = (p - pole).normalized();
                    label(p + out * 12.0, Align2::CENTER_CENTER, lon_label(lon, lon_step));
                }
            }
            for &lat in &parallels {
                if lat.signum() == edge.signum()
                    && let Some(p) = screen(lon0, lat)
                {
                    label(p + vec2(3.0, 0.0), Align2::LEFT_CENTER, lat_label(lat, lat_step));
                }
            }
        }
        None => {
            for &lat in &parallels {
                if let Some(p) = screen(lon0 - 180.0 + 1e-9, lat) {
                    label(p - vec2(4.0, 0.0), Align2::RIGHT_CENTER, lat_label(lat, lat_step));
                }
            }
            // the meridian at the map's edge is labelled by the edge itself
            for &lon in meridians.iter().filter(|&&l| !on_seam(l, lon0, lon_step / 2.0)) {
                if let Some(p) = screen(lon, 0.0) {
                    label(p + vec2(0.0, 3.0), Align2::CENTER_TOP, lon_label(lon, lon_step));
                }
            }
        }
    }
}
