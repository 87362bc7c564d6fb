"""Who may do what, and which facts about a person each role may receive: the one place.

Every channel (REST API, Socket.IO, the Dash pages and callbacks, exports) asks these
functions; none keeps a role list of its own. No I/O here.

Roles
=====

============== ===== ====== ========= ======================= =============================
role           reads writes edits     regions                 about a person, receives
============== ===== ====== ========= ======================= =============================
admin          yes   yes    yes       all                     everything
duty_officer   yes   yes    yes       all                     everything
regional_desk  yes   no     no        its own (none: nothing) everything, in its region
wall           yes   no     no        all                     counts and anonymous points
feed           no    yes    no        none                    nothing (it only posts)
traveller      no    no     no        none                    nothing (it only checks in)
warden         no    no     no        none                    nothing (it only checks in)
============== ===== ====== ========= ======================= =============================

"writes" is posting input (incidents, positions, feed documents); "edits" is what a duty
officer does to an incident (status, owner, notes) and reading the rejected messages.
A role with no region does not mean "every region": only the roles marked "all" see
every region, and a regional desk without a region sees nothing at all.

Check-ins (POST /api/v1/checkins, ``may_check_in``): a "traveller" token is bound to one
person (its ``traveller_id``) and may report only that person's status; a "warden" token
may report only for the people assigned to its warden (its ``people``); duty officers
and admins (EDITORS) may report for anyone. A traveller or warden may do nothing else:
no page, no socket, no other API route (they are in no other role tuple).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

ROLES = ("admin", "duty_officer", "regional_desk", "wall", "feed", "traveller", "warden")
READERS = ("admin", "duty_officer", "regional_desk", "wall")
WRITERS = ("admin", "duty_officer", "feed")
EDITORS = ("admin", "duty_officer")
ADMINS = ("admin",)
ALL_REGIONS = ("admin", "duty_officer", "wall")
# Who may post a check-in at all; for whom, ``may_check_in`` decides.
CHECKERS = ("admin", "duty_officer", "traveller", "warden")

# The fields of a person (traveller, officer, position report, history entry's actor)
# that each role may receive. "*" is every field. Anything not listed is removed.
# Identity fields are the ones that name or point at a person.
IDENTITY_FIELDS = frozenset({
    "traveller_id", "id", "name", "email", "phone", "actor", "owner", "user", "by",
    "dependant_of", "device", "uid", "contact", "officer_id",
})
PERSON_FIELDS: Mapping[str, frozenset[str]] = {
    "admin": frozenset({"*"}),
    "duty_officer": frozenset({"*"}),
    "regional_desk": frozenset({"*"}),
    # A wall shows counts and anonymous points: where, how fresh, how sure, never who.
    "wall": frozenset({"lat", "lon", "time", "at", "region", "country", "source", "confidence", "status", "reason",
                       "distance_km", "category", "anon", "in_transit", "age_seconds"}),
    "feed": frozenset(),
    "traveller": frozenset(),
    "warden": frozenset(),
}


class HasRole(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def region(self) -> str | None: ...


class Reporter(HasRole, Protocol):
    """A caller that may be bound to people: a traveller token's one person, a warden's people."""

    @property
    def traveller_id(self) -> str | None: ...

    @property
    def people(self) -> frozenset[str]: ...


def may_check_in(who: Reporter, traveller_id: str) -> bool:
    """Whether this caller may report ``traveller_id``'s status (a check-in): editors for
    anyone, a traveller token only for its own person, a warden only for their people."""
    if who.role in EDITORS:
        return True
    if who.role == "traveller":
        return bool(who.traveller_id) and who.traveller_id == traveller_id
    if who.role == "warden":
        return traveller_id in who.people
    return False


def only_checks_in(who: HasRole) -> bool:
    """A traveller or warden token: may post check-ins (POST /api/v1/checkins) and nothing else."""
    return who.role in ("traveller", "warden")


def check_in_via(who: HasRole) -> str:
    """How a check-in by this caller is recorded ("via"): "checkin", "warden" or "duty_officer"."""
    return {"traveller": "checkin", "warden": "warden"}.get(who.role, "duty_officer")


def can_read(who: HasRole) -> bool:
    """May see pages, callbacks, the live socket and the read API."""
    return who.role in READERS and (who.role in ALL_REGIONS or bool(who.region))


def can_write(who: HasRole) -> bool:
    return who.role in WRITERS


def can_edit(who: HasRole) -> bool:
    return who.role in EDITORS


def is_admin(who: HasRole) -> bool:
    return who.role in ADMINS


def sees_all_regions(who: HasRole) -> bool:
    return who.role in ALL_REGIONS


def sees_names(who: HasRole) -> bool:
    return "*" in PERSON_FIELDS.get(who.role, frozenset())


def region_scope(who: HasRole) -> str | None:
    """The one region this caller is limited to, or None for every region.

    Raises PermissionError for a caller that may not read at all (a feed, a regional desk
    without a region): such a caller must never be mistaken for "every region".
    """
    if sees_all_regions(who):
        return None
    if who.role in READERS and who.region:
        return who.region
    raise PermissionError(f"role {who.role!r} without a region may not read")


def may_see_region(who: HasRole, region: str | None) -> bool:
    """Whether a thing in ``region`` is visible to this caller."""
    if not can_read(who):
        return False
    if sees_all_regions(who):
        return True
    return region is not None and region == who.region


def person_view(who: HasRole, record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of one person's record this role may receive."""
    allowed = PERSON_FIELDS.get(who.role, frozenset())
    if "*" in allowed:
        return dict(record)
    return {k: v for k, v in record.items() if k in allowed}


# In a record about a thing (an incident, an entry of its history) rather than a person,
# the fields that name or point at a person: who reported, changed or owns it. ("id" is
# the thing's own id there.)
THING_PERSON_FIELDS = IDENTITY_FIELDS - {"id"}


def record_view(who: HasRole, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record about a thing (an incident, a history entry) as this role may receive it:
    every field, except those naming a person, which follow PERSON_FIELDS like a person's."""
    allowed = PERSON_FIELDS.get(who.role, frozenset())
    if "*" in allowed:
        return dict(record)
    return {k: v for k, v in record.items() if k not in THING_PERSON_FIELDS or k in allowed}
