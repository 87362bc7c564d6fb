"""How fast a Redis outage is answered, and how fast the app recovers (issue 10, H1).

    .venv/bin/python benchmarks/redis_outage.py [--rounds 5] [--markdown PATH]

Starts one ``crisis serve`` on its embedded redis-server (a temporary data directory) and,
``--rounds`` times:

* **stall**: SIGSTOP the redis-server; time GET /api/v1/incidents (a 503 JSON is expected
  after CRISIS_STORAGE_TIMEOUT, 0.5 s); SIGCONT; time until a 200 again;
* **kill -9**: SIGKILL the redis-server; time the first answer (503 at once) and until a 200
  (the app's watchdog restarts the server from its AOF: CRISIS_REDIS_WATCHDOG_SECONDS, 0.5 s).

Prints a table (p50 and max of each, in ms) and the load average, since the figures depend
on what else the machine does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crisis.adapters.accounts import AccountStore
from tests.conftest import _free_port, stop_process, wait_healthy


def _timed_get(url: str, token: str) -> tuple[int, float]:
    began = time.monotonic()
    status = requests.get(f"{url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
    return status, time.monotonic() - began


def _until_200(url: str, token: str, since: float, timeout_s: float = 60) -> float:
    while time.monotonic() - since < timeout_s:
        if _timed_get(url, token)[0] == 200:
            return time.monotonic() - since
        time.sleep(0.01)
    raise RuntimeError("no recovery within 60 s")


def run(rounds: int) -> dict[str, list[float]]:
    directory = Path(tempfile.mkdtemp(prefix="crisis-outage-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
    env.update(CRISIS_DATA_DIR=str(directory / "data"), CRISIS_PORT=str(port), CRISIS_FEEDS="0", SECRET_KEY="bench")
    crisis = Path(sys.executable).with_name("crisis")
    process = subprocess.Popen([str(crisis), "serve"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    figures: dict[str, list[float]] = {"stall: 503 answered": [], "stall: 200 after SIGCONT": [],
                                       "kill -9: 503 answered": [], "kill -9: 200 again (restarted)": []}
    try:
        if not wait_healthy(url, 60, process):
            raise RuntimeError("crisis serve did not start")
        record_path = directory / "data" / "redis" / "redis.json"
        record = json.loads(record_path.read_text())
        token = AccountStore(redis.Redis.from_url(record["url"], decode_responses=True)).create_token("bench", "duty_officer")
        for _ in range(rounds):
            pid = json.loads(record_path.read_text())["pid"]
            os.kill(pid, signal.SIGSTOP)
            status, took = _timed_get(url, token)
            assert status == 503, status
            figures["stall: 503 answered"].append(took)
            os.kill(pid, signal.SIGCONT)
            figures["stall: 200 after SIGCONT"].append(_until_200(url, token, time.monotonic()))
            time.sleep(1.0)
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            status, took = _timed_get(url, token)
            figures["kill -9: 503 answered"].append(took if status == 503 else float("nan"))
            figures["kill -9: 200 again (restarted)"].append(_until_200(url, token, killed))
            time.sleep(1.0)
    finally:
        stop_process(process)
        shutil.rmtree(directory, ignore_errors=True)
    return figures


def table(figures: dict[str, list[float]], rounds: int) -> str:
    lines = [f"Rounds: {rounds}; load average at the end: {os.getloadavg()[0]:.1f} (2 cores)", "",
             "| what | p50 ms | max ms |", "|---|---:|---:|"]
    for name, values in figures.items():
        good = [v for v in values if not math.isnan(v)]
        lines.append(f"| {name} | {statistics.median(good) * 1000:.0f} | {max(good) * 1000:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    text = table(run(args.rounds), args.rounds)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
