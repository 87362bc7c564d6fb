"""Feed health: is every feed alive, and what did it send that we refused?

The feed table is drawn in the browser from the "feeds" report that the live gateway
pushes with its heartbeat (a feed's silence is announced by no event, so the report
comes on a clock). The table of rejected messages is for duty officers: it is read
from the dead-letter stream when the page opens and again whenever the count of
rejections grows.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
from dash import ClientsideFunction, Input, Output, State, dcc, html
from flask import current_app, g

from crisis.ui import ids
from crisis.ui.commands import EDITORS
from crisis.views import recent_dead_letters

BAD = "params.data.status === 'silent' || params.data.status === 'failing'"

FEED_COLUMNS = [
    {"field": "feed", "headerName": "Feed", "width": 110, "cellClass": "feed-name"},
    {"field": "status", "headerName": "Status", "width": 110, "cellClass": "feed-status",
     "cellClassRules": {f"feed-{s}": f"params.value === '{s}'" for s in ("ok", "silent", "failing", "unknown")}},
    {"field": "last_message_at", "headerName": "Last message", "width": 150,
     "valueFormatter": {"function": "params.value ? crisisAge(params.value) + ' ago' : 'never'"}},
    {"field": "expected_interval_seconds", "headerName": "Expected every", "width": 140,
     "valueFormatter": {"function": "params.value ? params.value + ' s' : 'push'"}},
    {"field": "accepted_last_hour", "headerName": "Accepted (1 h)", "width": 135, "type": "rightAligned"},
    {"field": "rejected_last_hour", "headerName": "Rejected (1 h)", "width": 135, "type": "rightAligned"},
    {"field": "accepted_total", "headerName": "Accepted (all)", "width": 135, "type": "rightAligned"},
    {"field": "rejected_total", "headerName": "Rejected (all)", "width": 135, "type": "rightAligned"},
    {"field": "last_error", "headerName": "Last error", "flex": 1, "minWidth": 260, "tooltipField": "last_error"},
    {"field": "last_error_at", "headerName": "Error at", "width": 120,
     "valueFormatter": {"function": "params.value ? crisisAge(params.value) + ' ago' : ''"}},
]

DEAD_LETTER_COLUMNS = [
    {"field": "time", "headerName": "Received", "width": 130,
     "valueFormatter": {"function": "params.value ? crisisAge(params.value) + ' ago' : ''"}},
    {"field": "feed", "headerName": "Feed", "width": 170},
    {"field": "reason", "headerName": "What was wrong, and where", "flex": 1, "minWidth": 320, "tooltipField": "reason"},
    {"field": "request", "headerName": "Request", "width": 220, "tooltipField": "request"},
    {"field": "body_size", "headerName": "Bytes", "width": 100, "type": "rightAligned"},
    {"field": "origin", "headerName": "From", "width": 220},
    {"field": "id", "headerName": "Dead letter id", "width": 190},
]


def _dead_letters() -> list[Any]:
    if g.principal.role not in EDITORS:
        return [html.P("Rejected messages are shown to duty officers.", className="detail-empty")]
    return [
        dcc.Store(id=ids.FEEDS_REJECTED_TOTAL),
        html.P(["Each one is kept whole in the dead-letter stream: ",
                html.A("GET /api/v1/deadletters", href="/api/v1/deadletters", target="_blank"), "."],
               className="feeds-note"),
        dag.AgGrid(
            id=ids.DEAD_LETTER_GRID,
            columnDefs=DEAD_LETTER_COLUMNS,
            rowData=[],
            getRowId="params.data.id",
            defaultColDef={"sortable": True, "resizable": True},
            className="ag-theme-alpine feeds-grid",
            style={"height": "100%"},
        ),
    ]


def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="feeds-page",
        children=[
            html.H2("Feeds"),
            html.P("A polled feed turns red when it has been silent longer than its interval; any feed turns "
                   "red when most of what it sent in the last hour was refused.", className="feeds-note"),
            dag.AgGrid(
                id=ids.FEED_GRID,
                columnDefs=FEED_COLUMNS,
                rowData=[],
                getRowId="params.data.feed",
                defaultColDef={"resizable": True},
                dashGridOptions={"rowClassRules": {"feed-row-bad": BAD}, "domLayout": "autoHeight",
                                 "tooltipShowDelay": 300},
                className="ag-theme-alpine feeds-table",
            ),
            html.H2("Rejected messages, newest first"),
            html.Div(_dead_letters(), className="feeds-dead-letters"),
        ],
    )


dash.register_page(__name__, path="/feeds", name="Feed health", title="Feed health - Crisis Coordination Centre",
                   layout=layout)

dash.clientside_callback(
    ClientsideFunction("crisis", "feedRows"),
    Output(ids.FEED_GRID, "rowData"),
    Input(ids.LIVE_SIGNAL, "data"),
)

dash.clientside_callback(
    ClientsideFunction("crisis", "rejectedTotal"),
    Output(ids.FEEDS_REJECTED_TOTAL, "data"),
    Input(ids.LIVE_SIGNAL, "data"),
    State(ids.FEEDS_REJECTED_TOTAL, "data"),
)


@dash.callback(
    Output(ids.DEAD_LETTER_GRID, "rowData"),
    Input(ids.FEEDS_REJECTED_TOTAL, "data"),
)
def show_dead_letters(_total: int | None) -> list[dict[str, Any]]:
    if g.principal.role not in EDITORS:
        return []
    return recent_dead_letters(current_app.extensions["crisis"])
