"""What a person does in the UI, turned into the same commands the API sends.

A UI action takes the same path as a feed (validated command -> handler -> log), and
records who did it, in the incident's history and in the audit trail (account, role,
address, and the before and after of what changed). Failures come back as a sentence to
show, never as an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import has_request_context, request

from crisis import handlers
from crisis.adapters.accounts import Principal
from crisis.adapters.audit import incident_change, incident_facts
from crisis.bootstrap import Context
from crisis.errors import Conflict, InputError, NotFound
from crisis.feeds.schemas import IncidentIn, IncidentPatch, parse
from crisis.ui.messages import in_words

EDITORS = ("admin", "duty_officer")


def _audit(ctx: Context, principal: Principal, action: str, target: str, **values: Any) -> None:
    """One entry in the audit trail for what this person did in the UI (from this address)."""
    remote = (request.remote_addr or "") if has_request_context() else ""
    ctx.audit.record(action, actor=principal.name, role=principal.role, via="ui", remote=remote, target=target, **values)


def keep_refused(ctx: Context, principal: Principal, errors: Sequence[Mapping[str, Any]], form: Any) -> None:
    """A form the page refused, kept as a dead letter (feed "ui"), as the API keeps a refused body."""
    ctx.feed_log.rejected("ui", [dict(e) for e in errors], repr(form), {"user": principal.name})


def _explain(exc: InputError) -> str:
    return " ".join(in_words(exc.errors))  # in plain words (crisis/ui/messages.py)


def change_incident(ctx: Context, principal: Principal, incident_id: str, **changes: Any) -> str:
    """Apply a person's change; a message saying what happened."""
    if principal.role not in EDITORS:
        _audit(ctx, principal, "access.denied", incident_id, detail={"wanted": "incident.update", "reason": f"role {principal.role!r} may not change incidents"})
        return f"A {principal.role} cannot change incidents."
    try:
        patch = parse(IncidentPatch, {k: v for k, v in changes.items() if v not in (None, "")})
        before = ctx.deps.incidents.get(incident_id)
        stored = handlers.update_incident(ctx.deps, incident_id, patch, principal.name)
    except InputError as exc:
        keep_refused(ctx, principal, exc.errors, changes)
        return "Not saved: " + _explain(exc)
    except (Conflict, NotFound) as exc:
        return f"Not saved: {exc}"
    old, new = incident_change(before, stored.incident, patch.note)
    _audit(ctx, principal, "incident.update", incident_id, before=old, after=new, detail={"stream_id": stored.event_id})
    return "Saved."


def report_from_form(ctx: Context, principal: Principal, form: dict[str, Any],
                     refused: Sequence[dict[str, str]] = ()) -> tuple[str | None, str]:
    """Report an incident from the map form: (incident id or None, message). Every problem
    of the form is said at once: those the page found (``refused``: {field, message}, the
    message a sentence), the type not chosen (the API's default "other" is not the form's),
    and the API model's."""
    if principal.role not in EDITORS:
        _audit(ctx, principal, "access.denied", "incidents", detail={"wanted": "incident.create", "reason": f"role {principal.role!r} may not report incidents"})
        return None, f"A {principal.role} cannot report incidents."
    fields = {k: v for k, v in form.items() if v not in (None, "")}
    fields["source"] = "ui"
    problems: list[dict[str, Any]] = [] if fields.get("type") else [
        {"field": "type", "type": "missing", "message": "Field required"}]
    command: IncidentIn | None = None
    try:
        command = parse(IncidentIn, fields)
    except InputError as exc:
        problems += exc.errors
    if refused or problems:
        keep_refused(ctx, principal, [*refused, *problems], form)
        return None, "Not reported: " + " ".join([r["message"] for r in refused] + in_words(problems))
    assert command is not None
    try:
        stored = handlers.report_incident(ctx.deps, command, principal.name)
    except InputError as exc:
        keep_refused(ctx, principal, exc.errors, form)
        return None, "Not reported: " + _explain(exc)
    ctx.feed_log.accepted("ui")
    _audit(ctx, principal, "incident.create" if stored.created else "incident.update", stored.incident.id,
           after=incident_facts(stored.incident), detail={"stream_id": stored.event_id, "source": "ui"})
    return stored.incident.id, f"Reported: {stored.incident.title} ({stored.incident.id})."
