"""The roll-call vocabulary: counts, % accounted for, the worst status, the burn-down rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crisis.domain import accountability as acc

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_statuses_and_accounted() -> None:
    assert acc.STATUSES == ("no_response", "safe", "needs_help", "unsure", "unreachable")
    assert acc.ACCOUNTED == {"safe", "needs_help", "unsure"}


def test_counts() -> None:
    c = acc.counts(["safe", "safe", "needs_help", "unsure", "unreachable", "no_response", "bogus"])
    assert c == {"total": 7, "safe": 2, "needs_help": 1, "unsure": 1, "unreachable": 1, "no_response": 2}
    assert acc.counts([]) == {"total": 0, "safe": 0, "needs_help": 0, "unsure": 0, "unreachable": 0, "no_response": 0}


def test_accounted_pct() -> None:
    # 4 accounted (2 safe, 1 needs_help, 1 unsure) of 7 = 57.142... -> 57.1
    assert acc.accounted_pct(acc.counts(["safe", "safe", "needs_help", "unsure", "unreachable", "no_response", "x"])) == 57.1
    assert acc.accounted_pct(acc.counts(["unreachable", "no_response"])) == 0.0
    assert acc.accounted_pct(acc.counts(["needs_help"])) == 100.0
    assert acc.accounted_pct(acc.counts(["unsure", "no_response", "no_response"])) == 33.3
    assert acc.accounted_pct(acc.counts([])) == 0.0


@pytest.mark.parametrize(("statuses", "expected"), [
    (["safe", "needs_help", "unreachable"], "needs_help"),
    (["safe", "unreachable", "unsure"], "unreachable"),
    (["safe", "unsure", "no_response"], "unsure"),
    (["safe", "no_response"], "no_response"),
    (["safe", "safe"], "safe"),
    ([], "no_response"),
])
def test_worst(statuses: list[str], expected: str) -> None:
    assert acc.worst(statuses) == expected
    assert acc.worst(reversed(statuses)) == expected


def test_scopes() -> None:
    assert acc.incident_scope("inc-1") == "incident:inc-1"
    assert acc.area_scope("a-1") == "area:a-1"
    assert acc.parse_scope("incident:inc-1") == ("incident", "inc-1")
    for bad in ("inc-1", "zone:1", "incident:"):
        with pytest.raises(ValueError):
            acc.parse_scope(bad)


def _h(tid: str, status: str, minutes: int) -> dict[str, str]:
    return {"traveller_id": tid, "status": status, "at": (T0 + timedelta(minutes=minutes)).isoformat()}


def test_burndown_falls_as_people_check_in() -> None:
    history = [_h("a", "safe", 10), _h("b", "needs_help", 20), _h("c", "unsure", 30)]
    points = acc.burndown(history, 4, T0, T0 + timedelta(hours=1))
    assert points == [
        (T0, 4),
        (T0 + timedelta(minutes=10), 3),
        (T0 + timedelta(minutes=20), 2),
        (T0 + timedelta(minutes=30), 1),
        (T0 + timedelta(hours=1), 1),
    ]


def test_burndown_rule_details() -> None:
    history = [
        _h("a", "safe", -5),            # before the start: already applies at the start
        _h("b", "unreachable", 5),      # not accounted: no change, no point
        _h("b", "safe", 10),
        _h("b", "safe", 12),            # the same status again: counted once
        _h("a", "unreachable", 15),     # unaccounted again
        _h("x", "safe", 16),            # not one of the people
        _h("c", "safe", 90),            # after now: ignored
    ]
    now = T0 + timedelta(hours=1)
    points = acc.burndown(list(reversed(history)), 3, T0, now, people={"a", "b", "c"})
    assert points == [(T0, 2), (T0 + timedelta(minutes=10), 1), (T0 + timedelta(minutes=15), 2), (now, 2)]
    # without the people filter "x" counts; the total is a floor of 0
    assert acc.burndown([_h("a", "safe", 1), _h("b", "safe", 2)], 1, T0, now)[-1] == (now, 0)


def test_burndown_with_nothing() -> None:
    assert acc.burndown([], 0, T0, T0) == [(T0, 0)]
    assert acc.burndown([], 5, T0, T0 + timedelta(minutes=1)) == [(T0, 5), (T0 + timedelta(minutes=1), 5)]
