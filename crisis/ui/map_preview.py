"""The map's picture in the page's first HTML: seen in a few hundred ms, not after Dash's boot.

A map page (the live map ``/``, the wall ``/wall`` when its map panel shows first) gets,
in the HTML the server answers (before Dash's scripts, so the browser asks for the picture
at once), an ``<img>`` of :data:`PREVIEW_PATH` in a box where the map will be, with a tag
saying it is a picture. assets/crisis_preview.js then keeps the box on the map's box once
Dash has drawn the page, removes it once the interactive map has drawn its data, and, if
that has not happened 15 s after the page opened, removes the picture and says the live map
did not load (a picture must never pass for the live map). The drawing is
crisis/layers/preview.py; why: docs/adr/009-page-load.md.

Access is the live map's: the picture is drawn from ``crisis.views.live_incidents`` for the
caller (a desk sees its region's incidents; a caller that may not read gets 403 and
nothing; without a session 401: the gate, crisis/auth/gate.py). It is ``no-store``, and it
holds no names (only counts), so a wall's is like any other. The view is the one the
interactive map opens on: a desk's region (``crisis.domain.regions.initial_view``), else
the figure's world view (crisis/layers/map_figure.py); the wall fits the world to its panel.

Cached per process: the countries' outlines per zoom (crisis/layers/preview.py), and the
picture per (page, view, caller's regions, incident stream head): a new incident event
moves the head, so a cached picture is never older than the data.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from functools import lru_cache
from html import escape
from typing import Any

from flask import Flask, Response, abort, current_app, g, request

from crisis.auth.refusals import forbidden

from crisis.adapters import keys
from crisis.bootstrap import ASSETS
from crisis.domain import access
from crisis.ui.components.live_map import opening_view
from crisis.layers import map_figure, preview
from crisis.layers.incidents import WORLD_PX, world_px
from crisis.views import live_incidents

PREVIEW_PATH = "/_crisis/map-preview.svg"
PAGES = ("live", "wall")
BASEMAP = ASSETS / "basemap" / "countries.geojson"
CACHED_PICTURES = 64
WALL_CENTRE = (0.0, 20.0)  # assets/crisis_wall.js fitWorld


@lru_cache(maxsize=1)
def _countries() -> dict[str, Any]:
    with open(BASEMAP, encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def _lon_lat_zoom(view: dict[str, Any]) -> tuple[float, float, float]:
    return float(view["center"]["lon"]), float(view["center"]["lat"]), float(view["zoom"])


def world_view() -> tuple[float, float, float]:
    """(lon, lat, zoom) of the live map's world view (no region)."""
    return _lon_lat_zoom(map_figure.WORLD_VIEW)


def live_view(principal: Any) -> tuple[float, float, float]:
    """(lon, lat, zoom) where a page's live map opens for this caller (the interactive map's own)."""
    return _lon_lat_zoom(opening_view(principal))


def page_of(path: str, args: Any) -> str | None:
    """Which picture a page request shows: "live", "wall" or None (no map shown first)."""
    if path == "/":
        return "live"
    if path == "/wall":
        from crisis.ui.pages.wall import chosen_panels, rotation

        picked = chosen_panels(args.get("panels"))
        shown_first = picked[:1] if rotation(args.get("rotate")) else picked
        return "wall" if "map" in shown_first else None
    return None


def markup(page: str, principal: Any) -> str:
    """The picture's box for the index HTML (before Dash's app entry): the view's centre as
    fractions of the world, and the world's size in px (the wall's: the box's width)."""
    if page == "wall":
        lon, lat, zoom = WALL_CENTRE[0], WALL_CENTRE[1], preview.FIT_ZOOM
        world = ""
    else:
        lon, lat, zoom = live_view(principal)
        world = f"--world:{WORLD_PX * 2.0 ** zoom:.1f}px;"
    x, y = world_px(lon, lat, zoom)
    size = WORLD_PX * 2.0 ** zoom
    style = f"{world}--cxf:{x / size:.6f};--cyf:{y / size:.6f}"
    return (f'<div id="map-preview" class="map-preview map-preview-{page}" style="{escape(style)}" '
            f'data-page="{page}">'
            f'<img id="map-preview-picture" src="{PREVIEW_PATH}?page={page}" fetchpriority="high" '
            f'elementtiming="map-preview" alt="A picture of the map while the live map loads">'
            f'<span class="map-preview-tag" role="status">Picture, not live: live map loading\u2026</span>'
            f'</div>')


class _Pictures:
    """The last pictures drawn, by (page, view, regions, head); bounded, thread-safe."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> str | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], svg: str) -> None:
        with self._lock:
            self._items[key] = svg
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def picture(ctx: Any, principal: Any, page: str, cache: _Pictures | None = None) -> str:
    """The SVG for this caller's ``page`` ("live" or "wall"). PermissionError for a caller
    that may not read."""
    scope = access.region_scope(principal)  # raises for a caller that may not read
    view = live_view(principal) if page == "live" else None
    head = ctx.deps.log.last_id(keys.INCIDENT_STREAM)
    key = (page, view, scope, head)
    found = cache.get(key) if cache is not None and head else None
    if found is not None:
        return found
    messages = live_incidents(ctx, principal)["incidents"]
    if page == "wall":
        svg = preview.world_picture(_countries(), messages, preview.FIT_ZOOM, preview.WALL)
    else:
        assert view is not None
        svg = preview.world_picture(_countries(), messages, view[2])
    if cache is not None and head:
        cache.put(key, svg)
    return svg


def init_map_preview(server: Flask, dash_app: Any) -> None:
    """The picture's route, and its box in the index HTML of the map pages."""
    cache = _Pictures(CACHED_PICTURES)

    @server.route(PREVIEW_PATH)
    def map_preview() -> Response:
        page = request.args.get("page", "live")
        if page not in PAGES:
            abort(404)
        try:
            svg = picture(current_app.extensions["crisis"], g.principal, page, cache)
        except PermissionError:
            return forbidden(f"role {g.principal.role!r} without a region may not read the map")
        response = Response(svg, mimetype="image/svg+xml")
        response.headers["Cache-Control"] = "no-store"
        return response

    original = dash_app.interpolate_index

    def interpolate_index(**kwargs: Any) -> str:
        index: str = original(**kwargs)
        principal = g.get("principal")
        page = page_of(request.path, request.args) if principal is not None and access.can_read(principal) else None
        if page is None:
            return index
        entry = '<div id="react-entry-point">'
        return index.replace(entry, markup(page, principal) + entry, 1)

    dash_app.interpolate_index = interpolate_index
