"""The live map component: a server-rendered first picture that the browser then patches.

The figure holds the incidents; the travellers come over the socket and are drawn by the
browser as a MapLibre layer (assets/crisis_live.js, docs/adr/004-travellers-layer.md).
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from flask import current_app, g

from crisis.domain import access
from crisis.domain.model import SEVERITY_LABELS
from crisis.domain.regions import initial_view
from crisis.layers import map_figure
from crisis.layers.incidents import stack, stack_key
from crisis.ui import ids
from crisis.views import live_incidents

# The map's legend of traveller colours: (status, label), in the order of the colour rank
# of assets/crisis_live.js (STATUS_RANK; the worst status of a cluster is its colour).
TRAVELLER_LEGEND = (
    ("needs_help", "needs help"),
    ("unreachable", "unreachable"),
    ("unsure", "unsure"),
    ("no_response", "no response"),
    ("safe", "safe"),
    ("none", "not affected"),
)


def traveller_legend() -> html.Div:
    """Which colour is which accountability status (a ring: affected by an open incident)."""
    return html.Div(
        className="trav-legend",
        children=[
            html.Span("Travellers:", className="trav-legend-title"),
            *[html.Span([html.Span(className=f"trav-dot trav-{status}"), label], className="trav-legend-item")
              for status, label in TRAVELLER_LEGEND],
            html.Span([html.Span(className="trav-dot trav-none trav-affected"), "affected"], className="trav-legend-item"),
        ],
    )


def severity_legend() -> html.Div:
    """Which colour is which incident severity (the markers' colours, crisis.layers.incidents), worst first."""
    return html.Div(
        className="trav-legend sev-legend",
        children=[
            html.Span("Incidents:", className="trav-legend-title"),
            *[html.Span([html.Span(className=f"sev-dot sev-dot-{s}"), f"{s} {SEVERITY_LABELS[s]}"], className="trav-legend-item")
              for s in sorted(SEVERITY_LABELS, reverse=True)],
        ],
    )


def map_legend() -> html.Div:
    """The map's legend, bottom left: incident severities above traveller colours."""
    return html.Div(className="map-legend", children=[severity_legend(), traveller_legend()])


def opening_view(principal: Any) -> dict[str, Any]:
    """Where the live map opens: a regional desk's on its region(s), the others on the world."""
    return initial_view(access.regions_of(principal)) or map_figure.WORLD_VIEW


def live_map(class_name: str = "live-map") -> list[object]:
    """The map and its mount store; the clientside "map" callback keeps it live."""
    picture = live_incidents(current_app.extensions["crisis"], g.principal)
    style = current_app.config.get("CRISIS_MAP_STYLE", "white-bg")
    view = opening_view(g.principal)
    figure = map_figure.map_figure(picture["incidents"], style, view)
    area_first = len(figure.layout.map.layers) - len(map_figure.SEVERITY_COLOURS)
    # The places the figure shows (crisis_places.js compares them with its own at the map's zoom).
    places = stack_key(stack(picture["incidents"], float(view["zoom"])))
    return [
        dcc.Store(id=ids.MAP_MOUNTED, data={"head": picture["head"], "area_layer_first": area_first, "places": places,
                                            "zoom": view["zoom"]}),
        html.Div(
            className=class_name,
            children=[
                dcc.Graph(
                    id=ids.MAP,
                    figure=figure,
                    style={"height": "100%"},
                    config={"displaylogo": False, "scrollZoom": True},
                ),
                map_legend(),
            ],
        ),
    ]
