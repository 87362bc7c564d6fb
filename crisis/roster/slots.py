"""Standby slots and leave: what is valid, what overlaps, who is on standby now, who is next.

A slot covers ``start <= t < end`` (half-open): at a handover the outgoing officer is off
standby at the very instant the incoming one is on, so two slots of one officer that touch
(one ends when the next starts) do not overlap.

Availability decides whether a slot counts. Leave (or any "unavailable" period) overrides
a slot: an officer on leave is not on standby whatever the slots say. An officer with an
active dispatch (``ACTIVE_DISPATCH``) is deployed; an officer who returned less than
``rules.rest_days`` ago is resting. Neither is on standby. Time is always a parameter.

Errors are lists of ``{"field", "message"}``; the caller raises ``InputError`` with them.
With ``index`` given, fields are prefixed ``slots[i].`` (or ``leave[i].``) so a list
posted in one request names the row at fault.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from crisis.domain.regions import REGIONS
from crisis.errors import InputError
from crisis.roster.model import (
    ACTIVE_DISPATCH,
    AWAY_WORDS,
    LEAVE_KINDS,
    READINESS_HOURS,
    SLOT_ROLES,
    Dispatch,
    Leave,
    Officer,
    RosterRules,
    Slot,
    day_time,
    iso,
)

WORLDWIDE = "worldwide"  # the key of next_up for slots with no region


def _prefix(name: str, index: int | None) -> str:
    return f"{name}[{index}]." if index is not None else ""


def _aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None


def _period_errors(start: datetime, end: datetime, officer_id: str, officer_ids: Collection[str],
                   prefix: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for name, value in (("start", start), ("end", end)):
        if not _aware(value):
            errors.append({"field": prefix + name,
                           "message": f"a time without a zone ({value.isoformat()}): give an offset, e.g. Z"})
    if _aware(start) and _aware(end) and end <= start:
        errors.append({"field": prefix + "end",
                       "message": f"ends ({iso(end)}) at or before it starts ({iso(start)})"})
    if officer_id not in officer_ids:
        errors.append({"field": prefix + "officer_id", "message": f"unknown officer {officer_id!r}"})
    return errors


def validate_slot(slot: Slot, officer_ids: Collection[str], index: int | None = None) -> list[dict[str, Any]]:
    """The errors of one slot (empty when valid): a naive start or end, end at or before
    start, readiness other than 24/48, a role other than primary/alternate, an unknown
    region or officer. Fields ``slots[i].<name>`` when ``index`` is given."""
    prefix = _prefix("slots", index)
    errors = _period_errors(slot.start, slot.end, slot.officer_id, officer_ids, prefix)
    if slot.readiness_hours not in READINESS_HOURS or isinstance(slot.readiness_hours, bool):
        errors.append({"field": prefix + "readiness_hours",
                       "message": f"{slot.readiness_hours!r} is not a readiness: use 24 or 48 (hours)"})
    if slot.role not in SLOT_ROLES:
        errors.append({"field": prefix + "role", "message": f"{slot.role!r} is not a role: use primary or alternate"})
    if slot.region is not None and slot.region not in REGIONS:
        errors.append({"field": prefix + "region",
                       "message": f"unknown region {slot.region!r}: use one of {', '.join(REGIONS)} "
                                  "or none for worldwide"})
    return errors


def validate_leave(leave: Leave, officer_ids: Collection[str], index: int | None = None) -> list[dict[str, Any]]:
    """The errors of one leave period (empty when valid): a naive start or end, end at or
    before start, an unknown kind or officer. Fields ``leave[i].<name>`` with ``index``."""
    prefix = _prefix("leave", index)
    errors = _period_errors(leave.start, leave.end, leave.officer_id, officer_ids, prefix)
    if leave.kind not in LEAVE_KINDS:
        errors.append({"field": prefix + "kind",
                       "message": f"{leave.kind!r} is not a kind of leave: use {' or '.join(LEAVE_KINDS)}"})
    return errors


def _span(a: datetime, b: datetime) -> str:
    return f"{day_time(a)} to {day_time(b)} UTC"


def leave_overlaps(leave: Leave, existing: Sequence[Leave]) -> list[dict[str, Any]]:
    """The errors of a leave period overlapping another of the same officer (field "start"):
    two records of one absence would be counted, changed and removed apart."""
    return [{"field": "start", "message": f"overlaps this officer's leave {other.id} ({_span(other.start, other.end)}): "
                                          "change that one, or remove it first"}
            for other in existing
            if other.officer_id == leave.officer_id and other.id != leave.id
            and other.start < leave.end and leave.start < other.end]


def clash_warnings(officer_name: str, slots: Sequence[Slot], leave: Sequence[Leave]) -> list[str]:
    """In words, where standby ``slots`` and ``leave`` of one officer meet: accepted (leave beats
    a slot: the officer is not on standby then), but said, so that nobody counts on a slot that
    is a hole: "Officer X is on leave 11 Dec 14:40 to 12 Dec 18:26 UTC, inside the primary
    standby slot (Middle East and North Africa) of 11 Dec 08:00 to 18 Dec 08:00 UTC: not on
    standby then"."""
    out = []
    for slot in slots:
        for period in leave:
            if period.officer_id != slot.officer_id or not (period.start < slot.end and slot.start < period.end):
                continue
            where = REGIONS.get(slot.region, slot.region) if slot.region else "worldwide"
            kind = "on leave" if period.kind == "leave" else "unavailable"
            out.append(f"{officer_name} is {kind} {_span(max(period.start, slot.start), min(period.end, slot.end))}, "
                       f"inside the {slot.role} standby slot ({where}) of {_span(slot.start, slot.end)}: "
                       "not on standby then")
    return out


def _describe(slot: Slot) -> str:
    return f"{slot.id} ({slot.region or 'worldwide'} {slot.role}, {iso(slot.start)} to {iso(slot.end)})"


def _officer(officer_id: str, names: Mapping[str, str] | None) -> str:
    name = (names or {}).get(officer_id)
    return f"{name} ({officer_id})" if name else f"officer {officer_id}"


def overlaps(new: Sequence[Slot], existing: Sequence[Slot], names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Slots of the same officer whose time ranges intersect (half-open: touching slots do
    not), among ``new`` and between ``new`` and ``existing``. A slot of ``existing`` with the
    id of a new one is being replaced and is ignored. One error per conflict, on the later
    new slot: field ``slots[i].start``; ``names`` (officer id -> name) names the officer in it."""
    replaced = {slot.id for slot in new}
    by_officer: dict[str, list[Slot]] = defaultdict(list)
    for slot in existing:
        if slot.id not in replaced:
            by_officer[slot.officer_id].append(slot)
    errors: list[dict[str, Any]] = []
    seen: dict[str, list[tuple[int, Slot]]] = defaultdict(list)
    for i, slot in enumerate(new):
        for j, other in seen[slot.officer_id]:
            if slot.start < other.end and other.start < slot.end:
                errors.append({"field": f"slots[{i}].start",
                               "message": f"{_officer(slot.officer_id, names)} is already on standby in slots[{j}] "
                                          f"({iso(other.start)} to {iso(other.end)})"})
        for other in by_officer[slot.officer_id]:
            if slot.start < other.end and other.start < slot.end:
                errors.append({"field": f"slots[{i}].start",
                               "message": f"{_officer(slot.officer_id, names)} is already on standby then, in slot "
                                          f"{_describe(other)}"})
        seen[slot.officer_id].append((i, slot))
    return errors


def _by_officer(items: Iterable[Leave]) -> dict[str, list[Leave]]:
    grouped: dict[str, list[Leave]] = defaultdict(list)
    for item in items:
        grouped[item.officer_id].append(item)
    return grouped


def _dispatches_by_officer(items: Iterable[Dispatch]) -> dict[str, list[Dispatch]]:
    grouped: dict[str, list[Dispatch]] = defaultdict(list)
    for item in items:
        grouped[item.officer_id].append(item)
    return grouped


def _leave_until(at: datetime, leave: Sequence[Leave]) -> datetime | None:
    """The end of the leave covering ``at``, joined across back-to-back periods; None if none."""
    until: datetime | None = None
    t = at
    while True:
        ends = [period.end for period in leave if period.start <= t < period.end]
        if not ends:
            return until
        until = t = max(ends)


def _rest_until(at: datetime, dispatches: Sequence[Dispatch], rules: RosterRules) -> datetime | None:
    """The end of the rest after the latest return before ``at``, if still running."""
    rest = timedelta(days=rules.rest_days)
    ends = [returned + rest for d in dispatches
            if (returned := d.returned_at()) is not None and returned <= at < returned + rest]
    return max(ends) if ends else None


def _deployed(at: datetime, dispatches: Sequence[Dispatch]) -> bool:
    for d in dispatches:
        if d.created_at > at:
            continue  # not yet sent at that moment
        if d.status in ACTIVE_DISPATCH:
            return True
        returned = d.returned_at()
        if returned is not None and at < returned:
            return True  # away then, back since
    return False


def _availability(at: datetime, leave: Sequence[Leave], dispatches: Sequence[Dispatch],
                  rules: RosterRules) -> tuple[str | None, datetime | None]:
    """``availability`` for one officer's own leave and dispatches."""
    if _deployed(at, dispatches):
        return "deployed", None
    reason: str | None = None
    until: datetime | None = None
    t = at
    while True:  # leave then rest then leave...: available from the end of the chain
        leave_end = _leave_until(t, leave)
        rest_end = _rest_until(t, dispatches, rules)
        ends = [e for e in (leave_end, rest_end) if e is not None and e > t]
        if not ends:
            return reason, until
        if reason is None:
            reason = "on_leave" if leave_end is not None else "resting"
        until = t = max(ends)


def availability(officer_id: str, at: datetime, leave: Sequence[Leave], dispatches: Sequence[Dispatch],
                 rules: RosterRules) -> tuple[str | None, datetime | None]:
    """Whether an officer can be on standby (or sent) at ``at``, and if not, why and until when.

    ``(None, None)``: available. ``("deployed", None)``: a dispatch sent at or before ``at``
    is active (or was still away then): no end is known. ``("on_leave", t)``: on leave or
    unavailable at ``at``. ``("resting", t)``: returned from a dispatch less than
    ``rules.rest_days`` before ``at``. ``t`` is when the officer is available again: leave
    and rest that follow each other back to back are joined. ``leave`` and ``dispatches``
    may hold every officer's: only ``officer_id``'s count."""
    own_leave = [period for period in leave if period.officer_id == officer_id]
    own_dispatches = [d for d in dispatches if d.officer_id == officer_id]
    return _availability(at, own_leave, own_dispatches, rules)


def _role_order(role: str) -> int:
    return SLOT_ROLES.index(role) if role in SLOT_ROLES else len(SLOT_ROLES)


def on_standby(at: datetime, slots: Sequence[Slot], leave: Sequence[Leave], dispatches: Sequence[Dispatch],
               rules: RosterRules) -> list[dict[str, Any]]:
    """Who is on standby at ``at``: every slot covering ``at`` (start included, end
    excluded) whose officer is available then. Each answer: ``slot_id``, ``officer_id``,
    ``readiness_hours``, ``role``, ``region``, ``until`` (ISO: the slot's end, or the start
    of the officer's next leave if earlier). Sorted by region (worldwide last), role
    (primary first), officer id."""
    leave_of = _by_officer(leave)
    dispatches_of = _dispatches_by_officer(dispatches)
    answer: list[dict[str, Any]] = []
    for slot in slots:
        if not slot.covers(at):
            continue
        own_leave = leave_of.get(slot.officer_id, [])
        if _availability(at, own_leave, dispatches_of.get(slot.officer_id, []), rules)[0] is not None:
            continue
        until = min([slot.end] + [period.start for period in own_leave if at < period.start < slot.end])
        answer.append({"slot_id": slot.id, "officer_id": slot.officer_id, "readiness_hours": slot.readiness_hours,
                       "role": slot.role, "region": slot.region, "until": iso(until)})
    answer.sort(key=lambda s: (s["region"] is None, s["region"] or "", _role_order(s["role"]), s["officer_id"]))
    return answer


def next_up(at: datetime, slots: Sequence[Slot], leave: Sequence[Leave], dispatches: Sequence[Dispatch],
            rules: RosterRules) -> dict[str, dict[str, Any] | None]:
    """Who comes on standby next for each region: keys are every region of ``rules.regions``
    plus ``"worldwide"`` (slots with no region). The next slot starting after ``at`` with that
    region whose officer is available at its start (not on leave, deployed or resting);
    earliest start first, then primary before alternate, then officer id. None when none."""
    leave_of = _by_officer(leave)
    dispatches_of = _dispatches_by_officer(dispatches)
    best: dict[str, Slot] = {}
    candidates = sorted((s for s in slots if s.start > at),
                        key=lambda s: (s.start, _role_order(s.role), s.officer_id, s.id))
    for slot in candidates:
        key = slot.region if slot.region is not None else WORLDWIDE
        if key in best:
            continue
        state = _availability(slot.start, leave_of.get(slot.officer_id, []),
                              dispatches_of.get(slot.officer_id, []), rules)
        if state[0] is None:
            best[key] = slot
    answer: dict[str, dict[str, Any] | None] = {}
    for key in (*rules.regions, WORLDWIDE):
        chosen = best.get(key)
        answer[key] = None if chosen is None else {
            "slot_id": chosen.id, "officer_id": chosen.officer_id, "start": iso(chosen.start),
            "end": iso(chosen.end), "readiness_hours": chosen.readiness_hours, "role": chosen.role,
            "region": chosen.region}
    return answer


def swap(a: Slot, b: Slot, note: str) -> tuple[Slot, Slot]:
    """Exchange the officers of two slots (each keeps its id, times, role and region); the
    note says why. InputError when it is one slot or one officer (nothing to swap). Whether
    the result overlaps other slots is for ``overlaps`` to say."""
    if a.id == b.id:
        raise InputError([{"field": "slot_b", "message": f"cannot swap slot {a.id} with itself"}])
    if a.officer_id == b.officer_id:
        raise InputError([{"field": "slot_b",
                           "message": f"both slots are officer {a.officer_id}'s: nothing to swap"}])
    why = note or f"swap: {a.officer_id} and {b.officer_id}"
    return replace(a, officer_id=b.officer_id, note=why), replace(b, officer_id=a.officer_id, note=why)


def reassign(slot: Slot, officer_id: str, note: str) -> Slot:
    """A duty officer's override: another officer on the slot; the note says why.
    InputError (field ``officer_id``) when it is already that officer's slot."""
    if not officer_id:
        raise InputError([{"field": "officer_id", "message": "required: the officer to put on the slot"}])
    if officer_id == slot.officer_id:
        raise InputError([{"field": "officer_id", "message": f"slot {slot.id} is already officer {officer_id}'s"}])
    return replace(slot, officer_id=officer_id, note=note or f"override: {slot.officer_id} replaced by {officer_id}")


def who_can_take(slot: Slot, officers: Mapping[str, Officer], slots: Sequence[Slot], leave: Sequence[Leave],
                 dispatches: Sequence[Dispatch], rules: RosterRules) -> list[tuple[str, str | None]]:
    """Every other officer for ``slot``, as (officer id, why they cannot take it or None), the
    ones who can first, then those of the slot's region, then by name. Cannot: on standby then
    (another slot meets it: an override would be refused), on leave or unavailable during it,
    or deployed or resting at its start (``availability``)."""
    busy = {s.officer_id: s for s in slots if s.id != slot.id and s.start < slot.end and slot.start < s.end}
    away = {p.officer_id: p for p in leave if p.start < slot.end and slot.start < p.end}
    by_officer = _dispatches_by_officer(dispatches)
    out: list[tuple[str, str | None, Officer]] = []
    for oid, officer in officers.items():
        if oid == slot.officer_id:
            continue
        why: str | None = None
        if oid in busy:
            other = busy[oid]
            why = f"on standby then ({REGIONS.get(other.region, other.region) if other.region else 'worldwide'} {other.role})"
        elif oid in away:
            why = ("on leave" if away[oid].kind == "leave" else "unavailable") + f" {_span(max(away[oid].start, slot.start), min(away[oid].end, slot.end))}"
        else:
            reason, until = _availability(slot.start, [], by_officer.get(oid, []), rules)
            if reason is not None:
                why = AWAY_WORDS.get(reason, reason) + (f" until {day_time(until)} UTC" if until else "")
        out.append((oid, why, officer))
    out.sort(key=lambda t: (t[1] is not None, t[2].region != slot.region, (t[2].name or t[0]).lower()))
    return [(oid, why) for oid, why, _ in out]
