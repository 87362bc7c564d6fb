"""What a duty officer does to people in the UI: roll-call statuses, area phases, movements.

Like ``crisis.ui.commands``: each action takes the same path as the API (validated
command -> handler -> log), only for the roles that may edit (``access.can_edit``; any
other caller is refused and the refusal audited), and is recorded in the audit trail
(account, role, address, before and after). Failures come back as a sentence to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crisis import handlers_areas, handlers_people, views
from crisis.adapters.accounts import Principal
from crisis.api.areas import FACTS as AREA_FACTS
from crisis.api.areas import AreaIn, AreaPatch, MovementConfirm, PersonAdd, PersonRemove, ProgressIn
from crisis.api.checkins import StatusIn
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.areas import phase_name
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import parse
from crisis.ui.commands import _audit, _explain, keep_refused

MAX_AT_ONCE = 500


def _refuse(ctx: Context, principal: Principal, target: str, wanted: str, what: str) -> str:
    _audit(ctx, principal, "access.denied", target,
           detail={"wanted": wanted, "reason": f"role {principal.role!r} may not {what}"})
    return f"A {principal.role} cannot {what}."


def _chosen(traveller_ids: list[str]) -> str | None:
    """Why this selection cannot be acted on, or None."""
    if not traveller_ids:
        return "Select the people first (tick their rows)."
    if len(traveller_ids) > MAX_AT_ONCE:
        return f"Not saved: at most {MAX_AT_ONCE} people at once."
    return None


def _kept(ctx: Context, principal: Principal, exc: InputError, form: Any) -> str:
    """A refused form in words; the form is kept as a dead letter (feed "ui"), as the API keeps
    a refused body and the roster page a refused form."""
    keep_refused(ctx, principal, exc.errors, form)
    return _explain(exc)


def _each(ctx: Context, principal: Principal, traveller_ids: list[str], act: Callable[[str], None],
          form: Any) -> tuple[int, list[str]]:
    """Do ``act`` for each person, one at a time; (how many were done, what failed and why).
    The people refused for their input are kept together as one dead letter."""
    done, problems, refused = 0, [], []
    for tid in traveller_ids:
        try:
            act(tid)
        except InputError as exc:
            problems.append(f"{_who(ctx, tid)}: {_explain(exc)}")  # named, as the list shows them
            refused += [{**e, "field": f"{tid}.{e.get('field')}"} for e in exc.errors]
        except (Conflict, NotFound) as exc:
            problems.append(f"{_who(ctx, tid)}: {exc}")
        else:
            done += 1
    if refused:
        keep_refused(ctx, principal, refused, form)
    return done, problems


def _summary(done: int, problems: list[str], verb: str) -> str:
    message = f"{done} {verb}." if done else ""
    if problems:
        message += (" " if message else "") + "Not saved: " + "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
    return message


def set_people_status(ctx: Context, principal: Principal, scope: str, traveller_ids: list[str], status: str,
                      note: str | None) -> str:
    """Set the accountability status of these people in this scope ("incident:<id>" or
    "area:<id>", as PUT /api/v1/incidents/{id}/people/{tid} and PUT
    /api/v1/areas/{id}/people/{tid}/status do, one event each); a message saying what happened."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, scope, "accountability.status_set", "set people's status")
    try:
        command: StatusIn = parse(StatusIn, {"status": status, **({"note": note} if note else {})})
    except InputError as exc:
        return "Not saved: " + _kept(ctx, principal, exc, {"scope": scope, "status": status, "note": note})
    if (why := _chosen(traveller_ids)) is not None:
        return why

    def mark(tid: str) -> None:
        recorded = handlers_people.set_status(ctx, scope, tid, command.status, command.note, principal.name)
        _audit(ctx, principal, "accountability.status_set", f"{scope}/{tid}",
               before={"status": recorded.payload["previous_by_scope"].get(scope)}, after={"status": command.status},
               detail={"note": command.note, "event_id": recorded.event_id})

    return _summary(*_each(ctx, principal, traveller_ids, mark, {"scope": scope, "status": status, "note": note}),
                    "marked " + command.status.replace("_", " "))


def incident_burndown(ctx: Context, principal: Principal, incident_id: str) -> dict[str, Any] | None:
    """The incident's burn-down as the caller may see it (GET /api/v1/incidents/{id}/burndown's read model)."""
    return views.incident_burndown(ctx, principal, incident_id)


def needs_help_seed(ctx: Context, principal: Principal) -> dict[str, Any]:
    """The header badge's first figures, from the roll-call the caller sees: ``total``, the
    people needing help each counted once (the per-region figures: a person in two
    overlapping incidents is one), ``incidents``, how many per open incident, and ``people``,
    how many of ours each open incident affects (the open-incident list's figures)."""
    try:
        summary = views.accountability_summary(ctx, principal)
    except PermissionError:
        return {"total": 0, "incidents": {}, "people": {}}
    return {"total": sum(int(row["counts"]["needs_help"]) for row in summary["regions"]),
            "incidents": {row["incident"]: int(row["counts"]["needs_help"]) for row in summary["incidents"]},
            "people": {row["incident"]: int(row["counts"]["total"]) for row in summary["incidents"]}}


def create_area(ctx: Context, principal: Principal, form: dict[str, Any]) -> tuple[str, str | None]:
    """A new security area from the page (as POST /api/v1/areas): a message, and the new
    area's id (None when refused). ``form``: name, phase, and circle {lat, lon, radius_km} or country."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, "areas", "area.create", "create an area"), None
    fields = {k: v for k, v in form.items() if v not in (None, "", {})}
    try:
        if "country" in form and "country" not in fields:  # "a whole country" chosen, no country
            raise InputError([{"field": "country", "message": "Field required"}])
        command: AreaIn = parse(AreaIn, fields)
        changed = handlers_areas.create_area(ctx, command.name, command.phase, command.shape(), command.country, principal.name)
    except InputError as exc:
        return "Not created: " + _kept(ctx, principal, exc, form), None
    area, movement = changed.area, changed.area.get("movement")
    _audit(ctx, principal, "area.create", area["id"], after={k: area.get(k) for k in AREA_FACTS},
           detail={"stream_id": changed.event_id, "movement": movement["id"] if movement else None,
                   "listed": len(movement["people"]) if movement else 0})
    listed = f" {_people(len(movement['people']))} on the {movement['action']} list." if movement else ""
    return f"Area \u201c{command.name}\u201d created at phase {phase_name(command.phase)}.{listed}", area["id"]


def _people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def change_area_phase(ctx: Context, principal: Principal, area_id: str, phase: Any, note: str | None = None) -> str:
    """Raise or lower an area's phase (as PATCH /api/v1/areas/{id}); a message."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, area_id, "area.phase", "change an area's phase")
    try:
        patch: AreaPatch = parse(AreaPatch, {"phase": phase, **({"note": note} if note else {})})
        changed = handlers_areas.update_area(ctx, area_id, principal.name, phase=patch.phase, note=patch.note)
    except InputError as exc:
        return "Not saved: " + _kept(ctx, principal, exc, {"area": area_id, "phase": phase, "note": note})
    except (Conflict, NotFound) as exc:
        return f"Not saved: {exc}"
    if changed.event_id is None:
        return "Nothing changed: the area is already at that phase."
    before, after = (changed.before or {}).get("phase"), changed.area.get("phase")
    movement = changed.area.get("movement")
    _audit(ctx, principal, "area.phase", area_id, before={"phase": before}, after={"phase": after},
           detail={"note": patch.note, "stream_id": changed.event_id, "movement": movement["id"] if movement else None})
    listed = f" {len(movement['people'])} on the {movement['action']} list." if movement else ""
    return f"Phase changed from {phase_name(int(before or 0))} to {phase_name(int(after or 0))}.{listed}"


def confirm_area_movement(ctx: Context, principal: Principal, area_id: str, form: dict[str, Any]) -> str:
    """Confirm an area's movement: safe haven, mode, expected arrival (as POST /api/v1/areas/{id}/movement)."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, area_id, "movement.confirm", "confirm a movement")
    haven = {k: v for k, v in (form.get("safe_haven") or {}).items() if v not in (None, "")}
    fields = {"safe_haven": haven, **{k: form[k] for k in ("mode", "expected_arrival") if form.get(k) not in (None, "")}}
    try:
        command: MovementConfirm = parse(MovementConfirm, fields)
        changed = handlers_areas.confirm_movement(ctx, area_id, command.safe_haven.model_dump(), command.mode,
                                                  command.expected_arrival, principal.name)
    except InputError as exc:
        return "Not confirmed: " + _kept(ctx, principal, exc, {"area": area_id, **form})
    except (Conflict, NotFound) as exc:
        return f"Not confirmed: {exc}"
    movement = changed.area["movement"]
    _audit(ctx, principal, "movement.confirm", area_id, after={k: movement[k] for k in ("safe_haven", "mode", "expected_arrival")},
           detail={"movement": movement["id"], "stream_id": changed.event_id})
    return f"Movement confirmed: to {command.safe_haven.name} by {command.mode}."


def set_area_progress(ctx: Context, principal: Principal, area_id: str, traveller_ids: list[str], progress: str,
                      reason: str | None) -> str:
    """Set these listed people's progress (as PUT /api/v1/areas/{id}/movement/people/{tid})."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, area_id, "movement.progress", "set movement progress")
    try:
        command: ProgressIn = parse(ProgressIn, {"progress": progress, **({"reason": reason} if reason else {})})
    except InputError as exc:
        return "Not saved: " + _kept(ctx, principal, exc, {"area": area_id, "progress": progress, "reason": reason})
    if (why := _chosen(traveller_ids)) is not None:
        return why

    def progress_of(tid: str) -> None:
        changed = handlers_areas.set_progress(ctx, area_id, tid, command.progress, command.reason, principal.name)
        _audit(ctx, principal, "movement.progress", area_id, after={"traveller_id": tid, "progress": command.progress},
               detail={"reason": command.reason, "movement": changed.area["movement"]["id"], "stream_id": changed.event_id})

    return _summary(*_each(ctx, principal, traveller_ids, progress_of,
                           {"area": area_id, "progress": progress, "reason": reason}), "now " + command.progress.replace("_", " "))


def add_to_movement(ctx: Context, principal: Principal, area_id: str, traveller_id: str | None, reason: str | None) -> str:
    """Put one person on the open movement's list by hand, e.g. national staff (as POST
    /api/v1/areas/{id}/movement/people); a message."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, area_id, "movement.person_add", "change a movement list")
    form = {"traveller_id": (traveller_id or "").strip(), **({"reason": reason} if reason else {})}
    try:
        command: PersonAdd = parse(PersonAdd, form)
        changed = handlers_areas.add_person(ctx, area_id, command.traveller_id, principal.name, command.reason)
    except InputError as exc:
        return "Not added: " + _kept(ctx, principal, exc, {"area": area_id, **form})
    except (Conflict, NotFound) as exc:
        return f"Not added: {exc}"
    _audit(ctx, principal, "movement.person_add", area_id, after={"traveller_id": command.traveller_id},
           detail={"reason": command.reason, "movement": changed.area["movement"]["id"], "stream_id": changed.event_id})
    movement = changed.area["movement"]
    return f"{_who(ctx, command.traveller_id)} is on the {movement['action']} list ({len(movement['people'])} on it)."


def remove_from_movement(ctx: Context, principal: Principal, area_id: str, traveller_ids: list[str], reason: str | None) -> str:
    """Take these people off the open movement's list, with the reason (as DELETE
    /api/v1/areas/{id}/movement/people/{tid}); a message."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, area_id, "movement.person_remove", "change a movement list")
    form = {"reason": reason or ""}
    try:
        command: PersonRemove = parse(PersonRemove, form)
    except InputError as exc:
        return "Not taken off: " + _kept(ctx, principal, exc, {"area": area_id, "people": traveller_ids, **form})
    if (why := _chosen(traveller_ids)) is not None:
        return why

    def take_off(tid: str) -> None:
        changed = handlers_areas.remove_person(ctx, area_id, tid, principal.name, command.reason)
        _audit(ctx, principal, "movement.person_remove", area_id, before={"traveller_id": tid},
               detail={"reason": command.reason, "movement": changed.area["movement"]["id"], "stream_id": changed.event_id})

    return _summary(*_each(ctx, principal, traveller_ids, take_off, {"area": area_id, **form}), "taken off the list")


def _who(ctx: Context, traveller_id: str) -> str:
    assert ctx.deps.travellers is not None
    profile = ctx.deps.travellers.get(traveller_id) or {}
    return f"{profile.get('name') or traveller_id} ({traveller_id})"
