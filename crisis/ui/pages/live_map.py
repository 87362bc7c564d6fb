"""The live map: incidents and travellers, updated by push without reloading."""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, html

from crisis.ui import ids
from crisis.ui.components.live_map import live_map

def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="live-page",
        children=[
            *live_map(),
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
