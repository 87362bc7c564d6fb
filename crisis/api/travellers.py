"""Travellers under /api/v1/travellers: the travel-tracking system's export in, each
traveller with their best-known position out.

==============================  =============================================================
POST /api/v1/travellers         a JSON list (or {"travellers": [...]}) or a CSV export
                                (Content-Type text/csv; columns in ``crisis.feeds.travellers``):
                                200 {"accepted", "updated", "rejected": [{row, field, message,
                                dead_letter_id}]}; 422 when every row was rejected; 400 an
                                unusable document; 415 another Content-Type
GET  /api/v1/travellers         paged (limit, offset), filters region, category, incident (the
                                people it affects), area (the people inside it or on its open
                                movement), status (in that incident or area; without either,
                                the person's worst status over every open incident and
                                movement they are in); each with its best-known position
GET  /api/v1/travellers/{id}    the record, its itinerary and its best-known position (403 for
                                a wall, which may not look a person up: ``access.may_look_up_person``)
==============================  =============================================================

A traveller's region is the region of their best-known position (none: only the roles
that see every region see them). What a role receives about a person is decided by
``crisis.domain.access.person_view``: a wall display gets the category and the position,
never who.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from crisis import views, views_areas
from crisis.api.common import ctx, list_order_key, refused_input
from crisis.auth import audit_request, current_principal, request_origin, require_role
from crisis.bootstrap import Context
from crisis.domain import access, accountability
from crisis.domain.regions import REGIONS, is_region
from crisis.domain.travellers import CATEGORIES, BestPosition
from crisis.errors import InputError, NotFound
from crisis.feeds import travellers as feed
from crisis.feeds.schemas import QUERY_ERROR
from crisis.http_safety import status_for

travellers_api = Blueprint("travellers", __name__, url_prefix="/api/v1/travellers")

WRITERS = access.WRITERS
READERS = access.READERS
JSON_TYPES = ("application/json", "")
MAX_LIMIT = 1000
STATUSES = ("any", *accountability.STATUSES)


_ctx = ctx


@travellers_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    if request.method != "POST":  # a refused query: 400, kept with its path as every API's is
        return refused_input(exc)
    dead = _ctx().feed_log.rejected("travellers", exc.errors, request.get_data(cache=True), request_origin())
    answer: dict[str, Any] = {"error": exc.message, "errors": exc.errors, "dead_letter_id": dead}
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


def _not_there(field: str, message: str) -> None:
    """404 naming the parameter: what does not exist and what the caller may not see alike."""
    response = jsonify(error="not found", errors=[{"field": field, "message": message}])
    response.status_code = 404
    abort(response)


LIST_FILTERS = ("region", "category", "status", "incident", "area", "limit", "offset")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError([{"field": name, "message": f"must be an integer from {low} to {high}, got {raw[:40]!r}"}], QUERY_ERROR)
    return int(raw)


@travellers_api.get("")
@require_role(*READERS)
def list_travellers() -> Response:
    _scope()  # 403 for a caller that may not read (never "every region")
    region = request.args.get("region") or None
    category = request.args.get("category") or None
    status = request.args.get("status") or "any"
    incident_id = request.args.get("incident") or None
    area_id = request.args.get("area") or None
    problems = []
    if region is not None and not is_region(region):
        problems.append({"field": "region", "message": f"unknown region {region[:40]!r}: use one of {', '.join(REGIONS)}"})
    if category is not None and category not in CATEGORIES:
        problems.append({"field": "category", "message": f"unknown category {category!r}: use one of {', '.join(CATEGORIES)}"})
    if status not in STATUSES:
        problems.append({"field": "status", "message": f"unknown status {status!r}: use one of {', '.join(STATUSES)}"})
    if incident_id is not None and area_id is not None:
        problems.append({"field": "area", "message": "give incident or area, not both"})
    problems += [{"field": name[:40], "message": f"unknown parameter {name[:40]!r}: the filters are {', '.join(LIST_FILTERS)}"}
                 for name in request.args.keys() if name not in LIST_FILTERS]
    limit = _int_arg("limit", 100, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10**9)
    if problems:
        raise InputError(problems, QUERY_ERROR)
    ctx = _ctx()
    principal = current_principal()
    incident = area = None
    if incident_id is not None:
        incident = ctx.deps.incidents.get(incident_id)
        if incident is None or not access.may_see_regions(principal, incident.regions):
            _not_there("incident", f"no incident {incident_id!r}")  # as GET /incidents/{id}: one answer for both
    if area_id is not None:
        area = views_areas.areas(ctx).get(area_id)
        if area is None or not access.may_see_region(principal, area.get("region")):
            _not_there("area", f"no area {area_id!r}")
    assert ctx.deps.travellers is not None
    profiles = ctx.deps.travellers.all()
    if category is not None:
        profiles = [p for p in profiles if p.get("category") == category]
    now = ctx.deps.clock()
    placed = [entry for entry in views.place_travellers(ctx, profiles, now)
              if access.may_see_region(principal, entry[3]) and (region is None or entry[3] == region)]
    statuses: dict[str, str] | None = None
    if incident is not None:
        members = views.affected_pairs(ctx, [incident], placed, now)[incident.id]
        placed = [placed[i] for i in sorted(members)]
        statuses = ctx.roll.status_of(accountability.incident_scope(incident.id), [str(p[0]["id"]) for p in placed])
    elif area is not None:
        on_movement = set(views.open_movements(ctx).get(str(area["id"]), {}).get("people", []))
        lat = [p[1].lat if p[1] else float("nan") for p in placed]
        lon = [p[1].lon if p[1] else float("nan") for p in placed]
        mask = views_areas.inside(area, lat, lon, [p[2] for p in placed]).tolist()
        placed = [p for p, yes in zip(placed, mask) if yes or str(p[0]["id"]) in on_movement]
        statuses = ctx.roll.status_of(accountability.area_scope(str(area["id"])), [str(p[0]["id"]) for p in placed])
    elif status != "any":
        statuses = _worst_statuses(ctx, placed, now)
    if status != "any":
        assert statuses is not None
        placed = [p for p in placed if statuses.get(str(p[0]["id"])) == status]
    if not access.sees_names(principal):  # a wall: no order that follows the ids (they name people)
        placed = [placed[i] for i in access.unlinkable_order([str(p[0]["id"]) for p in placed], list_order_key())]
    page = placed[offset:offset + limit]
    following = offset + limit if offset + limit < len(placed) else None
    items = []
    for entry in page:
        item = _item(*entry)
        if statuses is not None:
            item["status"] = statuses.get(str(entry[0]["id"]), accountability.DEFAULT_STATUS)
        items.append(item)
    return jsonify(travellers=items, count=len(page), total=len(placed), offset=offset, limit=limit, next_offset=following)


def _worst_statuses(ctx: Context, placed: list[views.Placed], now: Any) -> dict[str, str]:
    """Each person's worst status over the open incidents that affect them and the open
    movements they are on; people in none of them are left out."""
    ids = [str(p[0]["id"]) for p in placed]
    scopes: dict[str, list[str]] = {}
    incidents = views.open_incidents(ctx)
    for incident_id, members in views.affected_pairs(ctx, incidents, placed, now).items():
        for i in members:
            scopes.setdefault(ids[i], []).append(accountability.incident_scope(incident_id))
    for area_id, movement in views.open_movements(ctx).items():
        for tid in movement.get("people", []):
            scopes.setdefault(str(tid), []).append(accountability.area_scope(area_id))
    recorded = ctx.roll.status_many(sorted({s for wanted in scopes.values() for s in wanted}))
    return {tid: accountability.worst(recorded.get(s, {}).get(tid, accountability.DEFAULT_STATUS) for s in wanted)
            for tid, wanted in scopes.items()}


@travellers_api.get("/<traveller_id>")
@require_role(*access.PERSON_LOOKERS)  # not a wall: the answer, even "not found", would tell it about a person
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
