//! `.npy` tests: round trips, and files exchanged with NumPy (`np.save` / `np.load`).

use super::pytest::{python, read_f64_raw};
use super::*;
use crate::block::Buffer;
use std::thread;

/// The value every test array holds at a C-order index: distinct, exact in f32 and i16 ranges.
fn value_at(linear: usize) -> f64 {
    (linear as f64) * 0.5 - 7.0
}

fn block_of(dtype: DType, shape: &[usize], region: &Region) -> Block {
    let strides = c_strides(shape);
    let sub = c_strides(&region.shape);
    let vals: Vec<f64> = (0..region.len())
        .map(|k| {
            let mut lin = 0;
            for d in 0..shape.len() {
                lin += (region.start[d] + (k / sub[d]) % region.shape[d]) * strides[d];
            }
            value_at(lin)
        })
        .collect();
    Block::new(region.shape.clone(), Buffer::F64(vals).cast(dtype))
}

/// Writes an array of `shape` through a sink with `chunks` blocks, from several threads in
/// reverse block order, and commits.
fn write_npy(path: &Path, shape: &[usize], chunks: &Chunks, dtype: DType) -> PathBuf {
    let sink = NpySink::create(path, shape, dtype, false).unwrap();
    let n = chunks.num_blocks();
    let next = std::sync::atomic::AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n {
                        break;
                    }
                    let region = chunks.block_region(&chunks.block_index(n - 1 - k));
                    sink.write(&region, &block_of(dtype, shape, &region)).unwrap();
                }
            });
        }
    });
    sink.commit().unwrap()
}

#[test]
fn round_trip_odd_shapes_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<usize>, Vec<usize>, DType)> = vec![
        (vec![7, 11], vec![3, 4], DType::F64),
        (vec![5, 6, 7], vec![2, 6, 3], DType::I16),
        (vec![13], vec![5], DType::U8),
        (vec![4, 9], vec![4, 9], DType::F32),
        (vec![3, 0, 2], vec![3, 1, 2], DType::F64),
        (vec![], vec![], DType::I64),
        (vec![6, 5], vec![4, 2], DType::Bool),
    ];
    for (i, (shape, chunk, dtype)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("a{i}.npy"));
        let chunks = Chunks::regular(&shape, &chunk);
        write_npy(&path, &shape, &chunks, dtype);
        let src = NpySource::open(&path).unwrap();
        assert_eq!((src.shape(), src.dtype()), (shape.clone(), dtype));
        let whole = src.read(&Region::full(&shape)).unwrap();
        assert_eq!(whole, block_of(dtype, &shape, &Region::full(&shape)), "{shape:?} {dtype}");
        if shape.len() == 3 && !shape.contains(&0) {
            let r = Region { start: vec![1, 2, 3], shape: vec![3, 2, 4] };
            assert_eq!(src.read(&r).unwrap(), block_of(dtype, &shape, &r));
        }
    }
}

#[test]
fn slabs_are_contiguous_and_bounded() {
    let c = slab_chunks(&[31, 5760, 11520], 8, false, AUTO_BLOCK_BYTES);
    assert_eq!(c.axis(0), vec![1; 31].as_slice());
    assert_eq!(c.axis(2), &[11520]);
    assert!(c.max_block_bytes(DType::F64) <= AUTO_BLOCK_BYTES);
    let f = slab_chunks(&[100, 200], 8, true, 8 * 100 * 10);
    assert_eq!(f.axis(0), &[100]);
    assert_eq!(f.axis(1).len(), 20);
}

#[test]
fn aborted_sink_leaves_nothing_and_existing_targets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.npy");
    let sink = NpySink::create(&path, &[4, 4], DType::F64, false).unwrap();
    let r = Region { start: vec![0, 0], shape: vec![2, 4] };
    sink.write(&r, &block_of(DType::F64, &[4, 4], &r)).unwrap();
    sink.abort();
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary left");
    drop(sink);

    // A sink missing blocks refuses to commit, and leaves nothing.
    let sink = NpySink::create(&path, &[4, 4], DType::F64, false).unwrap();
    sink.write(&r, &block_of(DType::F64, &[4, 4], &r)).unwrap();
    let err = sink.commit().unwrap_err();
    assert!(err.to_string().contains("only 8 of 16"), "{err}");
    assert!(!path.exists());
    drop(sink);

    std::fs::write(&path, b"precious").unwrap();
    let err = create_sink(&path, &spec(&[2], DType::F64), &WriteOptions::default()).err().unwrap();
    assert!(err.to_string().contains(&path.display().to_string()) && err.to_string().contains("--overwrite"), "{err}");
    let opts = WriteOptions { overwrite: true, ..Default::default() };
    let sink = create_sink(&path, &spec(&[2], DType::F64), &opts).unwrap();
    let r = Region::full(&[2]);
    sink.write(&r, &block_of(DType::F64, &[2], &r)).unwrap();
    sink.commit().unwrap();
    assert_eq!(NpySource::open(&path).unwrap().shape(), vec![2]);
}

fn spec(shape: &[usize], dtype: DType) -> SinkSpec {
    SinkSpec { shape: shape.to_vec(), dtype, chunks: Chunks::single(shape), attrs: vec![], history: String::new() }
}

#[test]
fn bad_files_give_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, bytes: &[u8], want: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = open(&p).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        assert!(msg.contains(want), "{name}: {msg}");
    };
    check("text.npy", b"hello, world\n", "not a .npy file");
    check("empty.npy", b"", "ends inside its header");
    let mut full = header::write_v1(&[10, 10], DType::F64).unwrap();
    full.extend(vec![0u8; 800 - 16]);
    check("short.npy", &full, "truncated");
    check("cut.npy", &full[..40], "ends inside its header");
    let complex = b"\x93NUMPY\x01\x00\x3a\x00{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }";
    check("complex.npy", complex, "unsupported dtype '<c16'");
    assert!(open(&dir.path().join("missing.npy")).unwrap_err().to_string().contains("cannot open"));
}

#[test]
fn reads_files_numpy_wrote() {
    let Some(py) = python("npy::reads_files_numpy_wrote") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Each array is value_at(C-order index) cast to the dtype, saved in the given layout;
    // the raw little-endian f8 copy is the independent reference.
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
cases = {
    "le_f8": ((7, 9), "<f8", "C"),
    "be_f4": ((5, 3, 4), ">f4", "C"),
    "le_i2": ((6, 7), "<i2", "C"),
    "be_i2": ((6, 7), ">i2", "C"),
    "be_u4": ((11,), ">u4", "C"),
    "f_f8": ((4, 6, 5), "<f8", "F"),
    "bool": ((3, 5), "?", "C"),
    "zero_d": ((), "<f8", "C"),
}
for name, (shape, dt, order) in cases.items():
    n = int(np.prod(shape))
    v = (np.arange(n) * 0.5 - 7.0)
    if dt in ("<i2", ">i2", ">u4"):
        v = np.arange(n) * 3 - 20 if dt != ">u4" else np.arange(n) * 3
    if dt == "?":
        v = (np.arange(n) % 3 == 0)
    a = np.asarray(v.reshape(shape)).astype(dt)
    a = np.asfortranarray(a) if order == "F" else a
    np.save(f"{d}/{name}.npy", a)
    np.ascontiguousarray(a).astype("<f8").tofile(f"{d}/{name}.raw")
"#;
    py.run(script, &[dir.path()]);
    let cases = [
        ("le_f8", vec![7, 9], DType::F64),
        ("be_f4", vec![5, 3, 4], DType::F32),
        ("le_i2", vec![6, 7], DType::I16),
        ("be_i2", vec![6, 7], DType::I16),
        ("be_u4", vec![11], DType::U32),
        ("f_f8", vec![4, 6, 5], DType::F64),
        ("bool", vec![3, 5], DType::Bool),
        ("zero_d", vec![], DType::F64),
    ];
    for (name, shape, dtype) in cases {
        let src = NpySource::open(&dir.path().join(format!("{name}.npy"))).unwrap();
        assert_eq!((src.shape(), src.dtype()), (shape.clone(), dtype), "{name}");
        let want = read_f64_raw(&dir.path().join(format!("{name}.raw")));
        let got = src.read(&Region::full(&shape)).unwrap().to_f64_ndarray().into_raw_vec_and_offset().0;
        assert_eq!(got, want, "{name}");
        // a sub-region, read through the storage order
        if shape.len() == 3 {
            let r = Region { start: vec![1, 1, 2], shape: vec![3, 2, 2] };
            let sub = src.read(&r).unwrap().to_f64_ndarray();
            let strides = c_strides(&shape);
            for (idx, v) in sub.indexed_iter() {
                let lin: usize = (0..3).map(|d| (r.start[d] + idx[d]) * strides[d]).sum();
                assert_eq!(*v, want[lin], "{name} at {idx:?}");
            }
        }
    }
}

#[test]
fn numpy_reads_files_we_wrote() {
    let Some(py) = python("npy::numpy_reads_files_we_wrote") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("a.npy", vec![9, 13], vec![4, 5], DType::F64),
        ("b.npy", vec![3, 5, 7], vec![2, 2, 7], DType::F32),
        ("c.npy", vec![17], vec![5], DType::I16),
        ("d.npy", vec![4, 3], vec![3, 2], DType::Bool),
        ("e.npy", vec![6, 6], vec![6, 1], DType::U64),
    ];
    for (name, shape, chunk, dtype) in &cases {
        write_npy(&dir.path().join(name), shape, &Chunks::regular(shape, chunk), *dtype);
    }
    let script = r#"
import sys, numpy as np
a = np.load(sys.argv[1])
print(a.dtype.str, a.shape)
np.ascontiguousarray(a).astype("<f8").tofile(sys.argv[2])
"#;
    for (name, shape, _, dtype) in &cases {
        let raw = dir.path().join(format!("{name}.raw"));
        let out = py.run(script, &[&dir.path().join(name), &raw]);
        let want_descr = if dtype.size_bytes() == 1 { format!("|{}", dtype.code()) } else { format!("<{}", dtype.code()) };
        assert!(out.starts_with(&want_descr), "{name}: {out}");
        let want = block_of(*dtype, shape, &Region::full(shape)).to_f64_ndarray().into_raw_vec_and_offset().0;
        assert_eq!(read_f64_raw(&raw), want, "{name}");
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats").join(name)
}

/// The `.npy` fixtures of `tests/fixtures/formats/make_fixtures.py` (committed, read
/// without Python): element k is `k * 0.25 - 11` (floats) or `k * 3 - 20` (integers).
#[test]
fn reads_committed_numpy_fixtures() {
    let values = |n: usize, integer: bool| -> Vec<f64> {
        (0..n).map(|k| if integer { k as f64 * 3.0 - 20.0 } else { k as f64 * 0.25 - 11.0 }).collect()
    };
    for (name, shape, dtype, integer) in [
        ("be_f4.npy", vec![5, 3, 4], DType::F32, false),
        ("le_i2.npy", vec![6, 7], DType::I16, true),
        ("fortran_f8.npy", vec![4, 6, 5], DType::F64, false),
    ] {
        let src = NpySource::open(&fixture(name)).unwrap();
        assert_eq!((src.shape(), src.dtype()), (shape.clone(), dtype), "{name}");
        let got = src.read(&Region::full(&shape)).unwrap().to_f64_ndarray().into_raw_vec_and_offset().0;
        assert_eq!(got, values(shape.iter().product(), integer), "{name}");
    }
    assert!(NpySource::open(&fixture("be_f4.npy")).unwrap().header().big_endian);
    assert!(NpySource::open(&fixture("fortran_f8.npy")).unwrap().header().fortran_order);
}
