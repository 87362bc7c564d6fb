"""A line of download links to the exports (crisis/api/exports.py): the same files the API
gives, cut to what the signed-in reader may see."""

from __future__ import annotations

from urllib.parse import quote

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


def incidents_downloads() -> html.Div:
    return downloads("Download the incidents you see",
                     [("CSV", "incidents.csv"), ("GeoJSON", "incidents.geojson"), ("KML", "incidents.kml")],
                     id="incidents-downloads")


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
