"""The push gateway: the event log, tailed, fanned out to browsers over Socket.IO.

Each web process tails the incident and position streams itself (XREAD BLOCK), so no
message queue is needed to scale out: every instance pushes to its own clients.
Incidents go out at once, one message each. Positions are merged per traveller and sent
once per tick (about 250 ms), one message per room, with coordinates as float32 bytes.

Rooms: "all" (duty officers, admins, wall displays) and "region:<code>" (a regional
desk sees only its region's incidents and people).

With the heartbeat (every few seconds) goes the health of every feed: a feed's silence
is a change that no event announces, so it is reported on a clock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import numpy as np
import redis
from flask_socketio import SocketIO

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog, decode
from crisis.domain import events as ev
from crisis.layers.incidents import incident_message

log = logging.getLogger(__name__)

NAMESPACE = "/live"
ALL = "all"
HEARTBEAT_SECONDS = 5.0

FeedReport = Callable[[], dict[str, Any]]


def region_room(region: str) -> str:
    return f"region:{region}"


def positions_message(ids: list[str], lat: np.ndarray, lon: np.ndarray, stream_id: str, full: bool) -> dict[str, Any]:
    return {
        "ids": ids,
        "lat": np.asarray(lat, dtype=np.float32).tobytes(),
        "lon": np.asarray(lon, dtype=np.float32).tobytes(),
        "stream_id": stream_id,
        "full": full,
        "sent_at": time.time(),
    }


class PositionBuffer:
    """Latest position per traveller since the last tick, with its region."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[float, float, str | None]] = {}
        self._stream_id = "0-0"

    def add(self, payload: dict[str, Any], stream_id: str) -> None:
        with self._lock:
            for tid, lat, lon, region in zip(payload["ids"], payload["lat"], payload["lon"], payload["region"]):
                self._latest[tid] = (lat, lon, region)
            self._stream_id = stream_id

    def drain(self) -> tuple[dict[str, tuple[float, float, str | None]], str]:
        with self._lock:
            latest, self._latest = self._latest, {}
            return latest, self._stream_id


class Gateway:
    """Tails the log and pushes to rooms. One per web process."""

    def __init__(
        self,
        socketio: SocketIO,
        client: redis.Redis,
        event_log: EventLog,
        tick_seconds: float,
        feed_report: FeedReport | None = None,
    ) -> None:
        self._socketio = socketio
        self._feed_report = feed_report
        self._redis = client
        self._log = event_log
        self._tick = tick_seconds
        self._buffer = PositionBuffer()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent_incidents = 0
        self.sent_position_messages = 0

    def start(self) -> None:
        cursors = {
            keys.INCIDENT_STREAM: self._log.last_id(keys.INCIDENT_STREAM),
            keys.POSITION_STREAM: self._log.last_id(keys.POSITION_STREAM),
        }
        for target, name in ((lambda: self._tail(cursors), "gateway-tail"), (self._ticker, "gateway-tick")):
            thread = threading.Thread(target=_forever(target, self._stop), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def _tail(self, cursors: dict[str, str]) -> None:
        while not self._stop.is_set():
            answer = self._redis.xread(cursors, block=1000, count=500)
            for stream, entries in answer or []:
                for entry_id, fields in entries:
                    cursors[stream] = entry_id
                    event = decode(entry_id, fields)
                    if stream == keys.INCIDENT_STREAM:
                        self.push_incident(event.payload["incident"], event.type, entry_id)
                    elif event.type == ev.POSITIONS_REPORTED:
                        self._buffer.add(event.payload, entry_id)

    def push_incident(self, incident: dict[str, Any], event_type: str, stream_id: str) -> None:
        message = incident_message(incident, event_type, stream_id)
        rooms = [ALL] + ([region_room(incident["region"])] if incident.get("region") else [])
        self._socketio.emit("incident", message, namespace=NAMESPACE, to=rooms)
        self.sent_incidents += 1

    def _ticker(self) -> None:
        next_heartbeat = 0.0
        while not self._stop.wait(self._tick):
            next_heartbeat = self.tick(next_heartbeat)

    def tick(self, next_heartbeat: float = 0.0) -> float:
        """One round: push the positions buffered since the last, and the heartbeat when due.

        Work is done only for rooms with someone in them (this process's clients: every
        instance pushes to its own). A client that joins later starts from a snapshot.
        """
        latest, stream_id = self._buffer.drain()
        listening = self._rooms_in_use()
        if latest and listening:
            self._flush(latest, stream_id, listening)
        if time.monotonic() >= next_heartbeat:
            if listening:
                # Lets an idle page tell "nothing happened" from "the server is gone".
                self._socketio.emit("heartbeat", {"time": time.time()}, namespace=NAMESPACE)
                if self._feed_report is not None:
                    self._socketio.emit("feeds", self._feed_report(), namespace=NAMESPACE)
            next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        return next_heartbeat

    def _rooms_in_use(self) -> set[str]:
        rooms = dict(self._socketio.server.manager.rooms.get(NAMESPACE, {}))
        return {room for room, members in rooms.items() if room and members}

    def _flush(self, latest: dict[str, tuple[float, float, str | None]], stream_id: str, listening: set[str]) -> None:
        ids = list(latest)
        values = list(latest.values())
        lat = np.fromiter((v[0] for v in values), dtype=np.float32, count=len(values))
        lon = np.fromiter((v[1] for v in values), dtype=np.float32, count=len(values))
        if ALL in listening:
            self._emit_positions(positions_message(ids, lat, lon, stream_id, False), ALL)
        regions = np.array([v[2] or "" for v in values], dtype=object)
        for region in set(regions) - {""}:
            if region_room(region) not in listening:
                continue
            mask = regions == region
            subset = [i for i, m in zip(ids, mask) if m]
            self._emit_positions(positions_message(subset, lat[mask], lon[mask], stream_id, False), region_room(region))

    def _emit_positions(self, message: dict[str, Any], room: str) -> None:
        self._socketio.emit("positions", message, namespace=NAMESPACE, to=room)
        self.sent_position_messages += 1


def _forever(target: Callable[[], None], stop: threading.Event) -> Callable[[], None]:
    """Run ``target`` again after an error (Redis restart, network blip) until stopped."""

    def run() -> None:
        while not stop.is_set():
            try:
                target()
            except Exception:  # noqa: BLE001 - a push thread must outlive any one failure
                if stop.is_set():
                    return
                log.exception("live gateway thread failed; restarting in 1 s")
                stop.wait(1.0)

    return run
