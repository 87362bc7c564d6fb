"""Which country (and so which regional desk) a point lies in, for many points at once.

Built once from the Natural Earth basemap (the 1:110m countries, plus the 1:10m outlines of
the 63 small countries and territories the 1:110m leaves out: Mauritius, Malta, Singapore,
Bahrain, the Caribbean and Pacific islands; ``assets/basemap/countries-small.geojson``);
``locate`` queries the spatial index in bulk. Every point gets a region (a desk):

* on land: the country it lies in (a small country's outline before a 1:110m one that
  covers it: San Marino, not Italy);
* at sea within ``sea_region_km`` (CRISIS_SEA_REGION_KM, default 500 km) of a country: the
  nearest country, by geodesic distance (WGS84) from the point to the nearest point of
  the country's outline (the outline's nearest point is found in lon/lat, then measured
  on the ellipsoid: an attribution to a desk, not a survey). The 1:110m outlines are
  coarse and leave out small islands, so ports, airports and offshore quakes fall here;
* beyond that: the desk of its ocean basin (``crisis.domain.regions.OCEAN_BASINS``), with
  no country.

An incident over several countries belongs to every region it touches: ``regions_for``
adds the regions of the countries it names and of those its area (a polygon) overlaps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pycountry
import shapely
from pyproj import Geod

from crisis.domain.regions import region_at_sea, region_for_country, unique_regions

SEA_REGION_KM = 500.0
_GEOD = Geod(ellps="WGS84")
_KM_PER_DEG_LAT = 110.5

# Natural Earth 110m leaves some codes as -99; these are the ISO codes in use.
_ISO_FIXES = {"France": "FRA", "Norway": "NOR", "Kosovo": "XKX", "N. Cyprus": "CYP", "Somaliland": "SOM"}


class CountryIndex:
    def __init__(self, countries: gpd.GeoDataFrame, sea_region_km: float = SEA_REGION_KM,
                 small: gpd.GeoDataFrame | None = None) -> None:
        """``countries``: name, iso_a3, continent and outline of each country. ``small``:
        name, iso_a3 and outline of countries it leaves out (their desk by their code,
        ``crisis.domain.regions``); on land they come before the ``countries`` around them."""
        for layer in (countries, small):
            if layer is not None and (layer.crs is None or layer.crs.to_epsg() != 4326):
                raise ValueError("the countries layer must be in EPSG:4326 (lon/lat degrees)")
        iso = countries["iso_a3"].where(countries["iso_a3"] != "-99", countries["name"].map(_ISO_FIXES))
        table = countries.assign(iso_a3=iso)
        self._first_small = len(table)
        if small is not None and len(small):
            extra = small[["name", "iso_a3", "geometry"]].assign(continent=None)
            table = gpd.GeoDataFrame(pd.concat([table, extra], ignore_index=True), crs=countries.crs)
        self.countries = table.assign(
            region=[region_for_country(i, c) for i, c in zip(table["iso_a3"], table["continent"])],
        )
        self._iso = self.countries["iso_a3"].to_numpy(dtype=object)
        self._region = self.countries["region"].to_numpy(dtype=object)
        self.sea_region_km = float(sea_region_km)
        self._geoms = self.countries.geometry.to_numpy()
        self.countries.sindex  # build the index now, not on the first request

    @classmethod
    def from_file(cls, path: Path, sea_region_km: float = SEA_REGION_KM, small: Path | None = None) -> CountryIndex:
        """The countries of ``path``, and those of ``small`` (by default the file
        ``countries-small.geojson`` beside it, when there is one)."""
        small = small or path.with_name("countries-small.geojson")
        return cls(gpd.read_file(path), sea_region_km, gpd.read_file(small) if small.exists() else None)

    def locate(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ISO3 codes and region codes for each point (None where none is near)."""
        points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        iso = np.full(len(points), None, dtype=object)
        region = np.full(len(points), None, dtype=object)
        if len(points) == 0:
            return iso, region
        inside_pts, inside_geoms = self.countries.sindex.query(points, predicate="intersects")
        for part in (inside_geoms < self._first_small, inside_geoms >= self._first_small):  # small ones last: they win
            iso[inside_pts[part]] = self._iso[inside_geoms[part]]
            region[inside_pts[part]] = self._region[inside_geoms[part]]
        missing = np.flatnonzero(iso == None)  # noqa: E711 - element-wise on an object array
        if len(missing):
            near = self._nearest_within(points[missing], np.asarray(lat, dtype=float)[missing],
                                        np.asarray(lon, dtype=float)[missing])
            found = near >= 0
            iso[missing[found]] = self._iso[near[found]]
            region[missing[found]] = self._region[near[found]]
            for i in missing[~found].tolist():  # far out at sea: the desk of the ocean basin
                region[i] = region_at_sea(float(np.asarray(lat)[i]), float(np.asarray(lon)[i]))
        return iso, region

    def inside(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """ISO3 code of the outline each point lies in (a small country's before a large one's),
        None at sea: no nearest country, unlike ``locate``."""
        points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        iso = np.full(len(points), None, dtype=object)
        if len(points):
            pts, geoms = self.countries.sindex.query(points, predicate="intersects")
            for part in (geoms < self._first_small, geoms >= self._first_small):  # small ones last: they win
                iso[pts[part]] = self._iso[geoms[part]]
        return iso

    def _nearest_within(self, points: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """For each point, the row of the nearest country within ``sea_region_km``
        (geodesic), or -1. Candidates come from the index within a lon/lat box wide
        enough for that distance at the point's latitude; each is measured on WGS84."""
        best = np.full(len(points), -1, dtype=np.int64)
        if self.sea_region_km <= 0 or not len(points):
            return best
        # degrees of longitude that ``sea_region_km`` may span at the point's latitude (or poleward of it)
        reach_lat = self.sea_region_km / _KM_PER_DEG_LAT
        poleward = np.minimum(np.abs(lat) + reach_lat, 89.0)
        reach = np.minimum(reach_lat / np.cos(np.radians(poleward)), 360.0)
        boxes = shapely.box(lon - reach, lat - reach_lat, lon + reach, lat + reach_lat)
        pts, rows = self.countries.sindex.query(boxes, predicate="intersects")
        if not len(pts):
            return best
        lines = shapely.shortest_line(points[pts], self._geoms[rows])
        coords = shapely.get_coordinates(lines).reshape(-1, 2, 2)
        _, _, metres = _GEOD.inv(coords[:, 0, 0], coords[:, 0, 1], coords[:, 1, 0], coords[:, 1, 1])
        km = np.asarray(metres) / 1000.0
        order = np.lexsort((km, pts))  # by point, nearest first
        first = np.ones(len(order), dtype=bool)
        first[1:] = pts[order][1:] != pts[order][:-1]
        for k in order[first].tolist():
            if km[k] <= self.sea_region_km:
                best[pts[k]] = rows[k]
        return best

    def km_to_country(self, lat: np.ndarray, lon: np.ndarray, iso3: Sequence[str]) -> np.ndarray:
        """For each point, the geodesic distance in km to the outline of the country named beside
        it (0 inside it); NaN for a country the index has no outline of."""
        out = np.full(len(iso3), np.nan)
        for code in sorted(set(iso3)):
            rows = np.flatnonzero(self._iso == code)
            mine = np.flatnonzero(np.asarray(iso3, dtype=object) == code)
            if not len(rows) or not len(mine):
                continue
            points = shapely.points(np.asarray(lon, dtype=float)[mine], np.asarray(lat, dtype=float)[mine])
            shape = shapely.union_all(self._geoms[rows])
            lines = shapely.shortest_line(points, shape)
            coords = shapely.get_coordinates(lines).reshape(-1, 2, 2)
            _, _, metres = _GEOD.inv(coords[:, 0, 0], coords[:, 0, 1], coords[:, 1, 0], coords[:, 1, 1])
            out[mine] = np.where(shapely.intersects(points, shape), 0.0, np.asarray(metres) / 1000.0)
        return out

    def region_of_country(self, iso3: str) -> str | None:
        """The desk of a country by its code (one the basemap has no outline for too)."""
        code = iso3.upper()
        rows = np.flatnonzero(self._iso == code)
        if len(rows) and self._region[rows[0]]:
            return str(self._region[rows[0]])
        return region_for_country(code)

    def countries_in_area(self, area: Mapping[str, Any] | None) -> list[str]:
        """ISO3 codes of the countries an area (a GeoJSON Polygon/MultiPolygon) overlaps."""
        if not area:
            return []
        try:
            shape = shapely.geometry.shape(area)
        except (ValueError, TypeError, AttributeError, KeyError):
            return []
        rows = self.countries.sindex.query(shape, predicate="intersects")
        return [str(self._iso[r]) for r in sorted(rows.tolist()) if self._iso[r]]

    def regions_for(self, lat: float, lon: float, country: str | None = None,
                    countries: Iterable[str] = (), area: Mapping[str, Any] | None = None) -> tuple[str | None, tuple[str, ...]]:
        """(country, regions) of an incident: the country it names or its point lies in, and
        every region it touches: the point's (or named country's) first, then those of the
        other countries it names and of the countries its area overlaps."""
        iso, region = self.locate(np.array([lat]), np.array([lon]))
        first = self.region_of_country(country) if country else None
        named = [self.region_of_country(c) for c in countries]
        touched = [self._region[np.flatnonzero(self._iso == c)[0]] for c in self.countries_in_area(area)]
        return (country or iso[0]), unique_regions([first or region[0], region[0], *named, *touched])

    def centroid(self, iso3: str) -> tuple[float, float] | None:
        """(lat, lon) of a representative point of the country, for approximate locations."""
        rows = self.countries[self.countries["iso_a3"] == iso3.upper()]
        if rows.empty:
            return None
        point = rows.geometry.iloc[0].representative_point()
        return point.y, point.x


# Country names as news and feeds still write them that ISO 3166 (pycountry) no longer lists.
_FORMER_NAMES = {
    "turkey": "TUR", "swaziland": "SWZ", "burma": "MMR", "ivory coast": "CIV", "cape verde": "CPV",
    "east timor": "TLS", "democratic republic of the congo": "COD", "dr congo": "COD", "drc": "COD",
    "kosovo": "XKX",
}


def iso3_of_names(text: str) -> tuple[str, ...]:
    """ISO3 codes of the countries named in a list like "Bulgaria, Iraq, Iran, Turkey"
    (GDACS's ``<gdacs:country>``), in order, each once: each name looked up in ISO 3166
    (pycountry: names, official and common names, then its fuzzy search when that finds
    exactly one), or among the former names above. Names not found are left out."""
    found: dict[str, None] = {}
    for name in re.split(r"\s*[,;]\s*", text or ""):
        code = _iso3_of_name(name.replace("&", "and").strip())
        if code:
            found.setdefault(code, None)
    return tuple(found)


def _iso3_of_name(name: str) -> str | None:
    if not name:
        return None
    if name.lower() in _FORMER_NAMES:
        return _FORMER_NAMES[name.lower()]
    try:
        return str(pycountry.countries.lookup(name).alpha_3)
    except LookupError:
        pass
    try:
        fuzzy = pycountry.countries.search_fuzzy(name)
    except LookupError:
        return None
    return str(fuzzy[0].alpha_3) if len(fuzzy) == 1 else None
