"""Kill a web instance behind HAProxy, again and again: how fast do its clients move, and
what do they miss? (issue 10, H7)

Starts benchmarks/layout_web.py's layout (n ``crisis serve`` on one embedded Redis, one
``crisis feeds``, HAProxy), connects ``--clients`` python-socketio clients through
HAProxy (WebSocket; each sends ``sync`` with its last incident stream id on every
(re)connection, as the page does), posts incidents through HAProxy at ``--rate`` per
second, and ``--kills`` times SIGKILLs the instance holding the most clients, waits for
its clients to come back, then restarts it. At the end every client's incidents are
compared with the log.

    .venv/bin/python benchmarks/scale_out.py --clients 50 --kills 3 [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import layout_web
import socketio


def _id(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


class Watcher:
    def __init__(self, url: str, token: str, last_id: str) -> None:
        self.url, self.token, self.last_id = url, token, last_id
        self.arrivals: list[str] = []
        self.connects: list[float] = []
        self.synced: list[float] = []
        self.disconnects: list[float] = []
        self.modes: list[str] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=1.0)
        self.client.on("connect", self._connected, namespace="/live")
        self.client.on("disconnect", lambda *a: self.disconnects.append(time.monotonic()), namespace="/live")
        self.client.on("incident", self._incident, namespace="/live")

    def connect(self) -> None:
        self.client.connect(self.url, namespaces=["/live"], auth={"token": self.token}, transports=["websocket"],
                            wait_timeout=60)

    def _connected(self) -> None:
        self.connects.append(time.monotonic())
        self.client.emit("sync", {"last_id": self.last_id}, namespace="/live", callback=self._ack)

    def _ack(self, ack: dict[str, Any]) -> None:
        self.synced.append(time.monotonic())
        self.modes.append(str(ack.get("mode") or ack.get("error")))

    def _incident(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.arrivals.append(message["stream_id"])
            if _id(message["stream_id"]) > _id(self.last_id):
                self.last_id = message["stream_id"]

    def applied(self) -> list[str]:
        seen: dict[str, None] = {}
        with self.lock:
            for stream_id in self.arrivals:
                seen.setdefault(stream_id, None)
        return list(seen)


def run(clients: int, kills: int, rate: float, instances: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crisis-scale-") as tmp:
        started = time.monotonic()
        layout = layout_web.start_web(tmp, instances, env={"CRISIS_TICK_SECONDS": "0.1"})
        try:
            up_s = time.monotonic() - started
            token = layout.token("bench-watch", "duty_officer")
            feed = layout.token("bench-feed", "feed")
            from redis import Redis

            from crisis.adapters import keys
            from crisis.adapters.redis_server import open_redis
            from crisis.config import Settings

            handle = open_redis(Settings.from_env(layout.env))
            store: Redis = handle.client()
            last = store.xrevrange(keys.INCIDENT_STREAM, count=1)
            start = str(last[0][0]) if last else "0-0"
            watchers = [Watcher(layout.url, token, start) for _ in range(clients)]
            for w in watchers:
                w.connect()
            deadline = time.monotonic() + 120
            while not all(w.modes for w in watchers) and time.monotonic() < deadline:
                time.sleep(0.1)
            poster = layout_web.IncidentPoster(layout.url, feed, 1.0 / rate, "scale")
            poster.start()
            rounds: list[dict[str, Any]] = []
            for k in range(kills):
                time.sleep(3)
                spread = [layout.connections(i) for i in range(instances)]
                victim = max(range(instances), key=lambda i: spread[i])
                before = {id(w): len(w.connects) for w in watchers}
                killed_at = time.monotonic()
                layout.kill_instance(victim)
                time.sleep(1.0)
                moved = [w for w in watchers if w.disconnects and w.disconnects[-1] > killed_at]
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not all(
                        len(w.connects) > before[id(w)] and w.synced and w.synced[-1] > killed_at for w in moved):
                    time.sleep(0.05)
                reconnect = [w.connects[-1] - killed_at for w in moved if len(w.connects) > before[id(w)]]
                resync = [w.synced[-1] - killed_at for w in moved if w.synced and w.synced[-1] > killed_at]
                layout.wait_server(victim, "DOWN", 30)
                down_s = time.monotonic() - killed_at  # an upper bound: checked after the clients came back
                layout.restart_instance(victim)
                rounds.append({"victim": layout.instances[victim].name, "spread": spread, "moved": len(moved),
                               "reconnect_max_s": max(reconnect, default=float("nan")),
                               "resync_p50_s": statistics.median(resync) if resync else float("nan"),
                               "resync_max_s": max(resync, default=float("nan")),
                               "not_back": len(moved) - len(reconnect), "down_seen_s": down_s})
                print(f"kill {k + 1}: {rounds[-1]}", file=sys.stderr, flush=True)
            time.sleep(3)
            poster.stop()
            truth = [str(eid) for eid, _ in store.xrange(keys.INCIDENT_STREAM, min=f"({start}")]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(set(w.applied()) >= set(truth) for w in watchers):
                time.sleep(0.2)
            missed = sum(len(set(truth) - set(w.applied())) for w in watchers)
            out_of_order = sum(1 for w in watchers if w.applied() != [t for t in truth if t in set(w.applied())])
            for w in watchers:
                w.client.disconnect()
            store.close()
            handle.stop()
            return {"clients": clients, "instances": instances, "rate": rate, "up_s": up_s, "rounds": rounds,
                    "posted": len(truth), "acked": len(poster.acknowledged), "failed": poster.failures, "missed": missed,
                    "out_of_order_clients": out_of_order,
                    "acked_in_log": set(poster.acknowledged) <= set(truth), "load": os.getloadavg()}
        finally:
            layout.stop()


def markdown(result: dict[str, Any], command: str) -> str:
    lines = [
        "## Several web instances behind HAProxy: an instance killed (H7)",
        "",
        (f"`{command}` (2 cores, everything on one machine: {result['instances']} `crisis serve`, one `crisis feeds`, "
         f"Debian's HAProxy 2.6, one embedded Redis; {result['clients']} python-socketio clients through HAProxy, "
         f"WebSocket; incidents posted through HAProxy at {result['rate']:g}/s; load average at the end "
         f"{result['load'][0]:.1f})."),
        "",
        "| kill | instance | clients on it | reconnected (max, s) | resynced (p50, s) | resynced (max, s) | not back |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(result["rounds"], 1):
        lines.append(f"| {k} | {r['victim']} | {r['moved']} | {r['reconnect_max_s']:.2f} | {r['resync_p50_s']:.2f} | "
                     f"{r['resync_max_s']:.2f} | {r['not_back']} |")
    lines += [
        "",
        (f"Incidents in the log during the run: {result['posted']}; POSTs acknowledged {result['acked']} "
         f"(all in the log: {result['acked_in_log']}), failed {len(result['failed'])} "
         f"({', '.join(sorted(set(result['failed']))) or 'none'}). Incidents missed by clients at the end: "
         f"**{result['missed']}**; clients whose arrivals were out of stream order: {result['out_of_order_clients']} "
         f"of {result['clients']}."),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--rate", type=float, default=5.0, help="incidents posted per second")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--markdown", default=None, help="write the section to this file")
    args = parser.parse_args()
    result = run(args.clients, args.kills, args.rate, args.instances)
    command = "benchmarks/scale_out.py " + " ".join(sys.argv[1:])
    text = markdown(result, command)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
