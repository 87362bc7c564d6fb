"""The incidents projection: each incident's current state and history, in Redis.

Writes are queued on the event log's transaction (``queue_save``) so an incident is
never stored without its event, nor an event without its state. ``rebuild`` recreates
the whole projection from the log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import EventLog
from crisis.domain import events as ev
from crisis.domain.model import Incident
from crisis.domain.serialize import incident_from_dict, incident_to_dict


class IncidentStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, incident_id: str) -> Incident | None:
        raw = self._redis.get(keys.incident(incident_id))
        return incident_from_dict(json.loads(raw)) if raw else None

    def all(self) -> list[Incident]:
        ids = sorted(self._incident_ids())
        if not ids:
            return []
        raws = self._redis.mget([keys.incident(i) for i in ids])
        return [incident_from_dict(json.loads(r)) for r in raws if r]

    def id_for_source(self, source: str, source_ids: list[str]) -> str | None:
        if not source_ids:
            return None
        fields = [keys.source_key(source, s) for s in source_ids]
        found = cast("list[str | None]", self._redis.hmget(keys.INCIDENT_SOURCE_INDEX, fields))  # the client decodes responses
        return next((f for f in found if f), None)

    def claim_source(self, source: str, source_id: str, incident_id: str) -> str:
        """Bind a source message to an incident id; the id it is bound to (first wins)."""
        key = keys.source_key(source, source_id)
        if self._redis.hsetnx(keys.INCIDENT_SOURCE_INDEX, key, incident_id):
            return incident_id
        return str(self._redis.hget(keys.INCIDENT_SOURCE_INDEX, key))

    def history(self, incident_id: str) -> list[dict[str, Any]]:
        return [json.loads(h) for h in self._redis.lrange(keys.incident_history(incident_id), 0, -1)]

    @staticmethod
    def queue_save(
        pipe: redis.client.Pipeline, incident: Incident, change: dict[str, Any], aliases: Sequence[str] = ()
    ) -> None:
        pipe.set(keys.incident(incident.id), json.dumps(incident_to_dict(incident)))
        pipe.sadd(keys.INCIDENT_INDEX, incident.id)
        pipe.rpush(keys.incident_history(incident.id), json.dumps(change))
        for alias in aliases:
            pipe.hset(keys.INCIDENT_SOURCE_INDEX, keys.source_key(incident.source, alias), incident.id)

    def _incident_ids(self) -> set[str]:
        return cast("set[str]", self._redis.smembers(keys.INCIDENT_INDEX))  # the client decodes responses

    def rebuild(self, log: EventLog) -> int:
        """Drop the projection and replay the incident log into it; events applied."""
        ids = self._incident_ids()
        with self._redis.pipeline(transaction=True) as pipe:
            for i in ids:
                pipe.delete(keys.incident(i), keys.incident_history(i))
            pipe.delete(keys.INCIDENT_INDEX, keys.INCIDENT_SOURCE_INDEX)
            pipe.execute()
        applied = 0
        with self._redis.pipeline(transaction=False) as pipe:
            for event in log.replay(keys.INCIDENT_STREAM):
                if event.type not in ev.INCIDENT_EVENTS:
                    continue
                incident = incident_from_dict(event.payload["incident"])
                self.queue_save(pipe, incident, event.payload["change"], event.payload.get("aliases", []))
                applied += 1
                if applied % 500 == 0:
                    pipe.execute()
            pipe.execute()
        return applied
