"""The Dash app around the pages: header, live connection state, shared stores."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import dash
from dash import ClientsideFunction, Input, dcc, html
from flask import Flask, Response, current_app, g, request

from crisis.auth import csrf_token
from crisis.bootstrap import ASSETS
from crisis.domain import access
from crisis.domain.regions import region_names
from crisis.layers import map_figure
from crisis.realtime.gateway import HEARTBEAT_SECONDS, NAMESPACE
from crisis.ui import ids

LIVE_BANNER = "live-banner"
# The page's scripts and styles under /assets/ are linked with Dash's cache-buster (``?m=``, the
# file's modification time): a new file is a new address. So the browser may keep one for a
# year and never ask again; without this, each page load asked again for every one of the
# twenty (each answered 304 Not Modified, but each a round trip before the page could start:
# BENCHMARKS.md section 10). Addresses without ``m`` (the basemap, which MapLibre fetches)
# are still asked for each time.
ASSET_MAX_AGE_S = 365 * 86_400
# The plotly.js that dcc.Graph loads: Dash serves plotly's full bundle (4.8 MB, every trace
# type); the pages draw only scattermap, scatter and bar, so the same plotly.js version built
# with those alone (3.0 MB; assets/vendor/README.md) is sent in its place, at the same address.
# Parsed and run by every page before its map is made (docs/adr/009-page-load.md). Only while
# its version is the one Dash would serve (the plotly package's): an upgrade falls back to the
# full bundle until the partial one is built again (tests/unit/test_plotly_bundle.py fails).
PLOTLY_BUNDLE = ASSETS / "vendor" / "plotly-crisis.min.js"
PLOTLY_TRACES = ("scattermap", "scatter", "bar")


def plotly_bundle_version(path: Any = PLOTLY_BUNDLE) -> str | None:
    """The plotly.js version in the partial bundle's banner, or None without the file."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(300)
    except OSError:
        return None
    found = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", head)
    return found.group(1) if found else None


def _use_plotly_bundle() -> bool:
    from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

    return plotly_bundle_version() == get_plotlyjs_version()


ROLE_LABELS = {
    "admin": "Administrator",
    "duty_officer": "Duty officer",
    "regional_desk": "Regional desk",
    "wall": "Wall display",
}


def _may_open(page: dict[str, Any], principal: Any) -> bool:
    """A page that lists ``roles`` (``dash.register_page(..., roles=...)``) is in the
    navigation only for those roles; the others are for every signed-in reader."""
    roles = page.get("roles")
    return roles is None or (principal is not None and principal.role in roles)


def _header() -> html.Header:
    principal = g.get("principal")
    who = ""
    if principal is not None:
        who = f"{principal.name} - {ROLE_LABELS.get(principal.role, principal.role)}"
        granted = access.regions_of(principal)
        if granted:  # the desk's region(s) by name: "Middle East and North Africa"
            who += f", {region_names(granted)}"
    return html.Header(
        className="shell-header",
        children=[
            html.Div("Crisis Coordination Centre", className="shell-title"),
            html.Nav(
                className="shell-nav",
                children=[
                    dcc.Link(page["name"], href=page["relative_path"])
                    for page in dash.page_registry.values()
                    if page.get("nav", True) and _may_open(page, principal)
                ],
            ),
            html.Span("RECONNECTING", id=ids.LIVE_STATUS, className="live-status waiting"),
            html.Span("no data yet", id=ids.LIVE_AGE, className="live-age waiting"),
            html.Span("", id=ids.LIVE_COUNTS, className="live-counts"),
            # People needing help across the incidents this viewer sees: loud on every page
            # (assets/crisis_people.js; first figure from crisis/ui/pages/people.py).
            dcc.Link("", id=ids.NEEDS_HELP_BADGE, href="/people", className="needs-help-badge none"),
            dcc.Store(id=ids.NEEDS_HELP_SEED),
            # Roster coverage warnings (next 30 days; loud when one is in force now): on every
            # page, walls too, naming no one (assets/crisis_roster.js; first figures from
            # crisis/ui/pages/roster.py, then the live "roster" messages).
            dcc.Link("", id=ids.ROSTER_BADGE, href="/roster", className="roster-badge none"),
            dcc.Store(id=ids.ROSTER_SEED),
            dcc.Link("feeds: waiting", id=ids.LIVE_FEEDS, href="/feeds", className="live-feeds waiting"),
            html.Span(who, className="shell-user"),
            html.A("API", href="/api/v1/docs", className="shell-logout", target="_blank"),
            # Signing out is a POST with the CSRF token (it ends every session of the user).
            html.Form(
                action="/logout",
                method="post",
                className="shell-logout-form",
                children=[
                    dcc.Input(type="hidden", name="csrf_token", value=csrf_token(), id="sign-out-csrf"),
                    html.Button("Sign out", type="submit", id="sign-out", className="shell-logout"),
                ],
            ),
        ],
    )


def _layout() -> Any:
    config = {
        "namespace": NAMESPACE,
        "traveller_trace": map_figure.TRAVELLER_TRACE,
        "incident_trace": map_figure.INCIDENT_TRACE,
        "stale_minutes": current_app.config.get("CRISIS_STALE_MINUTES", 60),
        # The client says STALE when the server has been silent for 1.6 heartbeats (assets/crisis_live.js).
        "heartbeat_seconds": HEARTBEAT_SECONDS,
    }
    return html.Div(
        className="shell",
        children=[
            dcc.Store(id=ids.LIVE_CONFIG, data=config),
            dcc.Store(id=ids.LIVE_SIGNAL),
            # Loud, full width, on every page (walls too) whenever the picture is not live:
            # "STALE: ..." or "RECONNECTING: ..." (assets/crisis_live.js refreshStatus).
            html.Div("", id=LIVE_BANNER, className="live-banner hidden", role="alert", **{"aria-live": "assertive"}),
            _header(),
            html.Main(dash.page_container, className="shell-main"),
        ],
    )


def create_dash(server: Flask, map_style: str, stale_minutes: int = 60) -> dash.Dash:
    app = dash.Dash(
        __name__,
        server=server,
        assets_folder=str(ASSETS),
        use_pages=True,
        pages_folder="",
        title="Crisis Coordination Centre",
        update_title=None,
        suppress_callback_exceptions=True,
        # assets/vendor/ holds files served, not linked in every page (the plotly.js bundle below).
        assets_path_ignore=["vendor"],
    )
    assets_prefix = app.config.requests_pathname_prefix + app.config.assets_url_path.strip("/") + "/"

    plotly_path = app.config.requests_pathname_prefix + "_dash-component-suites/plotly/package_data/plotly.min.js"
    if _use_plotly_bundle():
        # Read once and answered from memory: a page closed mid-download leaves no open file
        # behind (send_file's file wrapper was closed only by the garbage collector: a
        # ResourceWarning, an error under the tests' filterwarnings).
        bundle = PLOTLY_BUNDLE.read_bytes()
        bundle_etag = hashlib.sha256(bundle).hexdigest()[:32]

        @server.before_request
        def _partial_plotly() -> Response | None:
            if request.path != plotly_path:
                return None
            response = Response(bundle, mimetype="application/javascript")
            response.set_etag(bundle_etag)
            response.cache_control.max_age = 0
            response.cache_control.public = True
            return response.make_conditional(request)

    @server.after_request
    def _cache_assets(response: Response) -> Response:
        if (request.method == "GET" and response.status_code in (200, 304) and request.args.get("m")
                and request.path.startswith(assets_prefix)):
            response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE_S}, immutable"
        return response

    server.config["CRISIS_MAP_STYLE"] = map_style
    server.config["CRISIS_STALE_MINUTES"] = stale_minutes
    # Importing a page registers it and its callbacks; the order is the navigation's.
    from crisis.ui.pages import live_map  # noqa: F401, I001
    from crisis.ui.pages import board  # noqa: F401
    from crisis.ui.pages import feeds  # noqa: F401
    from crisis.ui.pages import incident  # noqa: F401
    from crisis.ui.pages import people  # noqa: F401
    from crisis.ui.pages import areas  # noqa: F401
    from crisis.ui.pages import roster  # noqa: F401
    from crisis.ui.pages import dispatch  # noqa: F401
    from crisis.ui.pages import audit  # noqa: F401
    from crisis.ui.pages import shiftlog  # noqa: F401
    from crisis.ui.pages import wall  # noqa: F401  (not in the navigation; its page hides the shell's links)

    app.layout = _layout
    # The map's picture in the first HTML of a map page (crisis/ui/map_preview.py, ADR 009).
    from crisis.ui.map_preview import init_map_preview

    init_map_preview(server, app)
    app.clientside_callback(
        ClientsideFunction("crisis", "start"),
        Input(ids.LIVE_CONFIG, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("crisis", "counts"),
        dash.Output(ids.LIVE_COUNTS, "children"),
        Input(ids.LIVE_SIGNAL, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("crisis", "feedBadge"),
        dash.Output(ids.LIVE_FEEDS, "children"),
        dash.Output(ids.LIVE_FEEDS, "className"),
        Input(ids.LIVE_SIGNAL, "data"),
    )
    return app
