"""Surge dispatch, under pressure: three clicks from an incident.

From an incident's page, "Dispatch a surge officer" (click 1) opens
/dispatch?incident=ID: the officers ranked for it (``crisis.views_roster.candidates``, the
read model of GET /api/v1/incidents/{id}/candidates), each with its reasons in words.
"Send" on one (click 2) asks to confirm, with the ETA; "Confirm" (click 3) dispatches
through the same handler as POST /api/v1/dispatches (``handlers_roster.create_dispatch``),
audited. Below: the active dispatches with the buttons of their next steps
(requested -> accepted | declined -> travelling -> on site -> stood down -> returned).

Only duty officers and administrators (``access.EDITORS``) open this page; any other
caller gets a refusal, and a forged callback is refused and audited. The lists are
re-read when a live "dispatch" message arrives (assets/crisis_dispatch.js sets
``dispatch-live``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx
from flask import current_app, g

from crisis import views
from crisis.adapters.accounts import Principal
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.regions import REGIONS
from crisis.errors import Conflict, InputError, NotFound
from crisis.layers.dispatches import dispatch_rows, short_time
from crisis.roster.dispatch import TRANSITIONS
from crisis.roster.model import AWAY_WORDS
from crisis.ui import ids
from crisis.ui.commands import _audit, _explain

SHOWN = 30  # candidates listed in full (the best; how many more, and how many are unavailable, is said)
# What each next-step button does, as an action (the status it records is its class: step-<status>).
STEP_LABELS = {"accepted": "Mark accepted", "declined": "Mark declined", "travelling": "Mark travelling",
               "on_site": "Mark on site", "stood_down": "Stand down", "returned": "Mark returned",
               "cancelled": "Cancel (recall)"}
STEP_REASON = "dispatch-step-reason"
INCIDENTS_LIVE = "dispatch-incidents-live"  # set by assets/crisis_dispatch.js on an incident message
NOT_ALLOWED = "Dispatching officers is for duty officers and administrators."


def _ctx() -> Context:
    return current_app.extensions["crisis"]  # type: ignore[no-any-return]


def _refuse(ctx: Context, principal: Principal, target: str, wanted: str) -> str:
    _audit(ctx, principal, "access.denied", target, detail={"wanted": wanted, "reason": f"role {principal.role!r} may not dispatch"})
    return NOT_ALLOWED


def _problem(exc: Exception) -> str:
    if isinstance(exc, InputError):
        return "Not sent: " + _explain(exc)
    return f"Not sent: {exc}"


def dispatch_officer(ctx: Context, principal: Principal, incident_id: str, officer_id: str, note: str | None) -> tuple[dict[str, Any] | None, str]:
    """Dispatch through the handler (as POST /api/v1/dispatches), audited: (the dispatch or None, a sentence)."""
    from crisis import handlers_roster

    if not access.can_edit(principal):
        return None, _refuse(ctx, principal, f"incident/{incident_id}", "dispatch.create")
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or not access.may_see_regions(principal, incident.regions):
        return None, "Not sent: no such incident."
    try:
        made = handlers_roster.create_dispatch(ctx, incident_id, officer_id, (note or "").strip() or None, principal.name)
    except (InputError, Conflict, NotFound) as exc:
        return None, _problem(exc)
    _audit(ctx, principal, "dispatch.create", made.id, after=made.to_dict(),
           detail={"incident_id": incident_id, "officer_id": officer_id})
    officer = ctx.roster.officer(officer_id)
    who = officer.name if officer else officer_id
    eta = short_time(made.eta.isoformat()) if made.eta else "unknown"
    return made.to_dict(), f"Dispatched {who} to {incident.title}: ETA {eta}."


def step(ctx: Context, principal: Principal, dispatch_id: str, status: str, note: str | None = None) -> str:
    """The dispatch's next status through the handler (as PATCH /api/v1/dispatches/{id}), audited;
    ``note``: the reason (needed to cancel)."""
    from crisis import handlers_roster

    if not access.can_edit(principal):
        return _refuse(ctx, principal, f"dispatch/{dispatch_id}", "dispatch.step")
    before = ctx.roster.dispatch(dispatch_id)
    try:
        after = handlers_roster.step_dispatch(ctx, dispatch_id, status, principal.name, (note or "").strip() or None)
    except InputError as exc:
        if any(e.get("field") == "note" for e in exc.errors):
            return "Not changed: say why in the reason box, then cancel again."
        return _problem(exc).replace("Not sent", "Not changed")
    except (Conflict, NotFound) as exc:
        return _problem(exc).replace("Not sent", "Not changed")
    _audit(ctx, principal, "dispatch.step", dispatch_id, before={"status": before.status if before else None},
           after={"status": after.status}, detail={"note": after.steps[-1].note} if after.steps[-1].note else None)
    officer = ctx.roster.officer(after.officer_id)
    incident = ctx.deps.incidents.get(after.incident_id)
    who = officer.name if officer else after.officer_id
    where = incident.title if incident else after.incident_id
    return f"{who} ({where}): {after.status.replace('_', ' ')}."


def incident_options(ctx: Context, principal: Principal) -> list[dict[str, str]]:
    found = [i for i in views.open_incidents(ctx) if access.may_see_regions(principal, i.regions)]
    found.sort(key=lambda i: (-int(i.severity), i.title))
    return [{"label": f"{i.title} (severity {int(i.severity)}, {REGIONS.get(i.region or '', i.region or '-')})", "value": i.id}
            for i in found]


def _eta_at(at: str | None, hours: float | None) -> str:
    if not at or hours is None:
        return ""
    from crisis.roster.model import parse_time

    return short_time((parse_time(at) + timedelta(hours=float(hours))).isoformat())


def candidate_item(c: dict[str, Any], at: str | None) -> html.Li:
    unavailable = c.get("availability")
    tags = []
    if c.get("on_standby"):
        tags.append(html.Span(f"STANDBY {c.get('role') or ''} {c.get('readiness_hours')} h", className="cand-tag standby"))
    else:
        tags.append(html.Span("not on standby", className="cand-tag off"))
    if unavailable:
        until = f" until {short_time(c.get('available_from'))}" if c.get("available_from") else ""
        tags.append(html.Span(f"{str(unavailable).replace('_', ' ').upper()}{until}", className="cand-tag unavailable"))
    missing = list(c.get("skills_missing") or []) + list(c.get("languages_missing") or [])
    if missing:
        tags.append(html.Span("missing: " + ", ".join(str(m).replace("_", " ") for m in missing), className="cand-tag missing"))
    home = (c.get("home") or {}).get("name") if isinstance(c.get("home"), dict) else c.get("home")
    distance = c.get("distance_km")
    eta = c.get("eta_hours")
    facts = f"{float(distance):,.0f} km from {home or 'home'}" if distance is not None else ""
    if eta is not None:
        facts += f" | ETA {float(eta):.1f} h ({_eta_at(at, eta)})"
    return html.Li(
        className="candidate" + (" unavailable" if unavailable else "") + (" standby" if c.get("on_standby") else ""),
        **ids.attrs({"data-officer": str(c.get("officer_id")), "data-rank": str(c.get("rank"))}),
        children=[
            html.Div(className="cand-head", children=[
                html.Span(f"#{c.get('rank')}", className="cand-rank"),
                html.Span(str(c.get("name") or c.get("officer_id")), className="cand-name"),
                html.Span(REGIONS.get(c.get("region") or "", c.get("region") or ""), className="cand-region"),
                *tags,
                html.Button("Send", id=ids.dispatch_send(str(c.get("officer_id"))), className="action cand-send"),
            ]),
            html.Div(facts, className="cand-facts"),
            html.Ul([html.Li(r) for r in c.get("reasons") or []], className="cand-reasons"),
        ],
    )


def candidates_part(ctx: Context, principal: Principal, incident_id: str | None, skills: list[str] | None,
                    languages: list[str] | None) -> Any:
    from crisis import views_roster

    if not incident_id:
        return html.P("Choose the incident first.", className="detail-empty")
    incident = ctx.deps.incidents.get(incident_id)
    if incident is None or not access.may_see_regions(principal, incident.regions):
        return html.P("No such incident.", className="detail-empty")
    try:
        ranked = views_roster.candidates(ctx, incident_id, list(skills or []), list(languages or []), viewer=principal,
                                         limit=SHOWN)
    except (InputError, NotFound, Conflict) as exc:
        return html.P(_problem(exc).replace("Not sent: ", ""), className="detail-empty")
    found = ranked.get("candidates") or []
    terms = ranked.get("eta_terms") or {}
    note = (f"ETA = readiness notice (standby readiness, else {terms.get('off_standby_notice_hours')} h) + distance / "
            f"{terms.get('cruise_kmh')} km/h + {terms.get('overhead_hours')} h overheads.") if terms else ""
    more = int(ranked.get("more") or 0)
    away = ranked.get("unavailable") or {}
    away_text = ", ".join(f"{n} {AWAY_WORDS.get(k, k)}" for k, n in sorted(away.items()) if n)
    return [
        html.P([f"{ranked.get('total', len(found))} officers ranked for ", html.B(incident.title), f". {note}"],
               className="cand-note"),
        html.Ol([candidate_item(c, ranked.get("at")) for c in found], className="candidates"),
        html.P(f"and {more} more, ranked lower" + (f" (unavailable, listed last: {away_text})." if away_text else "."),
               className="cand-note cand-more") if more > 0 else
        (html.P(f"Unavailable, listed last: {away_text}.", className="cand-note") if away_text else None),
    ]


def active_part(ctx: Context, principal: Principal, incident_id: str | None = None) -> Any:
    from crisis import views_roster

    visible = views_roster.dispatches(ctx, status="active", viewer=principal)
    if not visible:
        return html.P("No active dispatch.", className="detail-empty")
    visible.sort(key=lambda d: (d.get("incident_id") != incident_id, str(d.get("created_at"))))
    rows = []
    for d, row in zip(visible, dispatch_rows(visible)):
        buttons = [html.Button(STEP_LABELS.get(s, s), id=ids.dispatch_step(str(d["id"]), s), className=f"action step-{s}")
                   for s in TRANSITIONS.get(str(d.get("status")), ())] if access.can_edit(principal) else []
        rows.append(html.Tr(**ids.attrs({"data-dispatch": str(d.get("id")), "data-status": str(d.get("status"))}), children=[
            html.Td(row["officer"]), html.Td(dcc.Link(row["incident"], href=f"/incident/{row['incident_id']}")),
            html.Td(str(row["status"]).replace("_", " "), className=f"dispatch-status status-{row['status']}"),
            html.Td(row["eta"]), html.Td(row["from"] or "-"), html.Td(buttons, className="dispatch-steps"),
        ]))
    return html.Table(className="roster-table dispatch-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in ("Officer", "Incident", "Status", "Arrival", "From", "Next step")])),
        html.Tbody(rows),
    ])


def layout(incident: str | None = None, **_query: Any) -> html.Div:
    ctx = _ctx()
    principal = g.principal
    if not access.can_edit(principal):
        # No DISPATCH_PAGE id: that marks a page holding the live store (assets/crisis_dispatch.js refreshes it).
        return html.Div(html.P(NOT_ALLOWED, className="detail-empty"), className="dispatch-page")
    from crisis import views_roster

    rules = views_roster.rules(ctx)
    languages = sorted({lang for o in views_roster.state(ctx).officers.values() for lang in o.languages} | set(rules.required_languages))
    return html.Div(
        id=ids.DISPATCH_PAGE,
        className="dispatch-page",
        children=[
            dcc.Store(id=ids.DISPATCH_LIVE),
            dcc.Store(id=ids.DISPATCH_PICK),
            html.H2("Dispatch a surge officer"),
            html.Div(className="dispatch-filters", children=[
                dcc.Store(id=INCIDENTS_LIVE),
                dcc.Dropdown(id=ids.DISPATCH_INCIDENT, options=incident_options(ctx, principal), value=incident,
                             placeholder="Choose the incident", clearable=False, className="dispatch-incident"),
                dcc.Dropdown(id=ids.DISPATCH_SKILLS, options=[{"label": s.replace("_", " "), "value": s} for s in rules.skills],
                             multi=True, placeholder="skills needed", className="dispatch-filter"),
                dcc.Dropdown(id=ids.DISPATCH_LANGUAGES, options=languages, multi=True, placeholder="languages needed",
                             className="dispatch-filter"),
            ]),
            html.Div(id=ids.DISPATCH_CONFIRM_PANEL, className="dispatch-confirm", style={"display": "none"}, children=[
                html.P("", id="dispatch-confirm-text", className="dispatch-confirm-text"),
                dcc.Input(id=ids.DISPATCH_NOTE, placeholder="note (optional)", className="people-note"),
                html.Button("Confirm", id=ids.DISPATCH_CONFIRM, className="action confirm"),
                html.Button("Cancel", id=ids.DISPATCH_CANCEL, className="action"),
            ]),
            html.Div(id=ids.DISPATCH_MESSAGE, className="dispatch-message", role="status"),
            html.Div(className="dispatch-columns", children=[
                html.Section(className="dispatch-col", children=[
                    html.H3("Ranked officers"),
                    html.Div(candidates_part(ctx, principal, incident, [], []), id=ids.DISPATCH_CANDIDATES),
                ]),
                html.Section(className="dispatch-col", children=[
                    html.H3("Active dispatches"),
                    html.Div(active_part(ctx, principal, incident), id=ids.DISPATCH_ACTIVE),
                    # Outside the table that live updates redraw: what is typed here stays.
                    html.Label(["Reason (kept with the next step; needed to cancel): ",
                                dcc.Input(id=STEP_REASON, className="people-note dispatch-reason", debounce=False,
                                          placeholder="e.g. wrong officer picked, incident over before arrival")],
                               className="dispatch-reason-line"),
                ]),
            ]),
        ],
    )


dash.register_page(__name__, path="/dispatch", name="Dispatch", title="Dispatch - Crisis Coordination Centre",
                   layout=layout, roles=access.EDITORS)


@dash.callback(
    Output(ids.DISPATCH_INCIDENT, "options"),
    Input(INCIDENTS_LIVE, "data"),
    prevent_initial_call=True,
)
def follow_incidents(_live: Any) -> Any:
    """The incident list again after an incident changed: a new title, a new incident, one closed."""
    if not access.can_edit(g.principal):
        return no_update
    return incident_options(_ctx(), g.principal)


@dash.callback(
    Output(ids.DISPATCH_CANDIDATES, "children"),
    Input(ids.DISPATCH_INCIDENT, "value"),
    Input(ids.DISPATCH_SKILLS, "value"),
    Input(ids.DISPATCH_LANGUAGES, "value"),
    Input(ids.DISPATCH_LIVE, "data"),
    Input(INCIDENTS_LIVE, "data"),
    prevent_initial_call=True,
)
def show_candidates(incident_id: str | None, skills: list[str] | None, languages: list[str] | None, _live: Any,
                    incidents_live: Any) -> Any:
    if not access.can_edit(g.principal):
        return NOT_ALLOWED
    changed = incidents_live.get("incident") if isinstance(incidents_live, dict) else None
    if dash_ctx.triggered_id == INCIDENTS_LIVE and changed != incident_id:
        return no_update  # another incident changed: this one's ranking stands
    return candidates_part(_ctx(), g.principal, incident_id, skills, languages)


@dash.callback(
    Output(ids.DISPATCH_ACTIVE, "children"),
    Input(ids.DISPATCH_LIVE, "data"),
    State(ids.DISPATCH_INCIDENT, "value"),
    prevent_initial_call=True,
)
def show_active(_live: Any, incident_id: str | None) -> Any:
    if not access.can_edit(g.principal):
        return NOT_ALLOWED
    return active_part(_ctx(), g.principal, incident_id)


def _clicked() -> bool:
    """Whether the callback's trigger is a real click (a button just drawn fires with None)."""
    return bool(dash_ctx.triggered_id) and any(t.get("value") for t in dash_ctx.triggered)


@dash.callback(
    Output(ids.DISPATCH_PICK, "data"),
    Output(ids.DISPATCH_CONFIRM_PANEL, "style"),
    Output("dispatch-confirm-text", "children"),
    Input(ids.dispatch_send(ALL), "n_clicks"),
    State(ids.DISPATCH_INCIDENT, "value"),
    State(ids.DISPATCH_SKILLS, "value"),
    State(ids.DISPATCH_LANGUAGES, "value"),
    prevent_initial_call=True,
)
def pick(_clicks: list[int | None], incident_id: str | None, skills: list[str] | None, languages: list[str] | None) -> Any:
    if not _clicked() or not incident_id:
        return no_update, no_update, no_update
    from crisis import views_roster

    officer_id = str(dash_ctx.triggered_id["officer"])
    ctx = _ctx()
    try:
        ranked = views_roster.candidates(ctx, incident_id, list(skills or []), list(languages or []), viewer=g.principal)
    except (InputError, NotFound):
        return None, {"display": "none"}, ""
    chosen = next((c for c in ranked.get("candidates") or [] if c.get("officer_id") == officer_id), None)
    incident = ctx.deps.incidents.get(incident_id)
    if chosen is None or incident is None:
        return None, {"display": "none"}, ""
    text = [f"Send {chosen.get('name') or officer_id} to ", html.B(incident.title), "? ",
            f"ETA {float(chosen.get('eta_hours') or 0):.1f} h ({_eta_at(ranked.get('at'), chosen.get('eta_hours'))})."]
    if chosen.get("availability"):
        text.append(html.B(f" Note: {str(chosen['availability']).replace('_', ' ')}.", className="cand-warning"))
    return {"officer_id": officer_id, "incident_id": incident_id}, {"display": "flex"}, text


@dash.callback(
    Output(ids.DISPATCH_CONFIRM_PANEL, "style", allow_duplicate=True),
    Output(ids.DISPATCH_PICK, "data", allow_duplicate=True),
    Input(ids.DISPATCH_CANCEL, "n_clicks"),
    prevent_initial_call=True,
)
def cancel(clicks: int | None) -> Any:
    if not clicks:
        return no_update, no_update
    return {"display": "none"}, None


@dash.callback(
    Output(ids.DISPATCH_MESSAGE, "children"),
    Output(ids.DISPATCH_CONFIRM_PANEL, "style", allow_duplicate=True),
    Output(ids.DISPATCH_PICK, "data", allow_duplicate=True),
    Output(ids.DISPATCH_ACTIVE, "children", allow_duplicate=True),
    Output(ids.DISPATCH_CANDIDATES, "children", allow_duplicate=True),
    Output(ids.DISPATCH_NOTE, "value"),
    Input(ids.DISPATCH_CONFIRM, "n_clicks"),
    State(ids.DISPATCH_PICK, "data"),
    State(ids.DISPATCH_NOTE, "value"),
    State(ids.DISPATCH_SKILLS, "value"),
    State(ids.DISPATCH_LANGUAGES, "value"),
    prevent_initial_call=True,
)
def confirm(clicks: int | None, picked: dict[str, Any] | None, note: str | None, skills: list[str] | None,
            languages: list[str] | None) -> Any:
    if not clicks or not picked:
        return no_update, no_update, no_update, no_update, no_update, no_update
    ctx = _ctx()
    made, message = dispatch_officer(ctx, g.principal, str(picked["incident_id"]), str(picked["officer_id"]), note)
    if made is None:
        return html.Span(message, className="dispatch-error"), no_update, no_update, no_update, no_update, no_update
    return (html.Span(message, className="dispatch-done", **ids.attrs({"data-dispatch": made["id"]})), {"display": "none"}, None,
            active_part(ctx, g.principal, str(picked["incident_id"])),
            candidates_part(ctx, g.principal, str(picked["incident_id"]), skills, languages), "")


@dash.callback(
    Output(ids.DISPATCH_MESSAGE, "children", allow_duplicate=True),
    Output(ids.DISPATCH_ACTIVE, "children", allow_duplicate=True),
    Input(ids.dispatch_step(ALL, ALL), "n_clicks"),
    State(ids.DISPATCH_INCIDENT, "value"),
    State(STEP_REASON, "value"),
    prevent_initial_call=True,
)
def move(_clicks: list[int | None], incident_id: str | None, reason: str | None) -> Any:
    if not _clicked():
        return no_update, no_update
    trigger = dash_ctx.triggered_id
    ctx = _ctx()
    reason = reason if isinstance(reason, str) else None
    message = step(ctx, g.principal, str(trigger["dispatch"]), str(trigger["to"]), reason)
    return message, active_part(ctx, g.principal, incident_id)
