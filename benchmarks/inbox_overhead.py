"""What the feeds inbox (crisis.feeds.inbox) costs on the busiest feed path: CoT documents.

Starts its own embedded Redis (appendfsync always, as the product) in a temporary data
directory, maps one handset to a traveller, then takes N CoT documents in two ways:

* direct: ``ingest_cot`` per document (what the listener did before issue 10);
* inbox: ``InboxWorker.put`` per document (what the listener does now: one XADD), with the
  consumer thread taking them in meanwhile (XREADGROUP, the intake with its writes held back,
  then the writes and XACK+XDEL of the read batch in one transaction);
* inbox backlog: N documents queued while no consumer runs (a burst, or the feeds process
  restarted), then the consumer alone takes them in.

Prints the listener's time per document (p50/p99), the documents per second taken in, and
the load average (1 min) before and after: the figures move with the machine's load.

    .venv/bin/python benchmarks/inbox_overhead.py [--documents 500] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crisis import handlers
from crisis.adapters.device_store import DeviceStore
from crisis.bootstrap import bootstrap
from crisis.config import Settings
from crisis.domain.travellers import Traveller
from crisis.feeds.cot import DeviceIn
from crisis.feeds.inbox import COT, InboxWorker
from crisis.handlers_cot import add_device, ingest_cot

UID = "ANDROID-BENCH"


def document(n: int) -> bytes:
    lat = 33.0 + (n % 1000) / 1000
    return (f"<event version='2.0' uid='{UID}' type='a-f-G-U-C' time='2024-05-01T09:30:00Z' "
            f"start='2024-05-01T09:30:00Z' stale='2024-05-01T09:31:00Z'><point lat='{lat:.4f}' lon='35.5' "
            "hae='10' ce='5' le='9999999'/></event>").encode()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def drained(worker: InboxWorker) -> None:
    """Return once every queued document was taken in and acknowledged (the inbox empty)."""
    while worker.store.waiting():
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    n = args.documents
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        context = bootstrap(Settings(data_dir=Path(tmp), secret_key="bench"))
        try:
            handlers.import_travellers(context.deps, [(1, Traveller(id="T-1", name="A", agency="UNDP",
                                                                   category="visitor"))], "bench")
            add_device(context.deps, DeviceStore(context.redis), DeviceIn(uid=UID, traveller_id="T-1"), "bench")
            direct: list[float] = []
            started = time.perf_counter()
            for i in range(n):
                t0 = time.perf_counter()
                ingest_cot(context, document(i), "bench", {"transport": "udp"})
                direct.append(time.perf_counter() - t0)
            direct_rate = n / (time.perf_counter() - started)

            worker = InboxWorker(context, "bench")
            worker.start()
            queued: list[float] = []
            started = time.perf_counter()
            for i in range(n):
                t0 = time.perf_counter()
                worker.put(COT, document(i), "bench", {"transport": "udp"})
                queued.append(time.perf_counter() - t0)
            drained(worker)
            inbox_rate = n / (time.perf_counter() - started)
            worker.stop()

            backlog = InboxWorker(context, "bench-backlog")
            backlog.store.ensure_group()
            stored: list[float] = []
            for i in range(n):
                t0 = time.perf_counter()
                backlog.put(COT, document(i), "bench", {"transport": "udp"})
                stored.append(time.perf_counter() - t0)
            started = time.perf_counter()
            backlog.start()
            drained(backlog)
            backlog_rate = n / (time.perf_counter() - started)
            backlog.stop()
        finally:
            context.close()
    load = os.getloadavg()[0]
    rows = [
        ("direct (`ingest_cot` in the listener thread)", direct, direct_rate),
        ("inbox (XADD in the listener thread; consumer takes it in)", queued, inbox_rate),
        ("inbox backlog (N queued, then the consumer alone)", stored, backlog_rate),
    ]
    lines = [f"CoT documents: {n}, one handset; embedded Redis, appendfsync always; load average (1 min) "
             f"{load_before:.1f} before, {load:.1f} after, on {os.cpu_count()} cores", "",
             "| path | listener time per document p50 | p99 | documents taken in per second |",
             "|---|---|---|---|"]
    for name, times, rate in rows:
        lines.append(f"| {name} | {1000 * statistics.median(times):.2f} ms | {1000 * quantile(times, 0.99):.2f} ms | "
                     f"{rate:.0f} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
