"""Soak: steady load through the balancer while processes are killed; then nothing may be lost.

    .venv/bin/python benchmarks/soak.py --minutes 10 [--markdown PATH] [--layout scale|single]

``--layout scale`` (the default) starts the multi-instance layout: a Redis primary, one
replica and three Sentinels (benchmarks/layout_redis.py), ``--instances`` web instances
(``crisis serve``) and one ``crisis feeds`` process behind HAProxy (benchmarks/layout_web.py),
the instances pointed at the Sentinels (REDIS_SENTINELS) and acknowledging a write only
after one replica has it (CRISIS_WAIT_REPLICAS=1). ``--layout single`` is one ``crisis
serve`` on its embedded Redis (faults: that instance only), for a quick local check.

Load (through the balancer's URL, one duty officer token; the rates are flags):

- incidents: ``--incident-rate`` writes/s, 1 in 4 a PATCH of an earlier incident (new
  ones carry a ``source_id``, so a retried POST lands on the same incident);
- positions: ``--position-rate`` batches/s of ``--batch`` travellers each;
- check-ins: ``--checkin-rate``/s, each (incident, traveller) pair once;
- dispatches: ``--dispatch-rate``/s, each of a fresh officer;
- a feed: a USGS GeoJSON file that grows by one quake every ``--quake-every`` seconds,
  polled by the feeds process (``CRISIS_USGS_URL`` is the file);
- ``--clients`` python-socketio clients (websocket, namespace /live) keep a picture as
  the browser's script does (crisis_live.js: per-incident newest stream id wins; a
  snapshot replaces; sync with the last ids on every (re)connection and on "resync").

A write that got no answer (connection cut, timeout) or a 5xx (storage unavailable,
balancer without a backend) is sent again, the same body, until a 2xx or a 4xx or
``RETRY_FOR_S``. Only a 2xx counts as acknowledged.

Faults, about every ``--fault-every`` seconds, in a shuffled cycle: SIGKILL a web
instance (restarted ``RESTART_AFTER_S`` later), SIGKILL the feeds process (restarted),
SIGKILL the Redis primary (the Sentinels fail over; the old one is restarted as a replica).

At the end (writes stopped, every process up again): every acknowledged write is in its
stream (by the id it was answered with) and in its projection; every feed quake published
before the last feeds restart settles is an incident, once; every client's picture
(incidents and positions) equals the server's (its REST answers); no consumer group has a
pending entry left (within ``SETTLE_S``). It prints the table; ``--markdown`` writes
PATH. The exit status is 1 when anything was lost or differs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
import socketio  # noqa: E402

from common import CRISIS, HOST, ROOT, free_port, land_point, log, machine_info, percentile  # noqa: E402

NAMESPACE = "/live"
RETRY_FOR_S = 60.0  # a write is retried this long before it is given up (counted "unanswered")
REQUEST_TIMEOUT_S = 10.0
RESTART_AFTER_S = 3.0  # a killed web instance or feeds process is started again this much later
SETTLE_S = 60.0
BLIP_OFFLINE_S = 3.0  # a client's deliberate absence (a bad link) before it reconnects and resyncs
TAIL_S = 10.0  # with --max-faults: the load goes on at least this long after the last fault  # at the end: how long clients and consumer groups get to catch up
CONNECT_TIMEOUT_S = 60.0
INCIDENT_TYPES = ("armed_conflict", "civil_unrest", "crime", "earthquake", "flood", "wildfire", "accident")
REGION_OF_OFFICERS = "africa"
STATUSES = ("safe", "needs_help", "unsure", "unreachable")


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def newer(a: str | None, b: str | None) -> bool:
    """Whether stream id ``a`` is after ``b`` (None is before everything)."""
    if a is None:
        return False
    return b is None or _id_tuple(a) > _id_tuple(b)


# -- the processes under test ------------------------------------------------------------


class Stack:
    """What the soak needs of a layout: its URL, the primary's Redis, faults, teardown."""

    url: str
    description: str

    def redis(self) -> redis.Redis:
        raise NotImplementedError

    def faults(self) -> dict[str, Callable[[], str]]:
        """Fault name -> inject it (kill, and start again what the layout restarts): a description."""
        raise NotImplementedError

    def wait_up(self, timeout: float) -> bool:
        """Every process running again and the URL answering."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return True
        except Exception:  # noqa: BLE001, S110 - a condition that cannot be checked yet is not met
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


class SingleStack(Stack):
    """One ``crisis serve`` on its embedded Redis (feeds polled in the same process)."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.description = "1 `crisis serve` (embedded Redis, feeds in-process)"
        self.env = {**os.environ, **env, "CRISIS_DATA_DIR": str(self.data_dir), "CRISIS_HOST": HOST,
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("REDIS_URL", None)
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> SingleStack:
        with open(self.root / "serve.log", "ab") as out:
            self.process = subprocess.Popen([str(CRISIS), "serve", "--host", HOST, "--port", str(self.port)],
                                            env=self.env, cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_until(lambda: _healthy(self.url), 90):
            raise RuntimeError("crisis serve did not answer /healthz within 90 s: "
                               + (self.root / "serve.log").read_text(errors="replace")[-2000:])
        return self

    def redis(self) -> redis.Redis:
        record = json.loads((self.data_dir / "redis" / "redis.json").read_text())
        return redis.Redis.from_url(record["url"], decode_responses=True, socket_timeout=10)

    def _kill_instance(self) -> str:
        with self._lock:
            process, self.process = self.process, None
            if process is not None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        time.sleep(RESTART_AFTER_S)
        with self._lock:
            self.start()
        return "web instance 0 (SIGKILL, restarted)"

    def faults(self) -> dict[str, Callable[[], str]]:
        return {"web instance": self._kill_instance}

    def wait_up(self, timeout: float) -> bool:
        return wait_until(lambda: _healthy(self.url), timeout)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        from common import _stop_embedded_redis

        _stop_embedded_redis(self.data_dir)


class ScaleStack(Stack):
    """Sentinel-managed Redis (layout_redis, H2) under n instances + feeds behind HAProxy (layout_web, H7)."""

    def __init__(self, root: Path, env: dict[str, str], instances: int, wait_replicas: int = 1, seed: int = 0) -> None:
        self.root = root
        self.extra = dict(env)
        self.n = instances
        self.wait_replicas = wait_replicas
        self.rng = random.Random(seed)
        self.description = (f"{instances} `crisis serve` + 1 `crisis feeds` behind HAProxy; Redis primary + 1 replica "
                            f"+ 3 Sentinels, CRISIS_WAIT_REPLICAS={wait_replicas}")
        self.ha: Any = None
        self.web: Any = None
        self.url = ""

    def start(self) -> ScaleStack:
        from layout_redis import start_redis_ha
        from layout_web import start_web

        self.ha = start_redis_ha(self.root / "redis")
        try:
            env = {**self.ha.env(), "CRISIS_WAIT_REPLICAS": str(self.wait_replicas), **self.extra}
            self.web = start_web(self.root / "web", self.n, env=env)
        except BaseException:
            self.ha.stop()
            raise
        self.url = self.web.url
        return self

    def redis(self) -> redis.Redis:
        return self.ha.client()  # type: ignore[no-any-return]

    def _kill_instance(self) -> str:
        i = self.rng.randrange(self.n)
        self.web.kill_instance(i)
        time.sleep(RESTART_AFTER_S)
        self.web.restart_instance(i)
        return f"web instance {i + 1} (restarted after {RESTART_AFTER_S:.0f} s)"

    def _kill_feeds(self) -> str:
        self.web.kill_feeds()
        time.sleep(RESTART_AFTER_S)
        self.web.restart_feeds()
        return f"feeds process (restarted after {RESTART_AFTER_S:.0f} s)"

    def _kill_primary(self) -> str:
        port = self.ha.kill_primary()
        took = self.ha.wait_failover(60)
        self.ha.restart_node(port)
        return f"Redis primary :{port} (Sentinel failover {took:.1f} s; old primary back as a replica)"

    def faults(self) -> dict[str, Callable[[], str]]:
        return {"web instance": self._kill_instance, "feeds process": self._kill_feeds, "redis primary": self._kill_primary}

    def wait_up(self, timeout: float) -> bool:
        def up() -> bool:
            return (all(p.running() and _healthy(p.url) for p in self.web.instances)
                    and (self.web.feeds is None or self.web.feeds.running())
                    and all(n.alive() for n in (*self.ha.nodes, *self.ha.sentinel_nodes))
                    and _healthy(self.url))

        return wait_until(up, timeout, step=0.5)

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.ha is not None:
            self.ha.stop()


# -- the writers ---------------------------------------------------------------------------


@dataclass
class Write:
    """One write as the driver saw it."""

    kind: str
    body: Any
    attempts: int = 0
    status: int | None = None  # the last HTTP status (None: never answered)
    answer: Any = None
    first_sent: float = 0.0
    acked_at: float | None = None

    @property
    def acked(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Tally:
    writes: list[Write] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    planned: dict[str, int] = field(default_factory=dict)

    def add(self, write: Write) -> None:
        with self.lock:
            self.writes.append(write)

    def of(self, kind: str) -> list[Write]:
        with self.lock:
            return [w for w in self.writes if w.kind == kind]


class Driver:
    """Writes at fixed rates through the balancer, retrying what got no answer."""

    def __init__(self, url: str, token: str, args: argparse.Namespace, seed: int) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.args = args
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.stop_event = threading.Event()
        self.incidents: list[str] = []  # acknowledged incident ids (for updates, check-ins, dispatches)
        self.incidents_lock = threading.Lock()
        self.officers: list[str] = []
        self.travellers: list[str] = []
        self.checkin_pairs: set[tuple[str, str]] = set()
        self.position_seq = 0
        self.position_attempts: dict[str, list[tuple[int, float, float]]] = {}  # traveller -> (seq, lat, lon)
        self.position_acked: dict[str, int] = {}  # traveller -> seq of the last acknowledged batch with it
        self.threads: list[threading.Thread] = []
        self.refused: list[str] = []  # 4xx answers that were not expected (a driver bug or a server one)

    # -- sending -----------------------------------------------------------------------

    def send(self, session: requests.Session, kind: str, method: str, path: str, body: Any) -> Write:
        write = Write(kind, body, first_sent=time.monotonic())
        self.tally.add(write)
        deadline = write.first_sent + RETRY_FOR_S
        pause = 0.2
        while True:
            write.attempts += 1
            try:
                answer = session.request(method, self.url + path, json=body, headers=self.headers,
                                         timeout=REQUEST_TIMEOUT_S)
                write.status = answer.status_code
                if answer.status_code < 500:
                    try:
                        write.answer = answer.json()
                    except ValueError:
                        write.answer = answer.text[:300]
                    if write.acked:
                        write.acked_at = time.monotonic()
                    return write
                retry_after = answer.headers.get("Retry-After")
                if retry_after and retry_after.isdigit():
                    pause = min(max(pause, float(retry_after)), 2.0)
            except requests.RequestException:
                write.status = None
            if time.monotonic() > deadline or (self.stop_event.is_set() and time.monotonic() > deadline - RETRY_FOR_S / 2):
                return write
            time.sleep(pause)
            pause = min(pause * 1.5, 2.0)

    def _paced(self, name: str, rate: float, step: Callable[[requests.Session], None]) -> None:
        if rate <= 0:
            return
        session = requests.Session()
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            try:
                step(session)
            except Exception as exc:  # noqa: BLE001 - a driver bug must be seen, not stop the others
                log(f"{name}: {exc!r}")
                self.refused.append(f"{name}: {exc!r}")
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            elif delay < -5 * interval:
                next_at = time.monotonic()  # far behind (a fault): do not burst to catch up
        session.close()

    # -- setup -------------------------------------------------------------------------

    def seed(self, session: requests.Session, travellers: int, officers: int) -> None:
        self.travellers = [f"S{i:05d}" for i in range(travellers)]
        station = {"name": "Nairobi", "lat": -1.286, "lon": 36.817, "country": "KEN"}
        rows = [{"id": tid, "name": f"Name of {tid}", "agency": "UNDP", "category": "international_staff",
                 "essential": False, "duty_station": station} for tid in self.travellers]
        answer = session.post(self.url + "/api/v1/travellers", json=rows, headers=self.headers, timeout=120)
        if answer.status_code != 200 or answer.json()["rejected"]:
            raise RuntimeError(f"seeding travellers: {answer.status_code} {answer.text[:500]}")
        self.officers = [f"O{i:05d}" for i in range(officers)]
        home = {"name": "Nairobi", "lat": -1.286, "lon": 36.817, "country": "KEN"}
        rows = [{"id": oid, "name": f"Officer {oid}", "home": home, "region": REGION_OF_OFFICERS, "grade": "P4",
                 "skills": ["first_aid"], "languages": ["en"]} for oid in self.officers]
        answer = session.post(self.url + "/api/v1/roster/officers", json=rows, headers=self.headers, timeout=120)
        if answer.status_code != 200 or answer.json()["rejected"]:
            raise RuntimeError(f"seeding officers: {answer.status_code} {answer.text[:500]}")
        self.rng.shuffle(self.officers)
        for _ in range(5):  # something to check in to and dispatch to from the start
            self._new_incident(session)

    # -- each kind of write --------------------------------------------------------------

    def _new_incident(self, session: requests.Session) -> None:
        lat, lon = land_point(self.rng)
        source_id = f"soak-{self.rng.getrandbits(48):012x}"
        body = {"title": f"Soak {source_id}", "type": self.rng.choice(INCIDENT_TYPES), "severity": self.rng.randint(1, 5),
                "lat": lat, "lon": lon, "radius_km": 25, "source": self.token_name, "source_id": source_id}
        write = self.send(session, "incident", "POST", "/api/v1/incidents", body)
        if write.acked:
            with self.incidents_lock:
                self.incidents.append(write.answer["id"])
        elif write.status is not None:
            self.refused.append(f"incident POST {write.status}: {str(write.answer)[:200]}")

    def _incident_step(self, session: requests.Session) -> None:
        with self.incidents_lock:
            known = list(self.incidents)
        if known and self.rng.random() < 0.25:
            incident_id = self.rng.choice(known)
            body = {"severity": self.rng.randint(1, 5), "title": f"Soak update {self.rng.getrandbits(32):08x}"}
            write = self.send(session, "incident_update", "PATCH", f"/api/v1/incidents/{incident_id}", body)
            write.body = {**body, "id": incident_id}
            if write.status is not None and not write.acked:
                self.refused.append(f"incident PATCH {write.status}: {str(write.answer)[:200]}")
        else:
            self._new_incident(session)

    def _positions_step(self, session: requests.Session) -> None:
        self.position_seq += 1
        seq = self.position_seq
        chosen = self.rng.sample(self.travellers, min(self.args.batch, len(self.travellers)))
        rows = []
        for tid in chosen:
            lat, lon = land_point(self.rng)
            rows.append({"traveller_id": tid, "lat": lat, "lon": lon})
            self.position_attempts.setdefault(tid, []).append((seq, lat, lon))
        write = self.send(session, "positions", "POST", "/api/v1/positions", rows)
        if write.acked:
            for tid in chosen:
                self.position_acked[tid] = seq
        elif write.status is not None:
            self.refused.append(f"positions {write.status}: {str(write.answer)[:200]}")

    def _checkin_step(self, session: requests.Session) -> None:
        with self.incidents_lock:
            known = list(self.incidents)
        for _ in range(20):
            pair = (self.rng.choice(known), self.rng.choice(self.travellers))
            if pair not in self.checkin_pairs:
                break
        else:
            return
        self.checkin_pairs.add(pair)
        body = {"traveller_id": pair[1], "status": self.rng.choice(STATUSES), "incident_id": pair[0]}
        write = self.send(session, "checkin", "POST", "/api/v1/checkins", body)
        if write.status is not None and not write.acked:
            self.refused.append(f"checkin {write.status}: {str(write.answer)[:200]}")

    def _dispatch_step(self, session: requests.Session) -> None:
        if not self.officers:
            return
        with self.incidents_lock:
            incident_id = self.rng.choice(self.incidents)
        body = {"incident_id": incident_id, "officer_id": self.officers.pop(), "note": "soak"}
        write = self.send(session, "dispatch", "POST", "/api/v1/dispatches", body)
        # A 409 after a retry: the first attempt was stored but its answer lost (the officer
        # is deployed); it is not counted as acknowledged.
        if write.status is not None and not write.acked and not (write.status == 409 and write.attempts > 1):
            self.refused.append(f"dispatch {write.status}: {str(write.answer)[:200]}")

    # -- run ---------------------------------------------------------------------------

    token_name = "soak-writer"

    def start(self) -> None:
        a = self.args
        plan = [("incidents", a.incident_rate, self._incident_step), ("positions", a.position_rate, self._positions_step),
                ("checkins", a.checkin_rate, self._checkin_step), ("dispatches", a.dispatch_rate, self._dispatch_step)]
        for name, rate, step in plan:
            thread = threading.Thread(target=self._paced, args=(name, rate, step), name=f"soak-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=RETRY_FOR_S + REQUEST_TIMEOUT_S + 5)


# -- the feed: a USGS GeoJSON file that grows ------------------------------------------------


class QuakeFeed:
    """A USGS summary GeoJSON file (CRISIS_USGS_URL) with a new quake every ``every`` s."""

    def __init__(self, path: Path, every: float, seed: int) -> None:
        self.path = path
        self.every = every
        self.rng = random.Random(seed)
        self.features: list[dict[str, Any]] = []
        self.published_at: dict[str, float] = {}
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self._write()

    def _write(self) -> None:
        document = {"type": "FeatureCollection", "metadata": {"generated": int(time.time() * 1000)},
                    "features": self.features[-200:]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document))
        os.replace(tmp, self.path)

    def add(self) -> None:
        lat, lon = land_point(self.rng)
        quake_id = f"sk{self.rng.getrandbits(40):010x}"
        millis = int(time.time() * 1000)
        self.features.append({
            "type": "Feature", "id": quake_id,
            "properties": {"mag": round(self.rng.uniform(4.0, 6.5), 1), "time": millis, "updated": millis,
                           "place": "soak", "type": "earthquake", "status": "reviewed",
                           "title": f"M soak quake {quake_id}", "ids": f",{quake_id},"},
            "geometry": {"type": "Point", "coordinates": [lon, lat, 10.0]},
        })
        self.published_at[quake_id] = time.monotonic()
        self._write()

    def start(self) -> None:
        if self.every <= 0:
            return

        def run() -> None:
            while not self.stop_event.wait(self.every):
                self.add()

        self.thread = threading.Thread(target=run, name="soak-quakes", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


# -- the clients -----------------------------------------------------------------------------


class ClientLoop:
    """One asyncio loop on a thread for every client: python-socketio's AsyncClient handles a
    connection's messages in order (its threaded Client runs each message on a thread of
    its own, so two messages, or a binary message and its attachment, can swap)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="soak-clients", daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.run_until_complete(asyncio.sleep(0))  # let the cancelled tasks end
            self.loop.close()


class LiveClient:
    """A python-socketio client keeping the picture as crisis_live.js does."""

    def __init__(self, index: int, url: str, token: str, loop: ClientLoop) -> None:
        self.loop = loop
        self.index = index
        self.url = url
        self.token = token
        self.lock = threading.Lock()
        self.incidents: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (stream id, incident)
        self.positions: dict[str, tuple[str, float, float]] = {}  # traveller -> (stream id, lat, lon)
        self.last_id: str | None = None
        self.positions_id: str | None = None
        self.scope: str | None = None
        self.connects = 0
        self.resync_events = 0  # "resync" pushed by the server (a client fallen too far behind)
        self.syncs_acked = 0
        self.blips = 0  # deliberate disconnections (``blip``)
        self.down_since: float | None = None
        self.resync_times: list[float] = []  # disconnect -> sync answered after the reconnection
        self.sync_errors: list[Any] = []
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_attempts=0, reconnection_delay=0.5,
                                   reconnection_delay_max=2.0, randomization_factor=0.3, request_timeout=15)
        on = self.sio.on
        on("connect", self._on_connect, namespace=NAMESPACE)
        on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        on("snapshot", self._on_snapshot, namespace=NAMESPACE)
        on("incident", self._on_incident, namespace=NAMESPACE)
        on("positions", self._on_positions, namespace=NAMESPACE)
        on("resync", self._on_resync, namespace=NAMESPACE)

    def connect(self) -> None:
        self.loop.run(self.sio.connect(self.url, namespaces=[NAMESPACE], auth={"token": self.token},
                                       transports=["websocket"], wait_timeout=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S + 5)

    def close(self) -> None:
        try:
            self.loop.run(self.sio.disconnect(), 15)
        except Exception as exc:  # noqa: BLE001 - closing at the end, whatever its state
            log(f"client {self.index}: disconnect: {exc!r}")

    def blip(self, offline_s: float) -> None:
        """A bad link: drop the connection, stay away ``offline_s`` (writes go on), reconnect
        and sync from the last ids (the resync time counts from the reconnection)."""
        self.loop.run(self.sio.disconnect(), 15)
        time.sleep(offline_s)
        with self.lock:
            self.blips += 1
            self.down_since = time.monotonic()
        deadline = time.monotonic() + RETRY_FOR_S
        while True:  # as a page does: try again until it is back (an instance may be down right now)
            try:
                self.connect()
                return
            except Exception as exc:  # noqa: BLE001 - socketio.exceptions.ConnectionError, timeouts
                if time.monotonic() > deadline:
                    raise
                log(f"client {self.index}: reconnecting after a link drop: {exc!r}; again in 1 s")
                try:
                    self.loop.run(self.sio.disconnect(), 15)  # a half-open attempt must not block the next
                except Exception as again:  # noqa: BLE001
                    log(f"client {self.index}: {again!r}")
                time.sleep(1.0)

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected) and NAMESPACE in self.sio.namespaces

    # -- handlers (on the clients' asyncio loop, in the order the messages came) -------------

    def _on_connect(self) -> None:
        with self.lock:
            self.connects += 1
        self._sync()

    def _on_disconnect(self, *_: Any) -> None:
        with self.lock:
            if self.down_since is None:
                self.down_since = time.monotonic()

    def _on_resync(self, *_: Any) -> None:
        with self.lock:
            self.resync_events += 1
            if self.down_since is None:
                self.down_since = time.monotonic()
        self._sync()

    def _sync(self) -> None:
        with self.lock:
            ask = {"last_id": self.last_id, "positions_id": self.positions_id, "scope": self.scope}

        async def send() -> None:
            try:
                await self.sio.emit("sync", ask, namespace=NAMESPACE, callback=self._on_sync_ack)
            except Exception as exc:  # noqa: BLE001 - disconnected meanwhile: the next connect syncs
                self.sync_errors.append(repr(exc))

        self.loop.loop.create_task(send())

    def _on_sync_ack(self, ack: Any = None) -> None:
        if isinstance(ack, dict) and ack.get("error") == "rate limited":
            delay = float(ack.get("retry_after") or 1)
            self.loop.loop.call_later(delay, self._sync)
            return
        if not isinstance(ack, dict) or "error" in ack:
            self.sync_errors.append(ack)
            return
        with self.lock:
            self.syncs_acked += 1
            if ack.get("scope"):
                self.scope = ack["scope"]
            if self.down_since is not None:
                self.resync_times.append(time.monotonic() - self.down_since)
                self.down_since = None

    def _apply(self, message: dict[str, Any]) -> None:
        incident = message["incident"]
        stream_id = message["stream_id"]
        known = self.incidents.get(incident["id"])
        if known is None or not newer(known[0], stream_id):
            self.incidents[incident["id"]] = (stream_id, incident)
        if newer(stream_id, self.last_id):
            self.last_id = stream_id

    def _on_snapshot(self, message: dict[str, Any]) -> None:
        with self.lock:
            head = message["stream_id"]
            # What arrived live after the snapshot was taken stays (the script keeps the newest too).
            # A "reset" one (the server changed: a failover) drops everything, as the page does.
            kept = {} if message.get("reset") else {i: v for i, v in self.incidents.items() if newer(v[0], head)}
            self.incidents = {}
            for item in message["incidents"]:
                self._apply(item)
            for incident_id, value in kept.items():
                if incident_id not in self.incidents or newer(value[0], self.incidents[incident_id][0]):
                    self.incidents[incident_id] = value
            if message.get("scope"):
                self.scope = message["scope"]
            if newer(head, self.last_id) or not kept:
                self.last_id = head if not kept else max((head, *(v[0] for v in kept.values())), key=_id_tuple)

    def _on_incident(self, message: dict[str, Any]) -> None:
        with self.lock:
            self._apply(message)

    def _on_positions(self, message: dict[str, Any]) -> None:
        lat = np.frombuffer(message["lat"], dtype=np.float32)
        lon = np.frombuffer(message["lon"], dtype=np.float32)
        stream_id = message["stream_id"]
        with self.lock:
            if message.get("full"):
                self.positions = {t: v for t, v in self.positions.items() if newer(v[0], stream_id)}
                if message.get("scope"):
                    self.scope = message["scope"]
            for tid, a, o in zip(message["ids"], lat.tolist(), lon.tolist()):
                known = self.positions.get(tid)
                if known is None or not newer(known[0], stream_id):
                    self.positions[tid] = (stream_id, a, o)
            if message.get("full") or newer(stream_id, self.positions_id):
                self.positions_id = stream_id

    def picture(self) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[float, float]], str | None, str | None]:
        with self.lock:
            return ({i: v[1] for i, v in self.incidents.items()}, {t: (v[1], v[2]) for t, v in self.positions.items()},
                    self.last_id, self.positions_id)


# -- faults ------------------------------------------------------------------------------------


@dataclass
class FaultLog:
    injected: list[tuple[float, str, str]] = field(default_factory=list)  # (t, kind, what)
    failed: list[str] = field(default_factory=list)
    last_done: float = 0.0  # time.monotonic() when the last fault (and its restart) was over

    def count(self) -> int:
        return len(self.injected) + len(self.failed)


def run_faults(stack: Stack, every: float, stop: threading.Event, record: FaultLog, rng: random.Random,
               started: float, kinds: list[str] | None = None, first_after: float | None = None,
               max_faults: int = 0) -> None:
    """Inject one fault about every ``every`` s (jitter +-20 %), in a shuffled cycle of the kinds
    (at most ``max_faults``, 0: no limit)."""
    available = stack.faults()
    cycle: list[str] = []
    wait = first_after if first_after is not None else every * rng.uniform(0.8, 1.2)
    while not stop.wait(wait):
        if max_faults and len(record.injected) + len(record.failed) >= max_faults:
            return
        if not cycle:
            cycle = [k for k in (kinds or list(available)) if k in available]
            rng.shuffle(cycle)
        kind = cycle.pop()
        t = time.monotonic() - started
        log(f"[{t:6.1f} s] fault: {kind}")
        try:
            what = available[kind]()
            record.injected.append((t, kind, what))
        except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is reported
            record.failed.append(f"{kind}: {exc!r}")
            log(f"fault {kind} failed: {exc!r}")
        record.last_done = time.monotonic()
        wait = every * rng.uniform(0.8, 1.2)


def run_blips(clients: list[LiveClient], every: float, stop: threading.Event, rng: random.Random) -> None:
    """Every ``every`` s one client (at random) drops its link for BLIP_OFFLINE_S while the writes go on."""
    while not stop.wait(every * rng.uniform(0.8, 1.2)):
        client = rng.choice(clients)
        try:
            client.blip(BLIP_OFFLINE_S)
        except Exception as exc:  # noqa: BLE001 - reported, and the client reconnects by itself anyway
            log(f"client {client.index} blip: {exc!r}")


# -- the checks --------------------------------------------------------------------------------


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _stream_has(client: redis.Redis, stream: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` are entries of ``stream``."""
    found: set[str] = set()
    pipe = client.pipeline(transaction=False)
    for entry_id in ids:
        pipe.xrange(stream, min=entry_id, max=entry_id, count=1)
    for entry_id, reply in zip(ids, pipe.execute()):
        if reply:
            found.add(entry_id)
    return found


def check_writes(client: redis.Redis, driver: Driver, report: Report) -> int:
    """Every acknowledged write in its stream and its projection; the number lost."""
    from crisis.adapters import keys

    lost = 0
    acked = [w for w in driver.tally.writes if w.acked]

    def missing(what: str, items: list[str]) -> None:
        nonlocal lost
        if items:
            lost += len(items)
            report.problems.append(f"{len(items)} acknowledged {what} missing: {items[:5]}")

    # incidents (created and updated): the event by its stream id, the projection
    incident_writes = [w for w in acked if w.kind in ("incident", "incident_update")]
    ids = [w.answer["stream_id"] for w in incident_writes]
    in_log = _stream_has(client, keys.INCIDENT_STREAM, ids)
    missing("incident events (log)", [i for i in ids if i not in in_log])
    projected = []
    for w in incident_writes:
        raw = client.get(keys.incident(w.answer["id"]))
        if not raw:
            projected.append(w.answer["id"])
            continue
        stored_at = datetime.fromisoformat(json.loads(raw)["updated_at"])
        if stored_at < datetime.fromisoformat(w.answer["updated_at"]):
            projected.append(f"{w.answer['id']} (older than an acknowledged write)")
    missing("incidents (projection)", projected)

    # positions: the batch's event; each traveller's latest position is one sent at or after
    # its last acknowledged batch (a later batch whose answer was lost may have landed)
    position_writes = [w for w in acked if w.kind == "positions"]
    ids = [w.answer["stream_id"] for w in position_writes]
    in_log = _stream_has(client, keys.POSITION_STREAM, ids)
    missing("position batches (log)", [i for i in ids if i not in in_log])
    stored = client.hgetall(keys.POSITIONS)
    wrong = []
    for tid, seq in driver.position_acked.items():
        raw = stored.get(tid)
        if raw is None:
            wrong.append(tid)
            continue
        lat, lon = json.loads(raw)[:2]
        fits = [(s, a, o) for s, a, o in driver.position_attempts[tid] if s >= seq]
        if not any(abs(a - lat) < 1e-6 and abs(o - lon) < 1e-6 for _, a, o in fits):
            wrong.append(tid)
    missing("traveller positions (projection)", wrong)

    # check-ins: the event; the roll of that incident has that status
    checkins = [w for w in acked if w.kind == "checkin"]
    ids = [w.answer["event_id"] for w in checkins]
    in_log = _stream_has(client, keys.PEOPLE_STREAM, ids)
    missing("check-in events (log)", [i for i in ids if i not in in_log])
    wrong = []
    for w in checkins:
        raw = client.hget(keys.roll(f"incident:{w.body['incident_id']}"), w.body["traveller_id"])
        if raw is None or json.loads(raw).get("status") != w.body["status"]:
            wrong.append(f"{w.body['incident_id']}/{w.body['traveller_id']}")
    missing("check-ins (roll projection)", wrong)

    # dispatches: a dispatch.created event naming it; the dispatches hash
    dispatches = [w for w in acked if w.kind == "dispatch"]
    created = set()
    for _, fields in client.xrange(keys.ROSTER_STREAM):
        if fields.get("type") == "dispatch.created":
            created.add(json.loads(fields["payload"])["dispatch"]["id"])
    missing("dispatch events (log)", [w.answer["id"] for w in dispatches if w.answer["id"] not in created])
    have = client.hgetall(keys.DISPATCHES)
    missing("dispatches (projection)", [w.answer["id"] for w in dispatches if w.answer["id"] not in have])
    return lost


def check_quakes(client: redis.Redis, feed: QuakeFeed, report: Report) -> tuple[int, int]:
    """(quakes published, quakes missing): each published quake is one incident by its source id."""
    from crisis.adapters import keys

    quake_ids = list(feed.published_at)
    if not quake_ids:
        return 0, 0
    pipe = client.pipeline(transaction=False)
    for quake_id in quake_ids:
        pipe.hget(keys.INCIDENT_SOURCE_INDEX, keys.source_key("usgs", quake_id))
    found = dict(zip(quake_ids, pipe.execute()))
    absent = [q for q, incident_id in found.items() if not incident_id]
    if absent:
        report.problems.append(f"{len(absent)} of {len(quake_ids)} feed quakes never became incidents: {absent[:5]}")
    return len(quake_ids), len(absent)


def consumer_groups_pending(client: redis.Redis) -> dict[str, int]:
    """Every consumer group of every stream with its pending entries (XPENDING count)."""
    found: dict[str, int] = {}
    for key in client.scan_iter(match="crisis:*", count=1000, _type="STREAM"):
        try:
            groups = client.xinfo_groups(key)
        except redis.ResponseError:
            continue
        for group in groups:
            found[f"{key}/{group['name']}"] = int(group.get("pending", 0))
    return found


def compare_pictures(session: requests.Session, url: str, headers: dict[str, str], clients: list[LiveClient],
                     report: Report) -> int:
    """Clients whose picture differs from the server's (incidents and positions)."""
    incidents = session.get(f"{url}/api/v1/incidents", headers=headers, timeout=60).json()["incidents"]
    server_incidents = {i["id"]: i for i in incidents}
    positions = session.get(f"{url}/api/v1/positions", headers=headers, timeout=60).json()["positions"]
    server_positions = {p["traveller_id"]: (p["lat"], p["lon"]) for p in positions}
    differing = 0
    for client in clients:
        mine, trav, _, _ = client.picture()
        problems = []
        if set(mine) != set(server_incidents):
            problems.append(f"incidents: {len(set(server_incidents) - set(mine))} missing, "
                            f"{len(set(mine) - set(server_incidents))} extra")
        changed = [i for i in set(mine) & set(server_incidents)
                   if any(mine[i].get(k) != server_incidents[i].get(k) for k in ("status", "severity", "title", "updated_at"))]
        if changed:
            problems.append(f"{len(changed)} incidents differ, e.g. {changed[:3]}")
        if set(trav) != set(server_positions):
            problems.append(f"positions: {len(set(server_positions) - set(trav))} missing, "
                            f"{len(set(trav) - set(server_positions))} extra")
        off = [t for t in set(trav) & set(server_positions)
               if abs(trav[t][0] - server_positions[t][0]) > 1e-4 or abs(trav[t][1] - server_positions[t][1]) > 1e-4]
        if off:
            problems.append(f"{len(off)} traveller positions differ, e.g. {off[:3]}")
        if problems:
            differing += 1
            report.problems.append(f"client {client.index}: " + "; ".join(problems))
    return differing


def heads(client: redis.Redis) -> tuple[str, str]:
    from crisis.adapters import keys

    def last(stream: str) -> str:
        entries = client.xrevrange(stream, count=1)
        return str(entries[0][0]) if entries else "0-0"

    return last(keys.INCIDENT_STREAM), last(keys.POSITION_STREAM)


# -- the run -----------------------------------------------------------------------------------


def make_token(client: redis.Redis, name: str, role: str = "duty_officer") -> str:
    from crisis.adapters.accounts import AccountStore

    return AccountStore(client).create_token(name, role, None)


def start_stack(args: argparse.Namespace, root: Path, feed_path: Path) -> Stack:
    env = {"CRISIS_USGS_URL": str(feed_path), "CRISIS_USGS_INTERVAL": str(args.poll_every),
           "CRISIS_TICK_SECONDS": "0.1", "CRISIS_INBOX_CLAIM_IDLE_MS": str(int(args.claim_idle * 1000))}
    if args.layout == "single":
        return SingleStack(root, env).start()
    return ScaleStack(root, env, args.instances, wait_replicas=args.wait_replicas, seed=args.seed).start()


def run(args: argparse.Namespace) -> Report:
    report = Report()
    root = Path(tempfile.mkdtemp(prefix="crisis-soak-"))
    rng = random.Random(args.seed)
    feed = QuakeFeed(root / "usgs.geojson", args.quake_every, args.seed + 1)
    stack: Stack | None = None
    clients: list[LiveClient] = []
    client_loop: ClientLoop | None = None
    driver: Driver | None = None
    stop_faults = threading.Event()
    faults = FaultLog()
    try:
        t0 = time.monotonic()
        stack = start_stack(args, root, feed.path)
        report.figures["layout"] = stack.description
        report.figures["startup_s"] = round(time.monotonic() - t0, 1)
        log(f"layout up in {report.figures['startup_s']} s: {stack.url}")
        token = make_token(stack.redis(), Driver.token_name)
        probe = requests.get(f"{stack.url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if probe.status_code != 200:  # e.g. the instances ignored REDIS_SENTINELS and run their own Redis
            raise RuntimeError(f"a token written to the layout's Redis is refused ({probe.status_code}): "
                               "the instances do not use that Redis")
        driver = Driver(stack.url, token, args, args.seed)
        with requests.Session() as session:
            driver.seed(session, args.travellers, int(args.dispatch_rate * args.minutes * 60 * 1.5) + 20)
        client_loop = ClientLoop()
        for i in range(args.clients):
            client = LiveClient(i, stack.url, token, client_loop)
            client.connect()
            clients.append(client)
        if not wait_until(lambda: all(c.syncs_acked for c in clients), CONNECT_TIMEOUT_S):
            report.problems.append("not every client synced at the start")

        started = time.monotonic()
        driver.start()
        feed.start()
        fault_thread = threading.Thread(
            target=run_faults, name="soak-faults",
            args=(stack, args.fault_every, stop_faults, faults, rng, started, args.faults or None, args.first_fault,
                  args.max_faults),
            daemon=True)
        if args.fault_every > 0:
            fault_thread.start()
        blip_thread = threading.Thread(target=run_blips, name="soak-blips",
                                       args=(clients, args.blip_every, stop_faults, rng), daemon=True)
        if args.blip_every > 0 and clients:
            blip_thread.start()
        duration = args.minutes * 60

        def load_done() -> bool:
            # --max-faults: the load goes on until every fault is over (and TAIL_S after the last),
            # however long the restarts take on a loaded machine; never more than 3 x --minutes.
            elapsed = time.monotonic() - started
            if elapsed >= 3 * duration:
                return True
            faults_over = not args.max_faults or args.fault_every <= 0 or (
                faults.count() >= args.max_faults and time.monotonic() - faults.last_done >= TAIL_S)
            return elapsed >= duration and faults_over

        while not load_done():
            time.sleep(1.0 if time.monotonic() - started > duration - 5 else 5.0)
            done = driver.tally.writes
            log(f"[{time.monotonic() - started:6.1f} s] writes {sum(w.acked for w in done)}/{len(done)} acked, "
                f"faults {len(faults.injected)}, clients connected {sum(c.connected for c in clients)}/{len(clients)}")
        stop_faults.set()
        for thread in (fault_thread, blip_thread):
            if thread.is_alive():
                thread.join(timeout=180)
        load_s = time.monotonic() - started
        feed.stop()
        driver.stop()
        report.figures["load_s"] = round(load_s, 1)

        # -- settle: everything up, clients caught up, groups drained
        if not stack.wait_up(120):
            report.problems.append("the layout did not come back up within 120 s after the last fault")
        settle_from = time.monotonic()
        client_redis = stack.redis()

        def quakes_in() -> bool:
            from crisis.adapters import keys

            return all(client_redis.hget(keys.INCIDENT_SOURCE_INDEX, keys.source_key("usgs", q))
                       for q in feed.published_at)

        wait_until(quakes_in, SETTLE_S, step=0.5)

        def caught_up() -> bool:
            incident_head, positions_head = heads(client_redis)
            for c in clients:
                _, _, last_id, positions_id = c.picture()
                if not c.connected or (incident_head != "0-0" and last_id != incident_head) or \
                        (positions_head != "0-0" and positions_id != positions_head):
                    return False
            return True

        if not wait_until(caught_up, SETTLE_S, step=0.5):
            report.problems.append("not every client reached the streams' heads within "
                                   f"{SETTLE_S:.0f} s: {[(c.index, c.connected, c.picture()[2:]) for c in clients]}")
        pending: dict[str, int] = {}

        def drained() -> bool:
            nonlocal pending
            pending = consumer_groups_pending(stack.redis())
            return not any(pending.values())

        wait_until(drained, SETTLE_S, step=1.0)
        report.figures["settle_s"] = round(time.monotonic() - settle_from, 1)

        # -- checks
        client_redis = stack.redis()
        lost = check_writes(client_redis, driver, report)
        quakes, quakes_missing = check_quakes(client_redis, feed, report)
        with requests.Session() as session:
            differing = compare_pictures(session, stack.url, driver.headers, clients, report)
        if any(pending.values()):
            report.problems.append(f"pending entries left: { {k: v for k, v in pending.items() if v} }")
        if faults.failed:
            report.problems.append(f"faults that could not be injected: {faults.failed}")
        if driver.refused:
            report.problems.append(f"unexpected refusals: {len(driver.refused)}, e.g. {driver.refused[:3]}")

        writes = driver.tally.writes
        kinds = ("incident", "incident_update", "positions", "checkin", "dispatch")
        per_kind = {k: (sum(w.acked for w in writes if w.kind == k), sum(1 for w in writes if w.kind == k)) for k in kinds}
        unanswered = [w for w in writes if w.status is None or w.status >= 500]
        latencies = sorted(w.acked_at - w.first_sent for w in writes if w.acked and w.acked_at is not None)
        resyncs = [t for c in clients for t in c.resync_times]
        target = {"incident": args.incident_rate * load_s, "positions": args.position_rate * load_s,
                  "checkin": args.checkin_rate * load_s, "dispatch": args.dispatch_rate * load_s}
        attempted = {"incident": per_kind["incident"][1] + per_kind["incident_update"][1], "positions": per_kind["positions"][1],
                     "checkin": per_kind["checkin"][1], "dispatch": per_kind["dispatch"][1]}
        report.figures.update(
            minutes=args.minutes,
            rates=(f"incidents {args.incident_rate}/s (1 in 4 an update), positions {args.position_rate} batches/s x "
                   f"{args.batch} = {args.position_rate * args.batch:.0f}/s, check-ins {args.checkin_rate}/s, "
                   f"dispatches {args.dispatch_rate}/s, a feed quake every {args.quake_every} s, {args.clients} clients"),
            load_held={k: round(attempted[k] / target[k], 3) if target[k] else None for k in target},
            faults={kind: sum(1 for _, k, _ in faults.injected if k == kind) for kind in stack.faults()},
            fault_log=[f"{t:.0f} s {what}" for t, _, what in faults.injected],
            writes=len(writes),
            acknowledged=sum(w.acked for w in writes),
            per_kind=per_kind,
            retried=sum(1 for w in writes if w.attempts > 1),
            conflicts_after_retry=sum(1 for w in writes if w.status == 409 and w.attempts > 1),
            ack_max_ms_by_kind={k: round(max((w.acked_at - w.first_sent for w in writes
                                              if w.kind == k and w.acked and w.acked_at is not None), default=0) * 1000)
                                for k in kinds},
            unanswered=len(unanswered),
            lost=lost,
            quakes=quakes,
            quakes_missing=quakes_missing,
            ack_p50_ms=round(percentile(latencies, 50) * 1000, 1) if latencies else None,
            ack_p99_ms=round(percentile(latencies, 99) * 1000, 1) if latencies else None,
            ack_max_ms=round(latencies[-1] * 1000, 1) if latencies else None,
            clients=len(clients),
            reconnections=sum(max(0, c.connects - 1) for c in clients),
            blips=sum(c.blips for c in clients),
            resync_pushes=sum(c.resync_events for c in clients),
            clients_resynced=sum(1 for c in clients if c.resync_times),
            worst_resync_s=round(max(resyncs), 2) if resyncs else None,
            pictures_differing=differing,
            pending_left=sum(pending.values()),
            groups=sorted(pending),
            machine=machine_info(),
            load_average=os.getloadavg(),
        )
        return report
    finally:
        stop_faults.set()
        feed.stop()
        if driver is not None:
            driver.stop_event.set()
        for client in clients:
            client.close()
        if client_loop is not None:
            client_loop.stop()
        if stack is not None:
            stack.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"kept {root}")


# -- output ------------------------------------------------------------------------------------


def table(report: Report) -> str:
    f = report.figures
    held = ", ".join(f"{k} {v:.0%}" for k, v in (f.get("load_held") or {}).items() if v is not None)
    faults = ", ".join(f"{k} {v}" for k, v in (f.get("faults") or {}).items())
    rows = [
        ("layout", f.get("layout")),
        ("load (stated rates)", f.get("rates")),
        ("duration under load", f"{f.get('load_s')} s ({f.get('minutes')} min asked)"),
        ("load held (attempted / target)", held),
        ("faults injected (SIGKILL)", faults),
        ("writes sent / acknowledged (2xx)", f"{f.get('writes')} / {f.get('acknowledged')}"),
        ("  of which retried (no answer or 5xx first)", f.get("retried")),
        ("  never acknowledged (gave up after 60 s)", f.get("unanswered")),
        ("  answered 409 on a resend (stored, first answer lost; not counted)", f.get("conflicts_after_retry")),
        ("acknowledgement p50 / p99 / max (ms, with retries)", f"{f.get('ack_p50_ms')} / {f.get('ack_p99_ms')} / {f.get('ack_max_ms')}"),
        ("**lost acknowledged writes (must be 0)**", f"**{f.get('lost')}**"),
        ("feed quakes published / missing", f"{f.get('quakes')} / {f.get('quakes_missing')}"),
        ("clients / reconnections (of which deliberate 3 s link drops) / resync pushes",
         f"{f.get('clients')} / {f.get('reconnections')} ({f.get('blips')}) / {f.get('resync_pushes')}"),
        ("clients resynced (reconnected or told to)", f.get("clients_resynced")),
        ("worst resync time (disconnect -> sync answered)", f"{f.get('worst_resync_s')} s"),
        ("client pictures differing from the server's", f.get("pictures_differing")),
        ("pending entries left in consumer groups", f"{f.get('pending_left')} ({', '.join(f.get('groups') or []) or 'no groups'})"),
    ]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def markdown(report: Report, command: str) -> str:
    f = report.figures
    m = f.get("machine", {})
    text = [
        "## Soak: load and kill -9 through HAProxy, Sentinel failover, nothing lost (H8)",
        "",
        f"Command: `{command}`",
        "",
        (f"Machine: {m.get('nproc')} cores ({m.get('cpu')}), Python {m.get('python')}; load average at the end "
         f"{', '.join(f'{x:.1f}' for x in f.get('load_average', ()))}; layout up in {f.get('startup_s')} s."),
        "",
        table(report),
        "",
        "Faults, in order: " + ("; ".join(f.get("fault_log") or []) or "none"),
        "",
        "Writes by kind (acknowledged / sent): " + ", ".join(f"{k} {a}/{n}" for k, (a, n) in (f.get("per_kind") or {}).items()),
        "",
        ("Slowest acknowledgement by kind (ms, resends included): "
         + ", ".join(f"{k} {v}" for k, v in (f.get("ack_max_ms_by_kind") or {}).items())),
        "",
        ("Result: **pass**: every acknowledged write is in its stream and its projection, every client's "
         "picture equals the server's, no pending entry left." if report.ok else
         "Result: **FAIL**:\n\n" + "\n".join(f"- {p}" for p in report.problems)),
        "",
        ("What it means: a write counts as acknowledged only on a 2xx; the driver resends a write that got no answer "
        "or a 5xx (503 while Redis fails over, HAProxy with no backend) with the same body (incidents carry a "
        "source_id, so a resent POST lands on the same incident). \"Lost\" counts acknowledged writes whose stream "
        "entry (by the id answered) or projection is missing at the end. A client's picture is what a browser's "
        "script keeps (crisis_live.js rules), compared after the streams settle with GET /api/v1/incidents and "
        "/api/v1/positions. Resync time runs from the client seeing its socket drop (or a \"resync\" push) to the "
        "server answering its sync with its last stream ids (reconnection back-off 0.5-2 s included); for a "
        "deliberate 3 s link drop, from the reconnection attempt. Acknowledgement times count from the first "
        "send to the 2xx, resends included: the slowest are the writes caught in a kill or a failover."),
    ]
    return "\n".join(text) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--layout", choices=("scale", "single"), default="scale")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--wait-replicas", type=int, default=1)
    parser.add_argument("--incident-rate", type=float, default=2.0, help="incident writes/s")
    parser.add_argument("--position-rate", type=float, default=2.0, help="position batches/s")
    parser.add_argument("--batch", type=int, default=200, help="travellers per position batch")
    parser.add_argument("--checkin-rate", type=float, default=2.0)
    parser.add_argument("--dispatch-rate", type=float, default=0.5)
    parser.add_argument("--quake-every", type=float, default=5.0, help="s between new feed quakes (0: none)")
    parser.add_argument("--poll-every", type=float, default=2.0, help="the feeds process's USGS poll interval, s")
    parser.add_argument("--claim-idle", type=float, default=5.0,
                        help="CRISIS_INBOX_CLAIM_IDLE_MS of the feeds process, in s (a killed consumer's entries "
                             "are claimed after this)")
    parser.add_argument("--travellers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--fault-every", type=float, default=60.0, help="s between faults (0: none)")
    parser.add_argument("--first-fault", type=float, default=None, help="s before the first fault (default ~fault-every)")
    parser.add_argument("--faults", nargs="*", default=None, help="fault kinds to use (default: every kind of the layout)")
    parser.add_argument("--max-faults", type=int, default=0, help="stop injecting after this many (0: no limit)")
    parser.add_argument("--blip-every", type=float, default=20.0,
                        help=f"s between deliberate client disconnections of {BLIP_OFFLINE_S:.0f} s (0: none)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--markdown", type=Path, default=None, metavar="PATH",
                        help="also write the run as a BENCHMARKS.md section to PATH")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(table(report))
    if report.problems:
        print("\nPROBLEMS:\n" + "\n".join(f"- {p}" for p in report.problems))
    if args.markdown:
        command = "benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(report, command))
        log(f"wrote {args.markdown}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
