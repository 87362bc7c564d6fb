"""The travel-tracking system's export: travellers as JSON or CSV, validated one by one.

JSON: a list of travellers, or ``{"travellers": [...]}``; each traveller is
``{id, name, agency, category, essential, duty_station: {name, lat, lon, country?},
phone?, email?, dependant_of?, itinerary: [{from, to, depart, arrive}]}`` where a place
(``from``, ``to``) is ``{name, lat, lon}`` or an IATA airport code ("BEY"), and times are
ISO 8601 with a zone. A rejected traveller's ``row`` is its 1-based position in the list.

CSV (``Content-Type: text/csv``, UTF-8, a header line): one row per itinerary segment,
the traveller's columns repeated on each of its rows (a traveller with no itinerary:
one row with the four segment columns empty). The columns:

====================  ====================================================================
id                    the traveller's id (letters, digits, ``_ . : -``), required
name, agency          required
category              international_staff, national_staff, dependant, consultant, visitor
essential             true/false (also yes/no, 1/0; empty: false)
duty_station_name     the duty station: name, lat, lon (decimal degrees) and
duty_station_lat      optional ISO 3166-1 alpha-3 country; all empty: none
duty_station_lon
duty_station_country
phone, email          optional
dependant_of          for a dependant: the id of the staff member (required for them)
from, to              an IATA airport code ("BEY") or "name|lat|lon" ("Camp A|33.1|35.2")
depart, arrive        ISO 8601 with a zone ("2026-05-01T09:30:00+03:00")
====================  ====================================================================

A rejected row's ``row`` is its 1-based data row (the header is not counted). A traveller
is stored whole or not at all: one bad row rejects every row of that traveller (each bad
row is reported; the others are rejected with the field "id", "another row of this
traveller was rejected").

Every problem is ``{"row", "field", "message"}``; the good travellers are kept.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crisis.domain.travellers import CATEGORIES, DutyStation, Place, Segment, Traveller
from crisis.errors import InputError
from crisis.feeds import csv_text
from crisis.feeds.csv_text import MALFORMED_CSV
from crisis.feeds.schemas import IsoTime, Latitude, Longitude, _Strict, beyond_horizon_message, field_errors, known_country
from crisis.http_safety import load_json

CSV_COLUMNS = (
    "id", "name", "agency", "category", "essential",
    "duty_station_name", "duty_station_lat", "duty_station_lon", "duty_station_country",
    "phone", "email", "dependant_of", "from", "to", "depart", "arrive",
)
TRAVELLER_COLUMNS = CSV_COLUMNS[:12]
SEGMENT_COLUMNS = CSV_COLUMNS[12:]
MAX_TRAVELLERS = 100_000
MAX_SEGMENTS = 200
TRAVELLER_ID = r"^[A-Za-z0-9_.:-]+$"
_IATA = re.compile(r"^[A-Za-z]{3}$")
Progress = Callable[[int, int], None]  # (travellers validated, travellers in all)
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


@cache
def _airports() -> dict[str, Any]:
    import airportsdata

    return airportsdata.load("IATA")  # type: ignore[no-any-return]


def resolve_place(value: Any) -> Any:
    """An IATA code becomes {name, lat, lon}; anything else is left for validation."""
    if isinstance(value, str):
        code = value.strip()
        if not _IATA.fullmatch(code):
            raise ValueError(f"{value!r} is neither a place {{name, lat, lon}} nor an IATA airport code")
        airport = _airports().get(code.upper())
        if airport is None:
            raise ValueError(f"{code!r} is not a known IATA airport code")
        return {"name": f"{airport['name']} ({code.upper()})", "lat": float(airport["lat"]), "lon": float(airport["lon"])}
    return value


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


class PlaceIn(_Strict):
    name: str = Field(default="", max_length=200)
    lat: Latitude
    lon: Longitude


class SegmentIn(_Strict):
    origin: PlaceIn = Field(alias="from", description='A place {name, lat, lon}, or an IATA airport code ("BEY").')
    destination: PlaceIn = Field(alias="to", description='A place {name, lat, lon}, or an IATA airport code ("AMM").')
    depart: IsoTime = Field(description="ISO 8601 with a zone.")
    arrive: IsoTime = Field(description="ISO 8601 with a zone; after depart.")

    @field_validator("origin", "destination", mode="before")
    @classmethod
    def _airport(cls, value: Any) -> Any:
        return resolve_place(value)

    @model_validator(mode="after")
    def _arrive_after_depart(self) -> SegmentIn:
        if self.arrive <= self.depart:
            raise ValueError(f"arrive: must be after depart ({self.depart.isoformat()})")
        for name in ("depart", "arrive"):  # a trip in 9999 would sit in every "arrives within 48 h" check for ever
            if message := beyond_horizon_message(getattr(self, name)):
                raise ValueError(f"{name}: {message}")
        return self


class DutyStationIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    lat: Latitude
    lon: Longitude
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")

    _known_country = field_validator("country")(lambda value: known_country(value))


class TravellerIn(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=TRAVELLER_ID)
    name: str = Field(min_length=1, max_length=200)
    agency: str = Field(min_length=1, max_length=200)
    category: str
    essential: bool = Field(default=False, strict=True)
    duty_station: DutyStationIn | None = None
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    dependant_of: str | None = Field(default=None, max_length=64, pattern=TRAVELLER_ID)
    itinerary: list[SegmentIn] = Field(default_factory=list, max_length=MAX_SEGMENTS)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}: use one of {', '.join(CATEGORIES)}")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        # The form of an address (one @, a dot in the domain, no spaces): a contact the centre
        # cannot write to is found at import, not in a crisis. Delivery is not checked.
        if value and not _EMAIL.fullmatch(value):
            raise ValueError(f"{value[:80]!r} is not an e-mail address (name@domain.org)")
        return value

    @model_validator(mode="after")
    def _trips_in_order(self) -> TravellerIn:
        for n, (before, after) in enumerate(zip(self.itinerary, self.itinerary[1:]), start=1):
            if after.depart < before.arrive:
                raise ValueError(f"itinerary.{n}.depart: departs ({after.depart.isoformat()}) before the flight before it "
                                 f"arrives ({before.arrive.isoformat()}): give the segments in the order they are flown")
        return self

    @model_validator(mode="after")
    def _dependant(self) -> TravellerIn:
        if self.category == "dependant" and not self.dependant_of:
            raise ValueError("dependant_of: a dependant must name the traveller id they belong to")
        if self.dependant_of is not None and self.dependant_of == self.id:
            raise ValueError("dependant_of: must name another traveller, not the traveller itself")
        return self

    def to_domain(self) -> Traveller:
        station = self.duty_station
        return Traveller(
            id=self.id, name=self.name, agency=self.agency, category=self.category, essential=self.essential,
            duty_station=None if station is None else DutyStation(
                station.name, station.lat, station.lon, station.country.upper() if station.country else None),
            phone=self.phone or None, email=self.email or None, dependant_of=self.dependant_of or None,
            itinerary=tuple(
                Segment(Place(s.origin.name, s.origin.lat, s.origin.lon),
                        Place(s.destination.name, s.destination.lat, s.destination.lon), s.depart, s.arrive)
                for s in self.itinerary
            ),
        )


@dataclass
class Parsed:
    """The good travellers (with the row each came from) and every problem found."""

    travellers: list[tuple[int, Traveller]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {row, field, message, body}
    rows: int = 0


_RULE_FIELDS = ("depart", "arrive", "dependant_of")  # fields that model-level rules name first in their message


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for error in field_errors(exc):
        where, message = error["field"], error["message"].removeprefix("Value error, ")
        head, sep, rest = message.partition(": ")
        if sep and (head in _RULE_FIELDS or re.fullmatch(r"itinerary\.\d+\.(depart|arrive)", head)):  # a rule names its field
            where = head if where in ("", "body") else f"{where}.{head}"
            message = rest
        out.append({"field": where.replace(".origin", ".from").replace(".destination", ".to"), "message": message})
    return out


def validate(data: Any) -> tuple[Traveller | None, list[dict[str, Any]]]:
    """One traveller's JSON: the traveller, or the list of {field, message}."""
    if not isinstance(data, dict):
        return None, [{"field": "body", "message": "a traveller must be a JSON object"}]
    try:
        return TravellerIn.model_validate(data).to_domain(), []
    except ValidationError as exc:
        return None, _errors(exc)


def json_list(body: bytes | str, noun: str, limit: int) -> list[Any]:
    """A JSON import document: a list, or {"<noun>": [...]}, of at most ``limit`` items
    (InputError on "body" otherwise). Shared by the travellers and the officers imports."""
    data = load_json(body.encode() if isinstance(body, str) else body)
    if isinstance(data, dict) and set(data) == {noun}:
        data = data[noun]
    if not isinstance(data, list):
        raise InputError([{"field": "body", "message": f'expected a list of {noun} or {{"{noun}": [...]}}'}])
    if len(data) > limit:
        raise InputError([{"field": "body", "message": f"{len(data)} {noun}; at most {limit} a document"}])
    return data


def parse_json(body: bytes | str, progress: Progress | None = None) -> Parsed:
    """A JSON export (raises InputError when the document as a whole is unusable)."""
    data = json_list(body, "travellers", MAX_TRAVELLERS)
    out = Parsed(rows=len(data))
    for index, item in enumerate(data):
        if progress is not None and index % 500 == 0:
            progress(index, len(data))
        traveller, errors = validate(item)
        if traveller is not None:
            out.travellers.append((index + 1, traveller))
        body_text = json.dumps(item)[:10_000]
        out.rejected.extend({"row": index + 1, **e, "body": body_text} for e in errors)
    if progress is not None:
        progress(len(data), len(data))
    return out


def _number(text: str) -> Any:
    """A CSV cell as a number when it is one, else as it came (validation names it)."""
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return text


def _csv_place(text: str) -> Any:
    if "|" in text:
        name, _, rest = text.partition("|")
        lat, _, lon = rest.partition("|")
        return {"name": name.strip(), "lat": _number(lat), "lon": _number(lon)}
    return text


def _csv_traveller(row: dict[str, str]) -> dict[str, Any]:
    essential = row.get("essential", "").strip().lower()
    station = {k: row.get(f"duty_station_{k}", "").strip() for k in ("name", "lat", "lon", "country")}
    record: dict[str, Any] = {
        "id": row.get("id", ""),
        "name": row.get("name", ""),
        "agency": row.get("agency", ""),
        "category": row.get("category", ""),
        "essential": True if essential in _TRUE else False if essential in _FALSE else essential,
        "phone": row.get("phone") or None,
        "email": row.get("email") or None,
        "dependant_of": row.get("dependant_of") or None,
    }
    if any(station.values()):
        record["duty_station"] = {"name": station["name"], "lat": _number(station["lat"]),
                                  "lon": _number(station["lon"]), "country": station["country"] or None}
    return record


def _csv_field(where: str, segment_rows: list[int], first_row: int) -> tuple[int, str]:
    """A validation error's field path as (CSV row, column name)."""
    parts = where.split(".")
    if parts[0] == "itinerary" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(segment_rows):
        row = segment_rows[int(parts[1])]
        return row, parts[2] if len(parts) > 2 else "itinerary"
    if parts[0] == "duty_station" and len(parts) > 1:
        return first_row, f"duty_station_{parts[1]}"
    if parts[0] == "duty_station":
        return first_row, "duty_station_name"
    return first_row, parts[0]


def parse_csv(body: bytes | str, progress: Progress | None = None) -> Parsed:
    """A CSV export (raises InputError when the document as a whole is unusable)."""
    try:
        text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise InputError([{"field": "body", "message": f"not UTF-8 ({exc.reason} at byte {exc.start})"}], MALFORMED_CSV) from None
    if not text.strip():
        raise InputError([{"field": "body", "message": "empty: expected a header line and rows"}], MALFORMED_CSV)
    reader = csv_text.rows(text)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InputError([{"field": "header", "message": csv_text.problem(exc)}], MALFORMED_CSV) from None
    missing = [c for c in ("id", "name", "agency", "category") if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        problems = ([{"field": "header", "message": f"missing column {c!r}"} for c in missing]
                    + [{"field": "header", "message": f"unknown column {c!r}: the columns are {', '.join(CSV_COLUMNS)}"} for c in unknown])
        raise InputError(problems, MALFORMED_CSV)
    reader.fieldnames = header
    out = Parsed()
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    lines: dict[int, str] = {}
    try:
        for number, raw in enumerate(reader, start=1):
            out.rows = number
            if number > MAX_TRAVELLERS * 2:
                raise InputError([{"field": "body", "message": f"more than {MAX_TRAVELLERS * 2} rows a document"}])
            row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
            lines[number] = ",".join(header) + "\n" + ",".join(row.get(c, "") for c in header)
            if None in raw:
                out.rejected.append({"row": number, "field": "row", "message": "more cells than columns", "body": lines[number]})
                continue
            if not row.get("id"):
                out.rejected.append({"row": number, "field": "id", "message": "Field required", "body": lines[number]})
                continue
            groups.setdefault(row["id"], []).append((number, row))
    except csv.Error as exc:
        raise InputError([{"field": f"body (row {out.rows + 1})", "message": csv_text.problem(exc)}], MALFORMED_CSV) from None
    for done, (tid, rows) in enumerate(groups.items()):
        if progress is not None and done % 500 == 0:
            progress(done, len(groups))
        first_row, first = rows[0]
        record = _csv_traveller(first)
        problems: list[dict[str, Any]] = []
        for number, row in rows[1:]:
            differing = [c for c in TRAVELLER_COLUMNS if c in header and row.get(c, "") != first.get(c, "")]
            problems.extend({"row": number, "field": c, "message": f"differs from row {first_row} of the same traveller"}
                            for c in differing)
        segment_rows = []
        segments = []
        for number, row in rows:
            cells = [row.get(c, "") for c in SEGMENT_COLUMNS]
            if not any(cells):
                continue
            segment_rows.append(number)
            segments.append({"from": _csv_place(cells[0]), "to": _csv_place(cells[1]),
                             "depart": cells[2] or None, "arrive": cells[3] or None})
        record["itinerary"] = segments
        traveller, errors = validate(record)
        for error in errors:
            row_number, column = _csv_field(error["field"], segment_rows, first_row)
            problems.append({"row": row_number, "field": column, "message": error["message"]})
        if problems or traveller is None:
            bad_rows = {p["row"] for p in problems}
            for p in problems:
                out.rejected.append({**p, "body": lines[p["row"]]})
            out.rejected.extend(
                {"row": number, "field": "id", "message": "another row of this traveller was rejected", "body": lines[number]}
                for number, _ in rows if number not in bad_rows
            )
            continue
        out.travellers.append((first_row, traveller))
    if progress is not None:
        progress(len(groups), len(groups))
    out.rejected.sort(key=lambda r: r["row"])
    return out


CSV_TYPES = ("text/csv", "application/csv")


def parse(body: bytes | str, content_type: str | None, progress: Progress | None = None) -> Parsed:
    """The export in the format its Content-Type names (text/csv; JSON otherwise)."""
    if content_type in CSV_TYPES:
        return parse_csv(body, progress)
    return parse_json(body, progress)


def intake(context: Any, body: bytes, content_type: str | None, actor: str | None,
           origin: dict[str, str] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Parse, store the good travellers (``handlers.import_travellers``), dead-letter each
    rejected row (feed "travellers") and count the document: the answer
    {"accepted", "updated", "rejected": [{row, field, message, dead_letter_id}]}.

    Raises InputError when the document as a whole is unusable (the caller dead-letters it)."""
    from crisis import handlers

    parsed = parse(body, content_type, progress)
    result = handlers.import_travellers(context.deps, parsed.travellers, actor)
    rejected = sorted(parsed.rejected + result["rejected"], key=lambda r: r["row"])
    answered = []
    for item in rejected:
        error = {"field": item["field"], "message": item["message"]}
        dead = context.feed_log.rejected("travellers", [{**error, "field": f"row {item['row']}: {item['field']}"}],
                                         item.get("body", ""), origin)
        answered.append({"row": item["row"], **error, "dead_letter_id": dead})
    stored = result["accepted"] + result["updated"]
    if stored:
        context.feed_log.accepted("travellers", stored)
    return {"accepted": result["accepted"], "updated": result["updated"], "rejected": answered}


def public(rejected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rejected rows as answered (without the kept body)."""
    return [{k: v for k, v in r.items() if k != "body"} for r in rejected]
