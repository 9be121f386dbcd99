//! A projected map's own image, and where longitudes, latitudes and data cells fall on it.

use super::geo::MapFrame;
use super::projection::Projection;

/// A projected map's own image: the projection's plane scaled to about one image pixel per
/// data cell at the equator, y down. The view pans and zooms over it as over the data grid.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectedFrame {
    pub projection: Projection,
    /// The central meridian (degrees east).
    pub lon0: f64,
    pub frame: MapFrame,
    scale: f64,
    /// The image's width and height.
    pub size: (f64, f64),
}

impl ProjectedFrame {
    pub fn new(projection: Projection, frame: MapFrame, lon0: f64) -> ProjectedFrame {
        let [x0, y0, x1, y1] = projection.bounds();
        // one image pixel per data column along the equator (at least a small screen's worth)
        let scale = (frame.cols().max(360) as f64) / (2.0 * std::f64::consts::PI);
        ProjectedFrame { projection, lon0, frame, scale, size: ((x1 - x0) * scale, (y1 - y0) * scale) }
    }

    /// Image point of longitude `lon`, latitude `lat` (`None` where the map does not reach).
    pub fn to_image(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let [x0, _, _, y1] = self.projection.bounds();
        let (x, y) = self.projection.forward(lon - self.lon0, lat)?;
        Some(((x - x0) * self.scale, (y1 - y) * self.scale))
    }

    /// Longitude and latitude at image point (x, y), `None` off the map.
    pub fn to_lonlat(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let [x0, _, _, y1] = self.projection.bounds();
        let (lon, lat) = self.projection.inverse(x0 + x / self.scale, y1 - y / self.scale)?;
        Some((lon + self.lon0, lat))
    }

    /// The data cell (row, column) shown at image point (x, y): `None` off the map or
    /// outside the data (a regional grid).
    pub fn cell(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let (lon, lat) = self.to_lonlat(x, y)?;
        self.frame.cell(lon, lat)
    }
}

impl ProjectedFrame {
    /// The globe's outline on the projected image, as a closed polygon.
    pub fn outline(&self) -> Vec<(f64, f64)> {
        let edge = |lon: f64, lat: f64| self.to_image(self.lon0 + lon, lat);
        match self.projection.edge_latitude() {
            Some(lat) => (0..=360).filter_map(|k| edge(k as f64 - 180.0, lat)).collect(),
            None => {
                let west = (-90..=90).filter_map(|k| edge(-180.0 + 1e-9, k as f64));
                let east = (-90..=90).rev().filter_map(|k| edge(180.0 - 1e-9, k as f64));
                west.chain(east).collect()
            }
        }
    }
}
