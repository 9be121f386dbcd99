//! A curvilinear grid (2-D latitude and longitude per cell, as ocean and regional models
//! write them): where a longitude and latitude fall among its cells, for coastlines drawn over
//! the data as stored. The cells' centres are binned by degrees once; a point finds its
//! nearest centre in the bins around it and is then placed between the neighbours by one
//! Newton step on the grid's local (row, column) → (lat, lon) map.

use super::geo::normalize_lon;
use gridlens::source::GeoGrid;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Curvilinear {
    pub grid: GeoGrid,
    /// Bin size in degrees, and the cells whose centres fall in each bin.
    bin: f64,
    bins: HashMap<(i32, i32), Vec<u32>>,
    /// Typical distance between neighbouring centres (degrees): farther than twice that
    /// from every centre is off the grid.
    spacing: f64,
}

/// A shared grid compared by identity (one per data set), so that caches keyed by it stay
/// cheap to check every frame.
#[derive(Clone)]
pub struct Shared(pub Arc<Curvilinear>);

impl PartialEq for Shared {
    fn eq(&self, other: &Shared) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Curvilinear({} × {})", self.0.grid.rows, self.0.grid.cols)
    }
}

impl Curvilinear {
    pub fn new(grid: GeoGrid) -> Curvilinear {
        let (rows, cols) = (grid.rows, grid.cols);
        // the median distance to the right-hand neighbour, on a sample of cells
        let mut d: Vec<f64> = (0..rows * cols)
            .step_by((rows * cols / 2000).max(1))
            .filter(|&k| k % cols + 1 < cols)
            .map(|k| distance(grid.lat[k], grid.lon[k], grid.lat[k + 1], grid.lon[k + 1]))
            .filter(|d| d.is_finite())
            .collect();
        d.sort_by(f64::total_cmp);
        let spacing = d.get(d.len() / 2).copied().unwrap_or(1.0).max(1e-6);
        let bin = spacing * 2.0;
        let mut bins: HashMap<(i32, i32), Vec<u32>> = HashMap::new();
        for k in 0..rows * cols {
            let (lat, lon) = (grid.lat[k], grid.lon[k]);
            if lat.is_finite() && lon.is_finite() {
                bins.entry(key(lat, lon, bin)).or_default().push(k as u32);
            }
        }
        Curvilinear { grid, bin, bins, spacing }
    }

    /// Latitude and longitude of cell (row, col).
    pub fn lat_lon(&self, row: usize, col: usize) -> Option<(f64, f64)> {
        let k = row * self.grid.cols + col;
        Some((*self.grid.lat.get(k)?, *self.grid.lon.get(k)?))
    }

    /// Image point (x, y) (columns, rows; cell centres at half-integers) of (lon, lat);
    /// `None` off the grid.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let (i, j) = key(lat, lon, self.bin);
        let mut best: Option<(f64, u32)> = None;
        for di in -1..=1 {
            for dj in -1..=1 {
                // longitude bins wrap at ±180°
                let jj = wrap_bin(j + dj, self.bin);
                for &k in self.bins.get(&(i + di, jj)).into_iter().flatten() {
                    let d = distance(lat, lon, self.grid.lat[k as usize], self.grid.lon[k as usize]);
                    if best.is_none_or(|(b, _)| d < b) {
                        best = Some((d, k));
                    }
                }
            }
        }
        let (d, k) = best?;
        if d > 2.0 * self.spacing {
            return None;
        }
        let (r, c) = ((k as usize / self.grid.cols) as f64, (k as usize % self.grid.cols) as f64);
        // one Newton step: (lat, lon) ≈ centre + J · (δr, δc), J from the neighbours
        let (rows, cols) = (self.grid.rows, self.grid.cols);
        let at = |r: usize, c: usize| (self.grid.lat[r * cols + c], self.grid.lon[r * cols + c]);
        let (ri, ci) = (r as usize, c as usize);
        let (r0, r1) = (ri.saturating_sub(1), (ri + 1).min(rows - 1));
        let (c0, c1) = (ci.saturating_sub(1), (ci + 1).min(cols - 1));
        let (la, lo) = at(ri, ci);
        let dr = |a: (f64, f64), b: (f64, f64), n: usize| ((b.0 - a.0) / n as f64, normalize_lon(b.1 - a.1) / n as f64);
        let (mut dx, mut dy) = (0.0, 0.0);
        if r1 > r0 && c1 > c0 {
            let (lat_r, lon_r) = dr(at(r0, ci), at(r1, ci), r1 - r0);
            let (lat_c, lon_c) = dr(at(ri, c0), at(ri, c1), c1 - c0);
            let det = lat_r * lon_c - lat_c * lon_r;
            if det.abs() > 1e-12 {
                let (dlat, dlon) = (lat - la, normalize_lon(lon - lo));
                dy = ((dlat * lon_c - lat_c * dlon) / det).clamp(-1.0, 1.0);
                dx = ((lat_r * dlon - dlat * lon_r) / det).clamp(-1.0, 1.0);
            }
        }
        Some((c + 0.5 + dx, r + 0.5 + dy))
    }
}

/// Degrees between two points, longitude shrunk by the cosine of the latitude.
fn distance(lat0: f64, lon0: f64, lat1: f64, lon1: f64) -> f64 {
    let dlon = normalize_lon(lon1 - lon0) * ((lat0 + lat1) / 2.0).to_radians().cos();
    (lat1 - lat0).hypot(dlon)
}

fn key(lat: f64, lon: f64, bin: f64) -> (i32, i32) {
    ((lat / bin).floor() as i32, wrap_bin((normalize_lon(lon) / bin).floor() as i32, bin))
}

fn wrap_bin(j: i32, bin: f64) -> i32 {
    let n = (360.0 / bin).ceil() as i32;
    let lo = (-180.0 / bin).floor() as i32;
    (j - lo).rem_euclid(n.max(1)) + lo
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sheared grid: lat = 38 + 1.8 r + 0.25 c, lon = -12 + 2.2 c - 0.5 r.
    fn sheared() -> Curvilinear {
        let (rows, cols) = (12, 16);
        let lat = (0..rows * cols).map(|k| 38.0 + 1.8 * (k / cols) as f64 + 0.25 * (k % cols) as f64).collect();
        let lon = (0..rows * cols).map(|k| -12.0 + 2.2 * (k % cols) as f64 - 0.5 * (k / cols) as f64).collect();
        Curvilinear::new(GeoGrid { rows, cols, lat, lon })
    }

    #[test]
    fn a_point_is_placed_where_the_grid_puts_it() {
        let g = sheared();
        // the centre of cell (5, 7), and a point a third of the way to (6, 9)
        let (lat, lon) = g.lat_lon(5, 7).unwrap();
        let (x, y) = g.locate(lon, lat).unwrap();
        assert!((x - 7.5).abs() < 1e-9 && (y - 5.5).abs() < 1e-9, "({x}, {y})");
        let (lat, lon) =
            (38.0 + 1.8 * (5.0 + 1.0 / 3.0) + 0.25 * (7.0 + 2.0 / 3.0), -12.0 + 2.2 * (7.0 + 2.0 / 3.0) - 0.5 * (5.0 + 1.0 / 3.0));
        let (x, y) = g.locate(lon, lat).unwrap();
        // the grid is linear: one Newton step is exact
        assert!((x - (7.5 + 2.0 / 3.0)).abs() < 1e-9 && (y - (5.5 + 1.0 / 3.0)).abs() < 1e-9, "({x}, {y})");
        assert!(g.locate(100.0, 0.0).is_none(), "far off the grid");
        assert!(g.locate(-12.0 - 20.0, 40.0).is_none());
    }

    #[test]
    fn a_grid_across_the_antimeridian_finds_its_cells() {
        let (rows, cols) = (4, 10);
        let lat = (0..rows * cols).map(|k| 10.0 + (k / cols) as f64).collect();
        let lon = (0..rows * cols).map(|k| normalize_lon(175.0 + (k % cols) as f64)).collect();
        let g = Curvilinear::new(GeoGrid { rows, cols, lat, lon });
        let (x, y) = g.locate(-178.0, 12.0).unwrap();
        assert!((x - 7.5).abs() < 1e-9 && (y - 2.5).abs() < 1e-9, "({x}, {y})");
    }
}
