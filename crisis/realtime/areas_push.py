"""Push every change to a security area or its movement to browsers, cut per room.

The gateway tails ``keys.AREAS_STREAM`` and calls the follower made here for each event.
It sends ``"areas"`` {"area": <the area>, "event": type, "stream_id": id} to every room
in use (and ``"movement"`` with the same message for a movement's change): a regional
desk's room only for an area in its region; a room of a role that may not receive
identities (a wall) gets the movement's counts and no people
(``crisis.views_areas.area_for``). Statuses come from the roll-call at the time of the push.

An expected arrival passes without any event, yet it makes people overdue: ``OverdueWatch``
(a gateway tick listener) looks about once a second for movements whose expected arrival
has just passed with someone not arrived, and pushes them ("movement", event
"movement.overdue"), so an open page flags them without a reload.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.accountability import area_scope
from crisis.realtime.gateway import Gateway, access_viewer
from crisis.views_areas import area_for, areas, roll

log = logging.getLogger(__name__)

MOVEMENT_EVENTS = frozenset({"movement.confirmed", "movement.person_added", "movement.progress", "movement.closed",
                             "movement.person_removed", "movement.overdue"})




def area_message_for(area: dict[str, Any], statuses: dict[str, str], profiles: dict[str, dict[str, Any]],
                     event_type: str, stream_id: str, now: Any) -> Callable[[str], dict[str, Any] | None]:
    """``message_for(room)`` for ``Gateway.emit_per_room``."""

    def message_for(room: str) -> dict[str, Any] | None:
        viewer = access_viewer(room)
        if not access.may_see_region(viewer, area.get("region")):
            return None
        return {"area": area_for(viewer, area, statuses, profiles, now), "event": event_type, "stream_id": stream_id}

    return message_for


def push_area(ctx: Context, gateway: Gateway, area: dict[str, Any], event_type: str, stream_id: str) -> None:
    """Send one area (as stored, with its movement) to every room that may see it."""
    movement = area.get("movement") or {}
    ids = [p["traveller_id"] for p in movement.get("people", [])]
    statuses = roll(ctx).status_of(area_scope(str(area["id"])), ids) if ids else {}
    assert ctx.deps.travellers is not None
    profiles = ctx.deps.travellers.many(ids)
    message_for = area_message_for(area, statuses, profiles, event_type, stream_id, ctx.deps.clock())
    gateway.emit_per_room("areas", message_for)
    if event_type in MOVEMENT_EVENTS:
        gateway.emit_per_room("movement", message_for)


def follower(ctx: Context, gateway: Gateway) -> Callable[[str, Any], None]:
    """The gateway follower of ``keys.AREAS_STREAM``."""

    def on_event(entry_id: str, event: Any) -> None:
        area = event.payload.get("area")
        if isinstance(area, dict):
            push_area(ctx, gateway, area, event.type, entry_id)

    return on_event


class OverdueWatch:
    """A gateway tick listener: pushes the movements whose expected arrival passed since
    the last look (at most every ``every_s`` seconds, only while someone is listening)."""

    def __init__(self, ctx: Context, gateway: Gateway, every_s: float = 1.0) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._every = every_s
        self._next = 0.0
        self._since: datetime | None = None

    def __call__(self, rooms: set[str]) -> None:
        if not rooms or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self._every
        now = self._ctx.deps.clock()
        since, self._since = self._since or now, now
        for area in areas(self._ctx).all():
            movement = area.get("movement") or {}
            expected = movement.get("expected_arrival")
            if not expected or not since < datetime.fromisoformat(expected) <= now:
                continue
            if any(p.get("progress") in ("to_move", "moving") for p in movement.get("people", [])):
                push_area(self._ctx, self._gateway, area, "movement.overdue", self._ctx.deps.log.last_id(keys.AREAS_STREAM))
