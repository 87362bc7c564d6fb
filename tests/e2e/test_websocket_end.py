"""After a WebSocket session that the server ended, nothing on that connection is read
as HTTP again (a real Werkzeug server, a raw TCP socket).

Engine.IO's threading driver ends a session by raising ConnectionError out of the WSGI
call; Werkzeug's stock handler then kept the connection as HTTP/1.1 keep-alive and parsed
the client's next WebSocket frames as a request (CI saw "code 400, Bad request syntax"
and the client choking on the 400 page read as frames). crisis.web.ClosingRequestHandler
closes the connection instead.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from urllib.parse import urlparse

from tests.conftest import LiveServer


def _upgrade(url: str) -> tuple[socket.socket, str]:
    """An Engine.IO WebSocket opened by hand; the socket and the session id."""
    where = urlparse(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {where.netloc}\r\n"
                  f"Origin: {url}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7F):  # the open packet: one short text frame
        rest += sock.recv(4096)
    opened = rest[2:2 + (rest[1] & 0x7F)].decode()
    assert opened.startswith("0"), opened
    return sock, json.loads(opened[1:])["sid"]


def _read_until_closed(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``seconds`` pass)."""
    received = b""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection is still open {seconds} s after the session ended: {received!r}")


def test_a_connection_whose_websocket_the_server_ended_is_closed_not_read_as_http(live_server: LiveServer) -> None:
    sock, sid = _upgrade(live_server.url)
    try:
        live_server.app.socketio.server.eio.disconnect(sid)  # the server ends the session (as on a ping time-out)
        time.sleep(0.5)  # its handler returns; the stock handler would now wait for another request
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        except ConnectionError:
            return  # closed already: nothing can be read as HTTP
        after = _read_until_closed(sock, 10)
        assert b"HTTP/1." not in after, after  # no answer to a request sent after the WebSocket
    finally:
        sock.close()
