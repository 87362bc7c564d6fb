"""Travellers under /api/v1/travellers: the travel-tracking system's export in, each
traveller with their best-known position out.

==============================  =============================================================
POST /api/v1/travellers         a JSON list (or {"travellers": [...]}) or a CSV export
                                (Content-Type text/csv; columns in ``crisis.feeds.travellers``):
                                200 {"accepted", "updated", "rejected": [{row, field, message,
                                dead_letter_id}]}; 422 when every row was rejected; 400 an
                                unusable document; 415 another Content-Type
GET  /api/v1/travellers         paged (limit, offset), filters region, category, status ("any":
                                accountability comes later); each with its best-known position
GET  /api/v1/travellers/{id}    the record, its itinerary and its best-known position
==============================  =============================================================

A traveller's region is the region of their best-known position (none: only the roles
that see every region see them). What a role receives about a person is decided by
``crisis.domain.access.person_view``: a wall display gets the category and the position,
never who.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from crisis import views
from crisis.auth import audit_request, current_principal, request_origin, require_role
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.regions import is_region
from crisis.domain.travellers import CATEGORIES, BestPosition
from crisis.errors import InputError, NotFound
from crisis.feeds import travellers as feed
from crisis.http_safety import status_for

travellers_api = Blueprint("travellers", __name__, url_prefix="/api/v1/travellers")

WRITERS = access.WRITERS
READERS = access.READERS
JSON_TYPES = ("application/json", "")
MAX_LIMIT = 1000
STATUSES = ("any",)  # accountability statuses arrive with check-ins


def _ctx() -> Context:
    return current_app.extensions["crisis"]  # type: ignore[no-any-return]


@travellers_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    dead = None
    if request.method == "POST":
        dead = _ctx().feed_log.rejected("travellers", exc.errors, request.get_data(cache=True), request_origin())
    answer: dict[str, Any] = {"error": exc.message, "errors": exc.errors}
    if dead is not None:
        answer["dead_letter_id"] = dead
    return jsonify(answer), 400 if exc.message == feed.MALFORMED_CSV else status_for(exc)


@travellers_api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "id", "message": str(exc)}]), 404


@travellers_api.errorhandler(413)
def _too_large(exc: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    errors = [{"field": "body", "message": f"the document is larger than the limit of {limit} bytes"}]
    dead = _ctx().feed_log.rejected("travellers", errors, b"", request_origin())
    return jsonify(error="payload too large", errors=errors, dead_letter_id=dead), 413


@travellers_api.post("")
@require_role(*WRITERS)
def import_travellers() -> tuple[Response, int]:
    body = request.get_data(cache=True)
    mimetype = request.mimetype or ""
    if mimetype not in JSON_TYPES + feed.CSV_TYPES:
        errors = [{"field": "Content-Type", "message": f"{mimetype!r} is not accepted here; send application/json or text/csv"}]
        dead = _ctx().feed_log.rejected("travellers", errors, body, request_origin())
        return jsonify(error="unsupported media type", errors=errors, dead_letter_id=dead), 415
    result = feed.intake(_ctx(), body, mimetype, current_principal().name, request_origin())
    audit_request("travellers.import", target="travellers", after={"accepted": result["accepted"], "updated": result["updated"]},
                  detail={"rejected": len(result["rejected"]), "format": "csv" if mimetype in feed.CSV_TYPES else "json"})
    nothing_stored = result["rejected"] and not (result["accepted"] or result["updated"])
    return jsonify(result), 422 if nothing_stored else 200


def _scope() -> str | None:
    try:
        return access.region_scope(current_principal())
    except PermissionError as exc:
        response = jsonify(error="forbidden", errors=[{"field": "role", "message": str(exc)}])
        response.status_code = 403
        abort(response)


def _position_json(position: BestPosition | None) -> dict[str, Any] | None:
    if position is None:
        return None
    now = _ctx().deps.clock()
    age = max((now - position.at).total_seconds(), 0.0)
    return access.person_view(current_principal(), {**position.to_dict(), "age_seconds": round(age)})


SUMMARY_FIELDS = ("id", "name", "agency", "category", "essential", "dependant_of", "phone", "email")


def _item(profile: dict[str, Any], position: BestPosition | None, country: str | None, region: str | None,
          fields: tuple[str, ...] | None = SUMMARY_FIELDS) -> dict[str, Any]:
    record = {k: profile.get(k) for k in fields} if fields else dict(profile)
    record.update(country=country, region=region)
    return {**access.person_view(current_principal(), record), "position": _position_json(position)}


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError([{"field": name, "message": f"must be an integer from {low} to {high}, got {raw!r}"}])
    return int(raw)


@travellers_api.get("")
@require_role(*READERS)
def list_travellers() -> Response:
    _scope()  # 403 for a caller that may not read (never "every region")
    region = request.args.get("region") or None
    category = request.args.get("category") or None
    status = request.args.get("status") or "any"
    problems = []
    if region is not None and not is_region(region):
        problems.append({"field": "region", "message": f"unknown region {region!r}"})
    if category is not None and category not in CATEGORIES:
        problems.append({"field": "category", "message": f"unknown category {category!r}: use one of {', '.join(CATEGORIES)}"})
    if status not in STATUSES:
        problems.append({"field": "status", "message": f"only {', '.join(STATUSES)!r} for now: accountability statuses are not recorded yet"})
    limit = _int_arg("limit", 100, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10**9)
    if problems:
        raise InputError(problems)
    assert _ctx().deps.travellers is not None
    profiles = _ctx().deps.travellers.all()
    if category is not None:
        profiles = [p for p in profiles if p.get("category") == category]
    principal = current_principal()
    visible = [
        entry for entry in views.place_travellers(_ctx(), profiles)
        if access.may_see_region(principal, entry[3]) and (region is None or entry[3] == region)
    ]
    page = visible[offset:offset + limit]
    following = offset + limit if offset + limit < len(visible) else None
    return jsonify(travellers=[_item(*entry) for entry in page], count=len(page), total=len(visible),
                   offset=offset, limit=limit, next_offset=following)


@travellers_api.get("/<traveller_id>")
@require_role(*READERS)
def get_traveller(traveller_id: str) -> Response:
    _scope()
    assert _ctx().deps.travellers is not None
    profile = _ctx().deps.travellers.get(traveller_id)
    if profile is None:
        raise NotFound(f"no traveller {traveller_id}")
    entry = views.place_travellers(_ctx(), [profile])[0]
    if not access.may_see_region(current_principal(), entry[3]):
        raise NotFound(f"no traveller {traveller_id}")
    return jsonify(_item(*entry, fields=None))
