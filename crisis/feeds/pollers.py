"""Feed pollers: fetch each configured feed at its interval and hand it to the intake.

One thread per feed (GDACS, USGS, and CAP when a URL is set), each a plain loop: fetch,
ingest, wait. Why not a scheduler library: three jobs on fixed intervals need none, and
a thread that owns its own ``requests.Session`` needs no locking.

* A location is an http(s) URL, a ``file://`` URL or a local path. Other schemes are
  refused: a configured URL must not reach ``ftp://`` or ``gopher://`` services.
* HTTP requests carry a User-Agent (feed operators block anonymous clients), a 20 s
  timeout, and ``If-None-Match``/``If-Modified-Since`` from the last document that was
  stored: an unchanged feed costs one 304. A local file is re-read only when its size or
  modification time changed. A document that was rejected is fetched again next time.
* A failure (network, HTTP status, rejected document, Redis) is recorded in the feed
  log, where the feed health shows it, and never ends the thread. After ``n`` failures
  in a row the next poll waits ``interval * 2**n``, at most 10 minutes (or the interval,
  when that is longer): a failing server is not hammered, and recovery is seen soon.
* ``Pollers`` (the pollers of a process) hand each fetched document to the feeds inbox
  (``crisis.feeds.inbox``): it is stored there first, then taken in by the consumer group,
  so a process killed mid-work loses nothing. A poller waits for its document's outcome,
  so the validators above are kept only for a document taken in (or still queued).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

import requests

from crisis.adapters.storage_health import is_storage_error
from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.feeds import usgs, xml
from crisis.feeds.health import FEEDS
from crisis.feeds.inbox import InboxWorker
from crisis.feeds.intake import IntakeResult, MessageRejected, ingest

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https", "file")
FETCH_TIMEOUT_S = 20.0
MAX_BACKOFF_S = 600.0
# H1: Redis down is not the feed's fault: retry soon (1, 2, 4 ... s, at most this), and the
# document not stored is fetched again (its validators were not kept): the feed catches up.
MAX_STORAGE_BACKOFF_S = 15.0
MAX_BYTES = {"cap": xml.DEFAULT_MAX_BYTES, "gdacs": xml.DEFAULT_MAX_BYTES, "usgs": usgs.DEFAULT_MAX_BYTES}
ACCEPT = {
    "cap": "application/cap+xml, application/xml;q=0.9, text/xml;q=0.8",
    "gdacs": "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8",
    "usgs": "application/geo+json, application/json;q=0.9",
}


class FetchError(Exception):
    """A feed could not be fetched: network, HTTP status, size or a refused scheme."""


@dataclass(frozen=True)
class FeedSource:
    feed: str
    location: str
    interval: float


def feed_sources(settings: Settings) -> list[FeedSource]:
    """The polled feeds: those with a URL (or path) configured."""
    candidates = (("gdacs", settings.gdacs_url, settings.gdacs_interval),
                  ("usgs", settings.usgs_url, settings.usgs_interval),
                  ("cap", settings.cap_url, settings.cap_interval))
    return [FeedSource(feed, url, interval) for feed, url, interval in candidates if url]


def expected_intervals(settings: Settings) -> dict[str, float | None]:
    """Seconds between messages of each feed on the health page; None for push feeds."""
    intervals: dict[str, float | None] = dict.fromkeys(FEEDS)
    intervals.update({source.feed: source.interval for source in feed_sources(settings)})
    return intervals


def next_delay(interval: float, failures: int, max_backoff: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait before the next poll after ``failures`` failures in a row."""
    if failures <= 0:
        return interval
    return min(interval * 2 ** min(failures, 32), max(interval, max_backoff))


def storage_delay(interval: float, storage_failures: int, max_backoff: float = MAX_STORAGE_BACKOFF_S) -> float:
    """Seconds to wait after ``storage_failures`` polls in a row met a Redis outage (H1):
    1, 2, 4 ... s, at most ``max_backoff`` and never longer than the feed's own interval."""
    return min(2.0 ** max(0, min(storage_failures, 32) - 1), max_backoff, interval)


def display_location(location: str) -> str:
    """The location without user:password, for logs and the health page."""
    parts = urlsplit(location)
    if parts.password is None and parts.username is None:
        return location
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


@dataclass
class Fetched:
    body: bytes | None  # None: not modified since the last stored document
    validators: dict[str, str] = field(default_factory=dict)


class Fetcher:
    """Reads feed documents; remembers validators for conditional requests."""

    def __init__(self, user_agent: str, timeout: float = FETCH_TIMEOUT_S) -> None:
        self._session = requests.Session()
        self._session.headers["User-Agent"] = user_agent
        self._timeout = timeout
        self._validators: dict[str, dict[str, str]] = {}

    def fetch(self, location: str, max_bytes: int, accept: str = "*/*", conditional: bool = True) -> Fetched:
        scheme = urlsplit(location).scheme.lower() if "://" in location else ""
        if scheme and scheme not in ALLOWED_SCHEMES:
            raise FetchError(f"scheme {scheme!r} is not allowed; use http, https, file or a local path")
        known = self._validators.get(location, {}) if conditional else {}
        if scheme in ("http", "https"):
            return self._http(location, max_bytes, accept, known)
        path = Path(url2pathname(urlsplit(location).path)) if scheme == "file" else Path(location)
        return self._file(path, max_bytes, known)

    def remember(self, location: str, fetched: Fetched) -> None:
        """Use these validators next time: call after the document was stored."""
        if fetched.validators:
            self._validators[location] = fetched.validators

    def close(self) -> None:
        self._session.close()

    def _http(self, url: str, max_bytes: int, accept: str, known: dict[str, str]) -> Fetched:
        headers = {"Accept": accept}
        if "ETag" in known:
            headers["If-None-Match"] = known["ETag"]
        if "Last-Modified" in known:
            headers["If-Modified-Since"] = known["Last-Modified"]
        deadline = time.monotonic() + 3 * self._timeout  # the timeout is per read; cap the whole
        try:
            with self._session.get(url, headers=headers, timeout=self._timeout, stream=True) as response:
                if response.status_code == 304 and known:
                    return Fetched(None, known)
                if response.status_code >= 400 or response.status_code == 304:
                    raise FetchError(f"HTTP {response.status_code} {response.reason}")
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"document larger than {max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise FetchError(f"download took longer than {3 * self._timeout:.0f} s")
                    chunks.append(chunk)
                validators = {k: response.headers[k] for k in ("ETag", "Last-Modified") if k in response.headers}
                return Fetched(b"".join(chunks), validators)
        except requests.RequestException as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _file(path: Path, max_bytes: int, known: dict[str, str]) -> Fetched:
        try:
            stat = path.stat()
            version = {"file": f"{stat.st_mtime_ns}:{stat.st_size}"}
            if known == version:
                return Fetched(None, known)
            if stat.st_size > max_bytes:
                raise FetchError(f"{path} is {stat.st_size} bytes; the limit is {max_bytes}")
            return Fetched(path.read_bytes(), version)
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None


Intake = Callable[[Context, str, bytes, str | None], IntakeResult | None]  # None: queued, not taken in yet


class Poller:
    """One feed: ``poll_once`` fetches and ingests, ``run`` repeats it until stopped."""

    def __init__(self, context: Context, source: FeedSource, fetcher: Fetcher, intake: Intake = ingest) -> None:
        self.context = context
        self.source = source
        self._fetcher = fetcher
        self._intake = intake
        self.failures = 0
        self.storage_failures = 0  # H1: polls in a row that met a Redis outage
        self.polls = 0
        self.last_result: IntakeResult | None = None

    @property
    def actor(self) -> str:
        return f"poller:{self.source.feed}"

    def poll_once(self) -> IntakeResult | None:
        """Fetch and ingest once. Never raises: failures go to the feed log."""
        feed, location = self.source.feed, self.source.location
        self.polls += 1
        try:
            fetched = self._fetcher.fetch(location, MAX_BYTES.get(feed, xml.DEFAULT_MAX_BYTES), ACCEPT.get(feed, "*/*"))
            if fetched.body is None:
                self.context.feed_log.accepted(feed, 0)  # heard from: the feed is alive
            else:
                self.last_result = self._intake(self.context, feed, fetched.body, self.actor)
                self._fetcher.remember(location, fetched)
            self.failures = self.storage_failures = 0
            return self.last_result if fetched.body is not None else None
        except MessageRejected as exc:  # already counted and dead-lettered by the intake
            log.warning("%s: %s rejected: %s", feed, display_location(location), exc)
        except FetchError as exc:
            self._record(f"{display_location(location)}: {exc}")
        except Exception as exc:  # noqa: BLE001 - Redis down, a bug: the thread must live on
            if is_storage_error(exc):  # H1: not a feed failure; nothing to record it in either
                self.storage_failures += 1
                log.warning("%s: storage unavailable (%s: %s); trying again in %.0f s", feed, type(exc).__name__, exc,
                            storage_delay(self.source.interval, self.storage_failures))
                return None
            log.exception("%s: polling %s failed", feed, display_location(location))
            self._record(f"{display_location(location)}: {type(exc).__name__}: {exc}")
        self.failures += 1
        self.storage_failures = 0  # H1: storage answered; the feed is what failed
        return None

    def _record(self, message: str) -> None:
        log.warning("%s: %s", self.source.feed, message)
        try:
            self.context.feed_log.rejected(self.source.feed, [{"field": "fetch", "message": message}], b"",
                                           {"url": display_location(self.source.location)})
        except Exception:  # noqa: BLE001 - the log itself may be what is down
            log.exception("%s: could not record the failure", self.source.feed)

    def close(self) -> None:
        self._fetcher.close()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll_once()
            stop.wait(self.delay())

    def delay(self) -> float:
        """Seconds until the next poll: a short back-off while storage is down (H1), else ``next_delay``."""
        if self.storage_failures:
            return storage_delay(self.source.interval, self.storage_failures)
        return next_delay(self.source.interval, self.failures)


class Pollers:
    """The pollers of one process: ``start()`` a thread per feed, ``stop()`` them all."""

    def __init__(self, context: Context, sources: list[FeedSource], user_agent: str,
                 inbox: InboxWorker | None = None) -> None:
        """``inbox``: the process's inbox consumer (started and stopped by its owner); None:
        one of their own, started with the pollers (when there are any)."""
        self._own_inbox = inbox is None
        self.inbox = inbox if inbox is not None else InboxWorker.from_settings(context)
        self.pollers = [Poller(context, s, Fetcher(user_agent), self.inbox.submit) for s in sources]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_settings(cls, context: Context, settings: Settings | None = None,
                      inbox: InboxWorker | None = None) -> Pollers:
        settings = settings or context.settings
        return cls(context, feed_sources(settings), settings.feed_user_agent, inbox)

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        if self._own_inbox and self.pollers:
            self.inbox.start()
        for poller in self.pollers:
            log.info("polling %s every %.0f s from %s", poller.source.feed, poller.source.interval,
                     display_location(poller.source.location))
            thread = threading.Thread(target=poller.run, args=(self._stop,), name=f"crisis-poller-{poller.source.feed}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; returns within ``timeout`` (a fetch in flight ends on its own)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        for poller in self.pollers:
            poller.close()
        if self._own_inbox:
            self.inbox.stop()

    def wait(self) -> None:
        """Block until ``stop`` (for ``crisis feeds``); wakes up for signals."""
        while not self._stop.wait(1.0):
            pass
