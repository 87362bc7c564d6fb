"""REST API under /api/v1: JSON in, a command out; reads from the projections.

Every rejected body is answered with what was wrong and where (a list of
{field, message}) and kept in the dead-letter stream. An accepted one is stored in the
log before the answer is sent.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from pydantic import TypeAdapter, ValidationError

from crisis import handlers, views
from crisis.adapters.accounts import Principal
from crisis.api import audit
from crisis.api.common import ctx, dead_letter, refused_input, request_detail
from crisis.api.exports import exports_api
from crisis.auth import audit_request, current_principal, require_role
from crisis.domain import access
from crisis.domain.serialize import incident_to_dict
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import (
    IncidentIn,
    IncidentPatch,
    PositionBatch,
    PositionIn,
    check_sources,
    field_errors,
    future_time_message,
    incident_filters,
    no_fix_errors,
    owned_source_error,
)
from crisis.http_safety import MALFORMED_JSON, load_json

api = Blueprint("api", __name__, url_prefix="/api/v1")
api.register_blueprint(exports_api)  # /api/v1/exports/...: lists as CSV, GeoJSON, KML (crisis.api.exports)

WRITERS = access.WRITERS  # the role tuples live in crisis.domain.access (openapi imports these names)
READERS = access.READERS
_POSITION_LIST = TypeAdapter(list[PositionIn])


_ctx = ctx


def _json_body(feed: str) -> Any:
    """The request's JSON, or an InputError saying where it is malformed, too deep or has
    an unacceptable number (dead-lettered; see crisis.http_safety.load_json)."""
    return load_json(request.get_data(cache=True))


def _visible(principal: Principal, regions: tuple[str, ...]) -> bool:
    """Whether an incident in ``regions`` (every region it touches) is the caller's to see."""
    return access.may_see_regions(principal, regions)


def _region_scope(principal: Principal) -> str | None:
    """The caller's regions as a scope key (``access.region_scope``), or None for every region; 403 for a caller that may not
    read (a feed, a regional desk without a region), which must never mean "every region"."""
    try:
        return access.region_scope(principal)
    except PermissionError as exc:
        response = jsonify(error="forbidden", errors=[{"field": "role", "message": str(exc)}])
        response.status_code = 403
        abort(response)


@api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    return refused_input(exc)  # dead-lettered as "api:<endpoint>" with the method and path asked


@api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "id", "message": str(exc)}]), 404


@api.errorhandler(Conflict)
def _conflict(exc: Conflict) -> tuple[Response, int]:
    return jsonify(error="conflict", errors=[{"field": "status", "message": str(exc)}]), 409


@api.errorhandler(413)
def _too_large(exc: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    errors = [{"field": "body", "message": f"the body is larger than the limit of {limit} bytes"}]
    dead = _ctx().feed_log.rejected("api:oversize", errors, b"", oversize_detail())
    return jsonify(error="payload too large", errors=errors, dead_letter_id=dead), 413


def oversize_detail() -> dict[str, str]:
    """A refused oversize request's dead-letter record: who, where (method and path) and the
    size it declared (``Content-Length``; "unknown" when sent chunked): the body itself is
    never read, so it is not kept."""
    size = request.content_length
    return {**request_detail(), "body_size": str(size) if size is not None else "unknown"}


def _incident_json(stored: handlers.Stored) -> dict[str, Any]:
    return {**incident_to_dict(stored.incident), "stream_id": stored.event_id}


@api.post("/incidents")
@require_role(*WRITERS)
def create_incident() -> tuple[Response, int]:
    body = _json_body("incidents")
    try:
        command = IncidentIn.model_validate(body)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None
    # The source names Redis keys (feed statistics): a known feed or the caller's own name.
    check_sources({"source": command.source}, current_principal().name)
    owned = owned_source_error(command.source) or _anothers_report(command, current_principal())
    if owned is not None:  # a feed's own incidents are written by its intake only; an account's by it
        errors = [owned]
        dead = dead_letter(errors)
        audit_request("access.denied", request.path, detail={"method": "POST", "status": 403, "source": command.source,
                                                             "source_id": command.source_id or ""})
        return jsonify(error="forbidden", errors=errors, dead_letter_id=dead), 403
    stored = handlers.report_incident(_ctx().deps, command, current_principal().name)
    audit.record_incident_report(stored)
    _ctx().feed_log.accepted(command.source)
    return jsonify(_incident_json(stored)), 201 if stored.created else 200


def _anothers_report(command: IncidentIn, principal: Principal) -> dict[str, str] | None:
    """The refusal of a report under the shared source "api" that would update an incident
    another account reported (its source_id, or one it supersedes, is that incident's), else
    None: "api" is everyone's source, not everyone's incidents. Duty officers and admins may,
    as they may PATCH any incident. (An account's own name is its source alone; the feeds'
    sources are refused by ``owned_source_error``.)"""
    if command.source != "api" or principal.role in ("admin", "duty_officer"):
        return None
    source_ids = [s for s in (command.source_id, *command.supersedes) if s]
    existing = _ctx().deps.incidents.id_for_source("api", source_ids)
    if existing is None:
        return None
    history = _ctx().deps.incidents.history(existing)
    reporter = history[0].get("by") if history else None
    if reporter == principal.name:
        return None
    return {"field": "source_id", "message": (
        f"source 'api' with source_id {source_ids[0]!r} names an incident another account reported: report "
        f"under a source_id of your own (or as source {principal.name!r}); a duty officer changes it with "
        "PATCH /api/v1/incidents/{id}")}


@api.get("/incidents")
@require_role(*READERS)
def list_incidents() -> Response:
    principal = current_principal()
    _region_scope(principal)
    wanted = incident_filters(request.args, _ctx().deps.clock())  # the board's filters; 400 naming an unknown value
    incidents = [
        access.record_view(principal, incident_to_dict(i))
        for i in _ctx().deps.incidents.all()
        if _visible(principal, i.regions) and wanted.match(i)
    ]
    incidents.sort(key=lambda i: i["updated_at"], reverse=True)
    return jsonify(incidents=incidents, count=len(incidents))


@api.get("/incidents/<incident_id>")
@require_role(*READERS)
def get_incident(incident_id: str) -> Response:
    principal = current_principal()
    _region_scope(principal)
    incident = _ctx().deps.incidents.get(incident_id)
    if incident is None or not _visible(principal, incident.regions):
        raise NotFound(f"no incident {incident_id}")
    history = [access.record_view(principal, change) for change in _ctx().deps.incidents.history(incident_id)]
    return jsonify({**access.record_view(principal, incident_to_dict(incident)), "history": history})


@api.get("/incidents/<incident_id>/affected")
@require_role(*READERS)
def get_affected(incident_id: str) -> Response:
    """Who is affected by the incident (``crisis.views.affected_people``); 404 outside the caller's region."""
    principal = current_principal()
    _region_scope(principal)
    answer = views.affected_people(_ctx(), principal, incident_id)
    if answer is None:
        raise NotFound(f"no incident {incident_id}")
    return jsonify(answer)


@api.patch("/incidents/<incident_id>")
@require_role("admin", "duty_officer")
def patch_incident(incident_id: str) -> Response:
    body = _json_body("incidents")
    try:
        patch = IncidentPatch.model_validate(body)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None
    before = _ctx().deps.incidents.get(incident_id)  # for the audit trail's before
    stored = handlers.update_incident(_ctx().deps, incident_id, patch, current_principal().name)
    audit.record_incident_change(before, stored, patch.note)
    return jsonify(_incident_json(stored))


@api.post("/positions")
@require_role(*WRITERS)
def post_positions() -> tuple[Response, int]:
    # The hot path: pydantic's own JSON parser validates a 10,000-position batch about
    # 2.5 times faster than parsing with the safe reader first. It refuses deep nesting
    # and huge numbers too; when it refuses, the safe reader runs to say what and where.
    raw = request.get_data(cache=True)
    as_list = raw.lstrip()[:1] == b"["
    try:
        if as_list:
            batch = PositionBatch(positions=_POSITION_LIST.validate_json(raw))
        else:
            batch = PositionBatch.model_validate_json(raw)
    except ValidationError as exc:
        load_json(raw)  # raises an InputError naming an unreadable body, too deep, a number out of range
        unreadable = any(e["type"] == "json_invalid" for e in exc.errors())
        raise InputError(field_errors(exc), MALFORMED_JSON if unreadable else "invalid input") from None
    where = "" if as_list else "positions."
    now = _ctx().deps.clock()  # a time ahead of the clock (beyond the skew allowed) is refused
    future = [{"field": f"{where}{i}.time", "message": message} for i, p in enumerate(batch.positions)
              if p.time is not None and (message := future_time_message(p.time, now))]
    if future or (nowhere := no_fix_errors(batch.positions, where)):
        raise InputError(future or nowhere)
    check_sources({f"{where}{i}.source": p.source for i, p in enumerate(batch.positions) if p.source != "api"},
                  current_principal().name)
    sent_at = {id(p): i for i, p in enumerate(batch.positions)}  # each report's index as sent
    batch, rejected = _known_travellers(batch, where)
    stored = handlers.report_positions(_ctx().deps, batch, current_principal().name)
    audit.record_position_batch(len(batch.positions), stored.stream_id)
    _ctx().feed_log.accepted("positions", len(batch.positions))
    answer: dict[str, Any] = {"accepted": len(batch.positions), "stream_id": stored.stream_id}
    if stored.late:
        answer["late"] = _late_notes([(sent_at[id(batch.positions[i])], batch.positions[i].traveller_id) for i in stored.late],
                                     where)
    if rejected:
        answer["rejected"] = rejected
    return jsonify(answer), 202


def _late_notes(late: list[tuple[int, str]], where: str) -> list[dict[str, Any]]:
    """Each report (its index as sent, its traveller) older than the latest held for its
    traveller, said: stored as history, not as where the person is."""
    return [{"index": i, "field": f"{where}{i}.time", "traveller_id": traveller_id,
             "message": f"older than the latest position held for {traveller_id}: kept as history, not as where they are"}
            for i, traveller_id in late]


def _known_travellers(batch: PositionBatch, where: str = "positions.") -> tuple[PositionBatch, list[dict[str, Any]]]:
    """The batch's positions of stored travellers, and a refusal for each of the others
    (``{index, field, message, dead_letter_id}``, one dead letter holding them all): a
    position of nobody we know would be drawn on every map and counted on the wall while
    the person is "not found". One existence check for the whole batch. None known: an
    InputError (422) naming each."""
    store = _ctx().deps.travellers
    assert store is not None  # set by crisis.bootstrap
    unknown = store.unknown([p.traveller_id for p in batch.positions])
    if not unknown:
        return batch, []
    refused = [(i, p) for i, p in enumerate(batch.positions) if p.traveller_id in unknown]
    errors = [{"field": f"{where}{i}.traveller_id",  # named as every other field of the batch
               "message": f"no traveller {p.traveller_id!r}: import the traveller (POST /api/v1/travellers) "
                          "before reporting their position"} for i, p in refused]
    kept = [p for p in batch.positions if p.traveller_id not in unknown]
    if not kept:
        raise InputError(errors)
    body = json.dumps([p.model_dump(mode="json", exclude_none=True) for _, p in refused])
    dead = _ctx().feed_log.rejected("api:post_positions", errors, body, request_detail())
    rejected = [{"index": i, **e, "dead_letter_id": dead} for (i, _), e in zip(refused, errors)]
    return PositionBatch(positions=kept), rejected


@api.get("/positions")
@require_role(*READERS)
def get_positions() -> Response:
    principal = current_principal()
    snap = _ctx().deps.positions.snapshot(_region_scope(principal))
    return jsonify(
        count=len(snap["ids"]),
        positions=[
            access.person_view(principal, {"traveller_id": t, "lat": float(a), "lon": float(o), "time": tm, "region": r})
            for t, a, o, tm, r in zip(snap["ids"], snap["lat"], snap["lon"], snap["time"], snap["region"])
        ],
    )


@api.get("/deadletters")
@require_role("admin", "duty_officer")
def dead_letters() -> Response:
    raw = request.args.get("count", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InputError([{"field": "count", "message": f"must be an integer from 1 to 1000, got {raw!r}"}])
    count = int(raw)
    return jsonify(dead_letters=_ctx().feed_log.dead_letters(count))
