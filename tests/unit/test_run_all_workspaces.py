"""benchmarks/run_all.py's workspaces report: the page-load target is judged on the first map
with data (the server-drawn picture, ADR 009), with the interactive map's own figure beside
it as a row of its own, and a picture that was never painted or lacks incidents fails it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import pytest  # noqa: E402
import run_all  # noqa: E402

PAGES = ("wall", "duty officer", "regional desk")


def _run(picture_ms: float, map_ms: float, incident_s: float, unpainted: int = 0, pictured: int = 10) -> dict[str, Any]:
    pages = {}
    for name in PAGES:
        pages[name] = {
            "_raw_picture_ms": [picture_ms] * 5, "_raw_load_ms": [map_ms] * 5, "_raw_latency_s": [incident_s] * 20,
            "picture_p95_ms": picture_ms, "load_p95_ms": map_ms, "latency_p95_ms": incident_s * 1000,
            "picture_unpainted": unpainted, "picture_incidents": pictured, "missing": 0,
        }
    return {"pages": pages, "seeded": 10, "seed_incidents": 10, "travellers": 10_000, "moving_per_s": 200, "loads": 5}


@pytest.fixture(autouse=True)
def _no_details(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(run_all, "_details", lambda results, fmt: [])  # the full runs' text: not these rows
    yield


def _rows(*runs: dict[str, Any]) -> list[str]:
    rows, _ = run_all.report_workspaces(argparse.Namespace(ws_incidents=20), {"workspaces": [(r, None) for r in runs]})
    return rows


def test_three_rows_the_picture_judged_on_its_own() -> None:
    rows = _rows(_run(picture_ms=400, map_ms=3_500, incident_s=0.3))
    assert len(rows) == 3
    picture, interactive, incident = rows
    assert "first map with data" in picture and "**MET**" in picture
    assert "interactive map drawn with data" in interactive and "**NOT MET**" in interactive
    assert "incident POST -> marker drawn" in incident and "**MET**" in incident
    assert all(run_all._owner(row) == "workspaces" for row in rows)  # the merge replaces all three


def test_a_picture_unpainted_or_short_of_incidents_is_not_met() -> None:
    assert "**NOT MET**" in _rows(_run(picture_ms=400, map_ms=3_500, incident_s=0.3, unpainted=1))[0]
    assert "**NOT MET**" in _rows(_run(picture_ms=400, map_ms=3_500, incident_s=0.3, pictured=9))[0]
    assert "**NOT MET**" in _rows(_run(picture_ms=1_200, map_ms=3_500, incident_s=0.3))[0]
