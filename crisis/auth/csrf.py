"""CSRF: which writes of a signed-in browser are taken as its own.

A browser session's writes (POST, PUT, PATCH, DELETE) need the header ``X-CSRFToken``
equal to the session's token, which is also in the cookie ``_csrf_token`` (readable by
the page's scripts, SameSite=Strict; Dash's renderer sends it by itself), a JSON
Content-Type on the JSON endpoints (a form cannot send one cross-site without a
preflight), and no foreign ``Origin``. Requests with a Bearer token carry no ambient
credential and are left as they are. The sign-in and sign-out forms carry the token in
a hidden field instead.

The gate (``crisis.auth.gate``) applies the checks; ``install_csrf_cookie`` keeps the
cookie equal to the session's token.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlparse

from flask import Flask, Response, current_app, request, session

from crisis.auth.refusals import _audit_denied, _json_error, forbidden

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_COOKIE = "_csrf_token"  # the name Dash's renderer reads (dash.Dash csrf_token_name)
CSRF_HEADER = "X-CSRFToken"  # the header it sends (csrf_header_name)
CSRF_FIELD = "csrf_token"  # the hidden field of the sign-in and sign-out forms
_CSRF_SESSION_KEY = "_csrf"
FORM_PATHS = ("/login", "/logout")  # the only paths that take the token from a form field
# Session writes to these must be JSON; the rest of /api/ and /_dash-update-component are.
NON_JSON_WRITE_PATHS = ("/api/v1/feeds/cap", "/api/v1/feeds/gdacs", "/api/v1/feeds/cot", "/api/v1/travellers")


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


def install_csrf_cookie(app: Flask, secure: bool) -> None:
    """Register the ``after_request`` hook that keeps the cookie in step."""

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
