"""People: who is accounted for, per open incident, per area movement and per region, live.

The figures are the read model of GET /api/v1/accountability
(``crisis.views.accountability_summary``): cut to the caller's region for a regional
desk, counts only (no names anywhere on this page). Those with people needing help come
first and loud. The tables are re-read (at most once a second) when a live "affected",
"people" or "areas" message arrives (assets/crisis_people.js); each gets only the rows that
changed (``crisis.ui.row_changes``).

This module also gives the header's "needs help" badge its first figure on every page
(``needs_help_seed``); the live "affected" messages keep it current after that.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from flask import current_app, g

from crisis.domain.regions import region_names
from crisis.ui import callback_inputs as check
from crisis.ui import ids
from crisis.ui.components.affected_people import NOBODY_AFFECTED, accounted_for
from crisis.ui.people_commands import needs_help_seed as badge_seed
from crisis.ui.row_changes import RANK_COLUMN, ranked, row_changes
from crisis.views import accountability_summary

LOUD = "params.data.needs_help > 0"


def _count_columns() -> list[dict[str, Any]]:
    return [
        {"field": "total", "headerName": "People", "width": 95, "type": "rightAligned"},
        {"field": "unreachable", "headerName": "Unreachable", "width": 120, "type": "rightAligned"},
        {"field": "unsure", "headerName": "Unsure", "width": 95, "type": "rightAligned"},
        {"field": "no_response", "headerName": "No response", "width": 120, "type": "rightAligned"},
        {"field": "safe", "headerName": "Safe", "width": 85, "type": "rightAligned"},
        {"field": "accounted_pct", "headerName": "% accounted for", "width": 140, "type": "rightAligned",
         # Nobody affected is not "0.0 %" (nor 100 %): the cell says so.
         "valueFormatter": {"function": "params.value == null ? '' : (params.data && params.data.total) ? "
                                        "params.value.toFixed(1) + ' %' : 'nobody'"}},  # fits the column
    ]


NEEDS_HELP_COLUMN = {"field": "needs_help", "headerName": "NEED HELP", "width": 150, "type": "rightAligned", "sort": "desc",
                     "sortIndex": 0, "cellClassRules": {"needs-help-cell": "params.value > 0"}}

# An incident over several regions names each: the cell wraps rather than cut the second off.
# Its padding puts a first line where the row's other cells centre theirs (alpine: 42 px rows,
# 40 px line height), so a one-line region sits level with them and a wrapped one starts there.
REGION_LABEL_COLUMN = {"field": "region_label", "headerName": "Region", "flex": 1, "minWidth": 190, "wrapText": True,
                       "autoHeight": True, "cellStyle": {"lineHeight": "20px", "paddingTop": "10px", "paddingBottom": "10px"}}
INCIDENT_COLUMNS = [NEEDS_HELP_COLUMN, {"field": "link", "headerName": "Incident", "flex": 2, "minWidth": 220, "cellRenderer": "markdown"},
                    REGION_LABEL_COLUMN, *_count_columns(), RANK_COLUMN]
AREA_COLUMNS = [NEEDS_HELP_COLUMN, {"field": "name", "headerName": "Area (open movement)", "flex": 2, "minWidth": 200},
                REGION_LABEL_COLUMN, *_count_columns(), RANK_COLUMN]
REGION_COLUMNS = [NEEDS_HELP_COLUMN, {"field": "region_label", "headerName": "Region", "flex": 2, "minWidth": 200}, *_count_columns(),
                  RANK_COLUMN]


def _row(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    # An incident over several countries names every region it touches (a drought over
    # Turkey and Iraq: Europe and Central Asia, and Middle East and North Africa).
    codes = [c for c in (item.get("regions") or [item.get("region")]) if c]
    return {**item["counts"], "accounted_pct": item["accounted_pct"], "region_label": region_names(codes) or "-", **extra}


def unaffected(summary: dict[str, Any]) -> int:
    """How many open incidents affect nobody of ours (a drought far from anyone)."""
    return sum(1 for i in summary["incidents"] if not i["counts"]["total"])


def unaffected_choice(count: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The box that lists them too: its label says how many, and it is gone when there are none."""
    label = f"Also list the {count} open incident{'s' if count != 1 else ''} that affect{'' if count != 1 else 's'} nobody of ours"
    return [{"label": label, "value": "all"}], ({} if count else {"display": "none"})


def tables(summary: dict[str, Any], with_unaffected: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], str]:
    """The three tables' rows (needs help first, as the read model orders them: ranked) and the totals line.

    The incidents that affect nobody of ours are left out of their table unless asked for
    (``with_unaffected``): forty droughts and earthquakes far from anyone buried the few
    incidents with people in them. The box that lists them says how many they are."""
    listed = [i for i in summary["incidents"] if with_unaffected or i["counts"]["total"]]
    incidents = ranked(_row(i, id=i["incident"], link=f"[{i['title']}](/incident/{i['incident']})") for i in listed)
    areas = ranked(_row(a, id=a["area"], name=a.get("name") or a["area"]) for a in summary["areas"])
    regions = ranked(_row(r, id=r["region"]) for r in summary["regions"])
    help_total = sum(r["needs_help"] for r in regions)
    people = sum(r["total"] for r in regions)
    accounted = sum(r["safe"] + r["needs_help"] + r["unsure"] for r in regions)
    if not people:  # not "100 %" nor "0 %" of nobody
        return incidents, areas, regions, f"{NOBODY_AFFECTED} by an open incident or movement."
    pct = round(100.0 * accounted / people, 1)
    totals = f"{help_total} need help | {people} people in open incidents and movements | {accounted_for(people, pct)}"
    return incidents, areas, regions, totals


def _grid(grid_id: str, columns: list[dict[str, Any]], rows: list[dict[str, Any]], empty: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=columns, rowData=rows, getRowId="params.data.id",
        defaultColDef={"sortable": True, "resizable": True},
        dashGridOptions={"rowClassRules": {"people-row-needs-help": LOUD}, "domLayout": "autoHeight", "animateRows": False, "suppressColumnVirtualisation": True,
                         "localeText": {"noRowsToShow": empty}},
        className="ag-theme-alpine roll-grid",
    )


def layout(**_query: Any) -> html.Div:
    summary = accountability_summary(current_app.extensions["crisis"], g.principal)
    incidents, areas, regions, totals = tables(summary)
    options, style = unaffected_choice(unaffected(summary))
    return html.Div(
        id=ids.ROLL_PAGE,
        className="roll-page",
        children=[
            dcc.Store(id=ids.ROLL_LIVE),
            html.H2("Who is accounted for"),
            html.P(totals, id=ids.ROLL_TOTALS, className="roll-totals" + (" loud" if regions and any(r["needs_help"] for r in regions) else "")),
            html.H3("Per open incident"),
            dcc.Checklist(id=ids.ROLL_UNAFFECTED, options=options, value=[], style=style, className="roll-unaffected"),
            _grid(ids.ROLL_INCIDENTS, INCIDENT_COLUMNS, incidents, "No open incident affects anyone of ours."),
            html.H3("Per area with a relocation or evacuation"),
            _grid(ids.ROLL_AREAS, AREA_COLUMNS, areas, "No relocation or evacuation under way."),
            html.H3("Per region (each person once, by their worst status)"),
            _grid(ids.ROLL_REGIONS, REGION_COLUMNS, regions, "Nobody in an open incident or movement."),
        ],
    )


dash.register_page(__name__, path="/people", name="People", title="People - Crisis Coordination Centre", layout=layout)


@dash.callback(
    Output(ids.ROLL_INCIDENTS, "rowTransaction"),
    Output(ids.ROLL_AREAS, "rowTransaction"),
    Output(ids.ROLL_REGIONS, "rowTransaction"),
    Output(ids.ROLL_TOTALS, "children"),
    Output(ids.ROLL_TOTALS, "className"),
    Output(ids.ROLL_UNAFFECTED, "options"),
    Output(ids.ROLL_UNAFFECTED, "style"),
    Input(ids.ROLL_LIVE, "data"),
    Input(ids.ROLL_UNAFFECTED, "value"),
    State(ids.ROLL_INCIDENTS, "rowData"),
    State(ids.ROLL_AREAS, "rowData"),
    State(ids.ROLL_REGIONS, "rowData"),
    prevent_initial_call=True,
)
def refresh_roll(_live: Any, listing: list[str] | None, *shown: list[dict[str, Any]] | None) -> Any:
    """Re-read the roll-call; each table gets only the rows that changed (crisis.ui.row_changes)."""
    ticked = listing or []
    if not isinstance(ticked, list) or not all(isinstance(v, str) for v in ticked):
        raise check.refuse("roll-unaffected.value")
    shown = tuple(check.rows(rows, "roll grid rowData") for rows in shown)
    summary = accountability_summary(current_app.extensions["crisis"], g.principal)
    incidents, areas, regions, totals = tables(summary, with_unaffected="all" in ticked)
    changes = [row_changes(before, now, "id") or no_update for before, now in zip(shown, (incidents, areas, regions), strict=True)]
    return (*changes, totals, "roll-totals" + (" loud" if any(r["needs_help"] for r in regions) else ""),
            *unaffected_choice(unaffected(summary)))


@dash.callback(
    Output(ids.NEEDS_HELP_SEED, "data"),
    Input(ids.LIVE_CONFIG, "data"),
)
def needs_help_seed(_config: Any) -> dict[str, Any]:
    """The header badge's first figures (``people_commands.needs_help_seed``)."""
    return badge_seed(current_app.extensions["crisis"], g.principal)


dash.clientside_callback(
    ClientsideFunction("crisis", "needsHelpSeed"),
    Output(ids.NEEDS_HELP_BADGE, "children"),
    Output(ids.NEEDS_HELP_BADGE, "className"),
    Input(ids.NEEDS_HELP_SEED, "data"),
)
