"""Step 1, hidden: larger frames and mixed kinds."""

import asyncio

import pytest

pytestmark = [pytest.mark.step1, pytest.mark.hidden]


async def test_large_text_frame(ws):
    sock = await ws("/ws/echo/")
    text = "x" * 200_000
    await sock.send(text)
    assert await asyncio.wait_for(sock.recv(), 5) == text


async def test_text_and_binary_interleaved(ws):
    sock = await ws("/ws/echo/")
    frames = ["a", b"\x00b", "c", b"\xffd"]
    for frame in frames:
        await sock.send(frame)
    assert [await asyncio.wait_for(sock.recv(), 5) for _ in frames] == frames
