"""The form a duty officer fills in after clicking a place on the map."""

from __future__ import annotations

import math

from dash import dcc, html

from crisis.domain.model import SEVERITY_LABELS
from crisis.domain.taxonomy import choices as type_choices
from crisis.ui import ids

RADIUS_MIN_KM = 0.1
RADIUS_MAX_KM = 5000.0
RADIUS_REFUSED = f"The affected radius must be between {RADIUS_MIN_KM:g} and {RADIUS_MAX_KM:g} km."


def radius_km(value: object) -> tuple[float | None, str | None]:
    """The radius typed in the form: (km or None when left empty, None or the refusal in words)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None, RADIUS_REFUSED
    try:
        km = float(str(value).strip().replace(",", "."))
    except ValueError:
        return None, RADIUS_REFUSED
    if not math.isfinite(km) or not RADIUS_MIN_KM <= km <= RADIUS_MAX_KM:
        return None, RADIUS_REFUSED
    return km, None


def pinned(where: object) -> dict[str, object] | None:
    """The report-click store's point ({"lat", "lon", "approximate"?}), or None when it is not one."""
    if not isinstance(where, dict):
        return None
    lat, lon = where.get("lat"), where.get("lon")
    if not (isinstance(lat, (int, float)) and isinstance(lon, (int, float))) or isinstance(lat, bool) or isinstance(lon, bool):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return {"lat": float(lat), "lon": float(lon), "approximate": where.get("approximate") is True}


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
            html.Label(["Type", dcc.Dropdown(id=ids.REPORT_TYPE, options=[{"label": c["label"], "value": c["value"]} for c in type_choices()], value=None, placeholder="Choose the type...", clearable=False)]),
            html.Label(["Severity", dcc.RadioItems(id=ids.REPORT_SEVERITY, options=[{"label": f"{s} {SEVERITY_LABELS[s]}", "value": s} for s in range(1, 6)], value=3, inline=True)]),
            # Text, not type="number": a number input hands the server None for "-5" (outside its
            # min/max), and the report would silently go without its radius; crisis.ui.pages.live_map
            # checks the words typed and refuses what is out of range.
            html.Label(["Affected radius (km, optional)", dcc.Input(id=ids.REPORT_RADIUS, type="text",
                                                                    placeholder=f"{RADIUS_MIN_KM:g} to {RADIUS_MAX_KM:g}", maxLength=20)]),
            html.Label(["Details", dcc.Textarea(id=ids.REPORT_DESCRIPTION, placeholder="source, casualties, staff involved...")]),
            html.Div(className="report-buttons", children=[
                html.Button("Report", id=ids.REPORT_SUBMIT, className="action action-primary"),
                html.Button("Cancel", id=ids.REPORT_CANCEL, className="action"),
            ]),
            html.Div("", id=ids.REPORT_RESULT, className="report-result", role="status"),
        ],
    )
