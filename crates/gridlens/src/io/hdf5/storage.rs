//! How a dataset is stored, as the HDF5 library describes it: element type and byte order,
//! layout, filter pipeline and fill value (HDF5's datatype, layout, filter-pipeline and
//! fill-value object-header messages; zarrs' array metadata plays this role).
//!
//! Everything here asks the library once, when a dataset is opened; the lock-free reader
//! then works from these answers alone.

use crate::dtype::DType;
use hdf5::Dataset;
use hdf5_sys::h5d::H5D_fill_value_t;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5t::{H5T_class_t, H5T_direction_t, H5T_order_t, H5T_sign_t, H5T_str_t};
use std::fmt;
use std::os::raw::{c_char, c_uint};

/// Byte order of stored elements.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// Least significant byte first (x86, ARM, most files).
    Little,
    /// Most significant byte first (NetCDF3 heritage, some instruments).
    Big,
}

impl ByteOrder {
    /// The byte order of this machine.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "little") { ByteOrder::Little } else { ByteOrder::Big };
}

/// The element type of a dataset as gridlens reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredType {
    /// The type the values are read as (booleans stored as an HDF5 enum read as `Bool`).
    pub dtype: DType,
    /// Byte order in the file.
    pub order: ByteOrder,
    /// Whether the stored bytes are the plain two's-complement / IEEE-754 layout of `dtype`
    /// (in `order`), so that they can be reinterpreted without the library's conversion.
    pub plain: bool,
    /// NumPy-style description for listings: `float64`, `>i2`, `bool`, `int16 enum`.
    pub description: String,
}

/// RAII guard for a datatype id that we opened through the raw API.
struct TypeId(hid_t);

impl Drop for TypeId {
    fn drop(&mut self) {
        if self.0 >= 0 {
            hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tclose(self.0) });
        }
    }
}

fn type_class(id: hid_t) -> H5T_class_t {
    hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_class(id) })
}

fn type_size(id: hid_t) -> usize {
    hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_size(id) })
}

fn type_order(id: hid_t) -> Option<ByteOrder> {
    match hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_order(id) }) {
        H5T_order_t::H5T_ORDER_LE => Some(ByteOrder::Little),
        H5T_order_t::H5T_ORDER_BE => Some(ByteOrder::Big),
        _ => None,
    }
}

/// The integer element type of `size` bytes.
pub(super) fn integer_dtype(size: usize, signed: bool) -> Option<DType> {
    Some(match (size, signed) {
        (1, true) => DType::I8,
        (2, true) => DType::I16,
        (4, true) => DType::I32,
        (8, true) => DType::I64,
        (1, false) => DType::U8,
        (2, false) => DType::U16,
        (4, false) => DType::U32,
        (8, false) => DType::U64,
        _ => return None,
    })
}

/// Integer type of `id` (class INTEGER): dtype, order, and whether it uses all its bits.
fn classify_integer(id: hid_t) -> Result<(DType, ByteOrder, bool), String> {
    let size = type_size(id);
    let signed = hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_sign(id) }) == H5T_sign_t::H5T_SGN_2;
    let dtype = integer_dtype(size, signed).ok_or_else(|| format!("{size}-byte integer"))?;
    // One-byte integers may report no byte order.
    let order = if size == 1 { ByteOrder::Little } else { type_order(id).ok_or("integer of mixed (VAX) byte order")? };
    let (precision, offset) = hdf5::sync::sync(|| unsafe { (hdf5_sys::h5t::H5Tget_precision(id), hdf5_sys::h5t::H5Tget_offset(id)) });
    Ok((dtype, order, precision == size * 8 && offset == 0))
}

/// Classifies a dataset's datatype, or describes why gridlens cannot hold it.
///
/// # Errors
/// The type's description (`variable-length string`, `compound {a, b}`, `float16`) when it is
/// not a numeric or boolean type.
pub fn classify(ty: &hdf5::Datatype) -> Result<StoredType, String> {
    let id = ty.id();
    let size = type_size(id);
    match type_class(id) {
        H5T_class_t::H5T_INTEGER => {
            let (dtype, order, plain) = classify_integer(id)?;
            Ok(StoredType { dtype, order, plain, description: numpy_code(dtype, order) })
        }
        H5T_class_t::H5T_FLOAT => {
            let dtype = match size {
                4 => DType::F32,
                8 => DType::F64,
                2 => return Err("float16".into()),
                n => return Err(format!("{n}-byte float")),
            };
            let order = type_order(id).ok_or("float of VAX or mixed byte order")?;
            // Only exact IEEE-754 binary32/binary64 may be reinterpreted byte for byte; other
            // float layouts of the same size are converted by the library.
            let ieee = match (dtype, order) {
                (DType::F32, ByteOrder::Little) => *hdf5::globals::H5T_IEEE_F32LE,
                (DType::F32, ByteOrder::Big) => *hdf5::globals::H5T_IEEE_F32BE,
                (_, ByteOrder::Little) => *hdf5::globals::H5T_IEEE_F64LE,
                (_, ByteOrder::Big) => *hdf5::globals::H5T_IEEE_F64BE,
            };
            let plain = hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tequal(id, ieee) }) > 0;
            Ok(StoredType { dtype, order, plain, description: numpy_code(dtype, order) })
        }
        H5T_class_t::H5T_ENUM => {
            let base = TypeId(hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_super(id) }));
            if base.0 < 0 || type_class(base.0) != H5T_class_t::H5T_INTEGER {
                return Err("enum of a non-integer type".into());
            }
            let (dtype, order, plain) = classify_integer(base.0)?;
            if size == 1 && is_bool_enum(id) {
                // h5py and hdf5-metno store bool as enum {FALSE = 0, TRUE = 1} over a byte.
                return Ok(StoredType { dtype: DType::Bool, order, plain, description: "bool".into() });
            }
            // Other enums are read as their integer values, as netCDF4-python does.
            Ok(StoredType { dtype, order, plain, description: format!("{} enum", numpy_code(dtype, order)) })
        }
        _ => Err(describe_type(id)),
    }
}

/// Whether an enum's members are exactly FALSE = 0 and TRUE = 1 (case-insensitive).
fn is_bool_enum(id: hid_t) -> bool {
    let members = hdf5::sync::sync(|| unsafe {
        let n = hdf5_sys::h5t::H5Tget_nmembers(id);
        if n != 2 {
            return None;
        }
        let mut out = Vec::new();
        for i in 0..2u32 {
            let name_ptr = hdf5_sys::h5t::H5Tget_member_name(id, i);
            if name_ptr.is_null() {
                return None;
            }
            let name = std::ffi::CStr::from_ptr(name_ptr).to_string_lossy().into_owned();
            hdf5_sys::h5::H5free_memory(name_ptr.cast());
            // The base type is one byte, so one byte holds the value.
            let mut value: u8 = 0;
            if hdf5_sys::h5t::H5Tget_member_value(id, i, (&raw mut value).cast()) < 0 {
                return None;
            }
            out.push((name.to_ascii_uppercase(), value));
        }
        Some(out)
    });
    match members {
        Some(m) => {
            let has = |n: &str, v: u8| m.iter().any(|(name, value)| name == n && *value == v);
            has("FALSE", 0) && has("TRUE", 1)
        }
        None => false,
    }
}

/// NumPy's code of a dtype with its byte order when it is not native: `float64`, `>f4`.
fn numpy_code(dtype: DType, order: ByteOrder) -> String {
    if order == ByteOrder::NATIVE || dtype.size_bytes() == 1 {
        dtype.name().to_string()
    } else {
        format!("{}{}", if order == ByteOrder::Big { '>' } else { '<' }, dtype.code())
    }
}

/// A human description of any datatype, for listings and messages.
pub fn describe_type(id: hid_t) -> String {
    let size = type_size(id);
    match type_class(id) {
        H5T_class_t::H5T_INTEGER => match classify_integer(id) {
            Ok((d, o, _)) => numpy_code(d, o),
            Err(e) => e,
        },
        H5T_class_t::H5T_FLOAT => match size {
            2 => "float16".into(),
            4 | 8 => numpy_code(if size == 4 { DType::F32 } else { DType::F64 }, type_order(id).unwrap_or(ByteOrder::Little)),
            n => format!("{n}-byte float"),
        },
        H5T_class_t::H5T_STRING => {
            let variable = hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tis_variable_str(id) }) > 0;
            if variable { "variable-length string".into() } else { format!("fixed-length string ({size} bytes)") }
        }
        H5T_class_t::H5T_COMPOUND => {
            let names = hdf5::sync::sync(|| unsafe {
                let n = hdf5_sys::h5t::H5Tget_nmembers(id).max(0) as c_uint;
                let mut names = Vec::new();
                for i in 0..n {
                    let p = hdf5_sys::h5t::H5Tget_member_name(id, i);
                    if !p.is_null() {
                        names.push(std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned());
                        hdf5_sys::h5::H5free_memory(p.cast());
                    }
                }
                names
            });
            format!("compound {{{}}}", names.join(", "))
        }
        H5T_class_t::H5T_ENUM => "enum".into(),
        H5T_class_t::H5T_REFERENCE => "reference".into(),
        H5T_class_t::H5T_OPAQUE => format!("opaque ({size} bytes)"),
        H5T_class_t::H5T_BITFIELD => format!("{size}-byte bitfield"),
        H5T_class_t::H5T_TIME => "time".into(),
        H5T_class_t::H5T_VLEN => "variable-length sequence".into(),
        H5T_class_t::H5T_ARRAY => {
            let base = TypeId(hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_super(id) }));
            if base.0 < 0 { "array".into() } else { format!("array of {}", describe_type(base.0)) }
        }
        _ => "unknown type".into(),
    }
}

/// The memory type the library converts `ty` into for reading as [`StoredType::dtype`]: the
/// native form of the file type (for enums, a native enum, since HDF5 does not convert
/// enums to plain integers). The returned id is closed by the guard.
pub(crate) struct NativeType(TypeId);

impl NativeType {
    /// # Errors
    /// When the library has no native form of the type, or its size differs from `dtype`'s.
    pub fn of(ty: &hdf5::Datatype, dtype: DType) -> Result<NativeType, String> {
        let id = hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_native_type(ty.id(), H5T_direction_t::H5T_DIR_ASCEND) });
        if id < 0 {
            return Err(format!("the library has no native form of type {}", describe_type(ty.id())));
        }
        let t = NativeType(TypeId(id));
        let size = type_size(id);
        if size != dtype.size_bytes() {
            return Err(format!("native form of {} has {size} bytes, not {}", describe_type(ty.id()), dtype.size_bytes()));
        }
        Ok(t)
    }

    /// The library's id of the type (valid while `self` lives).
    pub fn id(&self) -> hid_t {
        self.0.0
    }
}

/// The storage layout of a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// In the object header (at most 64 KiB).
    Compact,
    /// One byte range in the file.
    Contiguous {
        /// Where the range starts; `None` when never written (all fill value).
        address: Option<u64>,
    },
    /// In chunks, each filtered separately.
    Chunked {
        /// The chunk shape (edge chunks are stored at this full size too).
        chunk: Vec<usize>,
    },
    /// Raw data in other files (external storage).
    External,
    /// A view of other datasets.
    Virtual,
}

impl Layout {
    /// The layout's name as h5py and `h5dump` call it.
    pub fn name(&self) -> &'static str {
        match self {
            Layout::Compact => "compact",
            Layout::Contiguous { .. } => "contiguous",
            Layout::Chunked { .. } => "chunked",
            Layout::External => "external",
            Layout::Virtual => "virtual",
        }
    }
}

/// Reads a dataset's layout.
pub fn layout(ds: &Dataset) -> Result<Layout, String> {
    let dcpl = ds.dcpl().map_err(|e| e.to_string())?;
    Ok(match dcpl.layout() {
        hdf5::dataset::Layout::Compact => Layout::Compact,
        hdf5::dataset::Layout::Chunked => Layout::Chunked { chunk: ds.chunk().ok_or("chunked layout without a chunk shape")? },
        hdf5::dataset::Layout::Virtual => Layout::Virtual,
        hdf5::dataset::Layout::Contiguous => {
            let external = hdf5::sync::sync(|| unsafe { hdf5_sys::h5p::H5Pget_external_count(dcpl.id()) });
            if external > 0 {
                Layout::External
            } else if ds.storage_size() == 0 {
                // H5Dget_offset is not defined before the data is allocated.
                Layout::Contiguous { address: None }
            } else {
                Layout::Contiguous { address: ds.offset() }
            }
        }
    })
}

/// The well-known HDF5 filter ids and the names h5py and the HDF Group's registry give them.
pub fn filter_name(id: i32) -> &'static str {
    match id {
        1 => "gzip",
        2 => "shuffle",
        3 => "fletcher32",
        4 => "szip",
        5 => "nbit",
        6 => "scaleoffset",
        307 => "bzip2",
        32000 => "lzf",
        32001 => "blosc",
        32004 => "lz4",
        32008 => "bitshuffle",
        32013 => "zfp",
        32015 => "zstd",
        32017 => "sz",
        32026 => "blosc2",
        _ => "",
    }
}

/// One stage of a dataset's filter pipeline, as stored in the file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FilterInfo {
    /// The registered filter id (1 = gzip, 2 = shuffle, 3 = fletcher32, 32000 = lzf …).
    pub id: i32,
    /// The filter's name: the well-known name for the id, else the name stored in the file.
    pub name: String,
    /// Client data values (gzip: the level; shuffle: the element size).
    pub params: Vec<u32>,
    /// Optional filters may be skipped per chunk (the chunk's filter mask says so).
    pub optional: bool,
    /// Whether gridlens can decode it: the library has it, or the lock-free reader decodes
    /// it itself (h5py's LZF, which libhdf5 lacks).
    pub available: bool,
    /// Whether the library itself has it (datasets read through the library need it).
    pub in_library: bool,
}

impl fmt::Display for FilterInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.id, self.params.first()) {
            (1, Some(level)) => write!(f, "gzip({level})"),
            _ => write!(f, "{}", self.name),
        }
    }
}

/// Reads the filter pipeline, in the order filters are applied when writing.
pub fn filters(ds: &Dataset) -> Result<Vec<FilterInfo>, String> {
    let dcpl = ds.dcpl().map_err(|e| e.to_string())?;
    let id = dcpl.id();
    hdf5::sync::sync(|| unsafe {
        let n = hdf5_sys::h5p::H5Pget_nfilters(id);
        if n < 0 {
            return Err("cannot read the filter pipeline".to_string());
        }
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n as c_uint {
            let mut flags: c_uint = 0;
            let mut values: [c_uint; 32] = [0; 32];
            let mut nvalues: usize = values.len();
            let mut name: [c_char; 257] = [0; 257];
            let fid = hdf5_sys::h5p::H5Pget_filter2(
                id,
                i,
                &raw mut flags,
                &raw mut nvalues,
                values.as_mut_ptr(),
                name.len(),
                name.as_mut_ptr(),
                std::ptr::null_mut(),
            );
            if fid < 0 {
                return Err(format!("cannot read filter {i} of the pipeline"));
            }
            let stored = std::ffi::CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
            let known = filter_name(fid);
            let name = if !known.is_empty() {
                known.to_string()
            } else if !stored.is_empty() {
                stored
            } else {
                format!("filter {fid}")
            };
            let in_library = hdf5_sys::h5z::H5Zfilter_avail(fid) > 0;
            let mut info = FilterInfo {
                id: fid,
                name,
                params: values[..nvalues.min(values.len())].to_vec(),
                optional: flags & hdf5_sys::h5z::H5Z_FLAG_OPTIONAL != 0,
                available: in_library,
                in_library,
            };
            info.available |= super::filters::Stage::of(&info, 1).is_some();
            out.push(info);
        }
        Ok(out)
    })
}

/// The dataset's fill value as native bytes of `dtype` (zeros when none is defined).
pub(crate) fn fill_value_bytes(ds: &Dataset, native: &NativeType, dtype: DType) -> Result<Vec<u8>, String> {
    let dcpl = ds.dcpl().map_err(|e| e.to_string())?;
    let mut bytes = vec![0u8; dtype.size_bytes()];
    hdf5::sync::sync(|| unsafe {
        let mut status = H5D_fill_value_t::H5D_FILL_VALUE_ERROR;
        if hdf5_sys::h5p::H5Pfill_value_defined(dcpl.id(), &raw mut status) < 0 {
            return Err("cannot read the fill value".to_string());
        }
        if status == H5D_fill_value_t::H5D_FILL_VALUE_USER_DEFINED
            && hdf5_sys::h5p::H5Pget_fill_value(dcpl.id(), native.id(), bytes.as_mut_ptr().cast()) < 0
        {
            return Err("cannot convert the fill value".to_string());
        }
        Ok(())
    })?;
    Ok(bytes)
}

/// Whether a fixed-length string type pads with spaces (Fortran style) rather than NULs.
pub fn is_space_padded(id: hid_t) -> bool {
    hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_strpad(id) }) == H5T_str_t::H5T_STR_SPACEPAD
}
