"""Accountability (roll-call) under /api/v1: check-ins, duty officers' marks, the counts.

==================================================  ==========================================
POST /api/v1/checkins                               a person's or warden's report:
                                                    {"traveller_id", "status", "incident_id"?,
                                                    "lat"?, "lon"?, "note"?} -> 201
PUT  /api/v1/incidents/{id}/people/{traveller_id}   a duty officer sets a status in an incident
PUT  /api/v1/areas/{id}/people/{traveller_id}/status  ... in an area's movement
GET  /api/v1/accountability                         counts and % accounted for per open
                                                    incident, per open movement, per region
GET  /api/v1/incidents/{id}/burndown                unaccounted people over time
==================================================  ==========================================

Who may check in for whom is ``crisis.domain.access.may_check_in``: a "traveller" token
only for its own person, a "warden" token only for the people assigned to it, duty
officers and admins for anyone. Which scopes a check-in applies to, and what is stored,
is ``crisis.handlers_people``. A refusal names the field and is dead-lettered (a 403 for
someone else's person too); nothing of a refused request is stored. Every change is audited.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crisis import handlers_people, views
from crisis.api.common import ctx, dead_letter, parse_body
from crisis.auth import audit_request, current_principal, require_role
from crisis.domain import access
from crisis.domain import accountability as acc
from crisis.errors import InputError, NotFound
from crisis.feeds.schemas import PlainText
from crisis.http_safety import status_for

checkins_api = Blueprint("checkins", __name__, url_prefix="/api/v1")

StatusName = Literal["no_response", "safe", "needs_help", "unsure", "unreachable"]
assert set(StatusName.__args__) == set(acc.STATUSES)  # type: ignore[attr-defined]
TravellerId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class CheckinIn(_Strict):
    """A check-in: the person's status, and where they are if known. Without
    `incident_id` it applies to every open incident affecting the person and every open
    movement they are on. `lat` and `lon` go together; a place is also a position report."""

    traveller_id: str = TravellerId
    status: StatusName
    incident_id: str | None = Field(default=None, min_length=1, max_length=64)
    lat: float | None = Field(default=None, allow_inf_nan=False, strict=True)
    lon: float | None = Field(default=None, allow_inf_nan=False, strict=True)
    note: PlainText | None = Field(default=None, max_length=2000)


class StatusIn(_Strict):
    """A duty officer's mark of one person's status in one incident or movement."""

    status: StatusName
    note: PlainText | None = Field(default=None, max_length=2000)


class StatusRecorded(BaseModel):
    event_id: str = Field(description="The Redis stream id of the event in the people log.")
    traveller_id: str
    status: StatusName
    scopes: list[str] = Field(description='Where the status now applies: "incident:<id>" and "area:<id>" (may be empty).')
    previous: dict[str, StatusName] = Field(description="The status in each scope before.")
    at: AwareDatetime
    via: Literal["duty_officer", "checkin", "warden"]


class ScopeCounts(BaseModel):
    """How many people in a scope have each accountability status (``accountability.counts``)."""

    total: int = Field(ge=0)
    safe: int = Field(ge=0)
    needs_help: int = Field(ge=0)
    unsure: int = Field(ge=0)
    unreachable: int = Field(ge=0)
    no_response: int = Field(ge=0)


class IncidentAccountability(BaseModel):
    incident: str
    title: str
    region: str | None
    counts: ScopeCounts
    accounted_pct: float = Field(ge=0, le=100)


class AreaAccountability(BaseModel):
    area: str
    name: str | None
    region: str | None
    counts: ScopeCounts
    accounted_pct: float = Field(ge=0, le=100)


class RegionAccountability(BaseModel):
    region: str = Field(description='The region of the people\'s best-known positions ("unknown" when none).')
    counts: ScopeCounts = Field(description="Each person once, by their worst status among the open scopes they are in.")
    accounted_pct: float = Field(ge=0, le=100)


class Accountability(BaseModel):
    incidents: list[IncidentAccountability] = Field(description="Open incidents; those with people needing help first.")
    areas: list[AreaAccountability] = Field(description="Areas with an open movement.")
    regions: list[RegionAccountability]
    computed_at: AwareDatetime


class BurndownPoint(BaseModel):
    at: AwareDatetime
    unaccounted: int = Field(ge=0)


class Burndown(BaseModel):
    incident: str
    total: int = Field(ge=0, description="The people affected now (as the caller sees them).")
    start: AwareDatetime = Field(description="When the incident began (its reported_at).")
    points: list[BurndownPoint] = Field(description="Unaccounted people after each change, from start to now.")


_ctx = ctx


_dead_letter = dead_letter


@checkins_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=_dead_letter(exc.errors)), status_for(exc)


@checkins_api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    field = getattr(exc, "field", "id")
    return jsonify(error="not found", errors=[{"field": field, "message": str(exc)}]), 404


_body = parse_body


def _answer(recorded: handlers_people.Recorded) -> dict[str, Any]:
    p = recorded.payload
    return {"event_id": recorded.event_id, "traveller_id": p["traveller_id"], "status": p["status"],
            "scopes": p["scopes"], "previous": p["previous_by_scope"], "at": p["at"], "via": p["via"]}


@checkins_api.post("/checkins")
@require_role(*access.CHECKERS)
def post_checkin() -> tuple[Response, int]:
    command: CheckinIn = _body(CheckinIn)
    principal = current_principal()
    if not access.may_check_in(principal, command.traveller_id):
        errors = [{"field": "traveller_id", "message": f"{principal.name} ({principal.role}) may not check in for "
                                                       f"{command.traveller_id!r}"}]
        dead = _dead_letter(errors)
        audit_request("access.denied", request.path, detail={"method": "POST", "status": 403, "traveller_id": command.traveller_id})
        return jsonify(error="forbidden", errors=errors, dead_letter_id=dead), 403
    recorded = handlers_people.checkin(_ctx(), command.traveller_id, command.status, command.incident_id, command.lat,
                                       command.lon, command.note, principal.name, access.check_in_via(principal))
    answer = _answer(recorded)
    audit_request("checkin.record", target=command.traveller_id, after={"status": command.status, "scopes": answer["scopes"]},
                  detail={"via": answer["via"], "incident_id": command.incident_id, "place": command.lat is not None,
                          "event_id": recorded.event_id})
    return jsonify(answer), 201


def _set(scope: str, traveller_id: str) -> Response:
    command: StatusIn = _body(StatusIn)
    recorded = handlers_people.set_status(_ctx(), scope, traveller_id, command.status, command.note,
                                          current_principal().name)
    answer = _answer(recorded)
    audit_request("accountability.status_set", target=f"{scope}/{traveller_id}",
                  before={"status": answer["previous"].get(scope)}, after={"status": command.status},
                  detail={"note": command.note, "event_id": recorded.event_id})
    return jsonify(answer)


@checkins_api.put("/incidents/<incident_id>/people/<traveller_id>")
@require_role(*access.EDITORS)
def put_incident_status(incident_id: str, traveller_id: str) -> Response:
    return _set(acc.incident_scope(incident_id), traveller_id)


@checkins_api.put("/areas/<area_id>/people/<traveller_id>/status")
@require_role(*access.EDITORS)
def put_area_status(area_id: str, traveller_id: str) -> Response:
    return _set(acc.area_scope(area_id), traveller_id)


@checkins_api.get("/accountability")
@require_role(*access.READERS)
def get_accountability() -> Response:
    return jsonify(views.accountability_summary(_ctx(), current_principal()))


@checkins_api.get("/incidents/<incident_id>/burndown")
@require_role(*access.READERS)
def get_burndown(incident_id: str) -> Response:
    answer = views.incident_burndown(_ctx(), current_principal(), incident_id)
    if answer is None:
        raise NotFound(f"no incident {incident_id}")
    return jsonify(answer)


# --- the API description (crisis.api.openapi EXTENSIONS) -----------------------------

OPENAPI_TAGS = ({"name": "Accountability", "description": "Roll-call: check-ins by people and wardens, statuses set by duty officers, counts and % accounted for, the burn-down."},)
OPENAPI_REQUEST_MODELS = (CheckinIn, StatusIn)
OPENAPI_RESPONSE_MODELS = (StatusRecorded, Accountability, Burndown)


def openapi_operations() -> list[Any]:
    from crisis.api.openapi import INCIDENT_ID, Op, _common, _json, _ref

    traveller = {"name": "traveller_id", "in": "path", "required": True, "description": "The traveller's id.",
                 "schema": {"type": "string"}}
    area = {"name": "area_id", "in": "path", "required": True, "description": "The area's id.", "schema": {"type": "string"}}
    status_body = {"required": True, "content": {"application/json": {"schema": _ref("StatusIn"),
                                                                      "example": {"status": "safe", "note": "Called, at home."}}}}
    return [
        Op("post", "/api/v1/checkins", "Accountability", "Check in",
           "A person (a traveller token: only for its own person) or a warden (only for the people assigned to them) "
           "reports a status: no_response, safe, needs_help, unsure, unreachable (safe, needs_help and unsure count "
           "as accounted for). With `incident_id` it applies to that incident; without, to every open incident "
           "affecting the person and every open movement they are on. `lat` and `lon` go together; a place is "
           "also a position report (source checkin) and the person's freshest position. Refusals name the field "
           "and are dead-lettered; a report for someone not yours is 403 naming traveller_id.",
           access.CHECKERS,
           {"201": _json(_ref("StatusRecorded"), "Stored."), **_common("400", "401", "403", "413", "422")},
           body={"required": True, "content": {"application/json": {"schema": _ref("CheckinIn"), "example": {
               "traveller_id": "T1042", "status": "safe", "lat": 33.27, "lon": 35.2, "note": "At the office."}}}},
           operation_id="checkIn"),
        Op("put", "/api/v1/incidents/{incident_id}/people/{traveller_id}", "Accountability", "Set a status in an incident",
           "A duty officer marks one person's accountability status in one incident.",
           access.EDITORS,
           {"200": _json(_ref("StatusRecorded"), "Stored."), **_common("400", "401", "403", "404", "413", "422")},
           body=status_body, parameters=(INCIDENT_ID, traveller), operation_id="setIncidentStatus"),
        Op("put", "/api/v1/areas/{area_id}/people/{traveller_id}/status", "Accountability", "Set a status in a movement",
           "A duty officer marks one person's accountability status in an area's movement.",
           access.EDITORS,
           {"200": _json(_ref("StatusRecorded"), "Stored."), **_common("400", "401", "403", "404", "413", "422")},
           body=status_body, parameters=(area, traveller), operation_id="setAreaStatus"),
        Op("get", "/api/v1/accountability", "Accountability", "Counts and % accounted for",
           "Per open incident, per area with an open movement, and per region (each person once, by their worst "
           "status), of the people the caller may see (a regional desk: its region).",
           access.READERS,
           {"200": _json(_ref("Accountability"), "The counts."), **_common("401", "403")},
           operation_id="getAccountability"),
        Op("get", "/api/v1/incidents/{incident_id}/burndown", "Accountability", "Unaccounted people over time",
           "The number of the incident's affected people (today's list) not accounted for, from when it began "
           "to now, after each status change.",
           access.READERS,
           {"200": _json(_ref("Burndown"), "The burn-down."), **_common("401", "403", "404")},
           parameters=(INCIDENT_ID,), operation_id="getBurndown"),
    ]
