"""GDACS (Global Disaster Alert and Coordination System) RSS -> incident commands.

One ``<item>`` is one disaster event at its latest episode. Decisions, and why:

* ``source_id`` is event type + event id ("TC1000643", the feed's own ``<guid>``), not
  the episode: every new episode of a cyclone updates the same incident.
* Severity follows the event's GDACS alert level (the level in the item's title), on the
  same scale as USGS PAGER alerts in ``crisis.feeds.usgs``:

  ======  ========  ==================================================================
  Green   2         an event above GDACS's hazard threshold, no international response
  Orange  4         "potential need for international assistance": staff to be checked
  Red     5         international assistance likely needed
  ======  ========  ==================================================================

  If ``<gdacs:alertlevel>`` is absent, ``<gdacs:alertscore>`` (Green 1, Orange 2, Red 3)
  stands in.
* ``reported_at`` is ``<gdacs:fromdate>``, the event's start, which stays the same across
  episodes; ``<pubDate>`` (the latest episode) is the fallback.
* ``<gdacs:iscurrent>`` is NOT mapped to "closed": in real feeds, droughts marked
  ``false`` are "on going" with a ``todate`` of the feed's own day.
* ``<gdacs:bbox>`` is not the affected area but the map extent (earthquakes and droughts
  get their point +/- 4 degrees; cyclone boxes may not even contain the storm), so by
  default it is not used. ``bbox_area=True`` uses it when it contains the point.
* ``country`` only for single-country events (see ``_country``).
* A bad item is rejected on its own (``GdacsResult.rejected``); the feed goes on.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element

from pydantic import ValidationError

from crisis.domain.model import IncidentType
from crisis.errors import FeedError
from crisis.feeds.schemas import KNOWN_COUNTRIES, IncidentIn, future_time_message
from crisis.feeds.xml import parse_xml

NS = {
    "gdacs": "http://www.gdacs.org",
    "geo": "http://www.w3.org/2003/01/geo/wgs84_pos#",
    "georss": "http://www.georss.org/georss",
}
EVENT_TYPES = {
    "EQ": IncidentType.EARTHQUAKE, "TC": IncidentType.CYCLONE, "FL": IncidentType.FLOOD,
    "VO": IncidentType.VOLCANO, "DR": IncidentType.DROUGHT, "WF": IncidentType.WILDFIRE,
    "TS": IncidentType.TSUNAMI,
}
ALERT_SEVERITY = {"green": 2, "orange": 4, "red": 5}


@dataclass(frozen=True)
class GdacsResult:
    """The incidents of a feed, and the items refused: {"index", "field", "message"}."""

    incidents: list[IncidentIn] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


class _ItemError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def parse_gdacs(data: bytes, *, bbox_area: bool = False) -> GdacsResult:
    """Parse a GDACS RSS 2.0 feed. Raise FeedError only if the document is not one."""
    root = parse_xml(data)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise FeedError("rss", f"not an RSS feed: root element is <{root.tag}>; expected "
                        "<rss> with a <channel>")
    result = GdacsResult()
    for index, item in enumerate(channel.findall("item")):
        try:
            result.incidents.append(_incident(item, bbox_area))
        except _ItemError as exc:
            result.rejected.append(
                {"index": index, "field": f"item[{index}].{exc.field}", "message": exc.message}
            )
    return result


def _incident(item: Element, bbox_area: bool) -> IncidentIn:
    event_type = _required(item, "gdacs:eventtype").upper()
    event_id = _required(item, "gdacs:eventid")
    lat, lon = _location(item)
    name = _text(item, "gdacs:eventname")
    fields: dict[str, Any] = {
        "title": _clip(" ".join((_text(item, "title") or f"{event_type} {name or event_id}").split())),
        "type": EVENT_TYPES.get(event_type, IncidentType.OTHER),
        "severity": _severity(item),
        "lat": lat,
        "lon": lon,
        "country": _country(item),
        "countries": _countries(item),
        "reported_at": _reported_at(item),
        "description": _description(item),
        "source": "gdacs",
        "source_id": f"{event_type}{event_id}",
    }
    if bbox_area:
        fields["area"] = _bbox(item, lat, lon)
    try:
        return IncidentIn(**fields)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise _ItemError(".".join(str(p) for p in err["loc"]), err["msg"]) from None


def _text(item: Element, path: str) -> str | None:
    return (item.findtext(path, namespaces=NS) or "").strip() or None


def _required(item: Element, path: str) -> str:
    value = _text(item, path)
    if value is None:
        raise _ItemError(path, f"required element <{path}> is missing or empty")
    return value


def _number(item: Element, path: str) -> float | None:
    text = _text(item, path)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _ItemError(path, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _ItemError(path, f"{text!r} is not a finite number")
    return value


def _location(item: Element) -> tuple[float, float]:
    """geo:lat/geo:long (inside geo:Point or directly in the item), else georss:point."""
    point = item.find("geo:Point", NS)
    parent = point if point is not None else item
    lat, lon = _number(parent, "geo:lat"), _number(parent, "geo:long")
    lat_field, lon_field = "geo:lat", "geo:long"
    if lat is None and lon is None and _text(item, "georss:point"):
        parts = (_text(item, "georss:point") or "").split()
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            raise _ItemError("georss:point", f"{' '.join(parts)!r} is not 'lat lon'") from None
        lat_field = lon_field = "georss:point"
    if lat is None or lon is None:
        missing = "geo:lat" if lat is None else "geo:long"
        raise _ItemError(missing, f"<{missing}> is missing (and there is no georss:point)")
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise _ItemError(lat_field, f"latitude {lat} is outside -90..90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise _ItemError(lon_field, f"longitude {lon} is outside -180..180")
    return lat, lon


def _severity(item: Element) -> int:
    level = _text(item, "gdacs:alertlevel")
    if level is None:
        score = _number(item, "gdacs:alertscore")
        if score is None:
            raise _ItemError("gdacs:alertlevel", "no <gdacs:alertlevel> or <gdacs:alertscore>")
        level = "green" if score < 1.5 else "orange" if score < 2.5 else "red"
    if level.lower() not in ALERT_SEVERITY:
        raise _ItemError("gdacs:alertlevel", f"unknown alert level {level!r}; expected "
                         "Green, Orange or Red")
    return ALERT_SEVERITY[level.lower()]


def _country(item: Element) -> str | None:
    """ISO3 of the affected country when the item names exactly one.

    For a multi-country event ``<gdacs:iso3>`` is still one code, the first country listed
    in ``<gdacs:country>``, not the one holding the point ("Bulgaria, Iraq, Iran, Turkey":
    BGR, for a point in Turkey); a wrong country would route it to the wrong desk.
    """
    iso3 = (_text(item, "gdacs:iso3") or "").upper()
    several = "," in (_text(item, "gdacs:country") or "")
    return iso3 if re.fullmatch(r"[A-Z]{3}", iso3) and iso3 in KNOWN_COUNTRIES and not several else None


def _country_note(item: Element) -> str:
    """A sentence for the description when ``<gdacs:iso3>`` holds a code that is no country
    (it is dropped and the event placed by its point, not the alert refused)."""
    iso3 = (_text(item, "gdacs:iso3") or "").strip()
    if iso3 and iso3.upper() not in KNOWN_COUNTRIES:
        return (f"The feed's country code <gdacs:iso3>{iso3[:20]}</gdacs:iso3> is not an ISO 3166-1 alpha-3 "
                "code: left out, the event is placed by its coordinates.")
    return ""


def _countries(item: Element) -> tuple[str, ...]:
    """Every country named in ``<gdacs:country>`` (ISO3): a multi-country event (a drought
    over Iraq and Iran) belongs to the region of each (crisis.fusion.countries)."""
    from crisis.fusion.countries import iso3_of_names

    return iso3_of_names(_text(item, "gdacs:country") or "")


def _reported_at(item: Element) -> datetime | None:
    for path in ("gdacs:fromdate", "pubDate"):
        text = _text(item, path)
        if text is None:
            continue
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise _ItemError(path, f"{text!r} is not an RFC 822 date like "
                             "'Sun, 29 Dec 2019 12:00:00 GMT'") from None
        # RFC 2822's "-0000" (no zone information) parses naive; GDACS means UTC.
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if future := future_time_message(value):
            raise _ItemError(path, future)
        return value
    return None


def _description(item: Element) -> str:
    labels = {"description": "", "gdacs:severity": "Severity: ",
              "gdacs:population": "Population: ", "gdacs:country": "Countries: ", "link": ""}
    parts = [label + text for path, label in labels.items() if (text := _text(item, path))]
    note = _country_note(item)
    return _clip("\n".join(parts), 20_000 - len(note) - 1) + (f"\n{note}" if note else "")


def _bbox(item: Element, lat: float, lon: float) -> dict[str, Any] | None:
    """The ``lonmin lonmax latmin latmax`` box as a Polygon, if it is sane and holds the
    point; a box that does not contain the event's own position is no area of it."""
    try:
        lonmin, lonmax, latmin, latmax = map(float, (_text(item, "gdacs:bbox") or "").split())
    except ValueError:
        return None
    if not (-180 <= lonmin <= lon <= lonmax <= 180 and -90 <= latmin <= lat <= latmax <= 90):
        return None
    if lonmin == lonmax or latmin == latmax:
        return None
    ring = [(lonmin, latmin), (lonmax, latmin), (lonmax, latmax), (lonmin, latmax)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
