"""The kit's harness (kit/harness/guards.py) around plain consumers, in this process with
WebsocketCommunicator: a starter stub closes with 4501 and one "not done yet" line, a failing
channel layer with 4503 after disconnect() ran, a bug is still raised."""

import logging

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer

pytestmark = pytest.mark.usefixtures("django_in_memory")


class Stubbed(AsyncWebsocketConsumer):
    async def connect(self):
        raise NotImplementedError("TODO step 1, Stubbed.connect: accept the handshake.")


class LayerFails(AsyncWebsocketConsumer):
    disconnected_with = None

    async def connect(self):
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "bug":
            raise KeyError("a bug")
        raise ConnectionRefusedError("Redis is gone")  # an OSError, as redis-py raises it

    async def disconnect(self, code):
        type(self).disconnected_with = code
        raise ConnectionRefusedError("group_discard fails too")


def guarded(consumer):
    from kit.harness import guards

    guards.install()
    return guards.Harness(consumer.as_asgi())


async def communicator(consumer):
    from channels.testing import WebsocketCommunicator

    return WebsocketCommunicator(guarded(consumer), "/ws/test/")


async def test_a_stub_refuses_the_handshake_with_4501_and_one_not_done_line(caplog):
    sock = await communicator(Stubbed)
    with caplog.at_level(logging.WARNING, logger="kit.harness.guards"):
        ok, code = await sock.connect(timeout=3)
    assert not ok and code == 4501
    lines = [record.getMessage() for record in caplog.records if "not done yet" in record.getMessage()]
    assert len(lines) == 1 and "TODO step 1" in lines[0] and "/ws/test/" in lines[0]


async def test_a_failing_layer_closes_with_4503_after_disconnect_ran(caplog):
    sock = await communicator(LayerFails)
    ok, _ = await sock.connect(timeout=3)
    assert ok
    with caplog.at_level(logging.WARNING, logger="kit.harness.guards"):
        await sock.send_to(text_data="hello")
        closed = await sock.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4503}
    assert LayerFails.disconnected_with == 4503  # ran, and its own layer error was suppressed
    assert [r.getMessage() for r in caplog.records if "channel layer failed" in r.getMessage()]


async def test_a_bug_is_not_hidden():
    sock = await communicator(LayerFails)
    await sock.connect(timeout=3)
    await sock.send_to(text_data="bug")
    with pytest.raises(KeyError):
        await sock.receive_output(timeout=3)
