"""Security areas under /api/v1/areas: phases, and the relocations and evacuations they order.

=====================================================  ===========================================
POST   /api/v1/areas                                   {name, phase, geometry | circle {lat, lon,
                                                       radius_km} | country, region?}:
                                                       201 the area (at III+ with its movement)
GET    /api/v1/areas                                   every area the caller may see
GET    /api/v1/areas/{id}                              one area, its open movement (each person's
                                                       progress, status, overdue) and its closed
                                                       movements
PATCH  /api/v1/areas/{id}                              name, phase, geometry | country, region, note
POST   /api/v1/areas/{id}/movement                     confirm: {safe_haven {name, lat, lon}, mode
                                                       road|air|other, expected_arrival ISO + zone}
POST   /api/v1/areas/{id}/movement/people              {traveller_id, reason?}: add a person by hand
PUT    /api/v1/areas/{id}/movement/people/{tid}        {progress, reason?}: a person's progress
DELETE /api/v1/areas/{id}/movement/people/{tid}        {reason}: take a person off the list
=====================================================  ===========================================

Every change is for duty officers and admins (``access.EDITORS``): declaring a phase
orders people to move. Reads are for every reading role; a regional desk sees its
region's areas only (others are 404), a wall display the areas and the movements'
counts, never who (``crisis.views_areas``). Each change is an event in the areas log and
an entry in the audit trail; each refusal names the field and is dead-lettered.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import shapely.geometry
from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from crisis import handlers_areas, views_areas
from crisis.api.checkins import ScopeCounts
from crisis.api.common import ctx, dead_letter, parse_body
from crisis.auth import audit_request, current_principal, request_origin, require_role
from crisis.domain import access
from crisis.domain.areas import MAX_PHASE, MIN_PHASE, MODES, PROGRESS
from crisis.domain.regions import REGIONS
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import (
    MAX_AREA_VERTICES,
    IsoTime,
    Latitude,
    Longitude,
    PlainText,
    _vertex_count,
)
from crisis.http_safety import status_for
from crisis.layers.incidents import circle_polygon

areas_api = Blueprint("areas", __name__, url_prefix="/api/v1/areas")

READERS = access.READERS
EDITORS = access.EDITORS
TRAVELLER_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_CIRCLE_KM = 1000.0  # wider is a country or a drawn polygon


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _polygon(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A GeoJSON Polygon/MultiPolygon, valid, within the vertex cap, in lon/lat bounds."""
    if value is None:
        return None
    if value.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("geometry must be a GeoJSON Polygon or MultiPolygon")
    vertices = _vertex_count(value.get("coordinates"), 3 if value["type"] == "MultiPolygon" else 2)
    if vertices > MAX_AREA_VERTICES:
        raise ValueError(f"geometry has {vertices} vertices; at most {MAX_AREA_VERTICES} are accepted (all rings together): simplify it")
    try:
        geometry = shapely.geometry.shape(value)
    except Exception as exc:  # noqa: BLE001 - shapely raises several types for bad coordinates
        raise ValueError(f"geometry is not a valid GeoJSON polygon: {exc}") from None
    if geometry.is_empty:
        raise ValueError("geometry is empty")
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError("geometry coordinates must be [lon, lat] within -180..180, -90..90")
    if not geometry.is_valid:
        raise ValueError("geometry is self-intersecting or malformed")
    return dict(shapely.geometry.mapping(geometry))


def _region(value: str | None) -> str | None:
    if value is not None and value not in REGIONS:
        raise ValueError(f"unknown region {value!r}: use one of {', '.join(REGIONS)}")
    return value


# A polygon and a region, checked the same way wherever an area is given or changed.
Geometry = Annotated[dict[str, Any] | None, AfterValidator(_polygon)]
Region = Annotated[str | None, AfterValidator(_region)]


class AreaCircle(_Strict):
    """An area drawn as a circle: every place within ``radius_km`` of the centre."""

    lat: Latitude
    lon: Longitude
    radius_km: float = Field(gt=0, le=MAX_CIRCLE_KM, description=f"The radius in km (at most {MAX_CIRCLE_KM:.0f}).")


class AreaIn(_Strict):
    """A security area: a polygon, a circle or a whole country, and its phase."""

    name: str = Field(min_length=1, max_length=200)
    phase: int = Field(ge=MIN_PHASE, le=MAX_PHASE, strict=True, description="0 none, 1 I precautionary, 2 II restricted movement, 3 III relocation, 4 IV programme suspension, 5 V evacuation.")
    geometry: Geometry = Field(default=None, description="GeoJSON Polygon or MultiPolygon ([lon, lat]); or give circle or country.")
    circle: AreaCircle | None = Field(default=None, description="A circle around a point (stored as its polygon); or give geometry or country.")
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$", description="ISO 3166-1 alpha-3: the whole country is the area; or give geometry or circle.")
    region: Region = Field(default=None, description="The regional desk; found from the area's centre (or country) when absent.")

    @model_validator(mode="after")
    def _one_place(self) -> AreaIn:
        if sum(place is not None for place in (self.geometry, self.circle, self.country)) != 1:
            raise ValueError("give one of geometry, circle or country (exactly one)")
        return self

    def shape(self) -> dict[str, Any] | None:
        """The area's polygon: the geometry given, or the circle's (geodesic, 64 points)."""
        if self.circle is not None:
            return circle_polygon(self.circle.lat, self.circle.lon, self.circle.radius_km)
        return self.geometry


class AreaPatch(_Strict):
    """A change to an area; absent fields are unchanged."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phase: int | None = Field(default=None, ge=MIN_PHASE, le=MAX_PHASE, strict=True)
    geometry: Geometry = None
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    region: Region = None
    note: PlainText | None = Field(default=None, max_length=5_000)

    @model_validator(mode="after")
    def _not_both(self) -> AreaPatch:
        if self.geometry is not None and self.country is not None:
            raise ValueError("give geometry or country, not both")
        return self


class SafeHaven(_Strict):
    name: str = Field(min_length=1, max_length=200)
    lat: Latitude
    lon: Longitude


class MovementConfirm(_Strict):
    """Confirm an open movement: where to, how, arriving when."""

    safe_haven: SafeHaven
    mode: Literal["road", "air", "other"]
    expected_arrival: IsoTime = Field(description="ISO 8601 with a time zone.")


class ProgressIn(_Strict):
    progress: Literal["to_move", "moving", "arrived", "stayed"]
    reason: PlainText | None = Field(default=None, max_length=1_000, description="Required for stayed.")


class PersonAdd(_Strict):
    traveller_id: str = Field(pattern=TRAVELLER_ID)
    reason: PlainText | None = Field(default=None, max_length=1_000)


class PersonRemove(_Strict):
    reason: PlainText = Field(min_length=1, max_length=1_000)


_ctx = ctx


@areas_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=dead_letter(exc.errors)), status_for(exc)


@areas_api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "id", "message": str(exc)}]), 404


@areas_api.errorhandler(Conflict)
def _conflict(exc: Conflict) -> tuple[Response, int]:
    field = "progress" if request.method == "PUT" else ("traveller_id" if request.method == "POST" and request.path.endswith("/people") else "movement")
    return jsonify(error="conflict", errors=[{"field": field, "message": str(exc)}]), 409


@areas_api.errorhandler(413)
def _too_large(exc: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    errors = [{"field": "body", "message": f"body larger than {limit} bytes"}]
    dead = _ctx().feed_log.rejected("api:areas", errors, b"", request_origin())
    return jsonify(error="payload too large", errors=errors, dead_letter_id=dead), 413


_body = parse_body


def _visible_area(area_id: str) -> dict[str, Any]:
    """The area as the caller may see it; 404 when it does not exist for them."""
    found = views_areas.area_view(_ctx(), current_principal(), area_id, history=True)
    if found is None:
        raise NotFound(f"no area {area_id}")
    return found


def _answer(changed: handlers_areas.AreaChanged) -> dict[str, Any]:
    return {**_visible_area(changed.area["id"]), "stream_id": changed.event_id}


FACTS = ("name", "phase", "geometry", "country", "region")


def _facts(area: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if area is None else {k: area.get(k) for k in FACTS}


@areas_api.post("")
@require_role(*EDITORS)
def create_area() -> tuple[Response, int]:
    command: AreaIn = _body(AreaIn)
    changed = handlers_areas.create_area(_ctx(), command.name, command.phase, command.shape(), command.country,
                                         current_principal().name, command.region)
    movement = changed.area.get("movement")
    audit_request("area.create", target=changed.area["id"], after=_facts(changed.area),
                  detail={"movement": movement["id"] if movement else None, "listed": len(movement["people"]) if movement else 0})
    return jsonify(_answer(changed)), 201


@areas_api.get("")
@require_role(*READERS)
def list_areas() -> Response:
    found = views_areas.areas_view(_ctx(), current_principal())
    return jsonify(areas=found, count=len(found))


@areas_api.get("/<area_id>")
@require_role(*READERS)
def get_area(area_id: str) -> Response:
    return jsonify(_visible_area(area_id))


@areas_api.patch("/<area_id>")
@require_role(*EDITORS)
def patch_area(area_id: str) -> Response:
    patch: AreaPatch = _body(AreaPatch)
    changed = handlers_areas.update_area(_ctx(), area_id, current_principal().name, name=patch.name, phase=patch.phase,
                                         geometry=patch.geometry, country=patch.country, region=patch.region, note=patch.note)
    before, after = _facts(changed.before), _facts(changed.area)
    diff = [k for k in FACTS if before is None or after is None or before[k] != after[k]]
    old_movement = (changed.before or {}).get("movement")
    new_movement = changed.area.get("movement")
    audit_request("area.phase" if "phase" in diff else "area.update", target=area_id,
                  before={k: before[k] for k in diff} if before else None,
                  after={k: after[k] for k in diff} if after else None,
                  detail={"note": patch.note, "stream_id": changed.event_id,
                          "movement": "opened" if new_movement and not old_movement else
                          "closed" if old_movement and not new_movement else
                          ("extended" if new_movement and "phase" in diff else None)})
    return jsonify(_answer(changed))


@areas_api.post("/<area_id>/movement")
@require_role(*EDITORS)
def confirm_movement(area_id: str) -> Response:
    command: MovementConfirm = _body(MovementConfirm)
    changed = handlers_areas.confirm_movement(_ctx(), area_id, command.safe_haven.model_dump(), command.mode,
                                              command.expected_arrival, current_principal().name)
    movement = changed.area["movement"]
    audit_request("movement.confirm", target=area_id, after={k: movement[k] for k in ("safe_haven", "mode", "expected_arrival")},
                  detail={"movement": movement["id"], "stream_id": changed.event_id})
    return jsonify(_answer(changed))


@areas_api.post("/<area_id>/movement/people")
@require_role(*EDITORS)
def add_person(area_id: str) -> tuple[Response, int]:
    command: PersonAdd = _body(PersonAdd)
    changed = handlers_areas.add_person(_ctx(), area_id, command.traveller_id, current_principal().name, command.reason)
    audit_request("movement.person_add", target=area_id, after={"traveller_id": command.traveller_id},
                  detail={"reason": command.reason, "movement": changed.area["movement"]["id"], "stream_id": changed.event_id})
    return jsonify(_answer(changed)), 201


@areas_api.put("/<area_id>/movement/people/<traveller_id>")
@require_role(*EDITORS)
def set_progress(area_id: str, traveller_id: str) -> Response:
    command: ProgressIn = _body(ProgressIn)
    before = next((p["progress"] for p in ((views_areas.areas(_ctx()).movement(area_id) or {}).get("people") or [])
                   if p["traveller_id"] == traveller_id), None)
    changed = handlers_areas.set_progress(_ctx(), area_id, traveller_id, command.progress, command.reason, current_principal().name)
    audit_request("movement.progress", target=area_id, before={"traveller_id": traveller_id, "progress": before},
                  after={"traveller_id": traveller_id, "progress": command.progress},
                  detail={"reason": command.reason, "movement": changed.area["movement"]["id"], "stream_id": changed.event_id})
    return jsonify(_answer(changed))


@areas_api.delete("/<area_id>/movement/people/<traveller_id>")
@require_role(*EDITORS)
def remove_person(area_id: str, traveller_id: str) -> Response:
    command: PersonRemove = _body(PersonRemove)
    changed = handlers_areas.remove_person(_ctx(), area_id, traveller_id, current_principal().name, command.reason)
    audit_request("movement.person_remove", target=area_id, before={"traveller_id": traveller_id},
                  detail={"reason": command.reason, "movement": changed.area["movement"]["id"], "stream_id": changed.event_id})
    return jsonify(_answer(changed))


# --- OpenAPI (crisis.api.openapi.EXTENSIONS) -------------------------------------------


class MovementPerson(BaseModel):
    """One person on a movement list. Wall displays receive no people (counts only)."""

    model_config = ConfigDict(extra="allow")

    traveller_id: str
    progress: Literal["to_move", "moving", "arrived", "stayed"]
    status: Literal["no_response", "safe", "needs_help", "unsure", "unreachable"] = Field(description='Accountability in the scope "area:<id>".')
    overdue: bool = Field(description="Past the expected arrival and not arrived (to_move or moving).")
    reason: str | None = Field(default=None, description="Why they stayed (progress stayed).")
    added_by: str = Field(description='"phase" when the phase rule listed them, else the officer who added them.')
    added_at: AwareDatetime
    category: str | None = None


class MovementCounts(BaseModel):
    to_move: int = Field(ge=0)
    moving: int = Field(ge=0)
    arrived: int = Field(ge=0)
    stayed: int = Field(ge=0)
    overdue: int = Field(ge=0)
    total: int = Field(ge=0)


class MovementAccountability(ScopeCounts):
    accounted_pct: float = Field(ge=0, le=100)


class Movement(BaseModel):
    """A relocation or evacuation: who, where to, how, and each person's progress."""

    model_config = ConfigDict(extra="allow")

    id: str
    area_id: str
    action: Literal["relocation", "evacuation"] = Field(description="III and IV relocation (IV out of the country), V evacuation.")
    phase: int = Field(ge=3, le=5)
    out_of_country: bool
    opened_at: AwareDatetime
    closed_at: AwareDatetime | None
    safe_haven: SafeHaven | None
    mode: Literal["road", "air", "other"] | None
    expected_arrival: AwareDatetime | None
    people: list[MovementPerson] = Field(description="Empty for wall displays.")
    removed: list[dict[str, Any]] = Field(description="People taken off the list by hand: traveller_id, reason, by, at. Empty for wall displays.")
    counts: MovementCounts
    accountability: MovementAccountability | None = None


class Area(BaseModel):
    """A security area and its phase."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    phase: int = Field(ge=MIN_PHASE, le=MAX_PHASE)
    phase_name: str
    geometry: dict[str, Any] | None
    country: str | None
    region: str | None
    centre: dict[str, float]
    updated_at: AwareDatetime
    movement: Movement | None


class AreaList(BaseModel):
    areas: list[Area]
    count: int


OPENAPI_TAGS = ({"name": "Areas", "description": "Security areas and phases (0-V), and the relocations and evacuations they order."},)
OPENAPI_REQUEST_MODELS: tuple[type[BaseModel], ...] = (AreaIn, AreaPatch, MovementConfirm, ProgressIn, PersonAdd, PersonRemove)
OPENAPI_RESPONSE_MODELS: tuple[type[BaseModel], ...] = (MovementPerson, MovementCounts, MovementAccountability, Movement, Area, AreaList)


def openapi_operations() -> list[Any]:
    from crisis.api.openapi import Op, _common, _json, _ref

    area_id = {"name": "area_id", "in": "path", "required": True, "description": "The area's id.", "schema": {"type": "string"}}
    traveller = {"name": "traveller_id", "in": "path", "required": True, "description": "The traveller's id.", "schema": {"type": "string"}}

    def body(model: str, example: Any) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": _ref(model), "example": example}}}

    writes = _common("400", "401", "403", "404", "409", "413", "422")
    return [
        Op("post", "/api/v1/areas", "Areas", "Declare a security area",
           "A polygon (GeoJSON Polygon/MultiPolygon) or a whole country (ISO3), with its phase. At phase III or "
           "above the movement opens at once, listing the people inside (see PATCH).",
           EDITORS, {"201": _json(_ref("Area"), "The area."), **_common("400", "401", "403", "413", "422")},
           body=body("AreaIn", {"name": "South Lebanon", "phase": 2, "country": None, "geometry": {"type": "Polygon", "coordinates": [[[35.1, 33.0], [35.9, 33.0], [35.9, 33.4], [35.1, 33.4], [35.1, 33.0]]]}}),
           operation_id="createArea"),
        Op("get", "/api/v1/areas", "Areas", "List security areas",
           "Every area the caller may see (a regional desk: its region's), each with its open movement. A wall "
           "display receives the movements' counts, never who.",
           READERS, {"200": _json(_ref("AreaList"), "The areas."), **_common("401", "403")}, operation_id="listAreas"),
        Op("get", "/api/v1/areas/{area_id}", "Areas", "Get a security area",
           "The area, its open movement (each person's progress, accountability status and whether overdue) and its "
           "closed movements. Outside a regional desk's region: 404.",
           READERS, {"200": _json(_ref("Area"), "The area."), **_common("401", "403", "404")}, parameters=(area_id,),
           operation_id="getArea"),
        Op("patch", "/api/v1/areas/{area_id}", "Areas", "Change an area or its phase",
           "Raising the phase to III or above opens a movement with the people inside at that moment (III/IV: "
           "dependants, visitors, consultants and non-essential international staff; V: everyone but national "
           "staff); raising it further extends the list and keeps everyone's progress; lowering it below III "
           "closes the movement, kept as history. National staff are never listed automatically.",
           EDITORS, {"200": _json(_ref("Area"), "The area as changed."), **writes}, parameters=(area_id,),
           body=body("AreaPatch", {"phase": 3, "note": "Shelling near Tyre"}), operation_id="updateArea"),
        Op("post", "/api/v1/areas/{area_id}/movement", "Areas", "Confirm the movement",
           f"The safe haven, the mode ({', '.join(MODES)}) and the expected arrival (with a zone) of the open "
           "movement; confirming again replaces them. 409 when the area has no open movement.",
           EDITORS, {"200": _json(_ref("Area"), "The area with its confirmed movement."), **writes}, parameters=(area_id,),
           body=body("MovementConfirm", {"safe_haven": {"name": "Amman", "lat": 31.95, "lon": 35.93}, "mode": "road", "expected_arrival": "2027-05-01T18:00:00+03:00"}),
           operation_id="confirmMovement"),
        Op("post", "/api/v1/areas/{area_id}/movement/people", "Areas", "Add a person to the movement",
           "A duty officer puts someone on the list by hand (national staff are never listed automatically). "
           "409 when already listed or no movement is open; 422 for an unknown traveller.",
           EDITORS, {"201": _json(_ref("Area"), "The area with the person listed."), **writes}, parameters=(area_id,),
           body=body("PersonAdd", {"traveller_id": "T1042", "reason": "National staff at risk"}), operation_id="addMovementPerson"),
        Op("put", "/api/v1/areas/{area_id}/movement/people/{traveller_id}", "Areas", "Set a person's progress",
           f"One of {', '.join(PROGRESS)}: to_move -> moving -> arrived, or stayed (with a reason). arrived is "
           "final; a change the rules do not allow is 409.",
           EDITORS, {"200": _json(_ref("Area"), "The area."), **writes}, parameters=(area_id, traveller),
           body=body("ProgressIn", {"progress": "moving"}), operation_id="setMovementProgress"),
        Op("delete", "/api/v1/areas/{area_id}/movement/people/{traveller_id}", "Areas", "Remove a person from the movement",
           "Takes a person off the list, with a reason (kept in removed; a later phase raise does not list them again).",
           EDITORS, {"200": _json(_ref("Area"), "The area."), **writes}, parameters=(area_id, traveller),
           body=body("PersonRemove", {"reason": "Left the country last week"}), operation_id="removeMovementPerson"),
    ]
