"""An incident's affected people: who, why, where from and how fresh, and whether they are accounted for.

The rows come from the read model (``crisis.views.affected_people``), already cut to
what the viewer may receive (``crisis.domain.access.person_view``): a wall display gets
rows without names, agencies or ids, and this panel then shows no name columns at all.
People who need help come first and loud, then the unreachable, the unsure, those not
heard from and the safe (``crisis.domain.accountability.SEVERITY_ORDER``), nearest first.

The counts ("% accounted for") are rendered here once and then kept current in the
browser by assets/crisis_people.js from the live "affected" messages (no reload); the
table and the burn-down are re-read from the server when such a message arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import dcc, html

from crisis.domain.accountability import SEVERITY_ORDER, STATUSES
from crisis.ui import ids
from crisis.ui.row_changes import RANK_COLUMN, ranked

STATUS_LABELS = {
    "needs_help": "NEEDS HELP", "unreachable": "unreachable", "unsure": "unsure",
    "no_response": "no response", "safe": "safe",
}
# What the counts bar says after a number ("2 NEED HELP", "3 unsure").
COUNT_LABELS = {**STATUS_LABELS, "needs_help": "NEED HELP"}
# Codes shown in words in a grid ("national_staff" -> "National staff"; assets/crisis_people.js).
IN_WORDS = {"function": "crisisWords(params.value)"}
# Where a person's best-known position comes from (crisis.domain.travellers.SOURCES), in words.
SOURCE_WORDS = {"function": "({checkin: 'Check-in', report: 'Position report', itinerary: 'Itinerary', "
                            "duty_station: 'Duty station'})[params.value] || crisisWords(params.value)"}
# What a duty officer's buttons say, in the order they are shown.
STATUS_VERBS = {"safe": "Mark safe", "needs_help": "Needs help", "unsure": "Unsure", "unreachable": "Unreachable",
                "no_response": "No response yet"}
COUNT_ORDER = ("needs_help", "unreachable", "unsure", "no_response", "safe")
_RANK = {status: rank for rank, status in enumerate(SEVERITY_ORDER)}

NEEDS_HELP_ROW = "params.data.status === 'needs_help'"


def status_rules() -> dict[str, str]:
    return {f"status-{s}": f"params.value === '{s}'" for s in STATUSES}


def columns(sees_names: bool) -> list[dict[str, Any]]:
    """The table's columns; the identity columns only for a viewer who may see names."""
    cols: list[dict[str, Any]] = [
        {"field": "status", "headerName": "Status", "width": 140, "cellClass": "status-cell", "pinned": "left",
         "cellClassRules": status_rules(), "valueFormatter": {"function": "crisisStatusLabel(params.value)"}},
    ]
    if sees_names:
        cols += [
            {"field": "name", "headerName": "Name", "flex": 2, "minWidth": 160},
            {"field": "agency", "headerName": "Agency", "width": 110},
        ]
    cols += [
        {"field": "category", "headerName": "Category", "width": 150, "valueFormatter": IN_WORDS},
        {"field": "reason_text", "headerName": "Why affected", "flex": 2, "minWidth": 190},
        {"field": "distance_km", "headerName": "Distance (km)", "width": 130, "type": "rightAligned",
         "valueFormatter": {"function": "params.value == null ? '' : params.value.toFixed(1)"}},
        {"field": "position_source", "headerName": "Position from", "width": 130, "valueFormatter": SOURCE_WORDS},
        {"field": "position_at", "headerName": "Position age", "width": 130,
         "valueFormatter": {"function": "params.value ? crisisAge(params.value) : 'unknown'"}},
        {"field": "confidence", "headerName": "Confidence", "width": 115},
        {"field": "status_at", "headerName": "Status set", "width": 120,
         "valueFormatter": {"function": "params.value ? crisisAge(params.value) + ' ago' : ''"}},
    ]
    if sees_names:
        cols.append({"field": "status_by", "headerName": "By", "width": 120})
    return [*cols, RANK_COLUMN]  # the order people_rows chose, kept by a live update (crisis.ui.row_changes)


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ") + " UTC" if iso else ""


def people_rows(people: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Table rows: needs help first, then by status (worst first), then as the read model ordered them."""
    rows = []
    for order, person in enumerate(people):
        row = dict(person)
        row["row_id"] = str(person.get("traveller_id") or person.get("anon") or f"row-{order}")
        row["status"] = str(person.get("status") or "no_response")
        row["reason_text"] = ("itinerary: arrives " + _when(person.get("arrive"))) if person.get("reason") == "itinerary" else "position inside"
        row["_order"] = order
        rows.append(row)
    rows.sort(key=lambda r: (_RANK.get(r["status"], len(_RANK)), r["_order"]))
    return ranked(rows)


def count_class(status: str, n: int) -> str:
    """The class of a count's box: a non-zero "needs help" is loud (assets/crisis_people.js keeps this in step)."""
    return f"count count-{status}" + (" loud" if status == "needs_help" and n else "")


PEOPLE_PCT_LABEL = "people-pct-label"  # assets/crisis_people.js keeps it in step with the counts
NOBODY_AFFECTED = "Nobody of ours is affected"


def accounted_for(total: Any, pct: Any) -> str:
    """"87.5 % accounted for"; with nobody affected, that nobody is: never "100 %" or "0 %" of nobody."""
    if not int(total or 0):
        return NOBODY_AFFECTED
    return f"{float(pct or 0.0):.1f} % accounted for"


NOBODY_HERE = "Nobody in your regions is affected"


def elsewhere_words(n: int, shown: int) -> str:
    """What a desk is told of the ``n`` affected people it may not see, beside the ``shown``
    it sees (assets/crisis_workspace.js says the same)."""
    if n <= 0:
        return ""
    people = "person" if n == 1 else "people"
    return (f"{'and ' if shown else ''}{n} {'more ' if shown else ''}affected {people} in other regions, "
            "not shown to this desk (their region's desk and the duty officers see them)")


def count_badges(counts: Mapping[str, Any], pct: float, elsewhere: int = 0) -> html.Div:
    """The counts bar: needs help first and loud, then the others, then "% accounted for"
    (or "Nobody of ours is affected" when nobody is); for a desk, how many more are
    affected in other regions (``elsewhere``), so that its figure is not read as the whole."""
    nobody = not int(counts.get("total", 0) or 0)
    badges = [
        html.Span([html.Span(str(counts.get(s, 0)), id=ids.people_count(s), className="count-n"), " ", COUNT_LABELS[s]],
                  id=ids.people_count_box(s), className=count_class(s, int(counts.get(s, 0))))
        for s in COUNT_ORDER
    ]
    return html.Div(
        id=ids.PEOPLE_COUNTS,
        className="people-counts",
        children=[
            html.Span([html.Span("" if nobody else f"{pct:.1f}", id=ids.PEOPLE_PCT, className="pct-n"),
                       html.Span((NOBODY_HERE if elsewhere > 0 else NOBODY_AFFECTED) if nobody else "% accounted for",
                                 id=PEOPLE_PCT_LABEL)],
                      className="count count-pct"),
            html.Span([html.Span(str(counts.get("total", 0)), id=ids.people_count("total"), className="count-n"), " affected"],
                      className="count count-total"),
            *badges,
            html.Span(elsewhere_words(elsewhere, int(counts.get("total", 0) or 0)), className="count count-elsewhere")
            if elsewhere > 0 else None,
        ],
    )


def _point(item: Any) -> tuple[datetime, int] | None:
    """One burn-down point from what the read model gives: (time, n), [iso, n] or {"at", "unaccounted"}."""
    if isinstance(item, Mapping):
        at, n = item.get("at") or item.get("time"), item.get("unaccounted", item.get("value"))
    else:
        at, n = item[0], item[1]
    if at is None or n is None:
        return None
    return (at if isinstance(at, datetime) else datetime.fromisoformat(str(at)), int(n))


def burndown_figure(burndown: Mapping[str, Any] | None) -> go.Figure:
    """Unaccounted people over time since the incident began, as steps (a burn-down)."""
    points = [p for p in (_point(i) for i in (burndown or {}).get("points", [])) if p is not None]
    figure = go.Figure(
        go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", line_shape="hv",
                   line={"color": "#b42318", "width": 3}, marker={"size": 5}, name="not accounted for",
                   hovertemplate="%{x|%d %b %H:%M} UTC: %{y} not accounted for<extra></extra>"),
    )
    figure.update_layout(
        margin={"l": 40, "r": 10, "t": 30, "b": 30}, height=230, uirevision="burndown",
        title={"text": "Not accounted for, since the incident began", "font": {"size": 13}},
        yaxis={"rangemode": "tozero", "title": None, "tickformat": "d"}, xaxis={"title": None},
        plot_bgcolor="#ffffff", paper_bgcolor="#ffffff", showlegend=False,
    )
    if not points:
        figure.add_annotation(text="no one affected yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


REFUSALS = ("Not saved", "Not confirmed", "cannot", "Select ", "Nothing changed")


def outcome(message: str) -> html.Span | str:
    """What an action's message looks like: a refusal (or a partial one) in red, a success in green."""
    if not message:
        return ""
    refused = any(word in message for word in REFUSALS)
    return html.Span(message, className="outcome refused" if refused else "outcome done")


def _actions() -> html.Div:
    return html.Div(
        className="people-actions",
        children=[
            html.Span("Selected people:", className="people-actions-label"),
            *[html.Button(verb, id=ids.people_status_action(status), className=f"action people-set status-{status}")
              for status, verb in STATUS_VERBS.items()],
            dcc.Input(id=ids.PEOPLE_NOTE, placeholder="note (how we know)", className="people-note", debounce=False),
        ],
    )


def people_panel(affected: Mapping[str, Any] | None, burndown: Mapping[str, Any] | None, *, sees_names: bool,
                 can_edit: bool, message: str = "") -> html.Div:
    """The whole panel of one incident: counts, the people table, what a duty officer may do, the burn-down."""
    if affected is None:
        return html.Div(id=ids.PEOPLE_PANEL, className="people-panel")
    counts = affected.get("counts") or {}
    radius = affected.get("radius_km_used")
    return html.Div(
        id=ids.PEOPLE_PANEL,
        className="people-panel",
        **{"data-incident-id": affected.get("incident")},
        children=[
            dcc.Store(id=ids.PEOPLE_INCIDENT, data=affected.get("incident")),
            dcc.Store(id=ids.PEOPLE_LIVE),
            html.H3("Affected people"),
            html.P(f"Inside the incident's area (radius used: {radius} km)" if radius else "Inside the incident's area",
                   className="people-note-line"),
            count_badges(counts, float(affected.get("accounted_pct") or 0.0), int(affected.get("in_other_regions") or 0)),
            _actions() if can_edit else None,
            html.Div(outcome(message), id=ids.PEOPLE_MESSAGE, className="detail-message", role="status"),
            dag.AgGrid(
                id=ids.PEOPLE_GRID,
                columnDefs=columns(sees_names),
                rowData=people_rows(affected.get("people") or []),
                getRowId="params.data.row_id",
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                dashGridOptions={"rowClassRules": {"people-row-needs-help": NEEDS_HELP_ROW}, "animateRows": False, "suppressColumnVirtualisation": True,
                                 **({"rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": True,
                                                      "enableClickSelection": True}} if can_edit else {})},
                className="ag-theme-alpine people-grid",
                style={"height": "22rem"},
            ),
            dcc.Graph(id=ids.PEOPLE_BURNDOWN, figure=burndown_figure(burndown), config={"displayModeBar": False},
                      className="people-burndown"),
        ],
    )
