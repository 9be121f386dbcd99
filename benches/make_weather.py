#!/usr/bin/env python3
"""Write the tutorial's weather file set with h5py, as the Dask tutorial's prep.py does.

Each day of tests/data/weather-small (31 files, /t2m float64 180x360) is upsampled by
GROWTH in both directions and written to OUT/<day>.hdf5 as /t2m, float64, chunks
(500, 500), uncompressed. GROWTH=32 gives the tutorial's 31 x 5760 x 11520 stack
(16.5 GB); smaller growths give the same layout at a size a test can afford.

    python3 make_weather.py OUT [--growth 32] [--compression gzip] [--dtype f8]
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np
from skimage.transform import resize

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL = os.path.join(HERE, "..", "tests", "data", "weather-small")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--growth", type=int, default=32)
    ap.add_argument("--chunks", default="500,500")
    ap.add_argument("--compression", default=None, help="gzip, lzf or none")
    ap.add_argument("--shuffle", action="store_true")
    ap.add_argument("--dtype", default="f8")
    ap.add_argument("--days", type=int, default=31)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    chunks = tuple(int(c) for c in a.chunks.split(","))
    files = sorted(glob.glob(os.path.join(SMALL, "*.hdf5")))[: a.days]
    if not files:
        print(f"no input files under {SMALL}", file=sys.stderr)
        return 1
    for fn in files:
        with h5py.File(fn, "r") as f:
            x = f["/t2m"][:]
        y = x if a.growth == 1 else resize(x, (x.shape[0] * a.growth, x.shape[1] * a.growth), mode="constant")
        y = y.astype(a.dtype)
        c = tuple(min(c, s) for c, s in zip(chunks, y.shape))
        comp = None if a.compression in (None, "none") else a.compression
        with h5py.File(os.path.join(a.out, os.path.basename(fn)), "w") as f:
            f.create_dataset("/t2m", data=y, chunks=c, compression=comp, shuffle=a.shuffle)
    print(f"wrote {len(files)} files of {y.shape} {y.dtype} to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
