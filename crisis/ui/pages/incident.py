"""One incident's own page: facts, whole history, its affected people, and the duty officer's actions.

The action callbacks here serve every page that shows the incident detail panel. The
affected people's counts follow the live "affected" messages in the browser
(assets/crisis_people.js); the table and burn-down are re-read when one arrives.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, html, no_update
from dash import ctx as dash_ctx
from flask import current_app, g

from crisis.domain import access
from crisis.domain.accountability import incident_scope
from crisis.ui import ids
from crisis.ui.commands import change_incident
from crisis.ui.components.affected_people import (
    burndown_figure,
    count_badges,
    outcome,
    people_panel,
    people_rows,
)
from crisis.ui.components.incident_detail import incident_detail
from crisis.ui.people_commands import incident_burndown, set_people_status
from crisis.views import affected_people
from crisis.views import incident_detail as detail_view


def _people(incident_id: str) -> Any:
    """The affected people panel of a visible incident (its counts, table and burn-down)."""
    context = current_app.extensions["crisis"]
    return people_panel(affected_people(context, g.principal, incident_id), incident_burndown(context, g.principal, incident_id),
                        sees_names=access.sees_names(g.principal), can_edit=access.can_edit(g.principal))


def layout(incident_id: str | None = None, **_query: Any) -> html.Div:
    detail = detail_view(current_app.extensions["crisis"], g.principal, incident_id or "")
    return html.Div(className="incident-page", children=[
        html.Div(incident_detail(detail), id=ids.BOARD_DETAIL),
        _people(incident_id or "") if detail is not None else None,
    ])


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


def _people_parts(incident_id: str) -> tuple[Any, Any, Any]:
    """The people table's rows, the counts bar and the burn-down, as the caller may see them now."""
    context = current_app.extensions["crisis"]
    affected = affected_people(context, g.principal, incident_id)
    if affected is None:
        return [], [], burndown_figure(None)
    counts = count_badges(affected.get("counts") or {}, float(affected.get("accounted_pct") or 0.0))
    return (people_rows(affected.get("people") or []), counts.children,
            burndown_figure(incident_burndown(context, g.principal, incident_id)))


@dash.callback(
    Output(ids.PEOPLE_GRID, "rowData"),
    Output(ids.PEOPLE_COUNTS, "children"),
    Output(ids.PEOPLE_BURNDOWN, "figure"),
    Input(ids.PEOPLE_LIVE, "data"),
    State(ids.PEOPLE_INCIDENT, "data"),
    prevent_initial_call=True,
)
def refresh_people(live: dict[str, Any] | None, incident_id: str | None) -> Any:
    if not live or not incident_id or live.get("incident") != incident_id:
        return no_update, no_update, no_update
    return _people_parts(incident_id)


@dash.callback(
    Output(ids.PEOPLE_MESSAGE, "children"),
    Output(ids.PEOPLE_GRID, "rowData", allow_duplicate=True),
    Output(ids.PEOPLE_COUNTS, "children", allow_duplicate=True),
    Output(ids.PEOPLE_BURNDOWN, "figure", allow_duplicate=True),
    Input({"type": "people-status", "to": ALL}, "n_clicks"),
    State(ids.PEOPLE_GRID, "selectedRows"),
    State(ids.PEOPLE_INCIDENT, "data"),
    State(ids.PEOPLE_NOTE, "value"),
    prevent_initial_call=True,
)
def set_status(clicks: list[int | None], selected: list[dict[str, Any]] | None, incident_id: str | None,
               note: str | None) -> Any:
    trigger = dash_ctx.triggered_id
    if not trigger or not any(clicks) or not incident_id:
        return no_update, no_update, no_update, no_update
    chosen = [str(row["traveller_id"]) for row in selected or [] if row.get("traveller_id")]
    message = set_people_status(current_app.extensions["crisis"], g.principal, incident_scope(incident_id), chosen,
                                str(trigger["to"]), note)
    return (outcome(message), *_people_parts(incident_id))
