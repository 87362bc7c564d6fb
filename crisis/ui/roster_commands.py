"""What a duty officer does to the standby roster in the UI: add a slot, change its times,
put another officer on one, swap two, remove one, record or remove leave, lay out a rotation (previewed first),
import the officers from a file.

Like ``crisis.ui.commands``: each action takes the same path as the API (the same validated
models of ``crisis.api.roster`` -> ``crisis.handlers_roster`` -> the roster's event log), only
for the roles that may edit (``access.can_edit``; any other caller is refused and the
refusal audited), and is recorded in the audit trail under the API's action names (account,
role, address, before and after). A refused form is kept as a dead letter (feed "ui") with
what was wrong, and answered in words. Each function answers ``(ok, sentence, warnings)``:
``warnings`` are where the change meets the officer's leave or standby
(``handlers_roster.clash_warnings``), said as the API's answer says them.

Times are typed as "2026-12-03 08:00" (the page says UTC; ``utc_field`` makes them so); a
time typed in full ISO 8601 with its zone keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from crisis import handlers_roster
from crisis.adapters.accounts import Principal
from crisis.api.roster import LeaveIn, OverrideIn, RotationIn, SlotIn, SlotPatch, SwapIn, rotation_params, validate
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.errors import Conflict, InputError, NotFound
from crisis.layers.dispatches import region_label, short_time
from crisis.roster.model import Leave, Slot
from crisis.ui.commands import _audit, _explain, keep_refused
from crisis.ui.messages import in_words

Answer = tuple[bool, str, list[str]]
NOT_ALLOWED = "Changing the roster is for duty officers and administrators."


def utc_field(value: Any) -> Any:
    """A form's time as ISO 8601 in UTC: "2026-12-03 08:00" -> "2026-12-03T08:00:00+00:00";
    a date alone is its midnight; empty -> None; anything else as typed (the model says what is
    wrong with it)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        return text + "T00:00:00+00:00"
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)[ T](\d\d?:\d\d(:\d\d)?)", text)
    if match:
        clock = match.group(2) if match.group(2)[2] == ":" else "0" + match.group(2)
        return f"{match.group(1)}T{clock}{'' if match.group(3) else ':00'}+00:00"
    return text


def _blank(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _present(data: dict[str, Any]) -> dict[str, Any]:
    """The fields given: an empty one is missing (and said so: "Give the officer."), not a wrong type."""
    return {k: v for k, v in data.items() if v is not None}


def _refuse(ctx: Context, principal: Principal, target: str, wanted: str) -> Answer:
    _audit(ctx, principal, "access.denied", target,
           detail={"wanted": wanted, "reason": f"role {principal.role!r} may not change the roster"})
    return False, NOT_ALLOWED, []


def _refused(ctx: Context, principal: Principal, exc: Exception, form: Any) -> Answer:
    """A refusal in words; a refused input is kept as a dead letter (as the API keeps it)."""
    if isinstance(exc, InputError):
        keep_refused(ctx, principal, exc.errors, form)
        return False, "Not saved: " + _explain(exc), []
    return False, f"Not saved: {exc}", []


def officer_name(ctx: Context, officer_id: str) -> str:
    officer = ctx.roster.officer(officer_id)
    return officer.name if officer else officer_id



def slot_words(ctx: Context, slot: Slot, names: Mapping[str, str] | None = None) -> str:
    """"Worldwide primary, Jean Dupont, 2026-12-03 08:00 UTC to 2026-12-10 08:00 UTC" (``names``:
    officer id -> name, read once for many slots; else the officer is read)."""
    who = names.get(slot.officer_id, slot.officer_id) if names is not None else officer_name(ctx, slot.officer_id)
    return (f"{region_label(slot.region)} {slot.role}, {who}, "
            f"{short_time(slot.start.isoformat())} to {short_time(slot.end.isoformat())}")


def add_slot(ctx: Context, principal: Principal, form: dict[str, Any]) -> Answer:
    """A new standby slot (as POST /api/v1/roster/standby with one slot)."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, "roster", "roster.slots_add")
    data = {"officer_id": _blank(form.get("officer_id")), "start": utc_field(form.get("start")),
            "end": utc_field(form.get("end")), "readiness_hours": form.get("readiness_hours"),
            "role": _blank(form.get("role")), "region": _blank(form.get("region")), "note": _blank(form.get("note"))}
    try:
        command: SlotIn = validate(SlotIn, _present(data))
        slot = Slot("", command.officer_id, command.start, command.end, command.readiness_hours, command.role,
                    command.region, command.note)
        (stored,) = handlers_roster.add_slots(ctx, [slot], principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return _refused(ctx, principal, exc, data)
    _audit(ctx, principal, "roster.slots_add", "roster", after={"slots": [stored.id]},
           detail={"officers": [stored.officer_id]})
    return True, f"Added: {slot_words(ctx, stored)}.", handlers_roster.clash_warnings(ctx, slots=[stored])


def replace_officer(ctx: Context, principal: Principal, slot_id: str | None, officer_id: str | None, note: str | None) -> Answer:
    """Another officer on a slot (as POST /api/v1/roster/standby/{id}/override)."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, f"slot/{slot_id}", "roster.override")
    if not slot_id:
        return False, "Select a slot first (click its row).", []
    data = {"officer_id": _blank(officer_id), "note": _blank(note)}
    try:
        command: OverrideIn = validate(OverrideIn, _present(data))
        before = ctx.roster.slot(slot_id)
        if before is None:
            raise NotFound(f"no slot {slot_id!r}: it was removed meanwhile")
        if command.officer_id == before.officer_id:
            raise InputError([{"field": "officer_id", "message": f"already holds this slot ({officer_name(ctx, before.officer_id)})"}])
        after = handlers_roster.override_slot(ctx, slot_id, command.officer_id, command.note, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return _refused(ctx, principal, exc, {"slot_id": slot_id, **data})
    _audit(ctx, principal, "roster.override", slot_id, before={"officer_id": before.officer_id},
           after={"officer_id": after.officer_id}, detail={"note": command.note})
    return (True, f"{officer_name(ctx, after.officer_id)} replaces {officer_name(ctx, before.officer_id)}: {slot_words(ctx, after)}.",
            handlers_roster.clash_warnings(ctx, slots=[after]))


def change_slot(ctx: Context, principal: Principal, slot_id: str | None, form: dict[str, Any]) -> Answer:
    """A slot's start, end and readiness changed (as PATCH /api/v1/roster/standby/{id})."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, f"slot/{slot_id}", "roster.slot_change")
    if not slot_id:
        return False, "Select a slot first (click its row).", []
    data = {"start": utc_field(form.get("start")), "end": utc_field(form.get("end")),
            "readiness_hours": form.get("readiness_hours"), "note": _blank(form.get("note"))}
    before = ctx.roster.slot(slot_id)
    if before is not None:  # a time shown to the minute and left as it was is not a change of its seconds
        for name in ("start", "end"):
            shown = getattr(before, name).astimezone(UTC).replace(second=0, microsecond=0)
            if data[name] == shown.isoformat():
                data[name] = None
        if data["readiness_hours"] == before.readiness_hours:
            data["readiness_hours"] = None
        if data["start"] is None and data["end"] is None and data["readiness_hours"] is None:
            return False, "Nothing to change: the slot already has these times and readiness.", []
    try:
        if before is None:
            raise NotFound(f"no slot {slot_id!r}: it was removed meanwhile")
        patch: SlotPatch = validate(SlotPatch, _present(data))
        changes = {name: getattr(patch, name) for name in patch.model_fields_set}
        after = handlers_roster.patch_slot(ctx, slot_id, changes, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return _refused(ctx, principal, exc, {"slot_id": slot_id, **data})
    old, new = before.to_dict(), after.to_dict()
    changed = [k for k, v in new.items() if old[k] != v]
    if not changed:
        return False, "Nothing to change: the slot already has these times and readiness.", []
    _audit(ctx, principal, "roster.slot_change", slot_id, before={k: old[k] for k in changed},
           after={k: new[k] for k in changed}, detail={"note": patch.note})
    return True, f"Changed: {slot_words(ctx, after)}, readiness {after.readiness_hours} h.", handlers_roster.clash_warnings(ctx, slots=[after])


def swap(ctx: Context, principal: Principal, slot_a: str | None, slot_b: str | None, note: str | None) -> Answer:
    """The officers of two slots exchanged (as POST /api/v1/roster/swaps)."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, f"slot/{slot_a}", "roster.swap")
    if not slot_a:
        return False, "Select a slot first (click its row).", []
    data = {"slot_a": slot_a, "slot_b": _blank(slot_b), "note": _blank(note)}
    try:
        command: SwapIn = validate(SwapIn, _present(data))
        a, b = handlers_roster.swap_slots(ctx, command.slot_a, command.slot_b, command.note, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return _refused(ctx, principal, exc, data)
    _audit(ctx, principal, "roster.swap", f"{a.id},{b.id}", before={a.id: b.officer_id, b.id: a.officer_id},
           after={a.id: a.officer_id, b.id: b.officer_id}, detail={"note": command.note})
    return (True, f"Swapped: {slot_words(ctx, a)}; {slot_words(ctx, b)}.",
            handlers_roster.clash_warnings(ctx, slots=[a, b]))


def remove_slot(ctx: Context, principal: Principal, slot_id: str | None) -> Answer:
    """A slot taken off the roster (as DELETE /api/v1/roster/standby/{id})."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, f"slot/{slot_id}", "roster.slot_remove")
    if not slot_id:
        return False, "Select a slot first (click its row).", []
    try:
        removed = handlers_roster.remove_slot(ctx, slot_id, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return _refused(ctx, principal, exc, {"slot_id": slot_id})
    _audit(ctx, principal, "roster.slot_remove", slot_id, before=removed.to_dict())
    return True, f"Removed: {slot_words(ctx, removed)}.", []


def add_leave(ctx: Context, principal: Principal, form: dict[str, Any]) -> Answer:
    """Leave or unavailability recorded (as POST /api/v1/roster/leave)."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, "roster", "roster.leave_add")
    data = {"officer_id": _blank(form.get("officer_id")), "start": utc_field(form.get("start")),
            "end": utc_field(form.get("end")), "kind": _blank(form.get("kind")) or "leave", "note": _blank(form.get("note"))}
    try:
        command: LeaveIn = validate(LeaveIn, _present(data))
        if ctx.roster.officer(command.officer_id) is None:
            raise InputError([{"field": "officer_id", "message": f"unknown officer {command.officer_id!r}"}])
        period = Leave("", command.officer_id, command.start, command.end, command.kind, command.note)
        stored = handlers_roster.add_leave(ctx, period, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return _refused(ctx, principal, exc, data)
    _audit(ctx, principal, "roster.leave_add", stored.officer_id, after=stored.to_dict())
    words = "leave" if stored.kind == "leave" else "unavailable"
    return (True, f"Recorded: {officer_name(ctx, stored.officer_id)} {words} from {short_time(stored.start.isoformat())} "
                  f"to {short_time(stored.end.isoformat())}.", handlers_roster.clash_warnings(ctx, leave=[stored]))


def remove_leave(ctx: Context, principal: Principal, leave_id: str | None) -> Answer:
    """A leave period taken back (as DELETE /api/v1/roster/leave/{id})."""
    if not access.can_edit(principal):
        return _refuse(ctx, principal, f"leave/{leave_id}", "roster.leave_remove")
    if not leave_id:
        return False, "Select the leave first (click its row).", []
    try:
        removed = handlers_roster.remove_leave(ctx, leave_id, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return _refused(ctx, principal, exc, {"leave_id": leave_id})
    _audit(ctx, principal, "roster.leave_remove", removed.officer_id, before=removed.to_dict())
    return (True, f"Removed: {officer_name(ctx, removed.officer_id)}'s {removed.kind} from {short_time(removed.start.isoformat())} "
                  f"to {short_time(removed.end.isoformat())}.", [])


def _whole(value: Any) -> Any:
    """A number input's value as an int when it is whole (4.0 -> 4); else as given."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _rotation_form(form: dict[str, Any]) -> dict[str, Any]:
    officers = form.get("officers") or None
    return _present({"officers": list(officers) if officers else None, "from": utc_field(form.get("start")),
                     "weeks": _whole(form.get("weeks")), "period_days": _whole(form.get("period_days")),
                     "handover": _blank(form.get("handover")), "pattern": _blank(form.get("pattern")),
                     "region": _blank(form.get("region")), "readiness_hours": _whole(form.get("readiness_hours")),
                     "alternate_readiness_hours": _whole(form.get("alternate_readiness_hours"))})


def rotation(ctx: Context, principal: Principal, form: dict[str, Any], store: bool) -> tuple[bool, str, list[Slot]]:
    """A rotation (as POST /api/v1/roster/rotations): with ``store`` False only planned (a preview,
    nothing written), else laid out and audited. (ok, sentence, the slots made or planned)."""
    if not access.can_edit(principal):
        ok, sentence, _ = _refuse(ctx, principal, "roster", "roster.rotation")
        return ok, sentence, []
    data = _rotation_form(form)
    try:
        command: RotationIn = validate(RotationIn, data)
        params = rotation_params(command, ctx.deps.clock())
        if not store:
            planned = handlers_roster.plan_rotation(ctx, params)
            return True, "Preview: " + rotation_words(ctx, planned) + " Nothing is stored until you lay it out.", planned
        made = handlers_roster.generate_rotation(ctx, params, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        if not store and isinstance(exc, InputError):  # a preview keeps no dead letter: nothing was sent
            return False, "Not possible: " + _explain(exc), []
        ok, sentence, _ = _refused(ctx, principal, exc, data)
        return ok, sentence, []
    _audit(ctx, principal, "roster.rotation", "roster", after={"slots": len(made)}, detail=params)
    return True, "Laid out: " + rotation_words(ctx, made), made


def rotation_words(ctx: Context, slots: list[Slot]) -> str:
    """"8 slots, 2026-12-03 08:00 UTC to 2026-12-31 08:00 UTC, covering Worldwide: primary Amira
    Haddad 2, Jean Dupont 2; alternate Jean Dupont 2, Amira Haddad 2."."""
    if not slots:
        return "no slot."
    first, last = min(s.start for s in slots), max(s.end for s in slots)
    counts: dict[str, dict[str, int]] = {"primary": {}, "alternate": {}}
    for s in sorted(slots, key=lambda s: s.start):
        names = counts.setdefault(s.role, {})
        who = officer_name(ctx, s.officer_id)
        names[who] = names.get(who, 0) + 1
    shares = "; ".join(f"{role} " + ", ".join(f"{who} {n}" for who, n in names.items()) for role, names in counts.items() if names)
    return (f"{len(slots)} slots, {short_time(first.isoformat())} to {short_time(last.isoformat())}, covering "
            f"{region_label(slots[0].region)}: {shares}.")


MAX_IMPORT_BYTES = 5 * 1024 * 1024  # 5,000 officers in CSV are about 1 MB


def import_officers(ctx: Context, principal: Principal, filename: str | None, contents: str | None) -> tuple[bool, str, list[str]]:
    """The officers of an uploaded file (a CSV or JSON by its name; ``contents`` as the browser's
    upload gives it, a base64 data URL) through the API's import (``crisis.feeds.roster.intake``):
    (ok, the counts in words, one line per rejected row and per warning)."""
    import base64
    import binascii

    from crisis.feeds import roster as feed

    if not access.can_edit(principal):
        ok, sentence, _ = _refuse(ctx, principal, "roster", "roster.officers_import")
        return ok, sentence, []
    name = (filename or "").lower()
    if not name.endswith((".csv", ".json")):
        return False, "Not imported: choose a .csv or .json file of officers (the columns are in the API's documentation).", []
    try:
        body = base64.b64decode((contents or "").split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        return False, "Not imported: the file could not be read; choose it again.", []
    if len(body) > MAX_IMPORT_BYTES:
        return False, f"Not imported: the file is {len(body) / 1e6:.1f} MB; at most {MAX_IMPORT_BYTES // 1_000_000} MB.", []
    content_type = "text/csv" if name.endswith(".csv") else "application/json"
    origin = {"user": principal.name, "file": filename or ""}
    try:
        result = feed.intake(ctx, body, content_type, principal.name, origin)
    except InputError as exc:
        ctx.feed_log.rejected(feed.FEED, exc.errors, body, origin)
        return False, "Not imported: " + _explain(exc), []
    _audit(ctx, principal, "roster.officers_import", "roster",
           after={"accepted": result["accepted"], "updated": result["updated"]},
           detail={"rejected": len(result["rejected"]), "format": "csv" if content_type == "text/csv" else "json",
                   "file": filename})
    refused: dict[int, list[dict[str, Any]]] = {}
    for r in result["rejected"]:
        refused.setdefault(int(r["row"]), []).append(r)
    lines = [f"Row {row} refused: " + " ".join(in_words(errors)) for row, errors in sorted(refused.items())]
    lines += [f"Row {w['row']}: {w['message']}" for w in result.get("warnings") or []]
    stored = result["accepted"] + result["updated"]
    sentence = (f"{filename}: {result['accepted']} new officers, {result['updated']} updated, "
                f"{len(refused)} rows refused.")
    return stored > 0, sentence if stored else "Not imported: " + sentence, lines
