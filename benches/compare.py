#!/usr/bin/env python3
"""gridlens against its peers on the same files, in one run, alternating.

For each workload this runs the gridlens command line (the whole process, start-up
included) and its peers in turns — benches/dask_reference.py (dask's own compute time,
its Python start-up excluded) for the tutorial's workloads; CDO, NCO and xarray (whole
processes, xarray's compute time) for the archive workloads — and prints medians, the
ratios, the peak RSS of each process, and the machine's floor for the same data measured
in the same run: the time `cat` needs to read the files from the page cache (read floor),
or libdeflate inflating every chunk on all cores with the chunks already in memory
(decode floor, crates/gridlens/benches/decode_floor.rs). gridlens is also timed with 1 thread, to show the
scaling. Each run's answers are compared (the same digest, element-equal Zarr stores, the
sum within float32's rounding, the time mean within float32's rounding of NCO's), and a
disagreement stops the benchmark.

    python3 benches/compare.py                      # the 1 GB weather stack and the rest
    python3 benches/compare.py --full               # adds the 16.5 GB stack and the 1e9 sum
    python3 benches/compare.py --archives           # the ERA5-like month and 30 years of daily files
    python3 benches/compare.py --only mean,sum --runs 5

Data is written once into --data (default target/bench-data) with benches/make_weather.py
(h5py, the tutorial's prep.py), benches/dask_reference.py make-random, benches/make_era5.py
and benches/make_daily_years.py. Needs a Python with numpy, h5py, netCDF4, dask, xarray,
zarr and scikit-image (--python, default: this one; benches/requirements.txt); cdo and ncra
(Debian: apt-get install cdo nco) are skipped with a note where absent.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_measured(cmd, env=None):
    """Runs `cmd` as a child and reads its own peak RSS with os.wait4."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out_chunks, err_chunks = [], []
    # read the pipes until EOF, and reap the child with wait4 for its own rusage
    def drain(stream, acc):
        for chunk in iter(lambda: stream.read(65536), b""):
            acc.append(chunk)

    ts = [threading.Thread(target=drain, args=(p.stdout, out_chunks)), threading.Thread(target=drain, args=(p.stderr, err_chunks))]
    for t in ts:
        t.start()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    for t in ts:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {b''.join(err_chunks).decode()[-2000:]}")
    return wall, usage.ru_maxrss * 1024, b"".join(out_chunks).decode()


def ensure_data(args, needs):
    """Writes the data sets the chosen workloads read, once each."""
    os.makedirs(args.data, exist_ok=True)
    py = args.python
    for name, growth in (("weather-g8", 8), ("weather-g32", 32)):
        d = os.path.join(args.data, name)
        if name in needs and not (os.path.isdir(d) and len([f for f in os.listdir(d) if f.endswith(".hdf5")]) == 31):
            print(f"writing {d} (make_weather.py --growth {growth}) ...", file=sys.stderr)
            subprocess.check_call([py, os.path.join(HERE, "make_weather.py"), d, "--growth", str(growth)])
    for name, n in (("random.hdf5", 100_000_000), ("random-1e9.hdf5", 1_000_000_000)):
        f = os.path.join(args.data, name)
        if name in needs and not os.path.exists(f):
            print(f"writing {f} ({n:.0e} float32) ...", file=sys.stderr)
            subprocess.check_call([py, os.path.join(HERE, "dask_reference.py"), "make-random", "--file", f + ".part", "--n", str(n)])
            os.replace(f + ".part", f)
    for name, script in (("era5", "make_era5.py"), ("daily", "make_daily_years.py")):
        d = os.path.join(args.data, name)
        if name in needs and not os.path.exists(os.path.join(d, ".complete")):
            print(f"writing {d} ({script}) ...", file=sys.stderr)
            subprocess.check_call([py, os.path.join(HERE, script), d])
            open(os.path.join(d, ".complete"), "w").close()
    cl = os.path.join(args.data, "cluster7000.npy")
    if "cluster7000.npy" in needs and not os.path.exists(cl):
        # the same cluster dask_reference.py builds for `lj --n 7000`
        subprocess.check_call([py, "-c", (
            "import numpy as np, sys; rng = np.random.default_rng(1981); "
            "np.save(sys.argv[1], rng.normal(0, 500, (7000, 3)) - 0.5)"), cl])


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def check_digest(gl_out, dk):
    """gridlens' --stats line against dask_reference.py's digest of the same result."""
    g = json.loads(gl_out.strip().splitlines()[-1])
    d = dk["result"]
    if g["shape"] != d["shape"]:
        return f"shape {g['shape']} != dask's {d['shape']}"
    for k in ("sum", "min", "max", "first", "last"):
        if not close(g[k], d[k], 1e-9):
            return f"{k} {g[k]!r} != dask's {d[k]!r}"
    return None


def check_sum(gl_out, dk):
    """dask sums float32 in float32 (100003840.0 for the 1e8 sum); gridlens in float64.
    Their difference must stay within float32's rounding of the sum."""
    s, m = (float(v) for v in gl_out.strip().strip("[]").split())
    if not (close(s, dk["sum"], 1e-6) and close(m, dk["mean"], 1e-6)):
        return f"sum {s!r}, mean {m!r} != dask's {dk['sum']!r}, {dk['mean']!r} beyond float32 rounding"
    return None


def check_energy(gl_out, dk):
    e = float(gl_out.strip())
    return None if close(e, dk["energy"], 1e-9) else f"energy {e!r} != dask's {dk['energy']!r}"


def check_random(gl_out, dk):
    """Different generators, so only the shape and the law: means of 20000 draws of
    normal(10, 0.1) lie within 10 ± 0.1 / sqrt(20000) * 6."""
    g = json.loads(gl_out.strip().splitlines()[-1])
    d = dk["result"]
    if g["shape"] != d["shape"]:
        return f"shape {g['shape']} != dask's {d['shape']}"
    bound = 0.1 / 20000 ** 0.5 * 6
    if not (abs(g["min"] - 10) < bound and abs(g["max"] - 10) < bound):
        return f"column means {g['min']}..{g['max']} outside 10 ± {bound:.4f}"
    return None


def check_zarr(py, gl_path, dask_path):
    """Both Zarr outputs read back with zarr-python and compared element by element."""
    code = ("import sys, zarr, numpy as np; a = zarr.open(sys.argv[1], mode='r'); b = zarr.open(sys.argv[2], mode='r'); "
            "print('ok' if a.shape == b.shape and np.array_equal(a[...], b[...]) else f'{a.shape} vs {b.shape} or values differ')")
    out = subprocess.run([py, "-c", code, gl_path, dask_path], capture_output=True, text=True)
    msg = (out.stdout.strip() or out.stderr.strip()[-500:])
    return None if msg == "ok" else msg


def check_netcdf_mean(py, gl_path, peer_path, var="t2m", atol=0.0):
    """A time mean gridlens stored (HDF5, float64) against a peer's NetCDF output (float32,
    or float64 when the peer promotes): equal within float32's rounding, NaN where NaN. An
    anomaly (a day minus the mean) is near zero, so it is compared with `atol` too: the
    rounding of a float32 mean of values near 300 K, which the peers subtract."""
    code = ("import sys, h5py, netCDF4, numpy as np\n"
            "a = h5py.File(sys.argv[1], 'r')[sys.argv[3]][...].astype('f8')\n"
            "d = netCDF4.Dataset(sys.argv[2]); v = d[sys.argv[3]]; v.set_auto_mask(False)\n"
            "b = np.asarray(v[...], dtype='f8').reshape(a.shape)\n"
            "fill = getattr(v, '_FillValue', None)\n"
            "b = np.where(b == fill, np.nan, b) if fill is not None else b\n"
            "ok = np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a, b, rtol=2e-6, atol=float(sys.argv[4]), equal_nan=True)\n"
            "print('ok' if ok else f'max difference {np.nanmax(np.abs(a - b))}')")
    out = subprocess.run([py, "-c", code, gl_path, peer_path, var, str(atol)], capture_output=True, text=True)
    msg = out.stdout.strip() or out.stderr.strip()[-500:]
    return None if msg == "ok" else msg


# three float32 steps at 300 K (one is 3.05e-5): how far apart two float32 means may be
ANOMALY_ATOL = 1e-4


def xarray_script(kind):
    """xarray with dask on the threaded scheduler, timed from before open_mfdataset to the
    written result (the Python start-up excluded), as a user runs it."""
    body = {
        "mean": "r = ds.t2m.mean('time')",
        "anomaly": "r = ds.t2m.isel(time=0) - ds.t2m.mean('time')",
        "subsample": "r = ds.t2m[:, ::2, ::2]",
    }[kind]
    write = "r.to_dataset(name='t2m').to_zarr(sys.argv[2], mode='w')" if kind == "subsample" else "r.to_netcdf(sys.argv[2])"
    return ("import sys, glob, json, time, dask, xarray as xr\n"
            "dask.config.set(scheduler='threads')\n"
            "t = time.perf_counter()\n"
            "ds = xr.open_mfdataset(sorted(glob.glob(sys.argv[1])), combine='by_coords', parallel=False)\n"
            f"{body}\n{write}\n"
            "print(json.dumps({'compute_s': round(time.perf_counter() - t, 3)}))\n")


def archive_workloads(args):
    """The files archives deliver: an ERA5-like month of deflated NetCDF4 files, one record
    per chunk, and 30 years of daily files."""
    g, py, data = args.gridlens, args.python, args.data
    era5, daily = os.path.join(data, "era5"), os.path.join(data, "daily")
    e5, dy = f"{era5}/*.nc", f"{daily}/*/*.nc"
    out = os.path.join(data, "out")
    cdo = shutil.which("cdo")
    ncra = shutil.which("ncra")
    cache = os.path.join(data, "index-cache")
    def peer(name, cmd, timing="wall", check=None):
        return dict(name=name, cmd=cmd, timing=timing, check=check)
    def nco_check(path):
        return lambda: check_netcdf_mean(py, out + "-gl.h5", path)
    wl = [
        dict(name="era5-mean", what="ERA5 month (1.4 GB deflated): nanmean(x, axis=0) -> HDF5", needs="era5", floor="decode", floor_of=e5,
             gl=[g, "eval", "nanmean(x, axis=0)", "-i", f"x={e5}:/t2m", "-o", out + "-gl.h5:/t2m", "--overwrite"],
             peers=[p for p in [
                 ncra and peer("ncra", [ncra, "-O", *sorted_glob(e5), out + "-nco.nc"], check=nco_check(out + "-nco.nc")),
                 cdo and peer("cdo -P 2", [cdo, "-s", "-O", "-P", "2", "timmean", "-mergetime", *sorted_glob(e5), out + "-cdo.nc"],
                              check=lambda: check_netcdf_mean(py, out + "-gl.h5", out + "-cdo.nc")),
                 peer("xarray", [py, "-c", xarray_script("mean"), e5, out + "-xr.nc"], timing="compute_s",
                      check=lambda: check_netcdf_mean(py, out + "-gl.h5", out + "-xr.nc")),
             ] if p]),
        dict(name="era5-anomaly", what="ERA5 month: x[0] - nanmean(x, axis=0) -> HDF5", needs="era5", floor="decode", floor_of=e5,
             gl=[g, "eval", "x[0] - nanmean(x, axis=0)", "-i", f"x={e5}:/t2m", "-o", out + "-gl.h5:/t2m", "--overwrite"],
             peers=[p for p in [
                 cdo and peer("cdo -P 2", [cdo, "-s", "-O", "-P", "2", "sub", "-seltimestep,1", "[", "-mergetime", *sorted_glob(e5), "]",
                                           "-timmean", "[", "-mergetime", *sorted_glob(e5), "]", out + "-cdo.nc"],
                              check=lambda: check_netcdf_mean(py, out + "-gl.h5", out + "-cdo.nc", atol=ANOMALY_ATOL)),
                 peer("xarray", [py, "-c", xarray_script("anomaly"), e5, out + "-xr.nc"], timing="compute_s",
                      check=lambda: check_netcdf_mean(py, out + "-gl.h5", out + "-xr.nc", atol=ANOMALY_ATOL)),
             ] if p]),
        dict(name="era5-subsample", what="ERA5 month: x[:, ::2, ::2] -> Zarr", needs="era5", floor="decode", floor_of=e5,
             gl=[g, "eval", "x[:, ::2, ::2]", "-i", f"x={e5}:/t2m", "-o", out + "-gl.zarr", "--overwrite"],
             peers=[p for p in [
                 cdo and peer("cdo -P 2", [cdo, "-s", "-O", "-P", "2", "samplegrid,2", "-mergetime", *sorted_glob(e5), out + "-cdo.nc"]),
                 peer("xarray", [py, "-c", xarray_script("subsample"), e5, out + "-xr.zarr"], timing="compute_s"),
             ] if p]),
        # the first open of a set indexes every file (the cache directory emptied before the
        # run); later opens read the cached index
        dict(name="daily-first", what="30 years, 10,958 daily files: open + nanmean, first open", needs="daily", floor="cat", floor_of=dy,
             gl=[g, "eval", "nanmean(x, axis=0)", "-i", f"x={dy}:/t2m", "-o", out + "-gl.h5:/t2m", "--overwrite"],
             env={"XDG_CACHE_HOME": cache}, before=lambda: shutil.rmtree(cache, ignore_errors=True),
             peers=[p for p in [
                 ncra and peer("ncra", [ncra, "-O", *sorted_glob(dy), out + "-nco.nc"], check=nco_check(out + "-nco.nc")),
             ] if p]),
        dict(name="daily-again", what="30 years of daily files: open + nanmean, opened before", needs="daily", floor="cat", floor_of=dy,
             gl=[g, "eval", "nanmean(x, axis=0)", "-i", f"x={dy}:/t2m", "-o", out + "-gl.h5:/t2m", "--overwrite"],
             env={"XDG_CACHE_HOME": cache}, peers=[]),
        dict(name="daily-info-first", what="30 years of daily files: gridlens info, first open", needs="daily", floor=None,
             gl=[g, "info", f"{dy}:/t2m"], env={"XDG_CACHE_HOME": cache}, before=lambda: shutil.rmtree(cache, ignore_errors=True), peers=[]),
        dict(name="daily-info-again", what="30 years of daily files: gridlens info, opened before", needs="daily", floor=None,
             gl=[g, "info", f"{dy}:/t2m"], env={"XDG_CACHE_HOME": cache}, peers=[]),
    ]
    if args.all_peers:
        # minutes each: only on request
        wl[3]["peers"] += [p for p in [
            peer("xarray", [py, "-c", xarray_script("mean"), dy, out + "-xr.nc"], timing="compute_s",
                 check=lambda: check_netcdf_mean(py, out + "-gl.h5", out + "-xr.nc")),
            cdo and peer("cdo -P 2", [cdo, "-s", "-O", "-P", "2", "timmean", "-mergetime", *sorted_glob(dy), out + "-cdo.nc"]),
        ] if p]
    return wl


def sorted_glob(pattern):
    import glob
    return sorted(glob.glob(pattern))


def decode_floor_tool():
    """Builds crates/gridlens/benches/decode_floor.rs once and returns its executable (run directly, so that
    nothing is rebuilt while timing)."""
    out = subprocess.run(["cargo", "bench", "--no-run", "--bench", "decode_floor", "--message-format", "json"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "decode_floor" and msg.get("executable"):
            return msg["executable"]
    sys.exit("cannot find the decode_floor executable in cargo's output")


def decode_floor(args, pattern, dataset="/t2m"):
    """libdeflate inflating every chunk of the files on all cores, the chunks in memory first
    (crates/gridlens/benches/decode_floor.rs; h5py lists where the chunks are)."""
    import hashlib
    listing = os.path.join(args.data, "chunks-" + hashlib.sha1(f"{pattern}:{dataset}".encode()).hexdigest()[:12] + ".txt")
    if not os.path.exists(listing):
        with open(listing + ".part", "w") as f:
            subprocess.check_call([args.python, os.path.join(HERE, "chunk_list.py"), pattern, dataset], stdout=f)
        os.replace(listing + ".part", listing)
    if not getattr(args, "floor_tool", None):
        args.floor_tool = decode_floor_tool()
    out = subprocess.run([args.floor_tool, str(os.cpu_count()), listing], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def workloads(args):
    """Each workload: the gridlens command, the dask_reference.py command, the data set it
    needs, what `cat` reads for the read limit, and how the two answers are compared."""
    g = args.gridlens
    py = args.python
    dref = [py, os.path.join(HERE, "dask_reference.py")]
    data = args.data
    w8, w32 = os.path.join(data, "weather-g8"), os.path.join(data, "weather-g32")
    x8, x32 = f"x={w8}/*.hdf5:/t2m", f"x={w32}/*.hdf5:/t2m"
    out = os.path.join(data, "out")
    rnd, rnd9 = os.path.join(data, "random.hdf5"), os.path.join(data, "random-1e9.hdf5")
    lj = ("r2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1); sr6 = (1 / r2) ** 3; "
          "nansum(4 * (sr6 * sr6 - sr6)) / 2")
    # workloads beyond dask_reference.py's, timed the same way (compute only, a digest printed)
    median_dask = [py, "-c", (
        "import sys, glob, json, time, h5py, dask, dask.array as da, numpy as np\n"
        "dask.config.set(scheduler='threads')\n"
        "fs = sorted(glob.glob(sys.argv[1] + '/*.hdf5'))\n"
        "x = da.stack([da.from_array(h5py.File(f, 'r')['/t2m'], chunks=(500, 500)) for f in fs])\n"
        "t = time.perf_counter(); a = da.median(x, axis=0).compute(); s = time.perf_counter() - t\n"
        "print(json.dumps({'compute_s': round(s, 3), 'result': {'shape': list(a.shape), 'sum': float(np.nansum(a)),"
        " 'min': float(np.nanmin(a)), 'max': float(np.nanmax(a)), 'first': float(a.ravel()[0]), 'last': float(a.ravel()[-1])}}))\n"
    ), w8]
    wl = [
        dict(name="mean", what="weather 1 GB: x.mean(axis=0)", needs="weather-g8", cat=w8, check=check_digest,
             gl=[g, "eval", "x.mean(axis=0)", "-i", x8, "--stats"], dask=dref + ["mean", "--dir", w8]),
        dict(name="anomaly", what="weather 1 GB: x[0] - x.mean(axis=0)", needs="weather-g8", cat=w8, check=check_digest,
             gl=[g, "eval", "x[0] - x.mean(axis=0)", "-i", x8, "--stats"], dask=dref + ["anomaly", "--dir", w8]),
        dict(name="subsample", what="weather 1 GB: x[:, ::2, ::2] -> Zarr", needs="weather-g8", cat=w8,
             check=lambda _g, _d: check_zarr(py, out + "-gl.zarr", out + "-dask.zarr"),
             gl=[g, "eval", "x[:, ::2, ::2]", "-i", x8, "-o", out + "-gl.zarr", "--overwrite"],
             dask=dref + ["subsample", "--dir", w8, "--out", out + "-dask.zarr"]),
        dict(name="median", what="weather 1 GB: median(x, axis=0)", needs="weather-g8", cat=w8, check=check_digest,
             gl=[g, "eval", "median(x, axis=0)", "-i", x8, "--stats"], dask=median_dask),
        dict(name="sum", what="1e8 float32: sum and mean", needs="random.hdf5", cat=rnd, check=check_sum,
             gl=[g, "eval", "stack([v.sum(), v.mean()])", "-i", f"v={rnd}:/x", "--chunks", "1000000"],
             dask=dref + ["sum", "--file", rnd]),
        dict(name="random", what="random.normal 20000² .mean(axis=0)[::100]", needs=None, cat=None, check=check_random,
             gl=[g, "eval", "random.normal(10, 0.1, size=(20000, 20000), chunks=(1000, 1000)).mean(axis=0)[::100]", "--stats"],
             dask=dref + ["random"]),
        dict(name="lj", what="Lennard-Jones energy, 7000 particles", needs="cluster7000.npy", cat=None, check=check_energy,
             gl=[g, "eval", lj, "-i", f"c={os.path.join(data, 'cluster7000.npy')}", "--chunks", "500,3"],
             dask=dref + ["lj", "--n", "7000"]),
    ]
    if args.full:
        wl += [
            dict(name="mean-full", what="weather 16.5 GB: x.mean(axis=0)", needs="weather-g32", cat=w32, check=check_digest,
                 gl=[g, "eval", "x.mean(axis=0)", "-i", x32, "--stats"], dask=dref + ["mean", "--dir", w32]),
            dict(name="sum-1e9", what="1e9 float32: sum and mean", needs="random-1e9.hdf5", cat=rnd9, check=check_sum,
                 gl=[g, "eval", "stack([v.sum(), v.mean()])", "-i", f"v={rnd9}:/x", "--chunks", "1000000"],
                 dask=dref + ["sum", "--file", rnd9]),
        ]
    if args.only:
        keep = set(args.only.split(","))
        unknown = keep - {w["name"] for w in wl}
        if unknown:
            sys.exit(f"unknown workload(s) {', '.join(sorted(unknown))} (the 16.5 GB mean and the 1e9 sum need --full)")
        wl = [w for w in wl if w["name"] in keep]
    return wl


def cat_files(path):
    """The files `cat` reads for a workload: one file, or a stack's *.hdf5."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".hdf5"))
    return [path]


def cat_time(files):
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.check_call(["cat", *files], stdout=null)
    return time.perf_counter() - t0


def fmt_bytes(b):
    if b is None:
        return "—"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= div:
            return f"{b / div:.2f} {unit}" if unit == "GB" else f"{b / div:.0f} {unit}"
    return f"{b} B"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--gridlens", default=os.path.join(ROOT, "target", "release", "gridlens"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--full", action="store_true", help="also the tutorial's 16.5 GB stack and 1e9 float32 values (4 GB)")
    ap.add_argument("--archives", action="store_true", help="the ERA5-like month and 30 years of daily files, beside CDO, NCO and xarray")
    ap.add_argument("--all-peers", action="store_true", help="also the peers that take minutes (xarray and CDO on 10,958 files)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench-results.json"))
    args = ap.parse_args()
    if not os.path.exists(args.gridlens):
        sys.exit(f"{args.gridlens} not found: run `cargo build --release` first")
    if args.archives:
        chosen = archive_workloads(args)
        if args.only:
            keep = set(args.only.split(","))
            chosen = [w for w in chosen if w["name"] in keep]
        for w in chosen:
            for tool in ("cdo", "ncra"):
                if not shutil.which(tool):
                    print(f"note: {tool} is not installed (apt-get install cdo nco): skipped", file=sys.stderr)
    else:
        chosen = workloads(args)
        for w in chosen:
            w["peers"] = [] if args.no_dask else [dict(name="dask", cmd=w["dask"], timing="compute_s", check=w["check"], digest=True)]
            w["floor"], w["floor_of"] = ("cat", w["cat"]) if w["cat"] else (None, None)
    ensure_data(args, {w["needs"] for w in chosen})
    results = []
    for w in chosen:
        print(f"{w['name']}: {w['what']}", file=sys.stderr)
        files = None
        if w["floor"] == "cat":
            files = sorted_glob(w["floor_of"]) if "*" in w["floor_of"] else cat_files(w["floor_of"])
            cat_time(files)  # warm the page cache
        elif w["floor"] == "decode":
            cat_time(sorted_glob(w["floor_of"]))
        gl, gl1, floors, gl_rss = [], [], [], []
        peer_times = {p["name"]: [] for p in w["peers"]}
        peer_rss = {p["name"]: [] for p in w["peers"]}
        env = dict(os.environ, **w.get("env", {}))
        for r in range(args.runs):
            if "before" in w:
                w["before"]()
            t, rss, gl_out = run_measured(w["gl"] + (["--threads", "2"] if w["gl"][1] == "eval" else []), env=env)
            gl.append(t)
            gl_rss.append(rss)
            if w["gl"][1] == "eval":
                if "before" in w:
                    w["before"]()
                t1, _, _ = run_measured(w["gl"] + ["--threads", "1"], env=env)
                gl1.append(t1)
            for p in w["peers"]:
                wall, rss, out = run_measured(p["cmd"])
                secs = json.loads(out.strip().splitlines()[-1])["compute_s"] if p["timing"] == "compute_s" else wall
                peer_times[p["name"]].append(secs)
                peer_rss[p["name"]].append(rss)
                # a fast wrong answer is no result: each run's answers are compared
                if p.get("check"):
                    problem = p["check"](gl_out, json.loads(out.strip().splitlines()[-1])) if p.get("digest") else p["check"]()
                    if problem:
                        sys.exit(f"{w['name']}: gridlens and {p['name']} disagree: {problem}")
            if w["floor"] == "cat":
                floors.append(cat_time(files))
            elif w["floor"] == "decode":
                floors.append(decode_floor(args, w["floor_of"]))
            times = ", ".join(f"{n} {v[-1]:.3f} s" for n, v in peer_times.items())
            print(f"  run {r + 1}: gridlens {t:.3f} s" + (f" (1 thread {gl1[-1]:.3f} s)" if gl1 else "") + (f", {times}" if times else "")
                  + (f", {w['floor']} floor {floors[-1]:.3f} s" if floors else ""), file=sys.stderr)
        row = dict(
            name=w["name"], what=w["what"],
            gridlens_s=statistics.median(gl), gridlens_1thread_s=statistics.median(gl1) if gl1 else None,
            gridlens_rss=max(gl_rss),
            peers={n: dict(s=statistics.median(v), rss=max(peer_rss[n])) for n, v in peer_times.items()},
            floor=w["floor"], floor_s=statistics.median(floors) if floors else None,
        )
        results.append(row)
    for name in ("out-gl.zarr", "out-dask.zarr", "out-xr.zarr"):
        shutil.rmtree(os.path.join(args.data, name), ignore_errors=True)
    print()
    names = []
    for r in results:
        names += [n for n in r["peers"] if n not in names]
    print("| workload | gridlens | 1 thread | " + " | ".join(f"{n} | {n} / gridlens" for n in names)
          + " | floor | gridlens / floor | peak RSS gridlens |")
    print("|---|---:|---:|" + "---:|---:|" * len(names) + "---:|---:|---:|")
    for r in results:
        cells = []
        for n in names:
            p = r["peers"].get(n)
            cells += [f"{p['s']:.3f} s", f"{p['s'] / r['gridlens_s']:.1f}×"] if p else ["—", "—"]
        floor = f"{r['floor_s']:.3f} s ({r['floor']})" if r["floor_s"] else "—"
        vs = f"{r['gridlens_s'] / r['floor_s']:.2f}×" if r["floor_s"] else "—"
        one = f"{r['gridlens_1thread_s']:.3f} s" if r["gridlens_1thread_s"] else "—"
        print(f"| {r['what']} | {r['gridlens_s']:.3f} s | {one} | " + " | ".join(cells) + f" | {floor} | {vs} | {fmt_bytes(r['gridlens_rss'])} |")
    with open(args.json, "w") as f:
        json.dump(dict(runs=args.runs, cpus=os.cpu_count(), results=results), f, indent=1)
    print(f"\n(medians of {args.runs} runs; {os.cpu_count()} cores; results in {args.json})")


if __name__ == "__main__":
    main()
