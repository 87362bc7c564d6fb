"""Is each feed alive? The rule behind GET /api/v1/feeds, kept pure so it can be tested.

A wall display must never look calm because a feed went quiet, so every feed gets one
of four words:

* ``unknown``: never heard from (no message, good or bad, since the data began).
* ``failing``: the last message was rejected, within the last hour, and more messages
  were rejected than accepted in that hour. One bad message among many good ones is a
  sender's slip (it is in the dead letters); a run of them means the feed is broken.
* ``silent``: a polled feed not heard from for longer than its polling interval plus
  ``SILENCE_GRACE_SECONDS`` (a fetch may take up to its 20 s timeout, and the status
  should not flap just before each poll). Push feeds (``expected_interval`` None) have
  no schedule, so they are never "silent": a quiet hour is not a fault for them.
* ``ok``: otherwise.

Counts are of messages: one CAP alert, one GDACS or USGS document (however many items
it holds), or one refused item. Counting a 233-item document as 233 would let one good
poll outweigh hours of failed ones.

"failing" is checked before "silent": a feed whose last word was an error says more
about what is wrong than its silence does.

Who reads what: the text of a feed's last error and last schema defect quotes what was
sent and refused (a handset's uid, a name in an alert), so only the roles that may read the
refused messages (``access.reads_rejected``: duty officers, admins) get it; everyone else
gets the counts, times and status (``report_for``). The API, the socket's ``feeds`` event
and the pages all cut the report there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from crisis.domain import access

# "cot": Cursor-on-Target from handsets (POST /api/v1/feeds/cot and the TCP/UDP listener), a push
# feed; also the source of the positions it stores (crisis.feeds.schemas.allowed_sources).
FEEDS = ("api", "cap", "gdacs", "usgs", "positions", "sim", "cot")
SILENCE_GRACE_SECONDS = 30.0
FAILING_WINDOW = timedelta(hours=1)

# The FeedLog names whose counts (accepted and refused) make up one feed on the health page:
# the JSON API records its rejections per endpoint ("api:create_incident"), its acceptances
# per source. A name listed nowhere here still has every refusal counted, in the row
# ``feed_of`` gives it (``log_names``): a refusal under a new name ("api:list_incidents",
# "api:export_incidents", "socket:sync", "travellers") is never left out of the page.
FEED_LOG_NAMES: dict[str, tuple[str, ...]] = {
    "api": ("api", "api:create_incident", "api:patch_incident", "api:oversize"),
    "positions": ("positions", "api:post_positions"),
}


def feed_of(name: str) -> str:
    """The feed row a FeedLog name is counted in: a feed's own name or one ``FEED_LOG_NAMES``
    lists under it; any other name (what the JSON API refused, "api:<endpoint>"; an import,
    "travellers", "roster"; the live socket, "socket:<event>"; a page's form, "ui") is
    something sent to the dashboard itself: the "api" row."""
    for feed in FEEDS:
        if name in FEED_LOG_NAMES.get(feed, (feed,)):
            return feed
    return "api"


def log_names(refused: Iterable[str]) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each feed row's FeedLog names: (those counted whole: ``FEED_LOG_NAMES`` or the feed's
    own name; those counted for their refusals only: every other name a message was refused
    under, by ``feed_of``). An unlisted name's acceptances (rows of an import, say) are not
    one feed's messages, but its refusals are: each one counts, with its text and time."""
    listed = {feed: FEED_LOG_NAMES.get(feed, (feed,)) for feed in FEEDS}
    known = {name for names in listed.values() for name in names}
    extra: dict[str, list[str]] = {feed: [] for feed in FEEDS}
    for name in sorted(set(refused) - known):
        extra[feed_of(name)].append(name)
    return {feed: (listed[feed], tuple(extra[feed])) for feed in FEEDS}


def refusals_only(stats: Mapping[str, Any]) -> dict[str, Any]:
    """One FeedLog name's refusals alone: their counts, the last error and its time (a
    refused message is a message heard)."""
    return {"rejected_total": stats.get("rejected_total"), "rejected_last_hour": stats.get("rejected_last_hour"),
            "last_error": stats.get("last_error"), "last_error_at": stats.get("last_error_at"),
            "last_message_at": stats.get("last_error_at")}
# The texts of a feed's row (what went wrong, quoting what was sent): for ``access.reads_rejected`` only.
TEXT_FIELDS = ("last_error", "last_defect")
_COUNTS = ("accepted_total", "rejected_total", "accepted_last_hour", "rejected_last_hour", "flagged_total")


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def feed_status(stats: Mapping[str, Any], expected_interval: float | None, now: datetime) -> str:
    """"ok", "silent", "failing" or "unknown" for one feed's stats (see the module doc).

    ``stats`` holds ``last_message_at`` and ``last_error_at`` (datetimes or ISO strings,
    absent when never seen), ``accepted_last_hour`` and ``rejected_last_hour``.
    """
    last_message = _time(stats.get("last_message_at"))
    if last_message is None:
        return "unknown"
    last_error = _time(stats.get("last_error_at"))
    last_was_rejected = last_error is not None and last_error >= last_message
    if (
        last_was_rejected
        and last_error is not None
        and now - last_error <= FAILING_WINDOW
        and _int(stats.get("rejected_last_hour")) > _int(stats.get("accepted_last_hour"))
    ):
        return "failing"
    if expected_interval is not None:
        quiet = (now - last_message).total_seconds()
        if quiet > expected_interval + SILENCE_GRACE_SECONDS:
            return "silent"
    return "ok"


def merge_stats(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several FeedLog stats (one feed recorded under several names) as one."""
    merged: dict[str, Any] = {key: 0 for key in _COUNTS}
    merged.update(last_message_at=None, last_error=None, last_error_at=None, last_defect=None, last_defect_at=None)
    for part in parts:
        for key in _COUNTS:
            merged[key] += _int(part.get(key))
        message_at = _time(part.get("last_message_at"))
        if message_at is not None and (merged["last_message_at"] is None or message_at > merged["last_message_at"]):
            merged["last_message_at"] = message_at
        error_at = _time(part.get("last_error_at"))
        if error_at is not None and (merged["last_error_at"] is None or error_at > merged["last_error_at"]):
            merged["last_error_at"], merged["last_error"] = error_at, part.get("last_error")
        defect_at = _time(part.get("last_defect_at"))
        if defect_at is not None and (merged["last_defect_at"] is None or defect_at > merged["last_defect_at"]):
            merged["last_defect_at"], merged["last_defect"] = defect_at, part.get("last_defect")
    return merged


def feed_health(stats: Mapping[str, Any], expected_interval: float | None, now: datetime,
                status_stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One row of GET /api/v1/feeds: counts, last message and error, interval, status. The
    status is that of ``status_stats`` when given (the feed's own messages: a query or a form
    someone got wrong is counted and shown, but does not make a feed "failing")."""
    merged = merge_stats([stats])
    return {
        "status": feed_status(merge_stats([status_stats if status_stats is not None else stats]), expected_interval, now),
        "last_message_at": _iso(merged["last_message_at"]),
        "accepted_last_hour": merged["accepted_last_hour"],
        "rejected_last_hour": merged["rejected_last_hour"],
        "accepted_total": merged["accepted_total"],
        "rejected_total": merged["rejected_total"],
        "last_error": merged["last_error"],
        "last_error_at": _iso(merged["last_error_at"]),
        "flagged_total": merged["flagged_total"],
        "last_defect": merged["last_defect"],
        "last_defect_at": _iso(merged["last_defect_at"]),
        "expected_interval_seconds": expected_interval,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def report_for(viewer: access.HasRole, report: Mapping[str, Any]) -> dict[str, Any]:
    """A feed health report ({"feeds": {feed: row}, ...}) as this viewer may read it: whole
    for the roles that read refused messages, else every row without its texts (TEXT_FIELDS
    are None: the row keeps its shape, the counts, times and status)."""
    if access.reads_rejected(viewer):
        return dict(report)
    feeds = report.get("feeds") or {}
    return {**report, "feeds": {name: {**row, **{k: None for k in TEXT_FIELDS if k in row}} for name, row in feeds.items()}}
