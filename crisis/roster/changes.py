"""What each roster event writes, and the roster those writes make. No I/O.

Every event of ``keys.ROSTER_STREAM`` carries the whole values it wrote and the ids it
removed (``crisis.handlers_roster``). ``writes`` says which, in one place for both users:
``crisis.adapters.roster_store.RosterStore.queue_event`` replays them into the Redis
projection (``crisis backup`` / ``rebuild``), and ``apply`` folds them onto a roster held in
a process (``crisis.views_roster.state`` catches its cached roster up with the events
after it, instead of loading every officer, slot and leave period again after each write:
~300 ms for 5,000 officers and 12,000 slots).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from crisis.roster.model import Dispatch, Leave, Officer, Slot

Part = Literal["officers", "slots", "leave", "dispatches"]


@dataclass(frozen=True)
class Write:
    """Put these values (by their id) into a part of the roster, or remove these ids."""

    part: Part
    put: tuple[Any, ...] = ()
    remove: tuple[str, ...] = ()


def writes(event_type: str, payload: Mapping[str, Any]) -> list[Write] | None:
    """The writes one roster event implies, in order; None for an event that writes nothing
    of the roster (not one of its events)."""
    if event_type == "roster.officers_imported":
        return [Write("officers", put=tuple(Officer.from_dict(o) for o in payload.get("officers") or ()))]
    if event_type in ("roster.slots_added", "roster.rotation_generated", "roster.swap"):
        return [Write("slots", put=tuple(Slot.from_dict(s) for s in payload.get("slots") or ()))]
    if event_type in ("roster.slot_changed", "roster.override"):
        return [Write("slots", put=(Slot.from_dict(payload["slot"]),))]
    if event_type == "roster.slot_removed":
        return [Write("slots", remove=(str(payload["slot"]["id"]),))]
    if event_type == "roster.leave_added":
        return [Write("leave", put=(Leave.from_dict(payload["leave"]),))]
    if event_type == "roster.leave_removed":
        return [Write("leave", remove=(str(payload["leave"]["id"]),))]
    if event_type == "dispatch.created":
        return [Write("dispatches", put=(Dispatch.from_dict(payload["dispatch"]),)),
                Write("slots", put=tuple(Slot.from_dict(s) for s in payload.get("slots") or ())),
                Write("slots", remove=tuple(str(i) for i in payload.get("removed") or ()))]
    if event_type in ("dispatch.step", "dispatch.position"):
        return [Write("dispatches", put=(Dispatch.from_dict(payload["dispatch"]),)),
                Write("slots", put=tuple(Slot.from_dict(s) for s in payload.get("slots") or ()))]
    return None


def _by_id(values: Iterable[Any]) -> dict[str, Any]:
    return {v.id: v for v in values}


# How each part is ordered where it is held (as RosterStore.snapshot orders it).
ORDER: dict[Part, Any] = {
    "officers": lambda o: o.id,
    "slots": lambda s: (s.start, s.id),
    "leave": lambda x: (x.start, x.id),
    "dispatches": lambda d: (d.created_at, d.id),
}


def apply(parts: Mapping[Part, Iterable[Any]], events: Iterable[tuple[str, Mapping[str, Any]]]
          ) -> dict[Part, tuple[Any, ...]]:
    """The parts changed by these (event type, payload) events, each whole and in its order
    (ORDER); a part no event touched is not in the answer (the caller keeps its own)."""
    changed: dict[Part, dict[str, Any]] = {}
    for event_type, payload in events:
        for write in writes(event_type, payload) or ():
            if write.part not in changed:
                changed[write.part] = _by_id(parts[write.part])
            held = changed[write.part]
            for value in write.put:
                held[value.id] = value
            for value_id in write.remove:
                held.pop(value_id, None)
    return {part: tuple(sorted(held.values(), key=ORDER[part])) for part, held in changed.items()}
