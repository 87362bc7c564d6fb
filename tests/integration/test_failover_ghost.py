"""Issue 10, the soak's "clients hold incidents the server does not": an incident the primary
stored and the live tail pushed at once, whose WAIT then failed (503), is lost when that
primary is killed before its replica had it. The clients' pictures must lose it too: the
app, finding the new primary, sends every socket a snapshot marked "reset" (a resync from a
stream id only adds), and the people picture it answers "people" from is the new primary's
(a traveller affected only by the lost incident is in no scope there). Real primary +
replica + three Sentinels, a real `crisis serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from benchmarks.layout_redis import RedisHA
from crisis.adapters import keys
from crisis.bootstrap import bootstrap
from crisis.config import Settings
from crisis.fusion.countries import CountryIndex
from tests.conftest import SocketEvents, _free_port, random_ref, stop_process, wait_healthy
from tests.integration.test_sentinel import CRISIS, INCIDENT, ROOT, _replicated, ha, layout  # noqa: F401

WITHIN_S = 20.0


def test_an_unconfirmed_push_lost_in_a_failover_leaves_no_ghost_in_the_clients(
        layout: RedisHA, tmp_path: Path, countries: CountryIndex) -> None:  # noqa: F811
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(layout.env(), CRISIS_DATA_DIR=str(tmp_path / "data"), CRISIS_PORT=str(port), CRISIS_HOST="127.0.0.1",
               CRISIS_FEEDS="0", CRISIS_TICK_SECONDS="0.1", SECRET_KEY="test-secret", PYTHONUNBUFFERED="1",
               CRISIS_WAIT_REPLICAS="1", CRISIS_WAIT_TIMEOUT_MS="300")
    context = bootstrap(Settings.from_env(env), countries)
    feed = {"Authorization": "Bearer " + context.accounts.create_token(random_ref("feed-"), "feed")}
    watcher = context.accounts.create_token(random_ref("officer-"), "duty_officer")
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([*CRISIS, "serve"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    events = None
    stopped: int | None = None  # the replica's pid while it is stopped
    try:
        assert wait_healthy(url, 90, server), log_path.read_text(errors="replace")[-3000:]
        events = SocketEvents(url, ("incident", "snapshot", "welcome", "people"), auth={"token": watcher},
                              wait_timeout=20, reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1)
        events.wait("welcome", timeout=20)
        # A traveller whose duty station is where the lost incident will be (confirmed: on both servers).
        station = {"name": "Beirut office", "lat": INCIDENT["lat"], "lon": INCIDENT["lon"], "country": "LBN"}
        person = {"id": random_ref("T"), "name": "Amal Haddad", "agency": "UNDP", "category": "national_staff",
                  "essential": False, "duty_station": station}
        added = requests.post(f"{url}/api/v1/travellers", json=[person], headers=feed, timeout=30)
        assert added.status_code == 200 and not added.json()["rejected"], added.text
        _replicated(layout, keys.INCIDENT_STREAM)
        _replicated(layout, keys.TRAVELLERS_STREAM)
        # The replica stops reading, and its link is cut: what the primary stores now stays there.
        (replica,) = [layout.node(p) for p in layout.replica_ports()]
        assert replica.process is not None
        stopped = replica.process.pid
        os.kill(stopped, signal.SIGSTOP)
        layout.client().execute_command("CLIENT", "KILL", "TYPE", "replica")  # type: ignore[no-untyped-call]
        body: dict[str, Any] = {**INCIDENT, "title": "Never confirmed"}
        ghost = requests.post(f"{url}/api/v1/incidents", json=body, headers=feed, timeout=30)
        assert ghost.status_code == 503, ghost.text  # stored on the primary, no replica confirmed it
        pushed = events.wait("incident", lambda d: d["incident"]["title"] == "Never confirmed", WITHIN_S)
        ghost_id = pushed["incident"]["id"]  # ... but the tail pushed it at once
        events.wait("people", lambda d: person["id"] in d["ids"], WITHIN_S)  # the server's picture: affected by it
        layout.kill_primary()
        os.kill(stopped, signal.SIGCONT)
        stopped = None
        layout.wait_failover()
        assert context.deps.incidents.get(ghost_id) is None  # the new primary never had it (a read: no WAIT)
        # Every client is given the new primary's whole picture, to replace its own.
        snapshot = events.wait("snapshot", lambda d: d.get("reset") is True, WITHIN_S)
        assert ghost_id not in {item["incident"]["id"] for item in snapshot["incidents"]}
        # ... and asking "people" and "affected" again (as the page does on a reset) gets the new primary's.
        people = events.client.call("people", namespace="/live", timeout=20)
        assert person["id"] not in people["ids"], people
        affected = events.client.call("affected", namespace="/live", timeout=20)
        assert ghost_id not in {m["incident"] for m in affected["incidents"]}, affected
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        if events is not None:
            events.disconnect()
        stop_process(server)
        context.close()
