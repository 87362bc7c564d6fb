"""The form a duty officer fills in after clicking a place on the map."""

from __future__ import annotations

from dash import dcc, html

from crisis.domain.model import SEVERITY_LABELS
from crisis.domain.taxonomy import choices as type_choices
from crisis.ui import ids


def report_form() -> html.Div:
    return html.Div(
        id=ids.REPORT_PANEL,
        className="report-panel",
        style={"display": "none"},
        children=[
            dcc.Store(id=ids.REPORT_CLICK),
            html.H2("Report an incident"),
            html.Div("", id=ids.REPORT_WHERE, className="report-where"),
            html.Label(["What happened", dcc.Input(id=ids.REPORT_TITLE, placeholder="e.g. Armed clash near the UN compound", maxLength=300)]),
            html.Label(["Type", dcc.Dropdown(id=ids.REPORT_TYPE, options=[{"label": c["label"], "value": c["value"]} for c in type_choices()], value="other", clearable=False)]),
            html.Label(["Severity", dcc.RadioItems(id=ids.REPORT_SEVERITY, options=[{"label": f"{s} {SEVERITY_LABELS[s]}", "value": s} for s in range(1, 6)], value=3, inline=True)]),
            html.Label(["Affected radius (km, optional)", dcc.Input(id=ids.REPORT_RADIUS, type="number", min=0.1, max=5000, step=0.1)]),
            html.Label(["Details", dcc.Textarea(id=ids.REPORT_DESCRIPTION, placeholder="source, casualties, staff involved...")]),
            html.Div(className="report-buttons", children=[
                html.Button("Report", id=ids.REPORT_SUBMIT, className="action action-primary"),
                html.Button("Cancel", id=ids.REPORT_CANCEL, className="action"),
            ]),
            html.Div("", id=ids.REPORT_RESULT, className="report-result", role="status"),
        ],
    )
