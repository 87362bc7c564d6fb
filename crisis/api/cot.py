"""Handsets over HTTP: Cursor-on-Target events in, and the device table that says whose
handset sends them.

==============================  ============================================================
POST   /api/v1/feeds/cot        one or more CoT ``<event>`` documents (application/xml,
                                text/xml, application/cot+xml); writers. The answer is the
                                summary {accepted, no_fix, unknown_device, rejected: [{index,
                                field, message, dead_letter_id}]}: 200 when anything was taken
                                in; 400 (unusable XML) or 422 (invalid or unknown) when nothing
                                was; 415 another Content-Type; 413 too large
GET    /api/v1/devices          the device table, with each handset's last event; editors
POST   /api/v1/devices          {"uid", "traveller_id"}: 201 added, 200 mapped anew; 422 naming
                                traveller_id when no such traveller; editors; audited
DELETE /api/v1/devices/{uid}    200 the removed device, 404 unknown; editors; audited
==============================  ============================================================

Everything else (parsing, the no-fix rule, what is stored) is ``crisis.handlers_cot``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from crisis import handlers_cot
from crisis.adapters.device_store import DeviceStore
from crisis.api.common import ctx
from crisis.auth import audit_request, current_principal, request_origin, require_role
from crisis.domain import access
from crisis.errors import InputError, NotFound
from crisis.feeds.cot import (
    MAX_EVENT_BYTES,
    MAX_EVENTS_PER_BODY,
    NO_FIX_DEGREES,
    DeviceIn,
)
from crisis.feeds.intake import MessageRejected
from crisis.feeds.schemas import field_errors
from crisis.http_safety import load_json, status_for

cot_api = Blueprint("cot", __name__, url_prefix="/api/v1")

WRITERS = access.WRITERS
EDITORS = access.EDITORS
CONTENT_TYPES = ("application/xml", "text/xml", "application/cot+xml")


_ctx = ctx


def _devices() -> DeviceStore:
    return DeviceStore(_ctx().redis)


def _feed_of_request() -> str:
    endpoint = (request.endpoint or "unknown").split(".")[-1]
    return handlers_cot.FEED if endpoint == "post_cot" else f"api:{endpoint}"


@cot_api.errorhandler(MessageRejected)
def _rejected(exc: MessageRejected) -> tuple[Response, int]:
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=exc.dead_letter_id), exc.status


@cot_api.errorhandler(InputError)
def _input_error(exc: InputError) -> tuple[Response, int]:
    dead = _ctx().feed_log.rejected(_feed_of_request(), exc.errors, request.get_data(cache=True), request_origin())
    return jsonify(error=exc.message, errors=exc.errors, dead_letter_id=dead), status_for(exc)


@cot_api.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return jsonify(error="not found", errors=[{"field": "uid", "message": str(exc)}]), 404


@cot_api.errorhandler(413)
def _too_large(exc: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    errors = [{"field": "body", "message": f"the body is larger than the limit of {limit} bytes"}]
    dead = _ctx().feed_log.rejected(_feed_of_request(), errors, b"", request_origin())
    return jsonify(error="payload too large", errors=errors, dead_letter_id=dead), 413


@cot_api.post("/feeds/cot")
@require_role(*WRITERS)
def post_cot() -> tuple[Response, int]:
    body = request.get_data(cache=True)
    mimetype = request.mimetype
    if mimetype and mimetype not in CONTENT_TYPES:
        errors = [{"field": "Content-Type", "message": f"{mimetype!r} is not accepted here; send one of "
                   f"{', '.join(CONTENT_TYPES)}"}]
        dead = _ctx().feed_log.rejected(handlers_cot.FEED, errors, body, request_origin())
        raise MessageRejected(errors, "unsupported media type", 415, dead)
    result = handlers_cot.ingest_cot(_ctx(), body, current_principal().name, request_origin())
    audit_request("feed.post", handlers_cot.FEED, after={"accepted": result.accepted, "no_fix": result.no_fix,
                                                         "unknown_device": result.unknown_device,
                                                         "rejected": len(result.rejected)})
    return jsonify(result.to_dict()), result.http_status()


@cot_api.get("/devices")
@require_role(*EDITORS)
def list_devices() -> Response:
    devices = _devices().all()
    return jsonify(devices=devices, count=len(devices))


@cot_api.post("/devices")
@require_role(*EDITORS)
def add_device() -> tuple[Response, int]:
    body = load_json(request.get_data(cache=True))
    try:
        command = DeviceIn.model_validate(body)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None
    devices = _devices()
    before, after = handlers_cot.add_device(_ctx().deps, devices, command, current_principal().name)
    audit_request("device.add", command.uid, before=before, after=after)
    return jsonify({"uid": command.uid, **after, "last_seen": devices.seen(command.uid)}), 200 if before else 201


@cot_api.delete("/devices/<uid>")
@require_role(*EDITORS)
def remove_device(uid: str) -> Response:
    devices = _devices()
    last_seen = devices.seen(uid)
    before = handlers_cot.remove_device(_ctx().deps, devices, uid, current_principal().name)
    audit_request("device.remove", uid, before=before)
    return jsonify({"uid": uid, **before, "last_seen": last_seen})


# --- the description (crisis.api.openapi EXTENSIONS) -------------------------------------------


def _omit_default(schema: dict[str, Any]) -> None:
    """For a key that is simply absent when unknown: no ``"default": null``."""
    schema.pop("default", None)


class CotRejection(BaseModel):
    """An event not taken in: invalid (it is named where), or from a uid that is not in the
    device table (field "uid"). Each is in the dead letters, alone."""

    index: int = Field(description="Position of the document in the body, from 0.")
    field: str = Field(examples=["point.lat", "uid", "time", "document", "line 1"])
    message: str
    dead_letter_id: str
    uid: SkipJsonSchema[None] | str = Field(default=None, json_schema_extra=_omit_default,
                                            description="The device uid, for an event from an unknown device.")


class CotSummary(BaseModel):
    """What a body of CoT events did."""

    accepted: int = Field(ge=0, description='Positions stored (source "cot"), one per event with a fix.')
    no_fix: int = Field(ge=0, description="Events from handsets without a fix (a point at 0,0 with hae or ce 9999999): recorded as a report without a place, never drawn.")
    unknown_device: int = Field(ge=0, description="Events whose uid is in no device table entry: not stored (also listed in rejected).")
    rejected: list[CotRejection] = Field(description="Every event not taken in, in document order.")


class DeviceSeen(BaseModel):
    """A device's latest event."""

    time: AwareDatetime = Field(description="The event's time (the handset's clock).")
    lat: float | None = Field(description="Null when the handset had no fix.")
    lon: float | None
    fix: bool
    type: str = Field(description="The CoT type, e.g. a-f-G-U-C.")
    callsign: str | None
    received_at: AwareDatetime


class Device(BaseModel):
    """A handset and the traveller who carries it."""

    uid: str
    traveller_id: str
    added_at: AwareDatetime
    added_by: str | None
    last_seen: DeviceSeen | None = Field(description="The latest event from it, if any.")


class DeviceList(BaseModel):
    devices: list[Device] = Field(description="Ordered by uid.")
    count: int


OPENAPI_TAGS = (
    {"name": "Handsets", "description": "Cursor-on-Target (CoT) from handsets, and the device table that maps each handset's uid to a traveller."},
)
OPENAPI_REQUEST_MODELS = (DeviceIn,)
OPENAPI_RESPONSE_MODELS = (CotRejection, CotSummary, DeviceSeen, Device, DeviceList)
COT_EXAMPLE = (
    "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
    "<event version='2.0' uid='ANDROID-351811095448994' type='a-f-G-U-C' how='h-e'\n"
    "       time='2024-05-01T09:30:00Z' start='2024-05-01T09:30:00Z' stale='2024-05-01T09:31:15Z'>\n"
    "  <point lat='33.8938' lon='35.5018' hae='32.9' ce='15.5' le='9999999.0'/>\n"
    "  <detail><contact callsign='Alpha-1'/></detail>\n"
    "</event>\n"
)
UID_PARAMETER = {"name": "uid", "in": "path", "required": True, "description": "The device's CoT uid.",
                 "schema": {"type": "string"}}


def openapi_operations() -> list[Any]:
    from crisis.api.openapi import Op, _common, _json, _ref, _xml_body

    summary = _ref("CotSummary")
    return [
        Op(
            "post", "/api/v1/feeds/cot", "Handsets", "Receive Cursor-on-Target events",
            "One or more CoT `<event>` documents, one after the other (each may have its XML prolog), as "
            f"handsets send them; at most {MAX_EVENTS_PER_BODY} events of at most {MAX_EVENT_BYTES} bytes each. "
            "Each event's `uid` is looked up in the device table (POST /api/v1/devices, `crisis devices add`): "
            "an event with a fix becomes a position report of that traveller with `source` \"cot\", at the "
            "event's `time`, `ce` as its accuracy; an event from a handset without a fix (a point within "
            f"{NO_FIX_DEGREES:g} degree of 0,0 whose `hae` or `ce` is the CoT unknown value 9999999) is recorded as a "
            "report without a place and never drawn. An invalid event (a point without lat, a lat of 95, a "
            "time without a zone, no uid, a DOCTYPE or entity declaration) and an event from an unknown uid are "
            "listed in `rejected` and dead-lettered alone; the others go on; an event is stored whole or not at all. "
            "The TCP and UDP listener of `crisis feeds` (CRISIS_COT_PORT) takes the same events.",
            WRITERS,
            {
                "200": _json(summary, "Something was taken in (or the body held nothing wrong); `rejected` lists the rest."),
                "400": _json(summary, "Nothing taken in: every document was unusable XML (malformed, a DTD or entity declaration). Also an ErrorResponse when the body as a whole is refused (too many events, an event over the size limit)."),
                "422": _json(summary, "Nothing taken in: every event was invalid or from an unknown device."),
                **_common("401", "403", "413", "415"),
            },
            body=_xml_body("One or more CoT `<event>` documents.", COT_EXAMPLE, CONTENT_TYPES),
            operation_id="receiveCot",
        ),
        Op(
            "get", "/api/v1/devices", "Handsets", "The device table",
            "Every handset: its uid, the traveller who carries it, who added it and when, and its latest event.",
            EDITORS,
            {"200": _json(_ref("DeviceList"), "The devices."), **_common("401", "403")},
            operation_id="listDevices",
        ),
        Op(
            "post", "/api/v1/devices", "Handsets", "Add a device",
            "Maps a handset's CoT uid to a traveller, who must be known (else 422 naming `traveller_id`). A uid "
            "already in the table is mapped anew (200). Audited.",
            EDITORS,
            {
                "201": _json(_ref("Device"), "Added."),
                "200": _json(_ref("Device"), "The uid was in the table: mapped to this traveller now."),
                **_common("400", "401", "403", "413", "422"),
            },
            body={"required": True, "content": {"application/json": {"schema": _ref("DeviceIn"),
                                                                     "example": {"uid": "ANDROID-351811095448994", "traveller_id": "T1042"}}}},
            operation_id="addDevice",
        ),
        Op(
            "delete", "/api/v1/devices/{uid}", "Handsets", "Remove a device",
            "Takes a handset out of the table; its later events are refused as from an unknown device. Audited.",
            EDITORS,
            {"200": _json(_ref("Device"), "The device as it was."), **_common("401", "403", "404")},
            parameters=(UID_PARAMETER,),
            operation_id="removeDevice",
        ),
    ]
