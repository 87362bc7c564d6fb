"""Pairing codes of wall displays in Redis (``crisis.auth.display``).

``crisis:display:pair:<CODE>`` is a hash {"secret": digest of the screen's pairing
cookie, "token": the display token once an administrator paired it}; the screen's
``crisis:display:pair-secret:<digest>`` names its code. Both expire after ``PAIR_TTL_S``;
collecting the token deletes both (a code pairs once). The token waits here, in Redis
only, between the administrator's command and the screen's next ask (seconds).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any, cast

from crisis.adapters import keys

PAIR_TTL_S = 600
# No 0/O, 1/I/L, 5/S, 2/Z: read off a screen across a room and typed on a keyboard.
ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"
CODE_LENGTH = 8
_PAIR = f"{keys.PREFIX}:display:pair:"
_SECRET = f"{keys.PREFIX}:display:pair-secret:"


def normal(code: str) -> str:
    """A code as stored: letters and digits only, upper case ("abcd-efgh" is "ABCDEFGH")."""
    return re.sub(r"[^0-9A-Za-z]", "", code or "").upper()


def shown(code: str) -> str:
    """A code as the screen shows it: two groups of four."""
    return f"{code[:4]}-{code[4:]}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class PairingStore:
    def __init__(self, client: Any) -> None:
        self._redis = client

    def open(self, secret: str) -> str:
        """A new code for the screen holding ``secret``; returns it as shown."""
        digest = _digest(secret)
        while True:
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            if self._redis.hsetnx(_PAIR + code, "secret", digest):
                break
        pipe = self._redis.pipeline()
        pipe.expire(_PAIR + code, PAIR_TTL_S)
        pipe.set(_SECRET + digest, code, ex=PAIR_TTL_S)
        pipe.execute()
        return shown(code)

    def code_of(self, secret: str) -> str | None:
        """The code the screen holding ``secret`` shows (as shown), or None."""
        code = self._redis.get(_SECRET + _digest(secret))
        return shown(cast(str, code)) if code else None

    def waiting(self, code: str) -> bool:
        """A screen shows this code and nobody paired it yet."""
        record = cast("dict[str, str]", self._redis.hgetall(_PAIR + normal(code)))
        return bool(record.get("secret")) and not record.get("token")

    def pair(self, code: str, token: str) -> bool:
        """Hand ``token`` to the screen showing ``code`` (once)."""
        key = _PAIR + normal(code)
        if not self._redis.exists(key):
            return False
        return bool(self._redis.hsetnx(key, "token", token))

    def collect(self, code: str, secret: str) -> str | None:
        """The token paired to ``code``, for the screen holding ``secret`` only; the code is
        then used up."""
        key = _PAIR + normal(code)
        record = cast("dict[str, str]", self._redis.hgetall(key))
        digest = _digest(secret)
        if not record.get("token") or not secrets.compare_digest(record.get("secret", ""), digest):
            return None
        if not self._redis.delete(key):
            return None  # collected meanwhile by a concurrent ask
        self._redis.delete(_SECRET + digest)
        return record["token"]
