"""The device table: which traveller carries which handset (CoT ``uid``), and what each
handset last sent.

* ``keys.DEVICES``: hash uid -> JSON {traveller_id, added_at, added_by}; written with the
  DEVICE_ADDED / DEVICE_REMOVED event that changed it (``crisis.handlers_cot``).
* ``keys.DEVICE_SEEN``: hash uid -> JSON {time, lat, lon, fix, type, callsign, received_at}
  of the latest event of a known device (lat/lon null for a "no fix" report).
* ``DEVICES_STREAM``: the log of device table changes. It is its own stream because the
  people and travellers streams are tailed by followers that expect their own events, and
  the positions stream is trimmed (a device added a year ago must stay in the log).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from crisis.adapters import keys

DEVICES_STREAM = keys.DEVICES_STREAM


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


class DeviceStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def queue_add(pipe: redis.client.Pipeline, uid: str, record: dict[str, Any]) -> None:
        pipe.hset(keys.DEVICES, uid, _json(record))

    @staticmethod
    def queue_remove(pipe: redis.client.Pipeline, uid: str) -> None:
        pipe.hdel(keys.DEVICES, uid)
        pipe.hdel(keys.DEVICE_SEEN, uid)

    @staticmethod
    def queue_seen(pipe: redis.client.Pipeline, seen: dict[str, dict[str, Any]]) -> None:
        """Queue the latest event of each of these devices (uid -> record)."""
        if seen:
            pipe.hset(keys.DEVICE_SEEN, mapping={uid: _json(record) for uid, record in seen.items()})

    def get(self, uid: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.DEVICES, uid)
        return json.loads(raw) if raw else None

    def travellers_of(self, uids: list[str]) -> dict[str, str]:
        """uid -> traveller id for the uids that are in the table, in one read."""
        if not uids:
            return {}
        found = self._redis.hmget(keys.DEVICES, uids)
        return {uid: str(json.loads(raw)["traveller_id"]) for uid, raw in zip(uids, found) if raw}

    def seen(self, uid: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.DEVICE_SEEN, uid)
        return json.loads(raw) if raw else None

    def all(self) -> list[dict[str, Any]]:
        """Every device, ordered by uid: {uid, traveller_id, added_at, added_by, last_seen}."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(keys.DEVICES)
        pipe.hgetall(keys.DEVICE_SEEN)
        devices, seen = pipe.execute()
        return [
            {"uid": uid, **json.loads(raw), "last_seen": json.loads(seen[uid]) if uid in seen else None}
            for uid, raw in sorted(devices.items())
        ]
