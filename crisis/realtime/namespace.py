"""The /live Socket.IO namespace: who may connect, which room they join, and resync.

A client authenticates with its session cookie or with ``{"token": ...}`` as the connect
auth payload; a browser page must also come from the app's own origin (or one of
``CRISIS_ALLOWED_ORIGINS``: see ``origin_check``). It joins the one room that says what
it may receive (``gateway.room_for``: its region, and for a wall no one's identity).

After connecting it sends ``sync`` with ``{"last_id", "positions_id", "scope"}`` (each
optional): the last incident stream id it applied, the last positions stream id it
applied, and the ``scope`` its picture was built for (from its last ``snapshot``). The
server answers with the incidents it missed (replayed from the log) or, when that id was
trimmed away, unknown, too far behind, or of another scope, a full ``snapshot``; with
the positions changed since ``positions_id`` (the latest per traveller) when that is
recent, else a full positions snapshot; and the feeds' health. The ack sums it up:
``{"mode", "stream_id", "positions", "positions_id", "scope"}``. A later sync on the
same connection resumes from what that connection was already sent (everything after
reached it live, in order, on the same connection): asking again costs only what is new,
never the whole picture again.

A client that connects with ``"sync": true`` in its auth payload (the pages do; a
reconnecting API watcher should) says it syncs next: until its sync has answered it gets
no live incident or positions (``BoundedManager.expect_sync``), so after a reconnection
what it missed comes first and everything arrives in stream order. Without it, live
pushes start at once and a replay asked for later may bring older entries after them.

Every event a client sends is rate-limited per connection (a token bucket of
``socket_events_per_second``, bursts of ``socket_event_burst``): over the limit the ack
is ``{"error": "rate limited", "retry_after": seconds}`` and nothing is done. A malformed
``sync`` is answered ``{"error": "invalid sync", "errors": [{"field", "message"}],
"dead_letter_id"}`` and kept in the dead-letter stream.

Open sockets follow their account (``recheck``, driven by the gateway): a socket whose
token was revoked, or whose user was removed, disabled or signed out everywhere, is
disconnected; one whose role or region changed moves to its new room and gets a fresh
picture (``welcome``, ``snapshot`` and full ``positions``) of its new scope at once.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace
from socketio import packet as sio_packet

from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.bootstrap import Context, secret_key
from crisis.domain import access
from crisis.domain import events as ev
from crisis.domain.serialize import incident_to_dict
from crisis.feeds.health import report_for
from crisis.layers.incidents import incident_message
from crisis.realtime.gateway import (
    NAMESPACE, FeedReport, Pseudonyms, incident_for, incident_regions, positions_message, receives_ids, room_for,
    room_viewer,
)

REPLAY_LIMIT = 5000
# A positions resync sends only what changed when the client is at most this many stream
# entries behind, and those entries hold fewer positions than this (else a snapshot,
# which costs one read of every traveller's latest position, is cheaper).
POSITIONS_DELTA_MAX_ENTRIES = 64
POSITIONS_DELTA_MAX_POSITIONS = 20_000
_DELTA_CHUNK = 8

SYNC_FIELDS = ("last_id", "positions_id", "scope")
_STREAM_ID = re.compile(r"(\d{1,20})-(\d{1,20})")
_MAX_SCOPE = 200
MAX_BODY = 256 * 1024  # of a rejected argument, kept in the dead letter


# -- origin ------------------------------------------------------------------------------


def _own_origins(environ: Mapping[str, Any]) -> set[str]:
    """The app's own origin as engineio computes it by default: scheme and Host, and the
    same through X-Forwarded-Proto / X-Forwarded-Host behind a proxy."""
    found: set[str] = set()
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = environ.get("HTTP_HOST")
    if host:
        found.add(f"{scheme}://{host}".lower())
    if "HTTP_X_FORWARDED_PROTO" in environ or "HTTP_X_FORWARDED_HOST" in environ:
        fwd_scheme = str(environ.get("HTTP_X_FORWARDED_PROTO", scheme)).split(",")[0].strip()
        fwd_host = str(environ.get("HTTP_X_FORWARDED_HOST", host or "")).split(",")[0].strip()
        if fwd_host:
            found.add(f"{fwd_scheme}://{fwd_host}".lower())
    return found


def origin_check(allowed_origins: Iterable[str] = ()) -> Callable[[str | None, Mapping[str, Any]], bool]:
    """``cors_allowed_origins`` for engineio: a browser's request is accepted from the
    app's own origin and from ``allowed_origins`` (CRISIS_ALLOWED_ORIGINS) only. A request
    without Origin (not a browser: python-socketio, curl) is not a cross-site one and
    stays allowed; engineio does not even ask then."""
    extra = {o.strip().rstrip("/").lower() for o in allowed_origins if o.strip()}

    def allowed(origin: str | None, environ: Mapping[str, Any]) -> bool:
        if not origin:
            return True
        origin = origin.strip().rstrip("/").lower()
        return origin in extra or origin in _own_origins(environ)

    return allowed


# -- packets whose JSON cannot be read ---------------------------------------------------


class MalformedArgument:
    """Stands for the argument of an event whose JSON could not be read (nested too
    deep, a number too large, a syntax error): the handler answers it as invalid and
    dead-letters it, instead of the packet failing inside Socket.IO with no answer."""

    def __init__(self, reason: str, raw: str) -> None:
        self.reason = reason
        self.raw = raw[:MAX_BODY]

    def __repr__(self) -> str:
        return f"MalformedArgument({self.reason!r})"


_EVENT_JSON = re.compile(r"2(?:/[^,]*,)?\d*(\[\s*\"([A-Za-z0-9_.:-]{1,64})\".*)", re.S)


class TolerantPacket(sio_packet.Packet):
    """Socket.IO packets (``serializer=`` of the server), but an event whose arguments
    are not readable JSON still reaches its handler, with one MalformedArgument."""

    def decode(self, encoded_packet: Any) -> Any:
        try:
            return super().decode(encoded_packet)
        except (ValueError, RecursionError) as exc:
            match = _EVENT_JSON.fullmatch(encoded_packet) if isinstance(encoded_packet, str) else None
            if match is None or self.packet_type != sio_packet.EVENT:
                raise
            reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:200]
            self.data = [match.group(2), MalformedArgument(f"unreadable JSON: {reason}", match.group(1))]
            return 0


# -- rate limit --------------------------------------------------------------------------


class TokenBucket:
    """``rate`` events per second, bursts of ``burst``. Thread-safe."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = max(rate, 1e-6)
        self._burst = max(float(burst), 1.0)
        self._tokens = self._burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when the event may go ahead (one token taken); else the seconds to wait."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._rate


# -- sync argument -----------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _valid_stream_id(value: str) -> bool:
    match = _STREAM_ID.fullmatch(value)
    return match is not None and all(int(part) < 2**64 for part in match.groups())


def parse_sync(args: tuple[Any, ...]) -> tuple[dict[str, str | None], list[dict[str, str]]]:
    """The ``sync`` argument checked: (its fields, []) or ({}, what was wrong and where)."""
    if len(args) > 1:
        return {}, [{"field": "", "message": f"sync takes one argument (an object), not {len(args)}"}]
    data = args[0] if args else None
    if data is None:
        return {name: None for name in SYNC_FIELDS}, []
    if isinstance(data, MalformedArgument):
        return {}, [{"field": "", "message": data.reason}]
    if not isinstance(data, dict):
        return {}, [{"field": "", "message": f"must be an object, not {_json_type(data)}"}]
    errors: list[dict[str, str]] = []
    for name in data:
        if name not in SYNC_FIELDS:
            errors.append({"field": str(name)[:100], "message": f"unknown field (expected {', '.join(SYNC_FIELDS)})"})
    for name in ("last_id", "positions_id"):
        value = data.get(name)
        if value is not None and not (isinstance(value, str) and _valid_stream_id(value)):
            errors.append({"field": name, "message": f"must be a stream id like \"1700000000000-0\" or null, "
                                                    f"not {_json_type(value)}"
                                                    + (f" {value[:40]!r}" if isinstance(value, str) else "")})
    scope = data.get("scope")
    if scope is not None and not (isinstance(scope, str) and len(scope) <= _MAX_SCOPE):
        errors.append({"field": "scope", "message": f"must be a string of at most {_MAX_SCOPE} characters or null"})
    if errors:
        return {}, errors
    return {name: data.get(name) for name in SYNC_FIELDS}, []


def _newest(a: str | None, b: str | None) -> str | None:
    """The later of two stream ids (either may be None)."""
    if a is None or b is None:
        return a or b
    return max(a, b, key=lambda i: tuple(int(p) for p in i.split("-", 1)))


def _body(args: tuple[Any, ...]) -> str:
    value: Any = args[0] if len(args) == 1 else list(args)
    if isinstance(value, MalformedArgument):
        return value.raw
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:MAX_BODY]



# -- the namespace -----------------------------------------------------------------------


@dataclass
class Connection:
    """One open socket: who it is now, the room it is in, its event budget."""

    principal: Principal
    room: str
    bucket: TokenBucket
    # Held while a picture is computed and sent, and while the socket is re-scoped, so a
    # sync of the old scope can never be sent after the new scope's picture.
    lock: threading.RLock = field(default_factory=threading.RLock)
    closed: bool = False
    # What this connection was already sent of its room's picture: the incident and
    # positions stream ids its last sync (or re-scope) brought it up to. Everything later
    # reaches it live, on this same connection, so a later sync on it resumes from there.
    sent_incidents: str | None = None
    sent_positions: str | None = None


class LiveNamespace(Namespace):
    def __init__(self, context: Context, feed_report: FeedReport | None = None,
                 pseudonyms: Pseudonyms | None = None) -> None:
        super().__init__(NAMESPACE)
        settings = context.settings
        self._feed_report = feed_report
        self._accounts = context.accounts
        self._log = context.deps.log
        self._incidents = context.deps.incidents
        self._positions = context.deps.positions
        self._feed_log = context.feed_log
        self._audit = context.audit
        self._rate = settings.socket_events_per_second
        self._burst = settings.socket_event_burst
        self.pseudonyms = pseudonyms or Pseudonyms(secret_key(settings))
        self._conns: dict[str, Connection] = {}
        self._snapshots: dict[tuple[str, str], tuple[str, Any]] = {}  # (kind, room) -> (head, snapshot)
        self._conns_lock = threading.Lock()
        # The live people picture (crisis.realtime.people.PeopleLive), set by create_app:
        # answers "affected" and "people" for a page opened later.
        self.people: Any = None

    # -- connect / disconnect ------------------------------------------------------------

    def _authenticate(self, auth: Any) -> Principal | None:
        if isinstance(auth, dict) and auth.get("token"):
            return self._accounts.token(str(auth["token"]))
        if current_user.is_authenticated:
            return current_user.principal  # type: ignore[no-any-return]
        return None

    def on_connect(self, auth: Any = None) -> None:
        principal = self._authenticate(auth)
        if principal is None:
            raise ConnectionRefusedError("authentication required: log in, or connect with auth={'token': ...}")
        try:
            room = room_for(principal)
        except PermissionError:
            reason = (f"user {principal.name} has no region assigned" if principal.role == "regional_desk"
                      else f"role {principal.role} may not read the live picture")
            self._audit.record("access.denied", actor=principal.name, role=principal.role, via="socket",
                               remote=request.remote_addr or "", target=NAMESPACE, detail={"reason": reason})
            raise ConnectionRefusedError(reason) from None
        sid = request.sid  # type: ignore[attr-defined]
        with self._conns_lock:
            self._conns[sid] = Connection(principal, room, TokenBucket(self._rate, self._burst))
        manager = self.socketio.server.manager
        if isinstance(auth, dict) and auth.get("sync") is True and hasattr(manager, "expect_sync"):
            # It syncs next (``sync``): no live incident before what it missed (BoundedManager).
            manager.expect_sync(sid, manager.eio_sid_from_sid(sid, NAMESPACE))
        self.socketio.server.enter_room(sid, room, namespace=NAMESPACE)
        self._send("welcome", self._welcome(principal, room), sid)

    def on_disconnect(self, reason: Any = None) -> None:
        sid = request.sid  # type: ignore[attr-defined]
        with self._conns_lock:
            conn = self._conns.pop(sid, None)
        if conn is not None:
            with conn.lock:
                conn.closed = True

    @staticmethod
    def _welcome(principal: Principal, room: str) -> dict[str, Any]:
        granted = access.regions_of(principal)
        return {"user": principal.name, "role": principal.role, "region": principal.region,
                "regions": None if granted is None else sorted(granted), "scope": room}

    # -- every event: rate limit ---------------------------------------------------------

    def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect") or not args:
            return super().trigger_event(event, *args)
        conn = self._conns.get(args[0])
        if conn is None:
            return {"error": "not connected"}
        wait = conn.bucket.take()
        if wait > 0:
            return {"error": "rate limited", "retry_after": math.ceil(wait * 100) / 100}
        return super().trigger_event(event, *args)

    # -- sync ----------------------------------------------------------------------------

    def on_sync(self, *args: Any) -> dict[str, Any]:
        """Replay what the client missed, or send a snapshot. Returns a summary (ack)."""
        sid = request.sid  # type: ignore[attr-defined]
        conn = self._conns.get(sid)
        if conn is None:
            return {"error": "not connected"}
        wanted, errors = parse_sync(args)
        if errors:
            dead_letter_id = self._feed_log.rejected("socket:sync", errors, _body(args),
                                                     {"actor": conn.principal.name})
            return {"error": "invalid sync", "errors": errors, "dead_letter_id": dead_letter_id}
        with conn.lock:
            if conn.closed:
                return {"error": "not connected"}
            # Ids from a picture of another scope (the account changed while the client was
            # away) are worth nothing here: it gets the whole picture of its scope.
            same_scope = wanted["scope"] is None or wanted["scope"] == conn.room
            last_id = _newest(wanted["last_id"] if same_scope else None, conn.sent_incidents)
            positions_id = _newest(wanted["positions_id"] if same_scope else None, conn.sent_positions)
            # A client told to "resync" (too far behind: gateway.BoundedManager): its live pushes
            # are held while the log is read, then those newer than what was replayed follow.
            manager = self.socketio.server.manager
            bounded = hasattr(manager, "begin_sync")
            if bounded:
                manager.begin_sync(sid)
            try:
                ack = self._send_picture(sid, conn, last_id, positions_id)
            except BaseException:
                if bounded:
                    manager.abort_sync(sid)
                raise
            if bounded:
                manager.end_sync(sid, NAMESPACE, ack["stream_id"], ack["positions_id"])
            return ack

    def resync_all(self) -> int:
        """Replace every open socket's picture with a snapshot (``"reset": true``: drop all
        of the old one). Called when the server behind the log changed (``Gateway.
        primary_changed``): what a client holds may include entries the new primary never
        had, which a replay from its stream id would never take away. How many were sent."""
        self._snapshots.clear()  # computed on the old server
        with self._conns_lock:
            conns = list(self._conns.items())
        sent = 0
        for sid, conn in conns:
            with conn.lock:
                if not conn.closed:
                    self._send_picture(sid, conn, None, None, reset=True)
                    sent += 1
        return sent

    def _send_picture(self, sid: str, conn: Connection, last_id: str | None, positions_id: str | None,
                      reset: bool = False) -> dict[str, Any]:
        """Send ``sid`` what it missed of its room's picture (all of it without ids)."""
        viewer, region = room_viewer(conn.room)
        head = self._log.last_id(keys.INCIDENT_STREAM)
        mode = "snapshot"
        if last_id and self._log.covers(keys.INCIDENT_STREAM, last_id):
            missed = self._log.read_after(keys.INCIDENT_STREAM, last_id, REPLAY_LIMIT)
            if len(missed) < REPLAY_LIMIT:
                mode = "replay"
                for event in missed:
                    incident = event.payload["incident"]
                    if access.in_scope(region, incident_regions(incident)):
                        message = incident_message(incident, event.type, event.id or "")
                        self._send("incident", incident_for(viewer, message), sid)
        if mode == "snapshot":
            incidents = self._cached("incidents", conn.room, head, lambda: [
                incident_for(viewer, incident_message(incident_to_dict(i), "snapshot", head))
                for i in self._incidents.all()
                if access.in_scope(region, i.regions)
            ])
            snapshot = {"incidents": incidents, "stream_id": head, "scope": conn.room}
            self._send("snapshot", {**snapshot, "reset": True} if reset else snapshot, sid)

        delta = self._positions_since(positions_id, region) if positions_id else None
        if delta is not None:
            positions_mode = "delta"
            ids, lat, lon, positions_head = delta
            if ids:
                if not receives_ids(viewer):
                    ids = self.pseudonyms.many(ids)
                self._send("positions", positions_message(ids, lat, lon, positions_head, False), sid)
        else:
            positions_mode = "snapshot"
            positions_head = self._log.last_id(keys.POSITION_STREAM)  # before the read: nothing newer is claimed

            def read() -> tuple[list[str], Any, Any]:
                snap = self._positions.snapshot(region)
                return (snap["ids"] if receives_ids(viewer) else self.pseudonyms.many(snap["ids"])), snap["lat"], snap["lon"]

            ids, lat, lon = self._cached("positions", conn.room, positions_head, read)
            self._send("positions", positions_message(ids, lat, lon, positions_head, True, conn.room), sid)
        if self._feed_report is not None:  # error texts for duty officers only
            self._send("feeds", report_for(conn.principal, self._feed_report()), sid)
        conn.sent_incidents, conn.sent_positions = head, positions_head
        return {"mode": mode, "stream_id": head, "positions": positions_mode, "positions_id": positions_head,
                "scope": conn.room}

    def _cached(self, kind: str, room: str, head: str, compute: Callable[[], Any]) -> Any:
        """A room's snapshot as of stream id ``head``, computed once per head: resyncs in a
        row (many walls reconnecting after a blip, or a client that floods) share it.
        The projection changes only with a new stream entry (both are written in one
        MULTI/EXEC), so while the head stays, the snapshot does."""
        key = (kind, room)
        found = self._snapshots.get(key)
        if found is not None and found[0] == head:
            return found[1]
        value = compute()
        self._snapshots[key] = (head, value)
        return value

    def _positions_since(self, after: str, region: str | None) -> tuple[list[str], list[float], list[float], str] | None:
        """The latest position of each traveller (of ``region``) reported after ``after``,
        and the last entry read; None when a snapshot is due instead (``after`` trimmed
        away, or too much was missed)."""
        if not self._log.covers(keys.POSITION_STREAM, after):
            return None
        latest: dict[str, tuple[float, float]] = {}
        wanted = access.scope_regions(region)
        cursor, entries, positions = after, 0, 0
        while True:
            events = self._log.read_after(keys.POSITION_STREAM, cursor, _DELTA_CHUNK)
            for event in events:
                cursor = event.id or cursor
                if event.type != ev.POSITIONS_REPORTED:
                    continue
                p = event.payload
                positions += len(p["ids"])
                for tid, lat, lon, reg in zip(p["ids"], p["lat"], p["lon"], p["region"]):
                    if wanted is None or reg in wanted:
                        latest[tid] = (lat, lon)
            entries += len(events)
            if entries > POSITIONS_DELTA_MAX_ENTRIES or positions > POSITIONS_DELTA_MAX_POSITIONS:
                return None
            if len(events) < _DELTA_CHUNK:
                break
        ids = list(latest)
        return ids, [v[0] for v in latest.values()], [v[1] for v in latest.values()], cursor

    # -- following account changes ---------------------------------------------------------

    def recheck(self, name: str | None = None, kind: str | None = None) -> None:
        """Re-check the open sockets of account ``name`` (every open socket for None):
        drop those whose credential no longer holds, re-scope those whose role or region
        changed. ``kind`` ("user" or "token") narrows which sockets of that name."""
        with self._conns_lock:
            conns = list(self._conns.items())
        for sid, conn in conns:
            p = conn.principal
            if name is not None and (p.name != name or (kind == "user" and p.via_token)
                                     or (kind == "token" and not p.via_token)):
                continue
            self._follow(sid, conn)

    def _follow(self, sid: str, conn: Connection) -> None:
        fresh = self._accounts.refresh(conn.principal)
        with conn.lock:
            if conn.closed:
                return
            try:
                room = room_for(fresh) if fresh is not None else None
            except PermissionError:
                room = None
            if fresh is None or room is None:
                conn.closed = True
                self.socketio.server.disconnect(sid, namespace=NAMESPACE)
                return
            moved = room != conn.room
            conn.principal = fresh
            if not moved:
                return
            self.socketio.server.leave_room(sid, conn.room, namespace=NAMESPACE)
            conn.room = room
            self.socketio.server.enter_room(sid, room, namespace=NAMESPACE)
            self._send("welcome", self._welcome(fresh, room), sid)
            self._send_picture(sid, conn, None, None)

    def _send(self, event: str, data: Any, sid: str) -> None:
        self.socketio.emit(event, data, to=sid, namespace=NAMESPACE)

    def open_sockets(self) -> int:
        return len(self._conns)

    # -- the people picture, asked for (crisis.realtime.people) ------------------------------

    def on_affected(self, *args: Any) -> dict[str, Any]:
        """``affected`` with an incident id: that incident's "affected" message as this
        connection may see it (``{"error": "not found", ...}`` when it may not, or it does not
        exist); with nothing (or null): ``{"incidents": [...]}``, one message per open incident
        it may see. The same cut as the pushes: its room's region, counts only."""
        conn, refused = self._people_request("affected", args)
        if conn is None:
            return refused
        incident_id = args[0] if args else None
        viewer, region = _room_viewer_of(conn.room)
        return dict(self.people.affected_answer(viewer, region, incident_id))

    def on_people(self, *args: Any) -> dict[str, Any]:
        """``people`` (no argument): everyone in a scope now as one "people" message with
        ``"full": true`` (pseudonyms for a wall, only its region for a regional desk)."""
        conn, refused = self._people_request("people", args, takes_id=False)
        if conn is None:
            return refused
        viewer, region = _room_viewer_of(conn.room)
        return dict(self.people.people_answer(viewer, region))

    def _people_request(self, event: str, args: tuple[Any, ...], takes_id: bool = True) -> tuple[Any, dict[str, Any]]:
        """(the connection, {}) when the request may be answered; else (None, the answer)."""
        conn = self._conns.get(request.sid)  # type: ignore[attr-defined]
        if conn is None:
            return None, {"error": "not connected"}
        if self.people is None:
            return None, {"error": "not available"}
        value = args[0] if args else None
        errors: list[dict[str, str]] = []
        if len(args) > 1:
            errors.append({"field": "", "message": f"{event} takes at most one argument, not {len(args)}"})
        elif isinstance(value, MalformedArgument):
            errors.append({"field": "", "message": value.reason})
        elif not takes_id and value is not None:
            errors.append({"field": "", "message": f"{event} takes no argument, not {_json_type(value)}"})
        elif value is not None and not (isinstance(value, str) and 0 < len(value) <= _MAX_SCOPE):
            errors.append({"field": "incident", "message": f"must be an incident id (a string of at most {_MAX_SCOPE} "
                                                          f"characters) or null, not {_json_type(value)}"})
        if errors:
            dead_letter_id = self._feed_log.rejected(f"socket:{event}", errors, _body(args),
                                                     {"actor": conn.principal.name})
            return None, {"error": f"invalid {event}", "errors": errors, "dead_letter_id": dead_letter_id}
        return conn, {}


def _room_viewer_of(room: str) -> tuple[Any, str | None]:
    from crisis.realtime.people import viewer_of

    return viewer_of(room)
