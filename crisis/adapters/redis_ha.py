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
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import redis
import redis.client
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


def connect(url: str, sentinels: list[tuple[str, int]], service: str, wait: WaitPolicy,
            decode: bool = True, **options: Any) -> redis.Redis:
    """A client of the primary: asked of the Sentinels when there are any, else at ``url``;
    a WaitingRedis when ``wait.replicas`` > 0. ``options`` go to the connections
    (socket_timeout, socket_connect_timeout, health_check_interval, retry, ...)."""
    redis_class: type[redis.Redis] = WaitingRedis if wait.replicas > 0 else redis.Redis
    if sentinels:
        timeouts = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        for name in timeouts:  # never wait on a Sentinel longer than on the data
            if options.get(name) is not None:
                timeouts[name] = min(timeouts[name], float(options[name]))
        manager = Sentinel(sentinels, sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
        pool_class = DeferringSentinelPool if wait.replicas > 0 else SentinelConnectionPool
        client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
            service, redis_class=redis_class, connection_pool_class=pool_class, decode_responses=decode, **options)
    elif wait.replicas > 0:
        client = redis_class(connection_pool=DeferringPool.from_url(url, decode_responses=decode, **options))
        client.auto_close_connection_pool = True
    else:
        client = redis_class.from_url(url, decode_responses=decode, **options)
    if isinstance(client, WaitingRedis):
        client.wait_policy = wait
    return client
