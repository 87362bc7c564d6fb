"""Diagnostics only: run the same app as ``crisis serve``, with timers around its stages.

Builds the app exactly as ``crisis serve`` does (``crisis.web.create_app`` with
``Settings.from_env()``), then wraps chosen functions with timers that record wall time
and the calling thread's CPU time (time.thread_time). Wall much larger than CPU means
the stage waited: for Redis/the disk (fsync) or for the GIL. Nothing in ``crisis/`` is
edited; the wrappers are installed from here, in this process only.

GET /_bench/stats (any valid Bearer token) answers the timings so far and the CPU used
by each live thread, grouped by thread name; ``?reset=1`` clears them.

    python benchmarks/serve_instrumented.py --port 8123
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

MAX_SAMPLES = 200_000


class Timings:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.wall: dict[str, list[float]] = defaultdict(list)
            self.cpu: dict[str, float] = defaultdict(float)
            self.since = time.perf_counter()

    def add(self, name: str, wall: float, cpu: float) -> None:
        with self._lock:
            samples = self.wall[name]
            if len(samples) < MAX_SAMPLES:
                samples.append(wall)
            self.cpu[name] += cpu

    def report(self) -> dict[str, Any]:
        with self._lock:
            out = {}
            for name, samples in self.wall.items():
                ordered = sorted(samples)
                n = len(ordered)

                def pct(q: float) -> float:
                    return ordered[min(n - 1, max(0, int(q / 100 * n + 0.5) - 1))] * 1000

                out[name] = {
                    "n": n,
                    "wall_total_s": sum(ordered),
                    "cpu_total_s": self.cpu[name],
                    "p50_ms": pct(50),
                    "p90_ms": pct(90),
                    "p99_ms": pct(99),
                    "max_ms": ordered[-1] * 1000,
                    "mean_ms": sum(ordered) / n * 1000,
                    "cpu_mean_ms": self.cpu[name] / n * 1000,
                }
            return {"window_s": time.perf_counter() - self.since, "stages": out}


TIMINGS = Timings()


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        w0 = time.perf_counter()
        c0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMINGS.add(name, time.perf_counter() - w0, time.thread_time() - c0)

    return wrapper


def patch(owner: Any, attribute: str, name: str) -> None:
    setattr(owner, attribute, timed(name, getattr(owner, attribute)))


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, grouped by normalised name."""
    by_native = {t.native_id: t.name for t in threading.enumerate()}
    ticks = 100.0
    try:
        ticks = float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):
        pass
    groups: dict[str, float] = defaultdict(float)
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        name = by_native.get(int(task.name), "(native)")
        groups[re.sub(r"\d+", "N", name)] += cpu
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def instrument(app: Any) -> None:
    """Timers around the stages of the incident and position paths."""
    from flask import jsonify, request

    from crisis import handlers
    from crisis.adapters.eventlog import EventLog
    from crisis.adapters.feed_log import FeedLog
    from crisis.adapters.position_store import PositionStore
    from crisis.fusion.countries import CountryIndex
    from crisis.realtime import gateway as gateway_module

    server = app.server
    for endpoint in ("api.create_incident", "api.post_positions"):
        server.view_functions[endpoint] = timed(f"view {endpoint}", server.view_functions[endpoint])
    import flask
    import redis.lock

    from crisis.auth import gate as auth_gate

    patch(flask.Flask, "full_dispatch_request", "flask full_dispatch_request (auth + view + response)")
    # Patched where the gate looks it up (crisis.auth re-exports it, but the gate calls its own binding).
    patch(auth_gate, "principal_from_request", "auth.principal_from_request (token lookup)")
    patch(redis.lock.Lock, "acquire", "redis Lock.acquire (handlers.report_incident)")
    patch(redis.lock.Lock, "release", "redis Lock.release (handlers.report_incident)")
    patch(handlers, "report_incident", "handlers.report_incident")
    patch(handlers, "report_positions", "handlers.report_positions")
    patch(handlers, "_place", "handlers._place (country lookup)")
    patch(handlers, "_store", "handlers._store (XADD+projection, MULTI/EXEC)")
    patch(EventLog, "append_many", "EventLog.append_many (MULTI/EXEC incl. fsync)")
    patch(PositionStore, "queue_save", "PositionStore.queue_save (json.dumps per traveller)")
    patch(CountryIndex, "locate", "CountryIndex.locate")
    patch(FeedLog, "accepted", "FeedLog.accepted")
    patch(gateway_module, "decode", "gateway: decode stream entry (json.loads)")
    patch(gateway_module.Gateway, "push_incident", "gateway: push_incident (message + emit)")
    patch(gateway_module, "incident_message", "gateway: incident_message (display area)")
    patch(gateway_module.PositionBuffer, "add", "gateway: PositionBuffer.add")
    patch(gateway_module.Gateway, "_flush", "gateway: positions tick _flush")
    patch(app.socketio.server, "emit", "socketio.Server.emit (fan-out enqueue)")

    import engineio.socket

    patch(engineio.socket.Socket, "send", "engineio Socket.send (per client enqueue)")
    # The engine.io websocket writer: one thread per client, wakes per packet.
    try:
        import simple_websocket

        patch(simple_websocket.ws.Base, "send", "simple_websocket send (per client frame)")
    except (ImportError, AttributeError):
        pass

    # The request parsing half of the positions view: measured separately.
    from crisis.feeds import schemas

    original = schemas.PositionBatch.model_validate_json.__func__  # type: ignore[attr-defined]

    def validate_json(cls: Any, *args: Any, **kwargs: Any) -> Any:
        return original(cls, *args, **kwargs)

    schemas.PositionBatch.model_validate_json = classmethod(timed("pydantic PositionBatch.model_validate_json", validate_json))  # type: ignore[method-assign,assignment]

    @server.get("/_bench/stats")
    def bench_stats() -> Any:
        report = TIMINGS.report()
        report["threads_cpu_s"] = thread_cpu()
        if request.args.get("reset"):
            TIMINGS.reset()
        return jsonify(report)


def main() -> int:
    parser = argparse.ArgumentParser(description="crisis serve, with stage timers (diagnostics only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    from crisis.config import Settings
    from crisis.web import create_app

    # Experiment knob: the interval after which a thread waiting for the GIL forces the
    # running one to drop it (CPython default 5 ms).
    interval = os.environ.get("BENCH_SWITCH_INTERVAL")
    if interval:
        sys.setswitchinterval(float(interval))

    settings = Settings.from_env()
    app = create_app(settings)
    instrument(app)
    report_extra = {"switch_interval_s": sys.getswitchinterval()}

    @app.server.get("/_bench/config")
    def bench_config() -> Any:
        from flask import jsonify

        return jsonify(report_extra)

    print(f"instrumented Crisis Coordination Centre on http://{args.host}:{args.port}/", flush=True)
    # SIGTERM (the harness's stop) leaves through the cleanup below, as `crisis serve` does:
    # it shuts down the embedded redis-server, which runs in a session of its own.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        app.run(args.host, args.port)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
