//! Map projections of the sphere, forward (longitude/latitude → plane) and inverse, for
//! drawing a latitude/longitude grid as Robinson, Mollweide or polar stereographic maps.
//! Written here because the few formulas the view needs are short and must be exact
//! inverses of each other (the readout inverts what the picture shows); PROJ would bring a
//! C library and a database for five projections.

use std::f64::consts::{FRAC_PI_2, PI, SQRT_2};

/// How the map is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Projection {
    /// Longitude and latitude as columns and rows: the data's own grid, drawn tile by tile.
    Equirectangular,
    Robinson,
    Mollweide,
    /// Polar stereographic, seen from above the North Pole, down to 30°N (or the data's edge).
    NorthPolar,
    SouthPolar,
}

/// Latitudes a polar view reaches from its pole (the far edge of the map).
const POLAR_REACH: f64 = 60.0;

impl Projection {
    pub const ALL: [Projection; 5] =
        [Projection::Equirectangular, Projection::Robinson, Projection::Mollweide, Projection::NorthPolar, Projection::SouthPolar];

    pub fn label(self) -> &'static str {
        match self {
            Projection::Equirectangular => "Equirectangular",
            Projection::Robinson => "Robinson",
            Projection::Mollweide => "Mollweide",
            Projection::NorthPolar => "North polar stereographic",
            Projection::SouthPolar => "South polar stereographic",
        }
    }

    /// The latitude of a polar view's edge circle (`None` for a whole-globe projection).
    pub fn edge_latitude(self) -> Option<f64> {
        match self {
            Projection::NorthPolar => Some(90.0 - POLAR_REACH),
            Projection::SouthPolar => Some(POLAR_REACH - 90.0),
            _ => None,
        }
    }

    /// The plane's extent (x0, y0, x1, y1), y up.
    pub fn bounds(self) -> [f64; 4] {
        match self {
            Projection::Equirectangular => [-PI, -FRAC_PI_2, PI, FRAC_PI_2],
            Projection::Robinson => {
                let (x, y) = (ROBINSON_X * PI, ROBINSON_Y);
                [-x, -y, x, y]
            }
            Projection::Mollweide => [-2.0 * SQRT_2, -SQRT_2, 2.0 * SQRT_2, SQRT_2],
            Projection::NorthPolar | Projection::SouthPolar => {
                let r = stereo_radius(POLAR_REACH.to_radians());
                [-r, -r, r, r]
            }
        }
    }

    /// Plane (x, y) of a point `lon` degrees east of the central meridian at latitude `lat`;
    /// `None` where the map does not reach (beyond a polar view's edge).
    pub fn forward(self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let lam = ((lon + 180.0).rem_euclid(360.0) - 180.0).to_radians();
        // 180° east stays on the east edge (the wrap would put it on the west one)
        let lam = if lon == 180.0 { PI } else { lam };
        let phi = lat.clamp(-90.0, 90.0).to_radians();
        match self {
            Projection::Equirectangular => Some((lam, phi)),
            Projection::Robinson => {
                let (plen, pdfe) = robinson_table(lat.abs());
                Some((ROBINSON_X * plen * lam, ROBINSON_Y * pdfe * phi.signum()))
            }
            Projection::Mollweide => {
                let t = mollweide_theta(phi);
                Some((2.0 * SQRT_2 / PI * lam * t.cos(), SQRT_2 * t.sin()))
            }
            Projection::NorthPolar => {
                if lat < 90.0 - POLAR_REACH - 1e-9 {
                    return None;
                }
                let r = stereo_radius(FRAC_PI_2 - phi);
                Some((r * lam.sin(), -r * lam.cos()))
            }
            Projection::SouthPolar => {
                if lat > POLAR_REACH - 90.0 + 1e-9 {
                    return None;
                }
                let r = stereo_radius(FRAC_PI_2 + phi);
                Some((r * lam.sin(), r * lam.cos()))
            }
        }
    }

    /// Longitude east of the central meridian and latitude of plane point (x, y); `None`
    /// off the map (outside the globe's outline, or beyond a polar view's edge).
    pub fn inverse(self, x: f64, y: f64) -> Option<(f64, f64)> {
        let (lam, phi) = match self {
            Projection::Equirectangular => (x, y),
            Projection::Robinson => {
                let pdfe = y.abs() / ROBINSON_Y;
                if pdfe > 1.0 {
                    return None;
                }
                let lat = robinson_latitude(pdfe);
                let (plen, _) = robinson_table(lat);
                (x / (ROBINSON_X * plen), lat.to_radians() * y.signum())
            }
            Projection::Mollweide => {
                let s = y / SQRT_2;
                if s.abs() > 1.0 {
                    return None;
                }
                let t = s.asin();
                let phi = ((2.0 * t + (2.0 * t).sin()) / PI).clamp(-1.0, 1.0).asin();
                let c = t.cos();
                // at a pole the outline is a point
                if c < 1e-12 && x.abs() > 1e-9 {
                    return None;
                }
                let lam = if c < 1e-12 { 0.0 } else { PI * x / (2.0 * SQRT_2 * c) };
                (lam, phi)
            }
            Projection::NorthPolar | Projection::SouthPolar => {
                let r = x.hypot(y);
                let colat = 2.0 * (r / 2.0).atan();
                if colat.to_degrees() > POLAR_REACH + 1e-9 {
                    return None;
                }
                if self == Projection::NorthPolar { (x.atan2(-y), FRAC_PI_2 - colat) } else { (x.atan2(y), colat - FRAC_PI_2) }
            }
        };
        if lam.abs() > PI + 1e-9 || phi.abs() > FRAC_PI_2 + 1e-9 {
            return None;
        }
        Some((lam.to_degrees(), phi.to_degrees()))
    }
}

const ROBINSON_X: f64 = 0.8487;
const ROBINSON_Y: f64 = 1.3523;

/// Robinson's table: parallel length and distance from the equator, every 5° of latitude.
const PLEN: [f64; 19] = [
    1.0000, 0.9986, 0.9954, 0.9900, 0.9822, 0.9730, 0.9600, 0.9427, 0.9216, 0.8962, 0.8679, 0.8350, 0.7986, 0.7597, 0.7186, 0.6732, 0.6213,
    0.5722, 0.5322,
];
const PDFE: [f64; 19] = [
    0.0000, 0.0620, 0.1240, 0.1860, 0.2480, 0.3100, 0.3720, 0.4340, 0.4958, 0.5571, 0.6176, 0.6769, 0.7346, 0.7903, 0.8435, 0.8936, 0.9394,
    0.9761, 1.0000,
];

/// The table at `lat` degrees (0…90), interpolated linearly: the inverse is then exact.
/// (PROJ interpolates with Stirling's formula; the difference is under 0.1 % of the map.)
fn robinson_table(lat: f64) -> (f64, f64) {
    let t = (lat.clamp(0.0, 90.0) / 5.0).min(17.999_999);
    let i = t.floor() as usize;
    let f = t - i as f64;
    (PLEN[i] + f * (PLEN[i + 1] - PLEN[i]), PDFE[i] + f * (PDFE[i + 1] - PDFE[i]))
}

/// The latitude (0…90 degrees) whose distance from the equator is `pdfe` (0…1).
fn robinson_latitude(pdfe: f64) -> f64 {
    let i = PDFE.partition_point(|&d| d <= pdfe).clamp(1, 18) - 1;
    5.0 * (i as f64 + (pdfe - PDFE[i]) / (PDFE[i + 1] - PDFE[i]))
}

/// Mollweide's auxiliary angle θ: 2θ + sin 2θ = π sin φ, by Newton's method.
fn mollweide_theta(phi: f64) -> f64 {
    if (phi.abs() - FRAC_PI_2).abs() < 1e-10 {
        return phi;
    }
    let target = PI * phi.sin();
    let mut t = phi;
    for _ in 0..50 {
        let d = (2.0 * t + (2.0 * t).sin() - target) / (2.0 + 2.0 * (2.0 * t).cos());
        t -= d;
        if d.abs() < 1e-12 {
            break;
        }
    }
    t
}

/// Distance from the pole on the plane of a point `colat` radians from it (tangent plane,
/// scale 1 at the pole).
fn stereo_radius(colat: f64) -> f64 {
    2.0 * (colat / 2.0).tan()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_forward_everywhere_on_the_map() {
        for p in Projection::ALL {
            for lat in (-90..=90).step_by(5) {
                for lon in (-175..=175).step_by(7) {
                    let (lon, lat) = (lon as f64 + 0.3, lat as f64 * 0.999);
                    let Some((x, y)) = p.forward(lon, lat) else { continue };
                    let [x0, y0, x1, y1] = p.bounds();
                    assert!(x >= x0 - 1e-9 && x <= x1 + 1e-9 && y >= y0 - 1e-9 && y <= y1 + 1e-9, "{p:?} ({lon}, {lat})");
                    let (l, f) = p.inverse(x, y).unwrap_or_else(|| panic!("{p:?} ({lon}, {lat}) → ({x}, {y}) has no inverse"));
                    assert!((f - lat).abs() < 1e-7, "{p:?} lat {lat} → {f}");
                    if lat.abs() < 89.0 {
                        assert!((l - lon).abs() < 1e-7, "{p:?} lon {lon} at {lat} → {l}");
                    }
                }
            }
        }
    }

    #[test]
    fn known_points_land_where_the_formulas_put_them() {
        // Mollweide: the equator's ends at ±2√2, the poles at ±√2
        let (x, y) = Projection::Mollweide.forward(180.0, 0.0).unwrap();
        assert!((x - 2.0 * SQRT_2).abs() < 1e-12 && y.abs() < 1e-12);
        assert!((Projection::Mollweide.forward(0.0, 90.0).unwrap().1 - SQRT_2).abs() < 1e-12);
        // Robinson: 60°N lies at 1.3523 × PDFE[12]
        let (_, y) = Projection::Robinson.forward(0.0, 60.0).unwrap();
        assert!((y - 1.3523 * 0.7346).abs() < 1e-12);
        let (x, _) = Projection::Robinson.forward(90.0, 0.0).unwrap();
        assert!((x - 0.8487 * FRAC_PI_2).abs() < 1e-12);
        // polar: the pole at the centre, the central meridian straight down (north) or up (south)
        assert_eq!(Projection::NorthPolar.forward(0.0, 90.0), Some((0.0, -0.0)));
        let (x, y) = Projection::NorthPolar.forward(0.0, 60.0).unwrap();
        assert!(x.abs() < 1e-12 && y < 0.0);
        let (x, y) = Projection::SouthPolar.forward(0.0, -60.0).unwrap();
        assert!(x.abs() < 1e-12 && y > 0.0);
        assert!(Projection::NorthPolar.forward(0.0, 10.0).is_none(), "beyond the polar view's edge");
        assert!(Projection::SouthPolar.forward(0.0, 0.0).is_none());
    }

    #[test]
    fn outside_the_outline_is_off_the_map() {
        let [x0, y0, _, _] = Projection::Mollweide.bounds();
        assert!(Projection::Mollweide.inverse(x0, y0).is_none(), "the corner of the box is outside the ellipse");
        assert!(Projection::Robinson.inverse(2.66, 1.3).is_none());
        let [x0, y0, _, _] = Projection::NorthPolar.bounds();
        assert!(Projection::NorthPolar.inverse(x0, y0).is_none(), "beyond the edge circle");
        assert!(Projection::NorthPolar.inverse(0.0, 0.0).is_some_and(|(_, lat)| lat == 90.0));
    }
}
