"""The push gateway: the event log, tailed, fanned out to browsers over Socket.IO.

Each web process tails the incident and position streams itself (XREAD BLOCK), so no
message queue is needed to scale out: every instance pushes to its own clients.
Incidents go out at once, one message each, to every room whose regions overlap the
incident's (``Incident.regions``: an incident over several countries reaches each desk it
touches); a socket is in one room, so it gets each message once. Positions are merged per traveller and sent
once per tick (about 250 ms), one message per room, with coordinates as float32 bytes.

Rooms (``room_for``): a socket is in exactly one, which says what it may receive:

- ``all``: every region, every field (duty officers, admins);
- ``region:<codes>``: a regional desk's regions, every field; ``<codes>`` is the desk's
  scope key (``access.scope_key``: one code, or several sorted and joined by ",", for a
  desk granted several regions), so a desk's socket is still in one room;
- ``view:<role>:all`` / ``view:<role>:region:<codes>``: a role that may not receive every
  field about a person (``crisis.domain.access.PERSON_FIELDS``), a wall display: its
  messages are cut to what that role may receive (no traveller ids, no owner names).

With the heartbeat (every few seconds) goes the health of every feed: a feed's silence
is a change that no event announces, so it is reported on a clock.

A third thread listens for account changes (``keys.ACCOUNT_CHANGES``) and has the open
sockets of that account re-checked at once, and all of them every heartbeat, in case a
message was missed (pub/sub does not keep messages for a listener that was away).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import numpy.typing as npt
import redis
from flask_socketio import SocketIO

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog, decode
from crisis.domain import access
from crisis.domain import events as ev
from crisis.layers.incidents import incident_message

log = logging.getLogger(__name__)

NAMESPACE = "/live"
ALL = "all"
VIEW_PREFIX = "view:"
HEARTBEAT_SECONDS = 5.0

FeedReport = Callable[[], dict[str, Any]]
StreamFollower = Callable[[str, Any], None]  # (entry id, crisis.domain.events.Event)
TickListener = Callable[[set[str]], None]  # the rooms with someone in them
# Called with an account name (or None: every open socket) to re-check its sockets.
AccountsChanged = Callable[[str | None, str | None], None]


def region_room(region: str) -> str:
    """The room of a desk of ``region``: one code, or a scope key of several (``access.scope_key``)."""
    return f"region:{region}"


@dataclass(frozen=True)
class Viewer:
    """What a room stands for, as the access rules see a caller: a role and its region
    (a scope key: one code or several joined by ",", read by ``access.regions_of``)."""

    role: str
    region: str | None = None


def incident_regions(incident: dict[str, Any]) -> list[str | None]:
    """Every region of an incident message (its ``regions``; older messages: its ``region``)."""
    return list(incident.get("regions") or ()) or [incident.get("region")]


def room_for(who: access.HasRole) -> str:
    """The one room a caller's socket joins. Raises PermissionError for a caller that may
    not read (a feed, a regional desk without a region): see ``access.region_scope``."""
    region = access.region_scope(who)
    room = ALL if region is None else region_room(region)
    if not access.sees_names(who):
        room = f"{VIEW_PREFIX}{who.role}:{room}"
    return room


def room_viewer(room: str) -> tuple[Viewer | None, str | None]:
    """(the role whose person fields apply, or None for every field; the region or None for all)."""
    viewer: Viewer | None = None
    if room.startswith(VIEW_PREFIX):
        role, _, room = room[len(VIEW_PREFIX):].partition(":")
        viewer = Viewer(role)
    region = room[len("region:"):] if room.startswith("region:") else None
    if viewer is not None:
        viewer = Viewer(viewer.role, region)
    return viewer, region


def access_viewer(room: str) -> Viewer:
    """The access viewer a room stands for: its role's (a wall's), or for a full-access room
    a duty officer's, or a regional desk's in a region's room."""
    viewer, region = room_viewer(room)
    if viewer is not None:
        return viewer
    return Viewer("duty_officer") if region is None else Viewer("regional_desk", region)


def receives_ids(viewer: access.HasRole | None) -> bool:
    """Whether this viewer may receive traveller ids (PERSON_FIELDS, through person_view)."""
    return viewer is None or "traveller_id" in access.person_view(viewer, {"traveller_id": ""})


class Pseudonyms:
    """Opaque stand-ins for traveller ids, for the roles that may not receive them (walls).

    A pseudonym is a keyed BLAKE2b MAC of the id (72 bits, base64url), the key derived
    from the server's secret key: the same traveller gets the same pseudonym in every
    message and from every instance that shares the secret, so a wall can still merge the
    updates of one point, but a pseudonym cannot be turned back into the id (the MAC is
    one-way, and without the secret one cannot even test a guessed id). Only the server,
    which holds the secret, could check a candidate id against it.
    """

    _CACHE_MAX = 500_000

    def __init__(self, secret: bytes | str | None = None) -> None:
        seed = secret.encode() if isinstance(secret, str) else (secret or secrets.token_bytes(32))
        self._key = hashlib.blake2b(b"crisis traveller pseudonyms v1", key=seed[:64], digest_size=32).digest()
        self._cache: dict[str, str] = {}

    def of(self, traveller_id: str) -> str:
        found = self._cache.get(traveller_id)
        if found is None:
            mac = hashlib.blake2b(traveller_id.encode(), key=self._key, digest_size=9).digest()
            found = "p" + base64.urlsafe_b64encode(mac).decode()
            if len(self._cache) >= self._CACHE_MAX:
                self._cache.clear()
            self._cache[traveller_id] = found
        return found

    def many(self, ids: Iterable[str]) -> list[str]:
        return [self.of(i) for i in ids]


def positions_message(ids: list[str], lat: npt.ArrayLike, lon: npt.ArrayLike, stream_id: str, full: bool,
                      scope: str | None = None) -> dict[str, Any]:
    """One ``positions`` message: ids (or pseudonyms) and float32 coordinates as bytes.
    ``full``: the whole picture of the scope (``scope`` says which), else changes only."""
    message = {
        "ids": ids,
        "lat": np.asarray(lat, dtype=np.float32).tobytes(),
        "lon": np.asarray(lon, dtype=np.float32).tobytes(),
        "stream_id": stream_id,
        "full": full,
        "sent_at": time.time(),
    }
    if scope is not None:
        message["scope"] = scope
    return message


def incident_for(viewer: access.HasRole | None, message: dict[str, Any]) -> dict[str, Any]:
    """An incident message cut to what the viewer may receive (no person fields for a wall)."""
    if viewer is None:
        return message
    return {**message, "incident": access.record_view(viewer, message["incident"])}


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
        pseudonyms: Pseudonyms | None = None,
        accounts_changed: AccountsChanged | None = None,
    ) -> None:
        self._socketio = socketio
        self._feed_report = feed_report
        self._redis = client
        self._log = event_log
        self._tick = tick_seconds
        self._buffer = PositionBuffer()
        self._pseudonyms = pseudonyms or Pseudonyms()
        self._accounts_changed = accounts_changed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._followers: dict[str, list[StreamFollower]] = {}
        self._tickers: list[TickListener] = []
        self.sent_incidents = 0
        self.sent_position_messages = 0

    def follow(self, stream: str, on_event: StreamFollower) -> None:
        """Also tail ``stream``: ``on_event(entry_id, event)`` is called (on the tail
        thread) for each new entry, after the gateway's own handling. Call before ``start``."""
        self._followers.setdefault(stream, []).append(on_event)

    def on_tick(self, listener: TickListener) -> None:
        """``listener(rooms)`` is called every tick with the rooms that have someone in
        them (on the tick thread): the place to push what was buffered since the last."""
        self._tickers.append(listener)

    def emit_per_room(self, event: str, message_for: Callable[[str], Any], rooms: Iterable[str] | None = None) -> int:
        """Send ``event`` to each room in use (or those given) with ``message_for(room)``;
        a room for which it returns None gets nothing. How many were sent."""
        sent = 0
        for room in (self._rooms_in_use() if rooms is None else rooms):
            message = message_for(room)
            if message is not None:
                self._socketio.emit(event, message, namespace=NAMESPACE, to=room)
                sent += 1
        return sent

    def start(self) -> None:
        cursors = {
            keys.INCIDENT_STREAM: self._log.last_id(keys.INCIDENT_STREAM),
            keys.POSITION_STREAM: self._log.last_id(keys.POSITION_STREAM),
        }
        for stream in self._followers:
            cursors.setdefault(stream, self._log.last_id(stream))
        targets: list[tuple[Callable[[], None], str]] = [
            (lambda: self._tail(cursors), "gateway-tail"), (self._ticker, "gateway-tick")]
        if self._accounts_changed is not None:
            targets.append((self._watch_accounts, "gateway-accounts"))
        for target, name in targets:
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
                    for follower in self._followers.get(stream, ()):
                        try:
                            follower(entry_id, event)
                        except Exception:  # one follower's bug must not stop the tail
                            log.exception("stream follower failed on %s %s", stream, entry_id)

    def push_incident(self, incident: dict[str, Any], event_type: str, stream_id: str) -> None:
        message = incident_message(incident, event_type, stream_id)
        regions = incident_regions(incident)
        full_rooms = [ALL]
        for room in self._rooms_in_use():
            viewer, room_region = room_viewer(room)
            if room_region is not None and not access.in_scope(room_region, regions):
                continue
            if viewer is None:
                if room != ALL:
                    full_rooms.append(room)
            else:
                self._socketio.emit("incident", incident_for(viewer, message), namespace=NAMESPACE, to=room)
        # Each socket is in one room: one emit to all the full-field rooms sends it once each.
        self._socketio.emit("incident", message, namespace=NAMESPACE, to=full_rooms)
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
        for listener in self._tickers:
            try:
                listener(listening)
            except Exception:
                log.exception("tick listener failed")
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
        return {room for room, members in rooms.items() if room and members and is_shared_room(room)}

    def _flush(self, latest: dict[str, tuple[float, float, str | None]], stream_id: str, listening: set[str]) -> None:
        ids = list(latest)
        values = list(latest.values())
        lat = np.fromiter((v[0] for v in values), dtype=np.float32, count=len(values))
        lon = np.fromiter((v[1] for v in values), dtype=np.float32, count=len(values))
        regions = np.array([v[2] or "" for v in values], dtype=object)
        masks: dict[str, np.ndarray] = {}
        for room in listening:
            viewer, region = room_viewer(room)
            if region is None:
                room_ids, room_lat, room_lon = ids, lat, lon
            else:
                if region not in masks:  # a person is in one region: those of the room's regions
                    masks[region] = np.isin(regions, sorted(access.scope_regions(region) or ()))
                mask = masks[region]
                if not mask.any():
                    continue
                room_ids = [i for i, m in zip(ids, mask) if m]
                room_lat, room_lon = lat[mask], lon[mask]
            if not receives_ids(viewer):
                room_ids = self._pseudonyms.many(room_ids)
            self._emit_positions(positions_message(room_ids, room_lat, room_lon, stream_id, False), room)

    def _emit_positions(self, message: dict[str, Any], room: str) -> None:
        self._socketio.emit("positions", message, namespace=NAMESPACE, to=room)
        self.sent_position_messages += 1

    def _watch_accounts(self) -> None:
        """Re-check the sockets of an account named on ACCOUNT_CHANGES at once; all of
        them after (re)subscribing and every heartbeat, for messages that were missed."""
        assert self._accounts_changed is not None
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(keys.ACCOUNT_CHANGES)
            self._accounts_changed(None, None)
            next_check = time.monotonic() + HEARTBEAT_SECONDS
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=max(0.05, min(1.0, next_check - time.monotonic())))
                if message and message.get("type") == "message":
                    kind, name = _account_change(message.get("data"))
                    if name is not None:
                        self._accounts_changed(name, kind)
                if time.monotonic() >= next_check:
                    self._accounts_changed(None, None)
                    next_check = time.monotonic() + HEARTBEAT_SECONDS
        finally:
            pubsub.close()


def is_shared_room(room: str) -> bool:
    """A room the gateway pushes to (not one of the per-client rooms Socket.IO keeps by sid)."""
    return room == ALL or room.startswith("region:") or room.startswith(VIEW_PREFIX)


def _account_change(data: Any) -> tuple[str | None, str | None]:
    """(kind, name) of an ACCOUNT_CHANGES message; (None, None) when it is not one."""
    try:
        body = json.loads(data)
    except (TypeError, ValueError):
        log.warning("ignored a malformed account change message: %r", str(data)[:200])
        return None, None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return None, None
    kind = body.get("kind")
    return (kind if isinstance(kind, str) else None), body["name"]


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
