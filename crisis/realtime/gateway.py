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
import socketio
from engineio import packet as eio_packet
from flask_socketio import SocketIO
from socketio import packet as sio_packet

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog, decode
from crisis.adapters.storage_health import StorageHealth, is_storage_error
from crisis.domain import access
from crisis.domain import events as ev
from crisis.feeds.health import report_for
from crisis.layers.incidents import incident_message

log = logging.getLogger(__name__)

NAMESPACE = "/live"
ALL = "all"
VIEW_PREFIX = "view:"
HEARTBEAT_SECONDS = 5.0
STORAGE_RETRY_SECONDS = 0.5  # a tail thread whose Redis is down tries again this often (H1)
STORAGE_WARN_EVERY_SECONDS = 30.0  # and says so in the log at most this often
PRIMARY_CHECK_SECONDS = 1.0  # the tail asks which Redis server it reads (INFO run_id) this often

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

    # H1 (issue 10): whether Redis answers, carried by the heartbeat (set by crisis.web)
    storage: StorageHealth | None = None
    _storage_shown: dict[str, Any] | None = None
    # Called (on the tail thread) when the tail finds another Redis server than before (a
    # Sentinel failover, a restart): every client's picture is replaced (set by crisis.web).
    primary_changed: Callable[[], object] | None = None
    _primary: str | None = None
    _primary_checked = float("-inf")

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
        self._primary_listeners: list[Callable[[], object]] = []
        self._cursors: dict[str, str] | None = None  # the tail's: where it reads each stream from
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

    def on_primary_change(self, listener: Callable[[], object]) -> None:
        """``listener()`` is called (on the tail thread) when the tail finds another Redis
        server than before, before every client's picture is replaced (``primary_changed``):
        the place to drop what a process keeps in memory from the old server."""
        self._primary_listeners.append(listener)

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
        self._cursors = cursors
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
            self.check_primary()
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

    def check_primary(self, every: float = PRIMARY_CHECK_SECONDS) -> bool:
        """Whether the server the tail reads has changed since the last look (at most one
        INFO every ``every`` s); if so ``primary_changed`` is called. Issue 10: an entry the
        old primary stored and this tail pushed at once may never have reached the replica
        promoted in its place (its WAIT failed: a 503, retried, perhaps under a new id); a
        resync from a stream id only adds, so the clients must get a whole new picture."""
        now = time.monotonic()
        if now - self._primary_checked < every:
            return False
        run_id = str(self._redis.info("server").get("run_id") or "")
        self._primary_checked = now
        changed = self._primary is not None and run_id != self._primary
        if changed:
            log.warning("the live tail reads another Redis server now (run_id %s, was %s): every client resyncs in full",
                        run_id[:12], (self._primary or "")[:12])
            self._rewind_cursors()
            for listener in self._primary_listeners:
                listener()  # raises (Redis down): the next look calls them again
            if self.primary_changed is not None:
                self.primary_changed()  # raises (Redis down): the next look calls it again
        self._primary = run_id
        return changed

    def _rewind_cursors(self) -> None:
        """A cursor past the new server's last entry stands on an entry only the old one had:
        reading after it would skip the new server's entries up to that id (XADD ids follow
        the clock, not a promise). It goes back to the new last entry; what lies before is
        in the pictures sent next (snapshots, the reloaded people picture)."""
        if self._cursors is None:
            return
        for stream, cursor in self._cursors.items():
            last = self._log.last_id(stream)
            if stream_key(cursor) > stream_key(last):
                self._cursors[stream] = last

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
        flush_lagging = getattr(self._socketio.server.manager, "flush_lagging", None)
        if flush_lagging is not None:  # a BoundedManager: coalesced positions of lagging clients (H6)
            flush_lagging(NAMESPACE)
        storage = self.storage.state() if self.storage is not None else {}
        # H1: while storage is down the listeners (which read Redis) wait, so that the
        # heartbeat saying so is not held up by their time-outs.
        for listener in self._tickers if storage.get("storage", "ok") == "ok" else ():
            try:
                listener(listening)
            except Exception as exc:
                if not is_storage_error(exc):  # Redis down: the heartbeat says so; no traceback per tick
                    log.exception("tick listener failed")
        if time.monotonic() >= next_heartbeat or storage != self._storage_shown:
            if listening:
                # Lets an idle page tell "nothing happened" from "the server is gone", and
                # (sent at once when it changes) whether storage answers: the page's banner.
                self._socketio.emit("heartbeat", {"time": time.time(), **storage}, namespace=NAMESPACE)
                self._storage_shown = storage
                if self._feed_report is not None and storage.get("storage", "ok") == "ok":
                    report = self._feed_report()
                    for room in listening:  # each room as its viewer may read it: error texts for duty officers only
                        self._socketio.emit("feeds", report_for(access_viewer(room), report), to=room, namespace=NAMESPACE)
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
        warned_at = float("-inf")
        while not stop.is_set():
            try:
                target()
            except Exception as exc:  # noqa: BLE001 - a push thread must outlive any one failure
                if stop.is_set():
                    return
                if is_storage_error(exc):
                    # Redis down, stalled or restarting (H1): try again soon; the tail resumes
                    # from its cursors (the last id it handled), so nothing is skipped.
                    if time.monotonic() - warned_at >= STORAGE_WARN_EVERY_SECONDS:
                        log.warning("live gateway thread %s: storage unavailable (%s: %s); retrying every %.1f s",
                                    threading.current_thread().name, type(exc).__name__, exc, STORAGE_RETRY_SECONDS)
                        warned_at = time.monotonic()
                    stop.wait(STORAGE_RETRY_SECONDS)
                    continue
                log.exception("live gateway thread failed; restarting in 1 s")
                stop.wait(1.0)

    return run


# -- slow clients: a bounded backlog per socket (H6, issue 10) ----------------------------

# Pushes a lagging client can do without: the next one says the same, newer.
SKIPPABLE_WHEN_LAGGING = frozenset({"heartbeat", "feeds"})
# Pushes that a "sync" replays from the log (namespace.LiveNamespace.on_sync).
REPLAYABLE = frozenset({"incident", "positions"})
RESYNC_REPEAT_SECONDS = 5.0  # a client told to resync that has not: told again this often
MAX_COALESCED_POSITIONS = 200_000  # per lagging client; more: it resyncs (a positions snapshot) instead


def stream_key(stream_id: str | None) -> tuple[int, int]:
    """A Redis stream id ("ms-seq") as a tuple that sorts like the ids."""
    ms, _, seq = (stream_id or "0-0").partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


@dataclass
class _Coalesced:
    """Positions held back from a lagging client: the latest per traveller."""

    eio_sid: str
    latest: dict[str, tuple[float, float]]
    stream_id: str


class _Behind:
    """A client told to resync: its replayable pushes are dropped until it sends ``sync``,
    and held while that sync reads the log (``begin_sync``/``end_sync``), so that nothing
    falls between the replay and the live pushes that follow it."""

    def __init__(self, eio_sid: str) -> None:
        self.eio_sid = eio_sid
        self.lock = threading.Lock()
        self.holding = False
        self.done = False
        self.held: list[tuple[str, Any]] = []
        self.told_at = time.monotonic()


class BoundedManager(socketio.Manager):  # type: ignore[misc]
    """Socket.IO's in-memory client manager, with a bounded backlog per client.

    Each socket's outgoing queue (Engine.IO's, drained by its writer) is looked at before
    a push to a shared room is queued for it:

    - ``lag_packets`` or more waiting: the client is lagging. Its ``positions`` are
      coalesced (the latest per traveller, held here and sent as one message when its
      queue is short again, at the next tick); ``heartbeat`` and ``feeds`` are skipped.
    - ``max_backlog`` or more waiting when an ``incident`` is due: the client is too far
      behind. It gets one ``resync`` message (queued after what it has not read yet) and
      no more incidents or positions until it sends ``sync``, which replays from its last
      stream id (``begin_sync``/``end_sync`` around it hold the live pushes meanwhile).

    Incidents are never dropped without the client being told to resync; the other pushes
    (areas, people, roster...) are always queued. Messages sent to one client (its sync
    answer) are never held back. A client that does not read at all stops answering
    Engine.IO's pings and is disconnected by Engine.IO (ping_interval + ping_timeout).
    """

    def __init__(self, lag_packets: int = 32, max_backlog: int = 400) -> None:
        super().__init__()
        self.lag_packets = max(1, lag_packets)
        self.max_backlog = max(self.lag_packets + 1, max_backlog)
        self._behind: dict[str, _Behind] = {}
        self._coalesced: dict[str, _Coalesced] = {}
        self._state_lock = threading.Lock()
        # The packets of one message (a binary one is a header and its attachments) are
        # queued together: one thread's message must not land between another's packets,
        # which the client would read as an unexpected attachment.
        self._send_lock = threading.RLock()
        self.resyncs_sent = 0
        self.positions_coalesced = 0

    def initialize(self) -> None:
        super().initialize()
        send_one = self.server._send_eio_packet

        def send_locked(eio_sid: str, pkt: Any) -> None:
            with self._send_lock:
                send_one(eio_sid, pkt)

        self.server._send_eio_packet = send_locked  # every packet, also acks and connects
        # The server's own sends (the answer to an event with an acknowledgement, such as a
        # client's ``sync``; an emit with a callback) go straight to Engine.IO, not through
        # _send_eio_packet: under the same lock, all the packets of one message together, or
        # one of them lands between a binary message's header and its attachments (found by
        # the soak: a client's "positions" took the text of another message as its latitudes).
        send_message = self.server._send_packet

        def send_message_locked(eio_sid: str, pkt: Any) -> None:
            with self._send_lock:
                send_message(eio_sid, pkt)

        self.server._send_packet = send_message_locked

    # -- the per-client backlog ----------------------------------------------------------

    def backlog(self, eio_sid: str) -> int:
        """Messages queued for this Engine.IO socket and not yet taken by its writer."""
        sock = self.server.eio.sockets.get(eio_sid)
        queue = getattr(sock, "queue", None)
        try:
            return int(queue.qsize()) if queue is not None else 0
        except NotImplementedError:  # pragma: no cover - a queue without qsize
            return 0

    def is_behind(self, sid: str) -> bool:
        return sid in self._behind

    # -- emit ----------------------------------------------------------------------------

    def emit(self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None,
             callback: Any = None, to: Any = None, **kwargs: Any) -> None:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
            return
        shared = _shared(room)
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        packets: list[Any] | None = None
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip or (shared and not self._admit(sid, eio_sid, event, data, namespace)):
                continue
            if packets is None:
                packets = self._packets(event, data, namespace)
            self._send_packets(eio_sid, packets)

    def _send_packets(self, eio_sid: str, packets: list[Any]) -> None:
        with self._send_lock:
            for p in packets:
                self.server._send_eio_packet(eio_sid, p)

    def _packets(self, event: str, data: Any, namespace: str) -> list[Any]:
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event] + args).encode()
        return [eio_packet.Packet(eio_packet.MESSAGE, p) for p in (encoded if isinstance(encoded, list) else [encoded])]

    def _send_to(self, eio_sid: str, event: str, data: Any, namespace: str) -> None:
        self._send_packets(eio_sid, self._packets(event, data, namespace))

    def _admit(self, sid: str, eio_sid: str, event: str, data: Any, namespace: str) -> bool:
        """Whether to queue this shared push for this client now (else: held, coalesced or skipped)."""
        behind = self._behind.get(sid)
        if behind is not None and event in REPLAYABLE and self._hold(behind, event, data):
            return False
        if event in SKIPPABLE_WHEN_LAGGING:
            return self.backlog(eio_sid) < self.lag_packets
        if event == "positions" and isinstance(data, dict) and not data.get("full"):
            if sid in self._coalesced or self.backlog(eio_sid) >= self.lag_packets:
                self._coalesce(sid, eio_sid, data, namespace)
                return False
            return True
        if event == "incident" and self.backlog(eio_sid) >= self.max_backlog:
            self._fall_behind(sid, eio_sid, namespace)
            return False
        return True

    @staticmethod
    def _hold(behind: _Behind, event: str, data: Any) -> bool:
        with behind.lock:
            if behind.done:
                return False
            if behind.holding:
                behind.held.append((event, data))
            return True

    def _coalesce(self, sid: str, eio_sid: str, data: dict[str, Any], namespace: str) -> None:
        lat = np.frombuffer(data["lat"], dtype=np.float32)
        lon = np.frombuffer(data["lon"], dtype=np.float32)
        with self._state_lock:
            found = self._coalesced.get(sid)
            if found is None:
                found = self._coalesced[sid] = _Coalesced(eio_sid, {}, data["stream_id"])
            for tid, a, o in zip(data["ids"], lat.tolist(), lon.tolist()):
                found.latest[tid] = (a, o)
            found.stream_id = data["stream_id"]
            too_many = len(found.latest) > MAX_COALESCED_POSITIONS
        self.positions_coalesced += len(data["ids"])
        if too_many:
            self._fall_behind(sid, eio_sid, namespace)

    def _fall_behind(self, sid: str, eio_sid: str, namespace: str) -> None:
        with self._state_lock:
            if sid in self._behind:
                return
            self._behind[sid] = _Behind(eio_sid)
            self._coalesced.pop(sid, None)  # the sync sends the positions it missed
        self.resyncs_sent += 1
        log.info("live client %s is %d messages behind: told to resync", sid, self.backlog(eio_sid))
        self._send_to(eio_sid, "resync", {"reason": "behind"}, namespace)

    # -- the tick: coalesced positions out, resync reminders -------------------------------

    def flush_lagging(self, namespace: str = NAMESPACE) -> int:
        """Send each lagging client whose queue is short again its coalesced positions (one
        message), and remind a client told to resync long ago. How many were sent."""
        sent = 0
        now = time.monotonic()
        with self._state_lock:
            ready = [(sid, c) for sid, c in self._coalesced.items() if self.backlog(c.eio_sid) < self.lag_packets]
            for sid, _ in ready:
                del self._coalesced[sid]
            remind = [b for b in self._behind.values()
                      if not b.holding and now - b.told_at >= RESYNC_REPEAT_SECONDS
                      and self.backlog(b.eio_sid) < self.lag_packets]
        for sid, c in ready:
            ids = list(c.latest)
            values = list(c.latest.values())
            self._send_to(c.eio_sid, "positions", positions_message(
                ids, [v[0] for v in values], [v[1] for v in values], c.stream_id, False), namespace)
            sent += 1
        for behind in remind:
            behind.told_at = now
            self._send_to(behind.eio_sid, "resync", {"reason": "behind"}, namespace)
            sent += 1
        return sent

    # -- a resync (called by the namespace's sync handler) ---------------------------------

    def expect_sync(self, sid: str, eio_sid: str) -> None:
        """``sid`` has just connected and says it will sync (a reconnection catching up from
        its last stream id, or a page asking for its snapshot): until it does, its live
        incidents and positions are dropped (the sync's replay or snapshot reads the log
        after them), and they are held while its sync runs, so that a reconnecting client
        gets what it missed before what is new, in stream order. Not told to resync: it
        already will; reminded like any client behind if it does not."""
        with self._state_lock:
            self._behind.setdefault(sid, _Behind(eio_sid))

    def begin_sync(self, sid: str) -> None:
        """A sync of ``sid`` starts: if it was behind, hold its live pushes from now on."""
        behind = self._behind.get(sid)
        if behind is not None:
            with behind.lock:
                behind.holding = True
                behind.held = []

    def end_sync(self, sid: str, namespace: str, stream_id: str | None, positions_id: str | None) -> None:
        """The sync of ``sid`` sent the log up to ``stream_id`` (incidents) and
        ``positions_id``: send what was held that is newer, and follow live again."""
        behind = self._behind.get(sid)
        if behind is None:
            return
        with behind.lock:
            incidents_to, positions_to = stream_key(stream_id), stream_key(positions_id)
            for event, data in behind.held:
                newer = stream_key(data.get("stream_id")) > (incidents_to if event == "incident" else positions_to)
                if newer:
                    self._send_to(behind.eio_sid, event, data, namespace)
            behind.held = []
            behind.done = True
            with self._state_lock:
                self._behind.pop(sid, None)

    def abort_sync(self, sid: str) -> None:
        """The sync of ``sid`` failed: drop what was held; it stays behind (told again later)."""
        behind = self._behind.get(sid)
        if behind is not None:
            with behind.lock:
                behind.holding = False
                behind.held = []

    def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> Any:
        with self._state_lock:
            self._behind.pop(sid, None)
            self._coalesced.pop(sid, None)
        return super().disconnect(sid, namespace, **kwargs)


def _shared(room: Any) -> bool:
    """Whether an emit goes to shared rooms (a broadcast, or rooms of ``is_shared_room``)."""
    if room is None:
        return True
    if isinstance(room, str):
        return is_shared_room(room)
    return all(isinstance(r, str) and is_shared_room(r) for r in room)
