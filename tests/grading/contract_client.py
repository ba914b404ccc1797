"""Small helpers for the grading tests: every wait is bounded."""

import asyncio
import json

import websockets

from kit.grading import grade

RECEIVE_TIMEOUT = grade.time_limit("RECEIVE_TIMEOUT", 5)  # seconds to wait for a frame that must arrive
SILENCE = 0.5  # seconds to listen for a frame that must not arrive


def browser_origin(server):
    return f"http://127.0.0.1:{server.port}"


async def recv_json(sock, timeout=RECEIVE_TIMEOUT):
    return json.loads(await asyncio.wait_for(sock.recv(), timeout))


async def assert_silent(sock, seconds=SILENCE):
    try:
        frame = await asyncio.wait_for(sock.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"expected no frame, got {frame!r}")


async def refused(connecting):
    """True if the handshake is refused (HTTP status instead of 101)."""
    try:
        sock = await connecting
    except websockets.InvalidStatus:
        return True
    await sock.close()
    return False


async def in_thread(function, *args, **kwargs):
    """Runs a blocking call (an httpx request) without stopping the sockets' event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


def require(works, feature):
    """A refusal or error-status test counts only when the feature it guards works."""
    assert not works, f"{feature} does not work yet ({works}), so this check cannot count"
