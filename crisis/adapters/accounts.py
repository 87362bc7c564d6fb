"""Users (hashed passwords) and API tokens (stored as SHA-256 digests) in Redis.

A user record: ``password_hash`` (argon2), ``role``, ``region`` and ``regions`` (a regional
desk may be granted several regions: ``regions`` lists them all, ``region`` is the first,
as older records had it), ``generation`` (random;
a session names it, and a new one ends every session of the user: sign-out, password
change, re-adding), ``disabled`` and ``created``. A token record: ``name``, ``role``,
``region``, ``regions`` and ``created``, under the digest of the token (the token itself is never
kept). A token whose name is a disabled user's works no more than that user does.
A "traveller" token's record also has ``traveller_id`` (the one person it checks in
for); a "warden" token's record has ``people`` (the traveller ids assigned to that
warden, kept the same on every warden token of that name: ``assign_warden``).

Every change is published on ``keys.ACCOUNT_CHANGES`` as JSON ``{"kind": "user"|"token",
"name": ...}``, so web processes re-check the principals of their open sockets
(``AccountStore.refresh``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crisis.adapters import keys
from crisis.domain import access
from crisis.domain.access import ROLES

__all__ = ["ROLES", "AccountStore", "NoSuchAccount", "Principal", "TokenInfo", "UserInfo"]

# How long the "token used today" marks live: past the end of their UTC day.
_TOKEN_USED_TTL_S = 2 * 86_400


class NoSuchAccount(LookupError):
    """No user (or token) of that name."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a logged-in user or the holder of an API token."""

    name: str
    role: str
    region: str | None = None
    via_token: bool = False
    # What proves it: for a token, the token's digest; for a session, the user's
    # session generation when it signed in. ``AccountStore.refresh`` re-checks it.
    credential: str = ""
    # A "traveller" token's person; a "warden" token's assigned people (crisis.domain.access.may_check_in).
    traveller_id: str | None = None
    people: frozenset[str] = frozenset()
    # Every region granted (a regional desk may have several); ``region`` is the first.
    # Read them through ``crisis.domain.access.regions_of``.
    regions: tuple[str, ...] = ()

    # The rules live in crisis.domain.access; these read them for this principal.
    @property
    def sees_all_regions(self) -> bool:
        return access.sees_all_regions(self)

    @property
    def can_read(self) -> bool:
        return access.can_read(self)

    @property
    def can_write(self) -> bool:
        return access.can_write(self)

    @property
    def can_edit(self) -> bool:
        return access.can_edit(self)

    @property
    def sees_names(self) -> bool:
        return access.sees_names(self)


@dataclass(frozen=True)
class UserInfo:
    """A user as listed: never its password hash nor its session generation."""

    name: str
    role: str
    region: str | None
    disabled: bool
    created: str
    regions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "region": self.region, "regions": list(self.regions),
                "disabled": self.disabled, "created": self.created}


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token nor its digest."""

    name: str
    role: str
    region: str | None
    created: str
    regions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "region": self.region, "regions": list(self.regions),
                "created": self.created}


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a password: the principal, or None and why not."""

    principal: Principal | None
    reason: str  # "ok", "unknown user", "wrong password", "disabled"


Regions = str | Iterable[str] | None


def region_list(region: Regions) -> list[str]:
    """Granted regions as given: one code, codes joined by "," or a list; each once, in order."""
    items = [region] if isinstance(region, str) else list(region or ())
    found: dict[str, None] = {}
    for item in items:
        for code in str(item).split(","):
            if code.strip():
                found.setdefault(code.strip(), None)
    return list(found)


def _granted(record: dict[str, Any]) -> tuple[str, ...]:
    """A record's regions: its ``regions``, or its one ``region`` (records written before)."""
    return tuple(region_list(record.get("regions") or record.get("region")))


def _region_fields(region: Regions) -> dict[str, Any]:
    codes = region_list(region)
    return {"region": codes[0] if codes else None, "regions": codes}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_generation() -> str:
    return secrets.token_urlsafe(16)


class AccountStore:
    def __init__(self, client: redis.Redis, hasher: PasswordHasher | None = None) -> None:
        self._redis = client
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    # -- users ---------------------------------------------------------------------

    def _record(self, name: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.USERS, name)
        return json.loads(cast(str, raw)) if raw else None

    def _update(self, name: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> tuple[
            dict[str, Any] | None, dict[str, Any] | None]:
        """Read-modify-write one user record atomically; ``change`` returns the new record
        (None deletes it). Returns (before, after). Publishes the change."""
        outcome: list[dict[str, Any] | None] = []

        def apply(pipe: Any) -> None:  # redis.client.Pipeline, WATCHing the users hash
            outcome.clear()
            raw = pipe.hget(keys.USERS, name)
            before = json.loads(raw) if raw else None
            after = change(None if before is None else dict(before))
            pipe.multi()
            if after is None:
                pipe.hdel(keys.USERS, name)
            else:
                pipe.hset(keys.USERS, name, json.dumps(after))
            outcome.extend((before, after))

        self._redis.transaction(apply, keys.USERS)  # retried if the hash changed meanwhile
        before, after = outcome
        self._publish("user", name)
        return before, after

    def _principal(self, name: str, record: dict[str, Any]) -> Principal:
        granted = _granted(record)
        return Principal(name=name, role=record["role"], region=granted[0] if granted else None, regions=granted,
                         credential=str(record.get("generation") or ""))

    def add_user(self, name: str, password: str, role: str, region: Regions = None) -> None:
        """Add a user, or replace one (new password, role and region(s): one code, codes
        joined by "," or a list): replacing ends every session of the old one."""
        password_hash = self._hasher.hash(password)

        def replace(old: dict[str, Any] | None) -> dict[str, Any]:
            return {"password_hash": password_hash, "role": role, **_region_fields(region),
                    "generation": _new_generation(), "disabled": False,
                    "created": (old or {}).get("created") or _now()}

        self._update(name, replace)

    def set_password(self, name: str, password: str) -> None:
        """A new password; ends every session of the user. NoSuchAccount if unknown."""
        password_hash = self._hasher.hash(password)
        self._update(name, _existing(name, lambda r: {**r, "password_hash": password_hash,
                                                       "generation": _new_generation()}))

    def change_user(self, name: str, role: str, region: Regions) -> tuple[UserInfo, UserInfo]:
        """A new role and region(s) (sessions go on, with the new rights from their next
        request). Returns (before, after)."""
        before, after = self._update(name, _existing(name, lambda r: {**r, "role": role, **_region_fields(region)}))
        return _info(name, before), _info(name, after)

    def set_disabled(self, name: str, disabled: bool) -> tuple[UserInfo, UserInfo]:
        """Disable (no sign-in; sessions and the user's tokens stop working) or enable."""
        before, after = self._update(name, _existing(name, lambda r: {**r, "disabled": disabled}))
        return _info(name, before), _info(name, after)

    def remove_user(self, name: str) -> UserInfo:
        """Remove a user and the tokens of that name. Returns what was removed."""
        before, _ = self._update(name, _existing(name, lambda r: None))
        self.revoke_tokens(name)
        return _info(name, before)

    def end_sessions(self, name: str) -> bool:
        """Sign the user out everywhere (a new session generation). False if unknown."""
        try:
            self._update(name, _existing(name, lambda r: {**r, "generation": _new_generation()}))
        except NoSuchAccount:
            return False
        return True

    def user(self, name: str) -> Principal | None:
        """An active (not disabled) user, with its current session generation."""
        record = self._record(name)
        if record is None or record.get("disabled"):
            return None
        return self._principal(name, record)

    def user_info(self, name: str) -> UserInfo | None:
        record = self._record(name)
        return _info(name, record) if record is not None else None

    def session_user(self, name: str, generation: str) -> Principal | None:
        """The user a session names, if that session has not ended: the user exists, is
        not disabled, and has not signed out or changed password since."""
        current = self.user(name)
        if current is None or not generation or not secrets.compare_digest(current.credential, generation):
            return None
        return current

    def users(self) -> list[Principal]:
        """The active users."""
        names = cast("list[str]", self._redis.hkeys(keys.USERS))  # the client decodes responses
        found = (self.user(n) for n in sorted(names))
        return [p for p in found if p is not None]  # a user removed meanwhile is left out

    def user_list(self) -> list[UserInfo]:
        """Every user, disabled ones too."""
        records = cast("dict[str, str]", self._redis.hgetall(keys.USERS))
        return [_info(name, json.loads(records[name])) for name in sorted(records)]

    def verify(self, name: str, password: str) -> Verdict:
        """Check a password. An unknown name is checked against a fixed dummy hash, so it
        costs as long as a known one, and no new hash is ever computed here."""
        record = self._record(name) if name else None
        stored = record.get("password_hash") if record else None
        try:
            self._hasher.verify(stored or self._dummy(), password)
            matched = stored is not None
        except (VerificationError, InvalidHashError):
            matched = False
        if record is None:
            return Verdict(None, "unknown user")
        if not matched:
            return Verdict(None, "wrong password")
        if record.get("disabled"):
            return Verdict(None, "disabled")
        if not record.get("generation"):  # a record from before session generations
            _, record = self._update(name, _existing(name, lambda r: {**r, "generation": r.get("generation")
                                                                      or _new_generation()}))
            assert record is not None
        return Verdict(self._principal(name, record), "ok")

    def authenticate(self, name: str, password: str) -> Principal | None:
        return self.verify(name, password).principal

    def _dummy(self) -> str:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            return self._dummy_hash

    # -- tokens --------------------------------------------------------------------

    def create_token(self, name: str, role: str, region: Regions = None, traveller_id: str | None = None) -> str:
        """A new token. A "traveller" token checks in for ``traveller_id`` only (without one,
        for nobody); only a traveller token has one (ValueError). A "warden" token starts
        with the people already assigned to that warden name."""
        if traveller_id and role != "traveller":
            raise ValueError("only a traveller token is bound to a traveller id")
        token = secrets.token_urlsafe(32)
        record: dict[str, Any] = {"name": name, "role": role, **_region_fields(region), "created": _now()}
        if traveller_id:
            record["traveller_id"] = traveller_id
        if role == "warden":
            record["people"] = sorted(self.warden_people(name))
        self._redis.hset(keys.TOKENS, _digest(token), json.dumps(record))
        self._publish("token", name)
        return token

    def _token_principal(self, digest: str) -> Principal | None:
        raw = self._redis.hget(keys.TOKENS, digest)
        if not raw:
            return None
        record = json.loads(cast(str, raw))
        owner = self._record(record["name"])
        if owner is not None and owner.get("disabled"):
            return None  # a disabled user's tokens stop working with it
        granted = _granted(record)
        return Principal(name=record["name"], role=record["role"], region=granted[0] if granted else None,
                         regions=granted, via_token=True, credential=digest, traveller_id=record.get("traveller_id"),
                         people=frozenset(record.get("people") or ()))

    def token(self, token: str) -> Principal | None:
        if not token:
            return None
        return self._token_principal(_digest(token))

    def tokens(self) -> list[TokenInfo]:
        records = [json.loads(raw) for raw in cast("dict[str, str]", self._redis.hgetall(keys.TOKENS)).values()]
        infos = [TokenInfo(r["name"], r["role"], r.get("region"), r.get("created") or "", _granted(r)) for r in records]
        return sorted(infos, key=lambda t: (t.name, t.created))

    def revoke_tokens(self, name: str) -> int:
        """Revoke every token of that name; how many there were."""
        doomed = [d for d, raw in cast("dict[str, str]", self._redis.hgetall(keys.TOKENS)).items()
                  if json.loads(raw)["name"] == name]
        count = int(self._redis.hdel(keys.TOKENS, *doomed)) if doomed else 0
        if count:
            self._publish("token", name)
        return count

    def warden_people(self, name: str) -> set[str]:
        """The traveller ids assigned to the warden of that name (on its warden tokens)."""
        people: set[str] = set()
        for raw in cast("dict[str, str]", self._redis.hgetall(keys.TOKENS)).values():
            record = json.loads(raw)
            if record["name"] == name and record["role"] == "warden":
                people.update(record.get("people") or ())
        return people

    def assign_warden(self, name: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> tuple[set[str], set[str]]:
        """Add and remove people of the warden of that name (every warden token of that
        name, atomically). NoSuchAccount when there is no warden token of that name.
        Returns (before, after)."""
        outcome: list[set[str]] = []
        added, removed = set(add), set(remove)

        def apply(pipe: Any) -> None:  # WATCHing the tokens hash
            outcome.clear()
            records = {d: json.loads(raw) for d, raw in pipe.hgetall(keys.TOKENS).items()}
            mine = {d: r for d, r in records.items() if r["name"] == name and r["role"] == "warden"}
            if not mine:
                raise NoSuchAccount(f"no warden token named {name!r}: create one first (crisis tokens create {name} --role warden)")
            before = {p for r in mine.values() for p in r.get("people") or ()}
            after = (before | added) - removed
            pipe.multi()
            for digest, record in mine.items():
                pipe.hset(keys.TOKENS, digest, json.dumps({**record, "people": sorted(after)}))
            outcome.extend((before, after))

        self._redis.transaction(apply, keys.TOKENS)
        self._publish("token", name)
        return outcome[0], outcome[1]

    def first_use_today(self, principal: Principal) -> bool:
        """True the first time this token is seen in the current UTC day (in any process)."""
        day = datetime.now(timezone.utc).date().isoformat()
        return bool(self._redis.set(keys.token_used(day, principal.credential), "1", nx=True, ex=_TOKEN_USED_TTL_S))

    # -- both ----------------------------------------------------------------------

    def refresh(self, principal: Principal) -> Principal | None:
        """The same credential as it stands now: None once the token was revoked, or the
        user removed, disabled or signed out everywhere; else with its current role and
        region. Open sockets are re-checked with this when an account changes."""
        if principal.via_token:
            return self._token_principal(principal.credential)
        return self.session_user(principal.name, principal.credential)

    def _publish(self, kind: str, name: str) -> None:
        self._redis.publish(keys.ACCOUNT_CHANGES, json.dumps({"kind": kind, "name": name}))


def _existing(name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Callable[
        [dict[str, Any] | None], dict[str, Any] | None]:
    def apply(record: dict[str, Any] | None) -> dict[str, Any] | None:
        if record is None:
            raise NoSuchAccount(f"no user named {name!r}")
        return change(record)

    return apply


def _info(name: str, record: dict[str, Any] | None) -> UserInfo:
    record = record or {}
    return UserInfo(name, str(record.get("role", "")), record.get("region"), bool(record.get("disabled")),
                    str(record.get("created") or ""), _granted(record))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
