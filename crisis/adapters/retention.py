"""How long each stream is kept (issue 10): one table, read by ``bootstrap`` and the README.

Every stream is trimmed by length (``XADD ... MAXLEN ~ n``, on each append: Redis trims whole
radix-tree nodes, so a stream may hold up to a node's worth, ~100 entries, more than ``n``),
except the audit trail, trimmed by age (``CRISIS_AUDIT_KEEP_DAYS``, exact). 0 keeps everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import redis

from crisis.adapters import keys
from crisis.config import Settings


@dataclass(frozen=True)
class Retention:
    stream: str
    setting: str  # the environment variable
    field: str  # the Settings field


RETENTION = (
    Retention(keys.INCIDENT_STREAM, "CRISIS_INCIDENTS_MAXLEN", "incidents_maxlen"),
    Retention(keys.POSITION_STREAM, "CRISIS_POSITIONS_MAXLEN", "positions_maxlen"),
    Retention(keys.PEOPLE_STREAM, "CRISIS_PEOPLE_MAXLEN", "people_maxlen"),
    Retention(keys.AREAS_STREAM, "CRISIS_AREAS_MAXLEN", "areas_maxlen"),
    Retention(keys.ROSTER_STREAM, "CRISIS_ROSTER_MAXLEN", "roster_maxlen"),
    Retention(keys.TRAVELLERS_STREAM, "CRISIS_TRAVELLERS_MAXLEN", "travellers_maxlen"),
    Retention(keys.DEVICES_STREAM, "CRISIS_DEVICES_MAXLEN", "devices_maxlen"),
    Retention(keys.DEADLETTER_STREAM, "CRISIS_DEADLETTER_MAXLEN", "deadletter_maxlen"),
)


def stream_maxlens(settings: Settings) -> dict[str, int]:
    """Each event stream's MAXLEN for ``EventLog`` (streams kept whole are left out)."""
    limits = {r.stream: int(getattr(settings, r.field)) for r in RETENTION}
    return {stream: n for stream, n in limits.items() if n > 0}


def _oldest(client: redis.Redis, stream: str) -> str:
    first = client.xrange(stream, count=1)
    if not first:
        return "-"
    entry_id = first[0][0]
    millis = int((entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)).split("-")[0])
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="seconds")


def retention_report(client: redis.Redis, settings: Settings) -> list[tuple[str, str, str, int, int, str]]:
    """(stream, setting, limit, entries, memory bytes, oldest entry's time) of every stream the
    product keeps; the many small ones (roll histories) summed on one line."""
    rows = []
    fixed = [(r.stream, r.setting, str(getattr(settings, r.field) or "all")) for r in RETENTION]
    fixed += [(keys.AUDIT_STREAM, "CRISIS_AUDIT_KEEP_DAYS", f"{settings.audit_keep_days} days"),
              (keys.SHIFTLOG_NOTES, "-", "all")]
    inbox = getattr(keys, "FEED_INBOX", None)  # the feeds inbox (crisis.feeds.inbox): holds only work to do
    if inbox is not None:
        fixed.append((inbox, "-", "until acknowledged"))
    for stream, setting, limit in fixed:
        rows.append((stream, setting, limit, int(client.xlen(stream)), int(client.memory_usage(stream, samples=0) or 0),
                     _oldest(client, stream)))
    histories = list(client.scan_iter(match=keys.roll_history("*"), count=1000))
    rows.append((keys.roll_history("*"), "-", "all", sum(int(client.xlen(k)) for k in histories),
                 sum(int(client.memory_usage(k, samples=0) or 0) for k in histories), f"{len(histories)} streams"))
    return rows
