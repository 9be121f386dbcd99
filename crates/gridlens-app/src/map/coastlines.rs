//! Natural Earth's coastlines and country borders (1:110m and 1:50m, `assets/coastlines.bin`,
//! see `assets/README.md`), decoded once on a background thread, and placed on an image's
//! [`MapFrame`] as polylines in image coordinates, split where they cross the image's seam.

use super::geo::MapFrame;
use super::projected::ProjectedFrame;
use std::sync::{Arc, OnceLock};

const ASSET: &[u8] = include_bytes!("../../../../assets/coastlines.bin");

/// Which outlines to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outline {
    Coast,
    Borders,
}

/// Level of detail: Natural Earth's scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Detail {
    /// 1:110m, for the whole globe.
    Coarse,
    /// 1:50m, once a view spans less than about 60° of longitude.
    Fine,
}

impl Detail {
    /// The detail for a view showing `degrees` of longitude across.
    pub fn for_span(degrees: f64) -> Detail {
        if degrees > 60.0 { Detail::Coarse } else { Detail::Fine }
    }
}

/// A polyline of (longitude, latitude) in degrees.
pub type Line = Vec<(f32, f32)>;

/// The decoded outlines: (outline, detail) → lines.
pub struct Outlines {
    layers: Vec<((Outline, Detail), Vec<Line>)>,
}

impl Outlines {
    pub fn lines(&self, outline: Outline, detail: Detail) -> &[Line] {
        self.layers.iter().find(|(k, _)| *k == (outline, detail)).map(|(_, l)| l.as_slice()).unwrap_or(&[])
    }
}

static DECODED: OnceLock<Arc<Outlines>> = OnceLock::new();

/// The outlines once decoded; the first call starts the decoding on a thread of its own
/// and returns `None` until it is done (`ready` is called then, to ask for a frame).
pub fn outlines(ready: impl Fn() + Send + 'static) -> Option<Arc<Outlines>> {
    static STARTED: std::sync::Once = std::sync::Once::new();
    if let Some(o) = DECODED.get() {
        return Some(o.clone());
    }
    STARTED.call_once(|| {
        std::thread::Builder::new()
            .name("gridlens-coastlines".into())
            .spawn(move || {
                load();
                ready();
            })
            .expect("spawn the coastline thread");
    });
    None
}

/// The outlines decoded on the calling thread (for tests that draw them at once).
/// The outlines, decoded on the calling thread unless they are already (the command line,
/// and the app's decoding thread).
pub fn load() -> Arc<Outlines> {
    // the asset is ours and checked by a test: a decoding error is a build error
    DECODED.get_or_init(|| Arc::new(decode(ASSET).expect("assets/coastlines.bin decodes"))).clone()
}

/// Decodes the asset's format (described in `tools/coastlines.py`).
fn decode(bytes: &[u8]) -> Result<Outlines, String> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(8)? != b"GLCOAST1" {
        return Err("not a gridlens coastline file".into());
    }
    let mut layers = Vec::new();
    for _ in 0..r.u32()? {
        let name_len = r.take(1)?[0] as usize;
        let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
        let key = match name.as_str() {
            "coast-110m" => Some((Outline::Coast, Detail::Coarse)),
            "coast-50m" => Some((Outline::Coast, Detail::Fine)),
            "borders-110m" => Some((Outline::Borders, Detail::Coarse)),
            "borders-50m" => Some((Outline::Borders, Detail::Fine)),
            _ => None,
        };
        let mut lines = Vec::new();
        for _ in 0..r.u32()? {
            let n = r.u32()? as usize;
            let raw = r.take(n * 4)?;
            let line: Line = raw
                .chunks_exact(4)
                .map(|p| {
                    let lon = i16::from_le_bytes([p[0], p[1]]) as f32 * 180.0 / 32767.0;
                    let lat = i16::from_le_bytes([p[2], p[3]]) as f32 * 90.0 / 32767.0;
                    (lon, lat)
                })
                .collect();
            lines.push(line);
        }
        if let Some(key) = key {
            layers.push((key, lines));
        }
    }
    Ok(Outlines { layers })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self.bytes.get(self.at..self.at + n).ok_or("the coastline file ends early")?;
        self.at += n;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
}

/// A polyline in image coordinates (x, y) and its bounding box (min, max).
pub struct Placed {
    pub points: Vec<(f32, f32)>,
    pub min: (f32, f32),
    pub max: (f32, f32),
}

/// Where longitudes and latitudes are placed: the data's grid as drawn, or a projected map.
#[derive(Clone, Debug, PartialEq)]
pub enum Surface {
    Grid(MapFrame),
    Projected(ProjectedFrame),
    /// A curvilinear grid (2-D latitude and longitude), its rows reversed when `true`
    /// (north up).
    Curvilinear(super::curvilinear::Shared, bool),
}

impl Surface {
    /// Image point of (lon, lat), `None` where the map does not reach.
    pub fn to_image(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        match self {
            Surface::Grid(f) => Some((f.x_of(lon), f.y_of(lat))),
            Surface::Projected(p) => p.to_image(lon, lat),
            Surface::Curvilinear(g, flip) => g.0.locate(lon, lat).map(|(x, y)| if *flip { (x, g.0.grid.rows as f64 - y) } else { (x, y) }),
        }
    }

    /// The image's width: a jump of more than half of it between two points of a line is a
    /// crossing of the seam.
    pub fn width(&self) -> f64 {
        match self {
            Surface::Grid(f) => f.cols() as f64,
            Surface::Projected(p) => p.size.0,
            Surface::Curvilinear(g, _) => g.0.grid.cols as f64,
        }
    }
}

/// `lines` in `surface`'s image coordinates. A line is broken where it jumps across the
/// image's seam (more than half the image between two points), so that nothing is drawn
/// across the map from one edge to the other, and where it leaves the map.
pub fn place(lines: &[Line], surface: &Surface) -> Vec<Placed> {
    place_by(lines, surface.width() / 2.0, |lon, lat| surface.to_image(lon, lat))
}

/// `lines` through `to_image` (`None`: off the map), broken where they leave the map or
/// jump more than `seam` between two points.
pub fn place_by(lines: &[Line], seam: f64, to_image: impl Fn(f64, f64) -> Option<(f64, f64)>) -> Vec<Placed> {
    let seam = seam as f32;
    let mut out = Vec::new();
    for line in lines {
        let mut part: Vec<(f32, f32)> = Vec::with_capacity(line.len());
        for &(lon, lat) in line {
            let Some((x, y)) = to_image(lon as f64, lat as f64) else {
                out.extend(finish(std::mem::take(&mut part)));
                continue;
            };
            let p = (x as f32, y as f32);
            if let Some(last) = part.last()
                && (p.0 - last.0).abs() > seam
            {
                out.extend(finish(std::mem::take(&mut part)));
            }
            part.push(p);
        }
        out.extend(finish(part));
    }
    out
}

/// Outlines placed on a frame, kept while the frame and the level of detail stay.
#[derive(Default)]
pub struct PlacedCache {
    entries: Vec<((Surface, Outline, Detail), Arc<Vec<Placed>>)>,
}

impl PlacedCache {
    /// `outline` at `detail` on `surface`, placed once per surface (a few ms for the fine
    /// coast's 60,000 points).
    pub fn get(&mut self, outlines: &Outlines, surface: &Surface, outline: Outline, detail: Detail) -> Arc<Vec<Placed>> {
        if let Some((_, p)) = self.entries.iter().find(|(k, _)| k.0 == *surface && k.1 == outline && k.2 == detail) {
            return p.clone();
        }
        let placed = Arc::new(place(outlines.lines(outline, detail), surface));
        // a new surface makes the others stale; both details of both outlines fit
        self.entries.retain(|(k, _)| k.0 == *surface);
        self.entries.push(((surface.clone(), outline, detail), placed.clone()));
        placed
    }
}

fn finish(points: Vec<(f32, f32)>) -> Option<Placed> {
    if points.len() < 2 {
        return None;
    }
    let mut min = (f32::INFINITY, f32::INFINITY);
    let mut max = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &(x, y) in &points {
        min = (min.0.min(x), min.1.min(y));
        max = (max.0.max(x), max.1.max(y));
    }
    Some(Placed { points, min, max })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asset_holds_both_scales_of_coast_and_borders() {
        let o = decode(ASSET).unwrap();
        for outline in [Outline::Coast, Outline::Borders] {
            let (coarse, fine) = (o.lines(outline, Detail::Coarse), o.lines(outline, Detail::Fine));
            let points = |l: &[Line]| l.iter().map(Vec::len).sum::<usize>();
            assert!(points(coarse) > 2000 && points(fine) > 3 * points(coarse), "{outline:?}: {} and {}", points(coarse), points(fine));
        }
        // every point is a longitude and latitude
        let all = o.layers.iter().flat_map(|(_, l)| l.iter().flatten());
        assert!(all.clone().all(|&(lon, lat)| lon.abs() <= 180.0 && lat.abs() <= 90.0));
        // Natural Earth's coast reaches Cape Agulhas (34.8 S, 20.0 E) and Svalbard (80 N)
        let coast = o.lines(Outline::Coast, Detail::Fine).iter().flatten();
        assert!(coast.clone().any(|&(lon, lat)| (lon - 20.0).abs() < 0.2 && (lat + 34.83).abs() < 0.1));
        assert!(coast.clone().any(|&(_, lat)| lat > 80.0));
        assert!(decode(&ASSET[..ASSET.len() - 3]).is_err(), "a truncated file is an error, not a panic");
    }

    #[test]
    fn a_line_crossing_the_seam_is_split() {
        // 0…360 grid of 36 columns: a line from 350°E to 10°E crosses the seam at 0°
        let lon: Vec<f64> = (0..36).map(|i| 5.0 + i as f64 * 10.0).collect();
        let frame = MapFrame::new(vec![10.0, 0.0, -10.0], lon.clone(), false, None).unwrap();
        let placed = place(&[vec![(-10.0, 0.0), (-5.0, 0.0), (5.0, 0.0), (10.0, 0.0)]], &Surface::Grid(frame));
        assert_eq!(placed.len(), 2);
        assert_eq!(placed[0].points, vec![(35.0, 1.5), (35.5, 1.5)]);
        assert_eq!(placed[1].points, vec![(0.5, 1.5), (1.0, 1.5)]);
        // centred on 0°, the same line is drawn in one piece in the middle
        let centred = MapFrame::new(vec![10.0, 0.0, -10.0], lon, false, Some(0.0)).unwrap();
        let placed = place(&[vec![(-10.0, 0.0), (10.0, 0.0)]], &Surface::Grid(centred));
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].points, vec![(18.0, 1.5), (20.0, 1.5)]);
    }
}
