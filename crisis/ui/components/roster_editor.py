"""Changing the standby roster on its page: the part only duty officers and administrators get.

Under the roster's slot grid (a slot is selected by clicking its row):

* **Selected slot**: change its start, end and readiness (filled in when it is selected); put
  another officer on it (with a reason; the list says who is free
  then, and why the others are not: ``replacements``), swap its officer with
  another slot's, or remove it (asked once more before it goes);
* **Add a standby slot**: officer, what it covers (a region or worldwide), primary or
  alternate, readiness 24 or 48 h, start and end (UTC), a note;
* **Record leave or unavailability**: officer, kind, start and end (UTC), a note; and the
  leave selected in the leave grid removed;
* **Lay out a rotation** (previewed turn by turn before anything is stored), and **import
  officers** from a CSV or JSON file (the API's import: refused rows and warnings said).

Each button goes through ``crisis.ui.roster_commands`` (the API's models and handlers,
audited, refusals in words and dead-lettered). What it did, or why not, is said in one
place (``roster-edit-message``), with where the change meets the officer's leave or
standby. The page then re-reads at once (``roster-live``); every other open roster page
follows through the live "roster" message, as after an API call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import current_app, g

from crisis.domain import access
from crisis.domain.regions import REGIONS
from crisis.layers.dispatches import region_label, short_time
from crisis.roster.model import LEAVE_KINDS
from crisis.ui import ids
from crisis.ui import roster_commands as commands

HIDE, SHOW = {"display": "none"}, {"display": "flex"}
NOTHING_SELECTED = "Click a slot in the table above to change it."
TYPED = "%Y-%m-%d %H:%M"  # how the form's times are typed (UTC)


def _ctx() -> Any:
    return current_app.extensions["crisis"]


def officer_options(ctx: Any) -> list[dict[str, str]]:
    """Every officer, by name: "Amira Haddad (Middle East and North Africa)"."""
    from crisis import views_roster

    officers = sorted(views_roster.state(ctx).officers.values(), key=lambda o: (o.name or o.id).lower())
    return [{"label": f"{o.name or o.id} ({region_label(o.region)})", "value": o.id} for o in officers]


def slot_options(ctx: Any, now: datetime, horizon_end: datetime) -> list[dict[str, str]]:
    """The slots of the grid (ending after now, starting before the horizon), in words, by start."""
    from crisis import views_roster

    current = views_roster.state(ctx)
    names = {oid: o.name for oid, o in current.officers.items()}
    slots = sorted((s for s in current.slots if s.end > now and s.start < horizon_end), key=lambda s: (s.start, s.id))
    return [{"label": commands.slot_words(ctx, s, names), "value": s.id} for s in slots]


def _when(input_id: str, label: str, example: str) -> html.Label:
    return html.Label([label + " (UTC, year-month-day hour:minute) ",
                       dcc.Input(id=input_id, type="text", className="roster-time", placeholder=example, maxLength=40)])


def _message(ok: bool, sentence: str, warnings: list[str]) -> html.Div:
    return html.Div(className="roster-edit-result", children=[
        html.P(sentence, className="roster-edit-done" if ok else "roster-edit-refused"),
        *([html.Ul([html.Li(w, className="roster-edit-warning") for w in warnings])] if warnings else []),
    ])


def section(ctx: Any, principal: Any, now: datetime, horizon_end: datetime) -> Any:
    """The editing part of the roster page for this caller: nothing for a role that may not edit."""
    if not access.can_edit(principal):
        return None
    officers = officer_options(ctx)
    tomorrow = (now + timedelta(days=1)).strftime("%Y-%m-%d 08:00")
    week = (now + timedelta(days=8)).strftime("%Y-%m-%d 08:00")
    regions = [{"label": "Worldwide", "value": ""}] + [{"label": label, "value": key} for key, label in REGIONS.items()]
    return html.Section(id=ids.ROSTER_EDIT, className="roster-edit", children=[
        html.H3("Change the roster"),
        html.Div(id=ids.ROSTER_EDIT_MESSAGE, className="roster-edit-message", role="status"),
        html.Div(className="roster-edit-forms", children=[
            html.Fieldset(className="roster-form", children=[
                html.Legend("Selected slot"),
                html.P(NOTHING_SELECTED, id=ids.ROSTER_SELECTED, className="roster-selected"),
                html.Label(["Put on it ", dcc.Dropdown(id=ids.ROSTER_REPLACE_OFFICER, options=officers, placeholder="another officer")]),
                html.Label(["or swap with ", dcc.Dropdown(id=ids.ROSTER_SWAP_WITH, options=slot_options(ctx, now, horizon_end),
                                                          placeholder="another slot")]),
                html.Label(["Reason ", dcc.Input(id=ids.ROSTER_SLOT_REASON, type="text", maxLength=1000, className="roster-note",
                                                 placeholder="e.g. sick, swapped at the officers' request")]),
                html.Div(className="roster-inline", children=[
                    _when(ids.ROSTER_EDIT_START, "Start", ""),
                    _when(ids.ROSTER_EDIT_END, "End", ""),
                ]),
                dcc.RadioItems(id=ids.ROSTER_EDIT_READINESS, options=[{"label": " 24 h readiness", "value": 24},
                                                                      {"label": " 48 h readiness", "value": 48}],
                               value=None, inline=True, className="roster-radio"),
                html.Div(className="roster-buttons", children=[
                    html.Button("Save times", id=ids.ROSTER_EDIT_SAVE, className="action"),
                    html.Button("Replace officer", id=ids.ROSTER_REPLACE, className="action"),
                    html.Button("Swap officers", id=ids.ROSTER_SWAP, className="action"),
                    html.Button("Remove slot", id=ids.ROSTER_REMOVE_ASK, className="action"),
                ]),
                html.Div(id=ids.ROSTER_REMOVE_PANEL, className="dispatch-confirm", style=HIDE, children=[
                    html.P("Remove the selected slot from the roster?", className="dispatch-confirm-text"),
                    html.Button("Remove it", id=ids.ROSTER_REMOVE_CONFIRM, className="action confirm"),
                    html.Button("Keep it", id=ids.ROSTER_REMOVE_KEEP, className="action"),
                ]),
            ]),
            html.Fieldset(className="roster-form", children=[
                html.Legend("Add a standby slot"),
                html.Label(["Officer ", dcc.Dropdown(id=ids.ROSTER_NEW_OFFICER, options=officers, placeholder="the officer")]),
                html.Label(["Covers ", dcc.Dropdown(id=ids.ROSTER_NEW_REGION, options=regions, value="", clearable=False)]),
                dcc.RadioItems(id=ids.ROSTER_NEW_ROLE, options=[{"label": " primary", "value": "primary"},
                                                                {"label": " alternate", "value": "alternate"}],
                               value="primary", inline=True, className="roster-radio"),
                dcc.RadioItems(id=ids.ROSTER_NEW_READINESS, options=[{"label": " 24 h readiness", "value": 24},
                                                                     {"label": " 48 h readiness", "value": 48}],
                               value=24, inline=True, className="roster-radio"),
                _when(ids.ROSTER_NEW_FROM, "Start", tomorrow),
                _when(ids.ROSTER_NEW_UNTIL, "End", week),
                html.Label(["Note ", dcc.Input(id=ids.ROSTER_NEW_NOTE, type="text", maxLength=1000, className="roster-note")]),
                html.Div(html.Button("Add slot", id=ids.ROSTER_NEW_ADD, className="action"), className="roster-buttons"),
            ]),
            html.Fieldset(className="roster-form", children=[
                html.Legend("Lay out a rotation"),
                html.Label(["Officers, in rotation order ", dcc.Dropdown(id=ids.ROSTER_ROT_OFFICERS, options=officers, multi=True,
                                                                        placeholder="the officers who take turns")]),
                html.Label(["Covers ", dcc.Dropdown(id=ids.ROSTER_ROT_REGION, options=regions, value="", clearable=False)]),
                dcc.RadioItems(id=ids.ROSTER_ROT_PATTERN, options=[
                    {"label": " round robin (each backs up the period before taking it)", "value": "round_robin"},
                    {"label": " paired (two officers hand over to each other; an even number)", "value": "paired"}],
                    value="round_robin", className="roster-radio stacked"),
                _when(ids.ROSTER_ROT_FROM, "Start", tomorrow),
                html.Div(className="roster-inline", children=[
                    html.Label(["Weeks ", dcc.Input(id=ids.ROSTER_ROT_WEEKS, type="number", min=1, max=104, step=1, value=4)]),
                    html.Label(["Days per turn ", dcc.Input(id=ids.ROSTER_ROT_PERIOD, type="number", min=1, max=28, step=1, value=7)]),
                    html.Label(["Handover (UTC) ", dcc.Input(id=ids.ROSTER_ROT_HANDOVER, type="text", value="08:00", maxLength=5,
                                                             className="roster-time")]),
                ]),
                dcc.RadioItems(id=ids.ROSTER_ROT_READINESS, options=[{"label": " primaries at 24 h", "value": 24},
                                                                     {"label": " primaries at 48 h", "value": 48}],
                               value=24, inline=True, className="roster-radio"),
                dcc.RadioItems(id=ids.ROSTER_ROT_ALT_READINESS, options=[{"label": " alternates at 24 h", "value": 24},
                                                                         {"label": " alternates at 48 h", "value": 48}],
                               value=48, inline=True, className="roster-radio"),
                html.Div(className="roster-buttons", children=[
                    html.Button("Preview", id=ids.ROSTER_ROT_PREVIEW, className="action"),
                    html.Button("Lay it out", id=ids.ROSTER_ROT_STORE, className="action confirm"),
                ]),
                html.Div(id=ids.ROSTER_ROT_PLAN, className="roster-rot-plan"),
            ]),
            html.Fieldset(className="roster-form", children=[
                html.Legend("Import officers"),
                html.P(["A CSV or JSON file of surge officers, as ", html.Code("POST /api/v1/roster/officers"),
                        " takes it (columns id, name, home_name, home_lat, home_lon, home_country, region, grade, skills, "
                        "languages, contact). A known id is updated in place; each bad row is refused and said."],
                       className="roster-hint"),
                dcc.Upload(id=ids.ROSTER_IMPORT, children=html.Div(["Drop the file here, or ", html.A("choose it")]),
                           className="roster-upload", multiple=False, max_size=commands.MAX_IMPORT_BYTES,
                           accept=".csv,.json,text/csv,application/json"),
                html.Div(id=ids.ROSTER_IMPORT_RESULT, className="roster-import-result"),
            ]),
            html.Fieldset(className="roster-form", children=[
                html.Legend("Record leave or unavailability"),
                html.Label(["Officer ", dcc.Dropdown(id=ids.ROSTER_LEAVE_OFFICER, options=officers, placeholder="the officer")]),
                dcc.RadioItems(id=ids.ROSTER_LEAVE_KIND, options=[{"label": " " + k, "value": k} for k in LEAVE_KINDS],
                               value=LEAVE_KINDS[0], inline=True, className="roster-radio"),
                _when(ids.ROSTER_LEAVE_FROM, "Start", tomorrow),
                _when(ids.ROSTER_LEAVE_UNTIL, "End", week),
                html.Label(["Note ", dcc.Input(id=ids.ROSTER_LEAVE_NOTE, type="text", maxLength=1000, className="roster-note")]),
                html.Div(className="roster-buttons", children=[
                    html.Button("Record leave", id=ids.ROSTER_LEAVE_ADD, className="action"),
                    html.Button("Remove the selected leave", id=ids.ROSTER_LEAVE_REMOVE, className="action",
                                title="Select it in the leave table below"),
                ]),
            ]),
        ]),
    ])


def _selected(rows: Any) -> str | None:
    return str(rows[0]["id"]) if rows and isinstance(rows[0], dict) and rows[0].get("id") else None


def _reread(ok: bool) -> Any:
    """The page's store set so that it re-reads at once, after a change that was stored."""
    return {"rev": f"ui-{datetime.now().timestamp()}", "event": "ui"} if ok else no_update


def _done(answer: commands.Answer, clear: bool = False) -> tuple[Any, ...]:
    """The message, a re-read of the page when something changed, and (``clear``) the text
    field to empty once done."""
    ok, sentence, warnings = answer
    out = (_message(ok, sentence, warnings), _reread(ok))
    return (*out, None if ok else no_update) if clear else out


def replacements(ctx: Any, slot: Any) -> list[dict[str, Any]]:
    """Who could take ``slot``, in words (``slots.who_can_take``): the free first; one on standby
    then cannot be chosen (the override would be refused); on leave or resting may (the duty
    officer's call), and is said."""
    from crisis import views_roster
    from crisis.roster import slots as slot_rules

    current = views_roster.state(ctx)
    options = []
    for oid, why in slot_rules.who_can_take(slot, current.officers, current.slots, current.leave, current.dispatches,
                                            views_roster.rules(ctx)):
        officer = current.officers[oid]
        label = f"{officer.name or oid} ({region_label(officer.region)})" + (f": {why}" if why else ": free")
        options.append({"label": label, "value": oid, "disabled": bool(why and why.startswith("on standby"))})
    return options


@dash.callback(
    Output(ids.ROSTER_SELECTED, "children"),
    Output(ids.ROSTER_REMOVE_PANEL, "style"),
    Output(ids.ROSTER_REPLACE_OFFICER, "options"),
    Output(ids.ROSTER_EDIT_START, "value"),
    Output(ids.ROSTER_EDIT_END, "value"),
    Output(ids.ROSTER_EDIT_READINESS, "value"),
    Input(ids.ROSTER_SLOTS, "selectedRows"),
    Input(ids.ROSTER_LIVE, "data"),
    prevent_initial_call=True,
)
def show_selected(rows: Any, _live: Any) -> Any:
    if not access.can_edit(g.principal):
        raise PreventUpdate  # (a forged call: this part is not on a reader's page)
    picked = dash.ctx.triggered_id == ids.ROSTER_SLOTS
    hide = HIDE if picked else no_update  # a live change leaves the question open, and what is typed
    from crisis import views_roster

    slot_id = _selected(rows)
    slot = next((s for s in views_roster.state(_ctx()).slots if s.id == slot_id), None)  # the read replacements uses
    if slot is None:
        return NOTHING_SELECTED, hide, officer_options(_ctx()), "", "", None
    times = ((slot.start.astimezone(UTC).strftime(TYPED), slot.end.astimezone(UTC).strftime(TYPED), slot.readiness_hours) if picked
             else (no_update, no_update, no_update))
    return (["Selected: ", html.B(commands.slot_words(_ctx(), slot)), f", readiness {slot.readiness_hours} h."], hide,
            replacements(_ctx(), slot), *times)


@dash.callback(
    Output(ids.ROSTER_NEW_OFFICER, "options"),
    Output(ids.ROSTER_LEAVE_OFFICER, "options"),
    Output(ids.ROSTER_SWAP_WITH, "options"),
    Output(ids.ROSTER_ROT_OFFICERS, "options"),
    Input(ids.ROSTER_LIVE, "data"),
    prevent_initial_call=True,
)
def follow_roster(_live: Any) -> Any:
    from crisis.ui.pages.roster import HORIZON

    if not access.can_edit(g.principal):
        raise PreventUpdate
    ctx = _ctx()
    now = ctx.deps.clock()
    officers = officer_options(ctx)
    return officers, officers, slot_options(ctx, now, now + HORIZON), officers


@dash.callback(
    Output(ids.ROSTER_EDIT_MESSAGE, "children"),
    Output(ids.ROSTER_LIVE, "data", allow_duplicate=True),
    Output(ids.ROSTER_SLOT_REASON, "value"),
    Input(ids.ROSTER_EDIT_SAVE, "n_clicks"),
    Input(ids.ROSTER_REPLACE, "n_clicks"),
    Input(ids.ROSTER_SWAP, "n_clicks"),
    State(ids.ROSTER_SLOTS, "selectedRows"),
    State(ids.ROSTER_EDIT_START, "value"),
    State(ids.ROSTER_EDIT_END, "value"),
    State(ids.ROSTER_EDIT_READINESS, "value"),
    State(ids.ROSTER_REPLACE_OFFICER, "value"),
    State(ids.ROSTER_SWAP_WITH, "value"),
    State(ids.ROSTER_SLOT_REASON, "value"),
    prevent_initial_call=True,
)
def act_on_slot(_save: Any, _replace: Any, _swap: Any, rows: Any, start: Any, end: Any, readiness: Any,
                officer_id: str | None, other: str | None, reason: str | None) -> Any:
    """Save times, Replace officer or Swap officers on the selected slot (the reason is theirs)."""
    ctx, slot_id, pressed = _ctx(), _selected(rows), dash.ctx.triggered_id
    if pressed == ids.ROSTER_EDIT_SAVE:
        answer = commands.change_slot(ctx, g.principal, slot_id, {"start": start, "end": end, "readiness_hours": readiness,
                                                                  "note": reason})
    elif pressed == ids.ROSTER_REPLACE:
        answer = commands.replace_officer(ctx, g.principal, slot_id, officer_id, reason)
    else:
        answer = commands.swap(ctx, g.principal, slot_id, other, reason)
    return _done(answer, clear=True)


@dash.callback(
    Output(ids.ROSTER_REMOVE_PANEL, "style", allow_duplicate=True),
    Output(ids.ROSTER_EDIT_MESSAGE, "children", allow_duplicate=True),
    Input(ids.ROSTER_REMOVE_ASK, "n_clicks"),
    Input(ids.ROSTER_REMOVE_KEEP, "n_clicks"),
    State(ids.ROSTER_SLOTS, "selectedRows"),
    prevent_initial_call=True,
)
def ask_remove(_ask: Any, _keep: Any, rows: Any) -> Any:
    if dash.ctx.triggered_id == ids.ROSTER_REMOVE_KEEP or not _selected(rows):
        return HIDE, (no_update if dash.ctx.triggered_id == ids.ROSTER_REMOVE_KEEP
                      else _message(False, "Select a slot first (click its row).", []))
    return SHOW, no_update


@dash.callback(
    Output(ids.ROSTER_EDIT_MESSAGE, "children", allow_duplicate=True),
    Output(ids.ROSTER_LIVE, "data", allow_duplicate=True),
    Output(ids.ROSTER_REMOVE_PANEL, "style", allow_duplicate=True),
    Output(ids.ROSTER_SLOTS, "selectedRows"),
    Output(ids.ROSTER_SELECTED, "children", allow_duplicate=True),
    Input(ids.ROSTER_REMOVE_CONFIRM, "n_clicks"),
    State(ids.ROSTER_SLOTS, "selectedRows"),
    prevent_initial_call=True,
)
def remove(_clicks: Any, rows: Any) -> Any:
    answer = commands.remove_slot(_ctx(), g.principal, _selected(rows))
    message, live = _done(answer)
    if not answer[0]:
        return message, live, HIDE, no_update, no_update
    return message, live, HIDE, [], NOTHING_SELECTED  # the slot is gone: nothing is selected


@dash.callback(
    Output(ids.ROSTER_EDIT_MESSAGE, "children", allow_duplicate=True),
    Output(ids.ROSTER_LIVE, "data", allow_duplicate=True),
    Output(ids.ROSTER_NEW_NOTE, "value"),
    Input(ids.ROSTER_NEW_ADD, "n_clicks"),
    State(ids.ROSTER_NEW_OFFICER, "value"),
    State(ids.ROSTER_NEW_REGION, "value"),
    State(ids.ROSTER_NEW_ROLE, "value"),
    State(ids.ROSTER_NEW_READINESS, "value"),
    State(ids.ROSTER_NEW_FROM, "value"),
    State(ids.ROSTER_NEW_UNTIL, "value"),
    State(ids.ROSTER_NEW_NOTE, "value"),
    prevent_initial_call=True,
)
def add_slot(_clicks: Any, officer_id: Any, region: Any, role: Any, readiness: Any, start: Any, end: Any, note: Any) -> Any:
    form = {"officer_id": officer_id, "region": region, "role": role, "readiness_hours": readiness,
            "start": start, "end": end, "note": note}
    return _done(commands.add_slot(_ctx(), g.principal, form), clear=True)


@dash.callback(
    Output(ids.ROSTER_EDIT_MESSAGE, "children", allow_duplicate=True),
    Output(ids.ROSTER_LIVE, "data", allow_duplicate=True),
    Output(ids.ROSTER_LEAVE_NOTE, "value"),
    Input(ids.ROSTER_LEAVE_ADD, "n_clicks"),
    State(ids.ROSTER_LEAVE_OFFICER, "value"),
    State(ids.ROSTER_LEAVE_KIND, "value"),
    State(ids.ROSTER_LEAVE_FROM, "value"),
    State(ids.ROSTER_LEAVE_UNTIL, "value"),
    State(ids.ROSTER_LEAVE_NOTE, "value"),
    prevent_initial_call=True,
)
def add_leave(_clicks: Any, officer_id: Any, kind: Any, start: Any, end: Any, note: Any) -> Any:
    form = {"officer_id": officer_id, "kind": kind, "start": start, "end": end, "note": note}
    return _done(commands.add_leave(_ctx(), g.principal, form), clear=True)


@dash.callback(
    Output(ids.ROSTER_EDIT_MESSAGE, "children", allow_duplicate=True),
    Output(ids.ROSTER_LIVE, "data", allow_duplicate=True),
    Input(ids.ROSTER_LEAVE_REMOVE, "n_clicks"),
    State(ids.ROSTER_LEAVE, "selectedRows"),
    prevent_initial_call=True,
)
def remove_leave(_clicks: Any, rows: Any) -> Any:
    return _done(commands.remove_leave(_ctx(), g.principal, _selected(rows)))


PLAN_SHOWN = 12  # turns listed in a preview (how many more is said)


def plan_table(ctx: Any, slots: list[Any]) -> Any:
    """The turns of a rotation: start, end, primary, alternate (the first PLAN_SHOWN)."""
    turns: dict[tuple[Any, Any], dict[str, str]] = {}
    for slot in sorted(slots, key=lambda s: s.start):
        turns.setdefault((slot.start, slot.end), {})[slot.role] = commands.officer_name(ctx, slot.officer_id)
    rows = [html.Tr([html.Td(short_time(start.isoformat())), html.Td(short_time(end.isoformat())),
                     html.Td(who.get("primary", "-")), html.Td(who.get("alternate", "-"))])
            for (start, end), who in list(turns.items())[:PLAN_SHOWN]]
    more = len(turns) - PLAN_SHOWN
    return [html.Table(className="roster-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in ("Start", "End", "Primary", "Alternate")])), html.Tbody(rows)]),
        *([html.P(f"and {more} more turns.", className="detail-empty")] if more > 0 else [])]


@dash.callback(
    Output(ids.ROSTER_ROT_PLAN, "children"),
    Output(ids.ROSTER_LIVE, "data", allow_duplicate=True),
    Input(ids.ROSTER_ROT_PREVIEW, "n_clicks"),
    Input(ids.ROSTER_ROT_STORE, "n_clicks"),
    State(ids.ROSTER_ROT_OFFICERS, "value"),
    State(ids.ROSTER_ROT_REGION, "value"),
    State(ids.ROSTER_ROT_PATTERN, "value"),
    State(ids.ROSTER_ROT_FROM, "value"),
    State(ids.ROSTER_ROT_WEEKS, "value"),
    State(ids.ROSTER_ROT_PERIOD, "value"),
    State(ids.ROSTER_ROT_HANDOVER, "value"),
    State(ids.ROSTER_ROT_READINESS, "value"),
    State(ids.ROSTER_ROT_ALT_READINESS, "value"),
    prevent_initial_call=True,
)
def lay_out(_preview: Any, _store: Any, officers: Any, region: Any, pattern: Any, start: Any, weeks: Any, period: Any,
            handover: Any, readiness: Any, alternate: Any) -> Any:
    form = {"officers": officers, "region": region, "pattern": pattern, "start": start, "weeks": weeks,
            "period_days": period, "handover": handover, "readiness_hours": readiness, "alternate_readiness_hours": alternate}
    store = dash.ctx.triggered_id == ids.ROSTER_ROT_STORE
    ok, sentence, slots = commands.rotation(_ctx(), g.principal, form, store)
    live = _reread(ok and store)
    said = html.P(sentence, className=("roster-edit-done" if store else "roster-rot-preview-words") if ok else "roster-edit-refused")
    return [said, *(plan_table(_ctx(), slots) if ok else [])], live


SHOWN_LINES = 20  # refused rows and warnings listed under an import (how many more is said)


@dash.callback(
    Output(ids.ROSTER_IMPORT_RESULT, "children"),
    Output(ids.ROSTER_LIVE, "data", allow_duplicate=True),
    Input(ids.ROSTER_IMPORT, "contents"),
    State(ids.ROSTER_IMPORT, "filename"),
    prevent_initial_call=True,
)
def import_file(contents: Any, filename: Any) -> Any:
    if contents is None:
        raise PreventUpdate
    ok, sentence, lines = commands.import_officers(_ctx(), g.principal, filename, contents)
    live = _reread(ok)
    more = len(lines) - SHOWN_LINES
    return [html.P(sentence, className="roster-edit-done" if ok else "roster-edit-refused"),
            *([html.Ul([html.Li(line, className="roster-edit-warning") for line in lines[:SHOWN_LINES]])] if lines else []),
            *([html.P(f"and {more} more.", className="detail-empty")] if more > 0 else [])], live
