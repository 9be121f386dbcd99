//! Lazy random arrays (dask's `da.random`): `random`, `normal`, `exponential`.
//!
//! Every block draws from its own generator, seeded from the array's seed and the
//! block's number, so values depend only on the seed and the chunking, never on
//! thread count or the order in which blocks are computed.

use super::{Source, SourceError};
use crate::block::Block;
use crate::chunks::{Chunks, Region};
use crate::dtype::DType;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1, StandardNormal};
use rand_pcg::Pcg64Mcg;

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

impl RandomSource {
    /// An array with the given chunks; `seed: None` draws a seed from the OS once, so
    /// recomputing the same array gives the same values.
    pub fn new(distr: Distr, chunks: Chunks, seed: Option<u64>) -> RandomSource {
        let seed = seed.unwrap_or_else(|| rand::rng().random());
        RandomSource { distr, chunks, seed }
    }

    fn block_seed(&self, linear: usize) -> u64 {
        // SplitMix64 finaliser over (seed, block): well-separated streams per block.
        let mut z = self.seed ^ (linear as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0xD1B5_4A32_D192_ED03);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn generate(&self, index: &[usize]) -> Block {
        let shape = self.chunks.block_shape(index);
        let n: usize = shape.iter().product();
        let mut rng = Pcg64Mcg::seed_from_u64(self.block_seed(self.chunks.block_linear(index)));
        let mut v = vec![0f64; n];
        match self.distr {
            Distr::Uniform => v.iter_mut().for_each(|x| *x = rng.random::<f64>()),
            Distr::Normal { loc, scale } => v.iter_mut().for_each(|x| {
                let z: f64 = StandardNormal.sample(&mut rng);
                *x = loc + scale * z;
            }),
            Distr::Exponential { scale } => v.iter_mut().for_each(|x| {
                let e: f64 = Exp1.sample(&mut rng);
                *x = scale * e;
            }),
        }
        Block::from_vec(&shape, v)
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
        super::assemble(&self.chunks, DType::F64, region, |index, local| Ok(self.generate(index).subblock(&local.start, &local.shape)))
    }
    fn cheap_subregion(&self) -> bool {
        false
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
