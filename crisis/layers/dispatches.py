"""What the roster and dispatch pages draw, from the read model's answers (no I/O).

- ``coverage_figure``: the 30-day coverage timeline (plotly), one row per region plus
  "Worldwide 24 h"; each segment of cover green, each gap (below the minimum) red.
- ``standby_counts``: the "standby now" figures pushed to every reader ("roster" message).
- ``warning_text`` / ``warning_for``: a coverage warning as a line a reader reads; for a
  viewer that may not receive names (a wall) without the officer (id or name).
- ``dispatch_rows`` / ``eta_text``: the active dispatches as the pages list them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from crisis.domain.regions import REGIONS
from crisis.roster.ranking import language_name, words

WORLDWIDE_ROW = "Worldwide (24 h)"
COVER_COLOUR = "#2e7d32"
THIN_COLOUR = "#f0a202"
GAP_COLOUR = "#c62828"

# Why a warning matters, in a line that names no one (walls, and the header badge's tooltip).
KIND_LABELS = {
    "worldwide_24h_low": "Too few officers at 24 h readiness worldwide",
    "region_uncovered": "Region without standby cover",
    "language_missing": "No speaker of a required language on standby",
    "skill_missing": "Required skill missing on standby",
    "standby_too_long": "An officer on standby longer than the rest rule allows",
    "dispatch_gap": "A dispatch left a standby slot empty",
}
# The fields of a warning a viewer without names may receive.
ANONYMOUS_WARNING_FIELDS = ("kind", "region", "skill", "language", "from", "to")


def _time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).astimezone(UTC)


def short_time(value: str | None) -> str:
    """"2026-12-01 18:00 UTC" (or "-")."""
    if not value:
        return "-"
    return _time(value).strftime("%Y-%m-%d %H:%M UTC")


def region_label(region: str | None) -> str:
    return "Worldwide" if not region else REGIONS.get(region, region)


def warning_for(warning: Mapping[str, Any], sees_names: bool) -> dict[str, Any]:
    """A warning as a viewer may receive it: a wall gets no officer id. The rules' messages
    name no one (``crisis.roster.coverage`` says "an officer"), so a wall reads the same
    sentence as a duty officer."""
    if sees_names:
        return dict(warning)
    cut = {k: warning[k] for k in ANONYMOUS_WARNING_FIELDS if k in warning}
    cut["message"] = str(warning.get("message") or anonymous_message(warning))
    return cut


def anonymous_message(warning: Mapping[str, Any]) -> str:
    kind = str(warning.get("kind") or "")
    text = KIND_LABELS.get(kind, kind.replace("_", " ") or "Coverage warning")
    detail = [region_label(warning["region"]) if warning.get("region") else None,
              str(warning["skill"]).replace("_", " ") if warning.get("skill") else None,
              str(warning["language"]) if warning.get("language") else None]
    detail_text = ", ".join(d for d in detail if d)
    return f"{text}" + (f" ({detail_text})" if detail_text else "")


def warning_text(warning: Mapping[str, Any]) -> str:
    """One line: what, from when to when (the rules' own message says it already)."""
    if warning.get("message") and warning.get("message") != anonymous_message(warning):
        return str(warning["message"])
    return f"{anonymous_message(warning)}: {short_time(warning.get('from'))} to {short_time(warning.get('to'))}"


def standby_counts(standby: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """{"total", "by_region": {region or "worldwide": n}, "readiness_24h": n} of the
    officers on standby now (``views_roster.standby(...)["standby"]``)."""
    total = 0
    ready = 0
    by_region: dict[str, int] = {}
    for entry in standby:
        total += 1
        key = entry.get("region") or "worldwide"
        by_region[key] = by_region.get(key, 0) + 1
        if int(entry.get("readiness_hours") or 0) == 24:
            ready += 1
    return {"total": total, "by_region": by_region, "readiness_24h": ready}


def coverage_figure(coverage: Mapping[str, Any] | None, regions: Sequence[str] = tuple(REGIONS),
                    min_worldwide_24h: int = 2, min_per_region: int = 1, required_languages: Sequence[str] = (),
                    required_skills: Sequence[str] = ()) -> go.Figure:
    """The coverage timeline: a row per region, one for 24 h readiness worldwide, and one
    per required language and skill (at least one on standby); a bar per
    piecewise-constant segment, green where cover holds, amber when thin (one above the
    minimum is not reached but cover exists), red for a gap (below the minimum)."""
    fig = go.Figure()
    rows: list[tuple[str, list[Mapping[str, Any]], int]] = [
        (WORLDWIDE_ROW, list((coverage or {}).get("worldwide_24h") or []), min_worldwide_24h)]
    region_segments = (coverage or {}).get("regions") or {}
    for region in regions:
        rows.append((region_label(region), list(region_segments.get(region) or []), min_per_region))
    language_segments = (coverage or {}).get("languages") or {}
    for code in required_languages:
        rows.append((f"Speaks {language_name(code)}", list(language_segments.get(code) or []), 1))
    skill_segments = (coverage or {}).get("skills") or {}
    for skill in required_skills:
        rows.append((words(skill).capitalize(), list(skill_segments.get(skill) or []), 1))
    groups: dict[str, dict[str, list[Any]]] = {
        name: {"y": [], "base": [], "x": [], "text": []} for name in ("cover", "thin", "gap")}
    for label, segments, minimum in rows:
        for seg in segments:
            start, end = _time(seg["from"]), _time(seg["to"])
            n = int(seg.get("count") or 0)
            kind = "gap" if n < minimum else ("thin" if n == minimum and minimum > 1 else "cover")
            group = groups[kind]
            group["y"].append(label)
            group["base"].append(start.isoformat())
            group["x"].append((end - start).total_seconds() * 1000.0)
            group["text"].append(f"{label}: {n} on standby<br>{short_time(seg['from'])} to {short_time(seg['to'])}")
    names = {"cover": "covered", "thin": "at the minimum", "gap": "GAP (below the minimum)"}
    colours = {"cover": COVER_COLOUR, "thin": THIN_COLOUR, "gap": GAP_COLOUR}
    for kind in ("cover", "thin", "gap"):
        group = groups[kind]
        fig.add_trace(go.Bar(
            orientation="h", y=group["y"], base=group["base"], x=group["x"], name=names[kind],
            marker={"color": colours[kind], "line": {"width": 0}}, hovertext=group["text"], hoverinfo="text",
            showlegend=True,
        ))
    order = [label for label, _, _ in rows]
    fig.update_layout(
        barmode="overlay", height=70 + 34 * len(rows), margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis={"type": "date", "title": None}, yaxis={"categoryorder": "array", "categoryarray": order[::-1], "title": None},
        legend={"orientation": "h", "y": 1.12, "x": 0}, uirevision="coverage", bargap=0.25,
        plot_bgcolor="#fafbfc",
    )
    return fig


def eta_text(dispatch: Mapping[str, Any]) -> str:
    """"ETA 2026-12-01 18:00 UTC" (or what is known instead)."""
    status = dispatch.get("status")
    if status == "on_site":
        return "on site"
    if status == "stood_down" and dispatch.get("return_eta"):
        return "stood down: home by " + short_time(dispatch.get("return_eta"))
    if status in ("stood_down", "returned", "declined", "cancelled"):
        return str(status).replace("_", " ")
    return "ETA " + short_time(dispatch.get("eta")) if dispatch.get("eta") else "ETA unknown"


def dispatch_rows(dispatches: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per dispatch (as the viewer may see it): who (if they may), where to, status, ETA."""
    rows = []
    for d in dispatches:
        rows.append({
            "id": d.get("id"), "officer": d.get("officer_name") or d.get("officer_id") or "an officer",
            "incident": d.get("incident_title") or d.get("incident_id") or "", "incident_id": d.get("incident_id"),
            "status": d.get("status"), "eta": eta_text(d), "distance_km": d.get("distance_km"),
            "from": (d.get("origin") or {}).get("name") if isinstance(d.get("origin"), Mapping) else None,
            "created_at": short_time(d.get("created_at")),
        })
    return rows
