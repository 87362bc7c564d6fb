"""The positions projection: each traveller's latest position, and traveller profiles."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import redis

from crisis.adapters import keys
from crisis.domain import access


class PositionStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def queue_save(pipe: redis.client.Pipeline, batch: dict[str, Any]) -> None:
        """Queue the latest position of each traveller in a column batch (see services)."""
        mapping = {
            tid: json.dumps([lat, lon, t, src, country, region])
            for tid, lat, lon, t, src, country, region in zip(
                batch["ids"], batch["lat"], batch["lon"], batch["time"], batch["source"],
                batch["country"], batch["region"],
            )
        }
        pipe.hset(keys.POSITIONS, mapping=mapping)

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
            p_lat, p_lon, p_time, _src, _country, p_region = json.loads(raw)
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
