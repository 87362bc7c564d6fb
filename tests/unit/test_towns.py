"""Towns by name for a report typed as a place (crisis/feeds/towns.py)."""

from __future__ import annotations

from typing import Any

from crisis.feeds import towns


def test_a_town_is_found_by_its_name_without_case_or_accents() -> None:
    beirut = towns.town("beirut")
    assert beirut is not None and beirut[2] == "Beirut"
    assert abs(beirut[0] - 33.89) < 0.1 and abs(beirut[1] - 35.50) < 0.1
    sao_paulo = towns.town("  sao   PAULO ")
    assert sao_paulo is not None and sao_paulo[2] == "São Paulo" and sao_paulo[0] < -23


def test_the_most_populous_of_a_shared_name_wins_and_unknown_names_are_none() -> None:
    tripoli = towns.town("Tripoli")
    assert tripoli is not None and 12 < tripoli[1] < 14  # Libya's capital, not Lebanon's Tripoli (35.8 E)
    assert towns.town("Nowhere-on-earth") is None
    assert towns.town("") is None


def test_a_countrys_own_name_is_the_country_not_its_capital() -> None:
    assert towns.town("Djibouti") is not None  # a town of that name exists...
    assert towns.is_country("Djibouti") and towns.is_country("lbn")  # ...but the country is meant
    assert not towns.is_country("Beirut")


def test_a_shared_name_gives_the_town_with_its_country_and_the_others_in_other_countries(countries: Any) -> None:
    found = towns.find("Tripoli", countries)
    assert found is not None and found.town is not None
    assert found.town.label == "Tripoli, Libya" and found.town.country == "LBY"
    assert "Tripoli, Lebanon" in [t.label for t in found.others]
    assert len({t.country for t in found.others} | {found.town.country}) == 1 + len(found.others)  # one per country


def test_the_other_is_picked_by_naming_its_country_after_the_town(countries: Any) -> None:
    for typed in ("Tripoli, Lebanon", "Tripoli LBN", "tripoli (LB)", "Tripoli lebanon"):
        found = towns.find(typed, countries)
        assert found is not None and found.town is not None, typed
        assert found.town.label == "Tripoli, Lebanon" and 35.5 < found.town.lon < 36.2, typed
        assert [t.label for t in found.others][0] == "Tripoli, Libya"
    nowhere = towns.find("Tripoli, Kenya", countries)
    assert nowhere is not None and nowhere.town is None and nowhere.country_asked == "Kenya"
    assert towns.find("Nowhere-on-earth, Lebanon", countries) is None
    single = towns.find("Beirut", countries)
    assert single is not None and single.town is not None and single.town.label == "Beirut, Lebanon" and single.others == ()
