//! Demo data tests: real files, read back with the hdf5 crate and with h5py / netCDF4.

use super::*;
use crate::io::npy::pytest::{python, read_f64_raw};
use hdf5::types::VarLenUnicode;
use std::sync::Mutex;

fn small(days: usize, dtype: DType) -> DemoOptions {
    DemoOptions { days, shape: [90, 180], dtype, chunks: Some([40, 50]), seed: 11, overwrite: false }
}

#[test]
fn options_parse_and_dates_count() {
    assert_eq!(parse_shape("1440x2880").unwrap(), [1440, 2880]);
    assert_eq!(parse_shape("5760,11520").unwrap(), [5760, 11520]);
    assert!(parse_shape("1440").unwrap_err().to_string().contains("\"1440\""));
    assert!(parse_shape("0x5").is_err());
    assert_eq!(parse_chunks("500,500").unwrap(), [500, 500]);
    assert!(parse_chunks("500,500,1").is_err());
    assert_eq!(date_of_day(0), "2014-01-01");
    assert_eq!(date_of_day(30), "2014-01-31");
    assert_eq!(date_of_day(31), "2014-02-01");
    assert_eq!(date_of_day(365), "2015-01-01");
    assert_eq!(date_of_day(365 + 365 + 31 + 28), "2016-02-29");
    let lat = latitudes(4);
    assert_eq!(lat, vec![67.5, 22.5, -22.5, -67.5]);
    assert_eq!(longitudes(4), vec![-135.0, -45.0, 45.0, 135.0]);
}

#[test]
fn writes_plausible_deterministic_files() {
    let dir = tempfile::tempdir().unwrap();
    let calls = Mutex::new(Vec::new());
    let files = write_demo(&dir.path().join("a"), &small(3, DType::F32), &|done, total| calls.lock().unwrap().push((done, total))).unwrap();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["2014-01-01.hdf5", "2014-01-02.hdf5", "2014-01-03.hdf5"]);
    // 90 rows in chunk rows of 40: 3 slabs per day
    assert_eq!(*calls.lock().unwrap(), (1..=9).map(|k| (k, 9)).collect::<Vec<_>>());
    let read = |p: &Path| -> (Vec<f32>, Vec<usize>, Vec<usize>) {
        let f = hdf5::File::open(p).unwrap();
        let ds = f.dataset("t2m").unwrap();
        let v = ds.read_raw::<f32>().unwrap();
        (v, ds.shape(), ds.chunk().unwrap())
    };
    let (day0, shape, chunk) = read(&files[0]);
    assert_eq!((shape, chunk), (vec![90, 180], vec![40, 50]));
    assert!(day0.iter().all(|&t| (190.0..330.0).contains(&t)), "range {:?}", crate::colormap::finite_range(&day0));
    let (day1, _, _) = read(&files[1]);
    assert!(day0 != day1, "the weather changes from day to day");
    let mean_abs_change: f64 = day0.iter().zip(&day1).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / day0.len() as f64;
    assert!((0.2..6.0).contains(&mean_abs_change), "day-to-day change {mean_abs_change} K");
    // same seed, same files (f32 here, f64 below)
    write_demo(&dir.path().join("b"), &small(1, DType::F32), &|_, _| {}).unwrap();
    assert!(read(&dir.path().join("b/2014-01-01.hdf5")).0 == day0, "same seed and day, same field");
    let f = hdf5::File::open(&files[2]).unwrap();
    let t = f.dataset("t2m").unwrap();
    let attr = |name: &str| t.attr(name).unwrap().read_scalar::<VarLenUnicode>().unwrap().to_string();
    assert_eq!(
        (attr("units"), attr("long_name"), attr("standard_name")),
        ("K".into(), "2 metre temperature".into(), "air_temperature".into())
    );
    assert!(f.dataset("lat").unwrap().read_raw::<f64>().unwrap() == latitudes(90));
    assert!(f.dataset("lon").unwrap().read_raw::<f64>().unwrap() == longitudes(180));
}

#[test]
fn existing_files_are_refused_and_overwrite_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small(2, DType::F64);
    opts.shape = [10, 20];
    write_demo(dir.path(), &opts, &|_, _| {}).unwrap();
    let err = write_demo(dir.path(), &opts, &|_, _| {}).unwrap_err().to_string();
    assert!(err.contains("2014-01-01.hdf5") && err.contains("--overwrite"), "{err}");
    opts.overwrite = true;
    opts.seed = 12;
    write_demo(dir.path(), &opts, &|_, _| {}).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporaries left: {names:?}");
    let bad = DemoOptions { dtype: DType::I16, ..opts.clone() };
    assert!(write_demo(dir.path(), &bad, &|_, _| {}).unwrap_err().to_string().contains("i2"));
    let bad = DemoOptions { days: 0, ..opts };
    assert!(write_demo(dir.path(), &bad, &|_, _| {}).is_err());
}

#[test]
fn h5py_and_netcdf4_read_the_files() {
    let Some(py) = python("demo::h5py_and_netcdf4_read_the_files") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = write_demo(dir.path(), &small(2, DType::F64), &|_, _| {}).unwrap();
    let raw = dir.path().join("t2m.raw");
    // h5py: values, attributes, chunks and dimension scales; netCDF4 (the netCDF-C library):
    // lat and lon are the variable's dimensions.
    let script = r#"
import sys, json, h5py, numpy as np
path, raw = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    t = f["t2m"]
    t[...].astype("<f8").tofile(raw)
    out = {
        "dtype": t.dtype.str, "shape": list(t.shape), "chunks": list(t.chunks),
        "compression": t.compression,
        "attrs": {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in t.attrs.items() if k != "DIMENSION_LIST"},
        "scales": [[s.name for s in d.values()] for d in t.dims],
        "is_scale": [h5py.h5ds.is_scale(f[n].id) for n in ("lat", "lon")],
        "lat": [float(f["lat"][0]), float(f["lat"][-1])],
        "lat_units": str(f["lat"].attrs["units"]),
    }
try:
    import netCDF4
    with netCDF4.Dataset(path) as nc:
        out["nc_dims"] = list(nc["t2m"].dimensions)
        out["nc_units"] = nc["t2m"].units
        out["nc_lat_len"] = len(nc.dimensions["lat"])
except ImportError:
    out["nc_dims"] = None
print(json.dumps(out))
"#;
    let out = py.run(script, &[&files[1], &raw]);
    let info: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(info["dtype"], "<f8", "{out}");
    assert_eq!(info["shape"], serde_json::json!([90, 180]));
    assert_eq!(info["chunks"], serde_json::json!([40, 50]));
    assert!(info["compression"].is_null(), "uncompressed like prep.py: {out}");
    assert_eq!(info["attrs"]["units"], "K");
    assert_eq!(info["attrs"]["long_name"], "2 metre temperature");
    assert_eq!(info["attrs"]["standard_name"], "air_temperature");
    assert_eq!(info["scales"], serde_json::json!([["/lat"], ["/lon"]]), "{out}");
    assert_eq!(info["is_scale"], serde_json::json!([true, true]));
    assert_eq!(info["lat"], serde_json::json!([89.0, -89.0]));
    assert_eq!(info["lat_units"], "degrees_north");
    if !info["nc_dims"].is_null() {
        assert_eq!(info["nc_dims"], serde_json::json!(["lat", "lon"]), "{out}");
        assert_eq!(info["nc_units"], "K");
        assert_eq!(info["nc_lat_len"], 90);
    }
    // h5py's values equal the model's, computed here without HDF5
    let got = read_f64_raw(&raw);
    let climate = Climate::new(11, 2);
    let (lat, lon) = (latitudes(90), longitudes(180));
    let mut row = vec![0.0; 180];
    for i in 0..90 {
        climate.row(1, i, lat[i], &lon, &mut row);
        assert!(got[i * 180..(i + 1) * 180] == row[..], "row {i} differs from the model");
    }
}
