"""Changing the roster from its page (crisis.ui.roster_commands) on the real Redis: each
action stores what the API would (the same handlers, the roster's event log), is audited
with via "ui", answers in words; a refused form is kept as a dead letter; a role that may
not edit is refused, audited, and changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from crisis import handlers_roster as roster
from crisis.adapters import keys
from crisis.adapters.accounts import Principal
from crisis.adapters.audit import AuditQuery
from crisis.bootstrap import Context
from crisis.roster.model import Slot
from crisis.ui import roster_commands as commands
from tests.integration.test_roster_store import T0, officer, slot

DUTY = Principal("duty", "duty_officer")
DESK = Principal("desk-af", "regional_desk", "africa")
WALL = Principal("wall", "wall")


@pytest.fixture
def clock(context: Context, monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    now = [T0]
    monkeypatch.setattr(context.deps, "clock", lambda: now[0])
    return now


@pytest.fixture
def team(context: Context, clock: list[datetime]) -> dict[str, Slot]:
    """Amina (o1) primary and Brian (o2) alternate for Africa around T0; Chen (o3) off standby."""
    roster.import_officers(context, [officer("o1", name="Amina Diallo"), officer("o2", name="Brian Otieno"),
                                     officer("o3", name="Chen Wei")], "importer")
    primary, alternate = roster.add_slots(context, [slot("o1", T0 - timedelta(days=1), 72),
                                                    slot("o2", T0 - timedelta(days=1), 72, role="alternate")], "duty")
    return {"primary": primary, "alternate": alternate}


def _ui_audit(context: Context, action: str) -> list[dict[str, Any]]:
    return [e for e in context.audit.query(AuditQuery(action=action)) if e.get("via") == "ui"]


def _roster_events(context: Context) -> list[str]:
    return [e.type for e in context.deps.log.replay(keys.ROSTER_STREAM)]


def _form(**values: Any) -> dict[str, Any]:
    base = {"officer_id": "o3", "region": "africa", "role": "primary", "readiness_hours": 24,
            "start": "2026-03-10 08:00", "end": "2026-03-17 08:00", "note": ""}
    return {**base, **values}


def test_times_typed_on_the_page_are_utc() -> None:
    assert commands.utc_field("2026-12-03 08:00") == "2026-12-03T08:00:00+00:00"
    assert commands.utc_field(" 2026-12-03T8:05 ") == "2026-12-03T08:05:00+00:00"
    assert commands.utc_field("2026-12-03 08:00:30") == "2026-12-03T08:00:30+00:00"
    assert commands.utc_field("2026-12-03") == "2026-12-03T00:00:00+00:00"
    assert commands.utc_field("2026-12-03T08:00:00+03:00") == "2026-12-03T08:00:00+03:00"  # its own zone kept
    assert commands.utc_field("") is None and commands.utc_field(None) is None
    assert commands.utc_field("next tuesday") == "next tuesday"  # left for the model to refuse, in words


def test_a_slot_added_on_the_page_is_stored_audited_and_said(context: Context, team: dict[str, Slot]) -> None:
    ok, sentence, warnings = commands.add_slot(context, DUTY, _form(note="covers the Nairobi drill"))
    assert ok, sentence
    added = [s for s in context.roster.slots() if s.officer_id == "o3"]
    assert len(added) == 1
    new = added[0]
    assert (new.region, new.role, new.readiness_hours, new.note) == ("africa", "primary", 24, "covers the Nairobi drill")
    assert new.start.isoformat() == "2026-03-10T08:00:00+00:00" and new.end.isoformat() == "2026-03-17T08:00:00+00:00"
    assert sentence == "Added: Africa primary, Chen Wei, 2026-03-10 08:00 UTC to 2026-03-17 08:00 UTC."
    assert warnings == []
    assert _roster_events(context)[-1] == "roster.slots_added"
    [entry] = _ui_audit(context, "roster.slots_add")
    assert entry["actor"] == "duty" and entry["role"] == "duty_officer" and entry["after"] == {"slots": [new.id]}


def test_worldwide_is_a_slot_with_no_region(context: Context, team: dict[str, Slot]) -> None:
    ok, sentence, _ = commands.add_slot(context, DUTY, _form(region="", role="alternate", readiness_hours=48))
    assert ok, sentence
    [new] = [s for s in context.roster.slots() if s.officer_id == "o3"]
    assert (new.region, new.role, new.readiness_hours) == (None, "alternate", 48)
    assert sentence.startswith("Added: Worldwide alternate, Chen Wei")


def test_a_refused_slot_says_why_in_words_keeps_a_dead_letter_and_stores_nothing(context: Context, team: dict[str, Slot]) -> None:
    before = len(context.roster.slots())
    ok, sentence, _ = commands.add_slot(context, DUTY, _form(officer_id=None, start="", end="2026-03-09 08:00"))
    assert not ok
    assert sentence == ("Not saved: Give the officer. Give the start, as year-month-day hour:minute (UTC).")
    ok, sentence, _ = commands.add_slot(context, DUTY, _form(end="2026-03-09 08:00"))
    assert not ok and sentence.startswith("Not saved: The end: must be after start"), sentence
    ok, sentence, _ = commands.add_slot(context, DUTY, _form(start="next tuesday"))
    assert not ok and "start" in sentence and "Field" not in sentence, sentence
    # o1 is primary for Africa then already: the overlap is refused, naming the officer's slot
    ok, sentence, _ = commands.add_slot(context, DUTY, _form(officer_id="o1", start="2026-03-02 13:00", end="2026-03-03 13:00"))
    assert not ok and sentence.startswith("Not saved: The start: Amina Diallo (o1) is already on standby then, in slot"), sentence
    assert len(context.roster.slots()) == before
    dead = [d for d in context.feed_log.dead_letters() if d.get("feed") == "ui"]
    assert len(dead) >= 4
    assert {e["field"] for e in dead[-1]["errors"]} == {"officer_id", "start"}  # the first, oldest last
    assert dead[-1].get("user") == "duty"


def test_another_officer_put_on_a_slot(context: Context, team: dict[str, Slot]) -> None:
    primary = team["primary"]
    ok, sentence, _ = commands.replace_officer(context, DUTY, primary.id, "o3", "Amina is sick")
    assert ok, sentence
    after = context.roster.slot(primary.id)
    assert after is not None and after.officer_id == "o3" and after.note == "Amina is sick"
    assert sentence.startswith("Chen Wei replaces Amina Diallo: Africa primary, Chen Wei,")
    [entry] = _ui_audit(context, "roster.override")
    assert entry["before"] == {"officer_id": "o1"} and entry["after"] == {"officer_id": "o3"}
    assert entry["detail"] == {"note": "Amina is sick"}
    # the same officer again, no officer, no slot: refused in words, nothing changes
    assert commands.replace_officer(context, DUTY, primary.id, "o3", "again")[1] == "Not saved: The officer: already holds this slot (Chen Wei)."
    assert commands.replace_officer(context, DUTY, primary.id, "", None)[1] == "Not saved: Give the officer."
    assert commands.replace_officer(context, DUTY, None, "o2", None)[1] == "Select a slot first (click its row)."
    # the alternate on the primary's slot at the same time: refused (an officer holds one slot at a time)
    ok, sentence, _ = commands.replace_officer(context, DUTY, primary.id, "o2", None)
    assert not ok and sentence.startswith("Not saved: The officer: Brian Otieno (o2) is already on standby then"), sentence
    assert context.roster.slot(primary.id).officer_id == "o3"  # type: ignore[union-attr]


def test_two_slots_swapped(context: Context, team: dict[str, Slot], clock: list[datetime]) -> None:
    later, = roster.add_slots(context, [slot("o3", T0 + timedelta(days=5), 48)], "duty")
    ok, sentence, _ = commands.swap(context, DUTY, team["primary"].id, later.id, "at their request")
    assert ok, sentence
    assert context.roster.slot(team["primary"].id).officer_id == "o3"  # type: ignore[union-attr]
    assert context.roster.slot(later.id).officer_id == "o1"  # type: ignore[union-attr]
    assert sentence.startswith("Swapped: Africa primary, Chen Wei,")
    [entry] = _ui_audit(context, "roster.swap")
    assert entry["after"] == {team["primary"].id: "o3", later.id: "o1"}
    assert commands.swap(context, DUTY, later.id, None, None)[1] == "Not saved: Choose the slot to swap with."
    assert commands.swap(context, DUTY, later.id, later.id, None)[0] is False


def test_a_slot_removed(context: Context, team: dict[str, Slot]) -> None:
    alternate = team["alternate"]
    ok, sentence, _ = commands.remove_slot(context, DUTY, alternate.id)
    assert ok and sentence.startswith("Removed: Africa alternate, Brian Otieno,"), sentence
    assert context.roster.slot(alternate.id) is None
    assert _roster_events(context)[-1] == "roster.slot_removed"
    assert [e["target"] for e in _ui_audit(context, "roster.slot_remove")] == [alternate.id]
    ok, sentence, _ = commands.remove_slot(context, DUTY, alternate.id)
    assert not ok and sentence.startswith("Not saved: no standby slot"), sentence


def test_leave_recorded_says_the_standby_it_takes_and_is_removed(context: Context, team: dict[str, Slot]) -> None:
    ok, sentence, warnings = commands.add_leave(context, DUTY, {"officer_id": "o1", "kind": "leave",
                                                                "start": "2026-03-03 00:00", "end": "2026-03-06 00:00",
                                                                "note": "family"})
    assert ok, sentence
    assert sentence == "Recorded: Amina Diallo leave from 2026-03-03 00:00 UTC to 2026-03-06 00:00 UTC."
    assert len(warnings) == 1 and "Amina Diallo" in warnings[0] and "primary" in warnings[0], warnings
    [period] = context.roster.leave()
    assert (period.officer_id, period.kind, period.note) == ("o1", "leave", "family")
    [entry] = _ui_audit(context, "roster.leave_add")
    assert entry["target"] == "o1"
    # the same absence twice: refused
    ok, sentence, _ = commands.add_leave(context, DUTY, {"officer_id": "o1", "kind": "unavailable",
                                                         "start": "2026-03-04 00:00", "end": "2026-03-05 00:00"})
    assert not ok, sentence
    ok, sentence, _ = commands.remove_leave(context, DUTY, period.id)
    assert ok and sentence.startswith("Removed: Amina Diallo's leave from 2026-03-03"), sentence
    assert context.roster.leave() == []
    assert [e["target"] for e in _ui_audit(context, "roster.leave_remove")] == ["o1"]
    assert commands.remove_leave(context, DUTY, None)[1] == "Select the leave first (click its row)."
    ok, sentence, _ = commands.add_leave(context, DUTY, {"officer_id": "nobody", "start": "2026-03-04 00:00",
                                                         "end": "2026-03-05 00:00"})
    assert not ok and "unknown officer" in sentence, sentence


@pytest.mark.parametrize("who", [DESK, WALL], ids=["regional_desk", "wall"])
def test_a_role_that_may_not_edit_is_refused_audited_and_changes_nothing(context: Context, team: dict[str, Slot], who: Principal) -> None:
    before_events = len(_roster_events(context))
    primary = team["primary"]
    answers = [
        commands.add_slot(context, who, _form()),
        commands.replace_officer(context, who, primary.id, "o3", "x"),
        commands.swap(context, who, primary.id, team["alternate"].id, None),
        commands.remove_slot(context, who, primary.id),
        commands.add_leave(context, who, {"officer_id": "o1", "start": "2026-03-03 00:00", "end": "2026-03-04 00:00"}),
    ]
    assert all(a == (False, commands.NOT_ALLOWED, []) for a in answers), answers
    assert len(_roster_events(context)) == before_events
    assert context.roster.slot(primary.id).officer_id == "o1"  # type: ignore[union-attr]
    denied = [e for e in context.audit.query(AuditQuery(action="access.denied")) if e.get("actor") == who.name]
    assert {e["detail"]["wanted"] for e in denied} == {"roster.slots_add", "roster.override", "roster.swap",
                                                      "roster.slot_remove", "roster.leave_add"}


def _rotation(**values: Any) -> dict[str, Any]:
    base = {"officers": ["o2", "o3"], "region": "", "pattern": "round_robin", "start": "2026-03-10 08:00",
            "weeks": 4, "period_days": 7.0, "handover": "08:00", "readiness_hours": 24, "alternate_readiness_hours": 48}
    return {**base, **values}


def test_a_rotation_is_previewed_without_storing_then_laid_out(context: Context, team: dict[str, Slot]) -> None:
    before = (len(context.roster.slots()), len(_roster_events(context)))
    ok, sentence, planned = commands.rotation(context, DUTY, _rotation(), store=False)
    assert ok, sentence
    assert (len(context.roster.slots()), len(_roster_events(context))) == before  # a preview stores nothing
    assert len(planned) == 8 and {s.region for s in planned} == {None}
    assert sentence == ("Preview: 8 slots, 2026-03-10 08:00 UTC to 2026-04-07 08:00 UTC, covering Worldwide: "
                        "primary Brian Otieno 2, Chen Wei 2; alternate Chen Wei 2, Brian Otieno 2. "
                        "Nothing is stored until you lay it out.")
    assert {(s.role, s.readiness_hours) for s in planned} == {("primary", 24), ("alternate", 48)}
    ok, sentence, made = commands.rotation(context, DUTY, _rotation(), store=True)
    assert ok and sentence.startswith("Laid out: 8 slots"), sentence
    assert len(context.roster.slots()) == before[0] + 8
    assert [(s.officer_id, s.start, s.role) for s in made] == [(s.officer_id, s.start, s.role) for s in planned]
    assert _roster_events(context)[-1] == "roster.rotation_generated"
    [entry] = _ui_audit(context, "roster.rotation")
    assert entry["after"] == {"slots": 8} and entry["detail"]["officers"] == ["o2", "o3"]
    # the same again overlaps what was just laid out: refused naming the officer
    ok, sentence, _ = commands.rotation(context, DUTY, _rotation(), store=True)
    assert not ok and "Brian Otieno (o2) is already on standby then" in sentence, sentence


def test_a_rotation_refused_in_words(context: Context, team: dict[str, Slot]) -> None:
    ok, sentence, planned = commands.rotation(context, DUTY, _rotation(officers=[], start=""), store=False)
    assert not ok and planned == []
    assert sentence == "Not possible: Choose the officers who take turns. Give the start, as year-month-day hour:minute (UTC)."
    ok, sentence, _ = commands.rotation(context, DUTY, _rotation(officers=["o1", "o2", "o3"], pattern="paired"), store=False)
    assert not ok and "even" in sentence, sentence
    ok, sentence, _ = commands.rotation(context, DUTY, _rotation(start="2020-03-10 08:00"), store=True)
    assert not ok and "in the past" in sentence, sentence
    assert any(d.get("feed") == "ui" for d in context.feed_log.dead_letters())  # the one sent is kept; previews are not
    ok, sentence, _ = commands.rotation(context, DESK, _rotation(), store=True)
    assert (ok, sentence) == (False, commands.NOT_ALLOWED)


def _upload(path: Any) -> str:
    import base64

    return "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()


def test_officers_imported_from_a_file_on_the_page(context: Context, clock: list[datetime], tmp_path: Any) -> None:
    from pathlib import Path

    samples = Path(__file__).resolve().parents[1] / "samples" / "roster"
    ok, sentence, lines = commands.import_officers(context, DUTY, "officers.csv", _upload(samples / "officers.csv"))
    assert ok and sentence == "officers.csv: 5 new officers, 0 updated, 5 rows refused.", sentence
    assert len(lines) == 5 and lines[0].startswith("Row 6 refused: The skills: ") and "juggling" in lines[0], lines
    assert lines[2] == "Row 8 refused: The home latitude must be at most 90.", lines
    assert len(context.roster.officers()) == 5
    [entry] = _ui_audit(context, "roster.officers_import")
    assert entry["after"] == {"accepted": 5, "updated": 0} and entry["detail"]["file"] == "officers.csv"
    assert sum(1 for d in context.feed_log.dead_letters() if d.get("feed") == "roster") == 5  # each refused row kept
    again = commands.import_officers(context, DUTY, "officers.csv", _upload(samples / "officers.csv"))
    assert again[1] == "officers.csv: 0 new officers, 5 updated, 5 rows refused."
    # every row bad: nothing stored, said so
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "X1", "name": "X", "home": {"name": "A", "lat": 1, "lon": 1}, "region": "mars", "skills": [], "languages": []}]')
    ok, sentence, lines = commands.import_officers(context, DUTY, "bad.json", _upload(bad))
    assert not ok and sentence.startswith("Not imported: bad.json: 0 new officers") and "mars" in lines[0], (sentence, lines)
    # a swapped home: stored, and the warning listed
    swapped = tmp_path / "swapped.json"
    swapped.write_text('[{"id": "X2", "name": "Nadia", "home": {"name": "Amman", "lat": 35.93, "lon": 31.95, "country": "JOR"},'
                       ' "region": "middle_east_north_africa", "skills": [], "languages": ["ar"]}]')
    ok, sentence, lines = commands.import_officers(context, DUTY, "swapped.json", _upload(swapped))
    assert ok and lines and lines[0].startswith("Row 1: Nadia's home (35.93, 31.95) lies in Türkiye"), lines
    # not a roster file, not readable, not JSON: refused in words, nothing stored
    assert commands.import_officers(context, DUTY, "roster.xlsx", _upload(swapped))[1].startswith("Not imported: choose a .csv or .json")
    assert commands.import_officers(context, DUTY, "x.csv", "data:text/csv;base64,%%%")[1] == "Not imported: the file could not be read; choose it again."
    broken = tmp_path / "broken.json"
    broken.write_text("[")
    ok, sentence, _ = commands.import_officers(context, DUTY, "broken.json", _upload(broken))
    assert not ok and sentence.startswith("Not imported: ") and "Field" not in sentence, sentence
    # a desk may not
    assert commands.import_officers(context, DESK, "officers.csv", _upload(samples / "officers.csv"))[:2] == (False, commands.NOT_ALLOWED)


def test_the_shift_log_says_roster_changes_with_names_and_reasons(context: Context, team: dict[str, Slot]) -> None:
    from datetime import timezone

    from crisis import views_shiftlog

    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert commands.replace_officer(context, DUTY, team["primary"].id, "o3", "Amina is sick")[0]
    assert commands.add_leave(context, DUTY, {"officer_id": "o2", "start": "2026-03-03 00:00", "end": "2026-03-04 00:00",
                                              "note": "family"})[0]
    assert commands.add_slot(context, DUTY, _form(officer_id="o1", start="2026-03-12 08:00", end="2026-03-19 08:00"))[0]
    [added] = [s for s in context.roster.slots() if s.officer_id == "o1"]
    assert commands.remove_slot(context, DUTY, team["alternate"].id)[0]
    assert commands.swap(context, DUTY, team["primary"].id, added.id, "at their request")[0]
    log = views_shiftlog.log_entries(context, DUTY, since, datetime.now(timezone.utc) + timedelta(minutes=1))
    texts = [e["text"] for e in log if e["kind"] == "roster"][::-1]  # oldest first
    assert texts == [
        "Standby slot given to another officer: Amina Diallo -> Chen Wei (Amina is sick)",
        "Leave recorded: Brian Otieno: leave 3 Mar 00:00 to 4 Mar 00:00 UTC (family)",
        "Standby slots added: 1 slot for Amina Diallo",
        "Standby slot removed: Brian Otieno: Africa alternate 1 Mar 12:00 to 4 Mar 12:00 UTC",
        "Standby slots swapped: Amina Diallo <-> Chen Wei (at their request)",
    ], texts


def test_a_slots_times_and_readiness_changed(context: Context, team: dict[str, Slot]) -> None:
    primary = team["primary"]  # 2026-03-01 12:00 to 2026-03-04 12:00, 24 h
    ok, sentence, _ = commands.change_slot(context, DUTY, primary.id, {"start": "2026-03-01 12:00", "end": "2026-03-05 08:00",
                                                                        "readiness_hours": 48, "note": "extended for the drill"})
    assert ok, sentence
    after = context.roster.slot(primary.id)
    assert after is not None and after.end.isoformat() == "2026-03-05T08:00:00+00:00" and after.readiness_hours == 48
    assert after.start == primary.start and after.officer_id == "o1"
    assert sentence == ("Changed: Africa primary, Amina Diallo, 2026-03-01 12:00 UTC to 2026-03-05 08:00 UTC, "
                        "readiness 48 h.")
    [entry] = _ui_audit(context, "roster.slot_change")
    assert entry["before"] == {"end": "2026-03-04T12:00:00+00:00", "readiness_hours": 24, "note": None}
    assert entry["after"]["end"] == "2026-03-05T08:00:00+00:00" and entry["detail"] == {"note": "extended for the drill"}
    # the same again: nothing to change, nothing stored
    events = len(_roster_events(context))
    same = commands.change_slot(context, DUTY, primary.id, {"start": "2026-03-01 12:00", "end": "2026-03-05 08:00",
                                                            "readiness_hours": 48, "note": "extended for the drill"})
    assert same[0] is False and same[1].startswith("Nothing to change") and len(_roster_events(context)) == events
    # an end before the start, an overlap with the officer's other slot: refused in words
    ok, sentence, _ = commands.change_slot(context, DUTY, primary.id, {"start": "2026-03-01 12:00", "end": "2026-02-28 08:00",
                                                                        "readiness_hours": 48})
    assert not ok and sentence.startswith("Not saved: The end: ends (2026-02-28T08:00:00+00:00) at or before it starts"), sentence
    later, = roster.add_slots(context, [slot("o1", T0 + timedelta(days=5), 48)], "duty")
    ok, sentence, _ = commands.change_slot(context, DUTY, later.id, {"start": "2026-03-04 12:00", "end": "2026-03-09 12:00",
                                                                      "readiness_hours": 24})
    assert not ok and "Amina Diallo (o1) is already on standby then" in sentence, sentence
    assert commands.change_slot(context, DUTY, None, {})[1] == "Select a slot first (click its row)."
    assert commands.change_slot(context, DESK, primary.id, {"end": "2026-03-06 08:00"})[:2] == (False, commands.NOT_ALLOWED)
