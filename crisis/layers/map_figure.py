"""The live map's figure: offline basemap layers, incident areas and incidents.

Travellers are not in the figure: the browser draws them as a MapLibre layer of their own
on the map Plotly creates, clustered in MapLibre's worker and fed from the socket's
positions (assets/crisis_live.js; docs/adr/004-travellers-layer.md). A Plotly trace of
100,000 points made every incident redraw re-send and re-process all of them. The
figure keeps an empty "Travellers" trace at ``TRAVELLER_TRACE`` so the trace positions
stay what the pages and the browser expect.

Trace and layer positions are fixed (``TRAVELLER_TRACE``, ``INCIDENT_TRACE``,
``AREA_LAYER_FIRST``) because the browser patches them by index; assets/crisis_live.js
uses the same numbers, read from the page's live-config store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import numpy as np
import plotly.graph_objects as go

from crisis.layers.incidents import (
    MARKER_PX,
    SEVERITY_COLOURS,
    STACKED_PX,
    area_features,
    incident_line,
    place_hover,
    stack,
)

TRAVELLER_TRACE = 0
INCIDENT_TRACE = 1
# Fixed trace uids: Plotly names a trace's MapLibre layers plotly-trace-layer-<uid>-<fill|line|
# circle|symbol>, which the layout layers below are placed under by name.
TRAVELLER_UID = "travellers"
INCIDENT_UID = "incidents"
_TRACE_LAYER = "plotly-trace-layer-"
# Where each layout layer goes (its ``below``), one name per layer: Plotly removes and adds
# again, at every redraw, every layout layer whose ``below`` another layer shares (to keep
# their order), and MapLibre then tiles its source again; with seven layers all "traces",
# each incident redrawn re-tiled the basemap and every incident area (more worker time and
# map frames: BENCHMARKS.md section 8). So each goes under its own trace layer, in order: the
# travellers' placeholder trace is empty, and the incident trace (markers) has no fill or
# line, so the layers between them draw nothing. Style order: basemap fill, basemap line,
# areas of severity 1 to 5, the travellers (assets/crisis_live.js: under the incident trace's
# circle layer), the incident markers.
LAYER_BELOW = (
    "traces",  # the first trace layer, the travellers' fill: a name of its own, not shared
    f"{_TRACE_LAYER}{TRAVELLER_UID}-fill",
    f"{_TRACE_LAYER}{TRAVELLER_UID}-line",
    f"{_TRACE_LAYER}{TRAVELLER_UID}-circle",
    f"{_TRACE_LAYER}{TRAVELLER_UID}-symbol",
    f"{_TRACE_LAYER}{INCIDENT_UID}-fill",
    f"{_TRACE_LAYER}{INCIDENT_UID}-line",
)
AREA_LAYER_FIRST = 2  # layers 0-1 are the basemap; then one area layer per severity
BASEMAP_URL = "/assets/basemap/countries.geojson"
ONLINE_STYLES = {"open-street-map", "carto-positron", "carto-darkmatter", "basic", "dark", "light", "outdoors", "satellite", "satellite-streets", "streets"}
# From this zoom on, the browser draws the 1:10m detail (assets/crisis_basemap.js, data
# built by scripts/build_basemap.py) in place of the 1:110m countries, which stop here.
DETAIL_ZOOM = 4


def is_online_style(map_style: str) -> bool:
    """A style drawn from a tile server: one of plotly's named online styles, or the
    http(s) address of a MapLibre style document (an online or self-hosted server)."""
    return map_style in ONLINE_STYLES or map_style.lower().startswith(("http://", "https://"))


def figure_style(map_style: str) -> str:
    """The figure's ``map.style``: the configured online style, else the offline white
    background that the basemap layers draw on."""
    return map_style if is_online_style(map_style) else "white-bg"


def style_origin(map_style: str) -> str | None:
    """The origin (scheme://host[:port]) of a style given by address, for the CSP."""
    if not map_style.lower().startswith(("http://", "https://")):
        return None
    parts = urlsplit(map_style)
    if not parts.hostname:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2].lower()}"


def basemap_layers(map_style: str) -> list[dict[str, Any]]:
    """The offline Natural Earth 1:110m basemap as map layers, up to ``DETAIL_ZOOM``
    (none for an online style)."""
    if is_online_style(map_style):
        return []
    return [
        {"sourcetype": "geojson", "source": BASEMAP_URL, "type": "fill", "color": "#dfe5ea", "below": LAYER_BELOW[0],
         "maxzoom": DETAIL_ZOOM},
        {"sourcetype": "geojson", "source": BASEMAP_URL, "type": "line", "color": "#8a99a8", "line": {"width": 0.6},
         "below": LAYER_BELOW[1], "maxzoom": DETAIL_ZOOM},
    ]


def _area_layers(incident_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    areas = area_features(incident_messages)
    return [
        {"sourcetype": "geojson", "source": areas[s], "type": "fill", "color": colour, "opacity": 0.25,
         "below": LAYER_BELOW[AREA_LAYER_FIRST + i]}
        for i, (s, colour) in enumerate(SEVERITY_COLOURS.items())
    ]


WORLD_VIEW = {"center": {"lat": 20, "lon": 15}, "zoom": 1.2}


def incident_columns(incident_messages: list[dict[str, Any]], zoom: float = WORLD_VIEW["zoom"]) -> dict[str, list[Any]]:
    """One point per open incident. Stacked places (crisis.layers.incidents.stack at ``zoom``)
    show only their worst incident, wider (its count is an HTML label: the offline style has
    no glyphs for map text, assets/crisis_places.js); the others are there, transparent, so a
    hover or click on any of them is the place's: every point's hover text is its place's."""
    incidents = [m["incident"] for m in incident_messages if m["incident"].get("status") != "closed"]
    hover: dict[str, str] = {}
    shown: dict[str, tuple[float, int]] = {}
    for members in stack(incident_messages, zoom):
        text = place_hover(members)
        for n, message in enumerate(members):
            hover[message["incident"]["id"]] = text
            shown[message["incident"]["id"]] = (0.0, MARKER_PX) if n else (0.95, STACKED_PX if len(members) > 1 else MARKER_PX)
    return {
        "lat": [i["lat"] for i in incidents],
        "lon": [i["lon"] for i in incidents],
        "text": [incident_line(i) for i in incidents],
        "hovertext": [hover[i["id"]] for i in incidents],
        "customdata": [i["id"] for i in incidents],
        "color": [SEVERITY_COLOURS.get(int(i["severity"]), "#555") for i in incidents],
        "opacity": [shown[i["id"]][0] for i in incidents],
        "size": [shown[i["id"]][1] for i in incidents],
    }


def map_figure(incident_messages: list[dict[str, Any]], map_style: str = "white-bg",
               view: dict[str, Any] | None = None) -> go.Figure:
    """The figure; ``view`` ({"center", "zoom"}) where it opens, the world by default."""
    view = view or WORLD_VIEW
    columns = incident_columns(incident_messages, float(view["zoom"]))
    # A placeholder: the travellers are the browser's MapLibre layer (see the module docstring).
    travellers = go.Scattermap(
        name="Travellers",
        uid=TRAVELLER_UID,
        lat=np.zeros(0, dtype=np.float32),
        lon=np.zeros(0, dtype=np.float32),
        mode="markers",
        showlegend=False,
        hoverinfo="skip",
    )
    incidents = go.Scattermap(
        name="Incidents",
        uid=INCIDENT_UID,
        lat=columns["lat"],
        lon=columns["lon"],
        text=columns["text"],
        hovertext=columns["hovertext"],
        customdata=columns["customdata"],
        mode="markers",
        marker={"size": columns["size"], "color": columns["color"], "opacity": columns["opacity"]},
        hovertemplate="%{hovertext}<extra></extra>",
    )
    figure = go.Figure([travellers, incidents])
    figure.update_layout(
        map={
            "style": figure_style(map_style),
            "center": view["center"],
            "zoom": view["zoom"],
            "layers": basemap_layers(map_style) + _area_layers(incident_messages),
        },
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        uirevision="live-map",
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"},
        paper_bgcolor="#f5f7f9",
    )
    return figure
