"""Spike (issue 10, ADR 008): which live-socket fan-out design can serve 1,000 clients?

Standalone benchmark servers (no product code, no Redis, no HTTP ingest) that mimic the
gateway's fan-out (crisis/realtime/gateway.py) with the same message shapes: an
``incident`` message is ``crisis.layers.incidents.incident_message`` of an incident dict
shaped like ``incident_to_dict``; a ``positions`` message is ``gateway.positions_message``
(ids + float32 lat/lon bytes as binary attachments) of the positions reported since the
last tick, coalesced per traveller. The server generates the load itself: incidents at
``--incident-rate``/s (each stamped with CLOCK_MONOTONIC at its creation: "source time")
and positions at ``--position-rate``/s over ``--travellers`` travellers; every client is
in room ``all`` (a duty officer: receives everything).

Designs (``--design``):

- ``thread-today``: Flask-SocketIO threading on Werkzeug, the product's BoundedManager;
  each incident emitted at once, positions one binary message per 250 ms tick (today).
- ``thread-batch``: the same server; incidents buffered and sent with the positions of
  the tick as ONE ``tick`` message per room per tick (``--tick``).
- ``async-today`` / ``async-batch``: python-socketio AsyncServer on aiohttp (asyncio).
  ``--lean`` swaps python-socketio's AsyncManager.emit (one asyncio task per packet per
  client) for a loop that queues the packets directly.
- ``--wire``: positions as today (``today``: an ids list and two float32 attachments),
  as ONE binary attachment (``packed``: ids "\n"-joined, then float32 lat, then lon), or
  the same bytes as base64 text (``b64``: a tick is one text frame, no attachment).
- ``--raw-clients``: minimal Engine.IO/Socket.IO clients on aiohttp WebSockets (``b64``
  only) instead of python-socketio's, to tell the server's capacity from the client's cost.
- ``--procs 2``: two server processes (each generates the same stream, as each web
  process tails the log), the clients split between them.
- ``--client-mode``: ``decode`` (default) unpacks the positions of every tick as a
  browser would; ``incidents`` reads only the incidents out of each message (an API
  watcher measuring incidents; python-socketio still JSON-parses the whole message).
- ``--client-procs N``: the clients spread over N client processes (each its own asyncio
  loop) instead of all in this one; the per-message client cost (client CPU s / Socket.IO
  messages handled) is reported either way.

The clients are socket_scale.py's ``Watcher`` (python-socketio AsyncClient, websocket),
all in this process, plus a handler for the batched ``tick`` message. Latency = source
time -> the client's handler ran (same machine, same CLOCK_MONOTONIC).

    flock /tmp/crisis-bench.lock .venv/bin/python benchmarks/socket_spike.py \
        --design async-batch --tick 0.1 --lean --wire b64 --clients 200,1000 --seconds 15
    .venv/bin/python benchmarks/socket_spike_profile.py /tmp/prof/server-*.txt   # with --pyspy /tmp/prof
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from common import free_port, log, process_cpu_seconds, summary_ms  # noqa: E402
from socket_scale import CONNECT_CONCURRENCY, INCIDENT_TYPES, NAMESPACE, Watcher, _id_key  # noqa: E402

DESIGNS = ("thread-today", "thread-batch", "async-today", "async-batch")
TARGET_P99_MS = 250.0
POSITIONS_TICK_TODAY = 0.25
HEARTBEAT_SECONDS = 5.0
ROOM = "all"


# -- the load, as the gateway would see it after reading the log ------------------------


class Source:
    """Incidents and positions in the shapes the gateway sends."""

    def __init__(self, travellers: int, position_rate: float, seed: int = 1, packed: bool = False) -> None:
        from crisis.layers.incidents import incident_message
        from crisis.realtime.gateway import positions_message

        self._incident_message = incident_message
        self._positions_message = positions_message
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)
        self.ids = np.array([f"T{i:06d}" for i in range(travellers)], dtype=object)
        self.position_rate = position_rate
        self.packed = packed
        self.stream_ms = 1_700_000_000_000

    def incident(self, i: int) -> dict[str, Any]:
        rng = self.rng
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        incident = {
            "id": f"INC-spike-{i:06d}", "title": f"scale {i}", "type": rng.choice(INCIDENT_TYPES),
            "category": "security", "severity": rng.randint(1, 5), "lat": round(rng.uniform(43, 54), 6),
            "lon": round(rng.uniform(-1, 15), 6), "radius_km": None, "area": None, "country": "FR",
            "region": "EU", "regions": ["EU"], "status": "open", "reported_at": now, "updated_at": now,
            "description": "socket scale benchmark", "source": "api", "source_id": None,
            "approximate": False, "owner": None,
        }
        message = self._incident_message(incident, "incident_reported", f"{self.stream_ms + i}-0")
        message["t_src"] = time.perf_counter()  # spike only: the source time, for latency
        return message

    def positions(self, seconds: float, stream_id: str) -> dict[str, Any] | None:
        """The positions reported over ``seconds``, the latest per traveller (the gateway's tick)."""
        n = round(self.position_rate * seconds)
        if n <= 0:
            return None
        idx = self.nrng.integers(0, len(self.ids), n)
        # the latest per traveller: one row per traveller reported (coordinates are random anyway)
        rev_unique = np.unique(idx[::-1])
        lat = self.nrng.uniform(-60, 70, len(rev_unique))
        lon = self.nrng.uniform(-180, 180, len(rev_unique))
        ids = self.ids[rev_unique].tolist()
        if not self.packed:
            return self._positions_message(ids, lat, lon, stream_id, False)
        # --wire packed: one binary attachment: the ids ("\n"-joined UTF-8), then float32
        # lat, then float32 lon; the header says how many and where the ids end.
        id_bytes = "\n".join(ids).encode()
        blob = id_bytes + np.asarray(lat, np.float32).tobytes() + np.asarray(lon, np.float32).tobytes()
        if self.packed == "b64":  # the same bytes as base64 text: a tick is one text frame, no attachment
            return {"stream_id": stream_id, "full": False, "sent_at": time.time(), "n": len(ids),
                    "ids_len": len(id_bytes), "b64": base64.b64encode(blob).decode()}
        return {"stream_id": stream_id, "full": False, "sent_at": time.time(), "n": len(ids),
                "ids_len": len(id_bytes), "data": blob}


# -- the servers ------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    if args.design.startswith("thread"):
        return serve_threading(args)
    return serve_async(args)


def serve_threading(args: argparse.Namespace) -> int:
    from flask import Flask
    from flask_socketio import SocketIO

    from crisis.realtime.gateway import BoundedManager

    app = Flask(__name__)
    sio = SocketIO(app, async_mode="threading", cors_allowed_origins="*", client_manager=BoundedManager())
    source = Source(args.travellers, args.position_rate, packed=args.wire if args.wire != "today" else False)
    go = threading.Event()
    batch = args.design.endswith("batch")
    buffered: list[dict[str, Any]] = []
    lock = threading.Lock()

    @sio.on("connect", namespace=NAMESPACE)
    def on_connect(auth: Any = None) -> None:
        from flask import request
        sio.server.enter_room(request.sid, ROOM, namespace=NAMESPACE)

    @sio.on("sync", namespace=NAMESPACE)
    def on_sync(data: Any = None) -> dict[str, Any]:
        return {"mode": "spike"}

    def incidents() -> None:
        go.wait()
        count = int(args.seconds * args.incident_rate)
        t0 = time.perf_counter()
        for i in range(count):
            delay = t0 + i / args.incident_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            message = source.incident(i)
            if batch:
                with lock:
                    buffered.append(message)
            else:
                sio.emit("incident", message, namespace=NAMESPACE, to=ROOM)

    def ticker() -> None:
        go.wait()
        tick = args.tick if batch else POSITIONS_TICK_TODAY
        end = time.perf_counter() + args.seconds + tick
        k = 0
        next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        t0 = time.perf_counter()
        while time.perf_counter() < end + 1.0:
            k += 1
            delay = t0 + k * tick - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            generating = time.perf_counter() < end
            positions = source.positions(tick, f"{source.stream_ms + k}-1") if generating else None
            if batch:
                with lock:
                    pending, buffered[:] = list(buffered), []
                if pending or positions:
                    sio.emit("tick", {"incidents": pending, "positions": positions}, namespace=NAMESPACE, to=ROOM)
            elif positions:
                sio.emit("positions", positions, namespace=NAMESPACE, to=ROOM)
            if time.monotonic() >= next_heartbeat:
                sio.emit("heartbeat", {"time": time.time()}, namespace=NAMESPACE)
                next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS

    signal.signal(signal.SIGUSR1, lambda *_: go.set())
    for target in (incidents, ticker):
        threading.Thread(target=target, daemon=True).start()
    sio.run(app, host="127.0.0.1", port=args.port, allow_unsafe_werkzeug=True, log_output=False)
    return 0


def lean_async_manager() -> Any:
    """python-socketio's AsyncManager whose broadcast emit queues each packet for each
    client directly (AsyncSocket.send is a put on an unbounded queue) instead of creating
    one asyncio task per packet per client and waiting for them all."""
    import socketio
    from engineio import packet as eio_packet
    from socketio import packet as sio_packet

    class LeanAsyncManager(socketio.AsyncManager):  # type: ignore[misc]
        async def emit(self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None,
                       callback: Any = None, to: Any = None, **kwargs: Any) -> None:
            if callback is not None:
                return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                                          callback=callback, to=to, **kwargs)
            room = to or room
            if namespace not in self.rooms:
                return None
            args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
            encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event] + args).encode()
            pkts = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in (encoded if isinstance(encoded, list)
                                                                       else [encoded])]
            eio = self.server.eio
            for sid, eio_sid in list(self.get_participants(namespace, room)):
                sock = eio.sockets.get(eio_sid)
                if sock is None or sock.closed:
                    continue
                for p in pkts:
                    sock.queue.put_nowait(p)
            return None

    return LeanAsyncManager()


def serve_async(args: argparse.Namespace) -> int:
    import socketio
    from aiohttp import web

    manager = lean_async_manager() if args.lean else None
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*",
                               **({"client_manager": manager} if manager else {}))
    app = web.Application()
    sio.attach(app)
    source = Source(args.travellers, args.position_rate, packed=args.wire if args.wire != "today" else False)
    batch = args.design.endswith("batch")
    buffered: list[dict[str, Any]] = []

    @sio.on("connect", namespace=NAMESPACE)
    async def on_connect(sid: str, environ: Any, auth: Any = None) -> None:
        await sio.enter_room(sid, ROOM, namespace=NAMESPACE)

    @sio.on("sync", namespace=NAMESPACE)
    async def on_sync(sid: str, data: Any = None) -> dict[str, Any]:
        return {"mode": "spike"}

    async def incidents(go: asyncio.Event) -> None:
        await go.wait()
        count = int(args.seconds * args.incident_rate)
        t0 = time.perf_counter()
        for i in range(count):
            delay = t0 + i / args.incident_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            message = source.incident(i)
            if batch:
                buffered.append(message)
            else:
                await sio.emit("incident", message, namespace=NAMESPACE, to=ROOM)

    async def ticker(go: asyncio.Event) -> None:
        await go.wait()
        tick = args.tick if batch else POSITIONS_TICK_TODAY
        end = time.perf_counter() + args.seconds + tick
        k = 0
        next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        t0 = time.perf_counter()
        while time.perf_counter() < end + 1.0:
            k += 1
            delay = t0 + k * tick - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            generating = time.perf_counter() < end
            positions = source.positions(tick, f"{source.stream_ms + k}-1") if generating else None
            if batch:
                pending, buffered[:] = list(buffered), []
                if pending or positions:
                    await sio.emit("tick", {"incidents": pending, "positions": positions}, namespace=NAMESPACE,
                                   to=ROOM)
            elif positions:
                await sio.emit("positions", positions, namespace=NAMESPACE, to=ROOM)
            if time.monotonic() >= next_heartbeat:
                await sio.emit("heartbeat", {"time": time.time()}, namespace=NAMESPACE)
                next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS

    async def main() -> None:
        go = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, go.set)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port, backlog=2048).start()
        tasks = [asyncio.create_task(incidents(go)), asyncio.create_task(ticker(go))]
        await asyncio.Event().wait()
        del tasks

    asyncio.run(main())
    return 0


# -- the clients ------------------------------------------------------------------------


class SpikeWatcher(Watcher):
    """socket_scale's Watcher, plus the source-time latency and the batched ``tick``."""

    def __init__(self, index: int, decode: bool = True) -> None:
        super().__init__(index)
        self.latency: list[float] = []
        self.decode = decode
        self.messages = 0  # Socket.IO events handled (tick, incident, positions)
        self.sio.on("tick", self._counted(self._on_tick), namespace=NAMESPACE)
        self.sio.on("incident", self._counted(self._on_incident), namespace=NAMESPACE)
        self.sio.on("positions", self._counted(self._on_positions), namespace=NAMESPACE)

    def _counted(self, handler: Any) -> Any:
        async def counted(message: dict[str, Any]) -> None:
            self.messages += 1
            await handler(message)
        return counted

    async def _on_incident(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        incident_id = message["incident"]["id"]
        if incident_id not in self.arrivals:
            self.latency.append(now - message["t_src"])
        await super()._on_incident(message)

    async def _on_positions(self, message: dict[str, Any]) -> None:
        if self.decode and ("data" in message or "b64" in message):  # packed/b64: decode as a client would
            blob = message["data"] if "data" in message else base64.b64decode(message["b64"])
            n, k = message["n"], message["ids_len"]
            ids = blob[:k].split(b"\n")
            lat = np.frombuffer(blob, np.float32, n, k)
            lon = np.frombuffer(blob, np.float32, n, k + 4 * n)
            assert len(ids) == n == len(lat) == len(lon)
        await super()._on_positions(message)

    async def _on_tick(self, message: dict[str, Any]) -> None:
        for incident in message.get("incidents") or ():
            await self._on_incident(incident)
        if message.get("positions"):  # --client-mode incidents: counted, not decoded
            await self._on_positions(message["positions"])


class RawWatcher:
    """A minimal Engine.IO v4 / Socket.IO v5 client over one aiohttp WebSocket (text frames
    only: for ``--wire b64``), to tell the server's capacity from python-socketio's client
    cost: no Task per message, no attachment state. Same counters as the Watcher."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.arrivals: dict[str, float] = {}
        self.latency: list[float] = []
        self.duplicates = 0
        self.out_of_order = 0
        self.last_id: str | None = None
        self.position_frames = 0
        self.position_lag: list[float] = []
        self.disconnects = 0
        self.messages = 0
        self.decode = True
        self.closing = False
        self._session: Any = None
        self._ws: Any = None
        self._task: Any = None
        self.sio = self  # run_clients calls w.sio.disconnect()

    async def connect(self, url: str, token: str) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession()
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self._ws = await self._session.ws_connect(ws_url, max_msg_size=0)
        opened = await self._ws.receive_str()  # 0{"sid":...}
        assert opened.startswith("0"), opened
        await self._ws.send_str(f"40{NAMESPACE}," + json.dumps({"token": token}))
        while True:
            answer = await self._ws.receive_str()
            if answer.startswith(f"40{NAMESPACE}"):
                break
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import aiohttp

        prefix = f"42{NAMESPACE},"
        ws = self._ws
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                if not self.closing:
                    self.disconnects += 1
                return
            data = msg.data
            if data == "2":
                await ws.send_str("3")
                continue
            if not data.startswith(prefix):
                continue
            event, *args = json.loads(data[len(prefix):])
            self.messages += 1
            if event == "tick":
                now = time.perf_counter()
                for incident in args[0].get("incidents") or ():
                    self._incident(incident, now)
                if args[0].get("positions"):
                    self._positions(args[0]["positions"])
            elif event == "incident":
                self._incident(args[0], time.perf_counter())
            elif event == "positions":
                self._positions(args[0])

    def _incident(self, message: dict[str, Any], now: float) -> None:
        incident_id = message["incident"]["id"]
        if incident_id in self.arrivals:
            self.duplicates += 1
            return
        self.arrivals[incident_id] = now
        self.latency.append(now - message["t_src"])
        stream_id = message.get("stream_id") or ""
        if self.last_id is not None and _id_key(stream_id) < _id_key(self.last_id):
            self.out_of_order += 1
        else:
            self.last_id = stream_id

    def _positions(self, message: dict[str, Any]) -> None:
        self.position_frames += 1
        self.position_lag.append(time.time() - message["sent_at"])
        if not self.decode:
            return
        blob = base64.b64decode(message["b64"])
        n, k = message["n"], message["ids_len"]
        ids = blob[:k].split(b"\n")
        lat = np.frombuffer(blob, np.float32, n, k)
        lon = np.frombuffer(blob, np.float32, n, k + 4 * n)
        assert len(ids) == n == len(lat) == len(lon)

    async def disconnect(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
        if self._session is not None:
            await self._session.close()


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores; /proc/stat, not idle/iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"spike server on {port} did not open its port")


def pyspy(pid: int, out: Path, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-d",
                             str(seconds), "-f", "raw", "-o", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_watcher(args: argparse.Namespace, index: int) -> Any:
    watcher = RawWatcher(index) if args.raw_clients else SpikeWatcher(index)
    watcher.decode = args.client_mode == "decode"
    return watcher


async def connect_all(ports: list[int], indices: list[int], args: argparse.Namespace) -> list[Any]:
    watchers = [make_watcher(args, i) for i in indices]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(w: Any) -> None:
        async with gate:
            await w.connect(f"http://127.0.0.1:{ports[w.index % len(ports)]}", "spike")

    t0 = time.perf_counter()
    await asyncio.gather(*(connect(w) for w in watchers))
    log(f"[spike] {len(watchers)} clients connected in {time.perf_counter() - t0:.1f} s (pid {os.getpid()})")
    await asyncio.sleep(1.0)
    return watchers


async def receive(watchers: list[Any], args: argparse.Namespace, t0: float) -> None:
    """Wait for the load (``--seconds`` from ``t0``), then until every client has every incident
    or ``--drain`` s have passed."""
    await asyncio.sleep(max(0.0, args.seconds + 0.5 - (time.perf_counter() - t0)))
    expected = int(args.seconds * args.incident_rate)
    deadline = time.monotonic() + args.drain
    while time.monotonic() < deadline:
        if all(len(w.arrivals) >= expected for w in watchers):
            break
        await asyncio.sleep(0.2)


async def disconnect_all(watchers: list[Any]) -> None:
    for w in watchers:
        w.closing = True
    try:  # a swamped server may never answer: do not wait for it forever
        await asyncio.wait_for(asyncio.gather(*(w.sio.disconnect() for w in watchers), return_exceptions=True), 20)
    except TimeoutError:
        log("[spike] some clients did not disconnect within 20 s")


def tally(watchers: list[Any]) -> dict[str, Any]:
    """What a set of clients received (summable over client processes)."""
    return {"received": sum(len(w.arrivals) for w in watchers),
            "out_of_order": sum(w.out_of_order for w in watchers),
            "latency": [x for w in watchers for x in w.latency],
            "position_lag": [x for w in watchers for x in w.position_lag],
            "position_frames": sum(w.position_frames for w in watchers),
            "disconnects": sum(w.disconnects for w in watchers),
            "messages": sum(w.messages for w in watchers)}


async def run_clients(ports: list[int], count: int, servers: list[subprocess.Popen[bytes]],
                      args: argparse.Namespace, box: dict[str, Any]) -> dict[str, Any]:
    """All the clients in this process."""
    watchers = await connect_all(ports, list(range(count)), args)
    box["load_before"] = os.getloadavg()
    box["cpu0"] = [process_cpu_seconds(s.pid) for s in servers]
    box["self0"] = time.process_time()
    box["busy0"] = machine_busy_seconds()
    box["t0"] = time.perf_counter()
    for s in servers:
        s.send_signal(signal.SIGUSR1)
    spies = []
    if args.pyspy:
        await asyncio.sleep(3.0)
        tag = f"{args.design}-{args.tick}-{count}{'-lean' if args.lean else ''}-{args.wire}-p{len(servers)}"
        spies.append(pyspy(servers[0].pid, args.pyspy / f"server-{tag}.txt", 10))
        spies.append(pyspy(os.getpid(), args.pyspy / f"clients-{tag}.txt", 10))
    await receive(watchers, args, box["t0"])
    box["wall"] = time.perf_counter() - box["t0"]
    box["cpu1"] = [process_cpu_seconds(s.pid) for s in servers]
    box["self1"] = time.process_time()
    box["busy1"] = machine_busy_seconds()
    box["load_after"] = os.getloadavg()
    await disconnect_all(watchers)
    for spy in spies:  # py-spy on a server of 3,000 threads can take long: never lose the run for it
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(10)
    box["client_cpu"] = [box["self1"] - box["self0"]]
    return tally(watchers)


def client_worker(args: argparse.Namespace) -> int:
    """``--client-worker``: this process's share of the clients. Protocol with the parent:
    prints ``ready`` once connected, waits for ``go`` on stdin, prints ``done`` after the
    load and the drain, waits for ``stop``, disconnects, writes its tally to ``--worker-out``."""
    ports = [int(x) for x in args.ports.split(",")]
    indices = list(range(args.index_offset, args.index_offset + int(args.clients)))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        watchers = await connect_all(ports, indices, args)
        print("ready", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        assert line.strip() == "go", line
        self0, t0 = time.process_time(), time.perf_counter()
        await receive(watchers, args, t0)
        cpu = time.process_time() - self0
        print("done", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        await disconnect_all(watchers)
        result = tally(watchers)
        result["client_cpu"] = cpu
        args.worker_out.write_text(json.dumps(result))

    asyncio.run(main())
    return 0


def run_client_procs(ports: list[int], count: int, servers: list[subprocess.Popen[bytes]],
                     args: argparse.Namespace, box: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The clients spread over ``--client-procs`` processes (contiguous index ranges, each
    spread over the server ports round robin)."""
    n = args.client_procs
    shares = [count // n + (1 if k < count % n else 0) for k in range(n)]
    workers: list[tuple[subprocess.Popen[str], Path]] = []
    offset = 0
    try:
        for k, share in enumerate(shares):
            out = workdir / f"worker-{k}.json"
            command = [sys.executable, __file__, "--client-worker", "--ports", ",".join(map(str, ports)),
                       "--clients", str(share), "--index-offset", str(offset), "--worker-out", str(out),
                       "--seconds", str(args.seconds), "--drain", str(args.drain), "--incident-rate",
                       str(args.incident_rate), "--client-mode", args.client_mode, "--design", args.design,
                       "--tick", str(args.tick), "--wire", args.wire] + (["--raw-clients"] if args.raw_clients else [])
            workers.append((subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                             start_new_session=True), out))
            offset += share
        for w, _ in workers:
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        box["load_before"] = os.getloadavg()
        box["cpu0"] = [process_cpu_seconds(s.pid) for s in servers]
        box["busy0"] = machine_busy_seconds()
        box["t0"] = time.perf_counter()
        for s in servers:
            s.send_signal(signal.SIGUSR1)
        for w, _ in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        for w, _ in workers:
            assert w.stdout is not None and w.stdout.readline().strip() == "done"
        box["wall"] = time.perf_counter() - box["t0"]
        box["cpu1"] = [process_cpu_seconds(s.pid) for s in servers]
        box["busy1"] = machine_busy_seconds()
        box["load_after"] = os.getloadavg()
        for w, _ in workers:
            assert w.stdin is not None
            w.stdin.write("stop\n")
            w.stdin.flush()
        for w, _ in workers:
            w.wait(60)
        parts = [json.loads(out.read_text()) for _, out in workers]
    finally:
        for w, _ in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait(10)
    box["client_cpu"] = [p.pop("client_cpu") for p in parts]
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, [] if isinstance(value, list) else 0) + value
    return total


def run(args: argparse.Namespace, clients: int) -> dict[str, Any]:
    ports = [free_port() for _ in range(args.procs)]
    servers = []
    workdir = Path(tempfile.mkdtemp(prefix="crisis-spike-"))
    try:
        for port in ports:
            command = [sys.executable, __file__, "--serve", "--design", args.design, "--port", str(port),
                       "--tick", str(args.tick), "--seconds", str(args.seconds), "--incident-rate",
                       str(args.incident_rate), "--position-rate", str(args.position_rate),
                       "--travellers", str(args.travellers), "--wire", args.wire] + (["--lean"] if args.lean else [])
            servers.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True))
        for port in ports:
            wait_port(port)
        box: dict[str, Any] = {}
        if args.client_procs > 1:
            got = run_client_procs(ports, clients, servers, args, box, workdir)
        else:
            got = asyncio.run(run_clients(ports, clients, servers, args, box))
    finally:
        for s in servers:
            if s.poll() is None:
                os.killpg(s.pid, signal.SIGTERM)
                try:
                    s.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(s.pid, signal.SIGKILL)
                    s.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    expected = int(args.seconds * args.incident_rate)
    lat = summary_ms(got["latency"])
    disconnects = got["disconnects"]
    received = got["received"]
    client_cpu = sum(box["client_cpu"])
    server_cpu = [b - a for a, b in zip(box["cpu0"], box["cpu1"])]
    return {
        "design": args.design + (" lean" if args.lean else "") + ("" if args.wire == "today" else f" {args.wire}")
        + (" raw-clients" if args.raw_clients else ""), "tick": args.tick if "batch" in args.design
        else None, "procs": args.procs, "client_procs": args.client_procs, "client_mode": args.client_mode,
        "clients": clients, "seconds": args.seconds,
        "incident_rate": args.incident_rate, "position_rate": args.position_rate,
        "expected": expected * clients, "received": received, "out_of_order": got["out_of_order"],
        "latency_ms": lat, "position_frames": got["position_frames"],
        "position_frames_expected": (int(args.seconds / (args.tick if "batch" in args.design
                                                         else POSITIONS_TICK_TODAY)) * clients
                                     if args.position_rate > 0 else 0),
        "position_lag_ms": summary_ms(got["position_lag"]), "disconnects": disconnects, "wall_s": box["wall"],
        "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "client_cpu_per_proc_s": box["client_cpu"],
        "messages": got["messages"],
        "client_us_per_message": 1e6 * client_cpu / got["messages"] if got["messages"] else float("nan"),
        "other_cpu_s": (box["busy1"] - box["busy0"]) - client_cpu - sum(server_cpu),
        "load_before": box["load_before"], "load_after": box["load_after"],
        "target_met": bool(received == expected * clients and lat.get("p99", 1e9) < TARGET_P99_MS
                           and disconnects == 0),
    }


def row(r: dict[str, Any]) -> str:
    lat, pos = r["latency_ms"], r["position_lag_ms"]
    wall = r["wall_s"]
    server = "+".join(f"{c:.1f}" for c in r["server_cpu_s"])
    clients = "+".join(f"{c:.1f}" for c in r["client_cpu_per_proc_s"])
    name = r["design"] + ("" if r["tick"] is None else f" tick {r['tick'] * 1000:.0f} ms")
    name += "" if r["procs"] == 1 else f" x{r['procs']} procs"
    name += "" if r["position_rate"] > 0 else " (incidents only)"
    positions = (f"{r['position_frames']:,} / {r['position_frames_expected']:,} ({pos.get('p99', 0):.0f})"
                 if r["position_rate"] > 0 else "-")
    return (f"| {name} | {r['clients']} | {r['client_procs']} | {r['client_mode']} "
            f"| {r['received']:,} / {r['expected']:,} | {r['out_of_order']} "
            f"| {lat.get('p50', 0):.0f} / **{lat.get('p99', 0):.0f}** / {lat.get('max', 0):.0f} "
            f"| {positions} | {r['disconnects']} | {server} / {clients} in {wall:.0f} s "
            f"| {r['client_us_per_message']:.0f} "
            f"| {r.get('other_cpu_s', float('nan')):.0f} | {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |")


HEADER = ("| design | clients | client procs | client mode | incident deliveries received / expected | out of order "
          "| source->client p50 / p99 / max ms | positions frames received / due (send->client p99 ms) "
          "| disconnects | CPU s server / clients (wall) | client CPU us per message "
          "| CPU s of other work | load 1 min before -> after |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--design", default="async-batch", choices=DESIGNS)
    parser.add_argument("--tick", type=float, default=0.25, help="batch tick, s (the *-batch designs)")
    parser.add_argument("--lean", action="store_true", help="async: queue packets directly (no task per packet)")
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--raw-clients", action="store_true",
                        help="minimal Engine.IO clients instead of python-socketio's (needs --wire b64)")
    parser.add_argument("--wire", default="today", choices=("today", "packed", "b64"),
                        help="positions as today (ids list + 2 float32 attachments) or one packed attachment")
    parser.add_argument("--clients", default="200,1000")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--drain", type=float, default=20.0, help="wait at most this long for the last deliveries")
    parser.add_argument("--incident-rate", type=float, default=20.0)
    parser.add_argument("--position-rate", type=float, default=2000.0)
    parser.add_argument("--travellers", type=int, default=5000)
    parser.add_argument("--pyspy", type=Path, help="record py-spy raw profiles (server, clients) into this dir")
    parser.add_argument("--json", type=Path, help="append raw results (JSON lines) here")
    parser.add_argument("--client-mode", default="decode", choices=("decode", "incidents"),
                        help="decode: unpack every tick's positions (a browser); incidents: read only the incidents")
    parser.add_argument("--client-procs", type=int, default=1, help="spread the clients over N processes")
    parser.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    parser.add_argument("--index-offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args)
    if args.client_worker:
        return client_worker(args)
    if args.pyspy:
        args.pyspy.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in (int(c) for c in args.clients.split(",")):
        result = run(args, n)
        rows.append(row(result))
        log(rows[-1])
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(result) + "\n")
    print(HEADER)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
