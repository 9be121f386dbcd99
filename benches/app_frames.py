#!/usr/bin/env python3
"""The app's job time beside the command line's, under X with whatever renderer is there.

For each data set and preset this starts `gridlens view DATA --preset P --frame-log F` on
an X display (a private Xvfb when --display is not given: no GPU, so Mesa's llvmpipe draws),
pans and zooms the image with xdotool while the job runs, and reads from the frame log the
job's own time (`done` row), the app's work per frame (`frame` rows) and how soon a frame
followed each input, when the first picture came (a tile, or a snapshot part-way) and how
many snapshots were drawn; then it clicks the image (click to time series drawn). It then times `gridlens eval` of the same expression, alternating, and
prints medians and the ratio. Every number comes from the app's frame log or the command
line's wall time; nothing is estimated.

    python3 benches/app_frames.py                        # 1 GB stack and the ERA5 month
    python3 benches/app_frames.py --sets weather-g32     # the 16.5 GB stack (make it first)
    python3 benches/app_frames.py --runs 5 --display :0  # on your own desktop

Data is read from --data (default target/bench-data), as benches/compare.py writes it.
Needs Xvfb and xdotool (Debian: apt-get install xvfb xdotool) unless --display is given.
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SETS = {
    "weather-g8": ("weather 1 GB", "{data}/weather-g8/*.hdf5:/t2m"),
    "weather-g32": ("weather 16.5 GB", "{data}/weather-g32/*.hdf5:/t2m"),
    "era5": ("ERA5 month", "{data}/era5/*.nc:/t2m"),
}
PRESETS = {
    "time-mean": "nanmean(x, axis=0)",
    "day-mean": "x[3] - nanmean(x, axis=0)",
    "subsample": "x[3, ::2, ::2]",
}


def read_log(path):
    rows = []
    try:
        with open(path) as f:
            for r in csv.reader(f):
                if r and r[0] != "kind":
                    rows.append(r)
    except FileNotFoundError:
        pass
    return rows


def wait_for(log, app, pred, timeout):
    """Reads the frame log until a row satisfies pred; returns it, or None after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in read_log(log):
            if pred(r):
                return r
        if app.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def click_to_series(env, app, log, x, y, after_ms):
    """Clicks screen point (x, y) and returns the ms from the click (pick row) to the pixel's
    time series drawn (series row), or None."""
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], env=env, check=False)
    pick = wait_for(log, app, lambda r: r[0] == "pick" and float(r[1]) > after_ms, 5)
    if pick:
        series = wait_for(log, app, lambda r: r[0] == "series" and float(r[1]) >= float(pick[1]), 60)
        if series:
            return float(series[1]) - float(pick[1])
    return None


def second_look(args, env, app, log, preset):
    """After the job: a click on the image centre at once, and the time from the click to the
    pixel's time series drawn, in ms; then, when the app fills its cache after the job
    (`filled` row: `--keep-decoded after`, the default where fresh memory is slow), how long
    after the job the fill ended and a second click's time to its series."""
    if not shutil.which("xdotool"):
        return None, None, None
    done = float(next(r for r in read_log(log) if r[0] == "done")[1])
    at_once = click_to_series(env, app, log, 760, 400, done)
    filled = wait_for(log, app, lambda r: r[0] == "filled", 60)
    if not filled:
        return at_once, None, None
    later = click_to_series(env, app, log, 700, 380, float(filled[1]))
    return at_once, float(filled[1]) - done, later


def run_app(args, source, preset, log):
    """One app run: returns the job's seconds, the ui ms of the frames during the job, the
    latency from each input to the next frame, the renderer, the first picture (ms after the
    app started: a tile or a snapshot part-way), the snapshots drawn, and the second look
    (pick to series) in ms."""
    if os.path.exists(log):
        os.remove(log)
    env = dict(os.environ, DISPLAY=args.display)
    t0 = time.monotonic()
    app = subprocess.Popen([args.gridlens, "view", source, "--preset", preset, "--day", "3", "--frame-log", log,
                            "--keep-decoded", args.keep_decoded],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    inputs = []
    try:
        deadline = t0 + args.timeout
        moved = False
        while time.monotonic() < deadline:
            rows = read_log(log)
            if any(r[0] == "done" for r in rows):
                break
            if app.poll() is not None:
                sys.exit(f"the app exited: {app.stderr.read().decode()[-1000:]}")
            tiles_or_frames = [r for r in rows if r[0] == "frame"]
            # once the window is up and the job runs, pan and zoom as a user would
            if not moved and len(tiles_or_frames) > 12 and shutil.which("xdotool"):
                for cmd in (["mousemove", "640", "330"], ["mousedown", "1"], ["mousemove", "700", "360"],
                            ["mousemove", "760", "390"], ["mouseup", "1"], ["click", "4"], ["click", "5"]):
                    inputs.append((time.monotonic() - t0) * 1e3)
                    subprocess.run(["xdotool", *cmd], env=env, check=False)
                    time.sleep(0.05)
                moved = True
            time.sleep(0.05)
        else:
            sys.exit(f"no job finished within {args.timeout} s: {source} {preset}")
        series_ms = second_look(args, env, app, log, preset)
    finally:
        app.terminate()
        try:
            app.wait(5)
        except subprocess.TimeoutExpired:
            app.kill()
    rows = read_log(log)
    done = next(r for r in rows if r[0] == "done")
    done_ms, seconds = float(done[1]), float(done[3])
    start_ms = done_ms - seconds * 1e3
    during = [float(r[2]) for r in rows if r[0] == "frame" and start_ms <= float(r[1]) <= done_ms]
    frames = [float(r[1]) for r in rows if r[0] == "frame"]
    # app start in its own clock is ~0 at our t0 (the log starts when the window is made)
    latency = []
    for t in inputs:
        later = [f for f in frames if f >= t - 30]
        if later and t < done_ms:
            latency.append(later[0] - t)
    renderer = next((r[2] for r in rows if r[0] == "renderer"), "?")
    job = done[2]
    pictures = [float(r[1]) for r in rows if r[0] in ("tile", "partial") and r[2] == job]
    first = min(pictures) if pictures else None
    partials = len([r for r in rows if r[0] == "partial" and r[2] == job and float(r[1]) <= done_ms])
    return seconds, during, latency, renderer, first, partials, series_ms


def cli_time(args, source, expr):
    t = time.perf_counter()
    subprocess.run([args.gridlens, "eval", expr, "-i", "x=" + source, "--stats"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--gridlens", default=os.path.join(ROOT, "target", "release", "gridlens"))
    ap.add_argument("--sets", default="weather-g8,era5")
    ap.add_argument("--presets", default="time-mean,day-mean,subsample")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--display", help="an X display to use (default: start a private Xvfb)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--keep-decoded", default="auto", help="the app's --keep-decoded: during, after or auto")
    args = ap.parse_args()
    xvfb = None
    if not args.display:
        if not shutil.which("Xvfb"):
            sys.exit("Xvfb is not installed (apt-get install xvfb xdotool), or pass --display")
        args.display = ":79"
        xvfb = subprocess.Popen(["Xvfb", args.display, "-screen", "0", "1600x1000x24"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
    log = os.path.join(ROOT, "target", "app-frames.csv")
    results = []
    renderer = "?"
    try:
        for name in args.sets.split(","):
            what, pattern = SETS[name]
            source = pattern.format(data=args.data)
            files = sorted(__import__("glob").glob(source.rsplit(":", 1)[0]))
            if not files:
                print(f"note: {name}: no files at {source} (run benches/compare.py first): skipped", file=sys.stderr)
                continue
            subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
            for preset in args.presets.split(","):
                expr = PRESETS[preset]
                app_s, cli_s, ui_ms, lat, firsts, parts, picks, fills, later = [], [], [], [], [], [], [], [], []
                for r in range(args.runs):
                    s, during, latency, renderer, first, partials, series_ms = run_app(args, source, preset, log)
                    firsts += [first] if first is not None else []
                    parts.append(partials)
                    picks += [series_ms[0]] if series_ms[0] is not None else []
                    fills += [series_ms[1]] if series_ms[1] is not None else []
                    later += [series_ms[2]] if series_ms[2] is not None else []
                    app_s.append(s)
                    ui_ms += during
                    lat += latency
                    cli_s.append(cli_time(args, source, expr))
                    print(f"  {name} {preset} run {r + 1}: app job {s:.3f} s, cli {cli_s[-1]:.3f} s, "
                          f"{len(during)} frames during the job", file=sys.stderr)
                results.append(dict(what=what, preset=preset, expr=expr, app=statistics.median(app_s), cli=statistics.median(cli_s),
                                    ui_max=max(ui_ms) if ui_ms else None, ui_mean=statistics.mean(ui_ms) if ui_ms else None,
                                    frames=len(ui_ms) / args.runs, latency=max(lat) if lat else None,
                                    first=statistics.median(firsts) if firsts else None, partials=statistics.median(parts),
                                    series=statistics.median(picks) if picks else None,
                                    fill=statistics.median(fills) if fills else None,
                                    later=statistics.median(later) if later else None))
    finally:
        if xvfb:
            xvfb.terminate()
    print(f"\nrenderer: {renderer}; medians of {args.runs} runs; {os.cpu_count()} cores\n")
    print("| data | preset (expression) | app job | command line | app / cli | frames during the job | ui ms per frame (mean / max) | input to frame (max) "
          "| first picture | snapshots | click to series at once | cache filled after the job | click to series then |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ms = lambda v: f"{v:.0f} ms" if v is not None else "—"
    for r in results:
        ui = f"{r['ui_mean']:.1f} / {r['ui_max']:.1f}" if r["ui_max"] is not None else "—"
        lat = f"{r['latency']:.0f} ms" if r["latency"] is not None else "—"
        print(f"| {r['what']} | {r['preset']} (`{r['expr']}`) | {r['app']:.3f} s | {r['cli']:.3f} s | {r['app'] / r['cli']:.2f}× | "
              f"{r['frames']:.0f} | {ui} | {lat} | {ms(r['first'])} | {r['partials']:.0f} | {ms(r['series'])} | "
              f"{ms(r['fill'])} | {ms(r['later'])} |")


if __name__ == "__main__":
    main()
