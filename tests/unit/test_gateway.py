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
    _listen(socketio, "wall", ALL)
    gateway._buffer.add(POSITIONS, "7-0")
    assert gateway.tick(due) == due  # the next heartbeat is not due yet
    assert gateway.sent_position_messages == 3 and reports == [1]
