"""The wall display (/wall): the centre's picture, read from across the room, no controls.

Panels (ids in ``PANELS``): the map with the incidents and the people (``#wall-map``), the
most severe open incidents (``#wall-incidents``, saying how many are not shown), who is
accounted for (``#wall-accountability``, needs help first, counts only), movements under way
(``#wall-movements``), roster cover and its warnings (``#wall-roster``), and clocks in UTC and
``CRISIS_WALL_TIMEZONES`` (``#wall-clocks``).

URL parameters: ``panels=map,incidents`` shows only those (in that order); ``rotate=30``
shows one panel at a time, the next every 30 seconds; ``incidents=12`` how many incidents
the list shows at most (fewer when fewer fit the panel: the line under it counts every open
incident not shown). Without them: every panel at once.

The page is drawn once here (the first figures, from the read models as the viewer may see
them: a wall gets counts, no names); assets/crisis_wall.js then keeps it live from the
socket's pushes (incidents from ``window.crisisLive``, "accountability", "areas" and
"movement", "roster"), draws the incidents on the map as one marker per place with a count,
and turns the panels. The shell's links and sign-out are hidden on this page (assets/wall.css).
A display signs in with its display link or a pairing code (``crisis.auth.display``).
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dash
from dash import ClientsideFunction, Input, Output, dcc, html
from flask import current_app, g

from crisis import views
from crisis.domain import access
from crisis.domain.model import SEVERITY_LABELS
from crisis.domain.regions import REGIONS
from crisis.layers import map_figure
from crisis.layers.incidents import SEVERITY_COLOURS
from crisis.realtime import roster_push
from crisis.ui import ids
from crisis.ui.components.live_map import traveller_legend
from crisis.views_areas import areas_view

log = logging.getLogger(__name__)

ROOT = "wall-root"
SEED = "wall-seed"
STARTED = "wall-started"
PANELS = {
    "map": "wall-map",
    "incidents": "wall-incidents",
    "accountability": "wall-accountability",
    "movements": "wall-movements",
    "roster": "wall-roster",
    "clocks": "wall-clocks",
}
TITLES = {
    "incidents": "Most severe open incidents",
    "accountability": "Who is accounted for",
    "movements": "Movements under way",
    "roster": "Standby roster",
    "clocks": "Time",
}
# The incident list shows as many rows as fit its panel (assets/crisis_wall.js fitList), at
# most this many; `?incidents=N` asks for fewer. What is not shown is counted under the list.
MAX_INCIDENTS = 50
MIN_ROTATE_S = 5
MOVEMENT_ACTIONS = {3: "Relocation", 4: "Relocation out of the country", 5: "Evacuation"}


def _ctx() -> Any:
    return current_app.extensions["crisis"]


def chosen_panels(panels: str | None) -> list[str]:
    """The panels a ``panels=`` parameter names, in its order (unknown names are left out);
    every panel when none is named."""
    names = [p.strip().lower() for p in (panels or "").split(",") if p.strip()]
    picked = [p for p in dict.fromkeys(names) if p in PANELS]
    return picked or list(PANELS)


def rotation(rotate: str | None) -> int:
    """Seconds per panel (0: no rotation, every panel at once); at least ``MIN_ROTATE_S``."""
    try:
        seconds = int(float(rotate or 0))
    except ValueError:
        return 0
    return 0 if seconds <= 0 else max(MIN_ROTATE_S, seconds)


def time_zones(names: tuple[str, ...]) -> list[dict[str, str]]:
    """UTC, then each configured IANA zone with a short label ("Europe/Zurich" -> "Zurich");
    a name the time zone database does not know is left out (and logged)."""
    zones = [{"zone": "UTC", "label": "UTC"}]
    for name in names:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("CRISIS_WALL_TIMEZONES: unknown time zone %r left out", name)
            continue
        if name != "UTC":
            zones.append({"zone": name, "label": name.rsplit("/", 1)[-1].replace("_", " ")})
    return zones


def movement_rows(areas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The open movements of these areas (as the viewer may see them), counts only."""
    rows = []
    for area in areas:
        movement = area.get("movement")
        if not movement or movement.get("closed_at"):
            continue
        rows.append(movement_row(area))
    return rows


def movement_row(area: dict[str, Any]) -> dict[str, Any]:
    movement = area.get("movement") or {}
    phase = int(movement.get("phase") or area.get("phase") or 0)
    haven = movement.get("safe_haven") or {}
    return {
        "area": str(area.get("id")),
        "name": area.get("name") or str(area.get("id")),
        "region": area.get("region"),
        "action": MOVEMENT_ACTIONS.get(phase, "Movement"),
        "haven": haven.get("name") if isinstance(haven, dict) else None,
        "counts": dict(movement.get("counts") or {}),
        "accounted_pct": (movement.get("accountability") or {}).get("accounted_pct"),
    }


def _first_figures(principal: Any) -> dict[str, Any]:
    ctx = _ctx()
    seed: dict[str, Any] = {"accountability": None, "movements": [], "roster": None}
    try:
        seed["accountability"] = views.accountability_summary(ctx, principal)
    except Exception:
        log.exception("wall: accountability summary failed")
    try:
        seed["movements"] = movement_rows(areas_view(ctx, principal))
    except Exception:
        log.exception("wall: movements failed")
    try:
        figures = roster_push.summary(ctx)
        seed["roster"] = {"at": figures["at"], "standby_now": figures["standby_now"],
                          "warnings": roster_push.warnings_for(principal, figures["warnings"])}
    except Exception:
        log.exception("wall: roster summary failed")
    return seed


def wall_figure(incident_messages: list[dict[str, Any]], style: str) -> Any:
    """The live map's figure, dark; its incident trace transparent (the wall draws the incidents
    itself, one marker per place with a count: assets/crisis_wall.js)."""
    figure = map_figure.map_figure(incident_messages, style)
    # Not visible=False: without the trace, its MapLibre layers, which the incident areas are
    # placed under (map_figure.LAYER_BELOW), would not exist. Transparent, and no hover.
    incidents = figure.data[map_figure.INCIDENT_TRACE]
    incidents.marker.opacity = 0
    incidents.hoverinfo = "skip"
    incidents.hovertemplate = None
    layers = list(figure.layout.map.layers)
    for layer in layers[:map_figure.AREA_LAYER_FIRST]:
        if layer.type == "fill":
            layer.color = "#2c3a48"
        elif layer.type == "line":
            layer.color = "#6d8196"
    figure.update_layout(paper_bgcolor="#0b1219", map={"layers": layers})
    return figure


def _map_panel(principal: Any) -> html.Section:
    picture = views.live_incidents(_ctx(), principal)
    figure = wall_figure(picture["incidents"], current_app.config.get("CRISIS_MAP_STYLE", "white-bg"))
    area_first = len(figure.layout.map.layers) - len(map_figure.SEVERITY_COLOURS)
    legend = html.Div(className="wall-legend", children=[
        html.Span("Severity", className="wall-legend-title"),
        *[html.Span([html.Span(str(s), className=f"wall-sev-dot sev-bg-{s}"), SEVERITY_LABELS[s]],
                    className="wall-legend-item") for s in sorted(SEVERITY_COLOURS, reverse=True)],
        # A marker's number counts the incidents at that place; its colour is still the severity.
        html.Span([html.Span("3", className="wall-sev-dot wall-stack-dot"),
                   "a number: that many incidents at one place, in the colour of the most severe"],
                  className="wall-legend-item wall-legend-stack"),
    ])
    return html.Section(id=PANELS["map"], className="wall-panel wall-map-panel", children=[
        dcc.Store(id=ids.MAP_MOUNTED, data={"head": picture["head"], "area_layer_first": area_first}),
        html.Div(className="live-map wall-live-map", children=[
            dcc.Graph(id=ids.MAP, figure=figure, style={"height": "100%"},
                      config={"displayModeBar": False, "scrollZoom": False, "staticPlot": False,
                              "doubleClick": False, "showTips": False}),
            html.Div(id="wall-markers", className="wall-markers"),
            # One column at the bottom left: however each legend wraps, neither covers the other.
            html.Div(className="wall-legends", children=[traveller_legend(), legend]),
        ]),
    ])


def _panel(name: str, body: list[Any]) -> html.Section:
    return html.Section(id=PANELS[name], className=f"wall-panel wall-{name}-panel", children=[
        html.H2(TITLES[name], className="wall-panel-title"), *body])


def layout(panels: str | None = None, rotate: str | None = None, incidents: str | None = None,
           **_query: Any) -> html.Div:
    principal = g.principal
    picked = chosen_panels(panels)
    seconds = rotation(rotate)
    try:
        most = max(1, min(MAX_INCIDENTS, int(incidents or MAX_INCIDENTS)))
    except ValueError:
        most = MAX_INCIDENTS
    seed = {
        **_first_figures(principal),
        "panels": picked,
        "rotate": seconds,
        "max_incidents": most,
        "zones": time_zones(tuple(_ctx().settings.wall_timezones)),
        "severity": {str(s): {"label": SEVERITY_LABELS[s], "colour": c} for s, c in SEVERITY_COLOURS.items()},
        "regions": dict(REGIONS),
        "names": access.sees_names(principal),
    }
    built = {
        "map": lambda: _map_panel(principal),
        "incidents": lambda: _panel("incidents", [
            # Filled by assets/crisis_wall.js (whole rows that fit, the rest counted below).
            html.Ul(id="wall-incident-list", className="wall-incident-list"),
            html.P(id="wall-incidents-more", className="wall-more")]),
        "accountability": lambda: _panel("accountability", [
            html.Div(id="wall-accountability-total", className="wall-big"),
            html.Ul(id="wall-accountability-list", className="wall-rows")]),
        "movements": lambda: _panel("movements", [
            html.Div(id="wall-movements-total", className="wall-big"),
            html.Ul(id="wall-movements-list", className="wall-rows")]),
        "roster": lambda: _panel("roster", [
            html.Div(id="wall-roster-standby", className="wall-big"),
            html.Ul(id="wall-roster-warnings", className="wall-rows")]),
        "clocks": lambda: _panel("clocks", [html.Div(id="wall-clock-list", className="wall-clock-list")]),
    }
    mode = "wall-rotating" if seconds else "wall-all"
    return html.Div(id=ROOT, className=f"wall {mode} wall-n{len(picked)}", children=[
        dcc.Store(id=SEED, data=seed),
        dcc.Store(id=STARTED),
        *[built[name]() for name in picked],
    ])


dash.register_page(__name__, path="/wall", name="Wall", title="Wall - Crisis Coordination Centre", layout=layout,
                   nav=False)

# With an output: Dash does not run a callback without one for a page's own components.
dash.clientside_callback(
    ClientsideFunction("crisis", "wall"),
    Output(STARTED, "data"),
    Input(SEED, "data"),
)
