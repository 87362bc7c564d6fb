"""The demo scenario, without a clock or a database: time is passed in, seeds fix the rest."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import airportsdata
import numpy as np
import pytest
import shapely.geometry
from pyproj import Geod

from crisis.domain.incidents import ALLOWED_TRANSITIONS
from crisis.domain.model import IncidentStatus, IncidentType
from crisis.domain.taxonomy import GENERAL_SUBTYPE, category_of
from crisis.domain.travellers import CATEGORIES
from crisis.feeds.schemas import IncidentIn
from crisis.sim.places import AGENCIES, AMMAN
from crisis.sim.scenario import Scenario, Step

START = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
GEOD = Geod(ellps="WGS84")


def in_lebanon(lat: float, lon: float) -> bool:
    return 33.0 <= lat <= 34.7 and 35.0 <= lon <= 36.7


def run(scenario: Scenario, until: float, dt: float = 1.0, first: float = 0.0) -> list[Step]:
    steps, t = [], first
    while t + dt <= until:
        t += dt
        steps.append(scenario.step(START + timedelta(seconds=t), dt))
    return steps


def incidents(steps: list[Step]) -> list[IncidentIn]:
    return [m for s in steps for m in s.incidents]


@pytest.fixture(scope="module")
def story() -> list[IncidentIn]:
    """Every message of a whole first story cycle (and a bit), 600 travellers."""
    return incidents(run(Scenario(seed=11, travellers=600, start=START, run_tag=""), 1900, dt=5.0))


def dump(step: Step) -> list:
    return [b.model_dump() for b in step.positions] + [m.model_dump() for m in step.incidents]


def test_same_seed_same_scenario_and_another_seed_another() -> None:
    a, b = (Scenario(seed=3, travellers=800, start=START) for _ in range(2))
    assert a.profiles() == b.profiles()
    assert [x.model_dump() for x in a.initial_batches(START)] == [x.model_dump() for x in b.initial_batches(START)]
    for sa, sb in zip(run(a, 90), run(b, 90)):
        assert dump(sa) == dump(sb)
    assert Scenario(seed=4, travellers=800, start=START).profiles() != a.profiles()


def test_profiles_are_complete_plausible_and_unique() -> None:
    profiles = Scenario(travellers=5000, start=START).profiles()
    airports = airportsdata.load("IATA")
    assert len(profiles) == 5000
    assert len({p["id"] for p in profiles}) == 5000
    for p in profiles:
        assert re.fullmatch(r"T\d{6}", p["id"])
        assert re.fullmatch(r"\S+ \S.*", p["name"])
        assert p["agency"] in AGENCIES and p["category"] in CATEGORIES
        assert p["duty_station"]["name"] and re.fullmatch(r"[A-Z]{3}", p["duty_station"]["country"])
        assert all(s["from"] in airports and s["to"] in airports for s in p["itinerary"])
    stations = {(p["duty_station"]["lat"], p["duty_station"]["lon"]) for p in profiles}
    assert len(stations) > 100
    shares = {c: sum(p["category"] == c for p in profiles) / 5000 for c in CATEGORIES}
    assert shares["national_staff"] > shares["international_staff"] > shares["visitor"]


def test_initial_positions_cover_everyone_validly_in_batches_of_5000() -> None:
    scenario = Scenario(travellers=12_000, start=START)
    batches = scenario.initial_batches(START)
    assert all(len(b.positions) <= 5000 for b in batches)
    ids = [p.traveller_id for b in batches for p in b.positions]
    assert sorted(ids) == sorted(scenario.ids)
    for p in (p for b in batches for p in b.positions):
        assert -90 <= p.lat <= 90 and -180 <= p.lon <= 180 and p.time == START and p.source == "sim"
    assert len(Scenario(travellers=300, start=START).initial_positions(START).positions) == 300


def test_lebanon_has_a_concentration_of_travellers() -> None:
    positions = Scenario(travellers=5000, start=START).initial_positions(START).positions
    in_leb = sum(in_lebanon(p.lat, p.lon) for p in positions)
    assert 300 <= in_leb <= 500


def test_every_reported_position_stays_valid_over_time() -> None:
    scenario = Scenario(seed=5, travellers=1000, start=START)
    steps = run(scenario, 1200, dt=10.0)
    reported = [p for s in steps for b in s.positions for p in b.positions]
    assert reported
    assert all(-90 <= p.lat <= 90 and -180 <= p.lon <= 180 for p in reported)
    assert all(len(b.positions) <= 5000 for s in steps for b in s.positions)


def test_an_armed_conflict_in_lebanon_appears_early_then_escalates(story: list[IncidentIn]) -> None:
    early = [m for m in story if m.reported_at <= START + timedelta(minutes=2)]
    conflict = next(m for m in early if m.category == "armed_conflict" and in_lebanon(m.lat, m.lon))
    assert conflict.source == "sim" and conflict.source_id == "sim-leb-1"
    assert conflict.type == IncidentType.EXCHANGE_OF_FIRE
    later = [m for m in story if m.source_id == conflict.source_id]
    assert max(m.severity for m in later) > conflict.severity
    assert any(m.type == IncidentType.DEMONSTRATION and in_lebanon(m.lat, m.lon) for m in story)
    assert any(m.type == IncidentType.AIRSTRIKE and "Tyre" in m.title for m in story)
    assert {"Tyre", "Nabatieh", "Beirut"} <= {w for m in story for w in ("Tyre", "Nabatieh", "Beirut") if w in m.title}


def test_every_demo_incident_has_a_category_and_a_specific_sub_type(story: list[IncidentIn]) -> None:
    """The demo files incidents as a desk would: category plus sub-type, never "Other ..."."""
    general = set(GENERAL_SUBTYPE.values()) | {"other"}
    assert story
    for m in story:
        assert m.category == category_of(m.type.value), m
        assert m.type.value not in general, m
    shown = {m.category for m in story}
    assert {"crime", "civil_unrest", "armed_conflict", "hazard"} <= shown
    background = [m for m in story if m.source_id.startswith("sim-bg-")]
    assert len({m.type for m in background}) >= 6


def test_an_earthquake_with_an_area_polygon_appears_by_minute_four(story: list[IncidentIn]) -> None:
    quakes = [m for m in story if m.type == IncidentType.EARTHQUAKE and m.area is not None]
    first = quakes[0]
    assert first.reported_at <= START + timedelta(minutes=4)
    assert first.area["type"] == "Polygon"
    assert shapely.geometry.shape(first.area).contains(shapely.geometry.Point(first.lon, first.lat))
    assert re.match(r"M7\.\d earthquake \d+ km [NSEW]+ of Kathmandu", first.title)
    assert any("aftershock" in m.title for m in story)


def test_each_storyline_incident_walks_a_valid_lifecycle(story: list[IncidentIn]) -> None:
    order = list(IncidentStatus)
    by_id: dict[str, list[IncidentStatus]] = defaultdict(list)
    for m in story:
        by_id[m.source_id].append(m.status)
    leb = by_id["sim-leb-1"]
    assert leb[0] == IncidentStatus.REPORTED and leb[-1] == IncidentStatus.CLOSED
    for statuses in by_id.values():
        for before, after in zip(statuses, statuses[1:]):
            assert after == before or after in ALLOWED_TRANSITIONS[before], statuses
            assert order.index(after) >= order.index(before), statuses
    background = [s for k, s in by_id.items() if k.startswith("sim-bg-")]
    assert len(background) >= 40  # one every 20-40 s
    assert any(s[-1] == IncidentStatus.CLOSED for s in background)


def test_travellers_on_the_move_actually_move() -> None:
    scenario = Scenario(seed=2, travellers=2000, start=START)
    run(scenario, 5)
    moving = np.flatnonzero(scenario.move.moving)
    assert moving.size >= 0.04 * 2000
    before = scenario.positions()
    run(scenario, 6, first=5)
    after = scenario.positions()
    still = [scenario.ids[i] for i in moving if scenario.move.moving[i]]
    assert len(still) > 0.5 * moving.size
    lat0, lon0 = np.array([before[i] for i in still]).T
    lat1, lon1 = np.array([after[i] for i in still]).T
    _, _, dist = GEOD.inv(lon0, lat0, lon1, lat1)
    assert (dist > 0).all()


def test_evacuees_end_up_nearer_amman_than_they_started() -> None:
    scenario = Scenario(seed=8, travellers=2000, start=START)
    before = scenario.positions()
    run(scenario, 1150, dt=5.0)
    evacuees = scenario.evacuee_ids()
    assert 40 <= len(evacuees) <= 80  # ~150 per 5000
    assert all(in_lebanon(*before[i]) for i in evacuees)
    lat0, lon0 = np.array([before[i] for i in evacuees]).T
    lat1, lon1 = np.array([scenario.positions()[i] for i in evacuees]).T
    n = len(evacuees)
    _, _, d0 = GEOD.inv(lon0, lat0, np.full(n, AMMAN[1]), np.full(n, AMMAN[0]))
    _, _, d1 = GEOD.inv(lon1, lat1, np.full(n, AMMAN[1]), np.full(n, AMMAN[0]))
    assert (d1 < d0).all()
    assert (d1 < 15_000).mean() > 0.9  # arrived at the safe haven


def test_a_step_for_5000_travellers_returns_small_batches() -> None:
    scenario = Scenario(travellers=5000, start=START)
    scenario.initial_batches(START)
    step = scenario.step(START + timedelta(seconds=1), 1.0)
    assert isinstance(step, Step)
    assert step.positions and all(len(b.positions) <= 5000 for b in step.positions)


def test_the_demo_stays_alive_for_hours_with_new_ids_and_a_quake_across_the_antimeridian() -> None:
    messages = incidents(run(Scenario(seed=1, travellers=200, start=START, run_tag=""), 4 * 3600, dt=30.0))
    ids = {m.source_id for m in messages}
    assert {"sim-leb-1", "sim-leb-1-r1", "sim-leb-1-r7"} <= ids
    assert sum(1 for m in messages if m.reported_at > START + timedelta(hours=3.5) and m.status == IncidentStatus.REPORTED) > 30
    fiji = next(m for m in messages if m.source_id == "sim-eq-1-r3")
    assert fiji.area["type"] == "MultiPolygon"
    assert all(-180 <= x <= 180 for poly in fiji.area["coordinates"] for ring in poly for x, _ in ring)


def test_source_ids_carry_a_run_tag_by_default_and_start_must_be_aware() -> None:
    scenario = Scenario(travellers=100)
    scenario.initial_batches(START)  # anchors the storyline's start
    assert scenario.start == START
    messages = incidents(run(scenario, 60))
    assert messages and all(m.source_id.startswith("sim-250301080000-") for m in messages)
    with pytest.raises(ValueError):
        Scenario(travellers=10, start=datetime(2025, 1, 1))


def test_a_flight_across_the_antimeridian_follows_the_geodesic() -> None:
    from crisis.sim.movement import FLIGHT, Movement

    suva, honolulu = (-18.12, 178.45), (21.32, -157.92)
    move = Movement(np.array([suva[0]]), np.array([suva[1]]))
    move.start(np.array([0]), np.array([[suva[0], honolulu[0]]]), np.array([[suva[1], honolulu[1]]]), 250.0, FLIGHT)
    _, _, total = GEOD.inv(suva[1], suva[0], honolulu[1], honolulu[0])
    move.advance(total / 2 / 250.0)
    assert -180 <= move.lon[0] <= 180 and move.lon[0] < 0  # already east of the date line
    _, _, done = GEOD.inv(suva[1], suva[0], move.lon[0], move.lat[0])
    assert done == pytest.approx(total / 2, rel=1e-6)
    _, arrived = move.advance(total)
    assert arrived.tolist() == [0] and not move.moving[0]
    assert (move.lat[0], move.lon[0]) == pytest.approx(honolulu, abs=1e-6)
