"""A Redis outage against a real ``crisis serve``: 503 JSON with Retry-After, then recovery
by itself (issue 10, H1).

Real parts only: the embedded ``redis-server`` binary, ``crisis serve`` subprocesses, a
python-socketio client. Stalls are SIGSTOP/SIGCONT of the server process; crashes are
SIGKILL. Every wait is on a condition with a generous deadline; only the 503 itself is
timed (the contract: within 1 s of asking, on a stalled server).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from crisis.adapters.accounts import AccountStore
from crisis.adapters.redis_server import _listening, _redis_server_binary, open_redis, servers_on
from crisis.bootstrap import bootstrap
from crisis.config import Settings
from crisis.feeds.pollers import FeedSource, Fetcher, Poller
from crisis.fusion.countries import CountryIndex
from crisis.realtime.gateway import HEARTBEAT_SECONDS
from tests.conftest import (
    PASSWORD,
    LiveServer,
    SocketEvents,
    _free_port,
    csrf_header,
    random_ref,
    sign_in,
    stop_process,
    wait_healthy,
)
from tests.testdata import samples_dir

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
INCIDENT = {"title": "Checkpoint closed", "type": "civil_unrest", "severity": 3, "lat": 33.89, "lon": 35.5}
ANSWER_WITHIN_S = 1.0  # the contract: a stalled Redis is a 503 within 1 s
RECOVERY_S = 30.0  # generous: a loaded 2-core box


# --- real processes ------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server of our own (the embedded binary), AOF on, on a unix socket."""

    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> str:
        return str(self.directory / "redis.sock")

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_redis_server_binary(), "--port", "0", "--unixsocket", self.socket_path, "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: _answers(self.url), 30, "the test's redis-server did not start")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)  # a stopped process must run to exit
            self.process.kill()
            self.process.wait(timeout=10)


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def _wait(condition: Callable[[], Any], timeout_s: float, message: str, every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(every_s)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory (a unix socket path must stay under ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="crisis-h1-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def serve(short_dir: Path) -> Iterator[Callable[[dict[str, str]], str]]:
    """Start ``crisis serve`` with extra environment; its URL once /healthz answers."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def start(extra: dict[str, str]) -> str:
        clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
        port = _free_port()
        env = {**clean, "CRISIS_DATA_DIR": str(short_dir / "data"), "CRISIS_PORT": str(port), "CRISIS_FEEDS": "0",
               "SECRET_KEY": "outage-test", "CRISIS_TICK_SECONDS": "0.1", **extra}
        log = open(short_dir / f"serve-{len(started)}.log", "wb")
        logs.append(log)
        process = subprocess.Popen([*CRISIS, "serve"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        if not wait_healthy(url, 60, process):
            raise AssertionError("crisis serve did not start:\n" + (short_dir / f"serve-{len(started) - 1}.log").read_text())
        return url

    yield start
    for process in started:
        stop_process(process)
    for log in logs:
        log.close()
    _kill_embedded_left_running(short_dir / "data" / "redis")


def _kill_embedded_left_running(redis_dir: Path) -> None:
    """Safety net: an embedded redis-server that a failed step left running (matched by the
    socket path on its command line, so nothing else is ever touched)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes()
            if (b"redis-server" in command or b"valkey-server" in command) and str(redis_dir).encode() in command:
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture
def own_redis(short_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(short_dir / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


# --- clients -------------------------------------------------------------------------


def _live(url: str, token: str) -> SocketEvents:
    """A python-socketio client of /live that keeps its incidents, heartbeats and welcome."""
    return SocketEvents(url, ("incident", "heartbeat", "welcome"), auth={"token": token}, wait_timeout=20)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post_incident(url: str, token: str, title: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/incidents", json={**INCIDENT, "title": title}, headers=_bearer(token), timeout=30)


def _timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    began = time.monotonic()
    answer = call()
    return answer, time.monotonic() - began


def _assert_storage_503(answer: requests.Response, took_s: float | None = None) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:500])
    assert answer.headers["Content-Type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert body["error"] == "storage_unavailable" and body["message"], body
    assert isinstance(body["retry_after"], int) and body["retry_after"] >= 1, body
    assert answer.headers["Retry-After"] == str(body["retry_after"]), answer.headers
    if took_s is not None:
        assert took_s < ANSWER_WITHIN_S, f"the 503 took {took_s:.2f} s"


def _recovered(url: str, token: str) -> bool:
    try:
        return requests.get(f"{url}/api/v1/incidents", headers=_bearer(token), timeout=10).status_code == 200
    except requests.RequestException:
        return False


def _stream_id(text: str) -> tuple[int, int]:
    millis, _, seq = text.partition("-")
    return int(millis), int(seq)


def _signed_in(url: str, accounts: AccountStore) -> requests.Session:
    name = random_ref("officer-")
    accounts.add_user(name, PASSWORD, "duty_officer")
    http = requests.Session()
    assert sign_in(url, http, name).status_code == 302
    http.headers.update(csrf_header(http))
    return http


# --- the tests -----------------------------------------------------------------------


def test_a_stalled_redis_is_a_503_json_within_a_second_then_200_and_the_live_client_carries_on(
    own_redis: RedisServer, serve: Callable[[dict[str, str]], str]
) -> None:
    """SIGSTOP: every kind of request (API read and write, a Dash callback, a page) gets a
    503 with Retry-After within 1 s; the heartbeat says storage is unavailable; SIGCONT:
    200 again, and an incident posted then reaches the socket client connected before."""
    url = serve({"REDIS_URL": own_redis.url})
    accounts = AccountStore(redis.Redis.from_url(own_redis.url, decode_responses=True))
    reader, writer = accounts.create_token(random_ref("do-"), "duty_officer"), accounts.create_token(random_ref("feed-"), "feed")
    http = _signed_in(url, accounts)
    live = _live(url, reader)
    try:
        live.wait("welcome", lambda d: True, 20)
        assert _post_incident(url, writer, "before the stall").status_code == 201
        live.wait("heartbeat", lambda d: d.get("storage") == "ok", 20)
        visitor = requests.Session()
        login_form = re.search(r'name="csrf_token" value="([^"]+)"', visitor.get(f"{url}/login", timeout=10).text)
        assert login_form

        # A periodic heartbeat (the next is due HEARTBEAT_SECONDS after it); the stall must be
        # announced before that: the heartbeat goes out at once when the storage state changes.
        last_periodic = live.wait("heartbeat", lambda d: d.get("storage") == "ok", 20)["time"]
        own_redis.signal(signal.SIGSTOP)
        try:
            # Signing in (its throttle keeps counts in Redis through its own client) is a 503 page too.
            signing_in, took = _timed(lambda: visitor.post(f"{url}/login", data={
                "username": "someone", "password": PASSWORD, "csrf_token": login_form[1]}, allow_redirects=False, timeout=10))
            assert signing_in.status_code == 503 and took < ANSWER_WITHIN_S, (signing_in.status_code, took)
            assert int(signing_in.headers["Retry-After"]) >= 1
            for call in (lambda: requests.get(f"{url}/api/v1/incidents", headers=_bearer(reader), timeout=10),
                         lambda: _post_incident(url, writer, "during the stall"),
                         lambda: http.post(f"{url}/_dash-update-component", json={"output": "x.children", "inputs": []},
                                           timeout=10)):
                answer, took = _timed(call)
                _assert_storage_503(answer, took)
            page, took = _timed(lambda: http.get(f"{url}/", timeout=10))
            assert page.status_code == 503 and took < ANSWER_WITHIN_S, (page.status_code, took, page.text[:300])
            assert page.headers["Content-Type"].startswith("text/html") and "Storage unavailable" in page.text
            # A wall's is its own: the words fill the screen (a card in the middle could not be read across a room).
            wall, _ = _timed(lambda: requests.get(f"{url}/wall", timeout=10))
            assert wall.status_code == 503 and 'class="unavailable-wall"' in wall.text, (wall.status_code, wall.text[:300])
            assert "STORAGE UNAVAILABLE" in wall.text and int(wall.headers["Retry-After"]) >= 1
            assert int(page.headers["Retry-After"]) >= 1
            beat = live.wait("heartbeat", lambda d: d.get("storage") == "unavailable", 20)
            assert beat["retry_after"] >= 1 and beat["storage_down_since"] > 0
            assert beat["time"] - last_periodic < HEARTBEAT_SECONDS - 0.5, "the change waited for the periodic heartbeat"
        finally:
            own_redis.signal(signal.SIGCONT)

        _wait(lambda: _recovered(url, reader), RECOVERY_S, "no 200 after SIGCONT")
        live.wait("heartbeat", lambda d: d.get("storage") == "ok", 20)
        posted = _post_incident(url, writer, "after the stall")
        assert posted.status_code == 201, posted.text
        live.wait("incident", lambda d: d["incident"]["id"] == posted.json()["id"], 20)
        assert live.client.connected
    finally:
        live.disconnect()


def test_readyz_is_503_json_while_redis_is_down_and_healthz_stays_200_both_without_sign_in(
    own_redis: RedisServer, serve: Callable[[dict[str, str]], str]
) -> None:
    """/readyz (orchestrators): 200 while Redis answers; stalled (SIGSTOP) or killed, a 503
    JSON with Retry-After, each answer within 1 s, then 200 again by itself. /healthz (the
    load balancer's check) stays 200 throughout. Neither needs a sign-in nor says anything
    but the storage state."""
    url = serve({"REDIS_URL": own_redis.url})
    anonymous = requests.Session()

    def ask(path: str) -> tuple[requests.Response, float]:
        return _timed(lambda: anonymous.get(f"{url}{path}", timeout=10, allow_redirects=False))

    def ready_is(status: int) -> bool:
        answer, took = ask("/readyz")
        assert took < ANSWER_WITHIN_S, f"/readyz took {took:.2f} s"
        return answer.status_code == status

    answer, _ = ask("/readyz")
    assert answer.status_code == 200 and answer.json() == {"status": "ready", "storage": "ok"}
    for outage in (lambda: own_redis.signal(signal.SIGSTOP), own_redis.kill):
        outage()
        try:
            _wait(lambda: ready_is(503), 10, "/readyz did not turn 503 while Redis was down")
            answer, _ = ask("/readyz")
            assert answer.status_code == 503 and answer.headers["Content-Type"].startswith("application/json")
            assert int(answer.headers["Retry-After"]) >= 1
            body = answer.json()
            assert set(body) == {"status", "error", "message", "retry_after"}, body  # nothing about people
            assert body["error"] == "storage_unavailable" and body["retry_after"] >= 1
            health, took = ask("/healthz")
            assert health.status_code == 200 and took < ANSWER_WITHIN_S and health.json() == {"status": "ok"}
        finally:
            if own_redis.process is not None and own_redis.process.poll() is None:
                own_redis.signal(signal.SIGCONT)
            else:
                own_redis.start()
        _wait(lambda: ready_is(200), RECOVERY_S, "/readyz did not turn 200 after Redis came back")


def test_an_external_redis_killed_and_started_again_is_reconnected_to_without_a_restart(
    own_redis: RedisServer, serve: Callable[[dict[str, str]], str]
) -> None:
    """REDIS_URL: the server killed (SIGKILL) is a 503 at once; started again on its AOF,
    the app reconnects by itself and the live client gets what is posted next."""
    url = serve({"REDIS_URL": own_redis.url})
    accounts = AccountStore(redis.Redis.from_url(own_redis.url, decode_responses=True))
    reader, writer = accounts.create_token(random_ref("do-"), "duty_officer"), accounts.create_token(random_ref("feed-"), "feed")
    live = _live(url, reader)
    try:
        live.wait("welcome", lambda d: True, 20)
        before = _post_incident(url, writer, "before the kill").json()
        live.wait("incident", lambda d: d["incident"]["id"] == before["id"], 20)

        own_redis.kill()
        answer, took = _timed(lambda: requests.get(f"{url}/api/v1/incidents", headers=_bearer(reader), timeout=10))
        _assert_storage_503(answer, took)
        _assert_storage_503(_post_incident(url, writer, "while it is down"))

        own_redis.start()
        _wait(lambda: _recovered(url, reader), RECOVERY_S, "no 200 after the server came back")
        listed = requests.get(f"{url}/api/v1/incidents", headers=_bearer(reader), timeout=10).json()
        assert before["id"] in {i["id"] for i in listed["incidents"]}  # acknowledged before: kept (AOF, fsync always)
        after = _post_incident(url, writer, "after the restart")
        assert after.status_code == 201, after.text
        live.wait("incident", lambda d: d["incident"]["id"] == after.json()["id"], 20)
    finally:
        live.disconnect()


def test_the_embedded_redis_killed_is_restarted_by_the_app_itself(
    short_dir: Path, serve: Callable[[dict[str, str]], str]
) -> None:
    """No REDIS_URL: kill -9 of the embedded redis-server. While the test holds the data
    directory's start.lock the app cannot restart it: a 503, deterministically. Released:
    the app's watchdog starts it again on its AOF, requests answer 200, nothing
    acknowledged is lost, and a socket client connected before the kill gets the
    incident posted after it, without an app restart."""
    url = serve({})
    redis_dir = short_dir / "data" / "redis"
    record = json.loads((redis_dir / "redis.json").read_text())
    accounts = AccountStore(redis.Redis.from_url(record["url"], decode_responses=True))
    reader, writer = accounts.create_token(random_ref("do-"), "duty_officer"), accounts.create_token(random_ref("feed-"), "feed")
    live = _live(url, reader)
    try:
        live.wait("welcome", lambda d: True, 20)
        before = _post_incident(url, writer, "before the kill").json()
        live.wait("incident", lambda d: d["incident"]["id"] == before["id"], 20)

        # A stalled server is not a dead one: the watchdog (every 0.5 s) must leave it alone
        # (a second server on the same AOF would corrupt it); requests are 503 meanwhile.
        os.kill(record["pid"], signal.SIGSTOP)
        try:
            _assert_storage_503(*_timed(lambda: requests.get(f"{url}/api/v1/incidents", headers=_bearer(reader), timeout=10)))
            # Another process starting meanwhile (a CLI command) attaches to it, starts no other.
            newcomer = open_redis(Settings(data_dir=short_dir / "data", redis_watchdog_s=0))
            try:
                assert newcomer.url == record["url"] and not newcomer.owns_server
            finally:
                newcomer.stop()  # not the last user (serve is): leaves it running
            time.sleep(1.0)  # a few more watchdog rounds of serve's (not an assertion on timing)
        finally:
            os.kill(record["pid"], signal.SIGCONT)
        _wait(lambda: _recovered(url, reader), RECOVERY_S, "no 200 after SIGCONT")
        assert json.loads((redis_dir / "redis.json").read_text())["pid"] == record["pid"]

        with open(redis_dir / "start.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            os.kill(record["pid"], signal.SIGKILL)
            answer, took = _timed(lambda: requests.get(f"{url}/api/v1/incidents", headers=_bearer(reader), timeout=10))
            _assert_storage_503(answer, took)
            live.wait("heartbeat", lambda d: d.get("storage") == "unavailable", 20)
        # lock released: the watchdog may restart it now

        _wait(lambda: _recovered(url, reader), RECOVERY_S, "the app did not restart its embedded redis-server")
        # redis.json is rewritten once the new server answers: a request may succeed just before.
        restarted = _wait(lambda: (lambda r: r if r["pid"] != record["pid"] else None)(
            json.loads((redis_dir / "redis.json").read_text())), RECOVERY_S, "redis.json names the killed server")
        assert restarted["url"] == record["url"]
        listed = requests.get(f"{url}/api/v1/incidents", headers=_bearer(reader), timeout=10).json()
        assert before["id"] in {i["id"] for i in listed["incidents"]}  # reloaded from the AOF
        live.wait("heartbeat", lambda d: d.get("storage") == "ok", 20)
        after = _post_incident(url, writer, "after the restart")
        assert after.status_code == 201, after.text
        message = live.wait("incident", lambda d: d["incident"]["id"] == after.json()["id"], 20)
        assert _stream_id(message["stream_id"]) > _stream_id(before["stream_id"])  # the log went on where it was
        assert live.client.connected
    finally:
        live.disconnect()


def test_blocking_reads_have_their_own_client_and_are_not_cut_short(live_server: LiveServer) -> None:
    """Requests time out after CRISIS_STORAGE_TIMEOUT (0.5 s by default; the session's server
    here: 3 s); the gateway's XREAD BLOCK would be cut short on that client: it tails on
    ``tail_redis``, whose read time-out is longer than any block."""
    context = live_server.context
    assert live_server.app.gateway._redis is context.tail_redis  # type: ignore[attr-defined]
    block_s = context.settings.storage_timeout_s + 1.0  # longer than a request may wait
    began = time.monotonic()
    assert context.tail_redis.xread({random_ref("crisis:test:empty-"): "$"}, block=int(block_s * 1000)) == []
    assert time.monotonic() - began >= block_s - 0.1
    with pytest.raises(redis.TimeoutError):
        context.redis.xread({random_ref("crisis:test:empty-"): "$"}, block=int(block_s * 1000))


def test_a_poller_backs_off_briefly_while_storage_is_down_and_catches_up_after(
    own_redis: RedisServer, countries: CountryIndex, short_dir: Path
) -> None:
    """A feed poll that meets a stalled Redis is not the feed's failure: no feed back-off
    (which grows to 10 minutes), a short one instead (1, 2, 4 ... s); the document was not
    remembered, so the next poll after Redis is back takes it in."""
    settings = Settings(redis_url=own_redis.url, data_dir=short_dir / "data", secret_key="outage-test")
    context = bootstrap(settings, countries)
    sample = samples_dir() / "usgs" / "all_day_2019-01-30.geojson"
    poller = Poller(context, FeedSource("usgs", str(sample), 60.0), Fetcher("crisis-test"))
    try:
        own_redis.signal(signal.SIGSTOP)
        try:
            assert poller.poll_once() is None
            assert poller.poll_once() is None
        finally:
            own_redis.signal(signal.SIGCONT)
        assert (poller.failures, poller.storage_failures) == (0, 2)
        assert poller.delay() == 2.0  # 1 s, then 2 s ..., at most MAX_STORAGE_BACKOFF_S; not 60 * 2**n
        _wait(context.storage.probe, RECOVERY_S, "storage did not come back")
        result = poller.poll_once()
        assert result is not None and result.created > 0, result  # caught up: the same document, taken in now
        assert (poller.failures, poller.storage_failures) == (0, 0) and poller.delay() == 60.0
    finally:
        poller.close()
        context.close()


def test_the_watchdog_never_starts_a_second_server_beside_one_that_still_runs(short_dir: Path) -> None:
    """A server whose socket no longer answers but whose process still runs (its socket file
    removed) is not "gone": starting another on the same AOF would corrupt it. And a server
    that keeps going is not restarted more than a few times a minute (no restart storm)."""
    handle = open_redis(Settings(data_dir=short_dir / "data", redis_fsync="always", redis_watchdog_s=0))
    redis_dir = short_dir / "data" / "redis"
    socket_path = handle.url.removeprefix("unix://")
    try:
        assert len(servers_on(socket_path)) == 1
        os.unlink(socket_path)  # the server runs on, unreachable
        assert handle.restart_if_gone() is False
        # Even when nothing on disk says it runs (its record lost too), its process does.
        owner, handle.process = handle.process, None
        (redis_dir / "redis.json").unlink()
        assert handle.restart_if_gone() is False
        assert len(servers_on(socket_path)) == 1, "a second server was started beside a running one"
        for pid in servers_on(socket_path):
            os.kill(pid, signal.SIGKILL)
        if owner is not None:
            owner.wait(10)
        _wait(lambda: not servers_on(socket_path), 10, "the killed server is still there")
        # Killed three times in a row: restarted each time; the fourth within the minute is refused.
        # (Until a killed server's socket is closed it is not gone: a child of it, such as
        # Valkey's AOF rewrite, may hold the socket a moment longer. That wait is no restart.)
        for _ in range(3):
            _wait(handle.restart_if_gone, 30, "the killed server was not restarted")
            assert len(servers_on(socket_path)) == 1
            os.kill(servers_on(socket_path)[0], signal.SIGKILL)
            _wait(lambda: not servers_on(socket_path), 10, "the killed server is still there")
        _wait(lambda: not _listening(socket_path), 30, "the killed server's socket still answers")
        assert handle.restart_if_gone() is False
        assert not servers_on(socket_path)
    finally:
        handle.stop()
        _kill_embedded_left_running(redis_dir)
