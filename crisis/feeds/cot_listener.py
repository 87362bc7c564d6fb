"""The Cursor-on-Target listener of ``crisis feeds``: TCP and UDP on one port.

Handsets (ATAK and the like) send CoT as a TAK server expects it:

* UDP: one ``<event>`` document per datagram (up to 64 KiB). A datagram is taken in
  whole, as a body of POST /api/v1/feeds/cot would be.
* TCP: a stream of documents one after the other, no framing. ``EventSplitter`` cuts it
  after each root element (never expanding anything); each document goes in on its own,
  so one bad event costs only itself. A document still unfinished after
  ``MAX_EVENT_BYTES`` ends the connection (the stream cannot be trusted to resynchronise):
  its beginning is dead-lettered. A connection quiet for ``IDLE_TIMEOUT_S`` is closed, and
  at most ``MAX_CONNECTIONS`` are served at once (more are closed at once), so a few
  clients cannot tie up every thread.

Every document is first stored in the feeds inbox (``crisis.feeds.inbox``: one XADD, so a
process killed mid-work loses nothing once it is there), then taken in by the inbox's
consumer through ``crisis.handlers_cot.ingest_cot``, the same intake as the API:
validated, mapped to a traveller through the device table, stored or dead-lettered
(with the sender's address). A failure (bad input, Redis) is logged and never stops the
listener; a document that arrives while Redis is down cannot be stored and is lost
(logged), as a datagram is. The listener binds ``CRISIS_COT_HOST`` (default 127.0.0.1: put a TLS-terminating
proxy or a VPN in front before opening it wider, CoT carries no credentials) and
``CRISIS_COT_PORT`` (default 8087; 0 turns it off).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from typing import Any

from crisis.bootstrap import Context
from crisis.config import Settings
from crisis.feeds.cot import MAX_EVENT_BYTES, DocumentTooLarge, EventSplitter
from crisis.feeds.inbox import COT, InboxWorker
from crisis.handlers_cot import FEED

log = logging.getLogger(__name__)

ACTOR = "cot-listener"
MAX_CONNECTIONS = 64
IDLE_TIMEOUT_S = 300.0
RECV_BYTES = 16 * 1024
MAX_DATAGRAM = 65_535


def _take(inbox: InboxWorker, document: bytes, transport: str, address: tuple[str, int]) -> str | None:
    """One document (or datagram) into the inbox; its entry id, None when it could not be stored."""
    origin = {"remote": f"{address[0]}:{address[1]}", "transport": transport}
    try:
        return inbox.put(COT, document, ACTOR, origin)
    except Exception:  # Redis down, a bug: logged, and the listener goes on
        log.exception("CoT %s from %s could not be stored in the inbox", transport, origin["remote"])
        return None


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        if not self.server.slots.acquire(blocking=False):
            log.warning("CoT TCP: more than %d connections; %s refused", MAX_CONNECTIONS, self.client_address[0])
            return
        try:
            self._serve()
        finally:
            self.server.slots.release()

    def _serve(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(self.server.idle_timeout)
        splitter = EventSplitter(self.server.max_event_bytes)
        address = self.client_address
        while not self.server.stopping.is_set():
            try:
                data = connection.recv(RECV_BYTES)
            except (TimeoutError, OSError):
                break
            if not data:
                break
            try:
                documents = splitter.feed(data)
            except DocumentTooLarge as exc:
                for document in exc.documents:
                    _take(self.server.inbox, document, "tcp", address)
                errors = [{"field": "document", "message": f"{exc}: one CoT event is at most "
                           f"{self.server.max_event_bytes} bytes; the connection was closed"}]
                self.server.context.feed_log.rejected(FEED, errors, exc.head, {
                    "actor": ACTOR, "remote": f"{address[0]}:{address[1]}", "transport": "tcp"})
                return
            for document in documents:
                if document.strip():
                    _take(self.server.inbox, document, "tcp", address)
        rest = splitter.rest()
        if rest.strip():  # the connection ended inside a document: refused as truncated
            _take(self.server.inbox, rest, "tcp", address)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: Context, inbox: InboxWorker, max_event_bytes: int,
                 idle_timeout: float) -> None:
        self.context = context
        self.inbox = inbox
        self.max_event_bytes = max_event_bytes
        self.idle_timeout = idle_timeout
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.stopping = threading.Event()
        super().__init__(address, _TcpHandler)


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        datagram: bytes = self.request[0]
        if datagram.strip():
            _take(self.server.inbox, datagram, "udp", self.client_address)


class _UdpServer(socketserver.UDPServer):
    allow_reuse_address = False  # on UDP it would let a second listener share the port silently
    max_packet_size = MAX_DATAGRAM

    def __init__(self, address: tuple[str, int], inbox: InboxWorker) -> None:
        self.inbox = inbox
        super().__init__(address, _UdpHandler)


class CotListener:
    """TCP and UDP servers on ``host``:``port`` (port 0: any free one, the same for both
    when possible), each in a thread of its own; ``start()``, ``stop()``. ``inbox``: the
    process's inbox consumer (started and stopped by its owner); None: one of its own,
    started and stopped with the listener."""

    def __init__(self, context: Context, host: str, port: int, max_event_bytes: int = MAX_EVENT_BYTES,
                 idle_timeout: float = IDLE_TIMEOUT_S, inbox: InboxWorker | None = None) -> None:
        self._own_inbox = inbox is None
        self.inbox = inbox if inbox is not None else InboxWorker.from_settings(context)
        self.tcp = _TcpServer((host, port), context, self.inbox, max_event_bytes, idle_timeout)
        tcp_port = self.tcp.server_address[1]
        try:
            self.udp = _UdpServer((host, tcp_port), self.inbox)
        except OSError:
            if port:
                self.tcp.server_close()
                raise
            self.udp = _UdpServer((host, 0), self.inbox)  # a free TCP port whose UDP twin is taken
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_settings(cls, context: Context, settings: Settings, inbox: InboxWorker | None = None) -> CotListener | None:
        """The listener the settings ask for; None when CRISIS_COT_PORT is 0."""
        if not settings.cot_port:
            return None
        return cls(context, settings.cot_host, settings.cot_port, inbox=inbox)

    @property
    def tcp_address(self) -> tuple[str, int]:
        host, port = self.tcp.server_address[:2]
        return str(host), int(port)

    @property
    def udp_address(self) -> tuple[str, int]:
        host, port = self.udp.server_address[:2]
        return str(host), int(port)

    def describe(self) -> str:
        tcp, udp = self.tcp_address, self.udp_address
        return f"CoT listener on tcp {tcp[0]}:{tcp[1]} and udp {udp[0]}:{udp[1]}"

    def start(self) -> None:
        if self._threads:
            return
        if self._own_inbox:
            self.inbox.start()
        for name, server in (("tcp", self.tcp), ("udp", self.udp)):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                      name=f"crisis-cot-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("%s", self.describe())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end the open connections' loops, close the sockets."""
        self.tcp.stopping.set()
        servers: list[Any] = [self.tcp, self.udp]
        if self._threads:
            for server in servers:
                server.shutdown()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        for server in servers:
            server.server_close()
        if self._own_inbox:
            self.inbox.stop()
