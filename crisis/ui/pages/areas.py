"""Security areas: each area's phase and its movement (relocation or evacuation), live.

Every reader sees the areas of their region (``crisis.views_areas.areas_view`` cuts them:
a regional desk only its region; a wall display the counts, never the names). Duty
officers and administrators change an area's phase, confirm its movement (safe haven,
mode, expected arrival) and set each listed person's progress, through the same
handlers as the API (``crisis.ui.people_commands``). The tables are re-read when the
live "areas"/"movement" messages say something changed (assets/crisis_people.js); the
grids get only the rows that changed (``crisis.ui.row_changes``), so a tick survives.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import dash
import dash_ag_grid as dag
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx
from flask import current_app, g

from crisis.domain import access
from crisis.domain.accountability import area_scope
from crisis.domain.areas import MODES, PHASES, PROGRESS, phase_name
from crisis.domain.regions import REGIONS
from crisis.layers.areas import areas_figure
from crisis.ui import callback_inputs as check
from crisis.ui import ids
from crisis.ui.components.affected_people import (
    NOBODY_AFFECTED,
    IN_WORDS,
    STATUS_VERBS,
    outcome,
    status_rules,
)
from crisis.ui.components.downloads import areas_downloads, movement_downloads
from crisis.ui.people_commands import (
    add_to_movement,
    change_area_phase,
    create_area,
    confirm_area_movement,
    remove_from_movement,
    set_area_progress,
    set_people_status,
)
from crisis.ui.row_changes import RANK_COLUMN, ranked, row_changes
from crisis.views_areas import areas_view, country_shapes

MOVEMENT_DOWNLOADS = "movement-downloads"
LOUD_AREA = "params.data.needs_help > 0 || params.data.overdue > 0"

# Every column fits the left half of a 1920 x 1080 screen (about 1,060 px): headers wrap to
# two lines rather than widen their column, a long phase or region wraps in its cell, and
# the grid's cells are padded 8 px (app.css), so Stayed, Overdue and "% accounted" are in view.
WRAPPED = {"wrapText": True, "autoHeight": True, "cellStyle": {"lineHeight": "20px", "paddingTop": "10px", "paddingBottom": "10px"}}
AREA_COLUMNS = [
    {"field": "needs_help", "headerName": "Need help", "width": 82, "sort": "desc", "sortIndex": 0,
     "type": "rightAligned", "cellClassRules": {"needs-help-cell": "params.value > 0"}},
    {"field": "name", "headerName": "Area", "flex": 2, "minWidth": 130, **WRAPPED},
    {"field": "phase_label", "headerName": "Phase", "width": 130, **WRAPPED,
     "cellClassRules": {f"phase-{n}": f"params.data.phase == {n}" for n in PHASES}},
    {"field": "region", "headerName": "Region", "flex": 1, "minWidth": 120, **WRAPPED},
    {"field": "action", "headerName": "Movement", "width": 96},
    {"field": "to_move", "headerName": "To move", "width": 70, "type": "rightAligned"},
    {"field": "moving", "headerName": "Moving", "width": 72, "type": "rightAligned"},
    {"field": "arrived", "headerName": "Arrived", "width": 72, "type": "rightAligned"},
    {"field": "stayed", "headerName": "Stayed", "width": 68, "type": "rightAligned"},
    {"field": "overdue", "headerName": "Overdue", "width": 78, "type": "rightAligned",
     "cellClassRules": {"overdue-cell": "params.value > 0"}},
    {"field": "accounted_pct", "headerName": "% accounted", "width": 96, "type": "rightAligned",
     # a movement nobody is on says so, not "0.0 %" or "100 %"; an area without a movement is blank
     "valueFormatter": {"function": "params.value == null ? (params.data && params.data.accounted_note) || '' : "
                                    "Number(params.value).toFixed(1) + ' %'"}},
    RANK_COLUMN,
]


def movement_columns(sees_names: bool) -> list[dict[str, Any]]:
    cols: list[dict[str, Any]] = [
        {"field": "progress", "headerName": "Progress", "width": 120, "cellClass": "progress-cell",
         "cellClassRules": {f"progress-{p}": f"params.value === '{p}'" for p in PROGRESS}},
        {"field": "overdue", "headerName": "Overdue", "width": 100, "cellDataType": False,
         "valueFormatter": {"function": "params.value ? 'OVERDUE' : ''"},
         "cellClassRules": {"overdue-cell": "params.value"}},
        {"field": "status", "headerName": "Accounted", "width": 130, "cellClassRules": status_rules(),
         "valueFormatter": {"function": "crisisStatusLabel(params.value)"}},
    ]
    if sees_names:
        cols += [{"field": "name", "headerName": "Name", "flex": 2, "minWidth": 150},
                 {"field": "agency", "headerName": "Agency", "width": 100}]
    cols += [{"field": "category", "headerName": "Category", "width": 150, "valueFormatter": IN_WORDS},
             {"field": "reason", "headerName": "Reason (stayed)", "flex": 1, "minWidth": 140}, RANK_COLUMN]
    return cols


def area_rows(areas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per area: its phase and its movement's counts (needs help and overdue first), ranked."""
    rows = []
    for area in areas:
        movement = area.get("movement") or {}
        counts = movement.get("counts") or {}
        tally = movement.get("accountability") or {}
        rows.append({
            "id": area["id"], "name": area.get("name"), "phase": int(area.get("phase") or 0),
            "phase_label": phase_name(int(area.get("phase") or 0)), "region": REGIONS.get(area.get("region") or "", area.get("region") or "-"),
            "action": movement.get("action") or "", "needs_help": int(tally.get("needs_help", 0)),
            **{k: int(counts.get(k, 0)) for k in ("to_move", "moving", "arrived", "stayed", "overdue")},
            "accounted_pct": float(tally.get("accounted_pct") or 0.0) if movement and tally.get("total") else None,
            "accounted_note": "nobody" if movement and not tally.get("total") else "",  # fits the 115 px column
        })
    rows.sort(key=lambda r: (-r["needs_help"], -r["overdue"], -r["phase"], str(r["name"])))
    return ranked(rows)


def movement_rows(area: dict[str, Any] | None) -> list[dict[str, Any]]:
    movement = (area or {}).get("movement") or {}
    rows = [dict(p) for p in movement.get("people", [])]
    rank = {"needs_help": 0}
    rows.sort(key=lambda r: (rank.get(r.get("status", ""), 1), not r.get("overdue"), PROGRESS.index(r["progress"])
                             if r.get("progress") in PROGRESS else 9))
    return ranked(rows)


def _when(iso: str | None) -> str:
    """A time as people read it, in UTC: "2026-12-02 05:29 UTC"."""
    if not iso:
        return "-"
    try:
        at = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M") + " UTC"


def _arrival(typed: Any) -> Any:
    """The expected arrival as typed, with the form's own "2026-12-02 05:29 UTC" read as UTC (ISO
    8601 as it is: the command says what is wrong with anything else)."""
    if isinstance(typed, str) and typed.strip().upper().endswith(" UTC"):
        return typed.strip()[:-4].strip() + "Z"
    return typed


def area_facts(area: dict[str, Any] | None) -> Any:
    if area is None:
        return html.P("Select an area in the table: its phase, its movement and who is on it open here.", className="detail-empty")
    movement = area.get("movement")
    facts: list[Any] = [html.H2([html.Span(phase_name(int(area.get("phase") or 0)), className=f"phase-badge phase-{area.get('phase') or 0}"),
                      " ", area.get("name") or area["id"]], **{"data-area-id": area["id"]})]
    if not movement:
        facts.append(html.P("No movement: the phase is below III.", className="detail-empty"))
        return facts
    counts = movement.get("counts") or {}
    haven = movement.get("safe_haven") or {}
    tally = movement.get("accountability") or {}
    facts += [
        html.Dl(className="facts", children=[
            html.Div([html.Dt("Movement"), html.Dd(f"{movement.get('action')}" + (" (out of the country)" if movement.get("out_of_country") else ""))], className="fact"),
            html.Div([html.Dt("Safe haven"), html.Dd(haven.get("name") or "not confirmed yet")], className="fact"),
            html.Div([html.Dt("Mode"), html.Dd(movement.get("mode") or "-")], className="fact"),
            html.Div([html.Dt("Expected arrival"), html.Dd(_when(movement.get("expected_arrival")))], className="fact"),
            html.Div([html.Dt("Opened"), html.Dd(_when(movement.get("opened_at")))], className="fact"),
        ]),
        html.Div(className="movement-counts", children=[
            html.Span([html.B(str(counts.get(k, 0))), " ", k.replace("_", " ")], className=f"count progress-{k}", id=f"movement-count-{k}")
            for k in ("to_move", "moving", "arrived", "stayed")
        ] + [
            html.Span([html.B(str(counts.get("overdue", 0))), " OVERDUE"], id="movement-count-overdue",
                      className="count overdue" + (" loud" if counts.get("overdue") else "")),
            html.Span([html.B(str(tally.get("needs_help", 0))), " NEED HELP"], id="movement-count-needs_help",
                      className="count count-needs_help" + (" loud" if tally.get("needs_help") else "")),
            html.Span([html.B(f"{float(tally.get('accounted_pct') or 0.0):.1f}"), " % accounted for"] if tally.get("total")
                      else [NOBODY_AFFECTED], className="count count-pct", id="movement-accounted"),
        ]),
    ]
    return facts


def _editor_controls() -> tuple[html.Div, html.Details]:
    """The phase's control, and the movement's confirmation."""
    return (
        html.Div(className="area-edit", children=[
            html.Label(["Phase", dcc.Dropdown(id=ids.AREA_PHASE, options=[{"label": phase_name(p), "value": p} for p in PHASES],
                                              clearable=False)]),
            html.Button("Change phase", id=ids.AREA_PHASE_SAVE, className="action"),
        ]),
        html.Details(className="area-confirm", open=True, children=[
            html.Summary("Confirm the movement"),
            dcc.Input(id=ids.AREA_HAVEN_NAME, placeholder="safe haven (e.g. Amman)"),
            dcc.Input(id=ids.AREA_HAVEN_LAT, placeholder="lat", type="number"),
            dcc.Input(id=ids.AREA_HAVEN_LON, placeholder="lon", type="number"),
            dcc.Dropdown(id=ids.AREA_MODE, options=list(MODES), placeholder="mode", clearable=False),
            dcc.Input(id=ids.AREA_ARRIVAL, placeholder="expected arrival, e.g. 2026-12-01 18:00 UTC"),
            html.Button("Confirm movement", id=ids.AREA_CONFIRM, className="action"),
        ]),
    )


def _country_options() -> list[dict[str, str]]:
    """Every country of the basemap by its name ("Lebanon (LBN)"), for a whole-country area."""
    table = current_app.extensions["crisis"].deps.countries.countries
    pairs = {(str(name), str(code)) for name, code in zip(table["name"], table["iso_a3"], strict=True)
             if isinstance(code, str) and len(code) == 3 and code.isalpha()}
    return [{"label": f"{name} ({code})", "value": code} for name, code in sorted(pairs)]


def _new_area_controls() -> html.Details:
    """Create an area on the page (as POST /api/v1/areas): a drawn polygon goes through the API."""
    return html.Details(className="area-new", children=[
        html.Summary("New area"),
        dcc.Input(id=ids.AREA_NEW_NAME, placeholder="name, e.g. South of the Litani", maxLength=200),
        dcc.Dropdown(id=ids.AREA_NEW_PHASE, options=[{"label": phase_name(p), "value": p} for p in PHASES],
                     placeholder="phase", clearable=False),
        dcc.RadioItems(id=ids.AREA_NEW_WHERE, value="circle", inline=True, className="area-new-where",
                       options=[{"label": "a circle around a point", "value": "circle"}, {"label": "a whole country", "value": "country"}]),
        html.Div(id=ids.AREA_NEW_CIRCLE, className="area-new-circle", children=[
            dcc.Input(id=ids.AREA_NEW_LAT, placeholder="lat", type="number"),
            dcc.Input(id=ids.AREA_NEW_LON, placeholder="lon", type="number"),
            dcc.Input(id=ids.AREA_NEW_RADIUS, placeholder="radius, km", type="number", min=0),
        ]),
        dcc.Dropdown(id=ids.AREA_NEW_COUNTRY, options=_country_options(), placeholder="country", style={"display": "none"}),
        html.Button("Create area", id=ids.AREA_NEW_SAVE, className="action"),
    ])


def _progress_controls() -> html.Div:
    return html.Div(className="people-actions-block", children=[
        html.Div(className="people-actions", children=[
            html.Span("Selected people moved:", className="people-actions-label"),
            *[html.Button(p.replace("_", " "), id=ids.movement_progress_action(p), className=f"action progress-{p}") for p in PROGRESS],
            dcc.Input(id=ids.AREA_REASON, placeholder="reason (needed for stayed)", className="people-note"),
        ]),
        html.Div(className="people-actions", children=[
            html.Span("Selected people are:", className="people-actions-label"),
            *[html.Button(verb, id=ids.area_status_action(status), className=f"action people-set status-{status}")
              for status, verb in STATUS_VERBS.items()],
        ]),
        # The list by hand: national staff are not listed by category, but may be added; anyone
        # may be taken off, with the reason typed above (kept with the movement).
        html.Div(className="people-actions", children=[
            html.Span("The list:", className="people-actions-label"),
            dcc.Input(id=ids.AREA_ADD_ID, placeholder="traveller id, e.g. T000042", className="people-note"),
            html.Button("Add to the list", id=ids.AREA_ADD, className="action"),
            html.Button("Take the selected off (reason above)", id=ids.AREA_REMOVE, className="action"),
        ]),
    ])


def _area_work(can_edit: bool, sees_names: bool) -> html.Div:
    """What acts on one area: its phase while one is selected, its movement while it has one
    (both shown by ``refresh_areas``), so that the page offers no form that cannot work."""
    phase, confirm = _editor_controls() if can_edit else (None, None)
    return html.Div(id=ids.AREA_WORK, hidden=True, children=[phase, _movement_work(can_edit, sees_names, confirm)])


def _movement_work(can_edit: bool, sees_names: bool, confirm: html.Details | None) -> html.Div:
    """The movement of an area at phase III or above: confirm it, and who is on it."""
    return html.Div(id=ids.AREA_MOVEMENT_WORK, hidden=True, children=[
        confirm,
        html.H3("Who is on the movement list"),
        html.Div(id=MOVEMENT_DOWNLOADS),
        _progress_controls() if can_edit else None,
        dag.AgGrid(
            id=ids.MOVEMENT_GRID, columnDefs=movement_columns(sees_names), rowData=[],
            getRowId="params.data.traveller_id", defaultColDef={"sortable": True, "resizable": True},
            dashGridOptions={"rowClassRules": {"people-row-needs-help": "params.data.status === 'needs_help'",
                                               "movement-row-overdue": "params.data.overdue"},
                             "animateRows": False, "suppressColumnVirtualisation": True,
                             **({"rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": True,
                                                  "enableClickSelection": True}} if can_edit else {})},
            className="ag-theme-alpine movement-grid", style={"height": "18rem"},
        ),
        None if sees_names else html.P("Names are not shown on this display.", className="feeds-note"),
    ])


def layout(**_query: Any) -> html.Div:
    context = current_app.extensions["crisis"]
    can_edit = access.can_edit(g.principal)
    region = access.region_scope(g.principal)
    return html.Div(
        id=ids.AREAS_PAGE,
        className="areas-page",
        children=[
            dcc.Store(id=ids.AREAS_LIVE),
            dcc.Store(id=ids.AREAS_SELECTED),
            html.Div(className="areas-left", children=[
                html.Div(className="areas-head", children=[
                    html.H2("Security areas"),
                    dcc.Dropdown(id=ids.AREAS_FILTER_REGION, options=[{"label": label, "value": code} for code, label in REGIONS.items()],
                                 value=region, placeholder="All regions", disabled=region is not None, clearable=region is None,
                                 className="areas-filter"),
                ]),
                areas_downloads(),
                dag.AgGrid(
                    id=ids.AREAS_GRID, columnDefs=AREA_COLUMNS, rowData=area_rows(areas_view(context, g.principal)),
                    getRowId="params.data.id",
                    defaultColDef={"sortable": True, "resizable": True, "wrapHeaderText": True, "autoHeaderHeight": True},
                    dashGridOptions={"rowClassRules": {"area-row-loud": LOUD_AREA}, "animateRows": False, "suppressColumnVirtualisation": True,
                                     "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}},
                    className="ag-theme-alpine areas-grid", style={"height": "100%"},
                ),
                dcc.Graph(id=ids.AREAS_MAP, figure=_map(areas_view(context, g.principal)), className="areas-map",
                          config={"displayModeBar": False}),
            ]),
            html.Div(className="areas-right", children=[
                _new_area_controls() if can_edit else None,
                html.Div(area_facts(None), id=ids.AREAS_DETAIL),
                html.Div("", id=ids.AREA_MESSAGE, className="detail-message", role="status"),
                _area_work(can_edit, access.sees_names(g.principal)),
            ]),
        ],
    )


dash.register_page(__name__, path="/areas", name="Areas", title="Security areas - Crisis Coordination Centre", layout=layout)


def _map(areas: list[dict[str, Any]]) -> dict[str, Any]:
    """The areas by phase and the movements to their safe havens, with their counts."""
    context = current_app.extensions["crisis"]
    countries = sorted({str(a["country"]) for a in areas if a.get("country") and not a.get("geometry")})
    return areas_figure(areas, context.deps.clock(), context.settings.map_style,
                        country_shapes(context, countries) if countries else None)


def _selected(area_id: str | None, region: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The areas the caller sees (in ``region`` when one is chosen), and the selected one."""
    areas = areas_view(current_app.extensions["crisis"], g.principal)
    area = next((a for a in areas if a["id"] == area_id), None) if area_id else None
    return [a for a in areas if access.in_scope(region, (a.get("region"),))], area


def _region_filter(value: Any) -> str | None:
    """The region filter's value: None (every region), or a region code or a desk's scope key
    (several codes) of known regions; anything else (a list, a number, an unknown code) is
    refused before it reaches ``access.in_scope``."""
    region = check.text(value, "areas-filter-region.value")
    if region is not None and not (access.scope_regions(region) or {""}) <= set(REGIONS):
        raise check.refuse("areas-filter-region.value")
    return region


@dash.callback(
    Output(ids.AREAS_SELECTED, "data"),
    Input(ids.AREAS_GRID, "cellClicked"),
    prevent_initial_call=True,
)
def select_area(cell: dict[str, Any] | None) -> Any:
    cell = check.mapping(cell, "areas-grid.cellClicked")
    return str(check.text(cell.get("rowId"), "the clicked row's id")) if cell and cell.get("rowId") else no_update


@dash.callback(
    Output(ids.AREAS_GRID, "rowTransaction"),
    Output(ids.AREAS_DETAIL, "children"),
    Output(ids.MOVEMENT_GRID, "rowTransaction"),
    Output(ids.AREAS_MAP, "figure"),
    Output(ids.AREA_WORK, "hidden"),
    Output(ids.AREA_MOVEMENT_WORK, "hidden"),
    Input(ids.AREAS_LIVE, "data"),
    Input(ids.AREAS_SELECTED, "data"),
    Input(ids.AREAS_FILTER_REGION, "value"),
    State(ids.AREAS_GRID, "rowData"),
    State(ids.MOVEMENT_GRID, "rowData"),
    prevent_initial_call=True,
)
def refresh_areas(_live: Any, area_id: str | None, region: str | None, areas_shown: list[dict[str, Any]] | None,
                  movement_shown: list[dict[str, Any]] | None) -> Any:
    """Re-read the areas; the grids get only what changed (crisis.ui.row_changes), so a tick survives."""
    area_id, region = check.text(area_id, "areas-selected.data"), _region_filter(region)
    areas_shown, movement_shown = check.rows(areas_shown, "areas-grid.rowData"), check.rows(movement_shown, "movement-grid.rowData")
    areas, area = _selected(area_id, region)
    return (row_changes(areas_shown, area_rows(areas), "id") or no_update, area_facts(area),
            row_changes(movement_shown, movement_rows(area), "traveller_id") or no_update, _map(areas), area is None,
            not (area or {}).get("movement"))


@dash.callback(Output(MOVEMENT_DOWNLOADS, "children"), Input(ids.AREAS_SELECTED, "data"))
def movement_links(area_id: str | None) -> Any:
    return movement_downloads(check.text(area_id, "areas-selected.data"))


@dash.callback(
    Output(ids.AREA_PHASE, "value"),
    Output(ids.AREA_HAVEN_NAME, "value"),
    Output(ids.AREA_HAVEN_LAT, "value"),
    Output(ids.AREA_HAVEN_LON, "value"),
    Output(ids.AREA_MODE, "value"),
    Output(ids.AREA_ARRIVAL, "value"),
    Input(ids.AREAS_SELECTED, "data"),
    prevent_initial_call=True,
)
def prefill(area_id: str | None) -> Any:
    """An officer's forms start from the selected area's current phase and movement."""
    _, area = _selected(check.text(area_id, "areas-selected.data"))
    if area is None:
        return (no_update,) * 6
    movement = area.get("movement") or {}
    haven = movement.get("safe_haven") or {}
    arrival = movement.get("expected_arrival")
    return (int(area.get("phase") or 0), haven.get("name"), haven.get("lat"), haven.get("lon"), movement.get("mode"),
            _when(arrival) if arrival else None)


@dash.callback(
    Output(ids.AREA_NEW_CIRCLE, "style"),
    Output(ids.AREA_NEW_COUNTRY, "style"),
    Input(ids.AREA_NEW_WHERE, "value"),
)
def new_area_where(where: Any) -> Any:
    """The circle's inputs or the country's list, as chosen."""
    country = check.code(where, "area-new-where.value", ("circle", "country")) == "country"
    return ({"display": "none"} if country else {}), ({} if country else {"display": "none"})


@dash.callback(
    Output(ids.AREA_MESSAGE, "children", allow_duplicate=True),
    Output(ids.AREAS_LIVE, "data", allow_duplicate=True),
    Output(ids.AREAS_SELECTED, "data", allow_duplicate=True),
    Input(ids.AREA_NEW_SAVE, "n_clicks"),
    State(ids.AREA_NEW_NAME, "value"),
    State(ids.AREA_NEW_PHASE, "value"),
    State(ids.AREA_NEW_WHERE, "value"),
    State(ids.AREA_NEW_COUNTRY, "value"),
    State(ids.AREA_NEW_LAT, "value"),
    State(ids.AREA_NEW_LON, "value"),
    State(ids.AREA_NEW_RADIUS, "value"),
    prevent_initial_call=True,
)
def create(clicks: int | None, name: Any, phase: Any, where: Any, country: Any, lat: Any, lon: Any, radius: Any) -> Any:
    """Create the area; once created it is the one selected, its movement (at III+) open beside."""
    if not clicks:
        return no_update, no_update, no_update
    if check.code(where, "area-new-where.value", ("circle", "country")) == "country":
        form: dict[str, Any] = {"name": name, "phase": phase, "country": country}
    else:
        form = {"name": name, "phase": phase, "circle": {"lat": lat, "lon": lon, "radius_km": radius}}
    said, area_id = create_area(current_app.extensions["crisis"], g.principal, form)
    if area_id is None:
        return outcome(said), no_update, no_update
    return *_done(said, area_id), area_id


def _done(message: str, area_id: str) -> tuple[Any, dict[str, Any]]:
    """The message, and a new value of the live store so the tables are re-read at once."""
    return outcome(message), {"area": area_id, "at": time.time()}


@dash.callback(
    Output(ids.AREA_MESSAGE, "children"),
    Output(ids.AREAS_LIVE, "data", allow_duplicate=True),
    Input(ids.AREA_PHASE_SAVE, "n_clicks"),
    State(ids.AREAS_SELECTED, "data"),
    State(ids.AREA_PHASE, "value"),
    prevent_initial_call=True,
)
def save_phase(clicks: int | None, area_id: str | None, phase: Any) -> Any:
    if not clicks:
        return no_update, no_update
    if not area_id:
        return outcome("Select an area first."), no_update
    area_id = str(check.text(area_id, "areas-selected.data"))
    return _done(change_area_phase(current_app.extensions["crisis"], g.principal, area_id, phase), area_id)


@dash.callback(
    Output(ids.AREA_MESSAGE, "children", allow_duplicate=True),
    Output(ids.AREAS_LIVE, "data", allow_duplicate=True),
    Input(ids.AREA_CONFIRM, "n_clicks"),
    State(ids.AREAS_SELECTED, "data"),
    State(ids.AREA_HAVEN_NAME, "value"),
    State(ids.AREA_HAVEN_LAT, "value"),
    State(ids.AREA_HAVEN_LON, "value"),
    State(ids.AREA_MODE, "value"),
    State(ids.AREA_ARRIVAL, "value"),
    prevent_initial_call=True,
)
def confirm(clicks: int | None, area_id: str | None, name: Any, lat: Any, lon: Any, mode: Any, arrival: Any) -> Any:
    if not clicks:
        return no_update, no_update
    if not area_id:
        return outcome("Select an area first."), no_update
    area_id = str(check.text(area_id, "areas-selected.data"))
    form = {"safe_haven": {"name": name, "lat": lat, "lon": lon}, "mode": mode, "expected_arrival": _arrival(arrival)}
    return _done(confirm_area_movement(current_app.extensions["crisis"], g.principal, area_id, form), area_id)


@dash.callback(
    Output(ids.AREA_MESSAGE, "children", allow_duplicate=True),
    Output(ids.AREAS_LIVE, "data", allow_duplicate=True),
    Input({"type": "movement-progress", "to": ALL}, "n_clicks"),
    State(ids.AREAS_SELECTED, "data"),
    State(ids.MOVEMENT_GRID, "selectedRows"),
    State(ids.AREA_REASON, "value"),
    prevent_initial_call=True,
)
def progress(clicks: list[int | None], area_id: str | None, selected: list[dict[str, Any]] | None, reason: str | None) -> Any:
    return _on_selected(clicks, area_id, selected, lambda ctx, chosen, to: set_area_progress(
        ctx, g.principal, str(area_id), chosen, to, check.text(reason, "the reason")))


@dash.callback(
    Output(ids.AREA_MESSAGE, "children", allow_duplicate=True),
    Output(ids.AREAS_LIVE, "data", allow_duplicate=True),
    Input({"type": "area-status", "to": ALL}, "n_clicks"),
    State(ids.AREAS_SELECTED, "data"),
    State(ids.MOVEMENT_GRID, "selectedRows"),
    State(ids.AREA_REASON, "value"),
    prevent_initial_call=True,
)
def set_status(clicks: list[int | None], area_id: str | None, selected: list[dict[str, Any]] | None, note: str | None) -> Any:
    """Accountability in the area's movement (its own roll-call, scope "area:<id>")."""
    return _on_selected(clicks, area_id, selected, lambda ctx, chosen, to: set_people_status(
        ctx, g.principal, area_scope(str(area_id)), chosen, to, check.text(note, "the note")))


@dash.callback(
    Output(ids.AREA_MESSAGE, "children", allow_duplicate=True),
    Output(ids.AREAS_LIVE, "data", allow_duplicate=True),
    Output(ids.AREA_ADD_ID, "value"),
    Input(ids.AREA_ADD, "n_clicks"),
    Input(ids.AREA_ADD_ID, "n_submit"),
    State(ids.AREAS_SELECTED, "data"),
    State(ids.AREA_ADD_ID, "value"),
    State(ids.AREA_REASON, "value"),
    prevent_initial_call=True,
)
def add_person(clicks: int | None, submits: int | None, area_id: str | None, traveller_id: Any, reason: Any) -> Any:
    """Put the person typed on the selected area's movement list."""
    if not clicks and not submits:
        return no_update, no_update, no_update
    if not area_id:
        return outcome("Select an area first."), no_update, no_update
    area_id = str(check.text(area_id, "areas-selected.data"))
    said = add_to_movement(current_app.extensions["crisis"], g.principal, area_id, check.text(traveller_id, "the traveller id"),
                           check.text(reason, "the reason"))
    return *_done(said, area_id), ("" if not said.startswith("Not ") else no_update)


@dash.callback(
    Output(ids.AREA_MESSAGE, "children", allow_duplicate=True),
    Output(ids.AREAS_LIVE, "data", allow_duplicate=True),
    Input(ids.AREA_REMOVE, "n_clicks"),
    State(ids.AREAS_SELECTED, "data"),
    State(ids.MOVEMENT_GRID, "selectedRows"),
    State(ids.AREA_REASON, "value"),
    prevent_initial_call=True,
)
def remove_people(clicks: int | None, area_id: str | None, selected: list[dict[str, Any]] | None, reason: Any) -> Any:
    """Take the ticked people off the selected area's movement list, with the reason typed."""
    if not clicks:
        return no_update, no_update
    if not area_id:
        return outcome("Select an area first."), no_update
    area_id = str(check.text(area_id, "areas-selected.data"))
    chosen = [str(r["traveller_id"]) for r in check.rows(selected, "movement-grid.selectedRows") or [] if r.get("traveller_id")]
    return _done(remove_from_movement(current_app.extensions["crisis"], g.principal, area_id, chosen,
                                      check.text(reason, "the reason")), area_id)


def _on_selected(clicks: list[int | None], area_id: str | None, selected: list[dict[str, Any]] | None,
                 act: Any) -> Any:
    """A button of a pattern group ("to": the value) pressed for the ticked people of the
    selected area: ``act(ctx, traveller_ids, to)`` says what happened."""
    trigger = dash_ctx.triggered_id
    if not trigger or not any(check.clicks(clicks, "the buttons' n_clicks")):
        return no_update, no_update
    if not area_id:
        return outcome("Select an area first."), no_update
    area_id = check.text(area_id, "areas-selected.data")
    selected = check.rows(selected, "movement-grid.selectedRows")
    if not isinstance(trigger.get("to"), str):
        raise check.refuse("the button's id")
    chosen = [str(r["traveller_id"]) for r in selected or [] if r.get("traveller_id")]
    return _done(act(current_app.extensions["crisis"], chosen, str(trigger["to"])), area_id)
