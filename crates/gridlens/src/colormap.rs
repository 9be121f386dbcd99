//! Colormaps: 256-entry lookup tables that turn a scalar into a color (matplotlib's `Colormap`).
//!
//! The tables are matplotlib's own, extracted byte for byte by
//! `assets/colormaps/make_tables.py` and embedded with `include_bytes!`. Lookup follows
//! matplotlib exactly: a value is normalised with `(v - vmin) / (vmax - vmin)` (its
//! `Normalize`), the result `t` picks entry `floor(t * 256)`, values outside the range take
//! the end colors, and NaN takes a separate "bad" color. So an image rendered here equals
//! `cmap(Normalize(vmin, vmax)(data), bytes=True)`. Pure data: no GUI, no I/O.

use std::fmt;

/// Number of entries in every lookup table.
pub const LUT_SIZE: usize = 256;

/// The color of NaN by default: transparent, with a mid-gray RGB so that a viewer that
/// drops the alpha channel still shows missing data as neutral gray.
pub const NAN_COLOR: [u8; 4] = [128, 128, 128, 0];

/// The stored tables: matplotlib name and 256 × RGB bytes.
const TABLES: [(&str, &[u8; LUT_SIZE * 3]); 10] = [
    ("viridis", include_bytes!("../assets/colormaps/viridis.rgb")),
    ("plasma", include_bytes!("../assets/colormaps/plasma.rgb")),
    ("inferno", include_bytes!("../assets/colormaps/inferno.rgb")),
    ("magma", include_bytes!("../assets/colormaps/magma.rgb")),
    ("cividis", include_bytes!("../assets/colormaps/cividis.rgb")),
    ("turbo", include_bytes!("../assets/colormaps/turbo.rgb")),
    ("gray", include_bytes!("../assets/colormaps/gray.rgb")),
    ("RdBu_r", include_bytes!("../assets/colormaps/RdBu_r.rgb")),
    ("coolwarm", include_bytes!("../assets/colormaps/coolwarm.rgb")),
    ("seismic", include_bytes!("../assets/colormaps/seismic.rgb")),
];

/// A colormap name that is not known; lists the names that are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown colormap {name:?}; known colormaps: {} (append _r to reverse)", known.join(", "))]
pub struct UnknownColormap {
    /// The name asked for.
    pub name: String,
    /// The names of the stored colormaps.
    pub known: Vec<&'static str>,
}

/// A lookup table of 256 colors with a color for NaN (matplotlib's `ListedColormap`).
#[derive(Clone, PartialEq, Eq)]
pub struct Colormap {
    name: String,
    lut: [[u8; 3]; LUT_SIZE],
    nan: [u8; 4],
}

impl fmt::Debug for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Colormap({})", self.name)
    }
}

impl Colormap {
    /// The colormap matplotlib calls `name` (`viridis`, `RdBu_r`, …). A trailing `_r`
    /// reverses any map, as in matplotlib (`viridis_r`, and `RdBu` is `RdBu_r` reversed).
    /// Matching ignores ASCII case (`rdbu_r`, `Gray`); `grey` is accepted for `gray`.
    ///
    /// # Errors
    /// [`UnknownColormap`] listing the known names.
    pub fn by_name(name: &str) -> Result<Colormap, UnknownColormap> {
        let wanted = name.trim();
        let find = |n: &str| {
            let n = if n.eq_ignore_ascii_case("grey") { "gray" } else { n };
            TABLES.iter().find(|(t, _)| t.eq_ignore_ascii_case(n))
        };
        if let Some((base, bytes)) = find(wanted) {
            return Ok(Colormap::from_table(base, bytes));
        }
        // `x_r` is `x` reversed; and for maps stored reversed (`RdBu_r`), `RdBu` is the reverse.
        let toggled = match wanted.strip_suffix("_r").or_else(|| wanted.strip_suffix("_R")) {
            Some(stem) => stem.to_string(),
            None => format!("{wanted}_r"),
        };
        if let Some((base, bytes)) = find(&toggled) {
            let mut c = Colormap::from_table(base, bytes).reversed();
            c.name = canonical_reverse_name(base);
            return Ok(c);
        }
        Err(UnknownColormap { name: name.to_string(), known: names() })
    }

    fn from_table(name: &str, bytes: &[u8; LUT_SIZE * 3]) -> Colormap {
        let mut lut = [[0u8; 3]; LUT_SIZE];
        for (i, rgb) in lut.iter_mut().enumerate() {
            rgb.copy_from_slice(&bytes[3 * i..3 * i + 3]);
        }
        Colormap { name: name.to_string(), lut, nan: NAN_COLOR }
    }

    /// A colormap from a table of 256 RGB colors, low end first.
    pub fn from_lut(name: impl Into<String>, lut: [[u8; 3]; LUT_SIZE]) -> Colormap {
        Colormap { name: name.into(), lut, nan: NAN_COLOR }
    }

    /// The name as matplotlib spells it (`viridis`, `viridis_r`, `RdBu`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 256 RGB entries, low end first.
    pub fn lut(&self) -> &[[u8; 3]; LUT_SIZE] {
        &self.lut
    }

    /// The same colors in reverse order, named with `_r` toggled (matplotlib's `reversed()`).
    pub fn reversed(&self) -> Colormap {
        let mut lut = self.lut;
        lut.reverse();
        Colormap { name: canonical_reverse_name(&self.name), lut, nan: self.nan }
    }

    /// The color drawn for NaN.
    pub fn nan_color(&self) -> [u8; 4] {
        self.nan
    }

    /// This colormap with another NaN color (matplotlib's `with_extremes(bad=…)`).
    pub fn with_nan_color(mut self, rgba: [u8; 4]) -> Colormap {
        self.nan = rgba;
        self
    }

    /// The color for `t` in [0, 1]: entry `floor(t * 256)`, with 1.0 the last entry,
    /// values below 0 the first and above 1 the last; NaN gives [`Colormap::nan_color`].
    pub fn map(&self, t: f32) -> [u8; 4] {
        if t.is_nan() {
            return self.nan;
        }
        // As matplotlib: scale by N, treat exactly N as N-1, truncate toward zero.
        let x = t * LUT_SIZE as f32;
        let i = if x < 0.0 {
            0
        } else if x >= LUT_SIZE as f32 {
            LUT_SIZE - 1
        } else {
            x as usize
        };
        self.entry(i)
    }

    /// The color for `value` with `range = (vmin, vmax)` mapped onto the colormap
    /// (matplotlib's `cmap(Normalize(vmin, vmax)(value))`). A range of zero width maps
    /// everything to the low end, as matplotlib does.
    pub fn map_value(&self, value: f64, range: (f64, f64)) -> [u8; 4] {
        self.entry_or_nan(lut_index(value, range))
    }

    /// Entry `i` (0..256) as RGBA with full opacity.
    pub fn entry(&self, i: usize) -> [u8; 4] {
        let [r, g, b] = self.lut[i.min(LUT_SIZE - 1)];
        [r, g, b, 255]
    }

    fn entry_or_nan(&self, i: Option<usize>) -> [u8; 4] {
        match i {
            Some(i) => self.entry(i),
            None => self.nan,
        }
    }

    /// Colors `values` (a `width × height` image, row 0 first) as RGBA bytes, 4 per value,
    /// over `range = (vmin, vmax)`, NaN in the NaN color: the app's tiles, the PNG writer's
    /// rows and the figures all colour through here.
    ///
    /// # Panics
    /// When `values.len() != width * height` (a caller's bug, not a data problem).
    pub fn render(&self, values: &[f32], width: usize, height: usize, range: (f64, f64)) -> Vec<u8> {
        assert_eq!(values.len(), width * height, "Colormap::render: {} values for a {width}×{height} image", values.len());
        let mut out = Vec::with_capacity(values.len() * 4);
        for &v in values {
            out.extend_from_slice(&self.map_value(v as f64, range));
        }
        out
    }

    /// `n` colors evenly spread from the low to the high end: a colorbar strip.
    pub fn ramp(&self, n: usize) -> Vec<[u8; 4]> {
        (0..n)
            .map(|k| {
                let t = if n <= 1 { 0.0 } else { k as f64 / (n - 1) as f64 };
                self.map_value(t, (0.0, 1.0))
            })
            .collect()
    }
}

impl Default for Colormap {
    /// viridis, matplotlib's default.
    fn default() -> Colormap {
        Colormap::from_table(TABLES[0].0, TABLES[0].1)
    }
}

/// The lookup-table entry for `value` in `range`, or `None` for NaN (and for an infinite or
/// NaN range). Shared by [`Colormap::map_value`] and the image renderers so they agree.
pub fn lut_index(value: f64, (vmin, vmax): (f64, f64)) -> Option<usize> {
    if value.is_nan() || vmin.is_nan() || vmax.is_nan() {
        return None;
    }
    let t = if vmax == vmin { 0.0 } else { (value - vmin) / (vmax - vmin) };
    let x = t * LUT_SIZE as f64;
    Some(if x.is_nan() || x < 0.0 {
        0
    } else if x >= LUT_SIZE as f64 {
        LUT_SIZE - 1
    } else {
        x as usize
    })
}

/// The smallest and largest finite values, or `None` when there are none: the colour range
/// of data (NaN and infinities are drawn apart from it).
pub fn finite_range(values: &[f32]) -> Option<(f64, f64)> {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for &v in values {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo <= hi).then_some((lo as f64, hi as f64))
}

/// About `n` round tick values covering [lo, hi]: a colorbar's ticks.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(hi > lo) || !lo.is_finite() || !hi.is_finite() {
        return vec![];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

/// A tick label: short, no trailing zeros, scientific for very large or small values.
pub fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// The names of the stored colormaps (each also available reversed with `_r` toggled).
pub fn names() -> Vec<&'static str> {
    TABLES.iter().map(|(n, _)| *n).collect()
}

/// `viridis` ↔ `viridis_r`.
fn canonical_reverse_name(name: &str) -> String {
    match name.strip_suffix("_r") {
        Some(stem) => stem.to_string(),
        None => format!("{name}_r"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colorbar_ticks_are_round_and_short() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(nice_ticks(-7.3, 7.3, 6), vec![-5.0, -2.5, 0.0, 2.5, 5.0]);
        assert!(nice_ticks(1.0, 1.0, 6).is_empty());
        assert_eq!(format_tick(250.0), "250");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(1.5e-6), "1.50e-6");
    }

    // Reference colors captured from matplotlib 3.11.2 in the project venv with
    //   L = lambda t: list(map(int, t))
    //   L(matplotlib.colormaps[name].resampled(256)(i, bytes=True))
    // and, for values, L(matplotlib.colormaps['viridis'](Normalize(250, 300)(v), bytes=True)).
    #[test]
    fn entries_equal_matplotlib() {
        let cases: [(&str, usize, [u8; 4]); 8] = [
            ("viridis", 0, [68, 1, 84, 255]),
            ("viridis", 100, [42, 118, 142, 255]),
            ("magma", 200, [253, 151, 104, 255]),
            ("cividis", 37, [34, 59, 110, 255]),
            ("turbo", 255, [122, 4, 2, 255]),
            ("RdBu_r", 64, [107, 172, 208, 255]),
            ("coolwarm", 191, [244, 154, 123, 255]),
            ("gray", 77, [77, 77, 77, 255]),
        ];
        for (name, i, want) in cases {
            assert_eq!(Colormap::by_name(name).unwrap().entry(i), want, "{name}[{i}]");
        }
    }

    #[test]
    fn reversed_maps_equal_matplotlib() {
        assert_eq!(Colormap::by_name("RdBu").unwrap().entry(10), [132, 9, 35, 255]);
        assert_eq!(Colormap::by_name("viridis_r").unwrap().entry(10), [228, 227, 24, 255]);
        assert_eq!(Colormap::by_name("viridis_r").unwrap().name(), "viridis_r");
        assert_eq!(Colormap::by_name("RdBu").unwrap().name(), "RdBu");
        let v = Colormap::by_name("viridis").unwrap();
        assert_eq!(v.reversed().reversed(), v);
    }

    #[test]
    fn values_map_as_matplotlib_normalize() {
        let v = Colormap::by_name("viridis").unwrap();
        let cases = [
            (273.15, [35, 135, 141, 255]),
            (250.0, [68, 1, 84, 255]),
            (300.0, [253, 231, 36, 255]),
            (240.0, [68, 1, 84, 255]),
            (299.9, [253, 231, 36, 255]),
            (260.1, [64, 67, 135, 255]),
        ];
        for (value, want) in cases {
            assert_eq!(v.map_value(value, (250.0, 300.0)), want, "{value}");
        }
        assert_eq!(v.map_value(f64::NAN, (250.0, 300.0)), NAN_COLOR);
        assert_eq!(v.map(f32::NAN), NAN_COLOR);
        assert_eq!(v.map(1.0), v.entry(255));
        assert_eq!(v.map(0.0), v.entry(0));
        assert_eq!(v.map(-3.0), v.entry(0));
        assert_eq!(v.map_value(5.0, (5.0, 5.0)), v.entry(0));
    }

    #[test]
    fn unknown_names_list_the_known() {
        let err = Colormap::by_name("jet").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"jet\"") && msg.contains("viridis") && msg.contains("coolwarm"), "{msg}");
        assert!(Colormap::by_name("Gray").is_ok());
        assert!(Colormap::by_name("grey").is_ok());
        assert_eq!(names().len(), TABLES.len());
    }

    #[test]
    fn ramp_spans_the_table() {
        let c = Colormap::by_name("magma").unwrap();
        let r = c.ramp(5);
        assert_eq!(r[0], c.entry(0));
        assert_eq!(r[4], c.entry(255));
    }
}
