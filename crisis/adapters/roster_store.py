"""The roster projection: officers, standby slots, leave and dispatches, in Redis.

* ``keys.OFFICERS``: hash officer id -> JSON officer (``crisis.roster.model.Officer``);
* ``keys.SLOTS``: hash slot id -> JSON slot;
* ``keys.LEAVE``: hash leave id -> JSON leave period;
* ``keys.DISPATCHES``: hash dispatch id -> JSON dispatch (with every step).

Writes are queued on the event log's transaction by ``crisis.handlers_roster``, made from
the event itself (``queue_event``: ``crisis.roster.changes.writes``), so nothing is stored
without its event in ``keys.ROSTER_STREAM``, nor an event without its state. Every event
carries the whole values it wrote (and the ids it removed), so ``rebuild`` recreates the
projection from the log alone, and ``changes_after`` lets a process bring the roster it
holds up to date from the events after it.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, cast

import redis
from redis.typing import EncodableT, FieldT

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog, decode
from crisis.roster import changes
from crisis.roster.model import Dispatch, Leave, Officer, Slot

# A random token that tells a process's cached roster (``crisis.views_roster.state``) the
# data it was loaded from is still there: gone after a FLUSHDB or a ``rebuild``.
EPOCH_KEY = f"{keys.PREFIX}:roster:epoch"


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _loads(values: list[str]) -> list[dict[str, Any]]:
    """Many JSON objects decoded at once (one parse of a JSON array: much cheaper than one
    ``json.loads`` per value for thousands of slots)."""
    return cast("list[dict[str, Any]]", json.loads("[" + ",".join(values) + "]")) if values else []


_PART_KEYS = {"officers": keys.OFFICERS, "slots": keys.SLOTS, "leave": keys.LEAVE, "dispatches": keys.DISPATCHES}


class RosterStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    # --- reads -------------------------------------------------------------------------
    def _all(self, key: str) -> list[dict[str, Any]]:
        raw = cast("dict[str, str]", self._redis.hgetall(key))
        return [json.loads(v) for v in raw.values()]

    def _one(self, key: str, item_id: str) -> dict[str, Any] | None:
        raw = self._redis.hget(key, item_id)
        return json.loads(cast(str, raw)) if raw else None

    def officers(self) -> dict[str, Officer]:
        """Every officer by id, ordered by id."""
        found = [Officer.from_dict(d) for d in self._all(keys.OFFICERS)]
        return {o.id: o for o in sorted(found, key=lambda o: o.id)}

    def officer(self, officer_id: str) -> Officer | None:
        found = self._one(keys.OFFICERS, officer_id)
        return Officer.from_dict(found) if found else None

    def officer_ids(self) -> set[str]:
        return set(cast("list[str]", self._redis.hkeys(keys.OFFICERS)))

    def slots(self) -> list[Slot]:
        """Every slot, ordered by start, then id."""
        return sorted((Slot.from_dict(d) for d in self._all(keys.SLOTS)), key=lambda s: (s.start, s.id))

    def slot(self, slot_id: str) -> Slot | None:
        found = self._one(keys.SLOTS, slot_id)
        return Slot.from_dict(found) if found else None

    def leave(self) -> list[Leave]:
        """Every leave period, ordered by start, then id."""
        return sorted((Leave.from_dict(d) for d in self._all(keys.LEAVE)), key=lambda x: (x.start, x.id))

    def leave_period(self, leave_id: str) -> Leave | None:
        found = self._one(keys.LEAVE, leave_id)
        return Leave.from_dict(found) if found else None

    def dispatches(self) -> list[Dispatch]:
        """Every dispatch, ordered by creation time, then id."""
        return sorted((Dispatch.from_dict(d) for d in self._all(keys.DISPATCHES)), key=lambda d: (d.created_at, d.id))

    def dispatch(self, dispatch_id: str) -> Dispatch | None:
        found = self._one(keys.DISPATCHES, dispatch_id)
        return Dispatch.from_dict(found) if found else None

    # --- a consistent snapshot, for caching ----------------------------------------------
    def head(self) -> tuple[str | None, str]:
        """(epoch token or None, last roster stream id or "0-0"), read atomically."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(EPOCH_KEY)
            pipe.xrevrange(keys.ROSTER_STREAM, count=1)
            epoch, last = pipe.execute()
        return _text(epoch), (_text(last[0][0]) or "0-0") if last else "0-0"

    def snapshot(self) -> tuple[str, str, dict[str, Officer], list[Slot], list[Leave], list[Dispatch]]:
        """(epoch, last stream id, officers, slots, leave, dispatches) in one transaction:
        the values are exactly those written by the events up to that id."""
        self._redis.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(EPOCH_KEY)
            pipe.xrevrange(keys.ROSTER_STREAM, count=1)
            for key in (keys.OFFICERS, keys.SLOTS, keys.LEAVE, keys.DISPATCHES):
                pipe.hvals(key)
            epoch, last, officers, slots, leave, dispatches = pipe.execute()
        found = sorted((Officer.from_dict(d) for d in _loads(officers)), key=lambda o: o.id)
        return (_text(epoch) or "", (_text(last[0][0]) or "0-0") if last else "0-0", {o.id: o for o in found},
                sorted((Slot.from_dict(d) for d in _loads(slots)), key=lambda s: (s.start, s.id)),
                sorted((Leave.from_dict(d) for d in _loads(leave)), key=lambda x: (x.start, x.id)),
                sorted((Dispatch.from_dict(d) for d in _loads(dispatches)), key=lambda d: (d.created_at, d.id)))

    # --- replay ------------------------------------------------------------------------
    @staticmethod
    def queue_event(pipe: redis.client.Pipeline, event_type: str, payload: dict[str, Any]) -> bool:
        """Queue the projection writes one roster event implies (``crisis.roster.changes.writes``);
        False for an event that is not one of the roster's."""
        found = changes.writes(event_type, payload)
        if found is None:
            return False
        for write in found:
            key = _PART_KEYS[write.part]
            mapping: dict[FieldT, EncodableT] = {v.id: _dump(v.to_dict()) for v in write.put}
            if mapping:
                pipe.hset(key, mapping=mapping)
            if write.remove:
                pipe.hdel(key, *write.remove)
        return True

    def changes_after(self, epoch: str, after_id: str, most: int) -> tuple[str, list[tuple[str, dict[str, Any]]]] | None:
        """(the newest id read, its events as (type, payload)) of the roster stream after
        ``after_id``, read with the epoch in one transaction; None when they cannot bring a
        roster held at (``epoch``, ``after_id``) up to date: the epoch changed (a FLUSHDB, a
        rebuild), there are more than ``most``, or the entry ``after_id`` itself is no longer
        in the stream. That last is how a lost history shows: trimmed by retention (entries
        after it may be gone too), or a failover to a replica that never had it (its later
        writes, and whatever the new primary wrote since, are another history)."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(EPOCH_KEY)
            pipe.xrange(keys.ROSTER_STREAM, min=after_id, max=after_id)
            pipe.xrange(keys.ROSTER_STREAM, min=f"({after_id}", count=most + 1)
            now_epoch, still_there, entries = pipe.execute()
        if _text(now_epoch) != epoch or len(entries) > most or not still_there:
            return None
        if not entries:
            return after_id, []
        events = [decode(_text(eid) or "", fields) for eid, fields in entries]
        return _text(entries[-1][0]) or after_id, [(e.type, e.payload) for e in events]

    def rebuild(self, log: EventLog) -> int:
        """Drop the projection and replay the roster log into it; events applied."""
        self._redis.delete(keys.OFFICERS, keys.SLOTS, keys.LEAVE, keys.DISPATCHES, EPOCH_KEY)
        applied = 0
        # In order and in one pipeline per batch: a later event overwrites an earlier one.
        with self._redis.pipeline(transaction=False) as pipe:
            for event in log.replay(keys.ROSTER_STREAM):
                if self.queue_event(pipe, event.type, event.payload):
                    applied += 1
                    if applied % 500 == 0:
                        pipe.execute()
            pipe.execute()
        self._redis.delete(EPOCH_KEY)  # a state cached while replaying is partial: reload
        return applied
