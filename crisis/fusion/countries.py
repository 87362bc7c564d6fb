"""Which country (and so which regional desk) a point lies in, for many points at once.

Built once from the Natural Earth basemap; ``locate`` queries the spatial index in bulk.
Points in the sea near a coast (the 1:110m outlines are coarse: many airports and ports
fall just outside them) take the nearest country within ``coast_tolerance_deg``; that
is an attribution to a country, not a distance measurement, so degrees are fine here.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from crisis.domain.regions import region_for_country

# Natural Earth 110m leaves some codes as -99; these are the ISO codes in use.
_ISO_FIXES = {"France": "FRA", "Norway": "NOR", "Kosovo": "XKX", "N. Cyprus": "CYP", "Somaliland": "SOM"}


class CountryIndex:
    def __init__(self, countries: gpd.GeoDataFrame, coast_tolerance_deg: float = 1.0) -> None:
        if countries.crs is None or countries.crs.to_epsg() != 4326:
            raise ValueError("the countries layer must be in EPSG:4326 (lon/lat degrees)")
        iso = countries["iso_a3"].where(countries["iso_a3"] != "-99", countries["name"].map(_ISO_FIXES))
        self.countries = countries.assign(
            iso_a3=iso,
            region=[region_for_country(i, c) for i, c in zip(iso, countries["continent"])],
        )
        self._iso = self.countries["iso_a3"].to_numpy(dtype=object)
        self._region = self.countries["region"].to_numpy(dtype=object)
        self._tolerance = coast_tolerance_deg
        self.countries.sindex  # build the index now, not on the first request

    @classmethod
    def from_file(cls, path: Path) -> CountryIndex:
        return cls(gpd.read_file(path))

    def locate(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ISO3 codes and region codes for each point (None where none is near)."""
        points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        iso = np.full(len(points), None, dtype=object)
        region = np.full(len(points), None, dtype=object)
        if len(points) == 0:
            return iso, region
        inside_pts, inside_geoms = self.countries.sindex.query(points, predicate="intersects")
        iso[inside_pts] = self._iso[inside_geoms]
        region[inside_pts] = self._region[inside_geoms]
        missing = np.flatnonzero(iso == None)  # noqa: E711 - element-wise on an object array
        if len(missing):
            near_pts, near_geoms = self.countries.sindex.nearest(
                points[missing], max_distance=self._tolerance, return_all=False
            )
            iso[missing[near_pts]] = self._iso[near_geoms]
            region[missing[near_pts]] = self._region[near_geoms]
        return iso, region

    def centroid(self, iso3: str) -> tuple[float, float] | None:
        """(lat, lon) of a representative point of the country, for approximate locations."""
        rows = self.countries[self.countries["iso_a3"] == iso3.upper()]
        if rows.empty:
            return None
        point = rows.geometry.iloc[0].representative_point()
        return point.y, point.x
