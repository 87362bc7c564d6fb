"""Sign-in under a flood of wrong passwords: server memory, throughput, and how long a
legitimate user waits meanwhile.

A fresh ``crisis serve`` (benchmarks/common.py) with two users: ``victim`` (attacked) and
``legit`` (not attacked). 100 client threads post wrong passwords to /login as fast as
they are answered, in two phases:

(a) one address: all 100 from 127.0.0.1, half with unknown names, half as ``victim``
    (the per-address and per-account limits of failed sign-ins come into play);
(b) 100 addresses: each thread from its own loopback address (127.0.1.1 ...
    127.0.1.100), unknown names only: no limit stops them early, so the bound on
    concurrent password hashes (``CRISIS_MAX_CONCURRENT_HASHES``, 64 MiB each) is what
    holds memory.

Meanwhile ``legit`` signs in every 2 s from 127.0.0.2 (a fresh browser session: GET the
form, POST it); the time to its redirect is measured. The server process's resident
memory is sampled every 50 ms (psutil, else /proc/PID/status), and VmHWM read at the end.

Targets: server memory stays under 600 MB; a legitimate sign-in takes under 2 s.

    .venv/bin/python benchmarks/login_flood.py [--seconds 15] [--workers 100]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

from common import CLI_TIMEOUT_S, CRISIS, ROOT, Server, log, machine_info, process_cpu_seconds, summary_ms  # noqa: E402

PASSWORD = "correct horse battery staple"
MEMORY_TARGET_MB = 600.0
LEGIT_TARGET_S = 2.0
LEGIT_EVERY_S = 2.0
REQUEST_TIMEOUT_S = 30.0

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the test environment
    psutil = None


class SourceAdapter(HTTPAdapter):
    """Connect from a given local address (any of 127.0.0.0/8 is this machine)."""

    def __init__(self, source: str, **kwargs: Any) -> None:
        self._source = source
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(connections, maxsize, block, **kwargs)


def client(source: str) -> requests.Session:
    http = requests.Session()
    adapter = SourceAdapter(source)
    http.mount("http://", adapter)
    return http


def form_token(http: requests.Session, url: str) -> str:
    page = http.get(f"{url}/login", timeout=REQUEST_TIMEOUT_S)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or not found:
        raise RuntimeError(f"no sign-in form: {page.status_code}")
    return found[1]


def add_user(server: Server, name: str) -> None:
    done = subprocess.run([str(CRISIS), "users", "add", name, "--role", "duty_officer"], input=PASSWORD + "\n",
                          env=server.env, cwd=str(ROOT), capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"crisis users add failed: {done.stderr[-2000:]}")


class MemorySampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self.last_mb = 0.0
        self.stop_event = threading.Event()
        self._process = psutil.Process(pid) if psutil is not None else None

    def rss_mb(self) -> float:
        if self._process is not None:
            return float(self._process.memory_info().rss) / 2**20
        return _status_kb(self.pid, "VmRSS") / 1024

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.last_mb = self.rss_mb()
            except Exception:  # noqa: BLE001 - the process may be gone at the very end
                break
            self.peak_mb = max(self.peak_mb, self.last_mb)
            self.stop_event.wait(0.05)

    def reset_peak(self) -> None:
        self.peak_mb = self.last_mb


def _status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


def flood(url: str, workers: int, seconds: float, sources: list[str], names: Any) -> tuple[Counter[int], int]:
    """``workers`` threads posting wrong passwords for ``seconds``; answers by status."""
    counts: Counter[int] = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    errors = 0

    def work(index: int) -> None:
        nonlocal errors
        http = client(sources[index % len(sources)])
        try:
            token = form_token(http, url)
            attempt = 0
            while time.monotonic() < stop_at:
                data = {"username": names(index, attempt), "password": "wrong " + uuid.uuid4().hex[:6], "csrf_token": token}
                try:
                    answer = http.post(f"{url}/login", data=data, allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
                    status = answer.status_code
                except requests.RequestException:
                    status = 0
                with lock:
                    counts[status] += 1
                attempt += 1
        except Exception:  # noqa: BLE001 - counted, the flood goes on
            with lock:
                errors += 1
        finally:
            http.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + REQUEST_TIMEOUT_S + 10)
    return counts, errors


def probe(url: str, seconds: float) -> None:
    """The legitimate user, in a process of its own (so the flood's client threads do
    not starve it of the GIL): signs in every LEGIT_EVERY_S from 127.0.0.2, each time in
    a fresh session, alternately from a browser that signed in before (it keeps the
    device cookie of its first sign-in, made before the flood) and from a new one.
    Prints one JSON line per sign-in: seconds to the redirect, the form's share, status."""
    first = client("127.0.0.2")
    token = form_token(first, url)
    first.post(f"{url}/login", data={"username": "legit", "password": PASSWORD, "csrf_token": token},
               allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
    device = first.cookies.get("crisis_device")
    first.close()
    print(json.dumps({"ready": True, "device": bool(device)}), flush=True)
    stop_at = time.monotonic() + seconds
    returning = True
    while time.monotonic() + LEGIT_EVERY_S < stop_at:
        time.sleep(LEGIT_EVERY_S)
        http = client("127.0.0.2")
        if returning and device:
            http.cookies.set("crisis_device", device, path="/login")
        started = time.perf_counter()
        status, form_s = 0, float("nan")
        try:
            token = form_token(http, url)
            form_s = time.perf_counter() - started
            answer = http.post(f"{url}/login", data={"username": "legit", "password": PASSWORD, "csrf_token": token},
                               allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
            status = answer.status_code
        except (requests.RequestException, RuntimeError):
            pass
        finally:
            http.close()
        print(json.dumps({"seconds": time.perf_counter() - started, "form_s": form_s, "status": status,
                          "returning": returning}), flush=True)
        returning = not returning


def legit_sign_ins(url: str, seconds: float) -> subprocess.Popen[str]:
    """Start the legitimate user's process; returns once its first sign-in is done."""
    process = subprocess.Popen([sys.executable, __file__, "--probe", url, "--seconds", str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline() or "{}")
    if not ready.get("device"):
        raise RuntimeError(f"the legitimate user's first sign-in did not work: {ready}")
    return process


def run_phase(name: str, server: Server, sampler: MemorySampler, workers: int, seconds: float, sources: list[str],
              names: Any) -> dict[str, Any]:
    log(f"phase {name}: {workers} workers for {seconds:.0f} s")
    sampler.reset_peak()
    before = sampler.last_mb
    watcher = legit_sign_ins(server.url, seconds)
    assert server.pid is not None
    server_cpu, own_cpu = process_cpu_seconds(server.pid), time.process_time()
    started = time.perf_counter()
    counts, errors = flood(server.url, workers, seconds, sources, names)
    elapsed = time.perf_counter() - started
    server_cpu, own_cpu = process_cpu_seconds(server.pid) - server_cpu, time.process_time() - own_cpu
    out, _ = watcher.communicate(timeout=REQUEST_TIMEOUT_S + seconds)
    samples = [json.loads(line) for line in out.splitlines() if line.strip()]
    log(f"  legit sign-ins (s, form s, status, returning): "
        f"{[(round(x['seconds'], 2), round(x['form_s'], 2), x['status'], x['returning']) for x in samples]}")
    return {"name": name, "counts": counts, "errors": errors, "elapsed": elapsed, "rss_before": before,
            "rss_peak": sampler.peak_mb, "legit": samples, "server_cpu": server_cpu / elapsed,
            "client_cpu": own_cpu / elapsed, "load": os.getloadavg()[0]}


def _legit_cell(samples: list[dict[str, Any]]) -> tuple[str, bool]:
    """'signed in n/m, p50 / max s' for these sign-ins, and whether all met the target."""
    if not samples:
        return "none", False
    times = [x["seconds"] for x in samples]
    ok = [x for x in samples if x["status"] == 302]
    stats = summary_ms(times)
    met = len(ok) == len(samples) and max(times) < LEGIT_TARGET_S
    return f"{len(ok)}/{len(samples)}, {stats['p50'] / 1000:.2f} / {stats['max'] / 1000:.2f}", met


def run(seconds: float = 15.0, workers: int = 100) -> dict[str, Any]:
    """Both phases on one fresh server; the figures and the verdicts."""
    with Server() as server:
        add_user(server, "victim")
        add_user(server, "legit")
        assert server.pid is not None
        sampler = MemorySampler(server.pid)
        time.sleep(1.0)
        baseline = sampler.last_mb = sampler.peak_mb = sampler.rss_mb()
        sampler.start()
        phases = [
            run_phase("(a) one address", server, sampler, workers, seconds, ["127.0.0.1"],
                      lambda i, n: "victim" if (i + n) % 2 else f"nobody-{i}-{n}"),
            run_phase("(b) 100 addresses", server, sampler, workers, seconds,
                      [f"127.0.1.{k}" for k in range(1, workers + 1)], lambda i, n: f"ghost-{i}-{n}"),
        ]
        sampler.stop_event.set()
        sampler.join(timeout=2)
        hwm = _status_kb(server.pid, "VmHWM") / 1024
    legit = [x for phase in phases for x in phase["legit"]]
    peak = max([hwm, *(phase["rss_peak"] for phase in phases)])
    memory_met = peak < MEMORY_TARGET_MB
    legit_met = all(_legit_cell([x for x in phase["legit"] if x["returning"] is returning])[1]
                    for phase in phases for returning in (True, False))
    return {"seconds": seconds, "workers": workers, "machine": machine_info(), "phases": phases,
            "baseline_mb": baseline, "hwm_mb": hwm, "peak_mb": peak, "legit": legit,
            "legit_ok": sum(1 for x in legit if x["status"] == 302),
            "legit_max_s": max((x["seconds"] for x in legit), default=float("nan")),
            "memory_met": memory_met, "legit_met": legit_met, "target_met": memory_met and legit_met}


def format_result(r: dict[str, Any]) -> str:
    """One run as markdown: a row per phase, then the verdicts (no heading)."""
    machine = r["machine"]
    slots = min(2, max(1, (os.cpu_count() or 2) - 1))
    lines = [
        f"Machine: {machine['cpu']}, {machine['nproc']} CPUs, Python {machine['python']}. "
        f"{r['workers']} client threads (same machine), {r['seconds']:.0f} s a phase, server defaults: "
        f"{slots} password check(s) at once (CRISIS_MAX_CONCURRENT_HASHES=2, less one core for the rest), "
        "20 failed sign-ins a minute per account, 60 per address. The legitimate user signs in every "
        f"{LEGIT_EVERY_S:.0f} s from another address, alternately from a browser that signed in before "
        "(device cookie) and from a new one.",
        "",
        "| phase | answers | 401 wrong | 429 throttled | 503 busy | other | answers/s | password checks/s | "
        "server RSS before → peak (MB) | legit, returning browser: ok, p50 / max (s) | legit, new browser: ok, p50 / max (s) | "
        "CPU cores used: server / flood client / load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    met_returning = met_new = True
    for phase in r["phases"]:
        counts = Counter({int(k): v for k, v in phase["counts"].items()})
        total = sum(counts.values())
        other = total - counts[401] - counts[429] - counts[503]
        returning, ok_returning = _legit_cell([x for x in phase["legit"] if x["returning"]])
        new, ok_new = _legit_cell([x for x in phase["legit"] if not x["returning"]])
        met_returning = met_returning and ok_returning
        met_new = met_new and ok_new
        lines.append(
            f"| {phase['name']} | {total} | {counts[401]} | {counts[429]} | {counts[503]} | {other} | "
            f"{total / phase['elapsed']:.1f} | {counts[401] / phase['elapsed']:.1f} | "
            f"{phase['rss_before']:.0f} → {phase['rss_peak']:.0f} | {returning} | {new} | "
            f"{phase['server_cpu']:.2f} / {phase['client_cpu']:.2f} / {phase['load']:.1f} |"
        )
    verdict = {True: "met", False: "NOT met"}
    lines += [
        "",
        f"Server RSS at rest: {r['baseline_mb']:.0f} MB; high-water mark over the whole run (VmHWM): "
        f"{r['hwm_mb']:.0f} MB.",
        f"Targets: server memory under {MEMORY_TARGET_MB:.0f} MB: **{verdict[r['memory_met']]}**; "
        f"a legitimate sign-in under {LEGIT_TARGET_S:.0f} s: **{verdict[met_returning]}** from a browser that signed "
        f"in before, **{verdict[met_new]}** from a new one.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--workers", type=int, default=100, help="concurrent wrong-password clients")
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)  # the legitimate user's process
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.seconds)
        return 0

    print("## Sign-in under a flood of wrong passwords (benchmarks/login_flood.py)\n")
    print(format_result(run(args.seconds, args.workers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
