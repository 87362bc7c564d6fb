"""Read models for security areas: who is inside an area, and an area as a caller may see it.

Inside
======

A person is inside an area when their best-known position (``crisis.views.place_travellers``)
is:

* for an area with a ``geometry``: inside the polygon or MultiPolygon, edges included
  (``crisis.fusion.affected.AreaIndex``: handles MultiPolygons, rings that cross the
  antimeridian, and polar caps), in one bulk join;
* for an area given as a ``country``: in that country (the country of the best-known
  position, ``CountryIndex.locate``).

What a caller receives
======================

An area outside a regional desk's region does not exist for it (``access.may_see_region``).
Each listed person carries their accountability status in the area's scope
("area:<id>", ``RollStore.status_of``), whether they are overdue now, and, for the roles
that see names, their name, agency, category and whether essential. A role that may not
receive identities (a wall display) gets the movement's counts only: ``people`` and
``removed`` are empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from crisis.adapters.area_store import AreaStore
from crisis.adapters.roll_store import RollStore
from crisis.bootstrap import Context
from crisis.domain import access
from crisis.domain.accountability import accounted_pct, area_scope, counts
from crisis.domain.areas import with_overdue
from crisis.fusion.affected import AreaIndex, IncidentArea
from crisis.views import Placed, place_travellers

PROFILE_FIELDS = ("name", "agency", "category", "essential")


def areas(ctx: Context) -> AreaStore:
    """The area store of this context (stateless: one is made per use)."""
    found = getattr(ctx, "areas", None)
    return found if isinstance(found, AreaStore) else AreaStore(ctx.redis)


def roll(ctx: Context) -> RollStore:
    found = getattr(ctx, "roll", None)
    return found if isinstance(found, RollStore) else RollStore(ctx.redis)


def inside(area: Mapping[str, Any], lat: npt.ArrayLike, lon: npt.ArrayLike,
           country: Sequence[str | None]) -> npt.NDArray[np.bool_]:
    """Which of these positions (with the country each is in) are inside the area. Pure."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    mask = np.zeros(len(lat), dtype=bool)
    if area.get("geometry"):
        centre = area.get("centre") or {"lat": 0.0, "lon": 0.0}
        index = AreaIndex([IncidentArea(id=str(area["id"]), lat=float(centre["lat"]), lon=float(centre["lon"]),
                                        geometry=area["geometry"])])
        placed = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon))
        hits = index.join(lat[placed], lon[placed])
        mask[placed[hits.traveller]] = True
    elif area.get("country"):
        wanted = str(area["country"]).upper()
        mask[:] = [c is not None and str(c).upper() == wanted for c in country]
    return mask


def people_inside(ctx: Context, area: Mapping[str, Any], now: datetime | None = None) -> list[Placed]:
    """The travellers whose best-known position is inside the area now (each with that position)."""
    assert ctx.deps.travellers is not None
    placed = place_travellers(ctx, ctx.deps.travellers.all(), now)
    if not placed:
        return []
    lat = [p[1].lat if p[1] else np.nan for p in placed]
    lon = [p[1].lon if p[1] else np.nan for p in placed]
    mask = inside(area, lat, lon, [p[2] for p in placed])
    return [p for p, yes in zip(placed, mask.tolist()) if yes]


def area_for(viewer: access.HasRole, area: Mapping[str, Any], statuses: Mapping[str, str],
             profiles: Mapping[str, Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """One area as this viewer may receive it (the region check is the caller's). Pure.

    ``statuses``: traveller id -> status in the area's scope (missing: "no_response");
    ``profiles``: traveller id -> profile, for names (only the roles that see names get them)."""
    out = dict(area)
    movement = area.get("movement")
    if movement:
        current = with_overdue(movement, now)
        names = access.sees_names(viewer)
        people = []
        for person in current["people"]:
            entry = {**person, "status": statuses.get(person["traveller_id"], "no_response")}
            profile = profiles.get(person["traveller_id"]) or {}
            entry.update({k: profile.get(k) for k in PROFILE_FIELDS if k in profile})
            people.append(entry)
        tally = counts(p["status"] for p in people)
        current["accountability"] = {**tally, "accounted_pct": accounted_pct(tally)}
        current["people"] = people if names else []
        current["removed"] = list(current.get("removed", [])) if names else []
        out["movement"] = current
    return out


def _profiles(ctx: Context, area_list: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    ids = sorted({p["traveller_id"] for a in area_list if a.get("movement") for p in a["movement"]["people"]})
    assert ctx.deps.travellers is not None
    return ctx.deps.travellers.many(ids)


def _statuses(ctx: Context, area: Mapping[str, Any]) -> dict[str, str]:
    movement = area.get("movement")
    if not movement:
        return {}
    return roll(ctx).status_of(area_scope(str(area["id"])), [p["traveller_id"] for p in movement["people"]])


def area_view(ctx: Context, viewer: access.HasRole, area_id: str, now: datetime | None = None,
              history: bool = False) -> dict[str, Any] | None:
    """One area as the viewer may see it, or None when it does not exist for them.
    ``history``: with its closed movements (``closed_movements``)."""
    area = areas(ctx).get(area_id)
    if area is None or not access.may_see_region(viewer, area.get("region")):
        return None
    now = now or ctx.deps.clock()
    out = area_for(viewer, area, _statuses(ctx, area), _profiles(ctx, [area]), now)
    if history:
        closed = areas(ctx).closed_movements(area_id)
        out["closed_movements"] = [area_for(viewer, {"movement": m}, {}, {}, now)["movement"] for m in closed]
    return out


def areas_view(ctx: Context, viewer: access.HasRole, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every area the viewer may see, each with its open movement cut for the viewer."""
    now = now or ctx.deps.clock()
    visible = [a for a in areas(ctx).all() if access.may_see_region(viewer, a.get("region"))]
    profiles = _profiles(ctx, visible)
    scoped = [a for a in visible if a.get("movement")]
    by_scope = roll(ctx).status_many([area_scope(str(a["id"])) for a in scoped]) if scoped else {}
    return [area_for(viewer, a, by_scope.get(area_scope(str(a["id"])), {}), profiles, now) for a in visible]


def country_shapes(ctx: Context, isos: Sequence[str]) -> dict[str, dict[str, Any]]:
    """GeoJSON geometry of each of these countries (from the basemap), for drawing country areas."""
    import shapely.geometry

    table = ctx.deps.countries.countries
    wanted = {i.upper() for i in isos if i}
    rows = table[table["iso_a3"].isin(sorted(wanted))]
    return {str(iso): dict(shapely.geometry.mapping(geom)) for iso, geom in zip(rows["iso_a3"], rows.geometry)}


def open_movement_scopes(ctx: Context, traveller_id: str) -> list[str]:
    """The scopes ("area:<id>") of the open movements that list this person (for check-ins)."""
    return [area_scope(area_id) for area_id in areas(ctx).open_movements_of(traveller_id)]
