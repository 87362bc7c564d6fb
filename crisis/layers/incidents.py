"""Incidents as map drawing: marker columns, severity colours and affected areas.

An incident's affected area is its polygon if it has one, else a geodesic circle of its
radius (computed on the WGS84 ellipsoid, never buffered in degrees or Web Mercator).
The same ``incident_message`` feeds the first render and every live push, so the
browser draws a pushed incident exactly as a server-rendered one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")
_CIRCLE_STEPS = 64

SEVERITY_COLOURS = {1: "#2b83ba", 2: "#abdda4", 3: "#fdae61", 4: "#d7191c", 5: "#7a0177"}


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
