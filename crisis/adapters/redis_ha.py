"""Redis behind Sentinel, and writes acknowledged only once a replica has them (WAIT).

Two independent settings (docs/adr/007-redis-failover-and-wait.md):

* ``REDIS_SENTINELS`` ("host:port,host:port") and ``REDIS_SENTINEL_SERVICE``: the
  clients ask the Sentinels which server is the primary, on every new connection. When
  the primary dies and the Sentinels promote its replica, a command on a dead connection
  fails (ConnectionError: the API answers 503), redis-py reconnects, asks again, and
  lands on the new primary; no restart. A demoted primary that still answers refuses
  writes (READONLY), which redis-py turns into a reconnect too. The blocking XREAD of
  the live gateway reconnects the same way and resumes from its last stream id.
* ``CRISIS_WAIT_REPLICAS`` (n > 0) and ``CRISIS_WAIT_TIMEOUT_MS``: after every write
  (a MULTI/EXEC transaction, a pipeline holding a write, a plain write command) the
  client sends ``WAIT n timeout`` on the SAME connection, so it waits for exactly the
  writes it just made (not after a lock's writes, nor a consumer group's bookkeeping:
  see WRITE_COMMANDS and WaitingRedis.lock). Fewer than n replicas in time: :class:`ReplicationUnconfirmed`
  (a StorageError: 503, "retry"). The write is then on the primary but not known to be
  on a replica: it stays unless the primary is lost before it replicates. Replication
  being asynchronous, WAIT does not make Redis strongly consistent: it makes an
  acknowledged write survive the failover of one node (the replica that acknowledged it
  is the one the Sentinels promote, being the most up to date).

  A web request WAITs once, not after each of its writes (:func:`defer_waits` when it
  starts, :func:`confirm_writes` once its answer is built, :func:`end_deferral` when it
  ends: crisis/http_safety.py). Meanwhile the commands of its thread share one connection
  of the pool (:class:`DeferringPool`), so that one WAIT on it covers every write the
  request made; a WAIT that fails then turns the answer into the 503, so a write no replica
  confirmed is still never acknowledged. Other threads (the live gateway, the feeds) WAIT
  after each write as before.

A third part, for kill -9 rather than failover: :class:`LeasedLock`, the named lock of
``Deps.lock``. Its key lives only ``CRISIS_LOCK_LEASE_S`` (5 s) unless its holder renews it:
a :class:`LockKeeper` thread of the holder's process renews every lock the process holds
every third of the lease, for as long as the holder works. A holder killed (SIGKILL, a
crash, the power) stops renewing, so the next caller waits at most one lease, not 30 s.
A live holder is never overtaken while its renewals reach Redis: it would take Redis
unreachable from the holder for a whole lease (when its own writes fail too), or the
holder's process frozen that long (SIGSTOP, swap), for the key to expire under it; its
release then raises LockNotOwnedError and the loss is logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.client
from redis.exceptions import LockError, LockNotOwnedError
from redis.sentinel import Sentinel, SentinelConnectionPool

from crisis.errors import StorageError

log = logging.getLogger(__name__)

# Commands that change data (replicated): a WAIT follows them. Not: PUBLISH (no data), and a
# consumer group's bookkeeping (XREADGROUP, XACK, XCLAIM, XAUTOCLAIM, XGROUP): losing it in a
# failover means an entry delivered again, which the group's idempotent handlers absorb
# (crisis.feeds.inbox); WAITing after every XREADGROUP would refuse entries already handed out.
WRITE_COMMANDS = frozenset(
    """
    APPEND COPY DECR DECRBY DEL EVAL EVALSHA EXPIRE EXPIREAT FCALL FLUSHALL FLUSHDB GEOADD GETDEL GETEX GETSET
    HDEL HINCRBY HINCRBYFLOAT HMSET HSET HSETNX INCR INCRBY INCRBYFLOAT LINSERT LMOVE LPOP LPUSH LPUSHX LREM LSET
    LTRIM MOVE MSET MSETNX PERSIST PEXPIRE PEXPIREAT PFADD PSETEX RENAME RENAMENX RESTORE RPOP RPOPLPUSH RPUSH
    RPUSHX SADD SDIFFSTORE SET SETEX SETNX SETRANGE SINTERSTORE SMOVE SPOP SREM SUNIONSTORE UNLINK XADD
    XDEL XSETID XTRIM ZADD ZDIFFSTORE ZINCRBY ZINTERSTORE ZPOPMAX ZPOPMIN
    ZRANGESTORE ZREM ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZUNIONSTORE
    """.split()
)
_READ_MARGIN_S = 1.0  # the WAIT reply is read with its own timeout: the wait plus this


class ReplicationUnconfirmed(StorageError):
    """A write reached the primary but not, in time, the replicas asked for."""

    def __init__(self, wanted: int, acknowledged: int | None, timeout_ms: int) -> None:
        got = "no answer" if acknowledged is None else f"{acknowledged} of {wanted}"
        super().__init__(f"stored on the primary, not confirmed on {wanted} replica(s) within {timeout_ms} ms "
                         f"({got}); retry")
        self.wanted = wanted
        self.acknowledged = acknowledged
        self.timeout_ms = timeout_ms


@dataclass(frozen=True)
class WaitPolicy:
    replicas: int = 0
    timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.replicas < 0:
            raise StorageError(f"CRISIS_WAIT_REPLICAS must be 0 or more, not {self.replicas}")
        if self.timeout_ms <= 0:  # WAIT n 0 would block for ever
            raise StorageError(f"CRISIS_WAIT_TIMEOUT_MS must be more than 0, not {self.timeout_ms}")


def is_write(command_name: Any) -> bool:
    return str(command_name).split(" ", 1)[0].upper() in WRITE_COMMANDS


def _has_write(commands: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> bool:
    return any(args and is_write(args[0]) for args, _ in commands)


def wait_for_replicas(connection: Any, policy: WaitPolicy) -> int:
    """``WAIT`` on ``connection`` (the one that just wrote); the replicas that have every
    write of it. Raises ReplicationUnconfirmed when fewer than asked, or when the WAIT got
    no answer (the connection is then dropped; it is NOT a ConnectionError, so redis-py
    does not retry, and so does not repeat, the write)."""
    try:
        connection.send_command("WAIT", policy.replicas, policy.timeout_ms)
        acknowledged = int(connection.read_response(timeout=policy.timeout_ms / 1000 + _READ_MARGIN_S))
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        connection.disconnect()
        raise ReplicationUnconfirmed(policy.replicas, None, policy.timeout_ms) from exc
    if acknowledged < policy.replicas:
        raise ReplicationUnconfirmed(policy.replicas, acknowledged, policy.timeout_ms)
    return acknowledged


class _Deferral(threading.local):
    """One thread's request: WAITs deferred, the connection its commands share, whether
    they wrote since the last WAIT."""

    active = False
    connection: Any = None
    wrote = False


class DeferringPool(redis.ConnectionPool):
    """A connection pool that, while a thread defers its WAITs (:func:`defer_waits`),
    answers that thread the same connection every time and keeps it until
    :func:`end_deferral`: one WAIT on it then covers all the thread's writes. (A thread's
    commands run one after another, so they never interleave on it; other threads get
    connections of their own as before.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferral = _Deferral()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        deferral = self.deferral
        if not deferral.active:
            return super().get_connection(*args, **kwargs)
        if deferral.connection is None:
            deferral.connection = super().get_connection(*args, **kwargs)
        return deferral.connection

    def release(self, connection: Any) -> None:
        if not (self.deferral.active and connection is self.deferral.connection):
            super().release(connection)


class DeferringSentinelPool(DeferringPool, SentinelConnectionPool):
    """DeferringPool of the primary a Sentinel layout names."""


def _deferral(client: Any) -> _Deferral | None:
    """The thread's deferral on ``client``'s pool, when it is deferring."""
    deferral = getattr(client.connection_pool, "deferral", None)
    return deferral if deferral is not None and deferral.active else None


def _waited(connection: Any, client: Any, policy: WaitPolicy) -> None:
    """After a write on ``connection``: WAIT now, or note it for the request's one WAIT."""
    deferral = _deferral(client)
    if deferral is not None:
        deferral.wrote = True
    else:
        wait_for_replicas(connection, policy)


def defer_waits(client: redis.Redis) -> None:
    """From now on this thread's writes through ``client`` are WAITed once, by
    :func:`confirm_writes` (a WaitingRedis; anything else: nothing to do)."""
    pool = client.connection_pool
    if isinstance(client, WaitingRedis) and isinstance(pool, DeferringPool):
        pool.deferral.active, pool.deferral.connection, pool.deferral.wrote = True, None, False


def confirm_writes(client: redis.Redis) -> None:
    """WAIT once for this thread's writes since :func:`defer_waits` (on the connection they
    shared); ReplicationUnconfirmed as after a single write."""
    deferral = _deferral(client)
    if deferral is not None and deferral.wrote and deferral.connection is not None:
        deferral.wrote = False
        wait_for_replicas(deferral.connection, client.wait_policy)  # type: ignore[attr-defined]


def end_deferral(client: redis.Redis) -> None:
    """Back to a WAIT after each write; the shared connection goes back to the pool. Writes
    made after :func:`confirm_writes` (none are expected) are WAITed here, and only logged
    if unconfirmed: the answer has gone."""
    deferral = _deferral(client)
    if deferral is None:
        return
    try:
        confirm_writes(client)
    except ReplicationUnconfirmed as exc:
        log.error("writes made after the answer was built: %s", exc)
    finally:
        connection, deferral.connection, deferral.active, deferral.wrote = deferral.connection, None, False, False
        if connection is not None:
            client.connection_pool.release(connection)


class WaitingPipeline(redis.client.Pipeline):
    """A pipeline that, after a transaction or a batch holding a write, WAITs on its connection."""

    wait_policy = WaitPolicy()

    def _execute_transaction(self, connection: Any, commands: Any, raise_on_error: bool) -> list[Any]:
        result: list[Any] = super()._execute_transaction(connection, commands, raise_on_error)
        if _has_write(commands):
            _waited(connection, self, self.wait_policy)
        return result

    def _execute_pipeline(self, connection: Any, commands: Any, raise_on_error: bool) -> list[Any]:
        result: list[Any] = super()._execute_pipeline(connection, commands, raise_on_error)  # type: ignore[no-untyped-call]
        if _has_write(commands):
            _waited(connection, self, self.wait_policy)
        return result


class WaitingRedis(redis.Redis):
    """redis.Redis whose every write returns only once ``wait_policy.replicas`` have it."""

    wait_policy = WaitPolicy()

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> WaitingPipeline:
        pipe = WaitingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.wait_policy = self.wait_policy
        return pipe

    def lock(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        """A lock is coordination between processes, not data: its writes are not WAITed
        (a lock taken on the primary and then refused for want of a replica would stay
        held, blocking the caller's retry for its whole timeout). After a failover a lock
        may be lost whether or not it was WAITed; what it guards is WAITed."""
        plain = redis.Redis(connection_pool=self.connection_pool)  # the same pool: the same primary
        return plain.lock(name, *args, **kwargs)

    def _send_command_parse_response(self, conn: Any, command_name: Any, *args: Any, **options: Any) -> Any:
        response = super()._send_command_parse_response(conn, command_name, *args, **options)  # type: ignore[no-untyped-call]
        if is_write(command_name):
            _waited(conn, self, self.wait_policy)
        return response


def check_access(url: str, sentinels: list[tuple[str, int]], service: str, auth: RedisAuth) -> None:
    """At startup, a StorageError naming the setting when a server refuses the credentials
    (or speaks no TLS where TLS is asked): at run time that would look like an outage, a
    503 on every request for ever. A server that does not answer is not an error here:
    the app starts and answers 503 until it does (crisis.adapters.storage_health)."""
    probe: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
    if url.startswith("redis://") and auth.tls:
        raise StorageError("REDIS_TLS=1 with a redis:// REDIS_URL: use rediss:// (TLS) in REDIS_URL, or unset REDIS_TLS")
    for host, port in sentinels:  # a Sentinel that does not answer: another may
        _probe(redis.Redis(host=host, port=port, **probe, **auth.sentinel_options()),
               refused=f"the Sentinel at {host}:{port} refused the credentials of REDIS_SENTINEL_USERNAME / "
                       "REDIS_SENTINEL_PASSWORD (set them to the Sentinels' own requirepass)",
               tls=f"TLS with the Sentinel at {host}:{port} failed", tls_hint="check REDIS_TLS and REDIS_TLS_CA_CERTS")
    where = "REDIS_USERNAME / REDIS_PASSWORD" if sentinels or not _url_has_credentials(url) else "REDIS_URL's credentials"
    _probe(connect(url, sentinels, service, WaitPolicy(), auth=auth, **probe),
           refused=f"Redis refused the credentials of {where} (the data nodes' requirepass or ACL user)",
           tls="TLS with Redis failed",
           tls_hint="check REDIS_TLS_CA_CERTS (the CA of the servers' certificates), REDIS_TLS and rediss:// in REDIS_URL")


def _probe(client: redis.Redis, refused: str, tls: str, tls_hint: str) -> None:
    """PING ``client`` once, then close it: a StorageError for refused credentials or a
    failed TLS handshake (a server that answers); nothing when the server does not answer."""
    try:
        client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        raise StorageError(f"{refused}: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        failure = _tls_failure(exc)
        if failure is not None:  # a certificate we do not trust, or no TLS where TLS is asked
            raise StorageError(f"{tls} ({failure}): {tls_hint}") from None
    finally:
        client.close()


def _tls_failure(exc: BaseException) -> BaseException | None:
    """The ssl.SSLError behind a connection error, if any (redis-py keeps it as the context)."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _url_has_credentials(url: str) -> bool:
    from urllib.parse import urlparse

    return bool(urlparse(url).password)


def parse_sentinels(addresses: tuple[str, ...] | list[str]) -> list[tuple[str, int]]:
    """"host:port" each (REDIS_SENTINELS); a StorageError naming a malformed one."""
    parsed = []
    for address in addresses:
        host, sep, port = address.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise StorageError(f"REDIS_SENTINELS: {address!r} is not host:port")
        parsed.append((host.strip("[]"), int(port)))
    return parsed


def sentinel_url(sentinels: list[tuple[str, int]], service: str) -> str:
    """The redis+sentinel:// URI (what the limits library takes) of a Sentinel layout."""
    return "redis+sentinel://" + ",".join(f"{h}:{p}" for h, p in sentinels) + f"/{service}"


@dataclass(frozen=True)
class RedisAuth:
    """Credentials and TLS of an external Redis, beyond what REDIS_URL carries
    (REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD,
    REDIS_TLS, REDIS_TLS_CA_CERTS), as redis-py's own connection options.

    * The data nodes (the primary and replicas) take ``username``/``password``: with
      Sentinels, the only way to give them; with REDIS_URL, credentials in the URL win.
    * The Sentinels take ``sentinel_username``/``sentinel_password`` (Sentinel's own
      ``requirepass``); never the data nodes' password by default.
    * TLS: with Sentinels, ``tls`` makes every connection (Sentinels and data nodes) TLS;
      with REDIS_URL, the scheme says it (rediss://) and REDIS_TLS=1 with redis:// is refused.
      ``ca_certs`` (a PEM file) verifies the servers' certificates (the system's CAs when
      unset); the hostname is checked. Client certificates (mutual TLS) are not supported.
    """

    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: bool = False
    ca_certs: str | None = None

    def data_options(self, url: str = "") -> dict[str, Any]:
        """redis-py options of the data nodes' connections (at ``url`` when not Sentinel)."""
        options: dict[str, Any] = {}
        if self.username:
            options["username"] = self.username
        if self.password:
            options["password"] = self.password
        if self.tls and not url:
            options["ssl"] = True
        if self.ca_certs and (self.tls or url.startswith("rediss://")):
            options["ssl_ca_certs"] = self.ca_certs
        return options

    def sentinel_options(self) -> dict[str, Any]:
        """redis-py options of the connections to the Sentinels (username and password
        always named, None when unset: nothing falls back to the data nodes' password)."""
        options: dict[str, Any] = {"username": self.sentinel_username or None, "password": self.sentinel_password or None}
        if self.tls:
            options["ssl"] = True
            if self.ca_certs:
                options["ssl_ca_certs"] = self.ca_certs
        return options


def connect(url: str, sentinels: list[tuple[str, int]], service: str, wait: WaitPolicy,
            decode: bool = True, auth: RedisAuth | None = None, **options: Any) -> redis.Redis:
    """A client of the primary: asked of the Sentinels when there are any, else at ``url``;
    a WaitingRedis when ``wait.replicas`` > 0. ``options`` go to the connections
    (socket_timeout, socket_connect_timeout, health_check_interval, retry, ...); ``auth``
    adds the credentials and TLS of :class:`RedisAuth`."""
    auth = auth or RedisAuth()
    redis_class: type[redis.Redis] = WaitingRedis if wait.replicas > 0 else redis.Redis
    if sentinels:
        timeouts = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        for name in timeouts:  # never wait on a Sentinel longer than on the data
            if options.get(name) is not None:
                timeouts[name] = min(timeouts[name], float(options[name]))
        options = {**auth.data_options(), **options}
        manager = Sentinel(sentinels, sentinel_kwargs={**timeouts, **auth.sentinel_options()})  # type: ignore[no-untyped-call]
        pool_class = DeferringSentinelPool if wait.replicas > 0 else SentinelConnectionPool
        client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
            service, redis_class=redis_class, connection_pool_class=pool_class, decode_responses=decode, **options)
    elif wait.replicas > 0:
        options = {**auth.data_options(url), **options}
        client = redis_class(connection_pool=DeferringPool.from_url(url, decode_responses=decode, **options))
        client.auto_close_connection_pool = True
    else:
        client = redis_class.from_url(url, decode_responses=decode, **{**auth.data_options(url), **options})
    if isinstance(client, WaitingRedis):
        client.wait_policy = wait
    return client


# --- the named lock (Deps.lock): a short lease that a live holder renews --------------------
DEFAULT_LOCK_LEASE_S = 5.0
DEFAULT_LOCK_WAIT_S = 30.0


class LockKeeper:
    """One daemon thread per process that renews, every ``lease / 3``, the lease of every
    :class:`LeasedLock` the process holds (one thread, not one per lock: locks are taken
    on every incident update, every dispatch). A renewal that fails for want of Redis is
    tried again next round (a lease survives two missed rounds); one that finds the lock
    gone (expired under a frozen process, or lost in a failover) is logged and dropped."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[Any, float]] = {}  # id(lock) -> (redis-py Lock, lease_s)
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def hold(self, lock: Any, lease_s: float) -> None:
        with self._mutex:
            self._held[id(lock)] = (lock, lease_s)
            self._wake.set()
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()  # a forked child has no keeper thread: start its own
                self._thread = threading.Thread(target=self._run, name="lock-keeper", daemon=True)
                self._thread.start()

    def drop(self, lock: Any) -> None:
        with self._mutex:
            self._held.pop(id(lock), None)

    def holding(self, lock: Any) -> bool:
        with self._mutex:
            return id(lock) in self._held

    def _run(self) -> None:
        last: dict[int, float] = {}
        while True:
            with self._mutex:
                held = list(self._held.items())
            now = time.monotonic()
            for key, (lock, lease_s) in held:
                if key not in last:  # just taken: its lease is fresh
                    last[key] = now
                if now - last[key] < lease_s / 3:
                    continue
                last[key] = now
                self.renew(lock)
            with self._mutex:
                for key in set(last) - set(self._held):
                    del last[key]
                shortest = min((lease for _, lease in self._held.values()), default=None)
                self._wake.clear()
            self._wake.wait(max(0.05, shortest / 12) if shortest is not None else None)  # idle: until a hold

    def renew(self, lock: Any) -> None:
        try:
            lock.reacquire()
        except LockNotOwnedError:
            if self.holding(lock):  # not a release racing this renewal
                log.error("lock %s expired while its holder still works (Redis unreachable, or this process "
                          "frozen, for a whole lease; or lost in a failover)", lock.name)
                self.drop(lock)
        except (redis.RedisError, OSError) as exc:
            log.warning("lock %s not renewed (%s); retrying", lock.name, exc)


KEEPER = LockKeeper()


class LeasedLock:
    """``with LeasedLock(client, name):`` one holder at a time across every process, for
    as long as it works; a holder killed frees the lock within ``lease_s`` (see the module
    docstring). Raises LockError when not acquired within ``wait_s``."""

    def __init__(self, client: redis.Redis, name: str, lease_s: float = DEFAULT_LOCK_LEASE_S,
                 wait_s: float = DEFAULT_LOCK_WAIT_S, keeper: LockKeeper | None = None) -> None:
        # thread_local=False: the keeper's thread renews with the token the holder's thread got
        self._lock = client.lock(name, timeout=lease_s, blocking_timeout=wait_s, thread_local=False)
        self._lease_s = lease_s
        self._keeper = keeper or KEEPER

    @property
    def name(self) -> str:
        return str(self._lock.name)

    def __enter__(self) -> LeasedLock:
        if not self._lock.acquire():
            raise LockError(f"lock {self.name} not acquired within {self._lock.blocking_timeout} s")
        self._keeper.hold(self._lock, self._lease_s)
        return self

    def __exit__(self, *exc: object) -> None:
        self._keeper.drop(self._lock)  # first: a release that fails (Redis down) lets the lease run out
        self._lock.release()
