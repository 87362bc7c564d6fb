"""Push roster changes to browsers: coverage warnings ("roster") and dispatches ("dispatch").

The gateway tails ``keys.ROSTER_STREAM`` and calls the follower made here for each event:

- a dispatch event ("dispatch.created", "dispatch.step", "dispatch.position") is sent at
  once as ``"dispatch"`` {"event", "stream_id", "dispatch"} to every room that may see it
  (a regional desk: dispatches to incidents in its region), the dispatch as the read
  model gives it (``crisis.views_roster.dispatches``: officer name, incident title, the
  great-circle path) cut by ``views_roster.dispatch_for`` (a wall: no officer id or name);
- every event marks the roster changed; on the next gateway tick (so a burst of events,
  a rotation of hundreds of slots, is one recomputation) the coverage of the next 30 days
  and who is on standby now are recomputed once and sent as ``"roster"`` {"event",
  "stream_id", "warnings", "standby_now": {"total", "by_region", "readiness_24h"}} to every
  room: coverage is aggregate, the same for every reader, but a wall's warnings carry no
  officer id and no message that names one (``crisis.layers.dispatches.warning_for``);
- time passing changes cover without any event (a slot ends, leave starts): the tick
  listener also recomputes about every minute and pushes when the figures changed.

``summary(ctx)`` is the same figures for a page's first view and the header badge,
cached per process until the roster stream moves or the minute turns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.layers.dispatches import standby_counts, warning_for
from crisis.realtime.gateway import Gateway, access_viewer

log = logging.getLogger(__name__)

HORIZON = timedelta(days=30)
RECHECK_SECONDS = 60.0
DISPATCH_EVENTS = frozenset({"dispatch.created", "dispatch.step", "dispatch.position"})
COVER_NEUTRAL = frozenset({"dispatch.position"})  # roster events that cannot change cover or standby

_cache_lock = threading.Lock()
_cache: dict[int, tuple[tuple[str, int], dict[str, Any]]] = {}




def compute(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """{"at", "warnings" (next 30 days, full), "standby_now"} now."""
    from crisis import views_roster

    at = now or ctx.deps.clock()
    cover = views_roster.coverage(ctx, at, at + HORIZON)
    standby = views_roster.standby(ctx, at)
    return {"at": at.isoformat(), "warnings": list(cover.get("warnings") or []),
            "standby_now": standby_counts(standby.get("standby") or [])}


def summary(ctx: Context) -> dict[str, Any]:
    """``compute(ctx)``, cached per process until the roster stream moves or the minute turns."""
    now = ctx.deps.clock()
    key = (ctx.deps.log.last_id(keys.ROSTER_STREAM), int(now.timestamp() // 60))
    with _cache_lock:
        found = _cache.get(id(ctx))
        if found is not None and found[0] == key:
            return found[1]
    result = compute(ctx, now)
    with _cache_lock:
        _cache[id(ctx)] = (key, result)
    return result


def warnings_for(viewer: access.HasRole, warnings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sees = access.sees_names(viewer)
    return [warning_for(w, sees) for w in warnings]


def roster_message_for(figures: dict[str, Any], event_type: str, stream_id: str) -> Callable[[str], dict[str, Any]]:
    def message_for(room: str) -> dict[str, Any]:
        viewer = access_viewer(room)
        return {"event": event_type, "stream_id": stream_id, "at": figures["at"],
                "warnings": warnings_for(viewer, figures["warnings"]), "standby_now": figures["standby_now"]}

    return message_for


def dispatch_message_for(dispatch: dict[str, Any], event_type: str,
                         stream_id: str) -> Callable[[str], dict[str, Any] | None]:
    """``message_for(room)``: the dispatch cut for the room (None: not for it, a regional
    desk and an incident elsewhere)."""
    from crisis import views_roster

    def message_for(room: str) -> dict[str, Any] | None:
        cut = views_roster.dispatch_for(access_viewer(room), dispatch)
        if cut is None:
            return None
        return {"event": event_type, "stream_id": stream_id, "dispatch": cut}

    return message_for


def full_dispatch(ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    """The read model's dispatch (officer name, incident title and region, path) for the
    dispatch an event carries (as it was then: a later step may already be stored)."""
    from crisis import views_roster
    from crisis.roster.model import Dispatch

    d = Dispatch.from_dict(raw)
    return views_roster.dispatch_dict(d, views_roster.state(ctx).officers.get(d.officer_id), ctx.deps.incidents.get(d.incident_id))


class RosterPush:
    """The follower of ``keys.ROSTER_STREAM`` and the tick listener that pushes "roster"."""

    def __init__(self, ctx: Context, gateway: Gateway, recheck_s: float = RECHECK_SECONDS) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._recheck = recheck_s
        self._lock = threading.Lock()
        self._pending: tuple[str, str] | None = None  # (event type, stream id) since the last push
        self._last_sent: tuple[Any, Any] | None = None
        self._next_check = 0.0
        self.recomputed = 0

    def wire(self) -> None:
        self._gateway.follow(keys.ROSTER_STREAM, self.on_event)
        self._gateway.on_tick(self.on_tick)
        self._gateway.on_primary_change(self.on_primary_change)

    def on_primary_change(self) -> None:
        """A failover: the next tick pushes the new server's figures even if they look the same."""
        with self._lock:
            self._pending = ("roster.recheck", self._ctx.deps.log.last_id(keys.ROSTER_STREAM))

    def on_event(self, entry_id: str, event: Any) -> None:
        if event.type not in COVER_NEUTRAL:  # a reported position changes no cover: no recomputation
            with self._lock:
                self._pending = (str(event.type), entry_id)
        if event.type in DISPATCH_EVENTS and isinstance(event.payload.get("dispatch"), dict):
            dispatch = full_dispatch(self._ctx, event.payload["dispatch"])
            self._gateway.emit_per_room("dispatch", dispatch_message_for(dispatch, event.type, entry_id))

    def on_tick(self, rooms: set[str]) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        due = time.monotonic() >= self._next_check
        if not rooms or (pending is None and not due):
            if pending is not None and not rooms:
                self._last_sent = None  # nobody listened: the next listener's first look pushes
            return
        self._next_check = time.monotonic() + self._recheck
        figures = summary(self._ctx)  # cached: the pages this push makes re-read get the same figures
        self.recomputed += 1
        fingerprint = (figures["warnings"], figures["standby_now"])
        if pending is None and fingerprint == self._last_sent:
            return  # time passed, nothing changed
        self._last_sent = fingerprint
        event_type, stream_id = pending or ("roster.recheck", self._ctx.deps.log.last_id(keys.ROSTER_STREAM))
        self._gateway.emit_per_room("roster", roster_message_for(figures, event_type, stream_id), rooms)


def wire(ctx: Context, gateway: Gateway) -> None:
    """Follow ``keys.ROSTER_STREAM`` on the gateway and push "roster" and "dispatch"."""
    RosterPush(ctx, gateway).wire()
