"""The travellers projection: each traveller's profile (hash ``keys.TRAVELLERS``, id ->
JSON), written with the import event that changed it (``crisis.handlers``), and the
latest position reports the best-known position is computed from."""

from __future__ import annotations

import json
from typing import Any

import redis

from crisis.adapters import keys


_HEXISTS_ALL = """
local out = {}
for i, id in ipairs(ARGV) do out[i] = redis.call('HEXISTS', KEYS[1], id) end
return out
"""


class TravellerStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._hexists_all = client.register_script(_HEXISTS_ALL)

    @staticmethod
    def queue_save(pipe: redis.client.Pipeline, profiles: list[dict[str, Any]]) -> None:
        """Queue writing these profiles (replacing any with the same id)."""
        if profiles:
            pipe.hset(keys.TRAVELLERS, mapping={p["id"]: json.dumps(p, separators=(",", ":")) for p in profiles})

    def get(self, traveller_id: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.TRAVELLERS, traveller_id)
        return json.loads(raw) if raw else None

    def many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The profiles of these ids that exist, in one read."""
        if not ids:
            return {}
        found = self._redis.hmget(keys.TRAVELLERS, ids)
        return {tid: json.loads(raw) for tid, raw in zip(ids, found) if raw}

    def existing(self, ids: list[str]) -> set[str]:
        """Which of these ids are stored already."""
        if not ids:
            return set()
        pipe = self._redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hexists(keys.TRAVELLERS, tid)
        return {tid for tid, there in zip(ids, pipe.execute()) if there}

    def unknown(self, ids: list[str]) -> set[str]:
        """Which of these ids are no stored traveller, in one command (a Lua loop of HEXISTS
        on the server: the positions ingest asks this of every batch, up to 10,000 ids, and
        must stay fast; HMGET would ship every profile back)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return set()
        found = self._hexists_all(keys=[keys.TRAVELLERS], args=wanted)
        return {tid for tid, there in zip(wanted, found) if not there}

    def all(self) -> list[dict[str, Any]]:
        """Every profile, ordered by id."""
        profiles = [json.loads(raw) for _, raw in self._redis.hscan_iter(keys.TRAVELLERS, count=5000)]
        return sorted(profiles, key=lambda p: str(p.get("id", "")))

    def page(self, offset: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
        """One page of the profiles ordered by id, and how many there are in all."""
        ids = sorted(str(k) for k in self._redis.hkeys(keys.TRAVELLERS))
        chosen = ids[offset:offset + limit]
        found = self.many(chosen)
        return [found[i] for i in chosen if i in found], len(ids)

    def count(self) -> int:
        return int(self._redis.hlen(keys.TRAVELLERS))

    def latest_reports(self, ids: list[str]) -> dict[str, tuple[float, float, str]]:
        """The latest position report (lat, lon, ISO time) of each of these travellers, in one read."""
        if not ids:
            return {}
        found = self._redis.hmget(keys.POSITIONS, ids)
        out = {}
        for tid, raw in zip(ids, found):
            if raw:
                lat, lon, time, *_ = json.loads(raw)
                out[tid] = (float(lat), float(lon), str(time))
        return out
