"""The audit trail: who did what, when, from where, in a Redis stream of its own.

Append-only: the product has no way to change or delete an entry. The stream is trimmed
only by age (``XTRIM MINID``), never below ``keep_days`` (default 400): entries older
than that may go, younger ones never do.

An entry: ``time`` (ISO 8601 UTC), ``action`` (a dotted name, e.g. ``incident.update``,
``auth.login``, ``auth.login_failed``, ``token.revoke``, ``access.denied``), ``actor``
(user or token name, "" when unknown), ``role``, ``via`` (``session``, ``token``,
``cli``, ``socket``), ``remote`` (the client's address), ``target`` (what was acted
on), and optional ``before``/``after``/``detail`` (JSON values).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import stream_entries, xadd_fields

DEFAULT_KEEP_DAYS = 400
_TRIM_EVERY = 1000  # appends between two trims
_JSON_FIELDS = ("before", "after", "detail")


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("auth." matches auth.login...)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    before_id: str | None = None  # paging: entries strictly older than this id


class AuditLog:
    def __init__(self, client: redis.Redis, keep_days: int = DEFAULT_KEEP_DAYS) -> None:
        self._redis = client
        self._keep_ms = int(keep_days * 86_400_000)
        self._appends = 0

    def record(
        self,
        action: str,
        *,
        actor: str = "",
        role: str = "",
        via: str = "",
        remote: str = "",
        target: str = "",
        before: Any = None,
        after: Any = None,
        detail: Any = None,
    ) -> str:
        """Append one entry; its stream id."""
        fields: dict[str, str] = {
            "time": datetime.now(timezone.utc).isoformat(),
            "action": action,
            "actor": actor,
            "role": role,
            "via": via,
            "remote": remote,
            "target": target,
        }
        for name, value in (("before", before), ("after", after), ("detail", detail)):
            if value is not None:
                fields[name] = json.dumps(value, separators=(",", ":"), default=str)
        entry_id = str(self._redis.xadd(keys.AUDIT_STREAM, xadd_fields(fields)))
        self._appends += 1
        if self._appends % _TRIM_EVERY == 1:
            self.trim()
        return entry_id

    def trim(self) -> None:
        """Drop entries older than the kept age (approximately: whole macro nodes only,
        so an entry is never dropped early, only sometimes kept a little longer)."""
        min_id = f"{int(time.time() * 1000) - self._keep_ms}-0"
        self._redis.xtrim(keys.AUDIT_STREAM, minid=min_id, approximate=True)

    def query(self, q: AuditQuery) -> list[dict[str, Any]]:
        """Newest first, filtered, at most ``q.limit`` entries."""
        bounds: list[tuple[tuple[int, int], str]] = []
        if q.before_id:
            bounds.append((_id_key(q.before_id), f"({q.before_id}"))
        if q.until is not None:
            until_id = f"{int(q.until.timestamp() * 1000)}-18446744073709551615"
            bounds.append((_id_key(until_id), until_id))
        top = min(bounds)[1] if bounds else "+"
        bottom = f"{int(q.since.timestamp() * 1000)}-0" if q.since is not None else "-"
        out: list[dict[str, Any]] = []
        cursor = top
        while len(out) < q.limit:
            batch = stream_entries(self._redis.xrevrange(keys.AUDIT_STREAM, cursor, bottom, count=500))
            if not batch:
                break
            for entry_id, fields in batch:
                entry = _decode(entry_id, fields)
                if _matches(entry, q):
                    out.append(entry)
                    if len(out) >= q.limit:
                        break
            cursor = f"({batch[-1][0]}"
            if len(batch) < 500:
                break
        return out

    def length(self) -> int:
        return int(self._redis.xlen(keys.AUDIT_STREAM))


def _id_key(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _decode(entry_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": entry_id, **fields}
    for name in _JSON_FIELDS:
        if name in entry:
            entry[name] = json.loads(entry[name])
    return entry


def _matches(entry: Mapping[str, Any], q: AuditQuery) -> bool:
    if q.actor is not None and entry.get("actor") != q.actor:
        return False
    if q.action is not None:
        action = str(entry.get("action", ""))
        if q.action.endswith("."):
            return action.startswith(q.action)
        return action == q.action
    return True
