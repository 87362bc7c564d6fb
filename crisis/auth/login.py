"""Signing in and out, and ``init_auth``, which wires the whole of ``crisis.auth`` into
the app.

``/login`` checks the CSRF field, asks the throttle (``crisis.auth.throttle``) whether
the attempt may go ahead and when its password may be checked, and then: a wrong name
or password is 401; an account that may not use the dashboard (a feed, or a regional
desk with no region) is 401 with the reason; a right one starts a fresh session (with a
fresh CSRF token) and is given the ``crisis_device`` cookie that puts its next sign-ins
as that user first in the queue. ``/logout`` asks first (GET), then (POST) draws a new
session generation, which ends every session of that user on every channel; a Bearer
token is not signed out (an administrator revokes it).

Audit: sign-in, failed sign-in, sign-out, and a throttled sign-in (once a minute per
account or address: ``AUDIT_THROTTLED_PER_MINUTE``).

``init_auth`` installs, in this order: Flask-Login and its ``user_loader`` (shared by
the socket's connect handler), Flask-Limiter on the product's Redis, the ``auth``
blueprint (``/login``, ``/logout``, ``/healthz``), the gate (``crisis.auth.gate``) and
the CSRF cookie (``crisis.auth.csrf``).
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlparse

from flask import Flask, Response, g, jsonify, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, login_user, logout_user

from crisis.adapters import keys
from crisis.auth.csrf import _csrf_refusal, csrf_token, install_csrf_cookie
from crisis.auth.gate import install_gate
from crisis.auth.principal import (
    SessionUser,
    _accounts,
    audit_request,
    current_principal,
)
from crisis.auth.refusals import _json_error, _render
from crisis.auth.throttle import (
    DEVICE_COOKIE,
    DEVICE_DAYS,
    HASH_BUSY_RETRY_S,
    DeviceCookies,
    HashGate,
    LoginThrottle,
    _storage_uri,
)
from crisis.domain import access

AUDIT_THROTTLED_PER_MINUTE = "1 per minute"  # per throttled account or address

LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Crisis Coordination Centre - sign in</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body class="login-body"><main class="login-card">
<h1>Crisis Coordination Centre</h1>
<p class="login-sub">Authorised personnel only. Where our people are is protected information.</p>
{% if error %}<p class="login-error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ url_for('auth.login', next=next) }}">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<label>User name <input name="username" id="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<label class="login-remember"><input type="checkbox" name="remember" checked> Keep this display signed in</label>
<button type="submit" id="login-button">Sign in</button>
</form></main></body></html>"""

LOGOUT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Crisis Coordination Centre - sign out</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body class="login-body"><main class="login-card">
<h1>Sign out?</h1>
<p class="login-sub">This ends every session of {{ name }}, on every screen.</p>
<form method="post" action="/logout">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<button type="submit" id="logout-button">Sign out</button>
</form><p><a href="/">Back to the dashboard</a></p></main></body></html>"""


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(next_url: str, error: str | None = None, status: int = 200) -> Response:
    body = _render(LOGIN_PAGE, error=error, next=next_url, csrf=csrf_token())
    return Response(body, status=status, mimetype="text/html")


def init_auth(app: Flask, settings: Any = None) -> Limiter:
    """``settings`` (default: the context's) give the sign-in limits, the origins allowed
    besides the app's own, and whether cookies are Secure."""
    from flask import Blueprint

    context = app.extensions["crisis"]
    settings = settings or context.settings
    secure = bool(settings.secure_cookies)
    app.config["CRISIS_ALLOWED_ORIGINS"] = tuple(settings.allowed_origins)

    login_manager = LoginManager()
    login_manager.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str) -> SessionUser | None:
        name, _, generation = user_id.rpartition(":")
        if not name:
            return None  # a session from before generations: sign in again
        principal = _accounts().session_user(name, generation)
        return SessionUser(principal) if principal else None

    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=_storage_uri(context.redis_handle.url),
        # H1 (issue 10): a stalled Redis is a 503 within CRISIS_STORAGE_TIMEOUT here too, not after 5 s
        storage_options={"key_prefix": keys.LIMITS_PREFIX, "socket_timeout": settings.storage_timeout_s,
                         "socket_connect_timeout": settings.storage_timeout_s,
                         **context.redis_handle.limiter_options()},  # REDIS_PASSWORD, REDIS_TLS, ... (issue 10)
        strategy="moving-window",
        default_limits=[],
    )
    throttle = LoginThrottle(limiter, settings.login_limit_account, settings.login_limit_address)
    # Password hashing takes a whole core: leave one for everything else.
    hashes = HashGate(min(settings.max_concurrent_hashes, max(1, (os.cpu_count() or 2) - 1)))
    devices = DeviceCookies(str(app.config["SECRET_KEY"]))
    app.extensions["crisis_login_throttle"] = throttle
    app.extensions["crisis_limiter"] = limiter  # also counts new wall pairing codes (crisis.auth.display)

    blueprint = Blueprint("auth", __name__)

    throttled_seen: dict[tuple[str, str], int] = {}  # (limit, key) -> minute last recorded here

    def throttled(name: str, which: str, wait: int, next_url: str) -> Response:
        key = (which, name[:128] if which == "account" else (request.remote_addr or ""))
        minute = int(time.time() // 60)
        if throttled_seen.get(key) != minute:  # spares Redis a call per refused attempt of a flood
            if len(throttled_seen) > 10_000:
                throttled_seen.clear()
            throttled_seen[key] = minute
            if throttle.allow_once(AUDIT_THROTTLED_PER_MINUTE, "audit-throttled", *key):
                audit_request("auth.throttled", name, detail={"limit": which, "retry_after": wait})
        response = _login_page(next_url, f"Too many failed sign-ins. Try again in {wait} s.", 429)
        response.headers["Retry-After"] = str(wait)
        return response

    @blueprint.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        next_url = _safe_next(request.args.get("next"))
        if request.method != "POST":
            return _login_page(next_url)
        refusal = _csrf_refusal(form_field=True)
        if refusal is not None:
            return _login_page(next_url, "This sign-in form has expired. Please sign in again.", 403)
        name = request.form.get("username", "")[:128]
        password = request.form.get("password", "")
        address = request.remote_addr or ""
        attempt = throttle.begin(name, address, devices.known(request.cookies.get(DEVICE_COOKIE), name))
        if attempt.limited is not None:
            return throttled(name, *attempt.limited, next_url)
        verdict = None
        try:
            if hashes.acquire(attempt.standing):
                try:
                    verdict = _accounts().verify(name, password)
                finally:
                    hashes.release()
        finally:
            throttle.end(attempt, failed=verdict is not None and verdict.principal is None,
                         succeeded=verdict is not None and verdict.principal is not None)
        if verdict is None:
            response = _login_page(next_url, "The server is busy. Try again in a moment.", 503)
            response.headers["Retry-After"] = str(HASH_BUSY_RETRY_S)
            return response
        principal = verdict.principal
        if principal is None:
            audit_request("auth.login_failed", name, detail={"attempted_name": name, "reason": verdict.reason})
            return _login_page(next_url, "Unknown user name or wrong password.", 401)
        if not access.can_read(principal):
            audit_request("auth.login_failed", name, detail={"attempted_name": name, "reason": f"role {principal.role} may not sign in"})
            if principal.role == "feed":
                error = "Feed accounts cannot sign in to the dashboard; they use API tokens."
            else:
                error = "This account has no region assigned; ask an administrator."
            return _login_page(next_url, error, 401)
        session.clear()  # a fresh session, with a fresh CSRF token
        login_user(SessionUser(principal), remember=bool(request.form.get("remember")))
        g.principal = principal
        csrf_token()
        audit_request("auth.login", name)
        response = redirect(next_url)
        response.set_cookie(DEVICE_COOKIE, devices.issue(name), max_age=DEVICE_DAYS * 86_400, path="/login",
                            secure=secure, httponly=True, samesite="Lax")
        return response

    @blueprint.route("/logout", methods=["GET", "POST"])
    def logout() -> Any:
        principal = current_principal()
        if principal.via_token:
            return _json_error(400, "not signed in", "Authorization",
                               "a token is not signed out; an administrator revokes it (crisis tokens revoke)")
        if request.method != "POST":
            return _render(LOGOUT_PAGE, name=principal.name, csrf=csrf_token())
        _accounts().end_sessions(principal.name)  # every session of this user, everywhere
        audit_request("auth.logout", principal.name)
        session.clear()
        logout_user()
        return redirect(url_for("auth.login"))

    @blueprint.route("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    app.register_blueprint(blueprint)
    install_gate(app)
    install_csrf_cookie(app, secure)
    return limiter
