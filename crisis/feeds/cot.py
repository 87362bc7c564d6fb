"""Cursor-on-Target (CoT) from handsets: ``<event>`` documents in, validated events out.

A handset (ATAK, WinTAK, iTAK, a tracker) reports where it is as a CoT event::

    <event version="2.0" uid="ANDROID-3518..." type="a-f-G-U-C" how="h-e"
           time="2020-02-08T18:10:58Z" start="2020-02-08T18:10:58Z" stale="2020-02-08T18:12:13Z">
      <point lat="43.967183" lon="-66.126446" hae="32.9" ce="156.5" le="9999999.0"/>
      <detail><contact callsign="C0rv0"/>...</detail>
    </event>

This module decides what a usable event is; it stores nothing (``crisis.handlers_cot``
maps the ``uid`` to a traveller through the device table and stores the outcome).

* Bytes become elements only through ``crisis.feeds.xml.parse_xml`` (defusedxml: a DTD
  or entity declaration is refused without being expanded), one document at a time, each
  at most ``MAX_EVENT_BYTES``.
* Several documents may follow each other (a TAK stream, or a POST of many events):
  :class:`EventSplitter` cuts the bytes after each root element's end tag. It reads tags,
  not text, so a ``>`` in an attribute value, a comment or a CDATA section does not cut a
  document; it never expands anything and keeps at most ``max_bytes`` unfinished.
* Validation (each refusal names its field): ``uid`` (printable, no spaces, at most 128
  characters), ``type``, ``time``/``start``/``stale`` ISO 8601 *with a time zone* (stale
  not before start), exactly one ``<point>`` with numeric, finite ``lat`` -90..90, ``lon``
  -180..180, ``hae``, ``ce`` >= 0, ``le`` >= 0 (all five are required by the CoT schema).
* "No fix": a handset without a position reports the CoT "unknown" value 9999999 as its
  height (hae) or circular error (ce) and a point at (or, with some jitter, within
  ``NO_FIX_DEGREES`` of) 0,0. That is an unknown place, not the Gulf of Guinea: the event
  is kept as a report without a place (``no_fix``), never drawn. A point elsewhere with
  an unknown height is a real place (a position set by hand on the map).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

from pydantic import BaseModel, ConfigDict, Field

from crisis.errors import FeedError, InputError
from crisis.feeds.xml import parse_xml
from crisis.feeds.schemas import is_null_island

MAX_EVENT_BYTES = 64 * 1024  # one event; ATAK's own are under 2 KiB
MAX_EVENTS_PER_BODY = 10_000  # as a positions batch
UNKNOWN = 9999999.0  # CoT's "not known" for hae, ce and le
NO_FIX_DEGREES = 1.0  # open sea all round: no land within 300 km of 0,0
MAX_FUTURE = timedelta(hours=24)  # a handset's clock may be off, but not by days
UID_PATTERN = r"^[\x21-\x7e]{1,128}$"  # printable ASCII, no spaces (ANDROID-..., GUIDs, S-1-5-...)
TRAVELLER_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"  # as crisis.feeds.schemas.PositionIn
_UID = re.compile(UID_PATTERN)
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_BLANKS = b" \t\r\n"
TAK_PROTOBUF_MAGIC = 0xBF  # TAK protocol version 1 (protobuf), which is not XML


class DeviceIn(BaseModel):
    """A handset in the device table: its CoT ``uid`` and the traveller carrying it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    uid: str = Field(min_length=1, max_length=128, pattern=UID_PATTERN,
                     description='The CoT uid the handset sends ("ANDROID-351811095448994"): printable ASCII, no spaces.')
    traveller_id: str = Field(min_length=1, max_length=64, pattern=TRAVELLER_ID_PATTERN,
                              description="The traveller carrying it; must be a known traveller.")


@dataclass(frozen=True)
class CotEvent:
    """One valid CoT event. ``no_fix``: the handset did not know where it was."""

    index: int
    uid: str
    type: str
    how: str | None
    time: datetime
    start: datetime
    stale: datetime
    lat: float
    lon: float
    hae: float
    ce: float
    le: float
    callsign: str | None
    no_fix: bool
    raw: bytes = field(repr=False)

    @property
    def accuracy_m(self) -> float | None:
        """The circular error in metres, when known."""
        return None if self.ce >= UNKNOWN else self.ce

    def seen(self) -> dict[str, Any]:
        """What the device table keeps as the device's latest event."""
        return {"time": self.time.isoformat(), "lat": None if self.no_fix else self.lat,
                "lon": None if self.no_fix else self.lon, "fix": not self.no_fix,
                "type": self.type, "callsign": self.callsign}


@dataclass
class CotParse:
    """Every document of a body: the valid events, and the refused ones with where
    ({index, field, message, body}), in document order."""

    events: list[CotEvent] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def is_no_fix(lat: float, lon: float, hae: float, ce: float) -> bool:
    """A point at 0,0 (within NO_FIX_DEGREES) whose height or circular error is unknown,
    or exactly 0,0 whatever they say (``schemas.is_null_island``: never a person's place)."""
    near_null_island = abs(lat) <= NO_FIX_DEGREES and abs(lon) <= NO_FIX_DEGREES
    return near_null_island and (hae >= UNKNOWN or ce >= UNKNOWN or is_null_island(lat, lon))


# --- splitting a stream of documents ----------------------------------------------------

_START_TAG = re.compile(rb"""<([^\s/>!?]+)(?:[^>"']|"[^"]*"|'[^']*')*>""")
_END_TAG = re.compile(rb"</([^\s>]+)\s*>")
# A tag cut off by the end of what has arrived so far (maybe inside a quoted value).
_UNFINISHED_TAG = re.compile(rb"""</?[^\s/>!?]*(?:[^>"']|"[^"]*"|'[^']*')*(?:"[^"]*|'[^']*)?""")


class DocumentTooLarge(Exception):
    """An unfinished document passed the size cap; ``head`` is its beginning (for the dead
    letter), ``documents`` the ones completed before it in the same data (still good)."""

    def __init__(self, size: int, limit: int, head: bytes, documents: list[bytes]) -> None:
        super().__init__(f"an unfinished document of {size} bytes passed the limit of {limit} bytes")
        self.head = head
        self.documents = documents


class EventSplitter:
    """Cuts a byte stream into XML documents, one per root element.

    ``feed(data)`` returns the documents completed by ``data`` (each with whatever came
    before its root: prolog, whitespace, a DOCTYPE to be refused by the parser). Bytes of
    an unfinished document are kept; more than ``max_bytes`` of them raise
    :class:`DocumentTooLarge` (the stream cannot be trusted to resynchronise after that).
    ``rest()`` is what is left at the end of the stream (non-blank: a truncated document).
    """

    def __init__(self, max_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._scan = 0  # where the next tag is looked for
        self._depth = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        documents: list[bytes] = []
        buffer = self._buffer
        position = self._scan
        start = 0
        while True:
            opening = buffer.find(b"<", position)
            if opening < 0:
                position = len(buffer)
                break
            end, kind = self._markup(buffer, opening)
            if end < 0:  # the markup is not complete yet
                position = opening
                break
            position = end
            if kind == "start":
                self._depth += 1
                continue
            if kind == "end":
                self._depth -= 1
            elif kind != "empty":  # a comment, CDATA, declaration, instruction, a stray "<"
                continue
            if self._depth <= 0:  # a root element ended (or a stray end tag: the parser will say so)
                # Whitespace between documents separates them (an XML declaration after it
                # would be malformed otherwise).
                documents.append(bytes(buffer[start:end]).lstrip(_BLANKS))
                start = end
                self._depth = 0
        del buffer[:start]
        self._scan = position - start
        if len(buffer) > self.max_bytes and buffer.strip():
            head = bytes(buffer[:2048])
            size = len(buffer)
            self._buffer, self._scan, self._depth = bytearray(), 0, 0
            raise DocumentTooLarge(size, self.max_bytes, head, documents)
        return documents

    @staticmethod
    def _markup(buffer: bytearray, opening: int) -> tuple[int, str]:
        """Where the markup at ``opening`` ends (after its ``>``; -1 if not yet) and what it
        is: "start", "end", "empty" (``<x/>``), "other" or "text" (a "<" that starts no tag)."""
        for prefix, closer in ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>")):
            if buffer.startswith(prefix, opening):
                found = buffer.find(closer, opening + len(prefix))
                return (-1 if found < 0 else found + len(closer)), "other"
        if buffer.startswith(b"<!", opening):  # <!DOCTYPE, <!ENTITY: the parser refuses them
            found = buffer.find(b">", opening)
            return (-1 if found < 0 else found + 1), "other"
        closing = buffer.startswith(b"</", opening)
        tag = (_END_TAG if closing else _START_TAG).match(buffer, opening)
        if tag is not None:
            if closing:
                return tag.end(), "end"
            return tag.end(), "empty" if buffer[tag.end() - 2:tag.end()] == b"/>" else "start"
        if _UNFINISHED_TAG.fullmatch(buffer, opening):
            return -1, "text"
        # Not a tag (a lone "<" in text, an unclosed quote): no tag starts here. Waiting for
        # more would hold the stream forever, so step over it and let the parser refuse it.
        return opening + 1, "text"

    def rest(self) -> bytes:
        """The unfinished bytes (call at the end of the stream)."""
        rest = bytes(self._buffer)
        self._buffer, self._scan, self._depth = bytearray(), 0, 0
        return rest


def split_documents(body: bytes, max_bytes: int = MAX_EVENT_BYTES) -> list[bytes]:
    """A whole body as its documents; a non-blank tail (a truncated document) is the last one.

    Raises InputError when one document is larger than ``max_bytes`` or there are more
    than ``MAX_EVENTS_PER_BODY`` of them.
    """
    splitter = EventSplitter(max_bytes)
    try:
        documents = splitter.feed(body)
    except DocumentTooLarge as exc:
        raise InputError([{"field": "document", "message": f"{exc}: one CoT event is at most {max_bytes} bytes"}],
                         "rejected feed message") from None
    rest = splitter.rest()
    if rest.strip() or not documents:
        documents.append(rest)
    if len(documents) > MAX_EVENTS_PER_BODY:
        raise InputError([{"field": "document", "message": f"{len(documents)} events in one body; at most "
                           f"{MAX_EVENTS_PER_BODY} are accepted: send them in several"}], "rejected feed message")
    return documents


# --- one event ------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _time(element: Element, name: str, required: bool = True) -> datetime | None:
    raw = element.get(name)
    if raw is None or not raw.strip():
        if required:
            raise FeedError(name, f"missing: the event's {name} is required (ISO 8601 with a time zone)")
        return None
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text) if len(text) <= 64 else None
    except ValueError:
        value = None
    if value is None:
        raise FeedError(name, f"not an ISO 8601 date and time: {text[:64]!r} (e.g. 2024-05-01T09:30:00Z)")
    if value.tzinfo is None or value.utcoffset() is None:
        raise FeedError(name, f"needs a time zone: {text[:64]!r} (e.g. 2024-05-01T09:30:00Z)")
    return value


def _number(point: Element, name: str, low: float | None = None, high: float | None = None) -> float:
    raw = point.get(name)
    where = f"point.{name}"
    if raw is None or not raw.strip():
        raise FeedError(where, "missing: a CoT point has lat, lon, hae, ce and le")
    try:
        value = float(raw.strip()) if len(raw) <= 64 else math.nan
    except ValueError:
        raise FeedError(where, f"not a number: {raw[:64]!r}") from None
    if not math.isfinite(value):
        raise FeedError(where, f"not a finite number: {raw[:64]!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if low is not None and high is not None else f"at least {low:g}"
        raise FeedError(where, f"{value:g} is out of range: must be {span}")
    return value


def _event(root: Element, index: int, raw: bytes, now: datetime | None) -> CotEvent:
    if _local(root.tag) != "event":
        raise FeedError("document", f"not a CoT event: the root element is <{_local(root.tag)[:40]}>, not <event>")
    uid = (root.get("uid") or "").strip()
    if not uid:
        raise FeedError("uid", "missing: every CoT event names its device in uid")
    if not _UID.match(uid):
        raise FeedError("uid", f"{uid[:40]!r} is not a device uid: 1 to 128 printable characters, no spaces")
    kind = (root.get("type") or "").strip()
    if not _TYPE.match(kind):
        raise FeedError("type", f"missing or not a CoT type: {kind[:40]!r} (e.g. a-f-G-U-C)")
    time, start, stale = (_time(root, name) for name in ("time", "start", "stale"))
    assert time is not None and start is not None and stale is not None
    if stale < start:
        raise FeedError("stale", f"{stale.isoformat()} is before start {start.isoformat()}")
    if now is not None and time - now > MAX_FUTURE:
        raise FeedError("time", f"{time.isoformat()} is more than {MAX_FUTURE} after the time of receipt "
                        f"({now.isoformat()}): the handset's clock is wrong")
    points = [child for child in root if _local(child.tag) == "point"]
    if len(points) != 1:
        raise FeedError("point", "missing: a CoT event has one <point>" if not points
                        else f"{len(points)} <point> elements; a CoT event has one")
    point = points[0]
    lat = _number(point, "lat", -90.0, 90.0)
    lon = _number(point, "lon", -180.0, 180.0)
    hae = _number(point, "hae")
    ce = _number(point, "ce", 0.0)
    le = _number(point, "le", 0.0)
    contact = root.find("detail/contact")
    callsign = (contact.get("callsign") or "").strip()[:120] or None if contact is not None else None
    how = (root.get("how") or "").strip()[:16] or None
    return CotEvent(index=index, uid=uid, type=kind, how=how, time=time, start=start, stale=stale,
                    lat=lat, lon=lon, hae=hae, ce=ce, le=le, callsign=callsign,
                    no_fix=is_no_fix(lat, lon, hae, ce), raw=raw)


def parse_event(document: bytes, index: int = 0, now: datetime | None = None,
                max_bytes: int = MAX_EVENT_BYTES) -> CotEvent:
    """One CoT document as a valid event; FeedError naming the field otherwise.

    ``now`` (the time of receipt), when given, refuses an event time more than a day ahead.
    """
    if document.lstrip(_BLANKS)[:1] == bytes([TAK_PROTOBUF_MAGIC]):
        raise FeedError("document", "TAK protocol version 1 (protobuf) is not read here: send XML CoT "
                        "(TAK protocol version 0)")
    root = parse_xml(document.lstrip(_BLANKS), max_bytes=max_bytes)
    return _event(root, index, document, now)


def parse_cot(body: bytes, now: datetime | None = None, max_bytes: int = MAX_EVENT_BYTES) -> CotParse:
    """Every document of ``body``: valid events and refused ones (one bad event does not
    cost the others). InputError when the body as a whole cannot be split (see
    ``split_documents``)."""
    result = CotParse()
    for index, document in enumerate(split_documents(body, max_bytes)):
        try:
            result.events.append(parse_event(document, index, now, max_bytes))
        except InputError as exc:
            for error in exc.errors:
                result.rejected.append({"index": index, "field": error["field"], "message": error["message"],
                                        "body": document})
        except (RecursionError, ValueError, OverflowError) as exc:  # absurd nesting or numbers
            result.rejected.append({"index": index, "field": "document", "body": document,
                                    "message": f"the document could not be read ({type(exc).__name__})"})
    return result
