"""The shift log (/shiftlog): the handover summary for the next shift, free notes and every
change of the last hours, for duty officers, admins and regional desks (their regions).

The handover (open incidents, people not accounted for, movements in progress, dispatches
in flight, roster warnings, the shift's notes) prints on its own (assets/shiftlog.css
``@media print``; the Print button calls the browser's print, assets/crisis_shiftlog.js) and
downloads as JSON, CSV or Markdown (``GET /api/v1/handover?format=``). The log follows the
live picture: a pushed incident message re-reads it (at most once a second).
Everything comes from ``crisis.views_shiftlog``, limited to the viewer's scope.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from flask import current_app, g
from pydantic import ValidationError

from crisis import views_shiftlog
from crisis.api.shiftlog import NoteIn, add_note, note_audit
from crisis.domain import access
from crisis.domain.regions import REGIONS
from crisis.errors import InputError
from crisis.feeds.schemas import field_errors
from crisis.ui.commands import _audit, _explain
from crisis.ui.messages import in_words

PAGE = "shiftlog-page"
HANDOVER = "shiftlog-handover"
LOG = "shiftlog-log"
HOURS = "shiftlog-hours"
SIGNAL = "shiftlog-signal"  # set by assets/crisis_shiftlog.js when the live picture changed
PRINT = "shiftlog-print"
NOTE_TEXT = "shiftlog-note-text"
NOTE_REGION = "shiftlog-note-region"
NOTE_ADD = "shiftlog-note-add"
NOTE_MESSAGE = "shiftlog-note-message"
REFRESH = "shiftlog-refresh"
LOG_DATA = "shiftlog-log-data"  # the log's rows (``log_rows``), drawn by the browser
LOG_DRAWN = "shiftlog-log-drawn"
SHOWN = "shiftlog-shown"  # the fingerprint of what is drawn (``_fingerprint``)
HOUR_CHOICES = (8, 12, 24)  # the log's spans to choose from, in hours


def _when(value: Any) -> str:
    return str(value or "")[:16].replace("T", " ") + (" UTC" if value else "")


def _table(headers: list[str], rows: list[list[Any]], empty: str, class_name: str = "") -> Any:
    if not rows:
        return html.P(empty, className="handover-empty")
    return html.Table(className=f"handover-table {class_name}".strip(), children=[
        html.Thead(html.Tr([html.Th(h) for h in headers])),
        html.Tbody([html.Tr([html.Td("" if c is None else str(c)) for c in row]) for row in rows]),
    ])


def _incidents_table(incidents: list[dict[str, Any]]) -> Any:
    """The open incidents, ours first; a row where our people need help is marked (red)."""
    if not incidents:
        return html.P("No open incident.", className="handover-empty")
    regions = views_shiftlog.region_names
    return html.Table(className="handover-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in ("Severity", "Incident", "Our people", "Status", "Region", "Updated", "")])),
        html.Tbody([html.Tr(className="handover-needs-help" if i.get("needs_help") else None, children=[
            html.Td(str(c)) for c in (i["severity"], i["title"], views_shiftlog.ours_text(i), i["status"],
                                      regions(i.get("regions") or [i.get("region")]), _when(i["updated_at"]),
                                      "no update for a long time" if i["stale"] else "")]) for i in incidents]),
    ])


def handover_view(h: dict[str, Any]) -> list[Any]:
    u = h["unaccounted"]
    return [
        html.H2(f"Handover: {h['scope']}", id="handover-title"),
        html.P(f"Prepared {_when(h['generated_at'])}.", className="handover-when"),
        html.Section(id="handover-incidents", className="handover-section", children=[
            html.H3(f"Open incidents ({len(h['open_incidents'])})"),
            _incidents_table(h["open_incidents"]),
        ]),
        html.Section(id="handover-people", className="handover-section", children=[
            html.H3(f"People not accounted for: {u['people']}" + (f", {u['needs_help']} NEED HELP" if u["needs_help"] else "")),
            _table(["Where", "Not accounted for", "Need help", "Unreachable", "No response", "Of"],
                   [[s["name"], s["not_accounted"], s["needs_help"], s["unreachable"], s["no_response"], s["total"]]
                    for s in u["by_scope"]], "Everyone is accounted for."),
        ]),
        html.Section(id="handover-movements", className="handover-section", children=[
            html.H3(f"Movements in progress ({len(h['movements'])})"),
            _table(["Area", "Phase", "Action", "Safe haven", "To move", "Moving", "Arrived", "Overdue", "Expected arrival"],
                   [[m["name"], m["phase"], m["action"], m["safe_haven"] or "not set", m["to_move"], m["moving"], m["arrived"],
                     m["overdue"], _when(m["expected_arrival"])] for m in h["movements"]], "No movement in progress."),
        ]),
        html.Section(id="handover-dispatches", className="handover-section", children=[
            html.H3(f"Dispatches in flight ({len(h['dispatches'])})"),
            # "Arrival" as the dispatch page's Active dispatches table says it: "on site" once there.
            _table(["Officer", "Incident", "Status", "Arrival"],
                   [[d.get("officer", ""), d["incident"], str(d["status"]).replace("_", " "), d["arrival"]]
                    for d in h["dispatches"]], "No officer dispatched."),
        ]),
        html.Section(id="handover-roster", className="handover-section", children=[
            html.H3(f"Roster warnings ({len(h['roster_warnings'])})"),
            html.Ul([html.Li(w["message"]) for w in h["roster_warnings"]]) if h["roster_warnings"]
            else html.P("No coverage warning.", className="handover-empty"),
        ]),
        html.Section(id="handover-notes", className="handover-section", children=[
            html.H3(f"Notes of the last {h['shift_hours']} hours ({len(h['notes'])})"),
            html.Ul([html.Li([html.Span(_when(n["time"]), className="note-time"), " ",
                              html.Span(n.get("by", ""), className="note-by"), " ", n["text"]]) for n in h["notes"]])
            if h["notes"] else html.P("No note.", className="handover-empty"),
        ]),
    ]


def log_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log as the page draws it (assets/crisis_shiftlog.js ``drawLog``: plain DOM, one
    list item per entry): up to 500 entries as Dash components took the browser about a
    second to draw, again after every change."""
    return [{"time": _when(e["time"]), "kind": "note" if not e["auto"] else e["kind"], "auto": bool(e["auto"]),
             "by": e.get("by") if "by" in e else None, "what": e.get("what") or "",
             "href": f"/incident/{e['incident_id']}" if e.get("incident_id") and e.get("what") else None,
             "text": e["text"]} for e in entries]


def _context() -> Any:
    return current_app.extensions["crisis"]


def _log(hours: int) -> list[dict[str, Any]]:
    return log_rows(_entries(hours))


def _entries(hours: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return views_shiftlog.log_entries(_context(), g.principal, now - timedelta(hours=hours), now)


def _fingerprint(*parts: Any) -> str:
    """What the page shows, in short: a re-read that finds the same sends nothing to draw
    (a long log drawn again every time an incident moved kept the browser busy half the time)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _note_form() -> Any:
    if not access.can_edit(g.principal):
        return None
    return html.Section(className="shiftlog-note-form no-print", children=[
        html.H3("Add a note"),
        dcc.Textarea(id=NOTE_TEXT, placeholder="What the next shift should know", className="shiftlog-note-text"),
        dcc.Dropdown(id=NOTE_REGION, placeholder="Every region", clearable=True, className="shiftlog-note-region",
                     options=[{"label": label, "value": code} for code, label in REGIONS.items()]),
        html.Button("Add the note", id=NOTE_ADD, className="action"),
        html.Div(id=NOTE_MESSAGE, className="detail-message", role="status"),
    ])


def layout(**_query: Any) -> Any:
    if g.principal.role not in views_shiftlog.READERS:
        return html.Div("The shift log is for duty officers, administrators and regional desks.", className="detail-empty")
    summary = views_shiftlog.handover(_context(), g.principal)
    return html.Div(id=PAGE, className="shiftlog-page", children=[
        dcc.Store(id=SIGNAL),
        dcc.Store(id=SHOWN),
        html.Div(className="shiftlog-tools no-print", children=[
            html.Button("Print the handover", id=PRINT, className="action"),
            html.Button("Refresh", id=REFRESH, className="action"),
            html.Span("Download:", className="shiftlog-download"),
            html.A("JSON", href="/api/v1/handover?format=json", download="handover.json", id="handover-json"),
            html.A("CSV", href="/api/v1/handover?format=csv", id="handover-csv"),
            html.A("Markdown", href="/api/v1/handover?format=md", id="handover-md"),
        ]),
        html.Div(handover_view(summary), id=HANDOVER, className="handover"),
        _note_form(),
        html.Section(className="shiftlog no-print", children=[
            html.Div(className="shiftlog-head", children=[
                html.H3("Shift log: every change, newest first"),
                dcc.RadioItems(id=HOURS, value=views_shiftlog.DEFAULT_HOURS, inline=True,
                               options=[{"label": f"last {h} hours", "value": h} for h in HOUR_CHOICES]),
            ]),
            dcc.Store(id=LOG_DATA, data=_log(views_shiftlog.DEFAULT_HOURS)),
            dcc.Store(id=LOG_DRAWN),
            html.Div(id=LOG),
        ]),
    ])


dash.register_page(__name__, path="/shiftlog", name="Shift log", title="Shift log - Crisis Coordination Centre",
                   layout=layout, roles=views_shiftlog.READERS)


# The log drawn by the browser from its rows (assets/crisis_shiftlog.js).
dash.clientside_callback(ClientsideFunction(namespace="crisis", function_name="shiftlogDraw"),
                         Output(LOG_DRAWN, "data"), Input(LOG_DATA, "data"))


@dash.callback(
    Output(LOG_DATA, "data"),
    Output(HANDOVER, "children"),
    Output(SHOWN, "data"),
    Input(HOURS, "value"),
    Input(SIGNAL, "data"),
    Input(REFRESH, "n_clicks"),
    State(SHOWN, "data"),
    prevent_initial_call=True,
)
def refresh(hours: int | None, _signal: Any, _clicks: Any, shown: Any) -> Any:
    if g.principal.role not in views_shiftlog.READERS:
        return no_update, no_update, no_update
    hours = hours if hours in HOUR_CHOICES else views_shiftlog.DEFAULT_HOURS
    entries, summary = _entries(hours), views_shiftlog.handover(_context(), g.principal)
    summary_key = {k: v for k, v in summary.items() if k not in ("generated_at", "now", "at")}
    key = _fingerprint(hours, entries, summary_key)
    if key == shown:
        return no_update, no_update, no_update
    return log_rows(entries), handover_view(summary), key


@dash.callback(
    Output(NOTE_MESSAGE, "children"),
    Output(NOTE_TEXT, "value"),
    Output(LOG_DATA, "data", allow_duplicate=True),
    Output(HANDOVER, "children", allow_duplicate=True),
    Input(NOTE_ADD, "n_clicks"),
    State(NOTE_TEXT, "value"),
    State(NOTE_REGION, "value"),
    State(HOURS, "value"),
    prevent_initial_call=True,
)
def add(clicks: int | None, text: str | None, region: str | None, hours: int | None) -> Any:
    if not clicks:
        return no_update, no_update, no_update, no_update
    context, who = _context(), g.principal
    if not access.can_edit(who):
        _audit(context, who, "access.denied", "shiftlog", detail={"wanted": "shiftlog.note"})
        return "Only duty officers and administrators write in the shift log.", no_update, no_update, no_update
    if not (text or "").strip():
        return "Write the note first.", no_update, no_update, no_update
    try:
        note = NoteIn.model_validate({"text": text or "", "region": region})
        stored = add_note(context, who, who.name, note)
    except ValidationError as exc:
        return " ".join(in_words(field_errors(exc))), no_update, no_update, no_update
    except InputError as exc:
        return _explain(exc), no_update, no_update, no_update
    _audit(context, who, "shiftlog.note", stored["id"], after=note_audit(stored))
    hours = hours if hours in HOUR_CHOICES else views_shiftlog.DEFAULT_HOURS
    return "Note added.", "", _log(hours), handover_view(views_shiftlog.handover(context, who))
