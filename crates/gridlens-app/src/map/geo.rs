//! Where a longitude and latitude fall on the image as drawn, and back: the frame the
//! coastlines, the graticule, the readout and clicks share. Image x runs over drawn columns
//! (column k covers [k, k + 1)), image y over drawn rows. Two mappings sit between drawn and
//! data cells: rows reversed (north up, when the latitudes ascend) and columns rotated
//! (longitude centring of a grid that goes once round the globe), neither copying the data.

use gridlens::source::{Coordinate, Metadata};

/// The frame of one image: the latitude of each data row and longitude of each data column
/// (cell centres, monotonic), and how drawn cells map to data cells.
#[derive(Clone, Debug, PartialEq)]
pub struct MapFrame {
    lat: Vec<f64>,
    lon: Vec<f64>,
    /// Drawn row k shows data row rows - 1 - k.
    pub flip: bool,
    /// Drawn column k shows data column (k + shift) % cols.
    pub shift: usize,
    /// The longitudes are evenly spaced and go once round the globe.
    pub periodic: bool,
}

impl MapFrame {
    /// A frame when `lat` and `lon` are monotonic with at least two values each (else the
    /// image has no geographic frame). `centre`: the longitude to draw in the middle, for a
    /// periodic grid (`None`: the columns as stored).
    pub fn new(lat: Vec<f64>, lon: Vec<f64>, flip: bool, centre: Option<f64>) -> Option<MapFrame> {
        if !monotonic(&lat) || !monotonic(&lon) || lat.iter().any(|v| v.abs() > 90.0 + 1e-6) {
            return None;
        }
        let n = lon.len();
        let step = (lon[n - 1] - lon[0]) / (n - 1) as f64;
        let even = lon.windows(2).all(|w| ((w[1] - w[0]) - step).abs() <= step.abs() * 1e-3);
        let periodic = even && ((step * n as f64).abs() - 360.0).abs() <= step.abs() * 0.5;
        let mut frame = MapFrame { lat, lon, flip, shift: 0, periodic };
        if let (true, Some(c)) = (periodic, centre) {
            // the column nearest to c is drawn in the middle, at n / 2
            let j = ((c - frame.lon[0]) / step).round().rem_euclid(n as f64) as usize % n;
            frame.shift = (j + n - n / 2) % n;
        }
        Some(frame)
    }

    pub fn rows(&self) -> usize {
        self.lat.len()
    }

    pub fn cols(&self) -> usize {
        self.lon.len()
    }

    /// The data column drawn at image column `x` (0 ≤ x < cols).
    pub fn data_col(&self, x: f64) -> usize {
        let n = self.cols();
        ((x.max(0.0) as usize).min(n - 1) + self.shift) % n
    }

    /// The data cell (row, column) at longitude `lon`, latitude `lat`: `None` outside the
    /// data (a regional grid).
    pub fn cell(&self, lon: f64, lat: f64) -> Option<(usize, usize)> {
        let (x, y) = (self.x_of(lon), self.y_of(lat));
        ((0.0..self.rows() as f64).contains(&y) && (0.0..self.cols() as f64).contains(&x)).then(|| (self.data_row(y), self.data_col(x)))
    }

    /// The data row drawn at image row `y` (0 ≤ y < rows).
    fn data_row(&self, y: f64) -> usize {
        data_row(y, self.rows(), self.flip)
    }

    /// Image x of longitude `lon` (any multiple of 360° off), continuous across the image
    /// and extrapolated past its edges, so that lines leaving a regional image are clipped
    /// rather than dropped.
    pub fn x_of(&self, lon: f64) -> f64 {
        let n = self.cols() as f64;
        if self.periodic {
            let step = (self.lon[self.cols() - 1] - self.lon[0]) / (n - 1.0);
            // the drawn left edge's longitude, then the offset east of it within one turn
            let left = self.lon[0] - step / 2.0 + self.shift as f64 * step;
            let east = if step > 0.0 { (lon - left).rem_euclid(360.0) } else { (left - lon).rem_euclid(360.0) };
            return east / step.abs();
        }
        // a regional grid: the turn of `lon` nearest the grid's middle
        let mid = (self.lon[0] + self.lon[self.cols() - 1]) / 2.0;
        let lon = lon - ((lon - mid) / 360.0).round() * 360.0;
        fractional_index(&self.lon, lon) + 0.5
    }

    /// Image y of latitude `lat`, extrapolated past the image's edges.
    pub fn y_of(&self, lat: f64) -> f64 {
        let y = fractional_index(&self.lat, lat) + 0.5;
        if self.flip { self.rows() as f64 - y } else { y }
    }

    /// The longitude range drawn, west to east edge (may exceed ±180 for a shifted grid).
    pub fn lon_span(&self) -> (f64, f64) {
        let n = self.cols() as f64;
        let (a, b) = (self.lon_edge(0.0), self.lon_edge(n));
        if self.periodic { (a, a + 360.0) } else { (a.min(b), a.max(b)) }
    }

    /// The latitude range drawn, southern to northern edge.
    pub fn lat_span(&self) -> (f64, f64) {
        let (a, b) = (edge(&self.lat, 0.0), edge(&self.lat, self.rows() as f64));
        (a.min(b).max(-90.0), a.max(b).min(90.0))
    }

    fn lon_edge(&self, x: f64) -> f64 {
        if self.periodic {
            let n = self.cols() as f64;
            let step = (self.lon[self.cols() - 1] - self.lon[0]) / (n - 1.0);
            return self.lon[0] - step / 2.0 + (self.shift as f64 + x) * step;
        }
        edge(&self.lon, x)
    }
}

/// The latitudes and longitudes of the last two axes of a source (rows, columns), when
/// they are such coordinates.
pub fn lat_lon(metadata: &Metadata) -> Option<(Vec<f64>, Vec<f64>)> {
    let n = metadata.coords.len();
    let (rows, cols) = (metadata.coords.get(n.checked_sub(2)?)?.as_ref()?, metadata.coords.get(n - 1)?.as_ref()?);
    (is_axis(rows, Axis::Latitude) && is_axis(cols, Axis::Longitude) && rows.values.len() >= 2 && cols.values.len() >= 2)
        .then(|| (rows.values.clone(), cols.values.clone()))
}

#[derive(Clone, Copy, PartialEq)]
enum Axis {
    Latitude,
    Longitude,
}

/// Whether coordinate `c` is a latitude or longitude: by its CF units (`degrees_north`, and
/// the spellings CF allows), else by its name (`lat`, `latitude…`), as the readout finds them.
fn is_axis(c: &Coordinate, axis: Axis) -> bool {
    let (units, names): (&[&str], &[&str]) = match axis {
        Axis::Latitude => {
            (&["degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"], &["lat", "latitude", "nav_lat", "y_lat"])
        }
        Axis::Longitude => (
            &["degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"],
            &["lon", "long", "longitude", "nav_lon", "x_lon"],
        ),
    };
    if let Some(u) = &c.units {
        let u = u.trim().to_ascii_lowercase();
        if units.contains(&u.as_str()) {
            return true;
        }
    }
    let name = c.name.to_ascii_lowercase();
    names.contains(&name.as_str()) || name.starts_with(names[1])
}

/// The data row under image point `y` (0 ≤ y < rows, from the top as drawn): drawn row k
/// shows data row rows - 1 - k when the rows are flipped.
pub fn data_row(y: f64, rows: usize, flip: bool) -> usize {
    let k = (y.max(0.0) as usize).min(rows - 1);
    if flip { rows - 1 - k } else { k }
}

/// The longitudes and latitudes of graticule lines `lon_step` and `lat_step` apart: meridians
/// from 180°W (180°E is the same line), parallels from pole to pole.
pub fn graticule(lon_step: f64, lat_step: f64) -> (Vec<f64>, Vec<f64>) {
    let meridians = (0..(360.0 / lon_step).round() as usize).map(|k| -180.0 + k as f64 * lon_step).collect();
    let parallels = ((-90.0 / lat_step).ceil() as i64..=(90.0 / lat_step).floor() as i64).map(|k| k as f64 * lat_step).collect();
    (meridians, parallels)
}

/// Whether meridian `lon` is within `tolerance` degrees of the edge of a map centred on
/// `lon0` (where the map's own outline stands for it).
pub fn on_seam(lon: f64, lon0: f64, tolerance: f64) -> bool {
    normalize_lon(lon - lon0).abs() >= 180.0 - tolerance
}

/// Longitude in [-180, 180).
pub fn normalize_lon(lon: f64) -> f64 {
    (lon + 180.0).rem_euclid(360.0) - 180.0
}

/// The step between labelled lines for a view `degrees` across: 3 to 7 lines.
pub fn degree_step(degrees: f64) -> f64 {
    const STEPS: [f64; 16] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0];
    STEPS.into_iter().find(|&s| degrees / s <= 7.0).unwrap_or(90.0)
}

/// Decimals a label needs to tell lines `step` apart.
fn decimals(step: f64) -> usize {
    (0..4).find(|&d| (step * 10f64.powi(d as i32) - (step * 10f64.powi(d as i32)).round()).abs() < 1e-9).unwrap_or(4)
}

/// `30°E`, `30°W`, `0°`, `180°`.
pub fn lon_label(lon: f64, step: f64) -> String {
    let lon = normalize_lon(lon);
    let d = decimals(step);
    let a = lon.abs();
    if a < 1e-9 || (a - 180.0).abs() < 1e-9 {
        return format!("{:.d$}°", a);
    }
    format!("{:.d$}°{}", a, if lon > 0.0 { "E" } else { "W" })
}

/// `60°N`, `60°S`, `0°`.
pub fn lat_label(lat: f64, step: f64) -> String {
    let d = decimals(step);
    if lat.abs() < 1e-9 {
        return "0°".into();
    }
    format!("{:.d$}°{}", lat.abs(), if lat > 0.0 { "N" } else { "S" })
}

fn monotonic(v: &[f64]) -> bool {
    v.len() >= 2 && v.iter().all(|x| x.is_finite()) && (v.windows(2).all(|w| w[1] > w[0]) || v.windows(2).all(|w| w[1] < w[0]))
}

/// Where `value` falls among the monotonic `v`, as a fractional index (i at v[i], linear
/// between neighbours, extrapolated with the end spacing outside).
fn fractional_index(v: &[f64], value: f64) -> f64 {
    let n = v.len();
    let ascending = v[n - 1] > v[0];
    // the first index whose value is past `value` in the array's direction
    let i = v.partition_point(|&x| if ascending { x <= value } else { x >= value });
    let j = i.clamp(1, n - 1);
    let (a, b) = (v[j - 1], v[j]);
    (j - 1) as f64 + (value - a) / (b - a)
}

/// The coordinate at fractional image position `x` (cell edges at integers, centres at
/// half-integers).
fn edge(v: &[f64], x: f64) -> f64 {
    let n = v.len();
    let t = x - 0.5;
    let j = (t.floor().max(0.0) as usize + 1).clamp(1, n - 1);
    let (a, b) = (v[j - 1], v[j]);
    a + (t - (j - 1) as f64) * (b - a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize, first: f64) -> Vec<f64> {
        let step = 360.0 / n as f64;
        (0..n).map(|i| first + i as f64 * step).collect()
    }

    #[test]
    fn points_map_to_the_data_row_drawn_there() {
        // five rows; drawn row k covers [k, k + 1)
        for (y, plain, flipped) in [(0.0, 0, 4), (0.5, 0, 4), (1.0, 1, 3), (3.999, 3, 1), (4.0, 4, 0), (4.5, 4, 0)] {
            assert_eq!(data_row(y, 5, false), plain, "y = {y}");
            assert_eq!(data_row(y, 5, true), flipped, "y = {y}, flipped");
        }
    }

    #[test]
    fn a_grid_stored_from_0_to_360_is_centred_on_greenwich() {
        // 8 columns of 45°: centres 0, 45, …, 315
        let lat = vec![45.0, -45.0];
        let plain = MapFrame::new(lat.clone(), grid(8, 0.0), false, None).unwrap();
        assert!(plain.periodic);
        assert_eq!(plain.shift, 0);
        assert_eq!(plain.x_of(0.0), 0.5);
        assert_eq!(plain.x_of(-45.0), 7.5, "315° east is 45° west");
        let centred = MapFrame::new(lat.clone(), grid(8, 0.0), false, Some(0.0)).unwrap();
        // column 0 (0°) is drawn in the middle, at 4
        assert_eq!(centred.shift, 4);
        assert_eq!(centred.data_col(0.0), 4);
        assert_eq!(centred.x_of(0.0), 4.5, "Greenwich is drawn in the middle");
        assert_eq!(centred.data_col(4.5), 0);
        assert_eq!(centred.x_of(-45.0), 3.5);
        assert_eq!(centred.lon_span(), (157.5, 517.5));
        // every drawn column shows a different data column
        let mut seen: Vec<usize> = (0..8).map(|x| centred.data_col(x as f64 + 0.5)).collect();
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        // centred on 180°, as stored
        assert_eq!(MapFrame::new(lat, grid(8, 0.0), false, Some(180.0)).unwrap().shift, 0);
    }

    #[test]
    fn latitudes_follow_north_up_and_extrapolate_past_the_edges() {
        let lat = vec![-60.0, -30.0, 0.0, 30.0, 60.0];
        let f = MapFrame::new(lat.clone(), grid(4, -135.0), true, None).unwrap();
        assert_eq!(f.y_of(60.0), 0.5, "the northernmost row is drawn first");
        assert_eq!(f.y_of(-60.0), 4.5);
        assert_eq!(f.y_of(75.0), 0.0, "the northern edge of the top cell");
        assert_eq!(f.lat_span(), (-75.0, 75.0));
        let g = MapFrame::new(lat, grid(4, -135.0), false, None).unwrap();
        assert_eq!(g.y_of(-60.0), 0.5);
        assert_eq!(g.y_of(90.0), 5.5, "one step past the last row's centre");
    }

    #[test]
    fn a_regional_grid_is_not_wrapped() {
        // 10°E … 30°E every 5°: not once round the globe
        let f = MapFrame::new(vec![50.0, 40.0], vec![10.0, 15.0, 20.0, 25.0, 30.0], false, Some(0.0)).unwrap();
        assert!(!f.periodic);
        assert_eq!(f.shift, 0, "centring applies only to a whole circle");
        assert_eq!(f.x_of(10.0), 0.5);
        assert_eq!(f.x_of(370.0), 0.5, "any turn of the same longitude");
        assert_eq!(f.x_of(0.0), -1.5, "west of the region: left of the image");
        assert_eq!(f.lon_span(), (7.5, 32.5));
    }

    #[test]
    fn irregular_or_non_monotonic_coordinates_have_no_frame() {
        assert!(MapFrame::new(vec![1.0, 1.0], grid(4, 0.0), false, None).is_none());
        assert!(MapFrame::new(vec![0.0, 10.0, 5.0], grid(4, 0.0), false, None).is_none());
        assert!(MapFrame::new(vec![0.0, 100.0], grid(4, 0.0), false, None).is_none(), "not latitudes");
        // a Gaussian-like irregular latitude axis is fine; an uneven longitude axis does not wrap
        let f = MapFrame::new(vec![80.0, 41.0, 0.0, -41.0, -80.0], vec![0.0, 10.0, 30.0, 90.0], false, Some(0.0)).unwrap();
        assert!(!f.periodic);
        assert!((f.y_of(41.0) - 1.5).abs() < 1e-12);
        assert!((f.x_of(60.0) - 3.0).abs() < 1e-12);
    }
}
