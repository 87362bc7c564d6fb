"""One incident's own page: facts, whole history, and the duty officer's actions.

The action callbacks here serve every page that shows the incident detail panel.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx as dash_ctx, html, no_update
from flask import current_app, g

from crisis.ui import ids
from crisis.ui.commands import change_incident
from crisis.ui.components.incident_detail import incident_detail
from crisis.views import incident_detail as detail_view


def layout(incident_id: str | None = None, **_query: Any) -> html.Div:
    detail = detail_view(current_app.extensions["crisis"], g.principal, incident_id or "")
    return html.Div(className="incident-page", children=html.Div(incident_detail(detail), id=ids.BOARD_DETAIL))


dash.register_page(
    __name__, path_template="/incident/<incident_id>", name="Incident", title="Incident - Crisis Coordination Centre",
    layout=layout, nav=False,
)


def _rerender(incident_id: str, message: str) -> Any:
    context = current_app.extensions["crisis"]
    return incident_detail(detail_view(context, g.principal, incident_id), message)


@dash.callback(
    Output(ids.BOARD_DETAIL, "children", allow_duplicate=True),
    Input({"type": "status-action", "incident": ALL, "to": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def move_status(clicks: list[int | None]) -> Any:
    trigger = dash_ctx.triggered_id
    if not trigger or not any(clicks):
        return no_update
    message = change_incident(current_app.extensions["crisis"], g.principal, trigger["incident"], status=trigger["to"])
    return _rerender(trigger["incident"], message)


@dash.callback(
    Output(ids.BOARD_DETAIL, "children", allow_duplicate=True),
    Input(ids.DETAIL_SAVE, "n_clicks"),
    State(ids.DETAIL_INCIDENT, "data"),
    State(ids.DETAIL_OWNER, "value"),
    State(ids.DETAIL_NOTE, "value"),
    prevent_initial_call=True,
)
def save_owner_and_note(clicks: int | None, incident_id: str, owner: str | None, note: str | None) -> Any:
    if not clicks:
        return no_update
    message = change_incident(current_app.extensions["crisis"], g.principal, incident_id, owner=owner, note=note)
    return _rerender(incident_id, message)
