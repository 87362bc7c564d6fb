"""Incident categories and sub-types (crisis.domain.taxonomy) and how the API reads them."""

from __future__ import annotations

import pytest

from crisis.domain import taxonomy
from crisis.domain.model import IncidentType
from crisis.errors import InputError
from crisis.feeds.schemas import IncidentIn, IncidentPatch, parse

# The flat types the product had before categories: each stays valid, in its category.
OLD_VALUES = {
    "armed_conflict": "armed_conflict", "civil_unrest": "civil_unrest", "terrorism": "terrorism",
    "crime": "crime", "hostage": "hostage_abduction", "earthquake": "hazard", "tsunami": "hazard",
    "cyclone": "hazard", "flood": "hazard", "wildfire": "hazard", "volcano": "hazard",
    "drought": "hazard", "epidemic": "hazard", "weather": "hazard", "accident": "hazard",
    "other": "other",
}
BASE = {"title": "Something happened", "severity": 3, "lat": -1.29, "lon": 36.82}


def test_every_incident_type_is_a_sub_type_of_a_category_and_back() -> None:
    assert set(taxonomy.SUBTYPES) == {t.value for t in IncidentType}
    assert {category for category, _label in taxonomy.SUBTYPES.values()} == set(taxonomy.CATEGORIES)
    assert list(taxonomy.CATEGORIES) == ["crime", "civil_unrest", "armed_conflict", "terrorism",
                                         "hostage_abduction", "hazard", "other"]


@pytest.mark.parametrize(("old", "category"), OLD_VALUES.items())
def test_todays_values_are_kept_and_mapped(old: str, category: str) -> None:
    assert IncidentType(old).value == old
    assert taxonomy.category_of(old) == category
    assert taxonomy.category_of(IncidentType(old)) == category


@pytest.mark.parametrize(("sub_type", "category"), [
    ("armed_robbery", "crime"), ("burglary", "crime"), ("carjacking", "crime"), ("assault", "crime"),
    ("demonstration", "civil_unrest"), ("riot", "civil_unrest"),
    ("airstrike", "armed_conflict"), ("shelling", "armed_conflict"), ("exchange_of_fire", "armed_conflict"),
    ("ied", "terrorism"), ("suicide_attack", "terrorism"),
    ("kidnapping", "hostage_abduction"), ("abduction", "hostage_abduction"), ("hostage", "hostage_abduction"),
])
def test_the_issues_sub_types(sub_type: str, category: str) -> None:
    assert taxonomy.category_of(sub_type) == category


def test_choices_are_grouped_in_display_order() -> None:
    choices = taxonomy.choices()
    assert len(choices) == len(taxonomy.SUBTYPES)
    order = [c["category"] for c in choices]
    assert order == sorted(order, key=list(taxonomy.CATEGORIES).index)  # one block per category
    riot = next(c for c in choices if c["value"] == "riot")
    assert riot == {"label": "Civil unrest - Riot", "value": "riot", "category": "civil_unrest"}
    assert next(c for c in choices if c["value"] == "other")["label"] == "Other"


def test_an_unknown_type_is_refused_in_words_listing_the_categories() -> None:
    with pytest.raises(InputError) as refused:
        parse(IncidentIn, {**BASE, "type": "security"})
    error = refused.value.errors[0]
    assert error["field"] == "type"
    message = error["message"]
    assert message.startswith('"security" is not an incident type we know')
    for label in taxonomy.CATEGORIES.values():
        assert f"{label} (" in message
    assert "armed_robbery" in message and "riot" in message and "earthquake" in message
    assert "Input should be" not in message  # not pydantic's enum list
    with pytest.raises(InputError) as patched:
        parse(IncidentPatch, {"type": "security"})
    assert patched.value.errors[0]["message"] == message


def test_the_category_is_answered_checked_and_may_stand_alone() -> None:
    assert parse(IncidentIn, {**BASE, "type": "riot"}).category == "civil_unrest"
    assert parse(IncidentIn, {**BASE, "type": "riot", "category": "civil_unrest"}).type is IncidentType.RIOT
    alone = parse(IncidentIn, {**BASE, "category": "hostage_abduction"})
    assert alone.type is IncidentType.HOSTAGE
    with pytest.raises(InputError) as mismatch:
        parse(IncidentIn, {**BASE, "type": "riot", "category": "crime"})
    assert 'type "riot" belongs to category "civil_unrest"' in mismatch.value.errors[0]["message"]
    with pytest.raises(InputError) as hazard:
        parse(IncidentIn, {**BASE, "category": "hazard"})
    assert "needs a \"type\" saying which" in hazard.value.errors[0]["message"]
    with pytest.raises(InputError) as unknown:
        parse(IncidentIn, {**BASE, "category": "security"})
    assert unknown.value.errors[0]["field"] == "category"
    assert "hostage-taking and abduction (hostage_abduction)" in unknown.value.errors[0]["message"]
