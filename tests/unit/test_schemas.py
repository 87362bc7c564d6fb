"""The commands' strictness, without a server: numbers are numbers, areas have a bounded
number of vertices, sources are identifiers from a bounded set, and untrusted JSON is
read with limits (crisis.http_safety.load_json)."""

from __future__ import annotations

import json
import math

import pytest

from crisis.errors import InputError
from crisis.feeds.health import FEEDS
from crisis.feeds.schemas import (
    MAX_AREA_VERTICES,
    IncidentIn,
    IncidentPatch,
    PositionBatch,
    PositionIn,
    allowed_sources,
    check_sources,
    parse,
)
from crisis.http_safety import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, load_json, status_for

INCIDENT = {"title": "Checkpoint closed", "severity": 3, "lat": 33.89, "lon": 35.5}
POSITION = {"traveller_id": "T1", "lat": 1.5, "lon": 2.5}


def _fields(model: object, data: object) -> dict[str, str]:
    with pytest.raises(InputError) as caught:
        parse(model, data)  # type: ignore[arg-type]
    return {e["field"]: e["message"] for e in caught.value.errors}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("severity", "3"), ("severity", True), ("severity", False), ("severity", 3.0), ("severity", 3.5),
        ("lat", "12.5"), ("lat", True), ("lon", "35"), ("lon", False),
        ("radius_km", "2"), ("radius_km", True),
    ],
)
def test_incident_numbers_must_be_numbers(field: str, value: object) -> None:
    assert field in _fields(IncidentIn, {**INCIDENT, field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [("severity", "2"), ("severity", True), ("lat", "1"), ("radius_km", "5"), ("radius_km", False)],
)
def test_patch_numbers_must_be_numbers(field: str, value: object) -> None:
    data = {field: value, **({"lon": 2.0} if field == "lat" else {})}
    assert field in _fields(IncidentPatch, data)


@pytest.mark.parametrize(("field", "value"), [("lat", "12.5"), ("lon", True), ("accuracy_m", "10"), ("accuracy_m", True)])
def test_position_numbers_must_be_numbers(field: str, value: object) -> None:
    assert field in _fields(PositionIn, {**POSITION, field: value})
    assert f"positions.0.{field}" in _fields(PositionBatch, {"positions": [{**POSITION, field: value}]})


def test_ints_are_numbers_where_floats_are_expected_and_bounds_still_hold() -> None:
    incident = parse(IncidentIn, {**INCIDENT, "lat": 12, "lon": -8, "radius_km": 3})
    assert (incident.lat, incident.lon, incident.radius_km) == (12.0, -8.0, 3.0) and incident.severity == 3
    assert parse(PositionIn, {**POSITION, "lat": 0, "accuracy_m": 5}).accuracy_m == 5.0
    assert parse(IncidentPatch, {"severity": 5, "lat": 1, "lon": 2}).lat == 1.0
    assert set(_fields(IncidentIn, {**INCIDENT, "severity": 6, "lat": 91})) == {"severity", "lat"}
    assert "radius_km" in _fields(IncidentIn, {**INCIDENT, "radius_km": math.inf})
    assert "approximate" in _fields(IncidentIn, {**INCIDENT, "approximate": 1})


def _ring(vertices: int, lon: float = 35.5, lat: float = 33.9, radius: float = 0.5) -> list[list[float]]:
    """A closed ring of ``vertices`` positions (the last repeats the first)."""
    points = [[lon + radius * math.cos(2 * math.pi * k / (vertices - 1)), lat + radius * math.sin(2 * math.pi * k / (vertices - 1))]
              for k in range(vertices - 1)]
    return [*points, points[0]]


def test_area_vertices_are_capped_over_all_rings() -> None:
    at_limit = {"type": "Polygon", "coordinates": [_ring(MAX_AREA_VERTICES)]}
    assert parse(IncidentIn, {**INCIDENT, "area": at_limit}).area["type"] == "Polygon"
    over = {"type": "Polygon", "coordinates": [_ring(MAX_AREA_VERTICES + 1)]}
    message = _fields(IncidentIn, {**INCIDENT, "area": over})["area"]
    assert f"{MAX_AREA_VERTICES + 1} vertices" in message and str(MAX_AREA_VERTICES) in message
    # Two polygons of 6,000 each: under the limit one by one, over it together.
    multi = {"type": "MultiPolygon", "coordinates": [[_ring(6_000)], [_ring(6_000, lon=40.0)]]}
    assert "12000 vertices" in _fields(IncidentIn, {**INCIDENT, "area": multi})["area"]
    holed = {"type": "Polygon", "coordinates": [_ring(6_000, radius=1.0), _ring(6_000, radius=0.2)]}
    assert "area" in _fields(IncidentIn, {**INCIDENT, "area": holed})
    assert "area" in _fields(IncidentIn, {**INCIDENT, "area": {"type": "Polygon", "coordinates": [[1, 2, 3]]}})
    assert "area" in _fields(IncidentIn, {**INCIDENT, "area": {"type": "Polygon", "coordinates": "x"}})


@pytest.mark.parametrize("source", ["", "API", "9feed", "evil:key", "a b", "x" * 33, "crisis:users", "ünï"])
def test_source_names_are_identifiers(source: str) -> None:
    assert "source" in _fields(IncidentIn, {**INCIDENT, "source": source})
    assert "source" in _fields(PositionIn, {**POSITION, "source": source})


def test_sources_come_from_a_bounded_set() -> None:
    assert allowed_sources("nairobi-sso") == frozenset(FEEDS) | {"nairobi-sso"}
    assert allowed_sources("J.Doe@example.org") == frozenset(FEEDS)  # not an identifier: no source of its own
    check_sources({"source": "nairobi-sso", "positions.0.source": "cap"}, "nairobi-sso")
    with pytest.raises(InputError) as caught:
        check_sources({"source": "someone-else", "positions.3.source": "api", "positions.4.source": "x"}, "nairobi-sso")
    assert [e["field"] for e in caught.value.errors] == ["source", "positions.4.source"]
    assert "someone-else" in caught.value.errors[0]["message"] and "nairobi-sso" in caught.value.errors[0]["message"]


def test_the_parsers_own_sources_are_valid() -> None:
    for source in (*FEEDS, "ui"):
        assert parse(IncidentIn, {**INCIDENT, "source": source}).source == source


def _refused(raw: bytes | str) -> InputError:
    with pytest.raises(InputError) as caught:
        load_json(raw)
    return caught.value


def test_deep_json_is_refused_not_a_recursion_error() -> None:
    for depth in (MAX_JSON_DEPTH + 1, 5_000, 100_000):
        for opening, closing in (("[", "]"), ('{"a":', "}")):
            exc = _refused(opening * depth + "1" + closing * depth)
            assert status_for(exc) == 400 and exc.errors[0]["field"] == "body" and "nested" in exc.errors[0]["message"]
    inside = _refused(json.dumps({"title": "x", "area": {"coordinates": [[[[[[[[0]]]]]]]]}}).replace("[0]", "[" * 70 + "0" + "]" * 70))
    assert status_for(inside) == 400
    at_limit = load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    for _ in range(MAX_JSON_DEPTH - 1):
        at_limit = at_limit[0]
    assert at_limit == []


def test_huge_and_non_finite_numbers_are_refused_naming_their_field() -> None:
    exc = _refused('{"title": "x", "severity": ' + "1" * 5_000 + "}")
    assert status_for(exc) == 422 and exc.errors == [{"field": "severity", "message": exc.errors[0]["message"]}]
    assert "5000 digits" in exc.errors[0]["message"]
    exc = _refused('{"positions": [{"lat": 1}, {"lat": 1.' + "5" * 100 + "}]}")
    assert [e["field"] for e in exc.errors] == ["positions.1.lat"]
    assert [e["field"] for e in _refused('[{"lat": 1e999}, {"lon": -1e400}]').errors] == ["0.lat", "1.lon"]
    assert [e["field"] for e in _refused('{"lat": NaN, "lon": Infinity, "x": -Infinity}').errors] == ["lat", "lon", "x"]
    assert _refused("1" * 5_000).errors[0]["field"] == "body"
    fine = "1" * MAX_NUMBER_CHARS
    assert load_json(f'{{"n": {fine}, "f": 1.25, "e": -3e2}}') == {"n": int(fine), "f": 1.25, "e": -300.0}


def test_malformed_json_says_where() -> None:
    exc = _refused(b'{"title": "x",\n "severity": }')
    assert status_for(exc) == 400 and exc.errors[0]["field"] == "body (line 2, column 14)"
    assert _refused(b"\xff\xfe\xfa").errors[0]["field"] == "body"



def test_times_later_than_now_plus_the_clock_skew_allowance_are_refused_in_words() -> None:
    from datetime import datetime, timedelta, timezone

    from crisis.feeds.schemas import MAX_CLOCK_SKEW, future_time_message

    now = datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)
    assert future_time_message(now + MAX_CLOCK_SKEW, now) is None  # a sender's clock a little fast: fine
    assert future_time_message(now - timedelta(days=400), now) is None
    message = future_time_message(datetime(9999, 12, 31, tzinfo=timezone.utc), now)
    assert message and "in the future" in message and "5 minutes ahead" in message and "2026-05-01T09:30:00" in message
    assert future_time_message(now + MAX_CLOCK_SKEW + timedelta(seconds=1), now)
    assert future_time_message(datetime.now(timezone.utc) + timedelta(hours=1))  # default: this machine's clock


def test_country_codes_must_be_iso_3166_codes_we_know() -> None:
    assert parse(IncidentIn, {**INCIDENT, "country": "lbn", "countries": ["irq", "IRN", "XKX"]}).countries == ("IRQ", "IRN", "XKX")
    assert "not an ISO 3166-1 alpha-3 country code" in _fields(IncidentIn, {**INCIDENT, "country": "XXX"})["country"]
    assert "'QQQ' is not" in _fields(IncidentIn, {**INCIDENT, "countries": ["IRQ", "QQQ"]})["countries.1"]


@pytest.mark.parametrize(("title", "words"), [
    ("\u200b\u200b\u200b", "no visible character"), ("\u200b \u2060\ufeff", "no visible character"),
    ("Riot\x00in town", "control character (U+0000"), ("Riot\nin town", "control character (U+000A"),
    ("Evil \u202egpj.exe", "bidirectional override (U+202E"), ("x\u2066y", "bidirectional override (U+2066"),
])
def test_titles_of_nothing_visible_or_with_control_characters_are_refused(title: str, words: str) -> None:
    assert words in _fields(IncidentIn, {**INCIDENT, "title": title})["title"]
    assert words in _fields(IncidentPatch, {"title": title})["title"]


def test_free_texts_keep_line_breaks_and_tabs_and_lose_other_control_characters() -> None:
    from crisis.api.areas import ProgressIn
    from crisis.api.checkins import CheckinIn
    from crisis.api.shiftlog import NoteIn
    text = "Road\r\nblocked\tnear \x00the\x07 bridge\rby \u202eelbbur\u202c \x1b[31mred"
    kept = "Road\nblocked\tnear the bridge\nby elbbur [31mred"
    assert parse(IncidentIn, {**INCIDENT, "description": text}).description == kept
    assert parse(IncidentPatch, {"description": text, "note": text}).note == kept
    assert parse(NoteIn, {"text": text}).text == kept
    assert parse(CheckinIn, {"traveller_id": "T1", "status": "safe", "note": text}).note == kept
    assert parse(ProgressIn, {"progress": "stayed", "reason": text}).reason == kept
    # Any script, emoji, right-to-left marks (not overrides) are kept as sent.
    assert parse(IncidentIn, {**INCIDENT, "description": "انفجار\u200fفي بيروت 🚨"}).description == "انفجار\u200fفي بيروت 🚨"
    # Nothing but control characters: refused in words, not kept as an empty note.
    assert "only control characters" in _fields(NoteIn, {"text": "\x00\x07"})["text"]


def test_titles_in_any_script_are_fine() -> None:
    for title in ("Checkpoint closed", "انفجار في بيروت", "黎巴嫩 爆炸", "Zürich: 🚨 alert", "עברית\u200fטקסט"):
        assert parse(IncidentIn, {**INCIDENT, "title": title}).title == title


def test_incident_filters_are_the_boards() -> None:
    """``incident_filters`` (GET /api/v1/incidents, the incident exports) filter as the board
    (assets/crisis_board.js boardRows) does: any of several values; the time window on
    updated_at; a closed incident updated within ``closed_within`` minutes passes whatever
    ``status`` asks; unknown values are refused naming each parameter."""
    from datetime import UTC, datetime, timedelta

    from werkzeug.datastructures import MultiDict

    from crisis.domain.model import GeoPoint, Incident, IncidentStatus, IncidentType
    from crisis.feeds.schemas import QUERY_ERROR, incident_filters

    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def incident(kind: IncidentType, status: IncidentStatus, minutes_ago: int, region: str = "africa") -> Incident:
        at = now - timedelta(minutes=minutes_ago)
        return Incident("i", "t", kind, 3, GeoPoint(0.0, 0.0), at, at, status=status, regions=(region,))

    def passes(query: list[tuple[str, str]], item: Incident) -> bool:
        return incident_filters(MultiDict(query), now).match(item)

    riot = incident(IncidentType.RIOT, IncidentStatus.ACTIVE, 30)
    assert passes([("status", "reported,active")], riot) and passes([("status", "reported"), ("status", "active")], riot)
    assert not passes([("status", "reported")], riot)
    assert passes([("window", "1h")], riot) and not passes([("window", "1h")], incident(IncidentType.RIOT, IncidentStatus.ACTIVE, 61))
    assert passes([("window", "all")], incident(IncidentType.RIOT, IncidentStatus.ACTIVE, 10 ** 6))
    assert passes([("type", "riot,flood"), ("category", "civil_unrest")], riot)
    assert not passes([("type", "flood")], riot) and not passes([("category", "hazard")], riot)
    assert passes([("region", "americas,africa")], riot) and not passes([("region", "americas")], riot)
    closed = incident(IncidentType.RIOT, IncidentStatus.CLOSED, 59)
    assert passes([("status", "active"), ("closed_within", "60")], closed)
    assert not passes([("status", "active"), ("closed_within", "58")], closed)
    assert not passes([("status", "active")], closed)
    assert not passes([("status", "active"), ("closed_within", "60"), ("window", "1h")],
                      incident(IncidentType.RIOT, IncidentStatus.CLOSED, 61))
    with pytest.raises(InputError) as refused:
        incident_filters(MultiDict([("status", "exploded"), ("window", "2h"), ("window", "1h"), ("closed_within", "x")]), now)
    assert refused.value.message == QUERY_ERROR
    assert [e["field"] for e in refused.value.errors] == ["status", "window", "closed_within"]


def test_a_number_is_no_time() -> None:
    """Unix seconds, milliseconds or a spreadsheet's day number would each be read differently:
    every time sent is ISO 8601 with its zone, and a number is refused in words."""
    from crisis.api.roster import LeaveIn, SlotIn
    from crisis.feeds.travellers import SegmentIn
    refusal = "is a number, not a time: send ISO 8601 with its zone"
    assert refusal in _fields(IncidentIn, {**INCIDENT, "reported_at": 1797000000})["reported_at"]
    assert refusal in _fields(LeaveIn, {"officer_id": "FSO-1", "start": 1797000000, "end": "2027-01-01T00:00:00Z"})["start"]
    assert refusal in _fields(SlotIn, {"officer_id": "FSO-1", "start": "2027-01-01T00:00:00Z", "end": 46000.5,
                                       "readiness_hours": 24, "role": "primary"})["end"]
    place = {"name": "Beirut", "lat": 33.9, "lon": 35.5}
    assert refusal in _fields(SegmentIn, {"from": place, "to": place, "depart": 5, "arrive": "2027-01-01T00:00:00Z"})["depart"]
    assert parse(LeaveIn, {"officer_id": "FSO-1", "start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00+02:00"}).end.hour == 0


def test_refusals_name_no_class_of_ours_and_patterns_in_words() -> None:
    """'Input should be a valid dictionary or instance of DispatchIn' named a Python class;
    "String should match pattern '^([01]\\d|2[0-3]):[0-5]\\d$'" was a regex, not words."""
    from crisis.api.roster import DispatchIn, RotationIn
    assert _fields(DispatchIn, [1, 2])["body"] == "expected a JSON object {...} here, got list"
    said = _fields(RotationIn, {"officers": ["A"], "from": "2027-01-01T00:00:00Z", "weeks": 2, "handover": "8h"})["handover"]
    assert said == "'8h' is not in the expected form (HH:MM in UTC, e.g. 08:00)", said
    assert "LBN" in _fields(IncidentIn, {**INCIDENT, "country": "LEBANON"})["country"]


def test_a_check_of_the_whole_object_names_its_field_in_words() -> None:
    """Refusals named "body" with pydantic's "Value error," before them: a PATCH with lat alone,
    a type of another category. Now the field at fault, in the check's own words."""
    assert _fields(IncidentPatch, {"lat": 33.3}) == {"lon": "lat and lon must be given together"}
    assert _fields(IncidentPatch, {"lon": 35.3}) == {"lat": "lat and lon must be given together"}
    wrong = _fields(IncidentIn, {**INCIDENT, "type": "riot", "category": "crime"})
    assert list(wrong) == ["category"] and wrong["category"].startswith('type "riot" belongs to category "civil_unrest"')
    area = _fields(IncidentIn, {**INCIDENT, "area": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}})
    assert list(area) == ["area"] and not area["area"].startswith("Value error"), area


def test_0_0_is_no_place_for_a_person() -> None:
    from crisis.feeds.schemas import no_fix_errors

    batch = parse(PositionBatch, {"positions": [POSITION, {**POSITION, "lat": 0, "lon": 0}, {**POSITION, "lat": 0.0, "lon": 0.5}]})
    assert no_fix_errors(batch.positions) == [
        {"field": "positions.1.lat", "message": "0, 0 is what a receiver without a fix reports, not a place: leave the position out"}]
    assert no_fix_errors(batch.positions, "")[0]["field"] == "1.lat"  # a batch sent as a list
