"""One incident's own page: facts, whole history, its affected people, and the duty officer's actions.

Every part follows the incident live, without a reload: its facts, status, next steps and
history re-render when a pushed incident message is about it (``follow_incident``, signalled
by assets/crisis_incident.js through ``crisisLive.onIncident``), on this page and wherever
else the detail is shown.

The action callbacks here serve every page that shows the incident detail panel. The
affected people's counts follow the live "affected" messages in the browser
(assets/crisis_people.js); the table and burn-down are re-read when one arrives.
Surge officers: "Dispatch a surge officer" (editors) opens /dispatch?incident=ID (crisis/ui/pages/dispatch.py),
and "Coming" lists the active dispatches to the incident with their ETA, re-read when a live
"dispatch" message concerns it (assets/crisis_dispatch.js).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx
from flask import current_app, g

from crisis.domain import access
from crisis.domain.accountability import incident_scope
from crisis.layers.dispatches import dispatch_rows
from crisis.ui import callback_inputs as check
from crisis.ui import ids
from crisis.ui.commands import change_incident
from crisis.ui.components.affected_people import (
    burndown_figure,
    count_badges,
    outcome,
    people_panel,
    people_rows,
)
from crisis.ui.components.downloads import affected_downloads
from crisis.ui.components.incident_detail import (
    DETAIL_FACTS,
    DETAIL_HISTORY,
    DETAIL_LIVE_SIGNAL,
    NOT_VISIBLE,
    detail_facts,
    detail_history,
    incident_detail,
)
from crisis.ui.people_commands import incident_burndown, set_people_status
from crisis.ui.row_changes import row_changes
from crisis.views import affected_people
from crisis.views import incident_detail as detail_view


def _people(incident_id: str) -> Any:
    """The affected people panel of a visible incident (its counts, table and burn-down)."""
    context = current_app.extensions["crisis"]
    return people_panel(affected_people(context, g.principal, incident_id), incident_burndown(context, g.principal, incident_id),
                        sees_names=access.sees_names(g.principal), can_edit=access.can_edit(g.principal))


def coming(incident_id: str) -> Any:
    """The officers dispatched to this incident and still active, soonest first (a wall: no names)."""
    from crisis import views_roster

    found = views_roster.dispatches(current_app.extensions["crisis"], incident=incident_id, status="active", viewer=g.principal)
    if not found:
        return html.P("No officer dispatched.", className="detail-empty coming-none")
    found.sort(key=lambda d: str(d.get("eta") or ""))
    return html.Ul(className="coming-list", children=[
        html.Li(className=f"coming-item status-{row['status']}", **ids.attrs({"data-status": str(row["status"])}), children=[
            html.Span(row["officer"], className="coming-who"),
            html.Span(str(row["status"]).replace("_", " "), className="coming-status"),
            html.Span(row["eta"], className="coming-eta"),
            html.Span(f"from {row['from']}" if row["from"] else "", className="coming-from"),
        ]) for row in dispatch_rows(found)
    ])


def _surge(incident_id: str) -> html.Section:
    """Surge officers: the way to dispatch one (three clicks: this link, Send, Confirm) and who is coming."""
    return html.Section(className="surge-panel", children=[
        dcc.Store(id=ids.INCIDENT_COMING_LIVE),
        dcc.Store(id=ids.INCIDENT_COMING_ID, data=incident_id),
        html.Div(className="surge-head", children=[
            html.H3("Coming"),
            dcc.Link("Dispatch a surge officer", href=f"/dispatch?incident={incident_id}", id=ids.INCIDENT_DISPATCH_LINK,
                     className="action dispatch-link") if access.can_edit(g.principal) else None,
        ]),
        html.Div(coming(incident_id), id=ids.INCIDENT_COMING),
    ])


def layout(incident_id: str | None = None, **_query: Any) -> html.Div:
    detail = detail_view(current_app.extensions["crisis"], g.principal, incident_id or "")
    return html.Div(className="incident-page", children=[
        html.Div(incident_detail(detail), id=ids.BOARD_DETAIL),
        _surge(incident_id or "") if detail is not None else None,
        _people(incident_id or "") if detail is not None else None,
        affected_downloads(incident_id or "") if detail is not None else None,
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
    if not trigger or not any(check.clicks(clicks, "status-action n_clicks")):
        return no_update
    if not (isinstance(trigger.get("incident"), str) and isinstance(trigger.get("to"), str)):
        raise check.refuse("status-action id")
    message = change_incident(current_app.extensions["crisis"], g.principal, trigger["incident"], status=trigger["to"])
    return _rerender(trigger["incident"], message)


@dash.callback(
    Output(DETAIL_FACTS, "children"),
    Output(DETAIL_HISTORY, "children"),
    Input(DETAIL_LIVE_SIGNAL, "data"),
    State(ids.DETAIL_INCIDENT, "data"),
    prevent_initial_call=True,
)
def follow_incident(signal: dict[str, Any] | None, incident_id: str | None) -> Any:
    """A pushed message changed the incident shown (assets/crisis_incident.js): its facts,
    next steps and history as they are now, wherever the detail is (this page, the board)."""
    signal = check.mapping(signal, "incident-detail-signal.data")
    incident_id = check.text(incident_id, "the incident's id")
    if not signal or not incident_id or signal.get("id") != incident_id:
        return no_update, no_update
    detail = detail_view(current_app.extensions["crisis"], g.principal, incident_id)
    if detail is None:  # gone out of the viewer's scope
        return [html.P(NOT_VISIBLE, className="detail-empty")], []
    return detail_facts(detail), detail_history(detail)


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
    incident = check.text(incident_id, "the incident's id", optional=False)
    owner, note = check.text(owner, "the owner"), check.text(note, "the note")
    if not incident:
        return no_update
    message = change_incident(current_app.extensions["crisis"], g.principal, incident, owner=owner, note=note)
    return _rerender(incident, message)


def _people_parts(incident_id: str, shown: list[dict[str, Any]] | None) -> tuple[Any, Any, Any]:
    """The people table's changes from the rows it ``shown`` (crisis.ui.row_changes: a tick survives),
    the counts bar and the burn-down, as the caller may see them now."""
    context = current_app.extensions["crisis"]
    affected = affected_people(context, g.principal, incident_id)
    if affected is None:
        return row_changes(shown, [], "row_id") or no_update, [], burndown_figure(None)
    counts = count_badges(affected.get("counts") or {}, float(affected.get("accounted_pct") or 0.0),
                          int(affected.get("in_other_regions") or 0))
    return (row_changes(shown, people_rows(affected.get("people") or []), "row_id") or no_update, counts.children,
            burndown_figure(incident_burndown(context, g.principal, incident_id)))


@dash.callback(
    Output(ids.PEOPLE_GRID, "rowTransaction"),
    Output(ids.PEOPLE_COUNTS, "children"),
    Output(ids.PEOPLE_BURNDOWN, "figure"),
    Input(ids.PEOPLE_LIVE, "data"),
    State(ids.PEOPLE_INCIDENT, "data"),
    State(ids.PEOPLE_GRID, "rowData"),
    prevent_initial_call=True,
)
def refresh_people(live: dict[str, Any] | None, incident_id: str | None, shown: list[dict[str, Any]] | None) -> Any:
    live, incident_id = check.mapping(live, "people-live.data"), check.text(incident_id, "the incident's id")
    if not live or not incident_id or live.get("incident") != incident_id:
        return no_update, no_update, no_update
    return _people_parts(incident_id, check.rows(shown, "people-grid.rowData"))


@dash.callback(
    Output(ids.PEOPLE_MESSAGE, "children"),
    Output(ids.PEOPLE_GRID, "rowTransaction", allow_duplicate=True),
    Output(ids.PEOPLE_COUNTS, "children", allow_duplicate=True),
    Output(ids.PEOPLE_BURNDOWN, "figure", allow_duplicate=True),
    Input({"type": "people-status", "to": ALL}, "n_clicks"),
    State(ids.PEOPLE_GRID, "selectedRows"),
    State(ids.PEOPLE_INCIDENT, "data"),
    State(ids.PEOPLE_NOTE, "value"),
    State(ids.PEOPLE_GRID, "rowData"),
    prevent_initial_call=True,
)
def set_status(clicks: list[int | None], selected: list[dict[str, Any]] | None, incident_id: str | None,
               note: str | None, shown: list[dict[str, Any]] | None) -> Any:
    trigger = dash_ctx.triggered_id
    if not trigger or not any(check.clicks(clicks, "people-status n_clicks")) or not incident_id:
        return no_update, no_update, no_update, no_update
    incident_id = check.text(incident_id, "the incident's id")
    selected, shown = check.rows(selected, "people-grid.selectedRows"), check.rows(shown, "people-grid.rowData")
    note = check.text(note, "the note")
    if not isinstance(trigger.get("to"), str):
        raise check.refuse("people-status id")
    chosen = [str(row["traveller_id"]) for row in selected or [] if row.get("traveller_id")]
    message = set_people_status(current_app.extensions["crisis"], g.principal, incident_scope(incident_id), chosen,
                                str(trigger["to"]), note)
    return (outcome(message), *_people_parts(incident_id, shown))


@dash.callback(
    Output(ids.INCIDENT_COMING, "children"),
    Input(ids.INCIDENT_COMING_LIVE, "data"),
    State(ids.INCIDENT_COMING_ID, "data"),
    prevent_initial_call=True,
)
def refresh_coming(live: dict[str, Any] | None, incident_id: str | None) -> Any:
    """Re-read who is coming when a live "dispatch" message concerns this incident (assets/crisis_dispatch.js)."""
    live, incident_id = check.mapping(live, "incident-coming-live.data"), check.text(incident_id, "the incident's id")
    if not incident_id or (live and live.get("incident") not in (None, incident_id)):
        return no_update
    return coming(incident_id)
