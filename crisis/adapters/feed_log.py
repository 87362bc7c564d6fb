"""What each feed sent: accepted/rejected counts, last message, last error, dead letters.

A rejected message is kept whole (up to 256 KiB) in the dead-letter stream with its
reason, so it can be inspected and replayed after a fix.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import redis

from crisis.adapters import keys
from crisis.adapters.eventlog import stream_entries, xadd_fields

MAX_KEPT_BODY = 256 * 1024
DEADLETTER_MAXLEN = 100_000


class FeedLog:
    def __init__(self, client: redis.Redis, deadletter_maxlen: int = DEADLETTER_MAXLEN) -> None:
        self._redis = client
        self._deadletter_maxlen = deadletter_maxlen or None  # 0: keep every dead letter (CRISIS_DEADLETTER_MAXLEN)

    def accepted(self, feed: str, count: int = 1) -> None:
        now = datetime.now(timezone.utc).isoformat()
        minute = str(int(time.time() // 60))
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.feed_stats(feed), mapping={"last_message_at": now})
            pipe.hincrby(keys.feed_stats(feed), "accepted_total", count)
            pipe.hincrby(keys.feed_minute_counts(feed, "accepted"), minute, count)
            pipe.expire(keys.feed_minute_counts(feed, "accepted"), 7200)
            pipe.execute()

    def flagged(self, feed: str, reason: str) -> None:
        """An accepted message that departs from its standard (a CAP schema defect): counted
        and its reason kept as the feed's last defect (feed health), never dead-lettered."""
        now = datetime.now(timezone.utc).isoformat()
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.feed_stats(feed), mapping={"last_defect": reason[:2000], "last_defect_at": now})
            pipe.hincrby(keys.feed_stats(feed), "flagged_total", 1)
            pipe.execute()

    def rejected(
        self, feed: str, errors: list[dict[str, Any]], body: bytes | str, detail: dict[str, str] | None = None
    ) -> str:
        """Count a rejection and keep the message in the dead-letter stream; its entry id."""
        now = datetime.now(timezone.utc).isoformat()
        minute = str(int(time.time() // 60))
        raw = body.encode() if isinstance(body, str) else body
        reason = "; ".join(f"{e['field']}: {e['message']}" for e in errors)[:2000]
        entry = {
            "feed": feed,
            "time": now,
            "reason": reason,
            "errors": json.dumps(errors),
            "body": raw[:MAX_KEPT_BODY].decode("utf-8", "backslashreplace"),
            "body_size": str(len(raw)),
            **(detail or {}),
        }
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.DEADLETTER_STREAM, xadd_fields(entry), maxlen=self._deadletter_maxlen, approximate=True)
            pipe.hset(keys.feed_stats(feed), mapping={"last_message_at": now, "last_error": reason, "last_error_at": now})
            pipe.hincrby(keys.feed_stats(feed), "rejected_total", 1)
            pipe.sadd(keys.FEED_REFUSED_NAMES, feed)  # so the health report counts it, whatever its name
            pipe.hincrby(keys.feed_minute_counts(feed, "rejected"), minute, 1)
            pipe.expire(keys.feed_minute_counts(feed, "rejected"), 7200)
            results = pipe.execute()
        return str(results[0])

    def dead_letters(self, count: int = 100) -> list[dict[str, Any]]:
        out = []
        for entry_id, fields in stream_entries(self._redis.xrevrange(keys.DEADLETTER_STREAM, count=count)):
            item: dict[str, Any] = dict(fields)
            item["id"] = entry_id
            item["errors"] = json.loads(item.get("errors", "[]"))
            out.append(item)
        return out

    def refused_names(self) -> set[str]:
        """Every name a message has been refused under (``rejected``)."""
        return {n.decode() if isinstance(n, bytes) else str(n) for n in self._redis.smembers(keys.FEED_REFUSED_NAMES)}

    def stats(self, feed: str) -> dict[str, Any]:
        return self.stats_many([feed])[feed]

    def stats_many(self, feeds: list[str]) -> dict[str, dict[str, Any]]:
        """Each feed's counters, last message and last error, in one round trip."""
        since = int(time.time() // 60) - 59
        with self._redis.pipeline(transaction=False) as pipe:
            for feed in feeds:
                pipe.hgetall(keys.feed_stats(feed))
                pipe.hgetall(keys.feed_minute_counts(feed, "accepted"))
                pipe.hgetall(keys.feed_minute_counts(feed, "rejected"))
            answers = pipe.execute()
        out: dict[str, dict[str, Any]] = {}
        for i, feed in enumerate(feeds):
            stats, accepted, rejected = answers[3 * i:3 * i + 3]
            out[feed] = dict(stats)
            for outcome, buckets in (("accepted", accepted), ("rejected", rejected)):
                out[feed][f"{outcome}_last_hour"] = sum(int(v) for k, v in buckets.items() if int(k) >= since)
        return out
