"""Sending an officer: the dispatch workflow, and what a dispatch does to the roster.

A dispatch goes requested -> accepted | declined -> travelling -> on_site -> stood_down ->
returned; ``TRANSITIONS`` is the whole workflow and ``step`` refuses (``Conflict``) anything
else. Every step is kept with who and when.

Dispatching a primary must not leave the slot empty: the alternate on standby for the same
region at that moment (and available) becomes primary from then on. Its slot is split at
the dispatch time: the part before stays an alternate (same id), the rest becomes a
primary slot (new id) with a note saying why. With no such alternate the dispatch keeps
``promoted_slot_id`` None, and coverage warns of the gap (``dispatch_gap``).

An officer on leave or resting may still be sent: that is the duty officer's decision (the
dispatch's note records it); such an officer is not on standby, so ``slot_id`` stays None and
no one is promoted. An officer already deployed may not (``Conflict``). The ETA
is ranking's: readiness notice + geodesic distance / cruise speed + overheads. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np

from crisis.errors import Conflict, InputError
from crisis.roster.model import (
    ACTIVE_DISPATCH,
    DISPATCH_STATUSES,
    Dispatch,
    Leave,
    Officer,
    RosterRules,
    Slot,
    Step,
    iso,
)
from crisis.roster.ranking import distances_km, eta_hours
from crisis.roster.slots import availability

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "requested": ("accepted", "declined"),
    "accepted": ("travelling",),
    "travelling": ("on_site",),
    "on_site": ("stood_down",),
    "stood_down": ("returned",),
    "declined": (),
    "returned": (),
}


def _alternate(primary: Slot, at: datetime, slots: Sequence[Slot], leave: Sequence[Leave],
               dispatches: Sequence[Dispatch], rules: RosterRules) -> Slot | None:
    """The alternate on standby for the primary's region at ``at`` and free to take over
    (the shorter readiness first, then the slot id: a stable choice)."""
    found = [s for s in slots
             if s.role == "alternate" and s.covers(at) and s.region == primary.region
             and s.officer_id != primary.officer_id
             and availability(s.officer_id, at, leave, dispatches, rules)[0] is None]
    found.sort(key=lambda s: (s.readiness_hours, s.id))
    return found[0] if found else None


def plan_dispatch(dispatch_id: str, incident_id: str, point: tuple[float, float], officer: Officer, at: datetime,
                  by: str | None, note: str | None, slots: Sequence[Slot], leave: Sequence[Leave],
                  dispatches: Sequence[Dispatch], rules: RosterRules,
                  new_slot_id: Callable[[], str]) -> tuple[Dispatch, list[Slot], list[str]]:
    """The new dispatch of ``officer`` to the incident at ``point`` (lat, lon), the slots to
    write (a promoted alternate's, split) and the slot ids to delete. Conflict when the
    officer already has an active dispatch."""
    for other in dispatches:
        if other.officer_id == officer.id and other.status in ACTIVE_DISPATCH:
            raise Conflict(f"officer {officer.id} is already deployed to {other.incident_id} "
                           f"(dispatch {other.id}, {other.status})")
    own = [s for s in slots if s.officer_id == officer.id and s.covers(at)]
    own.sort(key=lambda s: (s.role != "primary", s.readiness_hours, s.id))
    # a slot counts only while its officer is available: one on leave or resting is not on standby
    held = own[0] if own and availability(officer.id, at, leave, dispatches, rules)[0] is None else None
    readiness = float(held.readiness_hours) if held is not None else rules.off_standby_notice_hours
    distance = float(distances_km(point, np.array([officer.home.lat]), np.array([officer.home.lon]))[0])
    eta = at + timedelta(hours=eta_hours(readiness, distance, rules))

    write: list[Slot] = []
    delete: list[str] = []
    promoted: str | None = None
    if held is not None and held.role == "primary":
        alternate = _alternate(held, at, slots, leave, dispatches, rules)
        if alternate is not None:
            promoted = new_slot_id()
            write.append(replace(alternate, id=promoted, start=at, role="primary",
                                 note=f"promoted: {officer.id} dispatched to {incident_id}"))
            if alternate.start < at:
                write.append(replace(alternate, end=at))
            else:
                delete.append(alternate.id)
    dispatch = Dispatch(
        id=dispatch_id, incident_id=incident_id, officer_id=officer.id, status="requested", created_at=at, by=by,
        steps=(Step("requested", at, by, note),), note=note, origin=officer.home,
        destination={"lat": float(point[0]), "lon": float(point[1])}, distance_km=round(distance, 1), eta=eta,
        slot_id=held.id if held is not None else None, promoted_slot_id=promoted)
    return dispatch, write, delete


def step(dispatch: Dispatch, status: str, at: datetime, by: str | None, note: str | None = None) -> Dispatch:
    """The dispatch one step on. InputError for an unknown status; Conflict for a step the
    workflow forbids (the message says which steps may follow)."""
    if status not in DISPATCH_STATUSES:
        raise InputError([{"field": "status",
                           "message": f"unknown status {status!r}: use one of {', '.join(DISPATCH_STATUSES)}"}])
    allowed = TRANSITIONS.get(dispatch.status, ())
    if status not in allowed:
        following = ", ".join(allowed) if allowed else f"none ({dispatch.status} is final)"
        raise Conflict(f"cannot go from {dispatch.status} to {status}; next: {following}")
    return replace(dispatch, status=status, steps=(*dispatch.steps, Step(status, at, by, note)))


def report_position(dispatch: Dispatch, lat: float, lon: float, at: datetime) -> Dispatch:
    """The dispatch with the officer's last reported position. InputError for a point off
    the globe; Conflict when the dispatch is no longer active."""
    errors = []
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not -limit <= float(value) <= limit:
            errors.append({"field": f"position.{name}", "message": f"{value!r} is not a {name} in -{limit:g}..{limit:g}"})
    if errors:
        raise InputError(errors)
    if dispatch.status not in ACTIVE_DISPATCH:
        raise Conflict(f"dispatch {dispatch.id} is {dispatch.status}: no position to report")
    return replace(dispatch, position={"lat": float(lat), "lon": float(lon), "at": iso(at)})
