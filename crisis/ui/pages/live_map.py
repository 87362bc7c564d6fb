"""The live map: incidents and travellers, updated by push without reloading."""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, dcc, html
from flask import current_app, g

from crisis.layers import map_figure
from crisis.ui import ids
from crisis.ui.views import live_picture

def layout(**_query: Any) -> html.Div:
    ctx = current_app.extensions["crisis"]
    picture = live_picture(ctx, g.principal)
    style = current_app.config.get("CRISIS_MAP_STYLE", "white-bg")
    figure = map_figure.map_figure(picture["incidents"], picture["lat"], picture["lon"], style)
    area_first = len(figure.layout.map.layers) - len(map_figure.SEVERITY_COLOURS)
    return html.Div(
        className="live-page",
        children=[
            dcc.Store(id=ids.MAP_MOUNTED, data={"head": picture["head"], "area_layer_first": area_first}),
            dcc.Graph(
                id=ids.MAP,
                figure=figure,
                className="live-map",
                style={"height": "100%"},
                config={"displaylogo": False, "scrollZoom": True},
            ),
            html.Aside(
                className="incident-panel",
                children=[html.H2("Open incidents"), html.Ul(id=ids.INCIDENT_LIST, className="incident-list")],
            ),
        ],
    )


dash.register_page(__name__, path="/", name="Live map", title="Live map - Crisis Coordination Centre", layout=layout)

dash.clientside_callback(
    ClientsideFunction("crisis", "map"),
    Output(ids.MAP, "figure"),
    Input(ids.LIVE_SIGNAL, "data"),
    Input(ids.MAP_MOUNTED, "data"),
)

dash.clientside_callback(
    ClientsideFunction("crisis", "incidentList"),
    Output(ids.INCIDENT_LIST, "children"),
    Input(ids.LIVE_SIGNAL, "data"),
    Input(ids.MAP_MOUNTED, "data"),
)
