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
regional_desk  yes   no     no        its own (one or several;
                                       none: nothing)          everything, in its regions
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

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

ROLES = ("admin", "duty_officer", "regional_desk", "wall", "feed", "traveller", "warden")
READERS = ("admin", "duty_officer", "regional_desk", "wall")
WRITERS = ("admin", "duty_officer", "feed")
EDITORS = ("admin", "duty_officer")
ADMINS = ("admin",)
ALL_REGIONS = ("admin", "duty_officer", "wall")
# Who may post a check-in at all; for whom, ``may_check_in`` decides.
CHECKERS = ("admin", "duty_officer", "traveller", "warden")
# Who may look a person (a traveller, an officer) up by id: the readers that receive identities
# (``may_look_up_person``); a wall may not.
PERSON_LOOKERS = ("admin", "duty_officer", "regional_desk")
# Who may read the shift log and the handover (``crisis.views_shiftlog``): the readers
# but walls, since a log names people; a regional desk its regions only.
LOG_READERS = (*EDITORS, "regional_desk")

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
# Text that people write (an incident's or a dispatch's note, why someone stayed behind on a
# movement or was taken off it) may name anyone ("stays with her husband John Smith"): a role
# that receives no identities gets none of it, in a person's record or a thing's, whatever
# PERSON_FIELDS lets through under that name ...
FREE_TEXT_FIELDS = frozenset({"note", "reason"})
# ... but for the values of an enumeration that share such a name: the affected list's
# "reason" ("position": inside the area; "itinerary": arriving there) is the system's word.
ENUMERATED_VALUES: Mapping[str, frozenset[str]] = {"reason": frozenset({"position", "itinerary"})}


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
    return who.role in READERS and (who.role in ALL_REGIONS or bool(_granted(who)))


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


def may_look_up_person(who: HasRole) -> bool:
    """May ask for one person (a traveller, an officer) by their id. Only the roles that
    receive identities: to a wall, an answer (even "not found") would confirm an id, and the
    position it gives could be matched to a pseudonym of the live map, to follow that person."""
    return who.role in PERSON_LOOKERS and can_read(who)


def unlinkable_order(ids: Sequence[str], key: bytes) -> list[int]:
    """An order of a list of people (indexes into ``ids``) that says nothing of their ids,
    for a role that receives no identities: by a keyed MAC of each id (``key``: the server's
    secret). In id order, a wall paging a list one row at a time would read the n-th
    person's place, and sequential ids would name them; this order is the same on every
    instance sharing the secret (pages stay consistent) but cannot be computed without it."""
    tag = [hmac.new(key, str(i).encode(), hashlib.sha256).digest() for i in ids]
    return sorted(range(len(ids)), key=tag.__getitem__)


def reads_rejected(who: HasRole) -> bool:
    """May read what was refused and why: the dead letters, and the text of a feed's last
    error or schema defect (which quotes what was sent: a device's uid, a name). Others get
    a feed's counts and status only."""
    return who.role in EDITORS


# Regions
# =======
# A regional desk may be granted several regions. A caller's regions are its ``regions``
# (when it has that attribute) and its ``region``; a ``region`` may itself be a scope key,
# several codes joined by "," (``scope_key``), as a room or a viewer carries them.
# A thing (an incident over several countries) may be in several regions too: a caller
# sees it when the two sets overlap. Nobody else compares regions: they ask here.

SCOPE_SEPARATOR = ","


def _split(region: str | None) -> tuple[str, ...]:
    return tuple(code for code in (region or "").split(SCOPE_SEPARATOR) if code)


def _granted(who: HasRole) -> frozenset[str]:
    extra: Iterable[str] = getattr(who, "regions", None) or ()
    return frozenset(code for item in (*extra, who.region) for code in _split(item))


def regions_of(who: HasRole) -> frozenset[str] | None:
    """The regions this caller may see: None for every region; empty for a caller that may
    not read (a feed, a regional desk with no region granted)."""
    if sees_all_regions(who):
        return None
    if who.role not in READERS:
        return frozenset()
    return _granted(who)


def scope_key(regions: Iterable[str] | None) -> str | None:
    """One string for a set of regions (codes sorted, joined by ","): a room's, a cache's
    key; None for every region."""
    if regions is None:
        return None
    return SCOPE_SEPARATOR.join(sorted(set(regions)))


def scope_regions(scope: str | None) -> frozenset[str] | None:
    """The regions of a scope key (None: every region)."""
    return None if scope is None else frozenset(_split(scope))


def in_scope(scope: str | None, regions: Iterable[str | None]) -> bool:
    """Whether a thing in ``regions`` belongs to the scope key ``scope`` (None: every region)."""
    wanted = scope_regions(scope)
    return wanted is None or any(r in wanted for r in regions if r)


def region_scope(who: HasRole) -> str | None:
    """This caller's regions as one scope key (``scope_key``; a desk of one region: that
    region's code), or None for every region.

    Raises PermissionError for a caller that may not read at all (a feed, a regional desk
    without a region): such a caller must never be mistaken for "every region".
    """
    if sees_all_regions(who):
        return None
    granted = regions_of(who)
    if who.role in READERS and granted:
        return scope_key(granted)
    raise PermissionError(f"role {who.role!r} without a region may not read")


def may_see_regions(who: HasRole, regions: Iterable[str | None]) -> bool:
    """Whether a thing in ``regions`` (an incident over several countries: all of them) is
    visible to this caller: any one of them in the caller's regions."""
    if not can_read(who):
        return False
    granted = regions_of(who)
    if granted is None:
        return True
    return any(r in granted for r in regions if r)


def may_see_region(who: HasRole, region: str | None) -> bool:
    """Whether a thing in ``region`` is visible to this caller."""
    return may_see_regions(who, (region,))


def person_view(who: HasRole, record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of one person's record this role may receive (PERSON_FIELDS; for a role
    that receives no names, no text people wrote: FREE_TEXT_FIELDS, ENUMERATED_VALUES)."""
    allowed = PERSON_FIELDS.get(who.role, frozenset())
    if "*" in allowed:
        return dict(record)
    return {k: v for k, v in record.items() if k in allowed and not _free_text(k, v)}


def _free_text(field: str, value: Any) -> bool:
    """Whether ``field: value`` is text a person wrote (FREE_TEXT_FIELDS, not a value of
    ENUMERATED_VALUES): never for a role that receives no identities. An empty value is no text."""
    if field not in FREE_TEXT_FIELDS or value is None:
        return False
    return not (isinstance(value, str) and value in ENUMERATED_VALUES.get(field, frozenset()))


# In a record about a thing (an incident, an entry of its history) rather than a person,
# the fields that name or point at a person: who reported, changed or owns it. ("id" is
# the thing's own id there.)
THING_PERSON_FIELDS = IDENTITY_FIELDS - {"id"}


def record_view(who: HasRole, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record about a thing (an incident, a history entry) as this role may receive it:
    every field, except those naming a person, which follow PERSON_FIELDS like a person's,
    and the text people wrote (FREE_TEXT_FIELDS: a note) for a role that receives no names."""
    allowed = PERSON_FIELDS.get(who.role, frozenset())
    if "*" in allowed:
        return dict(record)
    return {k: v for k, v in record.items()
            if (k not in THING_PERSON_FIELDS or k in allowed) and not _free_text(k, v)}
