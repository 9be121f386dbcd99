//! Lazy random arrays (dask's `da.random`): `random`, `normal`, `exponential`.
//!
//! Every element is drawn from a counter-based generator: its value is a function of the
//! array's seed, its block's number and its place in the block alone (wyrand at that
//! position of the block's stream), so values depend only on the seed and the chunking,
//! never on thread count or the order in which blocks are computed — and any part of a
//! block can be generated without the rest. Reductions therefore generate a random array
//! in cache-sized slabs and fold each at once, as they read uncompressed files, instead of
//! writing and re-reading whole blocks. Uniform and exponential draws are rand_distr's, fed
//! by that generator; normal draws use the same ziggurat (Marsaglia and Tsang's, with
//! Doornik's ZIGNOR layers and rand_distr's 256-layer tables), written out here so that
//! its fast path — one draw, a table lookup and a compare for 98.8 % of the values — is a
//! tight loop of its own rather than a generic sampler called once per element.

use super::{Source, SourceError};
use crate::block::{Block, c_strides, for_each_row};
use crate::chunks::{Chunks, Region};
use crate::dtype::DType;
use rand::RngExt;
use rand_distr::{Distribution, Exp1};
use std::convert::Infallible;

/// Which distribution a [`RandomSource`] draws from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distr {
    /// Uniform on [0, 1) (`random.random`).
    Uniform,
    /// Normal with mean `loc` and standard deviation `scale` (`random.normal`).
    Normal { loc: f64, scale: f64 },
    /// Exponential with mean `scale` (`random.exponential`).
    Exponential { scale: f64 },
}

/// A lazily generated float64 array of independent draws.
#[derive(Debug)]
pub struct RandomSource {
    distr: Distr,
    chunks: Chunks,
    seed: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// wyrand's increment and mixing constant.
const WY_ADD: u64 = 0xA076_1D64_78BD_642F;
const WY_XOR: u64 = 0xE703_7ED1_A0B4_28DB;

/// wyrand's output function (Wang Yi's wyhash family; passes BigCrush and PractRand): one
/// 64×64→128-bit multiply, half the work of SplitMix64's two, on consecutive inputs
/// `key + n * WY_ADD`.
#[inline(always)]
fn wymix(state: u64) -> u64 {
    let t = u128::from(state) * u128::from(state ^ WY_XOR);
    (t >> 64) as u64 ^ t as u64
}

/// SplitMix64's output function: a bijective mix of 64 bits that passes BigCrush on
/// consecutive inputs spaced by the golden ratio.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random draws of one element: the first is wyrand at the element's position of
/// its block's stream; the rare further ones (a ziggurat's rejections) come from a second
/// stream of the block, 64 positions per element.
struct ElementRng {
    key: u64,
    second: u64,
    element: u64,
    draws: u64,
}

impl rand::TryRng for ElementRng {
    type Error = Infallible;

    #[inline(always)]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    #[inline(always)]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let draw = self.draws;
        self.draws += 1;
        Ok(if draw == 0 {
            wymix(self.key.wrapping_add(self.element.wrapping_add(1).wrapping_mul(WY_ADD)))
        } else {
            wymix(self.second.wrapping_add((self.element.wrapping_mul(64).wrapping_add(draw)).wrapping_mul(WY_ADD)))
        })
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for c in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        Ok(())
    }
}

/// The ziggurat's layers for the standard normal: `x[i]` the right edges (`x[256] = 0`),
/// `f[i]` the density there. Computed as rand's `ziggurat_tables.py` computes them.
struct Ziggurat {
    x: [f64; 257],
    f: [f64; 257],
}

/// Where the base layer's tail begins, and each layer's area.
const ZIG_R: f64 = 3.654_152_885_361_008_8;
const ZIG_V: f64 = 0.004_928_673_233_99;

fn ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let pdf = |x: f64| (-x * x / 2.0).exp();
        let mut x = [0.0; 257];
        x[0] = ZIG_V / pdf(ZIG_R);
        x[1] = ZIG_R;
        for i in 2..256 {
            x[i] = (-2.0 * (ZIG_V / x[i - 1] + pdf(x[i - 1])).ln()).sqrt();
        }
        Ziggurat { f: x.map(pdf), x }
    })
}

/// A value in [-1, 1) from the upper 52 bits of `bits` (rand_distr's conversion).
#[inline(always)]
fn symmetric_unit(bits: u64) -> f64 {
    f64::from_bits((bits >> 12) | (1024 << 52)) - 3.0
}

/// A value in (0, 1) from the upper 52 bits of `bits` (rand's `Open01`).
#[inline(always)]
fn open_unit(bits: u64) -> f64 {
    f64::from_bits((bits >> 12) | (1023 << 52)) - (1.0 - f64::EPSILON / 2.0)
}

impl Ziggurat {
    /// A standard normal draw for `element` of the block keyed `key`, whose stream position
    /// is `state` (`key + (element + 1) * WY_ADD`, kept by the caller as a running sum): the
    /// fast path inline, in registers; the rest out of line.
    #[inline(always)]
    fn sample(&self, state: u64, key: u64, second: u64, element: u64) -> f64 {
        let bits = wymix(state);
        let i = (bits & 0xff) as usize;
        let x = symmetric_unit(bits) * self.x[i];
        if x.abs() < self.x[i + 1] { x } else { self.rejected(&mut ElementRng { key, second, element, draws: 1 }, i, x) }
    }

    /// The 1.2 % of draws outside a layer's rectangle: the wedge test, the tail, or another try.
    #[cold]
    #[inline(never)]
    fn rejected(&self, rng: &mut ElementRng, mut i: usize, mut x: f64) -> f64 {
        let pdf = |x: f64| (-x * x / 2.0).exp();
        loop {
            if i == 0 {
                // the tail beyond R, by Marsaglia's method
                let (mut tx, mut ty) = (1.0f64, 0.0f64);
                while -2.0 * ty < tx * tx {
                    tx = open_unit(rand::Rng::next_u64(rng)).ln() / ZIG_R;
                    ty = open_unit(rand::Rng::next_u64(rng)).ln();
                }
                return if x < 0.0 { tx - ZIG_R } else { ZIG_R - tx };
            }
            let u: f64 = rng.random();
            if self.f[i + 1] + (self.f[i] - self.f[i + 1]) * u < pdf(x) {
                return x;
            }
            let bits = rand::Rng::next_u64(rng);
            i = (bits & 0xff) as usize;
            x = symmetric_unit(bits) * self.x[i];
            if x.abs() < self.x[i + 1] {
                return x;
            }
        }
    }
}

impl RandomSource {
    /// An array with the given chunks; `seed: None` draws a seed from the OS once, so
    /// recomputing the same array gives the same values.
    pub fn new(distr: Distr, chunks: Chunks, seed: Option<u64>) -> RandomSource {
        let seed = seed.unwrap_or_else(|| rand::rng().random());
        RandomSource { distr, chunks, seed }
    }

    fn block_seed(&self, linear: usize) -> u64 {
        // SplitMix64 finaliser over (seed, block): well-separated streams per block.
        mix(self.seed ^ (linear as u64).wrapping_mul(GOLDEN).wrapping_add(0xD1B5_4A32_D192_ED03))
    }

    /// The values of `local` (block-local coordinates) of block `index`.
    fn generate(&self, index: &[usize], local: &Region) -> Block {
        let block_shape = self.chunks.block_shape(index);
        let key = self.block_seed(self.chunks.block_linear(index));
        let second = mix(key ^ 0x6A09_E667_F3BC_C909);
        let strides = c_strides(&block_shape);
        let nd = block_shape.len();
        let mut v = Vec::with_capacity(local.len());
        let row = if nd == 0 { 1 } else { local.shape[nd - 1] };
        let zig = ziggurat();
        let distr = self.distr;
        let out = &mut v.spare_capacity_mut()[..local.len()];
        let mut at = 0;
        if !local.shape.contains(&0) {
            for_each_row(&local.shape, |outer| {
                let mut start = 0usize;
                for (d, &i) in outer.iter().enumerate() {
                    start += (local.start[d] + i) * strides[d];
                }
                if nd > 0 {
                    start += local.start[nd - 1];
                }
                fill_row(&mut out[at..at + row], distr, zig, key, second, start as u64);
                at += row;
            });
        }
        // SAFETY: the rows above wrote all `local.len()` elements.
        unsafe { v.set_len(local.len()) };
        Block::from_vec(&local.shape, v)
    }
}

/// Draws the elements `first, first + 1, …` of a block's stream into `out`: one loop per
/// distribution with everything it needs in registers (a loop through a closure kept the
/// vector's length and the parameters in memory, at twice the time per draw).
fn fill_row(out: &mut [std::mem::MaybeUninit<f64>], distr: Distr, zig: &Ziggurat, key: u64, second: u64, first: u64) {
    let rng = |e: u64| ElementRng { key, second, element: e, draws: 0 };
    match distr {
        Distr::Uniform => {
            for (e, o) in (first..).zip(out.iter_mut()) {
                o.write(rng(e).random::<f64>());
            }
        }
        Distr::Normal { loc, scale } => {
            // the stream's state, advanced by addition rather than computed by a multiply
            // (the element's number is derived from the loop index only where a rejection
            // needs it: a counter of its own was kept in memory, a store and load per draw)
            let mut state = key.wrapping_add(first.wrapping_add(1).wrapping_mul(WY_ADD));
            for (k, o) in out.iter_mut().enumerate() {
                o.write(loc + scale * zig.sample(state, key, second, first + k as u64));
                state = state.wrapping_add(WY_ADD);
            }
        }
        Distr::Exponential { scale } => {
            for (e, o) in (first..).zip(out.iter_mut()) {
                let x: f64 = Exp1.sample(&mut rng(e));
                o.write(scale * x);
            }
        }
    }
}

impl Source for RandomSource {
    fn describe(&self) -> String {
        match self.distr {
            Distr::Uniform => "random.random".into(),
            Distr::Normal { loc, scale } => format!("random.normal({loc}, {scale})"),
            Distr::Exponential { scale } => format!("random.exponential({scale})"),
        }
    }
    fn shape(&self) -> Vec<usize> {
        self.chunks.shape()
    }
    fn dtype(&self) -> DType {
        DType::F64
    }
    fn chunks(&self) -> Chunks {
        self.chunks.clone()
    }
    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        super::assemble(&self.chunks, DType::F64, region, |index, local| Ok(self.generate(index, local)))
    }
    /// Any part of a block is generated without the rest.
    fn cheap_subregion(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_depend_on_seed_and_block_only() {
        let chunks = Chunks::regular(&[10, 7], &[4, 3]);
        let a = RandomSource::new(Distr::Normal { loc: 10.0, scale: 0.1 }, chunks.clone(), Some(42));
        let b = RandomSource::new(Distr::Normal { loc: 10.0, scale: 0.1 }, chunks.clone(), Some(42));
        // reading blocks in different orders gives the same values
        let r1 = chunks.block_region(&[2, 1]);
        let r0 = chunks.block_region(&[0, 0]);
        let x1 = a.read(&r1).unwrap();
        let _ = b.read(&r0).unwrap();
        assert_eq!(b.read(&r1).unwrap(), x1);
        // a sub-region is the same values as the corresponding part of the block
        let sub = a.read(&Region { start: vec![9, 4], shape: vec![1, 2] }).unwrap();
        assert_eq!(sub, x1.subblock(&[1, 1], &[1, 2]));
        let c = RandomSource::new(Distr::Normal { loc: 10.0, scale: 0.1 }, chunks, Some(43));
        assert_ne!(c.read(&r1).unwrap(), x1);
    }

    #[test]
    fn ziggurat_layers_are_rand_distrs() {
        // rand_distr's ZIG_NORM_X and ZIG_NORM_F (ziggurat_tables.rs), a few of them
        let z = ziggurat();
        for (i, x, f) in [
            (0, 3.910757959537090045, 0.000477467764586655),
            (1, 3.654152885361008796, 0.001260285930498598),
            (2, 3.449278298560964462, 0.002609072746106363),
            (128, 1.535342571438843118, 0.307697412505553769),
            (255, 0.215241895913273806, 0.977101701282731328),
        ] {
            assert!((z.x[i] - x).abs() <= 4e-16 * x, "x[{i}] = {} != {x}", z.x[i]);
            assert!((z.f[i] - f).abs() <= 1e-15 * f, "f[{i}] = {} != {f}", z.f[i]);
        }
        assert_eq!((z.x[256], z.f[256]), (0.0, 1.0));
    }

    /// The draws follow the standard normal: the Kolmogorov–Smirnov distance of 200,000 of
    /// them from its CDF, and the share beyond 3.5 sigma (where the ziggurat's tail code runs).
    #[test]
    fn normal_draws_follow_the_normal_law() {
        let n = 200_000;
        let src = RandomSource::new(Distr::Normal { loc: 0.0, scale: 1.0 }, Chunks::regular(&[n], &[n / 4]), Some(7));
        let mut v = src.read(&Region::full(&[n])).unwrap().to_ndarray::<f64>().unwrap().into_raw_vec_and_offset().0;
        v.sort_by(f64::total_cmp);
        // Φ(x) = (1 + erf(x / √2)) / 2, erf by Abramowitz and Stegun 7.1.26 (error < 1.5e-7)
        let erf = |x: f64| {
            let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
            let y = 1.0
                - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592)
                    * t
                    * (-x * x).exp();
            if x < 0.0 { -y } else { y }
        };
        let cdf = |x: f64| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
        let d = v
            .iter()
            .enumerate()
            .map(|(i, &x)| (cdf(x) - i as f64 / n as f64).abs().max((cdf(x) - (i + 1) as f64 / n as f64).abs()))
            .fold(0.0, f64::max);
        // the 99.9 % critical value of the KS statistic is 1.95 / sqrt(n)
        assert!(d < 1.95 / (n as f64).sqrt(), "KS distance {d}");
        let beyond = v.iter().filter(|x| x.abs() > 3.5).count() as f64 / n as f64;
        // P(|Z| > 3.5) = 4.65e-4: 93 expected, allow ±5 sigma of a Poisson count
        assert!((beyond * n as f64 - 93.0).abs() < 5.0 * 93f64.sqrt(), "{} beyond 3.5", beyond * n as f64);
    }

    #[test]
    fn moments_are_right() {
        let chunks = Chunks::regular(&[200_000], &[50_000]);
        let n = RandomSource::new(Distr::Normal { loc: 10.0, scale: 2.0 }, chunks.clone(), Some(1));
        let e = RandomSource::new(Distr::Exponential { scale: 3.0 }, chunks.clone(), Some(1));
        let u = RandomSource::new(Distr::Uniform, chunks.clone(), Some(1));
        let stats = |s: &RandomSource| {
            let b = s.read(&Region::full(&[200_000])).unwrap().to_ndarray::<f64>().unwrap();
            (b.mean().unwrap(), b.std(0.0))
        };
        let (m, sd) = stats(&n);
        assert!((m - 10.0).abs() < 0.03 && (sd - 2.0).abs() < 0.03, "{m} {sd}");
        let (m, sd) = stats(&e);
        assert!((m - 3.0).abs() < 0.05 && (sd - 3.0).abs() < 0.05, "{m} {sd}");
        let (m, sd) = stats(&u);
        assert!((m - 0.5).abs() < 0.01 && (sd - (1.0f64 / 12.0).sqrt()).abs() < 0.01, "{m} {sd}");
    }
}
