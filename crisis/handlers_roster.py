"""Commands on the standby roster and on dispatches: validated values in, the rules of
``crisis.roster`` applied, one event in ``keys.ROSTER_STREAM`` stored with the projection
(``crisis.adapters.roster_store``) in the same transaction.

Every command holds ``ctx.deps.lock("roster")`` while it reads, decides and writes, so
two duty officers never book the same officer twice, nor dispatch one twice. Time comes
from ``ctx.deps.clock()``. Every event carries ``actor`` (who) and the whole values it
wrote (the projection can be rebuilt from the log: ``RosterStore.rebuild``).

Events (type: payload):

* ``roster.officers_imported``: {"officers": [...], "updated": [ids that existed before]}
* ``roster.slots_added``: {"slots": [...]}; ``roster.rotation_generated``: {"slots", "params"}
* ``roster.slot_changed``: {"slot", "before"}; ``roster.slot_removed``: {"slot"}
* ``roster.leave_added`` / ``roster.leave_removed``: {"leave"}
* ``roster.swap``: {"slots": [a, b] (after), "before": [a, b], "note"}
* ``roster.override``: {"slot", "before", "note"}
* ``dispatch.created``: {"dispatch", "slots": [added or changed], "removed": [slot ids]}
* ``dispatch.step``: {"dispatch"}, and "slots" (written) when it gives a promoted standby
  back (declined, cancelled); ``dispatch.position``: {"dispatch"}

Errors: ``InputError`` naming the field (bad times, readiness, role, region, unknown
officer, overlapping slots), ``NotFound`` (no such slot, leave, dispatch, incident or
officer to dispatch), ``Conflict`` (a dispatch of an officer already deployed, to a closed
incident; a status step the workflow forbids).

Input helpers for the API and the CLI: ``parse_slots`` (a JSON list -> slots, fields
"slots[i].x"), ``parse_leave`` (a JSON object -> a leave period) and ``parse_time_field``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timezone
from typing import Any

from crisis.adapters import keys
from crisis.adapters.roster_store import RosterStore
from crisis.bootstrap import Context
from crisis.domain.events import Event
from crisis.domain.model import IncidentStatus
from crisis.errors import Conflict, InputError, NotFound
from crisis.roster import dispatch as dispatch_rules
from crisis.roster import rotations
from crisis.roster import slots as slot_rules
from crisis.roster.model import LEAVE_KINDS, Dispatch, Leave, Officer, Slot
from crisis.views_roster import rules as roster_rules
from crisis.views_roster import state as roster_state

SLOT_FIELDS = ("officer_id", "start", "end", "readiness_hours", "role", "region", "note")


@dataclass(frozen=True)
class ImportResult:
    accepted: list[str]  # ids of the officers stored (new and updated), in input order
    updated: list[str]  # those of them that existed before (updated in place)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- input parsing (for the API and the CLI) ------------------------------------------
def parse_time_field(value: Any, field: str) -> datetime:
    """An ISO 8601 time with its zone (a string, or an aware datetime), in UTC; InputError
    naming ``field`` otherwise ("a time without a zone" is an error, not a guess)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InputError([{"field": field, "message": f"not an ISO 8601 time: {value!r}"}]) from None
    else:
        raise InputError([{"field": field, "message": "an ISO 8601 time with its zone is required"}])
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputError([{"field": field, "message": f"a time without a zone: {value!s} (add Z or +hh:mm)"}])
    return parsed.astimezone(timezone.utc)


def _int_field(value: Any, field: str, errors: list[dict[str, Any]]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        errors.append({"field": field, "message": "a whole number is required"})
        return None
    try:
        return int(value)
    except ValueError:
        errors.append({"field": field, "message": f"a whole number is required, not {value!r}"})
        return None


def _opt_str(value: Any, field: str, errors: list[dict[str, Any]]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append({"field": field, "message": "a string is required"})
        return None
    return value


def _slot_from(item: Any, prefix: str, errors: list[dict[str, Any]], base: Slot | None = None) -> Slot | None:
    """One slot from a JSON object (``base``: the slot being patched, its values kept)."""
    if not isinstance(item, Mapping):
        errors.append({"field": prefix.rstrip("."), "message": "a slot object is required"})
        return None
    found = len(errors)
    for key in item:
        if key not in (*SLOT_FIELDS, "id"):
            errors.append({"field": f"{prefix}{key}", "message": f"unknown field; known: {', '.join(SLOT_FIELDS)}"})
    if base is not None and "id" in item and item["id"] != base.id:
        errors.append({"field": f"{prefix}id", "message": "a slot's id cannot change"})

    def get(key: str) -> Any:
        return item[key] if key in item else (getattr(base, key) if base is not None else None)

    officer_id = get("officer_id")
    if not isinstance(officer_id, str) or not officer_id:
        errors.append({"field": f"{prefix}officer_id", "message": "an officer id is required"})
    start = end = None
    for key in ("start", "end"):
        try:
            value = parse_time_field(get(key), f"{prefix}{key}")
        except InputError as exc:
            errors.extend(exc.errors)
            continue
        if key == "start":
            start = value
        else:
            end = value
    readiness = _int_field(get("readiness_hours") if get("readiness_hours") is not None else 24,
                           f"{prefix}readiness_hours", errors)
    role = get("role") if get("role") is not None else "primary"
    if not isinstance(role, str):
        errors.append({"field": f"{prefix}role", "message": "primary or alternate"})
    region = _opt_str(get("region"), f"{prefix}region", errors)
    note = _opt_str(get("note"), f"{prefix}note", errors)
    slot_id = base.id if base is not None else item.get("id") or ""
    if not isinstance(slot_id, str):
        errors.append({"field": f"{prefix}id", "message": "a string is required"})
    if len(errors) > found or start is None or end is None or readiness is None:
        return None
    return Slot(str(slot_id), str(officer_id), start, end, readiness, str(role), region, note)


def parse_slots(items: Any, field: str = "slots") -> list[Slot]:
    """Slots from a JSON list of {"officer_id", "start", "end", "readiness_hours" (default
    24), "role" (default "primary"), "region"?, "note"?, "id"?}; an InputError naming
    "slots[i].x" for every bad value (the rules — readiness 24/48, end after start, known
    officer, no overlap — are checked by ``add_slots``). Slots without an id get one there."""
    if not isinstance(items, list) or not items:
        raise InputError([{"field": field, "message": "a non-empty list of slots is required"}])
    errors: list[dict[str, Any]] = []
    out = [_slot_from(item, f"{field}[{i}].", errors) for i, item in enumerate(items)]
    if errors:
        raise InputError(errors)
    return [s for s in out if s is not None]


def parse_leave(item: Any) -> Leave:
    """A leave period from {"officer_id", "start", "end", "kind"? ("leave"|"unavailable"),
    "note"?, "id"?}; InputError naming the fields. An empty id is given one by ``add_leave``."""
    if not isinstance(item, Mapping):
        raise InputError([{"field": "leave", "message": "a leave object is required"}])
    errors: list[dict[str, Any]] = []
    officer_id = item.get("officer_id")
    if not isinstance(officer_id, str) or not officer_id:
        errors.append({"field": "officer_id", "message": "an officer id is required"})
    times: dict[str, datetime] = {}
    for key in ("start", "end"):
        try:
            times[key] = parse_time_field(item.get(key), key)
        except InputError as exc:
            errors.extend(exc.errors)
    kind = item.get("kind") or "leave"
    if kind not in LEAVE_KINDS:
        errors.append({"field": "kind", "message": f"one of {', '.join(LEAVE_KINDS)}"})
    note = _opt_str(item.get("note"), "note", errors)
    leave_id = item.get("id") or ""
    if not isinstance(leave_id, str):
        errors.append({"field": "id", "message": "a string is required"})
    if errors:
        raise InputError(errors)
    return Leave(str(leave_id), str(officer_id), times["start"], times["end"], str(kind), note)


# --- storing -----------------------------------------------------------------------------
def _append(ctx: Context, event_type: str, payload: dict[str, Any], actor: str | None, now: datetime) -> str:
    """Store the event and, in the same transaction, the projection writes it implies, made
    from the event itself (``RosterStore.queue_event``, ``crisis.roster.changes.writes``): the
    projection is the fold of the log by construction, which ``crisis.views_roster.state``
    relies on to catch a cached roster up from the events alone."""
    event = Event(type=event_type, time=now, actor=actor, payload=payload)

    def project(pipe: Any) -> None:
        if not RosterStore.queue_event(pipe, event_type, payload):
            raise ValueError(f"{event_type!r} is not a roster event (crisis.roster.changes.writes)")

    return ctx.deps.log.append_many(keys.ROSTER_STREAM, [event], project)[-1]


def _lock(ctx: Context) -> Any:
    return ctx.deps.lock("roster")


def _with_ids(items: Sequence[Slot]) -> list[Slot]:
    return [s if s.id else replace(s, id=new_id("slot")) for s in items]


def _names(state: Any) -> dict[str, str]:
    """Officer id -> name, for the rules' messages."""
    return {oid: o.name for oid, o in state.officers.items() if o.name}


def _check_slots(new: Sequence[Slot], existing: Sequence[Slot], officer_ids: set[str], names: Mapping[str, str]) -> None:
    errors: list[dict[str, Any]] = []
    for i, slot in enumerate(new):
        errors.extend(slot_rules.validate_slot(slot, officer_ids, i))
    if not errors:
        errors.extend(slot_rules.overlaps(new, existing, names))
    if errors:
        raise InputError(errors)


def _renamed(errors: list[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Errors with "slots[i]." prefixes renamed (a patch names its own fields)."""
    out = []
    for error in errors:
        field = str(error["field"])
        for prefix, name in names.items():
            if field.startswith(prefix):
                rest = field[len(prefix):].lstrip(".")
                field = f"{name}.{rest}" if name and rest else (name or rest)
                break
        out.append({**error, "field": field})
    return out


# --- officers ----------------------------------------------------------------------------
def import_officers(ctx: Context, officers: list[Officer], actor: str | None) -> ImportResult:
    """Store the officers; one already known (same id) is updated in place. The last of
    several rows with one id wins."""
    by_id: dict[str, Officer] = {}
    for officer in officers:
        by_id[officer.id] = officer
    if not by_id:
        return ImportResult([], [])
    with _lock(ctx):
        known = ctx.roster.officer_ids()
        updated = [i for i in by_id if i in known]
        now = ctx.deps.clock()
        payload = {"officers": [o.to_dict() for o in by_id.values()], "updated": updated}
        _append(ctx, "roster.officers_imported", payload, actor, now)
    return ImportResult(list(by_id), updated)


# --- slots -------------------------------------------------------------------------------
def add_slots(ctx: Context, slots: list[Slot], actor: str | None) -> list[Slot]:
    """Add standby slots (those without an id get one). InputError naming "slots[i].x" for
    a slot the rules refuse, or overlapping another of the same officer (new or stored);
    a slot with the id of a stored one replaces it."""
    if not slots:
        raise InputError([{"field": "slots", "message": "a non-empty list of slots is required"}])
    with _lock(ctx):
        state = roster_state(ctx)
        fresh = _with_ids(slots)
        _check_slots(fresh, state.slots, set(state.officers), _names(state))
        now = ctx.deps.clock()
        _append(ctx, "roster.slots_added", {"slots": [s.to_dict() for s in fresh]}, actor, now)
    return fresh


def _slot(ctx: Context, slot_id: str) -> Slot:
    found = ctx.roster.slot(slot_id)
    if found is None:
        raise NotFound(f"no standby slot {slot_id}")
    return found


def patch_slot(ctx: Context, slot_id: str, changes: dict[str, Any], actor: str | None) -> Slot:
    """Change a slot's fields (any of officer_id, start, end, readiness_hours, role, region,
    note; JSON values: times as ISO strings with their zone). InputError naming the field
    ("start", "end", ...) for a bad value or an overlap it would make; NotFound for no slot.
    Nothing changed: the slot as it is, and no event."""
    if not isinstance(changes, Mapping) or not changes:
        raise InputError([{"field": "slot", "message": "give at least one field to change"}])
    with _lock(ctx):
        before = _slot(ctx, slot_id)
        errors: list[dict[str, Any]] = []
        after = _slot_from(changes, "", errors, base=before)
        if errors or after is None:
            raise InputError(errors)
        if after == before:
            return before
        state = roster_state(ctx)
        problems = slot_rules.validate_slot(after, set(state.officers), 0)
        if not problems:
            problems = slot_rules.overlaps([after], state.slots, _names(state))
        if problems:
            raise InputError(_renamed(problems, {"slots[0]": ""}))
        now = ctx.deps.clock()
        _append(ctx, "roster.slot_changed", {"slot": after.to_dict(), "before": before.to_dict()}, actor, now)
    return after


def remove_slot(ctx: Context, slot_id: str, actor: str | None) -> Slot:
    """Delete a slot (NotFound when there is none); the removed slot."""
    with _lock(ctx):
        slot = _slot(ctx, slot_id)
        now = ctx.deps.clock()
        _append(ctx, "roster.slot_removed", {"slot": slot.to_dict()}, actor, now)
    return slot


def _rotation_params(params: Mapping[str, Any], officer_ids: set[str]) -> dict[str, Any]:
    """The generator's parameters from JSON values: {"officers": [ids], "from": ISO time,
    "weeks", "period_days", "handover": "HH:MM" (UTC), "pattern", "region"?,
    "readiness_hours"? (24), "alternate_readiness_hours"?}."""
    errors: list[dict[str, Any]] = []
    officers = params.get("officers")
    if not isinstance(officers, list) or not officers or not all(isinstance(o, str) and o for o in officers):
        errors.append({"field": "officers", "message": "a non-empty list of officer ids is required"})
        officers = []
    else:
        unknown = [o for o in officers if o not in officer_ids]
        if unknown:
            errors.append({"field": "officers", "message": f"unknown officer(s): {', '.join(unknown[:10])}"})
    start: datetime | None = None
    try:
        start = parse_time_field(params.get("from"), "from")
    except InputError as exc:
        errors.extend(exc.errors)
    weeks = _int_field(params.get("weeks"), "weeks", errors)
    period_days = _int_field(params.get("period_days", 7), "period_days", errors)
    handover_raw = params.get("handover", "00:00")
    handover: time | None = None
    if isinstance(handover_raw, time):
        handover = handover_raw
    elif isinstance(handover_raw, str):
        try:
            hh, mm = handover_raw.strip().split(":")
            handover = time(int(hh), int(mm))
        except ValueError:
            errors.append({"field": "handover", "message": f"HH:MM (UTC), not {handover_raw!r}"})
    else:
        errors.append({"field": "handover", "message": "HH:MM (UTC) is required"})
    pattern = params.get("pattern", "round_robin")
    if not isinstance(pattern, str):
        errors.append({"field": "pattern", "message": f"one of {', '.join(rotations.PATTERNS)}"})
    region = _opt_str(params.get("region"), "region", errors)
    readiness = _int_field(params.get("readiness_hours", 24), "readiness_hours", errors)
    alternate = params.get("alternate_readiness_hours")
    alternate_readiness = None if alternate is None else _int_field(alternate, "alternate_readiness_hours", errors)
    for key in params:
        if key not in ("officers", "from", "weeks", "period_days", "handover", "pattern", "region", "readiness_hours",
                       "alternate_readiness_hours"):
            errors.append({"field": str(key), "message": "unknown parameter"})
    if errors:
        raise InputError(errors)
    return {"officers": list(officers), "from": start, "weeks": weeks, "period_days": period_days,
            "handover": handover, "pattern": pattern, "region": region, "readiness_hours": readiness,
            "alternate_readiness_hours": alternate_readiness}


def _planned_rotation(ctx: Context, params: Any) -> tuple[list[Slot], dict[str, Any]]:
    if not isinstance(params, Mapping):
        raise InputError([{"field": "rotation", "message": "an object of parameters is required"}])
    state = roster_state(ctx)
    p = _rotation_params(params, set(state.officers))
    made = rotations.generate(p["officers"], p["from"], p["weeks"], p["period_days"], p["handover"], p["pattern"],
                              lambda: new_id("slot"), region=p["region"], readiness_hours=p["readiness_hours"],
                              alternate_readiness_hours=p["alternate_readiness_hours"])
    if not made:
        raise InputError([{"field": "weeks", "message": "the rotation makes no slot"}])
    _check_slots(made, state.slots, set(state.officers), _names(state))
    return made, p


def plan_rotation(ctx: Context, params: dict[str, Any]) -> list[Slot]:
    """The slots ``generate_rotation`` would store with these parameters, stored nowhere (a
    preview); the same refusals."""
    return _planned_rotation(ctx, params)[0]


def generate_rotation(ctx: Context, params: dict[str, Any], actor: str | None) -> list[Slot]:
    """Lay out a rotation (``crisis.roster.rotations.generate``) and store its slots. The
    parameters are JSON values (see ``_rotation_params``); InputError naming the parameter,
    or "slots[i].x" when a generated slot overlaps one already stored."""
    with _lock(ctx):
        made, p = _planned_rotation(ctx, params)
        now = ctx.deps.clock()
        stored_params = {**p, "from": p["from"].isoformat(), "handover": p["handover"].strftime("%H:%M")}
        _append(ctx, "roster.rotation_generated", {"slots": [s.to_dict() for s in made], "params": stored_params},
                actor, now)
    return made


# --- leave -------------------------------------------------------------------------------
def add_leave(ctx: Context, leave: Leave, actor: str | None) -> Leave:
    """Store a leave period (an empty id gets one); InputError naming the field."""
    with _lock(ctx):
        officer_ids = ctx.roster.officer_ids()
        errors = slot_rules.validate_leave(leave, officer_ids)
        if not errors:
            errors = slot_rules.leave_overlaps(leave, roster_state(ctx).leave)
        if errors:
            raise InputError(errors)
        stored = leave if leave.id else replace(leave, id=new_id("leave"))
        now = ctx.deps.clock()
        _append(ctx, "roster.leave_added", {"leave": stored.to_dict()}, actor, now)
    return stored


def remove_leave(ctx: Context, leave_id: str, actor: str | None) -> Leave:
    """Delete a leave period (NotFound when there is none); the removed period."""
    with _lock(ctx):
        found = ctx.roster.leave_period(leave_id)
        if found is None:
            raise NotFound(f"no leave period {leave_id}")
        now = ctx.deps.clock()
        _append(ctx, "roster.leave_removed", {"leave": found.to_dict()}, actor, now)
    return found


def clash_warnings(ctx: Context, slots: Sequence[Slot] = (), leave: Sequence[Leave] = ()) -> list[str]:
    """Where these slots meet their officers' leave, or this leave their officers' slots, in
    words (``crisis.roster.slots.clash_warnings``): said in the answer that stored them."""
    state = roster_state(ctx)
    out: list[str] = []
    for officer_id in sorted({s.officer_id for s in slots} | {p.officer_id for p in leave}):
        officer = state.officers.get(officer_id)
        name = officer.name if officer else officer_id
        own_slots = [s for s in (slots or state.slots) if s.officer_id == officer_id]
        own_leave = [p for p in (leave or state.leave) if p.officer_id == officer_id]
        out += slot_rules.clash_warnings(name, own_slots, own_leave)
    return out


# --- swaps and overrides -----------------------------------------------------------------
def swap_slots(ctx: Context, a_id: str, b_id: str, note: str | None, actor: str | None) -> tuple[Slot, Slot]:
    """Exchange the officers of two slots (a duty officer's decision, with a note)."""
    if a_id == b_id:
        raise InputError([{"field": "slot_b", "message": "swap two different slots"}])
    with _lock(ctx):
        a, b = _slot(ctx, a_id), _slot(ctx, b_id)
        new_a, new_b = slot_rules.swap(a, b, note or "")
        state = roster_state(ctx)
        problems = slot_rules.overlaps([new_a, new_b], state.slots, _names(state))
        if problems:
            raise InputError([{**p, "field": "slot_a" if str(p["field"]).startswith("slots[0]") else "slot_b"}
                              for p in problems])
        now = ctx.deps.clock()
        payload = {"slots": [new_a.to_dict(), new_b.to_dict()], "before": [a.to_dict(), b.to_dict()], "note": note}
        _append(ctx, "roster.swap", payload, actor, now)
    return new_a, new_b


def override_slot(ctx: Context, slot_id: str, officer_id: str, note: str | None, actor: str | None) -> Slot:
    """Put another officer on a slot (a duty officer's decision, with a note). InputError
    ("officer_id") for an unknown officer or one already on standby then."""
    with _lock(ctx):
        before = _slot(ctx, slot_id)
        if ctx.roster.officer(officer_id) is None:
            raise InputError([{"field": "officer_id", "message": f"unknown officer {officer_id!r}"}])
        after = slot_rules.reassign(before, officer_id, note or "")
        state = roster_state(ctx)
        problems = slot_rules.overlaps([after], state.slots, _names(state))
        if problems:
            raise InputError([{**p, "field": "officer_id"} for p in problems])
        now = ctx.deps.clock()
        payload = {"slot": after.to_dict(), "before": before.to_dict(), "note": note}
        _append(ctx, "roster.override", payload, actor, now)
    return after


# --- dispatches --------------------------------------------------------------------------
def create_dispatch(ctx: Context, incident_id: str, officer_id: str, note: str | None, actor: str | None) -> Dispatch:
    """Send an officer to an incident (``crisis.roster.dispatch.plan_dispatch``: promotes the
    alternate when a primary goes). NotFound for no incident or officer; Conflict for a
    closed incident or an officer already deployed."""
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict(f"the incident \u201c{incident.title}\u201d is closed: nobody can be dispatched to it (reopen it first)")
    point = (incident.location.lat, incident.location.lon)
    with _lock(ctx):
        officer = ctx.roster.officer(officer_id)
        if officer is None:
            raise NotFound(f"no officer {officer_id}")
        state = roster_state(ctx)
        now = ctx.deps.clock()
        dispatch, changed, removed = dispatch_rules.plan_dispatch(
            new_id("disp"), incident_id, point, officer, now, actor, note, state.slots, state.leave, state.dispatches,
            roster_rules(ctx), lambda: new_id("slot"), lambda other_id: _incident_words(ctx, other_id))

        payload = {"dispatch": dispatch.to_dict(), "slots": [s.to_dict() for s in changed], "removed": list(removed)}
        _append(ctx, "dispatch.created", payload, actor, now)
    return dispatch


def _incident_words(ctx: Context, incident_id: str) -> str:
    """An incident as a refusal names it: its title, quoted (its id when it is gone)."""
    found = ctx.deps.incidents.get(incident_id)
    return f"\u201c{found.title}\u201d" if found is not None else incident_id


def _dispatch(ctx: Context, dispatch_id: str) -> Dispatch:
    found = ctx.roster.dispatch(dispatch_id)
    if found is None:
        raise NotFound(f"no dispatch {dispatch_id}")
    return found


def step_dispatch(ctx: Context, dispatch_id: str, status: str, actor: str | None, note: str | None = None) -> Dispatch:
    """The dispatch's next status (Conflict when the workflow forbids it, InputError for an
    unknown status, NotFound for no dispatch)."""
    with _lock(ctx):
        before = _dispatch(ctx, dispatch_id)
        now = ctx.deps.clock()
        after = dispatch_rules.step(before, status, now, actor, note, roster_rules(ctx))
        # declined or cancelled: the alternate it promoted is an alternate again
        changed = dispatch_rules.settle(after, now, roster_state(ctx).slots, lambda: new_id("slot"))

        payload: dict[str, Any] = {"dispatch": after.to_dict()}
        if changed:
            payload["slots"] = [s.to_dict() for s in changed]
        _append(ctx, "dispatch.step", payload, actor, now)
    return after


def report_dispatch_position(ctx: Context, dispatch_id: str, lat: float, lon: float, actor: str | None) -> Dispatch:
    """Where a deployed officer is now (``crisis.roster.dispatch.report_position``:
    InputError "position.lat"/"position.lon" off the globe; Conflict when the dispatch is
    over: declined or returned; NotFound for no dispatch)."""
    with _lock(ctx):
        before = _dispatch(ctx, dispatch_id)
        now = ctx.deps.clock()
        after = dispatch_rules.report_position(before, lat, lon, now, roster_rules(ctx))
        _append(ctx, "dispatch.position", {"dispatch": after.to_dict()}, actor, now)
    return after
