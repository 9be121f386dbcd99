//! Tests of the HDF5 module against files written by other programs (h5py and
//! netCDF4-python, see `tests/fixtures/hdf5/make_hdf5_fixtures.py`) and the values NumPy
//! read from them (`expected.json`).

use super::*;
use crate::block::{Block, Buffer};
use crate::chunks::{Chunks, Region};
use crate::dtype::DType;
use crate::io::{OpenOptions, SourceSpec};
use crate::sink::{SinkSpec, WriteOptions};
use crate::source::{AttrValue, Payload, Source};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hdf5")
}

fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

fn expected() -> &'static Value {
    static EXPECTED: OnceLock<Value> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let text = std::fs::read_to_string(fixture("expected.json")).expect("tests/fixtures/hdf5/expected.json");
        serde_json::from_str(&text).expect("expected.json is JSON")
    })
}

fn raw() -> OpenOptions {
    OpenOptions { decode_cf: false, ..Default::default() }
}

fn open(file: &str, dataset: &str, opts: &OpenOptions) -> Hdf5Source {
    Hdf5Source::open(&fixture(file), Some(dataset), opts).unwrap_or_else(|e| panic!("open {file}:{dataset}: {e}"))
}

/// Whether `got` holds exactly the values of the JSON list `want` (NaN as null, infinities
/// as "inf"/"-inf"); floats are compared bit for bit after rounding to the block's type.
fn assert_values(got: &Block, want: &Value, what: &str) {
    let want = want.as_array().unwrap_or_else(|| panic!("{what}: expected values are not a list"));
    assert_eq!(got.len(), want.len(), "{what}: element count");
    let float = |w: &Value| -> Option<f64> {
        match w {
            Value::Null => Some(f64::NAN),
            Value::String(s) if s == "inf" => Some(f64::INFINITY),
            Value::String(s) if s == "-inf" => Some(f64::NEG_INFINITY),
            _ => w.as_f64(),
        }
    };
    for (i, w) in want.iter().enumerate() {
        let ok = match got.data() {
            Buffer::Bool(v) => w.as_bool() == Some(v[i]),
            Buffer::I8(v) => w.as_i64() == Some(i64::from(v[i])),
            Buffer::I16(v) => w.as_i64() == Some(i64::from(v[i])),
            Buffer::I32(v) => w.as_i64() == Some(i64::from(v[i])),
            Buffer::I64(v) => w.as_i64() == Some(v[i]),
            Buffer::U8(v) => w.as_u64() == Some(u64::from(v[i])),
            Buffer::U16(v) => w.as_u64() == Some(u64::from(v[i])),
            Buffer::U32(v) => w.as_u64() == Some(u64::from(v[i])),
            Buffer::U64(v) => w.as_u64() == Some(v[i]),
            Buffer::F32(v) => float(w).is_some_and(|x| {
                let x = x as f32;
                (x.is_nan() && v[i].is_nan()) || x.to_bits() == v[i].to_bits()
            }),
            Buffer::F64(v) => float(w).is_some_and(|x| (x.is_nan() && v[i].is_nan()) || x.to_bits() == v[i].to_bits()),
        };
        assert!(ok, "{what}: element {i} is {}, NumPy read {w}", got.data().get_f64(i));
    }
}

/// Bit-for-bit equality of two blocks (NaN payloads included).
fn assert_identical(a: &Block, b: &Block, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    assert_eq!(a.dtype(), b.dtype(), "{what}: dtypes");
    assert!(a.data().as_bytes() == b.data().as_bytes(), "{what}: values differ\n{:?}\n{:?}", a.data(), b.data());
}

/// Reads `region` the way the executor does: fetch, then decode when the payload is encoded.
fn fetch_and_decode(src: &dyn Source, region: &Region) -> Block {
    let needs = src.needs_decode(region);
    let fetched = src.fetch(region).unwrap_or_else(|e| panic!("fetch {region}: {e}"));
    match fetched.payload {
        Payload::Block(b) => {
            assert!(!needs, "{}: needs_decode said yes but fetch decoded {region}", src.describe());
            b
        }
        Payload::Encoded(p) => {
            assert!(needs, "{}: needs_decode said no but fetch gave encoded bytes for {region}", src.describe());
            src.decode(region, p).unwrap_or_else(|e| panic!("decode {region}: {e}"))
        }
    }
}

fn dataset_names(file: &str) -> Vec<String> {
    expected()[file].as_object().unwrap_or_else(|| panic!("{file} in expected.json")).keys().cloned().collect()
}

#[test]
fn every_fixture_dataset_reads_as_h5py_reads_it() {
    for file in ["types.h5", "single.h5", "nested.h5", "nodims.nc", "cf.nc"] {
        for name in dataset_names(file) {
            let want = &expected()[file][&name];
            let src = open(file, &name, &raw());
            let what = format!("{file}:{name}");
            assert_eq!(src.dtype().name(), want["dtype"].as_str().unwrap_or("?"), "{what}: dtype");
            let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            assert_eq!(src.shape(), shape, "{what}: shape");
            let block = src.read(&Region::full(&shape)).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_values(&block, &want["raw"], &what);
        }
    }
}

#[test]
fn cf_decoding_matches_the_xarray_rules_computed_by_numpy() {
    for name in dataset_names("cf.nc") {
        let want = &expected()["cf.nc"][&name];
        let src = open("cf.nc", &name, &OpenOptions::default());
        let what = format!("cf.nc:{name} decoded");
        assert_eq!(src.dtype().name(), want["decoded"]["dtype"].as_str().unwrap(), "{what}: dtype");
        let full = Region::full(&src.shape());
        assert_values(&src.read(&full).unwrap(), &want["decoded"]["values"], &what);
        // the two-phase path decodes the same way
        for i in 0..src.chunks().num_blocks() {
            let r = src.chunks().block_region(&src.chunks().block_index(i));
            assert_identical(&fetch_and_decode(&src, &r), &src.read(&r).unwrap(), &format!("{what} block {r}"));
        }
    }
    // packed int16 with float32 scale/offset decodes to float32; with float64 to float64;
    // int32 with only a fill value to float64; int8 with a fill value to float32
    // _Unsigned int8 with a fill to float32; _Unsigned int16 with a float32 scale to float32;
    // _Unsigned int8 alone to uint8
    let dtypes: Vec<(&str, DType)> = vec![
        ("/t2m", DType::F32),
        ("/precip", DType::F64),
        ("/count", DType::F64),
        ("/small", DType::F32),
        ("/ubyte", DType::F32),
        ("/ushort", DType::F32),
        ("/ucount", DType::U8),
    ];
    for (name, dtype) in dtypes {
        assert_eq!(open("cf.nc", name, &OpenOptions::default()).dtype(), dtype, "{name}");
    }
}

#[test]
fn lock_free_path_equals_the_library_bit_for_bit() {
    let mut lock_free = 0;
    for file in ["types.h5", "cf.nc", "nested.h5", "single.h5"] {
        for name in dataset_names(file) {
            let src = open(file, &name, &raw());
            let what = format!("{file}:{name} ({})", src.path_kind());
            if !src.path_kind().starts_with("library") {
                lock_free += 1;
            }
            let shape = src.shape();
            let full = Region::full(&shape);
            let library = src.read_with_library(&full).unwrap();
            assert_identical(&src.read(&full).unwrap(), &library, &what);
            // every natural block through fetch/decode, as the executor reads them
            for i in 0..src.chunks().num_blocks() {
                let r = src.chunks().block_region(&src.chunks().block_index(i));
                let want = library.subblock(&r.start, &r.shape);
                assert_identical(&fetch_and_decode(&src, &r), &want, &format!("{what} block {r}"));
            }
            // regions that straddle chunks and cut edge chunks
            let odd = Region { start: shape.iter().map(|&n| n / 3).collect(), shape: shape.iter().map(|&n| n - n / 3 - n / 5).collect() };
            assert_identical(&src.read(&odd).unwrap(), &src.read_with_library(&odd).unwrap(), &format!("{what} {odd}"));
            let thin = Region { start: shape.iter().map(|&n| n - 1).collect(), shape: vec![1; shape.len()] };
            assert_identical(&src.read(&thin).unwrap(), &src.read_with_library(&thin).unwrap(), &format!("{what} {thin}"));
        }
    }
    assert!(lock_free >= 25, "only {lock_free} datasets took the lock-free path");
}

/// Every deflated dataset h5py and netCDF4-python write (levels 1-9, with and without
/// shuffle, fletcher32 after deflate and before shuffle and deflate, big-endian, 2-, 4- and
/// 8-byte and boolean elements, edge chunks on every axis) decodes as the library reads it,
/// and as h5py read it when the files were written.
#[test]
fn deflated_chunks_decode_as_the_library_and_h5py_read_them() {
    let want: Value = serde_json::from_str(&std::fs::read_to_string(fixture("filters.json")).unwrap()).unwrap();
    let mut checked = 0;
    for (name, w) in want.as_object().unwrap() {
        let (file, dataset) = match name.strip_prefix("nc:") {
            Some(d) => ("filters_nc.nc", d.to_string()),
            None => ("filters.h5", name.clone()),
        };
        let src = open(file, &dataset, &raw());
        let what = format!("{file}:{dataset} ({})", src.path_kind());
        assert_eq!(src.path_kind(), "lock-free chunks", "{what}");
        let shape = src.shape();
        let full = Region::full(&shape);
        let library = src.read_with_library(&full).unwrap();
        let ours = src.read(&full).unwrap();
        assert_identical(&ours, &library, &what);
        for i in 0..src.chunks().num_blocks() {
            let r = src.chunks().block_region(&src.chunks().block_index(i));
            assert_identical(&fetch_and_decode(&src, &r), &library.subblock(&r.start, &r.shape), &format!("{what} block {r}"));
        }
        let sum: f64 = (0..ours.len()).map(|i| ours.data().get_f64(i)).sum();
        let h5py_sum = w["sum"].as_f64().unwrap();
        assert!((sum - h5py_sum).abs() <= 1e-9 * h5py_sum.abs().max(1.0), "{what}: sum {sum} != h5py's {h5py_sum}");
        for (i, v) in w["first"].as_array().unwrap().iter().enumerate() {
            assert_eq!(ours.data().get_f64(i), v.as_f64().unwrap(), "{what}: element {i}");
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked} datasets");
    // netCDF-C's pipeline (fletcher32, shuffle, deflate) with a fill value, decoded: NaN where
    // the writer masked, through the in-place path that decodes CF as the chunk is unshuffled
    let cf = open("filters_nc.nc", "/t2m", &OpenOptions::default());
    let r = Region { start: vec![2, 0, 0], shape: vec![1, 33, 45] };
    let decoded = fetch_and_decode(&cf, &r);
    let raw_block = open("filters_nc.nc", "/t2m", &raw()).read(&r).unwrap();
    let (d, w) = (decoded.to_ndarray::<f32>().unwrap(), raw_block.to_ndarray::<f32>().unwrap());
    assert_eq!(d.iter().filter(|x| x.is_nan()).count(), 40);
    for (x, y) in d.iter().zip(w.iter()) {
        assert!(if *y == -9999.0 { x.is_nan() } else { x == y });
    }
}

/// A corrupt checksum is caught whichever step of the pipeline it guards.
#[test]
fn a_damaged_chunk_fails_its_checksum_wherever_it_sits_in_the_pipeline() {
    for dataset in ["/f4_gzip4_shuffle_fletcher32", "/f4_fletcher32_shuffle_gzip5"] {
        let src = open("filters.h5", dataset, &raw());
        let r = src.chunks().block_region(&[0, 0, 0]);
        let Payload::Encoded(p) = src.fetch(&r).unwrap().payload else { panic!("{dataset}: a deflated chunk is encoded") };
        let e = src.decode(&r, super::reader::damaged_for_tests(p)).unwrap_err();
        assert!(e.to_string().contains("corrupt chunk"), "{dataset}: {e}");
    }
}

/// The other files of a set, indexed on every core without the library, read exactly as
/// each file opened on its own through the library: the same chunk index, length and time
/// values, the same bytes.
#[test]
fn files_of_a_set_indexed_without_the_library_read_as_opened_alone() {
    for (pattern, dataset) in [("months/*.nc", "/t2m"), ("records/*.nc", "/t2m")] {
        let files = crate::io::expand(&fixture(pattern).display().to_string()).unwrap();
        let opts = OpenOptions { index_cache: false, ..Default::default() };
        let set = Hdf5Source::open_set(pattern, &files, Some(dataset), &opts).unwrap();
        assert_eq!(set.len(), files.len());
        for (src, f) in set.iter().zip(&files).skip(1) {
            let alone = Hdf5Source::open(f, Some(dataset), &opts).unwrap();
            assert_eq!(src.path_kind(), "lock-free chunks", "{}", f.display());
            assert!(src.indexed(), "{}: indexed without the library", f.display());
            assert_eq!(src.index_for_tests(), alone.index_for_tests(), "{}", f.display());
            assert_eq!(src.shape(), alone.shape());
            assert_eq!(src.metadata().coords[0], alone.metadata().coords[0], "{}: time", f.display());
            let full = Region::full(&src.shape());
            assert_identical(&src.read(&full).unwrap(), &alone.read(&full).unwrap(), &f.display().to_string());
        }
    }
    // h5py's daily files (no time axis) likewise
    let files =
        crate::io::expand(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/weather-small/*.hdf5").display().to_string())
            .unwrap();
    let set = Hdf5Source::open_set("weather", &files, Some("/t2m"), &OpenOptions { index_cache: false, ..Default::default() }).unwrap();
    let alone = Hdf5Source::open(&files[30], Some("/t2m"), &OpenOptions::default()).unwrap();
    assert_eq!(set[30].index_for_tests(), alone.index_for_tests());
}

/// A member whose values are stored otherwise than the first file's (another filter, CF
/// attributes, layout) is opened through the library, so it still reads right.
#[test]
fn a_member_stored_otherwise_is_opened_through_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.h5");
    let b = dir.path().join("b.h5");
    std::fs::copy(fixture("filters.h5"), &a).unwrap();
    std::fs::copy(fixture("filters.h5"), &b).unwrap();
    let files = vec![a.clone(), b.clone()];
    let opts = OpenOptions { index_cache: false, ..Default::default() };
    // the same file twice: indexed without the library
    let set = Hdf5Source::open_set("ab", &files, Some("/f4_gzip1_shuffle"), &opts).unwrap();
    assert!(set[1].indexed());
    // another layout in the second file: through the library
    let Some(py) = crate::io::npy::pytest::python("a_member_stored_otherwise_is_opened_through_the_library") else { return };
    py.run(
        "import sys, h5py, numpy as np\nwith h5py.File(sys.argv[1], 'a') as f:\n    del f['f4_gzip1_shuffle']\n    \
         f.create_dataset('f4_gzip1_shuffle', data=np.arange(7*33*45, dtype='f4').reshape(7, 33, 45), chunks=(7, 33, 45), compression='gzip')",
        &[&b],
    );
    let set = Hdf5Source::open_set("ab", &files, Some("/f4_gzip1_shuffle"), &opts).unwrap();
    assert!(!set[1].indexed());
    assert_eq!(set[1].chunks().max_block_shape(), vec![7, 33, 45]);
    let v = set[1].read(&Region { start: vec![6, 32, 44], shape: vec![1, 1, 1] }).unwrap();
    assert_eq!(v.data().get_f64(0), (7 * 33 * 45 - 1) as f64);
}

/// The index cache: a set opened again reads its index from the cache; a file that changed,
/// was truncated, replaced or deleted since is indexed afresh (or dropped); a corrupt cache
/// file is ignored and replaced.
#[test]
fn the_index_cache_is_used_only_for_unchanged_files() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(fixture("records")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    let pattern = format!("{}/*.nc", dir.path().display());
    let cache_dir = home.path().join("gridlens/index");
    // the cache directory comes from XDG_CACHE_HOME; tests share one process, so this test
    // gives its thread a directory of its own
    super::cache::set_directory_for_tests(Some(cache_dir.clone()));
    let open = || {
        let files = crate::io::expand(&pattern).unwrap();
        Hdf5Source::open_set(&pattern, &files, Some("/t2m"), &OpenOptions::default()).unwrap()
    };
    let values = |set: &[Hdf5Source]| -> Vec<Block> { set.iter().map(|s| s.read(&Region::full(&s.shape())).unwrap()).collect() };
    let first = open();
    let want = values(&first);
    let cached: Vec<PathBuf> = std::fs::read_dir(&cache_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(cached.len(), 1, "one cache file for the set");
    let again = open();
    assert_eq!(super::cache::last_hits_for_tests(), first.len() - 1, "every member from the cache");
    for (a, b) in values(&again).iter().zip(&want) {
        assert_identical(a, b, "from the cache");
    }
    // rewrite the last file with other values: its entry must not be used
    let files = crate::io::expand(&pattern).unwrap();
    let last = files.last().unwrap().clone();
    if let Some(py) = crate::io::npy::pytest::python("the_index_cache_is_used_only_for_unchanged_files") {
        std::thread::sleep(std::time::Duration::from_millis(20));
        py.run("import sys, netCDF4\nd = netCDF4.Dataset(sys.argv[1], 'a')\nd['t2m'][:] = d['t2m'][:] + 1000\nd.close()", &[&last]);
        let changed = open();
        assert_eq!(super::cache::last_hits_for_tests(), first.len() - 2, "the changed file is indexed again");
        let v = changed.last().unwrap().read(&Region::full(&changed.last().unwrap().shape())).unwrap();
        assert!((v.data().get_f64(0) - want.last().unwrap().data().get_f64(0) - 1000.0).abs() < 1e-3);
    }
    // replaced by another file of the set: another inode, so indexed again, and read right
    std::fs::copy(&files[0], &last).unwrap();
    let replaced = open();
    assert!(super::cache::last_hits_for_tests() < first.len() - 1);
    assert_identical(&replaced.last().unwrap().read(&Region::full(&replaced[0].shape())).unwrap(), &want[0], "replaced");
    // truncated after it was opened: reading it fails naming the file, never wrong values
    let set = open();
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(100).unwrap();
    drop(f);
    let e = set.last().unwrap().read(&Region::full(&set.last().unwrap().shape())).unwrap_err();
    assert!(e.to_string().contains(&last.display().to_string()), "{e}");
    // deleted: the glob no longer matches it, and the set opens without it
    std::fs::remove_file(&last).unwrap();
    assert_eq!(open().len(), files.len() - 1);
    // a corrupt cache file is ignored (a note) and replaced
    std::fs::write(&cached[0], b"{ not json").unwrap();
    let reopened = open();
    assert_eq!(reopened.len(), files.len() - 1);
    let text = std::fs::read_to_string(&cached[0]).unwrap();
    assert!(text.starts_with('{') && text.contains("\"entries\""), "rewritten: {}", &text[..text.len().min(80)]);
}

/// The lock-free path makes no library call: it reads while another thread holds the
/// HDF5 library's global lock (the library path would wait for it).
#[test]
fn lock_free_reads_do_not_wait_for_the_library_lock() {
    let sources: Vec<Hdf5Source> = ["/fletcher32_shuffle_gzip_f8", "/chunked_plain_u2", "/contiguous_i2", "/partial_f4"]
        .iter()
        .map(|n| open("types.h5", n, &raw()))
        .collect();
    let libraries: Vec<Block> = sources.iter().map(|s| s.read_with_library(&Region::full(&s.shape())).unwrap()).collect();
    let guard = hdf5_sys::LOCK.lock();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut out = Vec::new();
            for src in &sources {
                let chunks = src.chunks();
                let mut blocks = Vec::new();
                for i in 0..chunks.num_blocks() {
                    let r = chunks.block_region(&chunks.block_index(i));
                    blocks.push((r.clone(), fetch_and_decode(src, &r)));
                }
                out.push((src.read(&Region::full(&src.shape())).unwrap(), blocks));
            }
            tx.send(out).unwrap();
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(20));
        drop(guard);
        let got = got.expect("lock-free reads waited for the HDF5 library lock");
        for ((whole, blocks), library) in got.iter().zip(&libraries) {
            assert_identical(whole, library, "read under the lock");
            for (r, b) in blocks {
                assert_identical(b, &library.subblock(&r.start, &r.shape), &format!("block {r} under the lock"));
            }
        }
    });
}

#[test]
fn storage_decides_the_read_path() {
    let cases = [
        ("/f8", "lock-free chunks", false),
        ("/chunked_plain_u2", "lock-free chunks", true),
        ("/shuffle_gzip_f4", "lock-free chunks", false),
        ("/fletcher32_i2", "lock-free chunks", false),
        ("/be_shuffle_gzip_i4", "lock-free chunks", false),
        ("/contiguous_f8", "lock-free contiguous", true),
        ("/be_u8_contiguous", "lock-free contiguous", true),
        ("/unwritten_contiguous_u1", "lock-free contiguous", true),
        ("/compact_i4", "library (compact layout)", true),
        ("/scaleoffset_i4", "library (the 'scaleoffset' filter)", false),
        ("/bool", "lock-free chunks", false),
    ];
    for (name, path, cheap) in cases {
        let src = open("types.h5", name, &raw());
        assert_eq!(src.path_kind(), path, "{name}");
        assert_eq!(src.cheap_subregion(), cheap, "{name}");
    }
    let src = open("types.h5", "/f8", &raw());
    assert_eq!(src.chunks(), Chunks::regular(&[7, 11], &[3, 4]));
}

#[test]
fn unwritten_chunks_read_as_the_fill_value_without_reading_the_file() {
    let src = open("types.h5", "/partial_f4", &raw());
    let r = Region { start: vec![4, 0], shape: vec![4, 4] };
    let fetched = src.fetch(&r).unwrap();
    assert_eq!(fetched.bytes_read, 0);
    let Payload::Block(b) = fetched.payload else { panic!("an unwritten chunk needs no decode") };
    assert!(b.to_ndarray::<f32>().unwrap().iter().all(|&x| x == -7.5));
    let src = open("types.h5", "/unwritten_i2", &raw());
    assert!(src.read(&Region::full(&[3, 5])).unwrap().to_ndarray::<i16>().unwrap().iter().all(|&x| x == 42));
    // a written, compressed chunk reports its stored size
    let src = open("types.h5", "/partial_f4", &raw());
    let fetched = src.fetch(&Region { start: vec![0, 0], shape: vec![4, 4] }).unwrap();
    assert!(fetched.bytes_read > 0 && fetched.bytes_read < 64);
}

/// The sum of the 31 `weather-small` files, read in parallel through the executor's
/// fetch/decode protocol, equals NumPy's.
#[test]
fn weather_small_sums_to_what_numpy_computes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/weather-small");
    // Computed once with
    //   np.stack([h5py.File(f, "r")["t2m"][...] for f in sorted(glob("2014-01-*.hdf5"))]).sum()
    // (math.fsum over all values gives the same): every value is a multiple of 0.25, so any
    // summation order gives exactly this.
    const NUMPY_SUM: f64 = 313_283_306.0;
    let spec = SourceSpec { pattern: format!("{}/*.hdf5", dir.display()), dataset: None };
    let src = crate::io::open(&spec, &OpenOptions::default()).unwrap();
    assert_eq!(src.shape(), vec![31, 180, 360]);
    assert_eq!(src.dtype(), DType::F64);
    let chunks = src.chunks();
    let n = chunks.num_blocks();
    let threads = 4;
    let partial: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let src = &src;
                let chunks = &chunks;
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| {
                            let r = chunks.block_region(&chunks.block_index(i));
                            fetch_and_decode(src.as_ref(), &r).to_ndarray::<f64>().unwrap().sum()
                        })
                        .sum::<f64>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(partial.iter().sum::<f64>(), NUMPY_SUM);
    // and one plain read of everything
    let all = src.read(&Region::full(&[31, 180, 360])).unwrap();
    assert_eq!(all.to_ndarray::<f64>().unwrap().sum(), NUMPY_SUM);
}

#[test]
fn without_a_dataset_name_the_single_data_variable_is_opened() {
    let src = open_dataset(&fixture("single.h5"), None, &OpenOptions::default()).unwrap();
    assert!(src.describe().ends_with("single.h5:/t2m"), "{}", src.describe());
    let src = open_dataset(&fixture("nodims.nc"), None, &OpenOptions::default()).unwrap();
    assert!(src.describe().ends_with(":/field"));
    let e = open_dataset(&fixture("cf.nc"), None, &OpenOptions::default()).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("cf.nc") && m.contains("/t2m (3, 10, 12) int16") && m.contains("/precip"), "{m}");
    // coordinate variables are not candidates
    assert!(!m.contains("/lat (10,)") && !m.contains("/time"), "{m}");
    let m = open_dataset(&fixture("nested.h5"), None, &OpenOptions::default()).unwrap_err().to_string();
    assert!(m.contains("/model/run1/level/temp") && m.contains("/model/run1/flags"), "{m}");
}

#[test]
fn a_missing_dataset_lists_the_datasets_there_are() {
    let m = open_dataset(&fixture("single.h5"), Some("/temp"), &OpenOptions::default()).unwrap_err().to_string();
    assert!(m.contains("single.h5: no dataset '/temp'; datasets: "), "{m}");
    assert!(m.contains("/t2m (20, 30) float64") && m.contains("/lat (20,) float64") && m.contains("/lon (30,) float64"), "{m}");
    let m = open_dataset(&fixture("nested.h5"), Some("model/run1"), &OpenOptions::default()).unwrap_err().to_string();
    assert!(m.contains("'/model/run1' is a group, not a dataset") && m.contains("/model/run1/level/temp (4, 5) float32"), "{m}");
    // a relative name works as an absolute one
    assert!(open_dataset(&fixture("nested.h5"), Some("model/run1/level/temp"), &OpenOptions::default()).is_ok());
}

#[test]
fn non_numeric_datasets_are_refused_naming_file_dataset_and_type() {
    let cases = [
        ("/names", "fixed-length string (5 bytes)"),
        ("/vlen_names", "variable-length string"),
        ("/records", "compound {a, b}"),
        ("/half", "float16"),
    ];
    for (name, ty) in cases {
        let m = open_dataset(&fixture("unsupported.h5"), Some(name), &OpenOptions::default()).unwrap_err().to_string();
        assert!(m.contains(&format!("unsupported.h5:{name}")) && m.contains(ty), "{m}");
    }
    // the listing shows them with their types, and only `ok` and `scalar` are readable
    let m = open_dataset(&fixture("unsupported.h5"), Some("/nothing"), &OpenOptions::default()).unwrap_err().to_string();
    assert!(m.contains("/records (2,) compound {a, b}"), "{m}");
    let src = open_dataset(&fixture("unsupported.h5"), None, &OpenOptions::default()).unwrap();
    assert!(src.describe().ends_with(":/ok"));
    // a scalar reads through the library
    let src = open_dataset(&fixture("unsupported.h5"), Some("/scalar"), &OpenOptions::default()).unwrap();
    assert_eq!(src.shape(), Vec::<usize>::new());
    assert_eq!(src.read(&Region::full(&[])).unwrap().to_ndarray::<f64>().unwrap().sum(), 3.5);
}

#[test]
fn bad_files_give_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &Path, needle: &str| {
        let e = open_dataset(path, None, &OpenOptions::default()).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with(&path.display().to_string()), "{m}");
        assert!(m.contains(needle), "expected '{needle}' in: {m}");
        let e = describe_file(path).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    };
    let text = dir.path().join("notes.h5");
    std::fs::write(&text, "just some text, long enough to look like a file").unwrap();
    check(&text, "not an HDF5 or NetCDF4 file");
    let empty = dir.path().join("empty.nc");
    std::fs::write(&empty, "").unwrap();
    check(&empty, "empty");
    let nc3 = dir.path().join("classic.nc");
    std::fs::write(&nc3, b"CDF\x01\x00\x00\x00\x00 and more bytes").unwrap();
    check(&nc3, "NetCDF3");
    check(&dir.path().join("missing.h5"), "No such file");
    check(dir.path(), "directory");
    // a file cut short
    let whole = std::fs::read(fixture("types.h5")).unwrap();
    let cut = dir.path().join("cut.h5");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    check(&cut, "truncated");
    // a file cut after it was opened (HDF5 itself notices a short file at open): the
    // positional reads notice, for chunked and for contiguous data
    for name in ["/f8", "/contiguous_f8"] {
        let shrinking = dir.path().join("shrinking.h5");
        std::fs::copy(fixture("types.h5"), &shrinking).unwrap();
        let src = Hdf5Source::open(&shrinking, Some(name), &raw()).unwrap();
        std::fs::OpenOptions::new().write(true).open(&shrinking).unwrap().set_len(1000).unwrap();
        let m = src.read(&Region::full(&src.shape())).unwrap_err().to_string();
        assert!(m.contains(&format!("shrinking.h5:{name}")) && m.contains("the file is truncated"), "{m}");
    }
    // unreadable: only testable when not running as root
    let locked = dir.path().join("locked.h5");
    std::fs::copy(fixture("single.h5"), &locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&locked).is_ok() {
        eprintln!("note: running as root, permissions do not stop reads; skipping the unreadable-file check");
    } else {
        check(&locked, "Permission denied");
    }
}

#[test]
fn lzf_chunks_read_equal_to_h5py() {
    // h5py's LZF (libhdf5 lacks it): compressed chunks, shuffled float64 with edge chunks, and
    // random bytes LZF could not shrink, which the writer stored unfiltered
    for (name, unfiltered) in [("/data", 0), ("/shuffled", 0), ("/noise", 4)] {
        let want = &expected()["lzf.h5"][name];
        assert_eq!(want["unfiltered_chunks"], unfiltered, "the fixture covers {name}'s case");
        let src = open("lzf.h5", name, &OpenOptions::default());
        assert_eq!(src.path_kind(), "lock-free chunks", "{name}");
        let shape = src.shape();
        assert_values(&src.read(&Region::full(&shape)).unwrap(), &want["raw"], &format!("lzf.h5:{name}"));
        // one block at a time, as the executor fetches and decodes
        for linear in 0..src.chunks().num_blocks() {
            let r = src.chunks().block_region(&src.chunks().block_index(linear));
            let f = src.fetch(&r).unwrap();
            let block = match f.payload {
                Payload::Block(b) => b,
                Payload::Encoded(e) => src.decode(&r, e).unwrap(),
            };
            assert_eq!(block, src.read(&r).unwrap(), "{name} block {r}");
        }
    }
    let tree = describe_file(&fixture("lzf.h5")).unwrap();
    let f = &tree.root.datasets[0].filters[0];
    assert_eq!((f.id, f.name.as_str(), f.available, f.in_library), (32000, "lzf", true, false));
}

#[test]
fn an_unavailable_filter_is_named() {
    // zstd, written by h5py through hdf5plugin: neither libhdf5 nor gridlens decodes it
    let m = open_dataset(&fixture("zstd.h5"), None, &OpenOptions::default()).unwrap_err().to_string();
    assert!(m.contains("zstd.h5:/data") && m.contains("'zstd' filter") && m.contains("32015"), "{m}");
    // browsing still works and says so
    let tree = describe_file(&fixture("zstd.h5")).unwrap();
    let f = &tree.root.datasets[0].filters[0];
    assert_eq!((f.id, f.name.as_str(), f.available), (32015, "zstd", false));
}

#[test]
fn corrupt_chunks_are_reported_with_their_region() {
    for (file, needle) in [("corrupt_fletcher32.h5", "fletcher32 checksum mismatch"), ("corrupt_gzip.h5", "gzip data is corrupt")] {
        let info = &expected()[file]["/data"];
        let start: Vec<usize> = info["corrupt_chunk_start"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let bad = Region { start, shape: vec![4, 4] };
        let src = open(file, "/data", &OpenOptions::default());
        let expect_error = |e: crate::source::SourceError| {
            let m = e.to_string();
            assert!(m.contains(&format!("{file}:/data")) && m.contains(needle) && m.contains(&bad.to_string()), "{m}");
            assert_eq!(e.region.as_ref(), Some(&bad));
        };
        expect_error(src.read(&Region::full(&[8, 8])).unwrap_err());
        // the two-phase path fails in decode, not in fetch
        let fetched = src.fetch(&bad).unwrap();
        let Payload::Encoded(p) = fetched.payload else { panic!("a gzip/fletcher32 chunk is encoded") };
        expect_error(src.decode(&bad, p).unwrap_err());
        // the other chunks are fine
        assert!(src.read(&Region { start: vec![0, 0], shape: vec![4, 8] }).is_ok());
        // the library agrees that the chunk is bad
        assert!(src.read_with_library(&bad).is_err());
    }
}

#[test]
fn metadata_holds_attributes_and_coordinates() {
    let src = open("cf.nc", "/t2m", &OpenOptions::default());
    let md = src.metadata();
    assert_eq!(md.units(), Some("K"));
    assert_eq!(md.long_name(), Some("2 metre temperature"));
    assert_eq!(md.text("standard_name"), Some("air_temperature"));
    // applied CF attributes and NetCDF bookkeeping are not reported
    for hidden in ["scale_factor", "add_offset", "_FillValue", "DIMENSION_LIST", "_Netcdf4Coordinates"] {
        assert!(md.attrs.iter().all(|(k, _)| k != hidden), "{hidden} in {:?}", md.attrs);
    }
    let want = expected()["cf.nc"]["/t2m"]["coords"].as_array().unwrap();
    assert_eq!(md.coords.len(), 3);
    for (d, w) in want.iter().enumerate() {
        let c = md.coords[d].as_ref().unwrap_or_else(|| panic!("axis {d} has no coordinate"));
        assert_eq!(c.name, w["name"].as_str().unwrap());
        assert_eq!(c.units.as_deref(), w["units"].as_str());
        let values: Vec<f64> = w["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(c.values, values, "axis {d}");
    }
    // the time axis (days since 2000-01-01, as netCDF4-python wrote it) reads as dates, the
    // way netCDF4.num2date and xarray decode it; lat and lon stay numbers
    let time = md.coords[0].as_ref().unwrap();
    assert_eq!(time.labels, ["2000-01-01", "2000-01-02", "2000-01-03"]);
    assert!(md.coords[1].as_ref().unwrap().labels.is_empty());
    // raw reading keeps the packing attributes, and the time as numbers
    let md = open("cf.nc", "/t2m", &raw()).metadata();
    assert!(md.coords[0].as_ref().unwrap().labels.is_empty());
    assert!(md.attrs.iter().any(|(k, v)| k == "scale_factor" && *v == AttrValue::Float(vec![f64::from(0.01f32)])));
    // an axis on a dimension without coordinate variable has none
    assert_eq!(open("cf.nc", "/station_height", &OpenOptions::default()).metadata().coords, vec![None]);
    assert_eq!(open("nodims.nc", "/field", &OpenOptions::default()).metadata().coords, vec![None, None]);
    // plain HDF5: coordinates found by name and length
    let md = open("single.h5", "/t2m", &OpenOptions::default()).metadata();
    let names: Vec<_> = md.coords.iter().map(|c| c.as_ref().map(|c| (c.name.as_str(), c.units.as_deref()))).collect();
    assert_eq!(names, vec![Some(("lat", Some("degrees_north"))), Some(("lon", Some("degrees_east")))]);
    let levels = md.attrs.iter().find(|(k, _)| k == "levels").map(|(_, v)| v.clone());
    assert_eq!(levels, Some(AttrValue::Int(vec![1, 2, 3])));
    assert_eq!(md.text("long_name"), Some("2 metre temperature"));
}

#[test]
fn describe_file_shows_the_tree_without_reading_data() {
    let tree = describe_file(&fixture("nested.h5")).unwrap();
    let model = &tree.root.groups[0];
    assert_eq!(model.path, "/model");
    assert!(model.attrs.iter().any(|a| a.name == "source" && a.value == Some(AttrJson::Text("fixture".into()))));
    let run1 = model.groups.iter().find(|g| g.path == "/model/run1").unwrap();
    let level = &run1.groups[0];
    let temp = &level.datasets[0];
    assert_eq!((temp.path.as_str(), temp.dtype.as_str(), temp.layout.as_str()), ("/model/run1/level/temp", "float32", "chunked"));
    assert_eq!(temp.chunks, Some(vec![2, 2]));
    assert_eq!(temp.filters[0].to_string(), "gzip(4)");
    assert!(model.groups.iter().any(|g| g.path == "/model/empty"));
    let json = serde_json::to_string(&tree).unwrap();
    assert!(json.contains("\"chunks\":[2,2]") && json.contains("\"layout\":\"chunked\""), "{json}");
    let text = tree.to_string();
    assert!(text.contains("/model/run1/level/temp (4, 5) float32  chunks (2, 2) gzip(4)"), "{text}");
    assert!(text.contains("description = \"third level\""), "{text}");

    let tree = describe_file(&fixture("cf.nc")).unwrap();
    let names: Vec<&str> = tree.root.datasets.iter().map(|d| d.path.as_str()).collect();
    assert!(!names.contains(&"/station"), "NetCDF's dimension without variable is hidden: {names:?}");
    let lat = tree.root.datasets.iter().find(|d| d.path == "/lat").unwrap();
    assert_eq!(lat.role.as_deref(), Some("coordinate"));
    let t2m = tree.root.datasets.iter().find(|d| d.path == "/t2m").unwrap();
    assert_eq!(t2m.filters.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["shuffle", "gzip"]);
    assert!(t2m.attrs.iter().any(|a| a.name == "scale_factor" && a.dtype == "float32"));
    let tree = describe_file(&fixture("types.h5")).unwrap();
    let compact = tree.root.datasets.iter().find(|d| d.path == "/compact_i4").unwrap();
    assert_eq!(compact.layout, "compact");
    let be = tree.root.datasets.iter().find(|d| d.path == "/be_f4").unwrap();
    assert_eq!(be.dtype, ">f4");
}

// ---------------------------------------------------------------------------------------
// writing
// ---------------------------------------------------------------------------------------

fn spec(shape: &[usize], dtype: DType, block: &[usize]) -> SinkSpec {
    SinkSpec {
        shape: shape.to_vec(),
        dtype,
        chunks: Chunks::regular(shape, block),
        attrs: vec![("units".into(), AttrValue::Text("K".into())), ("scale".into(), AttrValue::Float(vec![0.5, 2.0]))],
        history: "gridlens test: mean(t2m, axis=0)".into(),
    }
}

fn ramp(shape: &[usize], dtype: DType) -> Block {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 7.25) - 100.0).collect();
    Block::new(shape.to_vec(), Buffer::F64(v).cast(dtype))
}

/// Writes `data` through a sink block by block from several threads, in reverse order.
fn write_all(sink: &dyn crate::sink::Sink, chunks: &Chunks, data: &Block) {
    let n = chunks.num_blocks();
    std::thread::scope(|s| {
        for t in 0..3 {
            s.spawn(move || {
                for i in (0..n).rev().filter(|i| i % 3 == t) {
                    let r = chunks.block_region(&chunks.block_index(i));
                    sink.write(&r, &data.subblock(&r.start, &r.shape)).unwrap();
                }
            });
        }
    });
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("gridlens-tmp"))
        .collect()
}

#[test]
fn written_files_read_back_equal_for_every_dtype() {
    let dir = tempfile::tempdir().unwrap();
    for (k, dtype) in DType::ALL.into_iter().enumerate() {
        let shape = [10, 13];
        let sp = spec(&shape, dtype, &[4, 5]);
        let path = dir.path().join(format!("out_{dtype}.h5"));
        let opts = WriteOptions { compression_level: (k % 2 == 0).then_some(4), ..WriteOptions::default() };
        let sink = create_sink(&path, None, &sp, &opts).unwrap();
        let data = ramp(&shape, dtype);
        write_all(sink.as_ref(), &sp.chunks, &data);
        assert!(!path.exists(), "nothing at the target before commit");
        assert_eq!(sink.commit().unwrap(), path);
        let src = Hdf5Source::open(&path, None, &OpenOptions::default()).unwrap();
        assert!(src.describe().ends_with(":/data"));
        assert_eq!(src.dtype(), dtype);
        assert_identical(&src.read(&Region::full(&shape)).unwrap(), &data, &format!("{dtype}"));
        assert!(src.path_kind().starts_with("lock-free"), "{}", src.path_kind());
        let md = src.metadata();
        assert_eq!(md.units(), Some("K"));
        assert_eq!(md.text("history"), Some("gridlens test: mean(t2m, axis=0)"));
        assert!(md.attrs.contains(&("scale".into(), AttrValue::Float(vec![0.5, 2.0]))));
        let tree = describe_file(&path).unwrap();
        let node = &tree.root.datasets[0];
        assert_eq!(node.chunks, Some(vec![4, 5]));
        let filters: Vec<&str> = node.filters.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(filters, if k % 2 == 0 { vec!["shuffle", "gzip"] } else { vec![] });
    }
    assert!(temporaries(dir.path()).is_empty());
}

/// Compressed output: blocks that cover whole storage chunks are deflated on the writing
/// threads and stored by direct chunk writes (edge chunks padded), blocks that cover parts of
/// chunks go through the library's filters; both read back exactly, through the library too.
#[test]
fn compressed_chunks_written_directly_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for (k, dtype) in [DType::F32, DType::F64, DType::I16, DType::U8, DType::Bool].into_iter().enumerate() {
        let shape = [11, 17, 5];
        // blocks of two chunks along the first axis and one elsewhere; then blocks that cut chunks
        for (blocks, chunks) in [([4, 6, 5], vec![2, 6, 5]), ([3, 5, 5], vec![4, 6, 5])] {
            let sp = spec(&shape, dtype, &blocks);
            let path = dir.path().join(format!("c{k}_{}.h5", blocks[0]));
            let opts = WriteOptions { compression_level: Some(1 + k as u32), chunk_shape: Some(chunks.clone()), ..WriteOptions::default() };
            let sink = create_sink(&path, None, &sp, &opts).unwrap();
            let data = ramp(&shape, dtype);
            write_all(sink.as_ref(), &sp.chunks, &data);
            sink.commit().unwrap();
            let src = Hdf5Source::open(&path, None, &OpenOptions::default()).unwrap();
            let full = Region::full(&shape);
            assert_identical(&src.read(&full).unwrap(), &data, &format!("{dtype} {blocks:?}"));
            assert_identical(&src.read_with_library(&full).unwrap(), &data, &format!("{dtype} {blocks:?} through the library"));
            assert_eq!(describe_file(&path).unwrap().root.datasets[0].chunks, Some(chunks));
        }
    }
}

#[test]
fn storage_chunks_are_capped_at_four_mib_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let sp = spec(&[64, 1024, 1024], DType::F32, &[64, 1024, 1024]);
    let path = dir.path().join("big.h5");
    let sink = create_sink(&path, None, &sp, &WriteOptions::default()).unwrap();
    sink.abort();
    let sp2 = spec(&[3, 10], DType::F32, &[3, 10]);
    let sink = create_sink(&path, None, &sp2, &WriteOptions { chunk_shape: Some(vec![2, 50]), ..WriteOptions::default() }).unwrap();
    sink.write(&Region::full(&[3, 10]), &ramp(&[3, 10], DType::F32)).unwrap();
    sink.commit().unwrap();
    assert_eq!(describe_file(&path).unwrap().root.datasets[0].chunks, Some(vec![2, 10]));
    let chunk = super::sink::chunk_shape(&sp, &WriteOptions::default()).unwrap();
    assert_eq!(chunk, vec![1, 1024, 1024]);
    assert!(
        create_sink(&dir.path().join("x.h5"), None, &sp2, &WriteOptions { chunk_shape: Some(vec![2]), ..WriteOptions::default() }).is_err()
    );
}

#[test]
fn an_aborted_or_dropped_sink_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.h5");
    let sp = spec(&[6, 6], DType::F64, &[3, 3]);
    let sink = create_sink(&path, None, &sp, &WriteOptions::default()).unwrap();
    sink.write(&Region { start: vec![0, 0], shape: vec![3, 3] }, &ramp(&[3, 3], DType::F64)).unwrap();
    assert_eq!(temporaries(dir.path()).len(), 1);
    sink.abort();
    sink.abort();
    assert!(!path.exists());
    assert!(temporaries(dir.path()).is_empty());
    assert!(sink.commit().is_err());
    assert!(sink.write(&Region { start: vec![0, 0], shape: vec![3, 3] }, &ramp(&[3, 3], DType::F64)).is_err());
    // dropped without commit
    let sink = create_sink(&path, None, &sp, &WriteOptions::default()).unwrap();
    drop(sink);
    assert!(!path.exists());
    assert!(temporaries(dir.path()).is_empty());
    // a second sink for a target while the first is live is refused
    let a = create_sink(&path, None, &sp, &WriteOptions::default()).unwrap();
    let e = create_sink(&path, None, &sp, &WriteOptions::default()).err().unwrap();
    assert!(e.to_string().contains("in progress"), "{e}");
    drop(a);
}

#[test]
fn sinks_refuse_blocks_that_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let sp = spec(&[6, 6], DType::F64, &[3, 3]);
    let sink = create_sink(&dir.path().join("out.h5"), None, &sp, &WriteOptions::default()).unwrap();
    let r = Region { start: vec![4, 4], shape: vec![3, 3] };
    assert!(sink.write(&r, &ramp(&[3, 3], DType::F64)).unwrap_err().to_string().contains("outside"));
    let r = Region { start: vec![0, 0], shape: vec![3, 3] };
    assert!(sink.write(&r, &ramp(&[3, 3], DType::F32)).unwrap_err().to_string().contains("dtype float32"));
    assert!(sink.write(&r, &ramp(&[3, 2], DType::F64)).is_err());
}

#[test]
fn an_existing_target_is_refused_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.h5");
    std::fs::write(&path, "precious").unwrap();
    let sp = spec(&[4, 4], DType::I32, &[4, 4]);
    let e = create_sink(&path, None, &sp, &WriteOptions::default()).err().unwrap();
    assert!(e.to_string().contains("out.h5") && e.to_string().contains("exists"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    let sink = create_sink(&path, None, &sp, &WriteOptions { overwrite: true, ..WriteOptions::default() }).unwrap();
    sink.write(&Region::full(&[4, 4]), &ramp(&[4, 4], DType::I32)).unwrap();
    // until commit the old file is still there
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    sink.commit().unwrap();
    let src = open_dataset(&path, None, &OpenOptions::default()).unwrap();
    assert_identical(&src.read(&Region::full(&[4, 4])).unwrap(), &ramp(&[4, 4], DType::I32), "overwritten");
    // adding a dataset to something that is not HDF5 fails and leaves it alone
    std::fs::write(&path, "precious").unwrap();
    let e = create_sink(&path, Some("/x"), &sp, &WriteOptions::default()).err().unwrap();
    assert!(e.to_string().contains("not an HDF5"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn a_new_dataset_joins_an_existing_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.h5");
    std::fs::copy(fixture("single.h5"), &path).unwrap();
    let original = std::fs::read(&path).unwrap();
    let sp = spec(&[20, 30], DType::F32, &[10, 30]);
    let data = ramp(&[20, 30], DType::F32);
    // an aborted write leaves the original byte for byte
    let sink = create_sink(&path, Some("/results/mean"), &sp, &WriteOptions::default()).unwrap();
    write_all(sink.as_ref(), &sp.chunks, &data);
    sink.abort();
    assert_eq!(std::fs::read(&path).unwrap(), original);
    // a committed one adds the dataset and keeps the rest
    let sink =
        create_sink(&path, Some("results/mean"), &sp, &WriteOptions { compression_level: Some(6), ..WriteOptions::default() }).unwrap();
    assert_eq!(sink.describe(), format!("{}:/results/mean", path.display()));
    write_all(sink.as_ref(), &sp.chunks, &data);
    sink.commit().unwrap();
    let mean = open_dataset(&path, Some("/results/mean"), &OpenOptions::default()).unwrap();
    assert_identical(&mean.read(&Region::full(&[20, 30])).unwrap(), &data, "added dataset");
    let t2m = open_dataset(&path, Some("/t2m"), &OpenOptions::default()).unwrap();
    assert_values(&t2m.read(&Region::full(&[20, 30])).unwrap(), &expected()["single.h5"]["/t2m"]["raw"], "t2m kept");
    // a source open on the file keeps reading it while a dataset is added and after
    let reading = Hdf5Source::open(&path, Some("/t2m"), &raw()).unwrap();
    let sp2 = spec(&[2, 3], DType::U16, &[2, 3]);
    let sink = create_sink(&path, Some("/extra"), &sp2, &WriteOptions::default()).unwrap();
    sink.write(&Region::full(&[2, 3]), &ramp(&[2, 3], DType::U16)).unwrap();
    sink.commit().unwrap();
    let block = reading.read(&Region::full(&[20, 30])).unwrap();
    assert_values(&block, &expected()["single.h5"]["/t2m"]["raw"], "t2m read during and after the write");
    drop(reading);
    assert!(open_dataset(&path, Some("/extra"), &OpenOptions::default()).is_ok());
    // an existing dataset is refused, or replaced with overwrite
    let e = create_sink(&path, Some("/t2m"), &sp, &WriteOptions::default()).err().unwrap();
    assert!(e.to_string().contains("already has a dataset '/t2m'"), "{e}");
    let sink = create_sink(&path, Some("/t2m"), &sp, &WriteOptions { overwrite: true, ..WriteOptions::default() }).unwrap();
    write_all(sink.as_ref(), &sp.chunks, &data);
    sink.commit().unwrap();
    let t2m = open_dataset(&path, Some("/t2m"), &OpenOptions::default()).unwrap();
    assert_eq!(t2m.dtype(), DType::F32);
    assert_identical(&t2m.read(&Region::full(&[20, 30])).unwrap(), &data, "replaced dataset");
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn stale_temporaries_of_dead_processes_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.h5");
    // pid 4194304 is above Linux's pid_max, so no process has it
    let stale = dir.path().join(".out.h5.gridlens-tmp-4194304");
    std::fs::write(&stale, "left by a crash").unwrap();
    let alive = dir.path().join(".out.h5.gridlens-tmp-1");
    std::fs::write(&alive, "pid 1 is alive").unwrap();
    let other = dir.path().join(".other.h5.gridlens-tmp-4194304");
    std::fs::write(&other, "another target's").unwrap();
    let sink = create_sink(&path, None, &spec(&[2, 2], DType::U8, &[2, 2]), &WriteOptions::default()).unwrap();
    assert!(!stale.exists());
    assert!(alive.exists() && other.exists());
    sink.abort();
}

/// h5py (an independent reader) sees what we wrote, attributes included. Skips itself
/// when no Python with h5py is at hand.
#[test]
fn h5py_reads_what_we_write() {
    let python = std::env::var("GRIDLENS_PYTHON").unwrap_or_else(|_| "/work/venv/bin/python".into());
    if !Path::new(&python).exists() {
        eprintln!("note: {python} not found (set GRIDLENS_PYTHON); skipping the h5py cross-check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("for_h5py.h5");
    let shape = [9, 7];
    let cases = [(DType::F32, "/f4"), (DType::I16, "/i2"), (DType::Bool, "/b"), (DType::U64, "/u8")];
    for (dtype, name) in &cases {
        let sp = spec(&shape, *dtype, &[4, 3]);
        let opts = WriteOptions { compression_level: Some(3), ..WriteOptions::default() };
        let sink = create_sink(&path, Some(*name), &sp, &opts).unwrap();
        write_all(sink.as_ref(), &sp.chunks, &ramp(&shape, *dtype));
        sink.commit().unwrap();
    }
    let script = r#"
import sys, json, h5py, numpy as np
out = {}
with h5py.File(sys.argv[1], "r") as f:
    for name in ["f4", "i2", "b", "u8"]:
        d = f[name]
        out[name] = {
            "dtype": str(d.dtype),
            "values": [v.item() if hasattr(v, "item") else v for v in d[...].ravel()],
            "units": d.attrs["units"] if isinstance(d.attrs["units"], str) else d.attrs["units"].decode(),
            "history": d.attrs["history"] if isinstance(d.attrs["history"], str) else d.attrs["history"].decode(),
            "scale": d.attrs["scale"].tolist(),
            "chunks": list(d.chunks),
            "compression": d.compression,
        }
print(json.dumps(out))
"#;
    let output = std::process::Command::new(&python).arg("-c").arg(script).arg(&path).output().unwrap();
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        if err.contains("No module named") {
            eprintln!("note: {python} has no h5py; skipping the h5py cross-check");
            return;
        }
        panic!("h5py failed: {err}");
    }
    let got: Value = serde_json::from_slice(&output.stdout).unwrap();
    for (dtype, name) in cases {
        let g = &got[name.trim_start_matches('/')];
        assert_eq!(g["dtype"], dtype.name(), "{name}");
        assert_values(&ramp(&shape, dtype), &g["values"], &format!("h5py {name}"));
        assert_eq!(g["units"], "K");
        assert_eq!(g["history"], "gridlens test: mean(t2m, axis=0)");
        assert_eq!(g["scale"], serde_json::json!([0.5, 2.0]));
        assert_eq!(g["chunks"], serde_json::json!([4, 3]));
        assert_eq!(g["compression"], "gzip");
    }
}

#[test]
fn files_of_many_time_records_join_along_time_as_xarray_does() {
    // three NetCDF4 files of 3, 2 and 4 days (packed int16, a fill value, noleap calendar,
    // time chunks of 2); expected values, dates and time mean from xarray's open_mfdataset
    let want = &expected()["months"];
    let glob = format!("{}/months/*.nc:/t2m", fixtures().display());
    let src = crate::io::open(&SourceSpec::parse(&glob), &OpenOptions::default()).unwrap();
    assert_eq!(src.shape(), vec![9, 5, 6], "joined along time");
    assert_eq!(src.dtype().name(), want["dtype"]);
    // each file's own time chunks (3 = 2 + 1, 2, 4 = 2 + 2): no block straddles two files
    assert_eq!(src.chunks().axis(0), &[2, 1, 2, 2, 2]);
    assert_values(&src.read(&Region::full(&[9, 5, 6])).unwrap(), &want["values"], "joined months");
    // a region across all three files and a block's edge
    let flat: Vec<Value> = want["values"].as_array().unwrap().clone();
    let r = Region { start: vec![2, 1, 2], shape: vec![5, 3, 4] };
    let part = src.read(&r).unwrap();
    for (i, j, k) in (0..5).flat_map(|i| (0..3).flat_map(move |j| (0..4).map(move |k| (i, j, k)))) {
        let w = flat[((2 + i) * 5 + 1 + j) * 6 + 2 + k].as_f64().unwrap_or(f64::NAN);
        let g = part.data().get_f64((i * 3 + j) * 4 + k);
        assert!(g == w || (g.is_nan() && w.is_nan()), "element ({i}, {j}, {k}) of {r}: {g} != {w}");
    }
    let time = src.metadata().coords[0].clone().unwrap();
    assert_eq!(serde_json::json!(time.labels), want["time"], "xarray's dates, noleap calendar");
    assert_eq!((time.units.as_deref(), time.calendar.as_deref()), (Some("days since 2001-01-01"), Some("noleap")));
    // the engine's time mean (NaN skipped) equals xarray's, which rounds to float32
    let x = crate::expr::Array::from_source(src);
    let mean =
        crate::compute(&x.reduce(crate::expr::ReduceFunc::NanMean, Some(&[0]), false, 0.0, None).unwrap(), &Default::default()).unwrap();
    let xr = want["mean"].as_array().unwrap();
    assert_eq!(mean.len(), xr.len());
    for (i, w) in xr.iter().enumerate() {
        let (g, w) = (mean.data().get_f64(i), w.as_f64().unwrap());
        assert!((g - w).abs() <= 1e-6 * w.abs(), "time mean at {i}: {g} against xarray's {w}");
    }
}

#[test]
fn files_join_in_the_order_of_their_times_and_only_when_times_do_not_repeat() {
    let months = fixtures().join("months");
    let open_glob = |dir: &Path| crate::io::open(&SourceSpec::parse(&format!("{}/*.nc:/t2m", dir.display())), &OpenOptions::default());
    // names sorting March, January, February: joined January to March, as open_mfdataset
    // with combine="by_coords" does
    let shuffled = tempfile::tempdir().unwrap();
    for (from, to) in [("t2m_200103.nc", "a.nc"), ("t2m_200101.nc", "b.nc"), ("t2m_200102.nc", "c.nc")] {
        std::fs::copy(months.join(from), shuffled.path().join(to)).unwrap();
    }
    let src = open_glob(shuffled.path()).unwrap();
    assert_eq!(src.shape(), vec![9, 5, 6]);
    assert_values(&src.read(&Region::full(&[9, 5, 6])).unwrap(), &expected()["months"]["values"], "joined by time");
    assert_eq!(serde_json::json!(src.metadata().coords[0].as_ref().unwrap().labels), expected()["months"]["time"]);
    // two ensemble members of the same three days: stacked, not joined into six days
    let members = tempfile::tempdir().unwrap();
    for to in ["member1.nc", "member2.nc"] {
        std::fs::copy(months.join("t2m_200101.nc"), members.path().join(to)).unwrap();
    }
    let src = open_glob(members.path()).unwrap();
    assert_eq!(src.shape(), vec![2, 3, 5, 6], "a new axis for the members");
    assert_eq!(src.metadata().coords[0].as_ref().unwrap().labels, ["member1.nc", "member2.nc"]);
}

#[test]
fn files_of_one_time_record_each_join_along_time() {
    // three NetCDF4 files written by netCDF4-python, t2m (time = 1, lat, lon), named without dates
    let glob = format!("{}/records/*.nc:/t2m", fixtures().display());
    let src = crate::io::open(&SourceSpec::parse(&glob), &OpenOptions::default()).unwrap();
    assert_eq!(src.shape(), vec![3, 4, 5], "joined along time, not stacked as (3, 1, 4, 5)");
    assert_eq!(src.chunks(), Chunks::new(vec![vec![1, 1, 1], vec![3, 1], vec![2, 2, 1]]));
    let names = ["records/run_a.nc", "records/run_b.nc", "records/run_c.nc"];
    let want: Vec<Value> = names.iter().flat_map(|n| expected()[n]["/t2m"]["raw"].as_array().unwrap().clone()).collect();
    assert_values(&src.read(&Region::full(&[3, 4, 5])).unwrap(), &Value::Array(want.clone()), "joined records");
    // a region across files and chunks, through the engine's reader
    let r = Region { start: vec![1, 1, 1], shape: vec![2, 3, 3] };
    let part = src.read(&r).unwrap();
    for (i, j, k) in (0..2).flat_map(|i| (0..3).flat_map(move |j| (0..3).map(move |k| (i, j, k)))) {
        let w = want[((1 + i) * 4 + 1 + j) * 5 + 1 + k].as_f64().unwrap();
        assert_eq!(part.data().get_f64((i * 3 + j) * 3 + k), w, "element ({i}, {j}, {k}) of {r}");
    }
    let md = src.metadata();
    let time = md.coords[0].as_ref().unwrap();
    // each file's own time (hours since 2000-01-01: 0, 6, 12), in one format
    assert_eq!(time.labels, ["2000-01-01 00:00", "2000-01-01 06:00", "2000-01-01 12:00"]);
    assert_eq!(md.coords[1].as_ref().map(|c| c.name.as_str()), Some("lat"));
    assert_eq!(md.coords[2].as_ref().map(|c| c.values.len()), Some(5));
    // files without a time axis still stack along a new one
    let stacked =
        crate::io::open(&SourceSpec::parse(&format!("{}/single.h*5:/t2m", fixtures().display())), &OpenOptions::default()).unwrap();
    assert_eq!(stacked.shape(), vec![1, 20, 30]);
}

/// A dataset reached through an external link (h5py's `h5py.ExternalLink`) reads the linked
/// file's values, contiguous and chunked; read by position in the parent file, it gave that
/// file's bytes at the child's offsets.
#[test]
fn external_links_read_the_linked_files_values() {
    let Some(py) = crate::io::npy::pytest::python("external_links_read_the_linked_files_values") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (parent, child) = (tmp.path().join("parent.h5"), tmp.path().join("child.h5"));
    py.run(
        "import sys, h5py, numpy as np\n\
         with h5py.File(sys.argv[2], 'w') as f:\n    \
             f.create_dataset('plain', data=np.arange(60, dtype='f8').reshape(6, 10))\n    \
             f.create_dataset('chunked', data=np.arange(60, dtype='f4').reshape(6, 10) * 2, chunks=(4, 4), compression='gzip')\n\
         with h5py.File(sys.argv[1], 'w') as f:\n    \
             f.create_dataset('decoy', data=np.full(500, 7.0))\n    \
             f['plain'] = h5py.ExternalLink('child.h5', '/plain')\n    \
             f['chunked'] = h5py.ExternalLink('child.h5', '/chunked')\n",
        &[&parent, &child],
    );
    let opts = OpenOptions::default();
    for (name, scale) in [("/plain", 1.0), ("/chunked", 2.0)] {
        let src = crate::io::open(&SourceSpec { pattern: parent.display().to_string(), dataset: Some(name.into()) }, &opts).unwrap();
        let b = src.read(&Region { start: vec![0, 0], shape: vec![6, 10] }).unwrap();
        let want: Vec<f64> = (0..60).map(|i| i as f64 * scale).collect();
        assert_eq!((0..60).map(|i| b.data().get_f64(i)).collect::<Vec<_>>(), want, "{name}");
    }
}

#[test]
fn a_curvilinear_grid_has_the_latitude_and_longitude_its_coordinates_attribute_names() {
    // written by netCDF4-python (make_curvilinear.py); what it reads back is in curvilinear.json
    let want: Value = serde_json::from_str(&std::fs::read_to_string(fixture("curvilinear.json")).unwrap()).unwrap();
    let flat = |k: &str| -> Vec<f64> {
        want[k].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap())).collect()
    };
    let src = open("curvilinear.nc", "/t2m", &OpenOptions::default());
    let grid = src.metadata().grid.expect("a curvilinear grid");
    assert_eq!((grid.rows, grid.cols), (12, 16));
    assert_eq!(grid.lat, flat("lat"));
    assert_eq!(grid.lon, flat("lon"));
    // its axes' own coordinates are the projection's (km), not latitudes
    let m = src.metadata();
    assert_eq!(m.coords[1].as_ref().map(|c| c.name.as_str()), Some("y"));
    // a field without the attribute has none
    assert!(open("cf.nc", "/t2m", &OpenOptions::default()).metadata().grid.is_none());
    // stacked, the grid is the members'
    let stacked =
        crate::io::open(&SourceSpec::parse(&format!("{}:/t2m", fixture("curvilinear.nc").display())), &OpenOptions::default()).unwrap();
    assert_eq!(stacked.metadata().grid.map(|g| g.lat.len()), Some(12 * 16));
}
