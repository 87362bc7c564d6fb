"""Domain rules: incident lifecycle, staleness, regions, validation of commands."""

from datetime import datetime, timedelta, timezone

import pytest

from crisis.domain.incidents import ALLOWED_TRANSITIONS, TransitionError, is_stale, transition
from crisis.domain.model import GeoPoint, Incident, IncidentStatus, IncidentType
from crisis.domain.regions import region_for_country
from crisis.domain.serialize import incident_from_dict, incident_to_dict
from crisis.errors import InputError
from crisis.feeds.schemas import IncidentIn, IncidentPatch, PositionBatch, parse

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def incident(**changes: object) -> Incident:
    base = Incident(
        id="inc-1", title="Shelling near Tyre", type=IncidentType.ARMED_CONFLICT, severity=4,
        location=GeoPoint(33.27, 35.2), reported_at=T0, updated_at=T0,
    )
    return base.with_changes(**changes)


def test_lifecycle_forward_path_is_allowed() -> None:
    current = incident()
    for step in ("verified", "active", "contained", "closed"):
        current = transition(current, IncidentStatus(step), T0 + timedelta(minutes=1))
        assert current.status.value == step
    assert current.updated_at == T0 + timedelta(minutes=1)


# The whole lifecycle, written out here on purpose rather than read from
# ALLOWED_TRANSITIONS: a change to the rule must be a change to this table too.
# "ok" allowed, "no" refused, "=" the same status (a no-op).
LIFECYCLE = """
from/to       reported  verified  active  contained  closed
reported      =         ok        ok      ok         ok
verified      no        =         ok      ok         ok
active        no        no        =       ok         ok
contained     no        no        ok      =          ok
closed        no        no        ok      no         =
"""


def _lifecycle_table() -> dict[tuple[str, str], str]:
    header, *rows = [line.split() for line in LIFECYCLE.strip().splitlines()]
    targets = header[1:]
    return {(row[0], target): cell for row in rows for target, cell in zip(targets, row[1:], strict=True)}


LIFECYCLE_TABLE = _lifecycle_table()


def test_the_lifecycle_table_covers_every_status() -> None:
    statuses = {s.value for s in IncidentStatus}
    assert {start for start, _ in LIFECYCLE_TABLE} == statuses == {target for _, target in LIFECYCLE_TABLE}
    assert len(LIFECYCLE_TABLE) == len(statuses) ** 2
    outcomes = list(LIFECYCLE_TABLE.values())
    assert (outcomes.count("ok"), outcomes.count("no"), outcomes.count("=")) == (12, 8, 5)


@pytest.mark.parametrize(("start", "target"), sorted(LIFECYCLE_TABLE))
def test_lifecycle_matrix(start: str, target: str) -> None:
    current = incident(status=IncidentStatus(start))
    later = T0 + timedelta(minutes=5)
    expected = LIFECYCLE_TABLE[start, target]
    if expected == "no":
        with pytest.raises(TransitionError, match=f"an incident that is {start} cannot become {target}"):
            transition(current, IncidentStatus(target), later)
    elif expected == "ok":
        moved = transition(current, IncidentStatus(target), later)
        assert moved.status == IncidentStatus(target) and moved.updated_at == later
        assert moved.with_changes(status=current.status, updated_at=T0) == current  # nothing else changed
    else:
        assert transition(current, IncidentStatus(target), later) is current  # no change, no new time


def test_closed_incident_can_be_reopened_and_contained_can_flare_up() -> None:
    assert transition(incident(status=IncidentStatus.CLOSED), IncidentStatus.ACTIVE, T0).status == IncidentStatus.ACTIVE
    assert IncidentStatus.ACTIVE in ALLOWED_TRANSITIONS[IncidentStatus.CONTAINED]


def test_stale_means_open_and_quiet_too_long() -> None:
    quiet = timedelta(hours=1)
    assert is_stale(incident(), T0 + timedelta(hours=2), quiet)
    assert not is_stale(incident(), T0 + timedelta(minutes=30), quiet)
    assert not is_stale(incident(status=IncidentStatus.CLOSED), T0 + timedelta(days=3), quiet)


@pytest.mark.parametrize("severity", [0, 6])
def test_severity_outside_1_to_5_is_refused(severity: int) -> None:
    with pytest.raises(ValueError, match="severity"):
        incident(severity=severity)


def test_geopoint_refuses_impossible_coordinates() -> None:
    with pytest.raises(ValueError, match="latitude"):
        GeoPoint(91, 0)
    with pytest.raises(ValueError, match="longitude"):
        GeoPoint(0, -181)


def test_incident_round_trips_through_its_payload_form() -> None:
    original = incident(radius_km=12.5, country="LBN", region="middle_east_north_africa", owner="duty1")
    assert incident_from_dict(incident_to_dict(original)) == original


@pytest.mark.parametrize(
    "iso3,continent,region",
    [("LBN", "Asia", "middle_east_north_africa"), ("EGY", "Africa", "middle_east_north_africa"),
     ("KEN", "Africa", "africa"), ("KAZ", "Asia", "europe_central_asia"), ("NPL", "Asia", "asia_pacific"),
     ("HTI", "North America", "americas"), ("FRA", "Europe", "europe_central_asia"), (None, None, None)],
)
def test_regional_desk_of_a_country(iso3: str | None, continent: str | None, region: str | None) -> None:
    assert region_for_country(iso3, continent) == region


def test_incident_command_lists_every_problem_with_its_field() -> None:
    with pytest.raises(InputError) as caught:
        parse(IncidentIn, {"title": "", "severity": 7, "lat": 95, "lon": 10, "type": "alien"})
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"title", "severity", "lat", "type"}
    type_error = next(e for e in caught.value.errors if e["field"] == "type")
    assert '"alien"' in type_error["message"] and "earthquake" in type_error["message"]


def test_incident_command_refuses_unknown_fields_and_naive_times() -> None:
    with pytest.raises(InputError) as caught:
        parse(IncidentIn, {"title": "x", "severity": 2, "lat": 1, "lon": 1, "colour": "red", "reported_at": "2026-01-01T00:00:00"})
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"colour", "reported_at"}


def test_incident_area_must_be_a_valid_lon_lat_polygon() -> None:
    square = {"type": "Polygon", "coordinates": [[[35, 33], [36, 33], [36, 34], [35, 34], [35, 33]]]}
    ok = parse(IncidentIn, {"title": "x", "severity": 2, "lat": 33.5, "lon": 35.5, "area": square})
    assert ok.area["type"] == "Polygon"
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    swapped = {"type": "Polygon", "coordinates": [[[10, 100], [11, 100], [11, 101], [10, 100]]]}
    for bad, expected in ((bowtie, "self-intersecting"), (swapped, "within"), ({"type": "Point", "coordinates": [0, 0]}, "Polygon")):
        with pytest.raises(InputError, match=expected):
            parse(IncidentIn, {"title": "x", "severity": 2, "lat": 0, "lon": 0, "area": bad})


def test_reported_at_is_converted_to_utc() -> None:
    cmd = parse(IncidentIn, {"title": "x", "severity": 2, "lat": 0, "lon": 0, "reported_at": "2026-11-23T14:00:00+02:00"})
    assert cmd.reported_at == datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def test_patch_needs_lat_and_lon_together() -> None:
    with pytest.raises(InputError, match="together"):
        parse(IncidentPatch, {"lat": 10})


def test_position_batch_limits_and_positions() -> None:
    with pytest.raises(InputError) as caught:
        parse(PositionBatch, {"positions": [{"traveller_id": "T1", "lat": 1, "lon": 2}, {"traveller_id": "bad id!", "lat": 1, "lon": 200}]})
    assert {e["field"] for e in caught.value.errors} == {"positions.1.traveller_id", "positions.1.lon"}
    with pytest.raises(InputError, match="at least 1"):
        parse(PositionBatch, {"positions": []})
