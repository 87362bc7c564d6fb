"""Whom can we send? The officers ranked for an incident, each rank explained in words.

The order is the rules', not a weighted sum, so a duty officer can check it at a glance:

1. available before unavailable: an officer on leave, deployed (a dispatch in
   ``ACTIVE_DISPATCH``) or resting after a deployment (returned less than
   ``rules.rest_days`` ago) is listed last, with the reason, never dropped;
2. fewer of the required skills and languages lacking first: everyone who has them all,
   then those who lack one, then two...;
3. on standby (a slot covers ``at`` and the officer is available) before not;
4. the earliest expected arrival first; then ``officer_id`` (a stable order).

``eta_hours`` = readiness notice (the standby slot's 24 or 48 h, else
``rules.off_standby_notice_hours``) + geodesic distance / ``rules.cruise_kmh`` +
``rules.overhead_hours``. Distances are geodesics on the WGS84 ellipsoid from the officer's
home duty station, computed for every officer in one vectorised ``pyproj.Geod.inv`` call
(antimeridian safe). ``score`` runs from 100 for the first down in even steps: the order,
not the score, carries the rules.

A point is ``(lat, lon)`` in degrees, like the rest of the codebase. No I/O: the time is a
parameter.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import Any

import numpy as np
from pyproj import Geod

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
from crisis.roster.slots import availability

_GEOD = Geod(ellps="WGS84")
_DAY = 86400.0


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No cyclic garbage collection while an answer of thousands of dicts is built.

    Building one allocates ~15,000 containers; the collections they trigger each traverse
    every live object (the whole roster) and, measured, made a 5,000-officer ranking take
    ~1.5x as long. Nothing here makes cycles, so collection just waits until the answer
    is built. A collector another caller had turned off stays off."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def eta_terms(rules: RosterRules) -> dict[str, float]:
    """The terms of every ETA, stated beside the answers that use them."""
    return {"cruise_kmh": rules.cruise_kmh, "overhead_hours": rules.overhead_hours,
            "off_standby_notice_hours": rules.off_standby_notice_hours}


def eta_hours(readiness_hours: float, distance_km: float, rules: RosterRules) -> float:
    return readiness_hours + distance_km / rules.cruise_kmh + rules.overhead_hours


def distances_km(point: tuple[float, float], lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Geodesic (WGS84) distances in km from each (lat, lon) to ``point``."""
    n = len(lats)
    if n == 0:
        return np.zeros(0)
    _, _, metres = _GEOD.inv(lons, lats, np.full(n, float(point[1])), np.full(n, float(point[0])))
    return np.asarray(metres, dtype=float) / 1000.0


def when(value: datetime) -> str:
    """'2 Dec 06:00 UTC': a time as a duty officer reads it."""
    return f"{day_time(value)} UTC"


def words(code: str) -> str:
    """A skill in words: 'hostage_incident_management' -> 'hostage incident management'."""
    return code.replace("_", " ")


_LANGUAGE_NAMES: dict[str, str] = {}


def language_name(code: str) -> str:
    """'ar' -> 'Arabic' (ISO 639-1 through pycountry; the code itself when unknown)."""
    name = _LANGUAGE_NAMES.get(code)
    if name is None:
        import pycountry  # its tables load on first use, not at import of this module

        found = pycountry.languages.get(alpha_2=code)
        name = str(found.name) if found is not None else code
        _LANGUAGE_NAMES[code] = name
    return name


class Availability:
    """Who is on leave, deployed or resting at one moment, with the semantics of
    ``crisis.roster.slots.availability``, over per-officer indexes built once (so 5,000
    officers cost one pass over the leave and the dispatches, not 5,000)."""

    def __init__(self, at: datetime, leave: Sequence[Leave], dispatches: Sequence[Dispatch], rules: RosterRules) -> None:
        self.at = at
        self.rules = rules
        self.leave_of: dict[str, list[Leave]] = defaultdict(list)
        for period in leave:
            if period.end > at:  # past leave cannot make anyone unavailable now
                self.leave_of[period.officer_id].append(period)
        self.on_leave = {period.officer_id for period in leave if period.start <= at < period.end}
        self.dispatches_of: dict[str, list[Dispatch]] = defaultdict(list)
        self.last_return: dict[str, datetime] = {}
        for dispatch in dispatches:
            self.dispatches_of[dispatch.officer_id].append(dispatch)
            back = dispatch.returned_at()
            if back is not None and back <= at:
                last = self.last_return.get(dispatch.officer_id)
                if last is None or back > last:
                    self.last_return[dispatch.officer_id] = back

    def of(self, officer_id: str) -> tuple[str | None, datetime | None]:
        """(None, None) available; ("deployed", None); ("on_leave", t) | ("resting", t): t when available again."""
        own_leave = self.leave_of.get(officer_id, ())
        own_dispatches = self.dispatches_of.get(officer_id, ())
        if not own_leave and not own_dispatches:
            return None, None
        return availability(officer_id, self.at, list(own_leave), list(own_dispatches), self.rules)

    def concerned(self) -> set[str]:
        """The officers on leave at ``at`` or with a dispatch: the only ones who can be unavailable."""
        return self.on_leave | set(self.dispatches_of)

    def deployment(self, officer_id: str) -> Dispatch | None:
        """The dispatch that keeps the officer deployed at ``at``."""
        for dispatch in self.dispatches_of.get(officer_id, ()):
            back = dispatch.returned_at()
            if dispatch.created_at <= self.at and (dispatch.status in ACTIVE_DISPATCH
                                                   or (back is not None and self.at < back)):
                return dispatch
        return None

    def deployed_to(self, officer_id: str) -> str | None:
        """The incident of the dispatch that keeps the officer deployed at ``at``."""
        found = self.deployment(officer_id)
        return found.incident_id if found else None


def _no_title(_incident_id: str) -> str | None:
    return None


def _incident_said(incident_id: str, title_of: Callable[[str], str | None]) -> str:
    title = title_of(incident_id)
    return f"\u201c{title}\u201d ({incident_id})" if title else incident_id


def standby_slots(at: datetime, slots: Sequence[Slot]) -> dict[str, Slot]:
    """The slot each officer is on at ``at`` (a primary before an alternate, then the shorter notice)."""
    found: dict[str, Slot] = {}
    for slot in slots:
        if slot.start <= at < slot.end:
            held = found.get(slot.officer_id)
            if held is None or (slot.role != "primary", slot.readiness_hours) < (held.role != "primary", held.readiness_hours):
                found[slot.officer_id] = slot
    return found


def _next_leave(at: datetime, leave: Sequence[Leave]) -> dict[str, datetime]:
    starts: dict[str, datetime] = {}
    for period in leave:
        if period.start > at:
            first = starts.get(period.officer_id)
            if first is None or period.start < first:
                starts[period.officer_id] = period.start
    return starts


@lru_cache(maxsize=8192)
def _terms(officer_skills: tuple[str, ...], officer_languages: tuple[str, ...], skills: tuple[str, ...],
           languages: tuple[str, ...]) -> tuple[list[str], list[str], list[str], list[str], list[str], list[str], list[str]]:
    """(skills matched, missing, languages matched, missing, the sentences saying so, the
    officer's skills and languages as lists).

    Kept across rankings (a roster has a few thousand combinations of skills and languages,
    an incident asks for the same terms again and again); the lists are shared by every
    answer that holds them, so they are read-only, as within one answer."""
    skills_matched = [s for s in skills if s in officer_skills]
    skills_missing = [s for s in skills if s not in officer_skills]
    languages_matched = [c for c in languages if c in officer_languages]
    languages_missing = [c for c in languages if c not in officer_languages]
    sentences = []
    has = []
    if skills_matched:
        has.append("has " + ", ".join(words(s) for s in skills_matched))
    if languages_matched:
        has.append("speaks " + ", ".join(language_name(c) for c in languages_matched))
    if has:
        sentence = "; ".join(has)
        sentences.append(sentence[0].upper() + sentence[1:])
    if skills_missing or languages_missing:
        sentences.append("Lacks: " + ", ".join([words(s) for s in skills_missing]
                                                 + [language_name(c) for c in languages_missing]))
    return (skills_matched, skills_missing, languages_matched, languages_missing, sentences,
            list(officer_skills), list(officer_languages))


@dataclass(frozen=True)
class Ranking:
    """The best ``len(candidates)`` of ``total`` officers ranked (all when no limit), and how
    many of all the ranked are unavailable, by reason: what a shortened answer leaves out
    is said, never silently dropped."""

    candidates: list[dict[str, Any]]
    total: int
    unavailable: dict[str, int]


def rank(point: tuple[float, float], officers: Sequence[Officer], at: datetime, slots: Sequence[Slot],
         leave: Sequence[Leave], dispatches: Sequence[Dispatch], rules: RosterRules,
         skills: Sequence[str] = (), languages: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every officer, ranked for an incident at ``point`` (lat, lon) at time ``at``."""
    return rank_top(point, officers, at, slots, leave, dispatches, rules, skills, languages).candidates


def rank_top(point: tuple[float, float], officers: Sequence[Officer], at: datetime, slots: Sequence[Slot],
             leave: Sequence[Leave], dispatches: Sequence[Dispatch], rules: RosterRules,
             skills: Sequence[str] = (), languages: Sequence[str] = (), limit: int | None = None,
             incident_title: Callable[[str], str | None] | None = None) -> Ranking:
    """Every officer ranked (the whole order is decided over all of them), the first
    ``limit`` answered in full (all when None), with the counts of the unavailable.
    A deployed officer's reason names the incident by its title when ``incident_title``
    gives one (the caller's: only for incidents its reader may see), else by its id."""
    with quiet_gc():
        return _rank(point, officers, at, slots, leave, dispatches, rules, skills, languages, limit,
                     incident_title or _no_title)


def _rank(point: tuple[float, float], officers: Sequence[Officer], at: datetime, slots: Sequence[Slot],
          leave: Sequence[Leave], dispatches: Sequence[Dispatch], rules: RosterRules,
          skills: Sequence[str], languages: Sequence[str], limit: int | None,
          incident_title: Callable[[str], str | None]) -> Ranking:
    n = len(officers)
    if n == 0:
        return Ranking([], 0, {})
    status = Availability(at, leave, dispatches, rules)
    away = {officer_id: state for officer_id in status.concerned() if (state := status.of(officer_id))[0] is not None}
    on_slot = standby_slots(at, slots)
    leave_starts = _next_leave(at, leave)
    ids = [o.id for o in officers]
    held = [None if officer_id in away else on_slot.get(officer_id) for officer_id in ids]
    notice = rules.off_standby_notice_hours
    readiness = np.fromiter((s.readiness_hours if s is not None else notice for s in held), float, n)
    km = distances_km(point, np.fromiter((o.home.lat for o in officers), float, n),
                      np.fromiter((o.home.lon for o in officers), float, n))
    eta = readiness + km / rules.cruise_kmh + rules.overhead_hours
    wanted_skills = tuple(dict.fromkeys(skills))
    wanted_languages = tuple(dict.fromkeys(languages))
    # What each officer has of what is wanted, once per distinct (skills, languages) of the
    # roster (a few hundred for 5,000 officers), kept across rankings (_terms).
    keys = [(o.skills, o.languages) for o in officers]
    terms_of = {key: _terms(key[0], key[1], wanted_skills, wanted_languages) for key in set(keys)}
    unavailable = [officer_id in away for officer_id in ids]
    # how many of the wanted skills and languages each lacks (0: all): fewer first
    lacks = {key: len(found[1]) + len(found[3]) for key, found in terms_of.items()}
    missing = np.fromiter((lacks[key] for key in keys), np.int64, n)
    off_standby = np.fromiter((s is None for s in held), np.bool_, n)
    by_id = np.empty(n, np.int64)
    by_id[np.argsort(np.asarray(ids))] = np.arange(n)
    order = np.lexsort((by_id, eta, off_standby, missing, np.asarray(unavailable, bool))).tolist()  # the last key sorts first
    if limit is not None:
        order = order[:max(limit, 0)]

    # km in whole numbers rounded as format's ",.0f" rounds (half to even), formatted as ints (faster)
    km_whole, eta_list = np.rint(km).astype(np.int64).tolist(), eta.tolist()
    distance_out = np.round(km, 1).tolist()
    eta_out = np.round(eta, 2).tolist()
    readiness_out = [s.readiness_hours if s is not None else notice for s in held]
    times: dict[datetime, str] = {}

    def said(value: datetime) -> str:
        text = times.get(value)
        if text is None:
            text = times[value] = when(value)
        return text

    not_on_standby = f"Not on standby: {notice:g} h notice assumed"
    scores = np.round(100.0 * (n - np.arange(n)) / n, 4).tolist()
    last_return = status.last_return
    ranked: list[dict[str, Any]] = []
    for position, i in enumerate(order):
        officer = officers[i]
        home = officer.home
        slot = held[i]
        (matched_skills, missing_skills, matched_languages, missing_languages, sentences,
         own_skills, own_languages) = terms_of[keys[i]]
        why: str | None = None
        until: datetime | None = None
        if unavailable[i]:
            why, until = away[officer.id]
            if why == "deployed":
                sent = status.deployment(officer.id)
                to = _incident_said(sent.incident_id, incident_title) if sent is not None else "an incident"
                reasons = [f"Deployed to {to}"]
                if sent is not None and sent.status == "stood_down" and sent.return_eta is not None:
                    reasons = [f"Deployed to {to}: stood down, expected home {said(sent.return_eta)}, "
                               f"then resting {status.rules.rest_days:g} days"]
            elif why == "on_leave" and until is not None:
                reasons = [f"On leave until {until.day} {until:%b}"]
            else:
                reasons = [f"Resting after a deployment until {said(until)}" if until is not None else "Resting"]
        elif slot is not None:
            ends = slot.end
            starts = leave_starts.get(officer.id)
            if starts is not None and starts < ends:
                ends = starts
            reasons = [f"On standby ({slot.role}, {slot.readiness_hours} h) until {said(ends)}"]
        else:
            reasons = [not_on_standby]
        reasons += sentences
        reasons.append(f"{km_whole[i]:,} km from {home.name}; can be there in {eta_list[i]:.1f} h")
        back = last_return.get(officer.id)
        ranked.append({
            "officer_id": officer.id, "name": officer.name, "region": officer.region,
            "home": {"name": home.name, "lat": home.lat, "lon": home.lon, "country": home.country},
            "rank": position + 1, "score": scores[position], "on_standby": slot is not None,
            "role": slot.role if slot is not None else None, "readiness_hours": readiness_out[i],
            "distance_km": distance_out[i], "eta_hours": eta_out[i],
            # shared by officers with the same skills and languages: read-only
            "skills": own_skills, "languages": own_languages,
            "skills_matched": matched_skills, "skills_missing": missing_skills,
            "languages_matched": matched_languages, "languages_missing": missing_languages,
            "rested_days": round((at - back).total_seconds() / _DAY, 1) if back is not None else None,
            "availability": why, "available_from": iso(until) if until is not None else None,
            "reasons": reasons,
        })
    counts: dict[str, int] = {}
    for why_away, _ in away.values():
        if why_away is not None:
            counts[why_away] = counts.get(why_away, 0) + 1
    return Ranking(ranked, n, counts)
