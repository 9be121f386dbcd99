"""Extracts gridlens' colormap lookup tables from matplotlib.

Writes one `<name>.rgb` file per colormap next to this script: 256 entries of
3 bytes (red, green, blue), entry 0 for the low end. The bytes are exactly what
matplotlib produces for that entry, `cmap(np.arange(256), bytes=True)`, which is
`(lut * 255).astype(np.uint8)` (truncation, as matplotlib renders images).
`src/colormap.rs` embeds these files with `include_bytes!`.

Run with the project's venv (matplotlib installed):

    /work/venv/bin/python assets/colormaps/make_tables.py
"""

from pathlib import Path

import matplotlib
import numpy as np

# Names as matplotlib spells them. Reversed variants (`viridis_r`, `RdBu`) are
# derived in Rust by reversing the table, so only one direction is stored.
NAMES = [
    "viridis",
    "plasma",
    "inferno",
    "magma",
    "cividis",
    "turbo",
    "gray",
    "RdBu_r",
    "coolwarm",
    "seismic",
]

here = Path(__file__).resolve().parent
for name in NAMES:
    cmap = matplotlib.colormaps[name].resampled(256)
    rgba = cmap(np.arange(256), bytes=True)
    assert rgba.shape == (256, 4) and (rgba[:, 3] == 255).all()
    (here / f"{name}.rgb").write_bytes(rgba[:, :3].astype(np.uint8).tobytes())
    print(name, rgba[0, :3].tolist(), rgba[128, :3].tolist(), rgba[255, :3].tolist())
print("matplotlib", matplotlib.__version__)
