"""With nobody affected, no page shows "100 %" or "0 %" accounted for: it says nobody is.

The people panel's counts (crisis/ui/components/affected_people.py), the roll-call page's
totals and grids (crisis/ui/pages/people.py) and the areas page's movements
(crisis/ui/pages/areas.py). The grids' formatters are run in Node when it is installed.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from types import ModuleType
from typing import Any

import pytest
from flask import Flask

from crisis.ui.components.affected_people import (
    NOBODY_AFFECTED,
    accounted_for,
    count_badges,
)
from crisis.ui.shell import create_dash

NOBODY = {"total": 0, "needs_help": 0, "unreachable": 0, "unsure": 0, "no_response": 0, "safe": 0}
SOME = {"total": 8, "needs_help": 1, "unreachable": 1, "unsure": 1, "no_response": 0, "safe": 5}


def _text(component: Any) -> str:
    """Every string a Dash component tree shows, as the page runs them together."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return "".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


@pytest.fixture(scope="module")
def pages() -> tuple[ModuleType, ModuleType]:
    """The two page modules, imported the way the app does (a page registers at its first import)."""
    create_dash(Flask(__name__), "offline")
    return importlib.import_module("crisis.ui.pages.people"), importlib.import_module("crisis.ui.pages.areas")


def test_accounted_for_in_words() -> None:
    assert accounted_for(0, 0.0) == NOBODY_AFFECTED
    assert accounted_for(0, 100.0) == NOBODY_AFFECTED
    assert accounted_for(None, None) == NOBODY_AFFECTED
    assert accounted_for(8, 87.5) == "87.5 % accounted for"
    assert accounted_for(3, 0.0) == "0.0 % accounted for"  # people affected, none accounted for: 0 % is true


def test_people_panel_counts_say_nobody_is_affected() -> None:
    nobody = _text(count_badges(NOBODY, 0.0))
    assert NOBODY_AFFECTED in nobody
    assert "%" not in nobody and "0.0" not in nobody and "100" not in nobody
    some = _text(count_badges(SOME, 87.5))
    assert "87.5" in some and "% accounted for" in some and NOBODY_AFFECTED not in some


def _summary(counts: dict[str, int]) -> dict[str, Any]:
    pct = round(100.0 * (counts["safe"] + counts["needs_help"] + counts["unsure"]) / counts["total"], 1) if counts["total"] else 0.0
    return {
        "incidents": [{"incident": "I1", "title": "Storm", "region": "europe_central_asia", "counts": counts, "accounted_pct": pct}],
        "areas": [],
        "regions": [{"region": "europe_central_asia", "counts": counts, "accounted_pct": pct}],
    }


def test_roll_call_totals_say_nobody_is_affected(pages: tuple[ModuleType, ModuleType]) -> None:
    people, _ = pages
    *_, totals = people.tables(_summary(NOBODY))
    assert NOBODY_AFFECTED in totals and "%" not in totals
    *_, totals = people.tables({"incidents": [], "areas": [], "regions": []})
    assert NOBODY_AFFECTED in totals and "%" not in totals
    *_, totals = people.tables(_summary(SOME))
    assert "87.5 % accounted for" in totals and "8 people" in totals


def test_incidents_that_affect_nobody_are_listed_only_when_asked_and_counted(pages: tuple[ModuleType, ModuleType]) -> None:
    # Forty droughts far from anyone buried the few incidents with people in them (audit P13).
    people, _ = pages
    summary = _summary(SOME)
    summary["incidents"] += [{"incident": f"D{n}", "title": "Drought", "region": "africa", "counts": NOBODY,
                              "accounted_pct": 0.0} for n in range(3)]
    incidents, *_ = people.tables(summary)
    assert [r["id"] for r in incidents] == ["I1"]
    incidents, *_ = people.tables(summary, with_unaffected=True)
    assert [r["id"] for r in incidents] == ["I1", "D0", "D1", "D2"]  # those with people first
    assert people.unaffected(summary) == 3
    options, style = people.unaffected_choice(3)
    assert options == [{"label": "Also list the 3 open incidents that affect nobody of ours", "value": "all"}] and style == {}
    assert people.unaffected_choice(1)[0][0]["label"] == "Also list the 1 open incident that affects nobody of ours"
    assert people.unaffected_choice(0)[1] == {"display": "none"}  # no box that lists nothing


def _format(formatter: str, value: Any, data: dict[str, Any]) -> str:
    script = (f"const params = {{value: {json.dumps(value)}, data: {json.dumps(data)}}};"
              f"process.stdout.write(String({formatter}));")
    return subprocess.run(["node", "-e", script], check=True, capture_output=True, text=True, timeout=30).stdout


def _formatter(columns: list[dict[str, Any]]) -> str:
    column = next(c for c in columns if c["field"] == "accounted_pct")
    return str(column["valueFormatter"]["function"])


@pytest.mark.skipif(shutil.which("node") is None, reason="Node runs the grid's formatter")
def test_roll_call_grid_cells_say_nobody_affected(pages: tuple[ModuleType, ModuleType]) -> None:
    people, _ = pages
    incidents, _, regions, _ = people.tables(_summary(NOBODY), with_unaffected=True)
    formatter = _formatter(people.INCIDENT_COLUMNS)
    assert _format(formatter, incidents[0]["accounted_pct"], incidents[0]) == "nobody"
    assert _format(_formatter(people.REGION_COLUMNS), regions[0]["accounted_pct"], regions[0]) == "nobody"
    incidents, *_ = people.tables(_summary(SOME))
    assert _format(formatter, incidents[0]["accounted_pct"], incidents[0]) == "87.5 %"


def _area(tally: dict[str, int] | None) -> dict[str, Any]:
    movement = None if tally is None else {
        "action": "relocation", "counts": {"to_move": tally["total"]},
        "accountability": {**tally, "accounted_pct": 100.0 * tally["safe"] / tally["total"] if tally["total"] else 0.0}}
    return {"id": "A1", "name": "South", "phase": 3 if movement else 1, "region": None, "movement": movement}


def test_areas_movement_with_nobody_says_so(pages: tuple[ModuleType, ModuleType]) -> None:
    _, areas = pages
    nobody, some, none = areas.area_rows([_area(NOBODY)]), areas.area_rows([_area(SOME)]), areas.area_rows([_area(None)])
    assert nobody[0]["accounted_pct"] is None and nobody[0]["accounted_note"] == "nobody"
    assert some[0]["accounted_pct"] == 62.5 and some[0]["accounted_note"] == ""
    assert none[0]["accounted_pct"] is None and none[0]["accounted_note"] == ""
    facts = _text(areas.area_facts(_area(NOBODY)))
    assert NOBODY_AFFECTED in facts and "% accounted" not in facts
    assert "62.5 % accounted for" in _text(areas.area_facts(_area(SOME)))
    if shutil.which("node"):
        formatter = _formatter(areas.AREA_COLUMNS)
        assert _format(formatter, None, nobody[0]) == "nobody"
        assert _format(formatter, 62.5, some[0]) == "62.5 %"
        assert _format(formatter, None, none[0]) == ""


def test_an_incident_over_several_regions_names_each_in_the_roll_call(pages: tuple[ModuleType, ModuleType]) -> None:
    # A drought over Turkey and Iraq: a Middle East desk sees it, and the row must not say
    # only "Europe and Central Asia" (its first region).
    people, _ = pages
    summary = _summary(SOME)
    summary["incidents"][0]["regions"] = ["europe_central_asia", "middle_east_north_africa"]
    summary["regions"].append({"region": "unknown", "counts": SOME, "accounted_pct": 87.5})
    incidents, _, regions, _ = people.tables(summary)
    assert incidents[0]["region_label"] == "Europe and Central Asia, Middle East and North Africa"
    assert [r["region_label"] for r in regions] == ["Europe and Central Asia", "unknown"]
    del summary["incidents"][0]["regions"]  # an older summary: its one region
    incidents, *_ = people.tables(summary)
    assert incidents[0]["region_label"] == "Europe and Central Asia"
