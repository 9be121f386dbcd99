//! Zarr stores (v3 and v2) on the local file system, through the `zarrs` crate.
//!
//! A Zarr store is a directory of chunk files plus JSON metadata (`zarr.json` in v3;
//! `.zarray`, `.zgroup` and `.zattrs` in v2). [`ZarrSource`] reads one array of a store,
//! with the store's chunks (the inner chunks of a sharded array) as its natural blocks,
//! the fill value for chunks that were never written, and its attributes as metadata.
//! [`ZarrSink`] writes one array at the root of a new store, in parallel, into a temporary
//! directory that [`crate::io::atomic`] renames into place on commit.
//!
//! Both support the codecs zarr-python uses by default: zstd (v3), blosc (v2), gzip, and
//! sharding; plus crc32c and transpose. Not supported: zlib-compressed v2 arrays, object,
//! string, complex and float16 data.

mod chunk_locks;
mod read;
mod write;

pub use read::{ZarrSource, list_arrays};
pub use write::{DEFAULT_ZSTD_LEVEL, ZarrSink};

use crate::dtype::DType;
use crate::sink::{Sink, SinkError, SinkSpec, WriteOptions};
use crate::source::{Source, SourceError};
use std::path::Path;
use std::sync::Arc;
use zarrs::array::DataType;
use zarrs::array::data_type as zdt;

/// Opens an array of the Zarr store at `path` as a [`Source`].
///
/// `array` is the array's path inside the store (`temperature`, `/group/t2m`). Without it,
/// the store's root must be an array, or a group holding exactly one array. With `decode_cf`
/// the CF attributes xarray writes are applied ([`crate::io::cf`]): `scale_factor`,
/// `add_offset`, `_FillValue` (in Zarr v2 stores written by xarray, the array's `fill_value`),
/// `missing_value`, the valid range and `_Unsigned`; a CF time coordinate gets date labels.
///
/// # Errors
/// A [`SourceError`] naming the store when it does not exist, is not a Zarr store, has no
/// such array (the message lists the arrays it has), or holds an unsupported data type.
pub fn open_array(path: &Path, array: Option<&str>, decode_cf: bool) -> Result<Arc<dyn Source>, SourceError> {
    Ok(Arc::new(ZarrSource::open(path, array, decode_cf)?))
}

/// Creates a sink writing a new Zarr store at `path` holding one array at its root.
///
/// `opts.zarr_version` picks v3 (default) or v2; `opts.chunk_shape` the storage chunks
/// (default: the shape of the output blocks); `opts.compression_level` gzip at that level
/// (default: zstd at [`DEFAULT_ZSTD_LEVEL`], as zarr-python 3 does). `spec.attrs` and
/// `spec.history` become the array's attributes.
///
/// # Errors
/// When the options are invalid (the message names the offending value), the target exists
/// without `opts.overwrite`, or the temporary store cannot be created.
pub fn create_sink(path: &Path, spec: &SinkSpec, opts: &WriteOptions) -> Result<Box<dyn Sink>, SinkError> {
    Ok(Box::new(ZarrSink::create(path, spec, opts)?))
}

/// Runs `$body` with `$t` the Rust element type of a [`DType`].
macro_rules! with_element_type {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::Bool => {
                type $t = bool;
                $body
            }
            DType::I8 => {
                type $t = i8;
                $body
            }
            DType::I16 => {
                type $t = i16;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            DType::U8 => {
                type $t = u8;
                $body
            }
            DType::U16 => {
                type $t = u16;
                $body
            }
            DType::U32 => {
                type $t = u32;
                $body
            }
            DType::U64 => {
                type $t = u64;
                $body
            }
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_element_type;

/// The Zarr data type of a dtype.
fn zarr_data_type(dtype: DType) -> DataType {
    match dtype {
        DType::Bool => zdt::bool(),
        DType::I8 => zdt::int8(),
        DType::I16 => zdt::int16(),
        DType::I32 => zdt::int32(),
        DType::I64 => zdt::int64(),
        DType::U8 => zdt::uint8(),
        DType::U16 => zdt::uint16(),
        DType::U32 => zdt::uint32(),
        DType::U64 => zdt::uint64(),
        DType::F32 => zdt::float32(),
        DType::F64 => zdt::float64(),
    }
}

/// The dtype of a Zarr data type, when gridlens has one.
fn dtype_of(data_type: &DataType) -> Option<DType> {
    DType::ALL.into_iter().find(|&d| zarr_data_type(d) == *data_type)
}

#[cfg(test)]
mod tests;
