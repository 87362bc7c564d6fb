"""A marker that tells a web process's in-memory people picture whether the data it was
loaded from is still there (``crisis.realtime.people``).

The first process to load sets ``EPOCH_KEY`` to a random token (SET NX) and every process
remembers the token it saw; when the key is gone or different, the database was emptied
or replaced under the picture (a test's FLUSHDB, a restore) and the picture is loaded again.
"""

from __future__ import annotations

import secrets
import redis

from crisis.adapters import keys

EPOCH_KEY = keys.PICTURE_EPOCH


class PictureEpoch:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def mark(self) -> str:
        """The current token, set first if there is none."""
        found = self.current()
        if found is not None:  # no write: after a failover with no replica left a write's WAIT fails
            return found
        self._redis.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
        return self.current() or ""

    def current(self) -> str | None:
        found = self._redis.get(EPOCH_KEY)
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)
