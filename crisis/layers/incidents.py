"""Incidents as map drawing: marker columns, severity colours and affected areas.

An incident's affected area is its polygon if it has one, else a geodesic circle of its
radius (computed on the WGS84 ellipsoid, never buffered in degrees or Web Mercator).
The same ``incident_message`` feeds the first render and every live push, so the
browser draws a pushed incident exactly as a server-rendered one.

Incidents closer on the screen than a marker's width are one *place* (``stack``): one
marker, coloured by its most severe incident, with the count, as on the wall. Screen
distance is Web Mercator at the map's zoom (512 px tiles, as MapLibre), so the grouping
depends on the zoom only, not on where the map is centred. assets/crisis_places.js does
the same in the browser, in the same order, and both write the same ``stack_key``: the
page compares it with the figure the server drew and patches only when they differ.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")
_CIRCLE_STEPS = 64

SEVERITY_COLOURS = {1: "#2b83ba", 2: "#abdda4", 3: "#fdae61", 4: "#d7191c", 5: "#7a0177"}

MARKER_PX = 18   # an incident marker's width on the screen (the trace's marker size)
STACKED_PX = 26  # a place of several incidents: wider, to hold its count
WORLD_PX = 512  # the world's width in pixels at zoom 0 (MapLibre's 512 px tiles)
MAX_LAT = 85.0511287798  # Web Mercator's edge
_HOVER_LINES = 10


def incident_line(incident: dict[str, Any]) -> str:
    """One incident in a marker's hover text."""
    return f"{incident['title']} (severity {incident['severity']}, {incident['status']})"


def world_px(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """MapLibre's world pixel of (lon, lat) at ``zoom`` (512-px tiles, Web Mercator), y down."""
    world = WORLD_PX * 2.0 ** zoom
    lat = max(-MAX_LAT, min(MAX_LAT, float(lat)))
    x = (float(lon) + 180.0) / 360.0 * world
    y = (1.0 - math.log(math.tan(math.pi / 4 + lat * (math.pi / 180) / 2)) / math.pi) / 2.0 * world
    return x, y


def stack(messages: list[dict[str, Any]], zoom: float, distance_px: float = MARKER_PX) -> list[list[dict[str, Any]]]:
    """The open incidents as places at ``zoom``: lists of messages, the worst (most severe, then
    latest update) first in each and the place of the worst incident first. An incident joins
    the first place whose first incident is closer than ``distance_px`` (a marker's width on the
    live map; the wall's wider markers give their own) (greedy, as the wall)."""
    world = WORLD_PX * 2.0 ** zoom
    # Most severe first, then the latest update, then by id (sorts are stable: the last key first).
    open_ = sorted((m for m in messages if m["incident"].get("status") != "closed"), key=lambda m: m["incident"]["id"])
    open_.sort(key=lambda m: str(m["incident"].get("updated_at") or ""), reverse=True)
    open_.sort(key=lambda m: -int(m["incident"]["severity"]))
    places: list[tuple[float, float, list[dict[str, Any]]]] = []
    for message in open_:
        x, y = world_px(message["incident"]["lon"], message["incident"]["lat"], zoom)
        for px, py, members in places:
            dx = abs(px - x)
            dx = min(dx, world - dx)  # across the antimeridian
            if dx * dx + (py - y) ** 2 < distance_px * distance_px:
                members.append(message)
                break
        else:
            places.append((x, y, [message]))
    return [members for _, _, members in places]


def stack_key(places: list[list[dict[str, Any]]]) -> str:
    """What the places are, as a string the browser writes the same way (crisis_places.js key)."""
    return "|".join(",".join(m["incident"]["id"] for m in members) for members in places)


def place_hover(members: list[dict[str, Any]]) -> str:
    """A place's hover text: the incident, or how many are there and which (the worst first)."""
    if len(members) == 1:
        return incident_line(members[0]["incident"])
    lines = [f"<b>{len(members)} incidents here</b> (a click opens the most severe)"]
    lines += [incident_line(m["incident"]) for m in members[:_HOVER_LINES]]
    if len(members) > _HOVER_LINES:
        lines.append(f"and {len(members) - _HOVER_LINES} more")
    return "<br>".join(lines)


def circle_polygon(lat: float, lon: float, radius_km: float, steps: int = _CIRCLE_STEPS) -> dict[str, Any]:
    """A GeoJSON Polygon approximating the geodesic circle around (lat, lon)."""
    azimuths = np.linspace(0.0, 360.0, steps, endpoint=False)
    lons, lats, _ = _GEOD.fwd(
        np.full(steps, lon), np.full(steps, lat), azimuths, np.full(steps, radius_km * 1000.0)
    )
    # Near the antimeridian fwd wraps longitudes; keep the ring continuous around the centre.
    lons = np.where(lons - lon > 180, lons - 360, np.where(lons - lon < -180, lons + 360, lons))
    ring = [[round(float(x), 5), round(float(y), 5)] for x, y in zip(lons, lats)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def display_area(incident: dict[str, Any]) -> dict[str, Any] | None:
    """The geometry to shade for an incident, or None when no area is known."""
    if incident.get("area"):
        return incident["area"]  # type: ignore[no-any-return]
    if incident.get("radius_km"):
        return circle_polygon(incident["lat"], incident["lon"], incident["radius_km"])
    return None


def incident_message(incident: dict[str, Any], event_type: str, stream_id: str) -> dict[str, Any]:
    """What the browser receives for one incident (live push, replay and snapshot alike)."""
    return {
        "stream_id": stream_id,
        "event": event_type,
        "incident": incident,
        "display_area": display_area(incident),
        "colour": SEVERITY_COLOURS.get(int(incident["severity"]), "#555555"),
    }


def area_features(messages: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """One FeatureCollection of affected areas per severity (open incidents only)."""
    collections: dict[int, dict[str, Any]] = {
        s: {"type": "FeatureCollection", "features": []} for s in SEVERITY_COLOURS
    }
    for message in messages:
        incident = message["incident"]
        if message["display_area"] is None or incident.get("status") == "closed":
            continue
        collections[int(incident["severity"])]["features"].append(
            {"type": "Feature", "geometry": message["display_area"], "properties": {"id": incident["id"]}}
        )
    return collections
