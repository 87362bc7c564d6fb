"""Security areas, their phases, and who must move when an area reaches one. Pure: no I/O.

Phases
======

===== ======================== ================================================================
phase name                     movement
===== ======================== ================================================================
0     none                     none
I     precautionary            none
II    restricted movement      none
III   relocation               "relocation" to a safe haven inside the country
IV    programme suspension     "relocation", the same people, out of the country
V     evacuation               "evacuation" out of the country
===== ======================== ================================================================

How phase IV is labelled: the issue names two actions, "relocation" and "evacuation".
Phase IV moves the phase III list out of the country, so its action is "relocation"
with ``out_of_country`` true (``movement_out_of_country``); "evacuation" is phase V only.

Who is put on the list (``on_list``), from the people inside the area when the phase
is declared:

* III and IV: dependants, visitors (on mission), consultants, and international staff
  not designated essential;
* V: everyone but national staff (essential international staff included);
* national staff are never put on a list automatically: a duty officer adds them by hand
  (``add_person``), and can remove anyone with a reason (``remove_person``).

A movement's life
=================

* Raising an area to III, IV or V opens a movement with the list of the people inside at
  that moment (``open_movement``).
* Raising it further (III -> IV -> V) extends the list with the people the new phase adds
  (``extend_movement``): nobody already on it is dropped, and everyone's progress is kept.
  Lowering it within III-V (V -> III) changes the action but keeps the list as it is:
  people already moving are not un-listed by a phase change.
* Lowering it below III closes the movement (``close_movement``); a closed movement is
  kept as history, never deleted.

Progress of each person
=======================

``to_move`` -> ``moving`` -> ``arrived``, or ``stayed`` (with a reason). Allowed changes
(``PROGRESS_TRANSITIONS``):

============ =====================================
from         to
============ =====================================
to_move      moving, arrived, stayed
moving       arrived, stayed, to_move (a false start)
stayed       to_move, moving (they leave after all)
arrived      (none: arrival is final)
============ =====================================

A check-in with a place within ``ARRIVAL_RADIUS_KM`` (on the ground, WGS84) of the
confirmed safe haven marks the person arrived (``progress_from_checkin``; the change is
recorded "via checkin"). A check-in anywhere else changes nothing: only a duty officer
says someone is moving or stayed.

A person is **overdue** (``overdue``) when the movement has an expected arrival, it has
passed, and they have not arrived (progress to_move or moving). "stayed" is never overdue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pyproj import Geod

PHASES: dict[int, str] = {
    0: "none",
    1: "precautionary",
    2: "restricted movement",
    3: "relocation",
    4: "programme suspension",
    5: "evacuation",
}
ROMAN = {0: "0", 1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}
MIN_PHASE = 0
MAX_PHASE = 5
MOVEMENT_PHASE = 3  # the lowest phase with a movement

RELOCATION = "relocation"
EVACUATION = "evacuation"
ACTIONS = (RELOCATION, EVACUATION)

# Categories moved at III and IV (and, with the others, at V).
NON_ESSENTIAL_CATEGORIES = frozenset({"dependant", "visitor", "consultant"})
INTERNATIONAL_STAFF = "international_staff"
NATIONAL_STAFF = "national_staff"

PROGRESS = ("to_move", "moving", "arrived", "stayed")
PROGRESS_TRANSITIONS: dict[str, frozenset[str]] = {
    "to_move": frozenset({"moving", "arrived", "stayed"}),
    "moving": frozenset({"arrived", "stayed", "to_move"}),
    "stayed": frozenset({"to_move", "moving"}),
    "arrived": frozenset(),
}
NOT_ARRIVED = frozenset({"to_move", "moving"})
ARRIVAL_RADIUS_KM = 25.0  # a check-in this close to the safe haven is an arrival
_GEOD = Geod(ellps="WGS84")
MODES = ("road", "air", "other")

ADDED_BY_RULE = "phase"  # "added_by" of a person the phase rule put on the list

# Event type for a person taken off a movement list by hand (the others are in
# crisis.domain.events; this one is kept beside the rule it records).
MOVEMENT_PERSON_REMOVED = "movement.person_removed"


class ProgressError(ValueError):
    """A progress change the rules do not allow (answered 409), or one without its reason (422)."""


def phase_name(phase: int) -> str:
    """ "III relocation" and so on; "0 none" for phase 0."""
    return f"{ROMAN[phase]} {PHASES[phase]}"


def is_phase(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_PHASE <= value <= MAX_PHASE


def movement_action(phase: int) -> str | None:
    """None below III; "relocation" at III and IV; "evacuation" at V."""
    if phase >= 5:
        return EVACUATION
    if phase >= MOVEMENT_PHASE:
        return RELOCATION
    return None


def movement_out_of_country(phase: int) -> bool:
    """Whether the movement of this phase leaves the country (IV and V)."""
    return phase >= 4


def on_list(phase: int, category: str | None, essential: bool | None) -> bool:
    """Whether a person of this category (essential or not) is put on the movement list
    automatically at this phase. National staff: never."""
    if movement_action(phase) is None or category == NATIONAL_STAFF:
        return False
    if phase >= 5:
        return True
    if category in NON_ESSENTIAL_CATEGORIES:
        return True
    return category == INTERNATIONAL_STAFF and not essential


def movement_list(phase: int, people: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ids of these people (traveller profiles: id, category, essential) that the
    phase puts on the movement list, in the order given, each once."""
    seen: set[str] = set()
    out: list[str] = []
    for person in people:
        tid = str(person.get("id"))
        if tid in seen:
            continue
        if on_list(phase, person.get("category"), bool(person.get("essential"))):
            seen.add(tid)
            out.append(tid)
    return out


def _entry(traveller_id: str, now: datetime, added_by: str, category: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"traveller_id": traveller_id, "progress": "to_move", "added_by": added_by,
                             "added_at": now.isoformat(), "overdue": False}
    if category is not None:
        entry["category"] = category
    return entry


def open_movement(movement_id: str, area_id: str, phase: int, people: Iterable[Mapping[str, Any]],
                  now: datetime) -> dict[str, Any]:
    """A new movement for an area just raised to ``phase`` (III-V), listing the people
    inside that the phase moves."""
    action = movement_action(phase)
    if action is None:
        raise ValueError(f"phase {phase} has no movement")
    by_id = {str(p.get("id")): p for p in people}
    listed = movement_list(phase, by_id.values())
    movement: dict[str, Any] = {
        "id": movement_id, "area_id": area_id, "action": action, "phase": phase,
        "out_of_country": movement_out_of_country(phase),
        "opened_at": now.isoformat(), "closed_at": None,
        "safe_haven": None, "mode": None, "expected_arrival": None, "confirmed_at": None,
        "people": [_entry(tid, now, ADDED_BY_RULE, by_id[tid].get("category")) for tid in listed],
        "removed": [],
    }
    movement["counts"] = movement_counts(movement["people"], None, now)
    return movement


def extend_movement(movement: Mapping[str, Any], phase: int, people: Iterable[Mapping[str, Any]],
                    now: datetime) -> dict[str, Any]:
    """The open movement after a phase change within III-V: the action follows the new
    phase; the people the new phase adds (and who are neither listed nor removed by
    hand) join the list as "to_move"; everyone already listed keeps their progress."""
    action = movement_action(phase)
    if action is None:
        raise ValueError(f"phase {phase} has no movement: close it instead")
    listed = {str(p["traveller_id"]) for p in movement["people"]}
    removed = {str(r["traveller_id"]) for r in movement.get("removed", [])}
    by_id = {str(p.get("id")): p for p in people}
    added = [tid for tid in movement_list(phase, by_id.values()) if tid not in listed and tid not in removed]
    updated = dict(movement)
    updated.update(action=action, phase=phase, out_of_country=movement_out_of_country(phase))
    updated["people"] = [dict(p) for p in movement["people"]] + [
        _entry(tid, now, ADDED_BY_RULE, by_id[tid].get("category")) for tid in added]
    updated["counts"] = movement_counts(updated["people"], updated.get("expected_arrival"), now)
    return updated


def close_movement(movement: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The movement closed (its area was lowered below III): kept whole, with its end."""
    closed = dict(movement)
    closed["closed_at"] = now.isoformat()
    closed["counts"] = movement_counts(closed["people"], closed.get("expected_arrival"), now)
    return closed


def confirm_movement(movement: Mapping[str, Any], safe_haven: Mapping[str, Any], mode: str,
                     expected_arrival: datetime, now: datetime) -> dict[str, Any]:
    """The movement with its safe haven, mode and expected arrival (confirming again replaces them)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if expected_arrival.tzinfo is None:
        raise ValueError("expected_arrival must carry a time zone")
    confirmed = dict(movement)
    confirmed.update(safe_haven={"name": safe_haven["name"], "lat": float(safe_haven["lat"]), "lon": float(safe_haven["lon"])},
                     mode=mode, expected_arrival=expected_arrival.isoformat(), confirmed_at=now.isoformat())
    confirmed["counts"] = movement_counts(confirmed["people"], confirmed["expected_arrival"], now)
    return confirmed


def check_progress(current: str, new: str, reason: str | None) -> None:
    """Raise ProgressError unless ``current`` -> ``new`` is allowed (and "stayed" has a reason)."""
    if new not in PROGRESS:
        raise ProgressError(f"progress must be one of {', '.join(PROGRESS)}, not {new!r}")
    if new == "stayed" and not (reason and reason.strip()):
        raise ProgressError("a person who stayed needs a reason")
    if new != current and new not in PROGRESS_TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(PROGRESS_TRANSITIONS.get(current, frozenset()))) or "nothing (final)"
        raise ProgressError(f"progress cannot go from {current} to {new}; from {current}: {allowed}")


def set_progress(movement: Mapping[str, Any], traveller_id: str, progress: str, reason: str | None,
                 by: str | None, now: datetime) -> dict[str, Any]:
    """The movement with one person's progress changed (KeyError when not listed)."""
    people = [dict(p) for p in movement["people"]]
    for person in people:
        if person["traveller_id"] == traveller_id:
            check_progress(person["progress"], progress, reason)
            person.update(progress=progress, progress_at=now.isoformat(), progress_by=by)
            if progress == "stayed":
                person["reason"] = (reason or "").strip()
            else:
                person.pop("reason", None)
            break
    else:
        raise KeyError(traveller_id)
    updated = dict(movement)
    updated["people"] = people
    updated["counts"] = movement_counts(people, updated.get("expected_arrival"), now)
    return updated


def add_person(movement: Mapping[str, Any], traveller_id: str, category: str | None, by: str,
               reason: str | None, now: datetime) -> dict[str, Any]:
    """The movement with a person added by hand (ValueError when already listed). A person
    removed earlier may be added again."""
    if any(p["traveller_id"] == traveller_id for p in movement["people"]):
        raise ValueError(f"{traveller_id} is already on the list")
    entry = _entry(traveller_id, now, by, category)
    if reason:
        entry["note"] = reason
    updated = dict(movement)
    updated["people"] = [dict(p) for p in movement["people"]] + [entry]
    updated["removed"] = [r for r in movement.get("removed", []) if r["traveller_id"] != traveller_id]
    updated["counts"] = movement_counts(updated["people"], updated.get("expected_arrival"), now)
    return updated


def remove_person(movement: Mapping[str, Any], traveller_id: str, by: str, reason: str,
                  now: datetime) -> dict[str, Any]:
    """The movement without this person (KeyError when not listed); who, when and why is
    kept in ``removed``, and a later phase raise does not put them back."""
    if not reason.strip():
        raise ProgressError("removing a person needs a reason")
    people = [dict(p) for p in movement["people"]]
    gone = [p for p in people if p["traveller_id"] == traveller_id]
    if not gone:
        raise KeyError(traveller_id)
    updated = dict(movement)
    updated["people"] = [p for p in people if p["traveller_id"] != traveller_id]
    updated["removed"] = [*movement.get("removed", []), {
        "traveller_id": traveller_id, "reason": reason.strip(), "by": by, "at": now.isoformat(),
        "progress": gone[0]["progress"]}]
    updated["counts"] = movement_counts(updated["people"], updated.get("expected_arrival"), now)
    return updated


def _time(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def overdue(person: Mapping[str, Any], expected_arrival: datetime | str | None, now: datetime) -> bool:
    """Past the expected arrival and not arrived (to_move or moving)."""
    expected = _time(expected_arrival)
    return expected is not None and now > expected and person.get("progress") in NOT_ARRIVED


def movement_counts(people: Iterable[Mapping[str, Any]], expected_arrival: datetime | str | None,
                    now: datetime) -> dict[str, int]:
    """{"to_move", "moving", "arrived", "stayed", "overdue", "total"}."""
    expected = _time(expected_arrival)
    out = {**{p: 0 for p in PROGRESS}, "overdue": 0, "total": 0}
    for person in people:
        out["total"] += 1
        progress = str(person.get("progress"))
        out[progress if progress in PROGRESS else "to_move"] += 1
        out["overdue"] += int(overdue(person, expected, now))
    return out


def with_overdue(movement: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The movement with each person's ``overdue`` and the counts as of ``now`` (an
    expected arrival passes without any event)."""
    expected = _time(movement.get("expected_arrival"))
    people = [{**p, "overdue": overdue(p, expected, now)} for p in movement["people"]]
    return {**movement, "people": people, "counts": movement_counts(people, expected, now)}


def progress_from_checkin(movement: Mapping[str, Any], traveller_id: str, lat: float, lon: float) -> str | None:
    """"arrived" when a listed person who has not arrived checks in within
    ``ARRIVAL_RADIUS_KM`` of the movement's confirmed safe haven; None otherwise (not
    listed, no safe haven yet, already arrived, stayed, or elsewhere)."""
    haven = movement.get("safe_haven")
    if not haven:
        return None
    person = next((p for p in movement.get("people", []) if p.get("traveller_id") == traveller_id), None)
    if person is None or person.get("progress") not in NOT_ARRIVED:
        return None
    _, _, metres = _GEOD.inv(float(lon), float(lat), float(haven["lon"]), float(haven["lat"]))
    return "arrived" if metres / 1000.0 <= ARRIVAL_RADIUS_KM else None
