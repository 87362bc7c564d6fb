"""A line of download links to the exports (crisis/api/exports.py): the same files the API
gives, cut to what the signed-in reader may see; the board's carry every filter of the board."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlencode

from dash import html

EXPORTS = "/api/v1/exports"


def downloads(label: str, files: list[tuple[str, str]], id: str | None = None) -> html.Div:
    """``label``: CSV | GeoJSON | KML, each ``(text, path under /api/v1/exports/)``; no files: the label alone."""
    links: list[object] = [html.Span(label + (": " if files else ""), className="downloads-label")]
    for n, (text, path) in enumerate(files):
        if n:
            links.append(" | ")
        links.append(html.A(text, href=f"{EXPORTS}/{path}", download="", className="download-link"))
    return html.Div(links, className="downloads", **({"id": id} if id else {}))


INCIDENTS_DOWNLOADS = "incidents-downloads"
INCIDENT_FILES = (("CSV", "incidents.csv"), ("GeoJSON", "incidents.geojson"), ("KML", "incidents.kml"))
ALL_SEVERITIES = frozenset(range(1, 6))
SEES_ROWS = "Download the incidents you see (the board's rows: its filters go into the files)"


def incidents_query(region: str | None = None, types: Sequence[str] | None = None,
                    severities: Sequence[int] | None = None, statuses: Sequence[str] | None = None,
                    window: str | None = None, own_scope: str | None = None, all_statuses: Sequence[str] = (),
                    closed_minutes: int | None = None) -> str:
    """The board's filters as the incident exports' query string (their filters are the
    board's: ``crisis.feeds.schemas.incident_filters``), "" for none. A filter left at
    "everything" is not passed; a desk's fixed region (``own_scope``, its regions) neither:
    the export is cut to them anyway. With "closed" not ticked, the board still lists a
    closed incident ``closed_minutes`` after closing: ``closed_within`` says so."""
    query: list[tuple[str, str]] = []
    ticked = list(statuses) if statuses is not None else None
    if ticked is not None and set(ticked) != set(all_statuses):
        query.append(("status", ",".join(ticked)))
        if "closed" not in ticked and closed_minutes is not None:
            query.append(("closed_within", str(int(closed_minutes))))
    if region and region != own_scope:
        query.append(("region", region))
    if types:
        query.append(("type", ",".join(types)))
    if severities is not None and set(severities) != ALL_SEVERITIES:
        query.append(("severity", ",".join(str(s) for s in sorted(severities))))
    if window and window != "all":
        query.append(("window", window))
    return "?" + urlencode(query, safe=",") if query else ""


def incidents_downloads(region: str | None = None, types: Sequence[str] | None = None,
                        severities: Sequence[int] | None = None, statuses: Sequence[str] | None = None,
                        window: str | None = None, own_scope: str | None = None,
                        all_statuses: Sequence[str] = (), closed_minutes: int | None = None) -> html.Div:
    """The board's links to the incident exports, carrying every filter of the board
    (``incidents_query``): the files hold exactly the rows the board shows (as of the
    download: the time window and a closed incident's stay count from then). Nothing ticked
    in severity or status: no rows to give, and no links."""
    if (severities is not None and not list(severities)) or (statuses is not None and not list(statuses)):
        return downloads("Nothing to download: tick a status and a severity to list incidents", [], id=INCIDENTS_DOWNLOADS)
    query = incidents_query(region, types, severities, statuses, window, own_scope, all_statuses, closed_minutes)
    return downloads(SEES_ROWS, [(text, path + query) for text, path in INCIDENT_FILES], id=INCIDENTS_DOWNLOADS)


def affected_downloads(incident_id: str) -> html.Div:
    ref = quote(incident_id, safe="")
    return downloads("Download who it affects",
                     [("CSV", f"incidents/{ref}/affected.csv"), ("GeoJSON", f"incidents/{ref}/affected.geojson")],
                     id="affected-downloads")


def areas_downloads() -> html.Div:
    return downloads("Download the areas you see", [("KML", "areas.kml")], id="areas-downloads")


def movement_downloads(area_id: str | None) -> html.Div | None:
    """The selected area's movement list (nothing while no area is selected)."""
    if not area_id:
        return None
    ref = quote(area_id, safe="")
    return downloads("Download the list", [("CSV", f"areas/{ref}/movement.csv"), ("GeoJSON", f"areas/{ref}/movement.geojson")])
