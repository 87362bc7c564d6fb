"""Shared benchmark plumbing: a fresh server in a subprocess, tokens, percentiles.

Every benchmark starts its own ``crisis serve`` on a free 127.0.0.1 port, with a new
temporary data directory (so a fresh embedded Redis) and the external feeds off, and
tears it down at the end: the server runs in its own process group, which is
terminated (SIGTERM: the server leaves through its cleanup, which shuts down the
embedded redis-server it was the last user of), then any redis-server still recorded in
the data directory is stopped and the directory removed. Every wait here has a deadline.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
CRISIS = VENV_BIN / "crisis"
HOST = "127.0.0.1"

START_TIMEOUT_S = 90.0
CLI_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """``crisis serve`` on a fresh data directory; use as a context manager."""

    def __init__(self, extra_env: dict[str, str] | None = None, keep_data: bool = False,
                 instrumented: bool = False) -> None:
        """``instrumented`` runs benchmarks/serve_instrumented.py (same app, stage timers
        and GET /_bench/stats) instead of ``crisis serve``: for diagnosis only."""
        self.instrumented = instrumented
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="crisis-bench-"))
        self.log_path = self.data_dir / "server.log"
        self.keep_data = keep_data
        env = dict(os.environ)
        env.pop("REDIS_URL", None)  # always the embedded Redis of this fresh data dir
        env.update(
            CRISIS_DATA_DIR=str(self.data_dir),
            CRISIS_FEEDS="0",
            CRISIS_HOST=HOST,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env or {})
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Server:
        self._log_file = open(self.log_path, "wb")
        if self.instrumented:
            command = [str(VENV_BIN / "python"), str(ROOT / "benchmarks" / "serve_instrumented.py")]
        else:
            command = [str(CRISIS), "serve"]
        self.process = subprocess.Popen(
            [*command, "--host", HOST, "--port", str(self.port)],
            env=self.env,
            cwd=str(ROOT),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole in stop()
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                message = f"the server exited with {self.process.returncode}:\n{self.log_tail()}"
                self.stop()  # __exit__ does not run when __enter__ raises: clean up here
                raise RuntimeError(message)
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                message = f"the server did not answer /healthz within {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}"
                self.stop()
                raise RuntimeError(message)
            time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=STOP_TIMEOUT_S)
        if process is not None:
            # The group may outlive its leader briefly (redis-server shutting down).
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline and _group_alive(process.pid):
                time.sleep(0.05)
            if _group_alive(process.pid):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        _stop_embedded_redis(self.data_dir)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stats(self, token: str, reset: bool = False) -> dict[str, Any]:
        """Stage timings of an instrumented server (see serve_instrumented.py)."""
        answer = requests.get(f"{self.url}/_bench/stats", params={"reset": "1"} if reset else {},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def token(self, name: str, role: str) -> str:
        """A new API token via ``crisis tokens create`` (printed alone on the last line)."""
        done = subprocess.run(
            [str(CRISIS), "tokens", "create", name, "--role", role],
            env=self.env,
            cwd=str(ROOT),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise RuntimeError(f"crisis tokens create failed ({done.returncode}): {done.stderr[-2000:]}")
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError("crisis tokens create printed nothing")
        return lines[-1]

    def add_user(self, name: str, role: str, password: str, region: str | None = None) -> None:
        """A new account via ``crisis users add`` (the password on stdin)."""
        args = [str(CRISIS), "users", "add", name, "--role", role] + (["--region", region] if region else [])
        done = subprocess.run(args, input=password + "\n", env=self.env, cwd=str(ROOT), capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"crisis users add {name} failed ({done.returncode}): {done.stderr[-2000:]}")


def seed_travellers(url: str, token: str, places: dict[str, tuple[float, float]] | list[str],
                    batch: int = 5_000) -> None:
    """Import a traveller for each id (POST /api/v1/travellers), their duty station at its
    place (``places``: id -> (lat, lon); a plain list of ids: all in Nairobi). The API
    refuses a position of a traveller never imported, so a benchmark seeds them first."""
    where = places if isinstance(places, dict) else dict.fromkeys(places, (-1.286, 36.817))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    ids = list(where)
    for start in range(0, len(ids), batch):
        rows = [{"id": tid, "name": f"Traveller {tid}", "agency": "UNDP", "category": "international_staff",
                 "duty_station": {"name": "Duty station", "lat": where[tid][0], "lon": where[tid][1]}}
                for tid in ids[start:start + batch]]
        answer = session.post(f"{url}/api/v1/travellers", json=rows, timeout=300)
        if answer.status_code != 200 or answer.json()["rejected"]:
            raise RuntimeError(f"seeding travellers answered {answer.status_code}: {answer.text[:300]}")


def seed_positions(url: str, token: str, travellers: int, point: Callable[[int], tuple[float, float]],
                   prefix: str = "T", batch: int = 10_000) -> dict[str, list[float]]:
    """A traveller (``seed_travellers``) and a position for each of ``travellers`` travellers
    ("T000000"...), traveller ``i`` at ``point(i)``, POSTed in batches; returns id -> [lat, lon]."""
    positions: dict[str, list[float]] = {}
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for i in range(travellers):
        lat, lon = point(i)
        positions[f"{prefix}{i:06d}"] = [lat, lon]
    seed_travellers(url, token, {tid: (lat, lon) for tid, (lat, lon) in positions.items()})
    ids = list(positions)
    for start in range(0, travellers, batch):
        rows = [{"traveller_id": tid, "lat": positions[tid][0], "lon": positions[tid][1]} for tid in ids[start:start + batch]]
        answer = session.post(f"{url}/api/v1/positions", json=rows, timeout=120)
        if answer.status_code != 202:
            raise RuntimeError(f"seeding positions answered {answer.status_code}: {answer.text[:300]}")
    return positions


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds used so far by a process and its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def children_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# -- statistics ------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, nearest-rank method."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/min/mean of a list of durations in seconds, as milliseconds."""
    values = sorted(values_s)
    if not values:
        return {k: float("nan") for k in ("n", "min", "p50", "p90", "p99", "max", "mean")}
    return {
        "n": len(values),
        "min": values[0] * 1000,
        "p50": percentile(values, 50) * 1000,
        "p90": percentile(values, 90) * 1000,
        "p99": percentile(values, 99) * 1000,
        "max": values[-1] * 1000,
        "mean": sum(values) / len(values) * 1000,
    }


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count() or "?"),
        "affinity": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "?",
        "cpu": model,
        "python": sys.version.split()[0],
    }


def format_stats(stats: dict[str, Any], per: int = 0, per_label: str = "") -> str:
    """An instrumented server's stage timings as a markdown table."""
    lines = [
        "| stage | calls | wall p50 (ms) | wall p99 (ms) | wall max (ms) | mean wall (ms) | mean CPU (ms) |"
        + (f" CPU per {per_label} (ms) |" if per else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if per else ""),
    ]
    stages = sorted(stats["stages"].items(), key=lambda kv: -kv[1]["cpu_total_s"])
    for name, s in stages:
        line = (f"| {name} | {s['n']} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} | "
                f"{s['mean_ms']:.3f} | {s['cpu_mean_ms']:.3f} |")
        if per:
            line += f" {1000 * s['cpu_total_s'] / per:.2f} |"
        lines.append(line)
    lines.append("")
    lines.append("CPU seconds by server thread (live threads, whole run): " + ", ".join(
        f"{k} {v:.1f}" for k, v in list(stats.get("threads_cpu_s", {}).items())[:8]))
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- synthetic data ----------------------------------------------------------------------

# (lat_min, lat_max, lon_min, lon_max): boxes that are mostly land, spread over regions.
LAND_BOXES = (
    (43.0, 54.0, -1.0, 15.0),      # western and central Europe
    (33.0, 42.0, -100.0, -80.0),   # United States
    (-20.0, -5.0, -55.0, -40.0),   # Brazil
    (0.0, 12.0, 10.0, 35.0),       # central and west Africa
    (15.0, 28.0, 73.0, 85.0),      # India
    (25.0, 40.0, 100.0, 118.0),    # China
    (-32.0, -22.0, 120.0, 148.0),  # Australia
    (25.0, 35.0, 38.0, 55.0),      # Middle East
    (52.0, 60.0, 40.0, 90.0),      # Russia
    (-30.0, -20.0, 20.0, 30.0),    # southern Africa
)


def land_point(rng: Any) -> tuple[float, float]:
    """A random (lat, lon) on (mostly) land; ``rng`` is a random.Random."""
    lat0, lat1, lon0, lon1 = LAND_BOXES[rng.randrange(len(LAND_BOXES))]
    return round(rng.uniform(lat0, lat1), 6), round(rng.uniform(lon0, lon1), 6)


def _stop_embedded_redis(data_dir: Path) -> None:
    """Safety net: the embedded redis-server of a server that died without its cleanup."""
    try:
        record = json.loads((data_dir / "redis" / "redis.json").read_text())
        cmdline = Path(f"/proc/{record['pid']}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError):
        return
    if b"redis-server" in cmdline or b"valkey-server" in cmdline:  # the embedded engine (ADR 005)
        try:
            os.kill(record["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
