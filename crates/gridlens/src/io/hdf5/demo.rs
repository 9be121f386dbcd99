//! The demo data set's files, written as netCDF-C writes a NetCDF4 file: latitude and
//! longitude coordinate variables attached as dimension scales, CF attributes, a chunked
//! field. What the values are is `io::demo`'s business; how they are stored is here.

use super::scales;
use crate::dtype::DType;
use hdf5::types::VarLenUnicode;
use ndarray::{ArrayView2, s};
use rayon::prelude::*;
use std::path::Path;

/// Writes one day's file at `path`: `row(r, out)` fills row `r` of the field, computed a
/// slab at a time on the other cores while the previous slab is written.
#[allow(clippy::too_many_arguments)]
pub fn write_day(
    path: &Path,
    dtype: DType,
    chunks: [usize; 2],
    slab_rows: usize,
    lat: &[f64],
    lon: &[f64],
    row: &(dyn Fn(usize, &mut [f64]) + Sync),
    mut tick: impl FnMut(),
) -> Result<(), String> {
    let (h, w) = (lat.len(), lon.len());
    let e = |what: &'static str| move |err: hdf5::Error| format!("cannot write {what}: {err}");
    // No HDF5 file lock: the file is our private temporary until renamed, and HDF5 opens
    // files without O_CLOEXEC, so a process spawned meanwhile by another thread inherits
    // the descriptor and keeps the lock, making readers fail with EAGAIN after the rename.
    let file = hdf5::File::with_options().with_fapl(|p| p.file_locking(false)).create(path).map_err(e("the file"))?;
    let text = |s: &str| s.parse::<VarLenUnicode>().map_err(|err| err.to_string());
    let put = |obj: &hdf5::Location, name: &str, value: &str| -> Result<(), String> {
        obj.new_attr::<VarLenUnicode>()
            .create(name)
            .and_then(|a| a.write_scalar(&text(value).expect("attribute text has no NUL")))
            .map_err(|err| format!("cannot write attribute {name}: {err}"))
    };
    let lat_ds = file.new_dataset_builder().with_data(lat).create("lat").map_err(e("/lat"))?;
    for (k, v) in [("units", "degrees_north"), ("long_name", "latitude"), ("standard_name", "latitude"), ("axis", "Y")] {
        put(&lat_ds, k, v)?;
    }
    let lon_ds = file.new_dataset_builder().with_data(lon).create("lon").map_err(e("/lon"))?;
    for (k, v) in [("units", "degrees_east"), ("long_name", "longitude"), ("standard_name", "longitude"), ("axis", "X")] {
        put(&lon_ds, k, v)?;
    }
    let t2m = match dtype {
        DType::F32 => file.new_dataset::<f32>().chunk(chunks).shape([h, w]).create("t2m"),
        _ => file.new_dataset::<f64>().chunk(chunks).shape([h, w]).create("t2m"),
    }
    .map_err(e("/t2m"))?;
    for (k, v) in [("units", "K"), ("long_name", "2 metre temperature"), ("standard_name", "air_temperature")] {
        put(&t2m, k, v)?;
    }
    scales::attach(&t2m, "/t2m", &[(&lat_ds, "/lat", "lat"), (&lon_ds, "/lon", "lon")])?;
    drop((lat_ds, lon_ds));

    // Two slabs: while one is written (HDF5 is single-threaded), the next is computed on
    // the other cores.
    let fill = |r0: usize, slab: &mut Vec<f64>| {
        let rows = slab_rows.min(h - r0);
        slab.resize(rows * w, 0.0);
        slab.par_chunks_mut(w).enumerate().for_each(|(k, out)| row(r0 + k, out));
    };
    let write = |r0: usize, slab: &[f64]| -> Result<(), String> {
        let rows = slab.len() / w;
        let selection = s![r0..r0 + rows, ..];
        if dtype == DType::F32 {
            let narrow: Vec<f32> = slab.iter().map(|&v| v as f32).collect();
            t2m.write_slice(ArrayView2::from_shape((rows, w), &narrow[..]).expect("slab shape"), selection)
        } else {
            t2m.write_slice(ArrayView2::from_shape((rows, w), slab).expect("slab shape"), selection)
        }
        .map_err(e("/t2m"))
    };
    let (mut current, mut next) = (Vec::new(), Vec::new());
    fill(0, &mut current);
    let mut r0 = 0;
    while r0 < h {
        let r1 = r0 + current.len() / w;
        let (written, ()) = rayon::join(
            || write(r0, &current),
            || {
                if r1 < h {
                    fill(r1, &mut next)
                }
            },
        );
        written?;
        tick();
        std::mem::swap(&mut current, &mut next);
        r0 = r1;
    }
    drop(t2m);
    file.close().map_err(e("the file"))
}
