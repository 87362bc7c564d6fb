"""The tests' Socket.IO client (tests.conftest.LiveClient) takes in Engine.IO messages on its
read loop, in arrival order: a binary message's header and attachments cannot be taken in
out of order or after a disconnect (the stock client gives each message a thread)."""

from __future__ import annotations

import threading

from engineio import packet

from tests.conftest import LiveClient


def test_messages_are_handled_in_order_on_the_reading_thread() -> None:
    eio = LiveClient().eio
    handled: list[tuple[object, threading.Thread]] = []
    eio.on("message", lambda data: handled.append((data, threading.current_thread())))
    for data in ('451-["positions",{"_placeholder":true,"num":0}]', b"\x00\x00\x80?", b"\x00\x00\x00@"):
        eio._receive_packet(packet.Packet(packet.MESSAGE, data))
    assert [d for d, _ in handled] == ['451-["positions",{"_placeholder":true,"num":0}]', b"\x00\x00\x80?",
                                       b"\x00\x00\x00@"]
    assert {t for _, t in handled} == {threading.current_thread()}
