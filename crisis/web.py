"""The application factory: Flask server, Dash pages, API, Socket.IO gateway."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dash
from flask import Flask, jsonify
from flask_socketio import SocketIO
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from crisis.adapters import keys
from crisis.api.areas import areas_api
from crisis.api.audit import audit_api
from crisis.api.checkins import checkins_api
from crisis.api.cot import cot_api
from crisis.api.feeds import feeds_api
from crisis.api.openapi import openapi
from crisis.api.roster import roster_api
from crisis.api.routes import api
from crisis.api.shiftlog import shiftlog_api
from crisis.api.travellers import travellers_api
from crisis.auth import init_auth
from crisis.bootstrap import Context, bootstrap, secret_key
from crisis.config import Settings
from crisis.feeds.pollers import Pollers
from crisis.fusion.affected import default_radii
from crisis.adapters.storage_health import UNAVAILABLE_MESSAGE
from crisis.http_safety import STORAGE_UNAVAILABLE, init_http_safety, init_write_confirmation
from crisis.realtime import areas_push, roster_push
from crisis.realtime.accountability_push import AccountabilityPush
from crisis.realtime.gateway import BoundedManager, Gateway
from crisis.realtime.people import PeopleLive
from crisis.realtime.namespace import LiveNamespace, TolerantPacket, origin_check
from crisis.ui.shell import create_dash
from crisis.views import feed_health_report

MAX_BODY_BYTES = 4 * 1024 * 1024


class ClosingRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, except that a connection it was told dropped is closed.

    A WebSocket session ends (in Engine.IO's threading driver) by raising ConnectionError
    out of the WSGI call. Werkzeug's own handler then keeps the connection open as HTTP/1.1
    keep-alive and reads the next request from it: when the server ended the session first
    (a ping time-out, a revoked token, a client told to go), the client's last frames were
    parsed as an HTTP request ("code 400, Bad request syntax") and the 400 page sent back
    was read by the client as WebSocket frames. Nothing may be read as HTTP after a
    WebSocket session, so the connection is closed."""

    def connection_dropped(self, error: BaseException, environ: dict | None = None) -> None:  # type: ignore[type-arg]
        self.close_connection = True
        super().connection_dropped(error, environ)


class _ClosedWhenDropped:
    """A response body closed when the server lets go of it, even if the server never called
    ``close()``. Werkzeug's server skips ``close()`` when the client went away mid-response (a
    page closed while a file was being sent): the open file then waited for the garbage
    collector (a ResourceWarning). Here it is closed as soon as the body is released."""

    __slots__ = ("_body", "_closed")

    def __init__(self, body: Any) -> None:
        self._body = body
        self._closed = False

    def __iter__(self) -> Any:
        return iter(self._body)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._body, "close", None)
        if close is not None:
            close()

    def __del__(self) -> None:
        self.close()


def closing_bodies(app: Any) -> Any:
    """WSGI middleware: every response body is closed when released (``_ClosedWhenDropped``)."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        return _ClosedWhenDropped(app(environ, start_response))

    return wrapped


@dataclass
class CrisisApp:
    dash: dash.Dash
    socketio: SocketIO
    gateway: Gateway
    context: Context
    pollers: Pollers | None = None

    @property
    def server(self) -> Flask:
        return self.dash.server  # type: ignore[no-any-return]

    def run(self, host: str, port: int) -> None:
        options = {"request_handler": ClosingRequestHandler} if self.socketio.async_mode == "threading" else {}
        self.socketio.run(self.server, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False, log_output=False,
                          **options)

    def close(self) -> None:
        if self.pollers is not None:
            self.pollers.stop()
        self.gateway.stop()
        self.context.close()


def add_readiness(server: Flask, context: Context) -> None:
    """``/readyz``, for orchestrators: 200 while Redis answers, else 503 JSON with Retry-After
    (the API's "storage_unavailable" answer). ``/healthz`` (crisis.auth.login) never asks Redis:
    a load balancer keeps routing during an outage, so the API can answer its own 503s.
    Both are open without sign-in (crisis.auth.gate.OPEN_PATHS) and say nothing about people;
    readiness PINGs at most once a second however often it is asked (StorageHealth.available)."""

    @server.route("/readyz")
    def readyz() -> Any:
        health = context.storage
        if health.available():
            return jsonify(status="ready", storage="ok")
        answer = jsonify(status="unavailable", error=STORAGE_UNAVAILABLE, message=UNAVAILABLE_MESSAGE,
                         retry_after=health.retry_after_s)
        answer.status_code = 503
        answer.headers["Retry-After"] = str(health.retry_after_s)
        answer.headers["Cache-Control"] = "no-store"
        return answer


def create_app(
    settings: Settings, context: Context | None = None, start_gateway: bool = True, start_feeds: bool | None = None
) -> CrisisApp:
    """``start_feeds`` (default: ``settings.feeds_enabled``) polls the feeds whose URLs are set."""
    default_radii(settings.default_radius_km)  # a malformed CRISIS_DEFAULT_RADIUS_KM stops the start, not a request
    context = context or bootstrap(settings)
    server = Flask("crisis")
    server.config.update(
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_DURATION=timedelta(days=settings.session_days),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.session_days),
    )
    server.extensions["crisis"] = context
    server.wsgi_app = closing_bodies(server.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # Behind N proxies, the client's address (sign-in limits, audit) and scheme come
        # from their X-Forwarded-* headers; without this setting those headers are ignored.
        n = settings.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    init_write_confirmation(server)  # first: one WAIT per request, around every other hook
    init_auth(server, settings)
    server.register_blueprint(api)
    server.register_blueprint(feeds_api)
    server.register_blueprint(openapi)
    server.register_blueprint(audit_api)
    server.register_blueprint(travellers_api)
    server.register_blueprint(checkins_api)
    server.register_blueprint(areas_api)
    server.register_blueprint(cot_api)
    server.register_blueprint(roster_api)
    server.register_blueprint(shiftlog_api)
    app = create_dash(server, settings.map_style, settings.stale_incident_minutes)
    init_http_safety(server, app)  # safe JSON bodies, JSON errors, security headers
    add_readiness(server, context)

    # H6 (issue 10): threading (default) or gevent (CRISIS_ASYNC_MODE; `crisis serve` monkey-patches first);
    # a bounded backlog per client (slow clients: coalesced positions, "resync" instead of an endless queue)
    socketio = SocketIO(server, async_mode=settings.async_mode, cors_allowed_origins=origin_check(settings.allowed_origins),
                        max_http_buffer_size=MAX_BODY_BYTES, serializer=TolerantPacket,
                        client_manager=BoundedManager(settings.socket_lag_packets, settings.socket_max_backlog))
    deps = context.deps
    feed_report = functools.partial(feed_health_report, context)

    live = LiveNamespace(context, feed_report)
    socketio.on_namespace(live)
    # H1: the tail client (long read time-out for XREAD BLOCK); the heartbeat says whether storage answers
    gateway = Gateway(socketio, context.tail_redis, deps.log, settings.tick_seconds, feed_report, live.pseudonyms, live.recheck)
    gateway.storage = context.storage
    gateway.primary_changed = live.resync_all  # issue 10: a failover replaces every client's picture
    gateway.follow(keys.AREAS_STREAM, areas_push.follower(context, gateway))
    gateway.on_tick(areas_push.OverdueWatch(context, gateway))
    people = PeopleLive(context, live.pseudonyms)  # who is affected, live: "affected" and "people" pushes
    people.wire(gateway)
    AccountabilityPush(context, gateway).wire()  # the roll-call's counts, live: "accountability" pushes
    live.people = people
    roster_push.wire(context, gateway)  # coverage warnings and dispatches, live: "roster" and "dispatch" pushes
    if start_gateway:
        gateway.start()
    pollers = None
    if settings.feeds_enabled if start_feeds is None else start_feeds:
        pollers = Pollers.from_settings(context, settings)
        pollers.start()
    return CrisisApp(app, socketio, gateway, context, pollers)
