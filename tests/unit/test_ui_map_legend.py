"""The live map's legend (duty officer workspace, regional desk) names the incident severities
in the markers' own colours, above the traveller colours."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from crisis.domain.model import SEVERITY_LABELS
from crisis.layers.incidents import SEVERITY_COLOURS
from crisis.ui.components.live_map import map_legend, severity_legend

APP_CSS = Path(__file__).resolve().parents[2] / "assets" / "app.css"


def _classes(component: Any) -> list[str]:
    out = [str(getattr(component, "className", "") or "")]
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            out += _classes(child)
    return out


def _texts(component: Any) -> list[str]:
    children = getattr(component, "children", None)
    out: list[str] = []
    for child in children if isinstance(children, list) else [children]:
        out += [child] if isinstance(child, str) else ([] if child is None else _texts(child))
    return out


def test_the_severity_legend_lists_every_severity_worst_first() -> None:
    texts = _texts(severity_legend())
    assert texts == ["Incidents:", *[f"{s} {SEVERITY_LABELS[s]}" for s in (5, 4, 3, 2, 1)]]
    assert [c for c in _classes(severity_legend()) if c.startswith("sev-dot ")] == [f"sev-dot sev-dot-{s}" for s in (5, 4, 3, 2, 1)]


def test_the_legend_dots_are_the_markers_colours() -> None:
    css = APP_CSS.read_text(encoding="utf-8")
    found = dict(re.findall(r"\.sev-dot-(\d) \{ background: (#[0-9a-f]{6}); \}", css))
    assert {int(k): v for k, v in found.items()} == SEVERITY_COLOURS


def test_the_map_legend_holds_severities_and_travellers() -> None:
    classes = _classes(map_legend())
    assert classes[0] == "map-legend"
    assert "trav-legend sev-legend" in classes and "trav-legend" in classes
    assert "Travellers:" in _texts(map_legend())
