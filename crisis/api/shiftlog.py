"""The shift log and the handover over HTTP (``crisis.views_shiftlog``).

- ``POST /api/v1/shiftlog/notes`` (duty officers, admins): a free note ``{"text",
  "region"?, "incident_id"?}``: 201 with the note. Audited (``shiftlog.note``); a refused
  body is answered 400/422 naming each wrong field and dead-lettered, like every entry point.
- ``GET /api/v1/shiftlog?hours=`` (duty officers, admins, regional desks): the entries of
  the last ``hours`` (1 to 168, default 12) the caller may see, newest first.
- ``GET /api/v1/handover?format=json|csv|md`` (the same readers): the handover summary,
  limited to the caller's scope; csv and md come as downloads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crisis import views_shiftlog
from crisis.adapters.shiftlog_store import ShiftLogStore
from crisis.api.common import ctx, dead_letter, parse_body
from crisis.auth import audit_request, current_principal, require_role
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.regions import REGIONS
from crisis.errors import InputError, NotFound
from crisis.feeds.schemas import PlainText, field_errors
from crisis.http_safety import status_for

shiftlog_api = Blueprint("shiftlog", __name__, url_prefix="/api/v1")

MAX_NOTE = 4000


class NoteIn(BaseModel):
    """A free note in the shift log."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: PlainText = Field(min_length=1, max_length=MAX_NOTE, description="The note, in words.")
    region: str | None = Field(default=None, description="The region it is about (a region code); none: every region (or, with "
                                    "an incident, the incident's regions).")
    incident_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                    description="The incident it is about, if any.")

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            raise ValueError("must be one of " + ", ".join(REGIONS))
        return value


class HandoverQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = Field(default="json", pattern="^(json|csv|md)$")
    hours: int = Field(default=views_shiftlog.DEFAULT_HOURS, ge=1, le=views_shiftlog.MAX_HOURS)


def _query(args: dict[str, Any]) -> HandoverQuery:
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise InputError([{"field": name, "message": "given more than once"} for name in repeated])
    try:
        return HandoverQuery.model_validate(args)
    except ValidationError as exc:
        errors = field_errors(exc)
        for error in errors:
            if error.get("field") == "format":
                error["message"] = "must be json, csv or md"
        raise InputError(errors) from None


@shiftlog_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    letter = dead_letter(exc.errors)
    status = status_for(exc) if request.method == "POST" else 422
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=letter), status


@shiftlog_api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "incident_id", "message": str(exc)}]), 404


def add_note(context: Context, who: access.HasRole, name: str, note: NoteIn) -> dict[str, Any]:
    """Store a validated note (the API's and the page's one way in); InputError naming the
    field when its incident or region is not one the writer may see. The caller audits it.

    The note's regions: those of its incident (every region the incident touches) and the
    region named; none (no incident, no region): a note for every region, which every
    reader of the log sees, regional desks included."""
    if not access.can_edit(who):
        raise PermissionError(f"role {who.role!r} may not write in the shift log")
    regions: list[str] = []
    if note.incident_id is not None:
        incident = context.deps.incidents.get(note.incident_id)
        if incident is None or not access.may_see_regions(who, incident.regions):
            raise InputError([{"field": "incident_id", "message": f"no incident {note.incident_id}"}])
        # A note about an incident is for the desks of every region the incident touches.
        regions.extend(r for r in incident.regions if r)
    if note.region is not None and not access.may_see_regions(who, [note.region]):
        raise InputError([{"field": "region", "message": "outside your regions"}])
    if note.region is not None and note.region not in regions:
        regions.append(note.region)
    # No region and no incident: a note for every region, read by every reader of the log.
    return ShiftLogStore(context.redis).add_note(name, who.role, note.text, regions, note.incident_id)


def note_audit(stored: dict[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps of a note (its ``after``)."""
    return {"text": stored["text"], "regions": stored["regions"], "incident_id": stored["incident_id"]}


@shiftlog_api.post("/shiftlog/notes")
@require_role(*views_shiftlog.WRITERS)
def post_note() -> tuple[Response, int]:
    note = parse_body(NoteIn)
    who = current_principal()
    stored = add_note(ctx(), who, who.name, note)
    audit_request("shiftlog.note", stored["id"], after=note_audit(stored))
    return jsonify(stored), 201


@shiftlog_api.get("/shiftlog")
@require_role(*views_shiftlog.READERS)
def get_shiftlog() -> Response:
    query = _query(request.args.to_dict())
    now = datetime.now(UTC)
    entries = views_shiftlog.log_entries(ctx(), current_principal(), now - timedelta(hours=query.hours), now)
    return jsonify(entries=entries, hours=query.hours, scope=views_shiftlog.scope_label(current_principal()))


@shiftlog_api.get("/handover")
@require_role(*views_shiftlog.READERS)
def get_handover() -> Response:
    query = _query(request.args.to_dict())
    summary = views_shiftlog.handover(ctx(), current_principal(), hours=query.hours)
    if query.format == "json":
        return jsonify(summary)
    stamp = summary["generated_at"][:16].replace(":", "").replace("-", "")
    if query.format == "csv":
        body, mime = views_shiftlog.handover_csv(summary), "text/csv; charset=utf-8"
    else:
        body, mime = views_shiftlog.handover_md(summary), "text/markdown; charset=utf-8"
    return Response(body, mimetype=mime.split(";")[0], content_type=mime,
                    headers={"Content-Disposition": f'attachment; filename="handover-{stamp}.{query.format}"',
                             "Cache-Control": "no-store"})


# --- the API's description (crisis.api.openapi EXTENSIONS) ---------------------------------


class ShiftLogNote(BaseModel):
    """A free note as stored."""

    id: str = Field(description="The note's id in its stream (milliseconds since the epoch, a dash, a sequence number).")
    time: str = Field(description="When it was written, ISO 8601 UTC.")
    author: str = Field(description="Who wrote it.")
    role: str = Field(description="The writer's role.")
    text: str
    regions: list[str] = Field(description="The regions it is about: its incident's and the one named; "
                               "empty: every region (every reader of the log, regional desks included).")
    incident_id: str | None = None


class ShiftLogEntry(BaseModel):
    """One entry of the shift log: an automatic one (``auto``) or a note."""

    time: str
    kind: str = Field(description='"incident", "area", "movement", "accountability", "checkin", "dispatch", "roster", '
                                  '"device", "travellers" or "note".')
    auto: bool = Field(description="False for a free note.")
    what: str = Field(description="What it is about (an incident's title, an area or person reference).")
    text: str = Field(description="The change in words, or the note.")
    by: str | None = Field(default=None, description="Who (only for roles that see names).")
    incident_id: str | None = None
    regions: list[str] | None = None
    id: str | None = None


class ShiftLogEntries(BaseModel):
    entries: list[ShiftLogEntry] = Field(description="Newest first, at most 500.")
    hours: int
    scope: str = Field(description='The regions the caller sees, in words ("every region", "Africa").')


class Handover(BaseModel):
    """The handover summary for the next shift, limited to the caller's scope."""

    generated_at: str
    scope: str
    shift_hours: int
    open_incidents: list[dict[str, Any]] = Field(description="Ours first (where our people need help, then any of ours, "
                                                             "then the rest), each most severe first: id, title, type, "
                                                             "severity, status, region(s), reported_at, updated_at, owner, "
                                                             "stale, people, needs_help, not_accounted (our people it "
                                                             "affects, as the caller may see them).")
    unaccounted: dict[str, Any] = Field(description='{"people", "needs_help", "by_scope": [{"kind", "id", "name", '
                                                    '"not_accounted", "needs_help", "unreachable", "no_response", "total", '
                                                    '"accounted_pct"}]}')
    movements: list[dict[str, Any]] = Field(description="Open movements: area, name, phase, action, safe_haven, mode, "
                                                        "expected_arrival, to_move, moving, arrived, stayed, overdue, total.")
    dispatches: list[dict[str, Any]] = Field(description="Dispatches in flight: id, incident_id, incident, status, "
                                                          "eta (the expected arrival given), arrival (in words: "
                                                          '"on site" once there, else "ETA 2026-12-03 13:40 UTC"), officer.')
    roster_warnings: list[dict[str, Any]] = Field(description="Coverage warnings of the next 30 days: kind, region, from, to, message.")
    notes: list[dict[str, Any]] = Field(description="The notes of the last `hours`: time, by, text, what.")


OPENAPI_TAGS = ({"name": "Shift log", "description": "Every change of the shift, free notes, and the handover for the next shift."},)
OPENAPI_REQUEST_MODELS = (NoteIn,)
OPENAPI_RESPONSE_MODELS = (ShiftLogNote, ShiftLogEntries, Handover)


def openapi_operations() -> list[Any]:
    from crisis.api.openapi import Op, _common, _json, _ref

    readers = views_shiftlog.READERS
    hours = {"name": "hours", "in": "query", "required": False, "description": "How many hours back (1 to 168, default 12).",
             "schema": {"type": "integer", "minimum": 1, "maximum": views_shiftlog.MAX_HOURS, "default": views_shiftlog.DEFAULT_HOURS}}
    fmt = {"name": "format", "in": "query", "required": False, "description": "json (default), csv or md (Markdown), "
           "the last two as a download.", "schema": {"type": "string", "enum": list(views_shiftlog.FORMATS), "default": "json"}}
    refused = {"422": _json(_ref("ErrorResponse"), "A parameter is invalid. Kept as a dead letter."), **_common("401", "403")}
    return [
        Op("post", "/api/v1/shiftlog/notes", "Shift log", "Add a note to the shift log",
           "A free note for the log and the next shift, about a region (or every region) and optionally an incident. "
           "Append-only (a correction is a new note) and audited (`shiftlog.note`). A refused body names the field "
           "and is dead-lettered.",
           views_shiftlog.WRITERS,
           {"201": _json(_ref("ShiftLogNote"), "Stored."), **_common("400", "401", "403", "413", "422")},
           body={"required": True, "content": {"application/json": {"schema": _ref("NoteIn"), "example": {
               "text": "Beirut CSA called: convoy leaves at 06:00.", "region": "middle_east_north_africa"}}}},
           operation_id="addShiftLogNote"),
        Op("get", "/api/v1/shiftlog", "Shift log", "The shift log",
           "Every change of the last `hours` the caller may see, newest first: changes to incidents (from their "
           "history, by people, feeds and the simulator), other changes people made (from the audit trail, in words: "
           "areas, movements, accountability, check-ins, dispatches, roster, handsets, imports) and free notes. "
           "A regional desk: its regions only.",
           readers,
           {"200": _json(_ref("ShiftLogEntries"), "The entries."), **refused},
           parameters=(hours,), operation_id="getShiftLog"),
        Op("get", "/api/v1/handover", "Shift log", "The handover summary",
           "What the next shift needs: open incidents, people not accounted for, movements in progress, dispatches "
           "in flight, roster warnings and the notes of the last `hours`, limited to the caller's scope; as JSON, "
           "CSV (one table: section, id, name, status, severity, region, detail, time) or Markdown.",
           readers,
           {"200": {"description": "The summary.", "content": {
               "application/json": {"schema": _ref("Handover")},
               "text/csv": {"schema": {"type": "string"}}, "text/markdown": {"schema": {"type": "string"}}}},
            **refused},
           parameters=(hours, fmt), operation_id="getHandover"),
    ]
