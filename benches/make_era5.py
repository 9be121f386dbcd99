#!/usr/bin/env python3
"""Write a month of ERA5-like hourly 2-m temperature as daily NetCDF4 files.

This is the layout a scientist downloads from a reanalysis archive: one file per
day, an unlimited `time` axis of 24 hourly records (CF units "hours since
1900-01-01", standard calendar), latitude descending from 90 to -90, longitude
0..359.75, and `t2m` float32 in kelvin, deflate-compressed with shuffle, chunked
one record per chunk (netCDF-C's default for a record variable), _FillValue
set, a few missing values. The field is the real daily pattern of
tests/data/weather-small, upsampled, with a diurnal cycle and noise quantized to
0.01 K (real data compresses about as much).

    python3 make_era5.py OUT [--days 31] [--hours 24] [--lat 721] [--lon 1440] [--level 1]

Needs numpy, netCDF4, scikit-image.
"""
import argparse
import glob
import os
import sys

import netCDF4
import numpy as np
from skimage.transform import resize

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL = os.path.join(HERE, "..", "tests", "data", "weather-small")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--lat", type=int, default=721)
    ap.add_argument("--lon", type=int, default=1440)
    ap.add_argument("--level", type=int, default=1, help="deflate level (0: uncompressed)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    import h5py

    days = sorted(glob.glob(os.path.join(SMALL, "*.hdf5")))[: a.days]
    rng = np.random.default_rng(5)
    lat = np.linspace(90, -90, a.lat)
    lon = np.arange(a.lon) * (360.0 / a.lon)
    for d, fn in enumerate(days):
        with h5py.File(fn, "r") as f:
            base = f["/t2m"][:]
        # weather-small's values span about 25..230: map them to 210..292 K
        field = resize(base, (a.lat, a.lon), mode="edge").astype(np.float32)
        field = 200.0 + field * 0.4
        path = os.path.join(a.out, f"era5_t2m_2001-01-{d + 1:02d}.nc")
        ds = netCDF4.Dataset(path, "w", format="NETCDF4")
        ds.createDimension("time", None)
        ds.createDimension("latitude", a.lat)
        ds.createDimension("longitude", a.lon)
        vt = ds.createVariable("time", "i4", ("time",))
        vt.units = "hours since 1900-01-01 00:00:00.0"
        vt.calendar = "gregorian"
        vt.long_name = "time"
        vla = ds.createVariable("latitude", "f4", ("latitude",))
        vla.units = "degrees_north"
        vla[:] = lat
        vlo = ds.createVariable("longitude", "f4", ("longitude",))
        vlo.units = "degrees_east"
        vlo[:] = lon
        comp = dict(zlib=True, complevel=a.level, shuffle=True) if a.level > 0 else {}
        v = ds.createVariable("t2m", "f4", ("time", "latitude", "longitude"), fill_value=np.float32(-32767.0),
                              chunksizes=(1, a.lat, a.lon), **comp)
        v.units = "K"
        v.long_name = "2 metre temperature"
        hours0 = netCDF4.date2num(__import__("datetime").datetime(2001, 1, d + 1), vt.units, vt.calendar)
        for h in range(a.hours):
            solar = ((h + lon / 15.0) % 24.0)
            diurnal = (4.0 * np.cos((solar - 15.0) / 24.0 * 2 * np.pi)).astype(np.float32)
            rec = field + diurnal[None, :] + rng.normal(0, 0.6, field.shape).astype(np.float32)
            rec = np.round(rec, 2).astype(np.float32)
            if d == 3 and h == 5:
                rec[100:110, 200:230] = np.nan  # a patch of missing values
            vt[h] = int(hours0) + h
            v[h] = np.ma.masked_invalid(rec)
        ds.close()
    print(f"wrote {len(days)} files of ({a.hours}, {a.lat}, {a.lon}) float32 to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
