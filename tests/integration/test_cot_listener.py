"""The CoT listener on real TCP and UDP sockets against the real Redis, and the
``crisis devices`` and ``crisis feeds`` commands in real subprocesses."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crisis import handlers
from crisis.adapters import keys
from crisis.adapters.audit import AuditQuery
from crisis.adapters.device_store import DeviceStore
from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.domain import events as ev
from crisis.domain.travellers import Traveller
from crisis.feeds.cot import DeviceIn
from crisis.feeds.cot_listener import CotListener
from crisis.handlers_cot import add_device
from tests.testdata import sample_path

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
SAMPLES = sorted(sample_path("cot").glob("*.xml"))
GPS_UID, NO_FIX_UID = "ANDROID-351811095448994", "ANDROID-R52JB0CDC4E"


def event(uid: str = GPS_UID, point: str = "lat='33.89' lon='35.5' hae='10' ce='5' le='9999999'") -> bytes:
    return (f"<event version='2.0' uid='{uid}' type='a-f-G-U-C' time='2024-05-01T09:30:00Z' "
            f"start='2024-05-01T09:30:00Z' stale='2024-05-01T09:31:00Z'><point {point}/></event>").encode()


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def cot_dead_letters(context: Context) -> list[dict[str, str]]:
    return [f for _, f in context.redis.xrange(keys.DEADLETTER_STREAM) if f.get("feed") == "cot"]


def kinds(context: Context) -> list[str]:
    return [f["type"] for _, f in context.redis.xrange(keys.POSITION_STREAM)]


def position(context: Context, traveller_id: str) -> list[Any] | None:
    raw = context.redis.hget(keys.POSITIONS, traveller_id)
    return json.loads(raw) if raw else None


@pytest.fixture
def handsets(context: Context) -> Context:
    records = [(i, Traveller(id=tid, name=tid, agency="UNDP", category="visitor")) for i, tid in enumerate(("T-GPS", "T-NOFIX"))]
    handlers.import_travellers(context.deps, records, "test")
    devices = DeviceStore(context.redis)
    add_device(context.deps, devices, DeviceIn(uid=GPS_UID, traveller_id="T-GPS"), "test")
    add_device(context.deps, devices, DeviceIn(uid=NO_FIX_UID, traveller_id="T-NOFIX"), "test")
    return context


@pytest.fixture
def listener(handsets: Context) -> Iterator[CotListener]:
    server = CotListener(handsets, "127.0.0.1", 0, max_event_bytes=8192, idle_timeout=5.0)
    server.start()
    yield server
    server.stop()


def test_a_tcp_stream_of_samples_in_random_chunks_maps_each_event(handsets: Context, listener: CotListener) -> None:
    bad = event(point="lat='95' lon='1' hae='1' ce='1' le='1'")
    hostile = b"<!DOCTYPE e [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>" + event(uid="&b;")
    stream = b"".join(p.read_bytes() + b"\n" for p in SAMPLES[:6]) + bad + hostile + b"".join(p.read_bytes() for p in SAMPLES[6:])
    chunks, at, rng = [], 0, random.Random(7)
    while at < len(stream):
        step = rng.randint(1, 700)
        chunks.append(stream[at:at + step])
        at += step
    with socket.create_connection(listener.tcp_address, timeout=5) as connection:
        for chunk in chunks:
            connection.sendall(chunk)
            time.sleep(0.001)
    wait_for(lambda: len(kinds(handsets)) == 12 and len(cot_dead_letters(handsets)) == 2)
    # Each event on its own: ten positions at the sample's point, two "no fix", never placed.
    assert kinds(handsets).count(ev.POSITIONS_REPORTED) == 10 and kinds(handsets).count(ev.POSITION_NO_FIX) == 2
    lat, lon, at_time, source, *_ = position(handsets, "T-GPS") or []
    assert (lat, lon, source, at_time) == (43.967183, -66.126446, "cot", "2020-02-08T18:19:58+00:00")
    assert position(handsets, "T-NOFIX") is None
    seen = DeviceStore(handsets.redis)
    assert seen.seen(NO_FIX_UID)["fix"] is False and seen.seen(NO_FIX_UID)["lat"] is None  # type: ignore[index]
    letters = cot_dead_letters(handsets)
    assert [json.loads(d["errors"])[0]["field"] for d in letters] == ["point.lat", "document"]
    assert all(d["transport"] == "tcp" and d["remote"].startswith("127.0.0.1:") and d["actor"] == "cot-listener" for d in letters)
    assert "entity declarations are refused" in letters[1]["reason"]


def test_udp_datagrams_one_event_each(handsets: Context, listener: CotListener) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for path in SAMPLES:
            udp.sendto(path.read_bytes(), listener.udp_address)
        udp.sendto(event(uid="ANDROID-UNKNOWN"), listener.udp_address)
        udp.sendto(b"\xbf\x01\xbf\x0a\x02hi", listener.udp_address)  # TAK protobuf
    wait_for(lambda: len(kinds(handsets)) == 12 and len(cot_dead_letters(handsets)) == 2)
    assert position(handsets, "T-GPS")[:2] == [43.967183, -66.126446]  # type: ignore[index]
    assert position(handsets, "T-NOFIX") is None and handsets.redis.hlen(keys.POSITIONS) == 1
    unknown, protobuf = cot_dead_letters(handsets)
    assert unknown["uid"] == "ANDROID-UNKNOWN" and json.loads(unknown["errors"])[0]["field"] == "uid"
    assert "protobuf" in protobuf["reason"] and protobuf["transport"] == "udp"
    assert not handsets.redis.hexists(keys.DEVICE_SEEN, "ANDROID-UNKNOWN")


def test_an_unfinished_document_over_the_cap_closes_the_connection(handsets: Context, listener: CotListener) -> None:
    with socket.create_connection(listener.tcp_address, timeout=5) as connection:
        connection.sendall(event())  # a good one first: taken in
        connection.sendall(b"<event uid='H-9'><detail>" + b"x" * 9000)
        connection.settimeout(5)
        assert connection.recv(10) == b"", "the listener closes the connection"
    letters = wait_for(lambda: cot_dead_letters(handsets))
    assert "passed the limit of 8192 bytes" in letters[0]["reason"] and letters[0]["body"].startswith("<event uid='H-9'>")
    assert wait_for(lambda: position(handsets, "T-GPS"))[:2] == [33.89, 35.5]  # taken in from the inbox
    # A connection that ends inside a document: that document is refused as truncated.
    with socket.create_connection(listener.tcp_address, timeout=5) as connection:
        connection.sendall(event()[:60])
    wait_for(lambda: len(cot_dead_letters(handsets)) == 2)
    assert "malformed XML" in cot_dead_letters(handsets)[1]["reason"]


# --- the commands ----------------------------------------------------------------------------------


def crisis_env(settings: Settings, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY") and not k.startswith("CRISIS_")}
    return {**clean, "CRISIS_DATA_DIR": str(settings.data_dir), "CRISIS_FEEDS": "0", **extra}


def crisis(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRISIS, *args], capture_output=True, text=True, env=crisis_env(settings), cwd=ROOT, timeout=120,
                          check=False)


def test_crisis_devices_add_list_remove_audited(context: Context, settings: Settings) -> None:
    handlers.import_travellers(context.deps, [(1, Traveller(id="T-1", name="A", agency="UNDP", category="visitor"))], "test")
    unknown = crisis(settings, "devices", "add", "H-1", "NOBODY")
    assert unknown.returncode == 1 and "traveller_id: no traveller 'NOBODY'" in unknown.stderr
    assert crisis(settings, "devices", "add", "has space", "T-1").returncode == 2
    added = crisis(settings, "devices", "add", "H-1", "T-1")
    assert added.returncode == 0 and "device H-1 -> T-1" in added.stdout, added.stderr
    listed = crisis(settings, "devices", "list")
    assert listed.stdout.startswith("H-1\tT-1\t") and "never seen" in listed.stdout
    removed = crisis(settings, "devices", "remove", "H-1")
    assert removed.returncode == 0 and "device H-1 removed (was T-1)" in removed.stdout
    again = crisis(settings, "devices", "remove", "H-1")
    assert again.returncode == 1 and "no device 'H-1'" in again.stderr
    entries = context.audit.query(AuditQuery(action="device.", limit=10))
    assert [(e["action"], e["via"]) for e in entries] == [("device.remove", "cli"), ("device.add", "cli")]
    assert entries[1]["after"]["traveller_id"] == "T-1" and entries[0]["before"]["traveller_id"] == "T-1"


def _free_port() -> int:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
        udp.bind(("127.0.0.1", port))
        return port


def test_crisis_feeds_starts_the_listener(handsets: Context, settings: Settings) -> None:
    port = _free_port()
    process = subprocess.Popen([*CRISIS, "feeds"], env=crisis_env(settings, CRISIS_COT_PORT=str(port)), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline() + process.stdout.readline()
        assert f"CoT listener on tcp 127.0.0.1:{port} and udp 127.0.0.1:{port}" in banner, banner
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(SAMPLES[2].read_bytes(), ("127.0.0.1", port))
        wait_for(lambda: position(handsets, "T-GPS"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(SAMPLES[0].read_bytes())
        wait_for(lambda: ev.POSITION_NO_FIX in kinds(handsets))
    finally:
        process.send_signal(signal.SIGTERM)
        _out, errors = process.communicate(timeout=20)  # closes the pipes
    assert process.returncode == 0, errors
    assert position(handsets, "T-GPS")[:2] == [43.967183, -66.126446]  # type: ignore[index]
    assert position(handsets, "T-NOFIX") is None
    off = subprocess.run([*CRISIS, "feeds"], env=crisis_env(settings, CRISIS_COT_PORT="0"), cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert off.returncode == 2 and "CRISIS_COT_PORT" in off.stderr
