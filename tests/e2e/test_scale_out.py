"""Two web instances behind a real HAProxy, one feeds process, one Redis (issue 10).

The layout is benchmarks/layout_web.py's: real ``crisis serve`` and ``crisis feeds``
subprocesses on one data directory (they share its embedded redis-server) and Debian's
haproxy with deploy/haproxy.cfg.in (sticky cookie, health check every second). Clients
are real python-socketio clients and a real Chromium.

In CI HAProxy must be there (``make haproxy`` installs it, as ``make browser`` does
Chromium): a missing binary fails the tests there and skips them elsewhere.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crisis.adapters import keys
from crisis.bootstrap import Context, bootstrap
from crisis.config import Settings
from crisis.fusion.countries import CountryIndex
from tests.conftest import live_page, LiveClient, PASSWORD, random_ref

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import layout_web

pytestmark = pytest.mark.timeout(600)

MOVE_WITHIN_S = 10.0


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[layout_web.WebLayout]:
    if not Path(layout_web.haproxy_binary()).exists():
        if os.environ.get("CI"):
            pytest.fail("haproxy is missing: the test command installs Debian's haproxy (make haproxy); it must run in CI")
        pytest.skip("haproxy is not installed (make haproxy)")
    # 3 s for Redis, as the session's own server (tests/conftest.py: an fsync on a busy CI disk took 839 ms)
    web = layout_web.start_web(tmp_path_factory.mktemp("scale"), 2, env={"CRISIS_TICK_SECONDS": "0.1", "CRISIS_STORAGE_TIMEOUT": "3"})
    yield web
    web.stop()


@pytest.fixture(scope="module")
def storage(layout: layout_web.WebLayout, countries: CountryIndex) -> Iterator[Context]:
    """The layout's storage, from this process: accounts, tokens and the log as truth."""
    context = bootstrap(Settings.from_env(layout.env), countries)
    yield context
    context.close()  # before the layout stops: its last instance shuts the embedded server down


def post_incident(url: str, token: str, title: str) -> dict[str, Any]:
    answer = requests.post(f"{url}/api/v1/incidents", json={**layout_web.INCIDENT, "title": title},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def wait_until(condition: Any, timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(poll_s)


class Watcher:
    """A python-socketio client that behaves like a careful page: on every (re)connection it
    sends ``sync`` with the last incident stream id it applied; what arrives between the
    connection and the sync's answer (the replay, and live pushes the new instance sends
    at once) is applied in stream order when the answer comes."""

    def __init__(self, url: str, token: str, last_id: str) -> None:
        self.url, self.token = url, token
        self.last_id = last_id
        self.arrivals: list[str] = []  # every incident stream id, as it came (duplicates kept)
        self.order: list[str] = []  # as applied
        self.modes: list[str] = []
        self.syncs: list[list[Any]] = []  # [last_id sent, at, ack's stream_id, at]
        self.connects: list[float] = []
        self.disconnects: list[float] = []
        self._lock = threading.Lock()
        self._syncing = False
        self._held: list[str] = []
        self.client = LiveClient(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=1.0)
        self.client.on("connect", self._connected, namespace="/live")
        self.client.on("disconnect", self._disconnected, namespace="/live")
        self.client.on("incident", self._incident, namespace="/live")
        self.client.on("resync", self._resync, namespace="/live")
        self.resyncs = 0

    def connect(self) -> None:
        self.client.connect(self.url, namespaces=["/live"], auth={"token": self.token}, transports=["websocket"],
                            wait_timeout=60)

    def _connected(self) -> None:
        self.connects.append(time.monotonic())
        self._sync()

    def _resync(self, *args: Any) -> None:
        """Told it fell too far behind (its incidents stopped): sync again, as the page does."""
        self.resyncs += 1
        self._sync()

    def _sync(self) -> None:
        with self._lock:
            self._syncing, self._held = True, []
        self.syncs.append([self.last_id, time.time()])
        self.client.emit("sync", {"last_id": self.last_id}, namespace="/live", callback=self._synced)

    def _synced(self, ack: dict[str, Any]) -> None:
        if ack.get("error") == "rate limited":  # ask again later, as the page does
            threading.Timer(float(ack.get("retry_after") or 1), self._sync).start()
            return
        with self._lock:
            for stream_id in sorted(self._held, key=_id):
                self._apply(stream_id)
            self._syncing, self._held = False, []
        self.modes.append(str(ack.get("mode") or ack.get("error")))
        self.syncs[-1] += [ack.get("stream_id"), time.time()]

    def _disconnected(self, *args: Any) -> None:
        self.disconnects.append(time.monotonic())

    def _incident(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.arrivals.append(message["stream_id"])
            if self._syncing:
                self._held.append(message["stream_id"])
            else:
                self._apply(message["stream_id"])

    def _apply(self, stream_id: str) -> None:
        if stream_id not in self.order:
            self.order.append(stream_id)
        if _id(stream_id) > _id(self.last_id):
            self.last_id = stream_id

    def applied(self) -> list[str]:
        """The stream ids it has applied, each once, in the order it applied them."""
        with self._lock:
            return list(self.order)

    def out_of_order_arrivals(self) -> int:
        with self._lock:
            return sum(1 for a, b in zip(self.arrivals, self.arrivals[1:]) if _id(b) < _id(a))


def _id(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


def _log_ids(storage: Context, after: str) -> list[str]:
    return [eid for eid, _ in storage.redis.xrange(keys.INCIDENT_STREAM, min=f"({after}")]


def _last_log_id(storage: Context) -> str:
    last = storage.redis.xrevrange(keys.INCIDENT_STREAM, count=1)
    return str(last[0][0]) if last else "0-0"


def test_an_incident_posted_to_one_instance_reaches_clients_of_the_other(layout: layout_web.WebLayout,
                                                                         storage: Context) -> None:
    token = storage.accounts.create_token(random_ref("watch-"), "duty_officer", None)
    feed = storage.accounts.create_token(random_ref("feed-"), "feed", None)
    start = _last_log_id(storage)
    on_second = Watcher(layout.instances[1].url, token, start)
    through_proxy = Watcher(layout.url, token, start)
    on_second.connect()
    through_proxy.connect()
    try:
        wait_until(lambda: on_second.modes and through_proxy.modes, 60, "both clients synced")
        posted = post_incident(layout.instances[0].url, feed, random_ref("cross-"))
        wait_until(lambda: posted["stream_id"] in on_second.applied(), 30, "web1's incident on a web2 client")
        wait_until(lambda: posted["stream_id"] in through_proxy.applied(), 30, "web1's incident through HAProxy")
        other = post_incident(layout.instances[1].url, feed, random_ref("cross-"))
        wait_until(lambda: other["stream_id"] in through_proxy.applied(), 30, "web2's incident through HAProxy")
    finally:
        on_second.client.disconnect()
        through_proxy.client.disconnect()


def test_killing_an_instance_moves_its_clients_within_10_s_and_they_miss_nothing(layout: layout_web.WebLayout,
                                                                                storage: Context) -> None:
    token = storage.accounts.create_token(random_ref("watch-"), "duty_officer", None)
    feed = storage.accounts.create_token(random_ref("feed-"), "feed", None)
    start = _last_log_id(storage)
    watchers = [Watcher(layout.url, token, start) for _ in range(6)]
    for watcher in watchers:
        watcher.connect()
    poster = layout_web.IncidentPoster(layout.url, feed, 0.2, "during kill")
    try:
        wait_until(lambda: all(w.modes for w in watchers), 60, "every client synced")
        victim = 0
        wait_until(lambda: layout.connections(victim) > 0 and layout.connections(1) > 0, 30,
                   "HAProxy spreads the clients over both instances")
        poster.start()
        wait_until(lambda: len(poster.acknowledged) >= 5, 60, "posts flowing before the kill")
        killed_at, killed_wall = time.monotonic(), time.time()
        layout.kill_instance(victim)
        wait_until(lambda: any(w.disconnects for w in watchers), 10, "the victim's clients see the disconnect")
        moved = [w for w in watchers if w.disconnects]
        assert 0 < len(moved) < len(watchers)
        wait_until(lambda: all(w.connects[-1] > killed_at for w in moved), MOVE_WITHIN_S,
                   "every client of the killed instance reconnected through HAProxy")
        move_s = max(w.connects[-1] for w in moved) - killed_at
        wait_until(lambda: layout.server_status(victim) == "DOWN", 10, "HAProxy marks the killed instance DOWN")
        acked_after_move = len(poster.acknowledged)
        wait_until(lambda: len(poster.acknowledged) >= acked_after_move + 5, 60, "posts flowing after the move")
        poster.stop()
        truth = _log_ids(storage, start)
        assert set(poster.acknowledged) <= set(truth)
        for watcher in watchers:
            try:
                wait_until(lambda w=watcher: set(w.applied()) >= set(truth), 30, "a client has every incident")
            except AssertionError:
                missing = sorted(set(truth) - set(watcher.applied()), key=_id)
                raise AssertionError(f"{len(missing)} of {len(truth)} missed: {missing[:5]}; modes {watcher.modes}; "
                                     f"moved {watcher in moved}; resyncs {watcher.resyncs}; killed at {killed_wall:.3f}; syncs {watcher.syncs}; "
                                     f"missing arrived {[m in watcher.arrivals for m in missing]}; "
                                     f"arrivals {watcher.arrivals}") from None
            assert watcher.applied() == truth, f"out of order: {watcher.applied()} != {truth}"
        for watcher in moved:
            assert watcher.modes[-1] == "replay", watcher.modes  # resynced from its last stream id
        print(f"\nkill -> every client reconnected in {move_s:.2f} s; {len(moved)} of {len(watchers)} moved; "
              f"{len(poster.acknowledged)} posts acknowledged, {len(poster.failures)} failed during the kill: {poster.failures}; "
              f"arrivals out of stream order (before the sync's answer): {[w.out_of_order_arrivals() for w in watchers]}; "
              f"told to resync: {[w.resyncs for w in watchers]}")
    finally:
        poster.stop()
        for watcher in watchers:
            watcher.client.disconnect()
        layout.restart_instance(victim)


def test_restarted_instance_takes_clients_again(layout: layout_web.WebLayout, storage: Context) -> None:
    layout.kill_instance(1)
    layout.restart_instance(1)
    assert layout.server_status(1) == "UP"
    token = storage.accounts.create_token(random_ref("watch-"), "duty_officer", None)
    watchers = [Watcher(layout.url, token, _last_log_id(storage)) for _ in range(2)]
    try:
        for watcher in watchers:
            watcher.connect()
        wait_until(lambda: layout.connections(0) >= 1 and layout.connections(1) >= 1, 30, "leastconn uses both again")
    finally:
        for watcher in watchers:
            watcher.client.disconnect()


def test_a_browser_page_through_haproxy_stays_live_when_its_instance_dies(browser: Any, layout: layout_web.WebLayout,
                                                                          storage: Context) -> None:
    name = random_ref("duty-")
    storage.accounts.add_user(name, PASSWORD, "duty_officer", None)
    page, _ = live_page(browser, layout.url, name, width=1400, timeout_ms=60_000)
    victim: int | None = None
    try:
        page.evaluate("() => { window.__states = []; window.crisisLive.onStatus(s => window.__states.push(s)); }")
        sticky = {c["name"]: c["value"] for c in page.context.cookies()}.get("crisis_web")
        assert sticky in {p.name for p in layout.instances}, "HAProxy's sticky cookie is set"
        victim = [p.name for p in layout.instances].index(sticky)
        layout.kill_instance(victim)
        page.wait_for_function("() => window.__states.includes('reconnecting')", timeout=30_000)
        page.wait_for_function("() => window.crisisLive.status() === 'live'", timeout=MOVE_WITHIN_S * 1000)
        feed = storage.accounts.create_token(random_ref("feed-"), "feed", None)
        posted = post_incident(layout.url, feed, random_ref("after-move-"))
        page.wait_for_function(f"() => window.crisisLive.state.incidents.has({posted['id']!r})", timeout=30_000)
        moved_to = {c["name"]: c["value"] for c in page.context.cookies()}.get("crisis_web")
        assert moved_to != sticky and moved_to in {p.name for p in layout.instances}
    finally:
        page.close()
        if victim is not None:
            layout.restart_instance(victim)
