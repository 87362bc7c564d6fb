"""Shared fixtures: one real embedded Redis per test session, a live server, users.

Integration and end-to-end tests use the same embedded ``redis-server`` the product
starts by default (no fakes). Each test that takes ``context`` starts from an empty
database.
"""

from __future__ import annotations

import queue
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engineio
import pytest
import requests
import socketio

from crisis.bootstrap import BASEMAP, Context, bootstrap
from crisis.config import Settings
from crisis.fusion.countries import CountryIndex

PASSWORD = "correct horse battery"


def random_ref(prefix: str = "") -> str:
    """A unique reference so tests never collide on ids."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def countries() -> CountryIndex:
    return CountryIndex.from_file(BASEMAP)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("crisis-data")
    # A request waits 3 s for Redis here, not the product's 0.5 s: with Chromium and the whole
    # suite on one disk, an fsync of the AOF (appendfsync always) has taken 839 ms (the summary's
    # "aof-fsync-always"), and a request waiting on it was a 503. The 503 of a stalled Redis
    # within 1 s is tested on servers of their own with the default (tests/integration/test_redis_outage.py).
    return Settings(data_dir=Path(data_dir), tick_seconds=0.1, secret_key="test-secret", storage_timeout_s=3.0)


@pytest.fixture(scope="session")
def session_context(settings: Settings, countries: CountryIndex) -> Iterator[Context]:
    context = bootstrap(settings, countries)
    context.redis.slowlog_reset()
    yield context
    _STALLS.extend(_storage_stalls(context))
    context.close()


_STALLS: list[str] = []


def _storage_stalls(context: Context) -> list[str]:
    """What made the session's Redis slow, for the summary: its slowest commands (SLOWLOG)
    and its own stalls (LATENCY LATEST: an fsync of the AOF, a fork)."""
    try:
        slow = sorted(context.redis.slowlog_get(128), key=lambda entry: -entry["duration"])[:5]
        latest = context.redis.execute_command("LATENCY", "LATEST")
    except Exception as exc:  # noqa: BLE001 - a line of the summary, never a failure
        return [f"could not read the slow log: {exc}"]
    lines = [f"command of {entry['duration'] / 1000:.0f} ms at {time.strftime('%H:%M:%S', time.localtime(entry['start_time']))}: "
             f"{' '.join(entry['command'].decode(errors='replace').split())[:80]}" for entry in slow]  # a script: one line
    return lines + [f"{event}: {worst} ms at worst, {last} ms last" for event, _, last, worst, *_ in latest]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _STALLS:
        terminalreporter.section("storage latency (Redis SLOWLOG and LATENCY LATEST)")
        for line in _STALLS:
            terminalreporter.write_line(line)


@pytest.fixture
def context(session_context: Context) -> Context:
    session_context.redis.flushdb()
    return session_context


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None,
                 poll_s: float = 0.05) -> bool:
    """Whether ``url``/healthz answers 200 within ``timeout_s`` (False at once if ``process`` exits)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(poll_s)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 15) -> None:
    """Terminate ``process``; kill it if it has not exited within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _InOrderEngineIO(engineio.Client):
    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False  # on the read loop, one after another
        return super()._trigger_event(event, *args, **kwargs)


class LiveClient(socketio.Client):
    """python-socketio's threaded Client, taking in Engine.IO messages in the order they arrive.

    The stock Client hands each Engine.IO message to a thread of its own. A binary Socket.IO
    message (``positions``: a header and two float32 attachments) is several Engine.IO
    messages, so under load an attachment can be taken in before its header, or after a
    disconnect has dropped the header: the client then decodes the floats as a packet and
    its thread dies ("invalid literal for int()"; CI saw it with the lat attachment of a
    test's Nairobi and Beirut positions, reported as an unhandled thread exception in the
    next test). Here messages are handled on the read loop, in order; a handler must then not
    block on a ``call`` (none in the tests does: they queue what they get, or ``emit`` with
    a callback)."""

    def _engineio_client_class(self) -> type[engineio.Client]:
        return _InOrderEngineIO


class SocketEvents:
    """A real python-socketio client of ``/live`` that keeps the events named, in the order
    they arrive, for a test to wait on.

        events = SocketEvents(url, ("welcome", "incident"), auth={"token": token})
        events.wait("incident", lambda d: d["incident"]["id"] == posted["id"])
    """

    def __init__(self, url: str, names: Iterable[str], *, auth: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, wait_timeout: float = 10, wait_s: float = 5.0,
                 **client_options: Any) -> None:
        self.wait_s = wait_s  # how long wait() waits unless told
        self.received: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = LiveClient(**{"reconnection": False, **client_options})
        for name in names:
            self.client.on(name, self._keeper(name), namespace="/live")
        self.client.connect(url, namespaces=["/live"], auth=auth, headers=headers or {}, transports=["websocket"],
                            wait_timeout=wait_timeout)

    def _keeper(self, name: str) -> Callable[[Any], None]:
        return lambda data: self.received.put((name, data))

    def wait(self, name: str, match: Callable[[Any], bool] = lambda d: True, timeout: float | None = None) -> Any:
        """The first ``name`` event from here on that ``match`` accepts (those before it are
        dropped); an AssertionError if none arrives within ``timeout`` seconds (``wait_s``)."""
        timeout = self.wait_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        seen: list[Any] = []
        while True:
            try:
                event, data = self.received.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event == name:
                if match(data):
                    return data
                seen.append(data)
        raise AssertionError(f"no matching {name!r} event within {timeout} s (connected: {self.client.connected});"
                             f" last seen {seen[-3:]}")

    def drain(self, seconds: float) -> list[tuple[str, Any]]:
        """Every event that arrives within ``seconds`` (and any not yet taken), as (name, data)."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            try:
                got.append(self.received.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                return got

    def disconnect(self) -> None:
        self.client.disconnect()


@dataclass
class LiveServer:
    url: str
    context: Context
    app: object

    def token(self, role: str = "duty_officer", region: str | None = None) -> str:
        return self.context.accounts.create_token(random_ref(f"{role}-"), role, region)

    def user(self, role: str = "duty_officer", region: str | None = None) -> str:
        name = random_ref(f"{role}-")
        self.context.accounts.add_user(name, PASSWORD, role, region)
        return name

    def session(self, role: str = "duty_officer", region: str | None = None) -> requests.Session:
        """A requests session logged in as a new user of that role, sending the CSRF
        header on its writes as the dashboard's pages do."""
        name = self.user(role, region)
        http = requests.Session()
        answer = self.sign_in(http, name)
        assert answer.status_code == 302, answer.text
        http.headers.update(csrf_header(http))
        http.user_name = name  # type: ignore[attr-defined]
        return http

    def know(self, positions: Any) -> None:
        """Import every traveller these positions name that is not stored yet (see ``know_travellers``)."""
        know_travellers(self.context, positions)

    def sign_in(self, http: requests.Session, name: str, password: str = PASSWORD, **form: str) -> requests.Response:
        """The sign-in form as a browser submits it: fetch the page (it sets the CSRF
        token), then post the form with the token."""
        return sign_in(self.url, http, name, password, **form)


def know_travellers(context: Context, positions: Any) -> None:
    """Import (by the import command, as ``POST /api/v1/travellers`` does) every traveller
    that ``positions`` (a list, or ``{"positions": [...]}``, of position dicts) names and that
    is not stored yet, their duty station at their first position there: the API refuses a
    position of an unknown traveller."""
    from crisis.feeds.travellers import validate
    from crisis.handlers import import_travellers

    rows = positions["positions"] if isinstance(positions, dict) else positions
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["traveller_id"], row)
    assert context.deps.travellers is not None
    missing = sorted(context.deps.travellers.unknown(list(first)))
    records = []
    for n, tid in enumerate(missing):
        row = first[tid]
        traveller, errors = validate({"id": tid, "name": f"Traveller {tid}", "agency": "UN", "category": "international_staff",
                                      "duty_station": {"name": "Duty station", "lat": row["lat"], "lon": row["lon"]}})
        assert traveller is not None, errors
        records.append((n + 1, traveller))
    for start in range(0, len(records), 5000):
        result = import_travellers(context.deps, records[start:start + 5000], "tests")
        assert not result["rejected"], result["rejected"][:3]


def csrf_header(http: requests.Session) -> dict[str, str]:
    """The CSRF header a signed-in browser sends with its writes (from its cookie)."""
    token = http.cookies.get("_csrf_token")
    assert token, "no _csrf_token cookie: not signed in?"
    return {"X-CSRFToken": token}


def sign_in(url: str, http: requests.Session, name: str, password: str = PASSWORD, **form: str) -> requests.Response:
    page = http.get(f"{url}/login", timeout=10)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    data = {"username": name, "password": password, "csrf_token": token[1], **form}
    return http.post(f"{url}/login", data=data, allow_redirects=False, timeout=30)


def live_page(browser: Any, url: str, name: str, width: int = 1600, timeout_ms: float = 30_000) -> tuple[Any, list[str]]:
    """A new Chromium page signed in as ``name`` on ``url``'s incident list, once its live
    connection is up (LIVE in the header); and the list its uncaught page errors go to."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/incidents")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector(".live-status.ok", timeout=timeout_ms)
    return page, errors


@pytest.fixture(scope="session")
def live_server(session_context: Context, settings: Settings) -> Iterator[LiveServer]:
    from crisis.web import create_app

    app = create_app(settings, session_context)
    port = _free_port()
    thread = threading.Thread(target=app.run, args=("127.0.0.1", port), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, 30):
        raise RuntimeError("the test server did not start")
    yield LiveServer(url, session_context, app)
    app.gateway.stop()
