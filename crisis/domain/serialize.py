"""Domain objects to and from plain JSON-able dicts (the event payload format)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from crisis.domain.model import GeoPoint, Incident, IncidentStatus, IncidentType
from crisis.domain.taxonomy import category_of


def incident_to_dict(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "type": incident.type.value,
        "category": category_of(incident.type.value),
        "severity": incident.severity,
        "lat": incident.location.lat,
        "lon": incident.location.lon,
        "radius_km": incident.radius_km,
        "area": incident.area,
        "country": incident.country,
        "region": incident.region,
        "regions": list(incident.regions),
        "status": incident.status.value,
        "reported_at": incident.reported_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "description": incident.description,
        "source": incident.source,
        "source_id": incident.source_id,
        "approximate": incident.approximate,
        "owner": incident.owner,
        "countries": list(incident.countries),
        "source_said": incident.source_said,
    }


def incident_from_dict(data: dict[str, Any]) -> Incident:
    return Incident(
        id=data["id"],
        title=data["title"],
        type=IncidentType(data["type"]),
        severity=int(data["severity"]),
        location=GeoPoint(float(data["lat"]), float(data["lon"])),
        radius_km=data.get("radius_km"),
        area=data.get("area"),
        country=data.get("country"),
        region=data.get("region"),
        regions=tuple(data.get("regions") or ()),
        status=IncidentStatus(data.get("status", "reported")),
        reported_at=datetime.fromisoformat(data["reported_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        description=data.get("description") or "",
        source=data.get("source") or "api",
        source_id=data.get("source_id"),
        approximate=bool(data.get("approximate", False)),
        owner=data.get("owner"),
        countries=tuple(data.get("countries") or ()),
        source_said=data.get("source_said"),
    )


# A CSV cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe;
    numbers stay numbers; lists are joined with ";"; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
