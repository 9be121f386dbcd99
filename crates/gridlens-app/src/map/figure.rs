//! A map as a figure: the field through a colormap (equirectangular over the data's extent,
//! or a projection of the globe), coastlines, a labelled graticule, a colorbar with units and
//! a title, at a chosen width and DPI, written as a PNG. The app exports the view this way
//! and `gridlens eval … -o map.png` writes one. Drawn with tiny-skia (antialiased paths) and
//! ab_glyph (egui's own font), so the command line needs no window.

use super::coastlines::{self, Detail, Outline, place_by};
use super::geo::{MapFrame, degree_step, graticule, lat_label, lon_label, on_seam};
use super::projected::ProjectedFrame;
use super::projection::Projection;
use gridlens::colormap::{Colormap, format_tick, nice_ticks};
use gridlens::io::atomic::AtomicTarget;
use std::path::{Path, PathBuf};
use tiny_skia::{Color, FillRule, Mask, Paint, PathBuilder, Pixmap, Stroke, Transform};

/// What the figure shows and how.
#[derive(Clone, Debug)]
pub struct FigureSpec {
    pub title: String,
    pub units: String,
    pub colormap: Colormap,
    pub range: (f64, f64),
    pub projection: Projection,
    /// The central longitude of a projection (`None`: the middle of the data).
    pub centre: Option<f64>,
    pub coastlines: bool,
    pub borders: bool,
    pub graticule: bool,
    /// Width in pixels, and dots per inch (text and lines scale with it: 100 is 1:1).
    pub width: u32,
    pub dpi: f32,
}

impl FigureSpec {
    pub fn new(colormap: Colormap, range: (f64, f64)) -> FigureSpec {
        FigureSpec {
            title: String::new(),
            units: String::new(),
            colormap,
            range,
            projection: Projection::Equirectangular,
            centre: None,
            coastlines: true,
            borders: false,
            graticule: true,
            width: 1600,
            dpi: 150.0,
        }
    }
}

/// The map's own plane: degrees over the data's extent, or a projected globe.
enum Plane {
    /// Longitude west…east, latitude south…north, linear.
    Plate {
        west: f64,
        east: f64,
        south: f64,
        north: f64,
        periodic: bool,
    },
    Projected(ProjectedFrame),
}

impl Plane {
    /// (width, height) of the plane's image.
    fn size(&self) -> (f64, f64) {
        match self {
            Plane::Plate { west, east, south, north, .. } => (east - west, north - south),
            Plane::Projected(p) => p.size,
        }
    }

    fn to_image(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        match self {
            Plane::Plate { west, east, north, periodic, .. } => {
                let lon = if *periodic {
                    west + (lon - west).rem_euclid(360.0)
                } else {
                    lon - ((lon - (west + east) / 2.0) / 360.0).round() * 360.0
                };
                Some((lon - west, north - lat))
            }
            Plane::Projected(p) => p.to_image(lon, lat),
        }
    }

    fn to_lonlat(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        match self {
            Plane::Plate { west, north, .. } => Some((west + x, north - y)),
            Plane::Projected(p) => p.to_lonlat(x, y),
        }
    }
}

/// A drawn figure, and where its map is in it (x, y, width, height in pixels).
pub struct Figure {
    pub pixmap: Pixmap,
    #[cfg_attr(not(test), allow(dead_code))]
    pub map: (f32, f32, f32, f32),
}

/// Draws the figure of the values `value(row, col)` on `frame` (NaN or `None`: no value).
pub fn render(frame: &MapFrame, value: &dyn Fn(usize, usize) -> Option<f32>, spec: &FigureSpec) -> Result<Figure, String> {
    let plane = match spec.projection {
        Projection::Equirectangular => {
            let (west, east) = frame.lon_span();
            let (south, north) = frame.lat_span();
            Plane::Plate { west, east, south, north, periodic: frame.periodic }
        }
        p => {
            let (west, east) = frame.lon_span();
            let lon0 = spec.centre.filter(|_| frame.periodic).unwrap_or((west + east) / 2.0);
            Plane::Projected(ProjectedFrame::new(p, frame.clone(), lon0))
        }
    };
    let s = spec.dpi / 100.0;
    let font = ab_glyph::FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).map_err(|e| e.to_string())?;
    let ticks = nice_ticks(spec.range.0, spec.range.1, 6);
    let tick_labels: Vec<String> = ticks.iter().map(|&v| format_tick(v)).collect();
    let label_px = 12.0 * s;
    let widest = tick_labels.iter().map(|t| text_width(&font, t, label_px)).fold(0.0f32, f32::max);
    let pad = 14.0 * s;
    let title_h = if spec.title.is_empty() { 0.0 } else { 30.0 * s };
    let (left, bottom) = (48.0 * s, 24.0 * s);
    let right = 18.0 * s + 16.0 * s + 8.0 * s + widest.max(text_width(&font, &spec.units, label_px) - 24.0 * s) + pad;
    let width = spec.width as f32;
    let map_w = width - pad - left - right;
    if map_w < 50.0 {
        return Err(format!(
            "a figure {} pixels wide has no room for the map; ask for at least {} (--width)",
            spec.width,
            (width - map_w + 50.0).ceil()
        ));
    }
    let (pw, ph) = plane.size();
    let map_h = (map_w as f64 * ph / pw) as f32;
    let top = pad + title_h + 16.0 * s;
    let height = (top + map_h + bottom + pad).ceil();
    if !(map_h >= 1.0 && height <= 20_000.0) {
        return Err(format!("a figure {} × {height} pixels is too tall for its width (--width)", spec.width));
    }
    let mut pix = Pixmap::new(spec.width, height as u32).ok_or("the figure's size is not drawable")?;
    pix.fill(Color::WHITE);
    let (mx, my) = (pad + left, top);
    let scale = map_w as f64 / pw;
    let to_px = |x: f64, y: f64| (mx + (x * scale) as f32, my + (y * scale) as f32);
    // the field: each pixel the value of the data cell under its centre
    let nan = spec.colormap.nan_color();
    let (w, h) = (map_w.round() as usize, map_h.round() as usize);
    let stride = spec.width as usize;
    let data = pix.data_mut();
    let mut row_values = vec![f32::NAN; w];
    let mut on_map = vec![false; w];
    for j in 0..h {
        for i in 0..w {
            let (x, y) = ((i as f64 + 0.5) / scale, (j as f64 + 0.5) / scale);
            let ll = plane.to_lonlat(x, y);
            on_map[i] = ll.is_some();
            row_values[i] = ll.and_then(|(lon, lat)| frame.cell(lon, lat)).and_then(|(r, c)| value(r, c)).unwrap_or(f32::NAN);
        }
        let rgba = spec.colormap.render(&row_values, w, 1, spec.range);
        let y = my as usize + j;
        for i in 0..w {
            if !on_map[i] {
                continue;
            }
            let k = (y * stride + mx as usize + i) * 4;
            let c =
                if row_values[i].is_nan() { [nan[0], nan[1], nan[2], 255] } else { [rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2], 255] };
            data[k..k + 4].copy_from_slice(&c);
        }
    }
    // the map's outline, which also clips the lines drawn over it
    let outline: Vec<(f32, f32)> = match &plane {
        Plane::Plate { .. } => vec![(mx, my), (mx + map_w, my), (mx + map_w, my + map_h), (mx, my + map_h)],
        Plane::Projected(p) => p.outline().into_iter().map(|(x, y)| to_px(x, y)).collect(),
    };
    let outline_path = polyline(&outline, true).ok_or("the map has no outline")?;
    let mut clip = Mask::new(pix.width(), pix.height()).ok_or("no mask")?;
    clip.fill_path(&outline_path, FillRule::Winding, true, Transform::identity());
    let line = |pix: &mut Pixmap, pts: &[(f32, f32)], width: f32, color: Color| {
        if let Some(p) = polyline(pts, false) {
            let mut paint = Paint::default();
            paint.set_color(color);
            paint.anti_alias = true;
            let stroke = Stroke { width, ..Stroke::default() };
            pix.stroke_path(&p, &paint, &stroke, Transform::identity(), Some(&clip));
        }
    };
    let seam = pw / 2.0;
    let extent_degrees = match &plane {
        Plane::Plate { west, east, .. } => east - west,
        Plane::Projected(_) => 360.0,
    };
    let outlines = coastlines::load();
    let detail = Detail::for_span(extent_degrees);
    for (outline, on, width, color) in [
        (Outline::Borders, spec.borders, 0.7, Color::from_rgba8(90, 90, 90, 255)),
        (Outline::Coast, spec.coastlines, 1.0, Color::from_rgba8(0, 0, 0, 255)),
    ] {
        if !on {
            continue;
        }
        for placed in place_by(outlines.lines(outline, detail), seam, |lon, lat| plane.to_image(lon, lat)) {
            let pts: Vec<(f32, f32)> = placed.points.iter().map(|&(x, y)| to_px(x as f64, y as f64)).collect();
            line(&mut pix, &pts, width * s, color);
        }
    }
    // graticule and its labels
    let grid_color = Color::from_rgba8(255, 255, 255, 110);
    let text = [40u8, 40, 40];
    let (south, north) = frame.lat_span();
    let lat_extent = match &plane {
        Plane::Projected(p) if p.projection.edge_latitude().is_some() => 60.0,
        _ => north - south,
    };
    let lon_step = degree_step(extent_degrees);
    let lat_step = degree_step(lat_extent);
    let (meridians, parallels) = graticule(lon_step, lat_step);
    let mut labels: Vec<(f32, f32, String, Anchor)> = Vec::new();
    match &plane {
        Plane::Plate { west, east, south, north, .. } => {
            let mut seen: Vec<f64> = Vec::new();
            for &lon in &meridians {
                let Some((x, _)) = plane.to_image(lon, 0.0) else { continue };
                if x < -1e-9 || x > east - west + 1e-9 || seen.iter().any(|&o| (o - x).abs() < 1e-6) {
                    continue;
                }
                seen.push(x);
                let (px, _) = to_px(x, 0.0);
                if spec.graticule {
                    line(&mut pix, &[(px, my), (px, my + map_h)], 0.6 * s, grid_color);
                }
                labels.push((px, my + map_h + 4.0 * s, lon_label(lon, lon_step), Anchor::Top));
            }
            for &lat in parallels.iter().filter(|&&l| l >= *south && l <= *north) {
                let (_, py) = to_px(0.0, north - lat);
                if spec.graticule {
                    line(&mut pix, &[(mx, py), (mx + map_w, py)], 0.6 * s, grid_color);
                }
                labels.push((mx - 5.0 * s, py, lat_label(lat, lat_step), Anchor::Right));
            }
        }
        Plane::Projected(p) => {
            let lon0 = p.lon0;
            let curve = |pix: &mut Pixmap, pts: &mut dyn Iterator<Item = Option<(f64, f64)>>| {
                let mut part: Vec<(f32, f32)> = Vec::new();
                for q in pts.chain(std::iter::once(None)) {
                    match q {
                        Some((x, y)) => part.push(to_px(x, y)),
                        None => {
                            line(pix, &part, 0.6 * s, grid_color);
                            part.clear();
                        }
                    }
                }
            };
            let inner: Vec<f64> = parallels.iter().copied().filter(|l| l.abs() < 90.0).collect();
            if spec.graticule {
                for &lon in &meridians {
                    curve(&mut pix, &mut (-900..=900).map(|k| p.to_image(lon, k as f64 / 10.0)));
                }
                for &lat in &inner {
                    curve(&mut pix, &mut (0..=720).map(|k| p.to_image(lon0 - 180.0 + 1e-9 + k as f64 * (360.0 - 2e-9) / 720.0, lat)));
                }
            }
            match p.projection.edge_latitude() {
                Some(edge) => {
                    let pole = p.to_image(lon0, edge.signum() * 90.0).map(|(x, y)| to_px(x, y)).unwrap_or((0.0, 0.0));
                    for &lon in &meridians {
                        if let Some((x, y)) = p.to_image(lon, edge) {
                            let (px, py) = to_px(x, y);
                            let (dx, dy) = (px - pole.0, py - pole.1);
                            let n = (dx * dx + dy * dy).sqrt().max(1e-6);
                            labels.push((px + dx / n * 14.0 * s, py + dy / n * 10.0 * s, lon_label(lon, lon_step), Anchor::Centre));
                        }
                    }
                }
                None => {
                    for &lat in &inner {
                        if let Some((x, y)) = p.to_image(lon0 - 180.0 + 1e-9, lat) {
                            let (px, py) = to_px(x, y);
                            labels.push((px - 5.0 * s, py, lat_label(lat, lat_step), Anchor::Right));
                        }
                    }
                    for &lon in &meridians {
                        if on_seam(lon, lon0, lon_step / 2.0) {
                            continue;
                        }
                        if let Some((x, _)) = p.to_image(lon, 0.0) {
                            let (px, _) = to_px(x, 0.0);
                            labels.push((px, my + map_h + 4.0 * s, lon_label(lon, lon_step), Anchor::Top));
                        }
                    }
                }
            }
        }
    }
    // the outline over everything on the map
    {
        let mut paint = Paint::default();
        paint.set_color(Color::from_rgba8(60, 60, 60, 255));
        paint.anti_alias = true;
        pix.stroke_path(&outline_path, &paint, &Stroke { width: 1.0 * s, ..Stroke::default() }, Transform::identity(), None);
    }
    for (x, y, t, anchor) in labels {
        draw_text(&mut pix, &font, &t, (x, y), label_px, text, anchor);
    }
    // colorbar
    let (bx0, bx1) = (mx + map_w + 18.0 * s, mx + map_w + 34.0 * s);
    let (by0, by1) = (my, my + map_h);
    let n = (by1 - by0).round().max(2.0) as usize;
    let data = pix.data_mut();
    for j in 0..n {
        let c = spec.colormap.map(1.0 - j as f32 / (n - 1) as f32);
        let y = by0 as usize + j;
        for x in bx0 as usize..bx1 as usize {
            let k = (y * stride + x) * 4;
            data[k..k + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }
    {
        let mut paint = Paint::default();
        paint.set_color(Color::from_rgba8(60, 60, 60, 255));
        let frame_path = polyline(&[(bx0, by0), (bx1, by0), (bx1, by1), (bx0, by1)], true).ok_or("no colorbar")?;
        pix.stroke_path(&frame_path, &paint, &Stroke { width: 1.0 * s, ..Stroke::default() }, Transform::identity(), None);
    }
    let (lo, hi) = spec.range;
    for (v, t) in ticks.iter().zip(&tick_labels) {
        if hi <= lo {
            break;
        }
        let y = by1 - ((v - lo) / (hi - lo)) as f32 * (by1 - by0);
        let mut paint = Paint::default();
        paint.set_color(Color::from_rgba8(60, 60, 60, 255));
        if let Some(p) = polyline(&[(bx1, y), (bx1 + 5.0 * s, y)], false) {
            pix.stroke_path(&p, &paint, &Stroke { width: 1.0 * s, ..Stroke::default() }, Transform::identity(), None);
        }
        draw_text(&mut pix, &font, t, (bx1 + 8.0 * s, y), label_px, text, Anchor::Left);
    }
    draw_text(&mut pix, &font, &spec.units, (bx0, my - 6.0 * s), label_px, text, Anchor::BottomLeft);
    if !spec.title.is_empty() {
        draw_text(&mut pix, &font, &spec.title, (width / 2.0, pad + title_h / 2.0), 17.0 * s, [20, 20, 20], Anchor::Centre);
    }
    Ok(Figure { pixmap: pix, map: (mx, my, w as f32, h as f32) })
}

/// Writes `pixmap` as a PNG with its DPI, atomically (never a partial file).
pub fn write(pixmap: &Pixmap, target: &Path, overwrite: bool, dpi: f32) -> Result<PathBuf, String> {
    let atomic = AtomicTarget::new(target, overwrite).map_err(|e| e.to_string())?;
    let file = atomic.create_file().map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), pixmap.width(), pixmap.height());
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let per_metre = (dpi as f64 / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions { xppu: per_metre, yppu: per_metre, unit: png::Unit::Meter }));
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    // every pixel is opaque: premultiplied and straight alpha are the same bytes
    w.write_image_data(pixmap.data()).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    atomic.commit().map_err(|e| e.to_string())
}

fn polyline(pts: &[(f32, f32)], close: bool) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    let (first, rest) = pts.split_first()?;
    if rest.is_empty() {
        return None;
    }
    pb.move_to(first.0, first.1);
    for p in rest {
        pb.line_to(p.0, p.1);
    }
    if close {
        pb.close();
    }
    pb.finish()
}

/// Which point of the text's box sits at the given position.
#[derive(Clone, Copy)]
enum Anchor {
    Left,
    Right,
    Top,
    Centre,
    BottomLeft,
}

fn text_width(font: &ab_glyph::FontRef<'_>, text: &str, px: f32) -> f32 {
    use ab_glyph::{Font, ScaleFont};
    let sf = font.as_scaled(px);
    text.chars().map(|c| sf.h_advance(sf.glyph_id(c))).sum()
}

/// Draws `text` in `color` at `at` per `anchor`, blending by glyph coverage.
fn draw_text(pix: &mut Pixmap, font: &ab_glyph::FontRef<'_>, text: &str, at: (f32, f32), px: f32, color: [u8; 3], anchor: Anchor) {
    use ab_glyph::{Font, ScaleFont, point};
    let sf = font.as_scaled(px);
    let (w, h) = (text_width(font, text, px), sf.ascent() - sf.descent());
    let (x0, y0) = match anchor {
        Anchor::Left => (at.0, at.1 - h / 2.0),
        Anchor::Right => (at.0 - w, at.1 - h / 2.0),
        Anchor::Top => (at.0 - w / 2.0, at.1),
        Anchor::Centre => (at.0 - w / 2.0, at.1 - h / 2.0),
        Anchor::BottomLeft => (at.0, at.1 - h),
    };
    let (pw, ph) = (pix.width() as i64, pix.height() as i64);
    let data = pix.data_mut();
    let mut caret = x0;
    for ch in text.chars() {
        let g = sf.scaled_glyph(ch);
        let advance = sf.h_advance(g.id);
        let g = ab_glyph::Glyph { position: point(caret, y0 + sf.ascent()), ..g };
        if let Some(o) = font.outline_glyph(g) {
            let b = o.px_bounds();
            o.draw(|gx, gy, cov| {
                let (x, y) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if x >= 0 && y >= 0 && x < pw && y < ph {
                    let k = ((y * pw + x) * 4) as usize;
                    for c in 0..3 {
                        data[k + c] = (data[k + c] as f32 * (1.0 - cov) + color[c] as f32 * cov).round() as u8;
                    }
                }
            });
        }
        caret += advance;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2° globe stored 0…360, north first: 0 in the eastern hemisphere (0…180°E), 1 in the
    /// western, so that a figure shows which half went where.
    fn hemispheres(centre: Option<f64>) -> (MapFrame, Vec<f32>) {
        let lat: Vec<f64> = (0..90).map(|i| 89.0 - 2.0 * i as f64).collect();
        let lon: Vec<f64> = (0..180).map(|i| 1.0 + 2.0 * i as f64).collect();
        let values = (0..90 * 180).map(|k| if lon[k % 180] < 180.0 { 0.0 } else { 1.0 }).collect();
        (MapFrame::new(lat, lon, false, centre).unwrap(), values)
    }

    fn spec(projection: Projection) -> FigureSpec {
        let mut s = FigureSpec::new(Colormap::by_name("gray").unwrap(), (0.0, 1.0));
        s.projection = projection;
        s.width = 640;
        s.dpi = 100.0;
        s.coastlines = false;
        s.graticule = false;
        s
    }

    fn pixel(f: &Figure, u: f32, v: f32) -> [u8; 4] {
        let (x, y) = ((f.map.0 + u * f.map.2) as u32, (f.map.1 + v * f.map.3) as u32);
        let c = f.pixmap.pixel(x, y).unwrap();
        [c.red(), c.green(), c.blue(), c.alpha()]
    }

    #[test]
    fn each_value_is_drawn_where_its_longitude_and_latitude_are() {
        let (frame, values) = hemispheres(Some(0.0));
        let value = |r: usize, c: usize| values.get(r * 180 + c).copied();
        // centred on 0°: the western hemisphere (1, white) on the left, the eastern (0) right
        let f = render(&frame, &value, &spec(Projection::Equirectangular)).unwrap();
        assert!((f.map.2 / f.map.3 - 2.0).abs() < 0.01, "360° by 180°: {:?}", f.map);
        assert_eq!(pixel(&f, 0.25, 0.4), [255, 255, 255, 255]);
        assert_eq!(pixel(&f, 0.75, 0.4), [0, 0, 0, 255]);
        // as stored (0…360): the eastern hemisphere first
        let (stored, _) = hemispheres(None);
        let f = render(&stored, &value, &spec(Projection::Equirectangular)).unwrap();
        assert_eq!(pixel(&f, 0.25, 0.4), [0, 0, 0, 255]);
        assert_eq!(pixel(&f, 0.75, 0.4), [255, 255, 255, 255]);
        // Mollweide centred on 0°: the same halves, white off the globe
        let mut m = spec(Projection::Mollweide);
        m.centre = Some(0.0);
        let f = render(&frame, &value, &m).unwrap();
        assert_eq!(pixel(&f, 0.3, 0.5), [255, 255, 255, 255]);
        assert_eq!(pixel(&f, 0.7, 0.5), [0, 0, 0, 255]);
        assert_eq!(pixel(&f, 0.01, 0.01), [255, 255, 255, 255], "off the globe: the page");
        // a value that is missing is drawn in the colormap's NaN color
        let f = render(&frame, &|_, _| None, &spec(Projection::Equirectangular)).unwrap();
        let nan = Colormap::by_name("gray").unwrap().nan_color();
        assert_eq!(pixel(&f, 0.5, 0.5)[..3], nan[..3]);
    }

    #[test]
    fn a_width_without_room_for_the_map_is_an_error() {
        let (frame, values) = hemispheres(Some(0.0));
        let mut s = spec(Projection::Robinson);
        s.width = 60;
        let e = render(&frame, &|r, c| values.get(r * 180 + c).copied(), &s).err().unwrap();
        assert!(e.contains("--width"), "{e}");
    }

    /// The whole figure (coastlines, graticule, labels, colorbar, title) compared with
    /// `tests/snapshots/figure-robinson.png` (renew it on purpose with `UPDATE_SNAPSHOTS=1`).
    #[test]
    fn a_robinson_figure_matches_its_snapshot() {
        let (frame, _) = hemispheres(Some(0.0));
        // a smooth field: warm at the equator
        let value = |r: usize, _c: usize| Some(300.0 - (r as f32 - 44.5).abs());
        let mut s = FigureSpec::new(Colormap::by_name("viridis").unwrap(), (255.0, 300.0));
        s.projection = Projection::Robinson;
        s.centre = Some(0.0);
        s.title = "A test field".into();
        s.units = "K".into();
        s.width = 560;
        s.dpi = 100.0;
        let f = render(&frame, &value, &s).unwrap();
        let img = image::RgbaImage::from_raw(f.pixmap.width(), f.pixmap.height(), f.pixmap.data().to_vec()).unwrap();
        egui_kittest::image_snapshot_options(
            &img,
            "figure-robinson",
            &egui_kittest::SnapshotOptions::new().threshold(1.0).max_failed_pixels(20),
        );
    }
}
