//! (in progress)
use crate::source::SourceError;
use std::path::{Path, PathBuf};

pub struct DemoOptions { pub days: usize, pub shape: (usize, usize), pub dtype: crate::DType, pub chunks: (usize, usize), pub seed: u64 }

pub fn write_demo(dir: &Path, _opts: &DemoOptions, _progress: &dyn Fn(usize, usize)) -> Result<Vec<PathBuf>, SourceError> {
    Err(SourceError::new(dir.display().to_string(), "not built yet"))
}
