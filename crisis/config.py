"""Settings, read from the environment once, into one frozen object.

Nothing here runs at import time: call ``Settings.from_env()`` in an entry point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _float_or_none(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _words(value: str | None, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list ("a,b"); unset is ``default``, an empty string is none."""
    if value is None:
        return default
    return tuple(w.strip() for w in value.split(",") if w.strip())


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    secret_key: str | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8050
    tick_seconds: float = 0.25
    redis_fsync: str = "always"
    positions_maxlen: int = 200_000
    map_style: str = "white-bg"
    stale_incident_minutes: int = 60
    # A point at sea takes the region of the nearest country within this (geodesic km); beyond, its ocean basin's
    sea_region_km: float = 500.0
    closed_visible_minutes: int = 60  # a closed incident stays on the list and board, greyed, this long
    feeds_enabled: bool = True
    cap_url: str | None = None
    cap_interval: float = 60.0
    gdacs_url: str | None = None
    gdacs_interval: float = 300.0
    usgs_url: str | None = None
    usgs_interval: float = 60.0
    usgs_min_magnitude: float | None = None
    feed_user_agent: str = "crisis-centre/0.1 (Crisis Coordination Centre feed poller)"
    session_days: int = 30
    # Access and audit (issue 6)
    allowed_origins: tuple[str, ...] = ()  # other origins allowed on the socket (the app's own always is)
    secure_cookies: bool = False  # mark every cookie Secure (set behind TLS)
    audit_keep_days: int = 400
    login_limit_account: str = "20 per minute"  # failed sign-ins per account name
    login_limit_address: str = "60 per minute"  # failed sign-ins per client address
    pair_limit_address: str = "20 per minute"  # new wall pairing codes (/wall/pair) per client address
    max_concurrent_hashes: int = 2  # password hashes computed at once (64 MiB each)
    socket_events_per_second: float = 2.0  # per connection, bursts of socket_event_burst
    socket_event_burst: int = 10
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-* headers are believed
    # Who is affected (issue 7): radius per severity (severity:km) for an incident with
    # neither area nor radius, and a margin around every area, in km on the ground
    default_radius_km: str = "1:5,2:10,3:25,4:50,5:100"
    affected_buffer_km: float = 0.0
    position_max_age_hours: float = 24.0  # an observed position older than this no longer places a traveller
    # Standby roster and surge dispatch (issue 8; rules in crisis/roster/)
    roster_skills: tuple[str, ...] = ("disaster_assessment", "hostage_incident_management", "close_protection",
                                      "stress_counselling", "first_aid", "security_analysis")
    roster_min_worldwide_24h: int = 2  # fewer officers on standby at 24 h readiness worldwide is a warning
    roster_min_per_region: int = 1  # fewer officers covering a region (slot for it, or worldwide) is a warning
    roster_required_languages: tuple[str, ...] = ("ar", "fr")  # ISO 639-1: at least one speaker on standby at all times
    roster_required_skills: tuple[str, ...] = ("hostage_incident_management",)  # at least one on standby at all times
    roster_max_standby_days: float = 14.0  # rest rule: longer continuous standby is a warning
    roster_rest_days: float = 7.0  # after returning from a deployment an officer rests this long
    roster_cruise_kmh: float = 800.0  # eta = readiness + distance / cruise + overheads
    roster_overhead_hours: float = 6.0  # check-in, connections, road at both ends
    roster_off_standby_notice_hours: float = 72.0  # readiness assumed for an officer not on standby
    # Cursor-on-Target listener of `crisis feeds` (TCP and UDP on the same port; 0: off)
    cot_host: str = "127.0.0.1"
    cot_port: int = 8087
    # Wall display (issue 9): clocks besides UTC, as IANA time zone names ("Europe/Zurich,America/New_York")
    wall_timezones: tuple[str, ...] = ("America/New_York", "Europe/Zurich", "Asia/Bangkok")
    # H1 (issue 10): a Redis outage (crisis.adapters.storage_health)
    storage_timeout_s: float = 0.5  # read/connect time-out of request paths: a stalled Redis is a 503 after this
    storage_retry_after_s: int = 2  # Retry-After of a 503 "storage_unavailable"
    redis_watchdog_s: float = 0.5  # embedded server: how often each process checks it is alive (restarts it if not)
    # H5 (issue 10): the feeds inbox (crisis.feeds.inbox): consumer group "intake"
    inbox_claim_idle_ms: int = 60_000  # an entry unacknowledged this long is claimed (XAUTOCLAIM) by a live consumer
    inbox_max_deliveries: int = 5  # an entry delivered more often than this is dead-lettered, not retried
    inbox_consumer: str = ""  # this process's consumer name; empty: host:pid
    inbox_test_pause: str = ""  # tests only: "read" or "processed" makes the intake stop there (to be killed)
    # H2 (issue 10): Redis behind Sentinel, and acknowledging writes after WAIT (crisis.adapters.redis_ha)
    redis_sentinels: tuple[str, ...] = ()  # "host:port,host:port"; set: the primary is asked of them (REDIS_URL unused)
    redis_sentinel_service: str = "crisis"  # the name the Sentinels monitor the primary under
    # Credentials and TLS of an external Redis beyond REDIS_URL (crisis.adapters.redis_ha.RedisAuth)
    redis_username: str | None = None  # the data nodes' ACL user (REDIS_URL's own wins)
    redis_password: str | None = None  # the data nodes' requirepass / ACL password (REDIS_URL's own wins)
    redis_sentinel_username: str | None = None  # the Sentinels' own user
    redis_sentinel_password: str | None = None  # the Sentinels' own requirepass
    redis_tls: bool = False  # Sentinel mode: TLS to the Sentinels and the data nodes (REDIS_URL: use rediss://)
    redis_tls_ca_certs: str | None = None  # PEM file of the CA(s) the servers' certificates are checked against
    wait_replicas: int = 0  # >0: every write is acknowledged only once this many replicas have it (WAIT)
    wait_timeout_ms: int = 1000  # how long a write waits for them; fewer in time: 503, retry
    # The named lock of the handlers (crisis.adapters.redis_ha.LeasedLock): a lease its holder renews
    lock_lease_s: float = 5.0  # a holder killed frees the lock after at most this long
    lock_wait_s: float = 30.0  # a caller waits this long for a lock held by another, then fails
    # H4 (issue 10): retention, each stream's MAXLEN (approximate, on every append); 0 keeps every
    # entry. positions_maxlen (above) and audit_keep_days (by age) are the others. The incident,
    # area and roster logs are what `crisis rebuild` replays: trim them only with a backup kept.
    incidents_maxlen: int = 0
    areas_maxlen: int = 0
    roster_maxlen: int = 0
    people_maxlen: int = 1_000_000
    travellers_maxlen: int = 100_000
    devices_maxlen: int = 100_000
    deadletter_maxlen: int = 100_000
    # H6 (issue 10): the live socket's concurrency model and slow clients (crisis.realtime.gateway.BoundedManager)
    async_mode: str = "threading"  # "threading" or "gevent" (monkey-patched at `crisis serve` start)
    socket_lag_packets: int = 32  # a client this many messages behind gets positions coalesced, no heartbeat
    socket_max_backlog: int = 400  # this many behind: incidents stop for it and it is told to "resync"
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls(
            redis_url=env.get("REDIS_URL") or None,
            secret_key=env.get("SECRET_KEY") or None,
            data_dir=Path(env.get("CRISIS_DATA_DIR") or "var").resolve(),
            host=env.get("CRISIS_HOST", "127.0.0.1"),
            port=int(env.get("CRISIS_PORT", "8050")),
            tick_seconds=float(env.get("CRISIS_TICK_SECONDS", "0.25")),
            redis_fsync=env.get("CRISIS_REDIS_FSYNC", "always"),
            positions_maxlen=int(env.get("CRISIS_POSITIONS_MAXLEN", "200000")),
            map_style=env.get("CRISIS_MAP_STYLE", "white-bg"),
            stale_incident_minutes=int(env.get("CRISIS_STALE_INCIDENT_MINUTES", "60")),
            sea_region_km=float(env.get("CRISIS_SEA_REGION_KM") or "500"),
            closed_visible_minutes=int(env.get("CRISIS_CLOSED_VISIBLE_MINUTES") or "60"),
            feeds_enabled=_bool(env.get("CRISIS_FEEDS"), True),
            cap_url=env.get("CRISIS_CAP_URL") or None,
            cap_interval=float(env.get("CRISIS_CAP_INTERVAL", "60")),
            gdacs_url=env.get("CRISIS_GDACS_URL") or None,
            gdacs_interval=float(env.get("CRISIS_GDACS_INTERVAL", "300")),
            usgs_url=env.get("CRISIS_USGS_URL") or None,
            usgs_interval=float(env.get("CRISIS_USGS_INTERVAL", "60")),
            usgs_min_magnitude=_float_or_none(env.get("CRISIS_USGS_MIN_MAGNITUDE")),
            feed_user_agent=env.get("CRISIS_FEED_USER_AGENT") or cls.feed_user_agent,
            session_days=int(env.get("CRISIS_SESSION_DAYS", "30")),
            allowed_origins=tuple(o.strip().rstrip("/") for o in env.get("CRISIS_ALLOWED_ORIGINS", "").split(",") if o.strip()),
            secure_cookies=_bool(env.get("CRISIS_SECURE_COOKIES"), False),
            audit_keep_days=int(env.get("CRISIS_AUDIT_KEEP_DAYS", "400")),
            login_limit_account=env.get("CRISIS_LOGIN_LIMIT_ACCOUNT") or cls.login_limit_account,
            login_limit_address=env.get("CRISIS_LOGIN_LIMIT_ADDRESS") or cls.login_limit_address,
            pair_limit_address=env.get("CRISIS_PAIR_LIMIT_ADDRESS") or cls.pair_limit_address,
            max_concurrent_hashes=int(env.get("CRISIS_MAX_CONCURRENT_HASHES", "2")),
            socket_events_per_second=float(env.get("CRISIS_SOCKET_EVENTS_PER_SECOND", "2")),
            socket_event_burst=int(env.get("CRISIS_SOCKET_EVENT_BURST", "10")),
            trusted_proxies=int(env.get("CRISIS_TRUSTED_PROXIES", "0")),
            default_radius_km=env.get("CRISIS_DEFAULT_RADIUS_KM") or cls.default_radius_km,
            affected_buffer_km=float(env.get("CRISIS_AFFECTED_BUFFER_KM") or "0"),
            position_max_age_hours=float(env.get("CRISIS_POSITION_MAX_AGE_HOURS", "24")),
            roster_skills=_words(env.get("CRISIS_ROSTER_SKILLS")) or cls.roster_skills,
            roster_min_worldwide_24h=int(env.get("CRISIS_ROSTER_MIN_WORLDWIDE_24H") or cls.roster_min_worldwide_24h),
            roster_min_per_region=int(env.get("CRISIS_ROSTER_MIN_PER_REGION") or cls.roster_min_per_region),
            roster_required_languages=_words(env.get("CRISIS_ROSTER_REQUIRED_LANGUAGES"), cls.roster_required_languages),
            roster_required_skills=_words(env.get("CRISIS_ROSTER_REQUIRED_SKILLS"), cls.roster_required_skills),
            roster_max_standby_days=float(env.get("CRISIS_ROSTER_MAX_STANDBY_DAYS") or cls.roster_max_standby_days),
            roster_rest_days=float(env.get("CRISIS_ROSTER_REST_DAYS") or cls.roster_rest_days),
            roster_cruise_kmh=float(env.get("CRISIS_ROSTER_CRUISE_KMH") or cls.roster_cruise_kmh),
            roster_overhead_hours=float(env.get("CRISIS_ROSTER_OVERHEAD_HOURS") or cls.roster_overhead_hours),
            roster_off_standby_notice_hours=float(env.get("CRISIS_ROSTER_OFF_STANDBY_NOTICE_HOURS")
                                                  or cls.roster_off_standby_notice_hours),
            cot_host=env.get("CRISIS_COT_HOST") or cls.cot_host,
            cot_port=int(env.get("CRISIS_COT_PORT") or cls.cot_port),
            wall_timezones=_words(env.get("CRISIS_WALL_TIMEZONES"), cls.wall_timezones),
            # H1 (issue 10): a Redis outage
            storage_timeout_s=float(env.get("CRISIS_STORAGE_TIMEOUT") or cls.storage_timeout_s),
            storage_retry_after_s=int(env.get("CRISIS_STORAGE_RETRY_AFTER") or cls.storage_retry_after_s),
            redis_watchdog_s=float(env.get("CRISIS_REDIS_WATCHDOG_SECONDS") or cls.redis_watchdog_s),
            # H5 (issue 10): the feeds inbox
            inbox_claim_idle_ms=int(env.get("CRISIS_INBOX_CLAIM_IDLE_MS") or cls.inbox_claim_idle_ms),
            inbox_max_deliveries=int(env.get("CRISIS_INBOX_MAX_DELIVERIES") or cls.inbox_max_deliveries),
            inbox_consumer=env.get("CRISIS_INBOX_CONSUMER") or "",
            inbox_test_pause=env.get("CRISIS_INBOX_TEST_PAUSE") or "",
            # H2 (issue 10): Sentinel and WAIT
            redis_sentinels=_words(env.get("REDIS_SENTINELS")),
            redis_sentinel_service=env.get("REDIS_SENTINEL_SERVICE") or cls.redis_sentinel_service,
            redis_username=env.get("REDIS_USERNAME") or None,
            redis_password=env.get("REDIS_PASSWORD") or None,
            redis_sentinel_username=env.get("REDIS_SENTINEL_USERNAME") or None,
            redis_sentinel_password=env.get("REDIS_SENTINEL_PASSWORD") or None,
            redis_tls=_bool(env.get("REDIS_TLS"), False),
            redis_tls_ca_certs=env.get("REDIS_TLS_CA_CERTS") or None,
            wait_replicas=int(env.get("CRISIS_WAIT_REPLICAS") or cls.wait_replicas),
            wait_timeout_ms=int(env.get("CRISIS_WAIT_TIMEOUT_MS") or cls.wait_timeout_ms),
            lock_lease_s=float(env.get("CRISIS_LOCK_LEASE_S") or cls.lock_lease_s),
            lock_wait_s=float(env.get("CRISIS_LOCK_WAIT_S") or cls.lock_wait_s),
            # H4 (issue 10): retention
            incidents_maxlen=int(env.get("CRISIS_INCIDENTS_MAXLEN") or cls.incidents_maxlen),
            areas_maxlen=int(env.get("CRISIS_AREAS_MAXLEN") or cls.areas_maxlen),
            roster_maxlen=int(env.get("CRISIS_ROSTER_MAXLEN") or cls.roster_maxlen),
            people_maxlen=int(env.get("CRISIS_PEOPLE_MAXLEN") or cls.people_maxlen),
            travellers_maxlen=int(env.get("CRISIS_TRAVELLERS_MAXLEN") or cls.travellers_maxlen),
            devices_maxlen=int(env.get("CRISIS_DEVICES_MAXLEN") or cls.devices_maxlen),
            deadletter_maxlen=int(env.get("CRISIS_DEADLETTER_MAXLEN") or cls.deadletter_maxlen),
            # H6 (issue 10): socket concurrency and slow clients
            async_mode=(env.get("CRISIS_ASYNC_MODE") or cls.async_mode).strip().lower(),
            socket_lag_packets=int(env.get("CRISIS_SOCKET_LAG_PACKETS") or cls.socket_lag_packets),
            socket_max_backlog=int(env.get("CRISIS_SOCKET_MAX_BACKLOG") or cls.socket_max_backlog),
        )
        return replace(settings, **overrides) if overrides else settings  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
