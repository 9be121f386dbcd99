//! The command line as a user runs it: the seed's workloads on files h5py wrote, checked
//! against values NumPy computed, and one test per class of bad input.

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn weather() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/weather-small");
    format!("x={}/*.hdf5:/t2m", dir.display())
}

fn gridlens() -> Command {
    Command::cargo_bin("gridlens").expect("binary built")
}

fn stats(expr: &str, inputs: &[&str]) -> Value {
    let mut cmd = gridlens();
    cmd.args(["eval", expr, "--stats"]);
    for i in inputs {
        cmd.args(["-i", i]);
    }
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// Asserts `--stats` output against NumPy's (relative tolerance for sums).
fn check(got: &Value, shape: &[usize], sum: f64, min: f64, max: f64, first: f64, last: f64) {
    let shape_got: Vec<usize> = got["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(shape_got, shape);
    let near = |k: &str, want: f64, rel: f64| {
        let g = got[k].as_f64().unwrap_or(f64::NAN);
        assert!((g - want).abs() <= rel * want.abs().max(1.0), "{k}: got {g}, NumPy {want}");
    };
    near("sum", sum, 1e-12);
    near("min", min, 1e-13);
    near("max", max, 1e-13);
    near("first", first, 1e-13);
    near("last", last, 1e-13);
    assert_eq!(got["nan_count"], 0);
}

// Reference values: NumPy 2 on the same 31 files, e.g.
//   x = np.stack([h5py.File(f)['/t2m'][:] for f in sorted(glob('weather-small/*.hdf5'))])
//   m = x.mean(axis=0); np.nansum(m), m.min(), m.max(), m.ravel()[0], m.ravel()[-1]

#[test]
fn time_mean_of_the_h5py_weather_files() {
    let s = stats("x.mean(axis=0)", &[&weather()]);
    check(&s, &[180, 360], 10105913.096774193, 24.596774193548388, 229.51612903225808, 95.91935483870968, 86.45161290322581);
    assert_eq!(s["dtype"], "float64");
}

#[test]
fn day_minus_mean_of_the_h5py_weather_files() {
    let s = stats("x[0] - x.mean(axis=0)", &[&weather()]);
    check(&s, &[180, 360], -386081.5967741935, -61.86290322580645, 39.2258064516129, -11.16935483870968, -0.20161290322580783);
}

#[test]
fn subsample_std_max_and_reversed_slices() {
    let s = stats("x[:, ::2, ::2]", &[&weather()]);
    check(&s, &[31, 90, 180], 78337302.75, 1.75, 240.0, 84.75, 57.25);
    let s = stats("x.std(axis=0)", &[&weather()]);
    check(&s, &[180, 360], 479698.78076997655, 2.47403267340888, 30.634015375443244, 18.037079538923265, 8.135054412956867);
    let s = stats("x.max(axis=(1, 2))", &[&weather()]);
    check(&s, &[31], 7348.5, 231.25, 240.75, 234.5, 236.75);
    let s = stats("x[-1, ::-3, 10:300:7]", &[&weather()]);
    check(&s, &[60, 42], 379947.75, 9.75, 233.5, 55.75, 108.0);
}

#[test]
fn list_indexing_of_the_h5py_weather_files() {
    // weekly days, then lists with duplicates and the axis order NumPy gives (values from NumPy)
    let s = stats("x[[0, 7, 14, 21, 28]].mean(axis=0)", &[&weather()]);
    check(&s, &[180, 360], 10079151.55, 29.7, 230.5, 92.6, 86.25);
    let s = stats("x[[30, 2, 2, 11], 100:, 5]", &[&weather()]);
    check(&s, &[4, 80], 47315.25, 55.75, 206.75, 206.75, 87.25);
    let s = stats("x[5, 100:, [300, 5]]", &[&weather()]);
    check(&s, &[2, 80], 26053.0, 91.5, 219.75, 203.5, 95.75);
}

#[test]
fn medians_and_quantiles_of_the_h5py_weather_files() {
    // values from NumPy's median, quantile and percentile on the same files
    let s = stats("median(x, axis=0)", &[&weather()]);
    check(&s, &[180, 360], 10112244.75, 21.25, 233.5, 93.75, 86.75);
    let s = stats("quantile(x, 0.9, axis=0)", &[&weather()]);
    check(&s, &[180, 360], 10702535.75, 39.25, 238.75, 119.75, 95.25);
    let s = stats("np.percentile(x, 37.5, axis=1)", &[&weather()]);
    check(&s, &[31, 360], 1572251.3125, 89.21875, 169.4375, 152.53125, 150.78125);
    let s = stats("median(x[:30], axis=0)", &[&weather()]);
    check(&s, &[180, 360], 10114651.0, 20.125, 233.5, 91.875, 86.75);
}

#[test]
fn random_normal_mean_is_reproducible_with_a_seed() {
    let e = "random.normal(10, 0.1, size=(2000, 2000), chunks=(500, 500), seed=42).mean(axis=0)[::100]";
    let a = stats(e, &[]);
    let b = stats(e, &[]);
    assert_eq!(a, b);
    assert_eq!(a["shape"], serde_json::json!([20]));
    assert!((a["sum"].as_f64().unwrap() - 200.0).abs() < 0.1);
}

#[test]
fn lennard_jones_from_the_command_line() {
    // c is a random cluster; the energy is finite, with the diagonal skipped by nansum
    let s = stats(
        "c = random.normal(0, 500, size=(300, 3), chunks=(64, 3), seed=1981); r2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1); sr6 = (1 / r2) ** 3; nansum(4 * (sr6 * sr6 - sr6)) / 2",
        &[],
    );
    assert_eq!(s["shape"], serde_json::json!([]));
    assert!(s["sum"].as_f64().unwrap().is_finite());
}

#[test]
fn small_results_print_like_numpy() {
    let out = gridlens().args(["eval", "x[0, :2, :3]", "-i", &weather()]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("[[") && text.trim_end().ends_with("]]"), "{text}");
}

#[test]
fn explain_prints_the_table_and_stages() {
    let out = gridlens().args(["explain", "x.mean(axis=0)", "-i", &weather()]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("(180, 360)"), "{text}");
    // the 992 gzip chunks are read, decoded and folded a batch at a time, in one task per group
    assert!(text.contains("decode") && text.contains("15.33 MiB to read") && text.contains("mean while decoding"), "{text}");
    assert!(text.contains("chunks") && text.contains("tasks"), "{text}");
    // an elementwise expression reads, decodes and computes block by block
    let out = gridlens().args(["explain", "x[0] * 2", "-i", &weather()]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("read") && text.contains("decode") && text.contains("compute"), "{text}");
}

#[test]
fn info_lists_datasets_as_text_and_json() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/weather-small/2014-01-01.hdf5");
    let out = gridlens().args(["info", f.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("/t2m") && text.contains("float64"), "{text}");
    let out = gridlens().args(["info", "--json", f.to_str().unwrap()]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.is_array());
}

#[test]
fn info_tells_how_a_glob_of_files_becomes_one_array() {
    // monthly NetCDF4 files of 3, 2 and 4 days join along time, as xarray's open_mfdataset does
    let months = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hdf5/months/*.nc:/t2m");
    let out = gridlens().args(["info", months.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last, "as one array: shape (9, 5, 6) float32 chunks (2, 3, 4), first axis time 2001-01-01 12:00 … 2001-03-04 12:00");
    // h5py's daily files without a time axis stack along a new one, labelled by their names
    let out = gridlens().args(["info", "--json", weather().trim_start_matches("x=")]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stack = v.as_array().unwrap().last().unwrap();
    assert_eq!(stack["shape"], serde_json::json!([31, 180, 360]));
    assert_eq!(stack["first_axis"], serde_json::json!({"name": "time", "first": "2014-01-01", "last": "2014-01-31"}));
}

/// Runs a failing command and returns its stderr, checking the one-line contract.
fn fails(args: &[&str]) -> String {
    let out = gridlens().args(args).output().unwrap();
    assert!(!out.status.success(), "should fail: {args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    err
}

#[test]
fn bad_input_gives_one_clear_line() {
    let w = weather();
    let e = fails(&["eval", "x.mean(axis=0", "-i", &w]);
    assert!(e.contains("column") && e.contains("expected ')'"), "{e}");
    let e = fails(&["eval", "y + 1", "-i", &w]);
    assert!(e.contains("unknown name 'y'") && e.contains("the names are x"), "{e}");
    let e = fails(&["eval", "x.mean(axis=5)", "-i", &w]);
    assert!(e.contains("axis 5 is out of bounds for a 3-D array"), "{e}");
    let e = fails(&["eval", "x - x[:, ::2]", "-i", &w]);
    assert!(e.contains("shapes (31, 180, 360) and (31, 90, 360) cannot be broadcast"), "{e}");
    let e = fails(&["eval", "x.sum()", "-i", "x=/no/such/file.h5"]);
    assert!(e.contains("/no/such/file.h5") && e.contains("no such file"), "{e}");
    let e = fails(&["eval", "x.sum()", "-i", "x=/no/such/dir/*.h5"]);
    assert!(e.contains("matches no files"), "{e}");
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/weather-small/2014-01-01.hdf5");
    let e = fails(&["eval", "x.sum()", "-i", &format!("x={}:/temperature", f.display())]);
    assert!(e.contains("/temperature") && e.contains("/t2m"), "lists the datasets there are: {e}");
    let e = fails(&["eval", "x.sum()", "-i", "x"]);
    assert!(e.contains("NAME=SOURCE"), "{e}");
}

#[test]
fn outputs_read_back_equal_and_are_never_overwritten_silently() {
    let dir = tempfile::tempdir().unwrap();
    let direct = stats("x[:, ::2, ::3].std(axis=0)", &[&weather()]);
    for name in ["out.zarr", "out.npy", "out.h5:/t2m_std"] {
        let target = format!("{}/{name}", dir.path().display());
        let out = gridlens().args(["eval", "x[:, ::2, ::3].std(axis=0)", "-i", &weather(), "-o", &target]).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        // the stored result, read back through gridlens, has the same values: equal extremes,
        // ends and count; the sum to rounding (stored chunks may group the blocks differently)
        let back = stats("y", &[&format!("y={target}")]);
        for k in ["shape", "dtype", "min", "max", "first", "last", "nan_count"] {
            assert_eq!(back[k], direct[k], "{name}: {k}");
        }
        let (a, b) = (back["sum"].as_f64().unwrap(), direct["sum"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-12 * b.abs(), "{name}: sum {a} vs {b}");
        // a second write without --overwrite is refused and names the target
        let e = fails(&["eval", "x.mean(axis=0)", "-i", &weather(), "-o", &target]);
        assert!(e.contains("--overwrite"), "{e}");
    }
    let png = format!("{}/mean.png", dir.path().display());
    let out = gridlens().args(["eval", "x.mean(axis=0)", "-i", &weather(), "-o", &png]).output().unwrap();
    assert!(out.status.success());
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("gridlens-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_failed_job_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("{}/bad.zarr", dir.path().display());
    // integer to a negative power fails while computing, after the sink was created
    let e = fails(&["eval", "x.astype('int32') ** (x.astype('int32') * 0 - 1)", "-i", &weather(), "-o", &target]);
    assert!(e.contains("negative integer powers"), "{e}");
    assert!(!std::path::Path::new(&target).exists(), "no file at the target after a failure");
}

#[test]
fn an_expression_may_start_with_a_minus_and_chunks_take_minus_one() {
    // -x[0, 0, :2] of the first day: NumPy's -ds['t2m'][0, 0, :2].sum() of 2014-01-01.hdf5
    let w = weather();
    let a = stats("-x[0, 0, :2]", &[&w]);
    let b = stats("x[0, 0, :2]", &[&w]);
    assert_eq!(a["sum"].as_f64().unwrap(), -b["sum"].as_f64().unwrap());
    let out = gridlens().args(["eval", "x.mean(axis=0)", "-i", &w, "--chunks", "-1", "--stats"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn stats_keep_the_sign_of_infinities() {
    let out = gridlens().args(["eval", "log(x * 0)", "-i", &weather(), "--stats"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["min"], "-inf");
    assert_eq!(v["max"], "-inf");
    assert_eq!(v["sum"], "-inf");
}

#[test]
fn an_export_killed_midway_leaves_no_garbage_after_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("big.npy");
    // a job of several seconds: 400 MB of normal draws, written as they are generated
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("gridlens"))
        .args(["eval", "random.normal(0, 1, size=(10000, 5000), chunks=(500, 5000))", "--threads", "1", "-o"])
        .arg(&target)
        .spawn()
        .unwrap();
    let temporaries = || -> Vec<String> {
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    };
    let start = std::time::Instant::now();
    while temporaries().is_empty() && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no abort
    child.wait().unwrap();
    let left = temporaries();
    assert!(!target.exists(), "the target is absent or complete, never partial");
    assert!(!left.is_empty() && left.iter().all(|n| n.contains(".gridlens-tmp-")), "the killed export's temporary: {left:?}");
    // the next write to the folder removes the dead process's temporary
    let out = gridlens().args(["eval", "random.random(size=(4,))", "-o"]).arg(dir.path().join("small.npy")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(temporaries(), vec!["small.npy".to_string()], "only the new result is left");
}

/// Width, height and pixels per metre of a PNG.
fn png_info(path: &str) -> (u32, u32, Option<u32>) {
    let r = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).read_info().unwrap();
    let info = r.info();
    (info.width, info.height, info.pixel_dims.map(|d| d.xppu))
}

#[test]
fn a_png_of_a_latitude_longitude_field_is_a_figure_and_plain_is_the_bare_image() {
    let dir = tempfile::tempdir().unwrap();
    let months = format!("x={}/../../tests/fixtures/hdf5/months/*.nc:/t2m", env!("CARGO_MANIFEST_DIR"));
    let figure = format!("{}/map.png", dir.path().display());
    let out = gridlens().args(["eval", "x.mean(axis=0)", "-i", &months, "-o", &figure, "--width", "640"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (w, h, ppm) = png_info(&figure);
    assert_eq!(w, 640);
    assert!(h > 250 && h < 640, "a map of 360° by 150° with its title and labels: {h}");
    assert_eq!(ppm, Some(5906), "150 dpi");
    // every projection draws; a polar view of a grid reaching 75°N
    for p in ["robinson", "mollweide", "north-polar", "south-polar"] {
        let target = format!("{}/{p}.png", dir.path().display());
        let out =
            gridlens().args(["eval", "x.mean(axis=0)", "-i", &months, "-o", &target, "--projection", p, "--dpi", "96"]).output().unwrap();
        assert!(out.status.success(), "{p}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(png_info(&target).0, 1600);
    }
    // --plain: one pixel per value, as before
    let plain = format!("{}/plain.png", dir.path().display());
    let out = gridlens().args(["eval", "x.mean(axis=0)", "-i", &months, "-o", &plain, "--plain"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(png_info(&plain).0, 6);
    assert_eq!(png_info(&plain).1, 5);
    // a result that is not on the input's grid is a plain image too
    let part = format!("{}/part.png", dir.path().display());
    let out = gridlens().args(["eval", "x[0, 1:4, 2:5]", "-i", &months, "-o", &part]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((png_info(&part).0, png_info(&part).1), (3, 3));
    let e = fails(&["eval", "x.mean(axis=0)", "-i", &months, "-o", &figure, "--overwrite", "--projection", "gnomonic"]);
    assert!(e.contains("--projection gnomonic"), "{e}");
}
