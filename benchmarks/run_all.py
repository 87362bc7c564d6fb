"""Run the benchmarks and (re)write BENCHMARKS.md.

    .venv/bin/python benchmarks/run_all.py

Each benchmark runs ``--repeat`` times (default 3), each time on a fresh server
(``crisis serve`` on a free 127.0.0.1 port, new data directory, feeds off), because one
run on a small shared machine can land on either side of a target. A target's verdict
uses the runs pooled (every (incident, client) latency of every run; all accepted
positions over all windows), and every single run is listed next to it.

    .venv/bin/python benchmarks/run_all.py --only login_flood,socket_flood

(``affected`` needs no server: it times ``crisis.fusion.affected`` in process, also
``--repeat`` times.)

runs just the named benchmarks (see BENCHMARKS below) and replaces only their numbered
sections and their rows of the Targets table in the existing BENCHMARKS.md; the rest of
the file is left as it is. A full run (no ``--only``) also makes the diagnostic runs.

Then come diagnostic runs (skip them with ``--no-diagnostics``): the incident fan-out
with light raw-websocket clients in other processes on an instrumented server
(benchmarks/serve_instrumented.py, the same app with stage timers), the same with a
single client, and the position ingest on the instrumented server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import affected  # noqa: E402
import people_memory  # noqa: E402
import cap_ingest  # noqa: E402
import event_to_pixel  # noqa: E402
import incident_latency  # noqa: E402
import login_flood  # noqa: E402
import positions_throughput  # noqa: E402
import roster  # noqa: E402
import socket_flood  # noqa: E402
import workspaces  # noqa: E402
from common import ROOT, format_stats, log, machine_info, percentile, summary_ms  # noqa: E402

OUTPUT = ROOT / "BENCHMARKS.md"
COMMAND = ".venv/bin/python benchmarks/run_all.py"
# The benchmarks in the order of their numbered sections ("## 1. ... (`benchmarks/NAME.py`)").
BENCHMARKS = ("incident_latency", "positions_throughput", "cap_ingest", "login_flood", "socket_flood", "affected",
              "people_memory", "event_to_pixel", "roster", "workspaces")
Attempt = tuple[dict[str, Any] | None, str | None]


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _attempt(name: str, fn: Any, *args: Any, **kwargs: Any) -> Attempt:
    load = _loadavg()
    log(f"== {name} (load average {load})")
    started = time.monotonic()
    try:
        result = fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - reported in BENCHMARKS.md, the run goes on
        error = traceback.format_exc()
        log(error)
        return None, error
    result["load_before"] = load
    result["duration_s"] = time.monotonic() - started
    log(f"   done in {result['duration_s']:.0f} s")
    return result, None


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _ok(attempts: list[Attempt]) -> list[dict[str, Any]]:
    return [r for r, _ in attempts if r is not None]


def _errors(attempts: list[Attempt]) -> list[str]:
    return [e for _, e in attempts if e]


# -- pooled verdicts -----------------------------------------------------------------------


def pool_incidents(results: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for r in results for x in r["_raw_latency_s"]]
    pooled = summary_ms(latencies)
    lost = sum(r["lost"] for r in results)
    expected = sum(r["pairs_expected"] for r in results)
    met = bool(results) and lost == 0 and pooled["p99"] < incident_latency.TARGET_P99_MS
    runs_met = sum(1 for r in results if r["target_met"])
    return {"latency_ms": pooled, "lost": lost, "expected": expected, "met": met, "runs_met": runs_met,
            "runs": len(results)}


def pool_positions(results: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = sum(r["accepted"] for r in results)
    window = sum(r["window_s"] for r in results)
    rate = accepted / window if window else 0.0
    errors = sum(r["error_count"] for r in results)
    projection_ok = all(r["projection_ok"] for r in results)
    met = bool(results) and rate >= positions_throughput.TARGET_POSITIONS_PER_S and not errors and projection_ok
    return {"rate": rate, "errors": errors, "projection_ok": projection_ok, "met": met,
            "runs_met": sum(1 for r in results if r["target_met"]), "runs": len(results),
            "post_ms": summary_ms([x for r in results for x in r["_raw_post_s"]])}


def pool_login(results: list[dict[str, Any]]) -> dict[str, Any]:
    legit = [x for r in results for x in r["legit"]]
    return {"peak_mb": max((r["peak_mb"] for r in results), default=float("nan")),
            "legit": len(legit), "legit_ok": sum(r["legit_ok"] for r in results),
            "legit_s": summary_ms([x["seconds"] for x in legit]),
            "met": bool(results) and all(r["target_met"] for r in results),
            "runs_met": sum(1 for r in results if r["target_met"]), "runs": len(results)}


def pool_socket(results: list[dict[str, Any]]) -> dict[str, Any]:
    quiet = summary_ms([x for r in results for x in r["_raw_quiet_s"]])
    flood = summary_ms([x for r in results for x in r["_raw_flood_s"]])
    ratio = flood["p99"] / quiet["p99"] if results and quiet["p99"] else float("nan")
    return {"quiet": quiet, "flood": flood, "ratio": ratio,
            "met": bool(results) and ratio <= socket_flood.TARGET_RATIO,
            "runs_met": sum(1 for r in results if r["target_met"]), "runs": len(results)}


def pool_affected(results: list[dict[str, Any]]) -> dict[str, Any]:
    full = [x for r in results for x in r["_raw_full_ms"]]
    inc = [x for r in results for x in r["_raw_incremental_ms"]]
    full_ms = statistics.median(full) if full else float("nan")
    inc_ms = statistics.median(inc) if inc else float("nan")
    return {"full_ms": full_ms, "full_n": len(full), "full_max": max(full, default=float("nan")),
            "inc_ms": inc_ms, "inc_n": len(inc), "inc_max": max(inc, default=float("nan")),
            "full_met": bool(results) and full_ms < affected.TARGET_FULL_MS,
            "inc_met": bool(results) and inc_ms < affected.TARGET_INCREMENTAL_MS,
            "full_runs_met": sum(1 for r in results if r["target_full_met"]),
            "inc_runs_met": sum(1 for r in results if r["target_incremental_met"]), "runs": len(results)}


def _verdict(met: bool, runs_met: int, runs: int, failed: int) -> str:
    if failed or not runs:
        return f"**NOT MET** ({failed} of {runs + failed} runs failed)" if failed else "**NOT MET** (no run)"
    if met and runs_met == runs:
        return f"**MET** (in each of the {runs} runs)"
    if met:
        return f"**MET** pooled, but only {runs_met} of {runs} single runs met it"
    return f"**NOT MET** ({runs_met} of {runs} single runs met it)"


def _where(name: str) -> str:
    """The tag that ties a Targets row to its section (and lets --only find the row)."""
    return f"(section {BENCHMARKS.index(name) + 1}: `benchmarks/{name}.py`)"


def _details(results: list[dict[str, Any]], fmt: Any) -> list[str]:
    lines: list[str] = []
    for i, r in enumerate(results, 1):
        lines += ["", f"<details><summary>Run {i}, in full</summary>", "", fmt(r).strip(), "", "</details>"]
    return lines


def _failures(attempts: list[Attempt]) -> list[str]:
    lines: list[str] = []
    for err in _errors(attempts):
        lines += ["", "A run failed:", "", "```", err[-3000:], "```"]
    return lines


# -- the report: a Targets row (or none) and a numbered section per benchmark ---------------


def report_incident_latency(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[str | None, list[str]]:
    incs: list[Attempt] = runs["incident_latency"]
    inc_ok = _ok(incs)
    inc_pool = pool_incidents(inc_ok)
    per_run_inc = ", ".join(f"{_fmt(r['latency_ms']['p99'])} ms" for r in inc_ok) or "-"
    row = (
        f"| p99 < 50 ms from an incident POST's response to its \"incident\" event on each of {args.clients} "
        f"Socket.IO clients, none lost {_where('incident_latency')} | p99 {_fmt(inc_pool['latency_ms']['p99'])} ms, "
        f"{inc_pool['lost']} lost of {inc_pool['expected']} | p99 {per_run_inc} | "
        f"{_verdict(inc_pool['met'], inc_pool['runs_met'], inc_pool['runs'], len(_errors(incs)))} |")
    lines = [
        "## 1. Incident POST -> Socket.IO receipt (`benchmarks/incident_latency.py`)",
        "",
        f"There are {args.clients} python-socketio clients in the benchmark process (`transports=['websocket']`, "
        f"namespace `/live`, duty_officer token). {args.incidents} incidents are POSTed one after another with "
        "random 5-20 ms pauses. Half of them have a `radius_km`, so their push carries a geodesic circle. "
        "The latency is the `time.perf_counter()` reading when a client's `incident` handler runs for that id, "
        "minus the reading when the POST's response came back. It is taken for every (incident, client) pair. "
        "It can be negative, because the push often arrives before the HTTP answer. "
        "One more probe client runs in its own process. It uses a raw websocket, without python-socketio, and "
        "shares no GIL with the other clients, so it shows what the server delivers without their overhead. "
        "Rows that use XADD read the time from the incident's stream id, which is the Redis clock at 1 ms "
        "resolution.",
        "",
        "| run | load avg before | p50 | p90 | p99 | max | lost | POST round trip p50 / p99 | probe p99 | "
        "frame -> handler p99 (client side) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(inc_ok, 1):
        s = r["latency_ms"]
        probe = r.get("probe", {}).get("latency_ms", {}).get("p99", float("nan"))
        lines.append(
            f"| {i} | {r['load_before']} | {_fmt(s['p50'])} | {_fmt(s['p90'])} | {_fmt(s['p99'])} | {_fmt(s['max'])} | "
            f"{r['lost']} | {_fmt(r['post_rtt_ms']['p50'])} / {_fmt(r['post_rtt_ms']['p99'])} | {_fmt(probe)} | "
            f"{_fmt(r['client_dispatch_ms']['p99'])} |")
    p = inc_pool["latency_ms"]
    lines.append(f"| **pooled** | | {_fmt(p['p50'])} | {_fmt(p['p90'])} | **{_fmt(p['p99'])}** | {_fmt(p['max'])} | "
                 f"{inc_pool['lost']} | | | |")
    lines.append("")
    lines.append("All times are in ms.")
    return row, lines + _details(inc_ok, incident_latency.format_result) + _failures(incs)


def report_positions_throughput(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[str | None, list[str]]:
    poss: list[Attempt] = runs["positions_throughput"]
    pos_ok = _ok(poss)
    pos_pool = pool_positions(pos_ok)
    per_run_pos = ", ".join(f"{_fmt(r['positions_per_s'], 0)}/s" for r in pos_ok) or "-"
    row = (
        f"| >= 20,000 positions/s accepted through batched POSTs {_where('positions_throughput')} | "
        f"{_fmt(pos_pool['rate'], 0)} positions/s ({args.threads} threads x {args.batch}/batch), "
        f"{pos_pool['errors']} errors, projection {'matches' if pos_pool['projection_ok'] else 'DOES NOT match'} | "
        f"{per_run_pos} | {_verdict(pos_pool['met'], pos_pool['runs_met'], pos_pool['runs'], len(_errors(poss)))} |")
    lines = [
        "## 2. Position ingest (`benchmarks/positions_throughput.py`)",
        "",
        f"{args.threads} threads POST batches of {args.batch} positions back to back for {args.seconds:.0f} s, "
        "after a 2 s warm-up. Each thread has its own `requests.Session` and a feed token. Traveller ids are drawn "
        "from 50,000, all imported first (a position of a traveller never imported is refused: the server checks "
        "every batch's ids, one Lua loop per batch, inside the measured time), and the points lie in mostly-land "
        "boxes on several continents. The bodies are encoded before "
        "the clock starts. Only requests that finish inside the window count. Afterwards "
        "`GET /api/v1/positions` (duty_officer) must list exactly the distinct travellers that were sent.",
        "",
        "| run | load avg before | positions/s | batches/s | POST p50 / p99 (ms) | errors | travellers sent / "
        "projected | server CPU per batch (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(pos_ok, 1):
        lines.append(
            f"| {i} | {r['load_before']} | {_fmt(r['positions_per_s'], 0)} | {_fmt(r['batches_per_s'], 2)} | "
            f"{_fmt(r['post_ms']['p50'])} / {_fmt(r['post_ms']['p99'])} | {r['error_count']} | "
            f"{r['expected_travellers']:,} / {r['projected_count']:,} | "
            f"{_fmt(1000 * r['server_cpu_s'] / max(r['batches'], 1))} |")
    lines.append(f"| **pooled** | | **{_fmt(pos_pool['rate'], 0)}** | | {_fmt(pos_pool['post_ms']['p50'])} / "
                 f"{_fmt(pos_pool['post_ms']['p99'])} | {pos_pool['errors']} | | |")
    return row, lines + _details(pos_ok, positions_throughput.format_result) + _failures(poss)


def report_cap_ingest(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[str | None, list[str]]:
    cap, cap_error = runs["cap_ingest"]
    if cap is not None:
        return None, cap_ingest.format_markdown(cap["in_process"], cap["end_to_end"]).replace(
            "## CAP intake", "## 3. CAP intake", 1).splitlines()
    return None, ["## 3. CAP intake (`benchmarks/cap_ingest.py`)", "", "The run failed:", "", "```",
                  (cap_error or "")[-3000:], "```"]


def report_login_flood(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[str | None, list[str]]:
    attempts: list[Attempt] = runs["login_flood"]
    ok = _ok(attempts)
    pool = pool_login(ok)
    target = (f"server memory < {login_flood.MEMORY_TARGET_MB:.0f} MB and every legitimate sign-in "
              f"< {login_flood.LEGIT_TARGET_S:.0f} s")
    verdict = _verdict(pool["met"], pool["runs_met"], pool["runs"], len(_errors(attempts)))
    legit = pool["legit_s"]
    per_run = ", ".join(f"{_fmt(r['peak_mb'], 0)} MB / {_fmt(r['legit_max_s'], 2)} s" for r in ok) or "-"
    row = (f"| {target} while {args.login_workers} clients post wrong passwords {_where('login_flood')} | "
           f"peak RSS {_fmt(pool['peak_mb'], 0)} MB; legitimate sign-ins {pool['legit_ok']}/{pool['legit']} ok, "
           f"max {_fmt(legit['max'] / 1000, 2)} s | peak / slowest sign-in: {per_run} | {verdict} |")
    lines = [
        "## 4. Sign-in under a password-guessing flood (`benchmarks/login_flood.py`)",
        "",
        f"Command for one run: `.venv/bin/python benchmarks/login_flood.py --seconds {args.login_seconds:g} "
        f"--workers {args.login_workers}`. Here it ran {args.repeat} times, each on a fresh server.",
        "",
        f"The server has two users with the duty_officer role: `victim`, who is attacked, and `legit`, who is not. "
        f"{args.login_workers} client threads in the benchmark process POST wrong passwords to `/login` as fast as "
        "they are answered, each with the CSRF token of its own session. There are two phases of "
        f"{args.login_seconds:.0f} s. In (a) all of them come from 127.0.0.1, half as `victim` and half under "
        "unknown names, so the limits on failed sign-ins per address and per account come into play. In (b) each "
        f"thread has its own loopback address (127.0.1.1 to 127.0.1.{args.login_workers}) and unknown names only, "
        "so no limit stops them early. Then only the bound on concurrent password hashes "
        "(`CRISIS_MAX_CONCURRENT_HASHES`, 64 MiB each) holds the memory. Meanwhile `legit` signs in every "
        f"{login_flood.LEGIT_EVERY_S:.0f} s from 127.0.0.2, in a process of its own: a fresh session GETs the form "
        "and POSTs it, alternately from a browser that signed in before (device cookie) and from a new one. "
        "The time to its redirect is measured. The server's resident memory (RSS) is sampled every 50 ms, and its "
        "high-water mark (VmHWM) is read at the end. Throughput is answers to the flood per second (401 wrong "
        "password, 429 throttled, 503 busy) and password checks (the 401s) per second.",
        "",
        "| run | load avg before | answers/s (a) / (b) | password checks/s (a) / (b) | 429 throttled / 503 busy | "
        "server RSS at rest / peak (MB) | legitimate sign-ins ok | legitimate sign-in p50 / max (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(ok, 1):
        rates, checks, refused = [], [], [0, 0]
        for phase in r["phases"]:
            counts = {int(k): v for k, v in phase["counts"].items()}
            rates.append(_fmt(sum(counts.values()) / phase["elapsed"]))
            checks.append(_fmt(counts.get(401, 0) / phase["elapsed"]))
            refused = [refused[0] + counts.get(429, 0), refused[1] + counts.get(503, 0)]
        s = summary_ms([x["seconds"] for x in r["legit"]])
        lines.append(
            f"| {i} | {r['load_before']} | {' / '.join(rates)} | {' / '.join(checks)} | {refused[0]} / {refused[1]} | "
            f"{_fmt(r['baseline_mb'], 0)} / {_fmt(r['peak_mb'], 0)} | {r['legit_ok']}/{len(r['legit'])} | "
            f"{_fmt(s['p50'] / 1000, 2)} / {_fmt(s['max'] / 1000, 2)} |")
    lines += [
        f"| **all runs** | | | | | peak **{_fmt(pool['peak_mb'], 0)}** | {pool['legit_ok']}/{pool['legit']} | "
        f"{_fmt(legit['p50'] / 1000, 2)} / **{_fmt(legit['max'] / 1000, 2)}** |",
        "",
        f"Target: {target}. {verdict}.",
    ]
    return row, lines + _details(ok, login_flood.format_result) + _failures(attempts)


def report_socket_flood(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[str | None, list[str]]:
    attempts: list[Attempt] = runs["socket_flood"]
    ok = _ok(attempts)
    pool = pool_socket(ok)
    target = f"the API's p99 while a socket floods `sync` within {socket_flood.TARGET_RATIO:g}x of its quiet p99"
    verdict = _verdict(pool["met"], pool["runs_met"], pool["runs"], len(_errors(attempts)))
    q, f = pool["quiet"], pool["flood"]
    per_run = ", ".join(f"{r['p99_ratio']:.2f}x" for r in ok) or "-"
    row = (f"| API p99 (GET /api/v1/incidents) while another client floods socket `sync` within "
           f"{socket_flood.TARGET_RATIO:g}x of the quiet p99 {_where('socket_flood')} | quiet p99 {_fmt(q['p99'])} ms, "
           f"flood p99 {_fmt(f['p99'])} ms: {pool['ratio']:.2f}x | {per_run} | {verdict} |")
    rounds = ok[0]["rounds"] if ok else 3
    lines = [
        "## 5. API latency while a socket floods sync (`benchmarks/socket_flood.py`)",
        "",
        f"Command for one run: `.venv/bin/python benchmarks/socket_flood.py --seconds {args.flood_seconds:g} "
        f"--rounds {rounds} --incidents {args.flood_incidents} --travellers {args.flood_travellers}`. "
        f"Here it ran {args.repeat} times, each on a fresh server.",
        "",
        f"The server is seeded with {args.flood_incidents} incidents (each with a `radius_km`) and "
        f"{args.flood_travellers:,} traveller positions, so that a full resync costs what it would in a real "
        "centre. A reader (`requests.Session`, duty_officer token) calls `GET /api/v1/incidents` back to back, "
        "and the wall time of each call is its latency. There are "
        f"{rounds} rounds of a quiet phase and a flood phase, {args.flood_seconds / rounds:.0f} s each, so "
        f"{args.flood_seconds:.0f} s of each kind in all. They alternate so that a change in the machine's other "
        "load hits both alike. In a flood phase another client emits `sync` with no ids (each one asks for the "
        f"whole picture) every {socket_flood.FLOOD_MIN_S * 1000:.0f}-{socket_flood.FLOOD_MAX_S * 1000:.0f} ms. "
        "It is a minimal Socket.IO client over a raw websocket, in a process of its own, with a duty_officer "
        "token (the role with the most to send). The server's per-connection limit on socket events "
        "(`CRISIS_SOCKET_EVENTS_PER_SECOND`, `CRISIS_SOCKET_EVENT_BURST`, left at their defaults) refuses the "
        "excess as rate limited.",
        "",
        "| run | load avg before | quiet: calls, p50 / p99 (ms) | flood: calls, p50 / p99 (ms) | p99 flood / quiet | "
        "`sync` sent / served / rate limited | server CPU quiet / flood (s/s) | server RSS before / max during "
        "(MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(ok, 1):
        c, cpu, rss = r["flooder"], r["server_cpu_s_per_s"], r["rss_mib"]
        lines.append(
            f"| {i} | {r['load_before']} | {r['quiet']['n']}, {_fmt(r['quiet']['p50'])} / {_fmt(r['quiet']['p99'])} | "
            f"{r['flood']['n']}, {_fmt(r['flood']['p50'])} / {_fmt(r['flood']['p99'])} | {r['p99_ratio']:.2f} | "
            f"{c['sent']} / {c['served']} / {c['rate_limited']} | {cpu['quiet']:.2f} / {cpu['flood']:.2f} | "
            f"{_fmt(rss['before_flood'], 0)} / {_fmt(rss['during_flood'], 0)} |")
    lines += [
        f"| **pooled** | | {q['n']}, {_fmt(q['p50'])} / **{_fmt(q['p99'])}** | {f['n']}, {_fmt(f['p50'])} / "
        f"**{_fmt(f['p99'])}** | **{pool['ratio']:.2f}** | | | |",
        "",
        f"Target: {target}. {verdict}.",
    ]
    # format_result's own heading repeats what is said above
    return row, lines + _details(ok, lambda r: socket_flood.format_result(r).partition("\n\n")[2]) + _failures(attempts)


def report_affected(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[list[str], list[str]]:
    attempts: list[Attempt] = runs["affected"]
    ok = _ok(attempts)
    pool = pool_affected(ok)
    failed = len(_errors(attempts))
    first = ok[0] if ok else None
    per_full = ", ".join(f"{_fmt(r['full_ms'])} ms" for r in ok) or "-"
    per_inc = ", ".join(f"{_fmt(r['incremental_ms'], 2)} ms" for r in ok) or "-"
    naive = sorted(r["naive_full_s"] for r in ok)
    naive_s = (f"~{_fmt(naive[0], 0)}" + (f"-{_fmt(naive[-1], 0)}" if len(naive) > 1 else "")) if naive else "-"
    world = (f"{first['travellers']:,} travellers x {first['incidents']:,} areas" if first
             else "100,000 travellers x 1,000 areas")
    rows = [
        f"| full recompute of who is affected, {world}, < {affected.TARGET_FULL_MS:.0f} ms (in process, no server) "
        f"{_where('affected')} | median {_fmt(pool['full_ms'])} ms over {pool['full_n']} joins, max "
        f"{_fmt(pool['full_max'])} ms; naive per-pair loop {naive_s} s "
        f"(extrapolated from a subset) | median {per_full} | "
        f"{_verdict(pool['full_met'], pool['full_runs_met'], pool['runs'], failed)} |",
        f"| incremental batch of {first['batch'] if first else 1000:,} position updates, "
        f"< {affected.TARGET_INCREMENTAL_MS:.0f} ms {_where('affected')} | median {_fmt(pool['inc_ms'], 2)} ms over "
        f"{pool['inc_n']} batches, max {_fmt(pool['inc_max'], 2)} ms | median {per_inc} | "
        f"{_verdict(pool['inc_met'], pool['inc_runs_met'], pool['runs'], failed)} |",
    ]
    lines = [
        "## 6. Who is affected: 100,000 travellers x 1,000 areas (`benchmarks/affected.py`)",
        "",
        "Command for one run: `.venv/bin/python benchmarks/affected.py` (defaults: 100,000 travellers, 1,000 "
        f"areas, batches of 1,000, seed 7, no buffer). Here it ran {args.repeat} times in the runner's process, "
        "one after another. There is no server: it times the pure functions of `crisis.fusion.affected` on one "
        "CPU thread (numpy, shapely).",
        "",
        "What is measured. *Full recompute*: `AreaIndex.join` of every traveller against every area, timed "
        f"{first['full_repeat'] if first else affected.FULL_REPEAT} times per run. Building the `AreaIndex` "
        "happens once per change of incidents and is timed separately; it is not part of the target. "
        f"*Incremental batch*: `Membership.update` with {first['batch'] if first else 1000:,} position updates. "
        f"There are {first['batches'] if first else affected.BATCHES} batches per run. Each moves travellers "
        "picked at random: 70 % walk (~0.01 degrees), 25 % drive (~0.2 degrees) and 5 % fly (~3 degrees). "
        "After the batches, the incremental state is checked against a full recompute, and the run fails if "
        "they differ.",
        "",
        "The world is seeded (seed 7), so every run has the same world and the runs differ only in timing. "
        "Travellers cluster around 300 duty-station hubs on land, plus one hub in Fiji on the antimeridian and "
        "one in Svalbard. 10 % of travellers are scattered over land. Of the incidents, half lie within about 2 "
        "degrees of a hub and the rest anywhere on land. About a third of the areas are circles with a "
        "`radius_km` (5-200 km), a sixth are circles with the default radius for their severity, and the rest are "
        "irregular geodesic polygons (10-150 km), some of them MultiPolygons and some across the antimeridian."
        + (" In this world: " + ", ".join(f"{v} {k}" for k, v in first["kinds"].items())
           + f"; {first['people']:,} travellers are affected, in {first['pairs']:,} (traveller, incident) pairs."
           if first else ""),
        "",
        "Naive comparison. A plain Python loop over every (traveller, area) pair computes the `math` haversine "
        "distance to the area's centre. A circle is decided by that distance. A polygon is tested with shapely "
        "point-in-polygon when the traveller is within its reach. The loop runs on the first "
        f"{first['naive_subset'] if first else 1000:,} travellers only, and the figures for 100,000 travellers "
        "and for one batch are **extrapolated** linearly from that subset, not measured; in full it would take "
        "minutes. The naive loop's answers on the subset are compared with the bulk join's.",
        "",
        "| run | load avg before | full recompute median / best (ms) | incremental batch median / max (ms) | "
        "memberships changed | naive loop on the subset (s) -> full, extrapolated (s) | pairs naive vs bulk "
        "disagree on | index build (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(ok, 1):
        lines.append(
            f"| {i} | {r['load_before']} | {_fmt(r['full_ms'])} / {_fmt(r['full_best_ms'])} | "
            f"{_fmt(r['incremental_ms'], 2)} / {_fmt(r['incremental_max_ms'], 2)} | {r['changes']:,} | "
            f"{_fmt(r['naive_subset_s'], 2)} -> ~{_fmt(r['naive_full_s'], 0)} | "
            f"{r['only_naive'] + r['only_bulk']} of {r['subset_pairs']:,} | {_fmt(r['build_ms'], 0)} |")
    lines += [
        f"| **pooled** | | **{_fmt(pool['full_ms'])}** (median of {pool['full_n']}) | "
        f"**{_fmt(pool['inc_ms'], 2)}** (median of {pool['inc_n']}) | | | | |",
        "",
        "The naive loop and the bulk join can disagree on a few pairs near a circle's edge. The naive loop "
        "decides circles on the mean sphere, which can be up to 0.56 % off, and the bulk join decides them on "
        "the WGS84 ellipsoid.",
        "",
        f"Targets: full recompute < {affected.TARGET_FULL_MS:.0f} ms (median over all runs' joins): "
        f"{_verdict(pool['full_met'], pool['full_runs_met'], pool['runs'], failed)}. Incremental batch < "
        f"{affected.TARGET_INCREMENTAL_MS:.0f} ms (median over all runs' batches): "
        f"{_verdict(pool['inc_met'], pool['inc_runs_met'], pool['runs'], failed)}. "
        "The targets allow 2 cores; the code runs on one thread (pinned to a single core with `taskset` it was no "
        "slower), so the second core is spare.",
    ]
    # format_result's own heading repeats the section's
    return rows, lines + _details(ok, lambda r: affected.format_result(r).partition("\n\n")[2]) + _failures(attempts)


def report_people_memory(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[list[str], list[str]]:
    result, error = runs["people_memory"]
    title = "## 7. Web process memory with 100,000 travellers and the live picture (`benchmarks/people_memory.py`)"
    if result is None:
        return ([f"| memory of the web process with 100,000 travellers loaded < {people_memory.TARGET_MB:.0f} MiB "
                 f"{_where('people_memory')} | the run failed | - | **NOT MET** (the run failed) |"],
                [title, "", "The run failed:", "", "```", (error or "")[-3000:], "```"])
    s, t = result.get("server") or {}, result["tick"]
    verdict = "**MET**" if result["memory_met"] else "**NOT MET**"
    rows = [
        f"| memory of the web process with {result['travellers']:,} travellers loaded (and {result['incidents']:,} "
        f"incidents, a position for everyone, the live picture) < {people_memory.TARGET_MB:.0f} MiB "
        f"{_where('people_memory')} | peak VmRSS {_fmt(result['peak_rss_mb'], 0)} MiB (live import "
        f"{_fmt(s.get('rss_live', {}).get('VmRSS', float('nan')), 0)}, after a restart "
        f"{_fmt(s.get('rss_restart', {}).get('VmRSS', float('nan')), 0)}) | one run | {verdict} |",
        f"| one tick of the live picture for a batch of {t['batch']:,} position reports (apply, drain, counts of "
        f"the changed incidents), < {people_memory.TARGET_TICK_MS:.0f} ms {_where('people_memory')} | median "
        f"{_fmt(t['tick_ms'], 2)} ms wall, {_fmt(t['tick_cpu_ms'], 2)} ms CPU over {t['batches']} batches | one run | "
        f"{'**MET**' if result['tick_met'] else '**NOT MET**'} |",
    ]
    lines = [
        title,
        "",
        "Command: `.venv/bin/python benchmarks/people_memory.py` (defaults: 100,000 travellers, 1,000 incidents). It "
        "ran once (it imports 100,000 travellers through the API, which takes minutes).",
        "",
        people_memory.format_result(result).partition("\n\n")[2],
    ]
    return rows, lines


def report_event_to_pixel(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[str | None, list[str]]:
    attempts: list[Attempt] = runs["event_to_pixel"]
    ok = _ok(attempts)
    failed = len(_errors(attempts))
    latencies = [x for r in ok for x in r["_raw_latency_s"]]
    pooled = summary_ms(latencies)
    p95 = percentile(sorted(latencies), 95) * 1000 if latencies else float("nan")
    missing = sum(r["missing"] for r in ok)
    busy = max((r["busy_share"] for r in ok), default=float("nan"))
    cpu = max((r["main_cpu_share"] for r in ok), default=float("nan"))
    met = bool(ok) and missing == 0 and p95 < event_to_pixel.TARGET_P95_MS and busy < event_to_pixel.TARGET_BUSY
    runs_met = sum(1 for r in ok if r["target_met"])
    single = "; ".join(f"p95 {_fmt(r['latency_p95_ms'], 0)} ms, busy {_fmt(100 * r['busy_share'])} %, first draw "
                       f"{_fmt(r['initial_draw_ms'] / 1000)} s" for r in ok) or "-"
    travellers = ok[0]["travellers"] if ok else args.e2p_travellers
    row = (f"| event to pixel: {travellers:,} travellers streaming, live map in headless Chromium, incident POST -> "
           f"marker drawn p95 < {event_to_pixel.TARGET_P95_MS:.0f} ms, main thread busy < "
           f"{100 * event_to_pixel.TARGET_BUSY:.0f} % {_where('event_to_pixel')} | p50 {_fmt(pooled['p50'], 0)} ms, "
           f"p95 {_fmt(p95, 0)} ms over {pooled['n']} incidents ({missing} never drawn); main thread busy (worst run) "
           f"{_fmt(100 * busy)} % of wall time, {_fmt(100 * cpu)} % in CPU time | {single} | "
           f"{_verdict(met, runs_met, len(ok), failed)} |")
    lines = [
        f"## {BENCHMARKS.index('event_to_pixel') + 1}. Event to pixel: incident POST -> marker drawn, with "
        f"{travellers:,} travellers (`benchmarks/event_to_pixel.py`)",
        "",
        f"Command for one run: `.venv/bin/python benchmarks/event_to_pixel.py --travellers {travellers} --incidents "
        f"{args.e2p_incidents}`. A fresh server; the travellers get positions, then 1,000 of them move every second "
        "for the whole run; a duty officer has the live map open in headless Chromium (Debian's, software WebGL). "
        "Each incident's latency is from its POST being sent to the first frame MapLibre renders with its marker "
        "at its place. Main thread busy: the renderer main thread's task time (CDP `TaskDuration`) over the "
        "incidents' window, in wall time; on a loaded machine a task also waits for a core, so the thread's CPU "
        "time over the same window is given next to it. The travellers are a MapLibre layer of their own "
        "(docs/adr/004-travellers-layer.md). Where the busy time goes (`event_to_pixel.py --trace`): with "
        "`--disable-gpu` Chromium composites in software, so each frame MapLibre renders into its WebGL canvas is "
        "read back on the main thread at the next commit (`GLES2::ReadPixels` in `LayerTreeHost::DoUpdateLayers`), "
        "waiting, with almost no CPU, until SwiftShader in the GPU process has drawn it; the busy share is about "
        "map frames per second times that wait, which grows with the machine's load, so the frames per second "
        "and per incident (last rows) are the part that does not depend on the machine. Each GeoJSON data update "
        "(the travellers' layer, Plotly's incident trace, an incident area) is drawn in one frame, not two: the "
        "frame gate (assets/crisis_live_frames.js) holds a repaint while tiles in view are being replaced, so the "
        "frame showing the old tiles again is not drawn, and updates whose tiles load together share a frame. "
        "`event_to_pixel.py --alternate 5` switches it off and on every 5 incidents in one run (same page, server "
        "and load) and compares frames per incident; `--trace` adds the readback time per frame.",
    ]
    return row, lines + _details(ok, event_to_pixel.format_result) + _failures(attempts)


def report_roster(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[list[str], list[str]]:
    return roster.report(runs["roster"], _where("roster"), _verdict, BENCHMARKS.index("roster") + 1)


def report_workspaces(args: argparse.Namespace, runs: dict[str, Any]) -> tuple[list[str], list[str]]:
    attempts: list[Attempt] = runs["workspaces"]
    ok = _ok(attempts)
    failed = len(_errors(attempts))
    names = list(ok[0]["pages"]) if ok else ["wall", "duty officer", "regional desk"]
    rows = []
    # The page-load target is met by the first map with data (the server-drawn picture, ADR 009);
    # the interactive map's own figure is reported beside it, as a row with its own verdict.
    kinds = (("picture", "_raw_picture_ms", 1.0, "picture_p95_ms",
              "page load -> first map with data (the server-drawn picture of the map)"),
             ("load", "_raw_load_ms", 1.0, "load_p95_ms", "page load -> interactive map drawn with data"),
             ("incident", "_raw_latency_s", 1000.0, "latency_p95_ms", "incident POST -> marker drawn"))
    for kind, raw, unit, key, what in kinds:
        pooled = {n: sorted(x * unit for r in ok for x in r["pages"][n].get(raw, ())) for n in names}
        p95 = {n: percentile(v, 95) if v else float("nan") for n, v in pooled.items()}
        missing = sum(r["pages"][n]["missing"] for r in ok for n in names) if kind == "incident" else 0
        if kind == "picture":  # every picture painted, holding every seeded incident
            missing = sum(r["pages"][n]["picture_unpainted"] + (r["seeded"] - r["pages"][n]["picture_incidents"])
                          for r in ok for n in names)
        met = bool(ok) and missing == 0 and all(v < workspaces.TARGET_P95_MS for v in p95.values())
        runs_met = sum(1 for r in ok if all(r["pages"][n][key] < workspaces.TARGET_P95_MS for n in names))
        single = "; ".join(", ".join(f"{n} {_fmt(r['pages'][n][key], 0)}" for n in names) for r in ok) or "-"
        rows.append(
            f"| workspaces: wall, duty officer and regional desk open at once in headless Chromium, {what} p95 < "
            f"{workspaces.TARGET_P95_MS:.0f} ms on each page {_where('workspaces')} | p95 "
            + ", ".join(f"{n} {_fmt(p95[n], 0)} ms" for n in names)
            + (f" ({missing} never drawn)" if kind == "incident" else "")
            + (f" ({missing} unpainted or short of incidents)" if kind == "picture" and missing else "")
            + f" | {single} | {_verdict(met, runs_met, len(ok), failed)} |")
    lines = [
        f"## {BENCHMARKS.index('workspaces') + 1}. Workspaces: wall, duty officer and regional desk at once "
        "(`benchmarks/workspaces.py`)",
        "",
        f"Command for one run: `.venv/bin/python benchmarks/workspaces.py --incidents {args.ws_incidents}`. "
        f"A fresh server; {ok[0]['travellers'] if ok else 10_000:,} travellers (one in ten in the desk's region), "
        f"{ok[0]['moving_per_s'] if ok else 200} of them moving every second; "
        f"{ok[0]['seed_incidents'] if ok else 10} incidents before the pages open, all in the desk's region (Middle "
        "East and North Africa). One headless "
        "Chromium (Debian's, software WebGL) with three signed-in browser contexts: the wall (`/wall`, role wall, "
        "1920x1080; `/` when the server has no wall page), a duty officer (`/`) and a regional desk (`/`). Load: the "
        f"three pages navigated at once, {ok[0]['loads'] if ok else 5} times (after one untimed round); for each, "
        "navigation start -> every "
        "seeded incident drawn on its map (a rendered MapLibre feature of the incident trace under its position; on "
        "the wall its marker element) and the travellers layer rendered. Incident: POST sent -> on each page the "
        "first MapLibre frame with its marker (on the wall: its marker element added).",
    ]
    return rows, lines + _details(ok, workspaces.format_result) + _failures(attempts)


REPORTS = {name: globals()[f"report_{name}"] for name in BENCHMARKS}


def _rows(row: str | list[str] | None) -> list[str]:
    """A report's Targets row(s): none, one, or a list."""
    return [] if not row else [row] if isinstance(row, str) else list(row)


def write_report(args: argparse.Namespace, machine: dict[str, str], started: dt.datetime, load_start: str,
                 load_end: str, runs: dict[str, Any], names: tuple[str, ...]) -> str:
    took = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    lines: list[str] = [
        "# Benchmarks",
        "",
        f"Generated by `{COMMAND}`. Run it again to reproduce; it rewrites this file (with `--only NAME[,NAME]` it "
        "re-runs just those benchmarks and replaces only their sections and Targets rows). "
        "Every run starts a fresh `crisis serve`: a new temporary data directory, so a fresh embedded Redis with "
        "`appendfsync always`, `CRISIS_FEEDS=0`, 127.0.0.1 only. The server is stopped afterwards. "
        "Client and server share the machine. Other work on the machine shows in the load average below, "
        "and the spread between runs shows how much it moved the results.",
        "",
        "| | |",
        "|---|---|",
        f"| date | {started.strftime('%Y-%m-%d %H:%M:%S UTC')} (the whole run took {took:.0f} s) |",
        f"| CPU | {machine['cpu']} |",
        f"| nproc | {machine['nproc']} (usable by this process: {machine['affinity']}) |",
        f"| Python | {machine['python']} |",
        f"| load average (1/5/15 min) at start / end | {load_start} / {load_end} |",
        f"| command | `{COMMAND}`" + (f" (this run: `{' '.join(sys.argv[1:])}`)" if sys.argv[1:] else "") + " |",
        "",
        "## Targets",
        "",
        f"Each benchmark ran {args.repeat} times, each time on a fresh server. The verdict pools the runs, and each "
        "single run is listed after it.",
        "",
        "| target (from the issue) | result, runs pooled | single runs | verdict |",
        "|---|---|---|---|",
    ]
    sections: list[str] = []
    for name in names:
        row, section = REPORTS[name](args, runs)
        lines += _rows(row)
        if args.only:  # the header's date is another run's: say when this section was measured
            section[1:1] = ["", f"_Re-run on {started.strftime('%Y-%m-%d %H:%M UTC')} by `{COMMAND} "
                                f"{' '.join(sys.argv[1:])}` (load average at start / end: {load_start} / "
                                f"{load_end}); the header is that of the last full run._"]
        sections += ["", *section]
    lines += sections + [""]
    if not args.only:
        if not args.no_diagnostics:
            lines += _diagnostics(runs)
        lines += _findings(_ok(runs["incident_latency"]), _ok(runs["positions_throughput"]), runs)
    return "\n".join(lines).rstrip() + "\n"


# -- --only: replace some sections of the existing file -----------------------------------


def _blocks(text: str) -> list[str]:
    """The text cut before each "## " heading; block 0 is the header."""
    blocks: list[list[str]] = [[]]
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("## "):
            blocks.append([])
        blocks[-1].append(line)
    return ["\n".join(b) for b in blocks]


def _owner(line: str) -> str | None:
    """The benchmark a section heading or a Targets row belongs to."""
    return next((n for n in BENCHMARKS if f"benchmarks/{n}.py" in line), None)


def _first_cell(row: str) -> str:
    return row.split("|")[1].strip() if row.count("|") > 1 else ""


def merge_report(old: str, new: str, header_row: str) -> str:
    """``old`` with the sections and Targets rows that ``new`` has, and ``header_row`` in its header."""
    blocks, fresh = _blocks(old), _blocks(new)
    header = blocks[0].split("\n")
    label = header_row.split("|")[1]
    at = next((i for i, line in enumerate(header) if line.startswith(f"|{label}|")), None)
    if at is None:
        header.insert(next(i for i, line in enumerate(header) if line.startswith("| command |")) + 1, header_row)
    else:
        header[at] = header_row
    blocks[0] = "\n".join(header)

    t = next(i for i, b in enumerate(blocks) if b.startswith("## Targets"))
    rows = blocks[t].split("\n")
    new_rows = [line for b in fresh if b.startswith("## Targets") for line in b.split("\n")[2:]
                if line.startswith("| ") and not line.startswith("| target ") and _owner(line) is not None]
    for name in dict.fromkeys(_owner(row) for row in new_rows):  # a benchmark may have several rows
        mine = [row for row in new_rows if _owner(row) == name]
        # older files have no section tag in a row: then the target's own words identify it
        same = [i for i, line in enumerate(rows) if line.startswith("| ") and not line.startswith("| target ") and (
            _owner(line) == name or (_owner(line) is None and _first_cell(line)
                                     and any(_first_cell(row).startswith(_first_cell(line)) for row in mine)))]
        at = same[0] if same else max(i for i, line in enumerate(rows) if line.startswith("|")) + 1
        for i in reversed(same):
            del rows[i]
        rows[at:at] = mine
    blocks[t] = "\n".join(rows)

    for block in fresh[1:]:
        name = _owner(block.split("\n", 1)[0])
        if name is None:
            continue
        block = block.rstrip("\n") + "\n"
        owners = [_owner(b.split("\n", 1)[0]) for b in blocks]
        if name in owners:
            blocks[owners.index(name)] = block
        else:  # after the last section that comes before it, else after the Targets
            before = [i for i, o in enumerate(owners) if o and BENCHMARKS.index(o) < BENCHMARKS.index(name)]
            blocks.insert(max(before, default=t) + 1, block)
    return "\n".join(blocks).rstrip() + "\n"


def _diagnostics(runs: dict[str, Any]) -> list[str]:
    lines = [
        "## Diagnostics (not the target measurements)",
        "",
        "These runs show where the time goes. The instrumented server is `benchmarks/serve_instrumented.py`. "
        "It runs the same app as `crisis serve` and wraps chosen functions with timers from outside `crisis/`. "
        "Each timer records wall time and the calling thread's CPU time. When wall time is well above CPU time, "
        "the stage was waiting: for Redis, where every write waits for the AOF fsync, or for the GIL. "
        "Nested stages include their children. For example, `handlers.report_incident` includes "
        "`_place` and `_store`, and `EventLog.append_many` includes `PositionStore.queue_save`.",
        "",
    ]
    raw, raw_err = runs.get("incidents_raw", (None, None))
    if raw is not None:
        lines += [
            f"### Incident fan-out to {raw['clients']} light clients (raw websockets in separate processes; "
            "instrumented server)",
            "",
            "The server does the same work as in benchmark 1. The clients cost little and share no GIL with the "
            "poster, so this run is close to the server's own latency.",
            "",
            incident_latency.format_result(raw),
            "",
        ]
        if raw.get("server_stats"):
            lines += ["Server stages during this run:", "",
                      format_stats(raw["server_stats"], per=raw["incidents"], per_label="incident"), ""]
    elif raw_err:
        lines += ["The raw-client run failed:", "", "```", raw_err[-2000:], "```", ""]
    one, one_err = runs.get("incidents_one", (None, None))
    if one is not None:
        lines += ["### Incident fan-out to a single raw client", "", incident_latency.format_result(one), ""]
    elif one_err:
        lines += ["The single-client run failed:", "", "```", one_err[-2000:], "```", ""]
    pos_i, pos_err = runs.get("positions_instrumented", (None, None))
    if pos_i is not None:
        lines += [
            "### Position ingest on the instrumented server",
            "",
            positions_throughput.format_result(pos_i),
            "",
            "Server stages during this run. The `gateway:` rows run in the gateway threads and the rest in "
            "request threads:",
            "",
            format_stats(pos_i["server_stats"], per=pos_i["batches"], per_label="batch"),
            "",
        ]
    elif pos_err:
        lines += ["The instrumented positions run failed:", "", "```", pos_err[-2000:], "```", ""]
    return lines


def _stage(stats: dict[str, Any] | None, prefix: str, per: int, key: str = "cpu_total_s") -> float:
    """CPU (or wall) ms per unit of the first stage whose name starts with ``prefix``."""
    if not stats:
        return float("nan")
    for name, s in stats["stages"].items():
        if name.startswith(prefix):
            return 1000 * s[key] / max(per, 1)
    return float("nan")


def _p50(stats: dict[str, Any] | None, prefix: str) -> float:
    if not stats:
        return float("nan")
    for name, s in stats["stages"].items():
        if name.startswith(prefix):
            return float(s["p50_ms"])
    return float("nan")


def _findings(inc_ok: list[dict[str, Any]], pos_ok: list[dict[str, Any]], runs: dict[str, Any]) -> list[str]:
    raw, _ = runs.get("incidents_raw", (None, None))
    one, _ = runs.get("incidents_one", (None, None))
    pos_i, _ = runs.get("positions_instrumented", (None, None))
    lines = ["## Where the time goes", ""]
    if inc_ok:
        worst = max(inc_ok, key=lambda r: r["latency_ms"]["p99"])
        probe = worst.get("probe", {}).get("latency_ms", {})
        lines += [
            "**Incident latency: the benchmark's own clients.** "
            f"With {worst['clients']} python-socketio clients in one process, the worst run had p99 "
            f"{_fmt(worst['latency_ms']['p99'])} ms. Part of that is spent in the client. python-socketio "
            "starts a thread for every message it receives, and the 50 clients share one GIL with the poster. In "
            f"that run, the benchmark process used {_fmt(worst['bench_cpu_s'])} s of CPU and the server "
            f"{_fmt(worst['server_cpu_s'])} s. The client-side step from raw frame to handler alone has p99 "
            f"{_fmt(worst['client_dispatch_ms']['p99'])} ms. The out-of-process probe measured POST response to "
            f"frame at p99 {_fmt(probe.get('p99', float('nan')))} ms. A negative value means the probe had the push "
            "before the poster had read the HTTP answer. Browsers each have their own CPU, so in "
            "production this part of the latency does not exist.",
            "",
        ]
    if raw is not None:
        spread = raw["spread_first_to_last_ms"]
        stats = raw.get("server_stats")
        n = raw["incidents"]
        sends = _stage(stats, "simple_websocket send", n) + _stage(stats, "socketio.Server.emit", n)
        lines += [
            "**Incident latency: the server fans out to the clients one after another.** "
            f"With {raw['clients']} light clients, XADD to the last client takes p50 "
            f"{_fmt(raw['xadd_to_last_client_ms']['p50'])} ms and p99 {_fmt(raw['xadd_to_last_client_ms']['p99'])} ms"
            + (f". With a single client it takes p50 {_fmt(one['xadd_to_last_client_ms']['p50'])} ms and p99 "
               f"{_fmt(one['xadd_to_last_client_ms']['p99'])} ms" if one is not None else "")
            + f". The gap between the first and the last client is p50 {_fmt(spread['p50'])} ms and p99 "
            f"{_fmt(spread['p99'])} ms. At the median that is about {_fmt(spread['p50'] / max(raw['clients'] - 1, 1), 2)} "
            "ms per client, and it grows linearly with the number of clients. "
            "The cause is `SocketIO(server, async_mode=\"threading\", ...)` in `crisis/web.py` `create_app`. "
            "python-engineio's threading mode gives every websocket its own writer thread. "
            "`Gateway.push_incident` (`crisis/realtime/gateway.py`) calls `socketio.emit(..., to=rooms)`, which puts "
            f"the packet on {raw['clients']} queues. Then {raw['clients']} OS threads wake one after another, and "
            "each must take the GIL to "
            "frame and send its copy (simple-websocket/wsproto). That costs "
            f"{_fmt(sends)} ms of server CPU per incident, out of {_fmt(1000 * raw['server_cpu_s'] / n)} ms "
            "in total. The same GIL serves the request threads: the next POST, Dash callbacks and position "
            "batches.",
            "",
        ]
        if stats:
            lines += [
                "**Incident POST path.** "
                f"`handlers.report_incident` takes p50 {_fmt(_p50(stats, 'handlers.report_incident'))} ms of wall "
                f"time. Of that, `_store` (the MULTI/EXEC with the fsync) takes {_fmt(_p50(stats, 'handlers._store'))} "
                "ms. The benchmark's incidents carry no `source_id`, so no Redis lock is taken for them (there is "
                "nothing to race for; a lock's SET and release would each wait for an fsync). "
                f"`FeedLog.accepted` adds one more fsync'd round trip (p50 {_fmt(_p50(stats, 'FeedLog.accepted'))} "
                "ms) after the event is stored: it delays the POST's response but not the push. That is why the "
                "push usually arrives before the response, and why a metric measured from the response flatters "
                "the server. Measured from the moment the POST is sent, the light-client run has p99 "
                f"{_fmt(raw['latency_from_send_ms']['p99'])} ms over all clients. Of that, POST sent -> XADD alone "
                f"has p99 {_fmt(raw['send_to_xadd_ms']['p99'])} ms: request handling and the fsync, including any "
                "stall of the disk or the machine.",
                "",
            ]
    if pos_ok:
        cpu = sum(r["server_cpu_s"] for r in pos_ok)
        accepted = sum(r["accepted"] for r in pos_ok)
        batches = sum(r["batches"] for r in pos_ok)
        per_pos = cpu / max(accepted, 1)
        lines += [
            "**Position ingest.** "
            f"The server spends {_fmt(1000 * cpu / max(batches, 1))} ms of CPU on each "
            f"{pos_ok[0]['batch']}-position batch, which is {_fmt(1e6 * per_pos, 0)} us per position. Almost all of it "
            "is Python under one GIL. One `crisis serve` process therefore tops out near 1 / (CPU per position), about "
            f"{_fmt(1 / per_pos if per_pos else 0, 0)} positions/s on this CPU, and only if it gets a whole core. On "
            "this 2-vCPU machine it shares the CPUs with the client, Redis and whatever else runs, so the margin over "
            "20,000/s shrinks as the machine gets busier. Compare the load averages of the runs above.",
            "",
        ]
        if pos_i is not None and pos_i.get("server_stats"):
            st, b = pos_i["server_stats"], pos_i["batches"]
            lines += [
                "Where a batch's CPU goes (instrumented run, CPU ms per batch):",
                "",
                f"- `view api.post_positions`: {_fmt(_stage(st, 'view api.post_positions', b))}",
                f"  - `PositionBatch.model_validate_json` (pydantic, one frozen model per position with a regex): "
                f"{_fmt(_stage(st, 'pydantic', b))}",
                f"  - `handlers.report_positions`: {_fmt(_stage(st, 'handlers.report_positions', b))}",
                f"    - `CountryIndex.locate` (an STRtree intersects query per point, then a nearest query for "
                f"points at sea): {_fmt(_stage(st, 'CountryIndex.locate', b))}",
                f"    - `EventLog.append_many`: {_fmt(_stage(st, 'EventLog.append_many', b))}. This includes "
                f"`PositionStore.queue_save` at {_fmt(_stage(st, 'PositionStore.queue_save', b))}, which calls "
                "`json.dumps` once per traveller. The rest is `json.dumps` of the whole column payload and redis-py "
                "packing an HSET with 2 x batch arguments.",
                f"  - `FeedLog.accepted`: {_fmt(_stage(st, 'FeedLog.accepted', b))}",
                f"- gateway threads: decoding the event again {_fmt(_stage(st, 'gateway: decode', b))}, "
                f"`PositionBuffer.add` {_fmt(_stage(st, 'gateway: PositionBuffer.add', b))}, and the 250 ms tick "
                f"`_flush` {_fmt(_stage(st, 'gateway: positions tick', b))}. `_flush` does its work even when no "
                "client is connected.",
                "- the rest is Werkzeug and Flask request handling, the auth lookup, and thread switching.",
                "",
            ]
    return lines


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmark {', '.join(unknown)!r}; choose from {', '.join(BENCHMARKS)}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=_names, metavar="NAME[,NAME]",
                        help="run just these benchmarks and replace only their sections of the existing file; "
                             f"names: {', '.join(BENCHMARKS)}")
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--cap-messages", type=int, default=2000, help="CAP messages ingested in process")
    parser.add_argument("--cap-posts", type=int, default=300, help="CAP messages POSTed for the latency run")
    parser.add_argument("--login-seconds", type=float, default=15.0, help="length of each login flood phase")
    parser.add_argument("--login-workers", type=int, default=100, help="concurrent wrong-password clients")
    parser.add_argument("--flood-seconds", type=float, default=18.0,
                        help="socket flood: measured seconds of each kind (quiet, flood)")
    parser.add_argument("--flood-incidents", type=int, default=300, help="socket flood: incidents seeded")
    parser.add_argument("--flood-travellers", type=int, default=5000, help="socket flood: travellers seeded")
    parser.add_argument("--e2p-travellers", type=int, default=100_000, help="event to pixel: travellers streaming")
    parser.add_argument("--e2p-incidents", type=int, default=40, help="event to pixel: incidents posted")
    parser.add_argument("--ws-incidents", type=int, default=20, help="workspaces: incidents posted")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each target benchmark (fresh server each)")
    parser.add_argument("--no-diagnostics", action="store_true", help="only the target benchmarks")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    names = tuple(n for n in BENCHMARKS if n in (args.only or BENCHMARKS))

    started = dt.datetime.now(dt.timezone.utc)
    load_start = _loadavg()
    machine = machine_info()
    repeated = {
        "incident_latency": lambda: incident_latency.run(args.incidents, args.clients),
        "positions_throughput": lambda: positions_throughput.run(args.seconds, args.threads, args.batch),
        "login_flood": lambda: login_flood.run(args.login_seconds, args.login_workers),
        "socket_flood": lambda: socket_flood.run(args.flood_seconds, args.flood_incidents, args.flood_travellers,
                                                 None, 6),
        "affected": lambda: affected.run(),
        "event_to_pixel": lambda: event_to_pixel.run(args.e2p_travellers, args.e2p_incidents),
        "roster": lambda: roster.run(),
        "workspaces": lambda: workspaces.run(incidents=args.ws_incidents),
    }
    runs: dict[str, Any] = {name: [] for name in names if name in repeated}
    for i in range(args.repeat):
        for name, attempts in runs.items():
            attempts.append(_attempt(f"{name}, run {i + 1}/{args.repeat}", repeated[name]))
    if "people_memory" in names:
        runs["people_memory"] = _attempt("people_memory", people_memory.run)
    if "cap_ingest" in names:
        runs["cap_ingest"] = _attempt("cap_ingest", lambda: {
            "in_process": cap_ingest.run_in_process(args.cap_messages),
            "end_to_end": cap_ingest.run_end_to_end(args.cap_posts),
        })
    if not args.only and not args.no_diagnostics:
        runs["incidents_raw"] = _attempt("diagnosis: incident latency, raw clients, instrumented server",
                                         incident_latency.run, args.incidents, args.clients, client_mode="raw",
                                         instrumented=True)
        runs["incidents_one"] = _attempt("diagnosis: incident latency, one raw client", incident_latency.run,
                                         min(args.incidents, 200), 1, client_mode="raw", probe=False)
        runs["positions_instrumented"] = _attempt("diagnosis: positions, instrumented server",
                                                  positions_throughput.run, min(args.seconds, 15.0), args.threads,
                                                  args.batch, instrumented=True)
    load_end = _loadavg()
    report = write_report(args, machine, started, load_start, load_end, runs, names)
    if args.only and args.output.exists():
        took = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
        sections = ", ".join(str(BENCHMARKS.index(n) + 1) for n in names)
        report = merge_report(args.output.read_text(), report, (
            f"| last re-run with `--only` | {started.strftime('%Y-%m-%d %H:%M:%S UTC')}: section(s) {sections} "
            f"(`{COMMAND} {' '.join(sys.argv[1:])}`, took {took:.0f} s; load average at start / end: {load_start} "
            f"/ {load_end}) |"))
    args.output.write_text(report)
    log(f"wrote {args.output}")
    if args.json:
        def strip(a: Attempt) -> Any:
            return {k: v for k, v in a[0].items() if not k.startswith("_")} if a[0] else {"error": a[1]}

        args.json.write_text(json.dumps(
            {k: [strip(a) for a in v] if isinstance(v, list) else strip(v) for k, v in runs.items()},
            indent=2, default=str))

    for name in names:  # the verdicts, as in the Targets table
        row, _ = REPORTS[name](args, runs)
        for line in _rows(row):
            print(line)
    failed = [a for v in runs.values() for a in (v if isinstance(v, list) else [v]) if a[0] is None]
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
