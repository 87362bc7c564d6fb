"""The audit trail over HTTP: ``GET /api/v1/audit`` for administrators, and what the API
records in it.

Reading: filters ``actor`` (exact), ``action`` (exact, or a prefix ending in "." such as
``incident.``), ``since`` and ``until`` (ISO 8601 with a time zone, inclusive), newest
first, ``limit`` entries (1 to 1000, default 100) a page; ``next`` in the answer is the
``before`` of the next, older page (null on the last). A bad parameter is answered 422
naming it, and dead-lettered like any refused API input. There is no way to change or
delete an entry: the path answers GET only (anything else is 405).

Recording: the ``record_*`` functions below are called by the API handlers right after
a change is stored; each fills who (account, role, how signed in, address) from the
request through ``crisis.auth.audit_request``. One entry per request: an incident
created or changed (with the before and after of the changed fields), a feed document
(its counts, not each item), a batch of positions (its size, not each position).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from crisis import views
from crisis.adapters.audit import MAX_LIMIT, AuditQuery, incident_change, incident_facts
from crisis.api.common import ctx
from crisis.auth import audit_request, current_principal, request_origin, require_role
from crisis.domain.access import ADMINS
from crisis.domain.model import Incident
from crisis.errors import InputError
from crisis.feeds.intake import IntakeResult
from crisis.feeds.schemas import field_errors
from crisis.handlers import Stored

audit_api = Blueprint("audit", __name__, url_prefix="/api/v1")

ACTION_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?$"
ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
TIME_HELP = "an ISO 8601 date and time with a time zone, e.g. 2024-05-01T09:30:00Z"


class AuditQueryIn(BaseModel):
    """The query parameters of GET /api/v1/audit (also the filters of ``crisis audit``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    actor: str | None = Field(default=None, min_length=1, max_length=120, description="Only entries by this user or token name (exact).")
    action: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=ACTION_PATTERN,
        description='Only this action ("incident.update"), or every action under a prefix ending in "." ("incident.", "auth.").',
    )
    since: AwareDatetime | None = Field(default=None, description="Only entries at or after this time (ISO 8601 with a time zone).")
    until: AwareDatetime | None = Field(default=None, description="Only entries at or before this time (ISO 8601 with a time zone).")
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT, description="How many entries a page holds, newest first.")
    before: str | None = Field(
        default=None, pattern=ID_PATTERN,
        description="Page from here: only entries older than this entry id (the `next` of the previous page).",
    )

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso_8601(cls, value: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise ValueError(f"must be {TIME_HELP}")
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"must be {TIME_HELP}, got {value[:40]!r}") from None
        if parsed.tzinfo is None:
            raise ValueError(f"needs a time zone: {TIME_HELP}")
        return parsed

    @field_validator("until")
    @classmethod
    def _after_since(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if value is not None and since is not None and value < since:
            raise ValueError("must not be before since")
        return value

    def to_query(self) -> AuditQuery:
        return AuditQuery(actor=self.actor, action=self.action, since=self.since, until=self.until,
                          limit=self.limit, before_id=self.before)


def parse_query(args: dict[str, Any]) -> AuditQuery:
    """Parameters (strings) as an AuditQuery; InputError naming each bad one."""
    try:
        return AuditQueryIn.model_validate(args).to_query()
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None


_ctx = ctx


@audit_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    dead_letter = _ctx().feed_log.rejected("api:list_audit", exc.errors, request.query_string, request_origin())
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=dead_letter), 422


@audit_api.get("/audit")
@require_role(*ADMINS)
def list_audit() -> Response:
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise InputError([{"field": name, "message": "given more than once"} for name in repeated])
    page = views.audit_entries(_ctx(), current_principal(), parse_query(request.args.to_dict()))
    return jsonify(entries=page.entries, next=page.next)


# --- recording the API's changes ------------------------------------------------------


def record_incident_report(stored: Stored) -> None:
    """An incident reported (POST /api/v1/incidents): created, or updated by a report
    with a known source and source_id."""
    action = "incident.create" if stored.created else "incident.update"
    audit_request(action, stored.incident.id, after=incident_facts(stored.incident),
                  detail={"stream_id": stored.event_id, "source": stored.incident.source})


def record_incident_change(before: Incident | None, stored: Stored, note: str | None = None) -> None:
    """An incident changed (PATCH): the before and after of the fields that changed."""
    old, new = incident_change(before, stored.incident, note)
    audit_request("incident.update", stored.incident.id, before=old, after=new, detail={"stream_id": stored.event_id})


FEED_COUNTS = ("accepted", "created", "updated", "unchanged", "ignored", "skipped")


def record_feed_document(result: IntakeResult) -> None:
    """A CAP, GDACS or USGS document posted: what it did, in counts."""
    counts = {name: getattr(result, name) for name in FEED_COUNTS}
    audit_request("feed.post", result.feed, after={**counts, "rejected": len(result.rejected)})


def record_position_batch(count: int, stream_id: str) -> None:
    """A batch of positions: how many, never whose."""
    audit_request("positions.post", "positions", after={"count": count}, detail={"stream_id": stream_id})
