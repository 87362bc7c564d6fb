"""The live "affected" and "people" pushes, with real python-socketio clients against the
running server and its real Redis: a position batch or a status change produces an
"affected" event with the new counts within a couple of ticks, a regional desk gets only
its region's incidents and counts, a wall gets pseudonyms, and a page opened later asks
for the current counts over the socket."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
import socketio

from crisis.bootstrap import Context
from tests.conftest import LiveServer, SocketEvents

NAIROBI = {"name": "Nairobi office", "lat": -1.2921, "lon": 36.8219, "country": "KEN"}
MOMBASA = {"name": "Mombasa office", "lat": -4.0435, "lon": 39.6682, "country": "KEN"}
WADI_HALFA = {"name": "Wadi Halfa", "lat": 21.80, "lon": 31.35, "country": "SDN"}  # africa
ABU_SIMBEL = {"name": "Abu Simbel", "lat": 22.34, "lon": 31.61, "country": "EGY"}  # middle_east_north_africa
KM_PER_DEG_LAT = 111.2
PUSH_TIMEOUT = 20.0  # generous: a loaded CI machine; a push normally lands within a tick or two

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def traveller(tid: str, station: dict[str, Any]) -> dict[str, Any]:
    return {"id": tid, "name": f"Name of {tid}", "agency": "UNDP", "category": "international_staff",
            "essential": False, "duty_station": station, "phone": "+1 555", "email": f"{tid}@example.org"}


def connect(live_server: LiveServer, token: str) -> tuple[socketio.Client, SocketEvents]:
    events = SocketEvents(live_server.url, ("affected", "people", "welcome"), auth={"token": token}, wait_s=PUSH_TIMEOUT)
    return events.client, events


def nothing(events: SocketEvents, name: str, match: Any, seconds: float = 1.0) -> None:
    for event, data in events.drain(seconds):
        assert not (event == name and match(data)), data


def post(live_server: LiveServer, path: str, body: Any, token: str, expect: int) -> dict[str, Any]:
    answer = requests.post(live_server.url + path, json=body, headers=bearer(token), timeout=30)
    assert answer.status_code == expect, answer.text
    return answer.json()  # type: ignore[no-any-return]


def incident(live_server: LiveServer, officer: str, place: dict[str, Any], radius_km: float) -> str:
    body = {"title": "Clashes", "type": "civil_unrest", "severity": 3, "lat": place["lat"], "lon": place["lon"],
            "radius_km": radius_km}
    return str(post(live_server, "/api/v1/incidents", body, officer, 201)["id"])


def of(incident_id: str, total: int | None = None, **counts: int) -> Any:
    def match(message: dict[str, Any]) -> bool:
        c = message["counts"]
        return message["incident"] == incident_id and (total is None or c["total"] == total) and all(
            c[k] == v for k, v in counts.items())

    return match


def test_a_position_batch_and_a_status_change_push_new_counts(context: Context, live_server: LiveServer) -> None:
    officer, feed = live_server.token("duty_officer"), live_server.token("feed")
    client, received = connect(live_server, officer)
    try:
        post(live_server, "/api/v1/travellers", [traveller("K1", NAIROBI), traveller("K2", MOMBASA)], feed, 200)
        inc = incident(live_server, officer, NAIROBI, 20)
        first = received.wait("affected", of(inc, total=1))
        assert first["counts"] == {"total": 1, "safe": 0, "needs_help": 0, "unsure": 0, "unreachable": 0, "no_response": 1}
        assert first["accounted_pct"] == 0.0 and first["radius_km_used"] == 20.0 and first["open"] is True
        assert client.call("affected", inc, namespace="/live", timeout=10)["counts"]["total"] == 1

        # a position batch moves K2 into the incident
        sent = time.monotonic()
        post(live_server, "/api/v1/positions", [{"traveller_id": "K2", "lat": NAIROBI["lat"] + 10 / KM_PER_DEG_LAT,
                                                 "lon": NAIROBI["lon"]}], feed, 202)
        moved = received.wait("affected", of(inc, total=2))
        assert time.monotonic() - sent < PUSH_TIMEOUT and moved["counts"]["no_response"] == 2
        people = received.wait("people", lambda d: "K2" in d["ids"])
        k = people["ids"].index("K2")
        assert (people["status"][k], people["affected"][k], people["source"][k]) == ("no_response", True, "report")
        assert people["at"][k] > 0

        # a duty officer marks K2 as needing help: the counts and K2's colour change
        answer = requests.put(f"{live_server.url}/api/v1/incidents/{inc}/people/K2", json={"status": "needs_help"},
                              headers=bearer(officer), timeout=30)
        assert answer.status_code == 200, answer.text
        marked = received.wait("affected", of(inc, total=2, needs_help=1))
        assert marked["accounted_pct"] == 50.0
        people = received.wait("people", lambda d: "K2" in d["ids"] and d["status"][d["ids"].index("K2")] == "needs_help")
        # a check-in with a place outside moves K1 out: one left, safe is not counted for someone outside
        post(live_server, "/api/v1/checkins", {"traveller_id": "K1", "status": "safe", "incident_id": inc,
                                               "lat": MOMBASA["lat"], "lon": MOMBASA["lon"]}, officer, 201)
        left = received.wait("affected", of(inc, total=1))
        assert left["counts"]["needs_help"] == 1 and left["accounted_pct"] == 100.0
        # a page opened later asks for the current counts
        late, _ = connect(live_server, officer)
        try:
            now = late.call("affected", inc, namespace="/live", timeout=10)
            assert now["counts"] == left["counts"] and now["incident"] == inc
            every = late.call("affected", None, namespace="/live", timeout=10)
            assert inc in [m["incident"] for m in every["incidents"]]
            full = late.call("people", namespace="/live", timeout=10)
            assert full["full"] is True and "K2" in full["ids"] and "K1" not in full["ids"]
            k2 = full["ids"].index("K2")  # with the best-known position (the map draws it from here)
            assert (full["lat"][k2], full["lon"][k2]) == (round(NAIROBI["lat"] + 10 / KM_PER_DEG_LAT, 5), NAIROBI["lon"])
            bad = late.call("affected", {"id": inc}, namespace="/live", timeout=10)
            assert bad["error"] == "invalid affected" and bad["errors"][0]["field"] == "incident"
            assert bad["dead_letter_id"]
        finally:
            late.disconnect()
        # closing the incident: its counts go out once more, closed
        answer = requests.patch(f"{live_server.url}/api/v1/incidents/{inc}", json={"status": "closed"},
                                headers=bearer(officer), timeout=30)
        assert answer.status_code == 200, answer.text
        closed = received.wait("affected", lambda d: d["incident"] == inc and d["open"] is False)
        assert closed["counts"]["total"] == 0
    finally:
        client.disconnect()


def test_a_regional_desk_gets_only_its_region(context: Context, live_server: LiveServer) -> None:
    officer, feed = live_server.token("duty_officer"), live_server.token("feed")
    everyone, all_received = connect(live_server, officer)
    africa, africa_received = connect(live_server, live_server.token("regional_desk", "africa"))
    mena, mena_received = connect(live_server, live_server.token("regional_desk", "middle_east_north_africa"))
    try:
        post(live_server, "/api/v1/travellers", [traveller("S1", WADI_HALFA), traveller("E1", ABU_SIMBEL)], feed, 200)
        # in Sudan (africa), reaching over the border into Egypt (middle_east_north_africa)
        inc = incident(live_server, officer, {"lat": 21.9, "lon": 31.4}, 60)
        assert all_received.wait("affected", of(inc, total=2))["counts"]["total"] == 2
        assert africa_received.wait("affected", of(inc))["counts"]["total"] == 1  # only the one placed in africa
        nothing(mena_received, "affected", lambda d: d["incident"] == inc)
        assert mena.call("affected", inc, namespace="/live", timeout=10)["error"] == "not found"
        assert africa.call("affected", inc, namespace="/live", timeout=10)["counts"]["total"] == 1
        # people: each desk only its region's
        post(live_server, "/api/v1/checkins", {"traveller_id": "E1", "status": "unsure", "incident_id": inc}, officer, 201)
        all_received.wait("people", lambda d: "E1" in d["ids"] and d["status"][d["ids"].index("E1")] == "unsure")
        nothing(africa_received, "people", lambda d: "E1" in d["ids"])
        assert "E1" not in africa.call("people", namespace="/live", timeout=10)["ids"]
        assert "E1" in mena.call("people", namespace="/live", timeout=10)["ids"]
    finally:
        for client in (everyone, africa, mena):
            client.disconnect()


def test_a_wall_gets_counts_and_no_identities(context: Context, live_server: LiveServer) -> None:
    officer, feed = live_server.token("duty_officer"), live_server.token("feed")
    wall, received = connect(live_server, live_server.token("wall"))
    try:
        post(live_server, "/api/v1/travellers", [traveller("W1", MOMBASA)], feed, 200)
        inc = incident(live_server, officer, NAIROBI, 20)
        post(live_server, "/api/v1/positions", [{"traveller_id": "W1", "lat": NAIROBI["lat"], "lon": NAIROBI["lon"]}],
             feed, 202)
        assert received.wait("affected", of(inc, total=1))["accounted_pct"] == 0.0
        people = received.wait("people", lambda d: len(d["ids"]) > 0)
        assert "W1" not in people["ids"] and all(i.startswith("p") for i in people["ids"])
        assert people["status"] == ["no_response"] and people["affected"] == [True]
        snapshot = wall.call("people", namespace="/live", timeout=10)
        assert snapshot["ids"] == people["ids"]  # the same pseudonym every time
    finally:
        wall.disconnect()


def test_the_affected_list_from_the_picture_equals_the_one_from_redis(context: Context, live_server: LiveServer) -> None:
    """``views.affected_people`` answers from this process's live picture when it has caught
    up with the log; computed from Redis (an explicit ``now``) it is the same list."""
    from crisis import views
    from crisis.adapters.accounts import Principal
    from crisis.realtime.people import live_for

    officer, feed = live_server.token("duty_officer"), live_server.token("feed")
    soon = datetime.now(timezone.utc) + timedelta(hours=20)
    flying_in = {**traveller("F1", MOMBASA), "itinerary": [
        {"from": {k: MOMBASA[k] for k in ("name", "lat", "lon")}, "to": {k: NAIROBI[k] for k in ("name", "lat", "lon")},
         "depart": (soon - timedelta(hours=1)).isoformat(), "arrive": soon.isoformat()}]}
    post(live_server, "/api/v1/travellers", [traveller(f"Q{i}", NAIROBI) for i in range(5)] + [flying_in]
         + [traveller("S1", WADI_HALFA), traveller("E1", ABU_SIMBEL)], feed, 200)
    post(live_server, "/api/v1/positions", [{"traveller_id": "Q1", "lat": NAIROBI["lat"] + 0.1, "lon": NAIROBI["lon"]},
                                            {"traveller_id": "Q2", "lat": MOMBASA["lat"], "lon": MOMBASA["lon"]}], feed, 202)
    inc = incident(live_server, officer, NAIROBI, 20)
    border = incident(live_server, officer, {"lat": 21.9, "lon": 31.4}, 60)  # africa, reaching into Egypt
    post(live_server, "/api/v1/checkins", {"traveller_id": "Q3", "status": "safe", "incident_id": inc}, officer, 201)
    live = live_for(context)
    assert live is not None and live.caught_up(timeout=30)
    assert live.affected_rows(inc) is not None  # the picture answers
    cases = [(p, i) for p in (Principal("o", "duty_officer"), Principal("d", "regional_desk", "africa"),
                              Principal("w", "wall")) for i in (inc, border)]
    for principal, incident_id in cases:
        from_picture = views.affected_people(context, principal, incident_id)
        from_redis = views.affected_people(context, principal, incident_id, now=datetime.now(timezone.utc))
        assert from_picture is not None and from_redis is not None
        assert from_picture["counts"] == from_redis["counts"] and from_picture["radius_km_used"] == from_redis["radius_km_used"]
        assert from_picture["in_other_regions"] == from_redis["in_other_regions"]

        def rows(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
            return [(p.get("traveller_id"), p.get("reason"), round(p.get("distance_km", 0), 2), p.get("position_source"),
                     p.get("status"), p.get("name"), p.get("arrive"), p.get("confidence")) for p in answer["people"]]

        assert rows(from_picture) == rows(from_redis)
    body = views.affected_people(context, Principal("o", "duty_officer"), inc)
    assert body is not None and {p["traveller_id"] for p in body["people"]} == {"Q0", "Q1", "Q3", "Q4", "F1"}
    assert body["counts"]["safe"] == 1
    desk = views.affected_people(context, Principal("d", "regional_desk", "africa"), border)
    assert desk is not None and [p["traveller_id"] for p in desk["people"]] == ["S1"]  # not E1, placed in Egypt
    assert desk["in_other_regions"] == 1  # E1, counted, not shown
    assert views.affected_people(context, Principal("d", "regional_desk", "africa"), border,
                                 now=datetime.now(timezone.utc))["in_other_regions"] == 1  # type: ignore[index]
    # the data flushed under the picture: it does not answer from what it held
    context.redis.flushdb()
    assert live.affected_rows(inc) is None


def test_a_second_app_on_the_same_context_does_not_stand_in_for_the_running_one(context: Context, live_server: LiveServer) -> None:
    """An app built without a gateway on the same context (as some tests and tools do) must
    not replace the running process's live picture: reads keep coming from the running one."""
    from crisis.realtime.people import live_for
    from crisis.web import create_app

    officer = live_server.token("duty_officer")
    post(live_server, "/api/v1/travellers", [traveller("Z1", NAIROBI)], officer, 200)
    incident(live_server, officer, NAIROBI, 20)
    deadline = time.monotonic() + 10  # registered by the running gateway's first tick
    while live_for(context) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    running = live_for(context)
    assert running is not None and running.caught_up(timeout=30)
    create_app(context.settings, context, start_gateway=False, start_feeds=False)
    assert live_for(context) is running
    inc = incident(live_server, officer, NAIROBI, 30)
    assert live_for(context) is running and running.caught_up(timeout=30)
    assert running.affected_rows(inc) is not None
