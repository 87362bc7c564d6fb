"""The position tick pushes only to rooms that someone listens in, with real Socket.IO rooms."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from crisis.realtime.gateway import ALL, NAMESPACE, Gateway, region_room


def _gateway() -> tuple[Gateway, SocketIO, list[int]]:
    socketio = SocketIO(Flask(__name__), async_mode="threading")
    reports: list[int] = []

    def report() -> dict[str, Any]:
        reports.append(1)
        return {"feeds": {}}

    return Gateway(socketio, client=None, event_log=None, tick_seconds=1.0, feed_report=report), socketio, reports  # type: ignore[arg-type]


def _listen(socketio: SocketIO, eio_sid: str, room: str) -> None:
    manager = socketio.server.manager
    sid = manager.connect(eio_sid, NAMESPACE)
    manager.enter_room(sid, NAMESPACE, room)


POSITIONS = {"ids": ["T1", "T2", "T3"], "lat": [1.0, 2.0, 3.0], "lon": [10.0, 20.0, 30.0],
             "region": ["africa", "europe_central_asia", None]}


def test_nothing_is_computed_or_sent_while_nobody_listens() -> None:
    gateway, _, reports = _gateway()
    gateway._buffer.add(POSITIONS, "5-0")
    gateway.tick()
    assert gateway.sent_position_messages == 0 and reports == []
    # The buffered positions were dropped: a client joining later takes a snapshot.
    assert gateway._buffer.drain() == ({}, "5-0")


def test_only_rooms_with_listeners_get_positions() -> None:
    gateway, socketio, reports = _gateway()
    _listen(socketio, "desk", region_room("africa"))
    gateway._buffer.add(POSITIONS, "6-0")
    due = gateway.tick()
    assert gateway.sent_position_messages == 1  # africa only: nobody in "all" or in europe
    assert reports == [1]  # the heartbeat's feed report, once
    _listen(socketio, "duty", ALL)
    gateway._buffer.add(POSITIONS, "7-0")
    assert gateway.tick(due) == due  # the next heartbeat is not due yet
    assert gateway.sent_position_messages == 3 and reports == [1]


# -- rooms: what each socket may receive -------------------------------------------------


import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from crisis.adapters import keys  # noqa: E402
from crisis.realtime.gateway import Pseudonyms, Viewer, room_for  # noqa: E402
from crisis.realtime.namespace import TokenBucket, origin_check, parse_sync  # noqa: E402


def test_each_role_joins_the_room_of_what_it_may_receive() -> None:
    assert room_for(Viewer("duty_officer")) == room_for(Viewer("admin")) == ALL
    assert room_for(Viewer("regional_desk", "africa")) == region_room("africa")
    wall = room_for(Viewer("wall"))
    assert wall not in (ALL, region_room("africa")) and wall.startswith("view:wall")
    for refused in (Viewer("regional_desk"), Viewer("feed"), Viewer("nobody")):
        with pytest.raises(PermissionError):
            room_for(refused)


def _recording(socketio: SocketIO) -> list[tuple[str, Any, Any]]:
    sent: list[tuple[str, Any, Any]] = []
    original = socketio.emit

    def emit(event: str, data: Any = None, **kwargs: Any) -> None:
        sent.append((event, data, kwargs.get("to")))
        original(event, data, **kwargs)

    socketio.emit = emit  # type: ignore[method-assign]
    return sent


def test_a_wall_room_gets_pseudonyms_and_region_rooms_only_their_travellers() -> None:
    gateway, socketio, _ = _gateway()
    wall = room_for(Viewer("wall"))
    for sid, room in (("wall", wall), ("duty", ALL), ("desk", region_room("africa"))):
        _listen(socketio, sid, room)
    sent = _recording(socketio)
    gateway._buffer.add(POSITIONS, "8-0")
    gateway.tick()
    by_room = {to: data for event, data, to in sent if event == "positions"}
    assert by_room[ALL]["ids"] == ["T1", "T2", "T3"]
    assert by_room[region_room("africa")]["ids"] == ["T1"]
    assert region_room("europe_central_asia") not in by_room  # nobody listens there
    wall_ids = by_room[wall]["ids"]
    assert len(wall_ids) == 3 and not {"T1", "T2", "T3"} & set(wall_ids)
    assert wall_ids == gateway._pseudonyms.many(["T1", "T2", "T3"])  # stable: the wall merges per point


def test_incidents_reach_a_wall_without_their_owner() -> None:
    gateway, socketio, _ = _gateway()
    wall = room_for(Viewer("wall"))
    _listen(socketio, "wall", wall)
    _listen(socketio, "desk", region_room("africa"))
    sent = _recording(socketio)
    incident = {"id": "I1", "title": "t", "severity": 3, "lat": 1.0, "lon": 2.0, "region": "africa", "status": "active",
                "owner": "Jane Officer"}
    gateway.push_incident(incident, "incident.updated", "9-0")
    to_wall = [data for event, data, to in sent if event == "incident" and to == wall]
    to_others = [data for event, data, to in sent if event == "incident" and to != wall]
    assert len(to_wall) == 1 and "Jane Officer" not in repr(to_wall)
    assert to_wall[0]["incident"]["id"] == "I1" and to_wall[0]["stream_id"] == "9-0"
    assert to_others and to_others[0]["incident"]["owner"] == "Jane Officer"


def test_pseudonyms_are_keyed_by_the_secret() -> None:
    a, b, other = Pseudonyms("secret"), Pseudonyms("secret"), Pseudonyms("another secret")
    assert a.of("T-1") == b.of("T-1") != a.of("T-2")
    assert other.of("T-1") != a.of("T-1")
    assert "T-1" not in a.of("T-1")


# -- origin, event budget, sync argument ---------------------------------------------------


ENVIRON = {"wsgi.url_scheme": "http", "HTTP_HOST": "crisis.local:8050"}


def test_origin_check_allows_the_apps_own_origin_and_the_configured_ones() -> None:
    check = origin_check(("https://wall.example.org/", " https://ops.example.org"))
    assert check("http://crisis.local:8050", ENVIRON)
    assert check("https://wall.example.org", ENVIRON) and check("https://ops.example.org", ENVIRON)
    assert not check("http://evil.example", ENVIRON)
    assert not check("http://crisis.local:9999", ENVIRON)  # another port is another origin
    assert not check("https://crisis.local:8050", ENVIRON)  # and another scheme
    assert not check("null", ENVIRON)
    assert check(None, ENVIRON)  # no Origin: not a browser
    proxied = {**ENVIRON, "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "crisis.example.org"}
    assert check("https://crisis.example.org", proxied)
    assert not origin_check(())("https://wall.example.org", ENVIRON)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=20.0, burst=3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert 0 < wait <= 1 / 20 + 1e-6
    time.sleep(wait + 0.01)
    assert bucket.take() == 0.0


@pytest.mark.parametrize("args, ok", [
    ((), True),
    ((None,), True),
    (({},), True),
    (({"last_id": "1700000000000-0", "positions_id": "5-1", "scope": "all"},), True),
    (({"last_id": None, "positions_id": None},), True),
    (("1-0",), False),
    (([],), False),
    (({"last_id": 1},), False),
    (({"last_id": "1-0-0"},), False),
    (({"last_id": " 1-0"},), False),
    (({"positions_id": "18446744073709551616-0"},), False),
    (({"scope": "x" * 201},), False),
    (({"extra": True},), False),
    (({}, {}), False),
])
def test_parse_sync(args: tuple[Any, ...], ok: bool) -> None:
    parsed, errors = parse_sync(args)
    assert (errors == []) is ok
    assert all(set(e) == {"field", "message"} for e in errors)


# -- account changes: the gateway's listener -----------------------------------------------


def test_account_changes_are_followed_at_once_and_all_sockets_rechecked_on_subscribe(context: Any) -> None:
    calls: list[tuple[Any, Any]] = []
    arrived = threading.Event()

    def changed(name: Any, kind: Any) -> None:
        calls.append((name, kind))
        if name == "bob":
            arrived.set()

    socketio = SocketIO(Flask(__name__), async_mode="threading")
    gateway = Gateway(socketio, context.redis, context.deps.log, tick_seconds=1.0, accounts_changed=changed)
    gateway.start()
    try:
        deadline = time.monotonic() + 5
        while (None, None) not in calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (None, None) in calls  # everything re-checked once subscribed
        context.redis.publish(keys.ACCOUNT_CHANGES, "not json")  # ignored, the listener carries on
        context.redis.publish(keys.ACCOUNT_CHANGES, json.dumps({"kind": "user", "name": "bob"}))
        assert arrived.wait(2.0), "an account change was not followed within 2 s"
        assert ("bob", "user") in calls
    finally:
        gateway.stop()
