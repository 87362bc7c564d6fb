"""A source's later message about an incident it reported: what it may change. Pure: no I/O.

A feed (CAP, GDACS, USGS, or anyone posting with a ``source_id``) keeps sending messages
about the same event. With the incident the centre keeps what the source's last applied
message said (``Incident.source_said``: its facts, the long ones as digests, and when it
was sent). A new message about the incident:

* sent before that one (an earlier ``reported_at``: CAP's ``<sent>``): a delayed or
  re-delivered message. It changes nothing, so an alert's original never undoes its Update;
* saying what the source said before: changes nothing, whatever a person changed since
  (a feed re-read every few minutes does not undo a duty officer's severity);
* otherwise: changes only the facts the source itself changed since its last message.
  A duty officer's correction of severity stands until the source says something new
  about severity; then the source's new word is taken (and the history says so).

An incident with no ``source_said`` (reported before it was kept, or by no source) takes
every fact of the message that differs, as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

# The facts a source's message carries, as kept in ``source_said`` ("location" is [lat, lon]).
FACTS = ("title", "type", "severity", "location", "radius_km", "area", "description", "approximate",
         "country", "countries", "status")
# The facts that decide where an incident is and so which regions it belongs to.
PLACEMENT = frozenset({"location", "area", "country", "countries"})


def digest(value: Any) -> str | None:
    """A short fingerprint of a long value (an area, a description); None for none."""
    if value is None or value == "":
        return None
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))  # tuples and lists alike
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def said(*, title: str, type: str, severity: int, lat: float, lon: float, radius_km: float | None,
         area: Any, description: str, approximate: bool, country: str | None, countries: tuple[str, ...] | list[str],
         status: str | None, sent: datetime | None) -> dict[str, Any]:
    """What one message says, as kept (JSON values only)."""
    return {
        "title": title, "type": type, "severity": severity, "location": [lat, lon], "radius_km": radius_km,
        "area": digest(area), "description": digest(description), "approximate": approximate,
        "country": country, "countries": sorted(countries), "status": status,
        "sent": sent.isoformat() if sent is not None else None,
    }


def is_older(new: Mapping[str, Any], before: Mapping[str, Any] | None) -> bool:
    """Whether the new message was sent before the last one applied (both must say when)."""
    if before is None or not new.get("sent") or not before.get("sent"):
        return False
    return datetime.fromisoformat(new["sent"]) < datetime.fromisoformat(before["sent"])


def changed_by_source(new: Mapping[str, Any], before: Mapping[str, Any] | None) -> frozenset[str]:
    """The facts the source changed since its last applied message (every fact: none kept)."""
    if before is None:
        return frozenset(FACTS)
    return frozenset(f for f in FACTS if new.get(f) != before.get(f))


def nothing_new(new: Mapping[str, Any], before: Mapping[str, Any] | None) -> bool:
    """Whether the message changes nothing: sent before the last one applied, or saying
    the same facts. False when nothing is kept (then the incident itself is compared)."""
    if before is None:
        return False
    return is_older(new, before) or not changed_by_source(new, before)
