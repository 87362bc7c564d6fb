"""The answers that refuse a request, and the audit entry each refusal leaves.

401 (no credentials) or 403 (no rights) is JSON for ``/api/`` and Dash's own endpoints
(``/_dash-*``): an API client or the dashboard's renderer reads the field and message.
Pages and files answer as a browser expects: a 401 redirects to the sign-in page (back
to where it was going afterwards), a 403 is a plain page.

Every refusal for lack of rights is recorded as ``access.denied``, at most
``AUDIT_DENIED_PER_MINUTE`` per caller (account, else address), so a flood of refused
requests cannot grow the audit trail without bound.

``_render`` compiles this package's page templates once per app, not on every answer:
a flood of refused sign-ins gets a page too.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, jsonify, redirect, request, url_for

from crisis.adapters.accounts import Principal
from crisis.auth.principal import audit_request
from crisis.auth.throttle import LoginThrottle

# At most this many refusals per caller (account, else address) a minute go into the
# audit trail, so a flood of refused requests cannot grow it without bound.
AUDIT_DENIED_PER_MINUTE = "30 per minute"


def _audit_denied(status: int, reason: str) -> None:
    """access.denied, at most AUDIT_DENIED_PER_MINUTE per caller."""
    principal: Principal | None = g.get("principal")
    caller = f"actor:{principal.name}" if principal else f"address:{request.remote_addr or ''}"
    limiter: LoginThrottle | None = current_app.extensions.get("crisis_login_throttle")
    if limiter is not None and not limiter.allow_once(AUDIT_DENIED_PER_MINUTE, "audit-denied", caller):
        return
    audit_request("access.denied", request.path, detail={"method": request.method, "status": status, "reason": reason})


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
    """A page of this package, its template compiled once (not on every answer: a flood of
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

