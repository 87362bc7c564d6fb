"""USGS earthquake GeoJSON summary feeds -> incident commands.

https://earthquake.usgs.gov/earthquakes/feed/v1.0/geojson.php . One Feature is one
seismic event. Decisions, and why:

* Severity from magnitude, raised (never lowered) by the PAGER alert, which estimates
  shaking impact on people and so knows more than magnitude alone:

  =============  ========  =================================
  magnitude      severity  PAGER alert: severity at least
  =============  ========  =================================
  < 4 / unknown  1         green   (no change)
  4 to < 5       2         yellow  3
  5 to < 6       3         orange  4
  6 to < 7       4         red     5
  >= 7           5
  =============  ========  =================================

  GDACS alert levels map onto the same scale (``crisis.feeds.gdacs``).
* No ``radius_km``: the summary feed has no shaking footprint, and a felt radius from
  magnitude alone is wrong by a factor of several depending on depth and geology.
* ``supersedes``: the other ids in ``properties.ids``. When networks' solutions of one
  event are associated, the preferred id can change; the old ids point at the incident.
* Only ``properties.type == "earthquake"`` is an earthquake; quarry blasts and
  explosions in the same feed become "other".
* ``status == "deleted"`` closes the incident. A bad feature is rejected on its own
  (``UsgsResult.rejected``); features under ``min_magnitude`` are counted as skipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from crisis.domain.model import IncidentStatus, IncidentType
from crisis.errors import DocumentTooLarge, FeedError
from crisis.feeds.schemas import IncidentIn, future_time_message
from crisis.fusion.countries import iso3_of_names

DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # "all_month" is about 10 MB
PAGER_FLOOR = {"green": 1, "yellow": 3, "orange": 4, "red": 5}


@dataclass(frozen=True)
class UsgsResult:
    """Incidents, refused features ({"index", "field", "message"}) and how many were
    below ``min_magnitude``."""

    incidents: list[IncidentIn] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    # source_id -> the ISO3 country the feature's place names ("113km NE of Hihifo, Tonga"):
    # the intake uses it for a quake at sea only (``place_country``)
    place_countries: dict[str, str] = field(default_factory=dict)


class _FeatureError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def magnitude_severity(magnitude: float | None, pager_alert: str | None = None) -> int:
    """Severity 1..5 of an earthquake; see the table in the module docstring."""
    severity = 1 if magnitude is None else 1 + sum(magnitude >= m for m in (4, 5, 6, 7))
    return max(severity, PAGER_FLOOR.get((pager_alert or "").strip().lower(), 1))


def parse_usgs(
    data: bytes, min_magnitude: float | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> UsgsResult:
    """Parse a USGS GeoJSON FeatureCollection. FeedError only if the document is not one."""
    if len(data) > max_bytes:
        raise DocumentTooLarge("document", f"document is {len(data)} bytes; the limit is {max_bytes}")
    collection = _load(data)
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection" \
            or not isinstance(features, list):
        raise FeedError("type", "not a USGS GeoJSON feed: expected a FeatureCollection "
                        "object with a \"features\" list")
    incidents, rejected, skipped = [], [], 0
    named: dict[str, str] = {}
    for index, feature in enumerate(features):
        try:
            incident = _incident(feature, min_magnitude)
        except _FeatureError as exc:
            rejected.append({"index": index, "field": f"features[{index}].{exc.field}",
                             "message": exc.message})
            continue
        if incident is None:
            skipped += 1
        else:
            incidents.append(incident)
            props = feature.get("properties") or {}
            country = place_country(props.get("place") if isinstance(props.get("place"), str) else None)
            if country and incident.source_id:
                named[incident.source_id] = country
    return UsgsResult(incidents, rejected, skipped, named)


def place_country(place: str | None) -> str | None:
    """The country a USGS place names after its last comma ("113km NE of Hihifo, Tonga" -> TON),
    or None: a US state ("..., CA", "..., Alaska") or a sea ("Fiji region") names none. Used
    only at sea, where the nearest outline can be the wrong country (the 1:10m Tonga lacks
    Niuatoputapu, so a quake 113 km from it was Samoa's); on land the point's outline decides
    (the nearest town can be across a border)."""
    if not place or "," not in place:
        return None
    name = place.rsplit(",", 1)[1].strip()
    if len(name) <= 3:  # "CA", "MX": abbreviations, never looked up as ISO codes
        return None
    found = iso3_of_names(name)
    return found[0] if len(found) == 1 else None


def _load(data: bytes) -> Any:
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError("document", f"byte {exc.start} is not valid UTF-8") from None

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise FeedError(f"line {exc.lineno}", f"invalid JSON at line {exc.lineno}, column "
                        f"{exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise FeedError("document", f"invalid JSON: {exc}") from None


def _incident(feature: Any, min_magnitude: float | None) -> IncidentIn | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _FeatureError("type", "not a GeoJSON Feature")
    event_id = feature.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise _FeatureError("id", "missing or empty event id")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise _FeatureError("properties", "missing properties object")
    magnitude = _number(props, "mag", "properties.mag")
    if min_magnitude is not None and (magnitude is None or magnitude < min_magnitude):
        return None
    lon, lat, depth = _coordinates(feature.get("geometry"))
    millis = _number(props, "time", "properties.time")
    if millis is None:
        raise _FeatureError("properties.time", "missing origin time")
    try:
        reported_at = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _FeatureError("properties.time", f"{millis} is not a time in ms") from None
    if future := future_time_message(reported_at):
        raise _FeatureError("properties.time", future)
    place = _string(props, "place")
    quake = (_string(props, "type") or "earthquake").lower() == "earthquake"
    title = _string(props, "title") or f"M {magnitude} - {place or event_id}"
    ids = (_string(props, "ids") or "").split(",")
    fields: dict[str, Any] = {
        "title": " ".join(title.split())[:300],
        "type": IncidentType.EARTHQUAKE if quake else IncidentType.OTHER,
        "severity": magnitude_severity(magnitude, _string(props, "alert")),
        "lat": lat,
        "lon": lon,
        "reported_at": reported_at,
        "description": _description(props, magnitude, depth),
        "source": "usgs",
        "source_id": event_id.strip(),
        "supersedes": tuple(i for i in dict.fromkeys(ids) if i and i != event_id.strip()),
        "status": IncidentStatus.CLOSED if _string(props, "status") == "deleted" else None,
    }
    try:
        return IncidentIn(**fields)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise _FeatureError(".".join(str(p) for p in err["loc"]), err["msg"]) from None


def _number(obj: dict[str, Any], key: str, path: str) -> float | None:
    return _as_number(obj.get(key), path)


def _as_number(value: Any, path: str) -> float | None:
    """A JSON number as finite float (NaN/Infinity are refused on load; a number too
    long for a float, 1e999 or a 400-digit integer, is refused here)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _FeatureError(path, f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _FeatureError(path, "the number is out of range")
    return number


def _string(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def _coordinates(geometry: Any) -> tuple[float, float, float | None]:
    """[lon, lat, depth km] of a Point (GeoJSON order; depth may be absent or null)."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise _FeatureError("geometry", "expected a GeoJSON Point")
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or not 2 <= len(coords) <= 3:
        raise _FeatureError("geometry.coordinates", "expected [lon, lat] or [lon, lat, depth]")
    lon, lat = (_as_number(v, f"geometry.coordinates[{i}]") for i, v in enumerate(coords[:2]))
    depth = _as_number(coords[2], "geometry.coordinates[2]") if len(coords) == 3 else None
    if lon is None or not -180 <= lon <= 180:
        raise _FeatureError("geometry.coordinates[0]", f"longitude {lon} is outside -180..180")
    if lat is None or not -90 <= lat <= 90:
        raise _FeatureError("geometry.coordinates[1]", f"latitude {lat} is outside -90..90")
    return lon, lat, depth


def _description(props: dict[str, Any], magnitude: float | None, depth: float | None) -> str:
    lines = [
        _string(props, "place") or "",
        f"Magnitude {magnitude if magnitude is not None else 'unknown'} "
        f"{_string(props, 'magType') or ''}".rstrip()
        + (f", depth {depth:g} km" if depth is not None else ""),
        f"Review status: {_string(props, 'status') or 'unknown'}",
    ]
    if props.get("tsunami") == 1:
        lines.append("Oceanic region: check the tsunami warning centres (USGS tsunami flag)")
    if _string(props, "alert"):
        lines.append(f"PAGER alert: {_string(props, 'alert')}")
    lines.append(_string(props, "url") or "")
    return "\n".join(line for line in lines if line)[:20_000]
