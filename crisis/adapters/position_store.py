"""The positions projection: each traveller's latest position, and traveller profiles."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import redis

from crisis.adapters import keys
from crisis.domain import access


class PositionStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def queue_save(pipe: redis.client.Pipeline, batch: dict[str, Any], seconds: list[float] | None = None) -> None:
        """Queue each traveller's position of a column batch (see services) as their latest,
        with its time also in Unix ``seconds`` (read from the batch's ISO times when not given),
        for ``held_times``. The caller leaves out the reports older than those held."""
        PositionStore.queue_latest(pipe, PositionStore.latest(batch["ids"], PositionStore.rows(batch, seconds)))

    @staticmethod
    def queue_latest(pipe: redis.client.Pipeline, latest: dict[str, str]) -> None:
        """Queue holding ``latest`` (:meth:`latest`): the value of each traveller in it."""
        if latest:
            pipe.hset(keys.POSITIONS, mapping=latest)  # type: ignore[arg-type]

    @staticmethod
    def rows(batch: dict[str, Any], seconds: list[float] | None = None) -> list[str]:
        """What :meth:`queue_save` stores for each report of ``batch``, in its order: a JSON
        array whose last item is the report's time in Unix seconds (its version, for
        ``EventLog.append_guarded``)."""
        if seconds is None:
            seconds = [datetime.fromisoformat(t).timestamp() for t in batch["time"]]
        return [
            json.dumps([lat, lon, t, src, country, region, at])
            for lat, lon, t, src, country, region, at in zip(
                batch["lat"], batch["lon"], batch["time"], batch["source"], batch["country"], batch["region"], seconds,
            )
        ]

    @staticmethod
    def latest(ids: list[str], rows: list[str]) -> dict[str, str]:
        """The value to hold for each traveller of ``ids`` (of one traveller twice, the later row)."""
        return dict(zip(ids, rows))

    def held_times(self, ids: list[str]) -> list[float | None]:
        """The time (Unix seconds) of the latest report held for each traveller (None: none)."""
        if not ids:
            return []
        return [held_time(raw) for raw in self._redis.hmget(keys.POSITIONS, ids)]

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


def held_time(raw: bytes | str | None) -> float | None:
    """A held value's report time in Unix seconds (kept since reports are compared by time;
    else read from its ISO time); None: no value, or a time that cannot be read."""
    if not raw:
        return None
    value = json.loads(raw)
    if len(value) > 6 and isinstance(value[6], (int, float)):
        return float(value[6])
    try:
        found = datetime.fromisoformat(value[2])
    except (ValueError, TypeError, IndexError):
        return None
    return found.timestamp() if found.tzinfo is not None else None
