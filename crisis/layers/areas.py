"""Security areas and movements as map drawing: pure functions, plotly-ready dicts.

* ``area_layers``: map layout layers (``figure.layout.map.layers``), one fill and one
  outline per phase, coloured by phase (``PHASE_COLOURS``); a country area is drawn with
  its country's outline (pass ``country_shapes``: ``crisis.views_areas.country_shapes``).
* ``movement_traces``: two ``scattermap`` traces: the movements' lines, each from the
  area's centre to its safe haven along the great circle, and a marker at each safe haven
  labelled "arrived a / moving m / to move t" (and "k overdue"), red when anyone is overdue.
* ``movement_lines``: the same facts as plain records, for a table or a custom drawing.
* ``areas_figure``: the whole map of the Areas page (basemap, areas by phase, movements).

The areas given are those the viewer may see (``crisis.views_areas.areas_view``), so
nothing here filters by role. Overdue is recomputed for ``now``: an expected arrival
passes without any event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from pyproj import Geod

from crisis.domain.areas import ROMAN, with_overdue

PHASE_COLOURS = {0: "#9e9e9e", 1: "#fdd835", 2: "#fb8c00", 3: "#e53935", 4: "#b71c1c", 5: "#4a148c"}
OVERDUE_COLOUR = "#d50000"
ON_TIME_COLOUR = "#1b5e20"
LINE_COLOUR = "#263238"
_LINE_STEPS = 24
_GEOD = Geod(ellps="WGS84")


def area_geometry(area: Mapping[str, Any], country_shapes: Mapping[str, Mapping[str, Any]] | None = None) -> Mapping[str, Any] | None:
    """The geometry to shade for an area: its polygon, else its country's outline, else None."""
    if area.get("geometry"):
        return area["geometry"]  # type: ignore[no-any-return]
    if area.get("country") and country_shapes:
        return country_shapes.get(str(area["country"]).upper())
    return None


def area_features(areas: Sequence[Mapping[str, Any]],
                  country_shapes: Mapping[str, Mapping[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    """One GeoJSON FeatureCollection per phase (0-5), each feature an area."""
    out: dict[int, dict[str, Any]] = {p: {"type": "FeatureCollection", "features": []} for p in PHASE_COLOURS}
    for area in areas:
        geometry = area_geometry(area, country_shapes)
        if geometry is None:
            continue
        phase = int(area.get("phase", 0))
        out[phase]["features"].append({"type": "Feature", "geometry": dict(geometry), "properties": {
            "id": area["id"], "name": area.get("name"), "phase": phase, "phase_label": ROMAN[phase]}})
    return out


def area_layers(areas: Sequence[Mapping[str, Any]], country_shapes: Mapping[str, Mapping[str, Any]] | None = None,
                opacity: float = 0.25, include_phase_zero: bool = False) -> list[dict[str, Any]]:
    """Map layout layers: for each phase, a fill and an outline (fixed order: phase 0 or 1
    to 5, fill then line, so the page can patch a layer by index). Phase 0 areas are left
    out unless ``include_phase_zero``."""
    layers: list[dict[str, Any]] = []
    for phase, collection in area_features(areas, country_shapes).items():
        if phase == 0 and not include_phase_zero:
            continue
        colour = PHASE_COLOURS[phase]
        layers.append({"sourcetype": "geojson", "source": collection, "type": "fill", "color": colour,
                       "opacity": opacity, "below": "traces", "name": f"phase {ROMAN[phase]}"})
        layers.append({"sourcetype": "geojson", "source": collection, "type": "line", "color": colour,
                       "line": {"width": 2}, "below": "traces"})
    return layers


def movement_label(counts: Mapping[str, int]) -> str:
    """"arrived a / moving m / to move t", then ", k overdue" and ", s stayed" when any."""
    text = f"arrived {counts.get('arrived', 0)} / moving {counts.get('moving', 0)} / to move {counts.get('to_move', 0)}"
    if counts.get("overdue"):
        text += f", {counts['overdue']} overdue"
    if counts.get("stayed"):
        text += f", {counts['stayed']} stayed"
    return text


def great_circle(lat1: float, lon1: float, lat2: float, lon2: float, steps: int = _LINE_STEPS,
                 digits: int = 5) -> tuple[list[float], list[float]]:
    """``steps + 1`` points along the geodesic (WGS84), endpoints included, longitudes kept
    continuous (they may leave -180..180 so a line across the antimeridian is drawn the
    short way). The one line-drawing rule: movement lines here, dispatch routes
    (``crisis.views_roster.path``)."""
    middle = _GEOD.npts(lon1, lat1, lon2, lat2, steps - 1) if steps > 1 else []
    lons = np.unwrap(np.array([lon1, *(p[0] for p in middle), lon2], dtype=np.float64), period=360.0)
    lats = np.array([lat1, *(p[1] for p in middle), lat2], dtype=np.float64)
    return np.round(lats, digits).tolist(), np.round(lons, digits).tolist()


def movement_lines(areas: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """One record per open movement with a safe haven: area, from, to, counts, label, overdue."""
    out = []
    for area in areas:
        movement = area.get("movement")
        if not movement or not movement.get("safe_haven") or movement.get("closed_at"):
            continue
        current = with_overdue(movement, now) if movement.get("people") else movement
        counts = current["counts"]
        centre = area.get("centre") or {}
        if "lat" not in centre:
            continue
        haven = movement["safe_haven"]
        out.append({
            "area_id": area["id"], "area_name": area.get("name"), "action": movement["action"],
            "phase": area.get("phase"), "mode": movement.get("mode"), "expected_arrival": movement.get("expected_arrival"),
            "from": {"lat": float(centre["lat"]), "lon": float(centre["lon"])},
            "to": {"name": haven["name"], "lat": float(haven["lat"]), "lon": float(haven["lon"])},
            "counts": counts, "overdue": int(counts.get("overdue", 0)), "label": movement_label(counts),
        })
    return out


def movement_traces(areas: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Two ``scattermap`` trace dicts (lines, then safe-haven markers with labels); both
    empty when no movement is confirmed. ``customdata`` of a marker is its area id."""
    lines = movement_lines(areas, now)
    lat: list[float | None] = []
    lon: list[float | None] = []
    for line in lines:
        la, lo = great_circle(line["from"]["lat"], line["from"]["lon"], line["to"]["lat"], line["to"]["lon"])
        lat += [*la, None]
        lon += [*lo, None]
    path = {"type": "scattermap", "name": "Movements", "mode": "lines", "lat": lat, "lon": lon,
            "line": {"width": 3, "color": LINE_COLOUR}, "hoverinfo": "skip", "showlegend": False}
    havens = {
        # The counts beside each safe haven are drawn by the page (assets/crisis_basemap.js,
        # meta "html-labels"): as map text they would need glyphs from a font server.
        "type": "scattermap", "name": "Safe havens", "mode": "markers", "meta": "html-labels",
        "lat": [line["to"]["lat"] for line in lines], "lon": [line["to"]["lon"] for line in lines],
        "text": [line["label"] for line in lines],
        "customdata": [line["area_id"] for line in lines],
        "hovertext": [f"{line['area_name']} -> {line['to']['name']} ({line['action']}, {line['mode']}): {line['label']}"
                      for line in lines],
        "hoverinfo": "text",
        "marker": {"size": 13, "color": [OVERDUE_COLOUR if line["overdue"] else ON_TIME_COLOUR for line in lines]},
    }
    return [path, havens]


def areas_figure(areas: Sequence[Mapping[str, Any]], now: datetime, map_style: str,
                 country_shapes: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The Areas page's map: the basemap, every area shaded by phase, and each confirmed
    movement drawn to its safe haven with its counts (red when anyone is overdue). Centred
    on the areas when there are any."""
    from crisis.layers.map_figure import basemap_layers, figure_style

    centres = [a["centre"] for a in areas if isinstance(a.get("centre"), Mapping) and "lat" in a["centre"]]
    havens = [line["to"] for line in movement_lines(areas, now)]
    points = [(float(c["lat"]), float(c["lon"])) for c in centres] + [(h["lat"], h["lon"]) for h in havens]
    if points:
        lat0 = sum(p[0] for p in points) / len(points)
        lon0 = sum(p[1] for p in points) / len(points)
        spread = max(max(abs(p[0] - lat0), abs(p[1] - lon0)) for p in points)
        zoom = 6.0 if spread < 1 else 5.0 if spread < 3 else 3.5 if spread < 10 else 1.5
    else:
        lat0, lon0, zoom = 20.0, 15.0, 1.2
    return {
        "data": movement_traces(areas, now),
        "layout": {
            "map": {"style": figure_style(map_style), "center": {"lat": lat0, "lon": lon0},
                    "zoom": zoom, "layers": basemap_layers(map_style) + area_layers(areas, country_shapes)},
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "uirevision": "areas-map",
            "paper_bgcolor": "#f5f7f9",
        },
    }
