"""The demo's standby roster and its surge dispatch. Pure: no I/O, no clock.

``build(seed, start, rules)`` makes, always the same for a seed and a start:

* about 200 field security officers (``OFFICERS_PER_REGION``) at real duty stations
  (``crisis.sim.places.STATIONS``), each with the region of their station's country
  (``crisis.domain.regions``), a grade, one to three skills of the configured vocabulary
  and the languages one meets in that service: English nearly always, the station's
  language mostly (French in West and Central Africa, Arabic in the Middle East, Spanish
  in Latin America, Russian in the former Soviet states, Chinese in Beijing ...), and a
  few more at the shares below;
* a month of rotations made by ``crisis.roster.rotations.generate`` (the generator the
  API's POST /roster/rotations runs): one per region (``paired``, weekly, primaries at
  24 h, alternates at 48 h) and one worldwide (``round_robin``, every four days, both at
  24 h). They begin the day before ``start`` so the roster holds from the first minute;
  five weeks reach past the roster page's 30 days. Each regional pool speaks the
  language it carries (Arabic the Middle East's, French Africa's) and the worldwide pool
  holds the required skills, so without leave the roster never falls short;
* leave: a few officers off the roster on leave, and the gap the demo shows: every
  speaker of ``GAP_LANGUAGE`` on standby goes on leave for two days (from the second day
  of the month on, the first such window in which nothing else falls short), so the
  roster page warns "no French speaker on standby" and nothing else.

The dispatch a viewer follows (``dispatch_story``): a few minutes into every story cycle
the simulator dispatches the best-ranked officer to the main incident, then steps it
requested -> accepted -> travelling (positions reported along the geodesic from their
home, ``along``) -> on_site; at the ceasefire stood_down, and later returned.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any, Union

import numpy as np
import pycountry

from crisis.domain.regions import REGIONS, region_for_country
from crisis.roster import rotations
from crisis.roster.model import Home, Leave, Officer, RosterRules, Slot, iso
from crisis.sim import places as pl

OFFICERS_PER_REGION = {"africa": 52, "middle_east_north_africa": 44, "asia_pacific": 42,
                       "europe_central_asia": 32, "americas": 30}  # 200
POOL = 8  # officers in each regional rotation (even: the paired pattern)
WORLDWIDE_POOL = 10
WEEKS = 5
HANDOVER = time(8, 0)
REGION_PERIOD_DAYS, WORLDWIDE_PERIOD_DAYS = 7, 4
LEAVE_PREFIX = "demo-leave-"
GAP_LANGUAGE = "fr"
GAP_DAYS = 2
GAP_FIRST_DAY = 2  # the gap opens on the month's second day, or the first day after it that fits
CARRIER = {"ar": "middle_east_north_africa", "fr": "africa", "es": "americas", "ru": "europe_central_asia",
           "zh": "asia_pacific"}  # the regional pool that speaks a required language at all times
GRADES = (("P-3", 0.45), ("P-4", 0.30), ("P-5", 0.10), ("FS-6", 0.10), ("FS-5", 0.05))
SKILL_SHARE = {"security_analysis": 0.55, "first_aid": 0.5, "disaster_assessment": 0.25, "close_protection": 0.2,
               "stress_counselling": 0.15, "hostage_incident_management": 0.12}

_CONTINENT = {
    "Africa": "AO BF BI BJ BW CD CF CG CI CM DJ DZ EG ER ET GA GH GM GN GW KE LR LS LY MA MG ML MR MW MZ NA NE "
              "NG RW SD SL SN SO SS TD TG TN TZ UG ZA ZM ZW",
    "North America": "BB CA CR CU DO GT HN HT JM MX NI PA SV TT US",
    "South America": "AR BO BR CL CO EC PE PY UY VE",
    "Asia": "AE AF BD CN ID IN IQ IR JO JP KH KR KW KZ LA LK MM MN MY NP OM PH PK QA SA SY TH TJ TL TM UZ VN YE",
    "Oceania": "FJ PG",
    "Europe": "AL AM AT BA BE CH DE DK FR GE IT MD MK RS TR UA XK",
}
CONTINENT_OF = {code: continent for continent, codes in _CONTINENT.items() for code in codes.split()}

# The station's own languages (ISO 639-1), each spoken by most officers posted there.
_LOCAL = {
    "fr": "BF BI BJ CD CF CG CI CM DJ GA GN MG ML MR NE RW SN TD TG HT FR BE CH MA DZ TN",
    "ar": "AE DZ EG IQ JO KW LY MA OM QA SA SD SY TN YE MR DJ TD SO",
    "es": "AR BO CL CO CR CU DO EC GT HN MX NI PA PE PY SV UY VE",
    "pt": "AO BR MZ GW TL",
    "ru": "UA MD GE AM KZ TJ TM UZ KG",
    "zh": "CN",
    "sw": "KE TZ UG",
    "de": "DE AT CH",
    "it": "IT",
    "fa": "AF IR",
    "ur": "PK",
    "hi": "IN",
    "bn": "BD",
    "ne": "NP",
    "th": "TH",
    "vi": "VN",
    "id": "ID",
    "ja": "JP",
    "ko": "KR",
    "tr": "TR",
    "uk": "UA",
    "am": "ET",
    "so": "SO",
}
LOCAL_LANGUAGES: dict[str, list[str]] = {}
for _code, _countries in _LOCAL.items():
    for _country in _countries.split():
        LOCAL_LANGUAGES.setdefault(_country, []).append(_code)
LOCAL_SHARE = 0.85
# Beside English and the station's languages: the UN's working and official languages.
OTHER_SHARE = {"en": 0.95, "fr": 0.15, "es": 0.08, "ar": 0.06, "ru": 0.04, "zh": 0.02}


@dataclass(frozen=True)
class Rotation:
    """One rotation: the parameters POST /roster/rotations takes, and the slots they make."""

    region: str | None
    officer_ids: tuple[str, ...]
    start: datetime
    weeks: int
    period_days: int
    handover: time
    pattern: str
    readiness_hours: int
    alternate_readiness_hours: int
    slots: tuple[Slot, ...]

    def params(self) -> dict[str, Any]:
        """The JSON body of POST /api/v1/roster/rotations for this rotation."""
        return {"officers": list(self.officer_ids), "from": iso(self.start), "weeks": self.weeks,
                "period_days": self.period_days, "handover": self.handover.strftime("%H:%M"),
                "pattern": self.pattern, "region": self.region, "readiness_hours": self.readiness_hours,
                "alternate_readiness_hours": self.alternate_readiness_hours}


@dataclass(frozen=True)
class Gap:
    """The coverage gap the leave opens on purpose: the warning a viewer should see."""

    kind: str  # a coverage warning kind, "language_missing"
    language: str
    start: datetime
    end: datetime
    officer_ids: tuple[str, ...]  # who goes on leave for it


@dataclass(frozen=True)
class DemoRoster:
    officers: tuple[Officer, ...]
    rotations: tuple[Rotation, ...]
    leave: tuple[Leave, ...]
    gap: Gap | None

    @property
    def slots(self) -> list[Slot]:
        return [s for r in self.rotations for s in r.slots]


def build(seed: int, start: datetime, rules: RosterRules) -> DemoRoster:
    """The demo's roster for a seed and a start (aware): officers, rotations, leave."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 8]))
    officers = _officers(rng, rules)
    pools, officers = _pools(rng, officers, rules)
    day = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    rotation_start = day - timedelta(days=1)
    made = []
    for region, ids in pools.items():
        worldwide = region is None
        pattern = "round_robin" if worldwide else "paired"
        period = WORLDWIDE_PERIOD_DAYS if worldwide else REGION_PERIOD_DAYS
        alternate = 24 if worldwide else 48
        slots = rotations.generate(ids, rotation_start, WEEKS, period, HANDOVER, pattern,
                                   _numbered(f"demo-{region or 'worldwide'}-{rotation_start:%y%m%d}-"), region=region,
                                   readiness_hours=24, alternate_readiness_hours=alternate)
        made.append(Rotation(region, tuple(ids), rotation_start, WEEKS, period, HANDOVER, pattern, 24, alternate,
                             tuple(slots)))
    by_id = {o.id: o for o in officers}
    all_slots = [s for r in made for s in r.slots]
    gap = _gap(day, all_slots, by_id, rules)
    leave = _ordinary_leave(rng, officers, pools, day)
    if gap is not None:
        leave += [Leave(f"{LEAVE_PREFIX}{day:%y%m%d}-gap-{i:02d}", oid, gap.start, gap.end, "leave", "annual leave")
                  for i, oid in enumerate(gap.officer_ids, 1)]
    return DemoRoster(tuple(officers), tuple(made), tuple(leave), gap)


def _numbered(prefix: str) -> Callable[[], str]:
    """Slot ids for the plan: the store gives its own when the rotation is generated there."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):03d}"


# ---- officers ----------------------------------------------------------------------------
def region_of(station: pl.Station) -> str | None:
    return region_for_country(alpha3(station.country), CONTINENT_OF.get(station.country))


def alpha3(alpha2: str) -> str | None:
    country = pycountry.countries.get(alpha_2=alpha2)
    return country.alpha_3 if country is not None else None  # Kosovo (XK) has no ISO code


def _officers(rng: np.random.Generator, rules: RosterRules) -> list[Officer]:
    stations: dict[str, list[pl.Station]] = {r: [] for r in REGIONS}
    for station in pl.STATIONS:
        region = region_of(station)
        if region is not None:
            stations[region].append(station)
    vocabulary = list(rules.skills)
    skill_p = np.array([SKILL_SHARE.get(s, 0.3) for s in vocabulary])
    officers: list[Officer] = []
    names: set[str] = set()
    number = 0
    for region, count in OFFICERS_PER_REGION.items():
        here = stations[region]
        weights = np.sqrt([s.weight for s in here])
        picks = rng.choice(len(here), size=count, p=weights / weights.sum())
        for index in picks:
            station = here[int(index)]
            number += 1
            name = _name(rng, station.country, names)
            skills = [s for s, p in zip(vocabulary, skill_p) if rng.random() < p]
            if not skills and vocabulary:
                skills = [vocabulary[int(rng.integers(len(vocabulary)))]]
            grade = GRADES[int(rng.choice(len(GRADES), p=[g[1] for g in GRADES]))][0]
            officers.append(Officer(
                id=f"FSO-{number:03d}", name=name,
                home=Home(station.city, round(station.lat, 4), round(station.lon, 4), alpha3(station.country)),
                region=region, grade=grade, skills=tuple(skills[:3]),
                languages=_languages(rng, station.country), contact=_email(name)))
    return officers


def _name(rng: np.random.Generator, country: str, taken: set[str]) -> str:
    first, last = pl.NAMES[pl.name_pool(country)]
    while True:
        name = f"{first[int(rng.integers(len(first)))]} {last[int(rng.integers(len(last)))]}"
        if name not in taken:
            taken.add(name)
            return name


def _email(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z]+", ".", ascii_name).strip(".") + "@example.org"


def _languages(rng: np.random.Generator, country: str) -> tuple[str, ...]:
    spoken = [code for code in LOCAL_LANGUAGES.get(country, []) if rng.random() < LOCAL_SHARE]
    spoken += [code for code, share in OTHER_SHARE.items() if code not in spoken and rng.random() < share]
    return tuple(spoken or ["en"])


# ---- rotations ---------------------------------------------------------------------------
def _with(officer: Officer, languages: tuple[str, ...] = (), skills: tuple[str, ...] = ()) -> Officer:
    more_languages = tuple(c for c in languages if c not in officer.languages)
    more_skills = tuple(s for s in skills if s not in officer.skills)
    if not more_languages and not more_skills:
        return officer
    return Officer(officer.id, officer.name, officer.home, officer.region, officer.grade,
                   officer.skills + more_skills, officer.languages + more_languages, officer.contact)


def _pools(rng: np.random.Generator, officers: list[Officer],
           rules: RosterRules) -> tuple[dict[str | None, list[str]], list[Officer]]:
    """Who is on each rotation (regions in order, then None: worldwide). A regional pool
    speaks the required language it carries; the worldwide pool holds the required skills
    (officers picked for it are those who have them; the few short are trained). Other pools
    prefer officers who do not speak the gap's language."""
    carried: dict[str, list[str]] = {r: [] for r in REGIONS}
    spare = [r for r in REGIONS if r not in CARRIER.values()] + list(REGIONS)
    for n, code in enumerate(rules.required_languages):
        carried[CARRIER.get(code, spare[n % len(spare)])].append(code)
    by_id = {o.id: o for o in officers}
    avoid = _gap_language(rules)  # only its carrier's pool speaks it, so a few days' leave opens a gap
    used: set[str] = set()
    pools: dict[str | None, list[str]] = {}
    for region in REGIONS:
        need = tuple(carried[region])
        members = [o for o in officers if o.region == region]
        order = rng.permutation(len(members))
        ranked = sorted((members[int(i)] for i in order),
                        key=lambda o: (-sum(c in o.languages for c in need),
                                       avoid in o.languages and avoid not in need))
        chosen = ranked[:POOL]
        for officer in chosen:
            by_id[officer.id] = _with(officer, languages=need)
        pools[region] = [o.id for o in chosen]
        used.update(pools[region])
    rest = [o for o in officers if o.id not in used]
    order = rng.permutation(len(rest))
    needed = tuple(rules.required_skills)
    ranked = sorted((rest[int(i)] for i in order),
                    key=lambda o: (-sum(s in o.skills for s in needed), avoid in o.languages))
    world = ranked[:WORLDWIDE_POOL]
    for officer in world:
        by_id[officer.id] = _with(by_id[officer.id], skills=needed)
    pools[None] = [o.id for o in world]
    return pools, [by_id[o.id] for o in officers]


# ---- leave -------------------------------------------------------------------------------
def _ordinary_leave(rng: np.random.Generator, officers: list[Officer], pools: dict[str | None, list[str]],
                    day: datetime) -> list[Leave]:
    """Leave of officers off the roster this month: realistic, and no gap."""
    on_roster = {oid for ids in pools.values() for oid in ids}
    off = [o.id for o in officers if o.id not in on_roster]
    out = []
    for n, index in enumerate(rng.choice(len(off), size=min(8, len(off)), replace=False), 1):
        begin = day + timedelta(days=int(rng.integers(0, 24)))
        end = begin + timedelta(days=int(rng.integers(3, 11)))
        out.append(Leave(f"{LEAVE_PREFIX}{day:%y%m%d}-{n:02d}", off[int(index)], begin, end,
                         "leave" if rng.random() < 0.8 else "unavailable", None))
    return out


def _gap_language(rules: RosterRules) -> str | None:
    return GAP_LANGUAGE if GAP_LANGUAGE in rules.required_languages else next(iter(rules.required_languages), None)


def _gap(day: datetime, slots: list[Slot], officers: dict[str, Officer], rules: RosterRules) -> Gap | None:
    """Leave for every speaker of GAP_LANGUAGE on standby over two days: the first window
    from the month's second day on in which that is the only thing that falls short."""
    language = _gap_language(rules)
    if language is None:
        return None
    for first in range(GAP_FIRST_DAY, 26):
        begin, end = day + timedelta(days=first), day + timedelta(days=first + GAP_DAYS)
        during = [s for s in slots if s.start < end and s.end > begin]
        away = sorted({s.officer_id for s in during if language in officers[s.officer_id].languages})
        if away and _holds_otherwise(begin, end, during, set(away), officers, language, rules):
            return Gap("language_missing", language, begin, end, tuple(away))
    return None


def _holds_otherwise(begin: datetime, end: datetime, during: list[Slot], away: set[str],
                     officers: dict[str, Officer], language: str, rules: RosterRules) -> bool:
    """Everything but ``language`` still covered throughout [begin, end) without ``away``."""
    moments = sorted({begin} | {t for s in during for t in (s.start, s.end) if begin < t < end})
    for at in moments:
        on = [s for s in during if s.covers(at) and s.officer_id not in away]
        people = [officers[s.officer_id] for s in on]
        if sum(s.readiness_hours == 24 for s in on) < rules.min_worldwide_24h:
            return False
        if any(sum(s.region in (region, None) for s in on) < rules.min_per_region for region in rules.regions):
            return False
        if any(not any(c in o.languages for o in people) for c in rules.required_languages if c != language):
            return False
        if any(not any(k in o.skills for o in people) for k in rules.required_skills):
            return False
    return True


# ---- the dispatch a viewer follows -------------------------------------------------------
DISPATCH_AT, ACCEPT_AT, TRAVEL_AT, ON_SITE_AT = 150.0, 180.0, 210.0, 400.0
REPORT_EVERY = 10.0
STAND_DOWN_AT, RETURN_AT = 1230.0, 1740.0
DISPATCH_SKILLS: tuple[str, ...] = ()
DISPATCH_LANGUAGES = ("ar",)
# How an open dispatch is closed when the demo restarts on a kept database.
WIND_UP = {"requested": ("declined",), "accepted": ("travelling", "on_site", "stood_down", "returned"),
           "travelling": ("on_site", "stood_down", "returned"), "on_site": ("stood_down", "returned"),
           "stood_down": ("returned",)}


@dataclass(frozen=True)
class StartDispatch:
    """Dispatch the best-ranked available officer to an incident (by its source id)."""

    key: str
    incident_source_id: str
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class StepDispatch:
    key: str
    status: str
    note: str | None = None


@dataclass(frozen=True)
class ReportPosition:
    """The dispatched officer reports where they are: ``fraction`` of the way from home."""

    key: str
    fraction: float


RosterAction = Union[StartDispatch, StepDispatch, ReportPosition]
ACTIONS = (StartDispatch, StepDispatch, ReportPosition)


def dispatch_story(cycle: int, base: float, incident_source_id: str) -> list[tuple[float, RosterAction]]:
    """The timed dispatch actions of one story cycle (``base``: the cycle's start, seconds)."""
    key = f"surge-{cycle}"
    out: list[tuple[float, RosterAction]] = [
        (base + DISPATCH_AT, StartDispatch(key, incident_source_id, DISPATCH_SKILLS, DISPATCH_LANGUAGES,
                                           "Surge support to the area security coordinator, southern Lebanon.")),
        (base + ACCEPT_AT, StepDispatch(key, "accepted", "Accepted by phone.")),
        (base + TRAVEL_AT, StepDispatch(key, "travelling", "On the first flight out.")),
    ]
    t = TRAVEL_AT + REPORT_EVERY
    while t < ON_SITE_AT:
        out.append((base + t, ReportPosition(key, round((t - TRAVEL_AT) / (ON_SITE_AT - TRAVEL_AT), 4))))
        t += REPORT_EVERY
    out += [(base + ON_SITE_AT, ReportPosition(key, 1.0)),
            (base + ON_SITE_AT, StepDispatch(key, "on_site", "Arrived; reporting to the area security coordinator.")),
            (base + STAND_DOWN_AT, StepDispatch(key, "stood_down", "Ceasefire: surge support no longer needed.")),
            (base + RETURN_AT, StepDispatch(key, "returned", "Back at the duty station."))]
    return out


def along(origin: tuple[float, float], destination: tuple[float, float], fraction: float) -> tuple[float, float]:
    """The point ``fraction`` of the way along the geodesic from origin to destination (lat, lon)."""
    azimuth, _, metres = pl.GEOD.inv(origin[1], origin[0], destination[1], destination[0])
    lon, lat, _ = pl.GEOD.fwd(origin[1], origin[0], azimuth, metres * min(max(fraction, 0.0), 1.0))
    return round(float(lat), 5), round(float(lon), 5)

