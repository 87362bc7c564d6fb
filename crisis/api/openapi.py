"""The API described: an OpenAPI 3.1 document and a readable page rendered from it.

``GET /api/v1/openapi.json`` is built from the real pydantic models that validate the
requests (``crisis.feeds.schemas``), so a changed constraint changes the document; the
response shapes are pydantic models written here after ``crisis.domain.serialize`` and
the route handlers. ``GET /api/v1/docs`` renders the same document as one HTML page
with no external assets (the centre may be offline).

Both need a signed-in session or a Bearer token, like every other path (the app's
``before_request`` in ``crisis.auth.gate``). The document is built once per process, on the
first request; nothing happens at import.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from flask import Blueprint, Response, render_template_string, request
from markupsafe import Markup, escape
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

import crisis
from crisis.api.audit import AuditQueryIn
from crisis.api.checkins import ScopeCounts
from crisis.api.routes import READERS, WRITERS
from crisis.domain.access import ADMINS, PERSON_LOOKERS
from crisis.domain.accountability import STATUSES as ACCOUNTABILITY_STATUSES
from crisis.domain import taxonomy
from crisis.domain.model import SEVERITY_MAX, SEVERITY_MIN, IncidentStatus, IncidentType
from crisis.domain.travellers import CATEGORIES
from crisis.feeds.schemas import (
    MAX_POSITIONS_PER_BATCH,
    IncidentIn,
    IncidentPatch,
    PositionBatch,
    PositionIn,
    incident_filter_parameters,
)
from crisis.feeds.travellers import CSV_COLUMNS, TravellerIn

openapi = Blueprint("openapi", __name__, url_prefix="/api/v1")

REF = "#/components/schemas/{model}"
ROLES = {
    "admin": "everything, in every region; manages users and tokens; reads the audit trail",
    "duty_officer": "reports and updates incidents, reads everything, in every region",
    "regional_desk": "reads the incidents and positions of its own region only",
    "wall": "reads everything except who (the wall display: no traveller ids, owners or authors of changes); changes nothing",
    "feed": "machine accounts (API tokens only, cannot sign in): reports incidents and positions, posts feeds",
    "traveller": "a token bound to one person (API token only): posts that person's check-ins (POST /api/v1/checkins) and nothing else",
    "warden": "a warden's token (API token only): posts check-ins for the people assigned to the warden, and nothing else",
}
EDITORS = ("admin", "duty_officer")
# Every role but the check-in-only tokens (crisis.domain.access.only_checks_in), which the gate refuses everywhere else.
ANYONE = tuple(r for r in ROLES if r not in ("traveller", "warden"))


# --- response shapes (what the handlers answer) -------------------------------------


def _omit_default(schema: dict[str, Any]) -> None:
    """For a key that is simply absent when unknown: no ``"default": null``."""
    schema.pop("default", None)


class FieldError(BaseModel):
    """One thing wrong with a request, and where."""

    field: str = Field(description='Where: a dotted path into the body ("positions.50.lat"), "body (line 2, column 14)", a header, "role", "id", an XML element.')
    message: str = Field(description="What was wrong, in words a sender can act on.")


class ErrorResponse(BaseModel):
    """Every refusal has this shape, whatever the status code."""

    error: str = Field(description='A short summary: "invalid input", "malformed JSON", "authentication required", "forbidden", "not found", "conflict", "payload too large", "rejected feed message".')
    errors: list[FieldError] = Field(description="Each problem found (all of them, not only the first).")
    dead_letter_id: SkipJsonSchema[None] | str = Field(
        default=None,
        json_schema_extra=_omit_default,
        description="Present when the rejected body was kept in the dead-letter stream: its entry id there (see GET /api/v1/deadletters).",
    )


class Incident(BaseModel):
    """An incident as the centre knows it now (``crisis.domain.serialize.incident_to_dict``)."""

    id: str = Field(description='Assigned by the centre ("inc-" and 12 hex digits).', examples=["inc-3f2a9c01b7de"])
    title: str
    type: IncidentType = Field(description="The incident's sub-type (see IncidentIn.type for the list by category).")
    category: Literal[tuple(taxonomy.CATEGORIES)] = Field(  # type: ignore[valid-type]
        description="The category of the sub-type: " + ", ".join(f"{c} ({label})" for c, label in taxonomy.CATEGORIES.items()) + ".")
    severity: int = Field(ge=SEVERITY_MIN, le=SEVERITY_MAX, description="1 minor, 2 moderate, 3 serious, 4 major, 5 critical.")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_km: float | None = Field(description="Radius of the affected area around lat/lon, if known.")
    area: dict[str, Any] | None = Field(description="The affected area as a GeoJSON Polygon or MultiPolygon ([lon, lat] coordinates), if known.")
    country: str | None = Field(description="ISO 3166-1 alpha-3 code: as reported, else found from the location (null at sea).")
    region: str | None = Field(description="The centre's region of the incident's point (or named country): the first of `regions`.")
    regions: list[str] = Field(description="Every region the incident touches (its point's first, then those of the other countries "
                                           "it names and its area overlaps). A regional desk sees an incident when one of them is its own.")
    status: IncidentStatus
    reported_at: AwareDatetime = Field(description="When the source says it was reported (ISO 8601, UTC).")
    updated_at: AwareDatetime = Field(description="When the centre last changed it.")
    description: str
    source: str = Field(description='Who reported it: "api" by default, "cap", "gdacs", "usgs", ...')
    source_id: str | None = Field(description="The source's own id of the report; with source, the idempotency key.")
    approximate: bool = Field(description="True when the location was inferred (a country or area name), not reported.")
    owner: str | None = Field(default=None, description="The officer handling it, once assigned. Absent for wall accounts (no names).")
    countries: list[str] = Field(default_factory=list, description="The other countries the report named (ISO 3166-1 alpha-3); "
                                                                   "kept when the point is moved, so are their regions.")
    source_said: dict[str, Any] | None = Field(
        default=None,
        description="What the source's last applied message said (its facts; `area` and `description` as digests; `sent`: "
                    "its reported_at). A later message sent before it changes nothing; one saying the same changes nothing; "
                    "otherwise only the facts the source itself changed are taken, so a person's correction stands until "
                    "the source says something new about that fact. Null: no source reported it with its own id.")


class StoredIncident(Incident):
    """An incident just written, with the id of its event in the incident log."""

    stream_id: str = Field(description="The Redis stream id of the event that stored this change (the change is durable before the answer is sent); "
                                       "when a source's message changed nothing (see `source_said`), the log's last id then: what it says is at or before it.")


class HistoryEntry(BaseModel):
    """One change to an incident. ``kind`` says which; the other keys depend on it."""

    model_config = ConfigDict(extra="allow")

    time: AwareDatetime
    kind: Literal["reported", "updated", "status", "note"]
    by: str | None = Field(default=None, description="The user or token name that made the change. Absent for wall accounts (no names).")


class IncidentDetail(Incident):
    """An incident with its whole history, oldest first."""

    history: list[HistoryEntry]


class IncidentList(BaseModel):
    incidents: list[Incident] = Field(description="Most recently updated first.")
    count: int


class PositionRejection(BaseModel):
    """A position of a traveller never imported: not stored (the rest of the batch was)."""

    index: int = Field(description="Position in the batch, from 0.")
    field: str = Field(description='"positions.i.traveller_id" ("i.traveller_id" for a batch sent as a list), as the batch\'s other fields are named.')
    message: str
    dead_letter_id: str = Field(description="One dead letter holds every refused position of the batch.")


class PositionsAccepted(BaseModel):
    accepted: int = Field(description="How many positions were stored: the batch, less those of travellers never imported.")
    stream_id: str = Field(description="The Redis stream id of the event that stored them.")
    rejected: SkipJsonSchema[None] | list[PositionRejection] = Field(
        default=None, json_schema_extra=_omit_default,
        description="Present when some positions named a traveller never imported (POST /api/v1/travellers first): "
                    "those are not stored. None known: 422 instead.")


class Position(BaseModel):
    traveller_id: str | None = Field(default=None, description="Absent for wall accounts: they receive anonymous points.")
    lat: float
    lon: float
    time: AwareDatetime
    region: str | None


class PositionList(BaseModel):
    """Each traveller's latest position (in the caller's region, for a regional desk)."""

    count: int
    positions: list[Position]


class DeadLetter(BaseModel):
    """A rejected message, kept whole (up to 256 KiB) so it can be inspected and replayed."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The entry id in the dead-letter stream (the dead_letter_id of the refusal).")
    feed: str = Field(description='Which input refused it: "api:create_incident", "api:post_positions", "api:oversize", "cap", ...')
    time: AwareDatetime
    reason: str = Field(description="The errors as one line.")
    errors: list[FieldError]
    body: str = Field(description="The body as received (invalid UTF-8 is backslash-escaped), cut at 256 KiB.")
    body_size: str = Field(description="The size of the whole body in bytes (a decimal string).")


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetter] = Field(description="Newest first.")


class FeedRejection(BaseModel):
    """An item of a feed document that was refused on its own (the others went on); it
    is in the dead letters, alone."""

    index: SkipJsonSchema[None] | int = Field(
        default=None, json_schema_extra=_omit_default,
        description="Position of the item (RSS <item>, GeoJSON feature) in the document, from 0; absent when the item parsed but could not be stored.",
    )
    source_id: SkipJsonSchema[None] | str | None = Field(
        default=None, json_schema_extra=_omit_default,
        description="The item's source_id, when it parsed but could not be stored (e.g. a lifecycle conflict).",
    )
    field: str = Field(examples=["item[3].gdacs:alertlevel", "features[12].geometry", "status"])
    message: str
    dead_letter_id: str


class FeedSummary(BaseModel):
    """What a feed document did (``crisis.feeds.intake.IntakeResult``). Messages seen
    before with the same facts are counted as unchanged and not stored again, so a
    feed can be re-sent whole every minute."""

    feed: Literal["cap", "gdacs", "usgs"]
    items: int = Field(description="Messages or items the document held: accepted + refused (CAP: 1).")
    accepted: int = Field(description="Messages or items taken in (not refused): created + updated + unchanged + skipped (CAP: 1).")
    stored: int = Field(description="Incidents written: created + updated. Skipped and unchanged items write nothing.")
    created: int = Field(description="New incidents.")
    updated: int = Field(description="Known incidents (same source and source_id, or superseded) changed or closed.")
    unchanged: int = Field(description="Items already applied with the same facts: not stored again.")
    ignored: int = Field(description="CAP messages with nothing to act on (Test, System, Draft, Ack, Error, a Cancel of nothing known).")
    skipped: int = Field(description="USGS features below the configured minimum magnitude.")
    rejected: list[FeedRejection]
    incident_ids: list[str] = Field(description="The incidents created, updated or unchanged, in document order.")
    notes: list[str] = Field(description="Remarks in words, e.g. why a CAP message was ignored.")


class CapResult(FeedSummary):
    """What a CAP message did, with the incidents it created, updated, closed or found unchanged."""

    incidents: list[Incident]


class FeedHealth(BaseModel):
    """How one feed is doing (``crisis.feeds.health``)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "silent", "failing", "unknown"] = Field(
        description="unknown: never heard from; failing: the last message, within the hour, was rejected and "
        "rejections outnumber acceptances in the last hour; silent: a polled feed not heard from for longer "
        "than its interval plus 30 s (push feeds are never silent); ok: otherwise."
    )
    last_message_at: AwareDatetime | None = Field(description="The last message, accepted or rejected.")
    accepted_last_hour: int
    rejected_last_hour: int
    accepted_total: int
    rejected_total: int
    last_error: str | None = Field(description="The reason of the last rejection, if any (details in the dead letters).")
    last_error_at: AwareDatetime | None
    flagged_total: int = Field(default=0, description="Messages accepted with defects (CAP: departures from the "
                               "official CAP schema, such as a missing required element); each is flagged on its incident.")
    last_defect: str | None = Field(default=None, description="The defects of the last message accepted with defects, in words.")
    last_defect_at: AwareDatetime | None = None
    expected_interval_seconds: float | None = Field(description="The polling interval of a polled feed; null for push feeds.")


class FeedHealthList(BaseModel):
    """Every feed's health, by feed name."""

    feeds: dict[str, FeedHealth] = Field(
        description='Keyed by feed: "api" (JSON incident reports), "cap", "gdacs", "usgs", "positions", "sim" (the demo simulator).'
    )
    checked_at: AwareDatetime


class AuditEntry(BaseModel):
    """One entry of the audit trail (``crisis.adapters.audit``): who did what, when, from where."""

    id: str = Field(description="The entry's id in the audit stream: milliseconds since the epoch, a dash, a sequence number. Page with it (`before`).")
    time: AwareDatetime = Field(description="When it was recorded (UTC).")
    action: str = Field(description='What was done, a dotted name: "incident.create", "incident.update", "feed.post", "positions.post", "access.denied", "auth.login", "auth.login_failed", "auth.logout", "token.revoke", ...')
    actor: str = Field(description="The user or token name that did it; empty when unknown (a failed sign-in with an unknown name).")
    role: str = Field(description="The actor's role at the time.")
    via: str = Field(description='How: "session" (signed in), "token" (Bearer), "ui" (the dashboard\'s forms), "cli", "socket".')
    remote: str = Field(description="The client's address; empty for the command line.")
    target: str = Field(description='What was acted on: an incident id, a feed ("cap", "gdacs", "usgs"), "positions", a user or token name.')
    before: Any = Field(default=None, json_schema_extra=_omit_default, description="The changed fields as they were (absent when nothing was there before).")
    after: Any = Field(default=None, json_schema_extra=_omit_default, description='The changed fields as they became: a created incident\'s facts, a feed document\'s counts, a position batch\'s {"count"}.')
    detail: Any = Field(default=None, json_schema_extra=_omit_default, description="Anything else worth keeping (the event's stream id, the reason of a refusal, ...).")


class AuditEntryList(BaseModel):
    """A page of the audit trail."""

    entries: list[AuditEntry] = Field(description="Newest first.")
    next: str | None = Field(description="Pass it as `before` for the next, older page; null on the last page.")


class TravellerPosition(BaseModel):
    """Where a traveller most probably is, and on what evidence (``crisis.domain.travellers``:
    check-in > position report > itinerary > duty station; confidence high: a check-in or
    report younger than 1 h; medium: one within CRISIS_POSITION_MAX_AGE_HOURS, or the
    itinerary at a place; low: in transit, or the duty station)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    source: Literal["checkin", "report", "itinerary", "duty_station"]
    at: AwareDatetime = Field(description="When the evidence places them there (the report's time, the arrival, or now).")
    confidence: Literal["high", "medium", "low"]
    in_transit: bool = Field(description="On an itinerary segment, interpolated along the great circle by time.")
    age_seconds: int = Field(ge=0, description="How old the evidence is.")


class TravellerSummary(BaseModel):
    """A traveller in a list. A wall display receives only category, country, region and position."""

    id: SkipJsonSchema[None] | str = Field(default=None, json_schema_extra=_omit_default)
    name: SkipJsonSchema[None] | str = Field(default=None, json_schema_extra=_omit_default)
    agency: SkipJsonSchema[None] | str = Field(default=None, json_schema_extra=_omit_default)
    category: str
    essential: SkipJsonSchema[None] | bool = Field(default=None, json_schema_extra=_omit_default)
    dependant_of: str | None = Field(default=None, description="The staff member a dependant belongs to. Absent for wall accounts.")
    phone: str | None = Field(default=None, description="Absent for wall accounts.")
    email: str | None = Field(default=None, description="Absent for wall accounts.")
    country: str | None = Field(description="ISO3 of the best-known position.")
    region: str | None = Field(description="Region of the best-known position; regional desks see only theirs.")
    position: TravellerPosition | None = Field(description="None when nothing places the traveller.")


class TravellerList(BaseModel):
    travellers: list[TravellerSummary] = Field(description="Ordered by id.")
    count: int = Field(description="On this page.")
    total: int = Field(description="Matching the filters, in all.")
    offset: int
    limit: int
    next_offset: int | None = Field(description="The offset of the next page, or null on the last.")


class TravellerDetail(TravellerSummary):
    """The whole record: with the duty station and the itinerary (not for wall accounts)."""

    model_config = ConfigDict(extra="allow")


class AffectedPerson(BaseModel):
    """A person affected by an incident. A wall display receives no identities (no traveller_id,
    name, agency), nor the position's source and time, whether essential, or the arrival."""

    traveller_id: SkipJsonSchema[None] | str = Field(default=None, json_schema_extra=_omit_default)
    name: str | None = Field(default=None, description="Absent for wall accounts.")
    agency: str | None = Field(default=None, description="Absent for wall accounts.")
    category: str | None
    essential: bool | None = Field(default=None, description="Absent for wall accounts.")
    distance_km: float = Field(ge=0, description="From the incident's centre to the best-known position (reason position) or to the arrival place (reason itinerary).")
    reason: Literal["position", "itinerary"] = Field(description="position: the best-known position is inside the area (plus buffer); itinerary: an itinerary segment arrives inside it within the next 48 hours.")
    arrive: SkipJsonSchema[None] | AwareDatetime = Field(default=None, json_schema_extra=_omit_default, description="The earliest arrival inside the area (reason itinerary only; absent for wall accounts).")
    position_source: Literal["checkin", "report", "itinerary", "duty_station"] | None = Field(default=None, description="Of the best-known position; absent for wall accounts.")
    position_at: AwareDatetime | None = Field(default=None, description="Of the best-known position; absent for wall accounts.")
    confidence: Literal["high", "medium", "low"] | None
    status: Literal["safe", "needs_help", "unsure", "unreachable", "no_response"] = Field(description='Accountability in this incident; "no_response" until a check-in or a duty officer reports.')
    status_at: SkipJsonSchema[None] | AwareDatetime = Field(default=None, json_schema_extra=_omit_default, description="When the status was reported (absent while no_response, and for wall accounts).")
    status_via: SkipJsonSchema[None] | Literal["duty_officer", "checkin", "warden"] = Field(default=None, json_schema_extra=_omit_default, description="Who reported it: a duty officer, the person's check-in, or their warden (absent while no_response, and for wall accounts).")


class AffectedPeople(BaseModel):
    """Who is affected by an incident, as the caller may see them."""

    incident: str
    radius_km_used: float | None = Field(description="The circle's radius (the incident's radius_km, or the default for its severity, CRISIS_DEFAULT_RADIUS_KM); null for a polygon.")
    buffer_km: float = Field(ge=0, description="CRISIS_AFFECTED_BUFFER_KM, added around the area.")
    people: list[AffectedPerson] = Field(description="Inside by position first, then by itinerary; each nearest first.")
    counts: ScopeCounts
    accounted_pct: float = Field(ge=0, le=100, description="(safe + needs_help + unsure) / total, in percent, one decimal; 0.0 when nobody is affected.")
    in_other_regions: int = Field(ge=0, description="How many more people are affected whom the caller may not see: a regional desk's count of "
                                  "the affected people whose best-known position is in another region (e.g. flying in); 0 for the roles that see every region. "
                                  "Not in `counts`.")
    computed_at: AwareDatetime


class TravellerRejection(BaseModel):
    row: int = Field(description="1-based: the CSV data row (header not counted), or the index in the JSON list.")
    field: str = Field(description='The field or CSV column ("category", "itinerary.0.arrive", "from").')
    message: str
    dead_letter_id: str


class TravellerImportResult(BaseModel):
    accepted: int = Field(description="New travellers stored.")
    updated: int = Field(description="Known travellers (same id) replaced in place.")
    rejected: list[TravellerRejection]


REQUEST_MODELS: tuple[type[BaseModel], ...] = (IncidentIn, IncidentPatch, PositionIn, PositionBatch, TravellerIn)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    FieldError, ErrorResponse, Incident, StoredIncident, HistoryEntry, IncidentDetail, IncidentList,
    PositionsAccepted, Position, PositionList, DeadLetter, DeadLetterList,
    FeedRejection, FeedSummary, CapResult, FeedHealth, FeedHealthList, AuditEntry, AuditEntryList,
    TravellerPosition, TravellerSummary, TravellerList, TravellerDetail, TravellerRejection, TravellerImportResult,
    AffectedPerson, ScopeCounts, AffectedPeople,
)

# What the request models do not say about their fields themselves (they carry
# constraints, not prose). Keyed by model, then field; every key must be a real field
# (tests/e2e/test_openapi.py checks).
FIELD_NOTES: dict[str, dict[str, str]] = {
    "IncidentIn": {
        "title": "A one-line summary, as it will appear on the wall.",
        "type": "What kind of incident: a sub-type, listed here by category (category (code): sub-types). "
                + taxonomy.in_words() + ". An unknown type is refused (422) with this list in words.",
        "category": "Optional: the category of `type`, checked against it (a mismatch is refused with 422). "
                    "Sent without `type`, it stands for the category's \"other\" sub-type ("
                    + ", ".join(sub if sub == cat else f"{sub} for {cat}" for cat, sub in taxonomy.GENERAL_SUBTYPE.items())
                    + "); a hazard must name its type.",
        "severity": "1 minor, 2 moderate, 3 serious, 4 major, 5 critical.",
        "lat": "Latitude of the incident, WGS 84 decimal degrees.",
        "lon": "Longitude of the incident, WGS 84 decimal degrees.",
        "radius_km": "Radius of the affected area around lat/lon.",
        "area": "The affected area: a GeoJSON Polygon or MultiPolygon, [lon, lat] coordinates, valid (not self-intersecting).",
        "country": "ISO 3166-1 alpha-3 code (any case). If absent it is found from lat/lon.",
        "countries": "Every country the incident is over (ISO 3166-1 alpha-3 codes), e.g. a drought over Iraq and Iran: "
                     "the incident belongs to the region of each, and each of those regional desks sees it.",
        "reported_at": "When it was reported, with a time zone (stored in UTC). Defaults to the time of receipt.",
        "description": "Free text.",
        "source": 'Who reports it: a known feed (api, cap, gdacs, usgs, positions, sim) or the name of the '
                  'account posting it; anything else is refused (422). With source_id, the idempotency key.',
        "source_id": "The sender's own id of this report. A second POST with the same source and source_id updates that incident (200) instead of creating another (201).",
        "status": "Move the incident to this status (creating: start in it). A transition the lifecycle forbids is refused with 409.",
        "approximate": "True when lat/lon were inferred (a country or area name) rather than reported.",
        "supersedes": "source_ids of earlier reports from the same source that this one updates or cancels (CAP <references>); it is applied to the incident any of them created.",
    },
    "IncidentPatch": {
        "title": "New one-line summary.",
        "type": "New incident type (a sub-type; its category follows from it).",
        "severity": "New severity, 1 minor .. 5 critical.",
        "lat": "New latitude; only together with lon.",
        "lon": "New longitude; only together with lat. The country and region are found again.",
        "radius_km": "New radius of the affected area.",
        "description": "New free text (replaces the old).",
        "status": "Move the incident to this status; a transition the lifecycle forbids is refused with 409.",
        "owner": "The officer now handling it.",
        "note": "A note for the history; may be sent alone.",
    },
    "PositionIn": {
        "traveller_id": "The traveller's pseudonymous id (no personal data).",
        "lat": "Latitude, WGS 84 decimal degrees.",
        "lon": "Longitude, WGS 84 decimal degrees.",
        "time": "When the traveller was there, with a time zone. Defaults to the time of receipt.",
        "source": 'The system that located the traveller ("api" by default): a known feed or the name of the '
                  'account posting it.',
        "accuracy_m": "Accuracy of the fix in metres.",
    },
    "PositionBatch": {
        "positions": f"1 to {MAX_POSITIONS_PER_BATCH} position reports, stored all or none.",
    },
}

INCIDENT_EXAMPLE = {
    "title": "Armed robbery at guesthouse",
    "type": "crime",
    "severity": 3,
    "lat": -1.29,
    "lon": 36.82,
    "radius_km": 2,
    "source": "api",
    "source_id": "2024-0173",
}
CAP_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>KE-2024-0042</identifier>
  <sender>alerts@example.org</sender>
  <sent>2024-05-01T09:30:00+03:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Met</category>
    <event>Flood</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Flash flooding along the Nairobi River</headline>
    <area>
      <areaDesc>Nairobi, Mathare</areaDesc>
      <circle>-1.26,36.86 3</circle>
    </area>
  </info>
</alert>
"""

DESCRIPTION = f"""\
The REST API of the Crisis Coordination Centre: incident reports, traveller positions, \
external alert feeds (CAP, GDACS, USGS) and their health, and the dead letters of \
everything refused. Everything is JSON except the CAP and GDACS feeds, which are XML.

## Authentication

Every path needs one of:

- an API token: `Authorization: Bearer <token>`. Tokens are created by an administrator \
with `crisis tokens create NAME --role ROLE [--region REGION]`; only their hash is kept.
- a session cookie (`session`, plus `remember_token` when "keep this display signed in" \
was ticked), from signing in at `/login`. Feed accounts cannot sign in; they use tokens.

Without either, or with an unknown token, the answer is 401 with a `WWW-Authenticate: \
Bearer` header, never data.

## Roles

Each operation lists the roles allowed; any other role gets 403.

{chr(10).join(f"- `{role}`: {what}" for role, what in ROLES.items())}

## Idempotency

An incident report with a `source_id` is stored once per (`source`, `source_id`): \
sending it again, or sending a later report from the same source that names it in \
`supersedes`, updates that incident and answers 200 instead of 201. A report without \
`source_id` always creates a new incident. Feeds use the sender's own ids: CAP \
"sender,identifier" (with `<references>` as `supersedes`), GDACS event type and id, \
USGS event id. Retrying after a timeout is therefore safe when `source_id` is set.

## Errors and dead letters

Every refusal has the same body, `ErrorResponse`: `error`, and `errors`, a list of \
`{{field, message}}` naming each problem and where it is. A body refused as malformed \
(400) or invalid (422), and a feed message refused for a lifecycle conflict (409), is \
kept in the dead-letter stream (up to 256 KiB of it) with the reason; `dead_letter_id` \
in the answer is its id there, and `GET /api/v1/deadletters` lists them for inspection \
and replay. A body over 4 MiB is refused unread (413); only the refusal is recorded. \
An accepted body is durably stored in the event log before the answer is sent.
"""


# --- operations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    tag: str
    summary: str
    description: str
    roles: tuple[str, ...]
    responses: dict[str, Any]
    body: dict[str, Any] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    operation_id: str = ""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/json": media}}


def _common(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{COMMON_RESPONSES[code][0]}"} for code in codes}


COMMON_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("Malformed", "The body is not well-formed (JSON or XML), not UTF-8, or hostile XML (a DTD or entity declaration). Kept as a dead letter."),
    "401": ("Unauthenticated", "No session and no valid Bearer token."),
    "403": ("Forbidden", "The caller's role may not do this; the message names the roles that may."),
    "404": ("NotFound", "No such incident, or not in the caller's region."),
    "409": ("Conflict", "The incident's lifecycle does not allow this status change (e.g. reopening a closed incident)."),
    "413": ("PayloadTooLarge", "The body is larger than 4 MiB: refused unread; the refusal is recorded (without the body)."),
    "415": ("UnsupportedMediaType", "The Content-Type is not one this feed reads (no Content-Type at all is read as the feed's format). Kept as a dead letter."),
    "422": ("Invalid", "The body is well-formed but its content is invalid: every problem is listed with its field. Kept as a dead letter."),
}
# An unknown value of an incident filter (GET /api/v1/incidents, the incident exports).
FILTER_REFUSED = _json(_ref("ErrorResponse"), "A filter value we do not know (e.g. `status=exploded`): the parameter named "
                       "with its allowed values. Kept as a dead letter with the path asked.")
TRAVELLER_EXAMPLE = {
    "id": "T1042", "name": "A. Haddad", "agency": "UNDP", "category": "international_staff", "essential": True,
    "duty_station": {"name": "Beirut", "lat": 33.89, "lon": 35.5, "country": "LBN"},
    "itinerary": [{"from": "BEY", "to": {"name": "Amman", "lat": 31.95, "lon": 35.93},
                   "depart": "2026-05-01T09:30:00+03:00", "arrive": "2026-05-01T10:45:00+03:00"}],
}
INCIDENT_ID = {
    "name": "incident_id",
    "in": "path",
    "required": True,
    "description": "The incident's id.",
    "schema": {"type": "string", "examples": ["inc-3f2a9c01b7de"]},
}
FEED_BODY_ERRORS = ("400", "401", "403", "413", "415")  # bad items are listed in the 200 summary
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")
GDACS_TYPES = ("application/rss+xml", "application/xml", "text/xml")
USGS_TYPES = ("application/geo+json", "application/json")


def _query_parameters(model: type[BaseModel]) -> tuple[dict[str, Any], ...]:
    """Query parameters described by the model that validates them."""
    out = []
    for name, schema in model.model_json_schema(ref_template=REF)["properties"].items():
        schema = dict(schema)
        schema.pop("title", None)
        description = schema.pop("description", "")
        options = [o for o in schema.pop("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1:
            schema.update(options[0])
        elif options:
            schema["anyOf"] = options
        if schema.get("default", 0) is None:
            del schema["default"]
        out.append({"name": name, "in": "query", "required": False, "description": description, "schema": schema})
    return tuple(out)


def _xml_body(description: str, example: str, types: tuple[str, ...]) -> dict[str, Any]:
    schema = {"type": "string", "contentMediaType": "application/xml", "description": description}
    return {
        "required": True,
        "description": description,
        "content": {t: {"schema": schema, **({"example": example} if i == 0 else {})} for i, t in enumerate(types)},
    }


def _operations() -> list[Op]:
    return [
        Op(
            "post", "/api/v1/incidents", "Incidents", "Report an incident",
            "Creates an incident, or, when `source` and `source_id` (or one of `supersedes`) match an "
            "earlier report, updates the incident that report created (idempotent retries). The "
            "country and region are found from the location unless `country` is given. "
            "Unknown fields are refused.",
            WRITERS,
            {
                "201": _json(_ref("StoredIncident"), "Created: a new incident."),
                "200": _json(_ref("StoredIncident"), "Updated: the incident an earlier report with this source and source_id (or one it supersedes) created."),
                **_common("400", "401", "403", "409", "413", "422"),
            },
            body={"required": True, "content": {"application/json": {"schema": _ref("IncidentIn"), "example": INCIDENT_EXAMPLE}}},
            operation_id="createIncident",
        ),
        Op(
            "get", "/api/v1/incidents", "Incidents", "List incidents",
            "Every incident the caller may see (a regional desk: its region's) that passes the filters (the incident "
            "board's), most recently updated first.",
            READERS,
            {"200": _json(_ref("IncidentList"), "The incidents."), **_common("401", "403"), "400": FILTER_REFUSED},
            parameters=incident_filter_parameters(),
            operation_id="listIncidents",
        ),
        Op(
            "get", "/api/v1/incidents/{incident_id}", "Incidents", "Get an incident and its history",
            "One incident with every change made to it. An incident outside a regional desk's region is answered 404.",
            READERS,
            {"200": _json(_ref("IncidentDetail"), "The incident."), **_common("401", "403", "404")},
            parameters=(INCIDENT_ID,),
            operation_id="getIncident",
        ),
        Op(
            "get", "/api/v1/incidents/{incident_id}/affected", "Incidents", "Who is affected",
            "The travellers whose best-known position is inside the incident's area (its polygon, or a geodesic "
            "circle of its radius_km, or of the default radius for its severity) plus CRISIS_AFFECTED_BUFFER_KM, "
            "and those whose itinerary arrives inside it within the next 48 hours (reason itinerary). A regional "
            "desk receives only the people whose best-known position is in its region, and 404 for an incident "
            "outside it; a wall display receives the counts and anonymous entries (no identities). Each status "
            "is the person's accountability status in this incident (no_response until someone reports: a check-in "
            "or a duty officer).",
            READERS,
            {"200": _json(_ref("AffectedPeople"), "Who is affected."), **_common("401", "403", "404")},
            parameters=(INCIDENT_ID,),
            operation_id="getAffected",
        ),
        Op(
            "patch", "/api/v1/incidents/{incident_id}", "Incidents", "Update an incident",
            "Changes the fields given (absent or null: unchanged), moves the status along the lifecycle, "
            "assigns an owner, or adds a note to the history. `lat` and `lon` go together.",
            EDITORS,
            {"200": _json(_ref("StoredIncident"), "The incident as changed."), **_common("400", "401", "403", "404", "409", "413", "422")},
            body={"required": True, "content": {"application/json": {"schema": _ref("IncidentPatch"), "example": {"status": "verified", "owner": "j.okafor", "note": "Confirmed by the SSO."}}}},
            parameters=(INCIDENT_ID,),
            operation_id="updateIncident",
        ),
        Op(
            "post", "/api/v1/positions", "Positions", "Report traveller positions",
            f"A batch of 1 to {MAX_POSITIONS_PER_BATCH} positions, either `{{\"positions\": [...]}}` or a bare "
            "array. The batch is stored all or none: one invalid position refuses the batch, and the "
            'error names it ("positions.50.lat"). The newest report by its `time` is where a person is: one older '
            "than the latest held is stored as history and listed under `late`, also when another batch of the "
            "same person is stored at the same moment. A report without a `time` is stamped on receipt.",
            WRITERS,
            {"202": _json(_ref("PositionsAccepted"), "Stored; the map is updated on the next tick."), **_common("400", "401", "403", "413", "422")},
            body={
                "required": True,
                "content": {"application/json": {
                    "schema": {"oneOf": [_ref("PositionBatch"), {"type": "array", "items": _ref("PositionIn"), "minItems": 1, "maxItems": MAX_POSITIONS_PER_BATCH}]},
                    "example": {"positions": [{"traveller_id": "T1042", "lat": 33.89, "lon": 35.5, "time": "2024-05-01T09:30:00Z"}]},
                }},
            },
            operation_id="reportPositions",
        ),
        Op(
            "get", "/api/v1/positions", "Positions", "Latest positions",
            "Each traveller's latest position (a regional desk: in its region).",
            READERS,
            {"200": _json(_ref("PositionList"), "The positions."), **_common("401", "403")},
            operation_id="listPositions",
        ),
        Op(
            "post", "/api/v1/travellers", "Travellers", "Import travellers",
            "The travel-tracking system's export: a JSON list of travellers (or `{\"travellers\": [...]}`), "
            "or CSV (`text/csv`, one row per itinerary segment with the traveller's columns repeated; columns "
            f"{', '.join(CSV_COLUMNS)}; `from`/`to` an IATA code or `name|lat|lon`). A place is `{{name, lat, lon}}` "
            "or an IATA airport code; times need a zone. A re-import replaces the traveller of the same id "
            "(never a duplicate). Good travellers are stored; each bad row is reported and dead-lettered, and "
            "a traveller is stored whole or not at all.",
            WRITERS,
            {
                "200": _json(_ref("TravellerImportResult"), "Stored what was good; `rejected` lists each bad row."),
                "422": _json(_ref("TravellerImportResult"), "Every row was rejected: nothing stored. (Also an ErrorResponse when a JSON document is not a list.)"),
                **_common("400", "401", "403", "413", "415"),
            },
            body={"required": True, "content": {
                "application/json": {"schema": {"oneOf": [{"type": "array", "items": _ref("TravellerIn")},
                                                           {"type": "object", "properties": {"travellers": {"type": "array", "items": _ref("TravellerIn")}},
                                                            "required": ["travellers"], "additionalProperties": False}]},
                                     "example": [TRAVELLER_EXAMPLE]},
                "text/csv": {"schema": {"type": "string", "contentMediaType": "text/csv"},
                             "example": ",".join(CSV_COLUMNS) + "\nT1042,A. Haddad,UNDP,international_staff,true,Beirut,33.89,35.5,LBN,,,,BEY,AMM,2026-05-01T09:30:00+03:00,2026-05-01T10:45:00+03:00\n"},
            }},
            operation_id="importTravellers",
        ),
        Op(
            "get", "/api/v1/travellers", "Travellers", "List travellers",
            "Every traveller the caller may see (a regional desk: those whose best-known position is in its "
            "region), ordered by id, paged, each with the best-known position, its source and age. A wall "
            "display receives no identities (no id, name, phone, email).",
            READERS,
            {"200": _json(_ref("TravellerList"), "One page."), **_common("401", "403", "422")},
            parameters=(
                {"name": "region", "in": "query", "required": False, "description": "Only this region (of the best-known position).", "schema": {"type": "string"}},
                {"name": "category", "in": "query", "required": False, "description": "Only this category.", "schema": {"enum": list(CATEGORIES)}},
                {"name": "incident", "in": "query", "required": False, "description": "Only the people this incident affects (by position or itinerary); each item then has its status in the incident.", "schema": {"type": "string"}},
                {"name": "area", "in": "query", "required": False, "description": "Only the people inside this security area or on its open movement; each item then has its status in the movement.", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "required": False, "description": "Accountability status: in the incident or area given, else the person's worst status over every open incident and movement they are in (people in none are left out).", "schema": {"enum": ["any", *ACCOUNTABILITY_STATUSES], "default": "any"}},
                {"name": "limit", "in": "query", "required": False, "description": "Page size.", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                {"name": "offset", "in": "query", "required": False, "description": "How many to skip (see next_offset).", "schema": {"type": "integer", "minimum": 0, "default": 0}},
            ),
            operation_id="listTravellers",
        ),
        Op(
            "get", "/api/v1/travellers/{traveller_id}", "Travellers", "Get a traveller",
            "The record, its itinerary and its best-known position. Outside a regional desk's region: 404. "
            "A wall display may not look a person up by id: 403, whether the id exists or not.",
            PERSON_LOOKERS,
            {"200": _json(_ref("TravellerDetail"), "The traveller."), **_common("401", "403", "404")},
            parameters=({"name": "traveller_id", "in": "path", "required": True, "description": "The traveller's id.", "schema": {"type": "string"}},),
            operation_id="getTraveller",
        ),
        Op(
            "get", "/api/v1/deadletters", "Dead letters", "Rejected messages",
            "The most recent refused messages of every input (API bodies, feed documents, oversize "
            "bodies), newest first, with why and the body as received.",
            EDITORS,
            {"200": _json(_ref("DeadLetterList"), "The dead letters."), **_common("401", "403")},
            parameters=({"name": "count", "in": "query", "required": False, "description": "How many, newest first; values over 1000 are taken as 1000.", "schema": {"type": "integer", "minimum": 1, "default": 100, "maximum": 1000}},),
            operation_id="listDeadLetters",
        ),
        Op(
            "post", "/api/v1/feeds/cap", "Feeds", "Receive a CAP alert",
            "One Common Alerting Protocol message (CAP 1.2 or 1.1, `<alert>` in the OASIS namespace) "
            "becomes one incident: `source` \"cap\", `source_id` \"sender,identifier\", `<references>` "
            "as `supersedes`, so an Update changes and a Cancel closes the incident an earlier "
            "Alert created. Severity from `<severity>`, `<urgency>` and `<certainty>`; location "
            "from `<circle>`, else the polygons' centroid, else the area name (approximate). "
            "Test, System and Draft messages, Ack and Error are accepted and ignored (202); a message "
            "already applied with the same facts is not stored again (200, `unchanged`). "
            "The XML is parsed with every protection on: a DOCTYPE or entity declaration, or a "
            "document over 2 MiB, is refused (400).",
            WRITERS,
            {
                "201": _json(_ref("CapResult"), "Created: a new incident (an Alert, or an Update of an unknown message)."),
                "200": _json(_ref("CapResult"), "Updated (an Update), closed (a Cancel) or unchanged (the same message again): the incident of an earlier message."),
                "202": _json(_ref("CapResult"), "Accepted but ignored (`ignored` 1, `notes` say why): a Test, System or Draft message, an Ack or Error, or a Cancel of nothing known."),
                **_common("400", "401", "403", "409", "413", "415", "422"),
            },
            body=_xml_body("A CAP 1.2 or 1.1 `<alert>` document.", CAP_EXAMPLE, CAP_TYPES),
            operation_id="receiveCap",
        ),
        Op(
            "post", "/api/v1/feeds/gdacs", "Feeds", "Receive the GDACS RSS feed",
            "A GDACS RSS 2.0 document (https://www.gdacs.org/xml/rss.xml). Each `<item>` becomes an "
            "incident report with `source` \"gdacs\" and `source_id` event type + event id, so every "
            "episode of an event updates the same incident; severity from the alert level (Green 2, "
            "Orange 4, Red 5). A bad item is listed in `rejected` (and dead-lettered alone) and the "
            "others go on; a document that is not RSS, or is over 2 MiB, is refused whole.",
            WRITERS,
            {"200": _json(_ref("FeedSummary"), "What the document did (also when some items were rejected)."),
             "422": _json(_ref("FeedSummary"), "Items were sent and every one was refused: nothing taken in."), **_common(*FEED_BODY_ERRORS)},
            body=_xml_body("A GDACS RSS 2.0 `<rss>` document.", "<rss version=\"2.0\" xmlns:gdacs=\"http://www.gdacs.org\" ...>\n  <channel>\n    <item>...</item>\n  </channel>\n</rss>", GDACS_TYPES),
            operation_id="receiveGdacs",
        ),
        Op(
            "post", "/api/v1/feeds/usgs", "Feeds", "Receive a USGS earthquake feed",
            "A USGS GeoJSON summary feed (https://earthquake.usgs.gov/earthquakes/feed/v1.0/geojson.php), "
            "a FeatureCollection. Each earthquake becomes an incident report with `source` \"usgs\" and "
            "the event id as `source_id` (its other ids as `supersedes`); severity from magnitude, "
            "raised by the PAGER alert; `status: deleted` closes the incident; features below the "
            "configured minimum magnitude are counted as `skipped`. A bad feature is listed in "
            "`rejected` (and dead-lettered alone) and the others go on; a document that is not a "
            "FeatureCollection is refused whole.",
            WRITERS,
            {"200": _json(_ref("FeedSummary"), "What the document did (also when some features were rejected)."),
             "422": _json(_ref("FeedSummary"), "Features were sent and every one was refused: nothing taken in."), **_common(*FEED_BODY_ERRORS)},
            body={
                "required": True,
                "description": "A GeoJSON FeatureCollection in the USGS summary format.",
                "content": {t: {"schema": {"type": "object", "required": ["type", "features"], "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": {"type": "object"}}}}}
                            for t in USGS_TYPES},
            },
            operation_id="receiveUsgs",
        ),
        Op(
            "get", "/api/v1/feeds", "Feeds", "Feed health",
            "Each feed's status, last message, last error and counts of the last hour and in total, "
            "to see at a glance which feed has gone silent or is failing.",
            READERS,
            {"200": _json(_ref("FeedHealthList"), "The feeds."), **_common("401", "403")},
            operation_id="feedHealth",
        ),
        Op(
            "get", "/api/v1/audit", "Audit", "The audit trail",
            "Who did what, when, from which address: every change made by a person or a token "
            "(incidents created and changed, with the before and after of the changed fields; feed "
            "documents and position batches, in counts), sign-ins, failed sign-ins and sign-outs, "
            "token use, user and token changes, and refusals for lack of rights. Newest first, a page "
            "at a time: pass `next` as `before` for the next page. Entries are kept at least "
            "`CRISIS_AUDIT_KEEP_DAYS` days (default 400) and nobody can change or delete one: this "
            "path answers GET only (405 otherwise). `crisis audit` prints the same as JSON lines.",
            ADMINS,
            {
                "200": _json(_ref("AuditEntryList"), "A page of entries, newest first."),
                "422": _json(_ref("ErrorResponse"), "A parameter is invalid (each one named, e.g. `since` without a time zone). Kept as a dead letter."),
                **_common("401", "403"),
            },
            parameters=_query_parameters(AuditQueryIn),
            operation_id="listAudit",
        ),
        Op(
            "get", "/api/v1/openapi.json", "Documentation", "This document",
            "The OpenAPI 3.1 description of this API, generated from the models that validate the requests.",
            ANYONE,
            {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}, **_common("401", "403")},
            operation_id="openapi",
        ),
        Op(
            "get", "/api/v1/docs", "Documentation", "This document as a page",
            "The same description as a readable HTML page, with curl examples.",
            ANYONE,
            {"200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}, **_common("401", "403")},
            operation_id="docs",
        ),
    ]


TAGS = (
    {"name": "Incidents", "description": "Incident reports: create (idempotently by source and source_id), read, update, move along the lifecycle reported > verified > active > contained > closed."},
    {"name": "Positions", "description": "Where the centre's travellers are."},
    {"name": "Feeds", "description": "External alert feeds in their own formats (CAP, GDACS RSS, USGS GeoJSON) and the health of every feed."},
    {"name": "Travellers", "description": "The organisation's people, imported from the travel-tracking system, each placed by the best evidence."},
    {"name": "Dead letters", "description": "Everything refused, kept for inspection and replay."},
    {"name": "Audit", "description": "The append-only record of who did what, when and from where; for administrators."},
    {"name": "Documentation", "description": "This description of the API."},
)


# --- parts described next to their routes -------------------------------------------
#
# A module listed here documents its own routes: it defines ``openapi_operations()``
# (a list of ``Op``, built with the helpers above; import them inside the function),
# ``OPENAPI_TAGS`` (tag dicts), ``OPENAPI_REQUEST_MODELS`` and ``OPENAPI_RESPONSE_MODELS``.
EXTENSIONS: tuple[str, ...] = ("crisis.api.areas", "crisis.api.cot", "crisis.api.checkins", "crisis.api.roster", "crisis.api.exports",
                                 "crisis.api.shiftlog")


def _extensions() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in EXTENSIONS]


def all_operations() -> list[Op]:
    ops = _operations()
    for module in _extensions():
        ops.extend(module.openapi_operations())
    return ops


def all_tags() -> tuple[dict[str, str], ...]:
    return TAGS + tuple(tag for module in _extensions() for tag in module.OPENAPI_TAGS)


def request_models() -> tuple[type[BaseModel], ...]:
    return REQUEST_MODELS + tuple(m for module in _extensions() for m in module.OPENAPI_REQUEST_MODELS)


def response_models() -> tuple[type[BaseModel], ...]:
    return RESPONSE_MODELS + tuple(m for module in _extensions() for m in module.OPENAPI_RESPONSE_MODELS)


# --- the document ---------------------------------------------------------------------


def _hoist(schemas: dict[str, Any], model: type[BaseModel], mode: Literal["validation", "serialization"]) -> None:
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        if name in schemas and schemas[name] != definition:
            raise ValueError(f"two different schemas are both called {name}")
        schemas[name] = definition


def _describe(schemas: dict[str, Any]) -> None:
    for model, notes in FIELD_NOTES.items():
        properties = schemas.get(model, {}).get("properties", {})
        for name, note in notes.items():
            if name in properties:
                properties[name].setdefault("description", note)


def _operation(op: Op) -> dict[str, Any]:
    who = "any signed-in user or token" if op.roles == ANYONE else ", ".join(op.roles)
    out: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "description": f"{op.description}\n\nRoles: {who}.",
        "operationId": op.operation_id,
        "x-roles": list(op.roles),
    }
    if op.parameters:
        out["parameters"] = [dict(p) for p in op.parameters]
    if op.body is not None:
        out["requestBody"] = op.body
    out["responses"] = dict(sorted(op.responses.items()))
    return out


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built on first use, then shared: do not mutate it)."""
    schemas: dict[str, Any] = {}
    for model in request_models():
        _hoist(schemas, model, "validation")
    for model in response_models():
        _hoist(schemas, model, "serialization")
    _describe(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for op in all_operations():
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    unauthenticated = _json(_ref("ErrorResponse"), COMMON_RESPONSES["401"][1])
    unauthenticated["headers"] = {"WWW-Authenticate": {"description": 'Bearer realm="crisis"', "schema": {"type": "string"}}}
    responses = {
        name: unauthenticated if code == "401" else _json(_ref("ErrorResponse"), text)
        for code, (name, text) in COMMON_RESPONSES.items()
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Crisis Coordination Centre API",
            "version": crisis.__version__,
            "summary": "Incidents, traveller positions and alert feeds of the Crisis Coordination Centre.",
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/", "description": "This server"}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "tags": [dict(t) for t in all_tags()],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token: `crisis tokens create NAME --role ROLE`."},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session", "description": "The session cookie set by signing in at /login."},
            },
        },
    }


@cache
def _document_json() -> bytes:
    return json.dumps(document(), indent=2, ensure_ascii=False).encode()


@openapi.get("/openapi.json")
def openapi_json() -> Response:
    return Response(_document_json(), mimetype="application/json")


# --- the page -----------------------------------------------------------------------


@dataclass
class Row:
    name: str
    type: str
    required: bool
    constraints: list[str]
    description: str


@dataclass
class Table:
    name: str
    description: str
    rows: list[Row]
    closed: bool = False


@dataclass
class Body:
    content_types: list[str]
    description: str
    tables: list[Table] = field(default_factory=list)
    alternatives: str = ""
    example: str = ""


@dataclass
class PageOp:
    anchor: str
    method: str
    path: str
    summary: str
    description: str
    roles: list[str]
    parameters: list[Row]
    body: Body | None
    responses: list[tuple[str, str, str]]


def _resolve(ref: str, doc: dict[str, Any]) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _type_label(schema: dict[str, Any], doc: dict[str, Any]) -> str:
    name = _ref_name(schema)
    if name:
        return name
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_label(s, doc) for s in schema[key])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type_label(schema.get('items', {}), doc)}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type_label(schema['additionalProperties'], doc)}"
    if isinstance(kind, list):
        return " | ".join(kind)
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


_CONSTRAINTS = (
    ("minimum", "min {}"), ("exclusiveMinimum", "> {}"), ("maximum", "max {}"), ("exclusiveMaximum", "< {}"),
    ("minLength", "min length {}"), ("maxLength", "max length {}"),
    ("minItems", "min {} items"), ("maxItems", "max {} items"), ("pattern", "pattern {}"),
)


def _constraints(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    parts = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    for part in parts:
        if "$ref" in part:
            target = _resolve(part["$ref"], doc)
            if "enum" in target:
                out.append("one of: " + ", ".join(map(str, target["enum"])))
        if "enum" in part:
            out.append("one of: " + ", ".join(map(str, part["enum"])))
        for key, text in _CONSTRAINTS:
            if key in part:
                out.append(text.format(part[key]))
    if "default" in schema:
        out.append(f"default {json.dumps(schema['default'])}")
    return out


def _objects_in(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """Names of object schemas referenced by this schema, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = _ref_name(node)
            if name and _resolve(node["$ref"], doc).get("type") == "object" and name not in found:
                found.append(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def _table(name: str, doc: dict[str, Any]) -> Table:
    schema = doc["components"]["schemas"][name]
    required = set(schema.get("required", []))
    rows = [
        Row(prop, _type_label(sub, doc), prop in required, _constraints(sub, doc), sub.get("description", ""))
        for prop, sub in schema.get("properties", {}).items()
    ]
    return Table(name, schema.get("description", ""), rows, schema.get("additionalProperties") is False)


def _tables(schema: dict[str, Any], doc: dict[str, Any]) -> list[Table]:
    """The object schemas a body uses, and the ones they use, each as a field table."""
    names = _objects_in(schema, doc)
    i = 0
    while i < len(names):
        for nested in _objects_in(doc["components"]["schemas"][names[i]].get("properties", {}), doc):
            if nested not in names:
                names.append(nested)
        i += 1
    return [_table(n, doc) for n in names]


def _body(body: dict[str, Any], doc: dict[str, Any]) -> Body:
    content = body["content"]
    first = next(iter(content.values()))
    schema = first["schema"]
    example = first.get("example")
    out = Body(list(content), body.get("description", "") or schema.get("description", ""))
    if "oneOf" in schema:
        out.alternatives = "One of: " + "; or ".join(_type_label(s, doc) for s in schema["oneOf"])
    out.tables = _tables(schema, doc)
    if not out.tables and schema.get("type") == "object":
        out.tables = [Table("body", "", [
            Row(p, _type_label(s, doc), p in schema.get("required", []), _constraints(s, doc), s.get("description", ""))
            for p, s in schema.get("properties", {}).items()
        ])]
    if example is not None:
        out.example = example if isinstance(example, str) else json.dumps(example, indent=2)
    return out


def _responses(responses: dict[str, Any], doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for code, response in responses.items():
        if "$ref" in response:
            response = _resolve(response["$ref"], doc)
        shapes = []
        for media in response.get("content", {}).values():
            label = _type_label(media["schema"], doc)
            if label not in shapes:
                shapes.append(label)
        out.append((code, response["description"], ", ".join(shapes)))
    return out


@cache
def _page_model() -> list[dict[str, Any]]:
    doc = document()
    by_tag: dict[str, list[PageOp]] = {t["name"]: [] for t in doc["tags"]}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parameters = [
                Row(f"{p['name']} ({p['in']})", _type_label(p["schema"], doc), bool(p.get("required")), _constraints(p["schema"], doc), p.get("description", ""))
                for p in op.get("parameters", [])
            ]
            body = _body(op["requestBody"], doc) if "requestBody" in op else None
            description = op["description"].rsplit("\n\nRoles:", 1)[0]
            by_tag[op["tags"][0]].append(PageOp(
                op["operationId"], method.upper(), path, op["summary"], description, op["x-roles"],
                parameters, body, _responses(op["responses"], doc),
            ))
    return [{"name": t["name"], "description": t["description"], "operations": by_tag[t["name"]]} for t in doc["tags"]]


def _text(text: str) -> Markup:
    """The little Markdown the descriptions use: paragraphs, "## " headings, "- " lists, `code`."""
    html: list[str] = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        if all(line.startswith("- ") for line in lines):
            html.append("<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>")
        elif block.startswith("## "):
            html.append(f"<h3>{_inline(block[3:])}</h3>")
        else:
            html.append(f"<p>{_inline(' '.join(lines))}</p>")
    return Markup("".join(html))


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text)))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ info.title }} {{ info.version }}</title>
<link rel="stylesheet" href="/assets/app.css">
<style>
html, body { height: auto; }
.api-doc { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; background: var(--panel); line-height: 1.45; }
.api-doc h1 { margin: 0.2rem 0; }
.api-doc h2 { border-bottom: 2px solid var(--header); padding-bottom: 0.2rem; margin-top: 2.2rem; }
.api-doc h3 { margin: 1.2rem 0 0.3rem; }
.api-doc nav { font-size: 0.92rem; }
.api-doc nav a { margin-right: 0.8rem; }
.api-doc code, .api-doc pre { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 0.86rem; }
.api-doc pre { background: #0f1c29; color: #e8f1f8; padding: 0.7rem 0.9rem; border-radius: 0.3rem; overflow-x: auto; white-space: pre; }
.api-doc table { border-collapse: collapse; width: 100%; margin: 0.4rem 0 0.8rem; font-size: 0.9rem; }
.api-doc th, .api-doc td { border: 1px solid var(--line); padding: 0.3rem 0.45rem; text-align: left; vertical-align: top; }
.api-doc th { background: var(--bg); }
.api-op { border: 1px solid var(--line); border-radius: 0.4rem; padding: 0.2rem 1rem 0.6rem; margin: 1rem 0; }
.api-op h3 { display: flex; gap: 0.7rem; align-items: baseline; flex-wrap: wrap; }
.api-method { color: #fff; background: var(--header); padding: 0.1rem 0.5rem; border-radius: 0.25rem; font-size: 0.85rem; }
.api-method.post { background: var(--ok); } .api-method.patch { background: var(--warn); } .api-method.delete { background: var(--down); }
.api-summary { color: var(--muted); font-weight: 400; }
.api-roles { font-size: 0.9rem; }
.api-req { color: var(--down); font-weight: 700; }
.api-muted { color: var(--muted); font-size: 0.88rem; }
</style></head>
<body><main class="api-doc">
<h1>{{ info.title }}</h1>
<p class="api-muted">Version {{ info.version }} &middot; OpenAPI {{ openapi }} &middot; machine-readable: <a href="{{ url_for('openapi.openapi_json') }}">openapi.json</a> &middot; <a href="/">dashboard</a></p>
<nav>{% for tag in tags %}<a href="#tag-{{ loop.index }}">{{ tag.name }}</a>{% endfor %}<a href="#examples">Examples</a></nav>
{{ description }}

<h2 id="examples">Examples</h2>
<h3>Report an incident</h3>
<pre>{{ curl_incident }}</pre>
<h3>Send a CAP alert</h3>
<pre>{{ curl_cap }}</pre>

{% for tag in tags %}
<h2 id="tag-{{ loop.index }}">{{ tag.name }}</h2>
<p>{{ tag.description }}</p>
{% for op in tag.operations %}
<section class="api-op" id="{{ op.anchor }}">
<h3><span class="api-method {{ op.method|lower }}">{{ op.method }}</span> <code>{{ op.path }}</code> <span class="api-summary">{{ op.summary }}</span></h3>
{{ text(op.description) }}
<p class="api-roles"><strong>Roles:</strong> {% for role in op.roles %}<code>{{ role }}</code>{% if not loop.last %}, {% endif %}{% endfor %}</p>
{% if op.parameters %}
<h4>Parameters</h4>
<table><tr><th>Name</th><th>Type</th><th>Required</th><th>Constraints</th><th>Description</th></tr>
{% for row in op.parameters %}<tr><td><code>{{ row.name }}</code></td><td>{{ row.type }}</td><td>{% if row.required %}<span class="api-req">yes</span>{% else %}no{% endif %}</td><td>{{ row.constraints|join("; ") }}</td><td>{{ row.description }}</td></tr>
{% endfor %}</table>
{% endif %}
{% if op.body %}
<h4>Request body <span class="api-muted">{{ op.body.content_types|join(", ") }}</span></h4>
{% if op.body.description %}{{ text(op.body.description) }}{% endif %}
{% if op.body.alternatives %}<p>{{ op.body.alternatives }}</p>{% endif %}
{% for table in op.body.tables %}
<p><strong>{{ table.name }}</strong>{% if table.description %} &mdash; {{ table.description }}{% endif %}{% if table.closed %} Fields not listed here are refused (422).{% endif %}</p>
<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Constraints</th><th>Description</th></tr>
{% for row in table.rows %}<tr><td><code>{{ row.name }}</code></td><td>{{ row.type }}</td><td>{% if row.required %}<span class="api-req">yes</span>{% else %}no{% endif %}</td><td>{{ row.constraints|join("; ") }}</td><td>{{ row.description }}</td></tr>
{% endfor %}</table>
{% endfor %}
{% if op.body.example %}<details><summary>Example</summary><pre>{{ op.body.example }}</pre></details>{% endif %}
{% endif %}
<h4>Responses</h4>
<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>
{% for code, meaning, shape in op.responses %}<tr><td><strong>{{ code }}</strong></td><td>{{ meaning }}</td><td>{% if shape in shape_names %}<a href="#schema-{{ shape }}"><code>{{ shape }}</code></a>{% elif shape %}<code>{{ shape }}</code>{% endif %}</td></tr>
{% endfor %}</table>
</section>
{% endfor %}
{% endfor %}

<h2 id="schemas">Response shapes</h2>
{% for table in shapes %}
<h3 id="schema-{{ table.name }}">{{ table.name }}</h3>
{% if table.description %}<p>{{ table.description }}</p>{% endif %}
<table><tr><th>Field</th><th>Type</th><th>Always present</th><th>Constraints</th><th>Description</th></tr>
{% for row in table.rows %}<tr><td><code>{{ row.name }}</code></td><td>{{ row.type }}</td><td>{% if row.required %}yes{% else %}no{% endif %}</td><td>{{ row.constraints|join("; ") }}</td><td>{{ row.description }}</td></tr>
{% endfor %}</table>
{% endfor %}
</main></body></html>
"""


def _curl_examples(base: str) -> tuple[str, str]:
    incident = json.dumps(INCIDENT_EXAMPLE, indent=2)
    curl_incident = (
        f"curl -sS -X POST '{base}/api/v1/incidents' \\\n"
        "  -H \"Authorization: Bearer $CRISIS_TOKEN\" \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  --data-binary @- <<'EOF'\n{incident}\nEOF"
    )
    curl_cap = (
        f"curl -sS -X POST '{base}/api/v1/feeds/cap' \\\n"
        "  -H \"Authorization: Bearer $CRISIS_TOKEN\" \\\n"
        "  -H 'Content-Type: application/xml' \\\n"
        f"  --data-binary @- <<'EOF'\n{CAP_EXAMPLE.rstrip()}\nEOF"
    )
    return curl_incident, curl_cap


@openapi.get("/docs")
def docs() -> str:
    doc = document()
    curl_incident, curl_cap = _curl_examples(request.url_root.rstrip("/"))
    shapes = [_table(name, doc) for name in (m.__name__ for m in response_models())]
    return render_template_string(
        PAGE,
        info=doc["info"],
        openapi=doc["openapi"],
        description=_text(doc["info"]["description"]),
        tags=_page_model(),
        text=_text,
        curl_incident=curl_incident,
        curl_cap=curl_cap,
        shapes=shapes,
        shape_names={t.name for t in shapes},
    )
