"""Redis memory per stored item, measured, and the memory a busy month needs (issue 10).

A fresh embedded redis-server (new data directory, the product's own binary and settings but
``appendfsync no``: memory does not depend on fsync, and the run is faster). Each kind is written
through the product's own handlers, N at a time, and measured two ways: the stream key's
``MEMORY USAGE key SAMPLES 0`` (exact) and the server's ``used_memory`` before and after (the
stream plus every projection the same writes touch: incident records, histories, indexes,
latest positions, roll hashes and histories...). The bytes per item are extrapolated to the busy
month stated in ``MONTH``; a stream capped by its MAXLEN holds at most that many entries.

    .venv/bin/python benchmarks/retention_memory.py [--n 2000] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crisis import handlers, handlers_people
from crisis.adapters import keys
from crisis.bootstrap import Context, bootstrap
from crisis.config import Settings
from crisis.domain.travellers import Traveller
from crisis.feeds.schemas import IncidentIn, IncidentPatch, PositionBatch, parse

# The busy month (30 days) the estimate is for; each line: what, how many in the month.
MONTH = {
    "incident_report": ("incidents reported: bursts of 20/s for 10 min a day (12,000 a day)", 360_000),
    "incident_update": ("incident updates: 2 per incident", 720_000),
    "position_batch": ("API position batches of 100 (2,000 positions/s = 20 batches/s, sustained)", 20 * 86_400 * 30),
    "position_single": ("single-position events (CoT handsets, 2,000/s, sustained)", 2_000 * 86_400 * 30),
    "checkin": ("check-ins: 50,000 travellers, 2 a day, in 20 incidents at a time", 50_000 * 2 * 30),
    "audit": ("audit entries: every API write + sign-ins (~1.1 per incident event)", 1_200_000),
    "deadletter": ("dead letters: a broken feed rejected every 60 s (2 KiB documents)", 43_200),
}
# The setting that caps each kind's stream and the Settings field it sets; None: kept by age.
CAPS = {
    "incident_report": ("CRISIS_INCIDENTS_MAXLEN", "incidents_maxlen"),
    "incident_update": ("CRISIS_INCIDENTS_MAXLEN", "incidents_maxlen"),
    "position_batch": ("CRISIS_POSITIONS_MAXLEN", "positions_maxlen"),
    "position_single": ("CRISIS_POSITIONS_MAXLEN", "positions_maxlen"),
    "checkin": ("CRISIS_PEOPLE_MAXLEN", "people_maxlen"),
    "audit": ("CRISIS_AUDIT_KEEP_DAYS", None),
    "deadletter": ("CRISIS_DEADLETTER_MAXLEN", "deadletter_maxlen"),
}


def default_cap(kind: str) -> tuple[str, int | None]:
    """The setting that caps ``kind``'s stream and its default (entries, as the product runs
    with nothing set); None: every entry kept, or kept by age."""
    setting, field = CAPS[kind]
    return setting, (getattr(Settings.from_env({}), field) or None) if field else None
STREAM = {
    "incident_report": keys.INCIDENT_STREAM, "incident_update": keys.INCIDENT_STREAM,
    "position_batch": keys.POSITION_STREAM, "position_single": keys.POSITION_STREAM,
    "checkin": keys.PEOPLE_STREAM, "audit": keys.AUDIT_STREAM, "deadletter": keys.DEADLETTER_STREAM,
}


def _incident(i: int) -> IncidentIn:
    return parse(IncidentIn, {
        "title": f"Flooding in district {i} after the river burst its banks", "type": "flood", "severity": 1 + i % 5,
        "lat": -10 + (i % 400) / 10, "lon": 20 + (i % 300) / 10, "radius_km": 12,
        "description": "Roads cut, two shelters opened; the local office reports staff accounted for so far.",
        "source": "gdacs", "source_id": f"FL-{i:07d}"})


def _positions(batch: int, first: int, n: int) -> list[PositionBatch]:
    now = datetime.now(timezone.utc).isoformat()
    return [parse(PositionBatch, {"positions": [
        {"traveller_id": f"T-{(first + b * batch + j) % 50_000:05d}", "lat": 12.3456 + j / 1000, "lon": 45.6789,
         "time": now, "source": "gps"} for j in range(batch)]}) for b in range(n)]


def measure(context: Context, kind: str, n: int, write: Callable[[], None]) -> dict[str, Any]:
    client = context.redis
    stream = STREAM[kind]
    before_used = int(client.info("memory")["used_memory"])
    before_stream = int(client.memory_usage(stream, samples=0) or 0)
    before_len = client.xlen(stream)
    started = time.perf_counter()
    write()
    seconds = time.perf_counter() - started
    after_used = int(client.info("memory")["used_memory"])
    after_stream = int(client.memory_usage(stream, samples=0) or 0)
    entries = client.xlen(stream) - before_len
    histories = sum(int(client.memory_usage(k, samples=0) or 0) for k in client.scan_iter(match="crisis:roll:*:history"))
    out = {"kind": kind, "n": n, "entries": entries, "stream_bytes": (after_stream - before_stream) / n,
           "total_bytes": (after_used - before_used) / n, "seconds": seconds}
    if kind == "checkin":
        out["roll_history_bytes"] = histories / n  # the first check-ins of the run: all of it
    return out


def run(n: int) -> list[dict[str, Any]]:
    data_dir = Path(tempfile.mkdtemp(prefix="crisis-retention-"))
    settings = Settings(data_dir=data_dir, redis_fsync="no", secret_key="bench", positions_maxlen=0,
                        people_maxlen=0, deadletter_maxlen=0)
    context = bootstrap(settings)
    results = []
    try:
        deps = context.deps
        stored: list[str] = []
        results.append(measure(context, "incident_report", n, lambda: stored.extend(
            handlers.report_incident(deps, _incident(i), "gdacs").incident.id for i in range(n))))
        results.append(measure(context, "incident_update", n, lambda: [handlers.update_incident(
            deps, stored[i], parse(IncidentPatch, {"status": "verified", "note": "confirmed by the field office"}), "duty")
            for i in range(n)]))
        travellers = [(i, Traveller(id=f"T-{i:05d}", name=f"Traveller {i}", agency="UNDP", category="staff"))
                      for i in range(max(n, 1000))]
        handlers.import_travellers(deps, travellers, "bench")
        # Latest positions first (the hash of one per traveller), so the stream measures alone.
        for batch in _positions(1000, 0, max(n, 1000) // 1000):
            handlers.report_positions(deps, batch, "feed")
        batches = _positions(100, 0, n // 10)
        results.append(measure(context, "position_batch", n // 10,
                               lambda: [handlers.report_positions(deps, b, "feed") for b in batches]))
        singles = _positions(1, 0, n)
        results.append(measure(context, "position_single", n,
                               lambda: [handlers.report_positions(deps, b, "cot") for b in singles]))
        results.append(measure(context, "checkin", n, lambda: [handlers_people.checkin(
            context, f"T-{i:05d}", "safe", stored[i % 20], None, None, "all fine at the hotel", f"T-{i:05d}")
            for i in range(n)]))
        results.append(measure(context, "audit", n, lambda: [context.audit.record(
            "incident.update", actor="duty.officer", role="duty_officer", via="session", remote="10.20.30.40",
            target=stored[i % len(stored)], before={"status": "reported"}, after={"status": "verified"}) for i in range(n)]))
        body = ("<alert>" + "x" * 2040 + "</alert>").encode()
        results.append(measure(context, "deadletter", n // 4, lambda: [context.feed_log.rejected(
            "cap", [{"field": "body", "message": "not a CAP 1.2 alert"}], body, {"remote": "feed"}) for _ in range(n // 4)]))
        info = context.redis.info("server")
        engine = f"Valkey {info['valkey_version']}" if "valkey_version" in info else f"Redis {info.get('redis_version')}"
        results.append({"kind": "_server", "version": engine,
                        "used_memory": int(context.redis.info("memory")["used_memory"])})
        results.append(backup_timing(context, data_dir))
    finally:
        context.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def backup_timing(context: Context, data_dir: Path) -> dict[str, Any]:
    """``crisis backup`` / ``restore`` of what the run wrote: the snapshot (SCAN + the one
    MULTI/EXEC that blocks the server: an upper bound of the block), the whole backup, the
    file's size, and a restore into a second, empty embedded server."""
    from crisis.adapters.backup import restore_backup, snapshot, write_backup
    from crisis.adapters.redis_server import open_redis

    raw = context.redis_handle.client(decode=False)
    worst = [0.0]
    stop = threading.Event()

    def ping() -> None:  # another client all along: its worst PING is how long the server was blocked
        client = context.redis_handle.client(decode=False)
        while not stop.is_set():
            sent = time.perf_counter()
            client.ping()
            worst[0] = max(worst[0], time.perf_counter() - sent)
            time.sleep(0.002)
        client.close()

    pinger = threading.Thread(target=ping)
    pinger.start()
    time.sleep(0.2)
    started = time.perf_counter()
    snap = snapshot(raw)
    snapshot_s = time.perf_counter() - started
    stop.set()
    pinger.join()
    path = data_dir / "backup.jsonl.gz"
    started = time.perf_counter()
    summary = write_backup(raw, path)
    backup_s = time.perf_counter() - started
    raw.close()
    other = open_redis(Settings(data_dir=data_dir / "restored", redis_fsync="no"))
    target = other.client(decode=False)
    started = time.perf_counter()
    restore_backup(target, path)
    restore_s = time.perf_counter() - started
    target.close()
    other.stop()
    return {"kind": "_backup", "keys": summary.keys, "entries": summary.stream_entries, "records": len(snap.records), "exec_s": snap.exec_s, "worst_ping_s": worst[0],
            "snapshot_s": snapshot_s, "backup_s": backup_s, "restore_s": restore_s, "bytes": path.stat().st_size,
            "used_memory": int(context.redis.info("memory")["used_memory"])}


def _mib(value: float) -> str:
    if value < 2**20:
        return f"{value / 2**10:,.0f} KiB"
    return f"{value / 2**20:,.1f} MiB" if value < 2**30 else f"{value / 2**30:,.1f} GiB"


def table(results: list[dict[str, Any]]) -> list[str]:
    rows = ["| kind | measured (n) | stream B/item | with projections B/item | busy month | items kept | memory at month's end |",
            "|---|---:|---:|---:|---|---:|---:|"]
    total = 0.0
    for r in results:
        if r["kind"].startswith("_"):
            continue  # the server and the backup's timing
        label, month = MONTH[r["kind"]]
        setting, cap = default_cap(r["kind"])
        events_per_item = r["entries"] / r["n"] if r["n"] else 1
        kept = month if cap is None else min(month, int(cap / max(events_per_item, 1e-9)))
        # The stream is capped; projections (latest position, incident records) are not entries.
        stream_part = kept * r["stream_bytes"]
        projection_part = (month if r["kind"].startswith("incident") or r["kind"] == "checkin" else 0) * max(
            r["total_bytes"] - r["stream_bytes"], 0)
        if r["kind"] == "checkin":  # roll histories grow with every check-in (never trimmed); the
            # roll hashes and check-in places are bounded by travellers x scopes: counted for 50,000 once
            history = r["roll_history_bytes"]
            projection_part = month * history + 50_000 * max(r["total_bytes"] - r["stream_bytes"] - history, 0)
        memory = stream_part + projection_part
        total += memory
        rows.append(f"| {r['kind']} | {r['n']:,} | {r['stream_bytes']:,.0f} | {r['total_bytes']:,.0f} | {label}: {month:,} "
                    f"| {kept:,} ({setting}{'' if cap is None else f'={cap:,}'}) | {_mib(memory)} |")
    rows.append(f"| **total** | | | | | | **{_mib(total)}** |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="items of each kind written and measured")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the section to this file")
    args = parser.parse_args()
    results = run(args.n)
    server = next(r for r in results if r["kind"] == "_server")
    heading = (f"{server['version']}, {args.n:,} items of each kind (positions: {args.n // 10:,} batches of 100), "
               "through the product's handlers.")
    timing = next(r for r in results if r["kind"] == "_backup")
    header = ("| backup of that database | keys | stream entries | Redis used_memory "
              "| worst PING of another client during the snapshot | MULTI/EXEC seen by the backup "
              "| snapshot (SCAN + MULTI) | backup total | file (gzip) | restore into an empty server |")
    row = (f"| `crisis backup` / `crisis restore` | {timing['keys']:,} | {timing['entries']:,} "
           f"| {_mib(timing['used_memory'])} | {timing['worst_ping_s'] * 1000:,.0f} ms | {timing['exec_s'] * 1000:,.0f} ms "
           f"| {timing['snapshot_s'] * 1000:,.0f} ms | {timing['backup_s']:,.1f} s | {_mib(timing['bytes'])} "
           f"| {timing['restore_s']:,.1f} s |")
    backup = ["", header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", row]
    lines = [heading, "", *table(results), *backup]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
