"""The durable event log on Redis Streams.

An event is one stream entry with the fields ``type``, ``time``, ``actor`` and
``payload`` (JSON). ``append`` stores the event and, in the same MULTI/EXEC
transaction, whatever projection writes the caller queued, so the log and the current
state never disagree; it returns only after Redis has answered (and, with
``appendfsync always``, after the AOF was fsynced). ``append_guarded`` does the same for
writes that keep the newer of two values (a traveller's latest position by its time): they
are stored only if nothing newer came in since they were planned, in one Lua step.

Reading a stream through a consumer group (pending entries first, then new ones; stale
ones claimed) is the feeds inbox's (crisis/feeds/inbox.py); ``group_entries`` reads the
reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, cast

import redis
from redis.typing import EncodableT, FieldT, StreamRangeResponse, XReadGroupResponse

from crisis.domain.events import Event
from crisis.errors import StorageError

Entry = tuple[str, dict[str, str]]
QueueWrites = Callable[["redis.client.Pipeline"], None]
# Writes that keep the newer of versioned values (a hash's values: JSON arrays whose last item
# is a number, their version, e.g. a report's time), made from the values read (None: none):
# the events, the other writes, and the versioned values to set.
Plan = Callable[[list[Any]], tuple[list[Event], QueueWrites | None, dict[str, str]]]
PLAN_TRIES = 50  # how many times a plan is made again when what it read changed meanwhile

# Sets versioned values unless one held is newer, and then runs the other writes; else nothing.
# KEYS[1]: the hash. ARGV[1]: how many values (n); ARGV[2 .. n+1]: their fields; ARGV[n+2 .. 2n+1]:
# the values. Then the other writes, each as its number of words and its words (at most ~7,000:
# Lua's unpack). A value whose last item is not a number has no version (held: stored before
# versions were kept) and is compared with nothing. Returns the other writes' replies, or nil
# (nothing written).
_GUARDED = """
local n = tonumber(ARGV[1])
local function version(value)  -- its last item: within its last 32 characters
  return tonumber(string.match(string.sub(value, -32), ',%s*([^,%]]+)%]$'))
end
local CHUNK = 1000  -- words per command: Lua's unpack takes at most ~8,000
for first = 1, n, CHUNK do
  local last = math.min(first + CHUNK - 1, n)
  local held = redis.call('HMGET', KEYS[1], unpack(ARGV, 1 + first, 1 + last))
  for i = first, last do
    local value = held[i - first + 1]
    if value then
      local was, now = version(value), version(ARGV[1 + n + i])
      if was and now and was > now then return false end
    end
  end
end
for first = 1, n, CHUNK do
  local set = {}
  for i = first, math.min(first + CHUNK - 1, n) do
    set[#set + 1] = ARGV[1 + i]
    set[#set + 1] = ARGV[1 + n + i]
  end
  redis.call('HSET', KEYS[1], unpack(set))
end
local replies = {}
local at = 2 + 2 * n
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  replies[#replies + 1] = redis.call(unpack(ARGV, at + 1, at + count))
  at = at + count + 1
end
return replies
"""


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

    def append_guarded(self, stream: str, key: str, fields: list[str], plan: Plan) -> list[str]:
        """Like :meth:`append_many`, for events and writes that keep the newer of versioned
        values in the hash ``key`` (see ``Plan``): ``plan`` makes them from the ``fields``'
        values as read, with the versioned values to set; the server stores all of it in one
        step only if no value it sets was meanwhile given a newer version, else they are read
        and planned again. So a newer value is never replaced by an older one, and writes to
        other fields meanwhile, or older ones, do not get in the way. The stream ids of the
        events (none: []); StorageError when newer versions came in under each of PLAN_TRIES
        tries (nothing written)."""
        maxlen = self._maxlen.get(stream)
        for _ in range(PLAN_TRIES):
            basis = list(self._redis.hmget(key, fields)) if fields else []
            events, projection, values = plan(basis)
            # Records the other writes (never sent: no connection).
            recorder = redis.client.Pipeline(None, {}, False, None)  # type: ignore[arg-type]
            for event in events:
                recorder.xadd(stream, xadd_fields(encode(event)), maxlen=maxlen, approximate=True)
            if projection is not None:
                projection(recorder)
            words: list[Any] = []
            for args, _options in recorder.command_stack:
                words += [len(args), *args]
            # On a pipeline, so that the feeds inbox's clients (crisis/feeds/inbox.py) apply it once.
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.eval(_GUARDED, 1, key, len(values), *values, *values.values(), *words)
                reply = pipe.execute()[0]
            if reply is None:  # a newer value came in since the read: read and plan again
                continue
            if not isinstance(reply, list):  # "": held by the feeds inbox, applied with its acknowledgement
                return [str(reply)] * len(events)
            return [str(r) for r in reply[: len(events)]]
        # Busy beyond reason: storage unavailable (a 503 with Retry-After), nothing written.
        raise StorageError(f"{key} changed under each of {PLAN_TRIES} tries to write {stream}")

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
