"""An incident's facts, its whole history, and (for duty officers) what to do next."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from crisis.domain.incidents import changed_words
from crisis.domain.model import SEVERITY_LABELS
from crisis.domain.regions import region_names
from crisis.domain.taxonomy import full_label
from crisis.ui.components.lifecycle import lifecycle_buttons
from crisis.ui import ids


def radius_text(incident: dict[str, Any], by_severity_km: float | None) -> str:
    """What who-is-affected uses (crisis.fusion.affected): 'polygon' (an area wins over a
    radius), '25 km', or '50 km (by severity)' when the incident gives neither
    (CRISIS_DEFAULT_RADIUS_KM). The map's panel says it the same way."""
    if incident.get("area"):
        return "polygon"
    if incident.get("radius_km"):
        return f"{incident['radius_km']:g} km"
    return f"{by_severity_km:g} km (by severity)" if by_severity_km else "by severity"


def _fact(label: str, value: Any) -> html.Div:
    return html.Div([html.Dt(label), html.Dd("-" if value in (None, "") else str(value))], className="fact")


def _history_item(change: dict[str, Any]) -> html.Li:
    details = []
    if change.get("status"):
        details.append(f"status {change.get('status_from', '')} -> {change['status']}".replace(" ->", " ->").strip())
    if change.get("fields"):
        details.append("changed " + changed_words(change))
    if change.get("owner"):  # absent for a role that may not see names (crisis.domain.access)
        details.append(f"owner {change['owner']}")
    text = "; ".join(details) or change.get("kind", "")
    return html.Li(
        className="history-item",
        children=[
            html.Span(change.get("time", "")[:19].replace("T", " ") + " UTC", className="history-time"),
            html.Span(change.get("kind", ""), className="history-kind"),
            # No "by" at all (not even "system") when the viewer may not see who did it.
            html.Span(change.get("by") or "system", className="history-by") if "by" in change else None,
            html.Span(text, className="history-text"),
            html.Div(change["note"], className="history-note") if change.get("note") else None,
        ],
    )


# The parts of the detail that follow the incident live (assets/crisis_incident.js sets the
# signal when a pushed incident message is about the incident shown; the callback in
# crisis/ui/pages/incident.py re-renders the facts and the history, not the owner and note
# fields someone may be typing in).
DETAIL_LIVE_SIGNAL = "incident-detail-signal"
DETAIL_FACTS = "incident-detail-facts"
DETAIL_HISTORY = "incident-detail-history"
NOT_VISIBLE = "No such incident, or it is outside your region."


def detail_facts(detail: dict[str, Any]) -> list[Any]:
    """Title, stale flag, facts, description and the next lifecycle steps (editors)."""
    incident = detail["incident"]
    countries = [c for c in (incident.get("countries") or [incident.get("country")]) if c]
    return [
        html.H2([html.Span(str(incident["severity"]), className="sev-badge"), " ", incident["title"]]),
        html.Div("STALE: no update for longer than the agreed interval", className="stale-flag") if detail["stale"] else None,
        html.Dl(
            className="facts",
            children=[
                _fact("Status", incident["status"]),
                _fact("Severity", f"{incident['severity']} ({SEVERITY_LABELS[int(incident['severity'])]})"),
                _fact("Type", full_label(str(incident["type"]))),  # as the map panel and the board say it
                _fact("Countries" if len(countries) > 1 else "Country", ", ".join(countries)),  # every country it spans
                _fact("Region", region_names(incident.get("regions") or [r for r in [incident.get("region")] if r])),
                _fact("Location", f"{incident['lat']:.4f}, {incident['lon']:.4f}" + (" (approximate)" if incident.get("approximate") else "")),
                _fact("Affected radius", radius_text(incident, detail.get("radius_by_severity_km"))),
                _fact("Reported", incident["reported_at"][:19].replace("T", " ") + " UTC"),
                _fact("Updated", incident["updated_at"][:19].replace("T", " ") + " UTC"),
                _fact("Owner", incident.get("owner")) if "owner" in incident else None,
                _fact("Source", f"{incident['source']} {incident.get('source_id') or ''}".strip()),
            ],
        ),
        html.P(incident.get("description") or "", className="detail-description"),
        lifecycle_buttons(incident["id"], incident["status"], detail["next_statuses"], int(detail.get("still_sent") or 0),
                          detail.get("people_counts"))
        if detail["can_edit"] else None,
    ]


def detail_history(detail: dict[str, Any]) -> list[Any]:
    return [html.H3("History"), html.Ol([_history_item(c) for c in reversed(detail["history"])], className="history")]


def incident_detail(detail: dict[str, Any] | None, message: str = "") -> html.Div:
    if detail is None:
        return html.Div(NOT_VISIBLE, className="detail-empty")
    incident = detail["incident"]
    actions: list[Any] = []
    if detail["can_edit"]:
        actions = [
            html.Div(
                className="detail-edit",
                children=[
                    dcc.Input(id=ids.DETAIL_OWNER, value=incident.get("owner") or "", placeholder="owner (duty officer)", debounce=True),
                    dcc.Textarea(id=ids.DETAIL_NOTE, placeholder="note for the log and the next shift"),
                    html.Button("Save owner and note", id=ids.DETAIL_SAVE, className="action"),
                ],
            ),
        ]
    return html.Div(
        className=f"incident-detail sev-{incident['severity']}",
        **{"data-incident-id": incident["id"]},
        children=[
            dcc.Store(id=ids.DETAIL_INCIDENT, data=incident["id"]),
            dcc.Store(id=DETAIL_LIVE_SIGNAL),
            html.Div(detail_facts(detail), id=DETAIL_FACTS, className="detail-live"),
            *actions,
            html.Div(message, id=ids.DETAIL_MESSAGE, className="detail-message", role="status"),
            html.Div(detail_history(detail), id=DETAIL_HISTORY),
            # (not on the incident's own page: app.css hides it inside .incident-page)
            dcc.Link("Open the incident's own page", href=f"/incident/{incident['id']}", className="detail-link detail-own-page"),
        ],
    )
