"""Stacked incidents (crisis/layers/incidents.py ``stack``): incidents closer on the screen than
a marker's width are one place, the worst first; the figure shows only the worst, wider, and
every member carries the place's hover text (crisis/layers/map_figure.py ``incident_columns``)."""

from __future__ import annotations

from typing import Any

from crisis.layers.incidents import MARKER_PX, STACKED_PX, place_hover, stack, stack_key
from crisis.layers.map_figure import incident_columns


def _m(id_: str, lat: float, lon: float, severity: int = 3, status: str = "active",
       updated: str = "2026-12-01T10:00:00Z") -> dict[str, Any]:
    return {"incident": {"id": id_, "title": "Incident " + id_, "lat": lat, "lon": lon, "severity": severity,
                         "status": status, "updated_at": updated}}


def test_incidents_a_few_pixels_apart_are_one_place_and_the_worst_leads_it() -> None:
    # 0.05 degrees apart at the equator: ~1 px at zoom 1.2, ~187 px at zoom 10.
    messages = [_m("a", 0.0, 10.0, severity=2), _m("b", 0.0, 10.05, severity=5), _m("far", 40.0, 100.0, severity=4)]
    places = stack(messages, 1.2)
    assert [[m["incident"]["id"] for m in p] for p in places] == [["b", "a"], ["far"]]
    assert stack_key(places) == "b,a|far"
    # Zoomed in, they are apart again.
    assert stack_key(stack(messages, 10.0)) == "b|far|a"


def test_the_limit_is_a_markers_width_on_the_screen() -> None:
    # At zoom 0 the world is 512 px wide: one pixel is 360/512 degrees of longitude at the equator.
    degree_per_px = 360.0 / 512.0
    inside = [_m("a", 0.0, 0.0), _m("b", 0.0, (MARKER_PX - 1) * degree_per_px)]
    outside = [_m("a", 0.0, 0.0), _m("b", 0.0, (MARKER_PX + 1) * degree_per_px)]
    assert len(stack(inside, 0.0)) == 1
    assert len(stack(outside, 0.0)) == 2


def test_same_severity_the_latest_update_leads_and_closed_incidents_are_not_placed() -> None:
    messages = [_m("old", 10.0, 10.0, updated="2026-12-01T09:00:00Z"),
                _m("new", 10.0, 10.01, updated="2026-12-01T11:00:00Z"),
                _m("shut", 10.0, 10.02, severity=5, status="closed")]
    assert stack_key(stack(messages, 3.0)) == "new,old"


def test_across_the_antimeridian_is_one_place() -> None:
    assert len(stack([_m("w", -17.0, 179.99), _m("e", -17.0, -179.99)], 2.0)) == 1


def test_the_figure_shows_the_worst_wider_and_hides_the_others_under_it() -> None:
    messages = [_m("a", 0.0, 10.0, severity=2), _m("b", 0.0, 10.05, severity=5), _m("alone", 40.0, 100.0)]
    columns = incident_columns(messages, 1.2)
    shown = dict(zip(columns["customdata"], zip(columns["opacity"], columns["size"], columns["hovertext"])))
    assert shown["b"][:2] == (0.95, STACKED_PX)
    assert shown["a"][0] == 0.0  # under b: a hover or a click on it is the place's
    assert shown["alone"][:2] == (0.95, MARKER_PX)
    assert shown["a"][2] == shown["b"][2] and "2 incidents here" in shown["b"][2]
    assert shown["alone"][2] == "Incident alone (severity 3, active)"


def test_a_crowded_place_lists_ten_and_says_how_many_more() -> None:
    members = [_m(str(n), 0.0, 0.0) for n in range(13)]
    text = place_hover(members)
    assert text.startswith("<b>13 incidents here</b>")
    assert text.count("<br>") == 11 and text.endswith("and 3 more")
