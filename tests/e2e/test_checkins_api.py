"""Accountability over the real API and Redis: check-ins move the percentage, who may
check in for whom (a traveller token, a warden), duty officers' marks in incidents and
movements, the burn-down, refusals (named, dead-lettered, nothing stored), and the
traveller and warden tokens refused everywhere else."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
import socketio

from crisis.adapters import keys
from crisis.auth import OPEN_PATHS, display
from crisis.bootstrap import Context
from tests.conftest import LiveClient, LiveServer, random_ref

NAIROBI = {"name": "Nairobi office", "lat": -1.2921, "lon": 36.8219, "country": "KEN"}
BEIRUT = {"name": "Beirut office", "lat": 33.8938, "lon": 35.5018, "country": "LBN"}
NAMESPACE = "/live"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def traveller(tid: str, station: dict[str, Any]) -> dict[str, Any]:
    return {"id": tid, "name": f"Name of {tid}", "agency": "UNDP", "category": "international_staff",
            "essential": False, "duty_station": station, "phone": "+1 555", "email": f"{tid}@example.org"}


def _import(live_server: LiveServer, travellers: list[dict[str, Any]]) -> None:
    answer = requests.post(live_server.url + "/api/v1/travellers", json=travellers,
                           headers=bearer(live_server.token("feed")), timeout=30)
    assert answer.status_code == 200 and not answer.json()["rejected"], answer.text


def _incident(live_server: LiveServer, officer: dict[str, str], **fields: Any) -> str:
    body = {"title": "Unrest", "type": "civil_unrest", "severity": 3, "lat": NAIROBI["lat"], "lon": NAIROBI["lon"],
            "radius_km": 50, **fields}
    answer = requests.post(live_server.url + "/api/v1/incidents", json=body, headers=officer, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _affected(live_server: LiveServer, incident_id: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}/affected", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _checkin(live_server: LiveServer, headers: dict[str, str], **body: Any) -> requests.Response:
    return requests.post(live_server.url + "/api/v1/checkins", json=body, headers=headers, timeout=30)


def _people_events(context: Context) -> int:
    return int(context.redis.xlen(keys.PEOPLE_STREAM))


def _traveller_token(context: Context, tid: str) -> dict[str, str]:
    return bearer(context.accounts.create_token(random_ref("t-"), "traveller", traveller_id=tid))


def _warden(context: Context, people: list[str]) -> tuple[str, dict[str, str]]:
    name = random_ref("warden-")
    token = context.accounts.create_token(name, "warden")
    if people:
        context.accounts.assign_warden(name, people)
    return name, bearer(token)


@pytest.fixture
def officer(live_server: LiveServer) -> dict[str, str]:
    return bearer(live_server.token("duty_officer"))


@pytest.fixture
def nairobi(context: Context, live_server: LiveServer, officer: dict[str, str]) -> str:
    """Four people at the Nairobi office, one in Beirut, and an incident of 50 km around Nairobi."""
    _import(live_server, [traveller(f"N{i}", NAIROBI) for i in range(1, 5)] + [traveller("B1", BEIRUT)])
    return _incident(live_server, officer)


def test_check_ins_move_the_percentage(context: Context, live_server: LiveServer, officer: dict[str, str], nairobi: str) -> None:
    first = _affected(live_server, nairobi, officer)
    assert first["counts"] == {"total": 4, "safe": 0, "needs_help": 0, "unsure": 0, "unreachable": 0, "no_response": 4}
    assert first["accounted_pct"] == 0.0

    # the person's own token, no incident named: applies to the open incidents affecting them
    answer = _checkin(live_server, _traveller_token(context, "N1"), traveller_id="N1", status="safe", note="at home")
    assert answer.status_code == 201, answer.text
    assert answer.json()["scopes"] == [f"incident:{nairobi}"] and answer.json()["via"] == "checkin"
    assert answer.json()["previous"] == {f"incident:{nairobi}": "no_response"}
    after = _affected(live_server, nairobi, officer)
    assert after["counts"]["safe"] == 1 and after["accounted_pct"] == 25.0
    person = {p["traveller_id"]: p for p in after["people"]}["N1"]
    assert person["status"] == "safe" and person["status_via"] == "checkin"

    # a warden for N2, naming the incident
    _, warden = _warden(context, ["N2", "N3"])
    answer = _checkin(live_server, warden, traveller_id="N2", status="needs_help", incident_id=nairobi)
    assert answer.status_code == 201 and answer.json()["via"] == "warden", answer.text
    assert _affected(live_server, nairobi, officer)["accounted_pct"] == 50.0

    # a duty officer marks N3 unreachable (not accounted) and then unsure (accounted)
    url = f"{live_server.url}/api/v1/incidents/{nairobi}/people/N3"
    answer = requests.put(url, json={"status": "unreachable", "note": "no answer"}, headers=officer, timeout=30)
    assert answer.status_code == 200 and answer.json()["via"] == "duty_officer", answer.text
    counts = _affected(live_server, nairobi, officer)
    assert counts["counts"]["unreachable"] == 1 and counts["accounted_pct"] == 50.0
    assert requests.put(url, json={"status": "unsure"}, headers=officer, timeout=30).status_code == 200
    final = _affected(live_server, nairobi, officer)
    assert final["counts"] == {"total": 4, "safe": 1, "needs_help": 1, "unsure": 1, "unreachable": 0, "no_response": 1}
    assert final["accounted_pct"] == 75.0

    # the summary agrees, per incident and per region
    summary = requests.get(live_server.url + "/api/v1/accountability", headers=officer, timeout=30)
    assert summary.status_code == 200, summary.text
    row = {i["incident"]: i for i in summary.json()["incidents"]}[nairobi]
    assert row["counts"] == final["counts"] and row["accounted_pct"] == 75.0
    assert {r["region"]: r["accounted_pct"] for r in summary.json()["regions"]} == {"africa": 75.0}

    # every change is in the people log and the audit trail
    events = [json.loads(f["payload"]) for _, f in context.redis.xrange(keys.PEOPLE_STREAM)]
    assert [(e["traveller_id"], e["status"], e["via"]) for e in events] == [
        ("N1", "safe", "checkin"), ("N2", "needs_help", "warden"), ("N3", "unreachable", "duty_officer"),
        ("N3", "unsure", "duty_officer")]
    audit = [f for _, f in context.redis.xrange(keys.AUDIT_STREAM)]
    assert sum(1 for e in audit if e["action"] == "checkin.record") == 2
    assert sum(1 for e in audit if e["action"] == "accountability.status_set") == 2


def test_burn_down_falls_as_check_ins_arrive(context: Context, live_server: LiveServer, officer: dict[str, str],
                                             nairobi: str) -> None:
    def points() -> list[int]:
        answer = requests.get(f"{live_server.url}/api/v1/incidents/{nairobi}/burndown", headers=officer, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["total"] == 4 and answer.json()["incident"] == nairobi
        return [p["unaccounted"] for p in answer.json()["points"]]

    assert points()[0] == 4 and points()[-1] == 4
    for n, tid in enumerate(("N1", "N2", "N3"), start=1):
        assert _checkin(live_server, officer, traveller_id=tid, status="safe").status_code == 201
        assert points()[-1] == 4 - n
    falling = points()
    assert falling[0] == 4 and falling[-1] == 1
    assert all(a >= b for a, b in zip(falling, falling[1:]))
    # a wall sees the same burn-down (it has counts, no identities)
    wall = bearer(live_server.token("wall"))
    answer = requests.get(f"{live_server.url}/api/v1/incidents/{nairobi}/burndown", headers=wall, timeout=30)
    assert answer.status_code == 200 and [p["unaccounted"] for p in answer.json()["points"]] == falling
    missing = requests.get(f"{live_server.url}/api/v1/incidents/inc-nope/burndown", headers=officer, timeout=30)
    assert missing.status_code == 404


def test_a_traveller_token_checks_in_only_for_its_person(context: Context, live_server: LiveServer,
                                                         officer: dict[str, str], nairobi: str) -> None:
    mine = _traveller_token(context, "N1")
    before = _people_events(context)
    answer = _checkin(live_server, mine, traveller_id="N2", status="safe")
    assert answer.status_code == 403, answer.text
    assert answer.json()["errors"][0]["field"] == "traveller_id" and answer.json()["dead_letter_id"]
    assert _people_events(context) == before and not context.roll.statuses(f"incident:{nairobi}")
    assert _checkin(live_server, mine, traveller_id="N1", status="safe").status_code == 201
    assert _checkin(live_server, mine, traveller_id="N1", status="safe", incident_id=nairobi).status_code == 201
    # Another incident, in another region: the person is not in it, and the token learns nothing of it:
    # the same answer as for an id that does not exist.
    beirut = requests.post(live_server.url + "/api/v1/incidents", headers=officer, timeout=30, json={
        "title": "Elsewhere", "type": "riot", "severity": 3, "lat": 33.89, "lon": 35.5, "radius_km": 5}).json()["id"]
    far = _checkin(live_server, mine, traveller_id="N1", status="safe", incident_id=beirut)
    none = _checkin(live_server, mine, traveller_id="N1", status="safe", incident_id="inc-000000000000")
    assert far.status_code == none.status_code == 422, far.text
    assert far.json()["errors"][0]["message"].replace(beirut, "X") == none.json()["errors"][0]["message"].replace("inc-000000000000", "X")
    assert "is in no open incident" in far.json()["errors"][0]["message"] and not context.roll.statuses(f"incident:{beirut}")


def test_a_warden_checks_in_only_for_their_people(context: Context, live_server: LiveServer,
                                                  officer: dict[str, str], nairobi: str) -> None:
    name, warden = _warden(context, ["N1", "N2"])
    assert _checkin(live_server, warden, traveller_id="N1", status="safe").status_code == 201
    refused = _checkin(live_server, warden, traveller_id="N3", status="safe")
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "traveller_id"
    assert "N3" in refused.json()["errors"][0]["message"]
    # unassigned: no longer theirs, at once (the token is looked up on every request)
    context.accounts.assign_warden(name, remove=["N2"])
    assert _checkin(live_server, warden, traveller_id="N2", status="safe").status_code == 403
    # a warden with nobody assigned reports for nobody
    _, nobody = _warden(context, [])
    assert _checkin(live_server, nobody, traveller_id="N1", status="safe").status_code == 403
    assert set(context.roll.statuses(f"incident:{nairobi}")) == {"N1"}


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"traveller_id": "N1", "status": "fine"}, "status", 422),
    ({"traveller_id": "nobody", "status": "safe"}, "traveller_id", 422),
    ({"traveller_id": "N1", "status": "safe", "lat": -1.3}, "lon", 422),
    ({"traveller_id": "N1", "status": "safe", "lon": 36.8}, "lat", 422),
    ({"traveller_id": "N1", "status": "safe", "lat": 91.0, "lon": 36.8}, "lat", 422),
    ({"traveller_id": "N1", "status": "safe", "lat": -1.3, "lon": 181.0}, "lon", 422),
    ({"traveller_id": "N1", "status": "safe", "lat": "north", "lon": 36.8}, "lat", 422),
    ({"traveller_id": "N1", "status": "safe", "lat": 0, "lon": 0}, "lat", 422),  # a receiver without a fix
    ({"traveller_id": "N1", "status": "safe", "incident_id": "inc-nope"}, "incident_id", 422),
    ({"traveller_id": "N1", "status": "safe", "mood": "good"}, "mood", 422),
    ({"status": "safe"}, "traveller_id", 422),
])
def test_bad_check_ins_are_refused_named_and_dead_lettered(context: Context, live_server: LiveServer, officer: dict[str, str],
                                                           nairobi: str, body: dict[str, Any], field: str, status: int) -> None:
    before = _people_events(context)
    positions = context.redis.xlen(keys.POSITION_STREAM)
    answer = _checkin(live_server, officer, **body)
    assert answer.status_code == status, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]], answer.text
    dead = answer.json()["dead_letter_id"]
    assert any(entry_id == dead for entry_id, _ in context.redis.xrange(keys.DEADLETTER_STREAM))
    assert _people_events(context) == before and context.redis.xlen(keys.POSITION_STREAM) == positions
    assert not context.roll.statuses(f"incident:{nairobi}") and not context.redis.hlen(keys.CHECKIN_PLACES)


def test_an_officer_mark_refuses_unknown_status_person_and_incident(context: Context, live_server: LiveServer,
                                                                    officer: dict[str, str], nairobi: str) -> None:
    url = live_server.url + "/api/v1/incidents/{}/people/{}"
    bad = requests.put(url.format(nairobi, "N1"), json={"status": "fine"}, headers=officer, timeout=30)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status" and bad.json()["dead_letter_id"]
    nobody = requests.put(url.format(nairobi, "nobody"), json={"status": "safe"}, headers=officer, timeout=30)
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "traveller_id"
    gone = requests.put(url.format("inc-nope", "N1"), json={"status": "safe"}, headers=officer, timeout=30)
    assert gone.status_code == 404 and gone.json()["errors"][0]["field"] == "incident_id"
    desk = bearer(live_server.token("regional_desk", "africa"))
    assert requests.put(url.format(nairobi, "N1"), json={"status": "safe"}, headers=desk, timeout=30).status_code == 403
    assert _people_events(context) == 0


def test_a_check_in_with_a_place_is_a_position(context: Context, live_server: LiveServer, officer: dict[str, str],
                                               nairobi: str) -> None:
    # B1 (duty station Beirut, not affected) checks in from inside the Nairobi incident
    assert _affected(live_server, nairobi, officer)["counts"]["total"] == 4
    here = {"lat": NAIROBI["lat"] + 0.05, "lon": NAIROBI["lon"]}
    answer = _checkin(live_server, _traveller_token(context, "B1"), traveller_id="B1", status="needs_help", **here)
    assert answer.status_code == 201, answer.text
    assert answer.json()["scopes"] == [f"incident:{nairobi}"]  # the place decides the scopes
    assert json.loads(context.redis.hget(keys.CHECKIN_PLACES, "B1"))[:2] == [here["lat"], here["lon"]]
    reports = [json.loads(f["payload"]) for _, f in context.redis.xrange(keys.POSITION_STREAM)]
    assert reports[-1]["ids"] == ["B1"] and reports[-1]["source"] == ["checkin"]
    profile = requests.get(live_server.url + "/api/v1/travellers/B1", headers=officer, timeout=30).json()
    assert profile["position"]["source"] == "checkin" and profile["position"]["confidence"] == "high"
    affected = _affected(live_server, nairobi, officer)
    b1 = {p["traveller_id"]: p for p in affected["people"]}["B1"]
    assert b1["position_source"] == "checkin" and b1["status"] == "needs_help"
    assert affected["counts"]["total"] == 5 and affected["counts"]["needs_help"] == 1 and affected["accounted_pct"] == 20.0


def test_a_check_in_affecting_nothing_is_still_recorded(context: Context, live_server: LiveServer,
                                                        officer: dict[str, str], nairobi: str) -> None:
    answer = _checkin(live_server, _traveller_token(context, "B1"), traveller_id="B1", status="safe")
    assert answer.status_code == 201 and answer.json()["scopes"] == [], answer.text
    assert _people_events(context) == 1 and not context.roll.statuses(f"incident:{nairobi}")


def test_a_check_in_applies_to_open_incidents_only(context: Context, live_server: LiveServer,
                                                  officer: dict[str, str], nairobi: str) -> None:
    second = _incident(live_server, officer, title="Flooding")
    answer = _checkin(live_server, officer, traveller_id="N1", status="safe")
    assert answer.json()["scopes"] == sorted([f"incident:{nairobi}", f"incident:{second}"]), answer.text
    closed = requests.patch(f"{live_server.url}/api/v1/incidents/{second}", json={"status": "closed"}, headers=officer,
                            timeout=30)
    assert closed.status_code == 200, closed.text
    again = _checkin(live_server, officer, traveller_id="N2", status="safe")
    assert again.json()["scopes"] == [f"incident:{nairobi}"]
    # naming a closed incident is still accepted (late reports happen)
    late = _checkin(live_server, officer, traveller_id="N3", status="safe", incident_id=second)
    assert late.status_code == 201 and late.json()["scopes"] == [f"incident:{second}"]
    summary = requests.get(live_server.url + "/api/v1/accountability", headers=officer, timeout=30).json()
    assert [i["incident"] for i in summary["incidents"]] == [nairobi]


def _area_with_movement(context: Context, area_id: str, people: list[str]) -> None:
    """An area and its open movement, stored as the areas' owner stores them (the contract's shapes)."""
    area = {"id": area_id, "name": "South", "phase": 3, "geometry": None, "country": "KEN", "region": "africa",
            "updated_at": "2026-01-01T00:00:00+00:00"}
    movement = {"id": "mv-1", "area_id": area_id, "action": "relocation", "opened_at": "2026-01-01T00:00:00+00:00",
                "closed_at": None, "safe_haven": None, "mode": None, "expected_arrival": None,
                "people": [{"traveller_id": t, "progress": "to_move", "overdue": False} for t in people]}
    context.redis.hset(keys.AREA_INDEX, area_id, json.dumps(area))
    context.redis.set(keys.movement(area_id), json.dumps(movement))


def test_movements_have_statuses_too(context: Context, live_server: LiveServer, officer: dict[str, str], nairobi: str) -> None:
    _area_with_movement(context, "area-s", ["N1", "B1"])
    # a check-in without an incident applies to the incident and the movement the person is in
    answer = _checkin(live_server, _traveller_token(context, "N1"), traveller_id="N1", status="safe")
    assert answer.json()["scopes"] == [f"incident:{nairobi}", "area:area-s"], answer.text
    only_area = _checkin(live_server, officer, traveller_id="B1", status="unsure")
    assert only_area.json()["scopes"] == ["area:area-s"]
    url = f"{live_server.url}/api/v1/areas/area-s/people/B1/status"
    assert requests.put(url, json={"status": "needs_help"}, headers=officer, timeout=30).status_code == 200
    assert context.roll.status_of("area:area-s", ["N1", "B1"]) == {"N1": "safe", "B1": "needs_help"}
    missing = requests.put(f"{live_server.url}/api/v1/areas/nope/people/B1/status", json={"status": "safe"},
                           headers=officer, timeout=30)
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "area_id"
    not_on_it = requests.put(f"{live_server.url}/api/v1/areas/area-s/people/N2/status", json={"status": "safe"},
                             headers=officer, timeout=30)
    assert not_on_it.status_code == 422 and not_on_it.json()["errors"][0]["field"] == "traveller_id"
    summary = requests.get(live_server.url + "/api/v1/accountability", headers=officer, timeout=30).json()
    area = {a["area"]: a for a in summary["areas"]}["area-s"]
    assert area["counts"]["total"] == 2 and area["counts"]["needs_help"] == 1 and area["accounted_pct"] == 100.0
    # each person once per region, by their worst status: N1 safe, B1 needs_help, N2-N4 no_response
    regions = {r["region"]: r["counts"] for r in summary["regions"]}
    assert sum(c["total"] for c in regions.values()) == 5
    assert sum(c["needs_help"] for c in regions.values()) == 1 and sum(c["safe"] for c in regions.values()) == 1
    # a closed movement no longer takes check-ins
    closed = json.loads(context.redis.get(keys.movement("area-s")))
    context.redis.set(keys.movement("area-s"), json.dumps({**closed, "closed_at": "2026-01-02T00:00:00+00:00"}))
    assert _checkin(live_server, officer, traveller_id="B1", status="safe").json()["scopes"] == []
    after_close = requests.put(url, json={"status": "safe"}, headers=officer, timeout=30)
    assert after_close.status_code == 422 and after_close.json()["errors"][0]["field"] == "area_id"


def test_a_regional_desk_sees_only_its_region(context: Context, live_server: LiveServer, officer: dict[str, str],
                                              nairobi: str) -> None:
    assert _checkin(live_server, officer, traveller_id="N1", status="safe").status_code == 201
    elsewhere = bearer(live_server.token("regional_desk", "europe"))
    summary = requests.get(live_server.url + "/api/v1/accountability", headers=elsewhere, timeout=30)
    assert summary.status_code == 200 and summary.json()["incidents"] == [] and summary.json()["regions"] == []
    assert requests.get(f"{live_server.url}/api/v1/incidents/{nairobi}/burndown", headers=elsewhere,
                        timeout=30).status_code == 404
    # F1 is in Beirut (another region) but flies into the incident tomorrow: affected, yet not the africa desk's
    tomorrow = datetime.now(timezone.utc) + timedelta(hours=20)
    flight = {"from": {k: BEIRUT[k] for k in ("name", "lat", "lon")}, "to": {k: NAIROBI[k] for k in ("name", "lat", "lon")},
              "depart": (tomorrow - timedelta(hours=5)).isoformat(), "arrive": tomorrow.isoformat()}
    _import(live_server, [{**traveller("F1", BEIRUT), "itinerary": [flight]}])
    everyone = requests.get(live_server.url + "/api/v1/accountability", headers=officer, timeout=30).json()
    assert {i["incident"]: i["counts"]["total"] for i in everyone["incidents"]} == {nairobi: 5}
    africa = requests.get(live_server.url + "/api/v1/accountability",
                          headers=bearer(live_server.token("regional_desk", "africa")), timeout=30).json()
    assert [(i["incident"], i["counts"]["total"], i["accounted_pct"]) for i in africa["incidents"]] == [(nairobi, 4, 25.0)]
    assert [r["region"] for r in africa["regions"]] == ["africa"]
    assert requests.get(live_server.url + "/api/v1/accountability", headers=bearer(live_server.token("feed")),
                        timeout=30).status_code == 403


def _all_routes(live_server: LiveServer) -> list[tuple[str, str]]:
    out = []
    for rule in live_server.app.server.url_map.iter_rules():  # type: ignore[attr-defined]
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, path))
    return out


@pytest.mark.parametrize("role", ["traveller", "warden"])
def test_traveller_and_warden_tokens_may_do_nothing_else(context: Context, live_server: LiveServer, role: str,
                                                         nairobi: str) -> None:
    name = random_ref(f"{role}-")
    token = context.accounts.create_token(name, role, traveller_id="N1" if role == "traveller" else None)
    if role == "warden":
        context.accounts.assign_warden(name, ["N1"])
    headers = bearer(token)
    routes = _all_routes(live_server)
    assert ("POST", "/api/v1/checkins") in routes and len(routes) > 20
    for method, path in routes + [("GET", "/"), ("GET", "/_dash-layout"), ("POST", "/_dash-update-component"),
                                  ("GET", "/logout")]:
        if (method, path) == ("POST", "/api/v1/checkins") or path in OPEN_PATHS or path in display.OPEN_PATHS:
            continue  # the open paths (sign-in page, health check, a wall's pairing page) answer anyone
        answer = requests.request(method, live_server.url + path, headers=headers, json={}, timeout=30,
                                  allow_redirects=False)
        assert answer.status_code == 403, f"{method} {path}: {answer.status_code}"
    with pytest.raises(socketio.exceptions.ConnectionError):
        LiveClient(reconnection=False).connect(live_server.url, namespaces=[NAMESPACE], auth={"token": token},
                                                    transports=["websocket"], wait_timeout=5)
    assert _checkin(live_server, headers, traveller_id="N1", status="safe").status_code == 201


def test_a_signed_in_officer_marks_a_status_from_the_browser(context: Context, live_server: LiveServer, nairobi: str) -> None:
    """The page's path: a session with its CSRF header (Dash sends it); without it, refused."""
    http = live_server.session("duty_officer")
    url = f"{live_server.url}/api/v1/incidents/{nairobi}/people/N1"
    assert http.put(url, json={"status": "safe"}, timeout=30).status_code == 200
    bare = requests.Session()
    bare.cookies.update(http.cookies)
    assert bare.put(url, json={"status": "needs_help"}, timeout=30).status_code in (400, 403)
    assert context.roll.status_of(f"incident:{nairobi}", ["N1"]) == {"N1": "safe"}
    entry = [f for _, f in context.redis.xrange(keys.AUDIT_STREAM) if f["action"] == "accountability.status_set"][-1]
    assert entry["actor"] == http.user_name and entry["via"] == "session"  # type: ignore[attr-defined]


def _listen(live_server: LiveServer, token: str, event: str) -> tuple[Any, list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []
    client = LiveClient(reconnection=False)
    client.on(event, received.append, namespace=NAMESPACE)
    client.connect(live_server.url, namespaces=[NAMESPACE], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return client, received


def _wait(received: list[dict[str, Any]], match: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(received):
            if match(message):
                return message
        time.sleep(0.05)
    raise AssertionError(f"no matching message in {received[-3:]}")


def _incident_row(message: dict[str, Any], incident_id: str) -> dict[str, Any] | None:
    return next((i for i in message["incidents"] if i["incident"] == incident_id), None)


def test_the_counts_are_pushed_live(context: Context, live_server: LiveServer, officer: dict[str, str], nairobi: str) -> None:
    client, received = _listen(live_server, live_server.token("duty_officer"), "accountability")
    desk, desk_received = _listen(live_server, live_server.token("regional_desk", "europe"), "accountability")
    try:
        _wait(received, lambda m: (_incident_row(m, nairobi) or {}).get("counts", {}).get("total") == 4)
        assert _checkin(live_server, officer, traveller_id="N1", status="needs_help").status_code == 201
        pushed = _wait(received, lambda m: (_incident_row(m, nairobi) or {}).get("counts", {}).get("needs_help") == 1)
        assert _incident_row(pushed, nairobi)["accounted_pct"] == 25.0  # type: ignore[index]
        assert [r["region"] for r in pushed["regions"]] == ["africa"] and pushed["regions"][0]["counts"]["needs_help"] == 1
        # another region's desk gets its own cut: nothing of Nairobi
        assert desk_received and all(_incident_row(m, nairobi) is None and m["regions"] == [] for m in desk_received)
    finally:
        client.disconnect()
        desk.disconnect()
