"""Validated commands that enter the system, whatever feed they came from.

Every feed (JSON API, CAP, GDACS, USGS, the simulator, the UI form) produces these; the
command handlers accept nothing else. Validation errors become a list of
``{"field": ..., "message": ...}`` so the sender learns what was wrong and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import unicodedata
from datetime import datetime, timedelta, timezone
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pycountry
import shapely.geometry
from pydantic import (
    AfterValidator,
    BeforeValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crisis.domain.model import Incident, IncidentStatus, IncidentType
from crisis.domain.regions import REGIONS
from crisis.domain.taxonomy import (
    CATEGORIES,
    GENERAL_SUBTYPE,
    category_of,
    subtypes_of,
    unknown_type_message,
)
from crisis.errors import InputError
from crisis.feeds.health import FEEDS

# Numbers must be numbers: strict, so "3", "12.5" and true are refused (a bool is never a
# number); an int is accepted where a float is expected.
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False, strict=True)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False, strict=True)]
MAX_POSITIONS_PER_BATCH = 10_000
# Every incident's area is drawn in every later list and map: a polygon of 100,000
# vertices made each list call 50 times slower. All rings of all polygons together.
MAX_AREA_VERTICES = 10_000
# A source name becomes part of Redis key names (feed statistics): an identifier.
SOURCE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
SourceName = Annotated[str, Field(pattern=SOURCE_PATTERN)]


# How far ahead of the centre's clock a sender's time may be (its clock may run a little
# fast): an event, report or position time later than now + this is refused in words. A
# time of 9999 would otherwise sort first for ever and show a position as fresh ("age 0,
# confidence high") for centuries. README "Bad input". Checked where the time is judged
# against a clock, not in the models: an incident's ``reported_at`` by
# ``handlers.report_incident`` (the handlers' clock: the demo simulator builds its story
# ahead and runs on its own clock), a position's ``time`` by the API, a feed's own time
# (CAP <sent>, GDACS <fromdate>, USGS origin time) by its parser, naming its element.
MAX_CLOCK_SKEW = timedelta(minutes=5)


# The ISO 3166-1 alpha-3 codes the product knows (pycountry's list, as
# crisis.fusion.countries reads names), and XKX, Kosovo's user-assigned code that the
# basemap and the fusion use. A code matching [A-Za-z]{3} but not here ("XXX", "QQQ") would
# be stored, shown, exported and matched against nothing: refused in words (a feed item's
# bad code is dropped instead and the item placed by its point: see crisis.feeds.gdacs).
KNOWN_COUNTRIES = frozenset(str(c.alpha_3) for c in pycountry.countries) | {"XKX"}


def unknown_country_message(code: str) -> str | None:
    """Words refusing ``code`` when it is no ISO 3166-1 alpha-3 code we know; else None."""
    if code.upper() in KNOWN_COUNTRIES:
        return None
    return (f"{code!r} is not an ISO 3166-1 alpha-3 country code we know (e.g. LBN for Lebanon, KEN for Kenya); "
            "leave it out to place by the coordinates")


def known_country(value: str | None) -> str | None:
    """A field validator: ``value`` upper-cased, or a refusal in words (``unknown_country_message``)."""
    if value is None:
        return None
    if message := unknown_country_message(value):
        raise PydanticCustomError("unknown_country", "{text}", {"text": message})
    return value.upper()


# Bidirectional overrides and isolates: "U+202E" makes "gpj.exe" read "exe.jpg"; a title
# is shown on the wall, the board, exports and the shift log, never as the sender wrote it.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def title_problem(value: str) -> str | None:
    """Words refusing a title (already stripped of whitespace) that holds a control
    character (NUL, a line break, ...) or a bidirectional override, or that has nothing a
    reader can see (only zero-width or format characters); None for a good title."""
    for index, char in enumerate(value):
        if unicodedata.category(char) == "Cc":
            return f"holds a control character (U+{ord(char):04X} at position {index + 1}): send plain text on one line"
        if char in _BIDI_CONTROLS:
            return (f"holds a bidirectional override (U+{ord(char):04X} at position {index + 1}), which reorders "
                    "what a reader sees: send the text without it")
    if not any(unicodedata.category(char)[0] in "LNPS" for char in value):
        return "has no visible character (only spaces, zero-width or format characters): say what happened"
    return None


def _title(value: str | None) -> str | None:
    if value is not None and (problem := title_problem(value)):
        raise PydanticCustomError("title", "{text}", {"text": f"the title {problem}"})
    return value


def plain_text(value: str) -> str:
    """A free text (a description, a note, a reason) as it is kept: line breaks as ``\\n``,
    tabs kept, every other control character (NUL, a bell, an escape...) and every
    bidirectional override removed. They show nothing a reader needs, break exports (XML
    refuses them) and the override reorders what a reader sees."""
    kept = "".join(char for char in value.replace("\r\n", "\n").replace("\r", "\n")
                   if char in "\n\t" or (unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS))
    if value.strip() and not kept.strip():
        raise PydanticCustomError("plain_text", "{text}", {"text": "holds only control characters: say it in words"})
    return kept.strip()


# Every free text a person or a feed sends: descriptions, notes, reasons.
PlainText = Annotated[str, AfterValidator(plain_text)]


def _time_text(value: Any) -> Any:
    """Before a time is parsed: a number is no time here (Unix seconds, milliseconds or a
    spreadsheet's day number would each be read differently): refused in words."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise PydanticCustomError("iso_time", "{text}", {"text": f"{value!r} is a number, not a time: send ISO 8601 with "
                                                                 "its zone, e.g. 2026-12-03T08:00:00Z"})
    return value


# Every time a person or a feed sends: ISO 8601 with its zone, never a number.
IsoTime = Annotated[AwareDatetime, BeforeValidator(_time_text)]


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


# How far ahead anything may be planned: a standby slot, leave, a rotation, an itinerary.
# Rotations are laid out at most 104 weeks ahead (crisis.api.roster.RotationIn): the same
# two years, so a date in 9999 (a typo, or a hostile sender) never sits in the cover.
PLANNING_HORIZON = timedelta(days=2 * 365 + 1)


def beyond_horizon_message(value: datetime, now: datetime | None = None) -> str | None:
    """Words refusing ``value`` when it is later than now + ``PLANNING_HORIZON``; else None."""
    now = now or datetime.now(timezone.utc)
    if value <= now + PLANNING_HORIZON:
        return None
    return (f"{value.isoformat()} is more than two years ahead (after "
            f"{(now + PLANNING_HORIZON).replace(microsecond=0).isoformat()}); nothing is planned that far")


def past_time_message(value: datetime, now: datetime | None = None, grace: timedelta = MAX_CLOCK_SKEW) -> str | None:
    """Words refusing ``value`` when it is earlier than ``now`` - ``grace``, for a time that
    is to come (a movement's expected arrival); else None."""
    now = now or datetime.now(timezone.utc)
    if value >= now - grace:
        return None
    hours = grace.total_seconds() / 3600
    return (f"{value.isoformat()} is more than {hours:g} hours in the past (the centre's clock says "
            f"{now.replace(microsecond=0).isoformat()}): give when they are expected")


def future_time_message(value: datetime, now: datetime | None = None) -> str | None:
    """Words refusing ``value`` when it is later than ``now`` (default: this machine's clock)
    + ``MAX_CLOCK_SKEW``; else None."""
    now = now or datetime.now(timezone.utc)
    if value <= now + MAX_CLOCK_SKEW:
        return None
    minutes = int(MAX_CLOCK_SKEW.total_seconds() // 60)
    return (f"{value.isoformat()} is in the future (the centre's clock says {now.replace(microsecond=0).isoformat()}); "
            f"a time may be at most {minutes} minutes ahead, for clock skew")



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class IncidentIn(_Strict):
    """An incident report, as posted to the API or produced by a feed parser."""

    title: str = Field(min_length=1, max_length=300)
    type: IncidentType = IncidentType.OTHER
    # Optional: the type's category (crisis.domain.taxonomy), checked against the type; alone,
    # it stands for its category's "other or unspecified" sub-type.
    category: Literal[tuple(CATEGORIES)] | None = None  # type: ignore[valid-type]
    severity: int = Field(ge=1, le=5, strict=True)
    lat: Latitude
    lon: Longitude
    radius_km: float | None = Field(default=None, gt=0, le=5000, allow_inf_nan=False, strict=True)
    area: dict[str, Any] | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    # Every country the incident is over (ISO 3166-1 alpha-3), e.g. a drought over Iraq and
    # Iran: the incident belongs to the region of each (crisis.fusion.countries.regions_for).
    countries: tuple[Annotated[str, Field(pattern=r"^[A-Za-z]{3}$"), AfterValidator(known_country)], ...] = Field(
        default=(), max_length=60)
    reported_at: IsoTime | None = None
    description: PlainText = Field(default="", max_length=20_000)
    source: SourceName = "api"
    source_id: str | None = Field(default=None, min_length=1, max_length=256)
    status: IncidentStatus | None = None
    approximate: bool = Field(default=False, strict=True)
    # Source ids of earlier messages that this one updates or cancels (CAP <references>):
    # the handler applies the message to the incident any of them created.
    supersedes: tuple[str, ...] = ()

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return known_country(value) if value else value

    @field_validator("countries")
    @classmethod
    def _upper_all(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(code.upper() for code in value))

    @model_validator(mode="before")
    @classmethod
    def _type_from_category(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") is None and data.get("category") is not None:
            category = data["category"]
            if category in GENERAL_SUBTYPE:
                return {**data, "type": GENERAL_SUBTYPE[category]}
            if category in CATEGORIES:
                names = ", ".join(subtypes_of(category))
                raise PydanticCustomError("incident_category", "{text}", {"text": (
                    f'category "{category}" ({CATEGORIES[category]}) needs a "type" saying which: one of {names}'),
                    "field": "type"})
        return data

    _known_type = field_validator("type", mode="before")(lambda value: _incident_type(value))
    _clean_title = field_validator("title")(lambda value: _title(value))

    @field_validator("category", mode="before")
    @classmethod
    def _known_category(cls, value: Any) -> Any:
        if value is not None and value not in CATEGORIES:
            raise PydanticCustomError("incident_category", "{text}", {"text": _unknown_category(value)})
        return value

    @model_validator(mode="after")
    def _category_matches(self) -> IncidentIn:
        actual = category_of(self.type.value)
        if self.category is not None and self.category != actual:
            raise PydanticCustomError("incident_category", "{text}", {"text": (
                f'type "{self.type.value}" belongs to category "{actual}" ({CATEGORIES[actual]}), '
                f'not "{self.category}": send the matching category, or leave it out'), "field": "category"})
        if self.category is None:
            object.__setattr__(self, "category", actual)
        return self

    @field_validator("reported_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value) if value else value

    @field_validator("area")
    @classmethod
    def _polygon(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if value.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("area must be a GeoJSON Polygon or MultiPolygon")
        vertices = _vertex_count(value.get("coordinates"), 3 if value["type"] == "MultiPolygon" else 2)
        if vertices > MAX_AREA_VERTICES:
            raise ValueError(f"area has {vertices} vertices; at most {MAX_AREA_VERTICES} are accepted "
                             "(all rings together): simplify the polygon")
        try:
            geometry = shapely.geometry.shape(value)
        except Exception as exc:  # shapely raises several types for bad coordinates
            raise ValueError(f"area is not a valid GeoJSON polygon: {exc}") from None
        if geometry.is_empty:
            raise ValueError("area is empty")
        minx, miny, maxx, maxy = geometry.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ValueError("area coordinates must be [lon, lat] within -180..180, -90..90")
        if not geometry.is_valid:
            raise ValueError("area polygon is self-intersecting or malformed")
        return dict(shapely.geometry.mapping(geometry))


class IncidentPatch(_Strict):
    """A partial update of an incident (PATCH /api/v1/incidents/{id})."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    type: IncidentType | None = None
    severity: int | None = Field(default=None, ge=1, le=5, strict=True)
    lat: Latitude | None = None
    lon: Longitude | None = None
    radius_km: float | None = Field(default=None, gt=0, le=5000, allow_inf_nan=False, strict=True)
    description: PlainText | None = Field(default=None, max_length=20_000)
    status: IncidentStatus | None = None
    owner: str | None = Field(default=None, max_length=120)
    note: PlainText | None = Field(default=None, max_length=5_000)

    _known_type = field_validator("type", mode="before")(lambda value: _incident_type(value))
    _clean_title = field_validator("title")(lambda value: _title(value))

    @model_validator(mode="after")
    def _lat_lon_together(self) -> IncidentPatch:
        if (self.lat is None) != (self.lon is None):
            raise PydanticCustomError("lat_lon", "{text}", {"text": "lat and lon must be given together",
                                                             "field": "lon" if self.lon is None else "lat"})
        return self


# 0, 0 ("Null Island", in the Gulf of Guinea) is what a receiver without a fix reports: no
# person is ever placed there (a handset's CoT "no fix" is the same rule, crisis/feeds/cot.py).
NO_FIX_MESSAGE = "0, 0 is what a receiver without a fix reports, not a place: leave the position out"


def is_null_island(lat: float | None, lon: float | None) -> bool:
    return lat == 0 and lon == 0


class PositionIn(_Strict):
    traveller_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    lat: Latitude
    lon: Longitude
    time: IsoTime | None = None
    source: SourceName = "api"
    accuracy_m: float | None = Field(default=None, ge=0, allow_inf_nan=False, strict=True)
    # (0, 0 is refused by the callers, ``no_fix_errors``: a validator here would run Python for
    # each of a batch's 10,000 reports, on the hot path of ingest)


def no_fix_errors(positions: list[PositionIn], where: str = "positions.") -> list[dict[str, Any]]:
    """A refusal naming each report at 0, 0 (``NO_FIX_MESSAGE``), none when there is none."""
    return [{"field": f"{where}{i}.lat", "message": NO_FIX_MESSAGE}
            for i, p in enumerate(positions) if p.lat == 0 and p.lon == 0]


class PositionBatch(_Strict):
    positions: list[PositionIn] = Field(min_length=1, max_length=MAX_POSITIONS_PER_BATCH)


class UserIn(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Literal["admin", "duty_officer", "regional_desk", "wall", "feed"]
    region: str | None = None


def _vertex_count(coordinates: Any, depth: int) -> int:
    """How many positions a Polygon's (depth 2) or MultiPolygon's (depth 3) coordinates
    hold, counted before shapely reads them (which is what takes the time)."""
    level = [coordinates]
    for _ in range(depth):
        if not all(isinstance(item, (list, tuple)) for item in level):
            raise ValueError("area coordinates must be nested arrays of [lon, lat] positions")
        level = [child for item in level for child in item]
    return len(level)


def allowed_sources(account: str) -> frozenset[str]:
    """The sources an account may write as: the known feeds, and its own name."""
    return frozenset(FEEDS) | ({account} if re.fullmatch(SOURCE_PATTERN, account) else set())


# Incidents under these source names are written only by the product's own intakes (the
# pollers and feed endpoints of crisis.feeds.intake, the demo simulator): no account may
# report or rewrite one through POST /api/v1/incidents, or a feed token could rewrite the
# GDACS cyclone by naming its source_id. A person changes such an incident by PATCH.
PRODUCT_SOURCES: dict[str, str] = {
    "cap": "the CAP intake (POST /api/v1/feeds/cap and the CAP poller)",
    "gdacs": "the GDACS intake (POST /api/v1/feeds/gdacs and the GDACS poller)",
    "usgs": "the USGS intake (POST /api/v1/feeds/usgs and the USGS poller)",
    "sim": "the demo simulator",
    "cot": "the Cursor-on-Target intake",
}


def owned_source_error(source: str) -> dict[str, str] | None:
    """The {field, message} refusing an incident report under a source the product's own
    intakes own (``PRODUCT_SOURCES``); None for a source an account may report as."""
    owner = PRODUCT_SOURCES.get(source)
    if owner is None:
        return None
    return {"field": "source", "message": (
        f"source {source!r} belongs to {owner}: no account may report or update its incidents here. "
        f"Report as source 'api' or as your own account name; change an existing incident with "
        f"PATCH /api/v1/incidents/{{id}}")}


def check_sources(sources: dict[str, str], account: str) -> None:
    """Refuse (InputError naming each field) a source outside ``allowed_sources``;
    ``sources`` maps field names ("source", "positions.3.source") to their values."""
    allowed = allowed_sources(account)
    errors = [
        {"field": where, "message": f"unknown source {value!r}: use one of {', '.join(sorted(allowed))}"}
        for where, value in sources.items() if value not in allowed
    ]
    if errors:
        raise InputError(errors)


_TYPE_VALUES = frozenset(t.value for t in IncidentType)


def _incident_type(value: Any) -> Any:
    """Refuse an unknown incident type in words that list every category and sub-type."""
    if value is not None and not isinstance(value, IncidentType) and value not in _TYPE_VALUES:
        raise PydanticCustomError("incident_type", "{text}", {"text": unknown_type_message(value)})
    return value


def _unknown_category(value: Any) -> str:
    names = ", ".join(f"{label.lower()} ({code})" for code, label in CATEGORIES.items())
    return f'"{value}" is not an incident category we know. The categories are: {names}.'


# The InputError message of a refused query string: answered 400 (the request as asked
# cannot be served), with the parameter named and its allowed values in words.
QUERY_ERROR = "invalid query parameter"


# The board's time windows (crisis/ui/pages/board.py, assets/crisis_board.js): an incident
# updated within the window, on its updated_at; "all" is no window.
INCIDENT_WINDOWS: dict[str, timedelta | None] = {"1h": timedelta(hours=1), "6h": timedelta(hours=6),
                                                 "24h": timedelta(hours=24), "7d": timedelta(days=7), "all": None}
MAX_CLOSED_WITHIN_MINUTES = 366 * 24 * 60


@dataclass(frozen=True)
class IncidentFilters:
    """The filters of GET /api/v1/incidents and of its exports, which are the incident
    board's (crisis/ui/pages/board.py, assets/crisis_board.js): each empty or None when not given.

    ``statuses``, ``regions`` (any region an incident touches), ``severities``, ``types``
    (sub-types) and ``categories``: any of those given. ``updated_since``: updated at or
    after (the board's time window). ``closed_since``: a closed incident updated after it
    passes the status filter whatever it asks (the board keeps a closed incident listed,
    greyed, that long after closing)."""

    statuses: frozenset[IncidentStatus] = frozenset()
    regions: frozenset[str] = frozenset()
    severities: frozenset[int] = frozenset()
    types: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    updated_since: datetime | None = None
    closed_since: datetime | None = None

    def match(self, incident: Incident) -> bool:
        recently_closed = (self.closed_since is not None and incident.status == IncidentStatus.CLOSED
                           and incident.updated_at > self.closed_since)
        return ((not self.statuses or incident.status in self.statuses or recently_closed)
                and (not self.regions or any(r in self.regions for r in incident.regions))
                and (not self.severities or incident.severity in self.severities)
                and (not self.types or incident.type.value in self.types)
                and (not self.categories or category_of(incident.type.value) in self.categories)
                and (self.updated_since is None or incident.updated_at >= self.updated_since))


def _query_values(args: Mapping[str, str], name: str) -> list[str]:
    """Every value of a query parameter: repeated (``status=a&status=b``) or comma-separated
    (``status=a,b``); empty ones dropped."""
    getlist = getattr(args, "getlist", None)
    raw = getlist(name) if callable(getlist) else [args.get(name) or ""]
    return [part.strip() for item in raw for part in str(item).split(",") if part.strip()]


INCIDENT_FILTERS = ("status", "region", "severity", "type", "category", "window", "closed_within")


def incident_filters(args: Mapping[str, str], now: datetime | None = None) -> IncidentFilters:
    """The incident filters of a query string (GET /api/v1/incidents, the incident exports),
    the incident board's own: ``status``, ``region`` (an incident touching it), ``severity``
    (1-5), ``type`` (a sub-type) and ``category``, each one value or several (repeated or
    comma-separated: any of them); ``window`` (``1h``, ``6h``, ``24h``, ``7d``, ``all``:
    updated within it, before ``now``); ``closed_within`` (minutes: a closed incident
    updated that recently is kept whatever ``status`` asks, as the board keeps it). An
    empty value is no filter. An unknown value is an InputError (``QUERY_ERROR``, 400)
    naming the parameter and its allowed values: "status=exploded" must not read as "no
    incident has that status"; so is a parameter that is none of these."""
    now = now or datetime.now(timezone.utc)
    # A parameter nobody reads is refused: "sevrity=5" must not answer every incident.
    errors: list[dict[str, Any]] = [
        {"field": name[:40], "message": f"unknown parameter {name[:40]!r}: the filters are {', '.join(INCIDENT_FILTERS)}"}
        for name in args.keys() if name not in INCIDENT_FILTERS]

    def known(name: str, allowed: Mapping[str, Any] | frozenset[str] | list[str], message: Any) -> list[str]:
        values = _query_values(args, name)
        for value in values:
            if value not in allowed:
                errors.append({"field": name, "message": message(value[:40])})
        return [v for v in values if v in allowed]

    statuses_known = [s.value for s in IncidentStatus]
    statuses = known("status", statuses_known,
                     lambda v: f"unknown status {v!r}: use one of {', '.join(statuses_known)}")
    regions = known("region", REGIONS, lambda v: f"unknown region {v!r}: use one of {', '.join(REGIONS)}")
    severities = known("severity", ["1", "2", "3", "4", "5"],
                       lambda v: f"severity must be a whole number from 1 to 5, not {v!r}")
    types = known("type", _TYPE_VALUES, unknown_type_message)
    categories = known("category", CATEGORIES, _unknown_category)
    windows = known("window", INCIDENT_WINDOWS,
                    lambda v: f"unknown window {v!r}: use one of {', '.join(INCIDENT_WINDOWS)} (updated within it)")
    if len(windows) > 1:
        errors.append({"field": "window", "message": f"one window at most, not {len(windows)}"})
    closed = _query_values(args, "closed_within")
    if len(closed) > 1 or any(not c.isdigit() or int(c) > MAX_CLOSED_WITHIN_MINUTES for c in closed):
        errors.append({"field": "closed_within", "message": (
            f"closed_within must be one whole number of minutes from 0 to {MAX_CLOSED_WITHIN_MINUTES}, "
            f"not {','.join(closed)[:40]!r}")})
    if errors:
        raise InputError(errors, QUERY_ERROR)
    window = INCIDENT_WINDOWS[windows[0]] if windows else None
    return IncidentFilters(
        statuses=frozenset(IncidentStatus(s) for s in statuses), regions=frozenset(regions),
        severities=frozenset(int(s) for s in severities), types=frozenset(types), categories=frozenset(categories),
        updated_since=now - window if window is not None else None,
        closed_since=now - timedelta(minutes=int(closed[0])) if closed else None)


def incident_filter_parameters() -> tuple[dict[str, Any], ...]:
    """The OpenAPI query parameters of ``incident_filters`` (GET /api/v1/incidents, the incident exports)."""
    def several(name: str, what: str, values: list[str]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "style": "form", "explode": True,
                "description": f"{what} One value, several (repeated, or comma-separated: `{name}=a,b`): any of them.",
                "schema": {"type": "array", "items": {"enum": values}}}

    return (
        several("status", "Only incidents in this status.", [s.value for s in IncidentStatus]),
        several("region", "Only incidents touching this region.", list(REGIONS)),
        several("severity", "Only incidents of this severity (1-5).", ["1", "2", "3", "4", "5"]),
        several("type", "Only incidents of this sub-type.", sorted(_TYPE_VALUES)),
        several("category", "Only incidents of this category.", list(CATEGORIES)),
        {"name": "window", "in": "query", "required": False, "schema": {"enum": list(INCIDENT_WINDOWS)},
         "description": "Only incidents updated within this time before now (`all`: no limit), as the incident board's time filter."},
        {"name": "closed_within", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CLOSED_WITHIN_MINUTES},
         "description": "Minutes: a closed incident updated this recently passes the `status` filter whatever it asks "
                        "(the incident board keeps a closed incident listed, greyed, that long after closing)."},
    )


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as the product's list of {field, message}."""
    out = []
    for err in exc.errors(include_url=False):
        context = err.get("ctx") or {}
        # a check of the whole object names the field at fault in its context ("field")
        path = [str(p) for p in err["loc"]] + ([str(context["field"])] if context.get("field") else [])
        field = ".".join(path) or "body"
        message = err["msg"]
        if err["type"] == "value_error" and context.get("error") is not None:
            message = str(context["error"])  # the check's own words, without pydantic's "Value error, "
        if err["type"] == "enum":
            message = f"{message} (got {err.get('input')!r})"
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            # not "a valid dictionary or instance of DispatchIn": the class is ours, not the sender's
            message = f"expected a JSON object {{...}} here, got {type(err.get('input')).__name__.replace('NoneType', 'null')}"
        elif err["type"] == "string_pattern_mismatch":
            pattern = str((err.get("ctx") or {}).get("pattern"))
            message = f"{err.get('input')!r} is not in the expected form ({_PATTERN_WORDS.get(pattern) or 'the pattern ' + pattern})"
        out.append({"field": field, "message": message})
    return out


# Patterns fields are checked against, in words (the rest: "see the API documentation").
_PATTERN_WORDS = {
    r"^([01]\d|2[0-3]):[0-5]\d$": "HH:MM in UTC, e.g. 08:00",
    r"^[A-Za-z]{3}$": "a three-letter ISO 3166-1 alpha-3 country code, e.g. LBN",
    r"^[0-9]{1,20}-[0-9]{1,20}$": "an entry id like 1733130000000-0, as the pattern ^[0-9]{1,20}-[0-9]{1,20}$ says",
    r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?$": "an action like dispatch.step, or a prefix like dispatch. (the pattern "
                                            r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?$)",
}


def parse(model: type[BaseModel] | TypeAdapter[Any], data: Any) -> Any:
    """Validate ``data`` against a model; raise InputError listing every problem."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None
