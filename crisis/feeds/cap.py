"""Common Alerting Protocol (CAP 1.1 and 1.2) alerts -> one incident command per message.

A CAP message may carry several ``<info>`` blocks (one per language, or one per severity
band over different areas) but describes one event, so it becomes one incident: the
title and description come from the English block (CAP's default language is en-US when
``<language>`` is absent), else the first; the severity is the highest of all blocks; the
area is the union of all blocks' areas (language copies of a polygon merge away).

``reported_at`` is ``<sent>``: it is the only time every message carries, and ``<onset>``
may lie in the future (a forecast), which would misplace the report on the timeline.

Geometry: CAP writes points "lat,lon"; GeoJSON wants [lon, lat]. Polygons are merged with
a union because adjacent warning areas share edges, which a MultiPolygon must not. A
circle gives the location and radius (it is the more precise "where" for e.g. an
epicentre); otherwise the location is the centroid of the polygons; otherwise (only
``<areaDesc>``/``<geocode>``) an optional gazetteer places the alert approximately: by an
ISO 3166-2 subdivision, a country code or a national geocode scheme, a country name in any
script, and, when the area says nothing it knows, by the sender's country
(``sender_place``: a WMO register OID or the country domain of the sender's address). Only
an alert that cannot be placed anywhere is refused (and dead-lettered).

Schema policy: accept and flag. Every alert is checked against the official OASIS schema
of its version (``crisis.feeds.cap_validation``). A departure from the schema, including a
*missing required element* (``<scope>``, ``<severity>``, ``<identifier>``, ... all alike),
does not refuse the alert: it is taken with a stated default (see ``MISSING_DEFAULTS``)
and every defect is listed in ``CapMessage.defects``, at the end of the incident's
description ("The source alert departs from CAP 1.2: ...") and in the CAP feed's health
(``last_defect``, ``flagged_total``). An alert is refused only when it cannot be placed, or
when a value the centre must read is there but unreadable (a status, message type,
urgency, severity or certainty outside CAP's lists; a time that is not a time; a polygon or
circle that is not coordinates), because guessing those could put a wrong incident on the
wall.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from xml.etree.ElementTree import Element

import shapely.geometry
from pydantic import ValidationError
from shapely.ops import unary_union

from crisis.domain.model import IncidentStatus, IncidentType
from crisis.errors import FeedError
from crisis.feeds import cap_validation
from crisis.feeds.cap_validation import Defect
from crisis.feeds.schemas import IncidentIn, future_time_message
from crisis.feeds.xml import parse_xml

NAMESPACES = ("urn:oasis:names:tc:emergency:cap:1.2", "urn:oasis:names:tc:emergency:cap:1.1")
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")

# area name and geocodes -> (lat, lon, ISO3 country or None), or None if unknown. A gazetteer
# may also have ``sender_place(sender, identifier)`` -> the same (crisis.feeds.gazetteer).
Gazetteer = Callable[[str, list[tuple[str, str]]], tuple[float, float, str | None] | None]

# What a missing required element is taken to be (the alert is flagged, not refused).
MISSING_DEFAULTS = {
    "identifier": "a digest of the message (so the same message twice is one incident)",
    "sender": '"unknown sender"',
    "sent": "the time of receipt",
    "status": "Actual (an alert that might be real is shown)",
    "msgType": "Alert",
    "scope": "Public",
    "category": "none (the type is read from the event text)",
    "event": "the headline, else the area description",
    "urgency": "Unknown", "severity": "Unknown", "certainty": "Unknown",
    "areaDesc": "no name (placed by its geometry or geocodes)",
}


@dataclass(frozen=True)
class CapMessage:
    """A parsed CAP message. ``references`` are "sender,identifier" keys of earlier
    messages. ``incident`` is None when the message describes no event to act on: Ack
    and Error, a Cancel without ``<info>`` (the handler closes the referenced incidents
    itself), and the statuses CAP tells recipients to disregard (Test, System, Draft).
    An Exercise keeps its incident, titled "[Exercise] ...", so that it can never pass
    for a real one on the wall.
    """

    identifier: str
    sender: str
    sent: datetime | None
    status: str
    msg_type: str
    references: tuple[str, ...]
    incident: IncidentIn | None
    # Departures from the CAP schema, in words (the message was accepted with them).
    defects: tuple[Defect, ...] = ()


_SEVERITY = {"extreme": 5, "severe": 4, "moderate": 3, "minor": 2, "unknown": 2}
_URGENCY = {"immediate": 0, "expected": 0, "future": -1, "past": -1, "unknown": 0}
_CERTAINTY = {"observed": 0, "likely": 0, "possible": -1, "unlikely": -2, "unknown": 0}


def cap_severity(severity: str, urgency: str, certainty: str) -> int:
    """The incident severity (1..5) of one CAP <info> block (values case-insensitive).

    Base from <severity>, plus adjustments for <urgency> and <certainty>, clamped to 1..5:

    ===========  ===========  ==========  ===========  ===========  =========
    <severity>   Extreme 5    Severe 4    Moderate 3   Minor 2      Unknown 2
    <urgency>    Immediate 0  Expected 0  Future -1    Past -1      Unknown 0
    <certainty>  Observed 0   Likely 0    Possible -1  Unlikely -2  Unknown 0
    ===========  ===========  ==========  ===========  ===========  =========

    Monotone: a more severe, more urgent or more certain alert never scores lower.
    "Unknown" never lowers a score: the centre would rather over- than under-react.
    Examples: Severe/Immediate/Observed 4; Extreme/Future/Possible 3; Minor/Past/* 1.
    """
    score = _SEVERITY[severity.lower()] + _URGENCY[urgency.lower()]
    return max(1, min(5, score + _CERTAINTY[certainty.lower()]))


# Event/headline keywords, first match wins (tsunami before earthquake, cyclone before
# flood, specific threats before the generic weather words).
_EVENT_TYPES: tuple[tuple[str, IncidentType], ...] = (
    (r"tsunami", IncidentType.TSUNAMI),
    (r"earthquake|seismic|\bquake", IncidentType.EARTHQUAKE),
    (r"volcan|\blahar|eruption|ash ?fall", IncidentType.VOLCANO),
    (r"hurricane|typhoon|cyclone|tropical (storm|depression)", IncidentType.CYCLONE),
    (r"structure fire|building fire", IncidentType.ACCIDENT),
    (r"wild ?fire|bush ?fire|forest fire|grass ?fire|brush ?fire|fire weather|red flag",
     IncidentType.WILDFIRE),
    (r"flood", IncidentType.FLOOD),
    (r"drought", IncidentType.DROUGHT),
    (r"epidemic|pandemic|outbreak|disease|cholera|ebola", IncidentType.EPIDEMIC),
    (r"hostage", IncidentType.HOSTAGE),
    (r"kidnap", IncidentType.KIDNAPPING),
    (r"abduct|\bamber\b", IncidentType.ABDUCTION),  # AMBER: a child abduction alert
    (r"suicide (attack|bomb)", IncidentType.SUICIDE_ATTACK),
    (r"explosive device|\bied\b", IncidentType.IED),
    (r"terror|\bbomb|homeland security", IncidentType.TERRORISM),
    (r"air ?raid|air ?strike|hostile aircraft", IncidentType.AIRSTRIKE),
    (r"shelling|artillery", IncidentType.SHELLING),
    (r"missile|rocket", IncidentType.ARMED_CONFLICT),
    (r"\briot", IncidentType.RIOT),
    (r"protest|demonstration", IncidentType.DEMONSTRATION),
    (r"civil (unrest|disturbance)|curfew", IncidentType.CIVIL_UNREST),
    (r"shooter|shooting|law enforcement|police", IncidentType.CRIME),
    (r"storm|tornado|\bwinds?\b|blizzard|\bsnow|\bice\b|\bhail|\bheat\b|\bcold\b|frost"
     r"|\bfog\b|\brain|winter|weather", IncidentType.WEATHER),
    (r"hazmat|hazardous|chemical|\bspill|derail|crash|collision|accident|explosion"
     r"|gas leak|collapse", IncidentType.ACCIDENT),
)
_EVENT_PATTERNS = tuple((re.compile(pattern), incident_type) for pattern, incident_type in _EVENT_TYPES)
# <category> when the event text says nothing more specific. Security covers police,
# military and homeland security alike, so it stays "other" unless the event says which.
_CATEGORY_TYPES = {"Met": IncidentType.WEATHER, "Fire": IncidentType.WILDFIRE,
                   "Health": IncidentType.EPIDEMIC, "Transport": IncidentType.ACCIDENT,
                   "CBRNE": IncidentType.ACCIDENT}


def cap_type(event: str, categories: list[str]) -> IncidentType:
    """The incident type from the event/headline text, else the first mapped category."""
    text = event.lower()
    for pattern, incident_type in _EVENT_PATTERNS:
        if pattern.search(text):
            return incident_type
    for category in categories:
        if category in _CATEGORY_TYPES:
            return _CATEGORY_TYPES[category]
    return IncidentType.OTHER


def parse_cap(data: bytes, gazetteer: Gazetteer | None = None) -> CapMessage:
    """Parse one CAP 1.1/1.2 ``<alert>``; raise FeedError naming the element at fault."""
    root = parse_xml(data)
    ns, _, name = root.tag.lstrip("{").rpartition("}")
    if name != "alert" or ns not in NAMESPACES:
        raise FeedError("alert", f"not a CAP alert: root element is <{root.tag}>; expected "
                        f"<alert> in namespace {' or '.join(NAMESPACES)}")
    defects = tuple(cap_validation.defects(root, ns))
    for element in root.iter():  # drop the CAP namespace once; foreign elements keep theirs
        if isinstance(element.tag, str):
            element.tag = element.tag.removeprefix(f"{{{ns}}}")
    identifier = _text(root, "identifier") or "sha1-" + hashlib.sha1(data).hexdigest()[:16]
    sender = _text(root, "sender") or "unknown sender"
    sent_text = _text(root, "sent")
    sent = _time(sent_text, "alert.sent") if sent_text else None
    if sent is not None and (future := future_time_message(sent)):
        raise FeedError("alert.sent", future)
    status = _choice(_text(root, "status") or "Actual", STATUSES, "alert.status")
    msg_type = _choice(_text(root, "msgType") or "Alert", MSG_TYPES, "alert.msgType")
    references = _references(_text(root, "references") or "")
    infos = root.findall("info")
    incident = None
    if infos and msg_type not in ("Ack", "Error") and status in ("Actual", "Exercise"):
        fields = _incident_fields(infos, gazetteer, (_text(root, "sender") or "", identifier))
        if status == "Exercise":
            fields["title"] = _clip(f"[Exercise] {fields['title']}", 300)
        if defects:
            fields["description"] = _clip(_with_defects(fields["description"], defects,
                                                        cap_validation.version_of(ns)), 20_000)
        fields.update(
            source="cap", source_id=f"{sender},{identifier}", supersedes=references,
            reported_at=sent, status=IncidentStatus.CLOSED if msg_type == "Cancel" else None,
        )
        incident = _validated(fields)
    elif msg_type in ("Alert", "Update") and not infos:
        raise FeedError("alert.info", f"an {msg_type} must carry at least one <info> block")
    return CapMessage(identifier, sender, sent, status, msg_type, references, incident, defects)


def defects_in_words(defects: tuple[Defect, ...] | list[Defect]) -> str:
    """The defects as one sentence list, each missing element with what it was taken to be."""
    parts = []
    for defect in defects:
        taken = MISSING_DEFAULTS.get(defect.missing or "")
        parts.append(f"{defect.message}, taken as {taken}" if taken else defect.message)
    return "; ".join(parts)


def _with_defects(description: str, defects: tuple[Defect, ...], version: str) -> str:
    note = f"The source alert departs from CAP {version}: {defects_in_words(defects)}."
    return f"{description}\n\n{note}" if description else note


def _text(parent: Element, name: str) -> str | None:
    return (parent.findtext(name) or "").strip() or None


def _texts(parent: Element, name: str) -> list[str]:
    return [t for t in ((e.text or "").strip() for e in parent.findall(name)) if t]


def _incident_fields(infos: list[Element], gazetteer: Gazetteer | None,
                     sender: tuple[str, str] = ("", "")) -> dict[str, Any]:
    main = next((i for i in infos
                 if (_text(i, "language") or "en-US").lower().startswith("en")), infos[0])
    severity = 1
    for n, info in enumerate(infos):
        values = []
        for name, table in (("severity", _SEVERITY), ("urgency", _URGENCY),
                            ("certainty", _CERTAINTY)):
            value = _text(info, name) or "Unknown"  # required by CAP; absent = unknown
            if value.lower() not in table:
                accepted = ", ".join(k.capitalize() for k in table)
                raise FeedError(f"alert.info[{n}].{name}",
                                f"unknown value {value!r}; expected one of {accepted}")
            values.append(value)
        severity = max(severity, cap_severity(*values))
    event, headline = _text(main, "event") or "", _text(main, "headline") or ""
    if not (headline or event):  # <event> is required: flagged, named after its area
        names = [d for a in main.findall("area") if (d := _text(a, "areaDesc"))]
        headline = "Alert" + (f" for {names[0]}" if names else "") + " (no event named)"
    description = "\n\n".join(
        t for t in (_text(main, "description"), _text(main, "instruction")) if t
    )
    fields: dict[str, Any] = {
        "title": _clip(" ".join((headline or event).split()), 300), "description": _clip(description, 20_000),
        "severity": severity, "type": cap_type(f"{event} {headline}", _texts(main, "category")),
    }
    return fields | _where(infos, main, gazetteer, sender)


def _where(infos: list[Element], main: Element, gazetteer: Gazetteer | None,
           sender: tuple[str, str] = ("", "")) -> dict[str, Any]:
    """Location, radius and area from every block's <area>; see the module docstring."""
    polygons: list[shapely.geometry.Polygon] = []
    circles: list[tuple[float, float, float]] = []
    for n, info in enumerate(infos):
        for m, area in enumerate(info.findall("area")):
            path = f"alert.info[{n}].area[{m}]"
            polygons += [_polygon(p, f"{path}.polygon") for p in _texts(area, "polygon")]
            circles += [_circle(c, f"{path}.circle") for c in _texts(area, "circle")]
    fields: dict[str, Any] = {}
    if polygons:
        union = unary_union(polygons)
        fields["area"] = dict(shapely.geometry.mapping(union))
        fields["lat"], fields["lon"] = union.centroid.y, union.centroid.x
    if circles:
        (lat, lon, radius), rest = circles[0], circles[1:]
        # One circle covering them all, around the first centre (no averaging of
        # longitudes, which breaks at the antimeridian).
        radius = max([radius] + [_km(lat, lon, la, lo) + r for la, lo, r in rest])
        fields.update(lat=lat, lon=lon, radius_km=radius or None)
    return fields or _gazetteer_location(infos.index(main), main, gazetteer, sender)


def _gazetteer_location(n: int, info: Element, gazetteer: Gazetteer | None,
                        sender: tuple[str, str] = ("", "")) -> dict[str, Any]:
    areas = info.findall("area")
    for m, area in enumerate(areas):
        geocodes = [(_text(g, "valueName") or "", _text(g, "value") or "")
                    for g in area.findall("geocode")]
        found = gazetteer(_text(area, "areaDesc") or "", geocodes) if gazetteer else None
        if found is not None:
            lat, lon, country = found
            _check_point(lat, lon, f"alert.info[{n}].area[{m}]")
            return {"lat": lat, "lon": lon, "country": country, "approximate": True}
    sender_place = getattr(gazetteer, "sender_place", None)
    found = sender_place(*sender) if sender_place is not None and any(sender) else None
    if found is not None:  # nothing in the area places it: the sender's country does
        lat, lon, country = found
        _check_point(lat, lon, "alert.sender")
        return {"lat": lat, "lon": lon, "country": country, "approximate": True}
    if not areas:
        raise FeedError(f"alert.info[{n}].area", "the alert has no <area>"
                        + (" and its sender names no country" if sender_place is not None else ""))
    names = "; ".join(repr(_text(a, "areaDesc") or "") for a in areas)
    why = ("no gazetteer is configured to place" if gazetteer is None
           else "the gazetteer knows none of")
    tail = ", nor its sender's country" if sender_place is not None else ""
    raise FeedError(f"alert.info[{n}].area[0]", "the alert has no locatable area: no "
                    f"<polygon> or <circle>, and {why} its areas ({names}){tail}")


def _points(text: str, path: str) -> list[tuple[float, float]]:
    points = []
    for k, pair in enumerate(text.split()):
        parts = pair.split(",")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            raise FeedError(path, f"point {k + 1} {pair!r} is not 'lat,lon'") from None
        _check_point(lat, lon, path, f"point {k + 1} {pair!r}: ")
        points.append((lat, lon))
    return points


def _polygon(text: str, path: str) -> shapely.geometry.Polygon:
    """A CAP polygon. An unclosed ring is closed rather than refused: its meaning is
    unambiguous, and losing a warning costs more than a strict reading gains."""
    points = _points(text, path)
    if points and points[0] != points[-1]:
        points.append(points[0])
    if len(set(points)) < 3:
        raise FeedError(path, "a polygon needs at least 3 distinct 'lat,lon' points "
                        "(4 pairs, the first repeated last)")
    polygon = shapely.geometry.Polygon([(lon, lat) for lat, lon in points])
    if not polygon.is_valid:
        raise FeedError(path, "the polygon crosses itself or is degenerate")
    return polygon


def _circle(text: str, path: str) -> tuple[float, float, float]:
    parts = text.split()
    try:
        radius = float(parts[1]) if len(parts) == 2 else math.nan
    except ValueError:
        radius = math.nan
    if not (math.isfinite(radius) and 0 <= radius <= 5000):
        raise FeedError(path, f"{text!r} is not 'lat,lon radius' with a radius of 0..5000 km")
    points = _points(parts[0], path)
    if len(points) != 1:
        raise FeedError(path, f"{text!r} is not 'lat,lon radius'")
    return points[0][0], points[0][1], radius


def _check_point(lat: float, lon: float, path: str, where: str = "") -> None:
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise FeedError(path, f"{where}latitude {lat} is outside -90..90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise FeedError(path, f"{where}longitude {lon} is outside -180..180")


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2, dp, dl = map(math.radians, (lat1, lat2, lat2 - lat1, lon2 - lon1))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _time(text: str, path: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FeedError(path, f"{text!r} is not a date-time like 2003-06-17T14:57:00-07:00") \
            from None
    if value.tzinfo is None:
        raise FeedError(path, f"{text!r} has no time zone offset")
    return value.astimezone(timezone.utc)


def _choice(value: str, accepted: tuple[str, ...], path: str) -> str:
    for option in accepted:
        if value.lower() == option.lower():
            return option
    raise FeedError(path, f"unknown value {value!r}; expected one of {', '.join(accepted)}")


def _references(text: str) -> tuple[str, ...]:
    keys = []
    for k, triple in enumerate(text.split()):
        parts = triple.split(",")
        if len(parts) < 2 or not all(parts[:2]):
            raise FeedError("alert.references",
                            f"reference {k + 1} {triple!r} is not 'sender,identifier,sent'")
        keys.append(f"{parts[0]},{parts[1]}")
    return tuple(dict.fromkeys(keys))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validated(fields: dict[str, Any]) -> IncidentIn:
    try:
        return IncidentIn(**fields)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "incident"
        raise FeedError(f"incident.{where}", err["msg"]) from None
