"""gridlens from Python: lazy, chunked, parallel arrays over HDF5/NetCDF4/Zarr files.

    import gridlens as gl
    x = gl.open("data/*.nc:/t2m")                      # a lazy (time, lat, lon) stack
    anomaly = gl.evaluate("x[0] - nanmean(x, axis=0)", x="data/*.nc:/t2m")
    anomaly.compute()                                   # a NumPy array, on local threads
    anomaly.to_dask()                                   # a dask.array of gridlens tasks
    anomaly.compute(client=client)                      # on a distributed.Client
    anomaly.store("anomaly.zarr")                       # as `gridlens eval -o`

An array is an expression of the engine's language over named SOURCE strings; methods and
indexing build new expressions, and nothing is read until a result is asked for. The
engine (Rust) does the work; nothing here is reimplemented in Python.
"""

import re

import numpy as np

from ._gridlens import GridlensError, Lazy, __version__
from ._gridlens import format_bytes as _format_bytes

__all__ = ["Array", "GridlensError", "evaluate", "open", "__version__"]


def open(source, name="x"):
    """A lazy array of SOURCE = PATH_OR_GLOB[:DATASET]; a glob stacks its files."""
    return Array(Lazy(name, [(name, str(source))]))


def evaluate(expr, **inputs):
    """`expr` (NumPy syntax, the command line's language) over named inputs: SOURCE strings
    or gridlens Arrays."""
    return Array(_lazy(expr, inputs))


def _lazy(expr, inputs):
    bound, prelude = [], []
    for name, value in inputs.items():
        if isinstance(value, Array):
            # an array built elsewhere: its own inputs, renamed apart, and its expression
            renames = {}
            for inner, source in value._lazy.inputs:
                fresh = f"_{name}_{inner}"
                renames[inner] = fresh
                bound.append((fresh, source))
            *statements, last = _rename(value._lazy.expr, renames).split("; ")
            prelude += statements + [f"{name} = {last}"]
        else:
            bound.append((name, str(value)))
    text = "; ".join(prelude + [expr])
    return Lazy(text, bound)


def _rename(expr, renames):
    if not renames:
        return expr
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
    return pattern.sub(lambda m: renames[m.group(1)], expr)


def _index_text(key):
    if not isinstance(key, tuple):
        key = (key,)
    parts = []
    for k in key:
        if k is Ellipsis:
            parts.append("...")
        elif k is None:
            parts.append("None")
        elif isinstance(k, slice):
            a = "" if k.start is None else str(int(k.start))
            b = "" if k.stop is None else str(int(k.stop))
            parts.append(f"{a}:{b}" if k.step is None else f"{a}:{b}:{int(k.step)}")
        elif isinstance(k, (int, np.integer)):
            parts.append(str(int(k)))
        else:
            raise TypeError(f"gridlens indexes with integers, slices, None and ...; got {type(k).__name__}")
    return ", ".join(parts) if parts else "()"


def _scalar(v):
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))
    raise TypeError(f"gridlens combines arrays with numbers and gridlens arrays; got {type(v).__name__}")


class Array:
    """A lazy gridlens array (see the module's docs)."""

    __array_priority__ = 100

    def __init__(self, lazy):
        self._lazy = lazy

    # --- what it is --------------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self._lazy.shape)

    @property
    def dtype(self):
        return np.dtype(self._lazy.dtype)

    @property
    def chunks(self):
        return tuple(tuple(c) for c in self._lazy.chunks)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def expr(self):
        """The expression, and the sources its names are bound to."""
        return self._lazy.expr

    @property
    def inputs(self):
        return dict(self._lazy.inputs)

    def explain(self):
        """What computing it takes: shape, chunks, tasks per stage, bytes read, fused kernels."""
        return self._lazy.explain()

    def __repr__(self):
        return f"gridlens.Array<{self.expr}, shape={self.shape}, dtype={self.dtype}, chunksize={tuple(max(c) for c in self.chunks)}>"

    def _repr_html_(self):
        nbytes, chunk_bytes, blocks, tasks, read = self._lazy.summary()
        chunk = tuple(max(c) if c else 0 for c in self.chunks)
        rows = [
            ("Bytes", _format_bytes(nbytes), _format_bytes(chunk_bytes)),
            ("Shape", str(self.shape), str(chunk)),
            ("Dtype", str(self.dtype), ""),
            ("Count", f"{blocks} chunks, {tasks} tasks", ""),
            ("Reads", _format_bytes(read), ""),
        ]
        body = "".join(f"<tr><th>{a}</th><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
        return (
            f"<table><thead><tr><td></td><th>Array</th><th>Chunk</th></tr></thead><tbody>{body}</tbody></table>"
            f"<p><code>{self.expr}</code></p>"
        )

    # --- results -----------------------------------------------------------------------
    def compute(self, client=None, threads=0):
        """A NumPy array: on local threads, or on a `distributed.Client` (through `to_dask`)."""
        if client is not None:
            return client.compute(self.to_dask()).result()
        data = self._lazy.compute(threads)
        return np.frombuffer(data, dtype=self.dtype).reshape(self.shape).copy()

    def __array__(self, dtype=None, copy=None):
        a = self.compute()
        return a if dtype is None else a.astype(dtype)

    def store(self, target, overwrite=False, threads=0):
        """Writes it as `gridlens eval -o`: `out.zarr`, `out.h5:/var`, `out.npy`, `out.png`."""
        return self._lazy.store(str(target), overwrite, threads)

    def to_dask(self):
        """A dask.array of gridlens tasks, so it composes with xarray and any scheduler.

        The engine's plan is cut into coarse tasks (one per output block, per reduction group
        of up to `split_every` input blocks, and per node of the combine tree above them);
        each task rebuilds the array from its text where it runs, computes its part with
        gridlens's kernels (reading only the chunks it needs) and passes partial results on
        as bytes. The answer is the local one bit for bit: same groups, same merge order."""
        import dask.array as da

        graph, name, _ = self._graph(_output)
        return da.Array(graph, name, self.chunks, dtype=self.dtype)

    def _graph(self, output_task):
        """The Dask graph of `to_dask` with `output_task` computing the output blocks:
        (graph, name, keys), `keys[i]` the key of piece `i` (`(name, *block_index)` for an
        output block, `("gridlens-part-…", i)` for an inner piece)."""
        from dask.base import tokenize

        token = tokenize(self._lazy.expr, self._lazy.inputs)
        name, inner = "gridlens-" + token, "gridlens-part-" + token
        chunks = self.chunks
        grid = [len(c) for c in chunks]
        expr, inputs, dtype = self._lazy.expr, self._lazy.inputs, self._lazy.dtype
        keys, graph = [], {}
        for i, (deps, output) in enumerate(self._lazy.pieces()):
            given = [keys[d] for d in deps]
            if output is None:
                key = (inner, i)
                graph[key] = (_piece, expr, inputs, i, given)
            else:
                index = _unravel(output, grid)
                shape = tuple(chunks[d][j] for d, j in enumerate(index))
                key = (name, *index)
                graph[key] = (output_task, expr, inputs, i, given, shape, dtype)
            keys.append(key)
        return graph, name, keys

    # --- NumPy-named methods: new expressions --------------------------------------------
    def _derive(self, text):
        return Array(Lazy(text, self._lazy.inputs))

    def _method(self, name, axis=None, **kw):
        args = [] if axis is None else [f"axis={axis}"]
        args += [f"{k}={_scalar(v)}" for k, v in kw.items() if v is not None]
        return self._unary("{}." + name + "(" + ", ".join(args) + ")")

    def _unary(self, fmt):
        """The last statement of the expression, put through `fmt`."""
        *prelude, last = self.expr.split("; ")
        return self._derive("; ".join(prelude + [fmt.format(f"({last})")]))

    def std(self, axis=None, ddof=0):
        return self._method("std", axis, ddof=ddof or None)

    def var(self, axis=None, ddof=0):
        return self._method("var", axis, ddof=ddof or None)

    def astype(self, dtype):
        return self._unary("{}.astype(" + repr(np.dtype(dtype).name) + ")")

    def __getitem__(self, key):
        return self._unary("{}[" + _index_text(key) + "]")

    def _binary(self, other, op, reflected=False):
        if isinstance(other, Array):
            a, b = ("_b", "_a") if reflected else ("_a", "_b")
            return Array(_lazy(f"{a} {op} {b}", {"_a": self, "_b": other}))
        s = _scalar(other)
        return self._unary(f"{s} {op} {{}}" if reflected else f"{{}} {op} {s}")

    def __neg__(self):
        return self._unary("-{}")


def _unravel(linear, grid):
    """The block index of block number `linear` in C order (np.unravel_index, without its
    per-call cost: a 40-year stack has 350,640 blocks)."""
    index = [0] * len(grid)
    for d in range(len(grid) - 1, -1, -1):
        linear, index[d] = divmod(linear, grid[d])
    return tuple(index)


def _reduction(name):
    def method(self, axis=None):
        return self._method(name, axis)

    method.__name__ = name
    return method


def _nan_reduction(name):
    def method(self, axis=None):
        return self._unary(name + "({}" + ("" if axis is None else f", axis={axis}") + ")")

    method.__name__ = name
    return method


def _operator(op, reflected):
    return lambda self, other: self._binary(other, op, reflected)


for _name in ["sum", "mean", "min", "max"]:
    setattr(Array, _name, _reduction(_name))
for _name in ["nansum", "nanmean", "nanmin", "nanmax", "nanstd", "nanvar"]:
    setattr(Array, _name, _nan_reduction(_name))
for _name, _op in [("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"), ("pow", "**")]:
    setattr(Array, f"__{_name}__", _operator(_op, False))
    setattr(Array, f"__r{_name}__", _operator(_op, True))


_OPENED = {}


def _opened(expr, inputs):
    """The array `expr` over `inputs`, rebuilt once per process (a worker opens the files
    and plans once per array, not once per task)."""
    key = (expr, tuple(map(tuple, inputs)))
    lazy = _OPENED.get(key)
    if lazy is None:
        if len(_OPENED) > 64:
            _OPENED.clear()
        lazy = _OPENED[key] = Lazy(expr, [tuple(i) for i in inputs])
    return lazy


def _on_worker(run):
    """Runs `run()`, naming the Dask worker in a failure: a file one worker cannot see is
    that worker's problem."""
    try:
        return run()
    except GridlensError as e:
        where = _worker_address()
        raise GridlensError(f"on worker {where}: {e}" if where else str(e)) from None


def _piece(expr, inputs, index, given):
    """An inner task of `to_dask`: a reduction group's or a combine's partial, as bytes."""
    return _on_worker(lambda: _opened(expr, inputs).piece(index, given))


def _output(expr, inputs, index, given, shape, dtype):
    """An output task of `to_dask`: one block of the result, as a NumPy array."""
    data = _on_worker(lambda: _opened(expr, inputs).piece(index, given, True))
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()


def _worker_address():
    """The address of the Dask worker running this task, if any."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None
