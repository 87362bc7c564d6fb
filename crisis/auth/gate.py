"""The gate: which requests reach a view at all, and which roles a view admits.

``install_gate`` registers the ``before_request`` that refuses every request carrying
neither a live session nor a valid Bearer token; the only open paths are the sign-in
page, the health check and the static files the sign-in page needs (``/socket.io/``
never reaches Flask: the Engine.IO middleware answers it, and the namespace
authenticates its connections). It puts the caller in ``g.principal``, applies the CSRF
checks to a session's writes (``crisis.auth.csrf``), records a token's first use in a
UTC day (``auth.token_used``), and then decides by path:

- pages, Dash's callbacks and files (everything outside ``/api/``): only roles that read
  (``crisis.domain.access.can_read``: a feed never, a regional desk only with a region);
- ``/api/``: each route's ``require_role``.

A traveller or warden token (``access.only_checks_in``) is refused everywhere but
``POST /api/v1/checkins``, before anything else is decided.

A refusal is a 401 or 403 from ``crisis.auth.refusals``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import wraps
from typing import Any, Callable

from flask import Flask, Response, g, request

from crisis.auth import display
from crisis.auth.csrf import (
    FORM_PATHS,
    UNSAFE_METHODS,
    _csrf_refusal,
    _is_json_mimetype,
    _needs_json,
    csrf_token,
)
from crisis.auth.principal import (
    _accounts,
    audit_request,
    current_principal,
    principal_from_request,
)
from crisis.auth.refusals import _audit_denied, _json_error, _unauthorised, forbidden
from crisis.domain import access

OPEN_PATHS = ("/login", "/healthz", "/readyz", "/assets/app.css", "/assets/favicon.ico")
# The one request a traveller or warden token may make (``access.only_checks_in``).
CHECKIN_REQUEST = ("POST", "/api/v1/checkins")


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


def install_gate(app: Flask) -> None:
    """Register the gate as ``app``'s ``before_request``."""
    tokens_seen: dict[str, str] = {}  # digest -> UTC day already recorded (this process)
    display.install_display(app)  # wall displays: their cookie signs them in (crisis.auth.display)

    @app.before_request
    def authenticate() -> Response | None:
        path = request.path
        if path in OPEN_PATHS or path in display.OPEN_PATHS:
            return None
        if path == display.WALL_PATH and display.URL_PARAM in request.args:
            return display.sign_in_by_url()
        principal = principal_from_request()
        if principal is None:
            return _unauthorised()
        g.principal = principal
        if access.only_checks_in(principal) and (request.method, path) != CHECKIN_REQUEST:
            return forbidden(f"role {principal.role!r} may only post check-ins ({' '.join(CHECKIN_REQUEST)})")
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
