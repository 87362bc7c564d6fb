"""``views.place_travellers`` (vectorised) places every traveller exactly as the scalar rule
``best_known_position`` does, on random data stored in the real Redis."""

from __future__ import annotations

import json
from datetime import timedelta, timezone

import numpy as np

from crisis import views
from crisis.adapters import keys
from crisis.bootstrap import Context
from crisis.domain.travellers import Fix, best_known_position, duty_station_of, itinerary_of
from tests.unit.test_people_picture import NOW, _random_profiles, _random_time


def test_place_travellers_equals_the_scalar_rule(context: Context) -> None:
    rng = np.random.default_rng(5)
    profiles = _random_profiles(rng, 800)
    reports, checkins = {}, {}
    zones = [timezone.utc, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5))]
    for p in profiles:
        for store, share in ((reports, 0.4), (checkins, 0.25)):
            if rng.random() < share:
                at = _random_time(rng).astimezone(zones[int(rng.integers(len(zones)))])
                store[p["id"]] = (round(float(rng.uniform(-60, 60)), 6), round(float(rng.uniform(-180, 180)), 6), at)
    naive = profiles[1]["id"]  # a stored time without a zone counts as UTC
    reports[naive] = (1.0, 2.0, NOW.replace(tzinfo=None) - timedelta(hours=2))
    broken = profiles[2]["id"]  # an unreadable time counts as no report
    context.redis.hset(keys.POSITIONS, broken, json.dumps([1.0, 2.0, "yesterday", "api", None, None]))
    context.redis.hset(keys.TRAVELLERS, mapping={p["id"]: json.dumps(p) for p in profiles})
    context.redis.hset(keys.POSITIONS, mapping={t: json.dumps([la, lo, at.isoformat(), "api", None, None])
                                                for t, (la, lo, at) in reports.items()})
    context.redis.hset(keys.CHECKIN_PLACES, mapping={t: json.dumps([la, lo, at.isoformat()])
                                                     for t, (la, lo, at) in checkins.items()})
    max_age = timedelta(hours=context.settings.position_max_age_hours)

    placed = views.place_travellers(context, profiles, NOW)

    def fix(found: tuple[float, float, object] | None) -> Fix | None:
        if found is None:
            return None
        at = found[2]
        return Fix(found[0], found[1], at if at.tzinfo else at.replace(tzinfo=timezone.utc))  # type: ignore[union-attr, attr-defined]

    sources = set()
    for (profile, got, country, region), p in zip(placed, profiles):
        assert profile is p
        want = best_known_position(NOW, fix(checkins.get(p["id"])), fix(reports.get(p["id"])), itinerary_of(p),
                                   duty_station_of(p), max_age)
        if want is None:
            assert got is None and country is None and region is None
            continue
        assert got is not None
        sources.add(want.source)
        assert (got.source, got.confidence, got.in_transit) == (want.source, want.confidence, want.in_transit), p["id"]
        assert abs(got.lat - want.lat) <= 2e-6 and abs(got.lon - want.lon) <= 2e-6, p["id"]
        assert got.at == want.at and got.at.isoformat() == want.at.isoformat(), p["id"]  # the same time, as written
        want_country, want_region = context.deps.countries.locate(np.array([got.lat]), np.array([got.lon]))
        assert (country, region) == (want_country[0], want_region[0])
    assert sources == {"checkin", "report", "itinerary", "duty_station"}
    assert placed[1][1] is not None and placed[1][1].source == "report"
    assert placed[2][1] is None or placed[2][1].source != "report"
