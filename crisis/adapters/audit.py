"""The audit trail: who did what, when, from where, in a Redis stream of its own.

Append-only: the product has no way to change or delete an entry (this class has no
such method, and no route, page or command calls XDEL or DEL on the stream). The
stream is trimmed only by age (``XTRIM MINID``, exact), never below ``keep_days``
(default 400): entries older than that go, younger ones never do.

An entry: ``id`` (the stream id: milliseconds since the epoch and a sequence number,
given by Redis, so entries are ordered and ``since``/``until`` are ranges of ids),
``time`` (ISO 8601 UTC), ``action`` (a dotted name, e.g. ``incident.create``,
``incident.update``, ``feed.post``, ``positions.post``, ``auth.login``,
``auth.login_failed``, ``token.revoke``, ``access.denied``), ``actor`` (user or token
name, "" when unknown), ``role``, ``via`` (``session``, ``token``, ``ui``, ``cli``,
``socket``), ``remote`` (the client's address), ``target`` (what was acted on), and
optional ``before``/``after``/``detail`` (JSON values).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import stream_entries, xadd_fields
from crisis.domain.model import Incident
from crisis.domain.serialize import incident_to_dict

DEFAULT_KEEP_DAYS = 400
MAX_LIMIT = 1000
_DAY_MS = 86_400_000
_TRIM_EVERY = 1000  # appends (per process) between two trims
_BATCH = 500  # entries read per XRANGE while filtering
_MAX_SEQ = "18446744073709551615"
JSON_FIELDS = ("before", "after", "detail")
TEXT_FIELDS = ("time", "action", "actor", "role", "via", "remote", "target")


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("auth." matches auth.login...)
    since: datetime | None = None  # inclusive; aware
    until: datetime | None = None  # inclusive; aware
    limit: int = 100
    before_id: str | None = None  # paging: entries strictly older than this id


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]  # newest first
    next: str | None  # the ``before_id`` of the next (older) page; None on the last page


class AuditLog:
    def __init__(self, client: redis.Redis, keep_days: int = DEFAULT_KEEP_DAYS) -> None:
        if keep_days < 1:
            raise ValueError(f"the audit trail is kept at least 1 day (CRISIS_AUDIT_KEEP_DAYS), not {keep_days}")
        self._redis = client
        self.keep_days = keep_days
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

    def trim(self, now_ms: int | None = None) -> int:
        """Drop the entries older than the kept age, exactly (none younger); how many went."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        min_id = f"{now_ms - self.keep_days * _DAY_MS}-0"
        return int(self._redis.xtrim(keys.AUDIT_STREAM, minid=min_id, approximate=False))

    def page(self, q: AuditQuery) -> AuditPage:
        """Newest first, at most ``q.limit`` entries, and where the next page starts."""
        entries: list[dict[str, Any]] = []
        for entry in self._scan(q, newest_first=True):
            if len(entries) == q.limit:
                return AuditPage(entries, entries[-1]["id"])
            entries.append(entry)
        return AuditPage(entries, None)

    def query(self, q: AuditQuery) -> list[dict[str, Any]]:
        """Newest first, filtered, at most ``q.limit`` entries."""
        return self.page(q).entries

    def entries(self, q: AuditQuery) -> Iterator[dict[str, Any]]:
        """Every entry matching (``q.limit`` is ignored), oldest first, read in batches."""
        return self._scan(q, newest_first=False)

    def length(self) -> int:
        return int(self._redis.xlen(keys.AUDIT_STREAM))

    def _scan(self, q: AuditQuery, newest_first: bool) -> Iterator[dict[str, Any]]:
        top, bottom = _bounds(q)
        while True:
            if newest_first:
                reply = self._redis.xrevrange(keys.AUDIT_STREAM, top, bottom, count=_BATCH)
            else:
                reply = self._redis.xrange(keys.AUDIT_STREAM, bottom, top, count=_BATCH)
            batch = stream_entries(reply)
            for entry_id, fields in batch:
                entry = _decode(entry_id, fields)
                if _matches(entry, q):
                    yield entry
            if len(batch) < _BATCH:
                return
            if newest_first:
                top = f"({batch[-1][0]}"
            else:
                bottom = f"({batch[-1][0]}"


def _bounds(q: AuditQuery) -> tuple[str, str]:
    """(highest, lowest) stream ids to read, as XRANGE bounds."""
    tops: list[tuple[tuple[int, int], str]] = []
    if q.before_id:
        tops.append((id_key(q.before_id), f"({q.before_id}"))
    if q.until is not None:
        until_id = f"{_ms(q.until)}-{_MAX_SEQ}"
        tops.append((id_key(until_id), until_id))
    top = min(tops)[1] if tops else "+"
    bottom = f"{_ms(q.since)}-0" if q.since is not None else "-"
    return top, bottom


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("audit query times need a time zone")
    return max(0, int(moment.timestamp() * 1000))


def id_key(value: str) -> tuple[int, int]:
    """A stream id as a sortable pair; ValueError when it is not one ("ms" or "ms-seq")."""
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _decode(entry_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": entry_id, **{name: fields.get(name, "") for name in TEXT_FIELDS}}
    for name in JSON_FIELDS:
        if name in fields:
            try:
                entry[name] = json.loads(fields[name])
            except ValueError:
                entry[name] = fields[name]
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


# --- what an entry says about a change (pure) -----------------------------------------


def _points(coordinates: Any) -> int:
    if isinstance(coordinates, (list, tuple)):
        if coordinates and isinstance(coordinates[0], (int, float)):
            return 1
        return sum(_points(c) for c in coordinates)
    return 0


def incident_facts(incident: Incident) -> dict[str, Any]:
    """An incident as an audit entry keeps it: every fact, its area as type and point count
    (the whole polygon is in the event log)."""
    facts = incident_to_dict(incident)
    area = facts.get("area")
    if isinstance(area, Mapping):
        facts["area"] = {"type": area.get("type"), "points": _points(area.get("coordinates"))}
    return facts


def changes(before: Mapping[str, Any], after: Mapping[str, Any], ignore: tuple[str, ...] = ("updated_at",)) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the fields whose values differ, each side with only those fields."""
    names = [n for n in (*before, *(k for k in after if k not in before)) if n not in ignore and before.get(n) != after.get(n)]
    return {n: before.get(n) for n in names}, {n: after.get(n) for n in names}


def incident_change(before: Incident | None, after: Incident, note: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The before and after of what a change to an incident changed; a note it added is in after."""
    old, new = changes(incident_facts(before) if before is not None else {}, incident_facts(after))
    if note:
        new["note"] = note
    return old, new
