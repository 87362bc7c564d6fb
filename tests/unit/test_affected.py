"""Who is affected: hand-checked spatial cases, the buffer, default radii, itineraries,
and the incremental update against a full recompute on random data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from crisis.config import Settings
from crisis.fusion.affected import (
    AreaIndex,
    IncidentArea,
    Membership,
    affected,
    geodesic_km,
    haversine_km,
    itinerary_affected,
    default_radii,
    parse_default_radii,
)

RADII = parse_default_radii("1:5,2:10,3:25,4:50,5:100")
KM_PER_DEG_LAT_EQUATOR = 110.574  # WGS84 meridian arc per degree at the equator


def inside(incident: IncidentArea, lat: list[float], lon: list[float], buffer_km: float = 0.0) -> list[int]:
    [answer] = affected(np.array(lat), np.array(lon), [incident], RADII, buffer_km)
    return answer.traveller.tolist()


def square(lon0: float, lat0: float, lon1: float, lat1: float) -> list[list[float]]:
    return [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]


def test_circle_across_the_antimeridian() -> None:
    # 0.2 degrees of longitude at latitude 10 is ~21.9 km; longitude 170 is ~1,085 km away
    quake = IncidentArea("q", lat=10.0, lon=179.9, radius_km=50.0)
    [answer] = affected(np.array([10.0, 10.0, 10.0]), np.array([-179.9, 170.0, 179.95]), [quake], RADII)
    assert answer.traveller.tolist() == [0, 2]
    assert answer.distance_km[0] == pytest.approx(21.9, abs=0.2)
    assert answer.radius_km_used == 50.0


def test_circle_at_the_edge_is_decided_on_the_ellipsoid() -> None:
    # due north of the centre, 1 degree of latitude at the equator is 110.574 km on WGS84
    # (the mean sphere says 111.195): a 110.6 km circle holds the point, 110.55 does not
    assert inside(IncidentArea("a", 0.0, 30.0, radius_km=110.6), [1.0], [30.0]) == [0]
    assert inside(IncidentArea("a", 0.0, 30.0, radius_km=110.55), [1.0], [30.0]) == []


def test_point_across_the_pole() -> None:
    # 89.9N on opposite meridians: 0.2 degrees apart over the pole, ~22.3 km
    arctic = IncidentArea("n", lat=89.9, lon=0.0, radius_km=30.0)
    [answer] = affected(np.array([89.9, 89.9, 89.5]), np.array([180.0, 90.0, 0.0]), [arctic], RADII)
    assert answer.traveller.tolist() == [0, 1]
    assert answer.distance_km[0] == pytest.approx(22.3, abs=0.2)
    assert inside(IncidentArea("s", lat=-89.95, lon=45.0, radius_km=20.0), [-89.95], [-135.0]) == [0]


def test_circle_at_high_latitude_spans_many_degrees_of_longitude() -> None:
    # at 80N a degree of longitude is ~19.4 km: 4.5 degrees east is ~87 km, 5.5 west ~107 km
    svalbard = IncidentArea("sv", lat=80.0, lon=0.0, radius_km=100.0)
    assert inside(svalbard, [80.0, 80.0, 80.0], [4.5, -5.5, -5.0]) == [0, 2]


def test_polygon_around_a_pole() -> None:
    # a ring at 85N walking once around the world encloses the pole
    ring = [[lon, 85.0] for lon in range(-180, 181, 30)]
    cap = IncidentArea("cap", lat=90.0, lon=0.0, geometry={"type": "Polygon", "coordinates": [ring]})
    assert inside(cap, [89.0, 86.0, 84.0], [10.0, -170.0, 10.0]) == [0, 1]


def test_person_exactly_on_a_polygon_edge_and_corner_is_inside() -> None:
    area = IncidentArea("p", 33.5, 35.5, geometry={"type": "Polygon", "coordinates": [square(35.0, 33.0, 36.0, 34.0)]})
    lat = [33.0, 33.5, 34.0, 33.5, 32.999]
    lon = [35.5, 36.0, 36.0, 35.5, 35.5]
    assert inside(area, lat, lon) == [0, 1, 2, 3]


def test_multipolygon() -> None:
    geometry = {"type": "MultiPolygon", "coordinates": [[square(35.0, 33.0, 36.0, 34.0)], [square(40.0, 10.0, 41.0, 11.0)]]}
    area = IncidentArea("m", 33.5, 35.5, geometry=geometry)
    assert inside(area, [33.5, 10.5, 20.0, 10.5], [35.5, 40.5, 38.0, 39.9]) == [0, 1]


def test_polygon_with_a_hole() -> None:
    geometry = {"type": "Polygon", "coordinates": [square(0.0, 0.0, 4.0, 4.0), square(1.0, 1.0, 3.0, 3.0)]}
    assert inside(IncidentArea("h", 2.0, 2.0, geometry=geometry), [2.0, 0.5], [2.0, 0.5]) == [1]


def test_polygon_crossing_the_antimeridian() -> None:
    # Fiji-like box from 178E to 178W, written as GeoJSON rings usually are
    ring = [[178.0, -19.0], [-178.0, -19.0], [-178.0, -16.0], [178.0, -16.0], [178.0, -19.0]]
    fiji = IncidentArea("f", -17.5, 180.0, geometry={"type": "Polygon", "coordinates": [ring]})
    lat = [-17.5, -17.5, -17.5, -17.5, -17.5, -17.5]
    lon = [179.5, -179.5, 180.0, -180.0, 0.0, -177.0]
    assert inside(fiji, lat, lon) == [0, 1, 2, 3]


def test_buffer_is_measured_on_the_ground() -> None:
    area = IncidentArea("b", 0.5, 10.5, geometry={"type": "Polygon", "coordinates": [square(10.0, 0.0, 11.0, 1.0)]})
    three_km_south = -3.0 / KM_PER_DEG_LAT_EQUATOR
    assert inside(area, [three_km_south], [10.5], buffer_km=0.0) == []
    assert inside(area, [three_km_south], [10.5], buffer_km=5.0) == [0]
    assert inside(area, [three_km_south], [10.5], buffer_km=2.0) == []
    # at 60N a degree of longitude is ~55.8 km: 0.05 degrees east is ~2.8 km, not 5.6
    high = IncidentArea("h", 60.5, 10.5, geometry={"type": "Polygon", "coordinates": [square(10.0, 60.0, 11.0, 61.0)]})
    assert inside(high, [60.5], [11.05], buffer_km=3.0) == [0]
    assert inside(high, [60.5], [11.05], buffer_km=2.5) == []
    # measured around the polygon itself, even when the incident's point is far away
    far = IncidentArea("f", 0.0, 0.0, geometry=high.geometry)
    assert inside(far, [60.5], [11.05], buffer_km=3.0) == [0]
    assert inside(far, [60.5], [11.05], buffer_km=2.5) == []


def test_buffer_widens_circles_too() -> None:
    circle = IncidentArea("c", 0.0, 0.0, radius_km=10.0)
    point = ([0.0], [13.0 / 111.32])  # ~13 km east
    assert inside(circle, *point) == []
    assert inside(circle, *point, buffer_km=5.0) == [0]


def test_buffer_across_the_antimeridian() -> None:
    ring = [[179.0, 0.0], [180.0, 0.0], [180.0, 1.0], [179.0, 1.0], [179.0, 0.0]]
    area = IncidentArea("e", 0.5, 179.5, geometry={"type": "Polygon", "coordinates": [ring]})
    three_km_east = -180.0 + 3.0 / 111.32
    assert inside(area, [0.5], [three_km_east]) == []
    assert inside(area, [0.5], [three_km_east], buffer_km=5.0) == [0]


def test_default_radius_by_severity() -> None:
    incidents = [IncidentArea(f"s{s}", 0.0, 0.0, severity=s) for s in range(1, 6)]
    at_20km = np.array([0.0]), np.array([20.0 / 111.32])
    answers = affected(*at_20km, incidents, RADII)
    assert [a.radius_km_used for a in answers] == [5.0, 10.0, 25.0, 50.0, 100.0]
    assert [len(a.traveller) for a in answers] == [0, 0, 1, 1, 1]
    assert affected(*at_20km, [IncidentArea("x", 0.0, 0.0, severity=1)], {1: 30.0})[0].radius_km_used == 30.0
    # a polygon uses no radius
    poly = IncidentArea("p", 0.0, 0.0, severity=5, geometry={"type": "Polygon", "coordinates": [square(-1, -1, 1, 1)]})
    assert affected(*at_20km, [poly], RADII)[0].radius_km_used is None


def test_default_radius_and_buffer_settings() -> None:
    settings = Settings.from_env({"CRISIS_DEFAULT_RADIUS_KM": "1:2,5:200", "CRISIS_AFFECTED_BUFFER_KM": "1.5"})
    assert parse_default_radii(settings.default_radius_km) == {1: 2.0, 5: 200.0}
    assert settings.affected_buffer_km == 1.5
    defaults = Settings.from_env({})
    assert parse_default_radii(defaults.default_radius_km) == {1: 5.0, 2: 10.0, 3: 25.0, 4: 50.0, 5: 100.0}
    assert defaults.affected_buffer_km == 0.0
    with pytest.raises(ValueError, match="severity:km"):
        parse_default_radii("1=5")
    with pytest.raises(ValueError, match="not one of 1-5"):
        parse_default_radii("6:10")
    # A setting that names some severities keeps the built-in radius for the others,
    # so an incident of any severity has a radius.
    assert default_radii(settings.default_radius_km) == {1: 2.0, 2: 10.0, 3: 25.0, 4: 50.0, 5: 200.0}


def test_a_malformed_radius_setting_stops_the_start(settings: Settings) -> None:
    from crisis.web import create_app

    with pytest.raises(ValueError, match="CRISIS_DEFAULT_RADIUS_KM"):
        create_app(settings.with_(default_radius_km="3:-1"), start_gateway=False, start_feeds=False)


def test_itinerary_within_48_hours_included_at_49_not() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    index = AreaIndex([IncidentArea("beirut", 33.89, 35.5, radius_km=25.0)], RADII)
    arrive = [now + timedelta(hours=48), now + timedelta(hours=49), now + timedelta(hours=2), now + timedelta(hours=1), now - timedelta(hours=1)]
    traveller = [0, 1, 2, 3, 4]
    to_lat = [33.82, 33.82, 31.95, 33.82, 33.82]  # Beirut airport, except 2 flies to Amman
    to_lon = [35.49, 35.49, 35.99, 35.49, 35.49]
    hits = itinerary_affected(index, traveller, to_lat, to_lon, np.array(arrive, dtype=object), now)
    assert hits.traveller.tolist() == [0, 3]
    assert hits.reason == "itinerary"
    assert hits.arrive.tolist() == [datetime(2026, 12, 2, 12, 0), datetime(2026, 11, 30, 13, 0)]


def test_itinerary_keeps_the_earliest_arrival_per_incident() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    index = AreaIndex([IncidentArea("beirut", 33.89, 35.5, radius_km=25.0)], RADII)
    arrive = np.array(["2026-12-01T10:00", "2026-11-30T18:00"], dtype="datetime64[s]")
    hits = itinerary_affected(index, [7, 7], [33.82, 33.85], [35.49, 35.5], arrive, now)
    assert hits.traveller.tolist() == [7]
    assert str(hits.arrive[0]) == "2026-11-30T18:00:00.000"


def _random_world(rng: np.random.Generator, n_people: int, n_incidents: int) -> tuple[list[IncidentArea], np.ndarray, np.ndarray]:
    hubs_lat = rng.uniform(-80, 80, 30)
    hubs_lon = np.concatenate([[179.8, -179.8, 0.0], rng.uniform(-180, 180, 27)])
    h = rng.integers(0, len(hubs_lat), n_people)
    lat = np.clip(hubs_lat[h] + rng.normal(0, 1.0, n_people), -89.9, 89.9)
    lon = (hubs_lon[h] + rng.normal(0, 1.0, n_people) + 180.0) % 360.0 - 180.0
    incidents = []
    for k in range(n_incidents):
        j = rng.integers(0, len(hubs_lat))
        clat = float(np.clip(hubs_lat[j] + rng.normal(0, 0.5), -89, 89))
        clon = float((hubs_lon[j] + rng.normal(0, 0.5) + 180.0) % 360.0 - 180.0)
        kind = k % 3
        if kind == 0:
            incidents.append(IncidentArea(f"c{k}", clat, clon, radius_km=float(rng.uniform(10, 150))))
        elif kind == 1:
            incidents.append(IncidentArea(f"d{k}", clat, clon, severity=int(rng.integers(1, 6))))
        else:
            w = float(rng.uniform(0.2, 1.5))
            ring = square(clon - w, clat - w / 2, clon + w, clat + w / 2)
            ring = [[(x + 180.0) % 360.0 - 180.0, y] for x, y in ring]
            incidents.append(IncidentArea(f"p{k}", clat, clon, geometry={"type": "Polygon", "coordinates": [ring]}))
    return incidents, lat, lon


def _pairs(hits: object) -> set[tuple[int, int]]:
    return set(zip(hits.traveller.tolist(), hits.incident.tolist()))  # type: ignore[attr-defined]


@pytest.mark.parametrize("buffer_km", [0.0, 7.5])
def test_incremental_matches_full_recompute_on_random_data(buffer_km: float) -> None:
    rng = np.random.default_rng(20261130)
    incidents, lat, lon = _random_world(rng, 3000, 60)
    index = AreaIndex(incidents, RADII, buffer_km)
    ids = [f"t{i}" for i in range(len(lat))]
    state = Membership(index, ids, lat, lon)
    before = _pairs(state.hits())
    assert before  # the random world does put people inside areas
    compactions = 0
    for round_ in range(30):
        used = state._used
        batch = rng.choice(len(ids) + 50, 400, replace=True)  # repeats, and some new people
        b_ids = [f"t{i}" for i in batch]
        b_lat = np.clip(rng.uniform(-1, 1, len(batch)) * 2 + np.concatenate([lat, np.zeros(50)])[batch], -89.9, 89.9)
        b_lon = (np.concatenate([lon, np.full(50, 179.9)])[batch] + rng.normal(0, 1.5, len(batch)) + 180) % 360 - 180
        change = state.update(b_ids, b_lat, b_lon)
        # the reference: the last position per person, then everything again from scratch
        latest = dict(zip(b_ids, zip(b_lat.tolist(), b_lon.tolist())))
        for tid, (a, o) in latest.items():
            i = int(tid[1:])
            if i >= len(lat):
                lat, lon = np.append(lat, np.full(i - len(lat) + 1, np.nan)), np.append(lon, np.full(i - len(lon) + 1, np.nan))
            lat[i], lon[i] = a, o
        rows = [state.row.get(f"t{i}") for i in range(len(lat))]
        full = index.join(lat, lon)
        full_pairs = {(state.row[f"t{t}"], j) for t, j in _pairs(full) if rows[t] is not None}
        after = _pairs(state.hits())
        assert after == full_pairs, f"round {round_}"
        entered = set(zip(change.entered_traveller.tolist(), change.entered_incident.tolist()))
        left = set(zip(change.left_traveller.tolist(), change.left_incident.tolist()))
        assert entered == after - before and left == before - after
        assert entered or left
        before = after
        compactions += state._used < used  # replaced pairs were reclaimed
    assert compactions  # the buffers were reclaimed at least once along the way


def test_distances_from_the_centre_are_geodesic() -> None:
    # Nairobi to Mombasa, ~440 km: the haversine estimate is within 0.56 % of WGS84
    lat, lon = np.array([-4.04]), np.array([39.67])
    [answer] = affected(lat, lon, [IncidentArea("n", -1.29, 36.82, radius_km=500.0)], RADII)
    exact = float(geodesic_km(-1.29, 36.82, -4.04, 39.67))
    assert answer.distance_km[0] == pytest.approx(exact, rel=0.0056)
    assert float(haversine_km(-1.29, 36.82, -4.04, 39.67)) == pytest.approx(exact, rel=0.0056)
    [exact_answer] = affected(lat, lon, [IncidentArea("n", -1.29, 36.82, radius_km=500.0)], RADII, exact_distances=True)
    assert exact_answer.distance_km[0] == pytest.approx(exact, abs=1e-9)


def test_incremental_change_names_who_entered_and_left() -> None:
    index = AreaIndex([IncidentArea("beirut", 33.89, 35.5, radius_km=25.0)], RADII)
    state = Membership(index, ["a", "b"], [33.89, 31.95], [35.5, 35.93])  # a in Beirut, b in Amman
    change = state.update(["a", "b", "c", "b"], [31.95, 0.0, 33.9, 33.85], [35.93, 0.0, 35.51, 35.49])
    assert change.by_incident(index, state.ids) == {"beirut": {"entered": ["b", "c"], "left": ["a"]}}
    [now] = index.per_incident(state.hits())
    assert [state.ids[t] for t in now.traveller] == ["b", "c"] and now.distance_km[0] == pytest.approx(4.53, abs=0.03)
