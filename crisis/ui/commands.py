"""What a person does in the UI, turned into the same commands the API sends.

A UI action takes the same path as a feed (validated command -> handler -> log), and
records who did it. Failures come back as a sentence to show, never as an exception.
"""

from __future__ import annotations

from typing import Any

from crisis import handlers
from crisis.adapters.accounts import Principal
from crisis.bootstrap import Context
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import IncidentIn, IncidentPatch, parse

EDITORS = ("admin", "duty_officer")


def _explain(exc: InputError) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)


def change_incident(ctx: Context, principal: Principal, incident_id: str, **changes: Any) -> str:
    """Apply a person's change; a message saying what happened."""
    if principal.role not in EDITORS:
        return f"A {principal.role} cannot change incidents."
    try:
        patch = parse(IncidentPatch, {k: v for k, v in changes.items() if v not in (None, "")})
        handlers.update_incident(ctx.deps, incident_id, patch, principal.name)
    except InputError as exc:
        return "Not saved: " + _explain(exc)
    except (Conflict, NotFound) as exc:
        return f"Not saved: {exc}"
    return "Saved."


def report_from_form(ctx: Context, principal: Principal, form: dict[str, Any]) -> tuple[str | None, str]:
    """Report an incident from the map form: (incident id or None, message)."""
    if principal.role not in EDITORS:
        return None, f"A {principal.role} cannot report incidents."
    fields = {k: v for k, v in form.items() if v not in (None, "")}
    fields["source"] = "ui"
    try:
        stored = handlers.report_incident(ctx.deps, parse(IncidentIn, fields), principal.name)
    except InputError as exc:
        ctx.feed_log.rejected("ui", exc.errors, repr(form), {"user": principal.name})
        return None, "Not reported: " + _explain(exc)
    ctx.feed_log.accepted("ui")
    return stored.incident.id, f"Reported: {stored.incident.title} ({stored.incident.id})."
