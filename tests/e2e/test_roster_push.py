"""The live "roster" and "dispatch" pushes, with a real python-socketio client against the
running server: a duty officer receives the dispatch with the officer and the coverage
change; a wall receives the line, the ETA and the warnings but no officer id or name; a
regional desk does not receive a dispatch to another region's incident. And the push
coalesces: a burst of events is one recomputation, and time passing alone is pushed when
the figures change."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import requests

from crisis import handlers_roster
from crisis.bootstrap import Context
from crisis.realtime.roster_push import RosterPush
from crisis.roster.model import Home, Officer, Slot
from tests.conftest import LiveServer, SocketEvents

MENA = "middle_east_north_africa"
NAMES = ("Amira Haddad", "Jean Dupont", "Kofi Mensah")
IDS = ("OF-AMIRA", "OF-JEAN", "OF-KOFI")


def connect(live_server: LiveServer, role: str, region: str | None = None) -> SocketEvents:
    return SocketEvents(live_server.url, ("roster", "dispatch", "welcome"), auth={"token": live_server.token(role, region)},
                        wait_s=10.0)


def seed(context: Context) -> None:
    officers = [
        Officer(IDS[0], NAMES[0], Home("Amman office", 31.95, 35.93, "JOR"), MENA, "P4", ("first_aid",), ("ar",)),
        Officer(IDS[1], NAMES[1], Home("Geneva office", 46.2, 6.14, "CHE"), "europe_central_asia", "P5",
                ("hostage_incident_management",), ("fr",)),
        Officer(IDS[2], NAMES[2], Home("Nairobi office", -1.29, 36.82, "KEN"), "africa", "P3",
                ("hostage_incident_management",), ("ar", "fr")),
    ]
    handlers_roster.import_officers(context, officers, "push-test")
    now = context.deps.clock().replace(microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(days=12)
    handlers_roster.add_slots(context, [Slot("", IDS[0], start, end, 24, "primary", MENA),
                                        Slot("", IDS[1], start, end, 24, "primary", None),
                                        Slot("", IDS[2], start, end, 24, "alternate", None)], "push-test")


def test_dispatch_and_cover_are_pushed_and_cut_for_a_wall(context: Context, live_server: LiveServer) -> None:
    seed(context)
    officer = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    incident = requests.post(live_server.url + "/api/v1/incidents", headers=officer, timeout=30, json={
        "title": "Kidnapping near Beirut", "type": "armed_conflict", "severity": 4, "lat": 33.89, "lon": 35.5}).json()
    duty = connect(live_server, "duty_officer")
    wall = connect(live_server, "wall")
    desk = connect(live_server, "regional_desk", "africa")
    try:
        for events in (duty, wall, desk):
            events.wait("welcome")
        posted = requests.post(live_server.url + "/api/v1/dispatches", headers=officer, timeout=30,
                               json={"incident_id": incident["id"], "officer_id": IDS[0], "note": "closest"})
        assert posted.status_code == 201, posted.text
        dispatch_id = posted.json()["id"]

        full = duty.wait("dispatch", lambda m: m["dispatch"]["id"] == dispatch_id)
        assert full["event"] == "dispatch.created" and full["stream_id"]
        d = full["dispatch"]
        assert d["officer_id"] == IDS[0] and d["officer_name"] == NAMES[0] and d["status"] == "requested"
        assert d["incident_title"] == "Kidnapping near Beirut" and d["eta"]
        assert len(d["path"]) == 64 and d["path"][0] == [35.93, 31.95] and d["path"][-1] == [35.5, 33.89]

        cut = wall.wait("dispatch", lambda m: m["dispatch"].get("id") == dispatch_id)["dispatch"]
        assert cut["path"] == d["path"] and cut["eta"] == d["eta"] and cut["incident_id"] == incident["id"]
        text = json.dumps(cut)
        assert not any(x in text for x in (*NAMES, *IDS)), text
        assert "officer_id" not in cut and "officer_name" not in cut and "by" not in cut

        # The cover changed: one fewer on standby, and the Middle East slot left empty.
        roster = duty.wait("roster", lambda m: m["standby_now"]["total"] == 2)
        gaps = [w for w in roster["warnings"] if w["kind"] == "dispatch_gap"]
        assert gaps and roster["standby_now"]["readiness_24h"] == 2
        assert roster["event"].startswith("dispatch.") or roster["event"].startswith("roster.")
        wall_roster = wall.wait("roster", lambda m: m["standby_now"]["total"] == 2)
        assert [w["kind"] for w in wall_roster["warnings"]] == [w["kind"] for w in roster["warnings"]]
        wall_text = json.dumps(wall_roster)
        assert not any(x in wall_text for x in (*NAMES, *IDS)), wall_text
        assert all("officer_id" not in w for w in wall_roster["warnings"])
        # a regional desk (Africa) gets the aggregate cover, not the dispatch to a Middle East incident
        desk.wait("roster", lambda m: m["standby_now"]["total"] == 2)

        # A step is pushed too.
        patched = requests.patch(live_server.url + f"/api/v1/dispatches/{dispatch_id}", headers=officer, timeout=30,
                                 json={"status": "accepted"})
        assert patched.status_code == 200, patched.text
        step = duty.wait("dispatch", lambda m: m["dispatch"]["status"] == "accepted")
        assert step["event"] == "dispatch.step" and step["dispatch"]["steps"][-1]["by"]
        wall_step = wall.wait("dispatch", lambda m: m["dispatch"]["status"] == "accepted")["dispatch"]
        assert all("by" not in s for s in wall_step["steps"])
        assert not any(name == "dispatch" for name, _ in desk.drain(1.0))
    finally:
        for events in (duty, wall, desk):
            events.disconnect()


class FakeGateway:
    """Records what the push would send (one room per viewer kind)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def follow(self, stream: str, fn: Any) -> None: ...

    def on_tick(self, fn: Any) -> None: ...

    def emit_per_room(self, event: str, message_for: Any, rooms: Any = None) -> int:
        for room in rooms or ("all", "view:wall:all"):
            message = message_for(room)
            if message is not None:
                self.sent.append((event, message))
        return 1


class Event:
    def __init__(self, type_: str, payload: dict[str, Any]) -> None:
        self.type = type_
        self.payload = payload


def test_a_burst_of_events_is_one_recomputation_and_time_passing_is_pushed(context: Context, monkeypatch: Any) -> None:
    seed(context)
    gateway = FakeGateway()
    push = RosterPush(context, gateway, recheck_s=3600.0)  # type: ignore[arg-type]
    rooms = {"all", "view:wall:all"}
    push.on_tick(rooms)  # the first look
    assert push.recomputed == 1 and [e for e, _ in gateway.sent] == ["roster", "roster"]
    gateway.sent.clear()
    for n in range(50):
        push.on_event(f"1-{n}", Event("roster.slots_added", {"slots": []}))
    push.on_tick(rooms)
    assert push.recomputed == 2 and len(gateway.sent) == 2  # fifty events, one recomputation, one message per room
    assert gateway.sent[0][1]["event"] == "roster.slots_added" and gateway.sent[0][1]["stream_id"] == "1-49"
    push.on_tick(rooms)  # nothing new, the recheck not due
    assert push.recomputed == 2 and len(gateway.sent) == 2
    for n in range(5):  # officers' reported positions change no cover: no recomputation, nothing pushed
        push.on_event(f"2-{n}", Event("dispatch.position", {}))
    push.on_tick(rooms)
    assert push.recomputed == 2 and len(gateway.sent) == 2

    # Thirteen days later the slots have ended: a recheck (due now) pushes the new figures.
    later = context.deps.clock() + timedelta(days=13)
    monkeypatch.setattr(context.deps, "clock", lambda: later)
    push._next_check = 0.0
    push.on_tick(rooms)
    assert push.recomputed == 3 and len(gateway.sent) == 4
    message = gateway.sent[-2][1]
    assert message["event"] == "roster.recheck" and message["standby_now"]["total"] == 0
    assert any(w["kind"] == "worldwide_24h_low" for w in message["warnings"])
    # ... and a recheck that finds nothing changed sends nothing
    push._next_check = 0.0
    push.on_tick(rooms)
    assert push.recomputed == 4 and len(gateway.sent) == 4
