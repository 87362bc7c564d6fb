"""Coverage: how many officers stand by, when, for what, and every period it is not enough.

An officer counts while a slot covers the moment and the officer is available: not on
leave, not deployed (from the dispatch until its return, open-ended while it is active) and
not resting (``rules.rest_days`` after a return). Those are the semantics of
``crisis.roster.slots.availability``, applied to whole intervals at once:

1. per officer, the blocked intervals (leave, deployments, rest) are merged and their
   complement taken: the officer's free intervals;
2. each slot is cut by its officer's free intervals (one ``searchsorted`` over keys
   ``officer * width + time``, so every officer is done in the same array operations):
   the effective standby pieces;
3. each piece belongs to categories (24 h readiness worldwide, each region it covers: its
   own or all for a worldwide slot, each skill and language of its officer); a sweep over
   the sorted boundary times (+1 at a piece's start, -1 at its end, cumulative sum) gives
   the piecewise-constant count of every category;
4. warnings are the runs where a count falls below the minimum of ``rules``, merged.

Warnings: ``worldwide_24h_low`` (fewer than ``min_worldwide_24h`` at 24 h readiness,
whatever region their slots cover), ``region_uncovered`` (fewer than ``min_per_region``
covering a region), ``language_missing``/``skill_missing`` (no one with a required one),
``standby_too_long`` (an officer on standby without a break for more than
``max_standby_days``: from the moment the limit is passed to the end of the stretch; slots
that follow each other without a gap make one stretch) and ``dispatch_gap`` (an active
dispatch took a primary off its slot and no alternate was promoted: from the dispatch to
the slot's end). Messages name no officer (walls read them); ``officer_id`` says who.

Times are counted in whole seconds from ``start``. No I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from crisis.domain.regions import REGIONS
from crisis.errors import InputError
from crisis.roster.model import (
    ACTIVE_DISPATCH,
    Dispatch,
    Leave,
    Officer,
    RosterRules,
    Slot,
    day_time,
    iso,
)
from crisis.roster.ranking import language_name, quiet_gc, words

_DAY = 86400


def _seconds(values: list[datetime], origin: float) -> np.ndarray:
    stamps = np.fromiter((v.timestamp() for v in values), float, len(values))
    return np.floor(stamps - origin).astype(np.int64)


def _period(a: datetime, b: datetime) -> str:
    return f"from {day_time(a)} to {day_time(b)} UTC"


def _region_name(region: str) -> str:
    return REGIONS.get(region, region)


def _officers_word(n: int) -> str:
    return "officer" if n == 1 else "officers"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(i, j)]: maximal runs mask[i:j] all True."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def coverage(officers: Mapping[str, Officer], slots: Sequence[Slot], leave: Sequence[Leave],
             dispatches: Sequence[Dispatch], start: datetime, end: datetime, rules: RosterRules) -> dict[str, Any]:
    """The timeline of cover over [start, end) and its warnings (see the module docstring)."""
    if end <= start:
        raise InputError([{"field": "to", "message": f"ends ({iso(end)}) at or before it starts ({iso(start)})"}])
    with quiet_gc():
        return _coverage(officers, slots, leave, dispatches, start, end, rules)


def _coverage(officers: Mapping[str, Officer], slots: Sequence[Slot], leave: Sequence[Leave],
              dispatches: Sequence[Dispatch], start: datetime, end: datetime, rules: RosterRules) -> dict[str, Any]:
    origin = math.floor(start.timestamp())
    span = math.ceil(end.timestamp() - origin)
    pad = math.ceil(rules.max_standby_days * _DAY) + _DAY  # a stretch begun before `start` is seen whole
    lo, hi = -pad, span + pad
    width = hi - lo + 4  # keys officer * width + (t - lo) + 2 keep officers apart, sentinels included

    # the slots that touch the padded window, and their officers as small integers
    window_lo, window_hi = start - timedelta(seconds=pad), end + timedelta(seconds=pad)
    chosen = [s for s in slots if s.start < window_hi and s.end > window_lo]
    ids = sorted({s.officer_id for s in chosen})
    number = {officer_id: i for i, officer_id in enumerate(ids)}
    n_officers = len(ids)
    slot_officer = np.fromiter((number[s.officer_id] for s in chosen), np.int64, len(chosen))
    slot_start = np.clip(_seconds([s.start for s in chosen], origin), lo, hi)
    slot_end = np.clip(_seconds([s.end for s in chosen], origin), lo, hi)

    # blocked intervals: leave, deployments (open-ended while active) and the rest after a return
    block_officer: list[int] = []
    block_from: list[datetime] = []
    block_to: list[datetime] = []
    for period in leave:
        o = number.get(period.officer_id)
        if o is not None and period.start < window_hi and period.end > window_lo:
            block_officer.append(o)
            block_from.append(period.start)
            block_to.append(period.end)
    rest = timedelta(days=rules.rest_days)
    for dispatch in dispatches:
        o = number.get(dispatch.officer_id)
        if o is None:
            continue
        back = dispatch.returned_at()
        if dispatch.status in ACTIVE_DISPATCH:
            until = window_hi
        elif back is not None:
            until = back + rest
        else:
            continue  # declined: never away
        block_officer.append(o)
        block_from.append(dispatch.created_at)
        block_to.append(max(until, dispatch.created_at))
    b_officer = np.asarray(block_officer, dtype=np.int64)
    b_start = np.clip(_seconds(block_from, origin), lo, hi)
    b_end = np.clip(_seconds(block_to, origin), lo, hi)

    # 1. merged blocks per officer (with a sentinel at each end of every officer's window)
    everyone = np.arange(n_officers, dtype=np.int64) * width
    base_lo, base_hi = everyone + 2, everyone + 2 + (hi - lo)
    keys_start = np.concatenate([b_officer * width + (b_start - lo) + 2, base_lo - 1, base_hi])
    keys_end = np.concatenate([b_officer * width + (b_end - lo) + 2, base_lo, base_hi + 1])
    order = np.argsort(keys_start, kind="stable")
    keys_start, keys_end = keys_start[order], keys_end[order]
    reach = np.maximum.accumulate(keys_end) if len(keys_end) else keys_end
    firsts = np.concatenate(([0], np.flatnonzero(keys_start[1:] > reach[:-1]) + 1)) if len(keys_start) else np.zeros(0, np.int64)
    merged_start = keys_start[firsts]
    merged_end = np.maximum.reduceat(keys_end, firsts) if len(firsts) else keys_end
    free_start, free_end = merged_end[:-1], merged_start[1:]
    keep = (free_start < free_end) & (free_start // width == free_end // width)
    free_start, free_end = free_start[keep], free_end[keep]

    # 2. each slot cut by its officer's free intervals
    a = slot_officer * width + (slot_start - lo) + 2
    b = slot_officer * width + (slot_end - lo) + 2
    first = np.searchsorted(free_end, a, side="right")
    count = np.maximum(np.searchsorted(free_start, b, side="left") - first, 0)
    which = np.repeat(np.arange(len(chosen)), count)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    free = np.repeat(first, count) + offsets
    piece_start = np.maximum(a[which], free_start[free])
    piece_end = np.minimum(b[which], free_end[free])
    real = piece_start < piece_end
    which, piece_start, piece_end = which[real], piece_start[real], piece_end[real]

    warnings: list[dict[str, Any]] = []
    _too_long(piece_start, piece_end, slot_officer[which], width, lo, span, ids, (start, end, origin), rules, warnings)

    # 3. categories and the sweep
    piece_officer = slot_officer[which]
    t_start = np.clip(piece_start - piece_officer * width - 2 + lo, 0, span)
    t_end = np.clip(piece_end - piece_officer * width - 2 + lo, 0, span)
    counted = t_start < t_end
    which, t_start, t_end = which[counted], t_start[counted], t_end[counted]

    regions = list(rules.regions)
    region_number = {r: i for i, r in enumerate(regions)}
    slot_region = np.fromiter((region_number.get(s.region, -2) if s.region is not None else -1 for s in chosen),
                              np.int64, len(chosen))
    slot_24h = np.fromiter((s.readiness_hours == 24 for s in chosen), bool, len(chosen))
    people = [officers.get(officer_id) for officer_id in ids]
    skills = list(dict.fromkeys([*rules.skills, *rules.required_skills,
                                 *(s for p in people if p is not None for s in p.skills)]))
    languages = list(dict.fromkeys([*rules.required_languages,
                                    *sorted({c for p in people if p is not None for c in p.languages})]))
    officer_skill = np.zeros((n_officers, len(skills)), bool)
    officer_language = np.zeros((n_officers, len(languages)), bool)
    skill_number = {s: i for i, s in enumerate(skills)}
    language_number = {c: i for i, c in enumerate(languages)}
    for o, person in enumerate(people):
        if person is not None:
            officer_skill[o, [skill_number[s] for s in person.skills]] = True
            officer_language[o, [language_number[c] for c in person.languages]] = True

    bounds = np.unique(np.concatenate(([0, span], t_start, t_end)))
    opens = np.searchsorted(bounds, t_start)
    closes = np.searchsorted(bounds, t_end)
    nb = len(bounds)

    def sweep(member: np.ndarray) -> np.ndarray:
        """Counts on [bounds[i], bounds[i+1]) of the pieces in ``member``."""
        delta = np.bincount(opens[member], minlength=nb) - np.bincount(closes[member], minlength=nb)
        return np.cumsum(delta)[:-1]

    times: dict[int, datetime] = {0: start, nb - 1: end}

    def at(i: int) -> datetime:
        found = times.get(i)
        if found is None:
            found = times[i] = datetime.fromtimestamp(origin + int(bounds[i]), UTC)
        return found

    texts: dict[int, str] = {}

    def text(i: int) -> str:
        found = texts.get(i)
        if found is None:
            found = texts[i] = iso(at(i))
        return found

    def segments(counts: np.ndarray) -> list[dict[str, Any]]:
        changes = np.concatenate(([0], np.flatnonzero(np.diff(counts)) + 1, [nb - 1])).tolist()
        values = counts.tolist()
        return [{"from": text(i), "to": text(j), "count": values[i]} for i, j in itertools.pairwise(changes)]

    def low(counts: np.ndarray, minimum: int) -> list[tuple[datetime, datetime, int, int]]:
        return [(at(i), at(j), int(counts[i:j].min()), int(counts[i:j].max())) for i, j in _runs(counts < minimum)]

    piece_officer = slot_officer[which]
    worldwide = sweep(slot_24h[which])
    for a_, b_, least, most in low(worldwide, rules.min_worldwide_24h):
        have = f"Only {least} {_officers_word(least)}" if least == most and least else (
            "No officer" if most == 0 else f"Fewer than {rules.min_worldwide_24h} officers")
        warnings.append({"kind": "worldwide_24h_low", "from": iso(a_), "to": iso(b_),
                         "message": f"{have} on standby at 24 h readiness worldwide (minimum "
                                    f"{rules.min_worldwide_24h}) {_period(a_, b_)}"})
    region_counts: dict[str, list[dict[str, Any]]] = {}
    piece_region = slot_region[which]
    for i, region in enumerate(regions):
        counts = sweep((piece_region == i) | (piece_region == -1))
        region_counts[region] = segments(counts)
        for a_, b_, least, most in low(counts, rules.min_per_region):
            have = "No officer" if most == 0 else f"Fewer than {rules.min_per_region} officers"
            warnings.append({"kind": "region_uncovered", "region": region, "from": iso(a_), "to": iso(b_),
                             "message": f"{have} on standby for {_region_name(region)} {_period(a_, b_)}"})
    # Per skill and per language: a timeline each, and a warning while a required one has nobody.
    skill_counts: dict[str, list[dict[str, Any]]] = {}
    language_counts: dict[str, list[dict[str, Any]]] = {}
    terms = ((skills, officer_skill, skill_counts, rules.required_skills, "skill_missing", "skill",
              _nobody_with),
             (languages, officer_language, language_counts, rules.required_languages, "language_missing", "language",
              _no_speaker))
    for names, has, out, required, kind, key, missing in terms:
        for i, name in enumerate(names):
            counts = sweep(has[piece_officer, i])
            out[name] = segments(counts)
            if name in required:
                for a_, b_, _, _ in low(counts, 1):
                    warnings.append({"kind": kind, key: name, "from": iso(a_), "to": iso(b_),
                                     "message": f"{missing(name)} {_period(a_, b_)}"})
    _gaps(slots, dispatches, start, end, warnings)
    warnings.sort(key=lambda w: (w["from"], w["kind"], w.get("region") or "", w.get("skill") or "",
                                 w.get("language") or "", w.get("officer_id") or ""))
    return {"from": iso(start), "to": iso(end), "worldwide_24h": segments(worldwide), "regions": region_counts,
            "skills": skill_counts, "languages": language_counts, "warnings": warnings}


def _too_long(piece_start: np.ndarray, piece_end: np.ndarray, piece_officer: np.ndarray, width: int, lo: int,
              span: int, ids: list[str], window: tuple[datetime, datetime, int], rules: RosterRules,
              warnings: list[dict[str, Any]]) -> None:
    """standby_too_long: stretches of one officer's pieces that touch, longer than the rule."""
    if not len(piece_start):
        return
    order = np.argsort(piece_start, kind="stable")
    s, e, o = piece_start[order], piece_end[order], piece_officer[order]
    reach = np.maximum.accumulate(e)
    firsts = np.concatenate(([0], np.flatnonzero(s[1:] > reach[:-1]) + 1))
    run_start = s[firsts]
    run_end = np.maximum.reduceat(e, firsts)
    limit = rules.max_standby_days * _DAY
    for k in np.flatnonzero(run_end - run_start > limit).tolist():
        officer = int(o[firsts[k]])
        t0 = int(run_start[k]) - officer * width - 2 + lo
        t1 = int(run_end[k]) - officer * width - 2 + lo
        frm, to = max(t0 + limit, 0), min(t1, span)
        if frm >= to:
            continue
        start, end, origin = window
        a_ = start if frm <= 0 else datetime.fromtimestamp(origin + frm, UTC)
        b_ = end if to >= span else datetime.fromtimestamp(origin + to, UTC)
        began, ended = datetime.fromtimestamp(origin + t0, UTC), datetime.fromtimestamp(origin + t1, UTC)
        days = (t1 - t0) / _DAY
        warnings.append({"kind": "standby_too_long", "officer_id": ids[officer], "from": iso(a_), "to": iso(b_),
                         "message": f"An officer is on standby {days:.0f} days without a break ({_period(began, ended)}); "
                                    f"the rest rule allows {rules.max_standby_days:g}"})


def _nobody_with(skill: str) -> str:
    return f"No one with {words(skill)} on standby"


def _no_speaker(code: str) -> str:
    return f"No {language_name(code)} speaker on standby"


def _gaps(slots: Sequence[Slot], dispatches: Sequence[Dispatch], start: datetime, end: datetime,
          warnings: list[dict[str, Any]]) -> None:
    """dispatch_gap: an active dispatch took a primary off its slot and no alternate took over."""
    wanted = {d.slot_id for d in dispatches if d.status in ACTIVE_DISPATCH and d.slot_id and not d.promoted_slot_id}
    if not wanted:
        return
    by_id = {s.id: s for s in slots if s.id in wanted}
    for dispatch in dispatches:
        if dispatch.status not in ACTIVE_DISPATCH or not dispatch.slot_id or dispatch.promoted_slot_id:
            continue
        slot = by_id.get(dispatch.slot_id)
        if slot is None or slot.role != "primary":
            continue
        a_, b_ = max(dispatch.created_at, slot.start, start), min(slot.end, end)
        if a_ >= b_:
            continue
        where = _region_name(slot.region) if slot.region else "worldwide"
        warnings.append({"kind": "dispatch_gap", "region": slot.region, "officer_id": dispatch.officer_id,
                         "from": iso(a_), "to": iso(b_),
                         "message": f"A dispatch to {dispatch.incident_id} left the primary standby slot "
                                    f"({where}) empty, with no alternate to take over, {_period(a_, b_)}"})
