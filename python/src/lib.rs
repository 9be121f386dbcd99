//! `gridlens._gridlens`: the engine's lazy arrays for Python. An array is an expression over
//! named SOURCE strings (`x = "data/*.nc:/t2m"`), so that it can be rebuilt anywhere the
//! files are (a Dask worker) from its text alone; nothing is computed until `compute`,
//! `block` or `store`. The NumPy-shaped surface (methods, indexing, `to_dask`) is in
//! `gridlens/__init__.py`; errors carry the command line's one-line messages.

use gridlens::exec::piece::{Value, run_piece};
use gridlens::exec::{ExecOptions, JobControl, store};
use gridlens::expr::Array;
use gridlens::expr::parse::evaluate;
use gridlens::io::{OpenOptions, SourceSpec};
use gridlens::plan::pieces::Pieces;
use gridlens::plan::{Explain, Plan};
use gridlens::sink::provenance::{carried_attrs, history};
use gridlens::sink::{SinkSpec, WriteOptions};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The engine's blocks are megabytes each and come and go by the thousand. Dask's workers
/// set `MALLOC_TRIM_THRESHOLD_`, which turns off glibc's adaptive mmap threshold, so every
/// block was mapped and faulted in afresh: a task took 4-5× its time in a plain process
/// (0.09 s against 0.02 s for a weather block). mimalloc keeps freed memory for reuse, as
/// it does for the app.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(
    _gridlens,
    GridlensError,
    pyo3::exceptions::PyException,
    "An error of gridlens: bad input, a file that cannot be read, a failed computation."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    GridlensError::new_err(e.to_string())
}

/// A lazy array: `expr` over `inputs` (name → SOURCE), evaluated once into the engine's graph.
#[pyclass(module = "gridlens._gridlens", frozen)]
struct Lazy {
    expr: String,
    inputs: Vec<(String, String)>,
    array: Array,
    /// The plan and its pieces, built on first use (a worker builds them once per array).
    cut: OnceLock<(Plan, Pieces)>,
}

/// Opens the inputs and evaluates `expr` over them.
fn build(expr: &str, inputs: &[(String, String)]) -> PyResult<Array> {
    let mut names = HashMap::new();
    for (name, source) in inputs {
        let src = gridlens::io::open(&SourceSpec::parse(source), &OpenOptions::default()).map_err(err)?;
        names.insert(name.clone(), Array::from_source(src));
    }
    evaluate(expr, &names).map_err(err)
}

#[pymethods]
impl Lazy {
    #[new]
    fn new(expr: String, inputs: Vec<(String, String)>) -> PyResult<Lazy> {
        let array = build(&expr, &inputs)?;
        Ok(Lazy { expr, inputs, array, cut: OnceLock::new() })
    }

    #[getter]
    fn expr(&self) -> &str {
        &self.expr
    }

    #[getter]
    fn inputs(&self) -> Vec<(String, String)> {
        self.inputs.clone()
    }

    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.array.shape())
    }

    /// NumPy's name of the element type (`float32`).
    #[getter]
    fn dtype(&self) -> &'static str {
        self.array.dtype().name()
    }

    /// The block lengths along each axis, as dask's `chunks`.
    #[getter]
    fn chunks(&self) -> Vec<Vec<usize>> {
        self.array.chunks().axes().to_vec()
    }

    /// What computing it takes: the table `gridlens explain` prints.
    fn explain(&self) -> PyResult<String> {
        Ok(Explain::of(&self.cut()?.0).to_string())
    }

    /// (bytes, chunk bytes, blocks, tasks, bytes read): the numbers of the table.
    fn summary(&self) -> PyResult<(usize, usize, usize, usize, usize)> {
        let e = Explain::of(&self.cut()?.0);
        Ok((e.bytes, e.chunk_bytes, e.chunks, e.tasks, e.read_bytes))
    }

    /// Computes the whole array on local threads (`threads` 0: one per core) and returns its
    /// bytes in C order, native byte order; the Python side makes them a NumPy array. The GIL
    /// is released while the engine works.
    #[pyo3(signature = (threads = 0))]
    fn compute<'py>(&self, py: Python<'py>, threads: usize) -> PyResult<Bound<'py, PyBytes>> {
        let opts = ExecOptions { threads, ..Default::default() };
        let array = self.array.clone();
        let block = py.detach(|| gridlens::compute(&array, &opts)).map_err(err)?;
        Ok(PyBytes::new(py, block.data().as_bytes()))
    }

    /// The Dask tasks computing it (see `gridlens::plan::pieces`): for each piece, dependencies
    /// first, `(deps, output)` with `deps` the indices of the pieces whose values it reads and
    /// `output` the linear index of the output block it produces (`None` for an inner one).
    fn pieces(&self) -> PyResult<Vec<(Vec<usize>, Option<usize>)>> {
        let (_, pieces) = self.cut()?;
        Ok(pieces.pieces.iter().map(|p| (p.deps.clone(), p.output_block)).collect())
    }

    /// Runs piece `index` with the values of its dependencies (the bytes their pieces
    /// returned) and returns its own: an output block's elements in C order, native byte
    /// order (`raw`), or the value as bytes for the pieces that read it. The GIL is released
    /// while the engine works.
    #[pyo3(signature = (index, given, raw = false))]
    fn piece<'py>(&self, py: Python<'py>, index: usize, given: Vec<Bound<'py, PyBytes>>, raw: bool) -> PyResult<Bound<'py, PyBytes>> {
        let (plan, pieces) = self.cut()?;
        let values = given.iter().map(|b| Value::from_bytes(b.as_bytes())).collect::<Result<Vec<_>, _>>().map_err(err)?;
        drop(given);
        let value = py.detach(|| run_piece(plan, pieces, index, values, &JobControl::new())).map_err(err)?;
        Ok(match (&value, raw) {
            (Value::Block(b), true) => PyBytes::new(py, b.data().as_bytes()),
            (Value::Partial(_), true) => return Err(err(format!("piece {index} is not an output block"))),
            (_, false) => PyBytes::new(py, &value.to_bytes()),
        })
    }

    /// Stores the array as the command line's `-o` does (`out.zarr`, `out.h5:/var`, `.npy`,
    /// `.png`), never leaving a partial file; returns the path written.
    #[pyo3(signature = (target, overwrite = false, threads = 0))]
    fn store(&self, py: Python<'_>, target: &str, overwrite: bool, threads: usize) -> PyResult<String> {
        let plan = Plan::build(&self.array, true).map_err(err)?;
        let spec = SinkSpec {
            shape: self.array.shape(),
            dtype: self.array.dtype(),
            chunks: self.array.chunks().clone(),
            attrs: carried_attrs(&self.array),
            history: history(&self.expr, &self.inputs),
        };
        let wopts = WriteOptions { overwrite, ..Default::default() };
        let sink = gridlens::io::create_sink(target, &spec, &wopts).map_err(err)?;
        let opts = ExecOptions { threads, ..Default::default() };
        let path = py.detach(|| store(&plan, sink.as_ref(), &opts, &JobControl::new(), &|_, _| {})).map_err(err)?;
        Ok(path.display().to_string())
    }

    /// Pickles as its text: a worker rebuilds it by opening the same sources.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String, Vec<(String, String)>))> {
        let cls = py.get_type::<Lazy>().into_any();
        Ok((cls, (self.expr.clone(), self.inputs.clone())))
    }
}

impl Lazy {
    fn cut(&self) -> PyResult<&(Plan, Pieces)> {
        if let Some(c) = self.cut.get() {
            return Ok(c);
        }
        let plan = Plan::build(&self.array, false).map_err(err)?;
        let pieces = plan.pieces();
        Ok(self.cut.get_or_init(|| (plan, pieces)))
    }
}

/// `16.17 kiB`: byte counts as the command line and the app write them.
#[pyfunction]
fn format_bytes(n: usize) -> String {
    gridlens::chunks::format_bytes(n)
}

#[pymodule]
fn _gridlens(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Lazy>()?;
    m.add_function(wrap_pyfunction!(format_bytes, m)?)?;
    m.add("GridlensError", m.py().get_type::<GridlensError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
