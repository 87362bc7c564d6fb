"""The rotation generator (crisis.roster.rotations): periods across month and year ends,
a handover that stays in UTC when a duty station's zone changes to winter time, a final
partial period, fairness of primaries and alternates, and parameter errors naming fields."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crisis.errors import InputError
from crisis.roster.model import Slot
from crisis.roster.rotations import PATTERNS, generate
from crisis.roster.slots import overlaps, validate_slot

PARIS = ZoneInfo("Europe/Paris")
EIGHT = time(8, 0)


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"s{next(counter)}"


def rotation(officers: list[str], start: datetime, weeks: int = 2, period_days: int = 7, handover: time = EIGHT,
             pattern: str = "round_robin", **kwargs: Any) -> list[Slot]:
    return generate(officers, start, weeks, period_days, handover, pattern, ids(), **kwargs)


def periods(slots: list[Slot]) -> list[tuple[datetime, datetime]]:
    return sorted({(s.start, s.end) for s in slots})


def check_continuous(slots: list[Slot]) -> None:
    spans = periods(slots)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


# --- calendar ------------------------------------------------------------------------------

def test_periods_run_across_the_year_end() -> None:
    slots = rotation(["ana", "ben", "cho"], datetime(2026, 12, 20, 8, tzinfo=UTC), weeks=3)
    assert periods(slots) == [
        (datetime(2026, 12, 20, 8, tzinfo=UTC), datetime(2026, 12, 27, 8, tzinfo=UTC)),
        (datetime(2026, 12, 27, 8, tzinfo=UTC), datetime(2027, 1, 3, 8, tzinfo=UTC)),
        (datetime(2027, 1, 3, 8, tzinfo=UTC), datetime(2027, 1, 10, 8, tzinfo=UTC)),
    ]


def test_periods_run_across_month_ends_and_the_last_is_cut_at_the_end() -> None:
    # 2 weeks of 5-day periods from 25 January: 25 Jan, 30 Jan, 4 Feb, then 4 days to 8 Feb.
    slots = rotation(["ana", "ben"], datetime(2027, 1, 25, 8, tzinfo=UTC), weeks=2, period_days=5)
    assert periods(slots) == [
        (datetime(2027, 1, 25, 8, tzinfo=UTC), datetime(2027, 1, 30, 8, tzinfo=UTC)),
        (datetime(2027, 1, 30, 8, tzinfo=UTC), datetime(2027, 2, 4, 8, tzinfo=UTC)),
        (datetime(2027, 2, 4, 8, tzinfo=UTC), datetime(2027, 2, 8, 8, tzinfo=UTC)),
    ]
    # 28 February 2027 to March (not a leap year), 28-day periods over 8 weeks: exactly two.
    feb = rotation(["ana", "ben"], datetime(2027, 2, 1, 8, tzinfo=UTC), weeks=8, period_days=28)
    assert [p[0].date().isoformat() for p in periods(feb)] == ["2027-02-01", "2027-03-01"]


def test_the_window_is_weeks_times_seven_days_and_starts_at_the_first_handover_at_or_after_start() -> None:
    start = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # after today's 08:00 handover
    slots = rotation(["ana", "ben"], start, weeks=1, period_days=2)
    spans = periods(slots)
    assert spans[0][0] == datetime(2026, 3, 11, 8, tzinfo=UTC)
    assert spans[-1][1] == start + timedelta(days=7)
    check_continuous(slots)
    on_time = rotation(["ana", "ben"], datetime(2026, 3, 10, 8, tzinfo=UTC), weeks=1, period_days=7)
    assert periods(on_time) == [(datetime(2026, 3, 10, 8, tzinfo=UTC), datetime(2026, 3, 17, 8, tzinfo=UTC))]


def test_the_handover_stays_in_utc_across_a_daylight_saving_change_at_the_duty_station() -> None:
    # Paris leaves summer time on 25 October 2026: 10:00 CEST before, 09:00 CET after.
    start = datetime(2026, 10, 20, 10, 0, tzinfo=PARIS)  # = 08:00 UTC
    slots = rotation(["ana", "ben", "cho"], start, weeks=3, period_days=3)
    starts = [p[0] for p in periods(slots)]
    assert starts[0] == datetime(2026, 10, 20, 8, tzinfo=UTC)
    assert {(s.hour, s.minute) for s in starts} == {(8, 0)}
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in starts)
    local = [s.astimezone(PARIS) for s in starts]
    before = [t for t in local if t.date() < datetime(2026, 10, 25).date()]
    after = [t for t in local if t.date() > datetime(2026, 10, 25).date()]
    assert before and after
    assert {t.hour for t in before} == {10} and {t.hour for t in after} == {9}
    assert all(b - a == timedelta(days=3) for a, b in itertools.pairwise(starts))


def test_a_start_given_in_a_local_zone_is_read_in_utc() -> None:
    start = datetime(2026, 7, 1, 9, 0, tzinfo=PARIS)  # 07:00 UTC: the 08:00 UTC handover the same day
    assert periods(rotation(["ana"], start, weeks=1))[0][0] == datetime(2026, 7, 1, 8, tzinfo=UTC)


# --- patterns and fairness ----------------------------------------------------------------

def test_round_robin_order() -> None:
    slots = rotation(["ana", "ben", "cho"], datetime(2026, 1, 1, 8, tzinfo=UTC), weeks=1, period_days=1)
    primaries = [s.officer_id for s in slots if s.role == "primary"]
    alternates = [s.officer_id for s in slots if s.role == "alternate"]
    assert primaries == ["ana", "ben", "cho", "ana", "ben", "cho", "ana"]
    assert alternates == ["ben", "cho", "ana", "ben", "cho", "ana", "ben"]


def test_paired_order() -> None:
    slots = rotation(["ana", "ben", "cho", "dia"], datetime(2026, 1, 1, 8, tzinfo=UTC), weeks=1, period_days=1,
                     pattern="paired")
    pairs = [(p.officer_id, a.officer_id) for p, a in zip(slots[::2], slots[1::2], strict=True)]
    assert pairs == [("ana", "ben"), ("cho", "dia"), ("ben", "ana"), ("dia", "cho"), ("ana", "ben"),
                     ("cho", "dia"), ("ben", "ana")]


CASES = [(pattern, n, weeks, days)
         for pattern in PATTERNS for n in range(1, 10) for weeks in (1, 2, 3, 5, 13, 52) for days in (1, 3, 7, 10, 28)
         if not (pattern == "paired" and n % 2)]


@pytest.mark.parametrize(("pattern", "n", "weeks", "days"), CASES)
def test_every_period_has_a_primary_and_an_alternate_and_the_load_is_fair(pattern: str, n: int, weeks: int,
                                                                          days: int) -> None:
    officers = [f"o{i}" for i in range(n)]
    slots = rotation(officers, datetime(2026, 11, 29, 8, tzinfo=UTC), weeks=weeks, period_days=days,
                     pattern=pattern)
    spans = periods(slots)
    assert len(spans) == -(-weeks * 7 // days)  # ceil: the last period may be partial
    check_continuous(slots)
    for span in spans:
        roles = sorted((s.role, s.officer_id) for s in slots if (s.start, s.end) == span)
        if n == 1:
            assert [r for r, _ in roles] == ["primary"]
        else:
            assert [r for r, _ in roles] == ["alternate", "primary"] and roles[0][1] != roles[1][1]
    for role in ("primary", "alternate") if n > 1 else ("primary",):
        counts = Counter(s.officer_id for s in slots if s.role == role)
        loads = [counts.get(o, 0) for o in officers]
        assert max(loads) - min(loads) <= 1, (role, loads)
    assert overlaps(slots, []) == []  # an officer never holds two slots at once
    assert all(validate_slot(s, officers) == [] for s in slots)
    assert len({s.id for s in slots}) == len(slots)


def test_region_and_readiness_are_carried_to_every_slot() -> None:
    slots = rotation(["ana", "ben"], datetime(2026, 1, 1, 8, tzinfo=UTC), region="africa", readiness_hours=24,
                     alternate_readiness_hours=48)
    assert {(s.role, s.readiness_hours, s.region) for s in slots} == {("primary", 24, "africa"),
                                                                      ("alternate", 48, "africa")}
    default = rotation(["ana", "ben"], datetime(2026, 1, 1, 8, tzinfo=UTC), readiness_hours=48)
    assert {(s.readiness_hours, s.region) for s in default} == {(48, None)}


# --- bad parameters -----------------------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"officer_ids": []}, "officers"),
    ({"officer_ids": ["ana", "ben", "ana"]}, "officers"),
    ({"officer_ids": ["ana", ""]}, "officers"),
    ({"weeks": 0}, "weeks"),
    ({"weeks": 53}, "weeks"),
    ({"period_days": 0}, "period_days"),
    ({"period_days": 29}, "period_days"),
    ({"pattern": "random"}, "pattern"),
    ({"pattern": "paired", "officer_ids": ["ana", "ben", "cho"]}, "officers"),
    ({"start": datetime(2026, 1, 1, 8)}, "from"),
    ({"handover": time(8, 0, tzinfo=PARIS)}, "handover"),
    ({"region": "atlantis"}, "region"),
    ({"readiness_hours": 36}, "readiness_hours"),
    ({"alternate_readiness_hours": 12}, "alternate_readiness_hours"),
])
def test_bad_parameters_are_named(change: dict[str, Any], field: str) -> None:
    params: dict[str, Any] = {"officer_ids": ["ana", "ben"], "start": datetime(2026, 1, 1, 8, tzinfo=UTC),
                              "weeks": 2, "period_days": 7, "handover": EIGHT, "pattern": "round_robin",
                              "new_id": ids(), **change}
    with pytest.raises(InputError) as err:
        generate(**params)
    assert [e["field"] for e in err.value.errors] == [field]
    assert err.value.errors[0]["message"]


def test_every_bad_parameter_is_named_at_once() -> None:
    with pytest.raises(InputError) as err:
        generate([], datetime(2026, 1, 1, 8, tzinfo=UTC), 0, 30, EIGHT, "random", ids())
    assert [e["field"] for e in err.value.errors] == ["officers", "weeks", "period_days", "pattern"]
