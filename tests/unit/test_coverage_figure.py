"""The roster page's 30-day cover timeline (crisis.layers.dispatches.coverage_figure): a
row per region, worldwide at 24 h, and each required language and skill; gaps in red."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crisis.layers.dispatches import GAP_COLOUR, coverage_figure
from crisis.roster.coverage import coverage
from crisis.roster.model import Home, Leave, Officer, RosterRules, Slot

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RULES = RosterRules(skills=("first_aid", "hostage_incident_management"), min_worldwide_24h=1, min_per_region=1,
                    required_languages=("fr",), required_skills=("hostage_incident_management",))


def _bars(fig, colour: str) -> dict[str, list[tuple[str, str]]]:
    """row label -> [(from, to)] of the bars drawn in ``colour``."""
    out: dict[str, list[tuple[str, str]]] = {}
    for trace in fig.data:
        if trace.marker.color != colour:
            continue
        for label, base, width in zip(trace.y, trace.base, trace.x):
            start = datetime.fromisoformat(base)
            out.setdefault(label, []).append((start.isoformat(), (start + timedelta(milliseconds=width)).isoformat()))
    return out


def test_a_french_gap_during_leave_is_a_red_bar_on_the_french_row_only() -> None:
    officers = {"fr1": Officer("fr1", "Amélie", Home("Dakar", 14.7, -17.4, "SEN"), "africa", "P3",
                               ("hostage_incident_management",), ("fr", "en"))}
    slots = [Slot("s1", "fr1", T0, T0 + 10 * DAY, 24, "primary", None)]
    leave = [Leave("l1", "fr1", T0 + 2 * DAY, T0 + 4 * DAY)]
    cover = coverage(officers, slots, leave, [], T0, T0 + 10 * DAY, RULES)
    fig = coverage_figure(cover, RULES.regions, RULES.min_worldwide_24h, RULES.min_per_region,
                          RULES.required_languages, RULES.required_skills)
    rows = list(fig.layout.yaxis.categoryarray)[::-1]
    assert rows[0].startswith("Worldwide") and "Speaks French" in rows and "Hostage incident management" in rows
    gaps = _bars(fig, GAP_COLOUR)
    leave_gap = [((T0 + 2 * DAY).isoformat(), (T0 + 4 * DAY).isoformat())]
    assert gaps["Speaks French"] == leave_gap
    assert gaps["Hostage incident management"] == leave_gap
    # without the required rows the French gap is nowhere on the chart but in the regions' gaps
    plain = coverage_figure(cover, RULES.regions, RULES.min_worldwide_24h, RULES.min_per_region)
    assert "Speaks French" not in list(plain.layout.yaxis.categoryarray)


def test_a_wall_reads_the_same_warning_sentences_without_the_officer() -> None:
    from crisis.layers.dispatches import warning_for

    rules = RosterRules(skills=RULES.skills, min_worldwide_24h=1, min_per_region=1, required_languages=("fr",),
                        required_skills=(), max_standby_days=3)
    officers = {"o-secret": Officer("o-secret", "Secret Name", Home("Dakar", 14.7, -17.4, "SEN"), "africa", "P3", (), ("en",))}
    slots = [Slot("s1", "o-secret", T0, T0 + 10 * DAY, 24, "primary", None)]
    warnings = coverage(officers, slots, [], [], T0, T0 + 10 * DAY, rules)["warnings"]
    kinds = {w["kind"] for w in warnings}
    assert {"language_missing", "standby_too_long"} <= kinds
    for warning in warnings:
        wall = warning_for(warning, sees_names=False)
        assert wall["message"] == warning["message"] and "officer_id" not in wall
        assert "o-secret" not in str(wall) and "Secret" not in str(wall)


def test_a_dispatch_row_says_when_a_stood_down_officer_is_home() -> None:
    from crisis.layers.dispatches import dispatch_rows

    base = {"id": "d1", "officer_name": "Ana", "incident_title": "Floods", "eta": "2026-12-03T15:00:00+00:00"}
    etas = [r["eta"] for r in dispatch_rows([
        {**base, "status": "travelling"},
        {**base, "status": "on_site"},
        {**base, "status": "stood_down", "return_eta": "2026-12-09T02:30:00+00:00"},
        {**base, "status": "stood_down"},
        {**base, "status": "cancelled"},
    ])]
    assert etas == ["ETA 2026-12-03 15:00 UTC", "on site", "stood down: home by 2026-12-09 02:30 UTC", "stood down", "cancelled"]
