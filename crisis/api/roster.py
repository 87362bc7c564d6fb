"""The standby roster and surge dispatch under /api/v1: officers, standby slots, rotations,
leave, swaps and overrides, coverage, the candidates for an incident, and dispatches.

=================================================  ============================================
POST   /api/v1/roster/officers                     a JSON list (or {"officers": [...]}) or CSV
                                                   (``crisis.feeds.roster``): {"accepted",
                                                   "updated", "rejected": [{row, field, message,
                                                   dead_letter_id}]}; 422 when every row was
                                                   rejected; 415 another Content-Type
GET    /api/v1/roster/officers[/{id}]              the officers (a regional desk: its region's)
POST   /api/v1/roster/standby                      a list of slots: 201 {"slots": [...]}
PATCH  /api/v1/roster/standby/{id}                 change a slot (absent fields unchanged)
DELETE /api/v1/roster/standby/{id}                 remove a slot
POST   /api/v1/roster/standby/{id}/override        {"officer_id", "note"?}: another officer on it
GET    /api/v1/roster/standby?at=ISO               who is on standby then, and who is next
GET    /api/v1/roster/slots?from=&to=&officer=     the slots that overlap [from, to)
POST   /api/v1/roster/rotations                    lay out primaries and alternates: 201 slots
POST   /api/v1/roster/leave, GET, DELETE /{id}     leave and unavailability
POST   /api/v1/roster/swaps                        {"slot_a", "slot_b", "note"?}
GET    /api/v1/roster/coverage?from=&to=           cover per region, skill, language; warnings
GET    /api/v1/incidents/{id}/candidates           ?skills=a,b&languages=ar,fr: ranked officers
POST   /api/v1/dispatches                          {"incident_id", "officer_id", "note"?}: 201
PATCH  /api/v1/dispatches/{id}                     {"status", "note"?} or {"position": {lat, lon}}
GET    /api/v1/dispatches[/{id}]                   ?incident=&officer=&status= ("active")
=================================================  ============================================

Every change is for duty officers and admins (``access.EDITORS``), an event in the roster
log (``crisis.handlers_roster``) and an entry in the audit trail. Reads are for every
reading role, cut per viewer by ``crisis.views_roster``: a wall gets no name, id or
contact; a regional desk sees the officers of its region, the slots, standby entries and
leave of those officers or covering its region, and the candidates and dispatches of the
incidents it may see (others are 404). Coverage and its warnings are aggregate and
read by everyone who reads. Every refusal names its field (4xx); a refused write is
dead-lettered (feed "roster").
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crisis import handlers_roster, views_roster
from crisis.api.common import refuse_person_look_up
from crisis.auth import audit_request, current_principal, request_origin, require_role
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.regions import REGIONS
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds import roster as feed
from crisis.feeds.schemas import IsoTime, Latitude, Longitude, PlainText, beyond_horizon_message, field_errors
from crisis.http_safety import load_json, status_for
from crisis.roster.model import ACTIVE_DISPATCH, Leave, Slot

roster_api = Blueprint("roster", __name__, url_prefix="/api/v1")

READERS = access.READERS
EDITORS = access.EDITORS
JSON_TYPES = ("application/json", "")
ID = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_SLOTS = 5_000
MAX_COVERAGE_DAYS = 92
# The longest a standby slot may be: a rotation's longest period (RotationIn.period_days).
# Longer is a typo or worse (a slot of 50 years would hold the officer's cover for ever);
# the rest rule warns after CRISIS_ROSTER_MAX_STANDBY_DAYS of continuous standby anyway.
MAX_SLOT_DAYS = 28
MAX_LEAVE_DAYS = 366  # leave or unavailability: at most a year at a time
COVERAGE_DAYS = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _planned(start: datetime | None, end: datetime | None, longest_days: int, what: str) -> None:
    """Refuse (ValueError "field: words") a period that ends beyond the planning horizon
    (``schemas.PLANNING_HORIZON``, two years) or lasts longer than ``longest_days``."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (message := beyond_horizon_message(value)):
            raise ValueError(f"{name}: {message}")
    if start is not None and end is not None and end - start > timedelta(days=longest_days):
        raise ValueError(f"end: {what} may last at most {longest_days} days; this one lasts "
                         f"{(end - start).total_seconds() / 86400:.1f} days")


def _region(value: str | None) -> str | None:
    if value is not None and value not in REGIONS:
        raise ValueError(f"unknown region {value!r}: use one of {', '.join(REGIONS)}")
    return value


Readiness = Literal[24, 48]
Role = Literal["primary", "alternate"]


class SlotIn(_Strict):
    """A standby slot: the officer is on standby for start <= t < end."""

    officer_id: str = Field(pattern=ID)
    start: IsoTime = Field(description="ISO 8601 with a time zone.")
    end: IsoTime = Field(description="ISO 8601 with a time zone; after start.")
    readiness_hours: Readiness = Field(description="Notice to deploy: 24 or 48 hours.")
    role: Role
    region: str | None = Field(default=None, description="The region the slot covers; absent or null: worldwide.")
    note: PlainText | None = Field(default=None, max_length=1_000)

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        return _region(value)

    @model_validator(mode="after")
    def _end_after_start(self) -> SlotIn:
        if self.end <= self.start:
            raise ValueError(f"end: must be after start ({self.start.isoformat()})")
        _planned(self.start, self.end, MAX_SLOT_DAYS, "a standby slot")
        return self


class SlotPatch(_Strict):
    """A change to a slot; absent fields are unchanged (region null: worldwide)."""

    officer_id: str | None = Field(default=None, pattern=ID)
    start: IsoTime | None = None
    end: IsoTime | None = None
    readiness_hours: Readiness | None = None
    role: Role | None = None
    region: str | None = None
    note: PlainText | None = Field(default=None, max_length=1_000)

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        return _region(value)

    @model_validator(mode="after")
    def _end_after_start(self) -> SlotPatch:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end: must be after start ({self.start.isoformat()})")
        _planned(self.start, self.end, MAX_SLOT_DAYS, "a standby slot")
        if not self.model_fields_set:
            raise ValueError("body: nothing to change")
        return self


class RotationIn(_Strict):
    """Lay out a fair rotation of primaries and alternates."""

    officers: list[str] = Field(min_length=1, max_length=500, description="The officers' ids, in rotation order.")
    start: IsoTime = Field(alias="from", description="ISO 8601 with a time zone: the first handover at or after it.")
    weeks: int = Field(ge=1, le=104, strict=True)
    period_days: int = Field(ge=1, le=28, strict=True, description="Each primary/alternate pair stands for this many days.")
    handover: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description='"HH:MM", UTC.')
    pattern: str = Field(description="round_robin or paired (crisis.roster.rotations).")
    region: str | None = Field(default=None, description="The region the slots cover; absent: worldwide.")
    readiness_hours: Readiness = 24
    alternate_readiness_hours: Readiness | None = Field(default=None, description="Absent: as readiness_hours.")

    @field_validator("officers")
    @classmethod
    def _officer_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(ID, v)]
        if bad:
            raise ValueError(f"not an officer id: {bad[0]!r}")
        return value

    @field_validator("start")
    @classmethod
    def _within_horizon(cls, value: datetime) -> datetime:
        if message := beyond_horizon_message(value):
            raise ValueError(message)
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        from crisis.roster.rotations import PATTERNS

        if value not in PATTERNS:
            raise ValueError(f"unknown pattern {value!r}: use one of {', '.join(PATTERNS)}")
        return value

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        return _region(value)


def rotation_params(command: RotationIn, now: datetime) -> dict[str, Any]:
    """The handler's parameters of a rotation; InputError ("from") for one wholly in the past
    (a typo in the year, most likely: nothing of it would ever be cover)."""
    if command.start + timedelta(weeks=command.weeks) <= now:
        raise InputError([{"field": "from", "message": f"the whole rotation ({command.start.isoformat()} for {command.weeks} "
                                                       "weeks) is in the past: lay it out from now on"}])
    return command.model_dump(by_alias=True, mode="json")


class LeaveIn(_Strict):
    """Leave or unavailability: the officer is not on standby for start <= t < end."""

    officer_id: str = Field(pattern=ID)
    start: IsoTime
    end: IsoTime
    kind: Literal["leave", "unavailable"] = "leave"
    note: PlainText | None = Field(default=None, max_length=1_000)

    @model_validator(mode="after")
    def _end_after_start(self) -> LeaveIn:
        if self.end <= self.start:
            raise ValueError(f"end: must be after start ({self.start.isoformat()})")
        _planned(self.start, self.end, MAX_LEAVE_DAYS, "leave")
        return self


class SwapIn(_Strict):
    slot_a: str = Field(pattern=ID)
    slot_b: str = Field(pattern=ID)
    note: PlainText | None = Field(default=None, max_length=1_000, description="Why (kept on both slots and in the audit trail).")


class OverrideIn(_Strict):
    officer_id: str = Field(pattern=ID, description="The officer who takes the slot.")
    note: PlainText | None = Field(default=None, max_length=1_000)


class DispatchIn(_Strict):
    incident_id: str = Field(min_length=1, max_length=64)
    officer_id: str = Field(pattern=ID)
    note: PlainText | None = Field(default=None, max_length=2_000)


class PositionReport(_Strict):
    lat: Latitude
    lon: Longitude


class DispatchPatch(_Strict):
    """A step of the workflow ({"status", "note"?}) or a reported position ({"position"})."""

    status: Literal["requested", "accepted", "declined", "travelling", "on_site", "stood_down", "returned", "cancelled"] | None = None
    note: PlainText | None = Field(default=None, max_length=2_000)
    position: PositionReport | None = None

    @model_validator(mode="after")
    def _one(self) -> DispatchPatch:
        if (self.status is None) == (self.position is None):
            raise ValueError("status: give status (a step of the workflow) or position, exactly one")
        return self


# --- query parameters (validated, and described in the OpenAPI document) ---------------


class StandbyQuery(_Strict):
    at: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone; absent: now.")


class SlotsQuery(_Strict):
    start: AwareDatetime | None = Field(default=None, alias="from", description="Slots ending after it (ISO 8601 with a zone).")
    end: AwareDatetime | None = Field(default=None, alias="to", description="Slots starting before it.")
    officer: str | None = Field(default=None, pattern=ID)


class CoverageQuery(_Strict):
    start: AwareDatetime | None = Field(default=None, alias="from", description="Absent: now.")
    end: AwareDatetime | None = Field(default=None, alias="to", description=f"Absent: from + {COVERAGE_DAYS} days; at most {MAX_COVERAGE_DAYS} days after from.")


class LeaveQuery(_Strict):
    officer: str | None = Field(default=None, pattern=ID)
    start: AwareDatetime | None = Field(default=None, alias="from")
    end: AwareDatetime | None = Field(default=None, alias="to")


CANDIDATES_DEFAULT = 50
CANDIDATES_MAX = 100_000


class CandidatesQuery(_Strict):
    skills: str | None = Field(default=None, description="Comma-separated skills required (the configured vocabulary).")
    languages: str | None = Field(default=None, description="Comma-separated ISO 639-1 codes required.")
    limit: int = Field(default=CANDIDATES_DEFAULT, ge=1, le=CANDIDATES_MAX,
                       description="How many of the ranked officers to answer in full, best first (every officer is ranked; "
                                   "`total`, `more` and `unavailable` say what the answer leaves out).")


class DispatchQuery(_Strict):
    incident: str | None = None
    officer: str | None = Field(default=None, pattern=ID)
    status: Literal["active", "requested", "accepted", "declined", "travelling", "on_site", "stood_down", "returned", "cancelled"] | None = Field(
        default=None, description="A status, or active: " + ", ".join(ACTIVE_DISPATCH) + ".")


# --- plumbing -----------------------------------------------------------------------------


def _ctx() -> Context:
    return current_app.extensions["crisis"]  # type: ignore[no-any-return]


def _dead_letter(errors: list[dict[str, Any]], body: bytes | str) -> str | None:
    """A refused write is kept as a dead letter (feed "roster"); a refused read is not."""
    if request.method in ("GET", "HEAD"):
        return None
    return _ctx().feed_log.rejected(feed.FEED, errors, body, request_origin())


@roster_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    answer: dict[str, Any] = {"error": exc.message, "errors": exc.errors}
    dead = _dead_letter(exc.errors, request.get_data(cache=True))
    if dead is not None:
        answer["dead_letter_id"] = dead
    return jsonify(answer), 400 if exc.message == feed.MALFORMED_CSV else status_for(exc)


@roster_api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "id", "message": str(exc)}]), 404


# The field a 409 is about when its message does not name one ("officer_id: already deployed").
_CONFLICT_FIELDS = {"create_dispatch": "officer_id", "patch_dispatch": "status"}


@roster_api.errorhandler(Conflict)
def _conflict(exc: Conflict) -> tuple[Response, int]:
    message = str(exc)
    named = re.match(r"^([a-z_][a-z0-9_.\[\]]*): (.+)$", message, re.DOTALL)
    if named:
        field, message = named[1], named[2]
    else:
        field = _CONFLICT_FIELDS.get((request.endpoint or "").split(".")[-1], "id")
        if field == "status" and b'"position"' in request.get_data(cache=True):
            field = "position"
    errors = [{"field": field, "message": message}]
    dead = _dead_letter(errors, request.get_data(cache=True))
    return jsonify(error="conflict", errors=errors, dead_letter_id=dead), 409


@roster_api.errorhandler(413)
def _too_large(exc: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    errors = [{"field": "body", "message": f"body larger than {limit} bytes"}]
    dead = _ctx().feed_log.rejected(feed.FEED, errors, b"", request_origin())
    return jsonify(error="payload too large", errors=errors, dead_letter_id=dead), 413


_RULE_FIELDS = ("start", "end", "status", "body")  # model-level rules name their field first in the message


def _errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    out = []
    for error in field_errors(exc):
        where, message = error["field"], error["message"].removeprefix("Value error, ")
        head, sep, rest = message.partition(": ")
        if sep and head in _RULE_FIELDS:
            where = head if where in ("", "body") else f"{where}.{head}"
            message = rest
        out.append({"field": f"{prefix}{where}" if prefix else where, "message": message})
    return out


def validate(model: type[Any], data: Any, prefix: str = "") -> Any:
    """``data`` as ``model``, or InputError naming each field (a rule's "end: ..." under end); the UI's forms too."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(_errors(exc, prefix)) from None


def _body(model: type[Any]) -> Any:
    return validate(model, load_json(request.get_data(cache=True)))



def _query(model: type[Any]) -> Any:
    """The query string, validated (a "+" of a zone sent unencoded arrives as a space)."""
    args = {k: (v.replace(" ", "+") if re.fullmatch(r"\S+ \d\d:?\d\d", v) else v) for k, v in request.args.items()}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None


def _actor() -> str:
    return current_principal().name


# --- who sees what: crisis.views_roster cuts every answer for the caller ------------------


def _viewer() -> Any:
    return current_principal()


def _check_incident(incident_id: str) -> None:
    """A body's incident: a field error when there is none the caller may see."""
    incident = _ctx().deps.incidents.get(incident_id)
    if incident is None or not access.may_see_regions(_viewer(), incident.regions):
        raise InputError([{"field": "incident_id", "message": f"no incident {incident_id!r}"}])


def _check_officer(officer_id: str, field: str = "officer_id") -> None:
    if _ctx().roster.officer(officer_id) is None:
        raise InputError([{"field": field, "message": f"no officer {officer_id!r}: import the officers first"}])


def _check_slot(slot_id: str, field: str) -> None:
    if _ctx().roster.slot(slot_id) is None:
        raise InputError([{"field": field, "message": f"no standby slot {slot_id!r}"}])


def _slot_view(slot: Slot) -> dict[str, Any] | None:
    owner = _ctx().roster.officer(slot.officer_id)
    return views_roster.slot_for(_viewer(), slot.to_dict(), owner.region if owner else None)


def _slots_answer(slots: list[Slot]) -> dict[str, Any]:
    shown = [v for v in (_slot_view(s) for s in slots) if v is not None]
    return {"slots": shown, "count": len(shown)}


def _existing_slot(slot_id: str) -> Slot:
    found = _ctx().roster.slot(slot_id)
    if found is None:
        raise NotFound(f"no standby slot {slot_id}")
    return found


# --- officers -------------------------------------------------------------------------------


@roster_api.post("/roster/officers")
@require_role(*EDITORS)
def import_officers() -> tuple[Response, int]:
    body = request.get_data(cache=True)
    mimetype = request.mimetype or ""
    if mimetype not in JSON_TYPES + feed.CSV_TYPES:
        errors = [{"field": "Content-Type", "message": f"{mimetype!r} is not accepted here; send application/json or text/csv"}]
        dead = _ctx().feed_log.rejected(feed.FEED, errors, body, request_origin())
        return jsonify(error="unsupported media type", errors=errors, dead_letter_id=dead), 415
    result = feed.intake(_ctx(), body, mimetype, _actor(), request_origin())
    audit_request("roster.officers_import", target="roster", after={"accepted": result["accepted"], "updated": result["updated"]},
                  detail={"rejected": len(result["rejected"]), "format": "csv" if mimetype in feed.CSV_TYPES else "json"})
    nothing_stored = result["rejected"] and not (result["accepted"] or result["updated"])
    return jsonify(result), 422 if nothing_stored else 200


@roster_api.get("/roster/officers")
@require_role(*READERS)
def list_officers() -> Response:
    found = views_roster.officers(_ctx(), _viewer())
    return jsonify(officers=found, count=len(found))


@roster_api.get("/roster/officers/<officer_id>")
@require_role(*access.PERSON_LOOKERS)  # not a wall: the answer, even "not found", would tell it about a person
def get_officer(officer_id: str) -> Response:
    return jsonify(views_roster.officer(_ctx(), officer_id, _viewer()))


# --- standby slots --------------------------------------------------------------------------


@roster_api.post("/roster/standby")
@require_role(*EDITORS)
def add_slots() -> tuple[Response, int]:
    data = load_json(request.get_data(cache=True))
    if isinstance(data, dict) and set(data) == {"slots"}:
        data = data["slots"]
    if not isinstance(data, list) or not data:
        raise InputError([{"field": "slots", "message": 'expected a non-empty list of slots (or {"slots": [...]})'}])
    if len(data) > MAX_SLOTS:
        raise InputError([{"field": "slots", "message": f"{len(data)} slots; at most {MAX_SLOTS} a request"}])
    commands: list[SlotIn] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(data):
        try:
            commands.append(validate(SlotIn, item, f"slots[{index}]."))
        except InputError as exc:
            problems.extend(exc.errors)
    if problems:
        raise InputError(problems)
    slots = [Slot("", c.officer_id, c.start, c.end, c.readiness_hours, c.role, c.region, c.note) for c in commands]
    stored = handlers_roster.add_slots(_ctx(), slots, _actor())
    audit_request("roster.slots_add", target="roster", after={"slots": [s.id for s in stored]},
                  detail={"officers": sorted({s.officer_id for s in stored})})
    return jsonify({**_slots_answer(list(stored)), "warnings": handlers_roster.clash_warnings(_ctx(), slots=list(stored))}), 201


@roster_api.patch("/roster/standby/<slot_id>")
@require_role(*EDITORS)
def patch_slot(slot_id: str) -> Response:
    patch: SlotPatch = _body(SlotPatch)
    before = _existing_slot(slot_id)
    changes = {name: getattr(patch, name) for name in patch.model_fields_set}
    if "officer_id" in changes:
        _check_officer(changes["officer_id"])
    after = handlers_roster.patch_slot(_ctx(), slot_id, changes, _actor())
    old, new = before.to_dict(), after.to_dict()
    changed = [k for k, v in new.items() if old[k] != v]
    audit_request("roster.slot_change", target=slot_id, before={k: old[k] for k in changed},
                  after={k: new[k] for k in changed}, detail={"note": patch.note})
    return jsonify(_slot_view(after))


@roster_api.delete("/roster/standby/<slot_id>")
@require_role(*EDITORS)
def remove_slot(slot_id: str) -> Response:
    removed = handlers_roster.remove_slot(_ctx(), slot_id, _actor())
    audit_request("roster.slot_remove", target=slot_id, before=removed.to_dict())
    return jsonify(removed=slot_id, slot=_slot_view(removed))


@roster_api.post("/roster/standby/<slot_id>/override")
@require_role(*EDITORS)
def override_slot(slot_id: str) -> Response:
    command: OverrideIn = _body(OverrideIn)
    before = _existing_slot(slot_id)
    _check_officer(command.officer_id)
    after = handlers_roster.override_slot(_ctx(), slot_id, command.officer_id, command.note, _actor())
    audit_request("roster.override", target=slot_id, before={"officer_id": before.officer_id},
                  after={"officer_id": after.officer_id}, detail={"note": command.note})
    return jsonify({**(_slot_view(after) or {}), "warnings": handlers_roster.clash_warnings(_ctx(), slots=[after])})


@roster_api.post("/roster/swaps")
@require_role(*EDITORS)
def swap_slots() -> Response:
    command: SwapIn = _body(SwapIn)
    if command.slot_a == command.slot_b:
        raise InputError([{"field": "slot_b", "message": "must be another slot than slot_a"}])
    _check_slot(command.slot_a, "slot_a")
    _check_slot(command.slot_b, "slot_b")
    a, b = handlers_roster.swap_slots(_ctx(), command.slot_a, command.slot_b, command.note, _actor())
    audit_request("roster.swap", target=f"{a.id},{b.id}", before={a.id: b.officer_id, b.id: a.officer_id},
                  after={a.id: a.officer_id, b.id: b.officer_id}, detail={"note": command.note})
    return jsonify(_slots_answer([a, b]))


@roster_api.get("/roster/standby")
@require_role(*READERS)
def standby_now() -> Response:
    query: StandbyQuery = _query(StandbyQuery)
    return jsonify(views_roster.standby(_ctx(), query.at or _ctx().deps.clock(), _viewer()))


def _period(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise InputError([{"field": "to", "message": "must be after from"}])


@roster_api.get("/roster/slots")
@require_role(*READERS)
def list_slots() -> Response:
    query: SlotsQuery = _query(SlotsQuery)
    _period(query.start, query.end)
    if query.officer is not None:
        refuse_person_look_up("officer")
    found = views_roster.slots(_ctx(), query.start, query.end, query.officer, _viewer())
    return jsonify(slots=found, count=len(found))


@roster_api.post("/roster/rotations")
@require_role(*EDITORS)
def generate_rotation() -> tuple[Response, int]:
    command: RotationIn = _body(RotationIn)
    params = rotation_params(command, _ctx().deps.clock())
    slots = handlers_roster.generate_rotation(_ctx(), params, _actor())
    audit_request("roster.rotation", target="roster", after={"slots": len(slots)}, detail=params)
    return jsonify(_slots_answer(list(slots))), 201


# --- leave ----------------------------------------------------------------------------------


@roster_api.post("/roster/leave")
@require_role(*EDITORS)
def add_leave() -> tuple[Response, int]:
    command: LeaveIn = _body(LeaveIn)
    _check_officer(command.officer_id)
    leave = Leave("", command.officer_id, command.start, command.end, command.kind, command.note)
    stored = handlers_roster.add_leave(_ctx(), leave, _actor())
    audit_request("roster.leave_add", target=command.officer_id, after=stored.to_dict())
    # the standby it takes the officer off, said (leave beats a slot: accepted)
    return jsonify({**(_leave_view(stored) or {}), "warnings": handlers_roster.clash_warnings(_ctx(), leave=[stored])}), 201


def _leave_view(period: Leave) -> dict[str, Any] | None:
    owner = _ctx().roster.officer(period.officer_id)
    return views_roster.slot_for(_viewer(), period.to_dict(), owner.region if owner else None)


@roster_api.delete("/roster/leave/<leave_id>")
@require_role(*EDITORS)
def remove_leave(leave_id: str) -> Response:
    removed = handlers_roster.remove_leave(_ctx(), leave_id, _actor())
    audit_request("roster.leave_remove", target=removed.officer_id, before=removed.to_dict())
    return jsonify(removed=leave_id, leave=_leave_view(removed))


@roster_api.get("/roster/leave")
@require_role(*READERS)
def list_leave() -> Response:
    query: LeaveQuery = _query(LeaveQuery)
    _period(query.start, query.end)
    if query.officer is not None:
        refuse_person_look_up("officer")
    found = views_roster.leave(_ctx(), query.officer, query.start, query.end, _viewer())
    return jsonify(leave=found, count=len(found))


# --- coverage -------------------------------------------------------------------------------


@roster_api.get("/roster/coverage")
@require_role(*READERS)
def coverage() -> Response:
    query: CoverageQuery = _query(CoverageQuery)
    start = query.start or _ctx().deps.clock()
    end = query.end or start + timedelta(days=COVERAGE_DAYS)
    _period(start, end)
    if end - start > timedelta(days=MAX_COVERAGE_DAYS):
        raise InputError([{"field": "to", "message": f"at most {MAX_COVERAGE_DAYS} days after from"}])
    return jsonify(views_roster.coverage(_ctx(), start, end, _viewer()))


# --- candidates and dispatches --------------------------------------------------------------


def _csv_arg(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@roster_api.get("/incidents/<incident_id>/candidates")
@require_role(*READERS)
def candidates(incident_id: str) -> Response:
    query: CandidatesQuery = _query(CandidatesQuery)
    skills, languages = _csv_arg(query.skills), [code.lower() for code in _csv_arg(query.languages)]
    problems = [{"field": "skills", "message": p} for p in
                (feed.skill_error(s, _ctx().settings.roster_skills) for s in skills) if p]
    problems += [{"field": "languages", "message": p} for p in (feed.language_error(code) for code in languages) if p]
    if problems:
        raise InputError(problems)
    return jsonify(views_roster.candidates(_ctx(), incident_id, skills, languages, viewer=_viewer(), limit=query.limit))


@roster_api.post("/dispatches")
@require_role(*EDITORS)
def create_dispatch() -> tuple[Response, int]:
    command: DispatchIn = _body(DispatchIn)
    _check_incident(command.incident_id)
    _check_officer(command.officer_id)
    dispatch = handlers_roster.create_dispatch(_ctx(), command.incident_id, command.officer_id, command.note, _actor())
    audit_request("dispatch.create", target=dispatch.id,
                  after={"incident_id": dispatch.incident_id, "officer_id": dispatch.officer_id, "status": dispatch.status},
                  detail={"note": command.note, "slot_id": dispatch.slot_id, "promoted_slot_id": dispatch.promoted_slot_id})
    return jsonify(views_roster.dispatch(_ctx(), dispatch.id, _viewer())), 201


@roster_api.patch("/dispatches/<dispatch_id>")
@require_role(*EDITORS)
def patch_dispatch(dispatch_id: str) -> Response:
    patch: DispatchPatch = _body(DispatchPatch)
    before = views_roster.dispatch(_ctx(), dispatch_id, _viewer())  # 404 for an incident the caller may not see
    if patch.position is not None:
        handlers_roster.report_dispatch_position(_ctx(), dispatch_id, patch.position.lat, patch.position.lon, _actor())
        audit_request("dispatch.position", target=dispatch_id, after={"lat": patch.position.lat, "lon": patch.position.lon})
    else:
        assert patch.status is not None
        after = handlers_roster.step_dispatch(_ctx(), dispatch_id, patch.status, _actor(), patch.note)
        audit_request("dispatch.step", target=dispatch_id, before={"status": before["status"]}, after={"status": after.status},
                      detail={"note": patch.note})
    return jsonify(views_roster.dispatch(_ctx(), dispatch_id, _viewer()))


@roster_api.get("/dispatches")
@require_role(*READERS)
def list_dispatches() -> Response:
    query: DispatchQuery = _query(DispatchQuery)
    if query.officer is not None:
        refuse_person_look_up("officer")
    found = views_roster.dispatches(_ctx(), query.incident, query.officer, query.status, _viewer())
    return jsonify(dispatches=found, count=len(found))


@roster_api.get("/dispatches/<dispatch_id>")
@require_role(*READERS)
def get_dispatch(dispatch_id: str) -> Response:
    return jsonify(views_roster.dispatch(_ctx(), dispatch_id, _viewer()))


# --- OpenAPI (crisis.api.openapi.EXTENSIONS) ------------------------------------------------


class HomeOut(BaseModel):
    name: str
    lat: float
    lon: float
    country: str | None = None


class OfficerOut(BaseModel):
    """A field security officer. A wall display receives no name, id nor contact."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None
    home: HomeOut | None = None
    region: str
    grade: str | None = None
    skills: list[str] | None = None
    languages: list[str] | None = Field(default=None, description="ISO 639-1.")
    contact: str | None = None


class OfficerList(BaseModel):
    officers: list[OfficerOut]
    count: int


class OfficerRejection(BaseModel):
    row: int = Field(description="1-based: the CSV data row (header not counted), or the index in the JSON list.")
    field: str = Field(description='The field or CSV column ("skills", "home_lat", "languages").')
    message: str
    dead_letter_id: str


class OfficerImportWarning(BaseModel):
    row: int = Field(description="As in rejected.")
    officer_id: str
    field: str = Field(description='"home".')
    message: str = Field(description="Stored, but: the home's coordinates lie in another country than its country says.")


class OfficerImportResult(BaseModel):
    accepted: int = Field(description="New officers stored.")
    updated: int = Field(description="Known officers (same id) updated in place.")
    rejected: list[OfficerRejection]
    warnings: list[OfficerImportWarning] = Field(description="Stored officers whose home coordinates lie in another country "
                                                             "than their home country (latitude and longitude swapped?).")


class SlotOut(BaseModel):
    """A standby slot (start <= t < end). A wall display receives no officer_id."""

    model_config = ConfigDict(extra="allow")

    id: str
    officer_id: str | None = None
    start: AwareDatetime
    end: AwareDatetime
    readiness_hours: Readiness
    role: Role
    region: str | None = Field(description="null: worldwide.")
    note: str | None = None


class SlotList(BaseModel):
    slots: list[SlotOut]
    count: int


class StandbyEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    slot_id: str
    officer_id: str | None = Field(default=None, description="Absent for a wall display.")
    readiness_hours: Readiness
    role: Role
    region: str | None
    until: AwareDatetime = Field(description="The slot's end, or the start of the officer's next leave if earlier.")


class StandbyNow(BaseModel):
    at: AwareDatetime
    standby: list[StandbyEntry]
    next: dict[str, Any] = Field(description='Per region and "worldwide": the next slot to start, or null.')


class LeaveOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    officer_id: str | None = None
    start: AwareDatetime
    end: AwareDatetime
    kind: Literal["leave", "unavailable"]
    note: str | None = None


class LeaveList(BaseModel):
    leave: list[LeaveOut]
    count: int


class CoverageOut(BaseModel):
    """Cover over a period: piecewise-constant counts and the warnings."""

    model_config = ConfigDict(extra="allow")

    warnings: list[dict[str, Any]] = Field(description="kind (worldwide_24h_low, region_uncovered, language_missing, skill_missing, standby_too_long, dispatch_gap, sent_to_closed: an officer still sent to a closed incident, with incident_id), region?, skill?, language?, from, to, message.")


class Candidate(BaseModel):
    """One ranked officer, best first. What a role receives follows ``access.person_view``:
    a wall display gets the region and the distance only, never who; a regional desk gets
    its regions' officers whole and the others' marked ``outside``, with where they stand
    (rank, region, standby, readiness, distance, ETA, availability), never who."""

    model_config = ConfigDict(extra="allow")

    officer_id: str | None = None
    rank: int | None = Field(default=None, ge=1)
    score: float | None = Field(default=None, description="Strictly decreasing with rank.")
    on_standby: bool | None = None
    readiness_hours: float | None = None
    region: str
    distance_km: float = Field(description="Geodesic (WGS84) from the officer's home to the incident.")
    eta_hours: float | None = Field(default=None, description="readiness notice + distance / cruise_kmh + overhead_hours.")
    skills: list[str] | None = Field(default=None, description="The officer's special training (all of it, asked for or not).")
    languages: list[str] | None = Field(default=None, description="The officer's languages (ISO 639-1).")
    skills_matched: list[str] | None = None
    languages_matched: list[str] | None = None
    rested_days: float | None = Field(default=None, description="Days since the last return from a deployment; null: never deployed.")
    availability: Literal["on_leave", "deployed", "resting"] | None = Field(default=None, description="null: available.")
    reasons: list[str] | None = None
    outside: bool | None = Field(default=None, description="True: an officer outside the caller's regions (a regional desk), "
                                                          "whose identity, skills and languages are not given.")


class CandidateList(BaseModel):
    model_config = ConfigDict(extra="allow")

    incident: Any
    at: AwareDatetime
    eta_terms: dict[str, float] = Field(description="cruise_kmh, overhead_hours, off_standby_notice_hours.")
    candidates: list[Candidate] = Field(description="The best `limit` (default 50), best first.")
    total: int = Field(ge=0, description="Officers ranked (every officer, whoever asks).")
    more: int = Field(ge=0, description="Ranked but not in this answer (ask with a larger `limit`).")
    unavailable: dict[str, int] = Field(description="Of all the ranked, how many are on_leave, deployed or resting (listed last).")


class DispatchOut(BaseModel):
    """An officer sent to an incident and every step since (who and when)."""

    model_config = ConfigDict(extra="allow")

    id: str
    incident_id: str
    officer_id: str | None = None
    status: Literal["requested", "accepted", "declined", "travelling", "on_site", "stood_down", "returned", "cancelled"]
    created_at: AwareDatetime
    steps: list[dict[str, Any]]
    eta: AwareDatetime | None = None
    distance_km: float | None = None
    path: list[list[float]] | None = Field(default=None, description="[lon, lat] great-circle points from home to the incident.")


class DispatchList(BaseModel):
    dispatches: list[DispatchOut]
    count: int


OPENAPI_TAGS = ({"name": "Roster", "description": "The standby roster: officers, standby slots, rotations, leave, swaps, coverage."},
                {"name": "Dispatch", "description": "Surge dispatch: the candidates for an incident, dispatches and their steps."})
OPENAPI_REQUEST_MODELS: tuple[type[BaseModel], ...] = (feed.OfficerIn, SlotIn, SlotPatch, RotationIn, LeaveIn, SwapIn, OverrideIn,
                                                       DispatchIn, DispatchPatch)
OPENAPI_RESPONSE_MODELS: tuple[type[BaseModel], ...] = (OfficerOut, OfficerList, OfficerRejection, OfficerImportWarning,
                                                        OfficerImportResult, SlotOut,
                                                        SlotList, StandbyEntry, StandbyNow, LeaveOut, LeaveList, CoverageOut,
                                                        Candidate, CandidateList, DispatchOut, DispatchList)


def openapi_operations() -> list[Any]:
    from crisis.api.openapi import Op, _common, _json, _query_parameters, _ref

    def path(name: str, what: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "description": what, "schema": {"type": "string"}}

    def body(model: str, example: Any) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": _ref(model), "example": example}}}

    officer_id, slot_id = path("officer_id", "The officer's id."), path("slot_id", "The standby slot's id.")
    leave_id, dispatch_id = path("leave_id", "The leave period's id."), path("dispatch_id", "The dispatch's id.")
    incident_id = path("incident_id", "The incident's id.")
    reads = _common("401", "403")
    writes = _common("400", "401", "403", "404", "409", "413", "422")
    slot = {"officer_id": "FSO-017", "start": "2026-05-04T08:00:00Z", "end": "2026-05-11T08:00:00Z",
            "readiness_hours": 24, "role": "primary", "region": "middle_east_north_africa"}
    officer = {"id": "FSO-017", "name": "R. Haddad", "home": {"name": "Amman", "lat": 31.95, "lon": 35.93, "country": "JOR"},
               "region": "middle_east_north_africa", "grade": "P4", "skills": ["hostage_incident_management", "first_aid"],
               "languages": ["ar", "fr", "en"], "contact": "+962 6 000 0000"}
    return [
        Op("post", "/api/v1/roster/officers", "Roster", "Import officers",
           "A JSON list of officers (or `{\"officers\": [...]}`), or CSV (`text/csv`; columns "
           f"{', '.join(feed.CSV_COLUMNS)}; skills and languages `;`-separated). Skills from the configured "
           "vocabulary, languages ISO 639-1. A re-import updates the officer of the same id in place. Good "
           "officers are stored; each bad row is reported and dead-lettered.",
           EDITORS, {"200": _json(_ref("OfficerImportResult"), "Stored what was good; `rejected` lists each bad row."),
                     "422": _json(_ref("OfficerImportResult"), "Every row was rejected: nothing stored."),
                     **_common("400", "401", "403", "413", "415")},
           body={"required": True, "content": {
               "application/json": {"schema": {"type": "array", "items": _ref("OfficerIn")}, "example": [officer]},
               "text/csv": {"schema": {"type": "string", "contentMediaType": "text/csv"},
                            "example": ",".join(feed.CSV_COLUMNS) + "\nFSO-017,R. Haddad,Amman,31.95,35.93,JOR,"
                                       "middle_east_north_africa,P4,hostage_incident_management;first_aid,ar;fr;en,+962 6 000 0000\n"}}},
           operation_id="importOfficers"),
        Op("get", "/api/v1/roster/officers", "Roster", "List officers",
           "Every officer (a regional desk: its region's). A wall display receives no name, id nor contact.",
           READERS, {"200": _json(_ref("OfficerList"), "The officers."), **reads}, operation_id="listOfficers"),
        Op("get", "/api/v1/roster/officers/{officer_id}", "Roster", "Get an officer",
           "One officer; outside a regional desk's region: 404. A wall display may not look a person up by id "
           "(nor filter slots, leave or dispatches by `officer`): 403, whether the id exists or not.",
           access.PERSON_LOOKERS,
           {"200": _json(_ref("OfficerOut"), "The officer."), **_common("401", "403", "404")}, parameters=(officer_id,),
           operation_id="getOfficer"),
        Op("post", "/api/v1/roster/standby", "Roster", "Add standby slots",
           "A list of slots (or `{\"slots\": [...]}`). Refused, each with its field (`slots[i].end`): end not after "
           "start, a time without a zone, readiness other than 24 or 48, an unknown officer, region or role, and "
           "slots of one officer that overlap (among themselves or with stored ones).",
           EDITORS, {"201": _json(_ref("SlotList"), "The slots stored."), **writes},
           body={"required": True, "content": {"application/json": {"schema": {"type": "array", "items": _ref("SlotIn")}, "example": [slot]}}},
           operation_id="addSlots"),
        Op("patch", "/api/v1/roster/standby/{slot_id}", "Roster", "Change a standby slot",
           "Absent fields are unchanged; `region: null` makes it worldwide. The same checks as adding.",
           EDITORS, {"200": _json(_ref("SlotOut"), "The slot as changed."), **writes}, parameters=(slot_id,),
           body=body("SlotPatch", {"end": "2026-05-10T08:00:00Z", "note": "handover a day early"}), operation_id="updateSlot"),
        Op("delete", "/api/v1/roster/standby/{slot_id}", "Roster", "Remove a standby slot", "Audited; the slot is gone.",
           EDITORS, {"200": _json({"type": "object", "properties": {"removed": {"type": "string"}, "slot": _ref("SlotOut")}}, "Removed."),
                     **_common("401", "403", "404")}, parameters=(slot_id,), operation_id="removeSlot"),
        Op("post", "/api/v1/roster/standby/{slot_id}/override", "Roster", "Put another officer on a slot",
           "A duty officer's override: the slot keeps its times, another officer stands. Audited with the note.",
           EDITORS, {"200": _json(_ref("SlotOut"), "The slot."), **writes}, parameters=(slot_id,),
           body=body("OverrideIn", {"officer_id": "FSO-022", "note": "FSO-017 sick"}), operation_id="overrideSlot"),
        Op("get", "/api/v1/roster/standby", "Roster", "Who is on standby",
           "Who is on standby at `at` (a slot covers start <= at < end; an officer on leave, deployed or resting is "
           "not), and who is next for each region and worldwide. A wall display receives no officer ids; a regional "
           "desk receives the slots of its region's officers or covering its region.",
           READERS, {"200": _json(_ref("StandbyNow"), "Standby now and next."), **_common("401", "403", "422")},
           parameters=_query_parameters(StandbyQuery), operation_id="getStandby"),
        Op("get", "/api/v1/roster/slots", "Roster", "List standby slots",
           "The slots overlapping [from, to), optionally of one officer (a regional desk: of its region's officers).",
           READERS, {"200": _json(_ref("SlotList"), "The slots, by start."), **_common("401", "403", "422")},
           parameters=_query_parameters(SlotsQuery), operation_id="listSlots"),
        Op("post", "/api/v1/roster/rotations", "Roster", "Generate a rotation",
           "Periods of `period_days` from the first `handover` (UTC) at or after `from`, for `weeks`; each period one "
           "primary and one alternate, laid out fairly. Answers the slots it made.",
           EDITORS, {"201": _json(_ref("SlotList"), "The slots made."), **writes},
           body=body("RotationIn", {"officers": ["FSO-017", "FSO-022", "FSO-031"], "from": "2026-05-04T00:00:00Z", "weeks": 4,
                                    "period_days": 7, "handover": "08:00", "pattern": "round_robin"}),
           operation_id="generateRotation"),
        Op("post", "/api/v1/roster/leave", "Roster", "Add leave",
           "An officer on leave (or unavailable) is not on standby whatever the slots say.",
           EDITORS, {"201": _json(_ref("LeaveOut"), "The leave period."), **writes},
           body=body("LeaveIn", {"officer_id": "FSO-017", "start": "2026-05-12T00:00:00Z", "end": "2026-05-20T00:00:00Z"}),
           operation_id="addLeave"),
        Op("delete", "/api/v1/roster/leave/{leave_id}", "Roster", "Remove leave", "Audited.",
           EDITORS, {"200": _json({"type": "object", "properties": {"removed": {"type": "string"}, "leave": _ref("LeaveOut")}}, "Removed."),
                     **_common("401", "403", "404")}, parameters=(leave_id,), operation_id="removeLeave"),
        Op("get", "/api/v1/roster/leave", "Roster", "List leave",
           "Leave and unavailability periods (a regional desk: of its region's officers).",
           READERS, {"200": _json(_ref("LeaveList"), "The periods, by start."), **_common("401", "403", "422")},
           parameters=_query_parameters(LeaveQuery), operation_id="listLeave"),
        Op("post", "/api/v1/roster/swaps", "Roster", "Swap two slots' officers",
           "The two slots keep their times and exchange their officers. Audited with the note.",
           EDITORS, {"200": _json(_ref("SlotList"), "Both slots."), **writes},
           body=body("SwapIn", {"slot_a": "slot-1a2b3c", "slot_b": "slot-4d5e6f", "note": "family event"}), operation_id="swapSlots"),
        Op("get", "/api/v1/roster/coverage", "Roster", "Coverage and warnings",
           "Cover per region, skill and language over [from, to) (default the next 30 days), and a warning for every "
           "period below the minimums in the settings, every standby longer than the rest rule allows and every "
           "slot a dispatch left empty. Aggregate: the same for every reader (a wall: no officer ids).",
           READERS, {"200": _json(_ref("CoverageOut"), "The timelines and warnings."), **_common("401", "403", "422")},
           parameters=_query_parameters(CoverageQuery), operation_id="getCoverage"),
        Op("get", "/api/v1/incidents/{incident_id}/candidates", "Dispatch", "Rank officers for an incident",
           "Every officer, ranked: available before unavailable (on leave, deployed or resting: last, with the reason), "
           "then those with every required skill and language, then on standby, then by ETA. `eta_hours` = readiness "
           "notice + geodesic distance / cruise speed + overheads (the terms in `eta_terms`). Outside a regional desk's "
           "region: 404.",
           READERS, {"200": _json(_ref("CandidateList"), "The ranked officers, each with its reasons."),
                     **_common("401", "403", "404", "422")},
           parameters=(incident_id, *_query_parameters(CandidatesQuery)), operation_id="rankCandidates"),
        Op("post", "/api/v1/dispatches", "Dispatch", "Dispatch an officer",
           "Sends the officer to the incident (status requested). When the officer was the primary on standby, the "
           "alternate of that slot becomes primary. 409 when the officer is already deployed; 422 for an unknown "
           "officer or incident.",
           EDITORS, {"201": _json(_ref("DispatchOut"), "The dispatch."), **writes},
           body=body("DispatchIn", {"incident_id": "inc-3f2a9c01b7de", "officer_id": "FSO-017", "note": "hostage negotiation"}),
           operation_id="createDispatch"),
        Op("patch", "/api/v1/dispatches/{dispatch_id}", "Dispatch", "Step a dispatch or report its position",
           "`{\"status\"}`: requested -> accepted | declined; accepted -> travelling -> on_site -> stood_down -> returned "
           "(409 for a step the workflow forbids). Or `{\"position\": {lat, lon}}`. Each is an event with who and when.",
           EDITORS, {"200": _json(_ref("DispatchOut"), "The dispatch."), **writes}, parameters=(dispatch_id,),
           body=body("DispatchPatch", {"status": "accepted"}), operation_id="updateDispatch"),
        Op("get", "/api/v1/dispatches", "Dispatch", "List dispatches",
           "Filters incident, officer, status (`active`: " + ", ".join(ACTIVE_DISPATCH) + "). A regional desk: the "
           "dispatches to incidents it may see; a wall display: no names.",
           READERS, {"200": _json(_ref("DispatchList"), "The dispatches."), **_common("401", "403", "422")},
           parameters=_query_parameters(DispatchQuery), operation_id="listDispatches"),
        Op("get", "/api/v1/dispatches/{dispatch_id}", "Dispatch", "Get a dispatch",
           "The dispatch, its steps and its path (great-circle points from home to the incident).",
           READERS, {"200": _json(_ref("DispatchOut"), "The dispatch."), **_common("401", "403", "404")},
           parameters=(dispatch_id,), operation_id="getDispatch"),
    ]
