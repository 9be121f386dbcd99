//! The app driven through its labels with egui_kittest: no display and no GPU needed (wgpu
//! falls back to a software renderer). Each test writes a small demo data set of its own.
//!
//! `UPDATE_SCREENSHOTS=1 cargo test --bin gridlens screenshots -- --ignored` regenerates the
//! README's screenshots in `screenshots/`.

use super::data::DemoSpec;
use super::operation::Preset;
use super::{AppOptions, GridlensApp};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gridlens::exec::ExecError;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn demo(dir: &Path, shape: (usize, usize), chunks: (usize, usize)) -> DemoSpec {
    DemoSpec { dir: dir.to_path_buf(), days: 31, shape, chunks: Some(chunks) }
}

fn harness(options: AppOptions) -> Harness<'static, GridlensApp> {
    Harness::builder().with_size(egui::vec2(1400.0, 860.0)).build_eframe(move |cc| GridlensApp::new(cc, options))
}

fn app_with_demo(dir: &Path) -> Harness<'static, GridlensApp> {
    harness(AppOptions {
        sources: vec![],
        demo: demo(dir, (180, 360), (60, 90)),
        frame_log: None,
        reopen_last: false,
        preset: None,
        tuning: Default::default(),
    })
}

/// The app on fixture files (SOURCE relative to `tests/fixtures/hdf5`), its time mean done;
/// the demo it would write on a first start goes to `tmp`.
fn app_on_fixture(tmp: &Path, source: &str) -> Harness<'static, GridlensApp> {
    let source = format!("{}/../../tests/fixtures/hdf5/{source}", env!("CARGO_MANIFEST_DIR"));
    let mut h = harness(AppOptions {
        sources: vec![source],
        demo: demo(&tmp.join("demo"), (18, 36), (6, 9)),
        frame_log: None,
        reopen_last: false,
        preset: None,
        tuning: Default::default(),
    });
    wait(&mut h, "the time mean", complete);
    h
}

/// Steps frames until `done` holds (background threads finish in real time).
fn wait(h: &mut Harness<'static, GridlensApp>, what: &str, done: impl Fn(&GridlensApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            h.step();
            return;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let a = h.state();
            let g = a.grid.as_ref().map(|g| {
                (
                    g.arrived,
                    g.slots.len(),
                    g.slots.iter().filter(|s| s.texture.is_some()).count(),
                    g.slots.iter().filter(|s| s.shown == a.color_key).count(),
                )
            });
            panic!(
                "timed out waiting for {what}: job {}, outcome {:?}, grid (arrived, tiles, textures, current) {g:?}, key {:?}",
                a.job.is_some(),
                a.status.outcome,
                a.color_key
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn complete(app: &GridlensApp) -> bool {
    app.job.is_none() && app.grid.as_ref().is_some_and(|g| g.is_complete() && g.slots.iter().all(|s| s.texture.is_some()))
}

#[test]
fn first_start_writes_the_demo_and_shows_the_time_mean_tile_by_tile() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    let app = h.state();
    let g = app.grid.as_ref().unwrap();
    assert_eq!((g.rows, g.cols), (180, 360));
    assert_eq!(g.slots.len(), 12, "one tile per output block (3 x 4)");
    let (lo, hi) = g.min_max().unwrap();
    assert!(lo > 180.0 && hi < 330.0, "a plausible temperature range in K: {lo}..{hi}");
    assert!(h.query_all_by_label("Time mean").count() >= 1);
    h.get_by_label_contains("2 metre temperature");
}

#[test]
fn every_preset_computes_and_arrow_keys_step_days() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);

    h.get_by_label("Day − mean").click();
    wait(&mut h, "day − mean", |a| a.op.preset == Preset::DayMinusMean && complete(a));
    {
        let a = h.state();
        assert_eq!(a.settings.colormap, "RdBu_r", "anomalies default to a diverging colormap");
        let k = a.color_key.as_ref().unwrap();
        assert!((k.range.0 + k.range.1).abs() < 1e-3, "symmetric around zero: {:?}", k.range);
    }
    h.key_press(egui::Key::ArrowRight);
    wait(&mut h, "day 1", |a| a.op.day == 1 && complete(a));
    assert!(h.state().status.label.contains("2014-01-02"), "{}", h.state().status.label);

    h.get_by_label("Subsample").click();
    wait(&mut h, "the subsample", |a| a.op.preset == Preset::Subsample && complete(a));
    let g = h.state().grid.as_ref().unwrap();
    assert_eq!((g.rows, g.cols), (90, 180));
    assert_eq!(h.state().settings.colormap, "viridis", "temperatures get their colormap back");

    h.get_by_label("Single day").click();
    wait(&mut h, "a single day", |a| a.op.preset == Preset::SingleDay && complete(a));
    assert_eq!(h.state().grid.as_ref().unwrap().cols, 360);
}

#[test]
fn an_expression_error_is_shown_at_its_column_and_the_app_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.get_by_label("Expression").click();
    h.run_steps(2);
    h.state_mut().op.expression = "x.mean(axis=5)".into();
    h.run_steps(2);
    h.get_by_label("Compute (Ctrl+Enter)").click();
    h.run_steps(2);
    let e = h.state().expr_error.clone().expect("an error");
    assert_eq!(e.message, "axis 5 is out of bounds for a 3-D array");
    h.get_by_label_contains("axis 5 is out of bounds");
    h.state_mut().op.expression = "x.max(axis=0) - x.min(axis=0)".into();
    h.run_steps(2);
    h.get_by_label("Compute (Ctrl+Enter)").click();
    wait(&mut h, "the expression", |a| a.status.label.contains("max") && complete(a));
    assert!(h.state().expr_error.is_none());
}

#[test]
fn switching_the_colormap_recolors_every_tile() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.get_by_value("viridis").click();
    h.run_steps(2);
    h.get_by_label("magma").click();
    wait(&mut h, "magma tiles", |a| {
        a.grid.as_ref().is_some_and(|g| g.slots.iter().all(|s| s.shown.as_ref().is_some_and(|k| k.colormap == "magma")))
    });
    assert_eq!(h.state().settings.colormap, "magma");
}

#[test]
fn cancel_stops_the_job_and_late_tiles_are_not_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.get_by_label("Expression").click();
    h.run_steps(2);
    // a long job: 2 GB of random numbers in small blocks
    h.state_mut().op.expression = "random.normal(0, 1, size=(16000, 16000), chunks=(500, 500)).std(axis=0)[None, :].T".into();
    h.run_steps(2);
    h.get_by_label("Compute (Ctrl+Enter)").click();
    wait(&mut h, "the job to run", |a| a.job.as_ref().is_some_and(|j| j.control.progress.snapshot().tasks_done() > 2));
    let t0 = Instant::now();
    h.get_all_by_label("Cancel").next().expect("a Cancel button").click();
    h.step();
    wait(&mut h, "the cancel", |a| a.job.is_none());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(h.state().status.outcome, Some(Err(ExecError::Cancelled)));
    // tasks running at the cancel may still finish blocks: none of them reaches the picture
    let seen = |h: &Harness<'static, GridlensApp>| {
        let g = h.state().grid.as_ref().expect("the cancelled job's grid stays on screen");
        (g.job, g.arrived, g.slots.iter().filter(|s| s.values.is_some()).count())
    };
    let at_cancel = seen(&h);
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(30));
        h.step();
    }
    assert_eq!(seen(&h), at_cancel, "a tile arrived after the cancel");
    h.get_by_label("Time mean").click();
    wait(&mut h, "a new job after the cancel", complete);
}

#[test]
fn a_netcdf_time_axis_steps_by_its_dates() {
    // one NetCDF file written by netCDF4-python, its time axis in "days since 2000-01-01"
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_on_fixture(tmp.path(), "cf.nc:/t2m");
    assert_eq!(h.state().data.as_ref().unwrap().label(2), "2000-01-03");
    h.get_by_label("Day − mean").click();
    wait(&mut h, "day − mean", |a| a.op.preset == Preset::DayMinusMean && complete(a));
    h.key_press(egui::Key::ArrowRight);
    wait(&mut h, "day 1", |a| a.op.day == 1 && complete(a));
    assert!(h.state().status.label.contains("2000-01-02"), "{}", h.state().status.label);
}

#[test]
fn the_time_mean_skips_a_missing_day_as_xarray_does() {
    // monthly NetCDF4 files of 3, 2 and 4 days joined along time; pixel (2, 3) of day 1 is
    // the fill value. The expected means are xarray's open_mfdataset(...).t2m.mean("time").
    let tmp = tempfile::tempdir().unwrap();
    let h = app_on_fixture(tmp.path(), "months/*.nc:/t2m");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/hdf5/expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let xr = expected["months"]["mean"].as_array().unwrap();
    let app = h.state();
    assert_eq!(app.data.as_ref().unwrap().label(3), "2001-02-01 12:00", "days labelled across files");
    let g = app.grid.as_ref().unwrap();
    for (row, col) in [(2, 3), (0, 0), (4, 5)] {
        let got = g.value_at(row, col).expect("a computed pixel");
        let want = xr[row * 6 + col].as_f64().unwrap() as f32;
        assert!(got.is_finite() && (got - want).abs() <= 1e-4, "pixel ({row}, {col}): {got}, xarray {want}");
    }
    h.get_by_label("nanmean(x, axis=0)");
}

#[test]
fn ascending_latitudes_are_drawn_north_up() {
    // the monthly files' latitudes run from -60 to 60: the top of the image is row 4 (60 N)
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_on_fixture(tmp.path(), "months/*.nc:/t2m");
    assert!(h.state().flip_rows());
    // click image point (0.5, y) as drawn: the middle of the top row, then of the second
    let click = |h: &mut Harness<'static, GridlensApp>, y: f64| {
        // the layout settles first (a panel shown by the last click moves the image)
        h.run_steps(3);
        let v = h.state().view.clone();
        let at = egui::pos2(
            v.screen.center().x + ((0.5 - v.center.0) * v.zoom) as f32,
            v.screen.center().y + ((y - v.center.1) * v.zoom) as f32,
        );
        h.hover_at(at);
        h.step();
        h.drag_at(at);
        h.step();
        h.drop_at(at);
        h.step();
        h.state().series.as_ref().map(|s| s.pixel)
    };
    assert_eq!(click(&mut h, 0.5), Some((4, 0)), "the top row is the northernmost");
    assert_eq!(click(&mut h, 1.5), Some((3, 0)), "the second row from the top");
    // North up off: the data's own order, row 0 (60 S) on top
    h.get_by_label("North up").click();
    h.step();
    assert!(!h.state().flip_rows());
    assert_eq!(click(&mut h, 0.5), Some((0, 0)));
    assert_eq!(click(&mut h, 1.5), Some((1, 0)));
    // an expression draws its result as it is (it may reverse rows itself): no toggle
    h.state_mut().settings.north_up = true;
    h.state_mut().op.preset = Preset::Expression;
    h.step();
    assert!(!h.state().flip_rows());
    assert!(h.query_by_label("North up").is_none());
}

#[test]
fn files_dropped_on_the_window_are_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    /// A file as the windowing layer hands a dropped one to egui.
    #[derive(Debug)]
    struct Dropped(std::path::PathBuf);
    impl egui::DroppedFile for Dropped {
        fn path(&self) -> &Path {
            &self.0
        }
        fn bytes(&self) -> Result<Vec<u8>, String> {
            std::fs::read(&self.0).map_err(|e| e.to_string())
        }
    }
    let dropped = Dropped(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/hdf5/single.h5").into());
    h.input_mut().dropped_files.push(std::sync::Arc::new(dropped));
    wait(&mut h, "the dropped file", |a| a.data.as_ref().is_some_and(|d| d.array.shape() == [20, 30]) && complete(a));
    assert!(h.state().messages.iter().all(|m| !m.error), "{:?}", h.state().messages.iter().map(|m| &m.text).collect::<Vec<_>>());
}

#[test]
fn a_bad_file_shows_a_message_and_the_app_keeps_running() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.h5");
    std::fs::write(&bad, b"this is not an HDF5 file").unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.state_mut().glob_text = bad.display().to_string();
    h.get_by_label("Open glob").click();
    wait(&mut h, "the error", |a| a.messages.iter().any(|m| m.error));
    let msg = &h.state().messages.last().unwrap().text;
    assert!(msg.contains("broken.h5"), "names the file: {msg}");
    assert!(h.state().data.is_some(), "the open data set is kept");
    h.get_by_label("Single day").click();
    wait(&mut h, "a job after the error", |a| a.op.preset == Preset::SingleDay && complete(a));
}

#[test]
fn clicking_a_pixel_plots_its_time_series() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.state_mut().apply(super::Command::Pick(90, 180));
    wait(&mut h, "the series", |a| a.series.as_ref().is_some_and(|s| s.values.is_some()));
    let s = h.state().series.as_ref().unwrap();
    let v = s.values.as_ref().unwrap();
    assert_eq!(v.len(), 31);
    let mean = v.iter().sum::<f64>() / 31.0;
    let shown = h.state().grid.as_ref().unwrap().value_at(90, 180).unwrap() as f64;
    assert!((mean - shown).abs() < 1e-3, "the series' mean is the time mean shown: {mean} vs {shown}");
}

fn export_target(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn an_export_runs_with_progress_and_reads_back_equal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.get_by_label("Export…").click();
    h.run_steps(3); // a new window is measured on its first frame and shown on the next
    let target = export_target(tmp.path(), "mean.h5");
    h.state_mut().export.path = target.display().to_string();
    h.run_steps(2);
    h.get_by_label("Start export").click();
    wait(&mut h, "the export", |a| a.export.outcome.is_some());
    assert_eq!(h.state().export.outcome, Some(Ok(target.clone())));
    h.get_by_label("Open folder");
    // the file holds the in-app result
    let file = gridlens::io::open(&gridlens::io::SourceSpec::parse(&target.display().to_string()), &Default::default()).unwrap();
    let stored = gridlens::compute(&gridlens::Array::from_source(file.clone()), &Default::default()).unwrap();
    let g = h.state().grid.as_ref().unwrap();
    for (r, c) in [(0, 0), (17, 301), (179, 359), (90, 180)] {
        let shown = g.value_at(r, c).unwrap();
        let v = stored.data().get_f64(r * 360 + c);
        assert_eq!(v as f32, shown, "pixel ({r}, {c})");
    }
    assert_eq!(file.metadata().units(), Some("K"), "units carried over");
    assert!(file.metadata().text("history").is_some_and(|h| h.contains("nanmean(x, axis=0)")), "provenance recorded");
}

#[test]
fn a_cancelled_export_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.get_by_label("Expression").click();
    h.run_steps(2);
    h.state_mut().op.expression = "random.normal(0, 1, size=(12000, 12000), chunks=(400, 400)) * 2".into();
    h.get_by_label("Export…").click();
    h.run_steps(3); // a new window is measured on its first frame and shown on the next
    let target = export_target(tmp.path(), "big.zarr");
    h.state_mut().export.format = super::export::ExportFormat::Zarr;
    h.state_mut().export.path = target.display().to_string();
    h.run_steps(2);
    h.get_by_label("Start export").click();
    wait(&mut h, "export progress", |a| {
        a.export.job.as_ref().is_some_and(|j| j.control.progress.snapshot().done[gridlens::plan::Stage::Write.index()] > 3)
    });
    let snap = h.state().export.job.as_ref().unwrap().control.progress.snapshot();
    assert_eq!(snap.total.iter().sum::<usize>(), snap.tasks_total());
    h.get_by_label("Cancel export").click();
    wait(&mut h, "the cancel", |a| a.export.outcome.is_some());
    assert!(matches!(&h.state().export.outcome, Some(Err(e)) if e == "cancelled"));
    assert!(!target.exists(), "nothing at the target after a cancel");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("gridlens-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary left: {leftovers:?}");
}

#[test]
fn the_progress_panel_counts_add_up_to_the_task_count() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    let tasks = h.state().status.explain.as_ref().unwrap().tasks;
    let stages: usize = h.state().status.explain.as_ref().unwrap().stages.iter().sum();
    assert_eq!(stages, tasks);
    assert_eq!(h.state().spans.len(), tasks, "every task in the task stream");
    h.get_by_label_contains("Time mean — finished");
}

/// Renders the main states into `screenshots/` (only with UPDATE_SCREENSHOTS=1).
#[test]
#[ignore = "writes the README's screenshots; run with UPDATE_SCREENSHOTS=1 -- --ignored"]
fn screenshots() {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_none() {
        return;
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../screenshots");
    std::fs::create_dir_all(&out).unwrap();
    let save = |h: &mut Harness<'static, GridlensApp>, name: &str| {
        h.step();
        let img = h.render().expect("render");
        img.save(out.join(format!("{name}.png"))).unwrap();
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut h = harness(AppOptions {
        sources: vec![],
        demo: demo(&tmp.path().join("demo"), (720, 1440), (240, 240)),
        frame_log: None,
        reopen_last: false,
        preset: None,
        tuning: Default::default(),
    });
    wait(&mut h, "the time mean", complete);
    h.state_mut().apply(super::Command::Pick(200, 700));
    wait(&mut h, "the series", |a| a.series.as_ref().is_some_and(|s| s.values.is_some()));
    save(&mut h, "time-mean");
    h.get_by_label("Day − mean").click();
    wait(&mut h, "day − mean", |a| a.op.preset == Preset::DayMinusMean && complete(a));
    h.key_press(egui::Key::ArrowRight);
    h.key_press(egui::Key::ArrowRight);
    wait(&mut h, "day 2", |a| a.op.day == 2 && complete(a));
    save(&mut h, "day-minus-mean");
    h.get_by_label("Subsample").click();
    wait(&mut h, "the subsample", |a| a.op.preset == Preset::Subsample && complete(a));
    save(&mut h, "subsample");
    h.get_by_label("Expression").click();
    h.run_steps(2);
    h.state_mut().op.expression = "x[0] - x.mean(axis=3)".into();
    h.run_steps(2);
    h.get_by_label("Compute (Ctrl+Enter)").click();
    h.run_steps(3);
    save(&mut h, "expression-error");
    // day-to-day spread of the weather plus noise, in small blocks: tiles stream in for a while
    h.state_mut().op.expression = "(x + random.normal(0, 2, size=(31, 720, 1440), chunks=(31, 90, 90), seed=1)).std(axis=0)".into();
    h.run_steps(2);
    h.get_by_label("Compute (Ctrl+Enter)").click();
    wait(&mut h, "a third of the tiles", |a| {
        a.job.is_some() && a.grid.as_ref().is_some_and(|g| g.arrived * 3 > g.slots.len() && g.arrived * 3 < g.slots.len() * 2)
    });
    save(&mut h, "progress-mid-job");
    h.key_press(egui::Key::Escape);
    wait(&mut h, "the cancel", |a| a.job.is_none());
    h.get_by_label("Time mean").click();
    wait(&mut h, "the time mean", complete);
    h.get_by_label("Export…").click();
    h.state_mut().export.path = "/home/user/january-mean.zarr".into();
    h.state_mut().export.format = super::export::ExportFormat::Zarr;
    h.run_steps(3);
    save(&mut h, "export-dialog");
}

/// A deflated HDF5 file of `records` fields, one record per chunk (as netCDF-C stores a
/// record variable, and as the ERA5 archive delivers them): record k holds
/// k + offset + (row + col) % 7, so the time mean is (records - 1) / 2 + offset + (row + col) % 7.
fn write_records(path: &Path, records: usize, shape: (usize, usize), offset: f32) {
    let values = ndarray::Array3::<f32>::from_shape_fn((records, shape.0, shape.1), |(k, r, c)| k as f32 + offset + ((r + c) % 7) as f32);
    let f = hdf5::File::create(path).unwrap();
    f.new_dataset_builder().chunk([1, shape.0, shape.1]).deflate(1).with_data(&values).create("t2m").unwrap();
}

fn app_on(tmp: &Path, source: &Path, tuning: super::job::JobTuning) -> Harness<'static, GridlensApp> {
    harness(AppOptions {
        sources: vec![source.display().to_string()],
        demo: demo(&tmp.join("demo"), (18, 36), (6, 9)),
        frame_log: None,
        reopen_last: false,
        preset: None,
        tuning,
    })
}

/// A time mean whose output is one block fed by many records is drawn part-way, marked
/// with how many records it holds, before the job ends; then the final replaces it.
#[test]
fn a_record_chunked_mean_is_drawn_part_way_with_its_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("records.h5");
    write_records(&path, 96, (256, 512), 0.0);
    // one worker and a snapshot every 10 ms: the job runs long enough to be seen part-way
    let tuning = super::job::JobTuning { threads: 1, partials_every: Duration::from_millis(10) };
    let mut h = app_on(tmp.path(), &path, tuning);
    let partial = |a: &GridlensApp| {
        a.job.is_some()
            && a.grid.as_ref().is_some_and(|g| g.slots.len() == 1 && g.slots[0].partial.is_some() && g.slots[0].texture.is_some())
    };
    wait(&mut h, "a picture part-way", |a| partial(a) || complete(a));
    assert!(partial(h.state()), "the job ended before a snapshot was drawn");
    let (func, done, total) = h.state().grid.as_ref().unwrap().slots[0].partial.unwrap();
    assert_eq!((func, total), ("nanmean", 96));
    assert!(done > 0 && done < total, "{done} of {total}");
    // the readout under the image says what is shown
    assert!(h.query_by_label_contains("of 96 records so far").is_some(), "the readout names the snapshot");
    // the final: no mark, the exact mean
    wait(&mut h, "the time mean", complete);
    let g = h.state().grid.as_ref().unwrap();
    assert!(g.slots[0].partial.is_none());
    assert_eq!(g.value_at(3, 5), Some(47.5 + 1.0));
    assert!(h.query_by_label_contains("records so far").is_none());
}

/// The decoded blocks of a file are kept for the next look, and a file rewritten on disk
/// is noticed: its blocks are dropped and the data set opened again, the new values shown.
#[test]
fn a_file_changed_on_disk_is_opened_again_and_its_cached_blocks_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("records.h5");
    write_records(&path, 12, (40, 60), 0.0);
    let mut h = app_on(tmp.path(), &path, Default::default());
    wait(&mut h, "the time mean", complete);
    assert_eq!(h.state().grid.as_ref().unwrap().value_at(0, 0), Some(5.5));
    let cached = h.state().cache.stats();
    assert_eq!(cached.blocks, 12, "every decoded record is kept: {cached:?}");
    // another program replaces the file with other values
    std::thread::sleep(Duration::from_millis(20));
    write_records(&tmp.path().join("new.h5"), 12, (40, 60), 100.0);
    std::fs::rename(tmp.path().join("new.h5"), &path).unwrap();
    h.state_mut().apply(super::Command::Recompute);
    wait(&mut h, "the mean of the new file", |a| complete(a) && a.grid.as_ref().unwrap().value_at(0, 0) == Some(105.5));
    assert!(h.state().messages.iter().any(|m| m.text.contains("changed") && m.text.contains("opening the data set again")));
    // cleared on request
    h.state_mut().apply(super::Command::ClearCache);
    assert_eq!(h.state().cache.stats().blocks, 0);
}
