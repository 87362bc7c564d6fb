"""The one place that wires adapters to handlers. Entry points call ``bootstrap``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import redis

from crisis.adapters import keys
from crisis.adapters.accounts import AccountStore
from crisis.adapters.audit import AuditLog
from crisis.adapters.eventlog import EventLog
from crisis.adapters.feed_log import FeedLog
from crisis.adapters.incident_store import IncidentStore
from crisis.adapters.position_store import PositionStore
from crisis.adapters.redis_ha import LeasedLock
from crisis.adapters.redis_server import RedisHandle, open_redis
from crisis.adapters.retention import stream_maxlens
from crisis.adapters.roll_store import RollStore
from crisis.adapters.roster_store import RosterStore
from crisis.adapters.storage_health import StorageHealth, request_options, tail_options
from crisis.adapters.traveller_store import TravellerStore
from crisis.config import Settings
from crisis.fusion.countries import CountryIndex
from crisis.handlers import Deps

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
BASEMAP = ASSETS / "basemap" / "countries.geojson"


@dataclass
class Context:
    """Everything a process needs, built once from the settings."""

    settings: Settings
    redis_handle: RedisHandle
    redis: redis.Redis
    deps: Deps
    accounts: AccountStore
    feed_log: FeedLog
    audit: AuditLog
    roll: RollStore  # accountability statuses per scope, check-in places (crisis.adapters.roll_store)
    roster: RosterStore  # officers, standby slots, leave, dispatches (crisis.adapters.roster_store)
    # H1 (issue 10): ``redis`` has the short time-outs of request paths; blocking reads
    # (XREAD/XREADGROUP BLOCK, pub/sub) use ``tail_redis``; ``storage`` says whether Redis answers.
    tail_redis: redis.Redis
    storage: StorageHealth

    def close(self) -> None:
        self.redis.close()
        self.tail_redis.close()
        self.redis_handle.stop()


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or one generated once and kept in the data directory.

    Keeping it lets sessions (a wall display's login) survive a restart.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def bootstrap(settings: Settings, countries: CountryIndex | None = None) -> Context:
    handle = open_redis(settings)
    client = handle.client(**request_options(settings.storage_timeout_s))  # H1: a stalled Redis costs 0.5 s, not a hang
    log = EventLog(client, maxlen=stream_maxlens(settings))  # H4: every stream's retention

    def lock(name: str) -> LeasedLock:
        # A short lease its holder's process renews while it works: a holder killed (kill -9)
        # frees the lock within CRISIS_LOCK_LEASE_S, a live one is never overtaken (redis_ha.LeasedLock)
        return LeasedLock(client, f"{keys.PREFIX}:lock:{name}", lease_s=settings.lock_lease_s,
                          wait_s=settings.lock_wait_s)

    deps = Deps(
        log=log,
        incidents=IncidentStore(client),
        positions=PositionStore(client),
        countries=countries or CountryIndex.from_file(BASEMAP, settings.sea_region_km),
        lock=lock,
        travellers=TravellerStore(client),
    )
    return Context(settings, handle, client, deps, AccountStore(client), FeedLog(client, settings.deadletter_maxlen), AuditLog(client, settings.audit_keep_days),
                   RollStore(client), RosterStore(client), tail_redis=handle.client(**tail_options(settings.storage_timeout_s)),
                   storage=StorageHealth(client, settings.storage_retry_after_s))
