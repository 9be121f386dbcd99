//! NumPy .npy (in progress).
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{Source, SourceError};
use std::path::Path;
use std::sync::Arc;

pub fn open(path: &Path) -> Result<Arc<dyn Source>, SourceError> {
    Err(SourceError::new(path.display().to_string(), "npy reading is not built yet"))
}

pub fn create_sink(path: &Path, _spec: &SinkSpec, _opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    Err(SinkError::new(path.display().to_string(), "npy writing is not built yet"))
}
