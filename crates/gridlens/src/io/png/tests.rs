//! PNG tests: decoded pixels against the colormap, and against matplotlib's own rendering.

use super::*;
use crate::chunks::Chunks;
use crate::colormap::NAN_COLOR;
use crate::dtype::DType;
use crate::io::npy::pytest::python;
use crate::source::AttrValue;
use std::thread;

/// A smooth test field with a NaN hole; values in f64.
fn field(h: usize, w: usize) -> Vec<f64> {
    (0..h * w)
        .map(|k| {
            let (i, j) = (k / w, k % w);
            if (i == 2 && j < 3) || (i, j) == (h - 1, w - 1) { f64::NAN } else { 250.0 + 40.0 * ((i as f64) / h as f64) + 0.37 * j as f64 }
        })
        .collect()
}

fn spec(shape: &[usize]) -> SinkSpec {
    SinkSpec {
        shape: shape.to_vec(),
        dtype: DType::F64,
        chunks: Chunks::single(shape),
        attrs: vec![("units".into(), AttrValue::Text("K".into()))],
        history: "gridlens test".into(),
    }
}

/// Writes `values` (h × w) through a PNG sink with blocks of `chunk`, from 3 threads.
fn write_png(path: &Path, h: usize, w: usize, chunk: &[usize], values: &[f64], opts: &WriteOptions) -> PathBuf {
    let sink = PngSink::create(path, &spec(&[h, w]), opts).unwrap();
    let chunks = Chunks::regular(&[h, w], chunk);
    let n = chunks.num_blocks();
    thread::scope(|s| {
        for t in 0..3 {
            let (sink, chunks) = (&sink, &chunks);
            s.spawn(move || {
                for k in (0..n).rev().filter(|k| k % 3 == t) {
                    let r = chunks.block_region(&chunks.block_index(k));
                    let mut v = Vec::with_capacity(r.len());
                    for i in r.start[0]..r.start[0] + r.shape[0] {
                        v.extend_from_slice(&values[i * w + r.start[1]..i * w + r.start[1] + r.shape[1]]);
                    }
                    sink.write(&r, &Block::from_vec(&r.shape, v)).unwrap();
                }
            });
        }
    });
    sink.commit().unwrap()
}

fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgba, png::BitDepth::Eight));
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn pixels_follow_the_colormap() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (37, 53);
    let values = field(h, w);
    let path = write_png(&dir.path().join("t.png"), h, w, &[10, 16], &values, &WriteOptions::default());
    let (pw, ph, rgba) = decode(&path);
    assert_eq!((pw as usize, ph as usize), (w, h));
    let f32s: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let range = crate::colormap::finite_range(&f32s).unwrap();
    let cmap = Colormap::by_name("viridis").unwrap();
    for (k, &v) in f32s.iter().enumerate() {
        let want = if v.is_nan() { NAN_COLOR } else { cmap.map_value(v as f64, range) };
        assert_eq!(&rgba[4 * k..4 * k + 4], &want, "pixel {k}");
    }
    // the ends of the range take the ends of the colormap
    assert!(rgba.chunks_exact(4).any(|p| p == cmap.entry(0)));
    assert!(rgba.chunks_exact(4).any(|p| p == cmap.entry(255)));
}

#[test]
fn user_range_and_colormap_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f64> = (0..12).map(|k| k as f64).collect();
    let opts = WriteOptions { colormap: "RdBu_r".into(), value_range: Some((2.0, 8.0)), ..Default::default() };
    let path = write_png(&dir.path().join("r.png"), 3, 4, &[2, 3], &values, &opts);
    let (_, _, rgba) = decode(&path);
    let cmap = Colormap::by_name("RdBu_r").unwrap();
    assert_eq!(&rgba[0..4], &cmap.entry(0), "below the range clips to the low end");
    assert_eq!(&rgba[44..48], &cmap.entry(255), "above the range clips to the high end");
    assert_eq!(&rgba[20..24], &cmap.map_value(5.0, (2.0, 8.0)));
}

#[test]
fn render_helpers() {
    let cmap = Colormap::by_name("gray").unwrap();
    let rgba = cmap.render(&[0.0, 0.5, 1.0, f32::NAN], 2, 2, (0.0, 1.0));
    assert_eq!(rgba, vec![0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 128, 128, 128, 0]);
    let b = Block::from_vec(&[1, 3], vec![10i16, 20, 30]);
    let (w, h, px) = render_block(&b, &cmap, None).unwrap();
    assert_eq!((w, h, &px[..4], &px[8..12]), (3, 1, &[0u8, 0, 0, 255][..], &[255u8, 255, 255, 255][..]));
    let err = render_block(&Block::from_vec(&[2], vec![1.0f64, 2.0]), &cmap, None).unwrap_err();
    assert!(err.contains("(2,)"), "{err}");
    assert_eq!(crate::colormap::finite_range(&[f32::NAN, f32::INFINITY]), None);
}

#[test]
fn bad_requests_are_refused_with_the_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    let err = create_sink(&path, &spec(&[31, 40, 50]), &WriteOptions::default()).err().unwrap();
    assert!(err.to_string().contains("2-D") && err.to_string().contains("(31, 40, 50)"), "{err}");
    let err = create_sink(&path, &spec(&[7]), &WriteOptions::default()).err().unwrap();
    assert!(err.to_string().contains("(7,)"), "{err}");
    let opts = WriteOptions { colormap: "jet".into(), ..Default::default() };
    let err = create_sink(&path, &spec(&[4, 4]), &opts).err().unwrap();
    assert!(err.to_string().contains("jet") && err.to_string().contains("viridis"), "{err}");
    // a leading axis of length 1 is fine
    assert!(create_sink(&path, &spec(&[1, 4, 4]), &WriteOptions::default()).is_ok());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "refused or dropped sinks leave nothing");
}

#[test]
fn aborted_or_incomplete_sinks_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    let sink = PngSink::create(&path, &spec(&[4, 4]), &WriteOptions::default()).unwrap();
    let r = Region { start: vec![0, 0], shape: vec![2, 4] };
    sink.write(&r, &Block::from_vec(&[2, 4], vec![1.0f64; 8])).unwrap();
    let err = sink.commit().unwrap_err();
    assert!(err.to_string().contains("only 8 of 16"), "{err}");
    assert!(!path.exists());
    drop(sink);
    let sink = PngSink::create(&path, &spec(&[4, 4]), &WriteOptions::default()).unwrap();
    sink.write(&r, &Block::from_vec(&[2, 4], vec![1.0f64; 8])).unwrap();
    sink.abort();
    drop(sink);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn matplotlib_renders_the_same_pixels() {
    let test = "png::matplotlib_renders_the_same_pixels";
    let Some(py) = python(test) else { return };
    if !py.has("matplotlib", test) || !py.has("PIL", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (29, 41);
    let values = field(h, w);
    let raw = dir.path().join("values.f4");
    let bytes: Vec<u8> = values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    for cmap in ["viridis", "magma", "coolwarm", "turbo_r"] {
        let path = dir.path().join(format!("{cmap}.png"));
        let opts = WriteOptions { colormap: cmap.into(), ..Default::default() };
        write_png(&path, h, w, &[8, 11], &values, &opts);
        // matplotlib's rendering of the same f32 values, autoscaled like imshow (NaN-aware),
        // against the decoded PNG: every non-NaN pixel equal, NaN pixels transparent.
        let script = r#"
import sys, numpy as np, matplotlib
from matplotlib.colors import Normalize
from PIL import Image
png, raw, name, h, w = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
data = np.fromfile(raw, "<f4").reshape(h, w).astype("f8")
norm = Normalize(np.nanmin(data), np.nanmax(data))
want = matplotlib.colormaps[name](norm(data), bytes=True)
got = np.asarray(Image.open(png).convert("RGBA"))
nan = np.isnan(data)
assert got.shape == want.shape, (got.shape, want.shape)
assert (got[nan][:, 3] == 0).all(), "NaN pixels are transparent"
bad = np.argwhere((got[~nan] != want[~nan]).any(axis=-1))
assert len(bad) == 0, f"{len(bad)} pixels differ, first {bad[:5].tolist()}"
print("ok")
"#;
        let hs = PathBuf::from(h.to_string());
        let ws = PathBuf::from(w.to_string());
        let out = py.run(script, &[&path, &raw, Path::new(cmap), &hs, &ws]);
        assert_eq!(out.trim(), "ok", "{cmap}");
    }
}
