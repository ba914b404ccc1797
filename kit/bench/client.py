"""The bench's lean clients, written on raw asyncio protocols: no task per socket, no library's
frame machinery, so the client's own CPU per delivery stays small next to any server's (the
bench prints it). The same clients measure every system.

    client = HttpClient("127.0.0.1", port, headers)        # one kept-alive HTTP/1.1 connection
    status, answer = await client.post("/push/d1/", {"data": {"seq": 1}})
    device = await DeviceClient("ws://127.0.0.1:8000/ws/devices/d1/", headers).open()
    await device.wait_for_seq(1)                            # -> perf_counter() at the frame's arrival
"""
import asyncio
import base64
import json
import os
import time
from urllib.parse import urlsplit

TIMEOUT = 10  # seconds: no single request, handshake or frame is waited for longer


def split_head(buffer):
    """-> (status, {header: value}, length of the head) once buffer holds a whole head, else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, end + 4


def chunked_body(buffer, start):
    """-> (body, end) once buffer holds the whole chunked body from start, else None."""
    body, position = b"", start
    while (line_end := buffer.find(b"\r\n", position)) >= 0:
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        if size == 0:
            return (body, line_end + 4) if len(buffer) >= line_end + 4 else None
        if len(buffer) < line_end + 2 + size + 2:
            return None
        body += bytes(buffer[line_end + 2:line_end + 2 + size])
        position = line_end + 2 + size + 2
    return None


class HttpClient(asyncio.Protocol):
    """One persistent connection, one request in flight; reconnects once if the server closed it."""

    def __init__(self, host, port, headers=None):
        self.host, self.port = host, port
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.transport, self.buffer, self.answer = None, bytearray(), None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        if self.answer is None or self.answer.done() or not (head := split_head(self.buffer)):
            return
        status, headers, start = head
        if "content-length" in headers:
            end = start + int(headers["content-length"])
            if len(self.buffer) < end:
                return
            body = bytes(self.buffer[start:end])
        elif headers.get("transfer-encoding") == "chunked":
            if not (found := chunked_body(self.buffer, start)):
                return
            body, end = found
        else:
            return  # the body ends when the connection does (connection_lost)
        del self.buffer[:end]
        self.answer.set_result((status, json.loads(body or b"null")))
        if headers.get("connection", "").lower() == "close":
            self.transport.close()

    def connection_lost(self, exc):
        self.transport = None
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError(f"connection closed: {exc!r}"))

    async def post(self, path, payload):
        return await self.request("POST", path, payload)

    async def get(self, path):
        return await self.request("GET", path)

    async def request(self, method, path, payload=None):
        """-> (status, JSON body)."""
        body = b"" if payload is None else json.dumps(payload).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{self.headers}\r\n").encode()
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            if self.transport is None or self.transport.is_closing():
                self.buffer.clear()
                await asyncio.wait_for(loop.create_connection(lambda: self, self.host, self.port), TIMEOUT)
            self.answer = loop.create_future()
            self.transport.write(head + body)
            try:
                return await asyncio.wait_for(self.answer, TIMEOUT)
            except ConnectionError:
                if attempt == 2:
                    raise

    async def close(self):
        if self.transport is not None:
            self.transport.close()


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
        self.changed = asyncio.Event()

    async def open(self):
        loop = asyncio.get_running_loop()
        self.handshake, self.closed = loop.create_future(), loop.create_future()
        await asyncio.wait_for(loop.create_connection(lambda: self, self.host, self.port), TIMEOUT)
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                              f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                              f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
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
                length = int.from_bytes(buffer[position + 2:start], "big")
            if len(buffer) < start + length:
                break
            payload, position = bytes(buffer[start:start + length]), start + length
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
