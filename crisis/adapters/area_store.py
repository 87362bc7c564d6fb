"""The security areas projection: each area, its open movement, its closed movements.

* ``keys.AREA_INDEX``: hash area id -> JSON area (``crisis.domain.areas``; without its
  movement: that has its own key);
* ``keys.movement(area_id)``: the area's open movement (JSON), absent when none is open;
* ``keys.movement_history(area_id)``: its closed movements, oldest first, never deleted.

Writes are queued on the event log's transaction by ``crisis.handlers_areas`` (the
``queue_*`` methods), so an area is never stored without its event, nor an event
without its state.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class AreaStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    # --- writes (queued inside a log append transaction) ------------------------------
    @staticmethod
    def queue_save(pipe: redis.client.Pipeline, area: dict[str, Any]) -> None:
        """Queue writing the area (its "movement" key is not stored here)."""
        stored = {k: v for k, v in area.items() if k != "movement"}
        pipe.hset(keys.AREA_INDEX, area["id"], _dump(stored))

    @staticmethod
    def queue_movement(pipe: redis.client.Pipeline, area_id: str, movement: dict[str, Any]) -> None:
        """Queue writing the area's open movement."""
        pipe.set(keys.movement(area_id), _dump(movement))

    @staticmethod
    def queue_close(pipe: redis.client.Pipeline, area_id: str, closed: dict[str, Any]) -> None:
        """Queue moving the (closed) movement to the area's history."""
        pipe.rpush(keys.movement_history(area_id), _dump(closed))
        pipe.delete(keys.movement(area_id))

    # --- reads -------------------------------------------------------------------------
    def get(self, area_id: str) -> dict[str, Any] | None:
        """The area with its open movement (or None) under "movement"."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.AREA_INDEX, area_id)
            pipe.get(keys.movement(area_id))
            raw, movement = pipe.execute()
        if not raw:
            return None
        return {**json.loads(raw), "movement": json.loads(movement) if movement else None}

    def all(self) -> list[dict[str, Any]]:
        """Every area with its open movement, ordered by name then id."""
        raw = cast("dict[str, str]", self._redis.hgetall(keys.AREA_INDEX))
        if not raw:
            return []
        ids = list(raw)
        movements = cast("list[str | None]", self._redis.mget([keys.movement(i) for i in ids]))
        areas = [{**json.loads(raw[i]), "movement": json.loads(m) if m else None} for i, m in zip(ids, movements)]
        return sorted(areas, key=lambda a: (str(a.get("name", "")).lower(), str(a["id"])))

    def movement(self, area_id: str) -> dict[str, Any] | None:
        raw = self._redis.get(keys.movement(area_id))
        return json.loads(cast(str, raw)) if raw else None

    def closed_movements(self, area_id: str) -> list[dict[str, Any]]:
        """The area's closed movements, oldest first."""
        return [json.loads(m) for m in cast("list[str]", self._redis.lrange(keys.movement_history(area_id), 0, -1))]

    def rebuild(self, log: EventLog) -> int:
        """Drop the projection and replay the areas log into it; events applied. Every
        event carries the whole area (with its open movement) and, when it closed one, the
        closed movement."""
        ids = cast("list[str]", self._redis.hkeys(keys.AREA_INDEX))
        with self._redis.pipeline(transaction=True) as pipe:
            for area_id in ids:
                pipe.delete(keys.movement(area_id), keys.movement_history(area_id))
            pipe.delete(keys.AREA_INDEX)
            pipe.execute()
        applied = 0
        with self._redis.pipeline(transaction=False) as pipe:
            for event in log.replay(keys.AREAS_STREAM):
                area = event.payload.get("area")
                if not isinstance(area, dict):
                    continue
                closed = event.payload.get("closed_movement")
                if isinstance(closed, dict):
                    self.queue_close(pipe, area["id"], closed)
                self.queue_save(pipe, area)
                if area.get("movement"):
                    self.queue_movement(pipe, area["id"], area["movement"])
                applied += 1
                if applied % 500 == 0:
                    pipe.execute()
            pipe.execute()
        return applied

    def open_movements_of(self, traveller_id: str) -> list[str]:
        """The ids of the areas whose open movement lists this person."""
        return [a["id"] for a in self.all() if a["movement"]
                and any(p["traveller_id"] == traveller_id for p in a["movement"]["people"])]
