"""Issue 10: when the live tail finds another Redis server behind the log (a Sentinel
failover), every open socket's picture is replaced by a snapshot marked "reset", because
the old primary may have pushed entries the new one never had (their WAIT failed)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from crisis.realtime.gateway import Gateway


class _Server:
    def __init__(self) -> None:
        self.run_id = "a" * 40
        self.asked = 0

    def info(self, section: str) -> dict[str, Any]:
        assert section == "server"
        self.asked += 1
        return {"run_id": self.run_id}


def test_a_new_primary_makes_every_client_resync_in_full_once() -> None:
    server = _Server()
    gateway = Gateway(SocketIO(Flask(__name__), async_mode="threading"), client=server,  # type: ignore[arg-type]
                      event_log=None, tick_seconds=1.0)  # type: ignore[arg-type]
    calls: list[int] = []
    gateway.primary_changed = lambda: calls.append(1)
    assert gateway.check_primary(every=0) is False  # the first look: nothing to compare with
    assert gateway.check_primary(every=0) is False and calls == []
    server.run_id = "b" * 40  # promoted replica (or a restart)
    assert gateway.check_primary(every=0) is True and calls == [1]
    assert gateway.check_primary(every=0) is False and calls == [1]  # once per change
    asked = server.asked
    assert gateway.check_primary(every=60) is False and server.asked == asked  # at most one INFO per period


def test_a_failed_resync_is_tried_again_at_the_next_look() -> None:
    server = _Server()
    gateway = Gateway(SocketIO(Flask(__name__), async_mode="threading"), client=server,  # type: ignore[arg-type]
                      event_log=None, tick_seconds=1.0)  # type: ignore[arg-type]
    calls: list[int] = []

    def resync() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("Redis down mid-resync")

    gateway.primary_changed = resync
    gateway.check_primary(every=0)
    server.run_id = "b" * 40
    try:
        gateway.check_primary(every=0)
    except ConnectionError:
        pass
    assert gateway.check_primary(every=0) is True and calls == [1, 1]


def test_the_soak_client_drops_its_whole_picture_on_a_reset_snapshot() -> None:
    """benchmarks/soak.py keeps the page's picture (crisis_live.js replaces it on any
    snapshot); a plain snapshot keeps what arrived live after it, a "reset" one does not:
    an entry of a lost primary can carry a newer stream id than the new primary's head."""
    import threading

    from benchmarks.soak import LiveClient

    def client_with_ghost() -> LiveClient:
        client = LiveClient.__new__(LiveClient)
        client.lock = threading.Lock()
        client.incidents = {"ghost": ("200-0", {"id": "ghost"})}
        client.last_id, client.scope = "200-0", None
        return client

    snapshot = {"incidents": [{"incident": {"id": "kept"}, "stream_id": "150-0"}], "stream_id": "150-0", "scope": "all"}
    plain = client_with_ghost()
    plain._on_snapshot(snapshot)
    assert set(plain.incidents) == {"kept", "ghost"}  # newer than the snapshot: arrived live after it
    reset = client_with_ghost()
    reset._on_snapshot({**snapshot, "reset": True})
    assert set(reset.incidents) == {"kept"} and reset.last_id == "150-0"


class _Log:
    def __init__(self, last: dict[str, str]) -> None:
        self.last = last

    def last_id(self, stream: str) -> str:
        return self.last.get(stream, "0-0")


def test_a_new_primary_rewinds_a_tail_cursor_past_its_last_entry_and_tells_the_listeners_first() -> None:
    """The tail stood on an entry only the old primary had (id 200): reading after it would
    skip the new primary's entries 151..200. A cursor the new primary has not reached yet
    (positions: the new one's last is newer) stays. The process's own pictures (people,
    counts, roster) are dropped before the clients are told to replace theirs."""
    server = _Server()
    log = _Log({"incidents": "150-0", "positions": "300-0"})
    gateway = Gateway(SocketIO(Flask(__name__), async_mode="threading"), client=server,  # type: ignore[arg-type]
                      event_log=log, tick_seconds=1.0)  # type: ignore[arg-type]
    gateway._cursors = {"incidents": "200-0", "positions": "250-0"}
    order: list[str] = []
    gateway.on_primary_change(lambda: order.append("people"))
    gateway.primary_changed = lambda: order.append("clients")
    gateway.check_primary(every=0)
    assert order == [] and gateway._cursors["incidents"] == "200-0"  # the first look changes nothing
    server.run_id = "b" * 40
    assert gateway.check_primary(every=0) is True
    assert order == ["people", "clients"]
    assert gateway._cursors == {"incidents": "150-0", "positions": "250-0"}
