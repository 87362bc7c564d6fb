"""Accountability (roll-call): each affected person's status in a scope, and the counts. Pure: no I/O.

A *scope* is what a status belongs to: ``"incident:<incident id>"`` or ``"area:<area id>"``
(an area's movement). In each scope a person is ``no_response`` until someone reports:
a duty officer (``via`` "duty_officer"), the person's own check-in ("checkin") or their
warden ("warden").

Statuses
========

============= ========== ==========================================================
status        accounted  meaning
============= ========== ==========================================================
no_response   no         nobody has reported yet (the default)
safe          yes        reported safe
needs_help    yes        located, needs help (shown first and loud everywhere)
unsure        yes        in contact, but not sure they are safe
unreachable   no         tried, could not reach them
============= ========== ==========================================================

"% accounted for" is (safe + needs_help + unsure) / total, one decimal, 0.0 when nobody
is affected. Everyone counts with ``counts`` and ``accounted_pct``.

A person in several scopes is shown (on the map) by their *worst* status:
needs_help > unreachable > unsure > no_response > safe (``worst``).

Burn-down
=========

``burndown`` answers "how many of the affected people were not accounted for, over time
since the incident began". The rule:

* the people counted are the ``total`` affected now (the incident's current affected
  list; when ``people`` is given only status changes of those people count);
* at any time ``t`` a person is accounted for when their latest status change at or
  before ``t`` is an accounted status (a later "unreachable" or "no_response" makes them
  unaccounted again);
* unaccounted(t) = total - accounted(t), never below 0;
* points: one at ``start`` (changes before ``start`` already apply), one after each
  status change between ``start`` and ``now`` that changed the number, and one at ``now``.
  Changes after ``now`` are ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

STATUSES = ("no_response", "safe", "needs_help", "unsure", "unreachable")
ACCOUNTED = frozenset({"safe", "needs_help", "unsure"})
DEFAULT_STATUS = "no_response"
# Worst first: the order a person's statuses across scopes are reduced by (``worst``).
SEVERITY_ORDER = ("needs_help", "unreachable", "unsure", "no_response", "safe")
_RANK = {status: rank for rank, status in enumerate(SEVERITY_ORDER)}

INCIDENT_SCOPE = "incident"
AREA_SCOPE = "area"


def is_status(value: object) -> bool:
    return isinstance(value, str) and value in STATUSES


def incident_scope(incident_id: str) -> str:
    return f"{INCIDENT_SCOPE}:{incident_id}"


def area_scope(area_id: str) -> str:
    return f"{AREA_SCOPE}:{area_id}"


def parse_scope(scope: str) -> tuple[str, str]:
    """("incident" | "area", id); ValueError for anything else."""
    kind, sep, ident = scope.partition(":")
    if not sep or kind not in (INCIDENT_SCOPE, AREA_SCOPE) or not ident:
        raise ValueError(f"not a scope: {scope!r} (expected 'incident:<id>' or 'area:<id>')")
    return kind, ident


def counts(statuses: Iterable[str]) -> dict[str, int]:
    """{"total", "safe", "needs_help", "unsure", "unreachable", "no_response"}.

    Anything that is not a known status counts as "no_response" (never silently dropped
    from the total)."""
    out = {"total": 0, **{status: 0 for status in STATUSES}}
    for status in statuses:
        out["total"] += 1
        out[status if status in _RANK else DEFAULT_STATUS] += 1
    return out


def accounted(c: Mapping[str, int]) -> int:
    return sum(int(c.get(status, 0)) for status in ACCOUNTED)


def accounted_pct(c: Mapping[str, int]) -> float:
    """Percentage accounted for (safe + needs_help + unsure over total), one decimal; 0.0 when total is 0."""
    total = int(c.get("total", 0))
    if total <= 0:
        return 0.0
    return round(100.0 * accounted(c) / total, 1)


def ours_first(c: Mapping[str, int], severity: int) -> tuple[int, int, int]:
    """Sort key of an incident in the lists a duty officer works from (the live map's list,
    the handover): those where our people need help first (the most needing it first), then
    those affecting any of ours, then the rest; within each, the most severe first. Sort by
    recency before, for the order within the same key (Python's sort is stable)."""
    needs_help = int(c.get("needs_help", 0))
    return (-needs_help, 0 if needs_help or int(c.get("total", 0)) > 0 else 1, -int(severity))


def worst(statuses: Iterable[str]) -> str:
    """The worst of these statuses (needs_help > unreachable > unsure > no_response > safe);
    "no_response" for none. Unknown values count as "no_response"."""
    best_rank: int | None = None
    for status in statuses:
        rank = _RANK.get(status, _RANK[DEFAULT_STATUS])
        if best_rank is None or rank < best_rank:
            best_rank = rank
    return DEFAULT_STATUS if best_rank is None else SEVERITY_ORDER[best_rank]


def _at(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def burndown(
    history: Iterable[Mapping[str, Any]],
    total: int,
    start: datetime,
    now: datetime,
    people: Collection[str] | None = None,
) -> list[tuple[datetime, int]]:
    """Unaccounted affected people over time, as (time, unaccounted) points (see the
    module's rule). ``history`` holds {"traveller_id", "status", "at" (ISO or datetime)},
    in any order; ``total`` is the number affected; ``people``, when given, the ids that
    count."""
    changes = sorted(
        ((_at(h["at"]), str(h["traveller_id"]), str(h["status"])) for h in history
         if people is None or str(h["traveller_id"]) in people),
        key=lambda change: change[0],
    )
    status: dict[str, str] = {}
    done = 0

    def apply(tid: str, new: str) -> None:
        nonlocal done
        was = status.get(tid, DEFAULT_STATUS) in ACCOUNTED
        status[tid] = new
        done += int(new in ACCOUNTED) - int(was)

    def left() -> int:
        return max(total - done, 0)

    i = 0
    while i < len(changes) and changes[i][0] <= start:
        apply(changes[i][1], changes[i][2])
        i += 1
    points = [(start, left())]
    while i < len(changes) and changes[i][0] <= now:
        when, tid, new = changes[i]
        apply(tid, new)
        i += 1
        if points[-1][0] == when:
            points[-1] = (when, left())
        elif left() != points[-1][1]:
            points.append((when, left()))
    if now > points[-1][0]:
        points.append((now, left()))
    return points
