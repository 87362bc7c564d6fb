"""Travellers over the real API and Redis: import (JSON and CSV), re-import in place,
rejected rows dead-lettered, and who sees which traveller with which fields."""

from __future__ import annotations

import json
from typing import Any

import requests

from crisis.adapters import keys
from crisis.bootstrap import Context
from tests.conftest import LiveServer

NAIROBI = {"name": "Nairobi office", "lat": -1.2921, "lon": 36.8219, "country": "KEN"}
BEIRUT = {"name": "Beirut office", "lat": 33.8938, "lon": 35.5018, "country": "LBN"}
IDENTITY = {"id", "name", "phone", "email", "dependant_of", "agency"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def traveller(tid: str, station: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": tid, "name": f"Name of {tid}", "agency": "UNDP", "category": "international_staff",
            "essential": False, "duty_station": station, "phone": "+1 555", "email": f"{tid}@example.org", **extra}


def _dead_letters(context: Context) -> list[dict[str, str]]:
    return [fields for _, fields in context.redis.xrange(keys.DEADLETTER_STREAM) if fields.get("feed") == "travellers"]


def test_json_import_reports_bad_rows_and_a_reimport_updates_in_place(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/travellers"
    batch = [traveller("K1", NAIROBI), traveller("B1", BEIRUT), {**traveller("X1", BEIRUT), "category": "tourist"},
             {**traveller("D1", BEIRUT), "category": "dependant", "dependant_of": "NOBODY"}]
    first = requests.post(url, json=batch, headers=officer)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["accepted"], body["updated"]) == (2, 0)
    assert [(r["row"], r["field"]) for r in body["rejected"]] == [(3, "category"), (4, "dependant_of")]
    letters = _dead_letters(context)
    assert len(letters) == 2 and {r["dead_letter_id"] for r in body["rejected"]} == {
        eid for eid, f in context.redis.xrange(keys.DEADLETTER_STREAM) if f.get("feed") == "travellers"}
    assert any('"X1"' in letter["body"] for letter in letters)

    again = requests.post(url, json={"travellers": [{**batch[0], "name": "Renamed"}, batch[1]]}, headers=officer)
    assert again.status_code == 200 and (again.json()["accepted"], again.json()["updated"]) == (0, 2)
    assert context.redis.hlen(keys.TRAVELLERS) == 2
    assert context.redis.xlen(keys.TRAVELLERS_STREAM) == 2  # one event per import batch
    detail = requests.get(url + "/K1", headers=officer).json()
    assert detail["name"] == "Renamed" and detail["region"] == "africa"
    assert detail["position"]["source"] == "duty_station" and detail["position"]["confidence"] == "low"
    audit = [f for _, f in context.redis.xrange(keys.AUDIT_STREAM) if f.get("action") == "travellers.import"]
    assert len(audit) == 2

    everything_bad = requests.post(url, json=[batch[2]], headers=officer)
    assert everything_bad.status_code == 422 and everything_bad.json()["rejected"][0]["field"] == "category"
    not_a_list = requests.post(url, json={"people": []}, headers=officer)
    assert not_a_list.status_code == 422 and not_a_list.json()["dead_letter_id"]


def test_csv_import_from_a_signed_in_session(context: Context, live_server: LiveServer) -> None:
    http = live_server.session("duty_officer")
    header = "id,name,agency,category,essential,duty_station_name,duty_station_lat,duty_station_lon,from,to,depart,arrive"
    rows = [
        "C1,Amal,UNDP,consultant,yes,Beirut,33.89,35.5,BEY,AMM,2026-05-01T09:00:00+03:00,2026-05-01T10:00:00+03:00",
        "C1,Amal,UNDP,consultant,yes,Beirut,33.89,35.5,AMM,BEY,2026-05-03T09:00:00+03:00,2026-05-03T10:00:00+03:00",
        "C2,Omar,UNDP,visitor,no,Beirut,33.89,35.5,XQZ,BEY,2026-05-03T09:00:00+03:00,2026-05-03T10:00:00+03:00",
    ]
    csv_body = "\n".join([header, *rows]) + "\n"
    answer = http.post(live_server.url + "/api/v1/travellers", data=csv_body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1 and [(r["row"], r["field"]) for r in answer.json()["rejected"]] == [(3, "from")]
    stored = json.loads(context.redis.hget(keys.TRAVELLERS, "C1"))
    assert len(stored["itinerary"]) == 2 and stored["essential"] is True
    again = http.post(live_server.url + "/api/v1/travellers", data=csv_body, headers={"Content-Type": "text/csv"})
    assert (again.json()["accepted"], again.json()["updated"]) == (0, 1)
    assert context.redis.hlen(keys.TRAVELLERS) == 1
    forged = requests.post(live_server.url + "/api/v1/travellers", data=csv_body, cookies=http.cookies,
                           headers={"Content-Type": "text/csv"})  # a cross-site form: no CSRF header
    assert forged.status_code == 403 and context.redis.xlen(keys.TRAVELLERS_STREAM) == 2
    refused = http.post(live_server.url + "/api/v1/travellers", data="x", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415 and refused.json()["dead_letter_id"]


def test_each_reader_sees_its_region_and_a_wall_sees_no_one(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/travellers"
    imported = requests.post(url, json=[traveller("K1", NAIROBI), traveller("B1", BEIRUT),
                                        {**traveller("B2", BEIRUT), "category": "visitor"}], headers=officer)
    assert imported.json()["accepted"] == 3
    # B2 reports from Nairobi: its best-known position (and so its region) follows the report.
    moved = requests.post(live_server.url + "/api/v1/positions", json=[{"traveller_id": "B2", "lat": -1.3, "lon": 36.8}], headers=officer)
    assert moved.status_code == 202

    everyone = requests.get(url, headers=officer).json()
    assert [t["id"] for t in everyone["travellers"]] == ["B1", "B2", "K1"] and everyone["total"] == 3
    b2 = everyone["travellers"][1]
    assert (b2["region"], b2["position"]["source"], b2["position"]["confidence"]) == ("africa", "report", "high")
    assert b2["name"] == "Name of B2" and b2["position"]["age_seconds"] >= 0

    desk = bearer(live_server.token("regional_desk", "africa"))
    seen = requests.get(url, headers=desk).json()
    assert [t["id"] for t in seen["travellers"]] == ["B2", "K1"] and seen["travellers"][1]["phone"] == "+1 555"
    assert requests.get(url + "/B1", headers=desk).status_code == 404
    assert requests.get(url + "/K1", headers=desk).json()["email"] == "K1@example.org"
    mena = bearer(live_server.token("regional_desk", "middle_east_north_africa"))
    assert [t["id"] for t in requests.get(url, headers=mena).json()["travellers"]] == ["B1"]

    wall = bearer(live_server.token("wall"))
    shown = requests.get(url, headers=wall).json()
    assert shown["total"] == 3
    for item in shown["travellers"]:
        assert not IDENTITY & set(item), item
        assert {"lat", "lon", "source", "confidence", "at"} <= set(item["position"])
    assert "Name of" not in json.dumps(shown)

    assert requests.get(url, headers=bearer(live_server.token("feed"))).status_code == 403
    assert requests.post(url, json=[traveller("Z1", NAIROBI)], headers=desk).status_code == 403


def test_filters_and_pages(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/travellers"
    requests.post(url, json=[traveller(f"P{i}", NAIROBI if i % 2 else BEIRUT, category="visitor" if i < 2 else "consultant")
                             for i in range(5)], headers=officer)
    page = requests.get(url, params={"limit": 2}, headers=officer).json()
    assert [t["id"] for t in page["travellers"]] == ["P0", "P1"] and page["next_offset"] == 2 and page["total"] == 5
    last = requests.get(url, params={"limit": 2, "offset": 4}, headers=officer).json()
    assert [t["id"] for t in last["travellers"]] == ["P4"] and last["next_offset"] is None
    assert [t["id"] for t in requests.get(url, params={"category": "visitor"}, headers=officer).json()["travellers"]] == ["P0", "P1"]
    assert [t["id"] for t in requests.get(url, params={"region": "africa"}, headers=officer).json()["travellers"]] == ["P1", "P3"]
    bad = requests.get(url, params={"status": "fine", "region": "mars"}, headers=officer)
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"status", "region"}
    assert "use one of africa" in str(bad.json()["errors"]) and bad.json()["dead_letter_id"]
    letter = dict(context.redis.xrange(keys.DEADLETTER_STREAM, min=bad.json()["dead_letter_id"], max=bad.json()["dead_letter_id"])[0][1])
    assert letter["path"].startswith("/api/v1/travellers?") and "region=mars" in letter["path"], letter
    typo = requests.get(url, params={"categroy": "visitor"}, headers=officer)  # a typo lists no one by mistake, nor everyone
    assert typo.status_code == 400 and typo.json()["errors"][0]["field"] == "categroy", typo.text


def test_incident_area_and_status_filters(context: Context, live_server: LiveServer) -> None:
    """incident= lists the people it affects, area= the people inside it, status= filters
    by the status in that scope (or, alone, by each person's worst open status)."""
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/travellers"
    tyre = {"name": "Tyre office", "lat": 33.27, "lon": 35.20, "country": "LBN"}
    imported = requests.post(url, json=[traveller("IN1", tyre), traveller("IN2", tyre, category="visitor"),
                                        traveller("OUT", NAIROBI)], headers=officer)
    assert imported.status_code == 200, imported.text
    posted = requests.post(live_server.url + "/api/v1/incidents", headers=officer, json={
        "title": "Shelling near Tyre", "type": "armed_conflict", "severity": 4, "lat": 33.27, "lon": 35.2, "radius_km": 20})
    incident = posted.json()["id"]
    marked = requests.put(f"{live_server.url}/api/v1/incidents/{incident}/people/IN2", json={"status": "needs_help"}, headers=officer)
    assert marked.status_code == 200, marked.text

    affected = requests.get(url, params={"incident": incident}, headers=officer).json()
    assert [(t["id"], t["status"]) for t in affected["travellers"]] == [("IN1", "no_response"), ("IN2", "needs_help")]
    helping = requests.get(url, params={"incident": incident, "status": "needs_help"}, headers=officer).json()
    assert [t["id"] for t in helping["travellers"]] == ["IN2"]
    assert [t["id"] for t in requests.get(url, params={"status": "needs_help"}, headers=officer).json()["travellers"]] == ["IN2"]
    assert [t["id"] for t in requests.get(url, params={"status": "no_response"}, headers=officer).json()["travellers"]] == ["IN1"]

    south = requests.post(live_server.url + "/api/v1/areas", headers=officer, json={
        "name": "South", "phase": 1, "geometry": {"type": "Polygon", "coordinates": [
            [[35.0, 33.0], [35.6, 33.0], [35.6, 33.4], [35.0, 33.4], [35.0, 33.0]]]}})
    assert south.status_code == 201, south.text
    inside = requests.get(url, params={"area": south.json()["id"]}, headers=officer).json()
    assert [t["id"] for t in inside["travellers"]] == ["IN1", "IN2"]

    unknown = requests.get(url, params={"incident": "inc-nope"}, headers=officer)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "incident"
    desk = bearer(live_server.token("regional_desk", region="africa"))
    hidden = requests.get(url, params={"incident": incident}, headers=desk)
    assert hidden.status_code == 404 and hidden.json()["errors"] == [{"field": "incident", "message": f"no incident {incident!r}"}]


def test_answers_have_the_documented_shapes(context: Context, live_server: LiveServer) -> None:
    from tests.e2e.test_openapi import _conforms

    doc = requests.get(live_server.url + "/api/v1/openapi.json", headers=bearer(live_server.token("wall"))).json()
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/travellers"
    flight = {"from": "BEY", "to": "AMM", "depart": "2026-05-01T09:00:00+03:00", "arrive": "2026-05-01T10:00:00+03:00"}
    imported = requests.post(url, json=[traveller("S1", BEIRUT, itinerary=[flight]), {"id": "S2"}], headers=officer)
    _conforms(doc, "TravellerImportResult", imported.json())
    for who in (officer, bearer(live_server.token("wall"))):
        _conforms(doc, "TravellerList", requests.get(url, headers=who).json())
    _conforms(doc, "TravellerDetail", requests.get(url + "/S1", headers=officer).json())
    _conforms(doc, "ErrorResponse", requests.get(url + "/S1", headers=bearer(live_server.token("wall"))).json())
    _conforms(doc, "ErrorResponse", requests.get(url + "/nobody", headers=officer).json())


def test_a_wall_cannot_tell_who_a_row_is_by_paging_a_list_in_id_order(context: Context, live_server: LiveServer) -> None:
    """The finding: a wall paged GET /travellers one row at a time (limit=1, offset=41) in id
    order, and with sequential ids the 42nd row was T000042's exact place. Now a role without
    identities gets people in an order that follows no id: the same rows, not in id order."""
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/travellers"
    people = [traveller(f"W{i:03d}", {**BEIRUT, "lat": 33.0 + i / 10}) for i in range(12)]
    assert requests.post(url, json=people, headers=officer).json()["accepted"] == 12
    assert requests.post(live_server.url + "/api/v1/positions", headers=officer,
                         json=[{"traveller_id": p["id"], "lat": 33.0 + i / 10, "lon": 35.5} for i, p in enumerate(people)]).status_code == 202
    by_id = [round(t["position"]["lat"], 3) for t in requests.get(url, headers=officer).json()["travellers"]]
    assert by_id == sorted(by_id)  # those who receive names get them in id order
    wall = bearer(live_server.token("wall"))
    paged = [round(requests.get(url, params={"limit": 1, "offset": k}, headers=wall).json()["travellers"][0]["position"]["lat"], 3)
             for k in range(12)]
    assert sorted(paged) == by_id and paged != by_id, paged
    again = [round(t["position"]["lat"], 3) for t in requests.get(url, headers=wall).json()["travellers"]]
    assert again == paged  # a stable order: pages do not overlap or skip
    # The positions: in the order of Redis's hash table (keyed with a seed drawn at each start), not by id.
    points = requests.get(live_server.url + "/api/v1/positions", headers=wall).json()["positions"]
    lats = [round(p["lat"], 3) for p in points]
    assert sorted(lats) == by_id and lats != by_id, lats


def test_a_wall_may_not_look_a_person_up_by_id(context: Context, live_server: LiveServer) -> None:
    """The finding: a wall got T000320's category, country and exact position (and 404 for an
    unknown id), and that position matched one pseudonym of its live positions: it could
    follow the person. Now: 403, the same answer whether the id exists or not."""
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/travellers"
    assert requests.post(url, json=[traveller("T000320", BEIRUT)], headers=officer).json()["accepted"] == 1
    wall = bearer(live_server.token("wall"))
    known = requests.get(url + "/T000320", headers=wall)
    unknown = requests.get(url + "/T999999", headers=wall)
    assert known.status_code == unknown.status_code == 403, known.text
    assert known.json() == unknown.json() and "role 'wall' may not" in known.json()["errors"][0]["message"]
    assert "33.89" not in known.text and "LBN" not in known.text
    # those who receive identities still look people up
    assert requests.get(url + "/T000320", headers=officer).json()["position"]["lat"] == BEIRUT["lat"]
    assert requests.get(url + "/T999999", headers=officer).status_code == 404
    desk = bearer(live_server.token("regional_desk", "middle_east_north_africa"))
    assert requests.get(url + "/T000320", headers=desk).json()["name"] == "Name of T000320"
