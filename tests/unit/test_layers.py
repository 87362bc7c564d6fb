"""Map drawing: geodesic circles, messages, figure structure."""

import numpy as np
import pytest
from pyproj import Geod

from crisis.layers.incidents import area_features, circle_polygon, display_area, incident_message
from crisis.layers.map_figure import AREA_LAYER_FIRST, INCIDENT_TRACE, TRAVELLER_TRACE, map_figure

GEOD = Geod(ellps="WGS84")


@pytest.mark.parametrize("lat,lon,radius", [(33.27, 35.2, 25), (64.1, -21.9, 100), (-17.7, 179.9, 300)])
def test_circle_vertices_are_the_radius_away_on_the_ellipsoid(lat: float, lon: float, radius: float) -> None:
    ring = np.array(circle_polygon(lat, lon, radius)["coordinates"][0])
    assert (ring[0] == ring[-1]).all()
    _, _, dist = GEOD.inv(np.full(len(ring), lon), np.full(len(ring), lat), ring[:, 0], ring[:, 1])
    assert np.allclose(dist / 1000, radius, rtol=1e-3)
    # At 64N a circle is much wider in degrees of longitude than of latitude (not a degree buffer).
    if lat > 60:
        assert np.ptp(ring[:, 0]) > 1.8 * np.ptp(ring[:, 1])
    # Near the antimeridian the ring stays continuous around its centre.
    assert np.abs(ring[:, 0] - lon).max() < 10


def test_display_area_prefers_the_polygon_then_the_radius() -> None:
    polygon = {"type": "Polygon", "coordinates": [[[35, 33], [36, 33], [36, 34], [35, 33]]]}
    base = {"id": "i", "title": "t", "severity": 3, "status": "active", "lat": 33.5, "lon": 35.5}
    assert display_area({**base, "area": polygon, "radius_km": 10}) == polygon
    assert display_area({**base, "radius_km": 10})["type"] == "Polygon"
    assert display_area(base) is None


def test_closed_incidents_leave_the_map_and_areas_group_by_severity() -> None:
    open_one = incident_message({"id": "a", "title": "A", "severity": 4, "status": "active", "lat": 1, "lon": 1, "radius_km": 5}, "x", "1-0")
    closed = incident_message({"id": "b", "title": "B", "severity": 4, "status": "closed", "lat": 2, "lon": 2, "radius_km": 5}, "x", "2-0")
    areas = area_features([open_one, closed])
    assert [f["properties"]["id"] for f in areas[4]["features"]] == ["a"]
    figure = map_figure([open_one, closed])
    assert list(figure.data[INCIDENT_TRACE].customdata) == ["a"]
    # Travellers are the browser's MapLibre layer (ADR 004): the figure keeps an empty trace.
    assert len(figure.data[TRAVELLER_TRACE].lat) == 0
    layers = figure.layout.map.layers
    assert layers[0].source == "/assets/basemap/countries.geojson" and figure.layout.map.style == "white-bg"
    assert len(layers[AREA_LAYER_FIRST + 3].source["features"]) == 1


def test_online_style_drops_the_offline_basemap() -> None:
    figure = map_figure([], "open-street-map")
    assert figure.layout.map.style == "open-street-map"
    assert all(not isinstance(layer.source, str) for layer in figure.layout.map.layers)
