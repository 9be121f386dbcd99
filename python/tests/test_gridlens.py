"""The Python package against NumPy and h5py on the h5py-written weather files, locally, through
dask's schedulers, and on a Dask cluster of two single-thread workers started here."""

import glob
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import gridlens as gl

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
WEATHER = os.path.join(ROOT, "tests", "data", "weather-small")
SOURCE = f"{WEATHER}/*.hdf5:/t2m"


@pytest.fixture(scope="module")
def stack():
    files = sorted(glob.glob(f"{WEATHER}/*.hdf5"))
    return np.stack([h5py.File(f)["t2m"][:] for f in files])


def test_an_array_has_numpy_shape_dtype_and_dask_chunks(stack):
    x = gl.open(SOURCE)
    assert x.shape == stack.shape
    assert x.dtype == stack.dtype
    chunk = h5py.File(sorted(glob.glob(f"{WEATHER}/*.hdf5"))[0])["t2m"].chunks
    assert x.chunks[0] == (1,) * stack.shape[0]
    assert max(x.chunks[1]) == chunk[0] and sum(x.chunks[1]) == stack.shape[1]
    assert "Chunk" in x._repr_html_() and "tasks" in x._repr_html_()
    assert "read" in x.mean(axis=0).explain()


def test_the_seed_workloads_equal_numpy(stack):
    x = gl.open(SOURCE)
    mean = stack.mean(axis=0)
    np.testing.assert_allclose(x.mean(axis=0).compute(), mean, rtol=1e-13, atol=0)
    anomaly = gl.evaluate("x[3] - nanmean(x, axis=0)", x=SOURCE).compute()
    np.testing.assert_allclose(anomaly, stack[3] - mean, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(x[:, ::2, ::2].compute(), stack[:, ::2, ::2])
    total = x.astype("float32").sum().compute()
    # float32 sums accumulate and return float64 in gridlens (the README's one documented
    # difference from NumPy): compare with NumPy's float64 accumulation of the float32 values
    assert total.dtype == np.float64
    np.testing.assert_allclose(total, stack.astype(np.float32).sum(dtype=np.float64), rtol=1e-12)
    # arithmetic between arrays and with numbers, as NumPy
    np.testing.assert_allclose((x[0] - x.mean(axis=0)) * 2 + 1, (stack[0] - mean) * 2 + 1, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(x.nanmax(axis=0)), stack.max(axis=0))


def test_to_dask_computes_the_same_blocks_bit_for_bit():
    import dask

    a = gl.evaluate("x[0] - nanmean(x, axis=0)", x=SOURCE)
    d = a.to_dask()
    assert d.chunks == a.chunks and d.dtype == a.dtype
    local = a.compute()
    for scheduler in ["threads", "synchronous", "processes"]:
        np.testing.assert_array_equal(d.compute(scheduler=scheduler), local, err_msg=scheduler)
    # it composes with dask's own operations
    np.testing.assert_allclose((d * 2).mean().compute(), local.mean() * 2, rtol=1e-12)
    assert dask.base.tokenize(d) == dask.base.tokenize(a.to_dask()), "a deterministic graph name"


def test_a_reduction_runs_as_groups_and_a_combine_tree_bit_for_bit():
    # a corner of the field: one output block, so the 31 records must be split among workers
    m = gl.evaluate("nanmean(x[:, :40, :40], axis=0)", x=SOURCE)
    d = m.to_dask()
    graph = dict(d.__dask_graph__())
    # explain says how many Dask tasks there are
    assert f"On a Dask cluster: {len(graph)} tasks" in m.explain()
    # the reduction is split: groups of input blocks and a combine tree above them, not one
    # task per output block (which would use one worker thread for a whole-field mean)
    outputs = int(np.prod(d.numblocks))
    inner = [k for k in graph if k[0].startswith("gridlens-part-")]
    assert len(inner) >= 2 * outputs, (len(inner), outputs)
    np.testing.assert_array_equal(d.compute(scheduler="threads"), m.compute())
    for expr in ["x.mean(axis=0)", "nanstd(x, axis=0)", "argmax(x, axis=0)", "x.sum(axis=(0, 2))", "median(x[:, ::8, ::8], axis=0)"]:
        a = gl.evaluate(expr, x=SOURCE)
        np.testing.assert_array_equal(a.to_dask().compute(scheduler="threads"), a.compute(), err_msg=expr)


def test_store_writes_what_h5py_and_zarr_read_back(tmp_path, stack):
    import zarr

    m = gl.open(SOURCE).mean(axis=0)
    path = m.store(str(tmp_path / "mean.zarr"))
    np.testing.assert_array_equal(zarr.open(path, mode="r")[:], m.compute())
    h5 = m.store(str(tmp_path / "mean.h5") + ":/t2m_mean")
    with h5py.File(h5) as f:
        np.testing.assert_array_equal(f["t2m_mean"][:], m.compute())
    with pytest.raises(gl.GridlensError, match="overwrite"):
        m.store(str(tmp_path / "mean.zarr"))


def test_errors_are_python_exceptions_with_the_command_lines_message():
    with pytest.raises(gl.GridlensError, match="axis 3 is out of bounds"):
        gl.evaluate("x.mean(axis=3)", x=SOURCE)
    with pytest.raises(gl.GridlensError, match="matches no files"):
        gl.open("/nonexistent/*.nc:/t2m")
    with pytest.raises(TypeError):
        gl.open(SOURCE)[[1, 2]]


class Cluster:
    """`dask scheduler` and two single-thread `dask worker`s, as a user starts them."""

    def __init__(self, tmp):
        dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        self.file = str(tmp / "scheduler.json")
        env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
        self.scheduler = subprocess.Popen(
            dask + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", self.file],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.time() + 60
        while not os.path.exists(self.file):
            assert time.time() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        worker = [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", self.file]
        self.workers = subprocess.Popen(
            worker + ["--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        from distributed import Client

        self.client = Client(scheduler_file=self.file, timeout=60)
        self.client.wait_for_workers(2, timeout=60)

    def close(self):
        self.client.close()
        for p in [self.workers, self.scheduler]:
            p.send_signal(signal.SIGTERM)
        for p in [self.workers, self.scheduler]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("distributed")
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.close()


def test_the_seed_workloads_on_a_cluster_equal_the_local_results_bit_for_bit(cluster, tmp_path):
    for expr in ["x.mean(axis=0)", "x[0] - nanmean(x, axis=0)", "x[:, ::2, ::2]", "x.astype('float32').sum()"]:
        a = gl.evaluate(expr, x=SOURCE)
        np.testing.assert_array_equal(a.compute(client=cluster.client), a.compute(), err_msg=expr)
    # Lennard-Jones energy of a cluster of atoms (the seed's workload)
    rng = np.random.default_rng(0)
    np.save(tmp_path / "cluster.npy", rng.uniform(0, 10, size=(600, 3)))
    lj = gl.evaluate(
        "r2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1); sr6 = (1 / r2) ** 3; nansum(4 * (sr6 * sr6 - sr6)) / 2",
        c=str(tmp_path / "cluster.npy"),
    )
    np.testing.assert_array_equal(lj.compute(client=cluster.client), lj.compute())


def test_a_worker_killed_mid_job_still_gives_the_same_answer(cluster):
    # many blocks, each some tens of milliseconds: the job outlives a kill
    a = gl.evaluate("(x + random.normal(0, 1, size=(31, 180, 360), chunks=(31, 10, 10), seed=7)).std(axis=0)", x=SOURCE)
    local = a.compute()
    d = a.to_dask()
    future = cluster.client.compute(d)
    pids = cluster.client.run(os.getpid)
    time.sleep(0.5)
    victim = sorted(pids.values())[0]
    assert not future.done(), "the job ended before the kill: make it longer"
    os.kill(victim, signal.SIGKILL)
    np.testing.assert_array_equal(future.result(timeout=300), local)
    # the nanny started another worker in its place
    cluster.client.wait_for_workers(2, timeout=60)
    assert victim not in cluster.client.run(os.getpid).values()


def test_a_file_a_worker_cannot_open_names_the_worker_and_the_path(cluster, tmp_path):
    import shutil

    copy = tmp_path / "weather"
    shutil.copytree(WEATHER, copy)
    a = gl.open(f"{copy}/*.hdf5:/t2m").mean(axis=0)
    d = a.to_dask()
    # gone before the workers open it (as on a machine without the shared filesystem)
    shutil.rmtree(copy)
    with pytest.raises(Exception) as e:
        cluster.client.compute(d).result(timeout=120)
    assert "on worker tcp://" in str(e.value) and str(copy) in str(e.value), str(e.value)
