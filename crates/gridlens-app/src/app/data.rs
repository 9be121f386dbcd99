//! Opening a data set in the background: files or globs, stacked along a new first axis,
//! with the file list, the file's group tree, attributes and coordinates for the panels.
//! Everything here runs off the UI thread, through the library's `io` (the app makes no
//! HDF5 calls of its own).

use crossbeam_channel::{Receiver, bounded};
use gridlens::io::{OpenOptions, SourceSpec};
use gridlens::source::{Metadata, Source};
use gridlens::{Array, Plan};
use std::path::PathBuf;
use std::sync::Arc;

/// An opened data set: the stacked array and what the panels show about it.
pub struct DataSet {
    /// The SOURCE strings it was opened from.
    pub sources: Vec<String>,
    pub array: Array,
    pub source: Arc<dyn Source>,
    pub files: Vec<(PathBuf, u64)>,
    /// The group tree of the first file (HDF5/NetCDF4 only).
    pub tree: Option<gridlens::io::hdf5::FileTree>,
    pub metadata: Metadata,
    /// A label per index of the first axis (dates or file names) when it is a stack.
    pub labels: Vec<String>,
    /// Coordinates of the last two axes (latitude-like rows, longitude-like columns).
    pub rows_coord: Option<(String, Vec<f64>)>,
    pub cols_coord: Option<(String, Vec<f64>)>,
    /// The rows coordinate is a latitude and the columns one a longitude (by CF units or
    /// standard name, else by name), so the image is a map.
    pub geographic: bool,
    /// The latitude and longitude of every cell when the grid is curvilinear.
    pub curvilinear: Option<crate::map::curvilinear::Shared>,
    /// Tasks of a plain read of the array (the table's "tasks" for the input).
    pub read_tasks: usize,
}

impl DataSet {
    /// Whether the image rows run south to north: a latitude coordinate on the rows axis
    /// whose values ascend (row 0 is the southernmost), so that drawing row 0 at the top
    /// would put the map upside down.
    pub fn south_first(&self) -> bool {
        if let Some(g) = &self.curvilinear {
            // a curvilinear grid: its last row lies north of its first on average
            let (rows, cols) = (g.0.grid.rows, g.0.grid.cols);
            let mean = |r: usize| g.0.grid.lat[r * cols..(r + 1) * cols].iter().sum::<f64>() / cols as f64;
            return !self.geographic && rows >= 2 && mean(0) < mean(rows - 1);
        }
        self.geographic && self.rows_coord.as_ref().is_some_and(|(_, v)| v.len() >= 2 && v[0] < v[v.len() - 1])
    }

    pub fn units(&self) -> Option<&str> {
        self.metadata.units()
    }

    pub fn name(&self) -> String {
        self.metadata.long_name().map(str::to_string).unwrap_or_else(|| self.source.describe())
    }

    /// The name of the first axis of a stack: its coordinate's (`time`, `file`), else `index`.
    pub fn stack_axis(&self) -> &str {
        self.metadata.coords.first().and_then(|c| c.as_ref()).map(|c| c.name.as_str()).unwrap_or("index")
    }

    /// A short label for stack index `i`.
    pub fn label(&self, i: usize) -> String {
        self.labels.get(i).cloned().unwrap_or_else(|| format!("{i}"))
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
}

/// Opens `sources` on a background thread; the receiver yields the result once.
pub fn load(sources: Vec<String>, repaint: impl Fn() + Send + 'static) -> Receiver<Result<DataSet, String>> {
    let (tx, rx) = bounded(1);
    std::thread::Builder::new()
        .name("gridlens-open".into())
        .spawn(move || {
            let r = open(&sources).map_err(|e| e.to_string());
            let _ = tx.send(r);
            repaint();
        })
        .expect("spawn open thread");
    rx
}

fn open(sources: &[String]) -> Result<DataSet, gridlens::Error> {
    let opts = OpenOptions::default();
    let specs: Vec<SourceSpec> = sources.iter().map(|s| SourceSpec::parse(s)).collect();
    // several files picked one by one are stacked in name order, like a glob
    let (source, files) = gridlens::io::open_sources(&specs, &opts)?;
    let sized: Vec<(PathBuf, u64)> = files.iter().map(|f| (f.clone(), file_size(f))).collect();
    let tree = sized.first().and_then(|(f, _)| match gridlens::io::Format::of(f) {
        Some(gridlens::io::Format::Hdf5) | None => gridlens::io::hdf5::describe_file(f).ok(),
        _ => None,
    });
    let metadata = source.metadata();
    let nd = source.shape().len();
    let coord = |axis: usize| -> Option<(String, Vec<f64>)> {
        let c = metadata.coords.get(axis)?.as_ref()?;
        (!c.values.is_empty()).then(|| (c.name.clone(), c.values.clone()))
    };
    let labels = metadata.coords.first().and_then(|c| c.as_ref()).map(|c| c.labels.clone()).unwrap_or_default();
    let (rows_coord, cols_coord) = if nd >= 2 { (coord(nd - 2), coord(nd - 1)) } else { (None, None) };
    let geographic = rows_coord.is_some() && cols_coord.is_some() && crate::map::geo::lat_lon(&metadata).is_some();
    let curvilinear = metadata
        .grid
        .clone()
        .filter(|g| nd >= 2 && (g.rows, g.cols) == (source.shape()[nd - 2], source.shape()[nd - 1]))
        .map(|g| crate::map::curvilinear::Shared(Arc::new(crate::map::curvilinear::Curvilinear::new(g))));
    let array = Array::from_source(source.clone());
    let read_tasks = Plan::build(&array, false).map(|p| p.tasks.len()).unwrap_or(0);
    Ok(DataSet {
        sources: sources.to_vec(),
        array,
        source,
        files: sized,
        tree,
        metadata,
        labels,
        rows_coord,
        cols_coord,
        geographic,
        curvilinear,
        read_tasks,
    })
}

fn file_size(p: &PathBuf) -> u64 {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => dir_size(p),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

fn dir_size(p: &PathBuf) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            if path.is_dir() { dir_size(&path) } else { e.metadata().map(|m| m.len()).unwrap_or(0) }
        })
        .sum()
}

/// The demo data set of the first start: generated once into the cache directory.
pub struct DemoSpec {
    pub dir: PathBuf,
    pub days: usize,
    pub shape: (usize, usize),
    /// Storage chunks (rows, columns); `None`: the demo default (500 × 500).
    pub chunks: Option<(usize, usize)>,
}

impl DemoSpec {
    /// Where the demo files live; `GRIDLENS_DEMO_DIR` overrides the user's cache directory.
    pub fn default_location() -> DemoSpec {
        let shape = (720, 1440);
        let dir = std::env::var_os("GRIDLENS_DEMO_DIR").map(PathBuf::from).unwrap_or_else(|| {
            dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("gridlens").join(format!("demo-31x{}x{}", shape.0, shape.1))
        });
        DemoSpec { dir, days: 31, shape, chunks: None }
    }

    /// The SOURCE string of the demo set.
    pub fn source(&self) -> String {
        format!("{}/*.hdf5:/t2m", self.dir.display())
    }

    /// Whether every day's file is already there.
    pub fn is_complete(&self) -> bool {
        (0..self.days).all(|d| self.dir.join(format!("{}.hdf5", gridlens::io::demo::date_of_day(d))).exists())
    }
}

/// Progress of writing the demo set: (files done, files in total), then the outcome.
pub enum DemoEvent {
    Progress(usize, usize),
    Done(Result<String, String>),
}

/// Writes the demo files in the background.
pub fn write_demo(spec: &DemoSpec, repaint: impl Fn() + Send + Sync + 'static) -> Receiver<DemoEvent> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let dir = spec.dir.clone();
    let opts = gridlens::io::demo::DemoOptions {
        days: spec.days,
        shape: [spec.shape.0, spec.shape.1],
        chunks: spec.chunks.map(|c| [c.0, c.1]),
        ..Default::default()
    };
    let source = spec.source();
    let repaint = Arc::new(repaint);
    std::thread::Builder::new()
        .name("gridlens-demo".into())
        .spawn(move || {
            let t = tx.clone();
            let r = repaint.clone();
            let result = gridlens::io::demo::write_demo(&dir, &opts, &move |done, total| {
                let _ = t.send(DemoEvent::Progress(done, total));
                r();
            });
            let _ = tx.send(DemoEvent::Done(result.map(|_| source).map_err(|e| e.to_string())));
            repaint();
        })
        .expect("spawn demo thread");
    rx
}
