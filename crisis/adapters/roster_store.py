"""The roster projection: officers, standby slots, leave and dispatches, in Redis.

* ``keys.OFFICERS``: hash officer id -> JSON officer (``crisis.roster.model.Officer``);
* ``keys.SLOTS``: hash slot id -> JSON slot;
* ``keys.LEAVE``: hash leave id -> JSON leave period;
* ``keys.DISPATCHES``: hash dispatch id -> JSON dispatch (with every step).

Writes are queued on the event log's transaction by ``crisis.handlers_roster`` (the
``queue_*`` methods), so nothing is stored without its event in ``keys.ROSTER_STREAM``,
nor an event without its state. Every event carries the whole values it wrote (and the
ids it removed), so ``rebuild`` recreates the projection from the log alone.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any, cast

import redis
from redis.typing import EncodableT, FieldT

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog
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


class RosterStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    # --- writes (queued inside a log append transaction) ------------------------------
    @staticmethod
    def queue_officers(pipe: redis.client.Pipeline, officers: Iterable[Officer]) -> None:
        mapping: dict[FieldT, EncodableT] = {o.id: _dump(o.to_dict()) for o in officers}
        if mapping:
            pipe.hset(keys.OFFICERS, mapping=mapping)

    @staticmethod
    def queue_slots(pipe: redis.client.Pipeline, slots: Iterable[Slot]) -> None:
        mapping: dict[FieldT, EncodableT] = {s.id: _dump(s.to_dict()) for s in slots}
        if mapping:
            pipe.hset(keys.SLOTS, mapping=mapping)

    @staticmethod
    def queue_remove_slots(pipe: redis.client.Pipeline, slot_ids: Iterable[str]) -> None:
        ids = list(slot_ids)
        if ids:
            pipe.hdel(keys.SLOTS, *ids)

    @staticmethod
    def queue_leave(pipe: redis.client.Pipeline, leave: Leave) -> None:
        pipe.hset(keys.LEAVE, leave.id, _dump(leave.to_dict()))

    @staticmethod
    def queue_remove_leave(pipe: redis.client.Pipeline, leave_id: str) -> None:
        pipe.hdel(keys.LEAVE, leave_id)

    @staticmethod
    def queue_dispatch(pipe: redis.client.Pipeline, dispatch: Dispatch) -> None:
        pipe.hset(keys.DISPATCHES, dispatch.id, _dump(dispatch.to_dict()))

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
        """Queue the projection writes one roster event implies; False for an unknown event."""
        if event_type == "roster.officers_imported":
            RosterStore.queue_officers(pipe, (Officer.from_dict(o) for o in payload.get("officers") or ()))
        elif event_type in ("roster.slots_added", "roster.rotation_generated", "roster.swap"):
            RosterStore.queue_slots(pipe, (Slot.from_dict(s) for s in payload.get("slots") or ()))
        elif event_type in ("roster.slot_changed", "roster.override"):
            RosterStore.queue_slots(pipe, [Slot.from_dict(payload["slot"])])
        elif event_type == "roster.slot_removed":
            RosterStore.queue_remove_slots(pipe, [str(payload["slot"]["id"])])
        elif event_type == "roster.leave_added":
            RosterStore.queue_leave(pipe, Leave.from_dict(payload["leave"]))
        elif event_type == "roster.leave_removed":
            RosterStore.queue_remove_leave(pipe, str(payload["leave"]["id"]))
        elif event_type == "dispatch.created":
            RosterStore.queue_dispatch(pipe, Dispatch.from_dict(payload["dispatch"]))
            RosterStore.queue_slots(pipe, (Slot.from_dict(s) for s in payload.get("slots") or ()))
            RosterStore.queue_remove_slots(pipe, (str(i) for i in payload.get("removed") or ()))
        elif event_type in ("dispatch.step", "dispatch.position"):
            RosterStore.queue_dispatch(pipe, Dispatch.from_dict(payload["dispatch"]))
            RosterStore.queue_slots(pipe, (Slot.from_dict(s) for s in payload.get("slots") or ()))
        else:
            return False
        return True

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
