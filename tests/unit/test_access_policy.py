"""The role rules of crisis.domain.access, against a table written out here (not read
from the module): who reads, which regions, which facts about a person."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crisis.domain import access

AFRICA, MENA = "africa", "middle_east_north_africa"


@dataclass(frozen=True)
class Who:
    role: str
    region: str | None = None


# (role, region) -> (may read, region scope; "refused" when region_scope must raise)
READING = {
    ("admin", None): (True, None),
    ("duty_officer", None): (True, None),
    ("wall", None): (True, None),
    ("regional_desk", AFRICA): (True, AFRICA),
    ("regional_desk", None): (False, "refused"),
    ("regional_desk", ""): (False, "refused"),
    ("feed", None): (False, "refused"),
    ("feed", AFRICA): (False, "refused"),
    ("nobody", None): (False, "refused"),
    ("nobody", AFRICA): (False, "refused"),
}


@pytest.mark.parametrize(("role", "region"), sorted(READING, key=str))
def test_who_reads_and_which_region(role: str, region: str | None) -> None:
    reads, scope = READING[role, region]
    who = Who(role, region)
    assert access.can_read(who) is reads
    if scope == "refused":
        with pytest.raises(PermissionError):
            access.region_scope(who)
    else:
        assert access.region_scope(who) == scope


@pytest.mark.parametrize(("role", "region"), sorted(READING, key=str))
def test_what_region_a_thing_may_be_seen_in(role: str, region: str | None) -> None:
    who = Who(role, region)
    reads, scope = READING[role, region]
    for place in (AFRICA, MENA, None):
        expected = reads and (scope is None or place == scope)
        assert access.may_see_region(who, place) is expected, (role, region, place)


def test_writers_editors_and_admins() -> None:
    assert [r for r in access.ROLES if access.can_write(Who(r))] == ["admin", "duty_officer", "feed"]
    assert [r for r in access.ROLES if access.can_edit(Who(r))] == ["admin", "duty_officer"]
    assert [r for r in access.ROLES if access.is_admin(Who(r))] == ["admin"]
    assert [r for r in access.ROLES if access.sees_names(Who(r))] == ["admin", "duty_officer", "regional_desk"]


POSITION = {"traveller_id": "T42", "lat": 33.9, "lon": 35.5, "time": "2026-01-01T00:00:00+00:00",
            "region": MENA, "name": "Jane Roe", "phone": "+961 1 000000", "email": "j@example.org"}


def test_a_wall_receives_a_point_not_a_person() -> None:
    assert access.person_view(Who("wall"), POSITION) == {"lat": 33.9, "lon": 35.5, "time": "2026-01-01T00:00:00+00:00",
                                                          "region": MENA}
    assert access.person_view(Who("feed"), POSITION) == {}
    for role, region in (("admin", None), ("duty_officer", None), ("regional_desk", MENA)):
        assert access.person_view(Who(role, region), POSITION) == POSITION


INCIDENT = {"id": "inc-1", "title": "Shelling", "status": "active", "owner": "j.okafor", "region": MENA}
CHANGE = {"time": "2026-01-01T00:00:00+00:00", "kind": "status", "by": "duty-ann", "status_from": "reported",
          "status": "active", "fields": ["owner"], "owner": "j.okafor", "note": "confirmed"}


def test_a_wall_reads_a_thing_without_the_people_in_it() -> None:
    wall = Who("wall")
    assert access.record_view(wall, INCIDENT) == {"id": "inc-1", "title": "Shelling", "status": "active", "region": MENA}
    assert access.record_view(wall, CHANGE) == {"time": "2026-01-01T00:00:00+00:00", "kind": "status",
                                                "status_from": "reported", "status": "active", "fields": ["owner"]}
    for role, region in (("admin", None), ("duty_officer", None), ("regional_desk", MENA)):
        assert access.record_view(Who(role, region), INCIDENT) == INCIDENT
        assert access.record_view(Who(role, region), CHANGE) == CHANGE


NOTE = {"time": "2026-01-01T00:00:00+00:00", "kind": "note", "by": "duty-ann", "fields": [],
        "note": "Called Rosa Diallo T000001"}
STAYED = {"traveller_id": "T000777", "progress": "stayed", "status": "safe", "lat": 33.2, "lon": 35.2,
          "reason": "stays with her husband John Smith, T000777", "added_by": "phase"}
AFFECTED = {"traveller_id": "T000778", "status": "no_response", "reason": "itinerary", "distance_km": 3.5}


def test_a_wall_gets_no_text_people_wrote_but_the_affected_lists_reason() -> None:
    """Walls get no free text written by people (an incident's note, why someone stayed on a
    movement), under any field name PERSON_FIELDS lets through; the affected list's "reason"
    is an enumeration ("position", "itinerary") and stays."""
    wall = Who("wall")
    assert access.record_view(wall, NOTE) == {"time": "2026-01-01T00:00:00+00:00", "kind": "note", "fields": []}
    assert access.person_view(wall, STAYED) == {"status": "safe", "lat": 33.2, "lon": 35.2}
    assert access.person_view(wall, AFFECTED) == {"status": "no_response", "reason": "itinerary", "distance_km": 3.5}
    assert access.person_view(wall, {**AFFECTED, "reason": "position"})["reason"] == "position"
    assert "reason" in access.person_view(wall, {"reason": None})  # a column's name, no text: CSV headers keep it
    assert access.person_view(wall, {"reason": {"why": "John"}}) == {}
    assert access.record_view(wall, {"id": "d1", "note": ["John Smith"]}) == {"id": "d1"}
    for role, region in (("admin", None), ("duty_officer", None), ("regional_desk", MENA)):
        assert access.record_view(Who(role, region), NOTE) == NOTE
        assert access.person_view(Who(role, region), STAYED) == STAYED


def test_only_roles_that_receive_identities_look_a_person_up() -> None:
    assert [r for r in access.ROLES if access.may_look_up_person(Who(r, AFRICA))] == ["admin", "duty_officer", "regional_desk"]
    assert not access.may_look_up_person(Who("regional_desk"))  # no region: reads nothing
    assert [r for r in access.ROLES if access.reads_rejected(Who(r, AFRICA))] == ["admin", "duty_officer"]
