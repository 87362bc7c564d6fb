"""Who is asking, and may they: sessions (Flask-Login), API tokens, roles and regions,
CSRF, sign-in throttling, and the audit of all of it.

Each part decides one thing; imports point down this list, never up:

- ``principal``: who is asking (Bearer token, else session and its generation), and
  ``audit_request``, which records an action with who and from where;
- ``throttle``: sign-in limits per account and address, the queue for password checks,
  device cookies;
- ``refusals``: the 401 and 403 answers (JSON for ``/api/`` and Dash, pages otherwise)
  and the bounded ``access.denied`` audit;
- ``csrf``: the token, the checks on a browser session's writes, and its cookie;
- ``gate``: the ``before_request`` that lets a request through or not, and
  ``require_role`` for the API's views;
- ``login``: the sign-in and sign-out pages, and ``init_auth``, which wires it all in.

Everything the rest of the product uses is importable from ``crisis.auth`` itself.
"""

from __future__ import annotations

from crisis.auth.csrf import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    FORM_PATHS,
    NON_JSON_WRITE_PATHS,
    UNSAFE_METHODS,
    csrf_headers_from_cookies,
    csrf_token,
)
from crisis.auth.gate import OPEN_PATHS, require_role
from crisis.auth.login import (
    AUDIT_THROTTLED_PER_MINUTE,
    LOGIN_PAGE,
    LOGOUT_PAGE,
    init_auth,
)
from crisis.auth.principal import (
    SessionUser,
    audit_request,
    current_principal,
    principal_from_request,
    request_origin,
)
from crisis.auth.refusals import AUDIT_DENIED_PER_MINUTE, FORBIDDEN_PAGE, forbidden
from crisis.auth.throttle import (
    DEVICE_COOKIE,
    DEVICE_DAYS,
    HASH_BUSY_RETRY_S,
    HASH_WAIT_S,
    RECENT_ATTEMPTS,
    Attempt,
    DeviceCookies,
    HashGate,
    LoginThrottle,
)

__all__ = [
    "AUDIT_DENIED_PER_MINUTE",
    "AUDIT_THROTTLED_PER_MINUTE",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "DEVICE_COOKIE",
    "DEVICE_DAYS",
    "FORBIDDEN_PAGE",
    "FORM_PATHS",
    "HASH_BUSY_RETRY_S",
    "HASH_WAIT_S",
    "LOGIN_PAGE",
    "LOGOUT_PAGE",
    "NON_JSON_WRITE_PATHS",
    "OPEN_PATHS",
    "RECENT_ATTEMPTS",
    "UNSAFE_METHODS",
    "Attempt",
    "DeviceCookies",
    "HashGate",
    "LoginThrottle",
    "SessionUser",
    "audit_request",
    "csrf_headers_from_cookies",
    "csrf_token",
    "current_principal",
    "forbidden",
    "init_auth",
    "principal_from_request",
    "request_origin",
    "require_role",
]
