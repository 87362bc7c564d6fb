"""Several web instances behind HAProxy, one feeds process, one Redis (issue 10, H7).

``start_web(tmpdir, n)`` starts ``n`` ``crisis serve`` processes on one data directory
(so one embedded Redis, shared through its ``redis.json``; or ``redis_url=``: REDIS_URL;
or whatever ``env`` says, e.g. REDIS_SENTINELS), one ``crisis feeds`` process (its CoT
listener on a free port, the feeds' URLs from ``env`` if any) and Debian's HAProxy in
front, rendered from deploy/haproxy.cfg.in: sticky by cookie, health checks every 1 s.

    layout = start_web(tmp, 2)
    try:
        layout.url                 # http://127.0.0.1:PORT through HAProxy
        layout.instances[0].url    # one instance, directly
        layout.kill_instance(0)    # SIGKILL; layout.restart_instance(0) brings it back
        layout.token("me", "duty_officer")
    finally:
        layout.stop()

Stdlib, requests and benchmarks/common.py: import it with ``sys.path.insert(0, ".../benchmarks")``.
Every process runs in its own process group and is stopped (SIGTERM, then SIGKILL) by
``stop()``; an embedded redis-server whose users were all killed is stopped too.

``python benchmarks/layout_web.py --compose-cfg`` prints deploy/haproxy.cfg;
``python benchmarks/layout_web.py --instances 2 --hold 60`` runs the layout for a minute.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

import requests
from common import CLI_TIMEOUT_S, CRISIS, HOST, ROOT, START_TIMEOUT_S, STOP_TIMEOUT_S, _group_alive, free_port

TEMPLATE = ROOT / "deploy" / "haproxy.cfg.in"
COMPOSE_CFG = ROOT / "deploy" / "haproxy.cfg"
INCIDENT = {"title": "Checkpoint closed", "type": "civil_unrest", "severity": 3, "lat": 33.89, "lon": 35.5}

COMPOSE_RESOLVERS = """
# Docker's DNS: the app containers may start after HAProxy, or get a new address.
resolvers docker
    nameserver dns 127.0.0.11:53
    hold valid 1s
"""


def haproxy_binary() -> str:
    """HAPROXY, else haproxy on PATH, else Debian's /usr/sbin/haproxy (`make haproxy` installs it)."""
    return os.environ.get("HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"


def render_haproxy_cfg(bind: str, servers: list[tuple[str, str]], stats_bind: str, resolvers: bool = False) -> str:
    """deploy/haproxy.cfg.in with its frontend address, its servers (name, host:port),
    the stats page's address, and for docker compose Docker's DNS resolver."""
    extra = " resolvers docker init-addr last,libc,none" if resolvers else ""
    lines = [f"    server {name} {address} check cookie {name}{extra}" for name, address in servers]
    text = TEMPLATE.read_text()
    for token, value in (("@BIND@", bind), ("@STATS_BIND@", stats_bind), ("@SERVERS@", "\n".join(lines)),
                         ("@RESOLVERS@", COMPOSE_RESOLVERS if resolvers else "")):
        text = text.replace(token, value)
    return text


def compose_cfg() -> str:
    """The configuration of docker-compose.yml's "scale" profile (deploy/haproxy.cfg)."""
    return render_haproxy_cfg("*:8050", [("web1", "web1:8050"), ("web2", "web2:8050")], "*:8404", resolvers=True)


# -- processes -----------------------------------------------------------------------------


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _stop_group(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left."""
    if process is None:
        return
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(process.pid):
        _signal_group(process.pid, signal.SIGKILL)


@dataclass
class Proc:
    """One process of the layout: its command, log, and the Popen while it runs."""

    name: str
    args: list[str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def spawn(self, env: Mapping[str, str]) -> None:
        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open across restarts, closed in close()
        self.starts += 1
        self._log.write(f"\n--- start {self.starts} at {time.strftime('%H:%M:%S')} ---\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(self.args, env=dict(env), cwd=str(ROOT), stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL, as a crash: no cleanup runs."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        process, self.process = self.process, None
        _stop_group(process)

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _wait_healthy(proc: Proc, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.process is None or proc.process.poll() is not None:
            code = proc.process.returncode if proc.process is not None else None
            raise RuntimeError(f"{proc.name} exited with {code}:\n{proc.log_tail()}")
        try:
            if requests.get(f"{proc.url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not answer /healthz within {timeout_s:.0f} s:\n{proc.log_tail()}")
        time.sleep(0.1)


def _stop_embedded_redis(data_dir: Path) -> None:
    """The embedded redis-server, when every process that used it was killed (it keeps
    running then, by design: see crisis/adapters/redis_server.py)."""
    try:
        record = json.loads((data_dir / "redis" / "redis.json").read_text())
        pid = int(record["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return
    if b"redis-server" not in cmdline and b"valkey-server" not in cmdline:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            try:  # a zombie whose parent is gone is reaped by init; stop waiting on it
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    return
            except OSError:
                return
            time.sleep(0.05)


# -- the layout ----------------------------------------------------------------------------


@dataclass
class WebLayout:
    """n web instances, one feeds process and HAProxy; see the module's docstring."""

    tmpdir: Path
    data_dir: Path
    env: dict[str, str]
    instances: list[Proc]
    feeds: Proc | None
    haproxy: Proc
    port: int
    stats_port: int
    cot_port: int

    @property
    def url(self) -> str:
        """The layout's address: HAProxy's frontend."""
        return f"http://{HOST}:{self.port}"

    @property
    def stats_url(self) -> str:
        return f"http://{HOST}:{self.stats_port}/stats"

    # -- faults ----------------------------------------------------------------------

    def kill_instance(self, i: int) -> None:
        """SIGKILL web instance ``i`` (its sockets drop; HAProxy marks it down within ~2 s)."""
        self.instances[i].kill()

    def restart_instance(self, i: int, wait_up: bool = True, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start web instance ``i`` again on its port (killed or not: a live one is stopped
        first); by default wait until it answers and HAProxy has it UP again."""
        proc = self.instances[i]
        if proc.running():
            proc.stop()
        proc.spawn(self.env)
        _wait_healthy(proc, timeout_s)
        if wait_up:
            self.wait_server(i, "UP", timeout_s)

    def kill_feeds(self) -> None:
        if self.feeds is not None:
            self.feeds.kill()

    def restart_feeds(self) -> None:
        if self.feeds is not None:
            if self.feeds.running():
                self.feeds.stop()
            self.feeds.spawn(self.env)

    # -- HAProxy's view --------------------------------------------------------------

    def server_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's stats CSV for the backend's servers: name -> row (status, scur, ...)."""
        answer = requests.get(f"{self.stats_url};csv", timeout=5)
        answer.raise_for_status()
        rows = csv.DictReader(io.StringIO(answer.text.lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "web" and row["svname"] not in ("BACKEND", "FRONTEND")}

    def server_status(self, i: int) -> str:
        """HAProxy's status of instance ``i``: "UP", "DOWN", "UP 1/2" (rising), ..."""
        return self.server_stats()[self.instances[i].name]["status"]

    def connections(self, i: int) -> int:
        """Connections HAProxy holds open to instance ``i`` now (WebSockets included)."""
        return int(self.server_stats()[self.instances[i].name]["scur"] or 0)

    def wait_server(self, i: int, status: str, timeout_s: float = 30.0) -> float:
        """Wait until HAProxy reports instance ``i`` with ``status``; the seconds it took."""
        start = time.monotonic()
        while True:
            try:
                if self.server_status(i) == status:
                    return time.monotonic() - start
            except (requests.RequestException, KeyError):
                pass
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"{self.instances[i].name} not {status} in HAProxy within {timeout_s:.0f} s")
            time.sleep(0.1)

    # -- accounts (through the CLI, on the layout's storage) ---------------------------

    def _cli(self, args: list[str], stdin: str | None = None) -> str:
        done = subprocess.run([str(CRISIS), *args], input=stdin, env=self.env, cwd=str(ROOT), capture_output=True,
                              text=True, timeout=CLI_TIMEOUT_S, check=False,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"crisis {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def token(self, name: str, role: str = "duty_officer", region: str | None = None) -> str:
        """A new API token (``crisis tokens create``)."""
        out = self._cli(["tokens", "create", name, "--role", role] + (["--region", region] if region else []))
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError("crisis tokens create printed nothing")
        return lines[-1]

    def add_user(self, name: str, password: str, role: str = "duty_officer", region: str | None = None) -> None:
        """A new account (``crisis users add``, the password on stdin)."""
        self._cli(["users", "add", name, "--role", role] + (["--region", region] if region else []), stdin=password + "\n")

    # -- end -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop HAProxy, the feeds process and every instance (SIGTERM, then SIGKILL),
        then an embedded redis-server left running."""
        for proc in [self.haproxy, *([self.feeds] if self.feeds else []), *self.instances]:
            try:
                proc.close()
            except Exception as exc:  # noqa: BLE001 - go on stopping the others
                print(f"layout_web: stopping {proc.name}: {exc}", file=sys.stderr)
        if not self.env.get("REDIS_URL"):
            _stop_embedded_redis(self.data_dir)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class IncidentPoster:
    """Posts incidents (INCIDENT, titled "<title> <n>") to ``url`` from a thread, one every
    ``every_s``, from ``start()`` until ``stop()``; keeps the stream ids acknowledged (201)
    and the failures (the status, or the exception's name)."""

    def __init__(self, url: str, token: str, every_s: float, title: str = "posted") -> None:
        self.url, self.every_s, self.title = url, every_s, title
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.acknowledged: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 60) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                answer = self.http.post(f"{self.url}/api/v1/incidents", json={**INCIDENT, "title": f"{self.title} {n}"},
                                        timeout=30)
                if answer.status_code == 201:
                    self.acknowledged.append(answer.json()["stream_id"])
                else:
                    self.failures.append(str(answer.status_code))
            except requests.RequestException as exc:
                self.failures.append(type(exc).__name__)
            self._stop.wait(self.every_s)


def start_web(tmpdir: str | Path, n: int = 2, redis_url: str | None = None, env: Mapping[str, str] | None = None,
              feeds: bool = True) -> WebLayout:
    """Start ``n`` web instances, a feeds process (unless ``feeds=False``) and HAProxy;
    return once every instance answers and HAProxy has them all UP. ``env`` is added to
    (and overrides) the processes' environment: SECRET_KEY, CRISIS_TICK_SECONDS, ..."""
    tmp = Path(tmpdir)
    tmp.mkdir(parents=True, exist_ok=True)
    data_dir = tmp / "data"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CRISIS_"))}
    base.update(
        CRISIS_DATA_DIR=str(data_dir),
        CRISIS_HOST=HOST,
        CRISIS_FEEDS="0",  # web instances do not poll: the feeds process does
        CRISIS_TRUSTED_PROXIES="1",  # HAProxy's X-Forwarded-For is the client's address
        SECRET_KEY=secrets.token_urlsafe(32),  # one key: a session cookie is valid on every instance
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        base["REDIS_URL"] = redis_url
    cot_port = free_port()
    base["CRISIS_COT_PORT"] = str(cot_port)
    base.update(env or {})
    cot_port = int(base["CRISIS_COT_PORT"])

    instances = [Proc(f"web{i + 1}", [], tmp / f"web{i + 1}.log", port=free_port()) for i in range(n)]
    for proc in instances:
        proc.args = [str(CRISIS), "serve", "--host", HOST, "--port", str(proc.port)]
    port, stats_port = free_port(), free_port()
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(render_haproxy_cfg(f"{HOST}:{port}", [(p.name, f"{HOST}:{p.port}") for p in instances],
                                      f"{HOST}:{stats_port}"))
    haproxy = Proc("haproxy", [haproxy_binary(), "-db", "-f", str(cfg)], tmp / "haproxy.log", port=port)
    feeds_proc = Proc("feeds", [str(CRISIS), "feeds"], tmp / "feeds.log") if feeds else None
    layout = WebLayout(tmp, data_dir, base, instances, feeds_proc, haproxy, port, stats_port, cot_port)
    try:
        for proc in instances:  # they share the embedded server: the first starts it
            proc.spawn(base)
        for proc in instances:
            _wait_healthy(proc)
        if feeds_proc is not None:
            feeds_proc.spawn(base)
        if not Path(haproxy.args[0]).exists():
            raise RuntimeError(f"{haproxy.args[0]} is missing: run `make haproxy` (apt-get install haproxy)")
        haproxy.spawn(base)
        for i in range(n):
            layout.wait_server(i, "UP", START_TIMEOUT_S)
        _wait_healthy(haproxy)
    except BaseException:
        layout.stop()
        raise
    return layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose-cfg", action="store_true", help="print deploy/haproxy.cfg (docker compose) and exit")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--hold", type=float, default=0.0, help="keep the layout running this many seconds")
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    if args.compose_cfg:
        sys.stdout.write(compose_cfg())
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="crisis-web-") as tmp:
        started = time.monotonic()
        layout = start_web(tmp, args.instances, redis_url=args.redis_url)
        try:
            print(f"layout up in {time.monotonic() - started:.1f} s: {layout.url} (stats {layout.stats_url})")
            for proc in layout.instances:
                print(f"  {proc.name}: {proc.url} pid {proc.pid}")
            token = layout.token("layout-admin", "duty_officer")
            print(f"  duty officer token: {token}")
            sys.stdout.flush()
            time.sleep(args.hold)
        except KeyboardInterrupt:
            pass
        finally:
            layout.stop()


if __name__ == "__main__":
    main()
