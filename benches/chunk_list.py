#!/usr/bin/env python3
"""List where every stored chunk of a dataset lies, for crates/gridlens/benches/decode_floor.rs.

Prints one line per chunk: `FILE OFFSET SIZE` (byte offset and stored size), as h5py's
low-level `get_chunk_info` reports them, for every file a glob matches. The HDF5 library
finds the chunks; nothing here reads or decodes one.

    python3 benches/chunk_list.py 'target/bench-data/era5/*.nc' /t2m > chunks.txt

Needs h5py.
"""
import glob
import sys

import h5py


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    pattern, name = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(pattern))
    if not files:
        print(f"{pattern}: matches no files", file=sys.stderr)
        return 1
    out = sys.stdout
    for f in files:
        with h5py.File(f, "r") as h:
            ds = h[name]
            if ds.chunks is None:
                print(f"{f}:{name} is not chunked", file=sys.stderr)
                return 1
            for i in range(ds.id.get_num_chunks()):
                info = ds.id.get_chunk_info(i)
                out.write(f"{f} {info.byte_offset} {info.size}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
