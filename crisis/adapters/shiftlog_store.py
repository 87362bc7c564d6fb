"""The shift log's free notes, in a Redis stream of their own: append-only.

A note: ``id`` (the stream id), ``time`` (ISO 8601 UTC), ``author`` and ``role`` (who wrote
it), ``text``, ``regions`` (the regions it is about; empty: every region, shown to
all-region readers only) and ``incident_id`` (optional). This class has no way to change
or delete a note, like the audit trail (``crisis.adapters.audit``): a correction is a new
note. Every note is also an audit entry (``shiftlog.note``, written by the API).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import stream_entries, xadd_fields

_BATCH = 500


class ShiftLogStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def add_note(self, author: str, role: str, text: str, regions: Sequence[str] = (),
                 incident_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """Append one note; the note as stored, with its id."""
        fields = {
            "time": (now or datetime.now(UTC)).isoformat(),
            "author": author,
            "role": role,
            "text": text,
            "regions": json.dumps(sorted(set(regions))),
            "incident_id": incident_id or "",
        }
        note_id = str(self._redis.xadd(keys.SHIFTLOG_NOTES, xadd_fields(fields)))
        return _decode(note_id, fields)

    def notes(self, since: datetime | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Notes at or after ``since`` (aware), newest first, at most ``limit``."""
        out: list[dict[str, Any]] = []
        for note in self._newest_first(since):
            if len(out) == limit:
                break
            out.append(note)
        return out

    def _newest_first(self, since: datetime | None) -> Iterator[dict[str, Any]]:
        bottom = f"{int(since.timestamp() * 1000)}-0" if since is not None else "-"
        top = "+"
        while True:
            batch = stream_entries(self._redis.xrevrange(keys.SHIFTLOG_NOTES, top, bottom, count=_BATCH))
            for entry_id, fields in batch:
                yield _decode(entry_id, fields)
            if len(batch) < _BATCH:
                return
            top = f"({batch[-1][0]}"


def _decode(note_id: str, fields: Any) -> dict[str, Any]:
    try:
        regions = [str(r) for r in json.loads(fields.get("regions") or "[]")]
    except ValueError:
        regions = []
    return {"id": note_id, "time": fields.get("time", ""), "author": fields.get("author", ""),
            "role": fields.get("role", ""), "text": fields.get("text", ""), "regions": regions,
            "incident_id": fields.get("incident_id") or None}
