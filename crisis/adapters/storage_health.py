"""Whether Redis answers, and how a web process behaves when it does not (issue 10, H1).

A Redis outage of any kind (the server stopped, killed, stalled, still loading its AOF,
a demoted primary refusing writes, a write not confirmed by a replica) is one condition
for the rest of the product: *storage unavailable*. This module says which exceptions
mean it (:data:`STORAGE_ERRORS`), gives the clients the time-outs that let a request
find out quickly, and keeps one answer to "is storage up?" per process
(:class:`StorageHealth`) for the live heartbeat and the page banner.

Two clients, two time-outs:

* the **request client** (``Context.redis``, every store): ``socket_timeout`` and
  ``socket_connect_timeout`` of ``CRISIS_STORAGE_TIMEOUT`` (0.5 s), no retries. A stalled
  server costs a request 0.5 s, then the HTTP layer answers 503 with ``Retry-After``
  (``crisis/http_safety.py``), well within 1 s.
* the **tail client** (``Context.tail_redis``, blocking reads: the gateway's XREAD BLOCK,
  a consumer group's XREADGROUP BLOCK, pub/sub): a read time-out of
  :data:`TAIL_READ_TIMEOUT_S`, longer than any block the product asks for, so that a
  block of 1 s is never cut short, but a stalled server is still noticed.

Neither retries by itself: a failed command fails at once, the caller (a request, a loop)
decides. The next command opens a new connection, so when the server is back (restarted
by the watchdog of ``redis_server.py``, or an external one back up) everything reconnects
without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ReadOnlyError
from redis.retry import Retry

from crisis.errors import StorageError

log = logging.getLogger(__name__)

# ConnectionError covers BusyLoadingError (AOF still loading), MasterNotFoundError
# (Sentinel knows no primary); ReadOnlyError is a demoted primary after a failover;
# StorageError is what the product raises itself (e.g. a WAIT that a replica did not confirm).
STORAGE_ERRORS: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError, ReadOnlyError, StorageError)
DEFAULT_REQUEST_TIMEOUT_S = 0.5
TAIL_READ_TIMEOUT_S = 10.0  # > the longest XREAD/XREADGROUP BLOCK (1-5 s) the product asks for
DEFAULT_RETRY_AFTER_S = 2
PROBE_EVERY_S = 1.0  # at most one PING a second, however often the state is asked
UNAVAILABLE_MESSAGE = "storage is unavailable: changes cannot be saved and data cannot be read; retry shortly"


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` means that Redis could not be reached or could not store."""
    return isinstance(exc, STORAGE_ERRORS)


def request_options(timeout: float = DEFAULT_REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """``RedisHandle.client(**options)`` of request paths (see the module docstring).

    No retries: redis-py's default (10 on a connection error or time-out) would send a
    MULTI/EXEC again whose first EXEC may have been applied (a connection cut after it),
    storing a write twice, and would keep a request waiting on a stalled server."""
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": Retry(NoBackoff(), 0)}


def tail_options(connect_timeout: float = DEFAULT_REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """``RedisHandle.client(**options)`` of blocking reads (see the module docstring)."""
    return {"socket_timeout": TAIL_READ_TIMEOUT_S, "socket_connect_timeout": connect_timeout}


class StorageHealth:
    """This process's view of whether Redis answers: up, or down since when.

    ``available()`` answers from what requests and loops saw recently (``failed`` /
    ``succeeded``) and, at most once a second, from a PING of its own (short time-outs),
    so it is right even when nothing else touched Redis. Thread-safe.
    """

    def __init__(self, client: redis.Redis, retry_after_s: int = DEFAULT_RETRY_AFTER_S) -> None:
        self._client = client
        self.retry_after_s = max(1, int(retry_after_s))
        self._lock = threading.Lock()
        self._down_since: float | None = None  # wall-clock time of the first failure of this outage
        self._checked_at = float("-inf")  # monotonic time of the last PING (or reported outcome)

    def failed(self, exc: BaseException | None = None) -> None:
        """Something could not reach Redis just now."""
        with self._lock:
            if self._down_since is None:
                self._down_since = time.time()
                log.warning("storage unavailable: %s", f"{type(exc).__name__}: {exc}" if exc else "no answer")
            self._checked_at = time.monotonic()

    def succeeded(self) -> None:
        """Redis answered just now."""
        with self._lock:
            if self._down_since is not None:
                log.warning("storage available again after %.1f s", time.time() - self._down_since)
                self._down_since = None
            self._checked_at = time.monotonic()

    def available(self) -> bool:
        """Whether Redis answers (a PING of our own when the last outcome is over a second old)."""
        if time.monotonic() - self._checked_at >= PROBE_EVERY_S:
            self.probe()
        return self._down_since is None

    def probe(self) -> bool:
        """PING now; record and return the outcome."""
        try:
            self._client.ping()
        except STORAGE_ERRORS as exc:
            self.failed(exc)
            return False
        self.succeeded()
        return True

    def state(self) -> dict[str, Any]:
        """What the live heartbeat carries: ``{"storage": "ok"}`` or
        ``{"storage": "unavailable", "storage_down_since": t, "retry_after": s}``."""
        if self.available():
            return {"storage": "ok"}
        return {"storage": "unavailable", "storage_down_since": self._down_since, "retry_after": self.retry_after_s}
