"""``crisis audit`` in a real subprocess, against the data directory's embedded Redis
(started here, in the test process, and used by the command through redis.json):
JSON lines, oldest first, with the same filters as GET /api/v1/audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from crisis.adapters import keys
from crisis.bootstrap import Context, bootstrap
from crisis.config import Settings

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
MINUTE_MS = 60_000
ACTIONS = ("auth.login", "incident.create", "incident.update", "auth.login_failed", "incident.update", "feed.post")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
    return {**clean, "CRISIS_DATA_DIR": str(tmp_path_factory.mktemp("audit-cli") / "data"), "CRISIS_FEEDS": "0"}


@pytest.fixture(scope="module")
def trail(env: dict[str, str]) -> Iterator[tuple[Context, list[str], int]]:
    """Six entries a minute apart, a day ago; the context stays open (and with it the
    embedded Redis) while the command runs."""
    context = bootstrap(Settings.from_env(env))
    base = int(time.time() * 1000) - 86_400_000
    ids = []
    for i, action in enumerate(ACTIONS):
        fields = {"time": datetime.fromtimestamp((base + i * MINUTE_MS) / 1000, timezone.utc).isoformat(), "action": action,
                  "actor": "ana" if i % 2 == 0 else "bob", "role": "duty_officer", "via": "token", "remote": "10.0.0.1",
                  "target": f"inc-{i}", "after": json.dumps({"n": i})}
        ids.append(context.redis.xadd(keys.AUDIT_STREAM, fields, id=f"{base + i * MINUTE_MS}-0"))
    yield context, ids, base
    context.close()


def crisis(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRISIS, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


def _lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def test_prints_every_entry_as_a_json_line_oldest_first(env: dict[str, str], trail: tuple[Context, list[str], int]) -> None:
    _, ids, _ = trail
    entries = _lines(crisis(env, "audit"))
    assert [e["id"] for e in entries] == ids
    assert entries[2] == {"id": ids[2], "time": entries[2]["time"], "action": "incident.update", "actor": "ana", "role": "duty_officer",
                          "via": "token", "remote": "10.0.0.1", "target": "inc-2", "after": {"n": 2}}


def test_filters_and_limit(env: dict[str, str], trail: tuple[Context, list[str], int]) -> None:
    _, ids, base = trail
    got = lambda *args: [e["id"] for e in _lines(crisis(env, "audit", *args))]  # noqa: E731
    assert got("--actor", "bob") == [ids[1], ids[3], ids[5]]
    assert got("--action", "incident.") == [ids[1], ids[2], ids[4]]
    assert got("--action", "auth.login") == [ids[0]]
    assert got("--since", _iso(base + 3 * MINUTE_MS)) == ids[3:]
    assert got("--until", _iso(base + 1 * MINUTE_MS).replace("+00:00", "Z")) == ids[:2]
    assert got("--since", _iso(base + MINUTE_MS), "--until", _iso(base + 4 * MINUTE_MS), "--actor", "ana") == [ids[2], ids[4]]
    # --limit N: the newest N that match, still oldest first.
    assert got("--limit", "2") == ids[4:]
    assert got("--action", "incident.", "--limit", "2") == [ids[2], ids[4]]


@pytest.mark.parametrize(("args", "option"), [
    (("--since", "yesterday"), "--since"),
    (("--until", "2024-05-01T00:00:00"), "--until"),
    (("--action", "Bad Action"), "--action"),
    (("--limit", "0"), "--limit"),
])
def test_a_bad_option_is_refused_naming_it(env: dict[str, str], trail: tuple[Context, list[str], int], args: tuple[str, ...], option: str) -> None:
    result = crisis(env, "audit", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert option in result.stderr and "Traceback" not in result.stderr
