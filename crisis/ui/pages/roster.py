"""The standby roster: who is on standby now, who is next per region, coverage warnings,
the 30-day coverage timeline, the slots of the next 30 days, the officers and their leave;
for duty officers and administrators, changing it (``crisis.ui.components.roster_editor``).

Everything comes from the read model (``crisis.views_roster``) as the API answers it.
Coverage and its warnings are aggregate, the same for every reader; officers' names only
for the roles that may see them (a wall display: counts, warnings and the timeline, never
who), a regional desk the officers of its region. The figures follow the live "roster"
messages (assets/crisis_roster.js sets the counts at once and asks ``refresh_roster`` to
re-read the rest, at most once a second).

This module also gives the header's coverage badge its first figures on every page
(``roster_seed``); the live "roster" messages keep it current after that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dash
import dash_ag_grid as dag
from dash import ClientsideFunction, Input, Output, dcc, html
from flask import current_app, g

from crisis.domain import access
from crisis.domain.regions import REGIONS
from crisis.layers.dispatches import (
    coverage_figure,
    region_label,
    short_time,
    warning_for,
    warning_text,
)
from crisis.realtime import roster_push
from crisis.roster import ranking
from crisis.roster import slots as slot_rules
from crisis.roster.model import AWAY_WORDS, parse_time
from crisis.ui import ids
from crisis.ui.components import roster_editor

log = logging.getLogger(__name__)

HORIZON = timedelta(days=30)

OFFICER_COLUMNS = [
    {"field": "name", "headerName": "Officer", "flex": 2, "minWidth": 160},
    {"field": "status", "headerName": "Now", "width": 200, "wrapText": True, "autoHeight": True,
     "cellClassRules": {"roster-on": "params.value === 'on standby'", "roster-away": "params.value && params.value !== 'on standby' && params.value !== 'available'"}},
    {"field": "region_label", "headerName": "Region", "width": 235},
    {"field": "home", "headerName": "Duty station", "width": 170},
    {"field": "grade", "headerName": "Grade", "width": 95},
    {"field": "skills", "headerName": "Skills", "flex": 2, "minWidth": 200, "wrapText": True, "autoHeight": True},
    {"field": "languages", "headerName": "Languages", "width": 130},
]
SLOT_COLUMNS = [
    {"field": "covers", "headerName": "Covers", "width": 235},
    {"field": "role", "headerName": "Role", "width": 100},
    {"field": "officer", "headerName": "Officer", "flex": 2, "minWidth": 160},
    {"field": "readiness", "headerName": "Readiness", "width": 120},
    {"field": "from", "headerName": "From", "width": 190, "sort": "asc"},
    {"field": "until", "headerName": "Until", "width": 190},
    {"field": "note", "headerName": "Note", "flex": 1, "minWidth": 120},
]
LEAVE_COLUMNS = [
    {"field": "officer", "headerName": "Officer", "flex": 2, "minWidth": 160},
    {"field": "kind", "headerName": "Kind", "width": 110},
    {"field": "from", "headerName": "From", "width": 170, "sort": "asc"},
    {"field": "to", "headerName": "To", "width": 170},
    {"field": "note", "headerName": "Note", "flex": 1, "minWidth": 120},
]


def _ctx() -> Any:
    return current_app.extensions["crisis"]


def visible_officers(ctx: Any, principal: Any, officers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The officers this caller may see by name (id -> officer dict as cut for them): none
    for a wall, a regional desk those of its region, everyone for the others."""
    from crisis import views_roster

    if not access.sees_names(principal):
        return {}
    region = access.region_scope(principal)
    shown: dict[str, dict[str, Any]] = {}
    for oid, officer in officers.items():
        if not access.in_scope(region, (officer.region,)):
            continue
        cut = views_roster.officer_for(principal, officer.to_dict())
        if cut is not None:
            shown[oid] = cut
    return shown


def _who(names: Mapping[str, Mapping[str, Any]], officer_id: str | None) -> str:
    officer = names.get(officer_id or "")
    return str(officer.get("name") or officer_id) if officer else "an officer"


def uncovered_rows(on_standby: list[dict[str, Any]], regions: tuple[str, ...]) -> list[list[Any]]:
    """A row for each region nobody is on standby for now, said (not left out): NOBODY when no
    one covers it, "worldwide cover only" when only a worldwide slot does; and NOBODY worldwide."""
    covered = {s.get("region") for s in on_standby}
    rows: list[list[Any]] = []
    for region in (*regions, None):
        if region in covered:
            continue
        if region is not None and None in covered:
            rows.append([region_label(region), "-", html.Span("worldwide cover only", className="roster-thin"), "-", "-"])
        else:
            rows.append([region_label(region), "-", html.Span("NOBODY", className="roster-gap"), "-", "-"])
    return rows


def _table(header: list[str], rows: list[list[Any]], table_id: str, empty: str) -> Any:
    if not rows:
        return html.P(empty, className="detail-empty", id=table_id)
    return html.Table(id=table_id, className="roster-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in header])),
        html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows]),
    ])


def parts(ctx: Any, principal: Any) -> dict[str, Any]:
    """Every figure of the page as this caller may see it, read now."""
    from crisis import views_roster

    now = ctx.deps.clock()
    state = views_roster.state(ctx)
    rules = views_roster.rules(ctx)
    names = visible_officers(ctx, principal, state.officers)
    standby = views_roster.standby(ctx, now)
    cover = views_roster.coverage(ctx, now, now + HORIZON)
    sees = access.sees_names(principal)
    warnings = [warning_for(w, sees) for w in cover.get("warnings") or []]
    on_standby = standby.get("standby") or []

    standby_rows = [[region_label(s.get("region")), s.get("role"), _who(names, s.get("officer_id")) if sees else "-",
                     f"{s.get('readiness_hours')} h", short_time(s.get("until"))] for s in on_standby]
    standby_rows += uncovered_rows(on_standby, rules.regions)
    next_rows = []
    for key, slot in (standby.get("next") or {}).items():
        label = "Worldwide" if key == "worldwide" else REGIONS.get(key, key)
        if slot is None:
            next_rows.append([label, html.Span("NOBODY", className="roster-gap"), "-", "-", "-"])
        else:
            next_rows.append([label, _who(names, slot.get("officer_id")) if sees else "an officer", slot.get("role"),
                              f"{slot.get('readiness_hours')} h", short_time(slot.get("start"))])

    def in_force(w: Mapping[str, Any]) -> bool:
        return parse_time(str(w["from"])) <= now < parse_time(str(w["to"])) if w.get("from") and w.get("to") else False

    warning_items = [
        html.Li(warning_text(w), className="roster-warning kind-" + str(w.get("kind")) + (" now" if in_force(w) else ""), **ids.attrs({"data-kind": str(w.get("kind"))}))
        for w in sorted(warnings, key=lambda w: (str(w.get("from")), str(w.get("kind"))))
    ]

    officer_rows: list[dict[str, Any]] = []
    leave_rows: list[dict[str, Any]] = []
    if names:
        standby_ids = {s.get("officer_id") for s in on_standby}
        for oid, o in sorted(names.items(), key=lambda kv: str(kv[1].get("name"))):
            # as the dispatch page and the API say it (crisis.roster.slots.availability): resting too
            away, until = slot_rules.availability(oid, now, state.leave, state.dispatches, rules)
            status = (AWAY_WORDS.get(away, away) + (f" until {ranking.when(until)}" if until else "") if away
                      else "on standby" if oid in standby_ids else "available")
            officer_rows.append({
                "id": oid, "name": o.get("name") or oid, "status": status,
                "region_label": REGIONS.get(o.get("region") or "", o.get("region") or "-"),
                "home": (o.get("home") or {}).get("name"), "grade": o.get("grade"),
                "skills": ", ".join(str(s).replace("_", " ") for s in o.get("skills") or []),
                "languages": ", ".join(o.get("languages") or []),
            })
        for lv in state.leave:
            if lv.officer_id in names and lv.end > now:
                leave_rows.append({"id": lv.id, "officer": _who(names, lv.officer_id), "kind": lv.kind,
                                   "from": short_time(lv.start.isoformat()), "to": short_time(lv.end.isoformat()),
                                   "note": lv.note or ""})
    return {
        "slots": slot_rows(ctx, principal, now, names) if names else [],
        "total": str(len(on_standby)),
        "ready": str(sum(1 for s in on_standby if int(s.get("readiness_hours") or 0) == 24)),
        "warning_count": str(len(warnings)),
        "standby": _table(["Covers", "Role", "Officer", "Readiness", "Until"], standby_rows, ids.ROSTER_STANDBY + "-table",
                          "Nobody is on standby now."),
        "next": _table(["Region", "Next officer", "Role", "Readiness", "From"], next_rows, ids.ROSTER_NEXT + "-table", "-"),
        "warnings": warning_items or [html.Li("No coverage warning in the next 30 days.", className="roster-ok")],
        "figure": coverage_figure(cover, rules.regions, rules.min_worldwide_24h, rules.min_per_region,
                                  rules.required_languages, rules.required_skills),
        "officers": officer_rows,
        "leave": leave_rows,
    }


def slot_rows(ctx: Any, principal: Any, now: Any, names: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The slots of the next 30 days this caller may see (``views_roster.slots``: a desk those of its
    region and the worldwide ones its officers hold), by start; "now": in force."""
    from crisis import views_roster

    rows = []
    for s in views_roster.slots(ctx, now, now + HORIZON, viewer=principal):
        start, end = parse_time(str(s["start"])), parse_time(str(s["end"]))
        rows.append({"id": s["id"], "covers": region_label(s.get("region")), "role": s.get("role"),
                     "officer": _who(names, s.get("officer_id")), "readiness": f"{s.get('readiness_hours')} h",
                     "from": short_time(str(s["start"])), "until": short_time(str(s["end"])), "note": s.get("note") or "",
                     "now": start <= now < end})
    return sorted(rows, key=lambda r: (str(r["from"]), str(r["covers"]), str(r["role"])))


def layout(**_query: Any) -> html.Div:
    figures = parts(_ctx(), g.principal)
    sees = bool(access.sees_names(g.principal))
    now = _ctx().deps.clock()
    return html.Div(
        id=ids.ROSTER_PAGE,
        className="roster-page",
        children=[
            dcc.Store(id=ids.ROSTER_LIVE),
            html.H2("Standby roster"),
            html.P(className="roster-totals", children=[
                "On standby now: ", html.B(figures["total"], id=ids.ROSTER_STANDBY_TOTAL),
                " | at 24 h readiness: ", html.B(figures["ready"], id=ids.ROSTER_STANDBY_24H),
                " | coverage warnings in the next 30 days: ", html.B(figures["warning_count"], id=ids.ROSTER_WARNING_COUNT),
            ]),
            html.Div(className="roster-columns", children=[
                html.Section(className="roster-col", children=[
                    html.H3("Coverage warnings"),
                    html.Ul(figures["warnings"], id=ids.ROSTER_WARNINGS, className="roster-warnings"),
                    html.H3("On standby now"),
                    html.Div(figures["standby"], id=ids.ROSTER_STANDBY),
                    html.H3("Next per region"),
                    html.Div(figures["next"], id=ids.ROSTER_NEXT),
                ]),
                html.Section(className="roster-col wide", children=[
                    html.H3("Coverage, next 30 days (red: a gap)"),
                    dcc.Graph(id=ids.ROSTER_TIMELINE, figure=figures["figure"], config={"displayModeBar": False},
                              className="roster-timeline"),
                ]),
            ]),
            # A wall gets the section empty and hidden (no names), so the one refresh callback has its outputs.
            html.Div(hidden=not sees, children=[
                html.H3("Standby slots, next 30 days" + (" (click one to change it below)" if access.can_edit(g.principal) else "")),
                dag.AgGrid(id=ids.ROSTER_SLOTS, columnDefs=SLOT_COLUMNS, rowData=figures["slots"],
                           getRowId="params.data.id", defaultColDef={"sortable": True, "resizable": True, "filter": True},
                           rowClassRules={"roster-slot-now": "params.data.now"},
                           dashGridOptions={"animateRows": False, "rowSelection": {"mode": "singleRow", "enableClickSelection": True,
                                                                                    "checkboxes": False},
                                           "localeText": {"noRowsToShow": "No standby slot in the next 30 days."}},
                           className="ag-theme-alpine roster-grid", style={"height": "320px"}),
                roster_editor.section(_ctx(), g.principal, now, now + HORIZON),
                html.H3("Officers"),
                dag.AgGrid(id=ids.ROSTER_OFFICERS, columnDefs=OFFICER_COLUMNS, rowData=figures["officers"],
                           getRowId="params.data.id", defaultColDef={"sortable": True, "resizable": True, "filter": True},
                           dashGridOptions={"animateRows": False, "suppressColumnVirtualisation": True},
                           className="ag-theme-alpine roster-grid", style={"height": "360px"}),
                html.H3("Leave and unavailability (current and coming)"),
                dag.AgGrid(id=ids.ROSTER_LEAVE, columnDefs=LEAVE_COLUMNS, rowData=figures["leave"],
                           getRowId="params.data.id", defaultColDef={"sortable": True, "resizable": True},
                           dashGridOptions={"animateRows": False, "domLayout": "autoHeight",
                                           "rowSelection": {"mode": "singleRow", "enableClickSelection": True, "checkboxes": False},
                                           "localeText": {"noRowsToShow": "No leave now or coming."}},
                           className="ag-theme-alpine roster-grid"),
            ]),
        ],
    )


dash.register_page(__name__, path="/roster", name="Roster", title="Standby roster - Crisis Coordination Centre", layout=layout)


@dash.callback(
    Output(ids.ROSTER_STANDBY_TOTAL, "children"),
    Output(ids.ROSTER_STANDBY_24H, "children"),
    Output(ids.ROSTER_WARNING_COUNT, "children"),
    Output(ids.ROSTER_WARNINGS, "children"),
    Output(ids.ROSTER_STANDBY, "children"),
    Output(ids.ROSTER_NEXT, "children"),
    Output(ids.ROSTER_TIMELINE, "figure"),
    Output(ids.ROSTER_OFFICERS, "rowData"),
    Output(ids.ROSTER_LEAVE, "rowData"),
    Output(ids.ROSTER_SLOTS, "rowData"),
    Input(ids.ROSTER_LIVE, "data"),
    prevent_initial_call=True,
)
def refresh_roster(_live: Any) -> Any:
    f = parts(_ctx(), g.principal)
    return (f["total"], f["ready"], f["warning_count"], f["warnings"], f["standby"], f["next"], f["figure"],
            f["officers"], f["leave"], f["slots"])


@dash.callback(
    Output(ids.ROSTER_SEED, "data"),
    Input(ids.LIVE_CONFIG, "data"),
)
def roster_seed(_config: Any) -> dict[str, Any] | None:
    """The header badge's first figures: the same as a "roster" message, cut for the caller."""
    try:
        figures = roster_push.summary(_ctx())
    except Exception:
        log.exception("roster summary failed")
        return None
    return {"at": figures["at"], "standby_now": figures["standby_now"],
            "warnings": roster_push.warnings_for(g.principal, figures["warnings"])}


dash.clientside_callback(
    ClientsideFunction("crisis", "rosterSeed"),
    Output(ids.ROSTER_BADGE, "children"),
    Output(ids.ROSTER_BADGE, "className"),
    Input(ids.ROSTER_SEED, "data"),
)
