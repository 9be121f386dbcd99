#!/usr/bin/env python3
"""Derives assets/coastlines.bin from Natural Earth's outlines as the npm package
`world-atlas` (2.0.2) ships them in TopoJSON.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 tools/coastlines.py package assets/coastlines.bin

Layers: coast-110m, coast-50m (every arc of the merged `land` object: land meets sea
there and nowhere else), borders-110m, borders-50m (the arcs of `countries` that two
countries share). Each arc becomes one polyline of (longitude, latitude) in degrees.

Format (little-endian): b"GLCOAST1", u32 layer count; per layer: u8 name length, name,
u32 line count; per line: u32 point count, then per point i16 longitude × 32767/180 and
i16 latitude × 32767/90 (0.0055° and 0.0027°, finer than 1:50m's own detail).
"""
import json
import struct
import sys
from collections import Counter


def arcs_of(topology):
    """Every arc in degrees, delta-decoded and un-quantized."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    out = []
    for arc in topology["arcs"]:
        x = y = 0
        line = []
        for dx, dy in arc:
            x += dx
            y += dy
            line.append((x * sx + tx, y * sy + ty))
        out.append(line)
    return out


def arc_uses(geometries):
    """How many times each arc index is used by the polygons of `geometries`."""
    uses = Counter()

    def walk(rings):
        for ring in rings:
            for a in ring:
                uses[a if a >= 0 else ~a] += 1

    for g in geometries:
        if g["type"] == "Polygon":
            walk(g["arcs"])
        elif g["type"] == "MultiPolygon":
            for poly in g["arcs"]:
                walk(poly)
    return uses


def layers(folder):
    for scale in ("110m", "50m"):
        land = json.load(open(f"{folder}/land-{scale}.json"))
        yield f"coast-{scale}", arcs_of(land)
    for scale in ("110m", "50m"):
        countries = json.load(open(f"{folder}/countries-{scale}.json"))
        arcs = arcs_of(countries)
        uses = arc_uses(countries["objects"]["countries"]["geometries"])
        yield f"borders-{scale}", [arcs[i] for i, n in sorted(uses.items()) if n >= 2]


def main(folder, target):
    out = bytearray(b"GLCOAST1")
    found = list(layers(folder))
    out += struct.pack("<I", len(found))
    for name, lines in found:
        out += struct.pack("<B", len(name)) + name.encode()
        out += struct.pack("<I", len(lines))
        for line in lines:
            out += struct.pack("<I", len(line))
            for lon, lat in line:
                q = lambda v, r: max(-32767, min(32767, round(v * 32767 / r)))
                out += struct.pack("<hh", q(lon, 180), q(lat, 90))
        print(f"{name}: {len(lines)} lines, {sum(map(len, lines))} points")
    open(target, "wb").write(out)
    print(f"{target}: {len(out)} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:3])
