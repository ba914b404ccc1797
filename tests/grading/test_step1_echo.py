"""Step 1 (20 points): /ws/echo/ sends every frame back, text as text and binary as binary."""

import asyncio

import pytest

from contract_client import assert_silent

pytestmark = pytest.mark.step1


async def test_text_frame_comes_back_verbatim(ws):
    sock = await ws("/ws/echo/")
    await sock.send("hello, channels")
    assert await asyncio.wait_for(sock.recv(), 5) == "hello, channels"


async def test_binary_frame_comes_back_as_binary(ws):
    sock = await ws("/ws/echo/")
    payload = bytes(range(256))
    await sock.send(payload)
    echoed = await asyncio.wait_for(sock.recv(), 5)
    assert isinstance(echoed, bytes), "a binary frame must come back as binary, not text"
    assert echoed == payload


async def test_frames_come_back_in_order(ws):
    sock = await ws("/ws/echo/")
    sent = [f"frame {i}" for i in range(20)]
    for text in sent:
        await sock.send(text)
    assert [await asyncio.wait_for(sock.recv(), 5) for _ in sent] == sent


async def test_unicode_and_json_text_unchanged(ws):
    sock = await ws("/ws/echo/")
    for text in ['{"message": "안녕"}', "emoji 🚀 and \\n escapes", " "]:
        await sock.send(text)
        assert await asyncio.wait_for(sock.recv(), 5) == text


async def test_an_echo_reaches_only_its_own_socket(ws):
    first, second = await ws("/ws/echo/"), await ws("/ws/echo/")
    await first.send("only for first")
    assert await asyncio.wait_for(first.recv(), 5) == "only for first"
    await assert_silent(second)
