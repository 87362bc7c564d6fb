"""The standby roster and surge dispatch over the real API and Redis: officers imported
(CSV and JSON, bad rows reported and dead-lettered), slots and who is on standby at a
slot's exact edges, rotations, leave, swaps and overrides, ranked candidates, a dispatch
that promotes the alternate, the workflow's refusals, and who sees what."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from pyproj import Geod

from crisis import views_roster
from crisis.adapters import keys
from crisis.bootstrap import Context
from tests.conftest import LiveServer, random_ref

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "roster"
MENA = "middle_east_north_africa"
BEIRUT = {"lat": 33.89, "lon": 35.5}
AMMAN = {"name": "Amman", "lat": 31.95, "lon": 35.93, "country": "JOR"}
NAIROBI = {"name": "Nairobi", "lat": -1.29, "lon": 36.82, "country": "KEN"}
BEIRUT_HOME = {"name": "Beirut", "lat": 33.89, "lon": 35.5, "country": "LBN"}
GENEVA = {"name": "Geneva", "lat": 46.2, "lon": 6.14, "country": "CHE"}
# Next year's 1 March: in the future, and within the two years ahead a roster may plan
# (crisis.feeds.schemas.PLANNING_HORIZON); the fixed dates below are in the same year.
YEAR = datetime.now(UTC).year + 1
T0 = datetime(YEAR, 3, 1, 8, 0, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def iso(value: datetime) -> str:
    return value.isoformat()


def officer(officer_id: str, home: dict[str, Any], region: str, skills: list[str], languages: list[str]) -> dict[str, Any]:
    return {"id": officer_id, "name": f"Officer {officer_id}", "home": home, "region": region, "grade": "P4",
            "skills": skills, "languages": languages, "contact": f"+41 22 {officer_id}"}


def slot(officer_id: str, start: datetime, end: datetime, role: str = "primary", readiness: int = 24,
         region: str | None = MENA) -> dict[str, Any]:
    return {"officer_id": officer_id, "start": iso(start), "end": iso(end), "readiness_hours": readiness, "role": role,
            "region": region}


def import_officers(live_server: LiveServer, officers: list[dict[str, Any]], headers: dict[str, str]) -> None:
    answer = requests.post(live_server.url + "/api/v1/roster/officers", json=officers, headers=headers, timeout=30)
    assert answer.status_code == 200 and not answer.json()["rejected"], answer.text


def add_slots(live_server: LiveServer, slots: list[dict[str, Any]], headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = requests.post(live_server.url + "/api/v1/roster/standby", json=slots, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["slots"]  # type: ignore[no-any-return]


def refused(answer: requests.Response, status: int, field: str) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    body: dict[str, Any] = answer.json()
    assert field in [e["field"] for e in body["errors"]], body
    return body


def _dead_letters(context: Context) -> list[dict[str, str]]:
    return [f for _, f in context.redis.xrange(keys.DEADLETTER_STREAM) if f.get("feed") == "roster"]


def _audit(context: Context, prefix: str) -> list[dict[str, str]]:
    return [f for _, f in context.redis.xrange(keys.AUDIT_STREAM) if f.get("action", "").startswith(prefix)]


def incident(live_server: LiveServer, headers: dict[str, str], where: dict[str, float] = BEIRUT) -> str:
    posted = requests.post(live_server.url + "/api/v1/incidents", headers=headers, timeout=30,
                           json={"title": random_ref("Kidnapping "), "type": "armed_conflict", "severity": 4, **where})
    assert posted.status_code == 201, posted.text
    return str(posted.json()["id"])


# --- officers -------------------------------------------------------------------------------


def test_officers_import_csv_and_json_report_each_bad_row_and_update_in_place(context: Context, live_server: LiveServer) -> None:
    officer_session = live_server.session("duty_officer")  # a signed-in duty officer, with the CSRF header
    url = live_server.url + "/api/v1/roster/officers"
    # CSV with a token (a signed-in browser's writes are JSON only)
    csv_answer = requests.post(url, data=(SAMPLES / "officers.csv").read_bytes(), timeout=30,
                               headers={"Content-Type": "text/csv", **bearer(live_server.token("duty_officer"))})
    assert csv_answer.status_code == 200, csv_answer.text
    result = csv_answer.json()
    assert (result["accepted"], result["updated"]) == (5, 0)
    rows = {(r["row"], r["field"]) for r in result["rejected"]}
    assert rows == {(6, "skills"), (7, "languages"), (8, "home_lat"), (9, "region"), (10, "id")}
    assert all(r["dead_letter_id"] and r["message"] for r in result["rejected"])
    assert "juggling" in next(r["message"] for r in result["rejected"] if r["field"] == "skills")
    assert len(_dead_letters(context)) == 5

    json_answer = officer_session.post(url, data=(SAMPLES / "officers.json").read_bytes(),
                                       headers={"Content-Type": "application/json"}, timeout=30)
    assert json_answer.status_code == 200, json_answer.text
    rejected = {(r["row"], r["field"]) for r in json_answer.json()["rejected"]}
    assert rejected == {(4, "skills"), (5, "languages"), (6, "home.lon"), (7, "id")}
    assert json_answer.json()["accepted"] == 3

    # re-import: updated in place, never a duplicate
    moved = officer("FSO-001", BEIRUT_HOME, MENA, ["first_aid"], ["ar"])
    again = officer_session.post(url, json=[moved], timeout=30)
    assert again.status_code == 200 and (again.json()["accepted"], again.json()["updated"]) == (0, 1), again.text
    listed = officer_session.get(url, timeout=30).json()
    assert listed["count"] == 8 and [o["id"] for o in listed["officers"]].count("FSO-001") == 1
    one = officer_session.get(url + "/FSO-001", timeout=30).json()
    assert one["home"]["name"] == "Beirut" and one["skills"] == ["first_aid"] and one["languages"] == ["ar"]
    assert officer_session.get(url + "/FSO-999", timeout=30).status_code == 404

    # every row bad: 422, nothing stored; another Content-Type: 415; not JSON: 400
    none_good = officer_session.post(url, json=[{**moved, "id": "FSO-X", "skills": ["magic"]}], timeout=30)
    assert none_good.status_code == 422 and none_good.json()["accepted"] == 0
    assert [(r["row"], r["field"]) for r in none_good.json()["rejected"]] == [(1, "skills")]
    assert officer_session.get(url + "/FSO-X", timeout=30).status_code == 404
    refused(requests.post(url, data=b"x", headers={"Content-Type": "text/plain", **bearer(live_server.token())}, timeout=30),
            415, "Content-Type")
    assert officer_session.post(url, data=b"[", headers={"Content-Type": "application/json"}, timeout=30).status_code == 400
    imports = _audit(context, "roster.officers_import")
    assert len(imports) == 4 and imports[-1]["actor"] == officer_session.user_name  # type: ignore[attr-defined]
    assert result["warnings"] == [] and json_answer.json()["warnings"] == []  # the samples' homes are in their countries


def test_a_home_whose_coordinates_lie_in_another_country_is_stored_and_said(live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    swapped = {**AMMAN, "lat": AMMAN["lon"], "lon": AMMAN["lat"]}  # latitude and longitude swapped: Syria
    answer = requests.post(live_server.url + "/api/v1/roster/officers", headers=duty, timeout=30, json=[
        officer("HW-1", AMMAN, MENA, [], ["ar"]), officer("HW-2", swapped, MENA, [], ["ar"]),
        officer("HW-3", {"name": "Nowhere", "lat": -40.0, "lon": -130.0, "country": "KEN"}, "africa", [], ["en"])])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] + body["updated"] == 3 and body["rejected"] == []  # stored: a warning, not a refusal
    assert [(w["row"], w["officer_id"], w["field"]) for w in body["warnings"]] == [(2, "HW-2", "home"), (3, "HW-3", "home")]
    said = body["warnings"][0]["message"]
    assert said.startswith("Officer HW-2's home (35.93, 31.95) lies in Türkiye (TUR), ") and " km from JOR that its country says: " in said
    assert said.endswith("check the coordinates (latitude and longitude swapped?)")
    assert 300 < float(said.split(" km from")[0].rsplit(" ", 1)[1].replace(",", "")) < 600, said
    assert "lies at sea, far from any country, " in body["warnings"][1]["message"]


# --- slots, standby, leave --------------------------------------------------------------------


def test_slot_refusals_name_their_field_and_are_dead_lettered(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    import_officers(live_server, [officer("S1", AMMAN, MENA, [], ["ar"]), officer("S2", NAIROBI, "africa", [], ["en"])], duty)
    url = live_server.url + "/api/v1/roster/standby"
    add_slots(live_server, [slot("S1", T0, T0 + timedelta(days=7))], duty)

    def post(body: Any) -> requests.Response:
        return requests.post(url, json=body, headers=duty, timeout=30)

    before = len(_dead_letters(context))
    overlap_stored = refused(post([slot("S1", T0 + timedelta(days=6), T0 + timedelta(days=9))]), 422, "slots[0].start")
    assert overlap_stored["dead_letter_id"]
    refused(post([slot("S2", T0, T0 + timedelta(days=2)), slot("S2", T0 + timedelta(days=1), T0 + timedelta(days=3))]),
            422, "slots[1].start")
    refused(post([slot("S2", T0, T0 - timedelta(hours=1))]), 422, "slots[0].end")
    naive = {**slot("S2", T0, T0 + timedelta(days=1)), "start": f"{YEAR}-03-01T08:00:00"}
    assert "zone" in refused(post([naive]), 422, "slots[0].start")["errors"][0]["message"]
    refused(post([slot("S2", T0, T0 + timedelta(days=1), readiness=36)]), 422, "slots[0].readiness_hours")
    refused(post([slot("NOBODY", T0, T0 + timedelta(days=1))]), 422, "slots[0].officer_id")
    refused(post([slot("S2", T0, T0 + timedelta(days=1), region="atlantis")]), 422, "slots[0].region")
    refused(post([{**slot("S2", T0, T0 + timedelta(days=1)), "role": "backup"}]), 422, "slots[0].role")
    refused(post([{**slot("S2", T0, T0 + timedelta(days=1)), "colour": "red"}]), 422, "slots[0].colour")
    refused(post([]), 422, "slots")
    assert len(_dead_letters(context)) == before + 10
    # nothing of those was stored: S2 has no slot at all
    slots = requests.get(live_server.url + "/api/v1/roster/slots", params={"officer": "S2"}, headers=duty, timeout=30).json()
    assert slots["count"] == 0
    # the refused PATCH names its field too
    stored = requests.get(live_server.url + "/api/v1/roster/slots", params={"officer": "S1"}, headers=duty, timeout=30).json()
    slot_id = stored["slots"][0]["id"]
    refused(requests.patch(f"{url}/{slot_id}", json={"end": iso(T0 - timedelta(days=1))}, headers=duty, timeout=30), 422, "end")
    refused(requests.patch(f"{url}/{slot_id}", json={"readiness_hours": 36}, headers=duty, timeout=30), 422, "readiness_hours")
    refused(requests.patch(f"{url}/{slot_id}", json={"start": f"{YEAR}-03-01 09:00"}, headers=duty, timeout=30), 422, "start")
    assert requests.patch(f"{url}/slot-missing", json={"note": "x"}, headers=duty, timeout=30).status_code == 404


def test_standby_at_a_slots_exact_start_and_end_and_leave_overrides_it(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    import_officers(live_server, [officer("E1", AMMAN, MENA, [], ["ar"]), officer("E2", NAIROBI, "africa", [], ["fr"])], duty)
    end = T0 + timedelta(days=7)
    made = add_slots(live_server, [slot("E1", T0, end, readiness=48), slot("E2", T0, end, "alternate", region=None)], duty)
    url = live_server.url + "/api/v1/roster/standby"

    def on(at: datetime) -> dict[str, Any]:
        answer = requests.get(url, params={"at": iso(at)}, headers=duty, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    before = on(T0 - timedelta(microseconds=1))
    assert before["standby"] == []
    assert before["next"][MENA]["officer_id"] == "E1" and before["next"]["worldwide"]["officer_id"] == "E2"
    assert before["next"]["africa"] is None
    at_start = on(T0)
    assert [(e["officer_id"], e["role"], e["readiness_hours"], e["region"]) for e in at_start["standby"]] == [
        ("E1", "primary", 48, MENA), ("E2", "alternate", 24, None)]  # by region, worldwide last
    assert at_start["standby"][0]["until"] == iso(end) and at_start["at"] == iso(T0)
    assert len(on(end - timedelta(microseconds=1))["standby"]) == 2
    assert on(end)["standby"] == []  # a slot covers start <= t < end
    # an unencoded "+00:00" arrives as a space: still read as the zone
    raw = requests.get(f"{url}?at={YEAR}-03-01T08:00:00+00:00", headers=duty, timeout=30)
    assert raw.status_code == 200 and len(raw.json()["standby"]) == 2
    refused(requests.get(url, params={"at": f"{YEAR}-03-01T08:00:00"}, headers=duty, timeout=30), 422, "at")
    assert not requests.get(url, params={"at": "nonsense"}, headers=duty, timeout=30).json().get("dead_letter_id")

    # leave from the middle of the slot: off standby then, whatever the slot says; "until" stops at it
    leave_start = T0 + timedelta(days=3)
    posted = requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30,
                           json={"officer_id": "E1", "start": iso(leave_start), "end": iso(end), "kind": "leave", "note": "family"})
    assert posted.status_code == 201, posted.text
    leave = posted.json()
    assert leave["id"] and leave["officer_id"] == "E1"
    assert next(e for e in on(T0)["standby"] if e["officer_id"] == "E1")["until"] == iso(leave_start)
    assert [e["officer_id"] for e in on(leave_start)["standby"]] == ["E2"]
    listed = requests.get(live_server.url + "/api/v1/roster/leave", params={"officer": "E1"}, headers=duty, timeout=30).json()
    assert [p["id"] for p in listed["leave"]] == [leave["id"]]
    refused(requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30,
                          json={"officer_id": "E1", "start": iso(end), "end": iso(T0)}), 422, "end")
    refused(requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30,
                          json={"officer_id": "ghost", "start": iso(T0), "end": iso(end)}), 422, "officer_id")
    removed = requests.delete(f"{live_server.url}/api/v1/roster/leave/{leave['id']}", headers=duty, timeout=30)
    assert removed.status_code == 200 and removed.json()["removed"] == leave["id"]
    assert len(on(leave_start)["standby"]) == 2
    assert requests.delete(f"{live_server.url}/api/v1/roster/leave/{leave['id']}", headers=duty, timeout=30).status_code == 404
    assert [e["action"] for e in _audit(context, "roster.leave")] == ["roster.leave_add", "roster.leave_remove"]
    assert made[0]["id"] != made[1]["id"]


def test_patch_delete_swap_override_and_rotation(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    import_officers(live_server, [officer(f"R{i}", AMMAN, MENA, [], ["ar"]) for i in range(1, 5)], duty)
    a, b = add_slots(live_server, [slot("R1", T0, T0 + timedelta(days=7)),
                                   slot("R2", T0, T0 + timedelta(days=7), "alternate")], duty)
    url = live_server.url + "/api/v1/roster"
    patched = requests.patch(f"{url}/standby/{a['id']}", json={"readiness_hours": 48, "region": None, "note": "cover all"},
                             headers=duty, timeout=30)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["readiness_hours"], patched.json()["region"], patched.json()["start"]) == (48, None, a["start"])
    swapped = requests.post(f"{url}/swaps", json={"slot_a": a["id"], "slot_b": b["id"], "note": "family event"}, headers=duty, timeout=30)
    assert swapped.status_code == 200, swapped.text
    assert {s["id"]: s["officer_id"] for s in swapped.json()["slots"]} == {a["id"]: "R2", b["id"]: "R1"}
    refused(requests.post(f"{url}/swaps", json={"slot_a": a["id"], "slot_b": "slot-nope"}, headers=duty, timeout=30), 422, "slot_b")
    overridden = requests.post(f"{url}/standby/{a['id']}/override", json={"officer_id": "R3", "note": "R2 sick"}, headers=duty, timeout=30)
    assert overridden.status_code == 200 and overridden.json()["officer_id"] == "R3", overridden.text
    refused(requests.post(f"{url}/standby/{a['id']}/override", json={"officer_id": "ghost"}, headers=duty, timeout=30), 422, "officer_id")
    deleted = requests.delete(f"{url}/standby/{b['id']}", headers=duty, timeout=30)
    assert deleted.status_code == 200 and deleted.json()["removed"] == b["id"]
    assert requests.delete(f"{url}/standby/{b['id']}", headers=duty, timeout=30).status_code == 404
    actions = [e["action"] for e in _audit(context, "roster.")]
    assert actions[-4:] == ["roster.slot_change", "roster.swap", "roster.override", "roster.slot_remove"]
    assert json.loads(_audit(context, "roster.override")[0]["detail"])["note"] == "R2 sick"

    rotation = {"officers": ["R1", "R2", "R4"], "from": f"{YEAR}-06-01T00:00:00Z", "weeks": 2, "period_days": 7,
                "handover": "09:30", "pattern": "round_robin", "region": "africa"}
    made = requests.post(f"{url}/rotations", json=rotation, headers=duty, timeout=30)
    assert made.status_code == 201, made.text
    slots = made.json()["slots"]
    assert len(slots) == 4 and {s["role"] for s in slots} == {"primary", "alternate"}
    assert slots[0]["start"].startswith(f"{YEAR}-06-01T09:30") and all(s["region"] == "africa" for s in slots)
    refused(requests.post(f"{url}/rotations", json={**rotation, "pattern": "random"}, headers=duty, timeout=30), 422, "pattern")
    refused(requests.post(f"{url}/rotations", json={**rotation, "handover": "25:00"}, headers=duty, timeout=30), 422, "handover")
    refused(requests.post(f"{url}/rotations", json={**rotation, "from": f"{YEAR}-06-01T00:00:00"}, headers=duty, timeout=30), 422, "from")
    refused(requests.post(f"{url}/rotations", json={**rotation, "officers": ["R1", "ghost"]}, headers=duty, timeout=30), 422, "officers")
    window = requests.get(f"{url}/slots", params={"from": f"{YEAR}-06-01T00:00:00Z", "to": f"{YEAR}-06-08T00:00:00Z"}, headers=duty, timeout=30)
    assert window.json()["count"] == 2
    refused(requests.get(f"{url}/slots", params={"from": f"{YEAR}-06-09T00:00:00Z", "to": f"{YEAR}-06-01T00:00:00Z"}, headers=duty, timeout=30), 422, "to")


# --- candidates and dispatch ---------------------------------------------------------------------


def _roster_for_beirut(live_server: LiveServer, duty: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A on standby (primary) in Amman with the skill and language; B in Nairobi with both, not
    on standby; C in Beirut on standby (the alternate) without the skill; D in Geneva with both,
    on leave. An Africa officer F for the regional desk's view."""
    now = datetime.now(UTC)
    import_officers(live_server, [
        officer("A", AMMAN, MENA, ["hostage_incident_management", "first_aid"], ["ar", "en"]),
        officer("B", NAIROBI, "africa", ["hostage_incident_management"], ["ar", "sw"]),
        officer("C", BEIRUT_HOME, MENA, ["first_aid"], ["ar", "fr"]),
        officer("D", GENEVA, "europe_central_asia", ["hostage_incident_management"], ["ar", "fr"]),
    ], duty)
    primary, alternate = add_slots(live_server, [slot("A", now - timedelta(hours=1), now + timedelta(days=7)),
                                                 slot("C", now - timedelta(hours=1), now + timedelta(days=7), "alternate", 48)], duty)
    leave = requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30,
                          json={"officer_id": "D", "start": iso(now - timedelta(days=1)), "end": iso(now + timedelta(days=3))})
    assert leave.status_code == 201
    return {"primary": primary, "alternate": alternate}


def test_candidates_are_ranked_and_explained(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    _roster_for_beirut(live_server, duty)
    incident_id = incident(live_server, duty)
    url = f"{live_server.url}/api/v1/incidents/{incident_id}/candidates"
    answer = requests.get(url, params={"skills": "hostage_incident_management", "languages": "ar"}, headers=duty, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["eta_terms"] == {"cruise_kmh": 800.0, "overhead_hours": 6.0, "off_standby_notice_hours": 72.0}
    assert body["incident"]["id"] == incident_id and body["at"]
    ranked = body["candidates"]
    assert [c["officer_id"] for c in ranked] == ["A", "B", "C", "D"]
    assert [c["rank"] for c in ranked] == [1, 2, 3, 4]
    assert all(x["score"] > y["score"] for x, y in itertools.pairwise(ranked))
    first = ranked[0]
    _, _, metres = Geod(ellps="WGS84").inv(AMMAN["lon"], AMMAN["lat"], BEIRUT["lon"], BEIRUT["lat"])
    assert abs(first["distance_km"] - metres / 1000) < 0.5
    assert abs(first["eta_hours"] - (24 + metres / 1000 / 800 + 6)) < 0.05
    assert first["on_standby"] and first["readiness_hours"] == 24 and first["skills_matched"] == ["hostage_incident_management"]
    assert first["languages_matched"] == ["ar"] and first["rested_days"] is None and first["reasons"]
    assert not ranked[1]["on_standby"] and abs(ranked[1]["eta_hours"] - (72 + ranked[1]["distance_km"] / 800 + 6)) < 0.05
    assert ranked[2]["on_standby"] and ranked[2]["skills_missing"] == ["hostage_incident_management"]
    assert ranked[3]["availability"] == "on_leave" and any("leave" in r for r in ranked[3]["reasons"])
    assert body["total"] == 4 and body["more"] == 0 and body["unavailable"] == {"on_leave": 1}
    # a shorter answer keeps the order and says what it leaves out
    short = requests.get(url, params={"skills": "hostage_incident_management", "languages": "ar", "limit": "2"},
                         headers=duty, timeout=30).json()
    assert [c["officer_id"] for c in short["candidates"]] == ["A", "B"]
    assert short["total"] == 4 and short["more"] == 2 and short["unavailable"] == {"on_leave": 1}
    refused(requests.get(url, params={"limit": "0"}, headers=duty, timeout=30), 422, "limit")
    # bad terms name their field; an unknown incident is 404
    refused(requests.get(url, params={"skills": "juggling"}, headers=duty, timeout=30), 422, "skills")
    refused(requests.get(url, params={"languages": "ar,xx"}, headers=duty, timeout=30), 422, "languages")
    assert requests.get(f"{live_server.url}/api/v1/incidents/nope/candidates", headers=duty, timeout=30).status_code == 404


def test_dispatch_promotes_the_alternate_and_follows_the_workflow(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    slots = _roster_for_beirut(live_server, duty)
    incident_id = incident(live_server, duty)
    url = live_server.url + "/api/v1/dispatches"
    created = requests.post(url, json={"incident_id": incident_id, "officer_id": "A", "note": "negotiator"}, headers=duty, timeout=30)
    assert created.status_code == 201, created.text
    dispatch = created.json()
    assert (dispatch["status"], dispatch["officer_id"], dispatch["incident_id"]) == ("requested", "A", incident_id)
    assert dispatch["slot_id"] == slots["primary"]["id"] and dispatch["promoted_slot_id"]
    assert dispatch["path"][0] == [AMMAN["lon"], AMMAN["lat"]] and len(dispatch["path"]) == 64 and dispatch["eta"]
    # the alternate is primary now; the dispatched officer is off standby
    standby = requests.get(live_server.url + "/api/v1/roster/standby", headers=duty, timeout=30).json()["standby"]
    assert [(e["officer_id"], e["role"]) for e in standby] == [("C", "primary")]
    coverage = requests.get(live_server.url + "/api/v1/roster/coverage", headers=duty, timeout=30).json()
    assert not [w for w in coverage["warnings"] if w["kind"] == "dispatch_gap"]

    # already deployed: 409 naming the officer; unknown officer or incident: 422 naming the field
    again = refused(requests.post(url, json={"incident_id": incident_id, "officer_id": "A"}, headers=duty, timeout=30), 409, "officer_id")
    assert "deployed" in again["errors"][0]["message"] and again["dead_letter_id"]
    # said with the officer's name and the incident's title, not ids
    assert again["errors"][0]["message"].startswith("Officer A is already deployed: sent to \u201cKidnapping ")
    assert dispatch["id"] not in again["errors"][0]["message"] and incident_id not in again["errors"][0]["message"]
    refused(requests.post(url, json={"incident_id": incident_id, "officer_id": "ghost"}, headers=duty, timeout=30), 422, "officer_id")
    refused(requests.post(url, json={"incident_id": "inc-nope", "officer_id": "B"}, headers=duty, timeout=30), 422, "incident_id")

    one = f"{url}/{dispatch['id']}"
    forbidden = refused(requests.patch(one, json={"status": "on_site"}, headers=duty, timeout=30), 409, "status")
    assert "requested" in forbidden["errors"][0]["message"]
    refused(requests.patch(one, json={"status": "teleported"}, headers=duty, timeout=30), 422, "status")
    refused(requests.patch(one, json={"status": "accepted", "position": {"lat": 1, "lon": 2}}, headers=duty, timeout=30), 422, "status")
    for status in ("accepted", "travelling"):
        stepped = requests.patch(one, json={"status": status, "note": f"now {status}"}, headers=duty, timeout=30)
        assert stepped.status_code == 200 and stepped.json()["status"] == status, stepped.text
    moved = requests.patch(one, json={"position": {"lat": 32.9, "lon": 35.7}}, headers=duty, timeout=30)
    assert moved.status_code == 200 and (moved.json()["position"]["lat"], moved.json()["position"]["lon"]) == (32.9, 35.7)
    # En route the ETA is the travel from the reported point (111 km out: by road, about 2 h),
    # no longer the request's 24 h readiness notice.
    eta = datetime.fromisoformat(moved.json()["eta"]) - datetime.now(UTC)
    assert timedelta(hours=1.5) < eta < timedelta(hours=2.2), (moved.json()["eta"], dispatch["eta"])
    refused(requests.patch(one, json={"position": {"lat": 91, "lon": 0}}, headers=duty, timeout=30), 422, "position.lat")
    steps = requests.get(one, headers=duty, timeout=30).json()["steps"]
    assert [s["status"] for s in steps] == ["requested", "accepted", "travelling"] and all(s["by"] and s["at"] for s in steps)
    active = requests.get(url, params={"status": "active", "incident": incident_id}, headers=duty, timeout=30).json()
    assert [d["id"] for d in active["dispatches"]] == [dispatch["id"]]
    assert requests.get(url, params={"status": "returned"}, headers=duty, timeout=30).json()["count"] == 0
    refused(requests.get(url, params={"status": "lost"}, headers=duty, timeout=30), 422, "status")
    assert [e["action"] for e in _audit(context, "dispatch.")] == ["dispatch.create", "dispatch.step", "dispatch.step", "dispatch.position"]


def test_a_dispatch_is_cancelled_with_a_reason_and_gives_the_standby_back(context: Context, live_server: LiveServer) -> None:
    """Requested, accepted or travelling, a dispatch may be cancelled (a wrong pick, an incident
    over before arrival): it needs a reason, it is no deployment (no rest after it: the officer is
    on standby again at once), and the alternate it promoted is the alternate again. A decline
    gives the standby back the same way. The projection rebuilt from the log agrees."""
    from crisis.adapters.roster_store import RosterStore

    duty = bearer(live_server.token("duty_officer"))
    _roster_for_beirut(live_server, duty)
    incident_id = incident(live_server, duty)
    url = live_server.url + "/api/v1/dispatches"

    def standby() -> list[tuple[str, str]]:
        found = requests.get(live_server.url + "/api/v1/roster/standby", headers=duty, timeout=30).json()["standby"]
        return sorted((e["officer_id"], e["role"]) for e in found)

    for end in ("cancelled", "declined"):
        dispatch = requests.post(url, json={"incident_id": incident_id, "officer_id": "A"}, headers=duty, timeout=30).json()
        assert standby() == [("C", "primary")]  # A sent, C promoted
        one = f"{url}/{dispatch['id']}"
        if end == "cancelled":
            for status in ("accepted", "travelling"):
                assert requests.patch(one, json={"status": status}, headers=duty, timeout=30).status_code == 200
            no_reason = refused(requests.patch(one, json={"status": "cancelled"}, headers=duty, timeout=30), 422, "note")
            assert "say why" in no_reason["errors"][0]["message"] and no_reason["dead_letter_id"]
        done = requests.patch(one, json={"status": end, "note": "wrong officer picked"}, headers=duty, timeout=30)
        assert done.status_code == 200 and done.json()["status"] == end, done.text
        assert done.json()["steps"][-1]["note"] == "wrong officer picked"
        # A on standby again (no rest after a dispatch that was not a deployment), C the alternate again
        assert standby() == [("A", "primary"), ("C", "alternate")], end
        after = refused(requests.patch(one, json={"status": "accepted"}, headers=duty, timeout=30), 409, "status")
        assert f"{end} is final" in after["errors"][0]["message"]
        candidates = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}/candidates", headers=duty, timeout=30).json()
        assert [c for c in candidates["candidates"] if c["officer_id"] == "A"][0]["availability"] is None
    coverage = requests.get(live_server.url + "/api/v1/roster/coverage", headers=duty, timeout=30).json()
    assert not [w for w in coverage["warnings"] if w["kind"] == "dispatch_gap"]
    # The log holds it all: rebuilt, the projection says the same
    store = RosterStore(context.redis)
    store.rebuild(context.deps.log)
    assert standby() == [("A", "primary"), ("C", "alternate")]
    assert sorted(d["status"] for d in requests.get(url, params={"incident": incident_id}, headers=duty, timeout=30).json()["dispatches"]) \
        == ["cancelled", "declined"]


def test_an_officer_still_sent_to_a_closed_incident_is_warned_until_released(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    _roster_for_beirut(live_server, duty)
    incident_id = incident(live_server, duty)
    dispatch = requests.post(live_server.url + "/api/v1/dispatches", json={"incident_id": incident_id, "officer_id": "A"},
                             headers=duty, timeout=30).json()

    def warned(headers: dict[str, str]) -> list[dict[str, Any]]:
        body = requests.get(live_server.url + "/api/v1/roster/coverage", headers=headers, timeout=30).json()
        return [w for w in body["warnings"] if w["kind"] == "sent_to_closed" and w.get("incident_id") == incident_id]

    assert warned(duty) == []  # open: nothing to say
    detail = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}", headers=duty, timeout=30).json()
    closed = requests.patch(f"{live_server.url}/api/v1/incidents/{incident_id}", json={"status": "closed"}, headers=duty, timeout=30)
    assert closed.status_code == 200, (closed.text, detail)
    [warning] = warned(duty)
    assert warning["officer_id"] == "A" and warning["region"] == MENA
    assert warning["message"].startswith("An officer (requested) is still sent to an incident closed ")
    assert "Kidnapping" not in warning["message"]  # no title: every reader gets the warnings
    wall = bearer(live_server.token("wall"))
    assert [w.get("officer_id") for w in warned(wall)] == [None]  # a wall: the warning, no one named
    # Stood down (on the way home) or cancelled: released, no warning.
    cancelled = requests.patch(f"{live_server.url}/api/v1/dispatches/{dispatch['id']}", headers=duty, timeout=30,
                               json={"status": "cancelled", "note": "incident closed before arrival"})
    assert cancelled.status_code == 200, cancelled.text
    assert warned(duty) == []


def test_sending_an_officer_on_leave_needs_a_reason(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    _roster_for_beirut(live_server, duty)  # D is on leave
    incident_id = incident(live_server, duty)
    url = live_server.url + "/api/v1/dispatches"
    body = refused(requests.post(url, json={"incident_id": incident_id, "officer_id": "D"}, headers=duty, timeout=30), 422, "note")
    assert "Officer D is on leave until " in body["errors"][0]["message"] and "say why" in body["errors"][0]["message"]
    assert body["dead_letter_id"]
    sent = requests.post(url, json={"incident_id": incident_id, "officer_id": "D", "note": "the only French-speaking negotiator"},
                         headers=duty, timeout=30)
    assert sent.status_code == 201 and sent.json()["note"] == "the only French-speaking negotiator", sent.text
    requests.patch(f"{url}/{sent.json()['id']}", json={"status": "cancelled", "note": "test over"}, headers=duty, timeout=30)


def test_leave_and_standby_that_meet_are_said_and_overlapping_leave_is_refused(context: Context, live_server: LiveServer) -> None:
    """Leave beats a slot (accepted), but the answer says which standby it takes the officer
    off, and a slot put over leave says it is a hole then; a second leave record over the
    first is refused (two records of one absence)."""
    duty = bearer(live_server.token("duty_officer"))
    officer_id = random_ref("LV-")
    import_officers(live_server, [officer(officer_id, AMMAN, MENA, ["first_aid"], ["ar"])], duty)
    start = T0 + timedelta(days=30)
    [kept] = add_slots(live_server, [slot(officer_id, start, start + timedelta(days=7))], duty)
    leave = requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30, json={
        "officer_id": officer_id, "start": iso(start + timedelta(days=2)), "end": iso(start + timedelta(days=4))})
    assert leave.status_code == 201, leave.text
    [warning] = leave.json()["warnings"]
    assert warning.startswith(f"Officer {officer_id} is on leave ") and "inside the primary standby slot (Middle East and North Africa)" in warning
    assert warning.endswith(": not on standby then"), warning
    overlapping = refused(requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30, json={
        "officer_id": officer_id, "start": iso(start + timedelta(days=3)), "end": iso(start + timedelta(days=5))}), 422, "start")
    assert f"overlaps this officer's leave {leave.json()['id']}" in overlapping["errors"][0]["message"]
    touching = requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30, json={
        "officer_id": officer_id, "start": iso(start + timedelta(days=4)), "end": iso(start + timedelta(days=5))})
    assert touching.status_code == 201, touching.text  # back to back is two periods, not an overlap
    # A slot put over the leave: stored, and said.
    later = requests.post(live_server.url + "/api/v1/roster/standby", headers=duty, timeout=30,
                          json=[slot(officer_id, start + timedelta(days=7), start + timedelta(days=8), "alternate", 48)])
    assert later.status_code == 201 and later.json()["warnings"] == [], later.text  # no leave then
    assert kept["id"]
    # Another officer on leave first, then put on a slot over it: stored, and said.
    second = random_ref("LV-")
    import_officers(live_server, [officer(second, AMMAN, MENA, ["first_aid"], ["ar"])], duty)
    assert requests.post(live_server.url + "/api/v1/roster/leave", headers=duty, timeout=30, json={
        "officer_id": second, "start": iso(start), "end": iso(start + timedelta(days=1))}).status_code == 201
    over = requests.post(live_server.url + "/api/v1/roster/standby", headers=duty, timeout=30,
                         json=[slot(second, start - timedelta(days=1), start + timedelta(days=2), "alternate", 48)])
    assert over.status_code == 201, over.text
    [said] = over.json()["warnings"]
    assert said.startswith(f"Officer {second} is on leave ") and "inside the alternate standby slot" in said, said


# --- who may do what, who sees what ---------------------------------------------------------------


def test_roles_cut_and_refuse(context: Context, live_server: LiveServer) -> None:
    duty = bearer(live_server.token("duty_officer"))
    _roster_for_beirut(live_server, duty)
    import_officers(live_server, [officer("F", NAIROBI, "africa", ["first_aid"], ["sw"])], duty)
    beirut_incident = incident(live_server, duty)
    nairobi_incident = incident(live_server, duty, {"lat": -1.29, "lon": 36.82})
    dispatch = requests.post(live_server.url + "/api/v1/dispatches", json={"incident_id": beirut_incident, "officer_id": "A"},
                             headers=duty, timeout=30).json()
    africa_dispatch = requests.post(live_server.url + "/api/v1/dispatches", json={"incident_id": nairobi_incident, "officer_id": "F"},
                                    headers=duty, timeout=30).json()
    api = live_server.url + "/api/v1"

    wall = bearer(live_server.token("wall"))
    officers = requests.get(f"{api}/roster/officers", headers=wall, timeout=30).json()["officers"]
    assert officers and all(not {"id", "name", "contact", "home"} & set(o) for o in officers)
    standby = requests.get(f"{api}/roster/standby", headers=wall, timeout=30).json()
    assert standby["standby"] and all("officer_id" not in e and "officer_name" not in e for e in standby["standby"])
    seen = requests.get(f"{api}/dispatches", headers=wall, timeout=30).json()["dispatches"]
    assert {d["id"] for d in seen} == {dispatch["id"], africa_dispatch["id"]}
    assert all(not {"officer_id", "officer_name", "by"} & set(d) for d in seen) and seen[0]["path"]
    assert all("by" not in s for d in seen for s in d["steps"])
    ranked = requests.get(f"{api}/incidents/{beirut_incident}/candidates", headers=wall, timeout=30).json()["candidates"]
    assert ranked and all(not {"officer_id", "name", "contact"} & set(c) for c in ranked)
    assert requests.get(f"{api}/roster/coverage", headers=wall, timeout=30).status_code == 200
    # no person by id for a wall: neither an officer nor whether the id exists, nor their slots, leave or dispatches
    for path in ("roster/officers/A", "roster/officers/NOBODY", "roster/slots?officer=A", "roster/leave?officer=A",
                 "dispatches?officer=A", "dispatches?officer=NOBODY"):
        refused = requests.get(f"{api}/{path}", headers=wall, timeout=30)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden", (path, refused.text)
        assert ("role 'wall' may not" if "/officers/" in path else "no identities") in refused.text, (path, refused.text)
    assert requests.get(f"{api}/roster/officers/A", headers=duty, timeout=30).json()["id"] == "A"
    assert requests.get(f"{api}/dispatches?officer=A", headers=duty, timeout=30).json()["count"] == 1

    desk = bearer(live_server.token("regional_desk", "africa"))
    mine = requests.get(f"{api}/roster/officers", headers=desk, timeout=30).json()["officers"]
    assert {o["id"] for o in mine} == {"B", "F"}
    assert requests.get(f"{api}/roster/officers/A", headers=desk, timeout=30).status_code == 404
    assert requests.get(f"{api}/roster/officers/F", headers=desk, timeout=30).json()["contact"]
    assert requests.get(f"{api}/incidents/{beirut_incident}/candidates", headers=desk, timeout=30).status_code == 404
    # Whom can we send: the desk is told of every officer, its region's whole, the others' where they stand, not who.
    ranking = requests.get(f"{api}/incidents/{nairobi_incident}/candidates", headers=desk, timeout=30)
    assert ranking.status_code == 200, ranking.text
    ranked = ranking.json()["candidates"]
    everyone = requests.get(f"{api}/incidents/{nairobi_incident}/candidates", headers=duty, timeout=30).json()
    assert ranking.json()["total"] == everyone["total"] == len(ranked) and [c["rank"] for c in ranked] == list(range(1, len(ranked) + 1))
    inside = [c for c in ranked if not c.get("outside")]
    assert {"B", "F"} <= {c["officer_id"] for c in inside} and all(c["region"] == "africa" and c["name"] and c["reasons"] for c in inside)
    outside = [c for c in ranked if c.get("outside")]
    assert {MENA, "europe_central_asia"} <= {c["region"] for c in outside}, outside
    assert all(set(c) <= {*views_roster.OUTSIDE_CANDIDATE_FIELDS, "outside"} and c["region"] != "africa" for c in outside), outside
    assert all("distance_km" in c and "eta_hours" in c for c in outside), outside
    assert requests.get(f"{api}/dispatches/{dispatch['id']}", headers=desk, timeout=30).status_code == 404
    listed = requests.get(f"{api}/dispatches", headers=desk, timeout=30).json()["dispatches"]
    assert [d["id"] for d in listed] == [africa_dispatch["id"]] and listed[0]["officer_name"] == "Officer F"
    # cover is for every reader: the Africa desk is told that the Middle East has someone on standby, not who
    elsewhere = requests.get(f"{api}/roster/standby", headers=desk, timeout=30).json()["standby"]
    assert [(e["region"], e["role"]) for e in elsewhere] == [(MENA, "primary")], elsewhere  # C, promoted when A went
    assert not {"officer_id", "officer_name", "note"} & set(elsewhere[0]), elsewhere
    mena = bearer(live_server.token("regional_desk", MENA))
    assert requests.get(f"{api}/dispatches/{dispatch['id']}", headers=mena, timeout=30).status_code == 200
    assert {e["officer_id"] for e in requests.get(f"{api}/roster/standby", headers=mena, timeout=30).json()["standby"]} == {"C"}
    assert requests.patch(f"{api}/dispatches/{dispatch['id']}", json={"status": "accepted"}, headers=desk, timeout=30).status_code == 403
    # An officer of another region sent to an incident of the desk's: the desk may look them up (who is coming), while sent.
    assert requests.get(f"{api}/roster/officers/B", headers=mena, timeout=30).status_code == 404
    sent = requests.post(f"{api}/dispatches", json={"incident_id": beirut_incident, "officer_id": "B"}, headers=duty, timeout=30)
    assert sent.status_code == 201, sent.text
    visiting = requests.get(f"{api}/roster/officers/B", headers=mena, timeout=30)
    assert visiting.status_code == 200 and visiting.json()["contact"] and visiting.json()["region"] == "africa", visiting.text
    assert requests.get(f"{api}/roster/officers/D", headers=mena, timeout=30).status_code == 404  # not sent: not theirs
    # Why B cannot be sent now: to the duty officer, the incident by its title; to the Africa desk, which may not see it, its id.
    title = requests.get(f"{api}/incidents/{beirut_incident}", headers=duty, timeout=30).json()["title"]
    for who, said in ((duty, f"Deployed to \u201c{title}\u201d ({beirut_incident})"), (desk, f"Deployed to {beirut_incident}")):
        ranked_now = requests.get(f"{api}/incidents/{nairobi_incident}/candidates?limit=50", headers=who, timeout=30).json()["candidates"]
        assert [c["reasons"][0] for c in ranked_now if c.get("officer_id") == "B"] == [said], ranked_now
    assert requests.get(f"{api}/roster/officers/B", headers=bearer(live_server.token("regional_desk", "americas")),
                        timeout=30).status_code == 404
    recalled = requests.patch(f"{api}/dispatches/{sent.json()['id']}", json={"status": "cancelled", "note": "wrong pick"},
                              headers=duty, timeout=30)
    assert recalled.status_code == 200, recalled.text
    assert requests.get(f"{api}/roster/officers/B", headers=mena, timeout=30).status_code == 404

    writes = [("post", "/roster/officers", [officer("Z", AMMAN, MENA, [], [])]), ("post", "/roster/standby", [slot("C", T0, T0 + timedelta(days=1))]),
              ("post", "/dispatches", {"incident_id": beirut_incident, "officer_id": "B"}),
              ("patch", f"/dispatches/{dispatch['id']}", {"status": "accepted"}), ("post", "/roster/leave", {}),
              ("delete", "/roster/standby/x", None)]
    for role in ("wall", "regional_desk", "feed", "traveller"):
        token = bearer(live_server.token(role, "africa" if role == "regional_desk" else None))
        for method, path, body in writes:
            answer = requests.request(method, api + path, json=body, headers=token, timeout=30)
            assert answer.status_code == 403, (role, method, path, answer.status_code)
        if role in ("feed", "traveller"):
            for path in ("/roster/officers", "/roster/standby", "/roster/coverage", "/dispatches", f"/incidents/{beirut_incident}/candidates"):
                assert requests.get(api + path, headers=token, timeout=30).status_code == 403, (role, path)
    assert requests.get(f"{api}/dispatches/{dispatch['id']}", headers=duty, timeout=30).json()["status"] == "requested"
    assert "Z" not in {o["id"] for o in requests.get(f"{api}/roster/officers", headers=duty, timeout=30).json()["officers"]}


def test_answers_have_the_documented_shapes(context: Context, live_server: LiveServer) -> None:
    from tests.e2e.test_openapi import _conforms

    doc = requests.get(live_server.url + "/api/v1/openapi.json", headers=bearer(live_server.token("wall")), timeout=30).json()
    duty = bearer(live_server.token("duty_officer"))
    _roster_for_beirut(live_server, duty)
    incident_id = incident(live_server, duty)
    dispatched = requests.post(live_server.url + "/api/v1/dispatches", json={"incident_id": incident_id, "officer_id": "A"},
                               headers=duty, timeout=30)
    _conforms(doc, "DispatchOut", dispatched.json())
    imported = requests.post(live_server.url + "/api/v1/roster/officers", headers=duty, timeout=30,
                             json=[officer("Q", AMMAN, MENA, ["first_aid"], ["ar"]), {"id": "Q2"}])
    _conforms(doc, "OfficerImportResult", imported.json())
    _conforms(doc, "ErrorResponse", requests.post(live_server.url + "/api/v1/roster/standby", json=[{}], headers=duty, timeout=30).json())
    api = live_server.url + "/api/v1"
    wall = bearer(live_server.token("wall"))
    for who in (duty, wall, bearer(live_server.token("regional_desk", MENA))):
        for path, model in (("/roster/officers", "OfficerList"), ("/roster/standby", "StandbyNow"), ("/roster/slots", "SlotList"),
                            ("/roster/leave", "LeaveList"), ("/roster/coverage", "CoverageOut"), ("/dispatches", "DispatchList"),
                            (f"/incidents/{incident_id}/candidates", "CandidateList"), ("/roster/officers/C", "OfficerOut")):
            if who is wall and path == "/roster/officers/C":  # no person by id for a wall
                _conforms(doc, "ErrorResponse", requests.get(api + path, headers=who, timeout=30).json())
                continue
            answer = requests.get(api + path, headers=who, timeout=30)
            assert answer.status_code == 200, (path, answer.text)
            _conforms(doc, model, answer.json())
