"""Who is affected by an incident, over the real API and Redis: circles (given or default
radius), polygons, itineraries arriving within 48 hours, region scoping, and what a wall
display and a feed receive."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from crisis.bootstrap import Context
from tests.conftest import LiveServer

NAIROBI = {"name": "Nairobi office", "lat": -1.2921, "lon": 36.8219, "country": "KEN"}
MOMBASA = {"name": "Mombasa office", "lat": -4.0435, "lon": 39.6682, "country": "KEN"}
BEIRUT = {"name": "Beirut office", "lat": 33.8938, "lon": 35.5018, "country": "LBN"}
AMMAN = {"name": "Amman office", "lat": 31.9539, "lon": 35.9106}
KM_PER_DEG_LAT = 111.2  # near the equator, within 0.1 % (the test's tolerance is wider)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def traveller(tid: str, station: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": tid, "name": f"Name of {tid}", "agency": "UNDP", "category": "international_staff",
            "essential": False, "duty_station": station, "phone": "+1 555", "email": f"{tid}@example.org", **extra}


def _place(station: dict[str, Any]) -> dict[str, Any]:
    return {k: station[k] for k in ("name", "lat", "lon")}


def flight(to: dict[str, Any], arrive: datetime, hours: float = 5.0) -> dict[str, Any]:
    depart = arrive - timedelta(hours=hours)
    return {"from": _place(NAIROBI), "to": _place(to),
            "depart": depart.isoformat(), "arrive": arrive.isoformat()}


@pytest.fixture
def officer(live_server: LiveServer) -> dict[str, str]:
    return bearer(live_server.token("duty_officer"))


def _import(live_server: LiveServer, travellers: list[dict[str, Any]]) -> None:
    feed = bearer(live_server.token("feed"))
    answer = requests.post(live_server.url + "/api/v1/travellers", json=travellers, headers=feed, timeout=30)
    assert answer.status_code == 200 and not answer.json()["rejected"], answer.text


def _positions(live_server: LiveServer, positions: list[dict[str, Any]]) -> None:
    feed = bearer(live_server.token("feed"))
    answer = requests.post(live_server.url + "/api/v1/positions", json=positions, headers=feed, timeout=30)
    assert answer.status_code == 202, answer.text


def _incident(live_server: LiveServer, officer: dict[str, str], **fields: Any) -> str:
    body = {"title": "Something happened", "type": "civil_unrest", "severity": 3, **fields}
    answer = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _affected(live_server: LiveServer, incident_id: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}/affected", headers=headers, timeout=30)


def _by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["traveller_id"]: p for p in answer["people"]}


def test_a_circle_lists_the_people_inside_with_their_distance(context: Context, live_server: LiveServer,
                                                              officer: dict[str, str]) -> None:
    _import(live_server, [traveller("A1", NAIROBI), traveller("A2", MOMBASA), traveller("A3", MOMBASA), traveller("A4", MOMBASA)])
    # A2 reports from 10 km north of the incident (inside), A3 from 30 km north (outside); A4 stays in Mombasa
    _positions(live_server, [{"traveller_id": "A2", "lat": NAIROBI["lat"] + 10 / KM_PER_DEG_LAT, "lon": NAIROBI["lon"]},
                             {"traveller_id": "A3", "lat": NAIROBI["lat"] + 30 / KM_PER_DEG_LAT, "lon": NAIROBI["lon"]}])
    incident = _incident(live_server, officer, lat=NAIROBI["lat"], lon=NAIROBI["lon"], radius_km=20)
    answer = _affected(live_server, incident, officer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["incident"], body["radius_km_used"], body["buffer_km"]) == (incident, 20, 0.0)
    people = _by_id(body)
    assert set(people) == {"A1", "A2"}
    assert [p["traveller_id"] for p in body["people"]] == ["A1", "A2"]  # nearest first
    assert people["A1"]["distance_km"] == pytest.approx(0.0, abs=0.01)
    assert people["A2"]["distance_km"] == pytest.approx(10.0, rel=0.01)
    assert (people["A1"]["position_source"], people["A1"]["confidence"]) == ("duty_station", "low")
    assert (people["A2"]["position_source"], people["A2"]["confidence"]) == ("report", "high")
    assert all(p["reason"] == "position" and p["status"] == "no_response" for p in body["people"])
    assert people["A2"]["name"] == "Name of A2" and people["A2"]["category"] == "international_staff"
    assert people["A2"]["essential"] is False and people["A2"]["position_at"]
    assert body["counts"] == {"total": 2, "safe": 0, "needs_help": 0, "unsure": 0, "unreachable": 0, "no_response": 2}
    assert body["accounted_pct"] == 0.0 and datetime.fromisoformat(body["computed_at"]).tzinfo is not None

    from tests.e2e.test_openapi import _conforms

    doc = requests.get(live_server.url + "/api/v1/openapi.json", headers=officer, timeout=30).json()
    _conforms(doc, "AffectedPeople", body)
    _conforms(doc, "AffectedPeople", _affected(live_server, incident, bearer(live_server.token("wall"))).json())
    _conforms(doc, "ErrorResponse", _affected(live_server, "no-such-incident", officer).json())


def test_an_incident_without_a_radius_uses_the_default_for_its_severity(context: Context, live_server: LiveServer,
                                                                        officer: dict[str, str]) -> None:
    assert live_server.context.settings.default_radius_km.split(",")[3] == "4:50"  # the default setting
    _import(live_server, [traveller("D1", MOMBASA), traveller("D2", MOMBASA)])
    _positions(live_server, [{"traveller_id": "D1", "lat": NAIROBI["lat"] + 40 / KM_PER_DEG_LAT, "lon": NAIROBI["lon"]},
                             {"traveller_id": "D2", "lat": NAIROBI["lat"] + 60 / KM_PER_DEG_LAT, "lon": NAIROBI["lon"]}])
    incident = _incident(live_server, officer, lat=NAIROBI["lat"], lon=NAIROBI["lon"], severity=4)
    body = _affected(live_server, incident, officer).json()
    assert body["radius_km_used"] == 50.0
    assert list(_by_id(body)) == ["D1"] and body["people"][0]["distance_km"] == pytest.approx(40.0, rel=0.01)


def test_a_polygon_incident(context: Context, live_server: LiveServer, officer: dict[str, str]) -> None:
    _import(live_server, [traveller("P1", BEIRUT), traveller("P2", BEIRUT)])
    _positions(live_server, [{"traveller_id": "P2", "lat": 33.27, "lon": 35.2}])  # Tyre, south of the polygon
    square = {"type": "Polygon", "coordinates": [[[35.4, 33.8], [35.6, 33.8], [35.6, 34.0], [35.4, 34.0], [35.4, 33.8]]]}
    incident = _incident(live_server, officer, lat=33.9, lon=35.5, area=square)
    body = _affected(live_server, incident, officer).json()
    assert body["radius_km_used"] is None
    people = _by_id(body)
    assert list(people) == ["P1"] and people["P1"]["reason"] == "position"
    assert people["P1"]["distance_km"] == pytest.approx(1.0, abs=0.5)  # from the incident's point


def test_itineraries_arriving_within_48_hours_are_listed_and_not_later(context: Context, live_server: LiveServer,
                                                                       officer: dict[str, str]) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    soon, late = now + timedelta(hours=47), now + timedelta(hours=49)
    _import(live_server, [
        traveller("I1", NAIROBI, itinerary=[flight(AMMAN, soon)]),
        traveller("I2", NAIROBI, itinerary=[flight(AMMAN, late)]),
        traveller("I3", NAIROBI, itinerary=[flight(AMMAN, now + timedelta(hours=10))]),
    ])
    _positions(live_server, [{"traveller_id": "I3", "lat": AMMAN["lat"], "lon": AMMAN["lon"]}])  # already in Amman
    incident = _incident(live_server, officer, lat=AMMAN["lat"], lon=AMMAN["lon"], radius_km=30)
    body = _affected(live_server, incident, officer).json()
    people = _by_id(body)
    assert set(people) == {"I1", "I3"}  # I2 arrives at 49 h: not yet
    assert people["I3"]["reason"] == "position" and "arrive" not in people["I3"]  # inside already: listed once
    assert people["I1"]["reason"] == "itinerary"
    assert datetime.fromisoformat(people["I1"]["arrive"]) == soon
    assert people["I1"]["distance_km"] == pytest.approx(0.0, abs=0.01)
    assert people["I1"]["position_source"] == "duty_station"  # still in Nairobi
    assert [p["traveller_id"] for p in body["people"]] == ["I3", "I1"]  # by position first
    assert body["counts"]["total"] == 2 == body["counts"]["no_response"]


def test_a_regional_desk_sees_only_its_regions_people_and_not_other_regions_incidents(
        context: Context, live_server: LiveServer, officer: dict[str, str]) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # R2 lives in Beirut (its best-known position is in the Middle East) and flies into Nairobi tomorrow
    beirut_to_nairobi = {"from": "BEY", "to": _place(NAIROBI), "depart": (now + timedelta(hours=25)).isoformat(),
                         "arrive": (now + timedelta(hours=30)).isoformat()}
    _import(live_server, [traveller("R1", NAIROBI), traveller("R2", BEIRUT, itinerary=[beirut_to_nairobi]),
                          traveller("R3", BEIRUT)])
    nairobi = _incident(live_server, officer, lat=NAIROBI["lat"], lon=NAIROBI["lon"], radius_km=20)
    beirut = _incident(live_server, officer, lat=BEIRUT["lat"], lon=BEIRUT["lon"], radius_km=20)

    everyone = _affected(live_server, nairobi, officer).json()
    assert {p["traveller_id"]: p["reason"] for p in everyone["people"]} == {"R1": "position", "R2": "itinerary"}
    africa = bearer(live_server.token("regional_desk", "africa"))
    seen = _affected(live_server, nairobi, africa)
    assert seen.status_code == 200
    assert list(_by_id(seen.json())) == ["R1"] and seen.json()["counts"]["total"] == 1
    # ... and is told how many more are affected whom it may not see (R2, flying in from Beirut)
    assert seen.json()["in_other_regions"] == 1 and everyone["in_other_regions"] == 0
    assert "R2" not in seen.text and "Beirut" not in seen.text
    assert seen.json()["people"][0]["name"] == "Name of R1"  # a desk sees names in its region
    refused = _affected(live_server, beirut, africa)
    assert refused.status_code == 404 and "R3" not in refused.text
    mena = bearer(live_server.token("regional_desk", "middle_east_north_africa"))
    assert list(_by_id(_affected(live_server, beirut, mena).json())) == ["R2", "R3"]
    assert _affected(live_server, nairobi, mena).status_code == 404


def test_a_wall_gets_counts_without_identities_and_a_feed_nothing(context: Context, live_server: LiveServer,
                                                                  officer: dict[str, str]) -> None:
    _import(live_server, [traveller("W1", NAIROBI), traveller("W2", NAIROBI), traveller("W3", MOMBASA)])
    incident = _incident(live_server, officer, lat=NAIROBI["lat"], lon=NAIROBI["lon"], radius_km=20)
    wall = _affected(live_server, incident, bearer(live_server.token("wall")))
    assert wall.status_code == 200
    body = wall.json()
    assert body["counts"]["total"] == 2 and body["counts"]["no_response"] == 2 and body["radius_km_used"] == 20
    for person in body["people"]:
        assert not {"traveller_id", "name", "agency", "email", "phone"} & set(person), person
    assert "W1" not in wall.text and "W2" not in wall.text and "Name of" not in json.dumps(body)
    feed = _affected(live_server, incident, bearer(live_server.token("feed")))
    assert feed.status_code == 403 and feed.json()["errors"][0]["field"] == "role"
    assert _affected(live_server, incident, {}).status_code == 401
