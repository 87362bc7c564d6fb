"""A line of download links to the exports (crisis/api/exports.py): the same files the API
gives, cut to what the signed-in reader may see; the board's say how far its filters apply."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlencode

from dash import html

EXPORTS = "/api/v1/exports"


def downloads(label: str, files: list[tuple[str, str]], id: str | None = None) -> html.Div:
    """``label``: CSV | GeoJSON | KML, each ``(text, path under /api/v1/exports/)``."""
    links: list[object] = [html.Span(label + ": ", className="downloads-label")]
    for n, (text, path) in enumerate(files):
        if n:
            links.append(" | ")
        links.append(html.A(text, href=f"{EXPORTS}/{path}", download="", className="download-link"))
    return html.Div(links, className="downloads", **({"id": id} if id else {}))


INCIDENTS_DOWNLOADS = "incidents-downloads"
INCIDENT_FILES = (("CSV", "incidents.csv"), ("GeoJSON", "incidents.geojson"), ("KML", "incidents.kml"))
ALL_SEVERITIES = frozenset(range(1, 6))


def incidents_downloads(region: str | None = None, types: Sequence[str] | None = None,
                        severities: Sequence[int] | None = None, statuses: Sequence[str] | None = None,
                        window: str | None = None, own_scope: str | None = None,
                        all_statuses: Sequence[str] = ()) -> html.Div:
    """The board's links to the incident exports, for the board's filters, saying what they hold.

    The export routes (crisis/api/exports.py) narrow the incidents the caller may see by one
    ``status`` only. So a single status ticked on the board goes into the links
    (``?status=active``); the board's other filters (a region chosen, types, severities, several
    statuses, a time window) cannot be passed on, and the label names each one the files are
    not cut by rather than promise "the incidents you see". ``own_scope``: a desk's fixed region
    filter (its regions; the export is cut to them anyway). ``all_statuses``: every status, so
    that all of them ticked is no filter."""
    ticked = list(statuses) if statuses is not None else None
    query = ""
    if ticked is not None and len(ticked) == 1:
        query = "?" + urlencode({"status": ticked[0]})
        what = f"the {ticked[0]} incidents you may see"
    else:
        what = "every incident you may see, closed ones too"
    ignored = []
    if region and region != own_scope:
        ignored.append("region")
    if types:
        ignored.append("type")
    if severities is not None and set(severities) != ALL_SEVERITIES:
        ignored.append("severity")
    if ticked is not None and len(ticked) > 1 and set(ticked) != set(all_statuses):
        ignored.append("status")
    if window and window != "all":
        ignored.append("time")
    label = "Download " + what
    if ignored:
        label += f" (the files are not cut by the board's {_and(ignored)} filter{'s' if len(ignored) > 1 else ''})"
    return downloads(label, [(text, path + query) for text, path in INCIDENT_FILES], id=INCIDENTS_DOWNLOADS)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


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
