"""Commands on security areas and their movements: validated values in, the rule of
``crisis.domain.areas`` applied, one or more events in ``keys.AREAS_STREAM`` stored with
the projection (``crisis.adapters.area_store``) in the same transaction.

* ``create_area``: a new area; created at III or above, it opens its movement at once.
* ``update_area``: name, geometry or country, region, and the phase. Raising the phase to
  III or above opens a movement listing the people inside at that moment
  (``crisis.views_areas.people_inside``); raising it further extends the list, keeping
  everyone's progress; lowering it below III closes the movement (kept as history: an
  ``area.phase_changed`` and a ``movement.closed`` event, in one transaction). A change of
  geometry (or country) while a movement is open extends its list with the people now
  inside, like raising the phase; nobody already listed is taken off (that is by hand,
  with a reason).
* ``confirm_movement``: the safe haven, the mode and the expected arrival.
* ``set_progress``: one person's progress (by a duty officer, or by a check-in:
  ``via``); ``add_person`` (national staff, by hand) and ``remove_person`` (with a reason).

Every event's payload is {"area": <the area with its movement>, "change": {time, kind,
by, ...}}. Each command holds the area's lock while it reads, decides and writes, so two
officers' changes to the same area never overwrite each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
import shapely.geometry

from crisis.adapters import keys
from crisis.adapters.area_store import AreaStore
from crisis.bootstrap import Context
from crisis.domain import areas as rules
from crisis.domain import events as ev
from crisis.domain.events import Event
from crisis.domain.regions import region_for_country
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import beyond_horizon_message, past_time_message
from crisis.views_areas import areas as area_store
from crisis.views_areas import people_inside


@dataclass(frozen=True)
class AreaChanged:
    area: dict[str, Any]  # as stored, with "movement"
    event_id: str | None  # None when nothing changed
    before: dict[str, Any] | None


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def geometry_centre(geometry: dict[str, Any]) -> tuple[float, float]:
    """(lat, lon) of a polygon's centroid (a point inside it when the centroid is not),
    taken across the antimeridian for a MultiPolygon split there."""
    shape = shapely.geometry.shape(geometry)
    minx, _, maxx, _ = shape.bounds
    shifted = maxx - minx > 180.0
    if shifted:  # parts on both sides of +-180: measure with longitudes in 0..360
        shape = shapely.transform(shape, lambda c: np.column_stack([np.where(c[:, 0] < 0, c[:, 0] + 360.0, c[:, 0]), c[:, 1]]))
    point = shape.centroid
    if not shape.intersects(point):
        point = shape.representative_point()
    lon = point.x - 360.0 if point.x > 180.0 else point.x
    return float(point.y), float(lon)


def _place(ctx: Context, geometry: dict[str, Any] | None, country: str | None) -> tuple[dict[str, float], str | None, str | None]:
    """(centre, region, country) of an area given by a geometry or a country."""
    countries = ctx.deps.countries
    if geometry is not None:
        lat, lon = geometry_centre(geometry)
        _, regions = countries.locate(np.array([lat]), np.array([lon]))
        return {"lat": round(lat, 6), "lon": round(lon, 6)}, (str(regions[0]) if regions[0] else None), None
    assert country is not None
    code = country.upper()
    rows = countries.countries[countries.countries["iso_a3"] == code]
    centre = countries.centroid(code)
    if rows.empty or centre is None:
        raise InputError([{"field": "country", "message": f"unknown country {country!r}: use an ISO 3166-1 alpha-3 code of the basemap"}])
    found = rows["region"].iloc[0]
    return {"lat": round(centre[0], 6), "lon": round(centre[1], 6)}, (str(found) if found else region_for_country(code)), code


def _change(now: datetime, kind: str, actor: str | None, **details: Any) -> dict[str, Any]:
    return {"time": now.isoformat(), "kind": kind, "by": actor, **details}


def _store(ctx: Context, area: dict[str, Any], events: list[tuple[str, dict[str, Any]]], now: datetime,
           closed: dict[str, Any] | None = None) -> str:
    """Append the events (type, change) with the area's projection; the last event's id."""
    payload_area = dict(area)
    stored = [Event(type=t, time=now, actor=change.get("by"), payload={"area": payload_area, "change": change})
              for t, change in events]
    if closed is not None:  # the closed movement travels with its event
        stored[-1] = Event(type=stored[-1].type, time=now, actor=stored[-1].actor,
                           payload={**stored[-1].payload, "closed_movement": closed})

    def project(pipe: Any) -> None:
        AreaStore.queue_save(pipe, area)
        if closed is not None:
            AreaStore.queue_close(pipe, area["id"], closed)
        if area.get("movement") is not None:
            AreaStore.queue_movement(pipe, area["id"], area["movement"])

    return ctx.deps.log.append_many(keys.AREAS_STREAM, stored, project)[-1]


def _profiles(ctx: Context, area: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    return [placed[0] for placed in people_inside(ctx, area, now)]


def create_area(ctx: Context, name: str, phase: int, geometry: dict[str, Any] | None, country: str | None,
                actor: str | None, region: str | None = None) -> AreaChanged:
    """A new area (geometry or country); at III or above its movement opens at once."""
    if (geometry is None) == (country is None):
        raise InputError([{"field": "geometry", "message": "give either a geometry or a country, not both and not neither"}])
    now = ctx.deps.clock()
    centre, found_region, code = _place(ctx, geometry, country)
    area: dict[str, Any] = {
        "id": _new_id("area"), "name": name, "phase": phase, "phase_name": rules.phase_name(phase),
        "geometry": geometry, "country": code, "region": region or found_region, "centre": centre,
        "created_at": now.isoformat(), "updated_at": now.isoformat(), "movement": None,
    }
    events: list[tuple[str, dict[str, Any]]] = [(ev.AREA_CREATED, _change(now, "created", actor, phase=phase))]
    if rules.movement_action(phase) is not None:
        area["movement"] = rules.open_movement(_new_id("mov"), area["id"], phase, _profiles(ctx, area, now), now)
        events.append((ev.AREA_PHASE_CHANGED, _change(now, "phase", actor, phase_from=0, phase=phase, movement="opened",
                                                       added=[p["traveller_id"] for p in area["movement"]["people"]])))
    with ctx.deps.lock(f"area:{area['id']}"):
        event_id = _store(ctx, area, events, now)
    return AreaChanged(area, event_id, None)


def _current(ctx: Context, area_id: str) -> dict[str, Any]:
    area = area_store(ctx).get(area_id)
    if area is None:
        raise NotFound(f"no area {area_id}")
    return area


def update_area(ctx: Context, area_id: str, actor: str | None, *, name: str | None = None, phase: int | None = None,
                geometry: dict[str, Any] | None = None, country: str | None = None, region: str | None = None,
                note: str | None = None) -> AreaChanged:
    """Change an area's facts and/or phase (see the module's rules)."""
    with ctx.deps.lock(f"area:{area_id}"):
        before = _current(ctx, area_id)
        now = ctx.deps.clock()
        area = dict(before)
        fields: list[str] = []
        if name is not None and name != before["name"]:
            area["name"] = name
            fields.append("name")
        if geometry is not None or country is not None:
            if geometry is not None and country is not None:
                raise InputError([{"field": "geometry", "message": "give either a geometry or a country, not both"}])
            centre, found_region, code = _place(ctx, geometry, country)
            if geometry != before.get("geometry") or code != before.get("country"):
                area.update(geometry=geometry, country=code, centre=centre, region=region or found_region)
                fields += ["geometry" if geometry is not None else "country"]
        if region is not None and region != area.get("region"):
            area["region"] = region
            fields.append("region")
        events: list[tuple[str, dict[str, Any]]] = []
        closed = None
        old_phase = int(before["phase"])
        if phase is not None and phase != old_phase:
            area.update(phase=phase, phase_name=rules.phase_name(phase))
            movement = before.get("movement")
            details: dict[str, Any] = {"phase_from": old_phase, "phase": phase, "fields": fields}
            if rules.movement_action(phase) is not None:
                people = _profiles(ctx, area, now)
                if movement is None:
                    area["movement"] = rules.open_movement(_new_id("mov"), area_id, phase, people, now)
                    details.update(movement="opened", added=[p["traveller_id"] for p in area["movement"]["people"]])
                else:
                    area["movement"] = rules.extend_movement(movement, phase, people, now)
                    known = {p["traveller_id"] for p in movement["people"]}
                    details.update(movement="extended",
                                   added=[p["traveller_id"] for p in area["movement"]["people"] if p["traveller_id"] not in known])
            elif movement is not None:
                closed = rules.close_movement(movement, now)
                area["movement"] = None
                details.update(movement="closed", movement_id=closed["id"])
            if note:
                details["note"] = note
            events.append((ev.AREA_PHASE_CHANGED, _change(now, "phase", actor, **details)))
            if closed is not None:
                events.append((ev.MOVEMENT_CLOSED, _change(now, "movement_closed", actor, movement_id=closed["id"],
                                                           counts=closed["counts"])))
        elif fields or note:
            extra: dict[str, Any] = {"note": note} if note else {}
            movement = before.get("movement")
            if movement is not None and ("geometry" in fields or "country" in fields):
                # A wider (or moved) area at III+ lists the people now inside; nobody listed is dropped.
                area["movement"] = rules.extend_movement(movement, old_phase, _profiles(ctx, area, now), now)
                known = {p["traveller_id"] for p in movement["people"]}
                extra.update(movement="extended",
                             added=[p["traveller_id"] for p in area["movement"]["people"] if p["traveller_id"] not in known])
            events.append((ev.AREA_UPDATED, _change(now, "updated" if fields else "note", actor, fields=fields, **extra)))
        if not events:
            return AreaChanged(before, None, before)
        area["updated_at"] = now.isoformat()
        event_id = _store(ctx, area, events, now, closed)
        return AreaChanged(area, event_id, before)


def change_phase(ctx: Context, area_id: str, phase: int, actor: str | None, note: str | None = None) -> AreaChanged:
    """Only the phase (``update_area``): opens, extends or closes the movement."""
    return update_area(ctx, area_id, actor, phase=phase, note=note)


def _with_movement(ctx: Context, area_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    area = _current(ctx, area_id)
    if area.get("movement") is None:
        raise Conflict(f"area {area_id} has no open movement (its phase is below III)")
    return area, area["movement"]


def _save_movement(ctx: Context, area: dict[str, Any], movement: dict[str, Any], event_type: str,
                   change: dict[str, Any], now: datetime) -> AreaChanged:
    before = dict(area)
    area = {**area, "movement": movement, "updated_at": now.isoformat()}
    return AreaChanged(area, _store(ctx, area, [(event_type, change)], now), before)


# A movement may be confirmed after its people were due (recorded late: they are overdue at
# once), but not a day or more after: that is a wrong date, which would turn the list red.
ARRIVAL_PAST_GRACE = timedelta(hours=24)


def confirm_movement(ctx: Context, area_id: str, safe_haven: dict[str, Any], mode: str, expected_arrival: datetime,
                     actor: str | None) -> AreaChanged:
    """Confirm the open movement: where to (safe haven), how (mode), arriving when: not more
    than ``ARRIVAL_PAST_GRACE`` ago (a wrong year would make everyone on it overdue at once),
    nor beyond the planning horizon."""
    with ctx.deps.lock(f"area:{area_id}"):
        area, movement = _with_movement(ctx, area_id)
        now = ctx.deps.clock()
        wrong = past_time_message(expected_arrival, now, ARRIVAL_PAST_GRACE) or beyond_horizon_message(expected_arrival, now)
        if wrong:
            raise InputError([{"field": "expected_arrival", "message": wrong}])
        confirmed = rules.confirm_movement(movement, safe_haven, mode, expected_arrival, now)
        change = _change(now, "movement_confirmed", actor, movement_id=movement["id"], safe_haven=confirmed["safe_haven"],
                         mode=mode, expected_arrival=confirmed["expected_arrival"])
        return _save_movement(ctx, area, confirmed, ev.MOVEMENT_CONFIRMED, change, now)


def set_progress(ctx: Context, area_id: str, traveller_id: str, progress: str, reason: str | None, actor: str | None,
                 via: str = "duty_officer") -> AreaChanged:
    """One listed person's progress. NotFound when not listed; Conflict for a change the
    rules forbid; InputError for "stayed" without a reason."""
    with ctx.deps.lock(f"area:{area_id}"):
        area, movement = _with_movement(ctx, area_id)
        now = ctx.deps.clock()
        previous = next((p["progress"] for p in movement["people"] if p["traveller_id"] == traveller_id), None)
        if previous is None:
            raise NotFound(f"{traveller_id} is not on the movement list of area {area_id}")
        if progress == "stayed" and not (reason and reason.strip()):
            raise InputError([{"field": "reason", "message": "a person who stayed needs a reason"}])
        try:
            updated = rules.set_progress(movement, traveller_id, progress, reason, actor, now)
        except rules.ProgressError as exc:
            raise Conflict(str(exc)) from None
        change = _change(now, "progress", actor, movement_id=movement["id"], traveller_id=traveller_id,
                         progress_from=previous, progress=progress, via=via, **({"reason": reason} if reason else {}))
        return _save_movement(ctx, area, updated, ev.MOVEMENT_PROGRESS, change, now)


def add_person(ctx: Context, area_id: str, traveller_id: str, actor: str, reason: str | None = None) -> AreaChanged:
    """Put a person on the open movement's list by hand (e.g. national staff)."""
    with ctx.deps.lock(f"area:{area_id}"):
        area, movement = _with_movement(ctx, area_id)
        assert ctx.deps.travellers is not None
        profile = ctx.deps.travellers.get(traveller_id)
        if profile is None:
            raise InputError([{"field": "traveller_id", "message": f"no traveller {traveller_id!r}"}])
        now = ctx.deps.clock()
        try:
            updated = rules.add_person(movement, traveller_id, profile.get("category"), actor, reason, now)
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        change = _change(now, "person_added", actor, movement_id=movement["id"], traveller_id=traveller_id,
                         category=profile.get("category"), **({"reason": reason} if reason else {}))
        return _save_movement(ctx, area, updated, ev.MOVEMENT_PERSON_ADDED, change, now)


def remove_person(ctx: Context, area_id: str, traveller_id: str, actor: str, reason: str) -> AreaChanged:
    """Take a person off the open movement's list, with a reason (kept in "removed")."""
    with ctx.deps.lock(f"area:{area_id}"):
        area, movement = _with_movement(ctx, area_id)
        if not reason.strip():
            raise InputError([{"field": "reason", "message": "removing a person needs a reason"}])
        now = ctx.deps.clock()
        try:
            updated = rules.remove_person(movement, traveller_id, actor, reason, now)
        except KeyError:
            raise NotFound(f"{traveller_id} is not on the movement list of area {area_id}") from None
        change = _change(now, "person_removed", actor, movement_id=movement["id"], traveller_id=traveller_id, reason=reason)
        return _save_movement(ctx, area, updated, rules.MOVEMENT_PERSON_REMOVED, change, now)
