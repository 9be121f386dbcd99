//! The app driven through its labels with egui_kittest: no display and no GPU needed (wgpu
//! falls back to a software renderer). Each test writes a small demo data set of its own.
//!
//! `UPDATE_SCREENSHOTS=1 cargo test --bin gridlens screenshots -- --ignored` regenerates the
//! README's screenshots in `screenshots/`.

use super::data::DemoSpec;
use super::operation::Preset;
use super::{AppOptions, GridlensApp};
use crate::map::projection::Projection;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gridlens::exec::ExecError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
        map: Default::default(),
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
        map: Default::default(),
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
fn the_time_mean_day_minus_mean_computes_first_keeps_the_temperature_colors() {
    // started on Day − mean: the time mean comes first, then the anomaly
    let tmp = tempfile::tempdir().unwrap();
    let mut h = harness(AppOptions {
        sources: vec![],
        demo: demo(&tmp.path().join("demo"), (180, 360), (60, 90)),
        frame_log: None,
        reopen_last: false,
        preset: Some((Preset::DayMinusMean, 3)),
        tuning: Default::default(),
        map: Default::default(),
    });
    wait(&mut h, "the mean first", |a| a.anomaly_after_mean && a.color_key.is_some());
    assert_eq!(h.state().settings.colormap, "viridis", "the mean is a temperature, not an anomaly");
    wait(&mut h, "day − mean", |a| !a.anomaly_after_mean && a.op.preset == Preset::DayMinusMean && complete(a));
    assert_eq!(h.state().settings.colormap, "RdBu_r");
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

/// Steps until the map stays where it is (panels laid out, the view fitted to them).
fn settle(h: &mut Harness<'static, GridlensApp>) {
    for _ in 0..30 {
        let v = h.state().view.clone();
        h.step();
        let w = &h.state().view;
        if (v.screen, v.zoom, v.center) == (w.screen, w.zoom, w.center) {
            return;
        }
    }
}

/// Clicks image point (x, y) as drawn and returns the pixel whose series that asked for.
fn click_image(h: &mut Harness<'static, GridlensApp>, x: f64, y: f64) -> Option<(usize, usize)> {
    // the layout settles first (a panel shown by the last click moves the image)
    h.run_steps(3);
    settle(h);
    let at = image_point(h, x, y);
    h.hover_at(at);
    h.step();
    h.drag_at(at);
    h.step();
    h.drop_at(at);
    h.step();
    h.state().series.as_ref().map(|s| s.pixel)
}

/// Where image point (x, y) as drawn is on the screen.
fn image_point(h: &Harness<'static, GridlensApp>, x: f64, y: f64) -> egui::Pos2 {
    let v = h.state().view.clone();
    egui::pos2(v.screen.center().x + ((x - v.center.0) * v.zoom) as f32, v.screen.center().y + ((y - v.center.1) * v.zoom) as f32)
}

#[test]
fn centring_on_greenwich_moves_the_column_under_a_longitude() {
    // the monthly files' 6 longitudes run 0, 60, …, 300 °E
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_on_fixture(tmp.path(), "months/*.nc:/t2m");
    let frame = h.state().map_frame().expect("a map");
    assert!(frame.periodic);
    // centred on 0° (the default): 0° (data column 0) is drawn in the middle, 180° on the left
    assert_eq!(click_image(&mut h, 3.5, 0.5), Some((4, 0)));
    assert_eq!(click_image(&mut h, 0.5, 0.5), Some((4, 3)), "180°E on the left edge");
    assert_eq!(click_image(&mut h, 2.5, 0.5), Some((4, 5)), "60°W west of Greenwich");
    // the readout names the longitude under the cursor
    h.hover_at(image_point(&h, 4.5, 1.5));
    h.run_steps(2);
    h.get_by_label_contains("lat 30.000, lon 60.000");
    // the value there is the data's at that column, not at the drawn one
    let want = h.state().grid.as_ref().unwrap().value_at(3, 1).unwrap();
    h.get_by_label_contains(&crate::ui::format_value(want as f64));
    // as stored: column k is drawn at k
    h.get_by_label_contains("Centre: 0°").click();
    h.run_steps(2);
    h.get_by_label("As stored").click();
    h.run_steps(2);
    assert_eq!(h.state().settings.centre_lon, None);
    assert_eq!(click_image(&mut h, 0.5, 0.5), Some((4, 0)));
    assert_eq!(click_image(&mut h, 3.5, 0.5), Some((4, 3)));
}

#[test]
fn the_readout_names_the_same_cell_under_the_same_place_in_every_projection() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    // the demo's 1° cells: row 20 is 69.5°N, column 100 is 79.5°W
    let (row, col) = (20usize, 100usize);
    let (lat, lon) = {
        let d = h.state().data.as_ref().unwrap();
        (d.rows_coord.as_ref().unwrap().1[row], d.cols_coord.as_ref().unwrap().1[col])
    };
    let hover = |h: &mut Harness<'static, GridlensApp>, (x, y): (f64, f64)| {
        // the layout settles first (the view fits itself to a map that changed size, and
        // panels widen to what a hover shows)
        h.hover_at(image_point(h, x, y));
        settle(h);
        h.hover_at(image_point(h, x, y));
        h.run_steps(2);
        let found = h.query_by_label_contains(&format!("row {row}, col {col} |")).is_some();
        found
    };
    let frame = h.state().map_frame().unwrap();
    assert!(hover(&mut h, (frame.x_of(lon), frame.y_of(lat))), "equirectangular");
    for p in [Projection::Robinson, Projection::Mollweide, Projection::NorthPolar] {
        h.state_mut().apply(super::Command::SetProjection(p));
        h.run_steps(3);
        wait(&mut h, "the projected picture", |a| {
            a.reprojector.shown.as_ref().is_some_and(|(w, _)| Some(w.job) == a.grid.as_ref().map(|g| g.job) && w.frame.projection == p)
        });
        let pf = h.state().projected_frame(h.state().map_frame().unwrap()).unwrap();
        assert!(hover(&mut h, pf.to_image(lon, lat).unwrap()), "{p:?}");
        // a click there plots that cell's series
        let (x, y) = pf.to_image(lon, lat).unwrap();
        assert_eq!(click_image(&mut h, x, y), Some((row, col)), "{p:?}");
    }
    // off the globe (a corner of the projected image) there is no cell
    h.hover_at(image_point(&h, 0.5, 0.5));
    h.run_steps(2);
    h.get_by_label_contains("180 × 360 pixels");
}

#[test]
fn a_curvilinear_grid_gets_coastlines_and_its_cells_latitude_and_longitude() {
    // 2-D lat/lon named by the field's `coordinates` (make_curvilinear.py), axes in km
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_on_fixture(tmp.path(), "curvilinear.nc:/t2m");
    assert!(h.state().map_frame().is_none(), "its axes are not latitude and longitude");
    assert!(h.state().curvilinear().is_some());
    wait(&mut h, "the coastlines", |a| a.outline_segments > 50);
    // its rows run south to north: drawn north up, data row 5 is drawn 6th from the bottom
    assert!(h.state().flip_rows());
    // the readout gives the cell's own latitude and longitude (38 + 1.8 r + 0.25 c, -12 + 2.2 c - 0.5 r)
    h.hover_at(image_point(&h, 7.5, 6.5));
    settle(&mut h);
    h.hover_at(image_point(&h, 7.5, 6.5));
    h.run_steps(2);
    h.get_by_label_contains("row 5, col 7 |");
    h.get_by_label_contains("lat 48.750, lon 0.900");
}

#[test]
fn coastlines_are_drawn_only_over_data_with_latitude_and_longitude() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    // decoded off the UI thread, then drawn
    wait(&mut h, "the coastlines", |a| a.outline_segments > 500);
    h.get_by_label("Coast").click();
    h.run_steps(2);
    assert_eq!(h.state().outline_segments, 0, "coastlines off");
    h.get_by_label("Borders").click();
    h.run_steps(2);
    assert!(h.state().outline_segments > 100, "borders alone");
    // an expression whose result is not on the data's grid has no map, so no coastlines
    h.get_by_label("Expression").click();
    h.run_steps(2);
    h.state_mut().op.expression = "x[0, 10:50, 20:90]".into();
    h.run_steps(2);
    h.get_by_label("Compute (Ctrl+Enter)").click();
    wait(&mut h, "the expression", |a| complete(a) && a.grid.as_ref().is_some_and(|g| g.cols == 70));
    assert!(h.state().map_frame().is_none());
    assert_eq!(h.state().outline_segments, 0);
    assert!(h.query_by_label("Coast").is_none() && h.query_by_label("Borders").is_none());
    // the same data on its grid is a map again
    h.state_mut().op.expression = "x[0] * 2".into();
    h.run_steps(2);
    h.get_by_label("Compute (Ctrl+Enter)").click();
    wait(&mut h, "the expression", |a| complete(a) && a.grid.as_ref().is_some_and(|g| g.cols == 360));
    assert!(h.state().map_frame().is_some());
    assert!(h.state().outline_segments > 100);
}

#[test]
fn ascending_latitudes_are_drawn_north_up() {
    // the monthly files' latitudes run from -60 to 60: the top of the image is row 4 (60 N)
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_on_fixture(tmp.path(), "months/*.nc:/t2m");
    assert!(h.state().flip_rows());
    // click image point (3.5, y) as drawn (data column 0, drawn in the middle centred on 0°)
    let click = |h: &mut Harness<'static, GridlensApp>, y: f64| click_image(h, 3.5, y);
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
fn a_map_exports_as_a_figure_in_its_projection_or_as_the_plain_image() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_with_demo(&tmp.path().join("demo"));
    wait(&mut h, "the time mean", complete);
    h.state_mut().apply(super::Command::SetProjection(Projection::Mollweide));
    h.get_by_label("Export…").click();
    h.run_steps(3);
    h.state_mut().export.format = super::export::ExportFormat::Png;
    let size = |p: &Path| {
        let r = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap())).read_info().unwrap();
        (r.info().width, r.info().height)
    };
    for (name, plain, width) in [("figure.png", false, 900u32), ("plain.png", true, 0)] {
        let target = export_target(tmp.path(), name);
        h.state_mut().export.path = target.display().to_string();
        h.state_mut().export.figure_width = width.max(300);
        h.state_mut().export.plain = plain;
        h.run_steps(2);
        h.get_by_label("Start export").click();
        wait(&mut h, "the export", |a| a.export.outcome.is_some());
        assert_eq!(h.state().export.outcome, Some(Ok(target.clone())));
        let (w, ht) = size(&target);
        if plain {
            // a pixel per value, and the colorbar
            assert_eq!(ht, 180);
            assert!(w > 360 && w < 500, "{w}");
        } else {
            // a Mollweide globe is twice as wide as tall, with a title and a colorbar
            assert_eq!(w, 900);
            assert!(ht > 350 && ht < 500, "{ht}");
        }
        h.state_mut().export.outcome = None;
    }
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
        map: Default::default(),
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
        map: Default::default(),
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
    let tuning = super::job::JobTuning { threads: 1, partials_every: Duration::from_millis(10), ..Default::default() };
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
    let during = super::job::JobTuning { keep: super::job::KeepDecoded::During, ..Default::default() };
    let mut h = app_on(tmp.path(), &path, during);
    wait(&mut h, "the time mean", complete);
    assert_eq!(h.state().grid.as_ref().unwrap().value_at(0, 0), Some(5.5));
    assert!(h.state().filling.is_none(), "kept during the job: no fill after it");
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

/// Where fresh memory is slow the display job keeps nothing as it goes; its blocks are
/// decoded again after it (shown in the tasks panel), and a pixel's time series then reads
/// them from memory. A new job stops a fill under way.
#[test]
fn blocks_kept_after_the_job_serve_the_second_look() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("records.h5");
    write_records(&path, 12, (40, 60), 0.0);
    let after = super::job::JobTuning { keep: super::job::KeepDecoded::After, ..Default::default() };
    let mut h = app_on(tmp.path(), &path, after);
    wait(&mut h, "the time mean", complete);
    assert_eq!(h.state().grid.as_ref().unwrap().value_at(0, 0), Some(5.5));
    wait(&mut h, "the fill", |a| a.filling.is_none() && a.cache.stats().blocks == 12);
    let hits = h.state().cache.stats().hits;
    h.state_mut().apply(super::Command::Pick(3, 5));
    wait(&mut h, "the series", |a| a.series.as_ref().is_some_and(|s| s.values.is_some()));
    let series = h.state().series.as_ref().unwrap().values.clone().unwrap();
    assert_eq!(series, (0..12).map(|k| (k + (3 + 5) % 7) as f64).collect::<Vec<_>>());
    assert_eq!(h.state().cache.stats().hits - hits, 12, "the series read memory");
    // a fill under way is cancelled by the next job
    let fill = Arc::new(gridlens::JobControl::new());
    h.state_mut().filling = Some((99, fill.clone()));
    h.state_mut().apply(super::Command::Recompute);
    assert!(fill.cancel.is_cancelled(), "the new job stopped the fill");
    wait(&mut h, "the mean again", complete);
}
