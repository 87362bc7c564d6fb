"""Feed intake: one feed document's bytes in, incidents stored, the outcome recorded.

The HTTP endpoints, the pollers and ``crisis ingest`` all call these functions, so a
document is treated the same whichever way it came in:

parse -> ``handlers.report_incident`` per incident -> ``FeedLog.accepted``.

A document that cannot be used at all (malformed or hostile XML, not the format, a CAP
message with invalid content, a change the incident's lifecycle forbids) is kept whole
in the dead-letter stream and raised as :class:`MessageRejected`, which carries the HTTP
status to answer (400 the document, 422 its content, 409 a conflict) and the dead
letter's id. In GDACS and USGS feeds one bad item does not cost the others: each is
dead-lettered on its own (with its index and field) and the good ones are stored.

The feed log counts documents, not items: a USGS feed re-read every minute is 60
accepted messages an hour, not 14,000 (every item's count is in the IntakeResult). A
refused item is one rejected message (one dead letter).

A message seen before (same source id, same facts) is counted as ``unchanged`` and not
stored again: pollers re-read whole feeds every minute, and an event per unchanged item
would flood the log, every incident's history and every browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Callable, NoReturn
from xml.etree import ElementTree

import numpy as np

from crisis import handlers
from crisis.bootstrap import Context
from crisis.domain import source_reports
from crisis.domain.model import GeoPoint, Incident, IncidentStatus
from crisis.errors import Conflict, DocumentTooLarge, FeedError, InputError
from crisis.feeds.cap import defects_in_words, parse_cap
from crisis.feeds.gazetteer import gazetteer_for
from crisis.feeds.gdacs import parse_gdacs
from crisis.feeds.schemas import IncidentIn, IncidentPatch
from crisis.feeds.usgs import parse_usgs
from crisis.feeds.xml import parse_xml

FEEDS = ("cap", "gdacs", "usgs")
# FeedError fields that mean "this is not a usable document" (answered 400); any other
# field names a part of a well-formed document whose content is wrong (422).
_DOCUMENT_FIELDS = {"document", "alert", "rss", "type"}


class MessageRejected(InputError):
    """A feed message refused and kept in the dead-letter stream.

    ``status`` is the HTTP answer: 400 unusable document, 422 invalid content, 409 a
    lifecycle conflict. The original error is the ``__cause__``.
    """

    def __init__(self, errors: list[dict[str, Any]], message: str, status: int, dead_letter_id: str) -> None:
        super().__init__(errors, message)
        self.status = status
        self.dead_letter_id = dead_letter_id


@dataclass
class IntakeResult:
    """What one document did. ``items`` counts the messages or feed items it held;
    ``accepted`` those taken in (stored, unchanged, ignored or skipped: not refused), of
    which ``stored`` (= ``created`` + ``updated``) wrote an incident; ``skipped`` items (USGS
    below the magnitude floor) and ``unchanged`` ones wrote nothing. ``rejected`` lists
    refused items: {index?, field, message, dead_letter_id} (an item may have several)."""

    feed: str
    items: int = 0
    accepted: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    skipped: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    incident_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary (the incidents themselves are left to the caller)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "incidents"}
        return {**out, "stored": self.stored}

    @property
    def stored(self) -> int:
        """Incidents written: created + updated (not unchanged, ignored or skipped)."""
        return self.created + self.updated

    def summary(self) -> str:
        line = (f"{self.feed}: {self.items} items, {self.accepted} accepted ({self.created} created, {self.updated} updated, "
                f"{self.unchanged} unchanged, {self.ignored} ignored, {self.skipped} skipped), "
                f"{len(self.rejected)} rejected")
        return "; ".join([line, *self.notes])


def _status_for(exc: InputError) -> int:
    if isinstance(exc, DocumentTooLarge):
        return 413
    if isinstance(exc, FeedError):
        where = exc.errors[0]["field"] if exc.errors else "document"
        return 400 if where in _DOCUMENT_FIELDS or where.startswith("line ") else 422
    return 422


def _reject(context: Context, feed: str, exc: InputError | Conflict, body: bytes, actor: str | None,
            detail: dict[str, str] | None = None) -> NoReturn:
    if isinstance(exc, Conflict):
        errors, message, status = [{"field": "status", "message": str(exc)}], "conflict", 409
    else:
        errors, message, status = exc.errors, exc.message, _status_for(exc)
    if isinstance(exc, DocumentTooLarge):  # kept as an HTTP body over the limit is: its size, not the body
        body, detail = b"", {**(detail or {}), "length": str(len(body))}
    dead_letter_id = context.feed_log.rejected(feed, errors, body, {"actor": actor or "", **(detail or {})})
    raise MessageRejected(errors, message, status, dead_letter_id) from exc


def _same_facts(current: Incident, command: IncidentIn) -> bool:
    """Would ``report_incident`` change nothing? Against what the source last said when
    that is kept (``source_reports.nothing_new``: an older message, or the same facts,
    whatever a person changed since), else against the incident itself (JSON comparison
    for the area: stored polygons come back with lists where the command has tuples)."""
    if current.source_said is not None:
        return source_reports.nothing_new(handlers.source_said(command), current.source_said)
    return (
        current.title == command.title and current.type == command.type
        and current.severity == command.severity
        and current.location == GeoPoint(command.lat, command.lon)
        and current.radius_km == command.radius_km
        and json.dumps(current.area) == json.dumps(command.area)
        and current.description == command.description and current.approximate == command.approximate
        and (command.country is None or current.country == command.country)
        and (command.status is None or command.status == current.status)
    )


def _report(context: Context, command: IncidentIn, actor: str | None, result: IntakeResult) -> None:
    """Store one incident command unless this very message was already applied."""
    store = context.deps.incidents
    if command.source_id:
        known = store.id_for_source(command.source, [command.source_id])
        current = store.get(known) if known else None
        if current is not None and _same_facts(current, command):
            result.unchanged += 1
            result.incident_ids.append(current.id)
            result.incidents.append(current)
            return
    stored = handlers.report_incident(context.deps, command, actor)
    if stored.created:
        result.created += 1
    elif stored.unchanged:
        result.unchanged += 1
    else:
        result.updated += 1
    result.incident_ids.append(stored.incident.id)
    result.incidents.append(stored.incident)


def ingest_cap(context: Context, body: bytes, actor: str | None) -> IntakeResult:
    """One CAP message: an incident created, updated or closed; or accepted and ignored."""
    result = IntakeResult("cap")
    try:
        message = parse_cap(body, gazetteer_for(context.deps.countries))
    except InputError as exc:
        _reject(context, "cap", exc, body, actor)
    detail = {"identifier": message.identifier, "sender": message.sender}
    try:
        if message.incident is not None:
            _report(context, message.incident, actor, result)
        elif message.msg_type == "Cancel" and message.status in ("Actual", "Exercise"):
            _cancel(context, message.references, message.identifier, actor, result)
        else:
            result.ignored += 1
            result.notes.append(f"CAP {message.status} {message.msg_type} message {message.identifier}: "
                                "accepted, not stored (nothing to act on)")
    except (Conflict, InputError) as exc:
        _reject(context, "cap", exc, body, actor, detail)
    result.items = result.accepted = 1
    context.feed_log.accepted("cap")
    if message.defects:  # the CAP policy: accepted, and flagged here and on the incident
        words = defects_in_words(message.defects)
        context.feed_log.flagged("cap", f"{message.sender},{message.identifier}: {words}")
        result.notes.append(f"CAP message {message.identifier} accepted with defects: {words}")
    return result


def _cancel(context: Context, references: tuple[str, ...], identifier: str, actor: str | None,
            result: IntakeResult) -> None:
    """A Cancel without <info>: close every incident an earlier message of it made."""
    store = context.deps.incidents
    incident_ids = dict.fromkeys(i for ref in references if (i := store.id_for_source("cap", [ref])))
    if not incident_ids:
        result.ignored += 1
        result.notes.append(f"CAP Cancel {identifier} references no known incident: accepted, nothing to close")
    for incident_id in incident_ids:
        current = store.get(incident_id)
        if current is not None and current.status == IncidentStatus.CLOSED:
            result.unchanged += 1  # the same Cancel again, or closed by hand already
            result.incident_ids.append(incident_id)
            result.incidents.append(current)
            continue
        patch = IncidentPatch(status=IncidentStatus.CLOSED, note=f"cancelled by CAP {identifier}")
        stored = handlers.update_incident(context.deps, incident_id, patch, actor)
        result.updated += 1
        result.incident_ids.append(incident_id)
        result.incidents.append(stored.incident)


def ingest_gdacs(context: Context, body: bytes, actor: str | None) -> IntakeResult:
    """A GDACS RSS feed: one incident per good item; bad items dead-lettered one by one."""
    try:
        parsed = parse_gdacs(body)
    except InputError as exc:
        _reject(context, "gdacs", exc, body, actor)
    return _store_items(context, "gdacs", body, parsed.incidents, parsed.rejected, 0, actor)


def ingest_usgs(context: Context, body: bytes, actor: str | None, min_magnitude: float | None = None) -> IntakeResult:
    """A USGS GeoJSON feed: one incident per good feature (``min_magnitude`` and up)."""
    try:
        parsed = parse_usgs(body, min_magnitude)
    except InputError as exc:
        _reject(context, "usgs", exc, body, actor)
    return _store_items(context, "usgs", body, _at_sea(context, parsed.incidents, parsed.place_countries),
                        parsed.rejected, parsed.skipped, actor)


def _at_sea(context: Context, incidents: list[IncidentIn], named: dict[str, str]) -> list[IncidentIn]:
    """A quake outside every country's outline takes the country its USGS place names (see
    ``usgs.place_country``), not the nearest outline's; on land the outline decides."""
    candidates = [i for i, cmd in enumerate(incidents) if cmd.country is None and cmd.source_id in named]
    if not candidates:
        return incidents
    inside = context.deps.countries.inside(np.array([incidents[i].lat for i in candidates]),
                                           np.array([incidents[i].lon for i in candidates]))
    out = list(incidents)
    for i, iso3 in zip(candidates, inside.tolist(), strict=True):
        if iso3 is None:
            out[i] = incidents[i].model_copy(update={"country": named[str(incidents[i].source_id)]})
    return out


def _store_items(context: Context, feed: str, body: bytes, incidents: list[IncidentIn],
                 refused: list[dict[str, Any]], skipped: int, actor: str | None) -> IntakeResult:
    result = IntakeResult(feed, skipped=skipped)
    failed = 0
    for item in refused:
        errors = [{"field": item["field"], "message": item["message"]}]
        dead = context.feed_log.rejected(feed, errors, _item_body(feed, body, item["index"]),
                                         {"actor": actor or "", "index": str(item["index"])})
        result.rejected.append({**item, "dead_letter_id": dead})
    for command in incidents:
        try:
            _report(context, command, actor, result)
        except (Conflict, InputError) as exc:
            errors = ([{"field": "status", "message": str(exc)}] if isinstance(exc, Conflict) else exc.errors)
            dead = context.feed_log.rejected(feed, errors, command.model_dump_json(),
                                             {"actor": actor or "", "source_id": command.source_id or ""})
            result.rejected += [{"source_id": command.source_id, **e, "dead_letter_id": dead} for e in errors]
            failed += 1
    result.accepted = result.created + result.updated + result.unchanged + result.skipped
    result.items = result.accepted + len(refused) + failed
    if result.accepted or not result.rejected:
        # One accepted message per document, whatever its size, so that the health rule
        # compares like with like (see crisis.feeds.health); after the item rejections,
        # so that "the last message was rejected" is false.
        context.feed_log.accepted(feed, 1)
    return result


def _item_body(feed: str, body: bytes, index: int) -> bytes:
    """The refused item alone, for its dead letter (the whole feed may be megabytes)."""
    try:
        if feed == "usgs":
            return json.dumps(json.loads(body)["features"][index]).encode()
        channel = parse_xml(body).find("channel")
        items = channel.findall("item") if channel is not None else []
        return ElementTree.tostring(items[index], encoding="utf-8")
    except (ValueError, KeyError, IndexError, TypeError, RecursionError, InputError):  # deep XML: the whole body
        return body


def ingest(context: Context, feed: str, body: bytes, actor: str | None) -> IntakeResult:
    """The intake for ``feed`` ("cap", "gdacs" or "usgs"), with the settings applied."""
    intakes: dict[str, Callable[[], IntakeResult]] = {
        "cap": lambda: ingest_cap(context, body, actor),
        "gdacs": lambda: ingest_gdacs(context, body, actor),
        "usgs": lambda: ingest_usgs(context, body, actor, context.settings.usgs_min_magnitude),
    }
    if feed not in intakes:
        raise ValueError(f"unknown feed {feed!r}; one of {', '.join(FEEDS)}")
    return intakes[feed]()
