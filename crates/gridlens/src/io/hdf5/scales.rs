//! HDF5 dimension scales (the HDF5 "DS" convention that netCDF-4 and h5py use to tie a
//! dataset's axes to coordinate datasets), written by hand because the high-level
//! `H5DS` library is not compiled into our HDF5.
//!
//! The convention is four attributes: on each coordinate dataset `CLASS =
//! "DIMENSION_SCALE"` and `NAME` (fixed-length, NUL-terminated strings, which `H5DSis_scale`
//! insists on) and `REFERENCE_LIST` (which datasets use it, for which axis); on the data
//! variable `DIMENSION_LIST`, one variable-length list of object references per axis.

use hdf5::types::VarLenArray;
use hdf5::{Dataset, H5Type, ObjectReference, ObjectReference1};
use hdf5_sys::h5a::{H5Aclose, H5Acreate2, H5Awrite};
use hdf5_sys::h5p::H5P_DEFAULT;
use hdf5_sys::h5s::{H5S_class_t, H5Sclose, H5Screate};
use hdf5_sys::h5t::{H5T_C_S1, H5T_str_t, H5Tclose, H5Tcopy, H5Tset_size, H5Tset_strpad};
use std::ffi::{CString, c_void};

/// One entry of a scale's `REFERENCE_LIST`: the layout `H5DSattach_scale` writes.
#[derive(H5Type, Clone, Copy, Debug)]
#[repr(C)]
struct DimensionReference {
    dataset: ObjectReference1,
    dimension: i32,
}

/// Writes a scalar fixed-length NUL-terminated ASCII string attribute.
fn write_nullterm_attr(obj: &Dataset, name: &str, value: &str) -> Result<(), String> {
    let cname = CString::new(name).map_err(|e| e.to_string())?;
    let cvalue = CString::new(value).map_err(|e| e.to_string())?;
    hdf5::sync::sync(|| {
        // SAFETY: plain HDF5 C calls on ids we own, under the library's global lock; every
        // id created here is closed before returning, also on failure.
        unsafe {
            let tid = H5Tcopy(*H5T_C_S1);
            if tid < 0 {
                return Err(format!("cannot create the string type for {name}"));
            }
            let sid = H5Screate(H5S_class_t::H5S_SCALAR);
            let mut ok = sid >= 0 && H5Tset_size(tid, value.len() + 1) >= 0 && H5Tset_strpad(tid, H5T_str_t::H5T_STR_NULLTERM) >= 0;
            if ok {
                let aid = H5Acreate2(obj.id(), cname.as_ptr(), tid, sid, H5P_DEFAULT, H5P_DEFAULT);
                ok = aid >= 0 && H5Awrite(aid, tid, cvalue.as_ptr().cast::<c_void>()) >= 0;
                if aid >= 0 {
                    H5Aclose(aid);
                }
            }
            if sid >= 0 {
                H5Sclose(sid);
            }
            H5Tclose(tid);
            if ok { Ok(()) } else { Err(format!("cannot write the {name} attribute")) }
        }
    })
}

/// Makes `scales[d]` (named `names[d]`) the dimension scale of axis `d` of `data`, as
/// `H5DSset_scale` + `H5DSattach_scale` would. `data_path` and the scales' paths are
/// absolute paths in the same file.
///
/// # Errors
/// A message naming the attribute that could not be written.
pub fn attach(data: &Dataset, data_path: &str, scales: &[(&Dataset, &str, &str)]) -> Result<(), String> {
    let e = |what: &str, err: hdf5::Error| format!("cannot write {what}: {err}");
    let file = data.file().map_err(|err| e("dimension scales", err))?;
    let data_ref = ObjectReference1::create(&file, data_path).map_err(|err| e("a reference", err))?;
    let mut list = Vec::with_capacity(scales.len());
    for (dim, (scale, path, name)) in scales.iter().enumerate() {
        write_nullterm_attr(scale, "CLASS", "DIMENSION_SCALE")?;
        write_nullterm_attr(scale, "NAME", name)?;
        let back = [DimensionReference { dataset: data_ref, dimension: dim as i32 }];
        scale
            .new_attr::<DimensionReference>()
            .shape([1])
            .create("REFERENCE_LIST")
            .and_then(|a| a.write(&back))
            .map_err(|err| e("REFERENCE_LIST", err))?;
        let scale_ref = ObjectReference1::create(&file, path).map_err(|err| e("a reference", err))?;
        list.push(VarLenArray::from_slice(&[scale_ref]));
    }
    data.new_attr::<VarLenArray<ObjectReference1>>()
        .shape([scales.len()])
        .create("DIMENSION_LIST")
        .and_then(|a| a.write(&list))
        .map_err(|err| e("DIMENSION_LIST", err))
}
