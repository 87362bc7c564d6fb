"""The audit trail: who did what, when, from where. Administrators only.

Newest first, filtered by actor, action (exact, or a prefix ending in ".") and a start
time. The entries are read through ``crisis.views.audit_entries``, which refuses anyone
but an administrator, so the callback behind the table answers no one else either. The
page lists ``roles``: the navigation shows it to administrators only. Entries cannot be
changed or deleted here or anywhere else in the product.
"""

from __future__ import annotations

import json
import re
from typing import Any

import dash
import dash_ag_grid as dag
from dash import Input, Output, dcc, html
from flask import current_app, g

from crisis.adapters.audit import JSON_FIELDS
from crisis.api.audit import parse_query
from crisis.domain import access
from crisis.errors import InputError
from crisis.views import audit_entries

GRID = "audit-grid"
FILTER_ACTOR = "audit-filter-actor"
FILTER_ACTION = "audit-filter-action"
FILTER_SINCE = "audit-filter-since"
REFRESH = "audit-refresh"
MESSAGE = "audit-message"
ROWS = 500  # the newest this many entries that match; narrow the filters for older ones
NOT_ALLOWED = "Not allowed: the audit trail is shown to administrators only."
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

COLUMNS = [
    {"field": "time", "headerName": "When (UTC)", "width": 180,
     "valueFormatter": {"function": "params.value ? params.value.replace('T', ' ').slice(0, 19) : ''"}},
    {"field": "action", "headerName": "Action", "width": 160},
    {"field": "actor", "headerName": "Who", "width": 170},
    {"field": "role", "headerName": "Role", "width": 120},
    {"field": "via", "headerName": "Via", "width": 90},
    {"field": "remote", "headerName": "From", "width": 130},
    {"field": "target", "headerName": "What", "width": 170},
    {"field": "before", "headerName": "Before", "flex": 1, "minWidth": 180, "tooltipField": "before"},
    {"field": "after", "headerName": "After", "flex": 1, "minWidth": 180, "tooltipField": "after"},
    {"field": "detail", "headerName": "Detail", "width": 200, "tooltipField": "detail"},
    {"field": "id", "headerName": "Entry id", "width": 170},
]


def _filters() -> html.Div:
    return html.Div(
        className="board-filters audit-filters",
        children=[
            dcc.Input(id=FILTER_ACTOR, type="text", placeholder="Who (user or token name)", debounce=True),
            dcc.Input(id=FILTER_ACTION, type="text", placeholder='Action, or a prefix: "incident."', debounce=True),
            dcc.Input(id=FILTER_SINCE, type="text", placeholder="Since: 2024-05-01 or 2024-05-01T09:30Z", debounce=True),
            html.Button("Refresh", id=REFRESH, n_clicks=0),
        ],
    )


def layout(**_query: Any) -> html.Div:
    if not access.is_admin(g.principal):
        return html.Div(className="audit-page", children=[html.H2("Audit trail"), html.P(NOT_ALLOWED, className="detail-empty", id=MESSAGE)])
    return html.Div(
        className="audit-page feeds-page",
        children=[
            html.H2("Audit trail"),
            html.P("Every change made by a person or a token, every sign-in and refusal: newest first. "
                   "Entries are kept at least the configured number of days and cannot be changed.",
                   className="feeds-note"),
            _filters(),
            html.P("", id=MESSAGE, className="feeds-note"),
            dag.AgGrid(
                id=GRID,
                columnDefs=COLUMNS,
                rowData=[],
                getRowId="params.data.id",
                defaultColDef={"resizable": True, "sortable": False},
                dashGridOptions={"tooltipShowDelay": 300},
                className="ag-theme-alpine feeds-grid",
                style={"height": "70vh"},
            ),
        ],
    )


dash.register_page(__name__, path="/audit", name="Audit trail", title="Audit trail - Crisis Coordination Centre",
                   layout=layout, roles=access.ADMINS)


def _since(value: str | None) -> str | None:
    """A date alone is its midnight, UTC."""
    value = (value or "").strip()
    return f"{value}T00:00:00+00:00" if _DATE.match(value) else value or None


@dash.callback(
    Output(GRID, "rowData"),
    Output(MESSAGE, "children"),
    Input(FILTER_ACTOR, "value"),
    Input(FILTER_ACTION, "value"),
    Input(FILTER_SINCE, "value"),
    Input(REFRESH, "n_clicks"),
)
def show_entries(actor: str | None, action: str | None, since: str | None, _clicks: int | None) -> tuple[list[dict[str, Any]], str]:
    args: dict[str, Any] = {"actor": actor, "action": action, "since": _since(since), "limit": ROWS}
    try:
        query = parse_query({k: v for k, v in args.items() if v not in (None, "")})
        page = audit_entries(current_app.extensions["crisis"], g.principal, query)
    except PermissionError:
        return [], NOT_ALLOWED
    except InputError as exc:
        return [], "Not shown: " + "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    shown = f"{len(page.entries)} entries, newest first"
    if page.next is not None:
        shown += f" (the newest {ROWS}; narrow the filters to see older ones)"
    return [_row(entry) for entry in page.entries], shown + "."


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the table shows it: before, after and detail as compact JSON text."""
    return {**entry, **{k: json.dumps(entry[k], ensure_ascii=False, separators=(", ", ": ")) for k in JSON_FIELDS if k in entry}}
