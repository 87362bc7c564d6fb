"""CAP intake: how many alerts per second, and how soon a posted alert reaches a screen.

(a) In-process throughput: ``--messages`` CAP messages (the four OASIS examples, each
    under a unique identifier so every one creates an incident; examples 1 and 4 are
    placed by the gazetteer) go through ``crisis.feeds.intake.ingest_cap`` against a
    fresh embedded Redis (AOF with ``appendfsync always``, the product default for
    incidents; ``--fsync everysec`` to compare). Parsing
    alone is timed too, to split the cost between XML/validation and storage.
(b) End-to-end latency: a fresh ``crisis serve`` (benchmarks/common.py), one
    python-socketio client on /live (websocket, ``auth={"token": ...}``), ``--posts``
    CAP messages POSTed one after another to /api/v1/feeds/cap (5-20 ms pauses). The
    latency is from the POST's response returning to the client's "incident" handler
    running for that incident (time.perf_counter, same process).

Prints a markdown section for BENCHMARKS.md.

    .venv/bin/python benchmarks/cap_ingest.py [--messages 2000] [--posts 300]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
import socketio  # noqa: E402

from common import Server, log, machine_info, summary_ms  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples" / "cap"
NAMESPACE = "/live"
DRAIN_TIMEOUT_S = 15.0


def cap_messages(count: int, tag: str) -> list[bytes]:
    """``count`` CAP messages cycling through the four OASIS examples, each unique."""
    examples = [(SAMPLES / f"example{n}.xml").read_text() for n in (1, 2, 3, 4)]
    out = []
    for i in range(count):
        text = re.sub(r"<identifier>([^<]*)</identifier>",
                      lambda m: f"<identifier>{m[1]}-{tag}-{i}</identifier>", examples[i % 4], count=1)
        out.append(text.encode())
    return out


# -- (a) in process ----------------------------------------------------------------------


def run_in_process(messages: int, fsync: str = "always") -> dict[str, Any]:
    from crisis.bootstrap import bootstrap
    from crisis.config import Settings
    from crisis.feeds.cap import parse_cap
    from crisis.feeds.gazetteer import gazetteer_for
    from crisis.feeds.intake import ingest_cap

    data_dir = Path(tempfile.mkdtemp(prefix="crisis-bench-cap-"))
    context = bootstrap(Settings(data_dir=data_dir, redis_fsync=fsync))
    try:
        gazetteer = gazetteer_for(context.deps.countries)
        for body in cap_messages(8, "warmup"):
            ingest_cap(context, body, "bench")
        bodies = cap_messages(messages, "run")
        began = time.perf_counter()
        for body in bodies:
            parse_cap(body, gazetteer)
        parse_s = time.perf_counter() - began
        per_message: list[float] = []
        began = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            result = ingest_cap(context, body, "bench")
            per_message.append(time.perf_counter() - t0)
            if result.created != 1:
                raise RuntimeError(f"expected a new incident, got {result.summary()}")
        store_s = time.perf_counter() - began
        incidents = len(context.deps.incidents.all())
    finally:
        context.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"messages": messages, "parse_s": parse_s, "ingest_s": store_s, "incidents": incidents,
            "per_message_ms": summary_ms(per_message), "fsync": fsync}


# -- (b) over HTTP and Socket.IO -------------------------------------------------------------


def run_end_to_end(posts: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    arrivals: dict[str, float] = {}
    arrived = threading.Condition()
    client = socketio.Client(reconnection=False, request_timeout=10)

    def on_incident(message: dict[str, Any]) -> None:
        now = time.perf_counter()
        with arrived:
            arrivals.setdefault(message["incident"]["id"], now)
            arrived.notify_all()

    client.on("incident", on_incident, namespace=NAMESPACE)
    with Server() as server:
        live_token = server.token("bench-wall", "duty_officer")
        feed_token = server.token("bench-cap", "feed")
        log(f"[cap] server {server.url}; connecting the socket client")
        client.connect(server.url, transports=["websocket"], namespaces=[NAMESPACE], auth={"token": live_token},
                       wait_timeout=20)
        try:
            time.sleep(0.5)
            session = requests.Session()
            session.headers.update({"Authorization": f"Bearer {feed_token}", "Content-Type": "application/cap+xml"})
            posted: list[tuple[str, float, float]] = []
            log(f"[cap] posting {posts} CAP messages")
            for body in cap_messages(posts, "e2e"):
                sent = time.perf_counter()
                answer = session.post(f"{server.url}/api/v1/feeds/cap", data=body, timeout=30)
                returned = time.perf_counter()
                if answer.status_code != 201:
                    raise RuntimeError(f"POST /feeds/cap answered {answer.status_code}: {answer.text[:500]}")
                posted.append((answer.json()["incident_ids"][0], sent, returned))
                time.sleep(rng.uniform(0.005, 0.020))
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            with arrived:
                while not all(p[0] in arrivals for p in posted) and time.monotonic() < deadline:
                    arrived.wait(0.1)
        finally:
            client.disconnect()
    latencies = [arrivals[i] - returned for i, _, returned in posted if i in arrivals]
    return {"posts": posts, "received": len(latencies), "lost": posts - len(latencies),
            "latency_ms": summary_ms(latencies), "post_rtt_ms": summary_ms([r - s for _, s, r in posted])}


def format_markdown(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    machine = machine_info()
    lines = ["## CAP intake (`benchmarks/cap_ingest.py`)", "",
             f"Machine: {machine['cpu']}, {machine['affinity']} usable CPUs, Python {machine['python']}. "
             "Command: `.venv/bin/python benchmarks/cap_ingest.py"
             + (f" --messages {a['messages']} --fsync {a['fsync']}" if a else "") + (f" --posts {b['posts']}" if b else "") + "`.", ""]
    if a:
        n = a["messages"]
        s = a["per_message_ms"]
        lines += [
            f"(a) In process, fresh embedded Redis (AOF, appendfsync {a['fsync']}), {n} CAP messages (the four "
            "OASIS examples under unique identifiers; every one creates an incident):", "",
            "| measure | value |", "|---|---|",
            f"| parse + validate only (defusedxml, gazetteer) | {n / a['parse_s']:,.0f} messages/s |",
            f"| parse + store + count (`ingest_cap`) | {n / a['ingest_s']:,.0f} messages/s |",
            f"| one message, parse + store: p50 / p99 / max | {s['p50']:.2f} / {s['p99']:.2f} / {s['max']:.2f} ms |",
            f"| incidents stored (with 8 warm-up messages) | {a['incidents']} |", ""]
    if b:
        s, r = b["latency_ms"], b["post_rtt_ms"]
        lines += [
            f"(b) `crisis serve` on a fresh data directory, {b['posts']} CAP POSTs to /api/v1/feeds/cap, one "
            "python-socketio client on /live (websocket):", "",
            "| measure (ms) | n | p50 | p90 | p99 | max |", "|---|---|---|---|---|---|",
            f"| POST response -> \"incident\" event handled | {s['n']} | {s['p50']:.2f} | {s['p90']:.2f} | "
            f"{s['p99']:.2f} | {s['max']:.2f} |",
            f"| POST round trip (parse, store, answer) | {r['n']} | {r['p50']:.2f} | {r['p90']:.2f} | "
            f"{r['p99']:.2f} | {r['max']:.2f} |", "",
            f"Received {b['received']} of {b['posts']} (lost {b['lost']}). A latency can be slightly negative: "
            "the gateway may push before the HTTP answer is read.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages for the in-process run (0 skips it)")
    parser.add_argument("--posts", type=int, default=300, help="CAP POSTs for the latency run (0 skips it)")
    parser.add_argument("--fsync", choices=("always", "everysec"), default="always",
                        help="the embedded Redis's appendfsync for the in-process run (product default: always)")
    args = parser.parse_args(argv)
    a = run_in_process(args.messages, args.fsync) if args.messages else None
    b = run_end_to_end(args.posts) if args.posts else None
    print(format_markdown(a, b))
    return 0 if b is None or b["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
