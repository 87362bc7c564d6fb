"""What every HTTP answer carries, and how every JSON body is read.

* **Bodies**: every JSON body (the API, Dash's callback endpoint, anything that calls
  ``request.get_json()``) is read by :func:`load_json`: at most ``MAX_JSON_DEPTH`` levels
  of nesting, numbers of at most ``MAX_NUMBER_CHARS`` characters, finite, and no
  ``NaN``/``Infinity``. Python's own parser answers 100,000 nested brackets with a
  RecursionError and a 5,000-digit number with a ValueError (an HTML 500); here they are
  an :class:`~crisis.errors.InputError` naming the field, answered 400/422 and
  dead-lettered like any other bad input.
* **Errors**: no exception on ``/api/*`` or ``/_dash-*`` is answered with an HTML page:
  an unexpected one is logged with its traceback and answered as a JSON 500 that says
  nothing of the internals; an HTTP error (404, 405, 415, ...) is answered as JSON.
* **Storage unavailable**: a Redis outage met by a request (:data:`~crisis.adapters.storage_health.STORAGE_ERRORS`:
  refused, timed out after ``CRISIS_STORAGE_TIMEOUT``, loading, read-only, not confirmed)
  is answered 503 with ``Retry-After``: on ``/api/*`` and ``/_dash-*`` as JSON
  ``{"error": "storage_unavailable", "message": ..., "retry_after": s}``, on a page as a
  short HTML page that reloads itself. Never an HTML 500, never a hang.
* **Headers** on every response: a Content-Security-Policy (see
  docs/adr/003-content-security-policy.md), ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``, and
  ``Cache-Control: no-store`` on JSON and API answers (they hold where people are).

``init_http_safety(server, dash_app)`` installs all of it; call it after the Dash app
and its callbacks exist (the script hashes of the policy are computed on the first
request, when every inline script is known).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from typing import Any

import dash
from flask import Flask, Response, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

from crisis.adapters import redis_ha
from crisis.adapters.redis_ha import ReplicationUnconfirmed
from crisis.adapters.storage_health import STORAGE_ERRORS, UNAVAILABLE_MESSAGE, StorageHealth
from crisis.errors import InputError, StorageError
from crisis.layers.map_figure import ONLINE_STYLES, style_origin

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 64
MALFORMED_JSON = "malformed JSON"
TOO_DEEP = "JSON nested too deeply"
# InputError messages answered 400 (the body as a whole is unusable); others are 422.
BODY_ERRORS = frozenset({MALFORMED_JSON, TOO_DEEP})
_MAX_REPORTED = 20


class _Refused:
    """Stands in, while parsing, for a number or constant that is refused, so that the
    walk after parsing can say in which field it was."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class _Hooks:
    """The parser's hooks for numbers and constants; remembers whether it refused any."""

    def __init__(self) -> None:
        self.refused = False

    def _refuse(self, message: str) -> _Refused:
        self.refused = True
        return _Refused(message)

    def parse_int(self, text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            return self._refuse(f"a number of {len(text)} digits; at most {MAX_NUMBER_CHARS} characters are accepted")
        return int(text)

    def parse_float(self, text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            return self._refuse(f"a number of {len(text)} characters; at most {MAX_NUMBER_CHARS} are accepted")
        value = float(text)
        if not math.isfinite(value):
            return self._refuse(f"{text} is out of the range of a number")
        return value

    def parse_constant(self, text: str) -> Any:
        return self._refuse(f"{text} is not a JSON number")


def _path(parts: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in parts) or "body"


def status_for(exc: InputError) -> int:
    """400 for a body that is not usable JSON at all, 422 for bad content."""
    return 400 if exc.message in BODY_ERRORS else 422


def _too_deep() -> InputError:
    return InputError([{"field": "body", "message": f"JSON nested deeper than {MAX_JSON_DEPTH} levels"}], TOO_DEEP)


def load_json(raw: bytes | str) -> Any:
    """Parse an untrusted JSON body; an InputError naming where it is wrong.

    Refused: malformed JSON or not UTF-8 (400), nesting deeper than ``MAX_JSON_DEPTH``
    (400), numbers longer than ``MAX_NUMBER_CHARS`` characters, non-finite numbers and
    NaN/Infinity (422, naming their field).
    """
    hooks = _Hooks()
    try:
        value = json.loads(raw, parse_int=hooks.parse_int, parse_float=hooks.parse_float,
                           parse_constant=hooks.parse_constant)
    except UnicodeDecodeError as exc:
        raise InputError([{"field": "body", "message": f"body is not UTF-8 (byte {exc.start})"}], MALFORMED_JSON) from None
    except json.JSONDecodeError as exc:
        where = f"body (line {exc.lineno}, column {exc.colno})"
        raise InputError([{"field": where, "message": f"malformed JSON: {exc.msg}"}], MALFORMED_JSON) from None
    except RecursionError:  # Python's parser gives up at about 1,000 levels
        raise _too_deep() from None
    if hooks.refused or _may_be_deeper_than_allowed(raw):
        _check(value)
    return value


def _may_be_deeper_than_allowed(raw: bytes | str) -> bool:
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{") > MAX_JSON_DEPTH
    return raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH


def _check(value: Any) -> None:
    """Walk the parsed value (without recursion) for its depth and refused numbers."""
    if isinstance(value, _Refused):
        raise InputError([{"field": "body", "message": value.message}])
    if not isinstance(value, (dict, list)):
        return
    errors: list[dict[str, Any]] = []
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, (*path, key)))
            elif type(child) is _Refused and len(errors) < _MAX_REPORTED:
                errors.append({"field": _path((*path, key)), "message": child.message})
    if errors:
        errors.sort(key=lambda e: e["field"])
        raise InputError(errors)


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with every ``loads`` (``request.get_json()`` included) through
    :func:`load_json`. An InputError is not a ValueError, so ``get_json(silent=True)``
    does not hide it: it reaches the error handlers."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return load_json(s)


# --- security headers ---------------------------------------------------------------

STATIC_POLICY = {
    "default-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "child-src": "'self' blob:",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}
# The tile, style and glyph servers of the online basemaps (CRISIS_MAP_STYLE other than
# the offline white-bg), as plotly.js names them; allowed only when such a style is set.
ONLINE_MAP_SOURCES = ("https://tile.openstreetmap.org https://basemaps.cartocdn.com "
                      "https://*.basemaps.cartocdn.com https://server.arcgisonline.com")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


class ContentSecurityPolicy:
    """The policy, with the hashes of Dash's inline scripts (its renderer, and the
    clientside callbacks written inline). They are worked out on first use, after every
    callback has been registered, and again should Dash gain another inline script."""

    def __init__(self, dash_app: dash.Dash, online_map: bool = False, map_origin: str | None = None) -> None:
        self._dash = dash_app
        self._online_map = online_map
        # CRISIS_MAP_STYLE given as the address of a style document: its server (style,
        # tiles, glyphs, sprites) is allowed, and no other.
        self._map_origin = map_origin
        self._script_src = "'self'"
        self._seen: tuple[int, int, str] | None = None
        self._lock = threading.Lock()

    def _scripts_known(self) -> tuple[int, int, str]:
        from dash import _callback  # where dash.clientside_callback leaves inline scripts

        return (len(getattr(self._dash, "_inline_scripts", ())), len(_callback.GLOBAL_INLINE_SCRIPTS),
                str(self._dash.renderer))

    def script_src(self) -> str:
        if self._scripts_known() != self._seen:
            with self._lock:
                hashes = self._dash.csp_hashes()  # takes in the pending inline scripts too
                self._script_src = " ".join(["'self'", *hashes])
                self._seen = self._scripts_known()
        return self._script_src

    def header(self, host: str) -> str:
        policy = {**STATIC_POLICY, "script-src": self.script_src()}
        if _HOST.match(host):
            # 'self' covers same-origin ws:/wss: in CSP 3 browsers; older Safari needs them named.
            policy["connect-src"] = f"'self' ws://{host} wss://{host}"
        if self._online_map:
            policy["connect-src"] += " " + ONLINE_MAP_SOURCES
            policy["img-src"] += " " + ONLINE_MAP_SOURCES
        if self._map_origin:
            policy["connect-src"] += " " + self._map_origin
            policy["img-src"] += " " + self._map_origin
        return "; ".join(f"{name} {value}" for name, value in policy.items())


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path.startswith("/_dash-")


def _dead_letter_feed() -> str:
    if request.path.startswith("/_dash-"):
        return "ui"
    return "api:" + (request.endpoint or "unknown").split(".")[-1]


def _origin() -> dict[str, str]:
    principal = g.get("principal")
    return {"actor": principal.name if principal else "", "remote": request.remote_addr or ""}


STORAGE_UNAVAILABLE = "storage_unavailable"
UNAVAILABLE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{retry_after}"><title>Storage unavailable</title>
<link rel="stylesheet" href="/assets/app.css"></head><body class="login-body"><main class="login-card">
<h1>Storage unavailable</h1><p class="login-error" role="alert">The crisis centre's storage does not answer.
Nothing can be read or saved until it is back. This page tries again every {retry_after} s.</p></main></body></html>"""


# A wall is read from across the room: the same words, filling its screen (assets/app.css).
UNAVAILABLE_WALL = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{retry_after}"><title>Storage unavailable</title>
<link rel="stylesheet" href="/assets/app.css"></head><body class="unavailable-wall"><main role="alert">
<h1>STORAGE UNAVAILABLE</h1><p>The crisis centre's storage does not answer: this screen cannot show the live picture.</p>
<p>It tries again every {retry_after} s, by itself.</p></main></body></html>"""


def storage_unavailable(exc: BaseException, health: StorageHealth | None) -> Response:
    """The 503 for a request that met a Redis outage: JSON under /api/ and /_dash-, a page elsewhere."""
    retry_after = health.retry_after_s if health is not None else 2
    if health is not None:
        health.failed(exc)
    # A StorageError says what went wrong (e.g. a write not confirmed by a replica); a
    # driver error's text names sockets and addresses, which a client has no use for.
    message = str(exc) if isinstance(exc, StorageError) and str(exc) else UNAVAILABLE_MESSAGE
    log.debug("storage unavailable on %s %s: %s: %s", request.method, request.path, type(exc).__name__, exc)
    if _is_api(request.path):
        answer = jsonify(error=STORAGE_UNAVAILABLE, message=message, retry_after=retry_after)
    else:
        page = UNAVAILABLE_WALL if request.path.rstrip("/") == "/wall" else UNAVAILABLE_PAGE
        answer = Response(page.format(retry_after=retry_after), mimetype="text/html")
    answer.status_code = 503
    answer.headers["Retry-After"] = str(retry_after)
    return answer


def init_write_confirmation(server: Flask) -> None:
    """CRISIS_WAIT_REPLICAS: one WAIT for all a request's writes, once its answer is built
    (crisis.adapters.redis_ha.defer_waits); not confirmed in time, the answer is the 503.
    Registered before the other hooks, so that it covers what their before_request writes
    and runs after their after_request."""

    @server.before_request
    def _defer_waits() -> None:
        redis_ha.defer_waits(current_app.extensions["crisis"].redis)

    @server.after_request
    def _confirm_writes(response: Response) -> Response:
        context = current_app.extensions["crisis"]
        try:
            redis_ha.confirm_writes(context.redis)
        except ReplicationUnconfirmed as exc:
            return storage_unavailable(exc, context.storage)
        return response

    @server.teardown_request
    def _end_deferral(exc: BaseException | None) -> None:
        redis_ha.end_deferral(current_app.extensions["crisis"].redis)


def init_http_safety(server: Flask, dash_app: dash.Dash) -> None:
    """Safe JSON bodies, JSON errors and security headers for ``server``."""
    server.json = SafeJSONProvider(server)
    map_style = str(server.config.get("CRISIS_MAP_STYLE") or "")
    policy = ContentSecurityPolicy(dash_app, map_style in ONLINE_STYLES, style_origin(map_style))

    @server.errorhandler(InputError)
    def _input_error(exc: InputError) -> tuple[Response, int]:
        # The API blueprints answer their own; this is for the rest (Dash's callbacks).
        context = current_app.extensions["crisis"]
        dead = context.feed_log.rejected(_dead_letter_feed(), exc.errors, request.get_data(cache=True), _origin())
        return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=dead), status_for(exc)

    @server.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if isinstance(exc, STORAGE_ERRORS):  # H1: a Redis outage is a 503, whatever raised it
            return storage_unavailable(exc, current_app.extensions["crisis"].storage)
        if isinstance(exc, HTTPException):
            if not _is_api(request.path) or exc.code is None:
                return exc
            response = exc.get_response()
            body = jsonify(error=(exc.name or "error").lower(), errors=[{"field": "request", "message": exc.description or exc.name}])
            for name, value in response.headers.items():
                if name.lower() not in ("content-type", "content-length"):
                    body.headers[name] = value
            body.status_code = exc.code
            return body
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not _is_api(request.path):
            return InternalServerError()
        answer = jsonify(error="internal error", errors=[{"field": "server", "message": "the server failed to answer this request; it has been logged"}])
        answer.status_code = 500
        return answer

    def _api_method_not_allowed() -> bool:
        """An API path asked with a method it does not answer (DELETE /api/v1/audit): its
        405 stands (with Allow), rather than a 404 as if the path did not exist."""
        exc = request.routing_exception
        if not isinstance(exc, MethodNotAllowed):
            return False
        adapter = current_app.url_map.bind_to_environ(request.environ)
        for method in exc.valid_methods or ():
            try:
                found, _ = adapter.match(method=method, return_rule=True)
            except HTTPException:
                continue
            if found.endpoint.partition(".")[0] in current_app.blueprints:
                return True
        return False

    @server.before_request
    def _no_page_for_api_paths() -> None:
        # Dash's pages answer every unknown path with the page shell; under /api/ and
        # /_dash- an unknown path is a 404 (JSON, by the handler above).
        rule = request.url_rule.rule if request.url_rule is not None else ""
        if (request.path.startswith("/api/") and request.blueprint is None and not _api_method_not_allowed()) or (
            request.path.startswith("/_dash-") and not rule.startswith("/_dash-")
        ):
            raise NotFound()

    @server.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy.header(request.host))
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "application/json" or request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response
