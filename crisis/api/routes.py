"""REST API under /api/v1: JSON in, a command out; reads from the projections.

Every rejected body is answered with what was wrong and where (a list of
{field, message}) and kept in the dead-letter stream. An accepted one is stored in the
log before the answer is sent.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import TypeAdapter, ValidationError

from crisis.adapters.accounts import Principal
from crisis.auth import current_principal, request_origin, require_role
from crisis.bootstrap import Context
from crisis.domain.serialize import incident_to_dict
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import IncidentIn, IncidentPatch, PositionBatch, PositionIn, field_errors
from crisis import handlers

api = Blueprint("api", __name__, url_prefix="/api/v1")

WRITERS = ("admin", "duty_officer", "feed")
READERS = ("admin", "duty_officer", "regional_desk", "wall")
_POSITION_LIST = TypeAdapter(list[PositionIn])


def _ctx() -> Context:
    return current_app.extensions["crisis"]  # type: ignore[no-any-return]


def _json_body(feed: str) -> Any:
    """The request's JSON, or an InputError saying where it is malformed (dead-lettered)."""
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        errors = [{"field": "body", "message": f"body is not UTF-8 (byte {exc.start})"}]
    except json.JSONDecodeError as exc:
        errors = [{"field": f"body (line {exc.lineno}, column {exc.colno})", "message": f"malformed JSON: {exc.msg}"}]
    raise InputError(errors, "malformed JSON")


def _visible(principal: Principal, region: str | None) -> bool:
    return principal.sees_all_regions or (principal.region is not None and principal.region == region)


@api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    feed = "api:" + (request.endpoint or "unknown").split(".")[-1]
    dead_letter = _ctx().feed_log.rejected(feed, exc.errors, request.get_data(cache=True), request_origin())
    status = 400 if exc.message == "malformed JSON" else 422
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=dead_letter), status


@api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "id", "message": str(exc)}]), 404


@api.errorhandler(Conflict)
def _conflict(exc: Conflict) -> tuple[Response, int]:
    return jsonify(error="conflict", errors=[{"field": "status", "message": str(exc)}]), 409


@api.errorhandler(413)
def _too_large(exc: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    _ctx().feed_log.rejected("api:oversize", [{"field": "body", "message": f"body larger than {limit} bytes"}], b"", request_origin())
    return jsonify(error="payload too large", errors=[{"field": "body", "message": f"the limit is {limit} bytes"}]), 413


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
    stored = handlers.report_incident(_ctx().deps, command, current_principal().name)
    _ctx().feed_log.accepted(command.source)
    return jsonify(_incident_json(stored)), 201 if stored.created else 200


@api.get("/incidents")
@require_role(*READERS)
def list_incidents() -> Response:
    principal = current_principal()
    status = request.args.get("status")
    incidents = [
        incident_to_dict(i)
        for i in _ctx().deps.incidents.all()
        if _visible(principal, i.region) and (status is None or i.status.value == status)
    ]
    incidents.sort(key=lambda i: i["updated_at"], reverse=True)
    return jsonify(incidents=incidents, count=len(incidents))


@api.get("/incidents/<incident_id>")
@require_role(*READERS)
def get_incident(incident_id: str) -> Response:
    incident = _ctx().deps.incidents.get(incident_id)
    if incident is None or not _visible(current_principal(), incident.region):
        raise NotFound(f"no incident {incident_id}")
    return jsonify({**incident_to_dict(incident), "history": _ctx().deps.incidents.history(incident_id)})


@api.patch("/incidents/<incident_id>")
@require_role("admin", "duty_officer")
def patch_incident(incident_id: str) -> Response:
    body = _json_body("incidents")
    try:
        patch = IncidentPatch.model_validate(body)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None
    stored = handlers.update_incident(_ctx().deps, incident_id, patch, current_principal().name)
    return jsonify(_incident_json(stored))


@api.post("/positions")
@require_role(*WRITERS)
def post_positions() -> tuple[Response, int]:
    raw = request.get_data(cache=True)
    try:
        if raw.lstrip()[:1] == b"[":
            batch = PositionBatch(positions=_POSITION_LIST.validate_json(raw))
        else:
            batch = PositionBatch.model_validate_json(raw)
    except ValidationError as exc:
        raise InputError(field_errors(exc), "malformed JSON" if _is_json_error(exc) else "invalid input") from None
    stream_id = handlers.report_positions(_ctx().deps, batch, current_principal().name)
    _ctx().feed_log.accepted("positions", len(batch.positions))
    return jsonify(accepted=len(batch.positions), stream_id=stream_id), 202


def _is_json_error(exc: ValidationError) -> bool:
    return any(e["type"] == "json_invalid" for e in exc.errors())


@api.get("/positions")
@require_role(*READERS)
def get_positions() -> Response:
    principal = current_principal()
    snap = _ctx().deps.positions.snapshot(None if principal.sees_all_regions else principal.region)
    return jsonify(
        count=len(snap["ids"]),
        positions=[
            {"traveller_id": t, "lat": float(a), "lon": float(o), "time": tm, "region": r}
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
