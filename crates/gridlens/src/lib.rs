//! # gridlens
//!
//! A lazy, chunked, parallel, larger-than-memory n-d array engine with NumPy
//! semantics (our own dask.array, in Rust), and the file formats scientists keep
//! gridded data in. The desktop app and the command line are built on this library;
//! it holds no GUI code.
//!
//! The pipeline has three named stages, as in polars and DataFusion:
//! [`expr`] (the lazy graph a user writes, or parses from NumPy syntax) →
//! [`plan`] (a pure, deterministic task graph with fused kernels) →
//! [`exec`] (threads, memory budget, priorities, cancellation, progress).
//! [`chunks`] holds the pure block geometry; [`source`] and [`sink`] are the
//! data's way in and out, with the file formats in [`io`].

pub mod block;
pub mod chunks;
pub mod colormap;
pub mod dtype;
pub mod error;
pub mod exec;
pub mod expr;
pub mod io;
pub mod plan;
pub mod sink;
pub mod source;

pub use block::{Block, Buffer, Element, Scalar};
pub use chunks::{ChunkSpec, Chunks, Region};
pub use dtype::DType;
pub use error::Error;
pub use exec::{CancelToken, ExecOptions, JobControl, compute, execute};
pub use expr::Array;
pub use plan::Plan;
pub use sink::{Sink, SinkError, SinkSpec, WriteOptions};
pub use source::{Source, SourceError};
