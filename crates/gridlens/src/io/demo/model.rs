//! The synthetic climate behind the demo data: a pure function of (latitude, longitude, day).
//!
//! Daily-mean 2-m temperature is built from parts that a meteorologist would recognise:
//! a zonal-mean profile (warm tropics, cold poles, the warmest latitudes south of the
//! equator in January), a land/sea contrast over procedural continents (land colder than
//! the sea in the winter hemisphere and warmer in the summer one, colder with height, an
//! ice sheet over the south pole and sea ice in the Arctic winter), travelling weather
//! systems (warm and cold anomalies that grow, drift east with the westerlies and decay),
//! eddies at a few degrees, and a little pixel noise. Everything but the pixel noise is
//! independent of the grid, so different resolutions show the same world.
//!
//! All randomness comes from hashing the seed with positions, so the field is the same on
//! every run, every machine and for any order of evaluation (rows in parallel).

use rayon::prelude::*;
use std::f64::consts::PI;

/// The grid on which the continents are defined, 0.5° (resolution-independent: coasts are
/// drawn after interpolation, so they stay sharp on finer grids).
const LAND_NY: usize = 361;
const LAND_NX: usize = 720;

/// Share of the area (between 60°S and 75°N) that is land, roughly Earth's.
const LAND_FRACTION: f64 = 0.3;

/// splitmix64: a fast, well-mixed 64-bit hash.
pub fn hash64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A hash of several integers as a value in [-1, 1).
fn unit(seed: u64, a: u64, b: u64, c: u64) -> f64 {
    let h = hash64(seed ^ hash64(a ^ hash64(b ^ hash64(c))));
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// A uniform value in [0, 1) from a stream of draws (`k`-th draw of `stream`).
fn draw(seed: u64, stream: u64, k: u64) -> f64 {
    (unit(seed, stream, k, 0x5EED) + 1.0) / 2.0
}

fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Value noise on a latitude/longitude lattice of `cell_deg` cells, periodic in longitude,
/// smoothly interpolated: a random landscape at that scale.
#[derive(Clone, Debug)]
struct LatticeNoise {
    nx: usize,
    ny: usize,
    cell_deg: f64,
    values: Vec<f64>,
}

impl LatticeNoise {
    fn new(seed: u64, salt: u64, cell_deg: f64) -> LatticeNoise {
        let nx = (360.0 / cell_deg).round().max(1.0) as usize;
        let ny = (180.0 / cell_deg).round().max(1.0) as usize + 1;
        let values = (0..nx * ny).map(|k| unit(seed, salt, (k % nx) as u64, (k / nx) as u64)).collect();
        LatticeNoise { nx, ny, cell_deg, values }
    }

    /// The part of the interpolation that depends on latitude only, shared along a row.
    fn row(&self, lat: f64) -> LatticeRow {
        let y = ((90.0 - lat) / self.cell_deg).clamp(0.0, (self.ny - 1) as f64);
        let j0 = (y.floor() as usize).min(self.ny - 1);
        let fy = y - y.floor();
        LatticeRow { j0, j1: (j0 + 1).min(self.ny - 1), sy: fy * fy * (3.0 - 2.0 * fy) }
    }

    fn sample_in_row(&self, r: &LatticeRow, lon: f64) -> f64 {
        let (i0, fx) = cell_of(lon, self.cell_deg);
        let sx = fx * fx * (3.0 - 2.0 * fx);
        let i0 = i0 % self.nx;
        let i1 = (i0 + 1) % self.nx;
        let (a, b) = (r.j0 * self.nx, r.j1 * self.nx);
        let top = self.values[a + i0] + (self.values[a + i1] - self.values[a + i0]) * sx;
        let bottom = self.values[b + i0] + (self.values[b + i1] - self.values[b + i0]) * sx;
        top + (bottom - top) * r.sy
    }
}

/// The lattice cell (counted from -180°, not yet wrapped) of longitude `lon` and the
/// fraction into it. Shifting by whole turns and truncating is much cheaper than
/// `rem_euclid` (a libm `fmod`) in the per-pixel loop; longitudes below -36000° (eddies
/// drifting for more than ten years) fall back to it.
fn cell_of(lon: f64, cell_deg: f64) -> (usize, f64) {
    let shifted = lon + 180.0 + 36_000.0;
    let x = if shifted >= 0.0 { shifted } else { (lon + 180.0).rem_euclid(360.0) } / cell_deg;
    let i = x as usize;
    (i, x - i as f64)
}

/// Latitude-dependent parts of the surface lookup, shared along a row.
#[derive(Copy, Clone, Debug)]
struct SurfaceRow {
    j0: usize,
    j1: usize,
    fy: f64,
    ice: f64,
    ice_height_km: f64,
}

/// Latitude weights of a [`LatticeNoise`] row.
#[derive(Copy, Clone, Debug)]
struct LatticeRow {
    j0: usize,
    j1: usize,
    sy: f64,
}

/// Value noise in 3-D: random values at integer lattice points, smoothly interpolated.
fn value_noise3(key: u64, p: [f64; 3]) -> f64 {
    let f = p.map(f64::floor);
    let (x, y, z) = (f[0] as i64, f[1] as i64, f[2] as i64);
    let t = [p[0] - f[0], p[1] - f[1], p[2] - f[2]].map(|t| t * t * (3.0 - 2.0 * t));
    let corner = |dx: i64, dy: i64, dz: i64| {
        let h = hash64(
            key ^ ((x + dx) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ ((y + dy) as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
                ^ ((z + dz) as u64).wrapping_mul(0x1656_67B1_9E37_79F9),
        );
        (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    };
    let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
    let face = |dz: i64| lerp(lerp(corner(0, 0, dz), corner(1, 0, dz), t[0]), lerp(corner(0, 1, dz), corner(1, 1, dz), t[0]), t[1]);
    lerp(face(0), face(1), t[2])
}

/// Fractal noise for the continents at a point: six octaves of [`value_noise3`] on the unit
/// sphere, the largest about 40° across.
fn continent_noise(seed: u64, lat: f64, lon: f64) -> f64 {
    let (la, lo) = (lat.to_radians(), lon.to_radians());
    let p = [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()];
    let mut sum = 0.0;
    for k in 0..6u64 {
        let freq = 1.7 * (1u64 << k) as f64;
        // Each octave shifted by its own offset, so the octaves' lattices do not line up.
        let o = [0, 1, 2].map(|a| 100.0 * draw(seed, 77 + k, a));
        let q = [p[0] * freq + o[0], p[1] * freq + o[1], p[2] * freq + o[2]];
        sum += 0.5f64.powi(k as i32) * value_noise3(hash64(seed ^ (k + 1)), q);
    }
    sum
}

/// A warm or cold anomaly that lives a few days and drifts east.
#[derive(Clone, Debug)]
struct WeatherSystem {
    lat0: f64,
    lon0: f64,
    /// Eastward speed, degrees of longitude per day.
    speed_deg_per_day: f64,
    /// Peak anomaly, K (negative: cold).
    amplitude_k: f64,
    /// Gaussian radius, degrees of latitude.
    radius_deg: f64,
    /// Day of birth and lifetime in days.
    born_day: f64,
    life_days: f64,
    /// Meridional wobble amplitude, degrees.
    wobble_deg: f64,
}

impl WeatherSystem {
    /// Strength (0..1) on `day`: grows and decays as a half sine over the lifetime.
    fn envelope(&self, day: f64) -> f64 {
        let t = (day - self.born_day) / self.life_days;
        if (0.0..=1.0).contains(&t) { (PI * t).sin() } else { 0.0 }
    }

    /// Centre on `day`.
    fn centre(&self, day: f64) -> (f64, f64) {
        let age = day - self.born_day;
        let lat = self.lat0 + self.wobble_deg * (age * 0.9).sin();
        let lon = (self.lon0 + self.speed_deg_per_day * age + 180.0).rem_euclid(360.0) - 180.0;
        (lat, lon)
    }
}

/// The demo world for one seed: continents, weather systems and eddies.
#[derive(Clone, Debug)]
pub struct Climate {
    seed: u64,
    /// Continent noise above the coast level and land height in km on the 0.5° grid,
    /// interleaved so one lookup serves both.
    surface: Vec<[f32; 2]>,
    systems: Vec<WeatherSystem>,
    eddies: LatticeNoise,
    small_eddies: LatticeNoise,
}

impl Climate {
    /// Builds the world for `seed`, with weather for days `0..days` (a day's field is the
    /// same whatever `days` is).
    pub fn new(seed: u64, days: usize) -> Climate {
        // Continents: fractal 3-D value noise on the unit sphere (no seams at the dateline,
        // no stretching at the poles, no grid-aligned shapes), thresholded to the land fraction.
        let grid_lat = |j: usize| 90.0 - j as f64 * 180.0 / (LAND_NY - 1) as f64;
        let grid_lon = |i: usize| -180.0 + i as f64 * 360.0 / LAND_NX as f64;
        let raw: Vec<f64> =
            (0..LAND_NY * LAND_NX).into_par_iter().map(|k| continent_noise(seed, grid_lat(k / LAND_NX), grid_lon(k % LAND_NX))).collect();
        let mut sample: Vec<f64> =
            (0..LAND_NY * LAND_NX).filter(|k| (-60.0..=75.0).contains(&grid_lat(k / LAND_NX))).map(|k| raw[k]).collect();
        sample.sort_by(f64::total_cmp);
        let threshold = sample[((1.0 - LAND_FRACTION) * sample.len() as f64) as usize];
        let top = sample[sample.len() - 1];
        // Per grid point: height of the noise above the coast level, and of the land in km.
        let surface = raw
            .iter()
            .map(|&n| {
                let h = 2.6 * ((n - threshold).max(0.0) / (top - threshold)).powf(1.4);
                [(n - threshold) as f32, h as f32]
            })
            .collect();
        // Weather: two systems are born on every day (and on the ten days before day 0, so
        // the first day is not calm). Each is drawn from (seed, birth day, k), so a day's
        // weather does not depend on how many days are generated.
        const BORN_PER_DAY: u64 = 2;
        let systems = (-10..days as i64)
            .flat_map(|birth| (0..BORN_PER_DAY).map(move |k| (birth, k)))
            .map(|(birth, k)| {
                let id = (birth + 10) as u64 * BORN_PER_DAY + k;
                let d = |s: u64| draw(seed, 1000 + s, id);
                let hemisphere = if d(0) < 0.55 { 1.0 } else { -1.0 };
                let tropical = d(1) < 0.15;
                let lat0 = hemisphere * if tropical { 5.0 + 15.0 * d(2) } else { 28.0 + 42.0 * d(2) };
                WeatherSystem {
                    lat0,
                    lon0: -180.0 + 360.0 * d(4),
                    speed_deg_per_day: if tropical { -3.0 + 4.0 * d(5) } else { 6.0 + 10.0 * d(5) },
                    amplitude_k: (if d(6) < 0.5 { -1.0 } else { 1.0 }) * if tropical { 1.0 + 2.0 * d(7) } else { 4.0 + 8.0 * d(7) },
                    radius_deg: if tropical { 4.0 + 4.0 * d(8) } else { 6.0 + 8.0 * d(8) },
                    born_day: birth as f64 + d(9),
                    life_days: 4.0 + 6.0 * d(3),
                    wobble_deg: 4.0 * d(10),
                }
            })
            .collect();
        Climate { seed, surface, systems, eddies: LatticeNoise::new(seed, 7, 3.0), small_eddies: LatticeNoise::new(seed, 8, 1.0) }
    }

    /// What a row of the surface needs: the grid rows around `lat`, and the Antarctic ice
    /// sheet (continentality and height in km), which depends on latitude only.
    fn surface_row(lat: f64) -> SurfaceRow {
        let y = ((90.0 - lat) / 180.0 * (LAND_NY - 1) as f64).clamp(0.0, (LAND_NY - 1) as f64);
        let j0 = y.floor() as usize;
        SurfaceRow {
            j0,
            j1: (j0 + 1).min(LAND_NY - 1),
            fy: y - y.floor(),
            ice: smoothstep(-64.0, -72.0, lat),
            ice_height_km: 3.0 * smoothstep(-66.0, -84.0, lat),
        }
    }

    /// (continentality 0 … 1, height in km) at longitude `lon` in a row.
    fn surface_at(&self, r: &SurfaceRow, lon: f64) -> (f64, f64) {
        let (i0, fx) = cell_of(lon, 360.0 / LAND_NX as f64);
        let i0 = i0 % LAND_NX;
        let i1 = (i0 + 1) % LAND_NX;
        let v = |j: usize, i: usize, c: usize| self.surface[j * LAND_NX + i][c] as f64;
        let mix = |c: usize| {
            let top = v(r.j0, i0, c) + (v(r.j0, i1, c) - v(r.j0, i0, c)) * fx;
            let bottom = v(r.j1, i0, c) + (v(r.j1, i1, c) - v(r.j1, i0, c)) * fx;
            top + (bottom - top) * r.fy
        };
        // A steep but smooth coast, a few kilometres wide whatever the grid.
        // (Far from the coast the sigmoid is 0 or 1 to 1e-9: skip its exp.)
        let above = mix(0);
        let land = if above.abs() > 0.25 { (above > 0.0) as u8 as f64 } else { 1.0 / (1.0 + (-above / 0.012).exp()) };
        (land.max(r.ice), mix(1).max(r.ice_height_km))
    }

    /// Continentality (0 sea … 1 land) at a point.
    pub fn land(&self, lat: f64, lon: f64) -> f64 {
        self.surface_at(&Climate::surface_row(lat), lon).0
    }

    /// Fills `out` with the temperature (K) of one grid row at latitude `lat` on `day`
    /// (0 = 1 January), for cell-centre longitudes `lons`; `row` numbers the row for the
    /// pixel noise.
    pub fn row(&self, day: usize, row: usize, lat: f64, lons: &[f64], out: &mut [f64]) {
        let day_f = day as f64;
        // +1 in mid-January, -1 in mid-July: the season of the northern hemisphere.
        let season = (2.0 * PI * (day_f + 0.5 - 15.0) / 365.25).cos();
        // Local season: +1 in this hemisphere's midwinter, -1 in its midsummer.
        let local_winter = season * lat.signum();
        let s = lat.to_radians().sin();
        let sea = 300.5 - 32.0 * s * s - 4.0 * s * season;
        let abs_lat = lat.abs();
        let winter_land = 35.0 * smoothstep(15.0, 65.0, abs_lat);
        let summer_land = 8.0 * smoothstep(5.0, 30.0, abs_lat) * (1.0 - 0.5 * smoothstep(50.0, 70.0, abs_lat));
        let land_effect = -winter_land * local_winter.max(0.0) + summer_land * (-local_winter).max(0.0);
        // Arctic sea ice behaves like land in winter; the Antarctic plateau is always cold.
        let sea_ice = 0.8 * smoothstep(66.0, 78.0, lat) * season.max(0.0);
        let cap = smoothstep(-65.0, -85.0, lat);
        let polar_cap = -10.0 * cap - 8.0 * cap * (-season).max(0.0);
        let eddy_shift = 7.0 * day_f;
        let surface_row = Climate::surface_row(lat);
        let (eddy_row, small_row) = (self.eddies.row(lat), self.small_eddies.row(lat));
        // One hash per pixel, from a per-row key: the noise depends on (seed, day, row, column).
        let row_key = hash64(self.seed ^ hash64((day as u64) << 32 ^ row as u64));
        for (k, (&lon, t)) in lons.iter().zip(out.iter_mut()).enumerate() {
            let (land, height) = self.surface_at(&surface_row, lon);
            let land = land.max(sea_ice);
            let eddies = 1.2 * self.eddies.sample_in_row(&eddy_row, lon - eddy_shift)
                + 0.5 * self.small_eddies.sample_in_row(&small_row, lon - 1.3 * eddy_shift);
            let pixel = 0.25 * ((hash64(row_key ^ k as u64) >> 11) as f64 / (1u64 << 52) as f64 - 1.0);
            *t = sea + land * land_effect - 6.5 * height + polar_cap * land + eddies * (1.0 + 0.5 * land) + pixel;
        }
        self.add_weather(day_f, lat, lons, out);
    }

    /// Adds the anomalies of the weather systems alive on `day` that reach latitude `lat`.
    fn add_weather(&self, day: f64, lat: f64, lons: &[f64], out: &mut [f64]) {
        let coslat = lat.to_radians().cos().max(1e-6);
        let n = lons.len();
        if n == 0 {
            return;
        }
        let dlon = 360.0 / n as f64;
        for sys in &self.systems {
            let env = sys.envelope(day);
            if env == 0.0 {
                continue;
            }
            let (clat, clon) = sys.centre(day);
            let dlat = lat - clat;
            let reach = 3.0 * sys.radius_deg;
            if dlat.abs() > reach {
                continue;
            }
            let amp = sys.amplitude_k * env * (-(dlat * dlat) / (2.0 * sys.radius_deg * sys.radius_deg)).exp();
            // Longitudes within reach: the window widens towards the poles.
            let half_width = reach / coslat;
            let inv = 1.0 / (2.0 * sys.radius_deg * sys.radius_deg);
            let w = (half_width / dlon).ceil() as i64;
            if 2 * w + 1 >= n as i64 {
                // Near the poles the system reaches all the way round.
                for (k, o) in out.iter_mut().enumerate() {
                    let d = (lons[k] - clon + 180.0).rem_euclid(360.0) - 180.0;
                    let x = d * coslat;
                    *o += amp * (-(x * x) * inv).exp();
                }
                continue;
            }
            // The window of columns around the centre, wrapping at the dateline. Along a
            // row the Gaussian exp(-inv x²) at equally spaced x follows the recurrence
            // g' = g r, r' = r q: two multiplications per pixel instead of an exp.
            let centre = ((clon - lons[0]) / dlon).round() as i64;
            let first = centre - w;
            let dx = dlon * coslat;
            let x0 = (lons[0] + first as f64 * dlon - clon) * coslat;
            let mut g = amp * (-(x0 * x0) * inv).exp();
            let mut r = (-(2.0 * x0 * dx + dx * dx) * inv).exp();
            let q = (-2.0 * dx * dx * inv).exp();
            for c in first..=centre + w {
                out[c.rem_euclid(n as i64) as usize] += g;
                g *= r;
                r *= q;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lons(n: usize) -> Vec<f64> {
        (0..n).map(|j| -180.0 + (j as f64 + 0.5) * 360.0 / n as f64).collect()
    }

    #[test]
    fn january_is_plausible() {
        let c = Climate::new(1, 31);
        let l = lons(360);
        let mut row = vec![0.0; 360];
        let mut zonal = |lat: f64| {
            c.row(0, 0, lat, &l, &mut row);
            assert!(row.iter().all(|&t| (185.0..330.0).contains(&t)), "{lat}: {row:?}");
            row.iter().sum::<f64>() / 360.0
        };
        let (n_pole, n_mid, eq, s_mid, s_pole) = (zonal(85.0), zonal(50.0), zonal(0.0), zonal(-45.0), zonal(-85.0));
        assert!(eq > n_mid && n_mid > n_pole, "{eq} {n_mid} {n_pole}");
        assert!(eq > s_mid && s_mid > s_pole, "{eq} {s_mid} {s_pole}");
        assert!(s_mid > n_mid + 5.0, "January: the southern mid-latitudes are warmer ({s_mid} vs {n_mid})");
        assert!((290.0..305.0).contains(&eq), "{eq}");
    }

    #[test]
    fn continents_cover_about_thirty_percent_and_are_colder_in_northern_winter() {
        let c = Climate::new(7, 31);
        let (mut land, mut total) = (0.0, 0.0);
        for j in 0..180 {
            let lat = -89.5 + j as f64;
            if !(-60.0..=75.0).contains(&lat) {
                continue;
            }
            for i in 0..360 {
                let w = lat.to_radians().cos();
                land += w * (c.land(lat, -179.5 + i as f64) > 0.5) as u8 as f64;
                total += w;
            }
        }
        let frac = land / total;
        assert!((0.2..0.4).contains(&frac), "land fraction {frac}");
        // at 55°N, land points are colder than sea points on 1 January
        let l = lons(720);
        let mut row = vec![0.0; 720];
        c.row(0, 0, 55.0, &l, &mut row);
        let (mut tl, mut nl, mut ts, mut ns) = (0.0, 0, 0.0, 0);
        for (k, &lon) in l.iter().enumerate() {
            if c.land(55.0, lon) > 0.9 {
                tl += row[k];
                nl += 1;
            } else if c.land(55.0, lon) < 0.1 {
                ts += row[k];
                ns += 1;
            }
        }
        assert!(nl > 10 && ns > 10, "both land and sea at 55N: {nl} {ns}");
        assert!(tl / (nl as f64) < ts / (ns as f64) - 10.0, "land {} sea {}", tl / nl as f64, ts / ns as f64);
    }

    #[test]
    fn weather_moves_east_and_is_deterministic() {
        let a = Climate::new(3, 10);
        let b = Climate::new(3, 10);
        let l = lons(200);
        let (mut r1, mut r2) = (vec![0.0; 200], vec![0.0; 200]);
        a.row(4, 9, 47.3, &l, &mut r1);
        b.row(4, 9, 47.3, &l, &mut r2);
        assert_eq!(r1, r2);
        let c = Climate::new(4, 10);
        c.row(4, 9, 47.3, &l, &mut r2);
        assert_ne!(r1, r2, "another seed, another world");
        for s in &a.systems {
            let (_, lon0) = s.centre(s.born_day);
            let (_, lon1) = s.centre(s.born_day + 1.0);
            let moved = (lon1 - lon0 + 180.0).rem_euclid(360.0) - 180.0;
            assert!((moved - s.speed_deg_per_day).abs() < 1e-9);
        }
        assert!(a.systems.iter().filter(|s| s.speed_deg_per_day > 0.0).count() > a.systems.len() / 2);
    }
}
