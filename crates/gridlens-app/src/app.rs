//! The desktop app (eframe): owns all state, polls background work once per frame,
//! and applies the [`Command`]s the panels return. It never blocks: opening files,
//! computing, colormapping and writing all happen on other threads.

pub mod browser;
pub mod data;
pub mod export;
pub use export::ExportForm;
pub mod frame_log;
pub mod job;
pub mod operation;
pub mod parsed;
pub mod renderer;
pub mod reproject;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod tiles;

use crate::ui;
use browser::{BrowseMode, Browser};
use crossbeam_channel::Receiver;
use data::{DataSet, DemoEvent, DemoSpec};
use gridlens::exec::ExecError;
use gridlens::expr::parse::ParseError;
use gridlens::plan::Explain;
use gridlens::source::MemorySource;
use gridlens::{Array, Block};
use job::{Job, JobEvent, Small};
use operation::{Operation, Preset};
pub use renderer::Renderer;
use settings::{RangeMode, Settings};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiles::{ColorKey, Painter, TileGrid};

/// Jobs reading less than this wait for the window to draw their panels (software rendering).
const SHORT_JOB_BYTES: usize = 2 << 30;

/// What the user asked for, returned by the panels and applied by the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Open these SOURCE strings (files, globs, `FILE:DATASET`) as one stacked data set.
    Open(Vec<String>),
    /// Open another dataset (an HDF5 path) of the files already open.
    OpenDataset(String),
    /// Show the desktop's own file dialog (through the XDG portal, on its own thread).
    SystemDialog,
    /// The output blocks in view, most central first: the engine computes them first.
    SetVisible(Vec<usize>),
    ShowBrowser(BrowseMode),
    CloseBrowser,
    BrowseTo(PathBuf),
    SetPreset(Preset),
    SetDay(usize),
    StepDay(i64),
    SetFactor(usize, usize),
    /// Compute the expression in the expression box.
    ComputeExpression,
    Recompute,
    Cancel,
    SetColormap(String),
    SetReversed(bool),
    SetRangeMode(RangeMode),
    SetManualRange(f64, f64),
    Fit,
    OneToOne,
    /// Draws ascending-latitude data north up, or in the data's own row order.
    ToggleNorthUp,
    /// Map overlays: coastlines, country borders, the latitude/longitude lines.
    ToggleCoastlines,
    ToggleBorders,
    ToggleGraticule,
    /// The longitude to draw in the middle of a globe-spanning grid (`None`: as stored).
    SetCentre(Option<f64>),
    /// How maps are drawn.
    SetProjection(crate::map::projection::Projection),
    /// A click on image pixel (row, col): plot its time series.
    Pick(usize, usize),
    ShowExport(bool),
    StartExport,
    OpenFolder(PathBuf),
    DismissMessage(usize),
    /// Sets the decoded-block cache's budget (GiB; 0: a quarter of RAM).
    SetCacheBudget(f64),
    ClearCache,
}

/// How the app starts.
pub struct AppOptions {
    /// SOURCE strings to open; empty: the last data set, else the demo data.
    pub sources: Vec<String>,
    pub demo: DemoSpec,
    pub frame_log: Option<PathBuf>,
    /// Reopen the last data set when no sources are given (off in tests).
    pub reopen_last: bool,
    /// The operation to start with (and its day), instead of the time mean.
    pub preset: Option<(Preset, usize)>,
    /// Threads and snapshot rate of the display jobs.
    pub tuning: job::JobTuning,
    /// The map's projection and centre longitude to start with, instead of the saved ones.
    pub map: MapOptions,
}

/// How maps are drawn, from the command line (`None`: as last time).
#[derive(Clone, Debug, Default)]
pub struct MapOptions {
    pub projection: Option<crate::map::projection::Projection>,
    /// `Some(None)`: columns as stored.
    pub centre: Option<Option<f64>>,
}

/// The pan/zoom state of the image view.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// Image coordinate (col, row) at the centre of the view.
    pub center: (f64, f64),
    /// Screen points per image pixel.
    pub zoom: f64,
    /// Fit the image to the view on the next frame.
    pub fit: bool,
    /// The map's size when the image was last fitted, until the user pans or zooms: while
    /// it is set, the image is fitted again when the map changes size (panels laid out, the
    /// window resized).
    pub fitted: Option<egui::Vec2>,
    /// Output blocks visible at the last frame, in the order sent to the engine.
    pub visible: Vec<usize>,
    /// Where the image was drawn at the last frame, on screen.
    pub screen: egui::Rect,
}

impl Default for View {
    fn default() -> View {
        View { center: (0.0, 0.0), zoom: 1.0, fit: true, fitted: None, visible: vec![], screen: egui::Rect::NOTHING }
    }
}

/// The display job's summary for the panels.
#[derive(Default)]
pub struct JobStatus {
    pub label: String,
    pub explain: Option<Explain>,
    /// `None` while running; the outcome once finished.
    pub outcome: Option<Result<(), ExecError>>,
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
    pub first_tile: Option<Duration>,
    /// When the first picture (a tile, or a snapshot part-way) arrived.
    pub first_picture: Option<Duration>,
}

/// A time series at one pixel, across the stack.
pub struct Series {
    pub pixel: (usize, usize),
    pub source_pixel: (usize, usize),
    pub job: Option<Small>,
    pub values: Option<Vec<f64>>,
    pub error: Option<String>,
}

/// A message in the message bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// The app: one owner of all state.
pub struct GridlensApp {
    pub settings: Settings,
    pub options: AppOptions,
    repaint: Arc<dyn Fn() + Send + Sync>,
    pub data: Option<DataSet>,
    pub loading: Option<(Vec<String>, Receiver<Result<DataSet, String>>)>,
    pub demo: Option<(Receiver<DemoEvent>, (usize, usize))>,
    pub op: Operation,
    pub expr_error: Option<ParseError>,
    /// The operation's expressions, parsed once per text.
    pub parsed: parsed::ParsedExpressions,
    next_job: u64,
    pub job: Option<Job>,
    pub status: JobStatus,
    pub grid: Option<TileGrid>,
    painter: Painter,
    pub color_key: Option<ColorKey>,
    /// The time mean of the open data set, kept to make day − mean instant.
    mean_cache: Option<Arc<Block>>,
    /// Colors to return to after an anomaly (set when day − mean chose a diverging colormap).
    anomaly_restore: Option<(String, RangeMode)>,
    pub view: View,
    pub series: Option<Series>,
    pub export: ExportForm,
    pub browser: Option<Browser>,
    pub glob_text: String,
    pub messages: Vec<Message>,
    pub frame_log: Option<frame_log::FrameLog>,
    /// What draws the window (shown in the tasks panel; software rendering draws less often).
    pub renderer: Renderer,
    /// How jobs ask for a frame.
    wake: job::Wake,
    /// Decoded blocks shared by the app's jobs: a second look at the same data reads memory.
    pub cache: Arc<gridlens::exec::cache::BlockCache>,
    /// The cache being filled after a display job (its id, and the fill's control).
    pub filling: Option<(u64, Arc<gridlens::JobControl>)>,
    /// Frames drawn so far.
    frames: u64,
    /// The next job comes with new panels (a data set opened, another operation), whose first
    /// frames lay them out.
    layout_changes: bool,
    /// The display job is a time mean that keeps its result (for day − mean).
    job_keeps_mean: bool,
    /// Day − mean was asked while the time mean ran: it follows once the mean is in.
    pub anomaly_after_mean: bool,
    /// The display job is planned and waits to be let run ([`Job::start`]): once its panels
    /// are drawn (`true`), or at the next frame.
    awaiting_go: Option<bool>,
    /// Task spans of the display job for the task-stream chart (a window of the latest).
    pub spans: Vec<gridlens::exec::TaskSpan>,
    span_cursor: usize,
    /// Files picked in the desktop's own dialog (filled from its thread).
    pub picked: Arc<std::sync::Mutex<Vec<String>>>,
    /// Coastlines and borders placed on the current map frame.
    pub placed: crate::map::coastlines::PlacedCache,
    /// Resamples the tiles onto a projected map.
    pub reprojector: reproject::Reprojector,
    /// Outline segments drawn at the last frame (the tests read it).
    pub outline_segments: usize,
}

impl GridlensApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> GridlensApp {
        let mut settings: Settings = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default();
        if let Some(p) = options.map.projection {
            settings.projection = p;
        }
        if let Some(c) = options.map.centre {
            settings.centre_lon = c;
        }
        let cache_budget = settings.cache_budget();
        let ctx = cc.egui_ctx.clone();
        let renderer = Renderer::of_context(cc);
        // Background threads ask for a frame within 80 ms (a quarter second when drawing in
        // software) rather than at once: a burst of tiles then costs one frame, and drawing
        // does not take the cores from the job. Input still repaints at once.
        let interval = renderer.streaming_interval();
        let now_ctx = ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint_after(interval));
        let wake = job::Wake { soon: repaint.clone(), now: Arc::new(move || now_ctx.request_repaint()) };
        let r = repaint.clone();
        let mut frame_log = options.frame_log.as_ref().and_then(|p| match frame_log::FrameLog::create(p) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("warning: cannot write the frame log {}: {e}", p.display());
                None
            }
        });
        if let Some(log) = frame_log.as_mut() {
            log.renderer(&renderer);
        }
        let reprojector = reproject::Reprojector::start({
            let r = repaint.clone();
            move || r()
        });
        let mut app = GridlensApp {
            settings,
            repaint,
            data: None,
            loading: None,
            demo: None,
            op: Operation::default(),
            expr_error: None,
            parsed: parsed::ParsedExpressions::default(),
            next_job: 1,
            job: None,
            status: JobStatus::default(),
            grid: None,
            painter: Painter::start(move || r()),
            color_key: None,
            mean_cache: None,
            anomaly_restore: None,
            view: View::default(),
            series: None,
            export: ExportForm::default(),
            browser: None,
            glob_text: String::new(),
            messages: vec![],
            frame_log,
            renderer,
            wake,
            cache: Arc::new(gridlens::exec::cache::BlockCache::new(cache_budget)),
            filling: None,
            frames: 0,
            awaiting_go: None,
            job_keeps_mean: false,
            layout_changes: true,
            anomaly_after_mean: false,
            spans: vec![],
            span_cursor: 0,
            picked: Arc::default(),
            placed: Default::default(),
            reprojector,
            outline_segments: 0,
            options,
        };
        let first: Vec<String> = if !app.options.sources.is_empty() {
            app.options.sources.clone()
        } else if app.options.reopen_last && !app.settings.last_sources.is_empty() {
            app.settings.last_sources.clone()
        } else {
            vec![]
        };
        if let Some((preset, day)) = app.options.preset {
            app.op.preset = preset;
            app.op.day = day;
        }
        if first.is_empty() {
            app.open_demo()
        } else {
            app.open(first)
        }
        app
    }

    fn repaint_fn(&self) -> impl Fn() + Send + Sync + 'static {
        let r = self.repaint.clone();
        move || r()
    }

    /// Opens the demo data set, writing it first if it is not in the cache yet.
    pub fn open_demo(&mut self) {
        if self.options.demo.is_complete() {
            let s = self.options.demo.source();
            self.open(vec![s]);
        } else {
            let rx = data::write_demo(&self.options.demo, self.repaint_fn());
            self.demo = Some((rx, (0, self.options.demo.days)));
        }
    }

    pub fn open(&mut self, sources: Vec<String>) {
        let rx = data::load(sources.clone(), self.repaint_fn());
        self.loading = Some((sources, rx));
    }

    /// Opens the data set again from its sources, the files having changed on disk (why).
    fn reopen(&mut self, why: String) {
        let Some(d) = &self.data else { return };
        let sources = d.sources.clone();
        self.mean_cache = None;
        self.info(format!("{why}: opening the data set again"));
        self.open(sources);
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.messages.push(Message { text: text.into(), error: false });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.messages.push(Message { text: text.into(), error: true });
    }

    /// The number of items along the stack axis (days), 1 for a single 2-D array.
    pub fn days(&self) -> usize {
        self.data.as_ref().map_or(1, |d| if d.array.ndim() >= 3 { d.array.shape()[0] } else { 1 })
    }

    /// Whether the image is drawn with its rows reversed, north up: the data's latitudes
    /// ascend, the setting is on, and a preset shows the data's rows in their stored order
    /// (an expression may reorder rows itself, `x[0, ::-1]`, so its result is drawn as is).
    pub fn flip_rows(&self) -> bool {
        let Some(d) = &self.data else { return false };
        self.settings.north_up && d.south_first() && self.op.preset != Preset::Expression
    }

    /// The image's geographic frame: when the data set has latitude/longitude coordinates
    /// and the image shows them (a preset, or an expression whose result has the data's
    /// last two axes), with the view's north-up and longitude centring.
    pub fn map_frame(&self) -> Option<crate::map::geo::MapFrame> {
        let (d, g) = (self.data.as_ref()?, self.grid.as_ref()?);
        let ((_, lat), (_, lon)) = (d.rows_coord.as_ref()?, d.cols_coord.as_ref()?);
        if !d.geographic || g.chunks.ndim() < 2 {
            return None;
        }
        // the latitude and longitude of each image row and column
        let (lat, lon): (Vec<f64>, Vec<f64>) = match self.op.source_pixel(0, 0) {
            Some(_) => (
                (0..g.rows).map(|r| self.op.source_pixel(r, 0).and_then(|p| lat.get(p.0).copied())).collect::<Option<_>>()?,
                (0..g.cols).map(|c| self.op.source_pixel(0, c).and_then(|p| lon.get(p.1).copied())).collect::<Option<_>>()?,
            ),
            None if (g.rows, g.cols) == (lat.len(), lon.len()) => (lat.clone(), lon.clone()),
            None => return None,
        };
        crate::map::geo::MapFrame::new(lat, lon, self.flip_rows(), self.settings.centre_lon)
    }

    /// The curvilinear grid of the image: when the data set has 2-D latitude and longitude
    /// and the image shows its cells as stored.
    pub fn curvilinear(&self) -> Option<crate::map::curvilinear::Shared> {
        let (d, g) = (self.data.as_ref()?, self.grid.as_ref()?);
        let c = d.curvilinear.as_ref()?;
        let same = (g.rows, g.cols) == (c.0.grid.rows, c.0.grid.cols) && self.op.source_pixel(1, 1).is_none_or(|p| p == (1, 1));
        same.then(|| c.clone())
    }

    /// The projected map of `frame` when the view draws one (a projection other than the
    /// grid's own), centred on the centred longitude.
    pub fn projected_frame(&self, frame: crate::map::geo::MapFrame) -> Option<crate::map::projected::ProjectedFrame> {
        let p = self.settings.projection;
        if p == crate::map::projection::Projection::Equirectangular {
            return None;
        }
        // the centre asked for (resampling has no half-cell offset), else the data's middle
        let (west, east) = frame.lon_span();
        let lon0 = self.settings.centre_lon.filter(|_| frame.periodic).unwrap_or((west + east) / 2.0);
        Some(crate::map::projected::ProjectedFrame::new(p, frame, lon0))
    }

    /// Natural Earth's outlines, once decoded (the first call starts that, off the UI thread,
    /// and a frame is asked for when it is done).
    pub fn outlines(&self) -> Option<Arc<crate::map::coastlines::Outlines>> {
        crate::map::coastlines::outlines(self.repaint_fn())
    }

    /// Cancels the display job (its late tiles are dropped) and a cache fill after one.
    pub fn cancel(&mut self) {
        self.anomaly_after_mean = false;
        if let Some((_, f)) = self.filling.take() {
            f.cancel.cancel();
        }
        if let Some(j) = self.job.take() {
            j.cancel();
            self.status.outcome = Some(Err(ExecError::Cancelled));
            self.status.finished = Some(Instant::now());
        }
    }

    /// The time mean of the open data set (what day − mean subtracts).
    fn mean_array(&self) -> Option<Array> {
        let data = self.data.as_ref()?;
        self.parsed.get("nanmean(x, axis=0)", &data.array).ok().map(|p| p.array)
    }

    /// Whether the time mean is small enough to keep in memory for day − mean (256 MB).
    fn mean_fits(&self) -> bool {
        self.data.as_ref().is_some_and(|d| {
            let s = d.array.shape();
            s.len() >= 3 && s[1..].iter().product::<usize>() * 8 <= 256 << 20
        })
    }

    /// Builds the array for the current operation, or records the expression error.
    fn display_array(&mut self) -> Option<Array> {
        let data = self.data.as_ref()?;
        let nd = data.array.ndim();
        let evaluated = if self.op.preset == Preset::DayMinusMean
            && nd >= 3
            && let Some(m) = &self.mean_cache
        {
            // x[d] - m with the cached mean, blocked like x[d]: the same numbers, one day read.
            let day = data.array.index(&[gridlens::expr::IndexItem::Int(self.op.day as i64)]).ok()?;
            let mean = Array::from_source(Arc::new(MemorySource::shared("time mean", m.clone(), Some(day.chunks().clone()))));
            Ok(Array::binary(day, gridlens::expr::BinaryOp::Sub, mean).ok()?)
        } else {
            self.parsed.get(&self.op.display_expression(nd), &data.array).map(|p| p.array)
        };
        match evaluated {
            Ok(a) => {
                self.expr_error = None;
                // images: show the last two axes of a result with more, at the picked day
                let a = if a.ndim() > 2 {
                    let lead: Vec<gridlens::expr::IndexItem> = (0..a.ndim() - 2)
                        .map(|k| gridlens::expr::IndexItem::Int(if k == 0 { self.op.day.min(a.shape()[0] - 1) as i64 } else { 0 }))
                        .collect();
                    a.index(&lead).ok()?
                } else {
                    a
                };
                Some(a)
            }
            Err(e) => {
                self.expr_error = Some(e);
                None
            }
        }
    }

    /// Starts computing the current operation; any running display job is cancelled.
    pub fn start(&mut self) {
        // A time mean still running is what Day − mean waits for and what Time mean shows:
        // it goes on rather than starting over from the first record.
        if self.job.is_some() && self.job_keeps_mean {
            match self.op.preset {
                Preset::DayMinusMean if self.mean_cache.is_none() => {
                    self.anomaly_after_mean = true;
                    let day = self.data.as_ref().map(|d| d.label(self.op.day)).unwrap_or_default();
                    self.status.label = format!("{} — {day}: the time mean first", Preset::DayMinusMean.label());
                    return;
                }
                Preset::TimeMean => {
                    self.anomaly_after_mean = false;
                    self.status.label = Preset::TimeMean.label().to_string();
                    return;
                }
                _ => {}
            }
        }
        // Day − mean without the mean computes the mean first and keeps it, so that every
        // other day is one day's read and a subtraction.
        let mean_first = self.op.preset == Preset::DayMinusMean && self.mean_cache.is_none() && self.days() > 1 && self.mean_fits();
        // an invalid expression leaves the current result (and its job) as they are
        let array = if mean_first { self.mean_array() } else { self.display_array() };
        let Some(array) = array else { return };
        self.cancel();
        let id = self.next_job;
        self.next_job += 1;
        let day = || self.data.as_ref().map(|d| d.label(self.op.day)).unwrap_or_default();
        let label = match self.op.preset {
            _ if mean_first => format!("{} — {}: the time mean first", Preset::DayMinusMean.label(), day()),
            Preset::Expression => self.op.expression.clone(),
            p if p.uses_day() => format!("{} — {}", p.label(), day()),
            p => p.label().to_string(),
        };
        let keep = (self.op.preset == Preset::TimeMean || mean_first) && self.days() > 1 && self.mean_fits();
        self.job_keeps_mean = keep;
        self.anomaly_after_mean = mean_first;
        self.status = JobStatus { label: label.clone(), started: Some(Instant::now()), ..Default::default() };
        self.job = Some(Job::start(id, label, array, keep, self.cache.clone(), self.options.tuning, self.wake.clone()));
        self.spans.clear();
        self.span_cursor = 0;
        self.view.visible.clear();
        self.anomaly_colors();
    }

    /// Anomalies get a diverging colormap, symmetric around zero; other results get back
    /// what the user had, unless they chose colors themselves in the meantime. The time mean
    /// Day − mean computes first is not an anomaly: it keeps the user's colors until the
    /// anomaly itself starts.
    fn anomaly_colors(&mut self) {
        let anomaly = self.op.preset == Preset::DayMinusMean && !self.anomaly_after_mean;
        match (&self.anomaly_restore, anomaly) {
            (None, true) if self.settings.range_mode != RangeMode::Manual => {
                self.anomaly_restore = Some((self.settings.colormap.clone(), self.settings.range_mode));
                self.settings.colormap = "RdBu_r".into();
                self.settings.range_mode = RangeMode::Symmetric;
            }
            (Some((cm, mode)), false) => {
                if self.settings.colormap == "RdBu_r" && self.settings.range_mode == RangeMode::Symmetric {
                    self.settings.colormap = cm.clone();
                    self.settings.range_mode = *mode;
                }
                self.anomaly_restore = None;
            }
            _ => {}
        }
    }

    /// Applies one command.
    pub fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Open(sources) => {
                self.browser = None;
                self.open(sources);
            }
            Command::OpenDataset(path) => {
                let Some(d) = &self.data else { return };
                let sources = d.sources.iter().map(|s| format!("{}:{path}", gridlens::io::SourceSpec::parse(s).pattern)).collect();
                self.open(sources);
            }
            Command::SystemDialog => browser::system_dialog(self.picked.clone(), self.repaint_fn()),
            Command::SetVisible(order) => self.prioritize(order),
            Command::ShowBrowser(mode) => {
                let dir = if self.settings.browse_dir.is_empty() {
                    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
                } else {
                    PathBuf::from(&self.settings.browse_dir)
                };
                self.browser = Some(Browser::new(mode, dir, self.repaint_fn()));
            }
            Command::CloseBrowser => self.browser = None,
            Command::BrowseTo(dir) => {
                let r = self.repaint_fn();
                if let Some(b) = self.browser.as_mut() {
                    self.settings.browse_dir = dir.display().to_string();
                    b.go(dir, r);
                }
            }
            Command::SetPreset(p) => {
                self.layout_changes |= p != self.op.preset;
                self.op.preset = p;
                if p != Preset::Expression {
                    self.start();
                } else {
                    self.cancel();
                }
            }
            Command::SetDay(d) => {
                self.op.day = d.min(self.days().saturating_sub(1));
                if let Some(log) = &mut self.frame_log {
                    log.day(self.op.day);
                }
                if self.op.preset.uses_day() || self.op.preset == Preset::Expression {
                    self.start();
                }
            }
            Command::StepDay(delta) => {
                let n = self.days() as i64;
                let d = (self.op.day as i64 + delta).clamp(0, (n - 1).max(0));
                self.apply(Command::SetDay(d as usize));
            }
            Command::SetFactor(a, b) => {
                self.op.factor = (a.max(1), b.max(1));
                if self.op.preset == Preset::Subsample {
                    self.start();
                }
            }
            Command::ComputeExpression => {
                self.op.preset = Preset::Expression;
                self.start();
            }
            Command::Recompute => self.start(),
            Command::Cancel => {
                self.cancel();
                if let Some(j) = &self.export.job {
                    j.cancel();
                }
            }
            Command::SetColormap(c) => {
                self.settings.colormap = c;
                self.anomaly_restore = None;
            }
            Command::SetReversed(r) => self.settings.reversed = r,
            Command::SetRangeMode(m) => {
                if m == RangeMode::Manual
                    && self.settings.range_mode != RangeMode::Manual
                    && let Some(k) = &self.color_key
                {
                    self.settings.manual_range = (k.range.0 as f64, k.range.1 as f64);
                }
                self.settings.range_mode = m;
            }
            Command::SetManualRange(a, b) => {
                self.settings.range_mode = RangeMode::Manual;
                self.settings.manual_range = (a, b);
            }
            Command::Fit => self.view.fit = true,
            Command::OneToOne => {
                self.view.zoom = 1.0;
                self.view.fitted = None;
            }
            Command::ToggleNorthUp => self.settings.north_up = !self.settings.north_up,
            Command::ToggleCoastlines => self.settings.coastlines = !self.settings.coastlines,
            Command::ToggleBorders => self.settings.borders = !self.settings.borders,
            Command::ToggleGraticule => self.settings.graticule = !self.settings.graticule,
            Command::SetCentre(c) => self.settings.centre_lon = c,
            Command::SetProjection(p) => {
                if p != self.settings.projection {
                    self.settings.projection = p;
                    // another image to pan over: it starts fitted
                    self.view.fit = true;
                }
            }
            Command::Pick(r, c) => self.pick(r, c),
            Command::ShowExport(open) => {
                self.export.open = open;
                if open {
                    self.prepare_export_form();
                }
            }
            Command::StartExport => self.start_export(),
            Command::OpenFolder(p) => {
                let dir = if p.is_dir() { p } else { p.parent().map(PathBuf::from).unwrap_or_default() };
                if let Err(e) = std::process::Command::new("xdg-open").arg(&dir).spawn() {
                    self.error(format!("cannot open {}: {e}", dir.display()));
                }
            }
            Command::DismissMessage(i) => {
                if i < self.messages.len() {
                    self.messages.remove(i);
                }
            }
            Command::SetCacheBudget(gib) => {
                self.settings.cache_gib = gib.max(0.0);
                self.cache.set_budget(self.settings.cache_budget());
            }
            Command::ClearCache => self.cache.clear(),
        }
    }

    fn pick(&mut self, row: usize, col: usize) {
        if let Some(log) = &mut self.frame_log {
            log.pick(row, col);
        }
        let Some(data) = &self.data else { return };
        if data.array.ndim() < 3 {
            return;
        }
        let shape = data.array.shape();
        let nd = shape.len();
        let (r, c) = match self.op.source_pixel(row, col) {
            Some(p) => p,
            None => match &self.grid {
                Some(g) if (g.rows, g.cols) == (shape[nd - 2], shape[nd - 1]) => (row, col),
                _ => {
                    self.info("the time series needs a result on the data's grid");
                    return;
                }
            },
        };
        if r >= shape[nd - 2] || c >= shape[nd - 1] {
            return;
        }
        // x[:, 0, …, r, c]: the whole stack axis at the pixel (any axes between at 0)
        use gridlens::expr::IndexItem;
        let mut items = vec![IndexItem::Slice { start: None, stop: None, step: None }];
        items.extend((3..nd).map(|_| IndexItem::Int(0)));
        items.extend([IndexItem::Int(r as i64), IndexItem::Int(c as i64)]);
        match data.array.index(&items) {
            Ok(a) => {
                if let Some(s) = &self.series
                    && let Some(j) = &s.job
                {
                    j.control.cancel.cancel();
                }
                let job = Small::start(a, self.cache.clone(), self.wake.clone());
                self.series = Some(Series { pixel: (row, col), source_pixel: (r, c), job: Some(job), values: None, error: None });
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    /// Picks up everything background threads have finished; never waits.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if let Some((rx, progress)) = &mut self.demo {
            let mut done = None;
            while let Ok(ev) = rx.try_recv() {
                match ev {
                    DemoEvent::Progress(a, b) => *progress = (a, b),
                    DemoEvent::Done(r) => done = Some(r),
                }
            }
            match done {
                Some(Ok(source)) => {
                    self.demo = None;
                    self.open(vec![source]);
                }
                Some(Err(e)) => {
                    self.demo = None;
                    self.error(format!("could not write the demo data: {e}"));
                }
                None => {}
            }
        }
        if let Some((sources, rx)) = &self.loading
            && let Ok(r) = rx.try_recv()
        {
            let sources = sources.clone();
            self.loading = None;
            match r {
                Ok(d) => {
                    self.layout_changes = true;
                    self.settings.remember(&sources);
                    self.data = Some(d);
                    self.mean_cache = None;
                    self.series = None;
                    self.op.day = self.op.day.min(self.days().saturating_sub(1));
                    self.view.fit = true;
                    if self.op.preset == Preset::Expression && self.expr_error.is_some() {
                        self.op.preset = Preset::TimeMean;
                    }
                    self.start();
                }
                Err(e) => self.error(e),
            }
        }
        self.poll_job();
        self.poll_fill();
        self.poll_colors(ctx);
        if let Some(s) = &mut self.series
            && let Some(j) = &s.job
            && let Ok(r) = j.result.try_recv()
        {
            s.job = None;
            match r {
                Ok(b) => {
                    s.values = Some((0..b.len()).map(|i| b.data().get_f64(i)).collect());
                    if let Some(log) = &mut self.frame_log {
                        log.series(s.pixel.0, s.pixel.1);
                    }
                }
                Err(e) => s.error = Some(e),
            }
        }
        self.poll_export();
        if let Some(b) = self.browser.as_mut() {
            b.poll();
        }
    }

    /// Notes the end of a cache fill.
    fn poll_fill(&mut self) {
        let Some((job, control)) = &self.filling else { return };
        let snap = control.progress.snapshot();
        if snap.state != gridlens::exec::JobState::Running {
            if let Some(log) = &mut self.frame_log {
                log.filled(*job, snap.done[gridlens::plan::Stage::Decode.index()]);
            }
            self.filling = None;
        }
    }

    fn poll_job(&mut self) {
        let Some(job) = &self.job else { return };
        let id = job.id;
        let deadline = Instant::now() + Duration::from_millis(4);
        let mut finished = None;
        let mut changed = None;
        let mut tiles = 0;
        // bounded work per frame: the rest waits for the next frame
        while Instant::now() < deadline && tiles < 1024 {
            let Ok(ev) = job.events.try_recv() else { break };
            match ev {
                JobEvent::Planned { explain, chunks } => {
                    // In software rendering a short job (under about a second of reading) waits
                    // for the frames that draw its panels, which would otherwise take a good
                    // part of its cores; a long one starts at once, for its first picture.
                    let wait = self.renderer.software && explain.read_bytes < SHORT_JOB_BYTES && std::mem::take(&mut self.layout_changes);
                    self.awaiting_go = Some(wait);
                    self.status.explain = Some(explain);
                    let grid = TileGrid::new(id, chunks);
                    // a result of another size starts fitted to the view
                    if self.grid.as_ref().is_none_or(|g| (g.rows, g.cols) != (grid.rows, grid.cols)) {
                        self.view.fit = true;
                    }
                    self.grid = Some(grid);
                }
                JobEvent::Tile(t) => {
                    tiles += 1;
                    if t.job != id {
                        continue;
                    }
                    if self.status.first_tile.is_none() {
                        self.status.first_tile = self.status.started.map(|s| s.elapsed());
                    }
                    if self.status.first_picture.is_none() {
                        self.status.first_picture = self.status.first_tile;
                    }
                    if let Some(log) = &mut self.frame_log {
                        log.tile(t.job, t.index);
                    }
                    if let Some(g) = self.grid.as_mut().filter(|g| g.job == id) {
                        g.insert(t);
                    }
                }
                JobEvent::Partial { tile, done, total, func } => {
                    if tile.job != id {
                        continue;
                    }
                    if let Some(g) = self.grid.as_mut().filter(|g| g.job == id)
                        && g.insert_partial(tile, func, done, total)
                    {
                        if self.status.first_picture.is_none() {
                            self.status.first_picture = self.status.started.map(|s| s.elapsed());
                        }
                        if let Some(log) = &mut self.frame_log {
                            log.partial(id, done as f64 / total.max(1) as f64);
                        }
                    }
                }
                JobEvent::Finished(r, took) => finished = Some((r, took)),
                JobEvent::Kept(block) => self.mean_cache = Some(block),
                JobEvent::Filling(control) => self.filling = Some((id, control)),
                JobEvent::Changed(why) => {
                    // the job ends here: what follows is its Finished(cancelled)
                    changed = Some(why);
                    finished = Some((Err(ExecError::Cancelled), Duration::ZERO));
                    break;
                }
            }
        }
        let new_spans = job.control.progress.spans_since(self.span_cursor);
        self.span_cursor += new_spans.len();
        self.spans.extend(new_spans);
        const KEEP: usize = 20_000;
        if self.spans.len() > KEEP {
            self.spans.drain(..self.spans.len() - KEEP);
        }
        if let Some((r, took)) = finished {
            // the job's own time, not when this frame noticed it
            self.status.finished = Some(self.status.started.map_or_else(Instant::now, |s| s + took));
            if let Some(log) = &mut self.frame_log {
                log.done(id, took.as_secs_f64());
            }
            if let Err(e) = &r
                && *e != ExecError::Cancelled
            {
                self.error(e.to_string());
            }
            self.status.outcome = Some(r);
            self.job = None;
            self.job_keeps_mean = false;
            if let Some(why) = changed {
                self.anomaly_after_mean = false;
                self.status.outcome = None;
                self.reopen(why);
                return;
            }
            if std::mem::take(&mut self.anomaly_after_mean) && self.op.preset == Preset::DayMinusMean && self.mean_cache.is_some() {
                self.start();
            }
        }
    }

    /// Sends the engine the order in which to compute tiles: visible first, nearest the centre first.
    pub fn prioritize(&mut self, visible: Vec<usize>) {
        if visible == self.view.visible {
            return;
        }
        self.view.visible = visible.clone();
        let (Some(job), Some(g)) = (&self.job, &self.grid) else { return };
        let n = g.slots.len();
        let mut prio = vec![u32::MAX / 2; n];
        for (rank, &k) in visible.iter().enumerate() {
            if k < n {
                prio[k] = rank as u32;
            }
        }
        job.control.set_priorities(prio);
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let typing = ctx.memory(|m| m.focused().is_some());
        let (open, esc, fit, left, right) = ctx.input(|i| {
            (
                i.modifiers.command && i.key_pressed(egui::Key::O),
                i.key_pressed(egui::Key::Escape),
                !i.modifiers.any() && i.key_pressed(egui::Key::F),
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
            )
        });
        if open {
            self.apply(Command::ShowBrowser(BrowseMode::Open));
        }
        if esc {
            if self.browser.is_some() {
                self.browser = None;
            } else {
                self.apply(Command::Cancel);
            }
        }
        if typing {
            return;
        }
        if fit {
            self.apply(Command::Fit);
        }
        if self.op.preset.uses_day() {
            if left {
                self.apply(Command::StepDay(-1));
            }
            if right {
                self.apply(Command::StepDay(1));
            }
        }
    }

    fn dropped_files(&mut self, ctx: &egui::Context) {
        let picked: Vec<String> = std::mem::take(&mut *self.picked.lock().expect("picked files lock"));
        if !picked.is_empty() {
            self.apply(Command::Open(picked));
        }
        let dropped: Vec<String> =
            ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().display().to_string()).filter(|p| !p.is_empty()).collect());
        if !dropped.is_empty() {
            self.apply(Command::Open(dropped));
        }
    }
}

impl eframe::App for GridlensApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let t0 = Instant::now();
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        // a planned job runs once its panels are drawn and egui has settled their layout (it
        // asks for a few frames at once after a change)
        let settled = self.frames >= 2 && !ctx.requested_repaint_last_pass();
        if let Some(wait) = self.awaiting_go
            && (!wait || settled)
        {
            self.awaiting_go = None;
            if let Some(j) = self.job.as_mut() {
                j.go();
            }
        }
        self.dropped_files(&ctx);
        self.handle_keys(&ctx);
        let commands = ui::draw(ui, self);
        for c in commands {
            self.apply(c);
        }
        let busy =
            self.job.is_some() || self.loading.is_some() || self.demo.is_some() || self.export.job.is_some() || self.filling.is_some();
        if busy {
            // progress panels tick even when no tile arrives (less often when drawing in software)
            ctx.request_repaint_after(self.renderer.streaming_interval().max(Duration::from_millis(100)));
        }
        if let Some(log) = &mut self.frame_log {
            log.frame(t0.elapsed());
        }
        self.frames += 1;
        if self.awaiting_go.is_some() {
            ctx.request_repaint_after(Duration::from_millis(20));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}

/// Runs the app in a window.
///
/// # Errors
/// When no window can be opened (no display).
pub fn run(options: AppOptions) -> eframe::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([1400.0, 860.0]).with_title("gridlens").with_drag_and_drop(true),
        renderer: renderer::choose(),
        ..Default::default()
    };
    eframe::run_native("gridlens", native, Box::new(move |cc| Ok(Box::new(GridlensApp::new(cc, options)))))
}
