"""The people pages' actions (crisis.ui.people_commands) on the real Redis: a refused form
is said in words and kept as a dead letter (feed "ui"), as the API and the roster page keep
theirs; nothing is stored."""

from __future__ import annotations

from typing import Any

from crisis import handlers_areas
from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.bootstrap import Context
from crisis.ui import people_commands as commands

DUTY = Principal("duty", "duty_officer")


def _ui_letters(context: Context) -> list[dict[str, str]]:
    return [fields for _, fields in context.redis.xrange(keys.DEADLETTER_STREAM) if fields.get("feed") == "ui"]


def _area(context: Context) -> str:
    made = handlers_areas.create_area(context, "Gauteng (test)", 3, None, "ZAF", "duty")
    return str(made.area["id"])


def test_refused_forms_of_the_areas_page_are_said_and_kept(context: Context) -> None:
    area = _area(context)
    events = context.redis.xlen(keys.AREAS_STREAM)
    cases: list[tuple[Any, str]] = [
        (lambda: commands.confirm_area_movement(context, DUTY, area, {
            "safe_haven": {"name": "Pretoria", "lat": 200, "lon": 28.19}, "mode": "road",
            "expected_arrival": "2020-01-01T10:00:00Z"}), "Not confirmed: "),
        (lambda: commands.change_area_phase(context, DUTY, area, 9), "Not saved: "),
        (lambda: commands.set_area_progress(context, DUTY, area, ["T1"], "teleported", None), "Not saved: "),
        (lambda: commands.set_people_status(context, DUTY, f"area:{area}", ["T1"], "lost", None), "Not saved: "),
    ]
    for act, lead in cases:
        before = len(_ui_letters(context))
        said = act()
        assert said.startswith(lead) and "Value error" not in said, said
        letters = _ui_letters(context)
        assert len(letters) == before + 1, said
        assert letters[-1]["user"] == "duty" and area in letters[-1]["body"], letters[-1]
    assert context.redis.xlen(keys.AREAS_STREAM) == events  # nothing stored
    said = commands.confirm_area_movement(context, DUTY, area, {"safe_haven": {"name": "Pretoria", "lat": -25.75, "lon": 28.19},
                                                                "mode": "road", "expected_arrival": "tomorrow"})
    assert said == "Not confirmed: The expected arrival must be a date and time, as 2026-12-03 18:00 UTC.", said


def test_people_refused_one_by_one_are_kept_as_one_letter(context: Context) -> None:
    from tests.conftest import know_travellers, random_ref

    ref = random_ref("ZA")
    know_travellers(context, [{"traveller_id": f"{ref}-{i}", "lat": -26.2 + i / 100, "lon": 28.04} for i in range(2)])
    area = _area(context)
    listed = [p["traveller_id"] for p in context.roll.movements([area])[area]["people"] if str(p["traveller_id"]).startswith(ref)]
    assert len(listed) == 2, listed  # non-essential international staff in Johannesburg: on the relocation list
    said = commands.set_area_progress(context, DUTY, area, listed, "stayed", None)  # a reason is needed
    assert said.startswith("Not saved: ") and said.count("a person who stayed needs a reason") == 2, said
    assert f"Traveller {listed[0]} ({listed[0]}): " in said, said  # named as the list names them
    letter = _ui_letters(context)[-1]
    assert listed[0] in letter["reason"] and listed[1] in letter["reason"] and letter["user"] == "duty", letter


def test_a_person_is_added_to_the_list_by_hand_and_taken_off_with_a_reason(context: Context) -> None:
    from crisis.adapters.audit import AuditQuery
    from crisis.handlers import import_travellers
    from crisis.feeds.travellers import validate
    from tests.conftest import know_travellers, random_ref

    ref = random_ref("ZA")
    know_travellers(context, [{"traveller_id": f"{ref}-I", "lat": -26.2, "lon": 28.04}])
    national, errors = validate({"id": f"{ref}-N", "name": "Thandi Nkosi", "agency": "UNDP", "category": "national_staff",
                                 "duty_station": {"name": "Johannesburg", "lat": -26.2, "lon": 28.05}})
    assert national is not None, errors
    import_travellers(context.deps, [(1, national)], "tests")
    area = _area(context)
    listed = {p["traveller_id"] for p in context.roll.movements([area])[area]["people"]}
    assert f"{ref}-I" in listed and f"{ref}-N" not in listed  # national staff are not listed by category

    said = commands.add_to_movement(context, DUTY, area, f"{ref}-N", "works for the evacuated office")
    assert said == f"Thandi Nkosi ({ref}-N) is on the relocation list ({len(listed) + 1} on it).", said
    assert f"{ref}-N" in {p["traveller_id"] for p in context.roll.movements([area])[area]["people"]}
    assert commands.add_to_movement(context, DUTY, area, f"{ref}-N", None).startswith("Not added: ")  # on it already
    assert commands.add_to_movement(context, DUTY, area, "nobody-at-all", None) == "Not added: The traveller id: no traveller 'nobody-at-all'."

    letters = len(_ui_letters(context))
    no_reason = commands.remove_from_movement(context, DUTY, area, [f"{ref}-I"], "  ")
    assert no_reason == "Not taken off: Give the reason.", no_reason
    assert len(_ui_letters(context)) == letters + 1  # kept
    said = commands.remove_from_movement(context, DUTY, area, [f"{ref}-I"], "left the country on 1 Dec")
    assert said == "1 taken off the list.", said
    movement = context.roll.movements([area])[area]
    assert f"{ref}-I" not in {p["traveller_id"] for p in movement["people"]}
    assert [r["reason"] for r in movement.get("removed", []) if r["traveller_id"] == f"{ref}-I"] == ["left the country on 1 Dec"]
    audited = [e for e in context.audit.query(AuditQuery(action="movement.")) if e.get("via") == "ui"]
    assert {e["action"] for e in audited} >= {"movement.person_add", "movement.person_remove"}
    wall = commands.remove_from_movement(context, Principal("w", "wall"), area, [f"{ref}-N"], "x")
    assert wall == "A wall cannot change a movement list." and f"{ref}-N" in {
        p["traveller_id"] for p in context.roll.movements([area])[area]["people"]}


def test_an_area_is_created_on_the_page_as_a_circle_or_a_country_and_audited(context: Context) -> None:
    from crisis.adapters.audit import AuditQuery
    from crisis.fusion.affected import geodesic_km
    from crisis.views_areas import areas as area_store
    from tests.conftest import know_travellers, random_ref

    ref = random_ref("LB")
    # one person in Tyre (inside 30 km of the centre), one in Beirut (about 70 km north: outside)
    know_travellers(context, [{"traveller_id": f"{ref}-T", "lat": 33.27, "lon": 35.20},
                              {"traveller_id": f"{ref}-B", "lat": 33.89, "lon": 35.50}])
    said, area_id = commands.create_area(context, DUTY, {"name": "Around Tyre", "phase": 3,
                                                         "circle": {"lat": 33.27, "lon": 35.25, "radius_km": 30}})
    assert area_id is not None, said
    assert said.startswith("Area \u201cAround Tyre\u201d created at phase III") and "on the relocation list" in said, said
    area = area_store(context).get(area_id)
    assert area is not None and area["geometry"]["type"] == "Polygon" and area["region"] == "middle_east_north_africa", area
    ring = area["geometry"]["coordinates"][0]
    reach = geodesic_km(33.27, 35.25, [p[1] for p in ring], [p[0] for p in ring])
    assert 29.5 < min(reach) and max(reach) < 30.5, (min(reach), max(reach))  # a geodesic circle of 30 km
    listed = {p["traveller_id"] for p in context.roll.movements([area_id])[area_id]["people"]}
    assert f"{ref}-T" in listed and f"{ref}-B" not in listed
    entry = next(e for e in context.audit.page(AuditQuery(action="area.create")).entries if e.get("target") == area_id)
    assert entry["via"] == "ui" and entry["actor"] == "duty" and entry["after"]["name"] == "Around Tyre", entry

    said, country_area = commands.create_area(context, DUTY, {"name": "All of Lebanon", "phase": 1, "country": "LBN"})
    assert country_area is not None and said == "Area \u201cAll of Lebanon\u201d created at phase I precautionary.", said

    # refused in words, kept as a dead letter, nothing stored; a wall may not create one
    events = context.redis.xlen(keys.AREAS_STREAM)
    for form, words in (({"name": "No place", "phase": 3, "circle": {"lat": 33.2, "lon": None, "radius_km": 30}}, "lon"),
                        ({"name": "Too wide", "phase": 3, "circle": {"lat": 33.2, "lon": 35.2, "radius_km": 5000}}, "circle's radius must be at most 1000 km"),
                        ({"name": "", "phase": 3, "country": "LBN"}, "name"),
                        ({"name": "Atlantis", "phase": 3, "country": "ATL"}, "unknown country"),
                        ({"name": "Nowhere", "phase": 3, "country": None}, "Choose the country from the list.")):
        before = len(_ui_letters(context))
        said, made = commands.create_area(context, DUTY, form)
        assert made is None and said.startswith("Not created: ") and words in said and "Value error" not in said, said
        assert len(_ui_letters(context)) == before + 1, said
    said, made = commands.create_area(context, Principal("wall", "wall_display"), {"name": "x", "phase": 1, "country": "LBN"})
    assert made is None and said == "A wall_display cannot create an area.", said
    assert context.redis.xlen(keys.AREAS_STREAM) == events
