"""After a WebSocket session that the server ended, nothing on that connection is read
as HTTP again (a real Werkzeug server, a WebSocket client written out below).

Engine.IO's threading driver ends a session by raising ConnectionError out of the WSGI
call; Werkzeug's stock handler then kept the connection as HTTP/1.1 keep-alive and parsed
the client's next bytes as a request (CI saw "code 400, Bad request syntax" and the
client choking on the 400 page read as frames). crisis.web.ClosingRequestHandler closes
the connection instead.

The client here answers the server's close frame, as a real WebSocket client does (RFC
6455, 5.5.1). Nothing in the test can wait for ever: the server-side end runs on a thread
that is joined with a time-out, and every read has a deadline (an earlier version hung
in CI: see the comment in the test).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from urllib.parse import urlparse

from tests.conftest import LiveServer

CLOSE = 0x8
TEXT = 0x1


class FrameReader:
    """Unmasked server frames read from a raw socket, with a deadline on every read."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self.buffer = buffered

    def _fill(self, size: int, deadline: float) -> bool:
        while len(self.buffer) < size:
            if time.monotonic() > deadline:
                raise AssertionError(f"no frame from the server in time (have {self.buffer!r})")
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                continue
            except ConnectionError:
                return False
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def frame(self, seconds: float) -> tuple[int, bytes] | None:
        """The next frame (opcode, payload), or None when the server closed the TCP connection."""
        deadline = time.monotonic() + seconds
        if not self._fill(2, deadline):
            return None
        opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
        head = 2
        if length == 126:
            if not self._fill(4, deadline):
                return None
            length, head = struct.unpack(">H", self.buffer[2:4])[0], 4
        elif length == 127:
            if not self._fill(10, deadline):
                return None
            length, head = struct.unpack(">Q", self.buffer[2:10])[0], 10
        if not self._fill(head + length, deadline):
            return None
        payload = self.buffer[head:head + length]
        self.buffer = self.buffer[head + length:]
        return opcode, payload


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask; payloads here are under 126 bytes)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


def _upgrade(url: str) -> tuple[socket.socket, FrameReader, str]:
    """An Engine.IO WebSocket opened by hand: the socket, its frame reader and the session id."""
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
    reader = FrameReader(sock, rest)
    opened = reader.frame(10)
    assert opened is not None and opened[0] == TEXT, opened
    text = opened[1].decode()
    assert text.startswith("0"), text  # Engine.IO's open packet
    return sock, reader, json.loads(text[1:])["sid"]


def _answer_until_close(sock: socket.socket, reader: FrameReader, seconds: float) -> None:
    """Read the server's frames until its close frame, and answer it as RFC 6455 asks."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = reader.frame(deadline - time.monotonic())
        assert frame is not None, "the server dropped the connection without a close frame"
        opcode, payload = frame
        if opcode == CLOSE:
            sock.sendall(_masked(CLOSE, payload[:2]))
            return
    raise AssertionError(f"no close frame within {seconds} s of the server ending the session")


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
    sock, reader, sid = _upgrade(live_server.url)
    try:
        # the server ends the session the way Engine.IO does on a ping time-out
        # (engineio.socket.Socket.check_ping_timeout: close without waiting for the
        # writer). Not eio.disconnect(sid): its close(wait=True) joins the send queue and
        # can wait for ever when the client's close reply races it (python-engineio
        # 4.15: the reader puts a second None on the queue that nobody takes); the
        # product never calls it. On a thread of its own all the same, joined with a
        # time-out, so that nothing here can wait for ever.
        session = live_server.app.socketio.server.eio.sockets[sid]
        ending = threading.Thread(target=session.close, kwargs={"wait": False, "abort": False}, daemon=True)
        ending.start()
        _answer_until_close(sock, reader, 10)
        ending.join(10)
        assert not ending.is_alive(), "ending the session on the server took over 10 s"
        time.sleep(0.5)  # its handler returns; the stock handler would now wait for another request
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        except ConnectionError:
            return  # closed already: nothing can be read as HTTP
        after = reader.buffer + _read_until_closed(sock, 10)
        assert b"HTTP/1." not in after, after  # no answer to a request sent after the WebSocket
    finally:
        sock.close()
