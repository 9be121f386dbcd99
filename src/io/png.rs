//! PNG (in progress).
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use std::path::Path;

pub fn create_sink(path: &Path, _spec: &SinkSpec, _opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    Err(SinkError::new(path.display().to_string(), "PNG writing is not built yet"))
}
