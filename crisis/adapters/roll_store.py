"""The roll-call projection: each person's accountability status per scope, and its history.

* ``keys.roll(scope)``: hash traveller id -> JSON {"status", "at" (ISO), "by", "note",
  "via": "duty_officer" | "checkin" | "warden"}; a person not in it is "no_response".
* ``keys.roll_history(scope)``: a stream, one entry per status change (fields
  traveller_id, status, at, by, via), oldest first: the burn-down's source.
* ``keys.CHECKIN_PLACES``: hash traveller id -> JSON [lat, lon, ISO time] of the
  latest check-in with a place (a best-known position's "checkin" evidence).

Writes are queued on a pipeline (``queue_set``, ``queue_checkin_place``) by the
handler that appends the status event, so the log and this projection never disagree
(``crisis.handlers_people``). A scope is "incident:<id>" or "area:<id>"
(``crisis.domain.accountability``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import stream_entries, xadd_fields
from crisis.domain.accountability import DEFAULT_STATUS

RECORD_FIELDS = ("status", "at", "by", "note", "via")
HISTORY_FIELDS = ("traveller_id", "status", "at", "by", "via")


class RollStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    # --- writes (queued inside a log append transaction) -------------------------------
    @staticmethod
    def queue_set(pipe: redis.client.Pipeline, scope: str, traveller_id: str, record: Mapping[str, Any]) -> None:
        """Queue setting one person's status in ``scope`` (record: status, at, by, note, via)
        and its history entry."""
        kept = {name: record.get(name) for name in RECORD_FIELDS}
        pipe.hset(keys.roll(scope), traveller_id, json.dumps(kept, separators=(",", ":")))
        entry = {"traveller_id": traveller_id, **{name: str(record.get(name) or "") for name in HISTORY_FIELDS[1:]}}
        pipe.xadd(keys.roll_history(scope), xadd_fields(entry))

    @staticmethod
    def queue_checkin_place(pipe: redis.client.Pipeline, traveller_id: str, lat: float, lon: float, at: str) -> None:
        """Queue storing the latest check-in place of a person."""
        pipe.hset(keys.CHECKIN_PLACES, traveller_id, json.dumps([lat, lon, at]))

    # --- reads ---------------------------------------------------------------------------
    def statuses(self, scope: str) -> dict[str, dict[str, Any]]:
        """Every reported person in ``scope``: traveller id -> {status, at, by, note, via}."""
        raw = cast("dict[str, str]", self._redis.hgetall(keys.roll(scope)))
        return {tid: json.loads(value) for tid, value in raw.items()}

    def record(self, scope: str, traveller_id: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.roll(scope), traveller_id)
        return json.loads(cast(str, raw)) if raw else None

    def status_of(self, scope: str, ids: Iterable[str]) -> dict[str, str]:
        """The status of each of these ids in ``scope`` ("no_response" when none), in one read."""
        wanted = list(ids)
        if not wanted:
            return {}
        found = cast("list[str | None]", self._redis.hmget(keys.roll(scope), wanted))
        return {tid: (json.loads(raw)["status"] if raw else DEFAULT_STATUS) for tid, raw in zip(wanted, found)}

    def status_many(self, scopes: Iterable[str]) -> dict[str, dict[str, str]]:
        """scope -> {traveller id -> status} of the reported people in each scope, one round trip."""
        wanted = list(scopes)
        if not wanted:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for scope in wanted:
            pipe.hgetall(keys.roll(scope))
        out: dict[str, dict[str, str]] = {}
        for scope, raw in zip(wanted, pipe.execute()):
            out[scope] = {tid: json.loads(value)["status"] for tid, value in cast("dict[str, str]", raw).items()}
        return out

    def history(self, scope: str) -> list[dict[str, Any]]:
        """Every status change in ``scope``, oldest first: {traveller_id, status, at, by, via}."""
        out: list[dict[str, Any]] = []
        last = "-"
        while True:
            found = stream_entries(self._redis.xrange(keys.roll_history(scope), min=last, count=5000))
            if last != "-":
                found = found[1:]
            if not found:
                return out
            out.extend({name: fields.get(name, "") for name in HISTORY_FIELDS} for _, fields in found)
            last = found[-1][0]

    # --- the areas' owner's records, read here for check-ins (tolerating their absence) ---
    def areas(self) -> list[dict[str, Any]]:
        """Every area in ``keys.AREA_INDEX`` (area id -> JSON area); unreadable entries are skipped."""
        out: list[dict[str, Any]] = []
        for area_id, raw in cast("dict[str, str]", self._redis.hgetall(keys.AREA_INDEX)).items():
            try:
                area = json.loads(raw)
            except ValueError:
                continue
            if isinstance(area, dict):
                out.append({"id": area_id, **area})
        return out

    def area(self, area_id: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.AREA_INDEX, area_id)
        try:
            area = json.loads(cast(str, raw)) if raw else None
        except ValueError:
            return None
        return {"id": area_id, **area} if isinstance(area, dict) else None

    def movement(self, area_id: str) -> dict[str, Any] | None:
        """An area's current movement (``keys.movement``: a JSON string), or None."""
        try:
            raw = self._redis.get(keys.movement(area_id))
            movement = json.loads(cast(str, raw)) if raw else None
        except (redis.ResponseError, ValueError):  # not (yet) stored as the contract says
            return None
        return movement if isinstance(movement, dict) else None

    def movements(self, area_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The current movements of these areas that have one, in one round trip."""
        wanted = list(area_ids)
        pipe = self._redis.pipeline(transaction=False)
        for area_id in wanted:
            pipe.get(keys.movement(area_id))
        out: dict[str, dict[str, Any]] = {}
        for area_id, raw in zip(wanted, pipe.execute(raise_on_error=False) if wanted else []):
            try:
                movement = json.loads(raw) if isinstance(raw, str) and raw else None
            except ValueError:
                continue
            if isinstance(movement, dict):
                out[area_id] = movement
        return out

    def checkin_places(self, ids: Iterable[str]) -> dict[str, tuple[float, float, str]]:
        """The latest check-in place (lat, lon, ISO time) of each of these ids that has one, in one read."""
        wanted = list(ids)
        if not wanted:
            return {}
        found = cast("list[str | None]", self._redis.hmget(keys.CHECKIN_PLACES, wanted))
        out: dict[str, tuple[float, float, str]] = {}
        for tid, raw in zip(wanted, found):
            if raw:
                lat, lon, at = json.loads(raw)
                out[tid] = (float(lat), float(lon), str(at))
        return out
