"""Who is asking: the principal of a request, and the record of what it did.

A request's caller is its Bearer token's account if it sends one (a token carries no
ambient credential: it is looked up on every request), else its Flask-Login session's
user. A session names the user and its session generation (``SessionUser.get_id``):
signing out, a new password or re-adding the user draws a new generation, which ends
every session of that user, on every channel (the socket's connect handler loads its
user through the same ``user_loader``, see ``crisis.auth.login``).

The gate (``crisis.auth.gate``) puts the caller in ``g.principal``; ``current_principal``
and ``request_origin`` read it from there. ``audit_request`` records any action in the
audit trail with who (account, role, how signed in) and from where (client address).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from flask_login import UserMixin, current_user

from crisis.adapters.accounts import AccountStore, Principal


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
