"""Commands for handsets: the device table (``add_device``, ``remove_device``) and the
Cursor-on-Target intake (``ingest_cot``), shared by POST /api/v1/feeds/cot, the TCP/UDP
listener and the command line, so an event is treated the same whichever way it came in.

``ingest_cot``: parse (``crisis.feeds.cot``) -> for each valid event, the device table
maps its ``uid`` to a traveller ->

* a fix: a position report with source "cot" (``handlers.report_positions``, one batch per
  body, newest last so that it is the one kept), and the device's latest event in
  ``keys.DEVICE_SEEN``;
* "no fix": a ``POSITION_NO_FIX`` event in ``keys.POSITION_STREAM`` and the device's
  latest event in ``keys.DEVICE_SEEN``, in one transaction; never a position;
* an unknown ``uid``: reported (``unknown_device``, and in ``rejected`` with field "uid")
  and dead-lettered; nothing stored;
* an invalid event: reported in ``rejected`` (index, field, message) and dead-lettered
  alone; the others go on. An event is stored whole or not at all.

Every write goes through a pipeline of ``context.redis``, ``context.feed_log`` or
``deps.log``, and nothing written is read back: the feeds inbox relies on both to hold the
writes of a document back and apply them with its acknowledgement (``crisis.feeds.inbox``;
a write outside a pipeline is refused there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from crisis import handlers
from crisis.adapters import keys
from crisis.adapters.device_store import DEVICES_STREAM, DeviceStore
from crisis.bootstrap import Context
from crisis.domain import events as ev
from crisis.domain.events import Event
from crisis.errors import InputError, NotFound
from crisis.feeds.cot import CotEvent, DeviceIn, parse_cot
from crisis.feeds.intake import MessageRejected
from crisis.feeds.schemas import PositionBatch, PositionIn, field_errors

FEED = "cot"
SOURCE = "cot"  # the positions' source (a known feed: crisis.feeds.health.FEEDS)
DOCUMENT_FIELDS = ("document",)  # refusals of a document as a whole (also "line N": malformed XML)


@dataclass
class CotResult:
    """What one body (or one streamed event) did. ``accepted``: positions stored;
    ``no_fix``: reports without a place recorded; ``unknown_device``: events from a uid not
    in the device table; ``rejected``: every event not taken in (invalid, or from an
    unknown device), each {index, field, message, dead_letter_id[, uid]}."""

    accepted: int = 0
    no_fix: int = 0
    unknown_device: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "no_fix": self.no_fix, "unknown_device": self.unknown_device,
                "rejected": self.rejected}

    @property
    def taken(self) -> int:
        return self.accepted + self.no_fix

    def http_status(self) -> int:
        """200 when anything was taken in (or nothing was refused); otherwise 400 when every
        refusal is of an unusable document (malformed or hostile XML), else 422."""
        if self.taken or not self.rejected:
            return 200
        unusable = all(r["field"] in DOCUMENT_FIELDS or r["field"].startswith("line ") for r in self.rejected)
        return 400 if unusable else 422

    def summary(self) -> str:
        return (f"cot: {self.accepted} accepted, {self.no_fix} no fix, {self.unknown_device} unknown device, "
                f"{len(self.rejected)} rejected")


# --- the device table -----------------------------------------------------------------------


def add_device(deps: handlers.Deps, devices: DeviceStore, command: DeviceIn, actor: str | None
               ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Map a handset's uid to a traveller (a known uid is mapped anew); (before, after).

    InputError naming ``traveller_id`` when no such traveller is stored."""
    if deps.travellers is None:
        raise RuntimeError("Deps.travellers is not set (see crisis.bootstrap)")
    with deps.lock(f"device:{command.uid}"):
        if not deps.travellers.existing([command.traveller_id]):
            raise InputError([{"field": "traveller_id",
                               "message": f"no traveller {command.traveller_id!r}: import the traveller first"}])
        before = devices.get(command.uid)
        now = deps.clock()
        record = {"traveller_id": command.traveller_id, "added_at": now.isoformat(), "added_by": actor}
        payload = {"uid": command.uid, **record, "previous": before["traveller_id"] if before else None}
        event = Event(type=ev.DEVICE_ADDED, time=now, actor=actor, payload=payload)
        deps.log.append(DEVICES_STREAM, event, lambda pipe: DeviceStore.queue_add(pipe, command.uid, record))
    return before, record


def remove_device(deps: handlers.Deps, devices: DeviceStore, uid: str, actor: str | None) -> dict[str, Any]:
    """Take a handset out of the table (and its last event); what it was. NotFound if unknown."""
    with deps.lock(f"device:{uid}"):
        before = devices.get(uid)
        if before is None:
            raise NotFound(f"no device {uid!r}")
        now = deps.clock()
        event = Event(type=ev.DEVICE_REMOVED, time=now, actor=actor,
                      payload={"uid": uid, "traveller_id": before["traveller_id"]})
        deps.log.append(DEVICES_STREAM, event, lambda pipe: DeviceStore.queue_remove(pipe, uid))
    return before


# --- the intake -----------------------------------------------------------------------------------


def _dead_letter(context: Context, result: CotResult, index: int, errors: list[dict[str, Any]], body: bytes,
                 detail: dict[str, str], uid: str | None = None) -> None:
    extra = {"index": str(index), **({"uid": uid} if uid else {})}
    dead = context.feed_log.rejected(FEED, errors, body, {**detail, **extra})
    for error in errors:
        entry: dict[str, Any] = {"index": index, "field": error["field"], "message": error["message"],
                                 "dead_letter_id": dead}
        if uid:
            entry["uid"] = uid
        result.rejected.append(entry)


def ingest_cot(context: Context, body: bytes, actor: str | None, origin: dict[str, str] | None = None) -> CotResult:
    """One body of CoT documents (see the module doc). MessageRejected (dead-lettered) when
    the body as a whole cannot be read: a document over the size cap, too many events."""
    detail = {"actor": actor or "", **(origin or {})}
    deps = context.deps
    try:
        parsed = parse_cot(body, now=deps.clock())
    except InputError as exc:
        dead = context.feed_log.rejected(FEED, exc.errors, body, detail)
        raise MessageRejected(exc.errors, exc.message, 400, dead) from exc
    result = CotResult()
    by_index: dict[int, list[dict[str, Any]]] = {}
    for refused in parsed.rejected:
        by_index.setdefault(refused["index"], []).append(refused)
    for index, refusals in by_index.items():
        errors = [{"field": r["field"], "message": r["message"]} for r in refusals]
        _dead_letter(context, result, index, errors, refusals[0]["body"], detail)

    devices = DeviceStore(context.redis)
    owners = devices.travellers_of(sorted({e.uid for e in parsed.events}))
    fixes: list[tuple[CotEvent, PositionIn]] = []
    no_fix: list[tuple[CotEvent, str]] = []
    for event in parsed.events:
        traveller_id = owners.get(event.uid)
        if traveller_id is None:
            result.unknown_device += 1
            message = (f"no device {event.uid!r} in the device table: a duty officer or an administrator adds it "
                       f"(`crisis devices add {event.uid} TRAVELLER_ID`, or POST /api/v1/devices)")
            _dead_letter(context, result, event.index, [{"field": "uid", "message": message}], event.raw, detail, event.uid)
        elif event.no_fix:
            no_fix.append((event, traveller_id))
        else:
            try:
                position = PositionIn(traveller_id=traveller_id, lat=event.lat, lon=event.lon, time=event.time,
                                      source=SOURCE, accuracy_m=event.accuracy_m)
            except ValidationError as exc:  # the table holds only valid ids; kept for safety
                _dead_letter(context, result, event.index, field_errors(exc), event.raw, detail, event.uid)
                continue
            fixes.append((event, position))

    latest: dict[str, CotEvent] = {}
    for event in [e for e, _ in fixes] + [e for e, _ in no_fix]:
        if event.uid not in latest or event.time >= latest[event.uid].time:
            latest[event.uid] = event
    received = deps.clock().isoformat()
    seen = {uid: {**event.seen(), "received_at": received} for uid, event in latest.items()}
    if fixes:
        fixes.sort(key=lambda pair: pair[0].time)  # the newest of a traveller is the one kept
        handlers.report_positions(deps, PositionBatch(positions=[p for _, p in fixes]), actor)
        result.accepted = len(fixes)
    if no_fix:
        payload = {
            "ids": [tid for _, tid in no_fix],
            "uids": [e.uid for e, _ in no_fix],
            "time": [e.time.isoformat() for e, _ in no_fix],
            "source": SOURCE,
        }
        record = Event(type=ev.POSITION_NO_FIX, time=deps.clock(), actor=actor, payload=payload)
        deps.log.append(keys.POSITION_STREAM, record, lambda pipe: DeviceStore.queue_seen(pipe, seen))
        result.no_fix = len(no_fix)
    elif seen:
        with context.redis.pipeline(transaction=True) as pipe:
            DeviceStore.queue_seen(pipe, seen)
            pipe.execute()
    result.rejected.sort(key=lambda r: r["index"])
    if result.taken or not result.rejected:
        # One accepted message per body, after the rejections (see crisis.feeds.intake).
        context.feed_log.accepted(FEED, 1)
    return result
