"""Redis credentials beyond REDIS_URL (issue 10): REDIS_USERNAME / REDIS_PASSWORD for the
data nodes, REDIS_SENTINEL_PASSWORD for the Sentinels' own ``requirepass``, on real
servers (the embedded valkey binary with ``requirepass``; a Sentinel, the same binary with
``--sentinel``, with a ``requirepass`` of its own). A missing or wrong password is an error
at startup naming the setting; the right ones work, the rate limiter's storage included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import limits
import limits.storage
import pytest
import redis

from benchmarks.layout_redis import _default_binary, free_port
from crisis import handlers
from crisis.adapters.redis_server import open_redis
from crisis.auth.throttle import _storage_uri
from crisis.bootstrap import Context, bootstrap
from crisis.config import Settings
from crisis.errors import StorageError
from crisis.feeds.schemas import IncidentIn
from crisis.fusion.countries import CountryIndex
from tests.conftest import random_ref

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("crisis")
CRISIS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crisis.cli"]
HOST = "127.0.0.1"
DATA_PASSWORD = "data-secret-1"
SENTINEL_PASSWORD = "sentinel-secret-2"
SERVICE = "crisis-auth"


@dataclass
class Secured:
    data_port: int
    sentinel_port: int

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.data_port}"

    @property
    def sentinels(self) -> tuple[str, ...]:
        return (f"{HOST}:{self.sentinel_port}",)


def _wait_answers(port: int, password: str, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            if redis.Redis(host=HOST, port=port, password=password, socket_timeout=1).ping():
                return
        except (redis.RedisError, OSError):
            pass
        assert time.monotonic() < end, f"the server on {port} did not start"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A data node with requirepass, and one Sentinel (quorum 1) with a requirepass of its own
    that monitors it (sentinel auth-pass: the data node's password)."""
    directory = tmp_path_factory.mktemp("redis-auth")
    binary = _default_binary()
    data_port, sentinel_port = free_port(), free_port()
    processes = [subprocess.Popen(
        [binary, "--port", str(data_port), "--bind", HOST, "--dir", str(directory), "--save", "", "--appendonly", "no",
         "--requirepass", DATA_PASSWORD, "--masterauth", DATA_PASSWORD, "--loglevel", "warning"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_answers(data_port, DATA_PASSWORD)
        conf = directory / "sentinel.conf"
        conf.write_text(f"port {sentinel_port}\nbind {HOST}\ndir {directory}\nrequirepass {SENTINEL_PASSWORD}\n"
                        f"sentinel monitor {SERVICE} {HOST} {data_port} 1\n"
                        f"sentinel auth-pass {SERVICE} {DATA_PASSWORD}\n")
        processes.append(subprocess.Popen([binary, str(conf), "--sentinel"], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_answers(sentinel_port, SENTINEL_PASSWORD)
        yield Secured(data_port, sentinel_port)
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)


def _sentinel_settings(secured: Secured, tmp_path: Path, **changes: object) -> Settings:
    return Settings(data_dir=tmp_path, redis_sentinels=secured.sentinels, redis_sentinel_service=SERVICE,
                    **changes)  # type: ignore[arg-type]


def _assert_the_limiter_counts(context: Context) -> None:
    """The sign-in limiter's storage (crisis.auth.login: the limits library, its own client)
    built with the handle's options, as the app builds it, counts in the secured Redis."""
    storage = limits.storage.storage_from_string(_storage_uri(context.redis_handle.url),
                                                 **context.redis_handle.limiter_options())
    limiter = limits.strategies.MovingWindowRateLimiter(storage)
    item, key = limits.parse("2 per minute"), random_ref("auth-test-")
    assert limiter.hit(item, key) and limiter.hit(item, key) and not limiter.hit(item, key)


def test_the_credential_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"REDIS_USERNAME": "app", "REDIS_PASSWORD": "p1", "REDIS_SENTINEL_USERNAME": "s",
                                  "REDIS_SENTINEL_PASSWORD": "p2", "REDIS_TLS": "1", "REDIS_TLS_CA_CERTS": "/ca.pem"})
    assert (settings.redis_username, settings.redis_password) == ("app", "p1")
    assert (settings.redis_sentinel_username, settings.redis_sentinel_password) == ("s", "p2")
    assert settings.redis_tls and settings.redis_tls_ca_certs == "/ca.pem"
    unset = Settings.from_env({})
    assert unset.redis_password is None and unset.redis_sentinel_password is None and not unset.redis_tls


def test_the_embedded_server_refuses_credentials_meant_for_an_external_one(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="REDIS_PASSWORD"):
        open_redis(Settings(data_dir=tmp_path, redis_password="x"))


def test_tls_with_a_plain_redis_url_is_refused_naming_both_settings(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"REDIS_TLS.*rediss://"):
        open_redis(Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1", redis_tls=True))


@pytest.mark.parametrize("password", [None, "wrong"])
def test_redis_url_mode_a_missing_or_wrong_password_is_a_startup_error_naming_the_setting(
        secured: Secured, tmp_path: Path, password: str | None) -> None:
    with pytest.raises(StorageError, match="REDIS_PASSWORD"):
        open_redis(Settings(data_dir=tmp_path, redis_url=secured.url, redis_password=password))


def test_redis_url_mode_the_right_password_works(secured: Secured, tmp_path: Path, countries: CountryIndex) -> None:
    context = bootstrap(Settings(data_dir=tmp_path, redis_url=secured.url, redis_password=DATA_PASSWORD), countries)
    try:
        stored = handlers.report_incident(context.deps, IncidentIn(title="Auth", severity=2, lat=1.0, lon=2.0), "t")
        assert context.deps.incidents.get(stored.incident.id) is not None
        _assert_the_limiter_counts(context)
    finally:
        context.close()


@pytest.mark.parametrize("password", [None, "wrong"])
def test_sentinel_mode_a_missing_or_wrong_sentinel_password_is_a_startup_error_naming_the_setting(
        secured: Secured, tmp_path: Path, password: str | None) -> None:
    settings = _sentinel_settings(secured, tmp_path, redis_password=DATA_PASSWORD, redis_sentinel_password=password)
    with pytest.raises(StorageError, match="REDIS_SENTINEL_PASSWORD"):
        open_redis(settings)


@pytest.mark.parametrize("password", [None, "wrong"])
def test_sentinel_mode_a_missing_or_wrong_data_password_is_a_startup_error_naming_the_setting(
        secured: Secured, tmp_path: Path, password: str | None) -> None:
    settings = _sentinel_settings(secured, tmp_path, redis_password=password, redis_sentinel_password=SENTINEL_PASSWORD)
    with pytest.raises(StorageError, match="REDIS_PASSWORD") as caught:
        open_redis(settings)
    assert "SENTINEL" not in str(caught.value)


def test_sentinel_mode_the_right_passwords_work_for_the_app_and_its_rate_limiter(
        secured: Secured, tmp_path: Path, countries: CountryIndex) -> None:
    settings = _sentinel_settings(secured, tmp_path, redis_password=DATA_PASSWORD, redis_sentinel_password=SENTINEL_PASSWORD)
    context = bootstrap(settings, countries)
    try:
        stored = handlers.report_incident(context.deps, IncidentIn(title="Auth", severity=2, lat=1.0, lon=2.0), "t")
        assert context.deps.incidents.get(stored.incident.id) is not None
        with context.deps.lock("auth-test"):  # the lock's own client (redis_ha.LeasedLock) too
            pass
        _assert_the_limiter_counts(context)
    finally:
        context.close()


def test_crisis_serve_with_a_wrong_password_exits_at_once_naming_the_setting(secured: Secured, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CRISIS_"))}
    env = {**clean, "CRISIS_DATA_DIR": str(tmp_path), "REDIS_SENTINELS": ",".join(secured.sentinels),
           "REDIS_SENTINEL_SERVICE": SERVICE, "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD, "REDIS_PASSWORD": "wrong",
           "CRISIS_FEEDS": "0", "CRISIS_PORT": str(free_port()), "SECRET_KEY": "auth-test"}
    done = subprocess.run([*CRISIS, "serve"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "REDIS_PASSWORD" in done.stderr + done.stdout
