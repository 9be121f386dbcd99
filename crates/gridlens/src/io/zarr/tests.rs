//! Zarr tests: round trips through our sink and source, and stores exchanged with zarr-python.

use super::*;
use crate::block::{Block, Buffer, c_strides};
use crate::chunks::{Chunks, Region};
use crate::io::npy::pytest::{python, read_f64_raw};
use crate::source::AttrValue;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

fn value_at(linear: usize) -> f64 {
    (linear as f64) * 0.25 - 11.0
}

fn expected(dtype: DType, shape: &[usize], region: &Region) -> Block {
    let strides = c_strides(shape);
    let sub = c_strides(&region.shape);
    let vals: Vec<f64> = (0..region.len())
        .map(|k| (0..shape.len()).map(|d| (region.start[d] + (k / sub[d]) % region.shape[d]) * strides[d]).sum())
        .map(value_at)
        .collect();
    Block::new(region.shape.clone(), Buffer::F64(vals).cast(dtype))
}

fn spec(shape: &[usize], dtype: DType, blocks: &Chunks) -> SinkSpec {
    SinkSpec {
        shape: shape.to_vec(),
        dtype,
        chunks: blocks.clone(),
        attrs: vec![
            ("units".into(), AttrValue::Text("K".into())),
            ("long_name".into(), AttrValue::Text("2 metre temperature".into())),
            ("valid_range".into(), AttrValue::Float(vec![180.0, 340.0])),
            ("missing".into(), AttrValue::Float(vec![f64::NAN])),
        ],
        history: "gridlens test: t2m.mean(axis=0)".into(),
    }
}

/// Writes the test array through a Zarr sink, blocks from 4 threads in reverse order.
fn write_store(path: &Path, shape: &[usize], blocks: &Chunks, dtype: DType, opts: &WriteOptions) -> PathBuf {
    let sink = create_sink(path, &spec(shape, dtype, blocks), opts).unwrap();
    let n = blocks.num_blocks();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n {
                        break;
                    }
                    let r = blocks.block_region(&blocks.block_index(n - 1 - k));
                    sink.write(&r, &expected(dtype, shape, &r)).unwrap();
                }
            });
        }
    });
    sink.commit().unwrap()
}

fn flat(b: &Block) -> Vec<f64> {
    b.to_f64_ndarray().into_raw_vec_and_offset().0
}

#[test]
fn round_trips_v3_and_v2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<usize>, Vec<usize>, Option<Vec<usize>>, DType, u8, Option<u32>)> = vec![
        (vec![13, 17], vec![5, 6], None, DType::F64, 3, None),
        (vec![13, 17], vec![5, 6], None, DType::F32, 2, Some(4)),
        // storage chunks that do not match the blocks: partial chunk writes from several threads
        (vec![23, 19], vec![4, 5], Some(vec![7, 6]), DType::F64, 3, Some(1)),
        (vec![23, 19], vec![3, 19], Some(vec![10, 10]), DType::I16, 2, None),
        (vec![4, 5, 6], vec![3, 2, 6], None, DType::U8, 3, None),
        (vec![11], vec![4], Some(vec![3]), DType::Bool, 3, None),
        (vec![9, 7], vec![9, 7], None, DType::I64, 2, None),
        (vec![3, 0], vec![3, 1], None, DType::F64, 3, None),
    ];
    for (i, (shape, block, chunk, dtype, version, level)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("s{i}.zarr"));
        let blocks = Chunks::regular(&shape, &block);
        let opts = WriteOptions { chunk_shape: chunk.clone(), compression_level: level, zarr_version: version, ..Default::default() };
        write_store(&path, &shape, &blocks, dtype, &opts);
        let src = ZarrSource::open(&path, None, false).unwrap();
        assert_eq!((src.shape(), src.dtype()), (shape.clone(), dtype), "case {i}");
        let want_chunks = chunk.clone().unwrap_or(block.clone());
        assert_eq!(src.chunks(), Chunks::regular(&shape, &want_chunks.iter().map(|&c| c.max(1)).collect::<Vec<_>>()), "case {i}");
        let full = Region::full(&shape);
        assert_eq!(src.read(&full).unwrap(), expected(dtype, &shape, &full), "case {i}: {shape:?} v{version}");
        let m = src.metadata();
        assert_eq!((m.units(), m.long_name()), (Some("K"), Some("2 metre temperature")));
        assert_eq!(m.text("history"), Some("gridlens test: t2m.mean(axis=0)"));
        // every chunk through the two-phase fetch/decode equals a plain read
        let c = src.chunks();
        for k in 0..c.num_blocks() {
            let r = c.block_region(&c.block_index(k));
            if r.is_empty() {
                continue;
            }
            assert!(src.needs_decode(&r));
            let f = src.fetch(&r).unwrap();
            let Payload::Encoded(e) = f.payload else { panic!("chunk fetch is encoded") };
            assert_eq!(src.decode(&r, e).unwrap(), expected(dtype, &shape, &r), "case {i} chunk {r}");
        }
    }
}

use crate::source::Payload;

#[test]
fn sink_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.zarr");
    let blocks = Chunks::regular(&[4, 4], &[2, 2]);
    let s = spec(&[4, 4], DType::F64, &blocks);
    let bad = [
        (WriteOptions { chunk_shape: Some(vec![2]), ..Default::default() }, "has 1 axes"),
        (WriteOptions { chunk_shape: Some(vec![2, 0]), ..Default::default() }, "zero length"),
        (WriteOptions { compression_level: Some(12), ..Default::default() }, "level 12"),
        (WriteOptions { zarr_version: 4, ..Default::default() }, "version 4"),
    ];
    for (opts, want) in bad {
        let msg = create_sink(&path, &s, &opts).err().unwrap().to_string();
        assert!(msg.contains(want) && msg.contains("o.zarr"), "{msg}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn aborted_store_leaves_nothing_and_targets_are_not_replaced_silently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zarr");
    let blocks = Chunks::regular(&[6, 6], &[3, 3]);
    let sink = create_sink(&path, &spec(&[6, 6], DType::F64, &blocks), &WriteOptions::default()).unwrap();
    let r = blocks.block_region(&[0, 0]);
    sink.write(&r, &expected(DType::F64, &[6, 6], &r)).unwrap();
    sink.abort();
    drop(sink);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "aborted store leaves nothing");

    let sink = create_sink(&path, &spec(&[6, 6], DType::F64, &blocks), &WriteOptions::default()).unwrap();
    sink.write(&r, &expected(DType::F64, &[6, 6], &r)).unwrap();
    assert!(sink.commit().unwrap_err().to_string().contains("only 9 of 36"));
    drop(sink);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "incomplete store leaves nothing");

    write_store(&path, &[6, 6], &blocks, DType::F64, &WriteOptions::default());
    let err = create_sink(&path, &spec(&[6, 6], DType::F64, &blocks), &WriteOptions::default()).err().unwrap();
    assert!(err.to_string().contains("a.zarr") && err.to_string().contains("--overwrite"), "{err}");
    // overwriting with another shape replaces the whole store (no stale chunks)
    let small = Chunks::regular(&[2, 3], &[1, 3]);
    let opts = WriteOptions { overwrite: true, ..Default::default() };
    write_store(&path, &[2, 3], &small, DType::I32, &opts);
    // (raw: the test attributes carry a valid_range, which CF decoding would turn into floats)
    let src = ZarrSource::open(&path, None, false).unwrap();
    assert_eq!((src.shape(), src.dtype()), (vec![2, 3], DType::I32));
    assert!(!path.join("c/1/1").exists(), "chunks of the old store are gone");
}

#[test]
fn bad_stores_give_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.zarr");
    std::fs::create_dir(&empty).unwrap();
    let msg = ZarrSource::open(&empty, None, true).unwrap_err().to_string();
    assert!(msg.starts_with(&empty.display().to_string()) && msg.contains("not a Zarr store"), "{msg}");
    let file = dir.path().join("file.zarr");
    std::fs::write(&file, "x").unwrap();
    assert!(ZarrSource::open(&file, None, true).unwrap_err().to_string().contains("directory"));
    let missing = dir.path().join("missing.zarr");
    assert!(ZarrSource::open(&missing, None, true).unwrap_err().to_string().contains("no such file"));
    let garbage = dir.path().join("garbage.zarr");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::write(garbage.join("zarr.json"), "{not json").unwrap();
    let msg = ZarrSource::open(&garbage, None, true).unwrap_err().to_string();
    assert!(msg.contains("garbage.zarr"), "{msg}");

    // a store with an array: asking for another one lists it
    let store = dir.path().join("one.zarr");
    write_store(&store, &[3, 3], &Chunks::regular(&[3, 3], &[3, 3]), DType::F64, &WriteOptions::default());
    let msg = ZarrSource::open(&store, Some("t2m"), true).unwrap_err().to_string();
    assert!(msg.contains("no array /t2m") && msg.contains("its arrays are /"), "{msg}");
}

/// Writes the zarr-python fixtures of [`reads_stores_zarr_python_wrote`] into `dir`.
const ZARR_PYTHON_FIXTURES: &str = r#"
import sys, json, numpy as np, zarr, numcodecs
from zarr.codecs import ZstdCodec, GzipCodec, BloscCodec
d = sys.argv[1]

def data(shape, dtype):
    n = int(np.prod(shape))
    return (np.arange(n) * 0.25 - 11.0).reshape(shape).astype(dtype)

def save(name, a, shape, dtype, raw=None, **kw):
    z = zarr.create_array(store=f"{d}/{name}.zarr", shape=shape, dtype=dtype, **kw)
    v = data(shape, dtype)
    z[...] = v
    zarr.open_array(f"{d}/{name}.zarr")[...].astype("<f8").tofile(f"{d}/{name}.raw")

# zarr-python 3 defaults (v3, zstd)
save("v3_default", None, (23, 31), "f8", chunks=(10, 7), attributes={"units": "K", "long_name": "2 metre temperature"})
save("v3_gzip", None, (9, 8, 7), "f4", chunks=(4, 3, 7), compressors=GzipCodec(level=5))
save("v3_blosc", None, (30, 11), "i2", chunks=(7, 11), compressors=BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"))
save("v3_sharded", None, (40, 26), "f8", chunks=(5, 13), shards=(20, 26))
save("v3_bigendian", None, (12, 5), ">f4", chunks=(5, 5))
# zarr-python 2's defaults: v2 with Blosc(lz4, clevel 5, byte shuffle)
save("v2_blosc", None, (17, 19), "f8", chunks=(8, 8), zarr_format=2,
     compressors=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
     attributes={"units": "m s-1"})
save("v2_gzip_be", None, (10, 6), ">i2", chunks=(4, 4), zarr_format=2, compressors=numcodecs.GZip(level=1))
save("v2_zstd_u1", None, (25,), "u1", chunks=(10,), zarr_format=2, compressors=numcodecs.Zstd(level=3))

# missing chunks read as the fill value
z = zarr.create_array(store=f"{d}/v3_sparse.zarr", shape=(10, 12), chunks=(4, 5), dtype="f8", fill_value=-9.5)
z[0:4, 0:5] = data((4, 5), "f8")
zarr.open_array(f"{d}/v3_sparse.zarr")[...].astype("<f8").tofile(f"{d}/v3_sparse.raw")

# a group as xarray writes it: a variable with coordinate arrays beside it
g = zarr.open_group(f"{d}/group.zarr", mode="w")
lat = g.create_array("lat", shape=(6,), dtype="f8", dimension_names=["lat"], attributes={"units": "degrees_north"})
lat[:] = np.linspace(75, -75, 6)
lon = g.create_array("lon", shape=(8,), dtype="f4", dimension_names=["lon"])
lon[:] = np.linspace(-157.5, 157.5, 8)
t = g.create_array("t2m", shape=(6, 8), dtype="f4", chunks=(3, 4), dimension_names=["lat", "lon"], attributes={"units": "K"})
t[:] = data((6, 8), "f4")
t[...].astype("<f8").tofile(f"{d}/group_t2m.raw")
sub = g.create_group("sub")
sub.create_array("u", shape=(2,), dtype="i4")[:] = [1, 2]
one = zarr.open_group(f"{d}/single.zarr", mode="w")
one.create_array("only", shape=(3,), dtype="f8")[:] = [1.5, 2.5, 3.5]
zarr.create_array(store=f"{d}/complex.zarr", shape=(3,), dtype="c16")
print("ok")
"#;

#[test]
fn reads_stores_zarr_python_wrote() {
    let Some(py) = python("zarr::reads_stores_zarr_python_wrote") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(py.run(ZARR_PYTHON_FIXTURES, &[dir.path()]).trim(), "ok");
    let cases = [
        ("v3_default", vec![23, 31], DType::F64, vec![10, 7]),
        ("v3_gzip", vec![9, 8, 7], DType::F32, vec![4, 3, 7]),
        ("v3_blosc", vec![30, 11], DType::I16, vec![7, 11]),
        ("v3_sharded", vec![40, 26], DType::F64, vec![5, 13]),
        ("v3_bigendian", vec![12, 5], DType::F32, vec![5, 5]),
        ("v2_blosc", vec![17, 19], DType::F64, vec![8, 8]),
        ("v2_gzip_be", vec![10, 6], DType::I16, vec![4, 4]),
        ("v2_zstd_u1", vec![25], DType::U8, vec![10]),
        ("v3_sparse", vec![10, 12], DType::F64, vec![4, 5]),
    ];
    for (name, shape, dtype, chunk) in cases {
        let path = dir.path().join(format!("{name}.zarr"));
        let src = open_array(&path, None, true).unwrap();
        assert_eq!((src.shape(), src.dtype()), (shape.clone(), dtype), "{name}");
        assert_eq!(src.chunks(), Chunks::regular(&shape, &chunk), "{name}: storage chunks (inner chunks when sharded)");
        let want = read_f64_raw(&dir.path().join(format!("{name}.raw")));
        assert_eq!(flat(&src.read(&Region::full(&shape)).unwrap()), want, "{name}");
        // an unaligned sub-region
        let r = Region { start: shape.iter().map(|&n| n / 3).collect(), shape: shape.iter().map(|&n| n / 2).collect() };
        let got = flat(&src.read(&r).unwrap());
        let strides = c_strides(&shape);
        let sub = c_strides(&r.shape);
        for (k, v) in got.iter().enumerate() {
            let lin: usize = (0..shape.len()).map(|d| (r.start[d] + (k / sub[d]) % r.shape[d]) * strides[d]).sum();
            assert_eq!(*v, want[lin], "{name} sub-region element {k}");
        }
        // chunk by chunk through fetch/decode
        let c = src.chunks();
        let mut assembled = Block::zeros(dtype, &shape);
        for k in 0..c.num_blocks() {
            let r = c.block_region(&c.block_index(k));
            let f = src.fetch(&r).unwrap();
            let b = match f.payload {
                Payload::Encoded(e) => src.decode(&r, e).unwrap(),
                Payload::Block(b) => b,
            };
            assembled.paste(&r.start, &b);
        }
        assert_eq!(flat(&assembled), want, "{name} via fetch/decode");
    }
    let m = open_array(&dir.path().join("v3_default.zarr"), None, true).unwrap().metadata();
    assert_eq!((m.units(), m.long_name()), (Some("K"), Some("2 metre temperature")));
    assert_eq!(open_array(&dir.path().join("v2_blosc.zarr"), None, true).unwrap().metadata().units(), Some("m s-1"));

    // groups: pick an array by path, with its coordinates
    let group = dir.path().join("group.zarr");
    let msg = open_array(&group, None, true).unwrap_err().to_string();
    assert!(msg.contains("4 arrays") && msg.contains("/lat, /lon, /sub/u, /t2m"), "{msg}");
    let t = open_array(&group, Some("t2m"), true).unwrap();
    assert_eq!(t.describe(), format!("{}:/t2m", group.display()));
    assert_eq!(flat(&t.read(&Region::full(&[6, 8])).unwrap()), read_f64_raw(&dir.path().join("group_t2m.raw")));
    let m = t.metadata();
    let lat = m.coords[0].as_ref().expect("lat coordinate");
    assert_eq!(
        (lat.name.as_str(), lat.values.as_slice(), lat.units.as_deref()),
        ("lat", &[75.0, 45.0, 15.0, -15.0, -45.0, -75.0][..], Some("degrees_north"))
    );
    assert_eq!(m.coords[1].as_ref().expect("lon coordinate").values[0], -157.5);
    let u = open_array(&group, Some("/sub/u/"), true).unwrap();
    assert_eq!(flat(&u.read(&Region::full(&[2])).unwrap()), vec![1.0, 2.0]);
    let msg = open_array(&group, Some("t3m"), true).unwrap_err().to_string();
    assert!(msg.contains("no array /t3m") && msg.contains("/t2m"), "{msg}");
    assert_eq!(list_arrays(&group).unwrap(), vec!["/lat", "/lon", "/sub/u", "/t2m"]);
    let single = open_array(&dir.path().join("single.zarr"), None, true).unwrap();
    assert_eq!(flat(&single.read(&Region::full(&[3])).unwrap()), vec![1.5, 2.5, 3.5]);
    let msg = open_array(&dir.path().join("complex.zarr"), None, true).unwrap_err().to_string();
    assert!(msg.contains("unsupported data type") && msg.contains("complex.zarr"), "{msg}");
}

#[test]
fn zarr_python_reads_stores_we_wrote() {
    let Some(py) = python("zarr::zarr_python_reads_stores_we_wrote") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("a3.zarr", vec![13, 17], vec![5, 6], None, DType::F64, 3, None),
        ("b3.zarr", vec![23, 19], vec![4, 5], Some(vec![7, 6]), DType::F32, 3, Some(6)),
        ("c2.zarr", vec![23, 19], vec![4, 5], Some(vec![7, 6]), DType::I16, 2, None),
        ("d2.zarr", vec![5, 4, 3], vec![2, 2, 2], None, DType::F64, 2, Some(9)),
        ("e3.zarr", vec![10], vec![3], None, DType::Bool, 3, None),
        ("f2.zarr", vec![7, 3], vec![7, 1], None, DType::U8, 2, None),
    ];
    let script = r#"
import sys, json, numpy as np, zarr
z = zarr.open_array(sys.argv[1], mode="r")
print(json.dumps({"format": z.metadata.zarr_format, "dtype": str(z.dtype), "shape": list(z.shape),
                  "chunks": list(z.chunks), "attrs": dict(z.attrs)}))
z[...].astype("<f8").tofile(sys.argv[2])
"#;
    for (name, shape, block, chunk, dtype, version, level) in cases {
        let path = dir.path().join(name);
        let opts = WriteOptions { chunk_shape: chunk.clone(), compression_level: level, zarr_version: version, ..Default::default() };
        write_store(&path, &shape, &Chunks::regular(&shape, &block), dtype, &opts);
        let raw = dir.path().join(format!("{name}.raw"));
        let out = py.run(script, &[&path, &raw]);
        let info: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(info["format"], version as u64, "{name}: {out}");
        assert_eq!(info["dtype"], dtype.name(), "{name}: {out}");
        assert_eq!(info["shape"], serde_json::json!(shape), "{name}");
        assert_eq!(info["chunks"], serde_json::json!(chunk.unwrap_or(block)), "{name}");
        assert_eq!(info["attrs"]["units"], "K", "{name}: {out}");
        assert_eq!(info["attrs"]["valid_range"], serde_json::json!([180.0, 340.0]), "{name}: {out}");
        assert_eq!(info["attrs"]["history"], "gridlens test: t2m.mean(axis=0)", "{name}: {out}");
        assert!(info["attrs"].get("_zarrs").is_none(), "no zarrs advertisement attribute: {out}");
        assert_eq!(read_f64_raw(&raw), flat(&expected(dtype, &shape, &Region::full(&shape))), "{name}");
    }
}

/// The fixtures of `tests/fixtures/formats/make_fixtures.py` (committed, so these tests run
/// without Python): element k is `k * 0.25 - 11` (floats) or `k * 3 - 20` (integers).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats").join(name)
}

fn fixture_values(n: usize, integer: bool) -> Vec<f64> {
    (0..n).map(|k| if integer { k as f64 * 3.0 - 20.0 } else { k as f64 * 0.25 - 11.0 }).collect()
}

#[test]
fn reads_committed_zarr_python_fixtures() {
    // zarr-python 2's default compressor: v2, Blosc lz4 with byte shuffle
    let src = open_array(&fixture("v2_blosc_lz4.zarr"), None, true).unwrap();
    assert_eq!((src.shape(), src.dtype()), (vec![17, 19], DType::F64));
    assert_eq!(src.chunks(), Chunks::regular(&[17, 19], &[8, 8]));
    assert_eq!(flat(&src.read(&Region::full(&[17, 19])).unwrap()), fixture_values(17 * 19, false));
    assert_eq!(src.metadata().units(), Some("K"));

    // v3 sharded (inner chunks 5 x 4 are the natural blocks), zstd, big-endian int16
    let src = open_array(&fixture("v3_sharded_zstd.zarr"), None, true).unwrap();
    assert_eq!((src.shape(), src.dtype()), (vec![21, 13], DType::I16));
    assert_eq!(src.chunks(), Chunks::regular(&[21, 13], &[5, 4]));
    assert!(!src.needs_decode(&Region { start: vec![0, 0], shape: vec![5, 4] }), "sharded reads go through zarrs");
    assert_eq!(flat(&src.read(&Region::full(&[21, 13])).unwrap()), fixture_values(21 * 13, true));
    let r = Region { start: vec![7, 3], shape: vec![9, 6] };
    let want: Vec<f64> = (0..r.len()).map(|k| ((7 + k / 6) * 13 + 3 + k % 6) as f64 * 3.0 - 20.0).collect();
    assert_eq!(flat(&src.read(&r).unwrap()), want);

    // v3 blosc with a chunk never written: the fill value, also through fetch/decode
    let src = open_array(&fixture("v3_blosc_sparse.zarr"), None, true).unwrap();
    let mut want = fixture_values(60, false);
    for i in 3..6 {
        for j in 5..10 {
            want[i * 10 + j] = -1.5;
        }
    }
    assert_eq!(flat(&src.read(&Region::full(&[6, 10])).unwrap()), want);
    let missing = Region { start: vec![3, 5], shape: vec![3, 5] };
    let f = src.fetch(&missing).unwrap();
    assert_eq!(f.bytes_read, 0);
    let Payload::Encoded(e) = f.payload else { panic!("chunk fetch is encoded") };
    assert_eq!(flat(&src.decode(&missing, e).unwrap()), vec![-1.5; 15]);
}

/// Many threads writing small blocks into the same storage chunk: each write is a
/// read-modify-write of that chunk, so without the chunk locks updates get lost.
#[test]
fn partial_chunk_writes_from_many_threads_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [48, 40];
    let blocks = Chunks::regular(&shape, &[3, 5]);
    for version in [3, 2] {
        let path = dir.path().join(format!("race{version}.zarr"));
        let opts = WriteOptions { chunk_shape: Some(vec![24, 40]), zarr_version: version, ..Default::default() };
        let sink = create_sink(&path, &spec(&shape, DType::F64, &blocks), &opts).unwrap();
        let n = blocks.num_blocks();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= n {
                            break;
                        }
                        let r = blocks.block_region(&blocks.block_index(k));
                        sink.write(&r, &expected(DType::F64, &shape, &r)).unwrap();
                    }
                });
            }
        });
        sink.commit().unwrap();
        let full = Region::full(&shape);
        let got = ZarrSource::open(&path, None, false).unwrap().read(&full).unwrap();
        assert!(got == expected(DType::F64, &shape, &full), "v{version}: some blocks were lost");
    }
}

#[test]
fn xarray_cf_encoding_decodes_as_xarray_decodes_it() {
    // packed int16 written by xarray.to_zarr in v2 (fill in the array's fill_value) and v3
    // (fill as an attribute); xr_t2m.json is what xarray.open_zarr gives back
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("xr_t2m.json")).unwrap()).unwrap();
    for store in ["xr_v2.zarr", "xr_v3.zarr"] {
        let want = &expected[store];
        let src = crate::io::open_file(&fixture(store), Some("t2m"), &crate::io::OpenOptions::default()).unwrap();
        assert_eq!(src.dtype().name(), want["dtype"].as_str().unwrap(), "{store}");
        let got = flat(&src.read(&Region::full(&src.shape())).unwrap());
        let values = want["values"].as_array().unwrap();
        assert_eq!(got.len(), values.len());
        for (i, (g, w)) in got.iter().zip(values).enumerate() {
            match w.as_f64() {
                Some(w) => assert_eq!(*g, w, "{store} element {i}"),
                None => assert!(g.is_nan(), "{store} element {i}: {g} where xarray has NaN"),
            }
        }
        // chunk by chunk (the fetch/decode path) the same
        let c = src.chunks();
        for k in 0..c.num_blocks() {
            let r = c.block_region(&c.block_index(k));
            let via_decode = match src.fetch(&r).unwrap().payload {
                Payload::Encoded(p) => src.decode(&r, p).unwrap(),
                Payload::Block(b) => b,
            };
            let read = src.read(&r).unwrap();
            assert_eq!(
                flat(&via_decode).iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                flat(&read).iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
        let md = src.metadata();
        assert_eq!(md.units(), Some("K"));
        assert!(md.attrs.iter().all(|(k, _)| k != "scale_factor" && k != "_FillValue"), "applied attributes hidden: {:?}", md.attrs);
        let time: Vec<&str> = want["time"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(md.coords[0].as_ref().unwrap().labels, time, "{store}: time labels");
        // raw: the stored integers
        let raw =
            crate::io::open_file(&fixture(store), Some("t2m"), &crate::io::OpenOptions { decode_cf: false, ..Default::default() }).unwrap();
        assert_eq!(raw.dtype(), DType::I16);
        let stored: Vec<f64> = want["stored"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(flat(&raw.read(&Region::full(&raw.shape())).unwrap()), stored, "{store} raw");
    }
    // a v2 store zarr-python wrote (no _ARRAY_DIMENSIONS): its fill_value 0.0 is not a CF fill,
    // and the 0.0 it holds stays a number
    let plain = crate::io::open_file(&fixture("v2_blosc_lz4.zarr"), None, &crate::io::OpenOptions::default()).unwrap();
    assert_eq!(plain.dtype(), DType::F64);
    assert_eq!(flat(&plain.read(&Region::full(&plain.shape())).unwrap()), fixture_values(17 * 19, false));
}
