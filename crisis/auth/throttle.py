"""Sign-in throttling: how many password checks may run, whose go first, and when a
sign-in is refused before its password is checked at all.

Failed attempts are limited per account name and per client address (Flask-Limiter's
rate limiting, stored in the product's Redis so every process shares it; attempts still
being checked count too); over a limit the answer is 429 with Retry-After, even for the
right password. At most ``settings.max_concurrent_hashes`` password checks run at once,
and never more than the CPUs less one (argon2 takes 64 MiB and a core each); the others
wait their turn, fewest recent unsuccessful attempts of their account and address first,
and a browser that signed in as that user before (its ``crisis_device`` cookie) before
everyone. One that cannot get a turn within ``HASH_WAIT_S`` is answered 503 with
Retry-After. An unknown name is checked against one fixed dummy hash, as long as a real
one takes (``crisis.adapters.accounts``).

This module holds the mechanisms only; the sign-in view (``crisis.auth.login``) applies
them and gives the answers.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import limits
import limits.strategies
from flask_limiter import Limiter
from itsdangerous import BadData, URLSafeTimedSerializer

HASH_WAIT_S = 3.0  # longest a sign-in waits for its turn to check a password
HASH_BUSY_RETRY_S = 2
DEVICE_COOKIE = "crisis_device"  # "this browser signed in as ... before" (see DeviceCookies)
DEVICE_DAYS = 365
RECENT_ATTEMPTS = "1000 per minute"  # counted up to this, for a sign-in's place in the queue


def _storage_uri(redis_url: str) -> str:
    """The limits library's URI for the product's Redis (redis+unix:// for a socket)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


@dataclass
class Attempt:
    """A sign-in under way: the limit keys it counts against, its standing (recent
    attempts on its account and from its address that did not sign in: its place in
    the queue for a password check), or the limit it is over and for how long."""

    ids: list[tuple[limits.RateLimitItem, tuple[str, ...]]]
    recent: list[tuple[str, ...]] = field(default_factory=list)
    standing: int = 0
    limited: tuple[str, int] | None = None


class LoginThrottle:
    """Failed sign-ins per account name and per client address, over a moving window,
    counted by Flask-Limiter's rate limiter in Redis (shared by every process).

    Attempts still being checked count too (in this process), so a burst of concurrent
    wrong passwords cannot all slip under a limit before the first of them fails."""

    def __init__(self, limiter: Limiter, per_account: str, per_address: str) -> None:
        self._limiter = limiter
        self._rules = (("account", limits.parse(per_account)), ("address", limits.parse(per_address)))
        self._pending: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()
        # Every attempt, whatever its outcome, per account and per address over the last
        # minute: a sign-in's place in the queue for a password check (fewest first).
        self._attempts = limits.parse(RECENT_ATTEMPTS)
        self._recent = limits.strategies.FixedWindowRateLimiter(limiter.storage)

    def begin(self, name: str, address: str, known_device: bool = False) -> Attempt:
        """Count an attempt in (then ``end`` it), unless a limit is reached. From a
        browser that signed in as this user before (``known_device``), the attempt is
        first in the queue and not held to the per-address limit (so users behind the
        same address as an attacker still get in); the per-account limit still holds."""
        strategy = self._limiter.limiter
        attempt = Attempt([])
        stats = []
        for which, item in self._rules:
            if known_device and which == "address":
                continue
            ids = ("login-failed", which, name[:128] if which == "account" else address)
            window = strategy.get_window_stats(item, *ids)
            if window.remaining <= 0:  # refused at once: the cheapest answer a flood can get
                attempt.limited = (which, max(1, math.ceil(window.reset_time - time.time())))
                return attempt
            stats.append((which, item, ids, window))
        with self._lock:
            for which, item, ids, window in stats:
                if item.amount - window.remaining + self._pending.get(ids, 0) >= item.amount:
                    attempt.limited = (which, 1)  # the ones under way may yet succeed
                    return attempt
            for _, item, ids, _ in stats:
                self._pending[ids] = self._pending.get(ids, 0) + 1
                attempt.ids.append((item, ids))
        if known_device:
            attempt.standing = -1
            return attempt
        for which, _, ids, _ in stats:
            recent = ("login-attempts", which, ids[-1])
            attempt.standing += self._attempts.amount - self._recent.get_window_stats(self._attempts, *recent).remaining
            self._recent.hit(self._attempts, *recent)
            attempt.recent.append(recent)
        return attempt

    def end(self, attempt: Attempt, failed: bool, succeeded: bool = False) -> None:
        with self._lock:
            for _, ids in attempt.ids:
                left = self._pending.get(ids, 0) - 1
                if left > 0:
                    self._pending[ids] = left
                else:
                    self._pending.pop(ids, None)
        if failed:
            for item, ids in attempt.ids:
                self._limiter.limiter.hit(item, *ids)
        elif succeeded:
            for recent in attempt.recent:  # a sign-in that worked does not push its next one back
                self._recent.hit(self._attempts, *recent, cost=-1)

    def allow_once(self, rate: str, *ids: str) -> bool:
        """A hit on a limit of its own (for bounding audit entries): False past it."""
        return bool(self._limiter.limiter.hit(limits.parse(rate), *ids))


class DeviceCookies:
    """"This browser signed in as NAME before": a signed cookie (OWASP's device cookies)
    that puts its holder's sign-ins for that name first in the queue for a password
    check. It proves nothing else, and names the user only by a digest."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="crisis.device")

    @staticmethod
    def _who(name: str) -> str:
        return hashlib.sha256(name.encode()).hexdigest()[:32]

    def issue(self, name: str) -> str:
        return self._serializer.dumps({"u": self._who(name)})

    def known(self, cookie: str | None, name: str) -> bool:
        if not cookie or not name:
            return False
        try:
            value = self._serializer.loads(cookie, max_age=DEVICE_DAYS * 86_400)
        except BadData:
            return False
        return isinstance(value, dict) and hmac.compare_digest(str(value.get("u", "")), self._who(name))


class HashGate:
    """At most ``slots`` password checks at once in this process. Waiters are served by
    standing (fewest recent sign-in attempts on their account and from their address
    first), then in order of arrival: a flood from one address or on one account queues
    behind everyone else's sign-ins, not in front of them."""

    def __init__(self, slots: int) -> None:
        self._free = max(1, slots)
        self._lock = threading.Lock()
        self._waiters: list[list[Any]] = []  # heap of [standing, seq, event, cancelled]
        self._seq = itertools.count()

    def acquire(self, standing: int = 0, timeout: float = HASH_WAIT_S) -> bool:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            entry = [standing, next(self._seq), threading.Event(), False]
            heapq.heappush(self._waiters, entry)
        if entry[2].wait(timeout):
            return True
        with self._lock:
            if entry[2].is_set():  # handed a slot just as the wait ended
                return True
            entry[3] = True
            return False

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                entry = heapq.heappop(self._waiters)
                if not entry[3]:
                    entry[2].set()  # the slot passes straight to the next waiter
                    return
            self._free += 1

