"""The durable event log on Redis Streams.

An event is one stream entry with the fields ``type``, ``time``, ``actor`` and
``payload`` (JSON). ``append`` stores the event and, in the same MULTI/EXEC
transaction, whatever projection writes the caller queued, so the log and the current
state never disagree; it returns only after Redis has answered (and, with
``appendfsync always``, after the AOF was fsynced).

Reading a stream through a consumer group (pending entries first, then new ones; stale
ones claimed) is the feeds inbox's (crisis/feeds/inbox.py); ``group_entries`` reads the
reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import cast

import redis
from redis.typing import EncodableT, FieldT, StreamRangeResponse, XReadGroupResponse

from crisis.domain.events import Event

Entry = tuple[str, dict[str, str]]
QueueWrites = Callable[["redis.client.Pipeline"], None]


def encode(event: Event) -> dict[str, str]:
    return {
        "type": event.type,
        "time": event.time.isoformat(),
        "actor": event.actor or "",
        "payload": json.dumps(event.payload, separators=(",", ":")),
    }


def xadd_fields(fields: dict[str, str]) -> dict[FieldT, EncodableT]:
    """``fields`` as the type xadd asks for (it only reads them, but redis-py types them
    as an invariant dict, which a ``dict[str, str]`` is not)."""
    return cast("dict[FieldT, EncodableT]", fields)


def stream_entries(reply: StreamRangeResponse | None) -> list[Entry]:
    """An XRANGE/XREVRANGE reply as (id, fields) pairs.

    Only narrows the type: our clients decode responses, so ids and fields are str, and
    a sync client never answers None."""
    return cast("list[Entry]", reply)


def group_entries(reply: XReadGroupResponse) -> list[Entry]:
    """The entries of the one stream an XREADGROUP asked for ([] when there are none).

    The reply has the RESP2 (``legacy_responses``) shape ``[[stream, entries]]``."""
    streams = cast("list[tuple[str, list[Entry]]]", reply)
    return streams[0][1] if streams else []


def decode(entry_id: str, fields: dict[str, str]) -> Event:
    return Event(
        id=entry_id,
        type=fields["type"],
        time=datetime.fromisoformat(fields["time"]),
        actor=fields.get("actor") or None,
        payload=json.loads(fields["payload"]),
    )


class EventLog:
    def __init__(self, client: redis.Redis, maxlen: dict[str, int] | None = None) -> None:
        self._redis = client
        self._maxlen = maxlen or {}

    def append(self, stream: str, event: Event, projection: QueueWrites | None = None) -> str:
        """Store ``event`` (and the queued projection writes) atomically; its stream id."""
        return self.append_many(stream, [event], projection)[0]

    def append_many(
        self, stream: str, events: list[Event], projection: QueueWrites | None = None
    ) -> list[str]:
        maxlen = self._maxlen.get(stream)
        with self._redis.pipeline(transaction=True) as pipe:
            for event in events:
                pipe.xadd(stream, xadd_fields(encode(event)), maxlen=maxlen, approximate=True)
            if projection is not None:
                projection(pipe)
            results = pipe.execute()
        return [str(r) for r in results[: len(events)]]

    def last_id(self, stream: str) -> str:
        """The id of the newest entry, or "0-0" for an empty stream."""
        entries = self._redis.xrevrange(stream, count=1)
        return str(entries[0][0]) if entries else "0-0"

    def first_id(self, stream: str) -> str | None:
        entries = self._redis.xrange(stream, count=1)
        return str(entries[0][0]) if entries else None

    def read_after(self, stream: str, after_id: str, count: int = 1000) -> list[Event]:
        """Events strictly after ``after_id``, oldest first, at most ``count``."""
        found = stream_entries(self._redis.xrange(stream, min=f"({after_id}", count=count))
        return [decode(eid, fields) for eid, fields in found]

    def replay(self, stream: str, batch: int = 5000) -> Iterator[Event]:
        """Every event of the stream from the start, in order."""
        last = "0-0"
        while True:
            events = self.read_after(stream, last, batch)
            if not events:
                return
            yield from events
            last = events[-1].id or last

    def covers(self, stream: str, after_id: str) -> bool:
        """Whether a replay after ``after_id`` is certainly complete.

        True when ``after_id`` is at or past the oldest entry still kept; older ids may
        have had entries trimmed after them, so the caller sends a snapshot instead.
        """
        first = self.first_id(stream)
        return first is None or _id_tuple(after_id) >= _id_tuple(first)


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
