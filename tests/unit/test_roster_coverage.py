"""Coverage over a period (crisis.roster.coverage): constructed gaps give exactly the expected
warnings and periods (a region with no one, no Arabic speaker during a leave, fewer than two
at 24 h worldwide, standby too long, a dispatch gap), none where cover holds; and the
vectorised sweep agrees with a naive hour-by-hour count on a random roster."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crisis.errors import InputError
from crisis.roster.coverage import coverage
from crisis.roster.model import Dispatch, Home, Leave, Officer, RosterRules, Slot, Step
from crisis.roster.slots import availability

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RULES = RosterRules(skills=("hostage_incident_management", "first_aid"), min_worldwide_24h=2, min_per_region=1,
                    required_languages=("ar", "fr"), required_skills=("hostage_incident_management",),
                    max_standby_days=14.0, rest_days=7.0)
HOME = Home("Nairobi", -1.2921, 36.8219)


def officer(id: str, skills: tuple[str, ...] = ("hostage_incident_management",),
            languages: tuple[str, ...] = ("ar", "fr")) -> Officer:
    return Officer(id, id.title(), HOME, "africa", "P4", skills, languages)


def slot(officer_id: str, start: datetime = T0, days: float = 7, role: str = "primary", region: str | None = None,
         readiness: int = 24, id: str | None = None) -> Slot:
    return Slot(id or f"s-{officer_id}-{start:%d%H}", officer_id, start, start + timedelta(days=days), readiness, role,
                region)


def at(day: int, hour: int = 6) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


OFFICERS = {"ana": officer("ana"), "ben": officer("ben")}
FULL = [slot("ana"), slot("ben", role="alternate")]  # two worldwide 24 h, Arabic, French, hostage: all held


def test_no_warning_where_cover_holds() -> None:
    result = coverage(OFFICERS, FULL, [], [], T0, T0 + 7 * DAY, RULES)
    assert result["warnings"] == []
    assert result["worldwide_24h"] == [{"from": T0.isoformat(), "to": (T0 + 7 * DAY).isoformat(), "count": 2}]
    assert all(segs == [{"from": T0.isoformat(), "to": (T0 + 7 * DAY).isoformat(), "count": 2}]
               for segs in result["regions"].values())
    assert result["languages"]["ar"][0]["count"] == 2 and result["skills"]["first_aid"][0]["count"] == 0


def test_region_with_no_one() -> None:
    covered = [r for r in RULES.regions if r != "americas"]
    officers = {f"o{i}": officer(f"o{i}") for i in range(len(covered))}
    slots = [slot(f"o{i}", region=region) for i, region in enumerate(covered)]
    result = coverage(officers, slots, [], [], T0, T0 + 7 * DAY, RULES)
    [warning] = result["warnings"]
    assert warning["kind"] == "region_uncovered" and warning["region"] == "americas"
    assert (warning["from"], warning["to"]) == (T0.isoformat(), (T0 + 7 * DAY).isoformat())
    assert warning["message"] == "No officer on standby for Americas from 1 Dec 06:00 to 8 Dec 06:00 UTC"
    assert result["regions"]["americas"] == [{"from": T0.isoformat(), "to": (T0 + 7 * DAY).isoformat(), "count": 0}]
    assert result["regions"]["africa"][0]["count"] == 1
    # a worldwide slot covers the region
    assert coverage(officers | OFFICERS, [*slots, slot("ana", days=3)], [], [], T0, T0 + 7 * DAY, RULES)["warnings"] == [
        {**warning, "from": (T0 + 3 * DAY).isoformat(),
         "message": "No officer on standby for Americas from 4 Dec 06:00 to 8 Dec 06:00 UTC"}]


def test_no_arabic_speaker_during_a_leave() -> None:
    officers = {"ana": officer("ana", languages=("ar",)), "ben": officer("ben", languages=("fr",)),
                "cho": officer("cho", languages=("fr",))}
    slots = [slot("ana"), slot("ben", role="alternate"), slot("cho", role="alternate")]
    leave = [Leave("l1", "ana", at(3), at(5))]
    result = coverage(officers, slots, leave, [], T0, T0 + 7 * DAY, RULES)
    assert [w["kind"] for w in result["warnings"]] == ["language_missing"]
    [warning] = result["warnings"]
    assert warning["language"] == "ar" and (warning["from"], warning["to"]) == (at(3).isoformat(), at(5).isoformat())
    assert warning["message"] == "No Arabic speaker on standby from 3 Dec 06:00 to 5 Dec 06:00 UTC"
    assert [s["count"] for s in result["languages"]["ar"]] == [1, 0, 1]


def test_leave_overrides_the_slot_in_every_count() -> None:
    leave = [Leave("l1", "ana", at(2, 18), at(4))]
    result = coverage(OFFICERS, FULL, leave, [], T0, T0 + 7 * DAY, RULES)
    assert result["worldwide_24h"] == [
        {"from": T0.isoformat(), "to": at(2, 18).isoformat(), "count": 2},
        {"from": at(2, 18).isoformat(), "to": at(4).isoformat(), "count": 1},
        {"from": at(4).isoformat(), "to": (T0 + 7 * DAY).isoformat(), "count": 2},
    ]
    assert [w["kind"] for w in result["warnings"]] == ["worldwide_24h_low"]
    assert result["warnings"][0]["message"] == ("Only 1 officer on standby at 24 h readiness worldwide (minimum 2) "
                                                "from 2 Dec 18:00 to 4 Dec 06:00 UTC")


def test_worldwide_24h_below_two_and_adjacent_periods_merged() -> None:
    officers = OFFICERS | {"cho": officer("cho")}
    # ana 24 h all week; ben 48 h (does not count at 24 h); cho 24 h only the first two days
    slots = [slot("ana"), slot("ben", role="alternate", readiness=48), slot("cho", days=2, role="alternate")]
    leave = [Leave("l1", "ana", at(5), at(6))]  # the count goes 1 then 0 then 1: one warning
    result = coverage(officers, slots, leave, [], T0, T0 + 7 * DAY, RULES)
    low = [w for w in result["warnings"] if w["kind"] == "worldwide_24h_low"]
    assert [(w["from"], w["to"]) for w in low] == [(at(3).isoformat(), (T0 + 7 * DAY).isoformat())]
    assert low[0]["message"].startswith("Fewer than 2 officers on standby at 24 h readiness worldwide")
    assert [s["count"] for s in result["worldwide_24h"]] == [2, 1, 0, 1]


def test_standby_too_long_across_adjacent_slots() -> None:
    slots = [slot("ana", days=10, id="a1"), slot("ana", T0 + 10 * DAY, days=10, role="alternate", id="a2"),
             slot("ben", days=20, role="alternate")]
    officers = OFFICERS | {"cho": officer("cho")}
    slots += [slot("cho", days=10, id="c1"), slot("cho", T0 + 10 * DAY, days=10, id="c2")]
    leave = [Leave("l1", "cho", at(11), at(12))]  # a break: cho's stretches are 10 and 9 days
    result = coverage(officers, slots, leave, [], T0, T0 + 20 * DAY, RULES)
    long = [w for w in result["warnings"] if w["kind"] == "standby_too_long"]
    assert {(w["officer_id"], w["from"], w["to"]) for w in long} == {
        ("ana", at(15).isoformat(), at(21).isoformat()), ("ben", at(15).isoformat(), at(21).isoformat())}
    assert all(w["message"] == "An officer is on standby 20 days without a break (from 1 Dec 06:00 to 21 Dec "
                               "06:00 UTC); the rest rule allows 14" for w in long)


def test_standby_begun_before_the_window_is_seen_whole() -> None:
    slots = [slot("ana", T0 - 10 * DAY, days=17), slot("ben", role="alternate")]
    result = coverage(OFFICERS, slots, [], [], T0, T0 + 7 * DAY, RULES)
    [warning] = result["warnings"]
    assert warning["kind"] == "standby_too_long" and warning["officer_id"] == "ana"
    assert (warning["from"], warning["to"]) == (at(5).isoformat(), at(8).isoformat())


def test_dispatch_gap_when_no_alternate_was_promoted() -> None:
    officers = OFFICERS | {"cho": officer("cho")}
    slots = [slot("ana", region="africa", id="primary"), slot("ben"), slot("cho", role="alternate")]
    sent = Dispatch("d1", "inc-goma", "ana", "travelling", at(3), "duty", (Step("requested", at(3), "duty"),),
                    slot_id="primary", promoted_slot_id=None)
    result = coverage(officers, slots, [], [sent], T0, T0 + 7 * DAY, RULES)
    [gap] = result["warnings"]
    assert gap["kind"] == "dispatch_gap" and gap["region"] == "africa" and gap["officer_id"] == "ana"
    assert (gap["from"], gap["to"]) == (at(3).isoformat(), at(8).isoformat())
    assert "left the primary standby slot (Africa) empty" in gap["message"]
    assert [s["count"] for s in result["regions"]["africa"]] == [3, 2]  # ana deployed from the 3rd
    promoted = coverage(officers, slots, [], [Dispatch(**{**sent.__dict__, "promoted_slot_id": "p1"})],
                        T0, T0 + 7 * DAY, RULES)
    assert promoted["warnings"] == []
    back = Dispatch(**{**sent.__dict__, "status": "returned",
                       "steps": (*sent.steps, Step("returned", at(4), "duty"))})
    assert coverage(officers, slots, [], [back], T0, T0 + 7 * DAY, RULES)["warnings"] == []


def test_deployment_and_rest_take_the_officer_off_cover() -> None:
    back = Dispatch("d1", "inc-goma", "ana", "returned", at(2), "duty",
                    (Step("requested", at(2), "duty"), Step("returned", at(4), "duty")))
    declined = Dispatch("d2", "inc-goma", "ben", "declined", at(2), "duty",
                        (Step("requested", at(2), "duty"), Step("declined", at(2, 8), "duty")))
    slots = [slot("ana", days=20), slot("ben", role="alternate", days=20)]
    result = coverage(OFFICERS, slots, [], [back, declined], T0, T0 + 20 * DAY, RULES)
    # ana away from the 2nd, back on the 4th, rests 7 days: counts again from the 11th
    assert [(s["from"], s["count"]) for s in result["worldwide_24h"]] == [
        (T0.isoformat(), 2), (at(2).isoformat(), 1), (at(11).isoformat(), 2)]


def test_empty_roster_warns_of_everything_and_bad_period_is_refused() -> None:
    result = coverage({}, [], [], [], T0, T0 + DAY, RULES)
    assert sorted({w["kind"] for w in result["warnings"]}) == [
        "language_missing", "region_uncovered", "skill_missing", "worldwide_24h_low"]
    assert result["worldwide_24h"] == [{"from": T0.isoformat(), "to": (T0 + DAY).isoformat(), "count": 0}]
    with pytest.raises(InputError) as error:
        coverage({}, [], [], [], T0, T0, RULES)
    assert error.value.errors[0]["field"] == "to"


def test_sweep_agrees_with_an_hourly_count_on_a_random_roster() -> None:
    rng = random.Random(42)
    langs = ["ar", "fr", "en", "es", "ru"]
    officers = {f"o{i:02d}": officer(f"o{i:02d}", tuple(rng.sample(RULES.skills, rng.randint(0, 2))),
                                     tuple(rng.sample(langs, rng.randint(0, 2)))) for i in range(40)}
    slots: list[Slot] = []
    leave: list[Leave] = []
    dispatches: list[Dispatch] = []
    for oid in officers:
        t = T0 - 5 * DAY + timedelta(hours=rng.randint(0, 96))
        while t < T0 + 30 * DAY:
            length = timedelta(hours=rng.choice([12, 24, 72, 168]))
            if rng.random() < 0.6:
                slots.append(Slot(f"s{len(slots)}", oid, t, t + length, rng.choice([24, 48]),
                                  rng.choice(["primary", "alternate"]), rng.choice([None, *RULES.regions])))
            t += length + timedelta(hours=rng.choice([0, 0, 6, 30]))
        if rng.random() < 0.4:
            s = T0 + timedelta(hours=rng.randint(-48, 600))
            leave.append(Leave(f"l-{oid}", oid, s, s + timedelta(hours=rng.randint(5, 200))))
        if rng.random() < 0.2:
            s = T0 + timedelta(hours=rng.randint(-100, 500))
            steps = [Step("requested", s, None)]
            status = rng.choice(["travelling", "returned", "declined"])
            if status == "returned":
                steps.append(Step("returned", s + timedelta(hours=rng.randint(10, 100)), None))
            dispatches.append(Dispatch(f"d-{oid}", "inc", oid, status, s, None, tuple(steps)))
    end = T0 + 30 * DAY
    result = coverage(officers, slots, leave, dispatches, T0, end, RULES)

    def count_at(segments: list[dict[str, Any]], t: datetime) -> int:
        [hit] = [s["count"] for s in segments if datetime.fromisoformat(s["from"]) <= t < datetime.fromisoformat(s["to"])]
        return hit

    for hour in range(0, 30 * 24, 5):
        t = T0 + timedelta(hours=hour, minutes=30)
        on = [s for s in slots if s.covers(t) and availability(s.officer_id, t, leave, dispatches, RULES)[0] is None]
        assert count_at(result["worldwide_24h"], t) == sum(s.readiness_hours == 24 for s in on)
        for region in RULES.regions:
            assert count_at(result["regions"][region], t) == sum(s.region in (None, region) for s in on)
        for skill in RULES.skills:
            assert count_at(result["skills"][skill], t) == sum(skill in officers[s.officer_id].skills for s in on)
        for code in langs:
            if code in result["languages"]:
                assert count_at(result["languages"][code], t) == sum(code in officers[s.officer_id].languages for s in on)
    # segments tile [from, to) with no gap and no two equal neighbours
    for segments in [result["worldwide_24h"], *result["regions"].values(), *result["languages"].values()]:
        assert segments[0]["from"] == T0.isoformat() and segments[-1]["to"] == end.isoformat()
        assert all(a["to"] == b["from"] and a["count"] != b["count"] for a, b in itertools.pairwise(segments))
