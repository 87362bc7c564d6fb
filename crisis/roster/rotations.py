"""The rotation generator: primaries and alternates laid out fairly over weeks.

The window is ``[start, start + weeks * 7 days)``. The first period begins at the first
handover at or after ``start``; each period lasts ``period_days`` and the last one is cut
at the window's end (a partial period). Periods run across month and year ends as plain
day counts.

The handover is a time of day in UTC. Periods are added in UTC, so a daylight-saving change
in a duty station's zone never moves it: a handover at 08:00 UTC is at 10:00 in Paris in
summer and 09:00 in winter, always 08:00 UTC.

Each period has one primary slot and one alternate slot, for two different officers (with
a single officer there is no one to back them up: primaries only). Fair: over the window,
the number of primary slots of any two officers differs by at most one, and so does the
number of alternate slots.

Patterns
--------
``round_robin``
    Officers take the primary in list order, one period each, and start over. The alternate
    of a period is the next period's primary: each officer backs up the period before
    taking it, so the one who comes on already knows what is going on. Officers a, b, c:
    primaries a b c a b c..., alternates b c a b c a...
``paired``
    Officers are teamed in pairs in list order (a+b, c+d, ...); the pairs take turns, one
    period each, and the two of a pair swap roles each time their turn comes back: a
    primary with b alternate, then (next turn) b primary with a alternate. Two people who
    hand over to each other. Needs an even number of officers.

Only the slots are made here (no I/O, ids from ``new_id``): whether the officers exist and
whether the slots overlap others already on the roster is checked with
``crisis.roster.slots.validate_slot`` and ``overlaps`` before they are written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from crisis.domain.regions import REGIONS
from crisis.errors import InputError
from crisis.roster.model import READINESS_HOURS, Slot

PATTERNS = ("round_robin", "paired")
MAX_WEEKS = 52
MAX_PERIOD_DAYS = 28


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _errors(officer_ids: Sequence[str], start: datetime, weeks: int, period_days: int, handover: time,
            pattern: str, region: str | None, readiness_hours: int,
            alternate_readiness_hours: int | None) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if not officer_ids:
        errors.append({"field": "officers", "message": "at least one officer is needed"})
    elif any(not isinstance(o, str) or not o for o in officer_ids):
        errors.append({"field": "officers", "message": "every officer is a non-empty officer id"})
    else:
        duplicates = sorted(o for o, count in Counter(officer_ids).items() if count > 1)
        if duplicates:
            errors.append({"field": "officers", "message": f"listed more than once: {', '.join(duplicates)}"})
    if not isinstance(start, datetime) or start.tzinfo is None or start.utcoffset() is None:
        errors.append({"field": "from", "message": "a time with its zone is needed, e.g. 2026-10-20T08:00:00Z"})
    if not _int_in(weeks, 1, MAX_WEEKS):
        errors.append({"field": "weeks", "message": f"{weeks!r}: a whole number of weeks from 1 to {MAX_WEEKS}"})
    if not _int_in(period_days, 1, MAX_PERIOD_DAYS):
        errors.append({"field": "period_days",
                       "message": f"{period_days!r}: a whole number of days from 1 to {MAX_PERIOD_DAYS}"})
    if not isinstance(handover, time) or (handover.tzinfo is not None and handover.utcoffset() != timedelta(0)):
        errors.append({"field": "handover", "message": "a time of day in UTC, HH:MM"})
    if pattern not in PATTERNS:
        errors.append({"field": "pattern", "message": f"unknown pattern {pattern!r}: use {' or '.join(PATTERNS)}"})
    elif pattern == "paired" and officer_ids and len(officer_ids) % 2:
        errors.append({"field": "officers",
                       "message": f"the paired pattern needs an even number of officers, not {len(officer_ids)}"})
    if region is not None and region not in REGIONS:
        errors.append({"field": "region", "message": f"unknown region {region!r}: use one of {', '.join(REGIONS)} "
                                                     "or none for worldwide"})
    for name, hours in (("readiness_hours", readiness_hours), ("alternate_readiness_hours", alternate_readiness_hours)):
        if hours is not None and (hours not in READINESS_HOURS or isinstance(hours, bool)):
            errors.append({"field": name, "message": f"{hours!r} is not a readiness: use 24 or 48 (hours)"})
    return errors


def _first_handover(start: datetime, handover: time) -> datetime:
    """The first handover (UTC time of day) at or after ``start``."""
    start_utc = start.astimezone(UTC)
    at = datetime.combine(start_utc.date(), handover.replace(tzinfo=None), UTC)
    return at if at >= start_utc else at + timedelta(days=1)


def _round_robin(officer_ids: Sequence[str], k: int) -> tuple[str, str | None]:
    n = len(officer_ids)
    return officer_ids[k % n], (officer_ids[(k + 1) % n] if n > 1 else None)


def _paired(officer_ids: Sequence[str], k: int) -> tuple[str, str | None]:
    pairs = len(officer_ids) // 2
    pair, turn = k % pairs, k // pairs
    first, second = officer_ids[2 * pair], officer_ids[2 * pair + 1]
    return (first, second) if turn % 2 == 0 else (second, first)


_ASSIGN: dict[str, Callable[[Sequence[str], int], tuple[str, str | None]]] = {
    "round_robin": _round_robin,
    "paired": _paired,
}


def generate(officer_ids: Sequence[str], start: datetime, weeks: int, period_days: int, handover: time,
             pattern: str, new_id: Callable[[], str], region: str | None = None,
             readiness_hours: int = 24, alternate_readiness_hours: int | None = None) -> list[Slot]:
    """The slots of a rotation over ``[start, start + weeks * 7 days)`` (see the module
    docstring for the patterns), in time order, each period's primary before its
    alternate. ``handover`` is a UTC time of day; ``region`` None covers worldwide; the
    alternates' readiness defaults to the primaries'. InputError naming the fields
    ("officers", "from", "weeks", "period_days", "handover", "pattern", "region",
    "readiness_hours", "alternate_readiness_hours") on bad parameters."""
    errors = _errors(officer_ids, start, weeks, period_days, handover, pattern, region, readiness_hours,
                     alternate_readiness_hours)
    if errors:
        raise InputError(errors, "invalid rotation")
    assign = _ASSIGN[pattern]
    officers = list(officer_ids)
    alternate_hours = readiness_hours if alternate_readiness_hours is None else alternate_readiness_hours
    window_end = start.astimezone(UTC) + timedelta(days=7 * weeks)
    period = timedelta(days=period_days)
    slots: list[Slot] = []
    begin, k = _first_handover(start, handover), 0
    while begin < window_end:
        end = min(begin + period, window_end)
        primary, alternate = assign(officers, k)
        slots.append(Slot(new_id(), primary, begin, end, readiness_hours, "primary", region))
        if alternate is not None:
            slots.append(Slot(new_id(), alternate, begin, end, alternate_hours, "alternate", region))
        begin, k = begin + period, k + 1
    return slots
