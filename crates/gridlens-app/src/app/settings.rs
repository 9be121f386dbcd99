//! What the app remembers between runs: colormap, color range, panels, data sets.

use serde::{Deserialize, Serialize};

/// How the color range is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RangeMode {
    /// Minimum to maximum of the values that have arrived.
    MinMax,
    /// 2nd to 98th percentile of the values that have arrived (robust to outliers).
    Percentile,
    /// Symmetric around zero: ±(largest magnitude), for anomalies.
    Symmetric,
    /// Fixed by the user.
    Manual,
}

impl RangeMode {
    pub const ALL: [RangeMode; 4] = [RangeMode::MinMax, RangeMode::Percentile, RangeMode::Symmetric, RangeMode::Manual];

    pub fn label(self) -> &'static str {
        match self {
            RangeMode::MinMax => "Min – max",
            RangeMode::Percentile => "2 – 98 %",
            RangeMode::Symmetric => "Symmetric ±",
            RangeMode::Manual => "Manual",
        }
    }
}

/// Settings persisted by eframe's storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub colormap: String,
    pub reversed: bool,
    pub range_mode: RangeMode,
    pub manual_range: (f64, f64),
    /// The last data set opened (SOURCE strings), reopened on the next start.
    pub last_sources: Vec<String>,
    /// Recently opened data sets, most recent first.
    pub recent: Vec<Vec<String>>,
    pub show_data_panel: bool,
    pub show_progress_panel: bool,
    pub show_plots_panel: bool,
    /// Directory the file browser starts in.
    pub browse_dir: String,
    /// Draw data whose latitudes ascend (south first) with north up, as Panoply and ncview do.
    pub north_up: bool,
    /// Memory for decoded blocks kept between jobs, in GiB; 0 means a quarter of RAM.
    pub cache_gib: f64,
    /// Draw coastlines over maps (data with latitude/longitude coordinates).
    pub coastlines: bool,
    /// Draw country borders over maps.
    pub borders: bool,
    /// Draw latitude/longitude lines over maps.
    pub graticule: bool,
    /// The longitude drawn in the middle of a grid that goes once round the globe
    /// (`None`: its columns as stored). 0° by default, as Panoply does: a grid stored
    /// 0…360 is shown −180…180.
    pub centre_lon: Option<f64>,
    /// How maps are drawn.
    pub projection: crate::map::projection::Projection,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            colormap: "viridis".into(),
            reversed: false,
            range_mode: RangeMode::Percentile,
            manual_range: (0.0, 1.0),
            last_sources: vec![],
            recent: vec![],
            show_data_panel: true,
            show_progress_panel: true,
            show_plots_panel: true,
            browse_dir: String::new(),
            north_up: true,
            cache_gib: 0.0,
            coastlines: true,
            borders: false,
            graticule: true,
            centre_lon: Some(0.0),
            projection: crate::map::projection::Projection::Equirectangular,
        }
    }
}

impl Settings {
    /// The decoded-block cache's budget in bytes.
    pub fn cache_budget(&self) -> usize {
        if self.cache_gib > 0.0 { (self.cache_gib * (1u64 << 30) as f64) as usize } else { gridlens::exec::total_memory_bytes() / 4 }
    }

    /// Remembers `sources` as the most recent data set (at most ten are kept).
    pub fn remember(&mut self, sources: &[String]) {
        self.recent.retain(|r| r.as_slice() != sources);
        self.recent.insert(0, sources.to_vec());
        self.recent.truncate(10);
        self.last_sources = sources.to_vec();
    }
}
