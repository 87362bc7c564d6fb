"""Accountability commands: a duty officer's status mark, and a check-in.

Each command validates (the person exists, the scope exists, the status is one of
``accountability.STATUSES``), then stores ONE event in ``keys.PEOPLE_STREAM`` together
with the RollStore writes it implies (and, for a check-in with a place, the check-in
place and a position report in ``keys.POSITION_STREAM``) in one MULTI/EXEC: either all of
it is stored or none.

Event payload (contract): {"scope", "scopes", "traveller_id", "status", "previous",
"previous_by_scope", "at", "by", "via", "note"?, "lat"?, "lon"?, "incident_id"?}.
``scope`` is the first of ``scopes`` (None when the check-in applied to no scope);
``previous`` is the status in ``scope`` before; ``previous_by_scope`` each scope's.

Which scopes a check-in applies to (the rule):

* with ``incident_id``: that incident only (it must exist; a closed one is accepted,
  late reports happen);
* without: every OPEN incident (status not "closed") that affects the person now, by
  the same rule as the affected list (best-known position, counting this check-in's
  place, inside the area plus buffer, or an itinerary arriving inside within 48 hours:
  ``views.incidents_affecting``), and every area whose movement is open and lists the
  person (``views.movements_of``). It may apply to none: it is still recorded (the event
  with ``scopes`` [], and its place).

A check-in's place counts as the person's freshest observation: it is stored in
``keys.CHECKIN_PLACES`` and as a position report with source "checkin".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import redis

from crisis import handlers_areas, views, views_areas
from crisis.adapters import keys
from crisis.adapters.eventlog import encode, xadd_fields
from crisis.adapters.position_store import PositionStore
from crisis.adapters.roll_store import RollStore
from crisis.bootstrap import Context
from crisis.domain import accountability
from crisis.domain import areas as areas_rules
from crisis.domain import events as ev
from crisis.domain.events import Event
from crisis.domain.travellers import BestPosition
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import NO_FIX_MESSAGE, is_null_island

VIAS = ("duty_officer", "checkin", "warden")
CHECKIN_SOURCE = "checkin"  # the position source of a check-in's place (crisis.feeds.schemas SourceName)


class Missing(NotFound):
    """No such incident or area; ``field`` names which (for the answer)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Recorded:
    """What a command stored: the event's stream id, and its payload."""

    event_id: str
    payload: dict[str, Any]

    @property
    def scopes(self) -> list[str]:
        return list(self.payload["scopes"])


def _check_status(status: str) -> None:
    if not accountability.is_status(status):
        raise InputError([{"field": "status", "message": f"unknown status {status!r}: use one of "
                                                          f"{', '.join(accountability.STATUSES)}"}])


def _profile(ctx: Context, traveller_id: str) -> dict[str, Any]:
    assert ctx.deps.travellers is not None
    profile = ctx.deps.travellers.get(traveller_id)
    if profile is None:
        raise InputError([{"field": "traveller_id", "message": f"no traveller {traveller_id!r}"}])
    return profile


def _check_scope(ctx: Context, scope: str) -> None:
    try:
        kind, ident = accountability.parse_scope(scope)
    except ValueError as exc:
        raise InputError([{"field": "scope", "message": str(exc)}]) from None
    if kind == "incident" and ctx.deps.incidents.get(ident) is None:
        raise Missing("incident_id", f"no incident {ident}")
    if kind == "area" and ctx.roll.area(ident) is None:
        raise Missing("area_id", f"no area {ident}")


def _check_on_movement(ctx: Context, scope: str, traveller_id: str) -> None:
    """In an area's scope, the person must be on its open movement (whose list the areas'
    owner keeps): a status there for anyone else would count nowhere."""
    kind, ident = accountability.parse_scope(scope)
    if kind != "area":
        return
    movement = views.open_movements(ctx).get(ident)
    if movement is None:
        raise InputError([{"field": "area_id", "message": f"area {ident} has no open movement"}])
    if traveller_id not in movement["people"]:
        raise InputError([{"field": "traveller_id", "message": f"{traveller_id!r} is not on the movement of area {ident}"}])


def _store(ctx: Context, event_type: str, traveller_id: str, scopes: list[str], status: str, note: str | None,
           actor: str | None, via: str, now: datetime, place: tuple[float, float] | None = None,
           incident_id: str | None = None) -> Recorded:
    roll = ctx.roll
    previous = {scope: roll.status_of(scope, [traveller_id])[traveller_id] for scope in scopes}
    at = now.isoformat()
    payload: dict[str, Any] = {
        "scope": scopes[0] if scopes else None, "scopes": scopes, "traveller_id": traveller_id, "status": status,
        "previous": previous[scopes[0]] if scopes else None, "previous_by_scope": previous,
        "at": at, "by": actor, "via": via,
    }
    if note:
        payload["note"] = note
    if incident_id is not None:
        payload["incident_id"] = incident_id
    record = {"status": status, "at": at, "by": actor, "note": note or "", "via": via}
    position: tuple[Event, dict[str, Any]] | None = None
    if place is not None:
        payload["lat"], payload["lon"] = place
        position = _position_event(ctx, traveller_id, place, now, actor)
    event = Event(type=event_type, time=now, actor=actor, payload=payload)

    def writes(pipe: redis.client.Pipeline) -> None:
        for scope in scopes:
            RollStore.queue_set(pipe, scope, traveller_id, record)
        if place is not None and position is not None:
            RollStore.queue_checkin_place(pipe, traveller_id, place[0], place[1], at)
            pipe.xadd(keys.POSITION_STREAM, xadd_fields(encode(position[0])), maxlen=ctx.settings.positions_maxlen,
                      approximate=True)
            PositionStore.queue_save(pipe, position[1])

    event_id = ctx.deps.log.append(keys.PEOPLE_STREAM, event, writes)
    return Recorded(event_id, payload)


def _position_event(ctx: Context, traveller_id: str, place: tuple[float, float], now: datetime,
                    actor: str | None) -> tuple[Event, dict[str, Any]]:
    """The check-in's place as a one-position POSITIONS_REPORTED event (the columns
    ``handlers.report_positions`` stores), source "checkin"."""
    lat, lon = place
    country, region = ctx.deps.countries.locate(np.array([lat]), np.array([lon]))
    columns = {
        "ids": [traveller_id], "lat": [round(lat, 6)], "lon": [round(lon, 6)], "time": [now.isoformat()],
        "source": [CHECKIN_SOURCE], "country": country.tolist(), "region": region.tolist(),
    }
    return Event(type=ev.POSITIONS_REPORTED, time=now, actor=actor, payload=columns), columns


def set_status(ctx: Context, scope: str, traveller_id: str, status: str, note: str | None, actor: str | None,
               via: str = "duty_officer") -> Recorded:
    """A person's status in one scope ("incident:<id>" or "area:<id>"), set by a duty officer
    (or another ``via``): STATUS_SET. InputError for an unknown status or person, or (in an
    area) a person not on its open movement or an area without one; NotFound (``Missing``)
    for an unknown incident or area. In an incident any known person may be marked (the
    affected list moves with positions; a mark for someone not on it today counts when
    they are)."""
    _check_status(status)
    if via not in VIAS:
        raise InputError([{"field": "via", "message": f"unknown via {via!r}: one of {', '.join(VIAS)}"}])
    _check_scope(ctx, scope)
    _profile(ctx, traveller_id)
    _check_on_movement(ctx, scope, traveller_id)
    return _store(ctx, ev.STATUS_SET, traveller_id, [scope], status, note, actor, via, ctx.deps.clock())


def checkin(ctx: Context, traveller_id: str, status: str, incident_id: str | None, lat: float | None,
            lon: float | None, note: str | None, actor: str | None, via: str = "checkin") -> Recorded:
    """A person's (or their warden's) report: CHECKIN_RECORDED, applied to the scopes of the
    module's rule. Who may report for whom is the caller's check (``access.may_check_in``).
    InputError naming the field for an unknown status, person or incident (for a person's or
    a warden's report: an incident the person is not in, said as an unknown one), or a place
    that is half given or out of range."""
    _check_status(status)
    if via not in VIAS:
        raise InputError([{"field": "via", "message": f"unknown via {via!r}: one of {', '.join(VIAS)}"}])
    place = _place(lat, lon)
    profile = _profile(ctx, traveller_id)
    now = ctx.deps.clock()
    if incident_id is not None:
        if via != "duty_officer":
            # A person or their warden reports for the incidents that person is in, and learns
            # nothing of the others: one answer whether the id exists or not.
            if incident_id not in _incidents_for(ctx, profile, place, now):
                raise InputError([{"field": "incident_id", "message": (
                    f"{traveller_id} is in no open incident {incident_id!r}: leave incident_id out, and the "
                    "check-in applies to every open incident the person is in")}])
        elif ctx.deps.incidents.get(incident_id) is None:
            raise InputError([{"field": "incident_id", "message": f"no incident {incident_id!r}"}])
        scopes = [accountability.incident_scope(incident_id)]
    else:
        scopes = [accountability.incident_scope(i) for i in _incidents_for(ctx, profile, place, now)]
        scopes += [accountability.area_scope(a) for a in views.movements_of(ctx, traveller_id)]
    recorded = _store(ctx, ev.CHECKIN_RECORDED, traveller_id, scopes, status, note, actor, via, now, place, incident_id)
    if place is not None:
        _arrivals(ctx, traveller_id, place, actor)
    return recorded


def _arrivals(ctx: Context, traveller_id: str, place: tuple[float, float], actor: str | None) -> None:
    """A check-in at a movement's safe haven marks the person arrived there
    (``crisis.domain.areas.progress_from_checkin``), recorded "via checkin"."""
    for area_id, movement in views.open_movements(ctx).items():
        if traveller_id not in movement["people"]:
            continue
        stored = views_areas.areas(ctx).movement(area_id)
        if stored is None or areas_rules.progress_from_checkin(stored, traveller_id, place[0], place[1]) is None:
            continue
        try:
            handlers_areas.set_progress(ctx, area_id, traveller_id, "arrived", None, actor, via="checkin")
        except (Conflict, NotFound):  # changed meanwhile (closed, arrived): nothing to mark
            continue


def _place(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    problems = []
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        problems.append({"field": missing, "message": "lat and lon must be given together"})
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            problems.append({"field": name, "message": f"must be a finite number, got {value!r}"})
        elif not -limit <= value <= limit:
            problems.append({"field": name, "message": f"must be from {-limit:g} to {limit:g}, got {value!r}"})
    if not problems and is_null_island(lat, lon):
        problems.append({"field": "lat", "message": NO_FIX_MESSAGE})
    if problems:
        raise InputError(problems)
    return (float(lat), float(lon)) if lat is not None and lon is not None else None


def _incidents_for(ctx: Context, profile: dict[str, Any], place: tuple[float, float] | None, now: datetime) -> list[str]:
    """The open incidents affecting the person, their best-known position counting this
    check-in's place (the freshest observation) when it has one."""
    if place is None:
        return views.incidents_affecting(ctx, profile, now)
    # A check-in made now is the freshest evidence there is (best_known_position ranks it
    # first), so the person is where they checked in: join that place directly.
    here = BestPosition(place[0], place[1], "checkin", now, "high")
    pairs = views.affected_pairs(ctx, views.open_incidents(ctx), [(profile, here, None, None)], now)
    return sorted(i for i, rows in pairs.items() if rows)
