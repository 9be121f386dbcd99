#!/usr/bin/env python3
"""gridlens against dask.array on the same files, in one run, alternating.

For each workload this runs the gridlens command line (the whole process, start-up
included) and ../shared/bench/dask_reference.py (dask's own compute time, its Python
start-up excluded) in turns, and prints medians, the ratio, the peak RSS of each process,
and the time `cat` needs to read the same files from the page cache (the read limit).
gridlens is also timed with 1 thread, to show the scaling.

    python3 benches/compare.py                      # the 1 GB weather stack and the rest
    python3 benches/compare.py --full               # adds the tutorial's 16.5 GB stack
    python3 benches/compare.py --only mean,sum --runs 5

Data is written once into --data (default target/bench-data) with the shared
make_weather.py (h5py, the tutorial's prep.py) and dask_reference.py make-random.
Needs a Python with numpy, h5py, dask, zarr and scikit-image (--python, default: this one).
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
SHARED = os.path.join(ROOT, "..", "shared", "bench")


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


def ensure_data(args):
    os.makedirs(args.data, exist_ok=True)
    py = args.python
    sets = {"weather-g8": 8}
    if args.full:
        sets["weather-g32"] = 32
    for name, growth in sets.items():
        d = os.path.join(args.data, name)
        if not (os.path.isdir(d) and len([f for f in os.listdir(d) if f.endswith(".hdf5")]) == 31):
            print(f"writing {d} (make_weather.py --growth {growth}) ...", file=sys.stderr)
            subprocess.check_call([py, os.path.join(SHARED, "make_weather.py"), d, "--growth", str(growth)])
    rnd = os.path.join(args.data, "random.hdf5")
    if not os.path.exists(rnd):
        print(f"writing {rnd} (1e8 float32) ...", file=sys.stderr)
        subprocess.check_call([py, os.path.join(SHARED, "dask_reference.py"), "make-random", "--file", rnd, "--n", "100000000"])
    cl = os.path.join(args.data, "cluster7000.npy")
    if not os.path.exists(cl):
        # the same cluster dask_reference.py builds for `lj --n 7000`
        subprocess.check_call([py, "-c", (
            "import numpy as np, sys; rng = np.random.default_rng(1981); "
            "np.save(sys.argv[1], rng.normal(0, 500, (7000, 3)) - 0.5)"), cl])


def workloads(args):
    g = args.gridlens
    dref = [args.python, os.path.join(SHARED, "dask_reference.py")]
    w8 = os.path.join(args.data, "weather-g8")
    files8 = sorted(os.path.join(w8, f) for f in os.listdir(w8) if f.endswith(".hdf5"))
    x8 = f"x={w8}/*.hdf5:/t2m"
    out = os.path.join(args.data, "out")
    rnd = os.path.join(args.data, "random.hdf5")
    lj = ("r2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1); sr6 = (1 / r2) ** 3; "
          "nansum(4 * (sr6 * sr6 - sr6)) / 2")
    wl = [
        dict(name="mean", what="weather 1 GB: x.mean(axis=0)",
             gl=[g, "eval", "x.mean(axis=0)", "-i", x8, "--stats"], dask=dref + ["mean", "--dir", w8], cat=files8),
        dict(name="anomaly", what="weather 1 GB: x[0] - x.mean(axis=0)",
             gl=[g, "eval", "x[0] - x.mean(axis=0)", "-i", x8, "--stats"], dask=dref + ["anomaly", "--dir", w8], cat=files8),
        dict(name="subsample", what="weather 1 GB: x[:, ::2, ::2] -> Zarr",
             gl=[g, "eval", "x[:, ::2, ::2]", "-i", x8, "-o", out + "-gl.zarr", "--overwrite"],
             dask=dref + ["subsample", "--dir", w8, "--out", out + "-dask.zarr"], cat=files8),
        dict(name="sum", what="1e8 float32: sum and mean",
             gl=[g, "eval", "stack([v.sum(), v.mean()])", "-i", f"v={rnd}:/x", "--chunks", "1000000"],
             dask=dref + ["sum", "--file", rnd], cat=[rnd]),
        dict(name="random", what="random.normal 20000² .mean(axis=0)[::100]",
             gl=[g, "eval", "random.normal(10, 0.1, size=(20000, 20000), chunks=(1000, 1000)).mean(axis=0)[::100]", "--stats"],
             dask=dref + ["random"], cat=None),
        dict(name="lj", what="Lennard-Jones energy, 7000 particles",
             gl=[g, "eval", lj, "-i", f"c={os.path.join(args.data, 'cluster7000.npy')}", "--chunks", "500,3"],
             dask=dref + ["lj", "--n", "7000"], cat=None),
    ]
    if args.full:
        w32 = os.path.join(args.data, "weather-g32")
        files32 = sorted(os.path.join(w32, f) for f in os.listdir(w32) if f.endswith(".hdf5"))
        x32 = f"x={w32}/*.hdf5:/t2m"
        wl.append(dict(name="mean-full", what="weather 16.5 GB: x.mean(axis=0)",
                       gl=[g, "eval", "x.mean(axis=0)", "-i", x32, "--stats"], dask=dref + ["mean", "--dir", w32], cat=files32))
    if args.only:
        keep = set(args.only.split(","))
        wl = [w for w in wl if w["name"] in keep]
    return wl


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
    ap.add_argument("--full", action="store_true", help="also the tutorial's 16.5 GB stack")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench-results.json"))
    args = ap.parse_args()
    if not os.path.exists(args.gridlens):
        sys.exit(f"{args.gridlens} not found: run `cargo build --release` first")
    ensure_data(args)
    results = []
    for w in workloads(args):
        print(f"{w['name']}: {w['what']}", file=sys.stderr)
        if w["cat"]:
            cat_time(w["cat"])  # warm the page cache
        gl, gl1, dk, cats = [], [], [], []
        gl_rss, dk_rss = [], []
        for r in range(args.runs):
            t, rss, _ = run_measured(w["gl"] + ["--threads", "2"])
            gl.append(t)
            gl_rss.append(rss)
            t1, _, _ = run_measured(w["gl"] + ["--threads", "1"])
            gl1.append(t1)
            if not args.no_dask:
                _, rss, out = run_measured(w["dask"])
                dk.append(json.loads(out.strip().splitlines()[-1])["compute_s"])
                dk_rss.append(rss)
            if w["cat"]:
                cats.append(cat_time(w["cat"]))
            print(f"  run {r + 1}: gridlens {t:.3f} s (1 thread {t1:.3f} s)" + (f", dask {dk[-1]:.3f} s" if dk else ""), file=sys.stderr)
        row = dict(
            name=w["name"], what=w["what"],
            gridlens_s=statistics.median(gl), gridlens_1thread_s=statistics.median(gl1),
            gridlens_rss=max(gl_rss),
            dask_s=statistics.median(dk) if dk else None, dask_rss=max(dk_rss) if dk_rss else None,
            cat_s=statistics.median(cats) if cats else None,
        )
        results.append(row)
    for name in ("out-gl.zarr", "out-dask.zarr"):
        shutil.rmtree(os.path.join(args.data, name), ignore_errors=True)
    print()
    print("| workload | gridlens | 1 thread | dask | dask / gridlens | gridlens / cat | cat | peak RSS gridlens | peak RSS dask |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = f"{r['dask_s'] / r['gridlens_s']:.1f}×" if r["dask_s"] else "—"
        vs_cat = f"{r['gridlens_s'] / r['cat_s']:.2f}×" if r["cat_s"] else "—"
        print(f"| {r['what']} | {r['gridlens_s']:.3f} s | {r['gridlens_1thread_s']:.3f} s | "
              f"{(str(round(r['dask_s'], 3)) + ' s') if r['dask_s'] else '—'} | {ratio} | {vs_cat} | "
              f"{(str(round(r['cat_s'], 3)) + ' s') if r['cat_s'] else '—'} | {fmt_bytes(r['gridlens_rss'])} | {fmt_bytes(r['dask_rss'])} |")
    with open(args.json, "w") as f:
        json.dump(dict(runs=args.runs, cpus=os.cpu_count(), results=results), f, indent=1)
    print(f"\n(medians of {args.runs} runs; {os.cpu_count()} cores; results in {args.json})")


if __name__ == "__main__":
    main()
