"""Who may listen on /live and what each socket receives, against the running server with
real python-socketio clients: origin, region scoping on every path (live pushes,
snapshot, replay, positions ticks and resyncs), walls without identities, open sockets
following account changes, the sync argument and the per-connection event budget."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import pytest
import requests
import socketio

from crisis.adapters import keys
from tests.conftest import LiveClient, LiveServer, random_ref, sign_in

NAMESPACE = "/live"
BEIRUT = {"title": "Demonstration turns violent", "type": "civil_unrest", "severity": 4, "lat": 33.89, "lon": 35.5}
NAIROBI = {**BEIRUT, "title": "Armed robbery", "type": "crime", "lat": -1.29, "lon": 36.82}
AFRICA = "africa"


class Listener:
    """A python-socketio client on /live that keeps every message it receives, in order.

    ``wait_for`` looks through what arrived since the last ``mark`` (or connecting) and
    consumes nothing: waiting for one event never hides another."""

    def __init__(self, live_server: LiveServer, auth: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, transports: list[str] | None = None,
                 **client_options: Any) -> None:
        self.log: list[tuple[str, Any]] = []
        self._mark = 0
        self.disconnected = threading.Event()
        self.client = LiveClient(reconnection=False, **client_options)
        self.client.on("*", self._any, namespace=NAMESPACE)
        self.client.on("disconnect", lambda *a: self.disconnected.set(), namespace=NAMESPACE)
        self.client.connect(live_server.url, namespaces=[NAMESPACE], auth=auth, headers=headers or {},
                            transports=transports or ["websocket"], wait_timeout=10)

    def _any(self, event: str, data: Any = None) -> None:
        self.log.append((event, data))

    def wait_for(self, name: str, match: Any = lambda d: True, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for event, data in self.log[self._mark:]:
                if event == name and match(data):
                    return data
            if time.monotonic() > deadline:
                raise AssertionError(f"no {name!r} event arrived within {timeout} s")
            time.sleep(0.01)

    def mark(self) -> None:
        """From now on, look only at what arrives next."""
        self._mark = len(self.log)

    def since_mark(self) -> list[tuple[str, Any]]:
        return self.log[self._mark:]

    def sync(self, data: Any = None, timeout: float = 10) -> Any:
        return self.client.call("sync", data, namespace=NAMESPACE, timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()


def feed_headers(live_server: LiveServer) -> dict[str, str]:
    return {"Authorization": "Bearer " + live_server.token("feed")}


def post_incident(live_server: LiveServer, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = requests.post(live_server.url + "/api/v1/incidents", json={**body, "title": f"{body['title']} {random_ref()}"},
                           headers=headers or feed_headers(live_server), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def post_positions(live_server: LiveServer, batch: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
    live_server.know(batch)
    answer = requests.post(live_server.url + "/api/v1/positions", json=batch, headers=headers or feed_headers(live_server),
                           timeout=10)
    assert answer.status_code == 202, answer.text


def incident_ids(messages: list[dict[str, Any]]) -> set[str]:
    return {m["incident"]["id"] for m in messages}


def cookie_header(http: requests.Session) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in http.cookies)}


def signed_in(live_server: LiveServer, role: str = "duty_officer", region: str | None = None) -> tuple[str, dict[str, str]]:
    """A new user of that role, signed in: (its name, the Cookie header of its session)."""
    name = live_server.user(role, region)
    http = requests.Session()
    assert sign_in(live_server.url, http, name).status_code == 302
    return name, cookie_header(http)


# -- origin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_browser_page_of_another_origin_is_refused(live_server: LiveServer, transport: str) -> None:
    _, cookies = signed_in(live_server)
    foreign = "http://evil.example:8050"
    options: dict[str, Any] = {}
    headers = dict(cookies)
    if transport == "websocket":
        options["websocket_extra_options"] = {"origin": foreign}  # websocket-client sends its own Origin otherwise
    else:
        headers["Origin"] = foreign
    with pytest.raises(socketio.exceptions.ConnectionError):
        Listener(live_server, headers=headers, transports=[transport], **options)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_the_apps_own_origin_and_clients_without_origin_are_accepted(live_server: LiveServer, transport: str) -> None:
    _, cookies = signed_in(live_server)
    options: dict[str, Any] = {}
    headers = dict(cookies)
    if transport == "websocket":
        options["websocket_extra_options"] = {"origin": live_server.url}
    else:
        headers["Origin"] = live_server.url
    same_origin = Listener(live_server, headers=headers, transports=[transport], **options)
    try:
        assert same_origin.wait_for("welcome")["role"] == "duty_officer"
    finally:
        same_origin.close()
    # Behind a TLS proxy: the origin the browser saw is https://<forwarded host>.
    proxied = Listener(live_server, auth={"token": live_server.token()}, transports=["polling"],
                       headers={"Origin": "https://crisis.example.org", "X-Forwarded-Proto": "https",
                                "X-Forwarded-Host": "crisis.example.org"})
    proxied.close()


# -- connect ---------------------------------------------------------------------------------


def test_a_regional_desk_without_a_region_is_refused(live_server: LiveServer) -> None:
    name = random_ref("desk-")
    token = live_server.context.accounts.create_token(name, "regional_desk", None)
    reasons: list[Any] = []
    client = LiveClient(reconnection=False)
    client.on("connect_error", reasons.append, namespace=NAMESPACE)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server.url, namespaces=[NAMESPACE], auth={"token": token}, transports=["websocket"],
                       wait_timeout=5)
    assert reasons and "no region" in str(reasons[0])
    # The refusal is in the audit trail.
    entries = [fields for _, fields in live_server.context.redis.xrevrange(keys.AUDIT_STREAM, count=200)]
    assert any(e["action"] == "access.denied" and e["actor"] == name and e["via"] == "socket" for e in entries)


# -- region scoping on every path ------------------------------------------------------------


def test_snapshot_holds_only_the_desks_region(live_server: LiveServer) -> None:
    beirut, nairobi = post_incident(live_server, BEIRUT), post_incident(live_server, NAIROBI)
    ref = random_ref("S")
    post_positions(live_server, [{"traveller_id": f"{ref}-nbo", "lat": -1.3, "lon": 36.8},
                                 {"traveller_id": f"{ref}-bey", "lat": 33.9, "lon": 35.5}])
    desk = Listener(live_server, auth={"token": live_server.token("regional_desk", AFRICA)})
    try:
        assert desk.sync({"last_id": None})["mode"] == "snapshot"
        snapshot = desk.wait_for("snapshot")
        ids = incident_ids(snapshot["incidents"])
        assert nairobi["id"] in ids and beirut["id"] not in ids
        assert {m["incident"]["region"] for m in snapshot["incidents"]} == {AFRICA}
        positions = desk.wait_for("positions", lambda d: d["full"])
        assert f"{ref}-nbo" in positions["ids"] and f"{ref}-bey" not in positions["ids"]
    finally:
        desk.close()
    # Snapshots are shared while nothing changes, never after: the next one is up to date.
    later = post_incident(live_server, NAIROBI)
    post_positions(live_server, [{"traveller_id": f"{ref}-new", "lat": -1.2, "lon": 36.9}])
    desk = Listener(live_server, auth={"token": live_server.token("regional_desk", AFRICA)})
    try:
        desk.sync()
        assert later["id"] in incident_ids(desk.wait_for("snapshot")["incidents"])
        assert f"{ref}-new" in desk.wait_for("positions", lambda d: d["full"])["ids"]
    finally:
        desk.close()


def test_replay_after_a_reconnect_holds_only_the_desks_region(live_server: LiveServer) -> None:
    token = live_server.token("regional_desk", AFRICA)
    desk = Listener(live_server, auth={"token": token})
    head = desk.sync()["stream_id"]
    desk.close()
    beirut, nairobi = post_incident(live_server, BEIRUT), post_incident(live_server, NAIROBI)

    desk = Listener(live_server, auth={"token": token})
    try:
        assert desk.sync({"last_id": head})["mode"] == "replay"
        desk.wait_for("incident", lambda d: d["incident"]["id"] == nairobi["id"])
        replayed = [d for e, d in desk.log if e == "incident"]
        assert beirut["id"] not in incident_ids(replayed)  # it was in the log before Nairobi's
        assert {m["incident"]["region"] for m in replayed} == {AFRICA}
    finally:
        desk.close()


def test_position_pushes_to_a_region_room_hold_only_its_travellers(live_server: LiveServer) -> None:
    desk = Listener(live_server, auth={"token": live_server.token("regional_desk", AFRICA)})
    try:
        desk.wait_for("welcome")
        ref = random_ref("R")
        # One batch, so both travellers are in the same tick.
        post_positions(live_server, [{"traveller_id": f"{ref}-bey", "lat": 33.9, "lon": 35.5},
                                     {"traveller_id": f"{ref}-par", "lat": 48.85, "lon": 2.35},
                                     {"traveller_id": f"{ref}-nbo", "lat": -1.3, "lon": 36.8}])
        tick = desk.wait_for("positions", lambda d: f"{ref}-nbo" in d["ids"])
        assert not tick["full"] and tick["ids"] == [f"{ref}-nbo"]
        time.sleep(0.3)
        pushed = [i for e, d in desk.log if e == "positions" for i in d["ids"]]
        assert f"{ref}-bey" not in pushed and f"{ref}-par" not in pushed
    finally:
        desk.close()


def test_a_desk_receives_live_incidents_of_its_region_only(live_server: LiveServer) -> None:
    desk = Listener(live_server, auth={"token": live_server.token("regional_desk", AFRICA)})
    try:
        desk.wait_for("welcome")
        beirut, nairobi = post_incident(live_server, BEIRUT), post_incident(live_server, NAIROBI)
        desk.wait_for("incident", lambda d: d["incident"]["id"] == nairobi["id"])
        assert beirut["id"] not in incident_ids([d for e, d in desk.log if e == "incident"])
    finally:
        desk.close()


# -- resync costs what was missed --------------------------------------------------------------


def test_a_recent_positions_id_gets_only_what_changed_since(live_server: LiveServer) -> None:
    token = live_server.token("regional_desk", AFRICA)
    ref = random_ref("D")
    post_positions(live_server, [{"traveller_id": f"{ref}-{n}", "lat": -1.0 - n / 10, "lon": 36.0} for n in range(5)])
    desk = Listener(live_server, auth={"token": token})
    ack = desk.sync()
    assert ack["positions"] == "snapshot"
    full = desk.wait_for("positions", lambda d: d["full"])
    assert full["stream_id"] == ack["positions_id"] and f"{ref}-4" in full["ids"]
    desk.close()

    # Missed while away: traveller 1 moved twice, 2 once, someone left for Beirut.
    post_positions(live_server, [{"traveller_id": f"{ref}-1", "lat": -2.0, "lon": 37.0},
                                 {"traveller_id": f"{ref}-bey", "lat": 33.9, "lon": 35.5}])
    post_positions(live_server, [{"traveller_id": f"{ref}-1", "lat": -3.0, "lon": 38.0},
                                 {"traveller_id": f"{ref}-2", "lat": -4.0, "lon": 39.0}])
    time.sleep(0.5)  # their live ticks went out to nobody: what comes now is the resync's
    desk = Listener(live_server, auth={"token": token})
    try:
        again = desk.sync({"last_id": ack["stream_id"], "positions_id": ack["positions_id"], "scope": ack["scope"]})
        assert again["positions"] == "delta" and again["mode"] == "replay"
        delta = desk.wait_for("positions")
        assert not delta["full"] and sorted(delta["ids"]) == [f"{ref}-1", f"{ref}-2"]  # coalesced, this region only
        import numpy as np

        lat = dict(zip(delta["ids"], np.frombuffer(delta["lat"], dtype=np.float32).tolist()))
        assert lat[f"{ref}-1"] == pytest.approx(-3.0)  # the latest of the two
        assert again["positions_id"] == delta["stream_id"]
        # Nothing missed: no positions at all, and no incident snapshot.
        time.sleep(0.5)  # the ticks of the batches above have all gone out
        desk.mark()
        quiet = desk.sync({"last_id": again["stream_id"], "positions_id": again["positions_id"]})
        assert quiet["positions"] == "delta" and quiet["mode"] == "replay"
        time.sleep(0.3)
        assert [e for e, _ in desk.since_mark() if e in ("snapshot", "positions")] == []
    finally:
        desk.close()


def test_an_old_or_far_behind_positions_id_gets_a_full_snapshot(live_server: LiveServer) -> None:
    post_positions(live_server, [{"traveller_id": random_ref("F"), "lat": -1.0, "lon": 36.0}])
    desk = Listener(live_server, auth={"token": live_server.token("regional_desk", AFRICA)})
    try:
        assert desk.sync({"positions_id": "1-0"})["positions"] == "snapshot"  # before the oldest entry kept
        first = desk.sync()["positions_id"]
        from crisis.realtime.namespace import POSITIONS_DELTA_MAX_ENTRIES

        ref = random_ref("F")
        for n in range(POSITIONS_DELTA_MAX_ENTRIES + 2):
            post_positions(live_server, [{"traveller_id": f"{ref}-{n}", "lat": -1.0, "lon": 36.0}])
        desk.mark()
        assert desk.sync({"positions_id": first})["positions"] == "snapshot"
        assert desk.wait_for("positions", lambda d: d["full"])
    finally:
        desk.close()


def test_a_picture_of_another_scope_is_not_patched_but_replaced(live_server: LiveServer) -> None:
    """The account changed while its page was away: the ids the page brings back belong to
    a picture of every region, so it gets the whole picture of its new scope instead."""
    name, cookies = signed_in(live_server, "duty_officer")
    officer = Listener(live_server, headers=cookies)
    ack = officer.sync()
    assert ack["scope"] == "all"
    officer.close()
    live_server.context.accounts.change_user(name, "regional_desk", AFRICA)

    desk = Listener(live_server, headers=cookies)
    try:
        again = desk.sync({"last_id": ack["stream_id"], "positions_id": ack["positions_id"], "scope": ack["scope"]})
        assert again["mode"] == "snapshot" and again["positions"] == "snapshot"
        assert desk.wait_for("snapshot")["scope"] == again["scope"] == f"region:{AFRICA}"
        assert desk.wait_for("positions", lambda d: d["full"])["scope"] == f"region:{AFRICA}"
    finally:
        desk.close()


def test_asking_again_on_the_same_connection_costs_only_what_is_new(live_server: LiveServer) -> None:
    listener = Listener(live_server, auth={"token": live_server.token()})
    try:
        assert listener.sync()["mode"] == "snapshot"
        listener.mark()
        again = listener.sync({"last_id": None})  # "send me everything" once more
        assert again["mode"] == "replay" and again["positions"] == "delta"
        time.sleep(0.3)
        assert [e for e, _ in listener.since_mark() if e in ("snapshot", "positions", "incident")] == []
    finally:
        listener.close()


# -- the sync argument and the event budget ------------------------------------------------------


@pytest.mark.parametrize("bad, field", [
    ("junk", ""),
    (5, ""),
    ({"last_id": 5}, "last_id"),
    ({"last_id": "abc"}, "last_id"),
    ({"last_id": {"$gt": ""}}, "last_id"),
    ({"positions_id": "1-2-3"}, "positions_id"),
    ({"last_id": "99999999999999999999-0"}, "last_id"),
    ({"scope": ["all"]}, "scope"),
    ({"bogus": 1}, "bogus"),
    (("1-0", "2-0"), ""),
])
def test_a_malformed_sync_is_answered_and_dead_lettered(live_server: LiveServer, bad: Any, field: str) -> None:
    name = random_ref("reader-")
    token = live_server.context.accounts.create_token(name, "duty_officer")
    listener = Listener(live_server, auth={"token": token})
    try:
        ack = listener.sync(bad)
        assert ack["error"] == "invalid sync"
        assert field in [e["field"] for e in ack["errors"]] and all(e["message"] for e in ack["errors"])
        letters = live_server.context.redis.xrange(keys.DEADLETTER_STREAM, ack["dead_letter_id"], ack["dead_letter_id"])
        assert letters, "the malformed sync was not dead-lettered"
        letter = letters[0][1]
        assert letter["feed"] == "socket:sync" and letter["actor"] == name
        assert json.loads(letter["errors"]) == ack["errors"]
        assert listener.client.connected and listener.sync()["mode"] == "snapshot"  # the socket carries on
    finally:
        listener.close()


@pytest.mark.parametrize("argument, says", [
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ('{"last_id": ' + "7" * 5000 + "}", "too large"),
    ('{"last_id": "1-0",}', "unreadable JSON"),
])
def test_an_unreadable_sync_argument_is_answered_and_dead_lettered(live_server: LiveServer, argument: str, says: str) -> None:
    """JSON that Python cannot read (100,000 levels deep, a 5,000-digit number, a syntax
    error) gets an answer and a dead letter, not an exception inside Socket.IO."""
    listener = Listener(live_server, auth={"token": live_server.token()})
    try:
        acks: queue.Queue[Any] = queue.Queue()
        ack_id = listener.client._generate_ack_id(NAMESPACE, lambda ack=None: acks.put(ack))
        listener.client.eio.send(f'2{NAMESPACE},{ack_id}["sync",{argument}]')  # what a hostile client can send
        ack = acks.get(timeout=10)
        assert ack["error"] == "invalid sync" and says in ack["errors"][0]["message"]
        letter = live_server.context.redis.xrange(keys.DEADLETTER_STREAM, ack["dead_letter_id"], ack["dead_letter_id"])[0][1]
        assert letter["feed"] == "socket:sync" and argument[:50] in letter["body"]
        assert listener.client.connected and listener.sync()["mode"] == "snapshot"
    finally:
        listener.close()


def test_sync_flood_is_rate_limited_per_connection(live_server: LiveServer) -> None:
    settings = live_server.context.settings
    flooder = Listener(live_server, auth={"token": live_server.token()})
    other = Listener(live_server, auth={"token": live_server.token()})
    try:
        flooder.wait_for("welcome")
        acks: queue.Queue[Any] = queue.Queue()
        sent = 40
        started = time.monotonic()
        for _ in range(sent):
            flooder.client.emit("sync", {"last_id": None}, namespace=NAMESPACE, callback=lambda ack=None: acks.put(ack))
        answers = [acks.get(timeout=20) for _ in range(sent)]
        elapsed = time.monotonic() - started
        limited = [a for a in answers if a.get("error") == "rate limited"]
        served = [a for a in answers if "mode" in a]
        assert len(limited) + len(served) == sent
        assert len(served) <= settings.socket_event_burst + settings.socket_events_per_second * elapsed + 1
        assert len(limited) >= sent - settings.socket_event_burst - settings.socket_events_per_second * elapsed - 1
        assert all(a["retry_after"] > 0 for a in limited)
        time.sleep(0.5)
        answered = [e for e, _ in flooder.log if e == "feeds"]  # every served sync sends the feeds' health
        assert len(served) <= len(answered) <= len(served) + 1 + elapsed / 5  # (and so does each heartbeat)
        # The budget is per connection: another client is served at once.
        assert "mode" in other.sync()
        # And it refills.
        time.sleep(1.0 / settings.socket_events_per_second + 0.1)
        assert "mode" in flooder.sync()
    finally:
        flooder.close()
        other.close()


# -- walls receive what they show ----------------------------------------------------------------


def test_a_wall_receives_no_traveller_id_and_no_owner_name(live_server: LiveServer) -> None:
    duty = {"Authorization": "Bearer " + live_server.token("duty_officer")}
    ref = random_ref("W")
    owner = f"Officer {random_ref()}"
    travellers = [{"traveller_id": f"{ref}-{n}", "lat": lat, "lon": lon}
                  for n, (lat, lon) in enumerate([(-1.3, 36.8), (33.9, 35.5), (48.85, 2.35), (40.7, -74.0)])]
    before = post_incident(live_server, NAIROBI, duty)
    assert requests.patch(f"{live_server.url}/api/v1/incidents/{before['id']}", json={"owner": owner},
                          headers=duty, timeout=10).status_code == 200
    post_positions(live_server, travellers)

    wall = Listener(live_server, auth={"token": live_server.token("wall")})
    try:
        ack = wall.sync()
        snapshot = wall.wait_for("snapshot")
        assert before["id"] in incident_ids(snapshot["incidents"])
        assert len(wall.wait_for("positions", lambda d: d["full"])["ids"]) >= len(travellers)
        # Live: positions and an incident whose owner changes.
        post_positions(live_server, [{**t, "lat": t["lat"] + 0.01} for t in travellers])
        during = post_incident(live_server, BEIRUT, duty)
        requests.patch(f"{live_server.url}/api/v1/incidents/{during['id']}", json={"owner": owner}, headers=duty, timeout=10)
        tick = wall.wait_for("positions", lambda d: not d["full"] and len(d["ids"]) >= len(travellers))
        wall.wait_for("incident", lambda d: d["incident"]["id"] == during["id"] and d["event"] != "incident.reported")
        time.sleep(1.0)
        wall.close()
        # Reconnect: a replay, and the positions missed.
        requests.patch(f"{live_server.url}/api/v1/incidents/{during['id']}", json={"note": "still there"}, headers=duty, timeout=10)
        post_positions(live_server, [{**t, "lat": t["lat"] + 0.02} for t in travellers])
        wall2 = Listener(live_server, auth={"token": live_server.token("wall")})
        again = wall2.sync({"last_id": ack["stream_id"], "positions_id": tick["stream_id"], "scope": ack["scope"]})
        assert again["mode"] == "replay" and again["positions"] == "delta"
        wall2.wait_for("incident", lambda d: d["incident"]["id"] == during["id"])
        wall2.wait_for("positions", lambda d: len(d["ids"]) >= len(travellers))
        time.sleep(0.5)
        wall2.close()
    finally:
        wall.close()

    messages = wall.log + wall2.log
    assert {e for e, _ in messages} >= {"welcome", "snapshot", "positions", "incident"}
    text = repr(messages)
    assert ref not in text, "a traveller id reached a wall"
    assert owner not in text, "an owner's name reached a wall"
    # Points can still be merged per traveller: the same pseudonym each time.
    pseudonyms = [set(d["ids"]) for e, d in messages if e == "positions" and len(d["ids"]) >= len(travellers)]
    assert len(pseudonyms) >= 3 and all(p & pseudonyms[0] for p in pseudonyms[1:])
    # A duty officer does get them.
    officer = Listener(live_server, auth={"token": live_server.token()})
    try:
        officer.sync()
        snap = officer.wait_for("snapshot")
        assert owner in [m["incident"].get("owner") for m in snap["incidents"]]
        assert f"{ref}-0" in officer.wait_for("positions", lambda d: d["full"])["ids"]
    finally:
        officer.close()


# -- open sockets follow their account -----------------------------------------------------------


def _scoped_to_africa(listener: Listener, timeout: float) -> None:
    welcome = listener.wait_for("welcome", lambda d: d["role"] == "regional_desk", timeout=timeout)
    assert welcome["region"] == AFRICA


def test_a_demoted_user_stops_receiving_other_regions_within_5_s(live_server: LiveServer) -> None:
    name, cookies = signed_in(live_server, "duty_officer")
    officer = Listener(live_server, headers=cookies)
    try:
        assert officer.wait_for("welcome")["role"] == "duty_officer"
        officer.sync()
        beirut = post_incident(live_server, BEIRUT)
        officer.wait_for("incident", lambda d: d["incident"]["id"] == beirut["id"])  # sees every region for now

        changed_at = time.monotonic()
        live_server.context.accounts.change_user(name, "regional_desk", AFRICA)  # publishes the change
        _scoped_to_africa(officer, timeout=5.0)
        # A fresh picture of the new scope replaces the old one at once.
        snapshot = officer.wait_for("snapshot", lambda d: d["scope"] == f"region:{AFRICA}", timeout=5.0)
        assert beirut["id"] not in incident_ids(snapshot["incidents"])
        assert {m["incident"]["region"] for m in snapshot["incidents"]} <= {AFRICA}
        officer.wait_for("positions", lambda d: d["full"] and d.get("scope") == f"region:{AFRICA}", timeout=5.0)
        assert time.monotonic() - changed_at < 5.0

        officer.mark()
        ref = random_ref("M")
        other, own = post_incident(live_server, BEIRUT), post_incident(live_server, NAIROBI)
        post_positions(live_server, [{"traveller_id": f"{ref}-bey", "lat": 33.9, "lon": 35.5},
                                     {"traveller_id": f"{ref}-nbo", "lat": -1.3, "lon": 36.8}])
        officer.wait_for("incident", lambda d: d["incident"]["id"] == own["id"])
        officer.wait_for("positions", lambda d: f"{ref}-nbo" in d["ids"])
        time.sleep(0.3)
        later = [d for e, d in officer.log[officer.log.index(("snapshot", snapshot)):] if e in ("incident", "positions")]
        assert other["id"] not in incident_ids([d for d in later if "incident" in d])
        assert f"{ref}-bey" not in [i for d in later if "ids" in d for i in d["ids"]]
    finally:
        officer.close()


def test_a_missed_account_message_is_caught_up_by_the_heartbeat_check(live_server: LiveServer) -> None:
    """The account record changes with no message published: the periodic re-check of
    every open socket (each heartbeat, 5 s) still re-scopes it."""
    name, cookies = signed_in(live_server, "duty_officer")
    officer = Listener(live_server, headers=cookies)
    try:
        officer.wait_for("welcome")
        redis = live_server.context.redis
        record = json.loads(redis.hget(keys.USERS, name))
        redis.hset(keys.USERS, name, json.dumps({**record, "role": "regional_desk", "region": AFRICA}))
        _scoped_to_africa(officer, timeout=8.0)
    finally:
        officer.close()


def test_a_revoked_token_is_dropped(live_server: LiveServer) -> None:
    name = random_ref("kiosk-")
    listener = Listener(live_server, auth={"token": live_server.context.accounts.create_token(name, "wall")})
    bystander = Listener(live_server, auth={"token": live_server.token("wall")})
    try:
        listener.wait_for("welcome")
        assert live_server.context.accounts.revoke_tokens(name) == 1
        assert listener.disconnected.wait(5.0), "the socket of a revoked token stayed open"
        assert bystander.client.connected and not bystander.disconnected.is_set()
    finally:
        listener.close()
        bystander.close()


@pytest.mark.parametrize("change", ["end_sessions", "disable", "remove"])
def test_a_user_signed_out_disabled_or_removed_is_dropped(live_server: LiveServer, change: str) -> None:
    name, cookies = signed_in(live_server, "regional_desk", AFRICA)
    listener = Listener(live_server, headers=cookies)
    try:
        listener.wait_for("welcome")
        accounts = live_server.context.accounts
        if change == "end_sessions":
            accounts.end_sessions(name)
        elif change == "disable":
            accounts.set_disabled(name, True)
        else:
            accounts.remove_user(name)
        assert listener.disconnected.wait(5.0), f"the socket stayed open after {change}"
        with pytest.raises(socketio.exceptions.ConnectionError):  # and the cookie no longer opens one
            Listener(live_server, headers=cookies)
    finally:
        listener.close()
