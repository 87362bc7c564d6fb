"""The people side of the demo scenario, pure: invented traveller profiles as the
travel-tracking system would export them, handset (Cursor-on-Target) reports, and the
actions the storyline asks of the duty officers' commands (an area and its phase, the
relocation's confirmation and each person's progress, check-ins, status marks).

Nothing here reads a clock or touches a database: times are passed in, randomness comes
from the scenario's seeded generators, and every action is a small frozen value that
``crisis.sim.runner`` hands to the real command handlers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Union
from xml.sax.saxutils import quoteattr

# ISO 3166-1 alpha-2 (as airportsdata names a station's country) -> alpha-3 (the export's).
ISO3 = dict(pair.split(":") for pair in """
AE:ARE AF:AFG AL:ALB AM:ARM AO:AGO AR:ARG AT:AUT BA:BIH BB:BRB BD:BGD BE:BEL BF:BFA BI:BDI BJ:BEN BO:BOL
BR:BRA BW:BWA CA:CAN CD:COD CF:CAF CG:COG CH:CHE CI:CIV CL:CHL CM:CMR CN:CHN CO:COL CR:CRI CU:CUB DE:DEU
DJ:DJI DK:DNK DO:DOM DZ:DZA EC:ECU EG:EGY ER:ERI ET:ETH FJ:FJI FR:FRA GA:GAB GE:GEO GH:GHA GM:GMB GN:GIN
GT:GTM GW:GNB HN:HND HT:HTI ID:IDN IN:IND IQ:IRQ IR:IRN IT:ITA JM:JAM JO:JOR JP:JPN KE:KEN KH:KHM KR:KOR
KW:KWT KZ:KAZ LA:LAO LB:LBN LK:LKA LR:LBR LS:LSO LY:LBY MA:MAR MD:MDA MG:MDG MK:MKD ML:MLI MM:MMR MN:MNG
MR:MRT MW:MWI MX:MEX MY:MYS MZ:MOZ NA:NAM NE:NER NG:NGA NI:NIC NP:NPL OM:OMN PA:PAN PE:PER PG:PNG PH:PHL
PK:PAK PY:PRY QA:QAT RS:SRB RW:RWA SA:SAU SD:SDN SL:SLE SN:SEN SO:SOM SS:SSD SV:SLV SY:SYR TD:TCD TG:TGO
TH:THA TJ:TJK TL:TLS TM:TKM TN:TUN TR:TUR TT:TTO TZ:TZA UA:UKR UG:UGA US:USA UY:URY UZ:UZB VE:VEN VN:VNM
XK:XKX YE:YEM ZA:ZAF ZM:ZMB ZW:ZWE
""".split())

# Calling codes for the invented phone numbers; elsewhere +888 (the ITU code once given
# to OCHA for disaster relief, so no real subscriber is ever invented).
CALLING = {"LB": 961, "JO": 962, "SY": 963, "IQ": 964, "YE": 967, "CH": 41, "US": 1, "CA": 1, "IT": 39, "AT": 43,
           "DK": 45, "FR": 33, "BE": 32, "DE": 49, "TR": 90, "EG": 20, "SD": 249, "SS": 211, "KE": 254, "ET": 251,
           "SO": 252, "CD": 243, "AF": 93, "PK": 92, "TH": 66, "NP": 977, "HT": 509, "UA": 380, "NG": 234}
EMAIL_DOMAIN = "example.org"


def email_part(text: str) -> str:
    return re.sub(r"[^a-z-]", "", text.lower().replace(" ", "-")) or "x"


def phone(country: str, digits: int) -> str:
    number = f"{digits % 100_000_000:08d}"
    return f"+{CALLING.get(country, 888)} {number[:2]} {number[2:5]} {number[5:]}"


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def segment(origin: str | dict[str, Any], destination: str | dict[str, Any], depart: datetime,
            arrive: datetime) -> dict[str, Any]:
    """One itinerary segment as the export writes it (a place: IATA code or {name, lat, lon})."""
    return {"from": origin, "to": destination, "depart": iso(depart), "arrive": iso(arrive)}


# ---- handsets (Cursor-on-Target) -----------------------------------------------------------

COT_TYPE = "a-f-G-U-C"  # friendly ground unit, as the ATAK samples
NO_FIX = 9999999.0


def cot_event(uid: str, callsign: str, lat: float | None, lon: float | None, at: datetime, *,
              battery: int = 80, speed: float = 0.0, course: float = 0.0, stale_s: float = 75.0) -> str:
    """One CoT ``<event>`` as an ATAK handset sends it (see ../shared/testdata/cot/). With
    ``lat``/``lon`` None it is a "no fix" report: 0,0 with hae and ce 9999999."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    stale = at + timedelta(seconds=stale_s)
    stale_stamp = stale.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stale.microsecond // 1000:03d}Z"
    if lat is None or lon is None:
        point = f"<point lat='0.0' lon='0.0' hae='{NO_FIX}' ce='{NO_FIX}' le='{NO_FIX}' />"
        how, source = "h-e", "USER"
    else:
        point = f"<point lat='{lat:.6f}' lon='{lon:.6f}' hae='{45.0 + (abs(lat * 1000) % 60):.1f}' ce='12.5' le='{NO_FIX}' />"
        how, source = "m-g", "GPS"
    return (
        f"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>"
        f"<event version='2.0' uid={quoteattr(uid)} type='{COT_TYPE}' time='{stamp}' start='{stamp}' "
        f"stale='{stale_stamp}' how='{how}'>{point}<detail>"
        f"<contact callsign={quoteattr(callsign)} endpoint='*:-1:stcp'/><uid Droid={quoteattr(callsign)}/>"
        f"<__group name='Cyan' role='Team Member'/><precisionlocation geopointsrc='{source}' altsrc='{source}'/>"
        f"<status battery='{battery}'/><takv platform='ATAK-CIV' device='SAMSUNG SM-G991B' os='33' version='4.10.0'/>"
        f"<track speed='{speed:.2f}' course='{course:.2f}'/></detail></event>"
    )


@dataclass(frozen=True)
class Handset:
    uid: str
    callsign: str
    index: int  # the traveller (scenario index) carrying it
    offset: float  # seconds into each report interval, so handsets do not all report at once
    no_fix: tuple[float, float] | None = None  # seconds of each story cycle without a GPS fix


# ---- actions for the command handlers --------------------------------------------------------

AREA_KEY = "south-litani"


@dataclass(frozen=True)
class AreaPhase:
    """Open the storyline's area (created the first time) at ``phase``, or change its phase."""

    key: str
    name: str
    geometry: dict[str, Any]
    phase: int
    note: str


@dataclass(frozen=True)
class ConfirmMovement:
    key: str
    safe_haven: dict[str, Any]  # {name, lat, lon}
    mode: str
    expected_arrival: datetime


@dataclass(frozen=True)
class Progress:
    key: str
    traveller_id: str
    progress: str  # to_move, moving, arrived, stayed


@dataclass(frozen=True)
class CheckIn:
    traveller_id: str
    status: str
    lat: float | None
    lon: float | None
    note: str | None


@dataclass(frozen=True)
class MarkStatus:
    """A duty officer's mark in an incident's roll (the incident named by its source_id)."""

    incident_source_id: str
    traveller_id: str
    status: str
    note: str


@dataclass(frozen=True)
class CotReport:
    body: str  # one or more CoT <event> documents


PeopleAction = Union[AreaPhase, ConfirmMovement, Progress, CheckIn, MarkStatus, CotReport]

CHECKIN_NOTES = {
    "safe": ("", "", "", "At home, all fine.", "Sheltering at the office.", "With family, safe.",
             "Staying indoors as advised."),
    "unsure": ("Hearing explosions nearby, staying in.", "Roads blocked, cannot reach the office.",
               "Power cut, phone battery low."),
    "needs_help": ("Building damaged, need transport out.", "Injured colleague with me, need medical help.",
                   "Running out of water, road cut."),
}
POSTPONED_NOTE = "Flight to Beirut postponed; staying at my duty station until further notice."
UNREACHABLE_NOTE = "No answer on phone or radio after three attempts."
