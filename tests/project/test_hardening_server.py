"""Issue 13, items 5, 9 and 10: the limits kit/serving/daphne_limited.py adds to daphne, over real sockets.

A client that never reads is closed once SEND_LIMIT bytes wait for it; a client that never
finishes its request head is cut after the header timeout; SIGTERM sends every socket a close
frame (1001). Figures (memory, times) are printed, not asserted.
"""

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
import uuid

import psutil
import pytest
import websockets
from websockets.sync.client import connect

from kit.serving.live_server import LiveServer
from live_support import FAST_PRESENCE, assert_no_traceback, issue_devices
from mysite.groups import device_group  # importable once live_support put project/ on the path

SEND_LIMIT = 1024 * 1024
HEADER_TIMEOUT = 2
PUSH_BYTES = 60_000
PUSHES = 500  # 30 MB for a client that reads none of it: far past the limit and the kernel's buffers


@pytest.fixture(scope="module")
def server(redis):
    live = LiveServer(
        redis_url=redis.url,
        layer_prefix=f"limits{uuid.uuid4().hex[:6]}",
        env={
            **FAST_PRESENCE,
            "KIT_SEND_LIMIT_BYTES": str(SEND_LIMIT),
            "KIT_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        },
    )
    yield live.start()
    live.close()


def device_socket(server, device_id, token, **options):
    return connect(
        f"{server.ws_url}/ws/devices/{device_id}/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=5,
        close_timeout=2,
        **options,
    )


def never_reading_device(server, device_id, token):
    """A device socket that completes the handshake and then reads nothing, with a kernel receive
    buffer kept at 64 KiB (Linux grows a loopback socket's buffer up to net.ipv4.tcp_rmem's maximum,
    32 MiB on some machines: enough to hold every push of this test for a server that writes
    straight to the kernel, as uvicorn does). A WebSocket library's client would read on in the
    background."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/devices/{device_id}/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: nothing past the head is read
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_until_cut(sock, within):
    """Reads what the server sent until it closes the connection; -> bytes read (TimeoutError if it never does)."""
    sock.settimeout(within)
    total = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(1 << 20):
            total += len(chunk)
    return total


async def push_many(server, device_id, count, size):
    layer = server.channel_layer()
    event = {"type": "device.message", "id": "flood", "data": "x" * size}
    for _ in range(count):
        await layer.group_send(device_group(device_id), event)
    await layer.close_pools()


def test_a_socket_that_never_reads_is_closed_and_others_are_served(server):
    (slow_id, slow_token), (other_id, other_token) = issue_devices(server, 2, "slow")
    rss = psutil.Process(server.process.pid).memory_info().rss
    with (
        contextlib.closing(never_reading_device(server, slow_id, slow_token)) as slow,
        device_socket(server, other_id, other_token) as other,
    ):
        asyncio.run(push_many(server, slow_id, PUSHES, PUSH_BYTES))
        time.sleep(1)  # let the server work through its inbox
        grown = psutil.Process(server.process.pid).memory_info().rss - rss
        asyncio.run(push_many(server, other_id, 1, 10))
        assert json.loads(other.recv(timeout=10))["data"] == "x" * 10
        read = read_until_cut(slow, 15)  # what got through, then the end: no endless stream
        print(
            f"\nslow reader cut after {read / 2**20:.1f} MiB of {PUSHES * PUSH_BYTES / 2**20:.0f} MiB pushed; server "
            f"memory grew {grown / 2**20:.1f} MiB (send limit {SEND_LIMIT / 2**20:.0f} MiB)"
        )
        assert read < PUSHES * PUSH_BYTES / 2
    assert_no_traceback(server)


def test_a_client_that_never_finishes_its_request_head_is_cut(server):
    slow_clients = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=HEADER_TIMEOUT * 10)
        sock.sendall(b"GET /api/devices/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        slow_clients.append(sock)
    started = time.monotonic()
    for _ in range(HEADER_TIMEOUT * 4):  # a byte every quarter second keeps Twisted's idle timer happy
        for sock in slow_clients:
            with contextlib.suppress(OSError):  # already cut
                sock.sendall(b"X")
        time.sleep(0.25)
    answers = []
    for sock in slow_clients:
        with sock:
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
            answers.append(b"".join(chunks))
    print(f"\n20 slow clients cut after {time.monotonic() - started:.1f} s (header timeout {HEADER_TIMEOUT} s)")
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[:2]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # a normal client is served
        sock.sendall(b"GET /api/devices/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 401")


def test_sigterm_closes_every_socket_with_1001(redis):
    live = LiveServer(redis_url=redis.url, env=FAST_PRESENCE)
    try:
        live.start()
        credentials = issue_devices(live, 2, "term")
        origin = f"http://127.0.0.1:{live.port}"
        with (
            device_socket(live, *credentials[0]) as first,
            device_socket(live, *credentials[1]) as second,
            connect(f"{live.ws_url}/ws/chat/term/", origin=origin, open_timeout=5) as chat,
            connect(f"{live.ws_url}/ws/echo/", open_timeout=5) as echo,
        ):
            live.stop()  # SIGTERM
            for sock in (first, second, chat, echo):
                with pytest.raises(websockets.ConnectionClosed):
                    sock.recv(timeout=10)
            assert [sock.close_code for sock in (first, second, chat, echo)] == [1001] * 4
        assert_no_traceback(live)
    finally:
        live.close()
