"""Form errors in plain words (crisis/ui/messages.py) and the lifecycle's fixed order
(crisis/ui/components/lifecycle.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crisis.config import Settings
from crisis.errors import InputError
from crisis.feeds.schemas import IncidentIn, parse
from crisis.ui.components.lifecycle import lifecycle_buttons, steps
from crisis.ui.messages import in_words


def _errors(**fields: object) -> list[dict[str, object]]:
    with pytest.raises(InputError) as caught:
        parse(IncidentIn, fields)
    return caught.value.errors


def test_a_missing_title_is_said_in_words_not_as_python() -> None:
    words = in_words(_errors(severity=3, lat=1.0, lon=2.0))
    assert words == ["Give the incident a title."]
    assert in_words(_errors(title="", severity=3, lat=1.0, lon=2.0)) == ["Give the incident a title."]


def test_every_problem_of_the_report_form_in_words() -> None:
    words = in_words(_errors(title="x", severity=9, lat=1.0, lon=2.0, radius_km=-1.0))
    assert words == ["Choose a severity from 1 (minor) to 5 (critical).", "The affected radius must be more than 0 km."]
    missing_place = in_words(_errors(title="x", severity=3))
    assert missing_place == ["Say where it happened: click the map, type coordinates or a place name."]  # lat and lon: once
    assert in_words(_errors(title="x" * 301, severity=3, lat=1.0, lon=2.0)) == ["Make the title shorter: at most 300 characters."]
    assert in_words(_errors(title="x", severity=3, lat=100.0, lon=2.0)) == [
        "The latitude must be between -90 and 90, the longitude between -180 and 180."]
    for sentence in words + missing_place:
        assert ":" not in sentence.split(" ", 1)[0] and "Field required" not in sentence and "Input should" not in sentence


def test_pydantic_errors_themselves_are_understood_too() -> None:
    try:
        IncidentIn.model_validate({"severity": "high", "lat": 1.0, "lon": 2.0, "radius_km": "far"})
    except ValidationError as exc:
        words = in_words(exc.errors())
    assert words == ["Give the incident a title.", "The severity must be a number.", "The affected radius must be a number of km."]


def test_lifecycle_next_step_first_in_one_fixed_order() -> None:
    assert [s["label"] for s in steps("reported")] == ["Verify", "Mark active", "Mark contained", "Close"]
    assert [s["to"] for s in steps("verified")] == ["active", "contained", "closed"]
    assert [s["to"] for s in steps("contained")] == ["closed", "active"]  # closing is next; flaring up is a step back
    assert [s["label"] for s in steps("closed")] == ["Reopen"]
    assert [s["primary"] for s in steps("reported")] == [True, False, False, False]
    assert [bool(s["confirm"]) for s in steps("active")] == [False, True]  # only Close asks first
    div = lifecycle_buttons("inc-1", "verified")
    classes = [b.className for b in div.children]
    assert "lifecycle-next" in classes[0] and all("lifecycle-next" not in c for c in classes[1:])
    assert getattr(div.children[-1], "data-confirm", None)


def test_closed_incidents_stay_visible_for_a_setting() -> None:
    assert Settings.from_env({}).closed_visible_minutes == 60
    assert Settings.from_env({"CRISIS_CLOSED_VISIBLE_MINUTES": "15"}).closed_visible_minutes == 15


def test_a_message_after_the_field_keeps_a_names_and_an_acronyms_capitals() -> None:
    said = in_words([
        {"field": "officer_id", "message": "Brian Otieno (o2) is already on standby then"},
        {"field": "start", "message": "UTC is assumed"},
        {"field": "end", "message": "Must be after start"},
        {"field": "note", "message": "A note may not name a person"},
    ])
    assert said == ["The officer: Brian Otieno (o2) is already on standby then.", "The start: UTC is assumed.",
                    "The end: must be after start.", "The note: a note may not name a person."]
