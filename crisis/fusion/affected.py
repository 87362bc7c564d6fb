"""Who is affected: travellers' positions joined to incident areas, in bulk, geodesically.

Pure functions and small value objects, no I/O. An incident's area is its GeoJSON
Polygon/MultiPolygon if it has one, else a geodesic circle of ``radius_km`` around its
location, else a circle of the default radius for its severity
(``CRISIS_DEFAULT_RADIUS_KM``). Every area is widened by ``buffer_km``
(``CRISIS_AFFECTED_BUFFER_KM``), measured on the ground.

How it is computed (never Web Mercator, never distances in degrees):

- **Prefilter**: lon/lat boxes guaranteed to contain each area plus its buffer (sized
  with the smallest radius of curvature of WGS84, widened for the latitude, covering
  every longitude when the area reaches a pole, split in two when it crosses the
  antimeridian, one per part of a MultiPolygon), joined to all travellers in one bulk
  numpy query: travellers binned in a 0.5-degree grid and sorted by cell, each box a
  binary-searched run of cells per grid row, then the exact box test. No GEOS object is
  made per traveller.
- **Circles**: great-circle (haversine) distance on a sphere of the WGS84 mean radius
  for every candidate pair; pairs whose spherical distance is within 0.6 % of the limit
  (the sphere's error against the ellipsoid is at most ~0.56 %) are decided again with
  the exact WGS84 geodesic (``pyproj.Geod.inv``), so membership is exact on WGS84.
- **Polygons**: point-in-polygon with shapely (``intersects_xy`` on prepared polygons),
  vectorised over candidate pairs, edges inclusive: a person exactly on an edge is inside. Edges are straight in
  lon/lat as GeoJSON (RFC 7946) defines them. Rings that cross the antimeridian are
  unwrapped and split at +-180; a ring that winds once around a pole is closed over it.
- **Buffer around polygons**: each polygon is densified to 0.05 degrees (so its
  projected edges follow the lon/lat edges), projected once into an azimuthal-equidistant
  projection centred on its centroid (spherical, in numpy for all vertices at once) and
  buffered there by ``buffer_km``; a candidate outside the polygon is projected the same
  way (numpy, all pairs at once) and tested against that buffered polygon. Error: under
  0.6 % of the buffer (sphere vs ellipsoid), plus the projection's scale error,
  1 + (d/R)^2/6 (4e-5 at 100 km from the centroid, 0.4 % at 1,000 km), plus the
  buffer's arcs drawn as chords (0.03 % of the buffer).
- **distance_km** (from the incident's centre) is the haversine distance on the mean
  sphere: within 0.56 % of the WGS84 geodesic (``exact_distances=True`` recomputes it
  with ``pyproj.Geod`` at about 1 us per person).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

EARTH_MEAN_RADIUS_KM = 6371.0088  # WGS84 mean radius (2a + b) / 3
# The smallest radius of curvature of WGS84 (meridional, at the equator): a box sized
# with it always contains the geodesic circle.
_MIN_CURVATURE_RADIUS_KM = 6335.439
_SPHERE_REL_ERROR = 0.006  # haversine on the mean sphere vs WGS84 geodesic: <= ~0.56 %
_DENSIFY_DEG = 0.05
_GEOD = Geod(ellps="WGS84")

ITINERARY_HORIZON = timedelta(hours=48)
DEFAULT_RADIUS_SETTING = "1:5,2:10,3:25,4:50,5:100"


def parse_default_radii(text: str) -> dict[int, float]:
    """``"1:5,2:10"`` (severity:km) to ``{1: 5.0, 2: 10.0}``; a clear ValueError otherwise."""
    radii: dict[int, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        severity, sep, km = item.partition(":")
        if not sep:
            raise ValueError(f"CRISIS_DEFAULT_RADIUS_KM: {item.strip()!r} is not severity:km")
        radius = float(km)
        if not radius > 0:
            raise ValueError(f"CRISIS_DEFAULT_RADIUS_KM: radius for severity {severity.strip()} must be positive")
        if severity.strip() not in {"1", "2", "3", "4", "5"}:
            raise ValueError(f"CRISIS_DEFAULT_RADIUS_KM: severity {severity.strip()!r} is not one of 1-5")
        radii[int(severity)] = radius
    return radii


def default_radii(text: str) -> dict[int, float]:
    """The radius by severity in force: the setting's, and the built-in one for any
    severity it leaves out (so no incident is ever without a radius)."""
    return {**parse_default_radii(DEFAULT_RADIUS_SETTING), **parse_default_radii(text)}


@dataclass(frozen=True)
class IncidentArea:
    """What the join needs of an incident: where, how big, how severe."""

    id: str
    lat: float
    lon: float
    severity: int = 3
    radius_km: float | None = None
    geometry: Mapping[str, Any] | None = None  # GeoJSON Polygon or MultiPolygon

    @classmethod
    def from_incident(cls, incident: Mapping[str, Any]) -> IncidentArea:
        """From a serialised incident (``crisis.domain.serialize`` keys)."""
        return cls(
            id=str(incident["id"]),
            lat=float(incident["lat"]),
            lon=float(incident["lon"]),
            severity=int(incident.get("severity") or 3),
            radius_km=incident.get("radius_km"),
            geometry=incident.get("area") or None,
        )


@dataclass(frozen=True)
class Hits:
    """The (traveller, incident) pairs inside, sorted by incident then traveller."""

    traveller: IntArray
    incident: IntArray
    distance_km: FloatArray

    def __len__(self) -> int:
        return len(self.traveller)


@dataclass(frozen=True)
class IncidentAffected:
    """The answer for one incident."""

    incident_id: str
    radius_km_used: float | None  # None when the area is a polygon
    traveller: IntArray  # indices into the position arrays
    distance_km: FloatArray


# --- geometry helpers --------------------------------------------------------------


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> FloatArray:
    """Great-circle distance on the WGS84 mean sphere, element-wise (degrees in, km out)."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    h = np.sin((p2 - p1) * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) * 0.5) ** 2
    return np.asarray(2.0 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))), dtype=np.float64)


def geodesic_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> FloatArray:
    """Exact WGS84 geodesic distance, element-wise (pyproj), in km."""
    shape_ = np.broadcast(lat1, lon1, lat2, lon2).shape
    args = [np.broadcast_to(np.asarray(a, dtype=np.float64), shape_).ravel() for a in (lon1, lat1, lon2, lat2)]
    if args[0].size == 0:
        return np.zeros(shape_, dtype=np.float64)
    _, _, dist = _GEOD.inv(args[0], args[1], args[2], args[3])
    return np.asarray(dist, dtype=np.float64).reshape(shape_) / 1000.0


def _aeqd_km(lat: Any, lon: Any, lat0: Any, lon0: Any) -> tuple[FloatArray, FloatArray]:
    """Spherical azimuthal-equidistant x/y (km) of points around per-point centres."""
    p = np.radians(lat)
    p0 = np.radians(lat0)
    dl = np.radians(np.subtract(lon, lon0))
    cos_c = np.clip(np.sin(p0) * np.sin(p) + np.cos(p0) * np.cos(p) * np.cos(dl), -1.0, 1.0)
    c = np.arccos(cos_c)
    sin_c = np.sin(c)
    k = np.where(sin_c > 1e-12, c / np.where(sin_c > 1e-12, sin_c, 1.0), 1.0) * EARTH_MEAN_RADIUS_KM
    x = k * np.cos(p) * np.sin(dl)
    y = k * (np.cos(p0) * np.sin(p) - np.sin(p0) * np.cos(p) * np.cos(dl))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


_GRID_DEG = 0.5
_GRID_COLS = int(360 / _GRID_DEG)
_GRID_ROWS = int(180 / _GRID_DEG)


def _cell(lat: FloatArray, lon: FloatArray) -> tuple[IntArray, IntArray]:
    """Grid column and row of points (clamped into the grid; an unknown position goes to
    cell 0 and fails the exact box test)."""
    lon = np.where(np.isfinite(lon), lon, -180.0)
    lat = np.where(np.isfinite(lat), lat, -90.0)
    col = np.clip(np.floor((lon + 180.0) / _GRID_DEG), 0, _GRID_COLS - 1).astype(np.int64)
    row = np.clip(np.floor((lat + 90.0) / _GRID_DEG), 0, _GRID_ROWS - 1).astype(np.int64)
    return col, row


def _unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """(3, n) unit vectors of points on the sphere."""
    p, l_ = np.radians(lat), np.radians(lon)
    c = np.cos(p)
    return np.stack([c * np.cos(l_), c * np.sin(l_), np.sin(p)])


def _chord2(a: FloatArray, b: FloatArray, ia: IntArray, ib: IntArray) -> FloatArray:
    """Squared chord between unit vectors a[:, ia] and b[:, ib], pair by pair."""
    dx = a[0][ia] - b[0][ib]
    dy = a[1][ia] - b[1][ib]
    dz = a[2][ia] - b[2][ib]
    return np.asarray(dx * dx + dy * dy + dz * dz, dtype=np.float64)


def _chord_km(chord2: FloatArray) -> FloatArray:
    """Great-circle distance (km, mean sphere) from squared chords: same as haversine."""
    return np.asarray(2.0 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.minimum(np.sqrt(chord2) * 0.5, 1.0)), dtype=np.float64)


def _unwrap_ring(ring: Sequence[Sequence[float]]) -> FloatArray:
    """A ring's lon/lat with longitudes made continuous (may leave -180..180); a ring that
    winds once around a pole is closed over that pole."""
    xy = np.asarray([(float(p[0]), float(p[1])) for p in ring], dtype=np.float64)
    if len(xy) and (xy[0] != xy[-1]).any():
        xy = np.vstack([xy, xy[:1]])
    lon = np.degrees(np.unwrap(np.radians(xy[:, 0])))
    winding = lon[-1] - lon[0]
    if abs(winding) > 180.0:  # around a pole: walk over it to close the ring
        pole = 90.0 if xy[:, 1].mean() > 0 else -90.0
        lon = lon[:-1]
        lat = xy[:-1, 1]
        lon = np.concatenate([lon, [lon[0] + winding, lon[0] + winding, lon[0], lon[0]]])
        lat = np.concatenate([lat, [lat[0], pole, pole, lat[0]]])
        return np.column_stack([lon, lat])
    return np.column_stack([lon, xy[:, 1]])


def _unwrapped_polygons(geometry: Mapping[str, Any]) -> list[Any]:
    kind = geometry.get("type")
    if kind == "Polygon":
        polys = [geometry["coordinates"]]
    elif kind == "MultiPolygon":
        polys = list(geometry["coordinates"])
    else:
        raise ValueError(f"an incident area must be a Polygon or MultiPolygon, not {kind!r}")
    out = []
    for rings in polys:
        shell = _unwrap_ring(rings[0])
        holes = [_unwrap_ring(r) for r in rings[1:]]
        # holes follow their shell's side of the antimeridian
        holes = [h + 360.0 * round((shell[:, 0].mean() - h[:, 0].mean()) / 360.0) for h in holes]
        poly = shapely.make_valid(shapely.Polygon(shell, holes))
        out.append(poly)
    return out


def _split_at_antimeridian(geom: Any) -> Any:
    """Unwrapped lon/lat geometry folded back into -180..180 (split where it crosses)."""
    minx, _, maxx, _ = geom.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return geom
    parts = []
    for k in range(math.floor((minx + 180.0) / 360.0), math.floor((maxx + 180.0) / 360.0) + 1):
        window = shapely.box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
        part = shapely.intersection(geom, window)
        if not part.is_empty:
            parts.append(shapely.transform(part, lambda c, k=k: c - np.array([360.0 * k, 0.0])))
    return shapely.union_all(parts)


def _lon_boxes(lon_min: float, lon_max: float, lat_min: float, lat_max: float) -> list[tuple[float, float, float, float]]:
    """Boxes in -180..180 covering an (unwrapped) lon range."""
    if lon_max - lon_min >= 360.0:
        return [(-180.0, lat_min, 180.0, lat_max)]
    boxes = []
    for k in range(math.floor((lon_min + 180.0) / 360.0), math.floor((lon_max + 180.0) / 360.0) + 1):
        lo = max(lon_min - 360.0 * k, -180.0)
        hi = min(lon_max - 360.0 * k, 180.0)
        if lo <= hi:
            boxes.append((lo, lat_min, hi, lat_max))
    return boxes


def _cap_box(lat: float, lon: float, reach_km: float) -> tuple[float, float, float, float]:
    """An unwrapped lon/lat box containing every point within reach_km (geodesic) of lat/lon."""
    delta = (reach_km * 1.001 + 0.001) / _MIN_CURVATURE_RADIUS_KM  # radians, conservative
    delta_deg = math.degrees(delta)
    lat_min, lat_max = lat - delta_deg, lat + delta_deg
    if lat_max >= 90.0 or lat_min <= -90.0:
        return (-180.0, max(lat_min, -90.0), 180.0 + 360.0, min(lat_max, 90.0))  # covers all lons
    ratio = math.sin(min(delta, math.pi / 2)) / math.cos(math.radians(lat))
    if ratio >= 1.0:
        return (-180.0, lat_min, 180.0 + 360.0, lat_max)
    dlon = math.degrees(math.asin(ratio)) * 1.001 + 1e-6
    return (lon - dlon, lat_min, lon + dlon, lat_max)


# --- the index ----------------------------------------------------------------------


@dataclass
class AreaIndex:
    """Incident areas prepared once for bulk joins of any number of positions."""

    incidents: Sequence[IncidentArea]
    default_radius_km: Mapping[int, float] = field(default_factory=lambda: parse_default_radii(DEFAULT_RADIUS_SETTING))
    buffer_km: float = 0.0

    def __post_init__(self) -> None:
        if self.buffer_km < 0:
            raise ValueError("buffer_km must not be negative")
        n = len(self.incidents)
        self.ids = [i.id for i in self.incidents]
        self.lat = np.array([i.lat for i in self.incidents], dtype=np.float64)
        self.lon = np.array([i.lon for i in self.incidents], dtype=np.float64)
        self.is_polygon = np.array([i.geometry is not None for i in self.incidents], dtype=bool)
        self.radius_km_used = np.full(n, np.nan)
        geoms = np.full(n, None, dtype=object)  # lon/lat in -180..180, for point-in-polygon
        projected = np.full(n, None, dtype=object)  # AEQD km around the incident, buffered
        boxes: list[tuple[float, float, float, float]] = []
        owners: list[int] = []
        for j, inc in enumerate(self.incidents):
            if inc.geometry is not None:
                unwrapped = shapely.union_all(_unwrapped_polygons(inc.geometry))
                geoms[j] = _split_at_antimeridian(unwrapped)
                if self.buffer_km > 0:
                    projected[j] = unwrapped
                # one box per part (the parts of a MultiPolygon may lie far apart)
                for minx, miny, maxx, maxy in shapely.bounds(shapely.get_parts(geoms[j])).tolist():
                    if self.buffer_km > 0:
                        d = math.degrees((self.buffer_km * 1.001 + 0.001) / _MIN_CURVATURE_RADIUS_KM)
                        miny, maxy = miny - d, maxy + d
                        polar = max(abs(miny), abs(maxy))
                        if polar >= 90.0 or math.sin(math.radians(d)) / math.cos(math.radians(polar)) >= 1.0:
                            minx, maxx = -180.0, 540.0
                        else:
                            dl = math.degrees(math.asin(math.sin(math.radians(d)) / math.cos(math.radians(polar))))
                            minx, maxx = minx - dl * 1.001, maxx + dl * 1.001
                        miny, maxy = max(miny, -90.0), min(maxy, 90.0)
                    for b in _lon_boxes(minx, maxx, miny, maxy):
                        boxes.append(b)
                        owners.append(j)
            else:
                radius = inc.radius_km if inc.radius_km else self.default_radius_km.get(int(inc.severity))
                if radius is None:
                    raise ValueError(f"incident {inc.id}: no area, no radius and no default for severity {inc.severity}")
                self.radius_km_used[j] = float(radius)
                box = _cap_box(inc.lat, inc.lon, float(radius) + self.buffer_km)
                for b in _lon_boxes(box[0], box[2], box[1], box[3]):
                    boxes.append(b)
                    owners.append(j)
        self.reach_km = self.radius_km_used + self.buffer_km  # circles only (nan for polygons)
        self.xyz = _unit_vectors(self.lat, self.lon)
        # a pair is surely outside when its spherical distance exceeds the reach by more
        # than the sphere's error: cos of that angle, compared with the dot product
        outer = np.minimum(self.reach_km * (1 + _SPHERE_REL_ERROR) / EARTH_MEAN_RADIUS_KM, np.pi)
        self._chord2_outer = (2.0 * np.sin(outer / 2.0)) ** 2  # squared chord of that angle
        self.geoms = geoms
        shapely.prepare(geoms[self.is_polygon])
        self._aeqd_lat = self.lat.copy()
        self._aeqd_lon = self.lon.copy()
        if self.buffer_km > 0 and self.is_polygon.any():
            self.projected = self._project(projected)
        else:
            self.projected = projected
        self._box_owner = np.asarray(owners, dtype=np.int64)
        self._multi_box = np.bincount(self._box_owner, minlength=n) > 1 if n else np.zeros(0, dtype=bool)
        self._boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # minx, miny, maxx, maxy
        self._box_c0, self._box_r0 = _cell(self._boxes[:, 1], self._boxes[:, 0])
        self._box_c1, self._box_r1 = _cell(self._boxes[:, 3], self._boxes[:, 2])
        # each box is one run of grid cells per grid row it spans: precompute those runs
        nrows = self._box_r1 - self._box_r0 + 1
        self._run_box = np.repeat(np.arange(len(nrows), dtype=np.int64), nrows)
        grid_row = self._box_r0[self._run_box] + (np.arange(len(self._run_box)) - np.repeat(np.cumsum(nrows) - nrows, nrows))
        self._run_lo = grid_row * _GRID_COLS + self._box_c0[self._run_box]
        self._run_hi = grid_row * _GRID_COLS + self._box_c1[self._run_box]

    def _candidates(self, lat: FloatArray, lon: FloatArray) -> tuple[IntArray, IntArray]:
        """(point, box) pairs with the point inside the box: one bulk grid query.

        Points are binned in a fixed lon/lat grid and sorted by cell; each box is one
        contiguous run of cells per grid row, found by binary search."""
        col, row = _cell(lat, lon)
        cells = row * _GRID_COLS + col
        order = np.argsort(cells, kind="stable")
        sorted_cells = cells[order]
        lo = np.searchsorted(sorted_cells, self._run_lo, side="left")
        hi = np.searchsorted(sorted_cells, self._run_hi, side="right")
        counts = hi - lo
        pos = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        pt = order[pos]
        box = np.repeat(self._run_box, counts)
        edges = self._boxes[box]
        plat, plon = lat[pt], lon[pt]
        inside = (plon >= edges[:, 0]) & (plon <= edges[:, 2]) & (plat >= edges[:, 1]) & (plat <= edges[:, 3])
        return pt[inside].astype(np.int64), box[inside]

    def _project(self, unwrapped: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Polygons densified in lon/lat, then into AEQD km around their own incident (in bulk)."""
        which = np.flatnonzero(self.is_polygon)
        dense = shapely.segmentize(unwrapped[which], _DENSIFY_DEG)
        coords, owner = shapely.get_coordinates(dense, return_index=True)
        # centred on each polygon's own centroid (the incident's point may lie elsewhere)
        centre = shapely.centroid(unwrapped[which])
        self._aeqd_lat[which] = shapely.get_y(centre)
        self._aeqd_lon[which] = shapely.get_x(centre)
        x, y = _aeqd_km(coords[:, 1], coords[:, 0], self._aeqd_lat[which][owner], self._aeqd_lon[which][owner])
        out = np.full(len(unwrapped), None, dtype=object)
        local = shapely.set_coordinates(dense.copy(), np.column_stack([x, y]))
        # widened by the buffer once, here (arcs of 128 chords per circle: at most
        # 0.03 % of the buffer inside the true curve)
        out[which] = shapely.buffer(local, self.buffer_km, quad_segs=32)
        shapely.prepare(out[which])
        return out

    def radius_used(self, j: int) -> float | None:
        r = self.radius_km_used[j]
        return None if math.isnan(r) else float(r)

    def join(self, lat: Any, lon: Any, exact_distances: bool = False) -> Hits:
        """Every (traveller, incident) pair with the traveller inside the area plus buffer."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        if len(lat) == 0 or len(self.ids) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Hits(empty, empty.copy(), np.zeros(0))
        pt, box = self._candidates(lat, lon)
        inc = self._box_owner[box]
        multi = self._multi_box[inc]
        if multi.any():  # an area split in several boxes: keep each pair once
            key = pt[multi].astype(np.int64) * len(self.ids) + inc[multi]
            uniq = np.unique(key)
            pt = np.concatenate([pt[~multi], uniq // len(self.ids)])
            inc = np.concatenate([inc[~multi], uniq % len(self.ids)])
        pt = pt.astype(np.int64)
        inc = inc.astype(np.int64)
        poly = self.is_polygon[inc]
        keep = np.zeros(len(pt), dtype=bool)
        dist = np.full(len(pt), np.nan)

        xyz = _unit_vectors(lat, lon)
        circ = np.flatnonzero(~poly)
        if len(circ):
            chord2 = _chord2(xyz, self.xyz, pt[circ], inc[circ])
            ok = chord2 <= self._chord2_outer[inc[circ]]  # the rest is surely outside
            near = circ[ok]
            reach = self.reach_km[inc[near]]
            d = _chord_km(chord2[ok])  # great-circle distance on the mean sphere
            keep[near] = d <= reach
            dist[near] = d
            band = np.flatnonzero(np.abs(d - reach) <= _SPHERE_REL_ERROR * reach + 1e-6)
            if len(band):  # too close to call on the sphere: decide on the ellipsoid
                b = near[band]
                exact = geodesic_km(self.lat[inc[b]], self.lon[inc[b]], lat[pt[b]], lon[pt[b]])
                keep[b] = exact <= reach[band]

        pol = np.flatnonzero(poly)
        if len(pol):
            inside = shapely.intersects_xy(self.geoms[inc[pol]], lon[pt[pol]], lat[pt[pol]])
            keep[pol] = inside
            if self.buffer_km > 0:
                out = pol[~inside]
                if len(out):
                    x, y = _aeqd_km(lat[pt[out]], lon[pt[out]], self._aeqd_lat[inc[out]], self._aeqd_lon[inc[out]])
                    keep[out] = shapely.intersects_xy(self.projected[inc[out]], x, y)
        pt, inc, dist = pt[keep], inc[keep], dist[keep]
        if exact_distances:
            dist = geodesic_km(self.lat[inc], self.lon[inc], lat[pt], lon[pt])
        else:
            todo = np.flatnonzero(self.is_polygon[inc])  # circles have theirs already
            dist[todo] = _chord_km(_chord2(xyz, self.xyz, pt[todo], inc[todo]))
        order = np.argsort(inc * len(lat) + pt)
        return Hits(pt[order], inc[order], dist[order])

    def per_incident(self, hits: Hits) -> list[IncidentAffected]:
        """The join's pairs as one answer per incident (in the index's order)."""
        bounds = np.searchsorted(hits.incident, np.arange(len(self.ids) + 1))
        return [
            IncidentAffected(
                incident_id=self.ids[j],
                radius_km_used=self.radius_used(j),
                traveller=hits.traveller[bounds[j] : bounds[j + 1]],
                distance_km=hits.distance_km[bounds[j] : bounds[j + 1]],
            )
            for j in range(len(self.ids))
        ]


def affected(
    lat: Any,
    lon: Any,
    incidents: Sequence[IncidentArea],
    default_radius_km: Mapping[int, float] | None = None,
    buffer_km: float = 0.0,
    exact_distances: bool = False,
) -> list[IncidentAffected]:
    """For every incident, the travellers (indices into lat/lon) inside its area plus buffer."""
    index = AreaIndex(incidents, default_radius_km or parse_default_radii(DEFAULT_RADIUS_SETTING), buffer_km)
    return index.per_incident(index.join(lat, lon, exact_distances=exact_distances))


# --- incremental --------------------------------------------------------------------


@dataclass(frozen=True)
class MembershipChange:
    """Pairs that entered or left since the previous state (traveller rows, incident indices)."""

    entered_traveller: IntArray
    entered_incident: IntArray
    left_traveller: IntArray
    left_incident: IntArray

    def by_incident(self, index: AreaIndex, ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """``{incident_id: {"entered": [traveller ids], "left": [...]}}`` for incidents that changed."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind, trav, inc in (("entered", self.entered_traveller, self.entered_incident),
                                ("left", self.left_traveller, self.left_incident)):
            for t, j in zip(trav.tolist(), inc.tolist()):
                out.setdefault(index.ids[j], {"entered": [], "left": []})[kind].append(ids[t])
        return out


class Membership:
    """Who is inside which area now, kept up to date batch by batch.

    The pairs live in append-only buffers, each traveller's pairs contiguous
    (``start``/``count`` per traveller row): a batch finds its travellers' old pairs by
    their ranges, joins only the batch, and appends the new pairs at the end; the space
    of replaced pairs is reclaimed when it outgrows the live pairs. A batch costs
    O(batch), not O(everyone).
    """

    def __init__(self, index: AreaIndex, ids: Sequence[str] | npt.NDArray[Any], lat: Any, lon: Any) -> None:
        self.index = index
        self.ids: list[str] = [str(i) for i in ids]
        self.row = {tid: r for r, tid in enumerate(self.ids)}
        if len(self.row) != len(self.ids):
            raise ValueError("traveller ids must be unique")
        self.lat = np.array(lat, dtype=np.float64)
        self.lon = np.array(lon, dtype=np.float64)
        hits = index.join(self.lat, self.lon)
        order = np.argsort(hits.traveller, kind="stable")
        self._load(hits.traveller[order], hits.incident[order], hits.distance_km[order])

    def _load(self, trav: IntArray, inc: IntArray, dist: FloatArray) -> None:
        """Buffers from pairs sorted by traveller row."""
        n = len(self.ids)
        capacity = max(2 * len(trav), 1024)
        self._inc = np.empty(capacity, dtype=np.int64)
        self._dist = np.empty(capacity, dtype=np.float64)
        self._inc[: len(trav)] = inc
        self._dist[: len(trav)] = dist
        self._used = len(trav)
        self.count = np.bincount(trav, minlength=n).astype(np.int64)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
        self._live = len(trav)

    def _positions(self, rows: IntArray) -> IntArray:
        counts = self.count[rows]
        total = int(counts.sum())
        offsets = np.repeat(self.start[rows] - (np.cumsum(counts) - counts), counts)
        return np.asarray(offsets + np.arange(total), dtype=np.int64)

    def hits(self) -> Hits:
        """Every pair now, sorted by incident then traveller (as ``AreaIndex.join``)."""
        rows = np.arange(len(self.ids), dtype=np.int64)
        pos = self._positions(rows)
        trav = np.repeat(rows, self.count)
        inc = self._inc[pos]
        order = np.argsort(inc * max(len(rows), 1) + trav)
        return Hits(trav[order], inc[order], self._dist[pos][order])

    def update(self, ids: Sequence[str] | npt.NDArray[Any], lat: Any, lon: Any) -> MembershipChange:
        """Apply a batch of new positions; return the pairs that entered and left."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        id_list = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        get = self.row.get
        found = [get(t, -1) for t in id_list]
        rows = np.asarray(found, dtype=np.int64)
        if (rows < 0).any():  # new travellers
            for k in np.flatnonzero(rows < 0).tolist():
                tid = str(id_list[k])
                r = self.row.get(tid)
                if r is None:
                    r = self.row[tid] = len(self.ids)
                    self.ids.append(tid)
                rows[k] = r
            grow = len(self.ids) - len(self.lat)
            self.lat = np.concatenate([self.lat, np.full(grow, np.nan)])
            self.lon = np.concatenate([self.lon, np.full(grow, np.nan)])
            self.start = np.concatenate([self.start, np.zeros(grow, dtype=np.int64)])
            self.count = np.concatenate([self.count, np.zeros(grow, dtype=np.int64)])
        # the last position of a traveller in the batch wins
        uniq_rows, first = np.unique(rows[::-1], return_index=True)
        take = len(rows) - 1 - first
        rows, lat, lon = uniq_rows, lat[take], lon[take]
        self.lat[rows] = lat
        self.lon[rows] = lon

        n = max(len(self.index.ids), 1)
        old_keys = np.repeat(rows, self.count[rows]) * n + self._inc[self._positions(rows)]
        hits = self.index.join(lat, lon)
        order = np.argsort(hits.traveller, kind="stable")  # rows are sorted: so are new pairs
        new_trav, new_inc, new_dist = rows[hits.traveller[order]], hits.incident[order], hits.distance_km[order]
        new_keys = new_trav * n + new_inc
        entered = np.setdiff1d(new_keys, old_keys, assume_unique=True)
        left = np.setdiff1d(old_keys, new_keys, assume_unique=True)

        # append the batch's pairs; the old ones become garbage
        self._live += len(new_keys) - len(old_keys)
        if self._used + len(new_keys) > len(self._inc):
            self._compact(extra=len(new_keys))
        base = self._used
        self._inc[base : base + len(new_keys)] = new_inc
        self._dist[base : base + len(new_keys)] = new_dist
        counts = np.bincount(np.searchsorted(rows, new_trav), minlength=len(rows)).astype(np.int64)
        self.count[rows] = counts
        self.start[rows] = base + np.cumsum(counts) - counts
        self._used = base + len(new_keys)
        return MembershipChange(entered // n, entered % n, left // n, left % n)

    def _compact(self, extra: int) -> None:
        rows = np.arange(len(self.ids), dtype=np.int64)
        pos = self._positions(rows)
        inc, dist = self._inc[pos], self._dist[pos]
        capacity = max(2 * (len(pos) + extra), 1024)
        self._inc = np.empty(capacity, dtype=np.int64)
        self._dist = np.empty(capacity, dtype=np.float64)
        self._inc[: len(pos)] = inc
        self._dist[: len(pos)] = dist
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int64) if len(rows) else rows
        self._used = len(pos)


# --- itineraries --------------------------------------------------------------------


def _epoch_seconds(times: Any) -> FloatArray:
    arr = np.asarray(times)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64).astype(np.float64) / 1000.0
    if arr.dtype == object:
        out = []
        for t in arr.ravel().tolist():
            if t.tzinfo is None:
                raise ValueError("itinerary arrival times must carry a time zone")
            out.append(t.timestamp())
        return np.asarray(out, dtype=np.float64)
    return arr.astype(np.float64)  # already epoch seconds


@dataclass(frozen=True)
class ItineraryHits:
    """Travellers whose itinerary brings them into an area within the horizon (reason "itinerary")."""

    traveller: IntArray
    incident: IntArray
    arrive: npt.NDArray[np.datetime64]  # UTC, earliest arrival into that area
    reason: str = "itinerary"

    def __len__(self) -> int:
        return len(self.traveller)


def itinerary_affected(
    index: AreaIndex,
    traveller: Any,
    to_lat: Any,
    to_lon: Any,
    arrive: Any,
    now: datetime,
    horizon: timedelta = ITINERARY_HORIZON,
) -> ItineraryHits:
    """Segments arriving in an area between now and now + horizon (both ends included).

    ``arrive``: datetime64 (UTC), aware datetimes or epoch seconds. One row per
    (traveller, incident), with the earliest qualifying arrival.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    traveller = np.asarray(traveller, dtype=np.int64)
    t = _epoch_seconds(arrive)
    t0 = now.astimezone(timezone.utc).timestamp()
    soon = np.flatnonzero((t >= t0) & (t <= t0 + horizon.total_seconds()))
    hits = index.join(np.asarray(to_lat, dtype=np.float64)[soon], np.asarray(to_lon, dtype=np.float64)[soon])
    seg = soon[hits.traveller]
    trav, inc, when = traveller[seg], hits.incident, t[seg]
    order = np.lexsort((when, trav, inc))
    trav, inc, when = trav[order], inc[order], when[order]
    first = np.ones(len(trav), dtype=bool)
    first[1:] = (trav[1:] != trav[:-1]) | (inc[1:] != inc[:-1])
    ms = np.round(when[first] * 1000.0).astype(np.int64).astype("datetime64[ms]")
    return ItineraryHits(trav[first], inc[first], ms)
