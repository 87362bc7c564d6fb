"""Exports under /api/v1/exports: the lists a duty officer hands on, as files.

=====================================================  ===========================================
GET /api/v1/exports/incidents.{csv,geojson,kml}        the incidents the caller may see, with the
                                                       filters of GET /api/v1/incidents, which are
                                                       the incident board's (status, region,
                                                       severity, type, category, window,
                                                       closed_within), and our people in each
                                                       open one (counts)
GET /api/v1/exports/incidents/{id}/affected.{csv,geojson}
                                                       who is affected by one incident, with each
                                                       person's status and best-known position
GET /api/v1/exports/areas.kml                          the security areas, with phase and movement
GET /api/v1/exports/areas/{id}/movement.{csv,geojson}  an area's movement list: who must move and
                                                       how far each has got
=====================================================  ===========================================

Each export is what the same caller receives from the API, built on the same views
(``crisis.views``, ``crisis.views_areas``) and cut by ``crisis.domain.access``: a regional
desk gets its region only (anything else is 404), a wall display positions and counts but
never a name, an id of a person or a contact detail. Every file is sent as an attachment
with its name in ``Content-Disposition``. CSV cells that a spreadsheet would run as a
formula (text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) are
prefixed with an apostrophe; numbers are written as numbers. Each export of people
(affected, movement) is recorded in the audit trail.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from xml.sax.saxutils import escape as _xml_escape
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, request

from crisis import views, views_areas
from crisis.api.common import ctx, refused_input
from crisis.auth import audit_request, current_principal, require_role
from crisis.domain import access, accountability
from crisis.domain.model import Incident
from crisis.domain.serialize import incident_to_dict, safe_cell
from crisis.errors import InputError, NotFound
from crisis.feeds.schemas import incident_filter_parameters, incident_filters

exports_api = Blueprint("exports", __name__, url_prefix="/exports")  # nested under /api/v1 (crisis.api.routes)

READERS = access.READERS
CSV_TYPE = "text/csv; charset=utf-8"
GEOJSON_TYPE = "application/geo+json"
KML_TYPE = "application/vnd.google-earth.kml+xml"

# Our people in an open incident, as the caller may see them (a desk: its regions' people):
# counts only, for every reading role; blank for a closed incident.
OURS_COLUMNS = ("people_affected", "needs_help", "not_accounted", "accounted_pct")
INCIDENT_COLUMNS = ("id", "title", "category", "type", "severity", "status", *OURS_COLUMNS, "lat", "lon", "radius_km",
                    "country", "countries", "regions", "region", "reported_at", "updated_at", "source", "source_id",
                    "approximate", "owner", "description")
PERSON_COLUMNS = ("traveller_id", "name", "agency", "category", "essential", "status", "status_at", "status_via",
                  "reason", "distance_km", "arrive", "position_source", "position_at", "confidence", "lat", "lon")
MOVEMENT_COLUMNS = ("traveller_id", "name", "agency", "category", "essential", "progress", "overdue", "status",
                    "reason", "added_by", "added_at", "lat", "lon")
# Where a person stands on a movement list, not who they are: kept for every reading role.
MOVEMENT_FACTS = ("progress", "overdue", "status")


# --- formats --------------------------------------------------------------------------


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _point(lat: Any, lon: Any) -> dict[str, Any] | None:
    if lat is None or lon is None:
        return None
    return {"type": "Point", "coordinates": [float(lon), float(lat)]}


def _feature(geometry: dict[str, Any] | None, properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": dict(properties)}


def _collection(features: list[dict[str, Any]], **members: Any) -> str:
    return json.dumps({"type": "FeatureCollection", **members, "features": features}, ensure_ascii=False)


def _filename(stem: str, extension: str) -> str:
    stamp = ctx().deps.clock().strftime("%Y%m%dT%H%MZ")
    safe = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", stem)).strip("-.")
    return f"{safe or 'export'}-{stamp}.{extension}"


def _attachment(body: str, mimetype: str, stem: str, extension: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(stem, extension)}"'
    response.headers["Cache-Control"] = "no-store"  # lists of people: not kept by a proxy or the browser cache
    return response


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise NotFound(f"no export as .{fmt}; this list is exported as {', '.join('.' + a for a in allowed)}")


@exports_api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "id", "message": str(exc)}]), 404


@exports_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    return refused_input(exc)  # an unknown filter value: 400 naming it, dead-lettered as GET /api/v1/incidents does


# --- who may see what -----------------------------------------------------------------


def _sees_incident(principal: Any, incident: Incident) -> bool:
    return access.may_see_regions(principal, incident.regions)  # over several countries: every region it touches


def _positions(ids: Iterable[str]) -> dict[str, tuple[float, float]]:
    """traveller id -> (lat, lon) of their best-known position (``views.place_travellers``)."""
    context = ctx()
    assert context.deps.travellers is not None
    profiles = list(context.deps.travellers.many(sorted({i for i in ids if i})).values())
    return {str(profile.get("id")): (position.lat, position.lon)
            for profile, position, _, _ in views.place_travellers(context, profiles) if position is not None}


def _placed_rows(principal: Any, people: Sequence[Mapping[str, Any]], kept: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Each person with their best-known position (lat, lon), as ``access.person_view`` lets
    the caller receive them; the fields ``kept`` stay for every caller."""
    where = _positions(str(p.get("traveller_id")) for p in people)
    rows = []
    for person in people:
        lat, lon = where.get(str(person.get("traveller_id")), (None, None))
        full = {**person, "lat": lat, "lon": lon}
        rows.append({**{k: full.get(k) for k in kept}, **access.person_view(principal, full)})
    return rows


def _columns(principal: Any, columns: Sequence[str], kept: Sequence[str] = ()) -> list[str]:
    """The columns this caller receives: those ``access.person_view`` lets through (and ``kept``)."""
    allowed = access.person_view(principal, {c: None for c in columns})
    return [c for c in columns if c in allowed or c in kept]


# --- incidents ------------------------------------------------------------------------


def _incidents(principal: Any) -> list[dict[str, Any]]:
    """The incidents the caller may see (their own cut: a desk's regions) that pass the
    query's filters, those of GET /api/v1/incidents and of the board (``incident_filters``)."""
    wanted = incident_filters(request.args, ctx().deps.clock())  # 400 naming an unknown value
    found = [access.record_view(principal, incident_to_dict(i)) for i in ctx().deps.incidents.all()
             if _sees_incident(principal, i) and wanted.match(i)]
    found.sort(key=lambda i: i["updated_at"], reverse=True)
    if found:
        ours = {item["incident"]: item for item in views.accountability_summary(ctx(), principal)["incidents"]}
        for incident in found:
            item = ours.get(incident["id"])
            if item is not None:
                counts = item["counts"]
                incident.update(people_affected=counts["total"], needs_help=counts["needs_help"],
                                not_accounted=counts["total"] - accountability.accounted(counts),
                                accounted_pct=item["accounted_pct"])
    return found


def _incident_geometry(incident: Mapping[str, Any]) -> dict[str, Any] | None:
    area = incident.get("area")
    if isinstance(area, dict) and area.get("type") in ("Polygon", "MultiPolygon"):
        return area
    return _point(incident.get("lat"), incident.get("lon"))


def _polygons(geometry: Mapping[str, Any] | None) -> list[list[list[list[float]]]]:
    """The rings (outer first) of each polygon of a GeoJSON Polygon or MultiPolygon."""
    if not geometry:
        return []
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"]]
    if geometry.get("type") == "MultiPolygon":
        return list(geometry["coordinates"])
    return []


# Characters XML 1.0 cannot carry at all (NUL and the other C0 controls but tab, line feed and
# carriage return; lone surrogates; U+FFFE, U+FFFF): replaced, so no text can break the file.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# simplekml keeps its state in class attributes while it writes (the document being written,
# whether to escape text): one KML document at a time.
_KML_LOCK = threading.Lock()


def kml_text(value: Any) -> str:
    """Any value as the text of a KML element, escaped here, whatever it holds.

    simplekml does not escape text safely: ``_chrconvert`` passes anything after a
    ``<![CDATA[`` through unescaped (a title could close its placemark and open another)
    and ``<value>`` not at all. So every text is escaped here (``&``, ``<``, ``>``,
    quotes) and written with simplekml's own escaping off (``parsetext(False)``); text
    with no ``<`` left holds no CDATA section, so even simplekml's escaping could add
    nothing but a second escape. Characters XML 1.0 cannot carry become U+FFFD."""
    return _xml_escape(_NOT_XML.sub("\ufffd", str(value)), {'"': "&quot;", "'": "&apos;"})


def _new_kml(name: str) -> Any:
    import simplekml

    kml = simplekml.Kml(name=kml_text(name))
    kml.parsetext(False)  # the texts are escaped by kml_text; simplekml would escape them again, or not safely
    return kml


def _kml_description(pairs: Iterable[tuple[str, Any]]) -> str:
    return kml_text("\n".join(f"{label}: {value}" for label, value in pairs if value not in (None, "")))


def _kml_polygon(container: Any, rings: list[list[list[float]]], name: str) -> None:
    polygon = container.newpolygon(name=name, outerboundaryis=[tuple(p[:2]) for p in rings[0]])
    if len(rings) > 1:
        polygon.innerboundaryis = [[tuple(p[:2]) for p in ring] for ring in rings[1:]]


def incidents_kml(incidents: list[dict[str, Any]]) -> str:
    kml = _new_kml("Incidents")
    for incident in incidents:
        name = kml_text(incident.get("title") or incident["id"])
        description = _kml_description([
            ("Type", incident.get("category") and f"{incident.get('category')} / {incident.get('type')}" or incident.get("type")),
            ("Severity", incident.get("severity")), ("Status", incident.get("status")),
            ("Our people", incident.get("people_affected")), ("Need help", incident.get("needs_help") or None),
            ("Accounted for (%)", incident.get("accounted_pct") if incident.get("people_affected") else None),
            ("Country", incident.get("country")),
            ("Countries", ", ".join(incident["countries"]) if len(incident.get("countries") or ()) > 1 else None),
            ("Reported", incident.get("reported_at")),
            ("Updated", incident.get("updated_at")), ("Radius (km)", incident.get("radius_km")),
            ("Description", incident.get("description")),
        ])
        polygons = _polygons(incident.get("area"))
        if polygons:
            shape = kml.newmultigeometry(name=name, description=description)
            shape.newpoint(coords=[(incident["lon"], incident["lat"])])
            for rings in polygons:
                _kml_polygon(shape, rings, name)
        else:
            shape = kml.newpoint(name=name, description=description, coords=[(incident["lon"], incident["lat"])])
        for key in ("id", "severity", "status", "type", "category"):
            if incident.get(key) is not None:
                shape.extendeddata.newdata(name=key, value=kml_text(incident[key]))
    with _KML_LOCK:
        return str(kml.kml())


@exports_api.get("/incidents.csv", defaults={"fmt": "csv"})
@exports_api.get("/incidents.geojson", defaults={"fmt": "geojson"})
@exports_api.get("/incidents.kml", defaults={"fmt": "kml"})
@require_role(*READERS)
def export_incidents(fmt: str) -> Response:
    _check_format(fmt, ("csv", "geojson", "kml"))
    principal = current_principal()
    incidents = _incidents(principal)
    if fmt == "csv":
        present = {k for i in incidents for k in i}
        default = set(access.record_view(principal, {c: None for c in INCIDENT_COLUMNS}))
        columns = [c for c in INCIDENT_COLUMNS if c in (present or default)]
        return _attachment(to_csv(columns, incidents), CSV_TYPE, "incidents", "csv")
    if fmt == "geojson":
        features = [_feature(_incident_geometry(i), {k: v for k, v in i.items() if k != "area"}) for i in incidents]
        return _attachment(_collection(features), GEOJSON_TYPE, "incidents", "geojson")
    return _attachment(incidents_kml(incidents), KML_TYPE, "incidents", "kml")


# --- the people an incident affects ---------------------------------------------------


@exports_api.get("/incidents/<incident_id>/affected.csv", defaults={"fmt": "csv"})
@exports_api.get("/incidents/<incident_id>/affected.geojson", defaults={"fmt": "geojson"})
@require_role(*READERS)
def export_affected(incident_id: str, fmt: str) -> Response:
    _check_format(fmt, ("csv", "geojson"))
    principal = current_principal()
    incident = ctx().deps.incidents.get(incident_id)
    if incident is None or not _sees_incident(principal, incident):
        raise NotFound(f"no incident {incident_id}")
    answer = views.affected_people(ctx(), views.people_reader(principal), incident_id)
    if answer is None:
        raise NotFound(f"no incident {incident_id}")
    rows = _placed_rows(principal, answer["people"])
    audit_request("export.affected", target=incident_id, detail={"format": fmt, "rows": len(rows)})
    stem = f"incident-{incident_id}-affected"
    if fmt == "csv":
        return _attachment(to_csv(_columns(principal, PERSON_COLUMNS), rows), CSV_TYPE, stem, "csv")
    features = [_feature(_point(r.get("lat"), r.get("lon")), r) for r in rows]
    return _attachment(_collection(features, incident=incident_id, counts=answer["counts"],
                                   accounted_pct=answer["accounted_pct"], computed_at=answer["computed_at"]),
                       GEOJSON_TYPE, stem, "geojson")


# --- areas and their movement lists ---------------------------------------------------


def areas_kml(areas: list[dict[str, Any]], shapes: Mapping[str, dict[str, Any]]) -> str:
    kml = _new_kml("Security areas")
    for area in areas:
        name = kml_text(area.get("name") or area.get("id"))
        movement = area.get("movement") or {}
        counts = movement.get("counts") or {}
        haven = movement.get("safe_haven") or {}
        description = _kml_description([
            ("Security phase", area.get("phase")), ("Country", area.get("country")), ("Region", area.get("region")),
            ("Movement", counts and ", ".join(f"{counts.get(k, 0)} {k.replace('_', ' ')}"
                                               for k in ("to_move", "moving", "arrived", "stayed", "overdue"))),
            ("Safe haven", haven.get("name")), ("Expected arrival", movement.get("expected_arrival")),
        ])
        geometry = area.get("geometry") or shapes.get(str(area.get("country") or "").upper())
        polygons = _polygons(geometry)
        if not polygons:
            continue
        shape = kml.newmultigeometry(name=name, description=description)
        for rings in polygons:
            _kml_polygon(shape, rings, name)
        shape.extendeddata.newdata(name="id", value=kml_text(area.get("id")))
        shape.extendeddata.newdata(name="phase", value=kml_text(area.get("phase")))
    with _KML_LOCK:
        return str(kml.kml())


@exports_api.get("/areas.kml", defaults={"fmt": "kml"})
@require_role(*READERS)
def export_areas(fmt: str) -> Response:
    _check_format(fmt, ("kml",))
    principal = current_principal()
    areas = views_areas.areas_view(ctx(), principal)
    shapes = views_areas.country_shapes(ctx(), [str(a["country"]) for a in areas if a.get("country") and not a.get("geometry")])
    return _attachment(areas_kml(areas, shapes), KML_TYPE, "areas", "kml")


@exports_api.get("/areas/<area_id>/movement.csv", defaults={"fmt": "csv"})
@exports_api.get("/areas/<area_id>/movement.geojson", defaults={"fmt": "geojson"})
@require_role(*READERS)
def export_movement(area_id: str, fmt: str) -> Response:
    _check_format(fmt, ("csv", "geojson"))
    principal = current_principal()
    area = views_areas.area_view(ctx(), principal, area_id)
    if area is None:
        raise NotFound(f"no area {area_id}")
    if not access.sees_names(principal):  # the view gives such a caller counts only: ask for the list, then cut it
        area = views_areas.area_view(ctx(), views.people_reader(principal), area_id) or area
    movement = area.get("movement") or {}
    people = movement.get("people") or []
    rows = _placed_rows(principal, people, MOVEMENT_FACTS)
    audit_request("export.movement", target=area_id, detail={"format": fmt, "rows": len(rows)})
    stem = f"area-{area.get('name') or area_id}-movement"
    if fmt == "csv":
        return _attachment(to_csv(_columns(principal, MOVEMENT_COLUMNS, MOVEMENT_FACTS), rows), CSV_TYPE, stem, "csv")
    features = [_feature(_point(r.get("lat"), r.get("lon")), r) for r in rows]
    members = {"area": area_id, "name": area.get("name"), "phase": area.get("phase"),
               "movement": {k: movement.get(k) for k in ("id", "safe_haven", "mode", "expected_arrival", "counts",
                                                         "accountability") if k in movement}}
    return _attachment(_collection(features, **members), GEOJSON_TYPE, stem, "geojson")


# --- the API description (crisis.api.openapi.EXTENSIONS) -------------------------------

OPENAPI_TAGS = ({"name": "Exports", "description": "Incidents, affected people, movement lists and areas as files "
                 "(CSV, GeoJSON, KML), limited to what the caller may see."},)
OPENAPI_REQUEST_MODELS: tuple[Any, ...] = ()
OPENAPI_RESPONSE_MODELS: tuple[Any, ...] = ()

_SCOPE = ("A regional desk receives its region only (anything else is 404); a wall display receives positions, "
          "statuses and counts, never a name, an id of a person or a contact detail. Sent as an attachment "
          "(`Content-Disposition` names the file). CSV: UTF-8, a header row; text that a spreadsheet would run as "
          "a formula (starting with =, +, -, @, a tab or a carriage return) is prefixed with an apostrophe.")


def openapi_operations() -> list[Any]:
    from crisis.api.openapi import FILTER_REFUSED, INCIDENT_ID, Op, _common

    types = {"csv": ("text/csv", "string"), "geojson": (GEOJSON_TYPE, "object"), "kml": (KML_TYPE, "string")}
    names = {"csv": "CSV", "geojson": "GeoJSON", "kml": "KML"}

    def files(description: str, fmt: str) -> dict[str, Any]:
        headers = {"Content-Disposition": {"description": f'attachment; filename="<list>-<UTC time>.{fmt}"',
                                           "schema": {"type": "string"}}}
        return {"description": description, "headers": headers,
                "content": {types[fmt][0]: {"schema": {"type": types[fmt][1]}}}}

    area_id = {"name": "area_id", "in": "path", "required": True, "description": "The area's id.", "schema": {"type": "string"}}
    refusals = _common("401", "403", "404")
    filtered = {**refusals, "400": FILTER_REFUSED}
    ops = []
    for fmt in ("csv", "geojson", "kml"):
        ops.append(Op("get", f"/api/v1/exports/incidents.{fmt}", "Exports", f"Export incidents as {names[fmt]}",
                      "The incidents the caller may see that pass the filters (those of GET /api/v1/incidents and "
                      "of the incident board), newest update first: CSV one row each, GeoJSON a Feature "
                      "each (its area polygon, else its point), KML a placemark each (with its area). Each open "
                      "incident also counts our people there, among those the caller may see: people_affected, "
                      "needs_help, not_accounted, accounted_pct (blank for a closed one). " + _SCOPE,
                      READERS, {"200": files("The incidents.", fmt), **filtered}, parameters=incident_filter_parameters(),
                      operation_id=f"exportIncidents{names[fmt]}"))
    for fmt in ("csv", "geojson"):
        ops.append(Op("get", f"/api/v1/exports/incidents/{{incident_id}}/affected.{fmt}", "Exports",
                      f"Export who an incident affects as {names[fmt]}",
                      "The people the incident affects (as GET /api/v1/incidents/{incident_id}/affected), each with "
                      "their accountability status, why they are affected and their best-known position (lat, lon); "
                      "the GeoJSON also carries the counts and % accounted for. Each export is audited. " + _SCOPE,
                      READERS, {"200": files("The affected people.", fmt), **refusals}, parameters=(INCIDENT_ID,),
                      operation_id=f"exportAffected{names[fmt]}"))
    ops.append(Op("get", "/api/v1/exports/areas.kml", "Exports", "Export security areas as KML",
                  "Every area the caller may see as a KML polygon (a country area: the country's outline) with its "
                  "phase, its movement's counts and safe haven. " + _SCOPE,
                  READERS, {"200": files("The areas.", "kml"), **refusals}, operation_id="exportAreasKML"))
    for fmt in ("csv", "geojson"):
        ops.append(Op("get", f"/api/v1/exports/areas/{{area_id}}/movement.{fmt}", "Exports",
                      f"Export an area's movement list as {names[fmt]}",
                      "The people on the area's open movement (relocation or evacuation): progress, overdue, "
                      "accountability status and best-known position; the GeoJSON also carries the safe haven, mode, "
                      "expected arrival and counts. No open movement: a header only (CSV) or no features. Each "
                      "export is audited. " + _SCOPE,
                      READERS, {"200": files("The movement list.", fmt), **refusals}, parameters=(area_id,),
                      operation_id=f"exportMovement{names[fmt]}"))
    return ops
