"""The live map: incidents and travellers, updated by push without reloading.

Clicking an incident on the map shows who it affects in ``INCIDENT_PEOPLE`` (filled by
assets/crisis_live.js from GET /api/v1/incidents/{id}/affected, its counts kept live by
the "affected" socket messages); hovering or clicking a traveller shows who, status,
position source and age.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, html, no_update
from flask import current_app, g

from crisis.ui import ids
from crisis.ui.commands import EDITORS, report_from_form
from crisis.ui.components.live_map import live_map
from crisis.ui.components.report_form import report_form

# Filled by assets/crisis_live.js (set_props) when an incident is clicked on the map.
INCIDENT_PEOPLE = "map-incident-people"


def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="live-page",
        children=[
            *live_map(),
            html.Aside(
                className="incident-panel",
                children=[
                    report_form() if g.principal.role in EDITORS else None,
                    html.P("Click the map to report an incident there.", className="report-hint") if g.principal.role in EDITORS else None,
                    html.P("Click an incident to see who it affects; click a traveller to see who it is.", className="report-hint"),
                    html.Section(id=INCIDENT_PEOPLE, className="map-people", style={"display": "none"}),
                    # Who is coming to the picked incident (assets/crisis_dispatch.js).
                    html.Section(id=ids.MAP_COMING, className="map-coming", style={"display": "none"}),
                    html.H2("Open incidents"),
                    html.Ul(id=ids.INCIDENT_LIST, className="incident-list"),
                ],
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

dash.clientside_callback(
    ClientsideFunction("crisis", "reportOpen"),
    Output(ids.REPORT_PANEL, "style"),
    Output(ids.REPORT_WHERE, "children"),
    Input(ids.REPORT_CLICK, "data"),
)

dash.clientside_callback(
    ClientsideFunction("crisis", "reportClose"),
    Output(ids.REPORT_PANEL, "style", allow_duplicate=True),
    Input(ids.REPORT_CANCEL, "n_clicks"),
    prevent_initial_call=True,
)


@dash.callback(
    Output(ids.REPORT_RESULT, "children"),
    Output(ids.REPORT_TITLE, "value"),
    Input(ids.REPORT_SUBMIT, "n_clicks"),
    State(ids.REPORT_CLICK, "data"),
    State(ids.REPORT_TITLE, "value"),
    State(ids.REPORT_TYPE, "value"),
    State(ids.REPORT_SEVERITY, "value"),
    State(ids.REPORT_RADIUS, "value"),
    State(ids.REPORT_DESCRIPTION, "value"),
    prevent_initial_call=True,
)
def submit_report(clicks, where, title, kind, severity, radius, description):  # type: ignore[no-untyped-def]
    if not clicks or not where:
        return no_update, no_update
    form = {"title": title, "type": kind, "severity": severity, "lat": where["lat"], "lon": where["lon"],
            "radius_km": radius, "description": description or ""}
    incident_id, message = report_from_form(current_app.extensions["crisis"], g.principal, form)
    return message, ("" if incident_id else no_update)
