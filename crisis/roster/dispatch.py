"""Sending an officer: the dispatch workflow, and what a dispatch does to the roster.

A dispatch goes requested -> accepted | declined -> travelling -> on_site -> stood_down ->
returned; until the officer is on site it may be cancelled (recalled: a wrong pick, a
duplicate, an incident over before arrival), with a reason. ``TRANSITIONS`` is the whole
workflow and ``step`` refuses (``Conflict``) anything else. Every step is kept with who and
when. A cancelled dispatch was no deployment: no rest follows it (``slots.availability``
counts rest from "returned").

A declined or cancelled dispatch gives the standby back (``settle``): the alternate promoted
to primary by it is an alternate again from then on (the promoted slot is split there).

The ETA: at the request, ranking's (readiness notice + geodesic distance / cruise speed +
overheads). Once the officer is travelling the readiness notice no longer applies: the ETA is
the travel from where they are (their last reported position, else home) to the incident;
within ``ROAD_KM`` of it, by road at ``ROAD_KMH`` with no overheads.

Dispatching a primary must not leave the slot empty: the alternate on standby for the same
region at that moment (and available) becomes primary from then on. Its slot is split at
the dispatch time: the part before stays an alternate (same id), the rest becomes a
primary slot (new id) with a note saying why. With no such alternate the dispatch keeps
``promoted_slot_id`` None, and coverage warns of the gap (``dispatch_gap``).

An officer on leave or resting may still be sent: that is the duty officer's decision, and
the dispatch's note must say why (InputError "note" without one); such an officer is not on standby, so ``slot_id`` stays None and
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
from crisis.roster.ranking import distances_km, eta_hours, when
from crisis.roster.slots import availability

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "requested": ("accepted", "declined", "cancelled"),
    "accepted": ("travelling", "cancelled"),
    "travelling": ("on_site", "cancelled"),
    "on_site": ("stood_down",),
    "stood_down": ("returned",),
    "declined": (),
    "returned": (),
    "cancelled": (),
}
# The steps that end a dispatch before any deployment: the standby it took is given back.
GIVEN_BACK = ("declined", "cancelled")
# The last stretch of a journey: by road, no airport.
ROAD_KM = 150.0
ROAD_KMH = 60.0


def travel_hours(distance_km: float, rules: RosterRules) -> float:
    """Hours from a point ``distance_km`` away, once on the way (no readiness notice)."""
    if distance_km <= ROAD_KM:
        return distance_km / ROAD_KMH
    return eta_hours(0.0, distance_km, rules)


def en_route_eta(dispatch: Dispatch, at: datetime, rules: RosterRules) -> datetime | None:
    """When a travelling officer should arrive, from their last reported position (else the
    origin) at ``at``; the ETA as it was without a destination or a place to start from."""
    if dispatch.destination is None:
        return dispatch.eta
    where = dispatch.position or (dispatch.origin.to_dict() if dispatch.origin else None)
    if where is None:
        return dispatch.eta
    point = (float(dispatch.destination["lat"]), float(dispatch.destination["lon"]))
    distance = float(distances_km(point, np.array([float(where["lat"])]), np.array([float(where["lon"])]))[0])
    return at + timedelta(hours=travel_hours(distance, rules))


def homeward_eta(dispatch: Dispatch, at: datetime, rules: RosterRules) -> datetime | None:
    """When a stood-down officer should be home: the travel from their last reported position
    (else the incident) to where they left from, starting ``at``; None without both places."""
    where = dispatch.position or dispatch.destination
    if where is None or dispatch.origin is None:
        return None
    home = (float(dispatch.origin.lat), float(dispatch.origin.lon))
    distance = float(distances_km(home, np.array([float(where["lat"])]), np.array([float(where["lon"])]))[0])
    return at + timedelta(hours=travel_hours(distance, rules))


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
                  new_slot_id: Callable[[], str],
                  incident_words: Callable[[str], str] = str) -> tuple[Dispatch, list[Slot], list[str]]:
    """The new dispatch of ``officer`` to the incident at ``point`` (lat, lon), the slots to
    write (a promoted alternate's, split) and the slot ids to delete. Conflict when the
    officer already has an active dispatch (the incident said by ``incident_words``: its
    title, for the caller that knows it)."""
    for other in dispatches:
        if other.officer_id == officer.id and other.status in ACTIVE_DISPATCH:
            since = other.steps[-1].at if other.steps else other.created_at
            raise Conflict(f"{officer.name} is already deployed: sent to {incident_words(other.incident_id)} "
                           f"({other.status.replace('_', ' ')} since {when(since)})")
    away, until = availability(officer.id, at, leave, dispatches, rules)
    if away in ("on_leave", "resting") and not (note or "").strip():
        why = "on leave" if away == "on_leave" else "resting after a deployment"
        raise InputError([{"field": "note", "message": f"{officer.name} is {why}"
                           + (f" until {when(until)}" if until else "")
                           + ": say why they are sent anyway, in the note (kept with the dispatch)"}])
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


def step(dispatch: Dispatch, status: str, at: datetime, by: str | None, note: str | None = None,
         rules: RosterRules | None = None) -> Dispatch:
    """The dispatch one step on. InputError for an unknown status, or a cancellation without
    a reason (``note``); Conflict for a step the workflow forbids (the message says which
    steps may follow). With ``rules``, the step to "travelling" sets the ETA en route, and
    "stood_down" when the officer should be home (``return_eta``)."""
    if status not in DISPATCH_STATUSES:
        raise InputError([{"field": "status",
                           "message": f"unknown status {status!r}: use one of {', '.join(DISPATCH_STATUSES)}"}])
    allowed = TRANSITIONS.get(dispatch.status, ())
    if status not in allowed:
        following = ", ".join(allowed) if allowed else f"none ({dispatch.status} is final)"
        raise Conflict(f"cannot go from {dispatch.status} to {status}; next: {following}")
    if status == "cancelled" and not (note or "").strip():
        raise InputError([{"field": "note", "message": "say why the dispatch is cancelled (kept with the step)"}])
    after = replace(dispatch, status=status, steps=(*dispatch.steps, Step(status, at, by, note)))
    if status == "travelling" and rules is not None:
        after = replace(after, eta=en_route_eta(after, at, rules))
    if status == "stood_down" and rules is not None:
        after = replace(after, return_eta=homeward_eta(after, at, rules))
    return after


def settle(dispatch: Dispatch, at: datetime, slots: Sequence[Slot], new_slot_id: Callable[[], str]) -> list[Slot]:
    """The slots a declined or cancelled ``dispatch`` gives back, to write: the alternate it
    promoted is an alternate again from ``at`` (the part before stays primary: it was);
    nothing for another status, or when nothing was promoted or the promoted slot is over or gone."""
    if dispatch.status not in GIVEN_BACK or dispatch.promoted_slot_id is None:
        return []
    promoted = next((s for s in slots if s.id == dispatch.promoted_slot_id), None)
    if promoted is None or promoted.end <= at or promoted.role != "primary":
        return []
    back = f"alternate again: dispatch {dispatch.id} {dispatch.status}"
    if promoted.start >= at:
        return [replace(promoted, role="alternate", note=back)]
    return [replace(promoted, end=at), replace(promoted, id=new_slot_id(), start=at, role="alternate", note=back)]


def report_position(dispatch: Dispatch, lat: float, lon: float, at: datetime,
                    rules: RosterRules | None = None) -> Dispatch:
    """The dispatch with the officer's last reported position (while travelling, with
    ``rules``: the ETA from there; stood down: the expected return home from there). InputError for a point off the globe; Conflict when the
    dispatch is no longer active."""
    errors = []
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not -limit <= float(value) <= limit:
            errors.append({"field": f"position.{name}", "message": f"{value!r} is not a {name} in -{limit:g}..{limit:g}"})
    if errors:
        raise InputError(errors)
    if dispatch.status not in ACTIVE_DISPATCH:
        raise Conflict(f"dispatch {dispatch.id} is {dispatch.status}: no position to report")
    after = replace(dispatch, position={"lat": float(lat), "lon": float(lon), "at": iso(at)})
    if rules is not None and after.status == "travelling":
        after = replace(after, eta=en_route_eta(after, at, rules))
    if rules is not None and after.status == "stood_down":
        after = replace(after, return_eta=homeward_eta(after, at, rules))
    return after
