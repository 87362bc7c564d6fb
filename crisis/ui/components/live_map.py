"""The live map component: a server-rendered first picture that the browser then patches."""

from __future__ import annotations

from dash import dcc, html
from flask import current_app, g

from crisis.layers import map_figure
from crisis.ui import ids
from crisis.views import live_picture


def live_map(class_name: str = "live-map") -> list[object]:
    """The map and its mount store; the clientside "map" callback keeps it live."""
    picture = live_picture(current_app.extensions["crisis"], g.principal)
    style = current_app.config.get("CRISIS_MAP_STYLE", "white-bg")
    figure = map_figure.map_figure(picture["incidents"], picture["lat"], picture["lon"], style)
    area_first = len(figure.layout.map.layers) - len(map_figure.SEVERITY_COLOURS)
    return [
        dcc.Store(id=ids.MAP_MOUNTED, data={"head": picture["head"], "area_layer_first": area_first}),
        html.Div(
            className=class_name,
            children=dcc.Graph(
                id=ids.MAP,
                figure=figure,
                style={"height": "100%"},
                config={"displaylogo": False, "scrollZoom": True},
            ),
        ),
    ]
