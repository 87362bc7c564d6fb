"""The embedded Redis keeps its data (password hashes included) where only its owner can
read it: a real redis-server on a data directory of its own."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

from crisis.adapters.redis_server import open_redis
from crisis.config import Settings


def _entries(data_dir: Path) -> dict[str, tuple[str, int]]:
    """Everything under ``data_dir`` (itself as "."): name -> (kind, permission bits)."""
    found = {}
    for path in (data_dir, *data_dir.rglob("*")):
        mode = path.lstat().st_mode
        kind = "dir" if stat.S_ISDIR(mode) else "socket" if stat.S_ISSOCK(mode) else "file"
        found[str(path.relative_to(data_dir))] = (kind, stat.S_IMODE(mode))
    return found


def _loose(entries: dict[str, tuple[str, int]]) -> dict[str, str]:
    """What is not private: every directory 0700, every file (and socket) 0600."""
    return {
        name: f"{kind} {oct(mode)}"
        for name, (kind, mode) in entries.items()
        if mode != (0o700 if kind == "dir" else 0o600)
    }


def test_data_directory_and_every_redis_file_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # What an older version left behind: readable directories and a readable log.
    (data_dir / "redis").mkdir(parents=True)
    (data_dir / "redis" / "redis.log").write_text("old log\n")
    os.chmod(data_dir / "redis" / "redis.log", 0o644)
    os.chmod(data_dir / "redis", 0o755)
    os.chmod(data_dir, 0o755)

    handle = open_redis(Settings(data_dir=data_dir, redis_fsync="always"))
    client = handle.client()
    try:
        client.hset("crisis:users", "someone", "$argon2id$v=19$m=65536,t=3,p=4$secret-hash")
        client.xadd("crisis:incidents", {"payload": "x" * 1000})
        client.execute_command("BGREWRITEAOF")  # new base and incremental files, written by redis-server
        for _ in range(200):
            if client.info("persistence")["aof_rewrite_in_progress"] == 0:
                break
            time.sleep(0.05)
        client.set("after-rewrite", "1")
        entries = _entries(data_dir)
    finally:
        client.close()
        handle.stop()

    files = {name for name, (kind, _) in entries.items() if kind == "file"}
    assert any("appendonly" in name for name in files), f"no append-only file was written: {sorted(entries)}"
    assert {"redis/redis.log", "redis/redis.json", "redis/users.lock", "redis/start.lock"} <= files
    assert _loose(entries) == {}


def test_a_restart_tightens_what_was_left_readable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    handle = open_redis(Settings(data_dir=data_dir, redis_fsync="always"))
    with handle.client() as client:
        client.set("k", "v")
    handle.stop()
    for name, (kind, _) in _entries(data_dir).items():
        if kind != "socket":
            os.chmod(data_dir / name, 0o755 if kind == "dir" else 0o644)
    assert _loose(_entries(data_dir))

    handle = open_redis(Settings(data_dir=data_dir, redis_fsync="always"))
    try:
        with handle.client() as client:
            assert client.get("k") == "v"
        entries = _entries(data_dir)
    finally:
        handle.stop()
    assert _loose(entries) == {}


def test_the_embedded_server_keeps_its_stalls_for_whoever_asks_why_a_request_timed_out(session_context: Any) -> None:
    # A request waits CRISIS_STORAGE_TIMEOUT for Redis; an fsync of the AOF on a busy disk
    # took 839 ms. LATENCY LATEST says so only with the monitor on.
    assert session_context.redis.config_get("latency-monitor-threshold") == {"latency-monitor-threshold": "100"}
    assert isinstance(session_context.redis.execute_command("LATENCY", "LATEST"), list)
