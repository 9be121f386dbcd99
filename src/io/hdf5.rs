//! HDF5 and NetCDF4 (in progress).
use crate::io::OpenOptions;
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{Source, SourceError};
use std::path::Path;
use std::sync::Arc;

pub fn open_dataset(path: &Path, _dataset: Option<&str>, _opts: &OpenOptions) -> Result<Arc<dyn Source>, SourceError> {
    Err(SourceError::new(path.display().to_string(), "HDF5 reading is not built yet"))
}

pub fn create_sink(path: &Path, _dataset: Option<&str>, _spec: &SinkSpec, _opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    Err(SinkError::new(path.display().to_string(), "HDF5 writing is not built yet"))
}

/// (in progress)
#[derive(serde::Serialize, Debug)]
pub struct FileTree;

impl std::fmt::Display for FileTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(in progress)")
    }
}

pub fn describe_file(path: &Path) -> Result<FileTree, SourceError> {
    Err(SourceError::new(path.display().to_string(), "not built yet"))
}
