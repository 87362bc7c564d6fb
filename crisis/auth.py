"""Who is asking, and may they: sessions (Flask-Login), API tokens, roles and regions,
CSRF, sign-in throttling, and the audit of all of it.

The gate (``before_request``) refuses every request that carries neither a live session
nor a valid Bearer token; the only open paths are the sign-in page and the static files
it needs (``/socket.io/`` never reaches Flask: the Engine.IO middleware answers it, and
the namespace authenticates its connections). Then, by path:

- pages, Dash's callbacks and files (everything outside ``/api/``): only roles that read
  (``crisis.domain.access.can_read``: a feed never, a regional desk only with a region);
- ``/api/``: each route's ``require_role``.

Refusals: 401 (no credentials) or 403 (no rights) as JSON for ``/api/`` and ``/_dash-*``;
pages redirect to the sign-in page, or answer a plain 403 page.

A session names the user and its session generation (``SessionUser.get_id``): signing
out, a new password or re-adding the user draws a new generation, which ends every
session of that user, on every channel (the socket's connect handler loads its user
through the same ``user_loader``).

CSRF: a browser session's writes (POST, PUT, PATCH, DELETE) need the header
``X-CSRFToken`` equal to the session's token, which is also in the cookie
``_csrf_token`` (readable by the page's scripts, SameSite=Strict; Dash's renderer sends
it by itself), a JSON Content-Type on the JSON endpoints, and no foreign ``Origin``.
Requests with a Bearer token carry no ambient credential and are left as they are. The
sign-in and sign-out forms carry the token in a hidden field.

Sign-in: failed attempts are limited per account name and per client address
(Flask-Limiter's rate limiting, stored in the product's Redis; attempts still being
checked count too); over a limit the answer is 429 with Retry-After, even for the right
password. At most ``settings.max_concurrent_hashes`` password checks run at once, and
never more than the CPUs less one (argon2 takes 64 MiB and a core each); the others
wait their turn, fewest recent unsuccessful attempts of their account and address
first, and a browser that signed in as that user before (its ``crisis_device`` cookie)
before everyone. One that cannot get a turn within ``HASH_WAIT_S`` is answered 503 with
Retry-After. An unknown name is checked against one fixed dummy hash, as long as a real
one takes.

Audit: sign-in, failed sign-in, sign-out, throttled sign-in (once a minute per account or
address), a token's first use in a UTC day, and every refusal for lack of rights
(``access.denied``, at most ``AUDIT_DENIED_PER_MINUTE`` per caller). ``audit_request``
records any action with who and from where, from the current request.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlparse

import limits
import limits.strategies
from flask import Flask, Response, current_app, g, jsonify, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from itsdangerous import BadData, URLSafeTimedSerializer

from crisis.adapters import keys
from crisis.adapters.accounts import AccountStore, Principal
from crisis.domain import access

OPEN_PATHS = ("/login", "/healthz", "/assets/app.css", "/assets/favicon.ico")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_COOKIE = "_csrf_token"  # the name Dash's renderer reads (dash.Dash csrf_token_name)
CSRF_HEADER = "X-CSRFToken"  # the header it sends (csrf_header_name)
CSRF_FIELD = "csrf_token"  # the hidden field of the sign-in and sign-out forms
_CSRF_SESSION_KEY = "_csrf"
FORM_PATHS = ("/login", "/logout")  # the only paths that take the token from a form field
# Session writes to these must be JSON; the rest of /api/ and /_dash-update-component are.
NON_JSON_WRITE_PATHS = ("/api/v1/feeds/cap", "/api/v1/feeds/gdacs")
HASH_WAIT_S = 3.0  # longest a sign-in waits for its turn to check a password
HASH_BUSY_RETRY_S = 2
# At most this many refusals per caller (account, else address) a minute go into the
# audit trail, so a flood of refused requests cannot grow it without bound.
AUDIT_DENIED_PER_MINUTE = "30 per minute"
AUDIT_THROTTLED_PER_MINUTE = "1 per minute"  # per throttled account or address
DEVICE_COOKIE = "crisis_device"  # "this browser signed in as ... before" (see DeviceCookies)
DEVICE_DAYS = 365
RECENT_ATTEMPTS = "1000 per minute"  # counted up to this, for a sign-in's place in the queue


class SessionUser(UserMixin):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def get_id(self) -> str:
        # The name and the session generation: a new generation ends this session.
        return f"{self.principal.name}:{self.principal.credential}"


def _ctx() -> Any:
    return current_app.extensions["crisis"]


def _accounts() -> AccountStore:
    return _ctx().accounts  # type: ignore[no-any-return]


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def principal_from_request() -> Principal | None:
    """The caller of this request: Bearer token first, then the session."""
    token = _bearer()
    if token is not None:
        return _accounts().token(token)
    if current_user.is_authenticated:
        return current_user.principal  # type: ignore[no-any-return]
    return None


def current_principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def request_origin() -> dict[str, str]:
    """Who sent this request (account and address), for a dead letter's record."""
    principal = g.get("principal")
    return {"actor": principal.name if principal else "", "remote": request.remote_addr or ""}


# -- audit --------------------------------------------------------------------------


def audit_request(action: str, target: str = "", before: Any = None, after: Any = None, detail: Any = None) -> None:
    """Record ``action`` in the audit trail with who (account, role, how signed in) and
    from where (client address), taken from the current request."""
    principal: Principal | None = g.get("principal")
    via = ""
    if principal is not None:
        via = "token" if principal.via_token else "session"
    _ctx().audit.record(
        action,
        actor=principal.name if principal else "",
        role=principal.role if principal else "",
        via=via,
        remote=request.remote_addr or "",
        target=target,
        before=before,
        after=after,
        detail=detail,
    )


def _audit_denied(status: int, reason: str) -> None:
    """access.denied, at most AUDIT_DENIED_PER_MINUTE per caller."""
    principal: Principal | None = g.get("principal")
    caller = f"actor:{principal.name}" if principal else f"address:{request.remote_addr or ''}"
    limiter: LoginThrottle | None = current_app.extensions.get("crisis_login_throttle")
    if limiter is not None and not limiter.allow_once(AUDIT_DENIED_PER_MINUTE, "audit-denied", caller):
        return
    audit_request("access.denied", request.path, detail={"method": request.method, "status": status, "reason": reason})


# -- refusals -----------------------------------------------------------------------


def _is_json_path(path: str) -> bool:
    """API and Dash's own endpoints answer JSON; pages and files answer HTML."""
    return path.startswith("/api/") or path.startswith("/_")


def _json_error(status: int, error: str, field: str, message: str) -> Response:
    response = jsonify(error=error, errors=[{"field": field, "message": message}])
    response.status_code = status
    return response


def _unauthorised() -> Response:
    _audit_denied(401, "no valid session or token")
    if _is_json_path(request.path):
        response = _json_error(401, "authentication required", "Authorization", "log in or send 'Authorization: Bearer <token>'")
        response.headers["WWW-Authenticate"] = 'Bearer realm="crisis"'
        return response
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


FORBIDDEN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Forbidden - Crisis Coordination Centre</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body class="login-body"><main class="login-card"><h1>Forbidden</h1>
<p class="login-error" role="alert">{{ message }}</p>
<p><a href="/logout">Sign in as someone else</a></p></main></body></html>"""


_TEMPLATES: dict[tuple[int, str], Any] = {}


def _render(source: str, **values: Any) -> str:
    """A page of this module, its template compiled once (not on every answer: a flood of
    refused sign-ins gets the page too)."""
    env = current_app.jinja_env
    template = _TEMPLATES.get((id(env), source))
    if template is None:
        template = _TEMPLATES[(id(env), source)] = env.from_string(source)
    return str(template.render(**values))


def forbidden(message: str, field: str = "role") -> Response:
    """403 for a caller without the rights: JSON for the API and Dash, else a page."""
    _audit_denied(403, message)
    if _is_json_path(request.path):
        return _json_error(403, "forbidden", field, message)
    response = Response(_render(FORBIDDEN_PAGE, message=message), status=403, mimetype="text/html")
    return response


def require_role(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only these roles (the tuples of crisis.domain.access) may use the view. A reading
    role also needs what reading needs: a regional desk without a region is refused,
    never taken for "every region"."""
    allowed = frozenset(roles)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in allowed:
                return forbidden(f"role {principal.role!r} may not do this; needs one of {', '.join(roles)}")
            if principal.role in access.READERS and not access.can_read(principal):
                return forbidden(f"{principal.name} ({principal.role}) has no region assigned", field="region")
            return view(*args, **kwargs)

        return wrapper

    return decorate


# -- CSRF ---------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get(_CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[_CSRF_SESSION_KEY] = token
    return str(token)


def csrf_headers_from_cookies(cookies: Any) -> dict[str, str]:
    """The header a client sends with the token from its ``_csrf_token`` cookie (as
    Dash's renderer does)."""
    token = cookies.get(CSRF_COOKIE)
    return {CSRF_HEADER: token} if token else {}


def _foreign_origin() -> str | None:
    """The Origin of a request from another site, or None (same origin, or no Origin)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if origin.rstrip("/") in current_app.config.get("CRISIS_ALLOWED_ORIGINS", ()):
        return None
    parsed = urlparse(origin)
    if parsed.scheme in ("http", "https") and parsed.netloc == request.host:
        return None
    return origin


def _csrf_refusal(form_field: bool) -> Response | None:
    """Why this session write is refused as a possible cross-site request, or None."""
    origin = _foreign_origin()
    if origin is not None:
        return forbidden(f"cross-origin request from {origin} refused", field="Origin")
    expected = session.get(_CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and form_field:
        sent = request.form.get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        _audit_denied(403, "missing or wrong CSRF token")
        return _json_error(403, "CSRF token missing or wrong", CSRF_HEADER,
                           f"a signed-in browser's writes need the header {CSRF_HEADER} with the value of the "
                           f"{CSRF_COOKIE} cookie")
    return None


def _needs_json(path: str) -> bool:
    return (path.startswith("/api/") and path not in NON_JSON_WRITE_PATHS) or path == "/_dash-update-component"


def _is_json_mimetype(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


# -- sign-in throttling -------------------------------------------------------------


def _storage_uri(redis_url: str) -> str:
    """The limits library's URI for the product's Redis (redis+unix:// for a socket)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


@dataclass
class Attempt:
    """A sign-in under way: the limit keys it counts against, its standing (recent
    attempts on its account and from its address that did not sign in: its place in
    the queue for a password check), or the limit it is over and for how long."""

    ids: list[tuple[limits.RateLimitItem, tuple[str, ...]]]
    recent: list[tuple[str, ...]] = field(default_factory=list)
    standing: int = 0
    limited: tuple[str, int] | None = None


class LoginThrottle:
    """Failed sign-ins per account name and per client address, over a moving window,
    counted by Flask-Limiter's rate limiter in Redis (shared by every process).

    Attempts still being checked count too (in this process), so a burst of concurrent
    wrong passwords cannot all slip under a limit before the first of them fails."""

    def __init__(self, limiter: Limiter, per_account: str, per_address: str) -> None:
        self._limiter = limiter
        self._rules = (("account", limits.parse(per_account)), ("address", limits.parse(per_address)))
        self._pending: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()
        # Every attempt, whatever its outcome, per account and per address over the last
        # minute: a sign-in's place in the queue for a password check (fewest first).
        self._attempts = limits.parse(RECENT_ATTEMPTS)
        self._recent = limits.strategies.FixedWindowRateLimiter(limiter.storage)

    def begin(self, name: str, address: str, known_device: bool = False) -> Attempt:
        """Count an attempt in (then ``end`` it), unless a limit is reached. From a
        browser that signed in as this user before (``known_device``), the attempt is
        first in the queue and not held to the per-address limit (so users behind the
        same address as an attacker still get in); the per-account limit still holds."""
        strategy = self._limiter.limiter
        attempt = Attempt([])
        stats = []
        for which, item in self._rules:
            if known_device and which == "address":
                continue
            ids = ("login-failed", which, name[:128] if which == "account" else address)
            window = strategy.get_window_stats(item, *ids)
            if window.remaining <= 0:  # refused at once: the cheapest answer a flood can get
                attempt.limited = (which, max(1, math.ceil(window.reset_time - time.time())))
                return attempt
            stats.append((which, item, ids, window))
        with self._lock:
            for which, item, ids, window in stats:
                if item.amount - window.remaining + self._pending.get(ids, 0) >= item.amount:
                    attempt.limited = (which, 1)  # the ones under way may yet succeed
                    return attempt
            for _, item, ids, _ in stats:
                self._pending[ids] = self._pending.get(ids, 0) + 1
                attempt.ids.append((item, ids))
        if known_device:
            attempt.standing = -1
            return attempt
        for which, _, ids, _ in stats:
            recent = ("login-attempts", which, ids[-1])
            attempt.standing += self._attempts.amount - self._recent.get_window_stats(self._attempts, *recent).remaining
            self._recent.hit(self._attempts, *recent)
            attempt.recent.append(recent)
        return attempt

    def end(self, attempt: Attempt, failed: bool, succeeded: bool = False) -> None:
        with self._lock:
            for _, ids in attempt.ids:
                left = self._pending.get(ids, 0) - 1
                if left > 0:
                    self._pending[ids] = left
                else:
                    self._pending.pop(ids, None)
        if failed:
            for item, ids in attempt.ids:
                self._limiter.limiter.hit(item, *ids)
        elif succeeded:
            for recent in attempt.recent:  # a sign-in that worked does not push its next one back
                self._recent.hit(self._attempts, *recent, cost=-1)

    def allow_once(self, rate: str, *ids: str) -> bool:
        """A hit on a limit of its own (for bounding audit entries): False past it."""
        return bool(self._limiter.limiter.hit(limits.parse(rate), *ids))


class DeviceCookies:
    """"This browser signed in as NAME before": a signed cookie (OWASP's device cookies)
    that puts its holder's sign-ins for that name first in the queue for a password
    check. It proves nothing else, and names the user only by a digest."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="crisis.device")

    @staticmethod
    def _who(name: str) -> str:
        return hashlib.sha256(name.encode()).hexdigest()[:32]

    def issue(self, name: str) -> str:
        return self._serializer.dumps({"u": self._who(name)})

    def known(self, cookie: str | None, name: str) -> bool:
        if not cookie or not name:
            return False
        try:
            value = self._serializer.loads(cookie, max_age=DEVICE_DAYS * 86_400)
        except BadData:
            return False
        return isinstance(value, dict) and hmac.compare_digest(str(value.get("u", "")), self._who(name))


class HashGate:
    """At most ``slots`` password checks at once in this process. Waiters are served by
    standing (fewest recent sign-in attempts on their account and from their address
    first), then in order of arrival: a flood from one address or on one account queues
    behind everyone else's sign-ins, not in front of them."""

    def __init__(self, slots: int) -> None:
        self._free = max(1, slots)
        self._lock = threading.Lock()
        self._waiters: list[list[Any]] = []  # heap of [standing, seq, event, cancelled]
        self._seq = itertools.count()

    def acquire(self, standing: int = 0, timeout: float = HASH_WAIT_S) -> bool:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            entry = [standing, next(self._seq), threading.Event(), False]
            heapq.heappush(self._waiters, entry)
        if entry[2].wait(timeout):
            return True
        with self._lock:
            if entry[2].is_set():  # handed a slot just as the wait ended
                return True
            entry[3] = True
            return False

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                entry = heapq.heappop(self._waiters)
                if not entry[3]:
                    entry[2].set()  # the slot passes straight to the next waiter
                    return
            self._free += 1


# -- pages --------------------------------------------------------------------------

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
        storage_options={"key_prefix": keys.LIMITS_PREFIX},
        strategy="moving-window",
        default_limits=[],
    )
    throttle = LoginThrottle(limiter, settings.login_limit_account, settings.login_limit_address)
    # Password hashing takes a whole core: leave one for everything else.
    hashes = HashGate(min(settings.max_concurrent_hashes, max(1, (os.cpu_count() or 2) - 1)))
    devices = DeviceCookies(str(app.config["SECRET_KEY"]))
    app.extensions["crisis_login_throttle"] = throttle
    tokens_seen: dict[str, str] = {}  # digest -> UTC day already recorded (this process)

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

    @app.before_request
    def authenticate() -> Response | None:
        path = request.path
        if path in OPEN_PATHS:
            return None
        principal = principal_from_request()
        if principal is None:
            return _unauthorised()
        g.principal = principal
        if principal.via_token:
            day = datetime.now(timezone.utc).date().isoformat()
            if tokens_seen.get(principal.credential) != day:
                if _accounts().first_use_today(principal):
                    audit_request("auth.token_used", principal.name, detail={"day": day})
                if len(tokens_seen) > 10_000:
                    tokens_seen.clear()
                tokens_seen[principal.credential] = day
        elif request.method in UNSAFE_METHODS:
            refusal = _csrf_refusal(form_field=path in FORM_PATHS)
            if refusal is not None:
                return refusal
            if _needs_json(path) and not _is_json_mimetype(request.mimetype):
                _audit_denied(415, "a signed-in browser's write without a JSON Content-Type")
                return _json_error(415, "unsupported media type", "Content-Type",
                                   "a signed-in browser's writes here must be application/json")
        else:
            csrf_token()  # a session restored from the remember cookie gets one for its writes
        if path.startswith("/api/"):
            return None  # each API route checks its roles (require_role)
        if path == "/logout" and not principal.via_token:
            return None  # a session may always end itself
        if not access.can_read(principal):
            if principal.role in access.READERS:
                return forbidden(f"{principal.name} ({principal.role}) has no region assigned", field="region")
            return forbidden(f"role {principal.role!r} may not use the dashboard")
        return None

    @app.after_request
    def csrf_cookie(response: Response) -> Response:
        """Keep the ``_csrf_token`` cookie equal to the session's token (or gone)."""
        token = session.get(_CSRF_SESSION_KEY)
        if token and request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(CSRF_COOKIE, token, secure=secure, httponly=False, samesite="Strict",
                                max_age=int(app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()))
        elif not token and CSRF_COOKIE in request.cookies:
            response.delete_cookie(CSRF_COOKIE, secure=secure, httponly=False, samesite="Strict")
        return response

    return limiter
