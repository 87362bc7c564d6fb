"""The map's picture (crisis/layers/preview.py, crisis/ui/map_preview.py): MapLibre's
projection, places as on the wall, and the live map's access rules. No server, no Redis."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from crisis.adapters.accounts import Principal
from crisis.domain.model import GeoPoint, Incident, IncidentStatus, IncidentType
from crisis.layers import preview
from crisis.layers.incidents import MAX_LAT, SEVERITY_COLOURS, incident_message, world_px
from crisis.ui import map_preview

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _maplibre(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """maplibre-gl's mercatorXfromLng / mercatorYfromLat, times the world size (512 * 2^zoom)."""
    world = 512 * 2 ** zoom
    return (180 + lon) / 360 * world, (180 - 180 / math.pi * math.log(math.tan(math.pi / 4 + lat * math.pi / 360))) / 360 * world


@pytest.mark.parametrize("lon, lat, zoom", [(0, 0, 0), (15, 20, 1.2), (35.5, 33.89, 2.95), (-179.9, -60, 3), (151.2, -33.87, 1)])
def test_a_point_is_where_maplibre_puts_it(lon: float, lat: float, zoom: float) -> None:
    x, y = world_px(lon, lat, zoom)
    want = _maplibre(lon, lat, zoom)
    assert x == pytest.approx(want[0], abs=1e-6) and y == pytest.approx(want[1], abs=1e-6)


def test_known_points_of_the_world() -> None:
    assert world_px(0, 0, 0) == pytest.approx((256, 256))
    assert world_px(180, MAX_LAT, 1) == pytest.approx((1024, 0), abs=1e-3)  # the top right corner
    # lat 20 at zoom 0: 512 * (180 - 180/pi * ln(tan(55 deg))) / 360, worked by hand
    assert world_px(0, 20, 0)[1] == pytest.approx(226.959, abs=1e-3)


def _message(incident_id: str, lat: float, lon: float, severity: int, regions: tuple[str, ...] = (),
             status: IncidentStatus = IncidentStatus.REPORTED) -> dict[str, Any]:
    from crisis.domain.serialize import incident_to_dict

    incident = Incident(incident_id, f"Title {incident_id}", IncidentType.FLOOD, severity, GeoPoint(lat, lon), NOW, NOW,
                        status=status, regions=regions)
    return incident_message(incident_to_dict(incident), "snapshot", "1-0")


def _circles(svg: str) -> list[tuple[float, float, str]]:
    return [(float(x), float(y), fill) for x, y, fill in
            re.findall(r'<circle cx="([-\d.]+)" cy="([-\d.]+)" r="[\d.]+" fill="(#[0-9a-f]+)"', svg)]


def test_the_pictures_markers_are_at_the_projected_points_in_their_colours() -> None:
    zoom = 2.95
    messages = [_message("a", 33.89, 35.5, 4), _message("b", -15.0, -60.0, 2)]
    svg = preview.world_picture({"type": "FeatureCollection", "features": []}, messages, zoom)
    assert f'width="{512 * 2 ** zoom:g}"' in svg
    drawn = sorted(_circles(svg))
    want = sorted([(*(round(v, 1) for v in _maplibre(35.5, 33.89, zoom)), SEVERITY_COLOURS[4]),
                   (*(round(v, 1) for v in _maplibre(-60.0, -15.0, zoom)), SEVERITY_COLOURS[2])])
    assert drawn == want


def test_incidents_at_one_place_are_one_marker_with_the_count_in_the_worst_colour() -> None:
    messages = [_message("a", 15.5, 32.56, 3), _message("b", 15.5, 32.56, 5), _message("c", 15.51, 32.57, 2),
                _message("far", -33.87, 151.2, 1), _message("gone", 15.5, 32.56, 5, status=IncidentStatus.CLOSED)]
    svg = preview.world_picture({"type": "FeatureCollection", "features": []}, messages, preview.FIT_ZOOM, preview.WALL)
    circles = _circles(svg)
    assert sorted(c[2] for c in circles) == sorted([preview.WALL_COLOURS[5], preview.WALL_COLOURS[1]])
    assert re.findall(r"<text [^>]*>(\d+)</text>", svg) == ["3"]  # the closed one is not counted
    assert 'data-incidents="4"' in svg and 'data-places="2"' in svg
    assert "Title" not in svg  # no names, ever (a wall's picture is like any other)


def test_the_countries_are_drawn_in_the_same_projection() -> None:
    square = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}}]}
    path = preview.land_path(square, 2)
    start = re.match(r"M([-\d.]+) ([-\d.]+)l", path)
    assert start is not None
    assert (float(start.group(1)), float(start.group(2))) == tuple(round(v) for v in _maplibre(0, 0, 2))


class _Incidents:
    def __init__(self, incidents: list[Incident]) -> None:
        self._incidents = incidents

    def all(self) -> list[Incident]:
        return list(self._incidents)


def _ctx(incidents: list[Incident], head: str = "5-0") -> Any:
    log = SimpleNamespace(last_id=lambda _key: head)
    return SimpleNamespace(deps=SimpleNamespace(log=log, incidents=_Incidents(incidents)))


def _incident(incident_id: str, lat: float, lon: float, region: str) -> Incident:
    return Incident(incident_id, incident_id, IncidentType.FLOOD, 4, GeoPoint(lat, lon), NOW, NOW, regions=(region,))


def test_a_desk_sees_only_its_regions_incidents_and_opens_on_its_region() -> None:
    beirut = _incident("beirut", 33.89, 35.5, "middle_east_north_africa")
    lima = _incident("lima", -12.05, -77.04, "americas")
    ctx = _ctx([beirut, lima])
    desk = Principal("desk", "regional_desk", region="middle_east_north_africa")
    officer = Principal("officer", "duty_officer")
    lon, lat, zoom = map_preview.live_view(desk)
    assert (lon, lat) == (23.0, 28.0347) and zoom == 2.95  # crisis.domain.regions.initial_view
    assert map_preview.live_view(officer) == map_preview.world_view()

    def at(svg: str, incident: Incident, zoom: float) -> bool:
        x, y = world_px(incident.location.lon, incident.location.lat, zoom)
        return any(abs(cx - x) < 0.1 and abs(cy - y) < 0.1 for cx, cy, _ in _circles(svg))

    desks = map_preview.picture(ctx, desk, "live")
    assert at(desks, beirut, zoom) and not at(desks, lima, zoom)
    officers = map_preview.picture(ctx, officer, "live")
    world_zoom = map_preview.world_view()[2]
    assert at(officers, beirut, world_zoom) and at(officers, lima, world_zoom)
    walls = map_preview.picture(ctx, Principal("wall", "wall"), "wall")
    assert 'data-incidents="2"' in walls


def test_a_caller_that_may_not_read_gets_no_picture() -> None:
    ctx = _ctx([_incident("beirut", 33.89, 35.5, "middle_east_north_africa")])
    for principal in (Principal("feed", "feed"), Principal("desk", "regional_desk", region=None)):
        with pytest.raises(PermissionError):
            map_preview.picture(ctx, principal, "live")


def test_a_cached_picture_is_never_older_than_the_incident_stream() -> None:
    cache = map_preview._Pictures(4)
    officer = Principal("officer", "duty_officer")
    first = map_preview.picture(_ctx([], head="1-0"), officer, "live", cache)
    newer = map_preview.picture(_ctx([_incident("x", 1.0, 1.0, "africa")], head="2-0"), officer, "live", cache)
    assert 'data-incidents="0"' in first and 'data-incidents="1"' in newer
    # Same head: the cached one (the store is not read again).
    again = map_preview.picture(_ctx([], head="2-0"), officer, "live", cache)
    assert again == newer
