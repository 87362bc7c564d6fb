"""The live map: the duty officer's landing page (incidents and travellers, live).

- The open-incident list (``#incident-list``) and the incident panel (``#incident-panel``)
  beside the map are drawn by assets/crisis_workspace.js, straight into the DOM and only
  where something changed (no Dash round trip per pushed event), so a list item can be
  clicked and its text selected while positions stream. A list item or an incident marker
  opens the panel: facts (event age, last update), affected people (needs help first,
  "% accounted for"), movements under way around it, the best 5 surge candidates with
  Send, then Confirm (POST /api/v1/dispatches): a dispatch in 3 clicks from this page.
- Reporting is explicit: "Report an incident" (``#report-start``), then a click on the map,
  or coordinates or a place name typed in ``#report-place`` (the offline gazetteer,
  crisis/feeds/gazetteer.py), puts a pin there and opens the form.
"""

from __future__ import annotations

import json
import re
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from flask import current_app, g

from crisis.domain import access
from crisis.domain.regions import REGIONS
from crisis.domain.taxonomy import choices as type_choices
from crisis.feeds import towns
from crisis.feeds.gazetteer import gazetteer_for
from crisis.fusion.affected import default_radii
from crisis.ui import ids
from crisis.ui.commands import EDITORS, report_from_form
from crisis.ui.components.lifecycle import workflow_table
from crisis.ui.components.live_map import live_map
from crisis.ui.components.report_form import pinned, radius_km, report_form

# Kept for older page scripts: the panel of who an incident affects is now #incident-panel.
INCIDENT_PEOPLE = "map-incident-people"
PANEL = "incident-panel"
WORKSPACE_CONFIG = "workspace-config"
REPORT_START = "report-start"
REPORT_LOCATE = "report-locate"
REPORT_PLACE = "report-place"
REPORT_PLACE_GO = "report-place-go"
REPORT_PLACE_MESSAGE = "report-place-message"
REPORT_LOCATE_CANCEL = "report-locate-cancel"

_COORDS = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*$")


def workspace_config() -> html.Div:
    """What assets/crisis_workspace.js needs from the server, as a data attribute (no inline script)."""
    settings = current_app.extensions["crisis"].settings
    config = {
        "closed_visible_minutes": settings.closed_visible_minutes,
        "stale_minutes": settings.stale_incident_minutes,
        # who-is-affected's circle for an incident with no radius and no area, by severity
        "default_radius_km": default_radii(settings.default_radius_km),
        "can_edit": access.can_edit(g.principal),
        "sees_names": access.sees_names(g.principal),
        "workflow": workflow_table(),
        "regions": REGIONS,
        "type_labels": {c["value"]: c["label"] for c in type_choices()},
    }
    return html.Div(id=WORKSPACE_CONFIG, hidden=True, **{"data-config": json.dumps(config)})


def _reporting() -> list[Any]:
    return [
        html.Button("Report an incident", id=REPORT_START, className="action action-primary report-start"),
        html.Div(id=REPORT_LOCATE, className="report-locate", style={"display": "none"}, children=[
            html.P("Where did it happen? Click the map, or type coordinates (lat, lon) or a place name.",
                   className="report-hint"),
            html.Div(className="report-place-row", children=[
                dcc.Input(id=REPORT_PLACE, placeholder="e.g. 33.89, 35.50 or Lebanon", debounce=False, n_submit=0,
                          autoComplete="off"),
                html.Button("Put the pin", id=REPORT_PLACE_GO, className="action"),
                html.Button("Cancel", id=REPORT_LOCATE_CANCEL, className="action"),
            ]),
            html.Div("", id=REPORT_PLACE_MESSAGE, className="report-place-message", role="status"),
        ]),
        report_form(),
    ]


def layout(**_query: Any) -> html.Div:
    editor = g.principal.role in EDITORS
    return html.Div(
        className="live-page",
        children=[
            *live_map(),
            html.Aside(
                className="incident-panel workspace-side",
                children=[
                    workspace_config(),
                    *(_reporting() if editor else []),
                    html.P("Click an incident (on the map or in the list) to open it; click a traveller to see who it is.",
                           className="report-hint"),
                    # Filled by assets/crisis_workspace.js (plain DOM, not Dash).
                    html.Section(id=PANEL, className="workspace-panel", hidden=True),
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
    ClientsideFunction("crisis", "reportPlaced"),
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


TOWN_ZOOM = 9     # the map goes to a pin put at a town's centre at this zoom (or closer)
COUNTRY_ZOOM = 5  # ... at a country's point
POINT_ZOOM = 8    # ... at typed coordinates
OTHERS_SHOWN = 4  # other places of the same name named in the message


def _also(found: towns.Found) -> str:
    """What else is called so: ' Also: Tripoli, Lebanon; Trípoli, Greece (type one, ...)'."""
    if not found.others:
        return ""
    named = "; ".join(t.label for t in found.others[:OTHERS_SHOWN])
    more = f" and {len(found.others) - OTHERS_SHOWN} more" if len(found.others) > OTHERS_SHOWN else ""
    return f" Also: {named}{more} (type one, e.g. \"{found.others[0].label}\", to move the pin there)."


def place(text: str | None) -> tuple[dict[str, Any] | None, str]:
    """Typed coordinates ("33.89, 35.5") or a place name -> (the point, what was understood).

    A town is named with its country ("Tripoli, Libya"), with the other places of that name in
    other countries, which the officer picks by naming the country ("Tripoli, Lebanon",
    "Tripoli LBN"). The point carries the zoom the map goes to."""
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        return None, "Type coordinates (lat, lon) or a place name."
    match = _COORDS.match(text)
    if match:
        lat, lon = float(match.group(1)), float(match.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None, "The latitude must be between -90 and 90, the longitude between -180 and 180."
        return {"lat": round(lat, 5), "lon": round(lon, 5), "zoom": POINT_ZOOM}, f"Pin at {lat:.4f}, {lon:.4f}."
    countries = current_app.extensions["crisis"].deps.countries
    found = None if towns.is_country(text) else towns.find(text, countries)
    if found is not None and found.town is None:
        return None, (f"No place called \"{found.others[0].name}\" in {found.country_asked} in the offline gazetteer (it has "
                      + "; ".join(t.label for t in found.others[:OTHERS_SHOWN]) + "): click the map or type coordinates instead.")
    if found is not None and found.town is not None:
        town = found.town
        return ({"lat": round(town.lat, 5), "lon": round(town.lon, 5), "approximate": True, "zoom": TOWN_ZOOM},
                f"Pin at {town.label} ({town.lat:.2f}, {town.lon:.2f}), the town's centre: move it by clicking the map."
                + _also(found))
    found_country = gazetteer_for(countries)(text, [])
    if found_country is None:
        return None, (f"No place called \"{text}\" in the offline gazetteer (it knows countries and towns of "
                      "15,000 people or more): click the map or type coordinates instead.")
    lat, lon, iso = found_country
    name = towns.country_name(iso, countries)
    return ({"lat": round(lat, 5), "lon": round(lon, 5), "approximate": True, "zoom": COUNTRY_ZOOM},
            f"Pin in {name + ' (' + iso + ')' if name and name != iso else iso} ({lat:.2f}, {lon:.2f}), approximate: "
            "move it by clicking the map.")


@dash.callback(
    Output(ids.REPORT_CLICK, "data", allow_duplicate=True),
    Output(REPORT_PLACE_MESSAGE, "children"),
    Input(REPORT_PLACE_GO, "n_clicks"),
    Input(REPORT_PLACE, "n_submit"),
    State(REPORT_PLACE, "value"),
    prevent_initial_call=True,
)
def locate(clicks: int | None, submits: int | None, text: str | None) -> Any:
    if not clicks and not submits:
        return no_update, no_update
    point, message = place(text)
    if point is None:
        return no_update, message
    return {**point, "via": "typed"}, message


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
def submit_report(clicks: Any, where: Any, title: Any, kind: Any, severity: Any, radius: Any, description: Any) -> Any:
    if not clicks or not where:
        return no_update, no_update
    point = pinned(where)
    if point is None:  # (not a point this page put there: a forged or broken request)
        return "Not reported: the place is not a point (lat, lon): click the map or type it again.", no_update
    km, refused = radius_km(radius)  # said with the form's other problems, all at once
    form = {"title": title, "type": kind, "severity": severity, "lat": point["lat"], "lon": point["lon"],
            "radius_km": km, "description": description if isinstance(description, str) else ""}
    if point.get("approximate"):
        form["approximate"] = True
    incident_id, message = report_from_form(current_app.extensions["crisis"], g.principal, form,
                                            [{"field": "radius_km", "message": refused}] if refused else [])
    return message, ("" if incident_id else no_update)
