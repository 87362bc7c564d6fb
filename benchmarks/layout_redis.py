"""A Redis primary, one replica and three Sentinels on this machine, for tests and benchmarks.

    ha = start_redis_ha(tmpdir)            # binary=None: the product's embedded redis-server
    env = ha.env()                         # REDIS_SENTINELS / REDIS_SENTINEL_SERVICE for `crisis serve`
    old = ha.kill_primary()                # SIGKILL the current primary; its port
    seconds = ha.wait_failover(30)         # until the Sentinels name a new, answering primary
    ha.restart_node(old)                   # bring the old one back as a replica of the new primary
    ha.stop()

Every process is the same ``redis-server`` binary (Sentinels run it with ``--sentinel``),
on 127.0.0.1 and free ports, with its files under ``tmpdir``. Data nodes run as the product
does (appendonly yes, appendfsync always). Sentinels: quorum 2, down-after 1000 ms, a short
failover timeout, so a failover takes a few seconds. ``start_redis_ha`` returns once the
replica is in sync and every Sentinel knows the replica and the two other Sentinels (so a
kill right after start fails over). Every wait has a deadline; ``stop()`` kills everything
(also at interpreter exit; and, for nodes started from the main thread, the kernel kills them
when the process that started them dies, even by SIGKILL).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

HOST = "127.0.0.1"
SERVICE = "crisis"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
READY_TIMEOUT_S = 60.0


def _default_binary() -> str:
    from crisis.adapters.redis_server import _redis_server_binary

    return _redis_server_binary()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _client(port: int, timeout: float = 1.0) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       decode_responses=True)


def _answers(port: int) -> bool:
    try:
        return bool(_client(port).ping())
    except (redis.RedisError, OSError):
        return False


def _with_parent(args: list[str]) -> list[str]:
    """``args`` run so that the node is SIGKILLed when the process that started it dies
    (setpriv --pdeathsig, Linux): a layout whose owner was killed (a timeout, kill -9) does
    not outlive it. Only from the main thread: the kernel sends the signal when the starting
    *thread* ends, and a helper thread that restarts a node may end long before the layout."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return args
    return [setpriv, "--pdeathsig", "KILL", "--", *args]


def _wait(condition: Any, timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)


@dataclass
class Node:
    """One redis-server process (a data node or a Sentinel)."""

    name: str
    port: int
    directory: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        log = open(self.directory / "stdout.log", "ab")
        try:
            self.process = subprocess.Popen(_with_parent(self.args), cwd=str(self.directory), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        process = self.process
        try:
            _wait(lambda: process.poll() is not None or _answers(self.port), 30, f"{self.name} on {self.port}")
        except TimeoutError:
            self.kill()
            raise
        if process.poll() is not None:
            tail = (self.directory / "stdout.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{self.name} exited with {process.returncode}: {tail}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@dataclass
class RedisHA:
    """The running layout. Data nodes are addressed by port (the primary changes)."""

    binary: str
    root: Path
    service: str
    nodes: list[Node]
    sentinel_nodes: list[Node]
    killed: list[int] = field(default_factory=list)
    _last_kill: tuple[int, float] | None = None

    # -- addresses -------------------------------------------------------------------

    @property
    def sentinels(self) -> list[str]:
        """The Sentinels, "host:port" each (REDIS_SENTINELS joins them with commas)."""
        return [node.address for node in self.sentinel_nodes]

    def env(self) -> dict[str, str]:
        """The settings that point the product at this layout."""
        return {"REDIS_SENTINELS": ",".join(self.sentinels), "REDIS_SENTINEL_SERVICE": self.service}

    def primary_port(self) -> int:
        """The primary's port, as the first Sentinel that answers names it."""
        for node in self.sentinel_nodes:
            if not node.alive():
                continue
            try:
                _host, port = _client(node.port).execute_command("SENTINEL", "get-master-addr-by-name", self.service)
                return int(port)
            except (redis.RedisError, OSError, TypeError, ValueError):
                continue
        raise RuntimeError("no Sentinel names a primary")

    def primary_url(self) -> str:
        return f"redis://{HOST}:{self.primary_port()}/0"

    def node(self, port: int) -> Node:
        for node in self.nodes:
            if node.port == port:
                return node
        raise KeyError(port)

    def replica_ports(self) -> list[int]:
        """Live data nodes that are not the primary."""
        primary = self.primary_port()
        return [n.port for n in self.nodes if n.port != primary and n.alive()]

    def client(self, port: int | None = None) -> redis.Redis:
        """A plain client of a data node (the primary by default)."""
        return _client(port if port is not None else self.primary_port(), timeout=5.0)

    # -- faults ----------------------------------------------------------------------

    def kill_primary(self) -> int:
        """SIGKILL the current primary; returns its port."""
        port = self.primary_port()
        self.node(port).kill(signal.SIGKILL)
        self.killed.append(port)
        self._last_kill = (port, time.monotonic())
        return port

    def wait_failover(self, timeout: float = 30.0) -> float:
        """Wait until every live Sentinel names a primary other than the one last killed and
        that primary answers as a master; returns the seconds since the kill."""
        if self._last_kill is None:
            raise RuntimeError("wait_failover() without kill_primary()")
        old, killed_at = self._last_kill

        def done() -> bool:
            ports = set()
            for node in self.sentinel_nodes:
                if node.alive():
                    addr = _client(node.port).execute_command("SENTINEL", "get-master-addr-by-name", self.service)
                    ports.add(int(addr[1]))
            if len(ports) != 1 or old in ports:
                return False
            (new,) = ports
            return bool(_client(new).info("replication")["role"] == "master")

        _wait(done, timeout, f"failover of {self.service} away from port {old}", step=0.02)
        return time.monotonic() - killed_at

    def restart_node(self, port: int, timeout: float = READY_TIMEOUT_S) -> None:
        """Start a killed data node again as a replica of the current primary, and wait until
        it is in sync and the Sentinels list it (so the next primary kill can fail over)."""
        node = self.node(port)
        if node.alive():
            return
        primary = self.primary_port()
        node.args = _data_args(self.binary, port, node.directory, replica_of=primary)
        node.start()
        if port in self.killed:
            self.killed.remove(port)
        self._wait_replicated(timeout)

    # -- lifecycle -------------------------------------------------------------------

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Replicas in sync; every Sentinel knows every live replica and the other Sentinels."""
        self._wait_replicated(timeout)

    def _wait_replicated(self, timeout: float) -> None:
        live = [n for n in self.nodes if n.alive()]

        def replicas_synced() -> bool:
            primary = self.primary_port()
            for node in live:
                if node.port == primary:
                    continue
                info = _client(node.port).info("replication")
                if info.get("master_link_status") != "up" or int(info.get("master_port", 0)) != primary:
                    return False
            return True

        def sentinels_know() -> bool:
            want_replicas = len(live) - 1
            for node in self.sentinel_nodes:
                c = _client(node.port)
                master = _pairs(c.execute_command("SENTINEL", "master", self.service))
                if master.get("flags") != "master":
                    return False
                if int(master.get("num-other-sentinels", 0)) < len(self.sentinel_nodes) - 1:
                    return False
                replicas = [_pairs(r) for r in c.execute_command("SENTINEL", "replicas", self.service)]
                good = [r for r in replicas if "s_down" not in r.get("flags", "") and "disconnected" not in
                        r.get("flags", "") and r.get("master-link-status") == "ok"]
                if len(good) < want_replicas:
                    return False
            return True

        _wait(replicas_synced, timeout, "replicas in sync", step=0.1)
        _wait(sentinels_know, timeout, "sentinels know the replicas and each other", step=0.1)

    def stop(self) -> None:
        for node in [*self.sentinel_nodes, *self.nodes]:
            node.kill(signal.SIGKILL)

    def __enter__(self) -> RedisHA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pairs(flat: Any) -> dict[str, str]:
    """SENTINEL MASTER/REPLICAS answers: a flat [k, v, k, v] list (or already a dict)."""
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _data_args(binary: str, port: int, directory: Path, replica_of: int | None = None) -> list[str]:
    args = [
        binary,
        "--port", str(port),
        "--bind", HOST,
        "--dir", str(directory),
        "--appendonly", "yes",
        "--appendfsync", "always",
        "--save", "",
        "--daemonize", "no",
        "--loglevel", "notice",
        "--logfile", str(directory / "redis.log"),
        "--repl-diskless-sync", "yes",
        "--repl-diskless-sync-delay", "0",
    ]
    if replica_of is not None:
        args += ["--replicaof", HOST, str(replica_of)]
    return args


def _sentinel_conf(port: int, directory: Path, service: str, primary: int) -> Path:
    conf = directory / "sentinel.conf"
    conf.write_text(
        f"port {port}\n"
        f"bind {HOST}\n"
        "daemonize no\n"
        f"dir {directory}\n"
        f"logfile {directory / 'sentinel.log'}\n"
        f"sentinel monitor {service} {HOST} {primary} 2\n"
        f"sentinel down-after-milliseconds {service} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {service} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {service} 1\n"
    )
    return conf


def start_redis_ha(tmpdir: str | os.PathLike[str], binary: str | None = None, service: str = SERVICE,
                   replicas: int = 1, timeout: float = READY_TIMEOUT_S) -> RedisHA:
    """Start a primary, ``replicas`` replicas and three Sentinels; returns once ready."""
    binary = binary or _default_binary()
    root = Path(tmpdir)
    root.mkdir(parents=True, exist_ok=True)
    ha = RedisHA(binary=binary, root=root, service=service, nodes=[], sentinel_nodes=[])
    atexit.register(ha.stop)
    try:
        primary = 0
        for i in range(1 + replicas):
            port = free_port()
            directory = root / f"node{i}"
            directory.mkdir(exist_ok=True)
            node = Node(f"redis-node{i}", port, directory,
                        _data_args(binary, port, directory, replica_of=None if i == 0 else primary))
            node.start()
            ha.nodes.append(node)
            if i == 0:
                primary = port
        for i in range(3):
            port = free_port()
            directory = root / f"sentinel{i}"
            directory.mkdir(exist_ok=True)
            conf = _sentinel_conf(port, directory, service, primary)
            node = Node(f"sentinel{i}", port, directory, [binary, str(conf), "--sentinel"])
            node.start()
            ha.sentinel_nodes.append(node)
        ha.wait_ready(timeout)
    except BaseException:
        ha.stop()
        raise
    return ha


if __name__ == "__main__":  # a quick self-check: start, fail over, restart, stop
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="crisis-ha-") as tmp:
        started = time.monotonic()
        with start_redis_ha(tmp, binary=sys.argv[1] if len(sys.argv) > 1 else None) as layout:
            print(f"ready in {time.monotonic() - started:.1f} s; sentinels {layout.sentinels}; "
                  f"primary {layout.primary_port()}")
            layout.client().set("k", "v")
            old_port = layout.kill_primary()
            print(f"failover in {layout.wait_failover():.2f} s; new primary {layout.primary_port()}")
            layout.restart_node(old_port)
            print(f"old primary {old_port} back as a replica; replicas {layout.replica_ports()}")
            assert layout.client().get("k") == "v"
