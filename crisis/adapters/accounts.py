"""Users (hashed passwords) and API tokens (stored as SHA-256 digests) in Redis."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import cast

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crisis.adapters import keys
from crisis.domain import access
from crisis.domain.access import ROLES

__all__ = ["ROLES", "AccountStore", "Principal"]


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


class AccountStore:
    def __init__(self, client: redis.Redis, hasher: PasswordHasher | None = None) -> None:
        self._redis = client
        self._hasher = hasher or PasswordHasher()

    def add_user(self, name: str, password: str, role: str, region: str | None = None) -> None:
        record = {"password_hash": self._hasher.hash(password), "role": role, "region": region}
        self._redis.hset(keys.USERS, name, json.dumps(record))

    def user(self, name: str) -> Principal | None:
        raw = self._redis.hget(keys.USERS, name)
        if not raw:
            return None
        record = json.loads(raw)
        return Principal(name=name, role=record["role"], region=record.get("region"))

    def users(self) -> list[Principal]:
        names = cast("list[str]", self._redis.hkeys(keys.USERS))  # the client decodes responses
        found = (self.user(n) for n in sorted(names))
        return [p for p in found if p is not None]  # a user removed meanwhile is left out

    def authenticate(self, name: str, password: str) -> Principal | None:
        raw = self._redis.hget(keys.USERS, name)
        if not raw:
            # Hash anyway so the answer takes as long for unknown users.
            self._hasher.hash(password)
            return None
        record = json.loads(raw)
        try:
            self._hasher.verify(record["password_hash"], password)
        except (VerificationError, InvalidHashError):
            return None
        return Principal(name=name, role=record["role"], region=record.get("region"))

    def create_token(self, name: str, role: str, region: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        record = {"name": name, "role": role, "region": region}
        self._redis.hset(keys.TOKENS, _digest(token), json.dumps(record))
        return token

    def token(self, token: str) -> Principal | None:
        if not token:
            return None
        raw = self._redis.hget(keys.TOKENS, _digest(token))
        if not raw:
            return None
        record = json.loads(raw)
        return Principal(name=record["name"], role=record["role"], region=record.get("region"), via_token=True,
                         credential=_digest(token))

    def refresh(self, principal: Principal) -> Principal | None:
        """The same credential as it stands now: None once the token was revoked, or the
        user removed, disabled or signed out everywhere; else with its current role and
        region. Open sockets are re-checked with this when an account changes."""
        if principal.via_token:
            raw = self._redis.hget(keys.TOKENS, principal.credential)
            if not raw:
                return None
            record = json.loads(raw)
            return Principal(name=record["name"], role=record["role"], region=record.get("region"), via_token=True,
                             credential=principal.credential)
        current = self.user(principal.name)
        if current is None or current.credential != principal.credential:
            return None
        return current

    def revoke_tokens(self, name: str) -> int:
        doomed = [d for d, raw in self._redis.hgetall(keys.TOKENS).items() if json.loads(raw)["name"] == name]
        return int(self._redis.hdel(keys.TOKENS, *doomed)) if doomed else 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
