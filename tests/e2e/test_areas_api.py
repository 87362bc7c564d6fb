"""Security areas over the real API, Redis and Socket.IO: a phase change opens, extends
and closes the movement with the people inside, each as an event and an audit entry;
progress and overdue; who may change and who sees what."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from crisis.adapters import keys
from crisis.adapters.roll_store import RollStore
from crisis.bootstrap import Context
from crisis.domain.travellers import CATEGORIES
from tests.conftest import LiveServer, SocketEvents, random_ref

TYRE = {"name": "Tyre office", "lat": 33.27, "lon": 35.20, "country": "LBN"}
BEIRUT = {"name": "Beirut office", "lat": 33.89, "lon": 35.50, "country": "LBN"}
NAIROBI = {"name": "Nairobi office", "lat": -1.29, "lon": 36.82, "country": "KEN"}
SOUTH = {"type": "Polygon", "coordinates": [[[35.1, 33.05], [35.9, 33.05], [35.9, 33.6], [35.1, 33.6], [35.1, 33.05]]]}
MENA = "middle_east_north_africa"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _key(category: str, essential: bool) -> str:
    return f"{category}-{'ess' if essential else 'non'}"


def import_population(live_server: LiveServer, officer: dict[str, str]) -> dict[str, str]:
    """One traveller of every category, essential and not, in Tyre (inside SOUTH); one
    non-essential international in Beirut and one in Nairobi (outside). Returns key -> id."""
    ref = random_ref()
    ids = {_key(c, e): f"{ref}-{_key(c, e)}" for c, e in itertools.product(CATEGORIES, (True, False))}
    ids["beirut"] = f"{ref}-beirut"
    ids["nairobi"] = f"{ref}-nairobi"
    owner = ids["international_staff-ess"]
    people = []
    for key, tid in ids.items():
        category = "international_staff" if key in ("beirut", "nairobi") else key.rsplit("-", 1)[0]
        station = {"beirut": BEIRUT, "nairobi": NAIROBI}.get(key, TYRE)
        person = {"id": tid, "name": f"Name {key}", "agency": "UNDP", "category": category,
                  "essential": key.endswith("-ess"), "duty_station": station}
        if category == "dependant":
            person["dependant_of"] = owner
        people.append(person)
    answer = requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30)
    assert answer.status_code == 200 and answer.json()["accepted"] == len(people), answer.text
    return ids


RELOCATED = {"dependant-ess", "dependant-non", "visitor-ess", "visitor-non", "consultant-ess", "consultant-non",
             "international_staff-non"}
EVACUATED = RELOCATED | {"international_staff-ess"}


def listed(area: dict[str, Any], ids: dict[str, str]) -> set[str]:
    back = {v: k for k, v in ids.items()}
    return {back.get(p["traveller_id"], p["traveller_id"]) for p in area["movement"]["people"]}


def _events(context: Context) -> list[tuple[str, dict[str, Any]]]:
    return [(f["type"], json.loads(f["payload"])) for _, f in context.redis.xrange(keys.AREAS_STREAM)]


def _audit(context: Context, prefix: str) -> list[dict[str, Any]]:
    return [f for _, f in context.redis.xrange(keys.AUDIT_STREAM) if f.get("action", "").startswith(prefix)]


def test_phase_changes_open_extend_and_close_the_movement(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)
    url = live_server.url + "/api/v1/areas"
    created = requests.post(url, json={"name": "South Lebanon", "phase": 2, "geometry": SOUTH}, headers=officer, timeout=30)
    assert created.status_code == 201, created.text
    area = created.json()
    assert area["region"] == MENA and area["movement"] is None and area["phase_name"] == "II restricted movement"
    area_url = f"{url}/{area['id']}"

    raised = requests.patch(area_url, json={"phase": 3, "note": "shelling"}, headers=officer, timeout=30)
    assert raised.status_code == 200, raised.text
    movement = raised.json()["movement"]
    assert movement["action"] == "relocation" and not movement["out_of_country"]
    assert listed(raised.json(), ids) == RELOCATED  # nobody outside, no national staff, no essential international
    assert all(p["status"] == "no_response" and p["progress"] == "to_move" for p in movement["people"])
    assert movement["people"][0]["name"].startswith("Name ")

    kinds = [t for t, _ in _events(context)]
    assert kinds == ["area.created", "area.phase_changed"]
    change = _events(context)[-1][1]["change"]
    assert (change["phase_from"], change["phase"], change["movement"]) == (2, 3, "opened")
    phase_audit = _audit(context, "area.phase")
    assert len(phase_audit) == 1 and json.loads(phase_audit[0]["before"]) == {"phase": 2}
    assert json.loads(phase_audit[0]["after"]) == {"phase": 3} and phase_audit[0]["target"] == area["id"]

    # a person moves; a national staff member is added by hand; a visitor is removed with a reason
    mover = ids["visitor-non"]
    assert requests.put(f"{area_url}/movement/people/{mover}", json={"progress": "moving"}, headers=officer, timeout=30).status_code == 200
    added = requests.post(f"{area_url}/movement/people", json={"traveller_id": ids["national_staff-non"], "reason": "threatened"},
                          headers=officer, timeout=30)
    assert added.status_code == 201, added.text
    removed = requests.delete(f"{area_url}/movement/people/{ids['visitor-ess']}", json={"reason": "left last week"},
                              headers=officer, timeout=30)
    assert removed.status_code == 200 and removed.json()["movement"]["removed"][0]["reason"] == "left last week"

    # III -> V: extended (essential international added), progress kept, the removed one not back
    evacuation = requests.patch(area_url, json={"phase": 5}, headers=officer, timeout=30).json()
    assert evacuation["movement"]["action"] == "evacuation" and evacuation["movement"]["id"] == movement["id"]
    assert listed(evacuation, ids) == (EVACUATED - {"visitor-ess"}) | {"national_staff-non"}
    progress = {p["traveller_id"]: p["progress"] for p in evacuation["movement"]["people"]}
    assert progress[mover] == "moving"

    # lowered below III: closed, kept as history
    lowered = requests.patch(area_url, json={"phase": 1}, headers=officer, timeout=30)
    assert lowered.status_code == 200 and lowered.json()["movement"] is None
    history = lowered.json()["closed_movements"]
    assert len(history) == 1 and history[0]["id"] == movement["id"] and history[0]["closed_at"]
    assert {p["traveller_id"]: p["progress"] for p in history[0]["people"]}[mover] == "moving"
    assert context.redis.llen(keys.movement_history(area["id"])) == 1 and not context.redis.exists(keys.movement(area["id"]))
    assert [t for t, _ in _events(context)][-2:] == ["area.phase_changed", "movement.closed"]
    assert requests.put(f"{area_url}/movement/people/{mover}", json={"progress": "arrived"}, headers=officer, timeout=30).status_code == 409
    actions = [f["action"] for f in _audit(context, "")]
    for action in ("area.create", "area.phase", "movement.progress", "movement.person_add", "movement.person_remove"):
        assert action in actions


def test_a_country_area_at_iv_lists_everyone_placed_in_the_country(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)
    answer = requests.post(live_server.url + "/api/v1/areas", json={"name": "Lebanon", "phase": 4, "country": "lbn"},
                           headers=officer, timeout=30)
    assert answer.status_code == 201, answer.text
    area = answer.json()
    assert area["country"] == "LBN" and area["region"] == MENA and area["geometry"] is None
    assert area["movement"]["out_of_country"] and area["movement"]["action"] == "relocation"
    assert listed(area, ids) == RELOCATED | {"beirut"}  # Beirut is in Lebanon, Nairobi is not
    from crisis.layers.areas import area_layers
    from crisis.views_areas import country_shapes, open_movement_scopes

    shapes = country_shapes(context, ["LBN", "lbn", ""])
    assert list(shapes) == ["LBN"] and shapes["LBN"]["type"] in ("Polygon", "MultiPolygon")
    drawn = [layer for layer in area_layers([area], shapes) if layer["source"]["features"]]
    assert [layer["type"] for layer in drawn] == ["fill", "line"] and drawn[0]["name"] == "phase IV"
    assert open_movement_scopes(context, ids["beirut"]) == [f"area:{area['id']}"]
    assert open_movement_scopes(context, ids["nairobi"]) == []


def test_progress_rules_overdue_and_statuses_from_the_roll_call(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South", "phase": 3, "geometry": SOUTH},
                         headers=officer, timeout=30).json()
    area_url = f"{live_server.url}/api/v1/areas/{area['id']}"
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    confirm = {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93}, "mode": "road", "expected_arrival": past}
    confirmed = requests.post(f"{area_url}/movement", json=confirm, headers=officer, timeout=30)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["movement"]["safe_haven"]["name"] == "Amman"
    arrived, stayed = ids["dependant-ess"], ids["consultant-ess"]
    assert requests.put(f"{area_url}/movement/people/{arrived}", json={"progress": "arrived"}, headers=officer, timeout=30).status_code == 200
    no_reason = requests.put(f"{area_url}/movement/people/{stayed}", json={"progress": "stayed"}, headers=officer, timeout=30)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason" and no_reason.json()["dead_letter_id"]
    assert requests.put(f"{area_url}/movement/people/{stayed}", json={"progress": "stayed", "reason": "refused"},
                        headers=officer, timeout=30).status_code == 200
    back = requests.put(f"{area_url}/movement/people/{arrived}", json={"progress": "moving"}, headers=officer, timeout=30)
    assert back.status_code == 409 and back.json()["errors"][0]["field"] == "progress"
    unknown = requests.put(f"{area_url}/movement/people/nobody", json={"progress": "moving"}, headers=officer, timeout=30)
    assert unknown.status_code == 404
    twice = requests.post(f"{area_url}/movement/people", json={"traveller_id": arrived}, headers=officer, timeout=30)
    assert twice.status_code == 409
    ghost = requests.post(f"{area_url}/movement/people", json={"traveller_id": "ghost-1"}, headers=officer, timeout=30)
    assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "traveller_id"

    # a status in the area's scope (H2's roll-call) shows on the person and in the counts
    with context.redis.pipeline(transaction=True) as pipe:
        RollStore.queue_set(pipe, f"area:{area['id']}", arrived, {"status": "safe", "at": past, "by": "x", "via": "checkin"})
        pipe.execute()
    detail = requests.get(area_url, headers=officer, timeout=30).json()
    people = {p["traveller_id"]: p for p in detail["movement"]["people"]}
    assert people[arrived]["status"] == "safe" and not people[arrived]["overdue"]
    assert people[stayed]["reason"] == "refused" and not people[stayed]["overdue"]
    assert all(p["overdue"] for tid, p in people.items() if tid not in (arrived, stayed))
    assert detail["movement"]["counts"] == {"to_move": 5, "moving": 0, "arrived": 1, "stayed": 1, "overdue": 5, "total": 7}
    assert detail["movement"]["accountability"]["safe"] == 1 and detail["movement"]["accountability"]["accounted_pct"] == 14.3


def test_bad_input_is_refused_naming_the_field_and_dead_lettered(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    url = live_server.url + "/api/v1/areas"
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    cases = [
        ({"name": "x", "phase": 3, "geometry": bowtie}, "geometry"),
        ({"name": "x", "phase": 3, "geometry": {"type": "Point", "coordinates": [1, 2]}}, "geometry"),
        ({"name": "x", "phase": 6, "country": "LBN"}, "phase"),
        ({"name": "x", "phase": "3", "country": "LBN"}, "phase"),
        ({"name": "x", "phase": 3, "country": "ZZZ"}, "country"),
        ({"name": "x", "phase": 3, "country": "LBN", "region": "mars"}, "region"),
        ({"name": "x", "phase": 3, "country": "LBN", "colour": "red"}, "colour"),
        ({"name": "x", "phase": 3, "circle": {"lat": 33.2, "lon": 35.2, "radius_km": 0}}, "circle.radius_km"),
        ({"name": "x", "phase": 3, "circle": {"lat": 33.2, "lon": 35.2, "radius_km": 1500}}, "circle.radius_km"),
        ({"name": "x", "phase": 3, "circle": {"lat": 95, "lon": 35.2, "radius_km": 30}}, "circle.lat"),
        ({"name": "x", "phase": 3, "circle": {"lat": 33.2, "lon": 35.2}}, "circle.radius_km"),
    ]
    for body, field in cases:
        answer = requests.post(url, json=body, headers=officer, timeout=30)
        assert answer.status_code == 422, (body, answer.text)
        assert any(e["field"].startswith(field) for e in answer.json()["errors"]), (field, answer.json())
        assert answer.json()["dead_letter_id"]
    both = requests.post(url, json={"name": "x", "phase": 3, "country": "LBN", "geometry": SOUTH}, headers=officer, timeout=30)
    assert both.status_code == 422
    circle = {"lat": 33.27, "lon": 35.2, "radius_km": 20}
    for two in ({"country": "LBN", "circle": circle}, {"geometry": SOUTH, "circle": circle}, {}):
        answer = requests.post(url, json={"name": "x", "phase": 3, **two}, headers=officer, timeout=30)
        assert answer.status_code == 422 and "exactly one" in answer.text, (two, answer.text)
    assert requests.post(url, data=b"{", headers={**officer, "Content-Type": "application/json"}, timeout=30).status_code == 400
    assert context.redis.hlen(keys.AREA_INDEX) == 0 and context.redis.xlen(keys.AREAS_STREAM) == 0  # nothing stored
    area = requests.post(url, json={"name": "x", "phase": 3, "country": "LBN"}, headers=officer, timeout=30).json()
    no_zone = {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93}, "mode": "road", "expected_arrival": "2026-05-01T18:00:00"}
    answer = requests.post(f"{url}/{area['id']}/movement", json=no_zone, headers=officer, timeout=30)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "expected_arrival"
    # A wrong year would make everyone on it overdue at once: more than a day ago is refused, in words.
    stale = requests.post(f"{url}/{area['id']}/movement", json={**no_zone, "expected_arrival": "2020-01-01T10:00:00Z"},
                          headers=officer, timeout=30)
    assert stale.status_code == 422 and stale.json()["errors"] == [{"field": "expected_arrival", "message": stale.json()["errors"][0]["message"]}]
    assert "2020-01-01T10:00:00+00:00 is more than 24 hours in the past" in stale.json()["errors"][0]["message"], stale.text
    assert stale.json()["dead_letter_id"]
    boat = {**no_zone, "expected_arrival": "2026-05-01T18:00:00Z", "mode": "boat"}
    assert requests.post(f"{url}/{area['id']}/movement", json=boat, headers=officer, timeout=30).json()["errors"][0]["field"] == "mode"
    calm = requests.post(url, json={"name": "calm", "phase": 1, "country": "JOR"}, headers=officer, timeout=30).json()
    ok = {**no_zone, "expected_arrival": "2026-05-01T18:00:00Z"}
    assert requests.post(f"{url}/{calm['id']}/movement", json=ok, headers=officer, timeout=30).status_code == 409


def test_only_duty_officers_and_admins_change_areas_and_desks_see_their_region(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)
    url = live_server.url + "/api/v1/areas"
    area = requests.post(url, json={"name": "South", "phase": 3, "geometry": SOUTH}, headers=officer, timeout=30).json()
    kenya = requests.post(url, json={"name": "Kenya", "phase": 1, "country": "KEN"}, headers=bearer(live_server.token("admin")), timeout=30)
    assert kenya.status_code == 201 and kenya.json()["region"] == "africa"
    area_url = f"{url}/{area['id']}"
    tid = ids["visitor-non"]
    for role, region in (("regional_desk", MENA), ("wall", None), ("feed", None)):
        who = bearer(live_server.token(role, region))
        assert requests.patch(area_url, json={"phase": 5}, headers=who, timeout=30).status_code == 403, role
        assert requests.post(url, json={"name": "y", "phase": 1, "country": "LBN"}, headers=who, timeout=30).status_code == 403, role
        assert requests.put(f"{area_url}/movement/people/{tid}", json={"progress": "moving"}, headers=who, timeout=30).status_code == 403
        assert requests.delete(f"{area_url}/movement/people/{tid}", json={"reason": "x"}, headers=who, timeout=30).status_code == 403
    assert requests.get(url, headers=bearer(live_server.token("feed")), timeout=30).status_code == 403
    admin = bearer(live_server.token("admin"))
    assert requests.patch(area_url, json={"name": "South Lebanon"}, headers=admin, timeout=30).json()["name"] == "South Lebanon"
    assert _audit(context, "area.update")[-1]["actor"].startswith("admin-")

    mena = bearer(live_server.token("regional_desk", MENA))
    africa = bearer(live_server.token("regional_desk", "africa"))
    assert [a["id"] for a in requests.get(url, headers=mena, timeout=30).json()["areas"]] == [area["id"]]
    assert [a["name"] for a in requests.get(url, headers=africa, timeout=30).json()["areas"]] == ["Kenya"]
    assert requests.get(area_url, headers=africa, timeout=30).status_code == 404
    assert listed(requests.get(area_url, headers=mena, timeout=30).json(), ids) == RELOCATED

    wall = bearer(live_server.token("wall"))
    seen = requests.get(area_url, headers=wall, timeout=30)
    assert seen.status_code == 200
    assert seen.json()["movement"]["people"] == [] and seen.json()["movement"]["counts"]["to_move"] == 7
    text = seen.text + requests.get(url, headers=wall, timeout=30).text
    assert not any(tid in text for tid in ids.values()) and "Name " not in text


def _connect(live_server: LiveServer, token: str) -> SocketEvents:
    return SocketEvents(live_server.url, ("welcome", "areas", "movement"), auth={"token": token}, wait_s=8.0)


def test_a_phase_change_is_pushed_to_each_room_cut_for_it(context: Context, live_server: LiveServer) -> None:
    officer_token = live_server.token("duty_officer")
    officer = bearer(officer_token)
    ids = import_population(live_server, officer)
    clients = {role: _connect(live_server, live_server.token(role, region))
               for role, region in (("duty_officer", None), ("wall", None), ("regional_desk", "africa"))}
    try:
        for events in clients.values():
            events.wait("welcome")
        area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South", "phase": 2, "geometry": SOUTH},
                             headers=officer, timeout=30).json()
        requests.patch(f"{live_server.url}/api/v1/areas/{area['id']}", json={"phase": 3}, headers=officer, timeout=30)
        def mine(d: dict[str, Any]) -> bool:
            return bool(d["area"]["id"] == area["id"] and d["area"]["phase"] == 3)

        full = clients["duty_officer"].wait("areas", mine)
        assert full["event"] == "area.phase_changed" and listed(full["area"], ids) == RELOCATED
        wall = clients["wall"].wait("areas", mine)
        assert wall["area"]["movement"]["people"] == [] and wall["area"]["movement"]["counts"]["total"] == 7
        assert not any(tid in json.dumps(wall) for tid in ids.values())
        requests.put(f"{live_server.url}/api/v1/areas/{area['id']}/movement/people/{ids['visitor-non']}",
                     json={"progress": "moving"}, headers=officer, timeout=30)
        moved = clients["duty_officer"].wait("movement", lambda d: d["area"]["id"] == area["id"])
        assert moved["event"] == "movement.progress" and moved["area"]["movement"]["counts"]["moving"] == 1
        leaked = clients["regional_desk"].drain(0.5)
        assert not [e for e, d in leaked if e in ("areas", "movement")], "an African desk got a Lebanese area"
    finally:
        for events in clients.values():
            events.disconnect()


def test_people_become_overdue_live_when_the_expected_arrival_passes(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    import_population(live_server, officer)
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South", "phase": 3, "geometry": SOUTH},
                         headers=officer, timeout=30).json()
    events = _connect(live_server, live_server.token("duty_officer"))
    try:
        events.wait("welcome")
        soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        confirm = {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93}, "mode": "road", "expected_arrival": soon}
        answer = requests.post(f"{live_server.url}/api/v1/areas/{area['id']}/movement", json=confirm, headers=officer, timeout=30)
        assert answer.status_code == 200 and answer.json()["movement"]["counts"]["overdue"] == 0
        late = events.wait("movement", lambda d: d["event"] == "movement.overdue" and d["area"]["id"] == area["id"])
        assert late["area"]["movement"]["counts"]["overdue"] == 7
        assert all(p["overdue"] for p in late["area"]["movement"]["people"])
    finally:
        events.disconnect()


def test_the_projection_rebuilds_from_the_log(context: Context, live_server: LiveServer) -> None:
    from crisis.adapters.area_store import AreaStore

    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)
    url = live_server.url + "/api/v1/areas"
    area = requests.post(url, json={"name": "South", "phase": 3, "geometry": SOUTH}, headers=officer, timeout=30).json()
    requests.put(f"{url}/{area['id']}/movement/people/{ids['visitor-non']}", json={"progress": "moving"}, headers=officer, timeout=30)
    requests.patch(f"{url}/{area['id']}", json={"phase": 1}, headers=officer, timeout=30)
    requests.patch(f"{url}/{area['id']}", json={"phase": 5}, headers=officer, timeout=30)
    before = requests.get(f"{url}/{area['id']}", headers=officer, timeout=30).json()
    assert len(before["closed_movements"]) == 1 and before["movement"]["action"] == "evacuation"
    store = AreaStore(context.redis)
    assert store.rebuild(context.deps.log) == context.redis.xlen(keys.AREAS_STREAM)
    after = requests.get(f"{url}/{area['id']}", headers=officer, timeout=30).json()
    assert {k: v for k, v in after.items()} == before
    assert store.open_movements_of(ids["international_staff-ess"]) == [area["id"]]


def test_answers_have_the_documented_shapes(context: Context, live_server: LiveServer) -> None:
    from tests.e2e.test_openapi import _conforms

    officer = bearer(live_server.token("duty_officer"))
    doc = requests.get(live_server.url + "/api/v1/openapi.json", headers=officer, timeout=30).json()
    ids = import_population(live_server, officer)
    url = live_server.url + "/api/v1/areas"
    area = requests.post(url, json={"name": "South", "phase": 3, "geometry": SOUTH}, headers=officer, timeout=30).json()
    _conforms(doc, "Area", area)
    soon = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    confirm = {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93}, "mode": "air", "expected_arrival": soon}
    _conforms(doc, "Area", requests.post(f"{url}/{area['id']}/movement", json=confirm, headers=officer, timeout=30).json())
    _conforms(doc, "Area", requests.put(f"{url}/{area['id']}/movement/people/{ids['visitor-non']}",
                                        json={"progress": "stayed", "reason": "x"}, headers=officer, timeout=30).json())
    for who in (officer, bearer(live_server.token("wall")), bearer(live_server.token("regional_desk", MENA))):
        _conforms(doc, "AreaList", requests.get(url, headers=who, timeout=30).json())
        _conforms(doc, "Area", requests.get(f"{url}/{area['id']}", headers=who, timeout=30).json())
    refused = requests.patch(f"{url}/{area['id']}", json={"phase": 9}, headers=officer, timeout=30)
    _conforms(doc, "ErrorResponse", refused.json())
    assert set(doc["paths"]["/api/v1/areas/{area_id}"]["patch"]["x-roles"]) == {"admin", "duty_officer"}


def test_a_checkin_at_the_safe_haven_marks_the_person_arrived(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South", "phase": 3, "geometry": SOUTH},
                         headers=officer, timeout=30).json()
    area_url = f"{live_server.url}/api/v1/areas/{area['id']}"
    soon = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    confirm = {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93}, "mode": "road", "expected_arrival": soon}
    assert requests.post(f"{area_url}/movement", json=confirm, headers=officer, timeout=30).status_code == 200
    there, still = ids["dependant-ess"], ids["visitor-ess"]

    def checkin(tid: str, lat: float, lon: float) -> None:
        answer = requests.post(live_server.url + "/api/v1/checkins", json={"traveller_id": tid, "status": "safe", "lat": lat, "lon": lon},
                               headers=officer, timeout=30)
        assert answer.status_code in (200, 201), answer.text

    checkin(there, 31.96, 35.92)  # in Amman
    checkin(still, 33.27, 35.20)  # still in Tyre
    people = {p["traveller_id"]: p for p in requests.get(area_url, headers=officer, timeout=30).json()["movement"]["people"]}
    assert people[there]["progress"] == "arrived" and people[still]["progress"] == "to_move"
    changes = [p["change"] for t, p in _events(context) if t == "movement.progress" and p["area"]["id"] == area["id"]]
    assert [(c["traveller_id"], c["progress"], c["via"]) for c in changes] == [(there, "arrived", "checkin")]


def test_widening_an_area_at_iii_lists_the_people_now_inside(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)
    area = requests.post(live_server.url + "/api/v1/areas", json={"name": "South", "phase": 3, "geometry": SOUTH},
                         headers=officer, timeout=30).json()
    assert listed(area, ids) == RELOCATED
    area_url = f"{live_server.url}/api/v1/areas/{area['id']}"
    moved = requests.put(f"{area_url}/movement/people/{ids['visitor-ess']}", json={"progress": "moving"}, headers=officer, timeout=30)
    assert moved.status_code == 200
    wider = {"type": "Polygon", "coordinates": [[[35.1, 33.05], [35.9, 33.05], [35.9, 34.0], [35.1, 34.0], [35.1, 33.05]]]}
    answer = requests.patch(area_url, json={"geometry": wider}, headers=officer, timeout=30)
    assert answer.status_code == 200, answer.text
    assert listed(answer.json(), ids) == RELOCATED | {"beirut"}
    progress = {p["traveller_id"]: p["progress"] for p in answer.json()["movement"]["people"]}
    assert progress[ids["visitor-ess"]] == "moving" and progress[ids["beirut"]] == "to_move"
    change = [p["change"] for t, p in _events(context) if t == "area.updated" and p["area"]["id"] == area["id"]][-1]
    assert change["added"] == [ids["beirut"]] and change["movement"] == "extended"
    # narrowing again takes nobody off the list
    narrow = requests.patch(area_url, json={"geometry": SOUTH}, headers=officer, timeout=30)
    assert listed(narrow.json(), ids) == RELOCATED | {"beirut"}


def test_an_area_given_as_a_circle_is_kept_as_its_polygon_and_lists_who_is_inside(context: Context, live_server: LiveServer) -> None:
    officer = bearer(live_server.token("duty_officer"))
    ids = import_population(live_server, officer)  # at the Tyre, Beirut and Nairobi offices
    answer = requests.post(live_server.url + "/api/v1/areas", headers=officer, timeout=30,
                           json={"name": "Around Tyre", "phase": 3, "circle": {"lat": 33.27, "lon": 35.2, "radius_km": 25}})
    assert answer.status_code == 201, answer.text
    area = answer.json()
    assert area["geometry"]["type"] == "Polygon" and len(area["geometry"]["coordinates"][0]) == 65 and area["region"] == MENA, area
    assert abs(area["centre"]["lat"] - 33.27) < 0.01 and abs(area["centre"]["lon"] - 35.2) < 0.01, area["centre"]
    assert listed(area, ids) == RELOCATED  # those of Tyre the rules move at III; not Beirut's (70 km away) nor Nairobi's


def test_a_small_country_can_be_declared_an_area_and_lists_who_is_in_it(live_server: LiveServer) -> None:
    # Singapore has no 1:110m outline (countries-small.geojson gives it one): before, its
    # offices were placed in Malaysia and "SGP" was an unknown country for an area.
    officer = bearer(live_server.token("duty_officer"))
    ref = random_ref()
    stations = {"singapore": {"name": "Singapore office", "lat": 1.29, "lon": 103.85},
                "johor": {"name": "Johor Bahru office", "lat": 1.49, "lon": 103.74}}
    people = [{"id": f"{ref}-{key}", "name": f"Name {key}", "agency": "UNDP", "category": "international_staff",
               "essential": False, "duty_station": station} for key, station in stations.items()]
    answer = requests.post(live_server.url + "/api/v1/travellers", json=people, headers=officer, timeout=30)
    assert answer.status_code == 200 and answer.json()["accepted"] == 2, answer.text
    answer = requests.post(live_server.url + "/api/v1/areas", json={"name": "Singapore", "phase": 4, "country": "sgp"},
                           headers=officer, timeout=30)
    assert answer.status_code == 201, answer.text
    area = answer.json()
    assert area["country"] == "SGP" and area["region"] == "asia_pacific"
    assert listed(area, {k: f"{ref}-{k}" for k in stations}) == {"singapore"}  # Johor Bahru is in Malaysia
