"""Areas and movements as map drawing (crisis.layers.areas): colours by phase, a line
from the area to its safe haven with the counts, overdue flagged, plotly-ready."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from crisis.domain import areas as rules
from crisis.layers import areas as layers

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SQUARE = {"type": "Polygon", "coordinates": [[[35.0, 33.0], [36.0, 33.0], [36.0, 34.0], [35.0, 34.0], [35.0, 33.0]]]}
AMMAN = {"name": "Amman", "lat": 31.95, "lon": 35.93}


def area(area_id: str, phase: int, **extra: Any) -> dict[str, Any]:
    return {"id": area_id, "name": f"Area {area_id}", "phase": phase, "geometry": SQUARE, "country": None,
            "centre": {"lat": 33.5, "lon": 35.5}, "movement": None, **extra}


def movement(expected: datetime | None) -> dict[str, Any]:
    people = [{"id": f"T{i}", "category": "visitor", "essential": False} for i in range(5)]
    m = rules.open_movement("mov-1", "s", 3, people, NOW)
    if expected is not None:
        m = rules.confirm_movement(m, AMMAN, "road", expected, NOW)
    m = rules.set_progress(m, "T0", "arrived", None, "d", NOW)
    m = rules.set_progress(m, "T1", "moving", None, "d", NOW)
    return rules.set_progress(m, "T2", "moving", None, "d", NOW)


def test_area_layers_are_coloured_by_phase_in_a_fixed_order() -> None:
    country = {"LBN": {"type": "Polygon", "coordinates": [[[35, 33], [36, 33], [36, 34], [35, 33]]]}}
    shown = [area("a", 3), area("b", 5), {**area("c", 1), "geometry": None, "country": "LBN"}, area("z", 0)]
    built = layers.area_layers(shown, country)
    assert len(built) == 10  # phases I-V, fill and line each
    fills = [layer for layer in built if layer["type"] == "fill"]
    assert [f["color"] for f in fills] == [layers.PHASE_COLOURS[p] for p in (1, 2, 3, 4, 5)]
    by_phase = {f["name"]: [feat["properties"]["id"] for feat in f["source"]["features"]] for f in fills}
    assert by_phase == {"phase I": ["c"], "phase II": [], "phase III": ["a"], "phase IV": [], "phase V": ["b"]}
    assert fills[0]["source"]["features"][0]["geometry"] == country["LBN"]
    assert len(layers.area_layers(shown, country, include_phase_zero=True)) == 12
    # a country area without its shape is left out, not drawn wrong
    assert layers.area_features([{**area("c", 1), "geometry": None, "country": "LBN"}])[1]["features"] == []
    go.Figure(layout={"map": {"layers": built}})  # plotly accepts them


def test_a_movement_is_a_line_to_its_safe_haven_with_its_counts() -> None:
    shown = [area("s", 3, movement=movement(NOW + timedelta(hours=3))), area("q", 3, movement=movement(None)), area("n", 1)]
    lines = layers.movement_lines(shown, NOW)
    assert len(lines) == 1  # only a confirmed movement has somewhere to go
    line = lines[0]
    assert line["from"] == {"lat": 33.5, "lon": 35.5} and line["to"] == AMMAN
    assert line["label"] == "arrived 1 / moving 2 / to move 2" and line["overdue"] == 0
    traces = layers.movement_traces(shown, NOW)
    path, havens = traces
    assert path["lat"][0] == 33.5 and path["lon"][0] == 35.5 and path["lat"][-1] is None
    assert abs(path["lat"][-2] - AMMAN["lat"]) < 1e-4 and abs(path["lon"][-2] - AMMAN["lon"]) < 1e-4
    assert havens["text"] == ["arrived 1 / moving 2 / to move 2"] and havens["customdata"] == ["s"]
    assert havens["marker"]["color"] == [layers.ON_TIME_COLOUR]
    go.Figure([go.Scattermap(**{k: v for k, v in t.items() if k != "type"}) for t in traces])


def test_people_past_the_expected_arrival_are_counted_overdue() -> None:
    shown = [area("s", 3, movement=movement(NOW + timedelta(hours=3)))]
    late = layers.movement_lines(shown, NOW + timedelta(hours=4))[0]
    assert late["overdue"] == 4 and late["label"] == "arrived 1 / moving 2 / to move 2, 4 overdue"
    assert layers.movement_traces(shown, NOW + timedelta(hours=4))[1]["marker"]["color"] == [layers.OVERDUE_COLOUR]


def test_a_line_across_the_antimeridian_goes_the_short_way() -> None:
    _, lon = layers.great_circle(-17.5, 178.0, -13.8, -171.8)  # Fiji to Samoa
    assert all(abs(b - a) < 5 for a, b in itertools.pairwise(lon))
    assert lon[-1] > 180  # kept continuous past 180
    assert layers.movement_label({"arrived": 2, "moving": 0, "to_move": 1, "stayed": 1}) == "arrived 2 / moving 0 / to move 1, 1 stayed"


def test_closed_movements_and_unplaced_areas_draw_nothing() -> None:
    closed = rules.close_movement(movement(NOW), NOW)
    assert layers.movement_lines([area("s", 2, movement=closed)], NOW) == []
    assert layers.movement_traces([], NOW)[0]["lat"] == []


def test_the_areas_map_shades_areas_and_draws_each_movement_with_its_counts() -> None:
    shown = [area("s", 3, movement=movement(NOW + timedelta(hours=3)))]
    figure = layers.areas_figure(shown, NOW + timedelta(hours=4), "white-bg")
    path, havens = figure["data"]
    assert havens["text"] == ["arrived 1 / moving 2 / to move 2, 4 overdue"]
    assert havens["marker"]["color"] == [layers.OVERDUE_COLOUR]
    fills = [layer for layer in figure["layout"]["map"]["layers"] if layer.get("name") == "phase III" and layer["type"] == "fill"]
    assert [f["properties"]["id"] for f in fills[0]["source"]["features"]] == ["s"]
    centre = figure["layout"]["map"]["center"]  # between the area and Amman, zoomed to them
    assert 31.9 < centre["lat"] < 33.5 and figure["layout"]["map"]["zoom"] >= 5
    assert layers.areas_figure([], NOW, "white-bg")["data"][1]["text"] == []
    go.Figure(layout=figure["layout"])  # plotly accepts it
