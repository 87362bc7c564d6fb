"""The incident board: a live, filterable table; a row flies the map there and opens it."""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from flask import current_app, g

from crisis.domain.model import IncidentStatus
from crisis.domain.regions import REGIONS
from crisis.domain.taxonomy import choices as type_choices
from crisis.ui import ids
from crisis.ui.components.downloads import INCIDENTS_DOWNLOADS, incidents_downloads
from crisis.ui.components.incident_detail import incident_detail
from crisis.ui.components.live_map import live_map
from crisis.views import incident_detail as detail_view
from crisis.views import region_scope

WINDOWS = {"1h": "last hour", "6h": "6 hours", "24h": "24 hours", "7d": "7 days", "all": "all"}
OPEN_STATUSES = [s.value for s in IncidentStatus if s != IncidentStatus.CLOSED]
ALL_STATUSES = [s.value for s in IncidentStatus]
BOARD_CONFIG = "board-config"
BOARD_CLOSED_NOTE = "board-closed-note"
BOARD_OURS = "board-ours"  # set by assets/crisis_board.js when our people in an incident change


def _config() -> dict[str, Any]:
    """For assets/crisis_board.js: how long a closed incident stays, and the types' labels."""
    return {"closed_visible_minutes": current_app.extensions["crisis"].settings.closed_visible_minutes,
            "type_labels": {c["value"]: c["label"] for c in type_choices()}}

# Every column fits at 1920 x 1080 (the board takes 1.35/2.35 of the width, about 1,085 px),
# Stale too, and nothing in it is cut (tests/e2e/test_board_browser.py): a header keeps room
# for its label and the sort arrow (cells and headers are padded 8 px a side, assets/app.css);
# the title, Type ("Armed conflict - Exchange of fire": category and sub-type), Region ("Middle
# East and North Africa") and Owner wrap onto a second line rather than end in "...". Only the
# free-text columns (Incident, Owner) keep a column filter (its button takes 16 px of the
# header); the others are filtered by the board's own filters above the table.
WRAP = {"wrapText": True, "autoHeight": True}
COLUMNS = [
    {"field": "severity", "headerName": "Sev", "width": 68, "sort": "desc", "cellClass": "sev-cell", "filter": False,
     "headerTooltip": "Severity, 1 to 5", "cellClassRules": {f"sev-{n}": f"params.value == {n}" for n in range(1, 6)}},
    # The title, and under it our people there ("47 of ours, 2 need help", red when someone does).
    # The value holds both, so that the grid draws the cell again when only our people change;
    # its filter reads the title alone.
    {"field": "title", "headerName": "Incident", "flex": 1, "minWidth": 150, "cellRenderer": "CrisisIncidentTitle",
     "valueGetter": {"function": "params.data.title + (params.data.ours ? ' | ' + params.data.ours : '')"},
     "filterValueGetter": {"function": "params.data.title"}, **WRAP},
    {"field": "type", "headerName": "Type", "width": 160, "tooltipField": "type", "filter": False, **WRAP},
    {"field": "country", "headerName": "Place", "width": 80, "filter": False, "headerTooltip": "Countries (ISO codes)",
     "tooltipField": "countries", **WRAP},
    {"field": "region_label", "headerName": "Region", "width": 122, "tooltipField": "region_label", "filter": False, **WRAP},
    {"field": "status", "headerName": "Status", "width": 90, "filter": False},
    # Age: since the event was reported (a 2019 drought is years old); Updated: since the last change.
    {"field": "reported_at", "headerName": "Age", "width": 90, "valueFormatter": {"function": "crisisAge(params.value)"},
     "headerTooltip": "Since the event was reported", "filter": False},
    {"field": "updated_at", "headerName": "Updated", "width": 96, "valueFormatter": {"function": "crisisAge(params.value)"},
     "headerTooltip": "Since the last update", "filter": False},
    {"field": "stale", "headerName": "Stale", "width": 72, "cellClass": "stale-cell", "filter": False,
     "headerTooltip": "No update for a long time"},
    {"field": "owner", "headerName": "Owner", "width": 100, **WRAP},
]


def _closed_minutes() -> int:
    """How long a closed incident stays listed (greyed) with "closed" not ticked."""
    return int(current_app.extensions["crisis"].settings.closed_visible_minutes)


def _filters(region: str | None, closed_minutes: int) -> html.Div:
    region_options = [{"label": label, "value": code} for code, label in REGIONS.items()]
    return html.Div(
        className="board-filters",
        children=[
            dcc.Dropdown(id=ids.BOARD_FILTER_REGION, options=region_options, value=region, placeholder="All regions",
                         disabled=region is not None, clearable=region is None),
            dcc.Dropdown(id=ids.BOARD_FILTER_TYPE, options=[{"label": c["label"], "value": c["value"]} for c in type_choices()],
                         multi=True, placeholder="All types"),
            dcc.Checklist(id=ids.BOARD_FILTER_SEVERITY, options=[{"label": str(s), "value": s} for s in range(1, 6)],
                          value=[1, 2, 3, 4, 5], inline=True, className="board-check"),
            dcc.Checklist(id=ids.BOARD_FILTER_STATUS, options=[s.value for s in IncidentStatus], value=OPEN_STATUSES,
                          inline=True, className="board-check"),
            html.Span(f"Closed incidents stay listed, greyed, for {closed_minutes} min after closing; "
                      "tick \"closed\" to show every closed one.", id=BOARD_CLOSED_NOTE, className="board-closed-note"),
            dcc.RadioItems(id=ids.BOARD_FILTER_WINDOW, options=[{"label": v, "value": k} for k, v in WINDOWS.items()],
                           value="all", inline=True, className="board-check"),
        ],
    )


def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="board-page",
        children=[
            html.Div(
                className="board-left",
                children=[
                    dcc.Store(id=BOARD_CONFIG, data=_config()),
                    dcc.Store(id=BOARD_OURS, data=0),
                    _filters(region_scope(g.principal), current_app.extensions["crisis"].settings.closed_visible_minutes),
                    incidents_downloads(region_scope(g.principal), None, list(range(1, 6)), OPEN_STATUSES, "all",
                                        region_scope(g.principal), ALL_STATUSES, _closed_minutes()),
                    dag.AgGrid(
                        id=ids.BOARD_GRID,
                        columnDefs=COLUMNS,
                        rowData=[],
                        getRowId="params.data.id",
                        defaultColDef={"sortable": True, "resizable": True, "filter": True},
                        dashGridOptions={"rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
                                         "animateRows": False, "tooltipShowDelay": 300},
                        # A closed incident stays a while, greyed (assets/workspace.css).
                        rowClassRules={"row-closed": "params.data.status === 'closed'"},
                        className="ag-theme-alpine board-grid",
                        style={"height": "100%"},
                    ),
                ],
            ),
            html.Div(className="board-right", children=[
                *live_map("board-map"),
                html.Div(html.P("Click an incident in the table: the map flies there and its facts, history and "
                                "next steps open here.", className="detail-empty"),
                         id=ids.BOARD_DETAIL, className="board-detail"),
            ]),
        ],
    )


dash.register_page(__name__, path="/incidents", name="Incident board", title="Incident board - Crisis Coordination Centre", layout=layout)

dash.clientside_callback(
    ClientsideFunction("crisis", "boardRows"),
    Output(ids.BOARD_GRID, "rowData"),
    Input(ids.LIVE_SIGNAL, "data"),
    Input(ids.BOARD_FILTER_REGION, "value"),
    Input(ids.BOARD_FILTER_TYPE, "value"),
    Input(ids.BOARD_FILTER_SEVERITY, "value"),
    Input(ids.BOARD_FILTER_STATUS, "value"),
    Input(ids.BOARD_FILTER_WINDOW, "value"),
    Input(BOARD_OURS, "data"),
    State(ids.LIVE_CONFIG, "data"),
    State(BOARD_CONFIG, "data"),
)

dash.clientside_callback(
    ClientsideFunction("crisis", "flyTo"),
    Output(ids.MAP, "figure", allow_duplicate=True),
    Input(ids.BOARD_GRID, "cellClicked"),
    prevent_initial_call=True,
)


@dash.callback(
    Output(INCIDENTS_DOWNLOADS, "children"),
    Input(ids.BOARD_FILTER_REGION, "value"),
    Input(ids.BOARD_FILTER_TYPE, "value"),
    Input(ids.BOARD_FILTER_SEVERITY, "value"),
    Input(ids.BOARD_FILTER_STATUS, "value"),
    Input(ids.BOARD_FILTER_WINDOW, "value"),
    prevent_initial_call=True,
)
def downloads_for_filters(region: str | None, types: list[str] | None, severities: list[int] | None,
                          statuses: list[str] | None, window: str | None) -> Any:
    """The download links carry every filter of the board: the files hold its rows."""
    return incidents_downloads(region, types, severities, statuses, window, region_scope(g.principal), ALL_STATUSES,
                               _closed_minutes()).children


@dash.callback(
    Output(ids.BOARD_DETAIL, "children", allow_duplicate=True),
    Input(ids.BOARD_GRID, "cellClicked"),
    prevent_initial_call=True,
)
def open_detail(cell: dict[str, Any] | None) -> Any:
    if not cell or not cell.get("rowId"):
        return no_update
    return incident_detail(detail_view(current_app.extensions["crisis"], g.principal, str(cell["rowId"])))
