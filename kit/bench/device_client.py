"""The bench's device socket, on a raw asyncio protocol: a WebSocket client that parses frames in
data_received (no task, no library), stamps each push's arrival and answers commands at once.

    device = await DeviceClient("ws://127.0.0.1:8000/ws/devices/d1/", headers).open()
    await device.wait_for_seq(1)                            # -> perf_counter() at the frame's arrival
"""

import asyncio
import base64
import json
import os
import time
from urllib.parse import urlsplit

from kit.bench.client import TIMEOUT, split_head


def client_frame(opcode, payload):
    """A client-to-server WebSocket frame: FIN, masked with a random key (RFC 6455, 5.3)."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")


class DeviceClient(asyncio.Protocol):
    """One device socket. Stamps each frame's arrival by its data["seq"] and answers commands at once,
    as a well-behaved device does. Server frames come unmasked; fragments are joined."""

    def __init__(self, url, headers=None):
        parts = urlsplit(url)
        self.host, self.port, self.path, self.headers = parts.hostname, parts.port, parts.path, headers or {}
        self.transport, self.buffer, self.fragments = None, bytearray(), b""
        self.arrivals = {}  # seq -> perf_counter() at arrival
        self.received = 0  # frames with seq >= 0 (the measured ones)
        self.errors = []  # the "error" frames the server sent (a reply it could not deliver, say)
        self.changed = asyncio.Event()

    async def open(self):
        loop = asyncio.get_running_loop()
        self.handshake, self.closed = loop.create_future(), loop.create_future()
        await asyncio.wait_for(loop.create_connection(lambda: self, self.host, self.port), TIMEOUT)
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        await asyncio.wait_for(self.handshake, TIMEOUT)
        return self

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during the handshake: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data):
        now = time.perf_counter()
        self.buffer += data
        if not self.handshake.done():
            if not (head := split_head(self.buffer)):
                return
            status, _, end = head
            if status != 101:
                self.handshake.set_exception(ConnectionRefusedError(f"handshake answered HTTP {status}"))
                self.transport.close()
                return
            del self.buffer[:end]
            self.handshake.set_result(None)
        self._read_frames(now)

    def _read_frames(self, now):
        buffer, position = self.buffer, 0
        while len(buffer) - position >= 2:
            first, length = buffer[position], buffer[position + 1] & 0x7F
            start = position + 2 + {126: 2, 127: 8}.get(length, 0)
            if length >= 126:
                if len(buffer) < start:
                    break
                length = int.from_bytes(buffer[position + 2 : start], "big")
            if len(buffer) < start + length:
                break
            payload, position = bytes(buffer[start : start + length]), start + length
            opcode = first & 0x0F
            if opcode in (0, 1, 2):  # continuation, text, binary
                self.fragments += payload
                if first & 0x80:
                    message, self.fragments = self.fragments, b""
                    self._message(message, now)
            elif opcode == 8:  # close: answer it, then the server closes the connection
                self.transport.write(client_frame(8, payload[:2]))
            elif opcode == 9:  # ping
                self.transport.write(client_frame(10, payload))
        del buffer[:position]

    def _message(self, text, now):
        frame = json.loads(text)
        if frame.get("type") == "command":
            self.send(json.dumps({"type": "reply", "id": frame["id"], "data": frame.get("data")}))
            return
        if frame.get("type") == "error":
            self.errors.append(frame.get("error"))
        data = frame.get("data")
        if isinstance(data, dict) and "seq" in data:
            self.arrivals[data["seq"]] = now
            self.received += data["seq"] >= 0
        self.changed.set()

    def send(self, text):
        self.transport.write(client_frame(1, text.encode()))

    async def wait_for_seq(self, seq, timeout=TIMEOUT):
        deadline = time.perf_counter() + timeout
        while seq not in self.arrivals:
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"frame {seq} did not arrive within {timeout} s")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self.arrivals[seq]

    async def close(self):
        """A close frame, then wait (briefly) for the server to close the connection."""
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(client_frame(8, (1000).to_bytes(2, "big")))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), 3)
        except (asyncio.TimeoutError, ConnectionError):
            self.transport.abort()
