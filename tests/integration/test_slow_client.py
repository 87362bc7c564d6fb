"""Slow live clients: a bounded backlog per socket (crisis.realtime.gateway.BoundedManager).

A client that does not read does not slow the others, and is not fed without end: its
positions are coalesced, and once it is too far behind it is told to "resync" (no more
incidents until it syncs from its last stream id, which replays what it missed). Against
a real ``crisis serve`` (small limits set through the environment), a real
python-socketio client (the fast one) and a raw websocket client that stops reading
(the slow one, with a tiny receive buffer so that the server's writer blocks soon).

The manager's hold/replay logic is also checked on a real socketio.Server whose
Engine.IO transport is replaced by plain queues (nothing of Redis is replaced there).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import requests
import socketio
import websocket
from socketio import packet as sio_packet

from crisis.realtime.gateway import NAMESPACE, BoundedManager, positions_message
from tests.conftest import _free_port, stop_process, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
LAG, MAX_BACKLOG = 4, 30
FAST_DELAY_LIMIT_S = 0.050
STALLED_INCIDENTS = 320


def _key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq)


# -- a real server ------------------------------------------------------------------------


class Served:
    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CRISIS_DATA_DIR": str(tmp / "data"), "CRISIS_PORT": str(self.port),
                    "CRISIS_HOST": "127.0.0.1", "CRISIS_FEEDS": "0", "CRISIS_TICK_SECONDS": "0.1",
                    "CRISIS_SOCKET_LAG_PACKETS": str(LAG), "CRISIS_SOCKET_MAX_BACKLOG": str(MAX_BACKLOG),
                    "CRISIS_SOCKET_EVENTS_PER_SECOND": "50", "CRISIS_SOCKET_EVENT_BURST": "100", "SECRET_KEY": "slow-client-test"}
        self.env.pop("REDIS_URL", None)
        self.log_path = tmp / "serve.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([*CRISIS, "serve"], env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        if not wait_healthy(self.url, 90, self.process):
            self.stop()
            raise AssertionError(f"crisis serve did not start:\n{self.log_path.read_text(errors='replace')}")

    def token(self, name: str, role: str) -> str:
        done = subprocess.run([*CRISIS, "tokens", "create", name, "--role", role], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1].strip()

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path)
    yield server
    server.stop()


# -- the clients ----------------------------------------------------------------------------


class RawClient:
    """A minimal Socket.IO client over a raw websocket: reads when told to (``pump``), or
    all the time on a thread of its own (``start``); a stalled one simply stops reading.

    (Not python-socketio's threaded Client: it runs each incoming message on a new
    thread, so under load a binary message's attachments can overtake its header.)"""

    def __init__(self, url: str, token: str, small_buffer: bool = False) -> None:
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        # A tiny receive buffer: the server's writer for this socket blocks soon once we stop reading.
        sockopt = ((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),) if small_buffer else ()
        self.ws = websocket.create_connection(ws_url, timeout=30, sockopt=sockopt)
        assert self.ws.recv().startswith("0")
        self.ws.send("40" + NAMESPACE + "," + json.dumps({"token": token}))
        self.arrivals: dict[str, float] = {}  # incident id -> perf_counter when its frame was read
        self.events: list[str] = []  # every event's name, in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.incidents: dict[str, str] = {}  # incident id -> stream id of the first copy
        self.order: list[str] = []  # stream ids of the incidents, as they came (first copies)
        self.last_id: str | None = None
        self.resyncs = 0
        self.acks: dict[int, Any] = {}
        self._ack_id = 0
        self.connected = False
        self.bytes_read = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: self.pump(time.monotonic() + 600, self._stop.is_set),
                                        daemon=True)
        self._thread.start()

    def pump(self, until: float, stop_when: Any = None) -> None:
        """Read (and answer pings, resyncs) until ``until`` (monotonic) or ``stop_when()``."""
        while time.monotonic() < until and not (stop_when and stop_when()):
            self.ws.settimeout(max(0.05, min(1.0, until - time.monotonic())))
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            self.bytes_read += len(frame)
            if isinstance(frame, bytes):
                continue  # a binary attachment (positions)
            self._handle(frame)

    def _handle(self, frame: str) -> None:
        if frame == "2":
            self.ws.send("3")
        elif frame.startswith("40" + NAMESPACE):
            self.connected = True
        elif frame.startswith("42" + NAMESPACE + ","):
            event, *args = json.loads(frame[len("42" + NAMESPACE + ","):])
            self.events.append(event)
            if event == "incident":
                self._incident(args[0])
            elif event == "snapshot":
                for message in args[0]["incidents"]:
                    self._incident(message)
            elif event == "resync":
                self.resyncs += 1
                self.sync()
        elif frame.startswith("43" + NAMESPACE + ","):
            body = frame[len("43" + NAMESPACE + ","):]
            ack_id, _, data = body.partition("[")
            self.acks[int(ack_id)] = json.loads("[" + data)[0]

    def _incident(self, message: dict[str, Any]) -> None:
        incident_id = message["incident"]["id"]
        if incident_id in self.incidents:
            return
        self.arrivals[incident_id] = time.perf_counter()
        self.incidents[incident_id] = message["stream_id"]
        self.order.append(message["stream_id"])
        if self.last_id is None or _key(message["stream_id"]) > _key(self.last_id):
            self.last_id = message["stream_id"]

    def sync(self, scope: str | None = None) -> None:
        """Ask for what was missed since the last incident (another ``scope``: the whole picture)."""
        self._ack_id += 1
        ask = {"last_id": self.last_id} if scope is None else {"scope": scope}
        self.ws.send(f"42{NAMESPACE},{self._ack_id}" + json.dumps(["sync", ask]))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.ws.close(timeout=1)
        except Exception:  # noqa: BLE001 - best effort
            pass


def _post_incident(http: requests.Session, url: str, i: int, description: int = 400) -> tuple[str, str, float]:
    answer = http.post(f"{url}/api/v1/incidents", timeout=30, json={
        "title": f"slow client test {i}", "type": "flood", "severity": 3, "lat": 46.2 + i * 0.001, "lon": 6.1,
        "description": "x" * description})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["id"], body["stream_id"], time.perf_counter()


def _post_positions(http: requests.Session, url: str, round_: int, travellers: int = 10_000) -> None:
    rows = [{"traveller_id": f"T{i:05d}", "lat": 40 + (i % 90) * 0.1 + round_ * 1e-4, "lon": 5 + (i % 70) * 0.1}
            for i in range(travellers)]
    if round_ == 0:  # a position of a traveller never imported is refused: import them first
        people = [{"id": r["traveller_id"], "name": r["traveller_id"], "agency": "UN", "category": "international_staff",
                   "duty_station": {"name": "Station", "lat": r["lat"], "lon": r["lon"]}} for r in rows]
        imported = http.post(f"{url}/api/v1/travellers", json=people, timeout=120)
        assert imported.status_code == 200 and not imported.json()["rejected"], imported.text[:500]
    answer = http.post(f"{url}/api/v1/positions", json=rows, timeout=60)
    assert answer.status_code == 202, answer.text


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_a_client_that_stops_reading_does_not_delay_a_fast_one_and_resyncs_to_every_incident(served: Served) -> None:
    live_token, feed_token = served.token("slow-test-live", "duty_officer"), served.token("slow-test-feed", "feed")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {feed_token}"
    fast = RawClient(served.url, live_token)
    slow = RawClient(served.url, live_token, small_buffer=True)
    posted: list[tuple[str, str, float]] = []
    try:
        fast.pump(time.monotonic() + 30, lambda: fast.connected)
        slow.pump(time.monotonic() + 30, lambda: slow.connected)
        assert fast.connected and slow.connected
        fast.start()
        _post_positions(http, served.url, 0)  # 10,000 travellers: positions messages of ~190 kB
        # Baseline: both read.
        for i in range(15):
            posted.append(_post_incident(http, served.url, i))
            time.sleep(0.02)
        slow.pump(time.monotonic() + 60, lambda: len(slow.incidents) == len(posted))
        _wait(lambda: len(fast.arrivals) == len(posted), 60, "the fast client's baseline incidents")
        stalled_from = len(posted)
        # The slow one stops reading. Incidents of 19 kB each, 6 MB in all: more than the
        # kernel's buffers between the server's writer and the stalled reader can take.
        # Four posters at once: the stall stays well under Engine.IO's ping time-out (a
        # client silent for ping_interval + ping_timeout, 45 s, is disconnected instead).
        def post_many(first: int) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {feed_token}"
            for i in range(first, 15 + STALLED_INCIDENTS, 4):
                posted.append(_post_incident(session, served.url, i, description=19_000))

        posters = [threading.Thread(target=post_many, args=(15 + k,)) for k in range(4)]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join()
        _wait(lambda: len(fast.arrivals) == len(posted), 60, "every incident at the fast client")
        # Now, the slow one still stalled (and behind), small incidents one at a time, as in the baseline.
        measured_from = len(posted)
        for i in range(15 + STALLED_INCIDENTS, 30 + STALLED_INCIDENTS):
            posted.append(_post_incident(http, served.url, i))
            time.sleep(0.02)
        _wait(lambda: len(fast.arrivals) == len(posted), 60, "the fast client's incidents while the other is stalled")

        delays = {incident_id: fast.arrivals[incident_id] - returned for incident_id, _, returned in posted}
        base = sorted(max(0.0, delays[p[0]]) for p in posted[:stalled_from])
        stalled = sorted(max(0.0, delays[p[0]]) for p in posted[measured_from:])
        # The fast client is not held up by the stalled one: its median delivery while the
        # other is stalled stays within 50 ms (of the POST's answer, and of its own baseline).
        assert statistics.median(stalled) < FAST_DELAY_LIMIT_S, (base, stalled)
        assert statistics.median(stalled) - statistics.median(base) < FAST_DELAY_LIMIT_S, (base, stalled)
        assert "resync" not in fast.events  # never told to resync
        assert fast.order == sorted(fast.order, key=_key) and len(fast.order) == len(posted)

        # The slow one reads again: it finds "resync" after its backlog, syncs from its
        # last incident, and ends with every incident, each once, in stream order.
        posted.append(_post_incident(http, served.url, 999))
        slow.pump(time.monotonic() + 120, lambda: len(slow.incidents) == len(posted) and bool(slow.acks))
        assert slow.resyncs >= 1, "the stalled client was never told to resync"
        assert set(slow.incidents) == {p[0] for p in posted}, len({p[0] for p in posted} - set(slow.incidents))
        assert slow.order == sorted(slow.order, key=_key)
        assert any(ack.get("mode") == "replay" for ack in slow.acks.values()), slow.acks
        # Synced: it follows live again.
        posted.append(_post_incident(http, served.url, 1000))
        slow.pump(time.monotonic() + 60, lambda: posted[-1][0] in slow.incidents)
        assert posted[-1][0] in slow.incidents, "the resynced client does not follow live pushes again"
        assert slow.order == sorted(slow.order, key=_key)
        assert b"Traceback" not in served.log_path.read_bytes()
    finally:
        fast.close()
        slow.close()


# -- the manager's logic, on a real socketio.Server over plain queues -------------------------


def _server(lag: int = 3, max_backlog: int = 6) -> tuple[socketio.Server, BoundedManager, dict[str, queue.Queue[Any]]]:
    manager = BoundedManager(lag, max_backlog)
    server = socketio.Server(async_mode="threading", client_manager=manager)
    queues: dict[str, queue.Queue[Any]] = {}
    server.eio.sockets = {}  # type: ignore[attr-defined]

    def send(eio_sid: str, pkt: Any) -> None:
        queues[eio_sid].put(pkt)

    server._send_eio_packet = send  # type: ignore[method-assign]
    return server, manager, queues


def _connect(server: socketio.Server, manager: BoundedManager, queues: dict[str, queue.Queue[Any]], eio_sid: str) -> str:
    queues[eio_sid] = queue.Queue()
    server.eio.sockets[eio_sid] = SimpleNamespace(queue=queues[eio_sid])
    sid = manager.connect(eio_sid, NAMESPACE)
    manager.enter_room(sid, NAMESPACE, "all")
    return sid


def _events(q: queue.Queue[Any]) -> list[tuple[str, Any]]:
    """Drain a queue: the (event, first argument) of each text packet (binary attachments skipped)."""
    out = []
    while not q.empty():
        data = q.get().data
        if isinstance(data, str) and data[:1] == "2":
            event, *args = json.loads(data[data.index("["):])
            out.append((event, args[0] if args else None))
        elif isinstance(data, str) and data[:1] == "5":
            out.append((json.loads(data[data.index("["):])[0], "binary"))
    return out


def _incident(n: int) -> dict[str, Any]:
    return {"incident": {"id": f"I{n}"}, "stream_id": f"{1000 + n}-0", "event": "incident.reported"}


def test_positions_coalesce_for_a_lagging_client_and_resync_replaces_incidents_too_far_behind() -> None:
    server, manager, queues = _server(lag=3, max_backlog=6)
    fast, slow = _connect(server, manager, queues, "e-fast"), _connect(server, manager, queues, "e-slow")
    for n in range(3):
        server.emit("incident", _incident(n), namespace=NAMESPACE, to="all")
    _events(queues["e-fast"])  # the fast one reads; the slow one does not: 3 queued
    fast_events = []
    for tick in range(4):
        ids = ["a", "b"] if tick % 2 else ["b", "c"]
        server.emit("positions", positions_message(ids, [tick, tick], [tick, tick], f"{2000 + tick}-0", False),
                    namespace=NAMESPACE, to="all")
        fast_events += _events(queues["e-fast"])  # the fast one keeps reading
        server.emit("heartbeat", {"time": 0}, namespace=NAMESPACE)
        fast_events += _events(queues["e-fast"])
    assert [e for e, _ in fast_events].count("positions") == 4 and [e for e, _ in fast_events].count("heartbeat") == 4
    assert queues["e-slow"].qsize() == 3  # lagging: positions coalesced, heartbeats skipped
    assert manager.flush_lagging(NAMESPACE) == 0  # still lagging: nothing sent yet
    for n in range(3, 7):
        server.emit("incident", _incident(n), namespace=NAMESPACE, to="all")
    assert [e for e, _ in _events(queues["e-fast"])] == ["incident"] * 4
    # 3 + 3 incidents queued: the 7th finds 6 waiting -> "resync", and nothing more of the log.
    slow_events = _events(queues["e-slow"])
    assert [e for e, _ in slow_events] == ["incident"] * 6 + ["resync"]
    assert manager.is_behind(slow) and not manager.is_behind(fast)
    server.emit("incident", _incident(7), namespace=NAMESPACE, to="all")
    assert _events(queues["e-slow"]) == []
    # Its sync: live pushes during the replay are held; after it, those newer follow.
    manager.begin_sync(slow)
    server.emit("incident", _incident(8), namespace=NAMESPACE, to="all")  # newer than the replay's head
    server.emit("incident", _incident(7), namespace=NAMESPACE, to="all")  # (an older one: in the replay)
    assert _events(queues["e-slow"]) == []
    manager.end_sync(slow, NAMESPACE, "1007-0", "2003-0")
    assert [(e, d["incident"]["id"]) for e, d in _events(queues["e-slow"])] == [("incident", "I8")]
    assert not manager.is_behind(slow)
    server.emit("incident", _incident(9), namespace=NAMESPACE, to="all")
    assert [d["incident"]["id"] for _, d in _events(queues["e-slow"])] == ["I9"]


def test_coalesced_positions_go_out_as_one_message_with_the_latest_per_traveller() -> None:
    server, manager, queues = _server(lag=2, max_backlog=50)
    slow = _connect(server, manager, queues, "e-slow")
    for n in range(2):
        server.emit("incident", _incident(n), namespace=NAMESPACE, to="all")
    server.emit("positions", positions_message(["a", "b"], [1, 2], [1, 2], "3000-0", False), namespace=NAMESPACE,
                to="all")
    server.emit("positions", positions_message(["b", "c"], [5, 6], [5, 6], "3001-0", False), namespace=NAMESPACE,
                to="all")
    assert queues["e-slow"].qsize() == 2
    _events(queues["e-slow"])  # it reads its backlog
    assert manager.flush_lagging(NAMESPACE) == 1
    packets = []
    while not queues["e-slow"].empty():
        packets.append(queues["e-slow"].get().data)
    header = json.loads(packets[0][packets[0].index("["):])
    assert header[0] == "positions" and header[1]["ids"] == ["a", "b", "c"] and header[1]["stream_id"] == "3001-0"
    lat = np.frombuffer(packets[1], dtype=np.float32)
    assert lat.tolist() == [1.0, 5.0, 6.0]
    assert not manager.is_behind(slow)


def test_a_client_that_says_it_will_sync_gets_no_live_push_before_its_replay() -> None:
    server, manager, queues = _server(lag=50, max_backlog=100)
    watcher = _connect(server, manager, queues, "e-back")
    other = _connect(server, manager, queues, "e-other")
    manager.expect_sync(watcher, "e-back")  # reconnected with {"sync": true}
    server.emit("incident", _incident(5), namespace=NAMESPACE, to="all")  # before its sync: the replay has it
    assert _events(queues["e-back"]) == []
    assert [d["incident"]["id"] for _, d in _events(queues["e-other"])] == ["I5"]  # the others are not held
    manager.begin_sync(watcher)
    server.emit("incident", _incident(6), namespace=NAMESPACE, to="all")  # during it: held
    assert _events(queues["e-back"]) == []
    manager.end_sync(watcher, NAMESPACE, "1005-0", None)  # its replay ended at I5: I6 follows
    assert [d["incident"]["id"] for _, d in _events(queues["e-back"])] == ["I6"]
    server.emit("incident", _incident(7), namespace=NAMESPACE, to="all")
    assert [d["incident"]["id"] for _, d in _events(queues["e-back"])] == ["I7"]
    assert not manager.is_behind(watcher) and manager.resyncs_sent == 0  # never told to resync: it said it would
    del other


def test_no_packet_of_another_message_lands_between_a_binary_messages_header_and_its_attachments() -> None:
    """A positions message is a header and two attachments. The answer to a client's ``sync``
    (an acknowledgement, which socketio sends itself) going out from another thread meanwhile
    must wait: between them, the client reads it as the latitudes (found by the soak)."""
    manager = BoundedManager(1000, 2000)
    server = socketio.Server(async_mode="threading", client_manager=manager)
    server.eio.sockets = {"e-1": SimpleNamespace(queue=queue.Queue())}  # type: ignore[attr-defined]
    sent: list[Any] = []

    def send_packet(eio_sid: str, pkt: Any) -> None:  # Engine.IO's socket queue, slow on a header
        sent.append(pkt.data)
        if isinstance(pkt.data, str) and pkt.data.startswith("52-"):
            time.sleep(0.002)  # the other thread's chance to get in

    server.eio.send_packet = send_packet  # type: ignore[method-assign]
    manager.initialize()  # as on the first connection
    sid = manager.connect("e-1", NAMESPACE)
    manager.enter_room(sid, NAMESPACE, "all")
    stop = threading.Event()

    def answer_syncs() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            server._send_packet("e-1", server.packet_class(sio_packet.ACK, namespace=NAMESPACE, id=n,
                                                           data=[{"ok": True}]))
            time.sleep(0.0005)

    helper = threading.Thread(target=answer_syncs)
    helper.start()
    try:
        for n in range(200):
            server.emit("positions", positions_message(["a"], [1.0], [2.0], f"{5000 + n}-0", False),
                        namespace=NAMESPACE, to="all")
    finally:
        stop.set()
        helper.join()
    headers = [i for i, data in enumerate(sent) if isinstance(data, str) and data.startswith("52-")]
    assert len(headers) == 200 and sum(isinstance(d, str) and d.startswith("3") for d in sent) > 10
    broken = [i for i in headers if not all(isinstance(d, bytes) for d in sent[i + 1:i + 3])]
    assert broken == [], [sent[i:i + 3] for i in broken[:3]]
