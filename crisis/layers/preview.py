"""The map's picture: the countries and the open incidents drawn as SVG, no I/O.

A page with a map shows this picture in the map's place at once (crisis/ui/map_preview.py,
assets/crisis_preview.js) and replaces it with the interactive map once that has drawn its
data: the WebGL map cannot paint in under a second with three pages on two cores
(docs/adr/009-page-load.md), a picture the browser decodes can.

It must be the very view the interactive map opens on, so it uses MapLibre's projection:
Web Mercator with 512-px tiles, a point's world pixel at zoom z being
``((lon + 180) / 360, (180 - 180/pi * ln(tan(pi/4 + lat/2))) / 360) * 512 * 2**z``
(maplibre-gl ``mercatorXfromLng``/``mercatorYfromLat`` times the world size).

The picture is always the whole world, once (Plotly's map does not repeat the world, so
MapLibre keeps the world covering the map's box: it zooms in when the world would be
narrower or shorter than the box, and keeps the world's edges outside it). The page
(assets/crisis_preview.css) sizes it as MapLibre does, ``max(world, box width, box
height)``, and places it so the view's centre is on the box's centre within those edges.

- a duty officer's or a desk's map: the world at the view's zoom, markers in px;
- the wall (the world fitted to the panel's width, assets/crisis_wall.js ``fitWorld``): the
  world at zoom 1 (1,024 px), markers sized as the wall's (a 16:9 wall's rem in world units).

Incidents closer than a marker's width are one place (as on the wall, crisis_wall.js
``places``): the worst severity's colour, the count when several. The picture carries no
title, name or text but counts: a wall never shows names, and it is the same picture for
every role (only which incidents are in it differs, by the caller's access).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

from crisis.layers.incidents import MARKER_PX, SEVERITY_COLOURS, STACKED_PX, WORLD_PX, stack, world_px

# The wall's world: zoom 1, scaled by the page to the panel's width.
FIT_ZOOM = 1.0
# The wall's rem in world units at FIT_ZOOM: its root size is 1.25vh (at least 14 px) and
# its map panel ~53.5 % of the width, so on any 16:9 wall a rem is ~7 of the 512 px of the
# world at zoom 0 (14 px on a 1,027-px panel at 1920x1080; 27 px on 2,055 px at 4K).
WALL_REM = 14.0
LIVE_MARKER_PX = float(MARKER_PX)  # the incident trace's marker size (crisis/layers/map_figure.py)

# assets/wall.css --sev1..--sev5: the wall's own, brighter on its dark map.
WALL_COLOURS = {1: "#4aa3df", 2: "#8fd18a", 3: "#f6b04a", 4: "#ff3b30", 5: "#c43dd1"}


@dataclass(frozen=True)
class Look:
    background: str
    land: str
    border: str
    border_width: float
    colours: dict[int, str]
    marker_d: float        # one incident's marker diameter
    stacked_d: float       # a place of several
    stack_distance: float  # closer than this: one place
    ring: str | None       # the marker's outline (the wall's white ring)
    ring_width: float
    count_size: float


# The live map's incident ring (assets/crisis_live.js INCIDENT_RING): people's dots share the colours.
LIVE = Look("#ffffff", "#dfe5ea", "#8a99a8", 0.6, dict(SEVERITY_COLOURS), LIVE_MARKER_PX, float(STACKED_PX), LIVE_MARKER_PX,
            "#111827", 2.0, 12.0)
WALL = Look("#0b1219", "#2c3a48", "#6d8196", 0.6, WALL_COLOURS, 1.3 * WALL_REM, 2.2 * WALL_REM, 2.2 * WALL_REM * 0.8,
            "#ffffff", 0.15 * WALL_REM, 1.1 * WALL_REM)


def _rings(geometry: dict[str, Any]) -> Iterable[Sequence[Sequence[float]]]:
    kind = geometry.get("type")
    if kind == "Polygon":
        yield from geometry["coordinates"]
    elif kind == "MultiPolygon":
        for polygon in geometry["coordinates"]:
            yield from polygon


def ring_path(ring: Sequence[Sequence[float]], zoom: float, step: float = 1.0) -> str:
    """One closed ring as SVG path data (the first point absolute, then relative moves),
    points rounded to ``step`` px, repeats dropped."""
    out: list[str] = []
    last: tuple[float, float] | None = None
    for lon, lat, *_ in ring:
        x, y = world_px(lon, lat, zoom)
        point = (round(x / step) * step, round(y / step) * step)
        if last is None:
            out.append(f"M{point[0]:g} {point[1]:g}l")
        elif point != last:
            out.append(f"{point[0] - last[0]:g} {point[1] - last[1]:g} ")
        else:
            continue
        last = point
    if len(out) < 3:
        return ""
    return "".join(out).rstrip() + "Z"


@lru_cache(maxsize=32)
def _land(countries_key: int, zoom: float) -> str:
    countries = _COUNTRIES[countries_key]
    step = 1.0 if zoom >= 1 else 0.5
    return "".join(ring_path(r, zoom, step=step) for f in countries["features"] for r in _rings(f["geometry"] or {}))


# The basemaps drawn (by id), so the land's path data can be cached per (basemap, zoom).
_COUNTRIES: dict[int, dict[str, Any]] = {}


def land_path(countries: dict[str, Any], zoom: float) -> str:
    """Every country's outline as one path, in world px at ``zoom`` (cached per zoom)."""
    _COUNTRIES.setdefault(id(countries), countries)
    return _land(id(countries), round(zoom, 2))


@dataclass(frozen=True)
class Place:
    x: float
    y: float
    severity: int
    count: int


def _markers(found: list[Place], look: Look) -> str:
    out = []
    for p in found:
        d = look.stacked_d if p.count > 1 else look.marker_d
        colour = look.colours.get(p.severity, "#555555")
        ring = f' stroke="{look.ring}" stroke-width="{look.ring_width:g}"' if look.ring else ""
        out.append(f'<circle cx="{p.x:.1f}" cy="{p.y:.1f}" r="{d / 2:g}" fill="{colour}" fill-opacity="0.95"{ring}/>')
        if p.count > 1:
            out.append(f'<text x="{p.x:.1f}" y="{p.y:.1f}" font-size="{look.count_size:g}">{p.count}</text>')
    return "".join(out)


def _areas(messages: Iterable[dict[str, Any]], zoom: float) -> str:
    """The incident areas, in the map's colours on every page (the wall keeps them too)."""
    out = []
    for m in messages:
        incident, area = m["incident"], m.get("display_area")
        if not area or incident.get("status") == "closed":
            continue
        d = "".join(ring_path(r, zoom) for r in _rings(area))
        if d:
            colour = SEVERITY_COLOURS.get(int(incident["severity"]), "#555555")
            out.append(f'<path d="{d}" fill="{colour}" fill-opacity="0.25"/>')
    return "".join(out)


def _svg(width: float, height: float, look: Look, body: str, incidents: int, shown: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}" '
            f'viewBox="0 0 {width:g} {height:g}" data-incidents="{incidents}" data-places="{shown}">'
            f'<title>A picture of the map, not live: {incidents} open incidents</title>'
            f'<rect width="100%" height="100%" fill="{look.background}"/>{body}</svg>')


def _text_style() -> str:
    return ('<style>text{fill:#fff;font-family:"DejaVu Sans",sans-serif;font-weight:800;'
            'text-anchor:middle;dominant-baseline:central}</style>')


def world_picture(countries: dict[str, Any], messages: list[dict[str, Any]], zoom: float, look: Look = LIVE) -> str:
    """The whole world at ``zoom``, ``512 * 2**zoom`` px square (the page scales and places it)."""
    size = WORLD_PX * 2.0 ** zoom
    land = (f'<path d="{land_path(countries, zoom)}" fill="{look.land}" stroke="{look.border}" '
            f'stroke-width="{look.border_width:g}"/>')
    # The live map's own grouping (its markers' distance, or the wall's): the same places, worst first.
    found = []
    for members in stack(messages, zoom, look.stack_distance):
        worst = members[0]["incident"]
        found.append(Place(*world_px(worst["lon"], worst["lat"], zoom), int(worst["severity"]), len(members)))
    incidents = sum(p.count for p in found)
    body = land + _areas(messages, zoom) + _text_style() + _markers(found, look)
    return _svg(size, size, look, body, incidents, len(found))
