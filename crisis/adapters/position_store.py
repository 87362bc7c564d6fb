"""The positions projection: each traveller's latest position, and traveller profiles."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import redis

from crisis.adapters import keys
from crisis.domain import access


# Set each traveller's latest position unless the one held is newer (ARGV: id, value, time
# in Unix seconds, repeated; a value's seventh item is its time in Unix seconds, absent from
# values stored before it was kept: those are replaced).
_SAVE_NEWEST = """
for i = 1, #ARGV, 3 do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  local at = held and cjson.decode(held)[7]
  if (not at) or tonumber(at) <= tonumber(ARGV[i + 2]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""


class PositionStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def queue_save(pipe: redis.client.Pipeline, batch: dict[str, Any]) -> None:
        """Queue each traveller's position of a column batch (see services) as their latest,
        unless a newer one is held by then (two batches of one person at once: the newest
        by report time stays, whatever order they commit in)."""
        args: list[str] = []
        for tid, lat, lon, t, src, country, region in zip(
                batch["ids"], batch["lat"], batch["lon"], batch["time"], batch["source"],
                batch["country"], batch["region"]):
            seconds = repr(datetime.fromisoformat(t).timestamp())
            args += [tid, json.dumps([lat, lon, t, src, country, region, float(seconds)]), seconds]
        if args:
            pipe.eval(_SAVE_NEWEST, 1, keys.POSITIONS, *args)

    def held_times(self, ids: list[str]) -> list[datetime | None]:
        """The report time of the latest position held for each traveller (None: none)."""
        if not ids:
            return []
        return [_time_of(raw) for raw in self._redis.hmget(keys.POSITIONS, ids)]

    def snapshot(self, region: str | None = None) -> dict[str, Any]:
        """Every traveller's latest position as columns (lat/lon as float32 arrays); with
        ``region`` (a scope key: one region, or several joined by ","), those in it only."""
        wanted = access.scope_regions(region)
        ids: list[str] = []
        lat: list[float] = []
        lon: list[float] = []
        times: list[str] = []
        regions: list[str | None] = []
        for tid, raw in self._redis.hscan_iter(keys.POSITIONS, count=5000):
            p_lat, p_lon, p_time, _src, _country, p_region, *_ = json.loads(raw)
            if wanted is not None and p_region not in wanted:
                continue
            ids.append(tid)
            lat.append(p_lat)
            lon.append(p_lon)
            times.append(p_time)
            regions.append(p_region)
        return {
            "ids": ids,
            "lat": np.asarray(lat, dtype=np.float32),
            "lon": np.asarray(lon, dtype=np.float32),
            "time": times,
            "region": regions,
        }

    def count(self) -> int:
        return int(self._redis.hlen(keys.POSITIONS))

    def register_travellers(self, profiles: list[dict[str, Any]]) -> None:
        if profiles:
            self._redis.hset(keys.TRAVELLERS, mapping={p["id"]: json.dumps(p) for p in profiles})

    def traveller(self, traveller_id: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.TRAVELLERS, traveller_id)
        return json.loads(raw) if raw else None

    def traveller_count(self) -> int:
        return int(self._redis.hlen(keys.TRAVELLERS))


def _time_of(raw: bytes | str | None) -> datetime | None:
    """A held value's report time (None: no value, or a time that cannot be read)."""
    if not raw:
        return None
    try:
        found = datetime.fromisoformat(json.loads(raw)[2])
    except (ValueError, TypeError, IndexError):
        return None
    return found if found.tzinfo is not None else None
