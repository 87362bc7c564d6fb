"""The report form's radius: typed words, checked on the server; out of range is refused in words, never dropped."""

from __future__ import annotations

import pytest

from crisis.ui.components.report_form import RADIUS_REFUSED, radius_km
from crisis.ui.components.report_form import pinned


@pytest.mark.parametrize("typed,km", [(None, None), ("", None), ("  ", None), ("25", 25.0), (" 12.5 ", 12.5), ("0,5", 0.5),
                                      ("0.1", 0.1), ("5000", 5000.0), (7, 7.0)])
def test_a_radius_in_range_or_none_is_taken(typed: object, km: float | None) -> None:
    assert radius_km(typed) == (km, None)


@pytest.mark.parametrize("typed", ["-5", "0", "0.05", "5000.1", "6000", "lots", "nan", "inf", True, [], {"km": 5}])
def test_a_radius_out_of_range_or_not_a_number_is_refused_in_words(typed: object) -> None:
    assert radius_km(typed) == (None, RADIUS_REFUSED)
    assert RADIUS_REFUSED == "The affected radius must be between 0.1 and 5000 km."


@pytest.mark.parametrize("where", ["notadict", 1, [], {}, {"lat": "x", "lon": 1}, {"lat": 91, "lon": 0}, {"lat": True, "lon": 0},
                                   {"lat": float("nan"), "lon": 0}, {"lat": 0}])
def test_a_report_click_that_is_not_a_point_is_not_one(where: object) -> None:
    assert pinned(where) is None


def test_a_report_click_point_is_kept() -> None:
    assert pinned({"lat": 33.9, "lon": 35.5, "via": "map"}) == {"lat": 33.9, "lon": 35.5, "approximate": False}
    assert pinned({"lat": 1, "lon": 2, "approximate": True}) == {"lat": 1.0, "lon": 2.0, "approximate": True}


def test_the_incident_page_says_the_radius_who_is_affected_uses() -> None:
    """As crisis.fusion.affected joins: an area wins over a radius; neither: the severity's default."""
    from crisis.fusion.affected import DEFAULT_RADIUS_SETTING, default_radii
    from crisis.ui.components.incident_detail import radius_text

    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    assert radius_text({"radius_km": 12.5}, None) == "12.5 km"
    assert radius_text({"radius_km": 12.5, "area": square}, None) == "polygon"
    assert radius_text({"area": square}, 50.0) == "polygon"
    assert radius_text({"severity": 4}, default_radii(DEFAULT_RADIUS_SETTING)[4]) == "50 km (by severity)"
    assert radius_text({"severity": 4}, None) == "by severity"
